import Foundation
import SchedulerKit

/// Running sessions past their keypair resource policy's `max_session_lifetime` (counted from when they started
/// running) or `idle_timeout` (counted from `last_activity`: the last API request naming the session, or the last
/// CPU use its agent reported; from the start when neither happened), ended through the lifecycle's `.expire`.
struct PostgresSessionExpiry {
    let pool: PostgresPool

    /// Ends up to `limit` expired sessions; returns them with the reason.
    func expire(limit: Int) async throws -> [(id: UUID, info: StatusInfo)] {
        try await self.pool.withTransaction { tx in
            // Sessions another replica is ending right now are skipped (SKIP LOCKED), not waited for.
            let rows = try await tx.query(
                """
                SELECT s.id, s.status, s.session_type, s.status_info, s.agent_id,
                       CASE WHEN p.max_session_lifetime > 0
                                 AND started.at < now() - make_interval(secs => p.max_session_lifetime)
                            THEN 'session-lifetime-exceeded' ELSE 'idle-timeout' END AS reason
                FROM sessions s
                JOIN keypairs k ON k.access_key = s.access_key
                JOIN keypair_resource_policies p ON p.name = k.resource_policy
                CROSS JOIN LATERAL (SELECT coalesce((s.status_history ->> 'RUNNING')::timestamptz, s.status_changed) AS at) started
                WHERE s.status = 'RUNNING' AND (p.max_session_lifetime > 0 OR p.idle_timeout > 0)
                  AND ((p.max_session_lifetime > 0 AND started.at < now() - make_interval(secs => p.max_session_lifetime))
                    OR (p.idle_timeout > 0
                        AND greatest(started.at, s.last_activity) < now() - make_interval(secs => p.idle_timeout::float8)))
                ORDER BY s.id LIMIT \(limit)
                FOR UPDATE OF s SKIP LOCKED
                """)
            var targets: [SessionChangeWriter.Target] = []
            var reasons: [UUID: StatusInfo] = [:]
            for row in rows {
                let id: UUID = try row.decode("id")
                let info = StatusInfo(try row.decode("reason", as: String.self))
                let state = SessionState(
                    status: SessionStatus(rawValue: try row.decode("status")) ?? .running,
                    type: SessionType(rawValue: try row.decode("session_type")) ?? .interactive,
                    statusInfo: try row.decodeOptional("status_info", as: String.self).map { StatusInfo($0) },
                    hasAgent: try row.decodeOptional("agent_id", as: String.self) != nil)
                if let change = SessionLifecycle.decide(state, .expire(info)).change {
                    targets.append(.init(id: id, change: change))
                    reasons[id] = info
                }
            }
            return try await SessionChangeWriter.apply(targets, in: tx).compactMap { applied in
                reasons[applied.id].map { (applied.id, $0) }
            }
        }
    }
}
