import SchedulerKit

/// Statuses in which a session holds slots on its agent.
enum SessionOccupancy {
    static let activeStatuses: [SessionStatus] = [
        .scheduled, .pulling, .preparing, .running, .restarting, .runningDegraded, .terminating,
    ]
    static let activeNames: [String] = activeStatuses.map(\.rawValue)
}
