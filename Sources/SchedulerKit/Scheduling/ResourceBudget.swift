/// A resource limit and what is in use against it (keypair, project or domain).
public struct ResourceBudget: Hashable, Sendable {
    /// Only the slots named here are limited.
    public var limits: ResourceSlots
    public var used: ResourceSlots

    public init(limits: ResourceSlots = .empty, used: ResourceSlots = .empty) {
        self.limits = limits
        self.used = used
    }

    /// Slots that `request` would push over the limit.
    public func exceeded(by request: ResourceSlots) -> [String] {
        (self.used + request).exceedingLimits(self.limits)
    }
}

/// A keypair's resource policy and usage.
public struct KeypairBudget: Hashable, Sendable {
    /// `max_concurrent_sessions`; 0 means unlimited.
    public var maxConcurrentSessions: Int
    public var runningSessions: Int
    public var resources: ResourceBudget

    public init(maxConcurrentSessions: Int = 0, runningSessions: Int = 0, resources: ResourceBudget = .init()) {
        self.maxConcurrentSessions = maxConcurrentSessions
        self.runningSessions = runningSessions
        self.resources = resources
    }
}
