import SchedulerKit
import Testing

/// One row: a session's state, a trigger, and what the lifecycle must decide (a short summary of the change).
struct LifecycleCase: CustomTestStringConvertible, Sendable {
    let label: String
    let state: SessionState
    let trigger: SessionTrigger
    let expected: Expected
    var testDescription: String { self.label }

    enum Expected: Hashable, Sendable {
        case change(to: SessionStatus, info: StatusInfo, result: SessionResult?, events: [SessionEventName], command: AgentCommandKind?)
        case unchanged
        case orphaned
        case illegal
    }
}

@Suite struct SessionLifecycleTests {
    static func state(_ status: SessionStatus, _ type: SessionType = .interactive, info: StatusInfo? = nil,
                      agent: Bool = true) -> SessionState {
        SessionState(status: status, type: type, statusInfo: info, hasAgent: agent)
    }

    static let placement = SessionChange.Placement(agentID: "i-1", slots: ResourceSlots())
    static let data = JSONValue.object([("last_try", .string("t"))])

    static let cases: [LifecycleCase] = [
        // Scheduling.
        .init(label: "a pass places a PENDING session: SCHEDULED, start command", state: state(.pending, agent: false),
              trigger: .schedule(placement, schedulerData: data),
              expected: .change(to: .scheduled, info: .scheduled, result: nil, events: [.scheduled], command: .start)),
        .init(label: "a session no longer PENDING cannot be placed", state: state(.running),
              trigger: .schedule(placement, schedulerData: data), expected: .illegal),
        .init(label: "pending-timeout cancels, with the kernel event", state: state(.pending, agent: false),
              trigger: .cancel(.pendingTimeout, schedulerData: data),
              expected: .change(to: .cancelled, info: .pendingTimeout, result: nil, events: [.cancelled, .kernelCancelled], command: nil)),
        .init(label: "a cancelled session cannot be cancelled again", state: state(.cancelled, agent: false),
              trigger: .cancel(.dependencyFailed, schedulerData: data), expected: .illegal),
        // Agent reports, forward only.
        .init(label: "PREPARING after SCHEDULED", state: state(.scheduled), trigger: .preparing,
              expected: .change(to: .preparing, info: .none, result: nil, events: [.preparing], command: nil)),
        .init(label: "RUNNING after PREPARING: started", state: state(.preparing), trigger: .running,
              expected: .change(to: .running, info: .none, result: nil, events: [.started], command: nil)),
        .init(label: "RUNNING straight after SCHEDULED", state: state(.scheduled), trigger: .running,
              expected: .change(to: .running, info: .none, result: nil, events: [.started], command: nil)),
        .init(label: "a late PREPARING for a RUNNING session is not news", state: state(.running), trigger: .preparing,
              expected: .unchanged),
        .init(label: "a repeated RUNNING is not news", state: state(.running), trigger: .running, expected: .unchanged),
        .init(label: "RUNNING for a TERMINATING session keeps it terminating", state: state(.terminating), trigger: .running,
              expected: .unchanged),
        .init(label: "RUNNING for a destroyed session: the agent must stop it", state: state(.terminated), trigger: .running,
              expected: .orphaned),
        .init(label: "RUNNING for an agent-lost session: the agent must stop it", state: state(.error), trigger: .running,
              expected: .orphaned),
        .init(label: "a PENDING session cannot be reported running", state: state(.pending, agent: false), trigger: .running,
              expected: .illegal),
        // Exits.
        .init(label: "a batch exiting 0 ends task-finished SUCCESS", state: state(.running, .batch),
              trigger: .exited(code: 0, cause: nil),
              expected: .change(to: .terminated, info: .taskFinished, result: .success, events: [.success, .terminated], command: nil)),
        .init(label: "a batch exiting 3 ends task-failed FAILURE", state: state(.running, .batch),
              trigger: .exited(code: 3, cause: nil),
              expected: .change(to: .terminated, info: .taskFailed, result: .failure, events: [.failure, .terminated], command: nil)),
        .init(label: "a batch without exit code fails", state: state(.preparing, .batch), trigger: .exited(code: nil, cause: nil),
              expected: .change(to: .terminated, info: .taskFailed, result: .failure, events: [.failure, .terminated], command: nil)),
        .init(label: "an interactive session ending on its own is self-terminated, result kept", state: state(.running),
              trigger: .exited(code: 0, cause: nil),
              expected: .change(to: .terminated, info: .selfTerminated, result: nil, events: [.terminated], command: nil)),
        .init(label: "an exit after a destroy keeps the destroy's reason", state: state(.terminating, .batch, info: .userRequested),
              trigger: .exited(code: 143, cause: nil),
              expected: .change(to: .terminated, info: .userRequested, result: .failure, events: [.failure, .terminated], command: nil)),
        .init(label: "an OOM kill fails any session, with its reason and a failure event", state: state(.running),
              trigger: .exited(code: 137, cause: .oomKilled),
              expected: .change(to: .terminated, info: .oomKilled, result: .failure, events: [.failure, .terminated], command: nil)),
        .init(label: "an exit report for an ended session is ignored", state: state(.terminated), trigger: .exited(code: 0, cause: nil),
              expected: .unchanged),
        // Failures of the system.
        .init(label: "a failed start is ERROR failed-to-start; FAILURE for batch", state: state(.scheduled, .batch),
              trigger: .failedToStart(reason: "no bwrap", agentID: "i-1"),
              expected: .change(to: .error, info: .failedToStart, result: .failure, events: [.failure, .terminated], command: nil)),
        .init(label: "a lost agent ends its interactive session in ERROR agent-lost", state: state(.running),
              trigger: .agentLost(agentID: "i-1"),
              expected: .change(to: .error, info: .agentLost, result: nil, events: [.terminated], command: nil)),
        .init(label: "a lost agent does not touch a PENDING session", state: state(.pending, agent: false),
              trigger: .agentLost(agentID: "i-1"), expected: .illegal),
        // Destroy.
        .init(label: "destroying a PENDING session cancels it", state: state(.pending, agent: false), trigger: .destroy(forced: false),
              expected: .change(to: .cancelled, info: .userRequested, result: nil, events: [.cancelled, .kernelCancelled], command: nil)),
        .init(label: "destroying a RUNNING session: TERMINATING and a stop command", state: state(.running),
              trigger: .destroy(forced: false),
              expected: .change(to: .terminating, info: .userRequested, result: nil, events: [.terminating], command: .stop)),
        .init(label: "a forced destroy ends at once and still stops the process", state: state(.running),
              trigger: .destroy(forced: true),
              expected: .change(to: .terminated, info: .forceTerminated, result: nil, events: [.terminated], command: .stop)),
        .init(label: "destroying a TERMINATING session again changes nothing", state: state(.terminating),
              trigger: .destroy(forced: false), expected: .unchanged),
        .init(label: "forcing a TERMINATING session ends it", state: state(.terminating), trigger: .destroy(forced: true),
              expected: .change(to: .terminated, info: .forceTerminated, result: nil, events: [.terminated], command: .stop)),
        .init(label: "destroying an ERROR session terminates it without a command", state: state(.error),
              trigger: .destroy(forced: false),
              expected: .change(to: .terminated, info: .userRequested, result: nil, events: [.terminated], command: nil)),
        .init(label: "destroying a dead session changes nothing", state: state(.cancelled, agent: false),
              trigger: .destroy(forced: true), expected: .unchanged),
        // Policies.
        .init(label: "an idle session is ended with its reason", state: state(.running), trigger: .expire(.idleTimeout),
              expected: .change(to: .terminated, info: .idleTimeout, result: nil, events: [.terminated], command: .stop)),
        .init(label: "an over-age PENDING session is cancelled with its reason", state: state(.pending, agent: false),
              trigger: .expire(.sessionLifetimeExceeded),
              expected: .change(to: .cancelled, info: .sessionLifetimeExceeded, result: nil, events: [.cancelled, .kernelCancelled], command: nil)),
        // Restart.
        .init(label: "restarting a RUNNING interactive session: RESTARTING, restart command", state: state(.running), trigger: .restart,
              expected: .change(to: .restarting, info: .restarting, result: nil, events: [.restarting], command: .restart)),
        .init(label: "a batch session cannot be restarted (its process is its task)", state: state(.running, .batch),
              trigger: .restart, expected: .illegal),
        .init(label: "a PENDING session cannot be restarted", state: state(.pending, agent: false), trigger: .restart, expected: .illegal),
        .init(label: "a session already restarting cannot be restarted again", state: state(.restarting), trigger: .restart, expected: .illegal),
        .init(label: "the agent runs it again: RUNNING, started", state: state(.restarting, info: .restarting), trigger: .restarted,
              expected: .change(to: .running, info: .none, result: nil, events: [.started], command: nil)),
        .init(label: "a plain RUNNING report (output, use) does not end a restart", state: state(.restarting), trigger: .running,
              expected: .unchanged),
        .init(label: "a restarted report for a RUNNING session is not news", state: state(.running), trigger: .restarted, expected: .unchanged),
        .init(label: "a restarted report for a destroyed session: the agent must stop it", state: state(.terminated), trigger: .restarted,
              expected: .orphaned),
        .init(label: "an exit during a restart ends the session", state: state(.restarting), trigger: .exited(code: 137, cause: nil),
              expected: .change(to: .terminated, info: .selfTerminated, result: nil, events: [.terminated], command: nil)),
    ]

    @Test("each trigger gives its transition", arguments: cases)
    func decides(_ row: LifecycleCase) {
        let outcome = SessionLifecycle.decide(row.state, row.trigger)
        switch (outcome, row.expected) {
        case (.change(let change), .change(let to, let info, let result, let events, let command)):
            #expect(change.from == row.state.status)
            #expect(change.to == to)
            #expect(change.statusInfo == info)
            #expect(change.result == result)
            #expect(change.events == events)
            #expect(change.command == command)
        case (.unchanged, .unchanged), (.orphaned, .orphaned), (.illegal, .illegal):
            break
        default:
            Issue.record("decided \(outcome), expected \(row.expected)")
        }
    }

    @Test("every change any trigger makes from any state stays inside the transition map; dead sessions never move")
    func exhaustive() {
        let triggers: [SessionTrigger] = [
            .schedule(Self.placement, schedulerData: Self.data), .cancel(.pendingTimeout, schedulerData: Self.data),
            .preparing, .running, .exited(code: 0, cause: nil), .exited(code: 1, cause: .oomKilled),
            .failedToStart(reason: "x", agentID: "a"), .destroy(forced: false), .destroy(forced: true),
            .agentLost(agentID: "a"), .expire(.idleTimeout), .restart, .restarted,
        ]
        var changes = 0
        for status in SessionStatus.allCases {
            for type in SessionType.allCases {
                for agent in [false, true] {
                    for trigger in triggers {
                        let state = SessionState(status: status, type: type, hasAgent: agent)
                        guard case .change(let change) = SessionLifecycle.decide(state, trigger) else { continue }
                        changes += 1
                        #expect(SessionLifecycle.allowed[status]?.contains(change.to) == true, "\(status) → \(change.to)")
                        #expect(!status.isDead, "a \(status) session moved")
                        #expect(!change.events.isEmpty, "\(status) → \(change.to) without an event")
                        #expect(change.ends == (change.to.hasEnded && !status.hasEnded))
                        if change.command == .start { #expect(change.placement != nil) }
                    }
                }
            }
        }
        #expect(changes > 50)
    }

    @Test("an exit records its code in status_data.kernel; an error records Backend.AI's error shape")
    func statusData() throws {
        let exit = try #require(SessionLifecycle.decide(Self.state(.running, .batch), .exited(code: 7, cause: nil)).change)
        #expect(exit.exitCode == .init(7))
        #expect(exit.statusData == .replace(.object([
            ("kernel", .object([("exit_code", .number(7))])), ("session", .object([("status", .string("terminated"))])),
        ])))
        let lost = try #require(SessionLifecycle.decide(Self.state(.running), .agentLost(agentID: "i-9")).change)
        guard case .replace(let json) = lost.statusData else { Issue.record("no error recorded"); return }
        #expect(json["error"]?["name"] == .string("AgentLost"))
        #expect(json["error"]?["agent_id"] == .string("i-9"))
        let placed = try #require(SessionLifecycle.decide(
            Self.state(.pending, agent: false), .schedule(Self.placement, schedulerData: Self.data)).change)
        #expect(placed.statusData == .mergeScheduler(Self.data))
        #expect(placed.placement == Self.placement)
    }

    @Test("webhook events are exactly the session_ ones; the kernel event is scoped kernel")
    func eventNames() {
        #expect(SessionEventName.allCases.filter(\.isWebhookEvent).count == SessionEventName.allCases.count - 1)
        #expect(SessionEventName.kernelCancelled.scope == "kernel")
        #expect(!SessionEventName.kernelCancelled.isWebhookEvent)
    }
}
