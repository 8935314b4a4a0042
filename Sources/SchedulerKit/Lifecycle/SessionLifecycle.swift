/// Every transition of a session's status, decided in one place (no I/O): from its state and a trigger to the
/// `SessionChange` the manager's single writer applies, or a refusal.
///
/// The statuses a session may move to are Backend.AI's transition map, with the moves our agents make explicit
/// (a destroy during a start goes through TERMINATING, and a forced one straight to TERMINATED).
public enum SessionLifecycle {
    /// Where each status may go.
    public static let allowed: [SessionStatus: Set<SessionStatus>] = [
        .pending: [.scheduled, .cancelled, .error],
        .scheduled: [.pulling, .preparing, .running, .terminating, .terminated, .error],
        .pulling: [.preparing, .running, .terminating, .terminated, .error],
        .preparing: [.running, .terminating, .terminated, .error],
        .running: [.restarting, .runningDegraded, .terminating, .terminated, .error],
        .restarting: [.running, .terminating, .terminated, .error],
        .runningDegraded: [.running, .terminating, .terminated, .error],
        .terminating: [.terminated, .error],
        .error: [.terminated],
        .terminated: [],
        .cancelled: [],
    ]

    /// A new session starts here (the enqueue writes it, with `session_enqueued`).
    public static let initial = SessionStatus.pending

    /// Statuses in which a session holds slots on an agent.
    public static let occupying: [SessionStatus] = [
        .scheduled, .pulling, .preparing, .running, .restarting, .runningDegraded, .terminating,
    ]

    public static func decide(_ state: SessionState, _ trigger: SessionTrigger) -> LifecycleOutcome {
        let outcome = self.transition(state, trigger)
        // The map is the law: a rule below that ever produced a move outside it is refused, not written.
        if case .change(let change) = outcome, !(self.allowed[change.from]?.contains(change.to) ?? false) {
            return .illegal(IllegalTransition(from: state.status, trigger: trigger.name))
        }
        return outcome
    }

    private static func transition(_ state: SessionState, _ trigger: SessionTrigger) -> LifecycleOutcome {
        let status = state.status
        let occupying = self.occupying.contains(status)
        let refused = LifecycleOutcome.illegal(IllegalTransition(from: status, trigger: trigger.name))
        switch trigger {
        case .schedule(let placement, let data):
            guard status == .pending else { return refused }
            var change = self.change(state, to: .scheduled, info: .scheduled, events: [.scheduled])
            change.statusData = .mergeScheduler(data)
            change.command = .start
            change.placement = placement
            return .change(change)

        case .cancel(let info, let data):
            guard status == .pending else { return refused }
            var change = self.change(state, to: .cancelled, info: info, events: [.cancelled, .kernelCancelled])
            change.statusData = .mergeScheduler(data)
            return .change(change)

        case .preparing, .running:
            let target: SessionStatus = trigger == .preparing ? .preparing : .running
            let before: Set<SessionStatus> = target == .preparing ? [.scheduled, .pulling] : [.scheduled, .pulling, .preparing]
            if before.contains(status) {
                return .change(self.change(state, to: target, info: .none, events: [target == .preparing ? .preparing : .started]))
            }
            if occupying { return .unchanged }  // forward only: a late or repeated report is not news
            return status.hasEnded ? .orphaned : refused

        case .exited(let code, let cause):
            guard occupying else { return status.hasEnded ? .unchanged : refused }
            let batch = state.type == .batch
            let result: SessionResult? =
                if cause != nil { .failure } else if !batch { nil } else { code == 0 ? .success : .failure }
            let info: StatusInfo =
                if let cause { cause }
                else if status == .terminating { state.statusInfo ?? .none }
                else if !batch { .selfTerminated }
                else { code == 0 ? .taskFinished : .taskFailed }
            var events: [SessionEventName] = []
            // A batch session's outcome, and any session the kernel killed for memory, is an event of its own.
            if batch || cause == .oomKilled { events.append(result == .success ? .success : .failure) }
            events.append(.terminated)
            var change = self.change(state, to: .terminated, info: info, events: events)
            change.result = result
            change.exitCode = .init(code)
            change.statusData = .replace(.object([
                ("kernel", .object([("exit_code", code.map { .number(Double($0)) } ?? .null)])),
                ("session", .object([("status", .string("terminated"))])),
            ]))
            return .change(change)

        case .failedToStart(let reason, let agentID):
            guard occupying else { return status.hasEnded ? .unchanged : refused }
            return .change(self.error(state, info: .failedToStart, name: "StartFailed", repr: reason, agentID: agentID))

        case .agentLost(let agentID):
            guard occupying else { return status.hasEnded ? .unchanged : refused }
            return .change(self.error(
                state, info: .agentLost, name: "AgentLost", repr: "The agent \(agentID) stopped sending heartbeats.",
                agentID: agentID))

        case .destroy(let forced):
            return self.end(state, info: forced ? .forceTerminated : .userRequested, forced: forced)

        case .expire(let info):
            return self.end(state, info: info, forced: true)

        case .restart:
            // A batch session's process is its task: restarting it would run the task twice.
            guard status == .running, state.hasAgent, state.type != .batch else { return refused }
            var change = self.change(state, to: .restarting, info: .restarting, events: [.restarting])
            change.command = .restart
            return .change(change)

        case .restarted:
            if status == .restarting { return .change(self.change(state, to: .running, info: .none, events: [.started])) }
            if occupying { return .unchanged }
            return status.hasEnded ? .orphaned : refused
        }
    }

    /// A destroy: a PENDING session is cancelled; one without a running process (no agent, ERROR) or a forced
    /// destroy ends at once; otherwise TERMINATING until the agent reports the process gone. The agent is told to
    /// stop whatever it runs.
    private static func end(_ state: SessionState, info: StatusInfo, forced: Bool) -> LifecycleOutcome {
        let status = state.status
        if status.isDead { return .unchanged }
        if status == .terminating && !forced { return .unchanged }  // already on its way out
        var change: SessionChange
        if status == .pending {
            change = self.change(state, to: .cancelled, info: info, events: [.cancelled, .kernelCancelled])
        } else if forced || !state.hasAgent || status == .error {
            change = self.change(state, to: .terminated, info: info, events: [.terminated])
        } else {
            change = self.change(state, to: .terminating, info: info, events: [.terminating])
        }
        if state.hasAgent && status != .pending && status != .error { change.command = .stop }
        return .change(change)
    }

    /// ERROR with Backend.AI's `status_data.error` shape; a batch session's result is FAILURE.
    private static func error(
        _ state: SessionState, info: StatusInfo, name: String, repr: String, agentID: String
    ) -> SessionChange {
        var events: [SessionEventName] = []
        if state.type == .batch { events.append(.failure) }
        events.append(.terminated)
        var change = self.change(state, to: .error, info: info, events: events)
        if state.type == .batch { change.result = .failure }
        change.statusData = .replace(.object([
            ("error", .object([
                ("src", .string("agent")), ("name", .string(name)), ("repr", .string(repr)),
                ("agent_id", .string(agentID)),
            ])),
        ]))
        return change
    }

    private static func change(
        _ state: SessionState, to next: SessionStatus, info: StatusInfo, events: [SessionEventName]
    ) -> SessionChange {
        SessionChange(
            from: state.status, to: next, statusInfo: info, result: nil, exitCode: nil, statusData: .keep,
            events: events, command: nil, placement: nil)
    }
}
