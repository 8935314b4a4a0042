import Foundation
import SchedulerKit

/// Sessions counted by owner and status (migration 0017): triggers append deltas in each change's own
/// transaction, `compact` folds them into the counters, and a count reads both in one snapshot — exact at every
/// moment, and a few rows to read however many sessions the table holds. Also the `/metrics` gauges: sessions
/// per status and PENDING ones per scaling group.
public struct PostgresSessionCounts: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    /// The number of sessions in `statuses` (of `owner`, or everyone's for nil), as `count(*)` over `sessions`
    /// would give it in the same snapshot.
    static func count(statuses: [SessionStatus], owner: AccessKey?) -> SQL {
        let names = statuses.map(\.rawValue)
        let key = owner?.rawValue
        return """
            SELECT ((SELECT coalesce(sum(n), 0) FROM session_counts
                    WHERE status = ANY(\(names)::text[]) AND (\(key)::text IS NULL OR access_key = \(key)))
                 + (SELECT coalesce(sum(delta), 0) FROM session_count_deltas
                    WHERE status = ANY(\(names)::text[]) AND (\(key)::text IS NULL OR access_key = \(key))))::bigint AS n
            """
    }

    /// Folds the deltas into the counters; returns how many deltas it folded (0 while another replica compacts).
    @discardableResult
    public func compact() async throws -> Int {
        try await self.pool.query("SELECT compact_session_counts() AS folded").first?.decode("folded", as: Int.self) ?? 0
    }

    func read() async throws -> (byStatus: [SessionStatus: Int], pendingByGroup: [(String, Int)]) {
        let statements: [SQL] = [
            """
            SELECT status, sum(n)::bigint AS n FROM (
                SELECT status, n FROM session_counts UNION ALL SELECT status, delta FROM session_count_deltas
            ) counted GROUP BY status
            """,
            """
            SELECT g.name, count(s.id)::int AS n FROM scaling_groups g
            LEFT JOIN sessions s ON s.scaling_group_name = g.name AND s.status = \(SessionLifecycle.initial.rawValue)
            GROUP BY g.name ORDER BY g.name
            """,
        ]
        let results = try await self.pool.withConnection { try await $0.query(statements) }
        var byStatus: [SessionStatus: Int] = [:]
        for row in results[0] {
            if let status = SessionStatus(rawValue: try row.decode("status")) { byStatus[status] = try row.decode("n") }
        }
        return (byStatus, try results[1].map { (try $0.decode("name"), try $0.decode("n")) })
    }

    /// Deltas waiting for a compaction.
    func pendingDeltas() async throws -> Int {
        try await self.pool.query("SELECT count(*) AS n FROM session_count_deltas").first?.decode("n", as: Int.self) ?? 0
    }
}
