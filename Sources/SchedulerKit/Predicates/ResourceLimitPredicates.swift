/// The keypair resource policy's `total_resource_slots`.
public struct KeypairResourceLimitPredicate: SchedulingPredicate {
    public let name = "keypair_resource_limit"

    public init() {}

    public func evaluate(_ session: PendingSession, snapshot: SchedulingSnapshot, ledger: PassLedger) -> PredicateOutcome {
        ResourceLimit.check(session.requested, against: ledger.keypairs[session.accessKey]?.resources, owner: "keypair")
    }
}

/// The project's (user group's) `total_resource_slots`.
public struct GroupResourceLimitPredicate: SchedulingPredicate {
    public let name = "group_resource_limit"

    public init() {}

    public func evaluate(_ session: PendingSession, snapshot: SchedulingSnapshot, ledger: PassLedger) -> PredicateOutcome {
        ResourceLimit.check(session.requested, against: ledger.groups[session.groupID], owner: "group")
    }
}

/// The domain's `total_resource_slots`.
public struct DomainResourceLimitPredicate: SchedulingPredicate {
    public let name = "domain_resource_limit"

    public init() {}

    public func evaluate(_ session: PendingSession, snapshot: SchedulingSnapshot, ledger: PassLedger) -> PredicateOutcome {
        ResourceLimit.check(session.requested, against: ledger.domains[session.domainName], owner: "domain")
    }
}

enum ResourceLimit {
    static func check(_ request: ResourceSlots, against budget: ResourceBudget?, owner: String) -> PredicateOutcome {
        guard let budget else { return .passed }
        let exceeded = budget.exceeded(by: request)
        guard !exceeded.isEmpty else { return .passed }
        let detail = exceeded.map { "\($0): \(budget.used[$0]) used + \(request[$0]) requested > \(budget.limits[$0])" }
        return .waiting("Your \(owner) resource quota is exceeded. (\(detail.joined(separator: ", ")))")
    }
}
