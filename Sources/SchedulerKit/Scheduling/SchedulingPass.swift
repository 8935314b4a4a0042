/// One scheduling pass over a scaling group: pure, deterministic for a snapshot, and never over-committing an
/// agent. Every predicate is evaluated for every session (no short-circuit) so users see all reasons at once.
public struct SchedulingPass: Sendable {
    public var predicates: [any SchedulingPredicate]

    public init(predicates: [any SchedulingPredicate] = StandardPredicates.all) {
        self.predicates = predicates
    }

    public func run(_ snapshot: SchedulingSnapshot) -> PassResult {
        var ledger = PassLedger(snapshot)
        let selector = AgentSelector(strategy: snapshot.options.agentSelectionStrategy)
        var cursor = snapshot.roundRobinCursor
        var decisions: [SchedulingDecision] = []
        decisions.reserveCapacity(snapshot.pending.count)
        // fifo only: the first session that does not fit yet but could once agents free up.
        var blockedBehind: PendingSession?

        var drf: DominantResourceQueue?
        var ordered: [PendingSession] = []
        if snapshot.scheduler == .drf {
            let capacity = snapshot.agents.filter(\.isAlive).reduce(ResourceSlots.empty) { $0 + $1.capacity }
            drf = DominantResourceQueue(
                snapshot.pending, usage: snapshot.keypairs.mapValues(\.resources.used), capacity: capacity)
        } else {
            ordered = SessionOrdering.order(snapshot.pending, by: snapshot.scheduler, retriesToSkip: snapshot.retriesToSkip)
        }
        var position = 0
        func nextSession() -> PendingSession? {
            if drf != nil { return drf?.next() }
            defer { position += 1 }
            return position < ordered.count ? ordered[position] : nil
        }

        while let session = nextSession() {
            var passed: [String] = []
            var failed: [PredicateFailure] = []
            var cancellation: (statusInfo: String, message: String)?
            for predicate in self.predicates {
                switch predicate.evaluate(session, snapshot: snapshot, ledger: ledger) {
                case .passed:
                    passed.append(predicate.name)
                case .waiting(let message):
                    failed.append(.init(name: predicate.name, message: message))
                case .cancel(let statusInfo, let message):
                    failed.append(.init(name: predicate.name, message: message))
                    if cancellation == nil { cancellation = (statusInfo, message) }
                }
            }
            if let cancellation {
                decisions.append(.cancel(.init(
                    sessionID: session.id, statusInfo: cancellation.statusInfo, message: cancellation.message,
                    passed: passed, failed: failed)))
                continue
            }
            guard failed.isEmpty else {
                decisions.append(.wait(.init(
                    sessionID: session.id, statusInfo: "predicate-checks-failed", passed: passed, failed: failed,
                    message: nil, retries: session.retries + 1)))
                continue
            }
            if let blocker = blockedBehind {
                decisions.append(.wait(.init(
                    sessionID: session.id, statusInfo: "no-available-instances", passed: passed, failed: [],
                    message: "Waiting behind the older session '\(blocker.name)' that does not fit yet (fifo).",
                    retries: session.retries + 1)))
                continue
            }
            switch selector.select(session, among: ledger.agents, cursor: cursor) {
            case .selected(let index):
                let agent = ledger.agents[index]
                ledger.grant(session, agentIndex: index)
                drf?.granted(session)
                cursor = index + 1
                decisions.append(.schedule(.init(
                    sessionID: session.id, agentID: agent.id, slots: session.requested, passed: passed)))
            case .unavailable(let message, let fitsWhenIdle):
                decisions.append(.wait(.init(
                    sessionID: session.id, statusInfo: "no-available-instances", passed: passed, failed: [],
                    message: message, retries: session.retries + 1)))
                if snapshot.scheduler == .fifo, fitsWhenIdle { blockedBehind = session }
            }
        }
        return PassResult(decisions: decisions, roundRobinCursor: cursor)
    }
}
