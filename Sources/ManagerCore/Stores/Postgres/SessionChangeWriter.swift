import Foundation
import SchedulerKit

/// The only code that writes `sessions.status`: applies `SessionLifecycle`'s changes in the caller's transaction,
/// in a few statements whatever their number, with what belongs to them: the event rows, the agents' start and
/// stop commands, and the wake-ups (NOTIFY, delivered at commit).
///
/// Each change is applied only if its session is still in the status it was decided from (compare and set), so a
/// decision taken from a snapshot or a report never overwrites a change another transaction made meanwhile.
enum SessionChangeWriter {
    /// A change for one session.
    struct Target: Sendable {
        var id: UUID
        var change: SessionChange
    }

    /// A session the change was applied to, with what the writer read back.
    struct Applied: Sendable {
        var id: UUID
        var change: SessionChange
        var agentID: String?
        var scalingGroup: String?
    }

    /// Applies the changes; returns those applied (the others found their session changed meanwhile), in order.
    @discardableResult
    static func apply(_ targets: [Target], in tx: PostgresSession, now: Date = Date()) async throws -> [Applied] {
        guard !targets.isEmpty else { return [] }
        let stamp = Timestamp.pythonISO(now)
        var ids: [UUID] = [], from: [String] = [], next: [String] = [], info: [String] = [], result: [String] = []
        var exitSet: [String] = [], exitCode: [String] = [], mode: [String] = [], data: [String] = []
        var agent: [String] = [], slots: [String] = [], ends: [String] = []
        var seen = Set<UUID>()
        for target in targets where seen.insert(target.id).inserted {
            let change = target.change
            ids.append(target.id)
            from.append(change.from.rawValue)
            next.append(change.to.rawValue)
            info.append(change.statusInfo.rawValue)
            result.append(change.result?.rawValue ?? "")
            exitSet.append(change.exitCode == nil ? "f" : "t")
            exitCode.append(change.exitCode?.value.map(String.init) ?? "")
            switch change.statusData {
            case .keep:
                mode.append("keep")
                data.append("")
            case .mergeScheduler(let json):
                mode.append("scheduler")
                data.append(json.text)
            case .replace(let json):
                mode.append("replace")
                data.append(json.text)
            }
            agent.append(change.placement?.agentID ?? "")
            slots.append(change.placement?.slots.json.text ?? "")
            ends.append(change.ends ? "t" : "f")
        }
        let rows = try await tx.query(
            """
            UPDATE sessions s SET status = v.next, status_info = v.info, status_changed = \(now),
                result = coalesce(nullif(v.result, ''), s.result),
                exit_code = CASE WHEN v.exit_set = 't' THEN nullif(v.exit_code, '')::int ELSE s.exit_code END,
                terminated_at = CASE WHEN v.ends = 't' THEN \(now) ELSE s.terminated_at END,
                agent_id = coalesce(nullif(v.agent, ''), s.agent_id),
                occupying_slots = CASE WHEN v.slots = '' THEN s.occupying_slots ELSE v.slots::jsonb END,
                status_data = CASE v.mode
                    WHEN 'scheduler' THEN jsonb_build_object('scheduler', coalesce(s.status_data -> 'scheduler', '{}') || v.data::jsonb)
                    WHEN 'replace' THEN v.data::jsonb
                    ELSE s.status_data END,
                status_history = s.status_history || jsonb_build_object(v.next, \(stamp))
            FROM unnest(\(UUIDArray(ids))::uuid[], \(from)::text[], \(next)::text[], \(info)::text[], \(result)::text[],
                        \(exitSet)::text[], \(exitCode)::text[], \(mode)::text[], \(data)::text[], \(agent)::text[],
                        \(slots)::text[], \(ends)::text[])
                 AS v(id, from_status, next, info, result, exit_set, exit_code, mode, data, agent, slots, ends)
            WHERE s.id = v.id AND s.status = v.from_status
            RETURNING s.id, s.agent_id, s.scaling_group_name
            """)
        var readBack: [UUID: (agent: String?, group: String?)] = [:]
        for row in rows {
            readBack[try row.decode("id", as: UUID.self)] = (try row.decodeOptional("agent_id"), try row.decodeOptional("scaling_group_name"))
        }
        var applied: [Applied] = []
        var done = Set<UUID>()
        for target in targets {
            guard let back = readBack[target.id], done.insert(target.id).inserted else { continue }
            applied.append(Applied(id: target.id, change: target.change, agentID: back.agent, scalingGroup: back.group))
        }
        guard !applied.isEmpty else { return [] }

        var statements: [SQL] = []
        let events = applied.flatMap { item in
            item.change.events.map { EventRow(id: item.id, name: $0, reason: item.change.statusInfo.rawValue,
                                              exitCode: item.change.exitCode?.value) }
        }
        if !events.isEmpty { statements.append(self.insertEvents(events)) }
        let starts = applied.filter { $0.change.command == .start }.map(\.id)
        if !starts.isEmpty { statements.append(self.insertStartCommands(starts)) }
        let stops = applied.filter { $0.change.command == .stop && $0.agentID != nil }.map(\.id)
        if !stops.isEmpty {
            statements.append(
                """
                INSERT INTO agent_commands (agent_id, session_id, kind)
                SELECT s.agent_id, s.id, 'stop' FROM sessions s WHERE s.id = ANY(\(UUIDArray(stops))::uuid[])
                ON CONFLICT (session_id, kind) WHERE kind IN ('start', 'stop') DO NOTHING
                """)
        }
        let restarts = applied.filter { $0.change.command == .restart && $0.agentID != nil }.map(\.id)
        if !restarts.isEmpty {
            statements.append(
                """
                INSERT INTO agent_commands (agent_id, session_id, kind)
                SELECT s.agent_id, s.id, 'restart' FROM sessions s WHERE s.id = ANY(\(UUIDArray(restarts))::uuid[])
                ON CONFLICT (session_id) WHERE kind = 'restart' AND acked_at IS NULL DO NOTHING
                """)
        }
        let agents = Set(applied.filter { $0.change.command != nil }.compactMap(\.agentID)).sorted()
        // A session that ended frees slots and may unblock its dependents in any group: wake the scheduler.
        let groups = Set(applied.filter(\.change.ends).map { $0.scalingGroup ?? "dependency" }).sorted()
        statements.append(
            """
            SELECT pg_notify('manager_events', 'lifecycle') WHERE \(!events.isEmpty)
            UNION ALL SELECT pg_notify('agent_commands', a) FROM unnest(\(agents)::text[]) AS a
            UNION ALL SELECT pg_notify('scheduler_wakeup', g) FROM unnest(\(groups)::text[]) AS g
            """)
        _ = try await tx.query(statements)
        return applied
    }

    /// Tells an agent to stop sessions it still runs that have ended here (destroyed, agent-lost meanwhile).
    static func stopOrphans(_ ids: [UUID], agentID: String, in tx: PostgresSession) async throws {
        guard !ids.isEmpty else { return }
        let queued = try await tx.query(
            """
            INSERT INTO agent_commands (agent_id, session_id, kind)
            SELECT \(agentID), id, 'stop' FROM sessions
            WHERE id = ANY(\(UUIDArray(ids))::uuid[]) AND status = ANY(\(Self.ended)::text[])
            ON CONFLICT (session_id, kind) WHERE kind IN ('start', 'stop') DO NOTHING
            RETURNING id
            """)
        if !queued.isEmpty { try await tx.execute("SELECT pg_notify('agent_commands', \(agentID))") }
    }

    /// Records why PENDING sessions still wait (`status_info` and `status_data.scheduler`); not a status change.
    static func recordWaits(_ waits: [(id: String, info: StatusInfo, schedulerData: JSONValue)], in tx: PostgresSession) async throws -> Int {
        guard !waits.isEmpty else { return 0 }
        return try await tx.execute(
            """
            UPDATE sessions s SET status_info = v.info, status_data = jsonb_build_object('scheduler', v.data::jsonb)
            FROM unnest(\(waits.map(\.id))::uuid[], \(waits.map(\.info.rawValue))::text[], \(waits.map(\.schedulerData.text))::text[])
                AS v(id, info, data)
            WHERE s.id = v.id AND s.status = \(SessionLifecycle.initial.rawValue)
            """)
    }

    /// Statuses of sessions that will never run again.
    static let ended: [String] = SessionStatus.allCases.filter(\.hasEnded).map(\.rawValue)

    struct EventRow {
        var id: UUID
        var name: SessionEventName
        var reason: String
        var exitCode: Int?
    }

    /// Event rows for many sessions in one statement, in the given order.
    static func insertEvents(_ events: [EventRow]) -> SQL {
        """
        INSERT INTO events (name, session_id, session_name, access_key, reason, exit_code)
        SELECT e.name, s.id, s.name, s.access_key, e.reason, nullif(e.code, '')::int
        FROM unnest(\(events.map(\.name.rawValue))::text[], \(UUIDArray(events.map(\.id)))::uuid[],
                    \(events.map(\.reason))::text[], \(events.map { $0.exitCode.map(String.init) ?? "" })::text[])
             WITH ORDINALITY AS e(name, id, reason, code, position)
        JOIN sessions s ON s.id = e.id
        ORDER BY e.position
        """
    }

    /// The start command, built from the session row: what the agent needs to run it.
    private static func insertStartCommands(_ ids: [UUID]) -> SQL {
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
        FROM sessions s WHERE s.id = ANY(\(UUIDArray(ids))::uuid[]) AND s.agent_id IS NOT NULL
        ON CONFLICT (session_id, kind) WHERE kind IN ('start', 'stop') DO NOTHING
        """
    }
}
