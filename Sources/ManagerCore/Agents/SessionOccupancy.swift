import SchedulerKit

/// Statuses in which a session holds slots on its agent.
enum SessionOccupancy {
    static let activeStatuses: [SessionStatus] = SessionLifecycle.occupying
    static let activeNames: [String] = activeStatuses.map(\.rawValue)
}
