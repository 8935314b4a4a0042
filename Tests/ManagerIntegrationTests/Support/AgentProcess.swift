import Foundation

/// A real `manager agent` process joining a manager over HTTP.
final class AgentProcess: @unchecked Sendable {
    let workDir: URL
    let logPath: String
    private var pid: pid_t?
    private var extraArguments: [String] = []

    init(
        _ environment: TestEnvironment, managerEndpoint: String, id: String, cpu: String = "2", mem: String = "2g",
        instances: Int = 1, scalingGroup: String = "default", workDir: URL? = nil, extraArguments: [String] = []
    ) throws {
        self.extraArguments = extraArguments
        self.workDir = try workDir ?? environment.scratchDirectory("agent-\(id)")
        self.logPath = self.workDir.appendingPathComponent("agent.log").path
        try self.start(managerEndpoint: managerEndpoint, id: id, cpu: cpu, mem: mem, instances: instances, scalingGroup: scalingGroup)
    }

    private func start(managerEndpoint: String, id: String, cpu: String, mem: String, instances: Int, scalingGroup: String) throws {
        self.pid = try spawn(
            TestEnvironment.managerExecutable,
            ["agent", "--manager", managerEndpoint, "--secret", ManagerProcess.agentSecret, "--id", id, "--cpu", cpu,
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

    /// Kills what sessions left running (their process groups), from the pid files the agent wrote.
    func killSessionProcesses() {
        let root = self.workDir.appendingPathComponent("sessions-root")
        guard let enumerator = FileManager.default.enumerator(atPath: root.path) else { return }
        for case let path as String in enumerator where path.hasSuffix("/pid") {
            if let text = try? String(contentsOfFile: root.appendingPathComponent(path).path, encoding: .utf8),
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
