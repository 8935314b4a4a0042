/// What a keypair resource policy allows at enqueue, before a session is even queued: how many sessions may wait,
/// how many slots they may ask for together, and how many containers one session may have.
public struct PendingQuota: Hashable, Sendable {
    /// `max_pending_session_count`; nil: no limit.
    public var maxPendingSessions: Int?
    /// `max_pending_session_resource_slots`: only the slots named are limited; nil: no limit.
    public var maxPendingSlots: ResourceSlots?
    /// `max_containers_per_session`; 0: no limit.
    public var maxContainersPerSession: Int

    public init(maxPendingSessions: Int? = nil, maxPendingSlots: ResourceSlots? = nil, maxContainersPerSession: Int = 0) {
        self.maxPendingSessions = maxPendingSessions
        self.maxPendingSlots = maxPendingSlots
        self.maxContainersPerSession = maxContainersPerSession
    }

    /// The refusal for one more session asking for `request` with `containers` containers, when the keypair already
    /// has `pending` sessions waiting that ask for `pendingSlots` together; nil when it may be queued.
    public func refusal(
        pending: Int, pendingSlots: ResourceSlots, request: ResourceSlots, containers: Int
    ) -> QuotaRefusal? {
        if self.maxContainersPerSession > 0, containers > self.maxContainersPerSession {
            return .containersPerSession(limit: self.maxContainersPerSession)
        }
        if let limit = self.maxPendingSessions, pending >= limit {
            return .pendingSessionCount(limit: limit)
        }
        if let limits = self.maxPendingSlots {
            let over = (pendingSlots + request).exceedingLimits(limits)
            if !over.isEmpty {
                return .pendingSessionSlots(over.map { "\($0)=\(pendingSlots[$0] + request[$0]) > \(limits[$0])" })
            }
        }
        return nil
    }
}

/// Why a keypair resource policy refuses a session at enqueue, in Backend.AI's words.
public enum QuotaRefusal: Error, Hashable, Sendable {
    case pendingSessionCount(limit: Int)
    /// `slot=wanted > limit` for each slot over its limit.
    case pendingSessionSlots([String])
    case containersPerSession(limit: Int)

    public var message: String {
        switch self {
        case .pendingSessionCount(let limit):
            return "You cannot create more than \(limit) pending session(s)."
        case .pendingSessionSlots(let detail):
            return "Your pending session quota is exceeded. (\(detail.joined(separator: " ")))"
        case .containersPerSession(let limit):
            return "You cannot create session with more than \(limit) containers."
        }
    }
}
