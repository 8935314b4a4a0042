import Foundation
import SchedulerKit

/// What each scaling group's queue holds, aggregated in the database (`GET /scheduler/queues`): sessions by status
/// and, for PENDING ones, the reason each waits.
struct PostgresQueueSummary: Sendable {
    let pool: PostgresPool

    struct Group: Sendable {
        var name: String
        var statuses: [String: Int] = [:]
        /// Reason → PENDING sessions waiting for it, most common first.
        var reasons: [(reason: String, count: Int)] = []
    }

    /// Every scaling group with live sessions of `owner` (every group when nil: admins), with those sessions
    /// counted by status and the PENDING ones by reason.
    ///
    /// A PENDING session's reason is one label, so the reasons add up to the PENDING count: its first failed
    /// predicate (`dependencies`, `reserved_time`, `concurrency`, …) as `status_data.scheduler` recorded it; else the
    /// most common cause the agent selector gave (`0/2 agents available: 2 insufficient cpu` → `insufficient cpu`);
    /// else `not tried yet` (no pass has looked at it).
    func groups(owner: AccessKey?) async throws -> [Group] {
        let dead = [SessionStatus.terminated.rawValue, SessionStatus.cancelled.rawValue]
        let results = try await self.pool.withConnection { connection in
            try await connection.query([
                """
                SELECT coalesce(scaling_group_name, '') AS scaling_group, status, count(*)::int AS n FROM sessions
                WHERE status <> ALL(\(dead)::text[]) AND (\(owner)::text IS NULL OR access_key = \(owner))
                GROUP BY 1, 2
                """,
                """
                SELECT coalesce(scaling_group_name, '') AS scaling_group,
                       coalesce(status_data #>> '{scheduler,failed_predicates,0,name}',
                                substring(status_data #>> '{scheduler,msg}' from ': [0-9]+ ([^,]+)'),
                                'not tried yet') AS reason,
                       count(*)::int AS n
                FROM sessions
                WHERE status = \(SessionStatus.pending.rawValue) AND (\(owner)::text IS NULL OR access_key = \(owner))
                GROUP BY 1, 2 ORDER BY 3 DESC, 2
                """,
                "SELECT name FROM scaling_groups WHERE \(owner)::text IS NULL ORDER BY name",
            ])
        }
        var groups: [String: Group] = [:]
        for row in results[2] {
            let name: String = try row.decode("name")
            groups[name] = Group(name: name)
        }
        for row in results[0] {
            let name: String = try row.decode("scaling_group")
            groups[name, default: Group(name: name)].statuses[try row.decode("status")] = try row.decode("n")
        }
        for row in results[1] {
            let name: String = try row.decode("scaling_group")
            groups[name, default: Group(name: name)].reasons.append((try row.decode("reason"), try row.decode("n")))
        }
        return groups.values.sorted { $0.name < $1.name }
    }

    /// Live (occupying) sessions per agent.
    func sessionsPerAgent() async throws -> [String: Int] {
        let rows = try await self.pool.query(
            """
            SELECT agent_id, count(*)::int AS n FROM sessions
            WHERE agent_id IS NOT NULL AND status = ANY(\(SessionOccupancy.activeNames)::text[]) GROUP BY agent_id
            """)
        var counts: [String: Int] = [:]
        for row in rows { counts[try row.decode("agent_id")] = try row.decode("n") }
        return counts
    }
}
