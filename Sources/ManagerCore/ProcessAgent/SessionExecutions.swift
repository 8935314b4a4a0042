import Foundation
import Glibc
import Logging
import SchedulerKit

/// Executions in running sessions (`backend.ai run`): each is a command started in a new sandbox of its session,
/// made from the session's own start spec (kept in `spec.json`), so it has the session's work folder, mounts,
/// image, network policy and slots (its own cgroup with the session's limits), and runs as the sandbox's user. Its
/// output and exit code are kept in `runs/<id>/` of the session's folder and read by the manager a piece at a
/// time (`output`). An execution is killed when its session ends, and forgotten a minute after it ended unread.
extension AgentState {
    struct Execution {
        let sessionID: UUID
        let pid: pid_t
        let workspace: SessionWorkspace
        let cgroup: SessionCGroup?
        /// The write end of the process's stdin (executions that take input); closed when it is forgotten.
        var stdin: Int32?
        var exitCode: Int?
        var lastAsked: ContinuousClock.Instant
    }

    /// The longest line `input` writes at once (the CLI sends what the user typed).
    static let maxInputBytes = 64 << 10

    static let maxExecutions = 64
    static let outputChunk = 256 << 10

    func execute(_ request: AgentProtocol.FileRequest) async -> AgentProtocol.FileResult {
        guard let tracked = self.sessions[request.sessionID], let runtime = self.runtime else {
            return .init(id: request.id, problem: .init(.noSession, "The session is not running on this agent."))
        }
        guard var spec = tracked.workspace.spec else {
            return .init(id: request.id, problem: .init(.failed, "This agent has no start spec of the session (it started before executions existed)."))
        }
        guard let command = request.command, !command.isEmpty else {
            return .init(id: request.id, problem: .init(.invalid, "'command' is required."))
        }
        guard self.executions.count < Self.maxExecutions else {
            return .init(id: request.id, problem: .init(.tooLarge, "This agent runs \(Self.maxExecutions) executions already."))
        }
        let runID = UUID().uuidString.lowercased()
        let workspace = SessionWorkspace(execution: runID, of: tracked.workspace)
        spec.command = command
        var environment = spec.environ.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        environment += (request.environment ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        environment += [
            ("BACKENDAI_SESSION_ID", request.sessionID.uuidString.lowercased()), ("BACKENDAI_SESSION_NAME", spec.name),
            ("BACKENDAI_SESSION_TYPE", spec.type), ("BACKENDAI_AGENT_ID", self.settings.id),
        ]
        var sandbox = SessionSandbox(
            runtime: runtime, workspace: workspace, sessionID: UUID(), spec: spec, imageRoot: self.images.rootfs(for: spec.image))
        // An execution that takes input reads a pipe whose write end the agent keeps (close-on-exec, non-blocking).
        var stdin: (read: Int32, write: Int32)?
        if request.interactive == true {
            guard let ends = try? SessionSandbox.pipe() else {
                return .init(id: request.id, problem: .init(.failed, "The execution's stdin could not be made (errno \(errno))."))
            }
            _ = fcntl(ends.write, F_SETFL, fcntl(ends.write, F_GETFL) | O_NONBLOCK)
            stdin = ends
            sandbox.stdin = ends.read
        }
        do {
            let started = try await BlockingExecutor.shared.run(name: "execute") { [environment, sandbox] in
                try sandbox.start(environment: environment)
            }
            if let stdin { close(stdin.read) }
            self.executions[runID] = Execution(
                sessionID: request.sessionID, pid: started.pid, workspace: workspace, cgroup: started.cgroup, stdin: stdin?.write,
                lastAsked: .now)
            self.logger.info("execution started", metadata: ["session_id": "\(request.sessionID)", "run_id": "\(runID)"])
            return .init(id: request.id, run: runID)
        } catch {
            if let stdin {
                close(stdin.read)
                close(stdin.write)
            }
            return .init(id: request.id, problem: .init(.failed, "The execution could not start: \(String(describing: error).prefix(500))"))
        }
    }

    /// Writes one line to the run's stdin (the answer to the `input()` it waits on).
    func input(_ request: AgentProtocol.FileRequest) -> AgentProtocol.FileResult {
        guard let runID = request.run, let execution = self.executions[runID], execution.sessionID == request.sessionID else {
            return .init(id: request.id, problem: .init(.notFound, "No execution '\((request.run ?? "").prefix(64))' on this agent."))
        }
        guard let descriptor = execution.stdin, execution.exitCode == nil else {
            return .init(id: request.id, problem: .init(.invalid, "The execution takes no input (or has ended)."))
        }
        guard let text = request.input else {
            // No answer will come (the client went away): end of input, so the process is not left waiting.
            close(descriptor)
            self.executions[runID]?.stdin = nil
            return .init(id: request.id, run: runID)
        }
        let line = Array((text + "\n").utf8)
        guard line.count <= Self.maxInputBytes else {
            return .init(id: request.id, problem: .init(.tooLarge, "The input is longer than \(Self.maxInputBytes) bytes."))
        }
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == line.count else {
            return .init(id: request.id, problem: .init(.failed, "The execution is not reading its input (errno \(errno))."))
        }
        return .init(id: request.id, run: runID)
    }

    /// The run's output from `offset` (waiting up to half a second for some, or for its end).
    func output(_ request: AgentProtocol.FileRequest) async -> AgentProtocol.FileResult {
        // A run is read only through the session it was started in.
        guard let runID = request.run, self.executions[runID]?.sessionID == request.sessionID else {
            return .init(id: request.id, problem: .init(.notFound, "No execution '\((request.run ?? "").prefix(64))' on this agent."))
        }
        let offset = max(0, request.offset ?? 0)
        let deadline = ContinuousClock.now + .milliseconds(500)
        while true {
            guard var execution = self.executions[runID] else {
                return .init(id: request.id, problem: .init(.notFound, "The execution '\(runID)' was forgotten."))
            }
            execution.lastAsked = .now
            if execution.exitCode == nil, let code = ProcessLauncher.reap(child: execution.pid) {
                execution.exitCode = execution.workspace.exitCode ?? code
            }
            self.executions[runID] = execution
            let bytes = Self.read(execution.workspace.logPath, from: offset, limit: Self.outputChunk)
            let next = offset + Int64(bytes.count)
            if let code = execution.exitCode, bytes.count < Self.outputChunk {
                // Everything it wrote is read: the run is over.
                self.forget(runID)
                return .init(id: request.id, run: runID, output: bytes, nextOffset: next, exitCode: code)
            }
            if !bytes.isEmpty || ContinuousClock.now >= deadline {
                return .init(id: request.id, run: runID, output: bytes, nextOffset: next)
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Kills executions whose session is gone and forgets ended ones nobody read for a minute.
    func sweepExecutions(now: ContinuousClock.Instant) {
        for (runID, var execution) in self.executions {
            if execution.exitCode == nil, let code = ProcessLauncher.reap(child: execution.pid) {
                execution.exitCode = execution.workspace.exitCode ?? code
                self.executions[runID] = execution
            }
            let sessionGone = self.sessions[execution.sessionID] == nil
            if sessionGone || (execution.exitCode != nil && now - execution.lastAsked > .seconds(60)) {
                if execution.exitCode == nil {
                    if let cgroup = execution.cgroup { cgroup.killAll() } else { kill(execution.pid, SIGKILL) }
                    ProcessLauncher.reapBlocking(execution.pid)
                }
                self.forget(runID)
            }
        }
    }

    private func forget(_ runID: String) {
        guard let execution = self.executions.removeValue(forKey: runID) else { return }
        if let stdin = execution.stdin { close(stdin) }
        if let cgroup = execution.cgroup {
            cgroup.killAll()
            cgroup.remove()
        }
        try? FileManager.default.removeItem(at: execution.workspace.root)
    }

    private static func read(_ path: String, from offset: Int64, limit: Int) -> Data {
        guard let handle = FileHandle(forReadingAtPath: path) else { return Data() }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: UInt64(offset))) != nil else { return Data() }
        return (try? handle.read(upToCount: limit)) ?? Data()
    }
}
