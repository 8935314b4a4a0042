/// A predicate's name and message, as `status_data.scheduler.failed_predicates` lists them.
public struct PredicateFailure: Hashable, Sendable {
    public var name: String
    public var message: String

    public init(name: String, message: String) {
        self.name = name
        self.message = message
    }
}

/// What a pass decided for one pending session.
public enum SchedulingDecision: Hashable, Sendable {
    /// Start on `agentID`, holding `slots`.
    case schedule(Placement)
    /// Stay PENDING; `statusInfo` is `predicate-checks-failed` or `no-available-instances`.
    case wait(Waiting)
    /// Never start: CANCELLED with `statusInfo` (`pending-timeout`, `dependency-failed`).
    case cancel(Cancellation)

    public struct Placement: Hashable, Sendable {
        public var sessionID: String
        public var agentID: String
        public var slots: ResourceSlots
        public var passed: [String]
    }

    public struct Waiting: Hashable, Sendable {
        public var sessionID: String
        public var statusInfo: String
        public var passed: [String]
        public var failed: [PredicateFailure]
        /// Set when no agent could take it: `0/5 agents available: 3 insufficient cpu, …`.
        public var message: String?
        /// The new `status_data.scheduler.retries`.
        public var retries: Int
    }

    public struct Cancellation: Hashable, Sendable {
        public var sessionID: String
        public var statusInfo: String
        public var message: String
        public var passed: [String]
        public var failed: [PredicateFailure]
    }

    public var sessionID: String {
        switch self {
        case .schedule(let placement): placement.sessionID
        case .wait(let waiting): waiting.sessionID
        case .cancel(let cancellation): cancellation.sessionID
        }
    }
}

/// The outcome of one pass: a decision for every pending session, in the order they were considered.
public struct PassResult: Hashable, Sendable {
    public var decisions: [SchedulingDecision]
    public var roundRobinCursor: Int

    public var placements: [SchedulingDecision.Placement] {
        self.decisions.compactMap { if case .schedule(let placement) = $0 { placement } else { nil } }
    }

    public var cancellations: [SchedulingDecision.Cancellation] {
        self.decisions.compactMap { if case .cancel(let cancellation) = $0 { cancellation } else { nil } }
    }

    public var waiting: [SchedulingDecision.Waiting] {
        self.decisions.compactMap { if case .wait(let waiting) = $0 { waiting } else { nil } }
    }
}
