import Foundation
import SchedulerKit

/// What an agent measured of its sessions (cgroup figures), stored as `sessions.last_stat` in Backend.AI's stat
/// shape: `live_stat` while a session runs, `last_stat` after; and the session's `last_activity` (idle timeouts).
/// Not a status: those are `SessionChangeWriter`'s.
enum PostgresSessionStats {
    /// CPU time (ms) a session must have used since the previous report to count as active.
    static let activeCPUMilliseconds = 50

    /// An API request named the session: it is active now. Written at most once a second per session.
    static func touch(_ id: UUID, pool: PostgresPool) async throws {
        try await pool.query(
            """
            UPDATE sessions s SET last_activity = now()
            WHERE s.id = \(id) AND s.status = 'RUNNING' AND (s.last_activity IS NULL OR s.last_activity < now() - interval '1 second')
            """)
    }

    static func store(_ stats: [UUID: AgentProtocol.SessionStats], agentID: String, in tx: PostgresSession) async throws {
        let ids = stats.keys.sorted { $0.uuidString < $1.uuidString }
        try await tx.execute(
            """
            UPDATE sessions s SET last_stat = v.stat::jsonb,
                last_activity = CASE
                    WHEN (v.stat::jsonb #>> '{cpu_used,current}')::numeric
                         >= coalesce((s.last_stat #>> '{cpu_used,current}')::numeric, 0) + \(Self.activeCPUMilliseconds)
                    THEN now() ELSE s.last_activity END
            FROM unnest(\(UUIDArray(ids))::uuid[], \(ids.map { SessionStatJSON.backendAI(stats[$0] ?? .init()).text })::text[]) AS v(id, stat)
            WHERE s.id = v.id AND s.agent_id = \(agentID)
            """)
    }
}
