/// The order in which a scaling group's pending sessions are considered (`scaling_groups.scheduler`).
public enum SchedulerKind: String, Hashable, Sendable, CaseIterable {
    /// Oldest first. A session that does not fit yet blocks the ones behind it (no starvation of large
    /// sessions) until it has waited `config.num_retries_to_skip` passes; 0 means it always blocks.
    case fifo
    /// Newest first; nothing blocks.
    case lifo
    /// Dominant resource fairness: the owner with the smallest dominant share goes first.
    case drf

    /// Unknown names fall back to fifo, as Backend.AI does not validate the name either.
    public init(name: String) {
        self = SchedulerKind(rawValue: name.lowercased()) ?? .fifo
    }
}
