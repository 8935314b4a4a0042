/// Everything one pass over a scaling group reads, taken at once.
public struct SchedulingSnapshot: Hashable, Sendable {
    public var scalingGroup: String
    public var scheduler: SchedulerKind
    public var options: ScalingGroupOptions
    /// Seconds since the Unix epoch, from the database clock.
    public var now: Double
    /// PENDING sessions of the group, in any order.
    public var pending: [PendingSession]
    public var agents: [AgentSnapshot]
    /// The state of every session a pending one depends on, by id.
    public var dependencies: [String: DependencyState]
    public var keypairs: [String: KeypairBudget]
    public var groups: [String: ResourceBudget]
    public var domains: [String: ResourceBudget]
    /// Where round-robin selection continues.
    public var roundRobinCursor: Int

    public init(
        scalingGroup: String, scheduler: SchedulerKind = .fifo, options: ScalingGroupOptions = .init(), now: Double,
        pending: [PendingSession], agents: [AgentSnapshot], dependencies: [String: DependencyState] = [:],
        keypairs: [String: KeypairBudget] = [:], groups: [String: ResourceBudget] = [:],
        domains: [String: ResourceBudget] = [:], roundRobinCursor: Int = 0
    ) {
        self.scalingGroup = scalingGroup
        self.scheduler = scheduler
        self.options = options
        self.now = now
        self.pending = pending
        self.agents = agents
        self.dependencies = dependencies
        self.keypairs = keypairs
        self.groups = groups
        self.domains = domains
        self.roundRobinCursor = roundRobinCursor
    }

    /// `config.num_retries_to_skip` for fifo (0 when absent or invalid).
    public var retriesToSkip: Int {
        guard case .object(let pairs) = self.options.config,
            let value = pairs.first(where: { $0.key == "num_retries_to_skip" })?.value
        else { return 0 }
        switch value {
        case .number(let number) where number >= 0 && number < 1e9: return Int(number)
        case .string(let text): return Int(text).map { max(0, $0) } ?? 0
        default: return 0
        }
    }
}
