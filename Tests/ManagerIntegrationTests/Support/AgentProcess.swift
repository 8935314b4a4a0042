import Foundation

/// A real `manager agent` process joining a manager over HTTP.
final class AgentProcess: @unchecked Sendable {
    let workDir: URL
    let logPath: String
    private var pid: pid_t?
    private var extraArguments: [String] = []
    /// `--token` when set, else the shared `--secret`.
    private var token: String?

    init(
        _ environment: TestEnvironment, managerEndpoint: String, id: String, cpu: String = "2", mem: String = "2g",
        instances: Int = 1, scalingGroup: String = "default", workDir: URL? = nil, extraArguments: [String] = [],
        token: String? = nil
    ) throws {
        self.extraArguments = extraArguments
        self.token = token
        self.workDir = try workDir ?? environment.scratchDirectory("agent-\(id)")
        self.logPath = self.workDir.appendingPathComponent("agent.log").path
        try self.start(managerEndpoint: managerEndpoint, id: id, cpu: cpu, mem: mem, instances: instances, scalingGroup: scalingGroup)
    }

    private func start(managerEndpoint: String, id: String, cpu: String, mem: String, instances: Int, scalingGroup: String) throws {
        self.pid = try spawn(
            TestEnvironment.managerExecutable,
            ["agent", "--manager", managerEndpoint] + (self.token.map { ["--token", $0] } ?? ["--secret", ManagerProcess.agentSecret])
                + ["--id", id, "--cpu", cpu,
             "--mem", mem, "--instances", String(instances), "--scaling-group", scalingGroup,
             "--work-dir", self.workDir.appendingPathComponent("sessions-root").path, "--poll-wait", "1", "--stop-grace", "1",
             "--log-level", "debug"] + self.extraArguments,
            environment: ManagerProcess.cleanEnvironment(), currentDirectory: TestEnvironment.repositoryRoot,
            stdout: self.logPath, stderr: self.logPath)
    }

    /// Sends `signal` and reaps the process; false when it had to be SIGKILLed after `within`.
    @discardableResult
    func kill(_ signal: Int32 = SIGKILL, within: Duration = .seconds(20)) async throws -> Bool {
        guard let pid = self.pid else { return true }
        Foundation.kill(pid, signal)
        let deadline = ContinuousClock.now + within
        var status: Int32 = 0
        var exited = true
        while waitpid(pid, &status, WNOHANG) != pid {
            if ContinuousClock.now >= deadline, exited {
                Foundation.kill(pid, SIGKILL)
                exited = false
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        self.pid = nil
        return exited
    }

    func log() -> String { (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? "" }

    /// Kills what sessions left running: every process in their cgroups (from the records the agent wrote), and
    /// their process groups.
    func killSessionProcesses() {
        Self.killSessions(under: self.workDir.appendingPathComponent("sessions-root"))
    }

    static func killSessions(under root: URL) {
        guard let enumerator = FileManager.default.enumerator(atPath: root.path) else { return }
        for case let path as String in enumerator {
            let file = root.appendingPathComponent(path).path
            if path.hasSuffix("/cgroup.json"), let data = FileManager.default.contents(atPath: file),
                let record = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                let folders = record["folders"] as? [String: String]
            {
                for folder in folders.values {
                    let members = (try? String(contentsOfFile: folder + "/cgroup.procs", encoding: .utf8)) ?? ""
                    for pid in members.split(separator: "\n").compactMap({ pid_t($0) }) { Foundation.kill(pid, SIGKILL) }
                }
            } else if path.hasSuffix("/pid"), let text = try? String(contentsOfFile: file, encoding: .utf8),
                let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                Foundation.kill(-pid, SIGKILL)
            }
        }
    }

    /// Only the agent: its sessions' processes outlive it on purpose (a restarted agent adopts them).
    deinit {
        if let pid { Foundation.kill(pid, SIGKILL); var status: Int32 = 0; waitpid(pid, &status, 0) }
    }
}
