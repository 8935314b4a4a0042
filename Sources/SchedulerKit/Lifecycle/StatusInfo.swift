/// Why a session is in its status, as `status_info` shows it (Backend.AI's wire words).
///
/// A struct over the raw text rather than a closed enum: rows written by older versions, or by Backend.AI itself,
/// may carry words this version does not know, and those must read back unchanged.
public struct StatusInfo: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }

    public var description: String { self.rawValue }

    /// Cleared: a session that reached PREPARING or RUNNING.
    public static let none = StatusInfo("")
    /// A user restarted its process; cleared when the agent reports it RUNNING again.
    public static let restarting = StatusInfo("restarting")
    // Waiting and scheduling.
    public static let scheduled = StatusInfo("scheduled")
    public static let predicateChecksFailed = StatusInfo("predicate-checks-failed")
    public static let noAvailableInstances = StatusInfo("no-available-instances")
    // Cancelled before it ran.
    public static let pendingTimeout = StatusInfo("pending-timeout")
    public static let dependencyFailed = StatusInfo("dependency-failed")
    // Ended by a user.
    public static let userRequested = StatusInfo("user-requested")
    public static let forceTerminated = StatusInfo("force-terminated")
    // Ended on its own.
    public static let taskFinished = StatusInfo("task-finished")
    public static let taskFailed = StatusInfo("task-failed")
    public static let selfTerminated = StatusInfo("self-terminated")
    public static let oomKilled = StatusInfo("oom-killed")
    // Ended by the system.
    public static let failedToStart = StatusInfo("failed-to-start")
    public static let agentLost = StatusInfo("agent-lost")
    public static let idleTimeout = StatusInfo("idle-timeout")
    public static let sessionLifetimeExceeded = StatusInfo("session-lifetime-exceeded")
}
