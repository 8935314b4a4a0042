/// Which scaling groups need a scheduling pass — kube-scheduler's unschedulable queue for a whole group: a pass
/// over an unchanged queue decides nothing new, so it runs only when something that can change its outcome
/// happened (a wake-up: an enqueue, a session's end, an agent joining or leaving, an option or policy change, on any
/// replica), when a time-based predicate of a waiting session comes due (`starts_at`, `pending_timeout`), or, as a
/// safety net for a change nobody announced, after `idleInterval` without a pass.
///
/// Every wake-up counts as a change for every group (a session ending in one group can release a dependent in
/// another); a pass records the change generation it started from, so a wake-up that arrives during the pass
/// still leads to another one.
public struct PassSchedule: Sendable {
    public struct Group: Sendable, Equatable {
        /// The change generation the last pass started from.
        public var generation: Int
        /// When a waiting session's time-based predicate changes next (seconds since 1970), if ever.
        public var due: Double?
        public var lastPass: Double
    }

    public let idleInterval: Double
    public private(set) var generation = 0
    public private(set) var groups: [String: Group] = [:]

    public init(idleInterval: Double) {
        self.idleInterval = idleInterval
    }

    /// Something that can change a pass's outcome happened.
    public mutating func changed() {
        self.generation &+= 1
    }

    public func needsPass(_ group: String, now: Double) -> Bool {
        guard let last = self.groups[group] else { return true }
        if last.generation != self.generation { return true }
        if let due = last.due, now >= due { return true }
        return now - last.lastPass >= self.idleInterval
    }

    /// A pass over `group` that started at change generation `began` ended at `now`. `due`: the next time a
    /// time-based predicate changes (from `SchedulingSnapshot.nextDeadline`, on this clock); `settled`: false when
    /// the pass could not take its whole queue (`SchedulingSnapshot.isComplete`) or did not run (another replica
    /// held the group), so it runs again.
    public mutating func passed(_ group: String, began: Int, at now: Double, due: Double?, settled: Bool) {
        self.groups[group] = Group(generation: settled ? began : began &- 1, due: due, lastPass: now)
    }

    /// Forgets groups that no longer have PENDING sessions (they need a pass again once they do).
    public mutating func keep(only pending: Set<String>) {
        self.groups = self.groups.filter { pending.contains($0.key) }
    }
}

extension SchedulingSnapshot {
    /// The earliest moment after `now` at which a time-based predicate of a pending session changes its answer: a
    /// reserved `starts_at` arriving, or `pending_timeout` running out. Nil when no such moment is coming.
    public var nextDeadline: Double? {
        var next: Double?
        let timeout = self.options.pendingTimeout
        for session in self.pending {
            if let startsAt = session.startsAt, startsAt > self.now { next = min(next ?? startsAt, startsAt) }
            if timeout > 0 {
                let expiry = session.createdAt + timeout
                if expiry > self.now { next = min(next ?? expiry, expiry) }
            }
        }
        return next
    }
}

extension SchedulingSnapshot {
    /// Whether the pass saw every PENDING session of its group, so an unchanged queue needs no other pass: the
    /// window (`maxReady` sessions that can start, `maxParked` that cannot yet) was not full. Conservative: with
    /// `maxParked` sessions or more, only a queue with none parked (no future `starts_at`, no dependencies) counts.
    public func isComplete(maxReady: Int, maxParked: Int) -> Bool {
        if self.pending.count < maxParked { return true }
        let parked = self.pending.contains { session in
            (session.startsAt.map { $0 > self.now } ?? false) || !session.dependencies.isEmpty
        }
        return !parked && self.pending.count < maxReady
    }
}
