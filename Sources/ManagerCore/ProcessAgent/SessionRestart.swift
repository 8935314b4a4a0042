import Foundation
import Glibc
import Logging

/// `session restart`: the session's process is stopped (SIGTERM to its whole cgroup, SIGKILL after `stop_grace`, as
/// a stop) and, once it has ended, started again from the spec the agent kept, in the same work folder and mounts;
/// its output continues in the same log. Executions running in it are killed. The session is reported RUNNING
/// again when the new process runs (the manager holds it RESTARTING meanwhile); a stop during a restart wins.
extension AgentState {
    func restart(_ id: UUID, logger: Logger) {
        if self.settings.simulated {
            if self.simulatedRunning.contains(id) { self.reports.append(.init(sessionID: id, status: .running, restarted: true)) }
            return
        }
        for (runID, execution) in self.executions where execution.sessionID == id && execution.exitCode == nil {
            if let cgroup = execution.cgroup { _ = cgroup.signalAll(SIGKILL) } else { kill(execution.pid, SIGKILL) }
            logger.info("execution killed by the session's restart", metadata: ["run_id": "\(runID)"])
        }
        guard var tracked = self.sessions[id] else {
            // Not running here (it ended, or this agent lost it): its end is what the manager should hear.
            let workspace = SessionWorkspace(agentDir: self.settings.workDir, sessionID: id)
            if !workspace.has(.reported) {
                try? workspace.mark(.started)
                self.finish(id, workspace: workspace, cgroup: workspace.cgroup, exitCode: workspace.exitCode, logOffset: 0)
            }
            logger.warning("restart of a session this agent does not run")
            return
        }
        switch tracked.process {
        case .idle:
            // No process of its own: nothing to stop; it runs again at once.
            self.reports.append(.init(sessionID: id, status: .running, restarted: true))
        case .starting:
            // Its start (or an earlier restart) is under way: the new process is the restarted one.
            tracked.restartPending = true
            self.sessions[id] = tracked
        case .child(let pid), .adopted(let pid):
            tracked.restartRequested = true
            Self.signal(tracked, SIGTERM)
            tracked.killAt = .now + self.settings.stopGrace
            self.sessions[id] = tracked
            logger.info("session process signalled for a restart", metadata: ["pid": "\(pid)", "signal": "SIGTERM"])
        }
    }

    /// The old process has ended (seen by `monitor`, which cannot wait): the session is held `starting` and queued
    /// for `relaunchPending`.
    func relaunch(_ id: UUID, _ tracked: Tracked) {
        var starting = tracked
        starting.process = .starting
        starting.restartRequested = false
        starting.killAt = nil
        self.sessions[id] = starting
        self.pendingRelaunches.append(id)
    }

    /// Starts again the sessions whose old process has ended: what is left in their cgroups is killed and the
    /// cgroups and exit record removed (blocking work, on the executor), then each process is started. Called by the
    /// agent's monitor loop after each look.
    func relaunchPending() async {
        while !self.pendingRelaunches.isEmpty {
            let id = self.pendingRelaunches.removeFirst()
            guard let tracked = self.sessions[id] else { continue }
            let (cgroup, exitCodePath) = (tracked.cgroup, tracked.workspace.exitCodePath)
            var logger = self.logger
            logger[metadataKey: "session_id"] = "\(id)"
            do {
                try await BlockingExecutor.shared.run(name: "restart-cleanup") {
                    cgroup?.killAll()
                    cgroup?.remove()
                    try? FileManager.default.removeItem(atPath: exitCodePath)
                }
            } catch {
                logger.warning("cleaning up before a restart failed", metadata: ["error": "\(error)"])
            }
            await self.resume(id, logger: logger)
        }
    }

    private func resume(_ id: UUID, logger: Logger) async {
        guard let tracked = self.sessions[id], case .starting = tracked.process else { return }
        if tracked.stopRequested {
            self.sessions[id] = nil
            self.finish(id, workspace: tracked.workspace, cgroup: nil, exitCode: nil, logOffset: tracked.logOffset)
            return
        }
        guard let spec = tracked.workspace.spec else {
            self.sessions[id] = nil
            self.reports.append(.init(sessionID: id, status: .failed, reason: "the agent kept no start spec of the session to restart it"))
            return
        }
        logger.info("session process starting again (restart)")
        await self.launch(id, spec: spec, workspace: tracked.workspace, restarted: true, logger: logger)
    }
}
