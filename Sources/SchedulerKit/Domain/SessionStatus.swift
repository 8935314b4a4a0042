/// Session statuses, spelled as Backend.AI 23.09 stores and returns them.
public enum SessionStatus: String, Sendable, Hashable, CaseIterable, Codable {
    case pending = "PENDING"
    case scheduled = "SCHEDULED"
    case pulling = "PULLING"
    case preparing = "PREPARING"
    case running = "RUNNING"
    case restarting = "RESTARTING"
    case runningDegraded = "RUNNING_DEGRADED"
    case terminating = "TERMINATING"
    case terminated = "TERMINATED"
    case error = "ERROR"
    case cancelled = "CANCELLED"

    /// TERMINATED and CANCELLED: the session is gone and its name may be reused.
    public var isDead: Bool { self == .terminated || self == .cancelled }

    /// Statuses in which the session will never run again.
    public var hasEnded: Bool { self.isDead || self == .error }
}

/// The outcome of a batch session.
public enum SessionResult: String, Sendable, Hashable, Codable {
    case undefined = "UNDEFINED"
    case success = "SUCCESS"
    case failure = "FAILURE"
}
