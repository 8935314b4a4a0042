/// The order a scheduler considers pending sessions in.
public enum SessionOrdering {
    /// `fifo`: oldest first, sessions that already waited `retriesToSkip` passes moved behind the rest (when it
    /// is above 0). `lifo`: newest first. Ties break by id, so one snapshot always gives one order.
    public static func order(_ pending: [PendingSession], by kind: SchedulerKind, retriesToSkip: Int) -> [PendingSession] {
        let byAge = pending.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
        switch kind {
        case .fifo:
            guard retriesToSkip > 0 else { return byAge }
            return byAge.filter { $0.retries < retriesToSkip } + byAge.filter { $0.retries >= retriesToSkip }
        case .lifo:
            return byAge.reversed()
        case .drf:
            return byAge
        }
    }

    /// Dominant share of `used` over the group's total capacity: the largest fraction over all slots.
    public static func dominantShare(_ used: ResourceSlots, of capacity: ResourceSlots) -> Double {
        used.slotNames.map { used[$0].share(of: capacity[$0]) }.max() ?? 0
    }
}

/// Yields DRF's next session: among owners with sessions left, the one with the smallest dominant share
/// (their usage plus what this pass granted), oldest session first; ties by access key.
struct DominantResourceQueue {
    private var queues: [String: ArraySlice<PendingSession>]
    private var usage: [String: ResourceSlots]
    private let capacity: ResourceSlots

    init(_ pending: [PendingSession], usage: [String: ResourceSlots], capacity: ResourceSlots) {
        var queues: [String: [PendingSession]] = [:]
        for session in SessionOrdering.order(pending, by: .fifo, retriesToSkip: 0) {
            queues[session.accessKey, default: []].append(session)
        }
        self.queues = queues.mapValues { $0[...] }
        self.usage = usage
        self.capacity = capacity
    }

    mutating func next() -> PendingSession? {
        let owner = self.queues.keys.min { lhs, rhs in
            let left = SessionOrdering.dominantShare(self.usage[lhs] ?? .empty, of: self.capacity)
            let right = SessionOrdering.dominantShare(self.usage[rhs] ?? .empty, of: self.capacity)
            return (left, lhs) < (right, rhs)
        }
        guard let owner, let session = self.queues[owner]?.popFirst() else { return nil }
        if self.queues[owner]?.isEmpty ?? true { self.queues[owner] = nil }
        return session
    }

    mutating func granted(_ session: PendingSession) {
        self.usage[session.accessKey] = (self.usage[session.accessKey] ?? .empty) + session.requested
    }
}
