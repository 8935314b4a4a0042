import Foundation
import SchedulerKit

/// Applies a pass's decisions in the pass's transaction, in bulk: status changes, `status_data.scheduler`,
/// `status_history`, start commands for agents, event rows and wake-ups.
struct SchedulingDecisionWriter {
    struct Applied {
        var scheduled = 0
        var cancelled = 0
        /// Waiting sessions whose wait was written (new reasons, or the refresh interval passed).
        var waiting = 0
    }

    /// How often an unchanged wait is written again (see `WaitRecord`).
    var waitRefreshInterval: Duration = .seconds(10)

    func apply(_ result: PassResult, snapshot: SchedulingSnapshot, in tx: PostgresSession) async throws -> Applied {
        let now = Date(timeIntervalSince1970: snapshot.now)
        let stamp = Timestamp.pythonISO(now)
        var applied = Applied()

        let placements = result.placements
        if !placements.isEmpty {
            let data = placements.map { placement in
                Self.schedulerData(passed: placement.passed, failed: [], retries: nil, lastTry: stamp, message: nil).text
            }
            // Only sessions still PENDING are taken: a session cancelled meanwhile is skipped, never started.
            let rows = try await tx.query(
                """
                UPDATE sessions s SET status = 'SCHEDULED', status_info = 'scheduled', agent_id = v.agent_id,
                    occupying_slots = v.slots::jsonb, status_changed = \(now),
                    status_data = jsonb_build_object('scheduler', coalesce(s.status_data -> 'scheduler', '{}') || v.data::jsonb),
                    status_history = s.status_history || jsonb_build_object('SCHEDULED', \(stamp))
                FROM unnest(\(placements.map(\.sessionID))::uuid[], \(placements.map(\.agentID))::text[],
                            \(placements.map { $0.slots.json.text })::text[], \(data)::text[]) AS v(id, agent_id, slots, data)
                WHERE s.id = v.id AND s.status = 'PENDING'
                RETURNING s.id::text AS id, s.agent_id
                """)
            let scheduledIDs = try rows.map { try $0.decode("id", as: String.self) }
            let agents = Set(try rows.map { try $0.decode("agent_id", as: String.self) })
            applied.scheduled = scheduledIDs.count
            if !scheduledIDs.isEmpty {
                try await tx.execute(
                    """
                    INSERT INTO agent_commands (agent_id, session_id, kind, payload)
                    SELECT s.agent_id, s.id, 'start', jsonb_build_object(
                        'name', s.name, 'type', s.session_type, 'access_key', s.access_key, 'command', s.startup_command,
                        'image', s.image,
                        'environ', CASE WHEN jsonb_typeof(s.environ) = 'object' THEN s.environ ELSE '{}'::jsonb END,
                        'slots', s.occupying_slots,
                        'mounts', (SELECT coalesce(jsonb_agg(m), '[]'::jsonb) FROM jsonb_array_elements(
                                       CASE WHEN jsonb_typeof(s.vfolder_mounts) = 'array' THEN s.vfolder_mounts
                                            ELSE '[]'::jsonb END) m
                                   WHERE jsonb_typeof(m) = 'object' AND m ? 'host_path' AND m ? 'name'))
                    FROM sessions s WHERE s.id = ANY(\(scheduledIDs)::uuid[])
                    ON CONFLICT (session_id, kind) DO NOTHING
                    """)
                try await self.events("session_scheduled", reason: "scheduled", ids: scheduledIDs, in: tx)
                for agent in agents.sorted() {
                    try await tx.execute("SELECT pg_notify('agent_commands', \(agent))")
                }
            }
        }

        let cancellations = result.cancellations
        if !cancellations.isEmpty {
            let data = cancellations.map { cancellation in
                Self.schedulerData(
                    passed: cancellation.passed, failed: cancellation.failed, retries: nil, lastTry: stamp,
                    message: cancellation.message
                ).text
            }
            let rows = try await tx.query(
                """
                UPDATE sessions s SET status = 'CANCELLED', status_info = v.info, status_changed = \(now), terminated_at = \(now),
                    status_data = jsonb_build_object('scheduler', coalesce(s.status_data -> 'scheduler', '{}') || v.data::jsonb),
                    status_history = s.status_history || jsonb_build_object('CANCELLED', \(stamp))
                FROM unnest(\(cancellations.map(\.sessionID))::uuid[], \(cancellations.map(\.statusInfo))::text[],
                            \(data)::text[]) AS v(id, info, data)
                WHERE s.id = v.id AND s.status = 'PENDING'
                RETURNING s.id::text AS id, v.info
                """)
            applied.cancelled = rows.count
            let byReason = Dictionary(grouping: try rows.map { (try $0.decode("id", as: String.self), try $0.decode("info", as: String.self)) }) { $0.1 }
            for (reason, pairs) in byReason.sorted(by: { $0.key < $1.key }) {
                try await self.events("session_cancelled", reason: reason, ids: pairs.map(\.0), in: tx)
                try await self.events("kernel_cancelled", reason: reason, ids: pairs.map(\.0), in: tx)
            }
            if !rows.isEmpty {
                // Dependents in other scaling groups learn about it on their next pass, right away.
                try await tx.execute("SELECT pg_notify('scheduler_wakeup', 'dependency')")
            }
        }

        let refresh = Double(self.waitRefreshInterval.components.seconds)
            + Double(self.waitRefreshInterval.components.attoseconds) / 1e18
        let previous = Dictionary(snapshot.pending.map { ($0.id, $0.lastWait) }, uniquingKeysWith: { first, _ in first })
        let waiting = result.waiting.filter { waiting in
            waiting.needsRecording(over: previous[waiting.sessionID] ?? nil, now: snapshot.now, refreshInterval: refresh)
        }
        if !waiting.isEmpty {
            let data = waiting.map { waiting in
                Self.schedulerData(
                    passed: waiting.passed, failed: waiting.failed, retries: waiting.retries, lastTry: stamp,
                    message: waiting.message
                ).text
            }
            applied.waiting = try await tx.execute(
                """
                UPDATE sessions s SET status_info = v.info,
                    status_data = jsonb_build_object('scheduler', v.data::jsonb)
                FROM unnest(\(waiting.map(\.sessionID))::uuid[], \(waiting.map(\.statusInfo))::text[], \(data)::text[])
                    AS v(id, info, data)
                WHERE s.id = v.id AND s.status = 'PENDING'
                """)
        }

        try await tx.execute(
            """
            INSERT INTO scheduler_state (scaling_group, round_robin_cursor, last_pass)
            VALUES (\(snapshot.scalingGroup), \(result.roundRobinCursor), now())
            ON CONFLICT (scaling_group) DO UPDATE SET round_robin_cursor = EXCLUDED.round_robin_cursor, last_pass = now()
            """)
        return applied
    }

    /// One event row per session, written in one statement, and one NOTIFY.
    private func events(_ name: String, reason: String, ids: [String], in tx: PostgresSession) async throws {
        try await tx.execute(
            """
            INSERT INTO events (name, session_id, session_name, access_key, reason)
            SELECT \(name), s.id, s.name, s.access_key, \(reason) FROM sessions s
            WHERE s.id = ANY(\(ids)::uuid[]) ORDER BY s.created_at, s.id
            """)
        try await tx.execute("SELECT pg_notify('manager_events', \(name))")
    }

    /// `status_data.scheduler` as Backend.AI shapes it.
    static func schedulerData(
        passed: [String], failed: [PredicateFailure], retries: Int?, lastTry: String, message: String?
    ) -> JSONValue {
        var pairs: [(key: String, value: JSONValue)] = []
        if let retries { pairs.append(("retries", .number(Double(retries)))) }
        pairs.append(("last_try", .string(lastTry)))
        pairs.append(("failed_predicates", .array(failed.map {
            .object([("name", .string($0.name)), ("msg", .string($0.message))])
        })))
        pairs.append(("passed_predicates", .array(passed.map { .object([("name", .string($0))]) })))
        if let message { pairs.append(("msg", .string(message))) }
        return .object(pairs)
    }
}
