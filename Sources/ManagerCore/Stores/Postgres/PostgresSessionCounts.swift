import SchedulerKit

/// Sessions counted per status, and PENDING ones per scaling group (the `/metrics` gauges).
struct PostgresSessionCounts: Sendable {
    let pool: PostgresPool

    func read() async throws -> (byStatus: [SessionStatus: Int], pendingByGroup: [(String, Int)]) {
        let statements: [SQL] = [
            "SELECT status, count(*)::int AS n FROM sessions GROUP BY status",
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
}
