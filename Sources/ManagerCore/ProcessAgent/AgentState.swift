import Foundation
import Glibc
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
        /// Its cgroups (nil without resource limits): its processes, limits and use.
        var cgroup: SessionCGroup?
        var logOffset: UInt64 = 0
        var lastStats = ContinuousClock.now
        var killAt: ContinuousClock.Instant?
        var lastLogReport = ContinuousClock.now
        /// A stop arrived while the process was being spawned.
        var stopRequested = false
        /// A restart is under way: when the process has ended it is started again instead of reported ended.
        var restartRequested = false
        /// A restart came while the process was being spawned: the new process is reported as the restarted one.
        var restartPending = false
    }

    let settings: AgentSettings
    let logger: Logger
    /// What this host's sandbox can do; set by `prepare` before any command is taken.
    private(set) var runtime: SandboxRuntime?
    private var lastSweep = ContinuousClock.now
    /// Blocking work the state hands to the agent's chore loop (which runs it on the blocking executor): killing
    /// what is left of a session, removing its cgroups and folder.
    struct Chore: Sendable {
        var name: String
        var work: @Sendable () -> Void
    }

    nonisolated let chores: AsyncStream<Chore>
    let choreQueue: AsyncStream<Chore>.Continuation
    var sessions: [UUID: Tracked] = [:]
    /// Sessions whose old process ended during a restart, to be started again (`SessionRestart.swift`).
    var pendingRelaunches: [UUID] = []
    /// Executions (`run`) in running sessions, by run id (`SessionExecutions.swift`).
    var executions: [String: Execution] = [:]
    var reports: [AgentProtocol.SessionReport] = []
    private var acks: [Int64] = []
    /// Command ids carried out but not yet known to be acknowledged (a command can arrive twice).
    private var handled: Set<Int64> = []
    /// Simulated sessions without a command, running until stopped.
    var simulatedRunning: Set<UUID> = []
    private let running = Atomic<Bool>(true)

    static let logChunk = 64 << 10
    static let logInterval: Duration = .seconds(2)
    static let statsInterval: Duration = .seconds(5)
    static let sweepInterval: Duration = .seconds(60)

    init(settings: AgentSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
        (self.chores, self.choreQueue) = AsyncStream.makeStream(of: Chore.self)
    }

    nonisolated func finishChores() { self.choreQueue.finish() }

    nonisolated var isRunning: Bool { self.running.load(ordering: .relaxed) }
    nonisolated func stopRunning() { self.running.store(false, ordering: .relaxed) }

    /// Checks what this host can do for sessions; throws (and the agent does not start) when the configured
    /// sandbox cannot be had.
    func prepare() async throws {
        guard !self.settings.simulated else { return }
        let (settings, id, workDir, logger) = (self.settings.sandbox, self.settings.id, self.settings.workDir, self.logger)
        // It runs bubblewrap once to check user namespaces: blocking work, on the blocking executor.
        self.runtime = try await BlockingExecutor.shared.run(name: "sandbox-check") {
            try SandboxRuntime.prepare(settings, agentID: id, workDir: workDir, logger: logger)
        }
        self.tendNetworks()
    }

    /// A duration in milliseconds with two decimals, for logs.
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(format: "%.2f", Double(seconds) * 1000 + Double(attoseconds) / 1e15)
    }

    /// Keeps the outbound namespaces' pool full (blocking work, as a chore) and reaps its helpers that ended.
    private func tendNetworks() {
        guard let pool = self.runtime?.networkPool else { return }
        pool.reap()
        if pool.wantsFill { self.choreQueue.yield(.init(name: "network-pool") { pool.fill() }) }
    }

    /// The agent stops: the namespaces no session took are given up.
    func shutDownNetworks() {
        self.runtime?.networkPool?.shutDown()
    }

    var images: ImageStore { ImageStore(root: self.settings.sandbox.imageRoot(workDir: self.settings.workDir)) }

    /// After a restart: re-reports what happened while the agent was away and adopts processes still running. A
    /// process is the session's only when it is in the session's cgroups (as recorded outside the sandbox).
    func recover() {
        guard !self.settings.simulated else { return }
        for id in SessionWorkspace.all(agentDir: self.settings.workDir) {
            let workspace = SessionWorkspace(agentDir: self.settings.workDir, sessionID: id)
            guard workspace.has(.started), !workspace.has(.reported) else { continue }
            let cgroup = workspace.cgroup
            if let code = workspace.exitCode {
                self.finish(id, workspace: workspace, cgroup: cgroup, exitCode: code, logOffset: 0)
            } else if let pid = workspace.pid {
                if Self.alive(pid, in: cgroup) {
                    self.sessions[id] = Tracked(process: .adopted(pid), workspace: workspace, cgroup: cgroup)
                    self.reports.append(.init(sessionID: id, status: .running))
                    self.logger.info("adopted a running session", metadata: ["session_id": "\(id)", "pid": "\(pid)"])
                } else {
                    self.finish(id, workspace: workspace, cgroup: cgroup, exitCode: -1, logOffset: 0)
                }
            } else if workspace.has(.stopped) {
                self.finish(id, workspace: workspace, cgroup: cgroup, exitCode: nil, logOffset: 0)
            } else {
                self.sessions[id] = Tracked(process: .idle, workspace: workspace)
                self.reports.append(.init(sessionID: id, status: .running))
            }
        }
    }

    /// A process is the session's while it exists and (with cgroups) is a member of the session's cgroups, so a
    /// reused pid is never taken for the session.
    static func alive(_ pid: pid_t, in cgroup: SessionCGroup?) -> Bool {
        guard ProcessLauncher.exists(pid) else { return false }
        guard let cgroup else { return true }
        return cgroup.members().contains(pid)
    }

    func handle(_ commands: [AgentProtocol.Command]) async {
        for command in commands where !self.handled.contains(command.id) {
            var logger = self.logger
            logger[metadataKey: "session_id"] = "\(command.sessionID)"
            switch (command.kind, command.problem) {
            case (.start, let problem?): self.refuse(command, problem: problem, logger: logger)
            case (.stop, let problem?), (.restart, let problem?):
                logger.error("command refused", metadata: ["command_id": "\(command.id)", "problem": "\(problem)"])
            case (.start, nil): await self.start(command, logger: logger)
            case (.stop, nil): self.stop(command.sessionID, logger: logger)
            case (.restart, nil): self.restart(command.sessionID, logger: logger)
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
        if let spec = command.spec { try? workspace.record(spec: spec) }
        guard let spec = command.spec, let script = spec.command, !script.isEmpty else {
            // No process to run: its folders are still checked (a start checks them in `SessionSandbox.start`), and
            // its work folder is made, for files and executions (`run`).
            if let spec = command.spec, let runtime = self.runtime {
                do {
                    try workspace.prepare(owner: (runtime.settings.effectiveHostUID, runtime.settings.effectiveHostGID))
                    _ = try SessionSandbox(runtime: runtime, workspace: workspace, sessionID: id, spec: spec, imageRoot: nil).mounts()
                } catch {
                    logger.error("cannot mount the session's folders", metadata: ["error": "\(error)"])
                    self.reports.append(.init(sessionID: id, status: .failed, reason: "the agent cannot mount the session's folders: \(error)"))
                    return
                }
            }
            self.sessions[id] = Tracked(process: .idle, workspace: workspace)
            self.reports.append(.init(sessionID: id, status: .running))
            logger.info("session running without a command")
            return
        }
        await self.launch(id, spec: spec, workspace: workspace, logger: logger)
    }

    /// Starts the session's process in its sandbox (a start, or a restart once the old process is gone) and reports
    /// it RUNNING, or FAILED when it cannot be started.
    func launch(_ id: UUID, spec: AgentProtocol.SessionSpec, workspace: SessionWorkspace, restarted: Bool = false, logger: Logger) async {
        guard let runtime = self.runtime else {
            self.sessions[id] = nil
            self.reports.append(.init(sessionID: id, status: .failed, reason: "the agent's sandbox is not ready"))
            return
        }
        var environment = spec.environ.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        environment += [
            ("BACKENDAI_SESSION_ID", id.uuidString.lowercased()), ("BACKENDAI_SESSION_NAME", spec.name),
            ("BACKENDAI_SESSION_TYPE", spec.type), ("BACKENDAI_AGENT_ID", self.settings.id),
        ]
        let imageRoot = self.images.rootfs(for: spec.image)
        let sandbox = SessionSandbox(runtime: runtime, workspace: workspace, sessionID: id, spec: spec, imageRoot: imageRoot)
        // The spawn runs on the blocking executor; the actor serves other calls meanwhile, so the session is
        // tracked as `starting` and a stop that comes in between is applied once the process exists. A restart
        // keeps what was tracked (how far its output was reported).
        var starting = self.sessions[id] ?? Tracked(process: .starting, workspace: workspace)
        starting.process = .starting
        starting.killAt = nil
        starting.restartRequested = false
        self.sessions[id] = starting
        do {
            let started = try await BlockingExecutor.shared.run(name: "spawn") { [environment] in
                try sandbox.start(environment: environment)
            }
            if let last = started.retried.last {
                logger.warning("the sandbox failed to set up and was started again", metadata: [
                    "attempts": "\(started.retried.count + 1)", "error": "\(last)",
                ])
            }
            var tracked = self.sessions[id] ?? Tracked(process: .starting, workspace: workspace)
            tracked.process = .child(started.pid)
            tracked.cgroup = started.cgroup
            if tracked.stopRequested {
                Self.signal(tracked, SIGTERM)
                tracked.killAt = .now + self.settings.stopGrace
            }
            let wasRestart = restarted || tracked.restartPending
            tracked.restartPending = false
            self.sessions[id] = tracked
            self.reports.append(.init(sessionID: id, status: .running, restarted: wasRestart ? true : nil))
            logger.info("session process started", metadata: [
                "pid": "\(started.pid)", "image_root": "\(imageRoot ?? "host")", "sandbox": "\(runtime.settings.mode.rawValue)",
                "network": "\(runtime.network.rawValue)", "start_ms": "\(Self.milliseconds(started.took))", "start_steps": "\(started.steps)",
            ])
        } catch {
            self.sessions[id] = nil
            logger.error("cannot start the session process", metadata: ["error": "\(error)"])
            self.reports.append(.init(sessionID: id, status: .failed, reason: "the agent cannot start the session: \(error)"))
        }
    }

    /// Signals every process of the session: its cgroups' members, or (without cgroups) its process group.
    static func signal(_ tracked: Tracked, _ signal: Int32) {
        switch tracked.process {
        case .child(let pid), .adopted(let pid):
            if let cgroup = tracked.cgroup {
                cgroup.signalAll(signal)
            } else {
                ProcessLauncher.signalGroup(pid, signal)
            }
        case .idle, .starting:
            break
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
                self.finish(id, workspace: workspace, cgroup: workspace.cgroup, exitCode: workspace.exitCode, logOffset: 0)
            }
            return
        }
        tracked.restartRequested = false
        switch tracked.process {
        case .starting:
            tracked.stopRequested = true
            self.sessions[id] = tracked
        case .idle:
            self.sessions[id] = nil
            self.finish(id, workspace: workspace, cgroup: tracked.cgroup, exitCode: nil, logOffset: tracked.logOffset)
        case .child(let pid), .adopted(let pid):
            Self.signal(tracked, SIGTERM)
            tracked.killAt = .now + self.settings.stopGrace
            self.sessions[id] = tracked
            logger.info("session process signalled", metadata: ["pid": "\(pid)", "signal": "SIGTERM"])
        }
    }

    /// Reaps ended processes, escalates overdue stops to SIGKILL (the whole cgroup: nothing a session forked or
    /// `setsid`ed survives), keeps the output log under its cap, and collects new output and use.
    func monitor() {
        let now = ContinuousClock.now
        self.tendNetworks()
        self.sweepExecutions(now: now)
        for (id, var tracked) in self.sessions {
            var exitCode: Int??
            switch tracked.process {
            case .idle, .starting:
                continue
            case .child(let pid):
                if let code = ProcessLauncher.reap(child: pid) { exitCode = .some(tracked.workspace.exitCode ?? code) }
            case .adopted(let pid):
                if !Self.alive(pid, in: tracked.cgroup) { exitCode = .some(tracked.workspace.exitCode ?? -1) }
            }
            if exitCode != nil, tracked.restartRequested {
                self.relaunch(id, tracked)
                continue
            }
            if let exitCode {
                self.sessions[id] = nil
                self.finish(id, workspace: tracked.workspace, cgroup: tracked.cgroup, exitCode: exitCode, logOffset: tracked.logOffset)
                continue
            }
            if let killAt = tracked.killAt, now >= killAt {
                if let cgroup = tracked.cgroup {
                    self.choreQueue.yield(.init(name: "kill") { cgroup.killAll() })
                } else {
                    Self.signal(tracked, SIGKILL)
                }
                tracked.killAt = nil
            }
            _ = tracked.workspace.capLog(limit: self.settings.sandbox.maxLogSize)
            var stats: AgentProtocol.SessionStats?
            if now - tracked.lastStats >= Self.statsInterval, let cgroup = tracked.cgroup {
                stats = Self.stats(of: cgroup)
                tracked.lastStats = now
            }
            // While a restart is under way, output waits for the new process's reports (kept from `logOffset`).
            if !tracked.restartRequested, now - tracked.lastLogReport >= Self.logInterval || stats != nil {
                let (text, start, offset) = tracked.workspace.readLog(from: tracked.logOffset, limit: Self.logChunk)
                tracked.lastLogReport = now
                if !text.isEmpty || stats != nil {
                    self.reports.append(.init(
                        sessionID: id, status: .running, log: text.isEmpty ? nil : text, logOffset: Int64(start), stats: stats))
                    tracked.logOffset = offset
                }
            }
            self.sessions[id] = tracked
        }
        if now - self.lastSweep >= Self.sweepInterval {
            self.lastSweep = now
            self.sweepFinished()
        }
    }

    static func stats(of cgroup: SessionCGroup) -> AgentProtocol.SessionStats {
        let usage = cgroup.usage()
        return .init(
            cpuUsedMilliseconds: usage.cpuNanoseconds.map { $0 / 1_000_000 }, memoryBytes: usage.memoryBytes,
            memoryPeakBytes: usage.memoryPeakBytes, memoryLimitBytes: cgroup.memoryLimit(), processes: usage.pids)
    }

    /// Queues the final report with the rest of the output (its last MiB) and what the session used: TERMINATED
    /// with the exit code (and `oom-killed` when the kernel killed it for memory), or FAILED when the sandbox could
    /// not be set up. Then whatever is left in its cgroups (slirp4netns, strays) is killed and the cgroups removed.
    func finish(_ id: UUID, workspace: SessionWorkspace, cgroup: SessionCGroup?, exitCode: Int?, logOffset: UInt64) {
        var stats: AgentProtocol.SessionStats?
        var cause: AgentProtocol.SessionReport.Cause?
        var extra = ""
        if let cgroup {
            stats = Self.stats(of: cgroup)
            if cgroup.oomKills() > 0 {
                cause = .oomKilled
                let limit = stats?.memoryLimitBytes.map { " (\($0) bytes)" } ?? ""
                extra = "\n[agent: the session was killed: out of memory, it used all of its memory slot\(limit)]\n"
            }
        }
        let sandboxed = self.runtime?.settings.mode == .bubblewrap
        if sandboxed, exitCode != nil, workspace.has(.started), !workspace.sandboxStarted, workspace.pid != nil {
            self.reports.append(.init(
                sessionID: id, status: .failed, reason: "the agent cannot start the session's sandbox: \(workspace.logTail())"))
        } else {
            var offset = logOffset
            // The last MiB is what the manager keeps: skip what would only be dropped.
            let end = workspace.logBase + UInt64(workspace.logSize)
            if end > offset + (1 << 20) { offset = end - (1 << 20) }
            var text = ""
            var start: UInt64?
            while text.utf8.count < (1 << 20) {
                let (chunk, from, next) = workspace.readLog(from: offset, limit: Self.logChunk)
                guard !chunk.isEmpty else { break }
                if start == nil { start = from }
                text += chunk
                offset = next
            }
            self.reports.append(.init(
                sessionID: id, status: .terminated, exitCode: exitCode, log: text + extra, logOffset: Int64(start ?? offset),
                reason: cause == .oomKilled ? "out of memory" : nil, cause: cause, stats: stats))
        }
        self.choreQueue.yield(.init(name: "session-cleanup") {
            // Without cgroups, a network namespace's helpers end by themselves with the sandbox (its lifetime pipe).
            if let cgroup {
                cgroup.killAll()
                cgroup.remove()
            }
        })
    }

    /// Removes the folders of sessions the manager has the end of, once `keep_finished` has passed.
    private func sweepFinished() {
        let keep = self.settings.sandbox.keepFinished
        let folders = SessionWorkspace.all(agentDir: self.settings.workDir)
            .map { SessionWorkspace(agentDir: self.settings.workDir, sessionID: $0) }
            .filter { workspace in
                guard let finished = workspace.finishedAt else { return false }
                return Date().timeIntervalSince(finished) >= Double(keep.components.seconds)
            }
        guard !folders.isEmpty else { return }
        self.choreQueue.yield(.init(name: "session-folders") {
            for folder in folders { try? folder.remove() }
        })
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
        var done: [SessionWorkspace] = []
        for report in reports where (report.status == .terminated || report.status == .failed) && !self.settings.simulated {
            let workspace = SessionWorkspace(agentDir: self.settings.workDir, sessionID: report.sessionID)
            try? workspace.mark(.reported)
            done.append(workspace)
        }
        if !done.isEmpty && self.settings.sandbox.keepFinished == .zero {
            self.choreQueue.yield(.init(name: "session-folders") { [done] in
                for folder in done { try? folder.remove() }
            })
        }
        // Acknowledged commands are not sent again (and the markers make a late duplicate harmless).
        self.handled.subtract(acked)
    }
}
