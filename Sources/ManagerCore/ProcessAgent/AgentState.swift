import Foundation
import Logging
import Synchronization

/// The process agent's sessions, the reports it owes the manager, and the commands to acknowledge.
actor AgentState {
    /// A session this agent has taken.
    struct Tracked {
        enum Process {
            /// Our child: reaped with waitpid.
            case child(pid_t)
            /// Found alive after a restart: polled, its exit code read from the wrapper's file.
            case adopted(pid_t)
            /// An interactive session without a command: it runs until stopped.
            case idle
            /// Its process is being spawned (on the blocking executor); a stop meanwhile is kept for when it is.
            case starting
        }

        var process: Process
        var workspace: SessionWorkspace
        var logOffset: UInt64 = 0
        var killAt: ContinuousClock.Instant?
        var lastLogReport = ContinuousClock.now
        /// A stop arrived while the process was being spawned.
        var stopRequested = false
    }

    private let settings: AgentSettings
    private let logger: Logger
    private var sessions: [UUID: Tracked] = [:]
    private var reports: [AgentProtocol.SessionReport] = []
    private var acks: [Int64] = []
    /// Command ids carried out but not yet known to be acknowledged (a command can arrive twice).
    private var handled: Set<Int64> = []
    /// Simulated sessions without a command, running until stopped.
    private var simulatedRunning: Set<UUID> = []
    private let running = Atomic<Bool>(true)

    static let logChunk = 64 << 10
    static let logInterval: Duration = .seconds(2)

    init(settings: AgentSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    nonisolated var isRunning: Bool { self.running.load(ordering: .relaxed) }
    nonisolated func stopRunning() { self.running.store(false, ordering: .relaxed) }

    /// After a restart: re-reports what happened while the agent was away and adopts processes still running.
    func recover() {
        guard !self.settings.simulated else { return }
        for id in SessionWorkspace.all(agentDir: self.settings.workDir) {
            let workspace = SessionWorkspace(agentDir: self.settings.workDir, sessionID: id)
            guard workspace.has(.started), !workspace.has(.reported) else { continue }
            if let code = workspace.exitCode {
                self.finish(id, workspace: workspace, exitCode: code, logOffset: 0)
            } else if let pid = workspace.pid {
                if ProcessLauncher.exists(pid) {
                    self.sessions[id] = Tracked(process: .adopted(pid), workspace: workspace)
                    self.reports.append(.init(sessionID: id, status: .running))
                    self.logger.info("adopted a running session", metadata: ["session_id": "\(id)", "pid": "\(pid)"])
                } else {
                    self.finish(id, workspace: workspace, exitCode: -1, logOffset: 0)
                }
            } else if workspace.has(.stopped) {
                self.finish(id, workspace: workspace, exitCode: nil, logOffset: 0)
            } else {
                self.sessions[id] = Tracked(process: .idle, workspace: workspace)
                self.reports.append(.init(sessionID: id, status: .running))
            }
        }
    }

    func handle(_ commands: [AgentProtocol.Command]) async {
        for command in commands where !self.handled.contains(command.id) {
            var logger = self.logger
            logger[metadataKey: "session_id"] = "\(command.sessionID)"
            switch (command.kind, command.problem) {
            case (.start, let problem?): self.refuse(command, problem: problem, logger: logger)
            case (.stop, let problem?): logger.error("command refused", metadata: ["command_id": "\(command.id)", "problem": "\(problem)"])
            case (.start, nil): await self.start(command, logger: logger)
            case (.stop, nil): self.stop(command.sessionID, logger: logger)
            }
            self.handled.insert(command.id)
            self.acks.append(command.id)
        }
    }

    /// A start this agent cannot carry out: reported FAILED with the reason (the session ends ERROR), and marked
    /// so a repeat of the command does not run it.
    private func refuse(_ command: AgentProtocol.Command, problem: String, logger: Logger) {
        logger.error("start command refused", metadata: ["command_id": "\(command.id)", "problem": "\(problem)"])
        if !self.settings.simulated {
            let workspace = SessionWorkspace(agentDir: self.settings.workDir, sessionID: command.sessionID)
            guard !workspace.has(.started) else { return }
            try? workspace.mark(.started)
        }
        self.reports.append(.init(sessionID: command.sessionID, status: .failed, reason: problem))
    }

    /// The environment a spec asks for, refused whole when a name or value cannot be passed to a process.
    static func environmentProblem(_ environ: [String: String]) -> String? {
        for (name, value) in environ.sorted(by: { $0.key < $1.key }) {
            if name.isEmpty || name.utf8.contains(where: { $0 == UInt8(ascii: "=") || $0 == 0 }) || value.utf8.contains(0) {
                return "the environment variable '\(name.prefix(64))' cannot be passed to a process"
            }
        }
        return nil
    }

    private func start(_ command: AgentProtocol.Command, logger: Logger) async {
        if let spec = command.spec, let problem = Self.environmentProblem(spec.environ) {
            self.refuse(command, problem: problem, logger: logger)
            return
        }
        let id = command.sessionID
        if self.settings.simulated {
            self.simulateStart(command)
            return
        }
        let workspace = SessionWorkspace(agentDir: self.settings.workDir, sessionID: id)
        guard !workspace.has(.started) else {
            logger.info("start command repeated; the session was already started once")
            return
        }
        do {
            try workspace.mark(.started)
        } catch {
            logger.error("cannot create the session folder", metadata: ["error": "\(error)"])
            self.reports.append(.init(sessionID: id, status: .failed, reason: "the agent cannot create the session folder: \(error)"))
            return
        }
        self.reports.append(.init(sessionID: id, status: .preparing))
        do {
            try workspace.link(command.spec?.mounts ?? [])
        } catch {
            logger.error("cannot mount the session's folders", metadata: ["error": "\(error)"])
            self.reports.append(.init(sessionID: id, status: .failed, reason: "the agent cannot mount the session's folders: \(error)"))
            return
        }
        guard let spec = command.spec, let script = spec.command, !script.isEmpty else {
            self.sessions[id] = Tracked(process: .idle, workspace: workspace)
            self.reports.append(.init(sessionID: id, status: .running))
            logger.info("session running without a command")
            return
        }
        var environment = ProcessInfo.processInfo.environment.filter { ["PATH", "LANG", "LC_ALL", "TZ"].contains($0.key) }
        if environment["PATH"] == nil { environment["PATH"] = "/usr/local/bin:/usr/bin:/bin" }
        environment["HOME"] = workspace.workDir.path
        for (key, value) in spec.environ { environment[key] = value }
        environment["BACKENDAI_SESSION_ID"] = id.uuidString.lowercased()
        environment["BACKENDAI_SESSION_NAME"] = spec.name
        environment["BACKENDAI_SESSION_TYPE"] = spec.type
        environment["BACKENDAI_AGENT_ID"] = self.settings.id
        // The spawn runs on the blocking executor; the actor serves other calls meanwhile, so the session is
        // tracked as `starting` and a stop that comes in between is applied once the process exists.
        self.sessions[id] = Tracked(process: .starting, workspace: workspace)
        do {
            let pid = try await BlockingExecutor.shared.run(name: "spawn") { [environment] in
                try ProcessLauncher.spawn(command: script, workspace: workspace, environment: environment)
            }
            try? workspace.record(pid: pid)
            var tracked = self.sessions[id] ?? Tracked(process: .starting, workspace: workspace)
            tracked.process = .child(pid)
            if tracked.stopRequested {
                ProcessLauncher.signalGroup(pid, SIGTERM)
                tracked.killAt = .now + self.settings.stopGrace
            }
            self.sessions[id] = tracked
            self.reports.append(.init(sessionID: id, status: .running))
            logger.info("session process started", metadata: ["pid": "\(pid)"])
        } catch {
            self.sessions[id] = nil
            logger.error("cannot start the session process", metadata: ["error": "\(error)"])
            self.reports.append(.init(sessionID: id, status: .failed, reason: "the agent cannot start the session process: \(error)"))
        }
    }

    /// A simulated start: the reports a session would produce, at once and in order; sessions without a command
    /// stay RUNNING (in memory) until stopped.
    private func simulateStart(_ command: AgentProtocol.Command) {
        let id = command.sessionID
        self.reports.append(.init(sessionID: id, status: .preparing))
        self.reports.append(.init(sessionID: id, status: .running))
        if let script = command.spec?.command, !script.isEmpty {
            self.reports.append(.init(sessionID: id, status: .terminated, exitCode: 0, log: "", logOffset: 0))
        } else {
            self.simulatedRunning.insert(id)
        }
    }

    private func stop(_ id: UUID, logger: Logger) {
        if self.settings.simulated {
            if self.simulatedRunning.remove(id) != nil {
                self.reports.append(.init(sessionID: id, status: .terminated, exitCode: nil, log: "", logOffset: 0))
            }
            return
        }
        let workspace = SessionWorkspace(agentDir: self.settings.workDir, sessionID: id)
        try? workspace.mark(.stopped)
        guard var tracked = self.sessions[id] else {
            if !workspace.has(.reported) {
                // Never started here (or already gone): the `started` marker keeps a late start from running it.
                try? workspace.mark(.started)
                self.finish(id, workspace: workspace, exitCode: workspace.exitCode, logOffset: 0)
            }
            return
        }
        switch tracked.process {
        case .starting:
            tracked.stopRequested = true
            self.sessions[id] = tracked
        case .idle:
            self.sessions[id] = nil
            self.finish(id, workspace: workspace, exitCode: nil, logOffset: tracked.logOffset)
        case .child(let pid), .adopted(let pid):
            ProcessLauncher.signalGroup(pid, SIGTERM)
            tracked.killAt = .now + self.settings.stopGrace
            self.sessions[id] = tracked
            logger.info("session process signalled", metadata: ["pid": "\(pid)", "signal": "SIGTERM"])
        }
    }

    /// Reaps ended processes, escalates overdue stops to SIGKILL, and collects new output.
    func monitor() {
        let now = ContinuousClock.now
        for (id, var tracked) in self.sessions {
            var exitCode: Int??
            switch tracked.process {
            case .idle, .starting:
                continue
            case .child(let pid):
                if let code = ProcessLauncher.reap(child: pid) { exitCode = .some(tracked.workspace.exitCode ?? code) }
            case .adopted(let pid):
                if !ProcessLauncher.exists(pid) { exitCode = .some(tracked.workspace.exitCode ?? -1) }
            }
            if let exitCode {
                self.sessions[id] = nil
                self.finish(id, workspace: tracked.workspace, exitCode: exitCode, logOffset: tracked.logOffset)
                continue
            }
            if let killAt = tracked.killAt, now >= killAt {
                switch tracked.process {
                case .child(let pid), .adopted(let pid): ProcessLauncher.signalGroup(pid, SIGKILL)
                case .idle, .starting: break
                }
                tracked.killAt = nil
            }
            if now - tracked.lastLogReport >= Self.logInterval {
                let (text, offset) = tracked.workspace.readLog(from: tracked.logOffset, limit: Self.logChunk)
                tracked.lastLogReport = now
                if !text.isEmpty {
                    self.reports.append(.init(sessionID: id, status: .running, log: text, logOffset: Int64(tracked.logOffset)))
                    tracked.logOffset = offset
                }
            }
            self.sessions[id] = tracked
        }
    }

    /// Queues the TERMINATED report with the rest of the output (its last MiB).
    private func finish(_ id: UUID, workspace: SessionWorkspace, exitCode: Int?, logOffset: UInt64, extraLog: String = "") {
        var offset = logOffset
        var text = ""
        while text.utf8.count < (1 << 20) {
            let (chunk, next) = workspace.readLog(from: offset, limit: Self.logChunk)
            guard !chunk.isEmpty else { break }
            text += chunk
            offset = next
        }
        self.reports.append(.init(
            sessionID: id, status: .terminated, exitCode: exitCode, log: text + extraLog, logOffset: Int64(logOffset)))
    }

    /// Reports and acknowledgements waiting to be sent.
    func outgoing() -> (reports: [AgentProtocol.SessionReport], acks: [Int64]) {
        (self.reports, self.acks)
    }

    /// The manager has these; TERMINATED sessions are marked done on disk.
    func delivered(reports: [AgentProtocol.SessionReport], acks: [Int64]) {
        self.reports.removeFirst(min(reports.count, self.reports.count))
        let acked = Set(acks)
        self.acks.removeAll { acked.contains($0) }
        for report in reports where (report.status == .terminated || report.status == .failed) && !self.settings.simulated {
            try? SessionWorkspace(agentDir: self.settings.workDir, sessionID: report.sessionID).mark(.reported)
        }
        // Acknowledged commands are not sent again (and the markers make a late duplicate harmless).
        self.handled.subtract(acked)
    }
}
