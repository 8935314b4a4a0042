/// What can happen to a session: the inputs of `SessionLifecycle.decide`.
public enum SessionTrigger: Hashable, Sendable {
    /// A scheduling pass placed it; `schedulerData` is its new `status_data.scheduler`.
    case schedule(SessionChange.Placement, schedulerData: JSONValue)
    /// A scheduling pass gave up on it (`pending-timeout`, `dependency-failed`).
    case cancel(StatusInfo, schedulerData: JSONValue)
    /// Its agent reports it PREPARING.
    case preparing
    /// Its agent reports it RUNNING.
    case running
    /// Its process ended (with an exit code when there was one); `cause` when the system ended it (`oom-killed`).
    case exited(code: Int?, cause: StatusInfo?)
    /// Its agent could not start it.
    case failedToStart(reason: String, agentID: String)
    /// A user (or admin) destroys it; `forced` releases it without waiting for the agent.
    case destroy(forced: Bool)
    /// Its agent stopped sending heartbeats.
    case agentLost(agentID: String)
    /// A policy ends it (`idle-timeout`, `session-lifetime-exceeded`): like a forced destroy, with that reason.
    case expire(StatusInfo)
    /// A user restarts its process (`session restart`): RUNNING interactive or inference sessions only; its agent
    /// starts the process again in the same work folder and reports it RUNNING.
    case restart
    /// Its agent reports the process running again after a restart.
    case restarted

    var name: String {
        switch self {
        case .schedule: "schedule"
        case .cancel: "cancel"
        case .preparing: "preparing"
        case .running: "running"
        case .exited: "exited"
        case .failedToStart: "failed-to-start"
        case .destroy(let forced): forced ? "forced destroy" : "destroy"
        case .agentLost: "agent-lost"
        case .expire(let info): "expire (\(info))"
        case .restart: "restart"
        case .restarted: "restarted"
        }
    }
}
