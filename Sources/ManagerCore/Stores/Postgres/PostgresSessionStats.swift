import Foundation
import SchedulerKit

/// What an agent measured of its sessions (cgroup figures), stored as `sessions.last_stat` in Backend.AI's stat
/// shape: `live_stat` while a session runs, `last_stat` after. Not a status: those are `SessionChangeWriter`'s.
enum PostgresSessionStats {
    static func store(_ stats: [UUID: AgentProtocol.SessionStats], agentID: String, in tx: PostgresSession) async throws {
        let ids = stats.keys.sorted { $0.uuidString < $1.uuidString }
        try await tx.execute(
            """
            UPDATE sessions s SET last_stat = v.stat::jsonb
            FROM unnest(\(UUIDArray(ids))::uuid[], \(ids.map { SessionStatJSON.backendAI(stats[$0] ?? .init()).text })::text[]) AS v(id, stat)
            WHERE s.id = v.id AND s.agent_id = \(agentID)
            """)
    }
}
