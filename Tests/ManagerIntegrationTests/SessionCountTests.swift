import Foundation
import Testing
@testable import ManagerCore
import SchedulerKit

/// The maintained session counts (migration 0017) equal `count(*)` over `sessions` after inserts, status and
/// owner changes, deletes and compactions, including while changes and compactions run at once.
@Suite struct SessionCountTests {
    static func exact(_ pool: PostgresPool, statuses: [SessionStatus], owner: AccessKey?) async throws -> Int {
        let names = statuses.map(\.rawValue)
        let key = owner?.rawValue
        return try await pool.query(
            "SELECT count(*)::int AS n FROM sessions WHERE status = ANY(\(names)::text[]) AND (\(key)::text IS NULL OR access_key = \(key))"
        ).first?.decode("n") ?? -1
    }

    static func counted(_ pool: PostgresPool, statuses: [SessionStatus], owner: AccessKey?) async throws -> Int {
        try await pool.query(PostgresSessionCounts.count(statuses: statuses, owner: owner)).first?.decode("n") ?? -1
    }

    @Test("counts equal count(*) for every owner and status set through inserts, moves, deletes and compactions")
    func countsStayExact() async throws {
        let environment = try TestEnvironment.current()
        let database = try await TestDatabase.create(environment)
        let pool = database.makePool(maxConnections: 8)
        defer { Task { await pool.close() } }
        let keypairs = PostgresKeypairStore(pool: pool)
        let a = try await keypairs.createKeypair(email: "a@example.com", isAdmin: false).accessKey
        let b = try await keypairs.createKeypair(email: "b@example.com", isAdmin: true).accessKey
        let counts = PostgresSessionCounts(pool: pool)
        func insert(_ owner: AccessKey, _ count: Int, status: SessionStatus) async throws {
            _ = try await pool.query(
                """
                INSERT INTO sessions (id, name, domain_name, group_id, user_uuid, access_key, image, status)
                SELECT gen_random_uuid(), 'c-' || i || '-' || gen_random_uuid(), 'default', (SELECT id FROM groups WHERE name = 'default'),
                    k.user_id, k.access_key, 'python:3.11', \(status.rawValue)
                FROM generate_series(1, \(count)) AS i, keypairs k WHERE k.access_key = \(owner.rawValue)
                """)
        }
        let statusSets: [[SessionStatus]] = [
            SessionStatus.allCases, [.pending], [.running, .error], [.terminated, .cancelled], [.preparing, .pulling],
        ]
        func check(_ label: String) async throws {
            for statuses in statusSets {
                for owner in [a, b, nil] {
                    let exact = try await Self.exact(pool, statuses: statuses, owner: owner)
                    let counted = try await Self.counted(pool, statuses: statuses, owner: owner)
                    #expect(counted == exact, "\(label): \(statuses) of \(owner?.rawValue ?? "everyone"): \(counted) ≠ \(exact)")
                }
            }
        }
        try await insert(a, 40, status: .pending)
        try await insert(b, 25, status: .running)
        try await insert(a, 10, status: .terminated)
        try await check("after inserts")
        #expect(try await counts.pendingDeltas() > 0)
        try await counts.compact()
        #expect(try await counts.pendingDeltas() == 0)
        try await check("after a compaction")

        // Moves of status (in bulk and one by one), a change of owner, a change that is not a move, deletes.
        _ = try await pool.query("UPDATE sessions SET status = 'SCHEDULED' WHERE id IN (SELECT id FROM sessions WHERE status = 'PENDING' LIMIT 15)")
        _ = try await pool.query("UPDATE sessions SET status = 'RUNNING' WHERE status = 'SCHEDULED'")
        _ = try await pool.query("UPDATE sessions SET last_stat = '{}'::jsonb, status = status")
        _ = try await pool.query(
            "UPDATE sessions SET access_key = \(b.rawValue), user_uuid = (SELECT user_id FROM keypairs WHERE access_key = \(b.rawValue)) WHERE id IN (SELECT id FROM sessions WHERE access_key = \(a.rawValue) AND status = 'TERMINATED' LIMIT 4)")
        _ = try await pool.query("DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE status = 'RUNNING' LIMIT 7)")
        try await check("after moves and deletes, before a compaction")
        try await counts.compact()
        try await check("after moves and deletes, compacted")

        // Changes and compactions at once, from several connections: still exact, and nothing is folded twice.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for round in 0..<6 {
                group.addTask { try await insert(round % 2 == 0 ? a : b, 20, status: .pending) }
                group.addTask {
                    _ = try await pool.query(
                        "UPDATE sessions SET status = 'CANCELLED' WHERE id IN (SELECT id FROM sessions WHERE status = 'PENDING' LIMIT 9)")
                }
                group.addTask { try await counts.compact() }
            }
            try await group.waitForAll()
        }
        try await check("after concurrent changes and compactions")
        try await counts.compact()
        try await check("after the last compaction")
        let empty = try await pool.query("SELECT count(*)::int AS n FROM session_counts WHERE n = 0").first?.decode("n", as: Int.self)
        #expect(empty == 0, "counters that reach zero are removed")

        // The list's total (no filter: the counters; a filter: a scan) agrees with both.
        let store = PostgresSessionStore(pool: pool)
        let viaCounters = try await store.list(SessionListQuery(statuses: [.pending, .running], owner: a, limit: 5, offset: 0))
        #expect(viaCounters.total == (try await Self.exact(pool, statuses: [.pending, .running], owner: a)))
        #expect(viaCounters.items.count == min(5, viaCounters.total))
        var filtered = SessionListQuery(statuses: SessionStatus.allCases, owner: nil, limit: 5, offset: 0)
        filtered.filter = try ListFilter.parse(#"name like "c-%""#).get()
        #expect(try await store.list(filtered).total == (try await Self.exact(pool, statuses: SessionStatus.allCases, owner: nil)))
    }
}
