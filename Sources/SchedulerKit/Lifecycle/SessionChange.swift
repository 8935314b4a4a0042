/// What a session's state is, as far as the lifecycle needs it to decide a transition.
public struct SessionState: Hashable, Sendable {
    public var status: SessionStatus
    public var type: SessionType
    public var statusInfo: StatusInfo?
    /// Whether an agent was assigned (a scheduled session has one; a PENDING one does not).
    public var hasAgent: Bool

    public init(status: SessionStatus, type: SessionType, statusInfo: StatusInfo? = nil, hasAgent: Bool) {
        self.status = status
        self.type = type
        self.statusInfo = statusInfo
        self.hasAgent = hasAgent
    }
}

/// What happens to a session's `status_data` with a change.
public enum StatusDataChange: Hashable, Sendable {
    case keep
    /// `status_data.scheduler` updated with these keys (the pass's predicates, retries, last try).
    case mergeScheduler(JSONValue)
    /// `status_data` replaced (an exit code, an error).
    case replace(JSONValue)
}

/// A command the change sends to the session's agent.
public enum AgentCommandKind: String, Hashable, Sendable {
    case start, stop, restart
}

/// One transition, decided by `SessionLifecycle` and applied by the manager's single writer, in one transaction
/// with its events: the writer applies it only if the session is still in `from` (compare and set), so a decision
/// taken from a snapshot never overwrites a change made meanwhile.
public struct SessionChange: Hashable, Sendable {
    public var from: SessionStatus
    public var to: SessionStatus
    public var statusInfo: StatusInfo
    /// The new result; nil keeps the current one.
    public var result: SessionResult?
    /// The exit code to record, when the change records one.
    public var exitCode: ExitCode?
    public var statusData: StatusDataChange
    /// Event rows, in order; each carries `statusInfo` as its reason (and the exit code, if any).
    public var events: [SessionEventName]
    public var command: AgentCommandKind?
    /// Set when the session is placed: the agent and the slots it holds there.
    public var placement: Placement?

    public struct ExitCode: Hashable, Sendable {
        public var value: Int?
        public init(_ value: Int?) { self.value = value }
    }

    public struct Placement: Hashable, Sendable {
        public var agentID: String
        public var slots: ResourceSlots
        public init(agentID: String, slots: ResourceSlots) {
            self.agentID = agentID
            self.slots = slots
        }
    }

    /// The session has ended (its slots are free, dependents may move): `terminated_at` is set and the
    /// scheduler is woken.
    public var ends: Bool { self.to.hasEnded && !self.from.hasEnded }
}

/// Why a transition was refused.
public struct IllegalTransition: Error, Hashable, Sendable, CustomStringConvertible {
    public var from: SessionStatus
    public var trigger: String
    public var description: String { "a session in \(self.from.rawValue) cannot take '\(self.trigger)'" }

    public init(from: SessionStatus, trigger: String) {
        self.from = from
        self.trigger = trigger
    }
}

/// What the lifecycle decided for one trigger.
public enum LifecycleOutcome: Hashable, Sendable {
    /// Write this change.
    case change(SessionChange)
    /// Nothing to write (a report that is not news: a RUNNING session reported RUNNING again).
    case unchanged
    /// The agent still runs a session that has ended here: tell it to stop.
    case orphaned
    /// Not a transition Backend.AI allows; nothing is written.
    case illegal(IllegalTransition)

    public var change: SessionChange? {
        if case .change(let change) = self { change } else { nil }
    }
}
