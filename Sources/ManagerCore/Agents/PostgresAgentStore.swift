import Foundation
import SchedulerKit

/// Agents, their heartbeats, the commands sent to them and what they report, in PostgreSQL.
public struct PostgresAgentStore: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Why an agent's request is refused; the route maps it to a 400 naming the field.
    public struct Refusal: Error, Sendable {
        public let field: String
        public let message: String
    }

    /// Records a heartbeat (creating the agent on first contact); true when the agent is new or was LOST.
    public func heartbeat(_ info: AgentProtocol.AgentInfo, slots: ResourceSlots) async throws -> Bool {
        try await self.pool.withTransaction { tx in
            guard try await tx.query("SELECT 1 FROM scaling_groups WHERE name = \(info.scalingGroup)").first != nil else {
                throw Refusal(field: "agent.scaling_group", message: "The scaling group '\(info.scalingGroup)' does not exist.")
            }
            // No row lock here: sessions and commands hold KEY SHARE locks on agent rows while a pass runs,
            // and an upsert that leaves the key alone does not wait for them.
            let previous: String? = try await tx.query("SELECT status FROM agents WHERE id = \(info.id)").first?.decode("status")
            // A heartbeat is written at most once a second, unless something about the agent changed.
            try await tx.execute(
                """
                INSERT INTO agents (id, scaling_group, status, architecture, available_slots, addr, version, last_heartbeat)
                VALUES (\(info.id), \(info.scalingGroup), 'ALIVE', \(info.architecture), \(JSONB(text: slots.json.text)),
                        \(info.addr), \(info.version), now())
                ON CONFLICT (id) DO UPDATE SET scaling_group = EXCLUDED.scaling_group, status = 'ALIVE',
                    architecture = EXCLUDED.architecture, available_slots = EXCLUDED.available_slots,
                    addr = EXCLUDED.addr, version = EXCLUDED.version, last_heartbeat = now(), lost_at = NULL
                WHERE agents.status <> 'ALIVE' OR agents.last_heartbeat < now() - interval '1 second'
                   OR agents.scaling_group <> EXCLUDED.scaling_group OR agents.architecture <> EXCLUDED.architecture
                   OR agents.available_slots <> EXCLUDED.available_slots
                """)
            let joined = previous != "ALIVE"
            if joined {
                try await tx.execute("SELECT pg_notify('scheduler_wakeup', \(info.scalingGroup))")
            }
            return joined
        }
    }

    /// Applies progress reports, forward only, in a few statements whatever their number: one UPDATE per phase
    /// (PREPARING, RUNNING, TERMINATED) over all the sessions reported in it, one INSERT for their events, one for
    /// the stop commands of sessions that ended meanwhile. Output chunks are stored per chunk (only sessions that
    /// printed something have them).
    public func apply(_ reports: [AgentProtocol.SessionReport], agentID: String) async throws {
        guard !reports.isEmpty else { return }
        try await self.pool.withTransaction { tx in
            for report in reports {
                if let log = report.log, !log.isEmpty {
                    try await Self.storeLog(log, offset: report.logOffset, session: report.sessionID, agentID: agentID, in: tx)
                }
            }
            var stale: [UUID] = []
            for phase in [AgentProtocol.SessionReport.Status.preparing, .running] {
                let ids = Self.unique(reports.filter { $0.status == phase }.map(\.sessionID))
                guard !ids.isEmpty else { continue }
                stale += try await Self.advance(ids, to: phase, agentID: agentID, in: tx)
            }
            var stats: [UUID: AgentProtocol.SessionStats] = [:]
            for report in reports { if let stat = report.stats { stats[report.sessionID] = stat } }
            if !stats.isEmpty { try await Self.storeStats(stats, agentID: agentID, in: tx) }
            var terminated: [(UUID, Int?, AgentProtocol.SessionReport.Cause?)] = []
            var seen = Set<UUID>()
            for report in reports where report.status == .terminated && seen.insert(report.sessionID).inserted {
                terminated.append((report.sessionID, report.exitCode, report.cause))
            }
            if !terminated.isEmpty { try await Self.terminate(terminated, agentID: agentID, in: tx) }
            var failed: [(UUID, String)] = []
            for report in reports where report.status == .failed && seen.insert(report.sessionID).inserted {
                failed.append((report.sessionID, String((report.reason ?? "the agent could not start the session").prefix(1000))))
            }
            if !failed.isEmpty { try await Self.fail(failed, agentID: agentID, in: tx) }
            if !stale.isEmpty {
                // Reports about sessions that ended meanwhile (destroyed, agent-lost): tell the agent to stop them.
                let queued = try await tx.query(
                    """
                    INSERT INTO agent_commands (agent_id, session_id, kind)
                    SELECT \(agentID), id, 'stop' FROM sessions
                    WHERE id = ANY(\(UUIDArray(stale))::uuid[]) AND status IN ('TERMINATED', 'CANCELLED', 'ERROR')
                    ON CONFLICT (session_id, kind) DO NOTHING
                    RETURNING id
                    """)
                if !queued.isEmpty { try await tx.execute("SELECT pg_notify('agent_commands', \(agentID))") }
            }
        }
    }

    static func unique(_ ids: [UUID]) -> [UUID] {
        var seen = Set<UUID>()
        return ids.filter { seen.insert($0).inserted }
    }

    /// Chunks carry their byte range, so a chunk sent twice (a retried sync, a restarted agent) is stored once:
    /// only the part past what was already stored is appended.
    static func storeLog(_ log: String, offset: Int64?, session: UUID, agentID: String, in tx: PostgresSession) async throws {
        let start = Int(offset ?? -1)
        let end = start >= 0 ? start + log.utf8.count : -1
        try await tx.execute(
            """
            INSERT INTO session_logs (session_id, content, reported_bytes)
            SELECT id, right(\(log), 1048576), greatest(\(end), 0) FROM sessions
            WHERE id = \(session) AND agent_id = \(agentID)
            ON CONFLICT (session_id) DO UPDATE SET
                content = CASE
                    WHEN \(start) < 0 THEN right(session_logs.content || \(log), 1048576)
                    WHEN \(end) <= session_logs.reported_bytes THEN session_logs.content
                    ELSE right(session_logs.content
                        || substr(\(log), greatest(session_logs.reported_bytes - \(start), 0)::int + 1), 1048576)
                    END,
                reported_bytes = greatest(session_logs.reported_bytes, \(end)),
                updated_at = now()
            """)
    }

    /// What the sessions used, in Backend.AI's stat shape (`live_stat` while they run, `last_stat` after).
    static func storeStats(_ stats: [UUID: AgentProtocol.SessionStats], agentID: String, in tx: PostgresSession) async throws {
        let ids = stats.keys.sorted { $0.uuidString < $1.uuidString }
        try await tx.execute(
            """
            UPDATE sessions s SET last_stat = v.stat::jsonb
            FROM unnest(\(UUIDArray(ids))::uuid[], \(ids.map { SessionStatJSON.backendAI(stats[$0] ?? .init()).text })::text[]) AS v(id, stat)
            WHERE s.id = v.id AND s.agent_id = \(agentID)
            """)
    }

    /// Moves the sessions to PREPARING or RUNNING where they are behind, with their events; returns the ids whose
    /// report found the session already ended (a repeated report about a session still active counts as applied).
    static func advance(
        _ ids: [UUID], to phase: AgentProtocol.SessionReport.Status, agentID: String, in tx: PostgresSession
    ) async throws -> [UUID] {
        let now = Date()
        let next: SessionStatus = phase == .preparing ? .preparing : .running
        let from: [String] = phase == .preparing ? ["SCHEDULED", "PULLING"] : ["SCHEDULED", "PULLING", "PREPARING"]
        let moved = try await tx.query(
            """
            UPDATE sessions SET status = \(next.rawValue), status_info = '', status_changed = \(now),
                status_history = status_history || jsonb_build_object(\(next.rawValue), \(Timestamp.pythonISO(now)))
            WHERE id = ANY(\(UUIDArray(ids))::uuid[]) AND agent_id = \(agentID) AND status = ANY(\(from)::text[])
            RETURNING id
            """
        ).map { try $0.decode("id", as: UUID.self) }
        if !moved.isEmpty {
            try await Self.appendEvents(
                moved.map { ($0, next == .preparing ? "session_preparing" : "session_started", nil) }, reason: { _ in "" }, in: tx)
        }
        let movedSet = Set(moved)
        let rest = ids.filter { !movedSet.contains($0) }
        guard !rest.isEmpty else { return [] }
        let active = Set(try await tx.query(
            """
            SELECT id FROM sessions WHERE id = ANY(\(UUIDArray(rest))::uuid[])
              AND status = ANY(\(SessionOccupancy.activeNames)::text[])
            """
        ).map { try $0.decode("id", as: UUID.self) })
        return rest.filter { !active.contains($0) }
    }

    /// Ends the sessions with their exit codes: result and status_info as Backend.AI sets them, the batch outcome
    /// event and `session_terminated` for each, and a scheduler wake-up for their groups.
    static func terminate(
        _ sessions: [(UUID, Int?, AgentProtocol.SessionReport.Cause?)], agentID: String, in tx: PostgresSession
    ) async throws {
        let now = Date()
        let rows = try await tx.query(
            """
            UPDATE sessions s SET status = 'TERMINATED', status_changed = \(now), terminated_at = \(now),
                exit_code = r.code,
                status_data = jsonb_build_object('kernel', jsonb_build_object('exit_code', r.code),
                                                 'session', jsonb_build_object('status', 'terminated')),
                status_history = s.status_history || jsonb_build_object('TERMINATED', \(Timestamp.pythonISO(now))),
                result = CASE WHEN r.cause <> '' THEN 'FAILURE'
                              WHEN s.session_type <> 'batch' THEN s.result
                              WHEN r.code = 0 THEN 'SUCCESS' ELSE 'FAILURE' END,
                status_info = CASE WHEN r.cause <> '' THEN r.cause
                                   WHEN s.status = 'TERMINATING' THEN s.status_info
                                   WHEN s.session_type <> 'batch' THEN 'self-terminated'
                                   WHEN r.code = 0 THEN 'task-finished' ELSE 'task-failed' END
            FROM (SELECT u.id, nullif(u.code, '')::int AS code, u.cause
                  FROM unnest(\(UUIDArray(sessions.map(\.0)))::uuid[], \(sessions.map { $0.1.map(String.init) ?? "" })::text[],
                              \(sessions.map { $0.2?.rawValue ?? "" })::text[])
                       AS u(id, code, cause)) r
            WHERE s.id = r.id AND s.agent_id = \(agentID) AND s.status = ANY(\(SessionOccupancy.activeNames)::text[])
            RETURNING s.id, s.session_type, s.result, s.status_info, s.scaling_group_name, r.code
            """)
        guard !rows.isEmpty else { return }
        var events: [(UUID, String, Int?)] = []
        var reasons: [UUID: String] = [:]
        var groups = Set<String>()
        for row in rows {
            let id: UUID = try row.decode("id")
            let code: Int? = try row.decodeOptional("code")
            reasons[id] = try row.decodeOptional("status_info") ?? ""
            // A batch session's outcome, and any session the kernel killed for memory, is an event of its own.
            if try row.decode("session_type", as: String.self) == SessionType.batch.rawValue
                || reasons[id] == AgentProtocol.SessionReport.Cause.oomKilled.rawValue
            {
                let success = try row.decode("result", as: String.self) == SessionResult.success.rawValue
                events.append((id, success ? "session_success" : "session_failure", code))
            }
            events.append((id, "session_terminated", code))
            if let group: String = try row.decodeOptional("scaling_group_name") { groups.insert(group) }
        }
        try await Self.appendEvents(events, reason: { reasons[$0] ?? "" }, in: tx)
        for group in groups.sorted() {
            try await tx.execute("SELECT pg_notify('scheduler_wakeup', \(group))")
        }
    }

    /// Ends sessions whose start the agent could not carry out: ERROR `failed-to-start`, FAILURE for batch, the
    /// reason in `status_data.error`, with `session_failure` (batch) and `session_terminated` events.
    static func fail(_ sessions: [(UUID, String)], agentID: String, in tx: PostgresSession) async throws {
        let now = Date()
        let rows = try await tx.query(
            """
            UPDATE sessions s SET status = 'ERROR', status_info = 'failed-to-start', status_changed = \(now),
                terminated_at = \(now),
                status_history = s.status_history || jsonb_build_object('ERROR', \(Timestamp.pythonISO(now))),
                result = CASE WHEN s.session_type = 'batch' THEN 'FAILURE' ELSE s.result END,
                status_data = jsonb_build_object('error', jsonb_build_object('src', 'agent', 'name', 'StartFailed',
                    'repr', r.reason, 'agent_id', s.agent_id))
            FROM unnest(\(UUIDArray(sessions.map(\.0)))::uuid[], \(sessions.map(\.1))::text[]) AS r(id, reason)
            WHERE s.id = r.id AND s.agent_id = \(agentID) AND s.status = ANY(\(SessionOccupancy.activeNames)::text[])
            RETURNING s.id, s.session_type, s.scaling_group_name
            """)
        guard !rows.isEmpty else { return }
        var events: [(UUID, String, Int?)] = []
        var groups = Set<String>()
        for row in rows {
            let id: UUID = try row.decode("id")
            if try row.decode("session_type", as: String.self) == SessionType.batch.rawValue {
                events.append((id, "session_failure", nil))
            }
            events.append((id, "session_terminated", nil))
            if let group: String = try row.decodeOptional("scaling_group_name") { groups.insert(group) }
        }
        try await Self.appendEvents(events, reason: { _ in "failed-to-start" }, in: tx)
        for group in groups.sorted() {
            try await tx.execute("SELECT pg_notify('scheduler_wakeup', \(group))")
        }
    }

    /// Event rows for many sessions in one statement, in the given order.
    static func appendEvents(
        _ events: [(id: UUID, name: String, exitCode: Int?)], reason: (UUID) -> String, in tx: PostgresSession
    ) async throws {
        try await tx.execute(
            """
            INSERT INTO events (name, session_id, session_name, access_key, reason, exit_code)
            SELECT e.name, s.id, s.name, s.access_key, e.reason, nullif(e.code, '')::int
            FROM unnest(\(events.map(\.name))::text[], \(UUIDArray(events.map(\.id)))::uuid[],
                        \(events.map { reason($0.id) })::text[], \(events.map { $0.exitCode.map(String.init) ?? "" })::text[])
                 WITH ORDINALITY AS e(name, id, reason, code, position)
            JOIN sessions s ON s.id = e.id
            ORDER BY e.position
            """)
        try await tx.execute("SELECT pg_notify('manager_events', 'agent-report')")
    }

    /// Marks commands carried out.
    public func acknowledge(_ ids: [Int64], agentID: String) async throws {
        guard !ids.isEmpty else { return }
        try await self.pool.withConnection { connection in
            _ = try await connection.execute(
                """
                UPDATE agent_commands SET acked_at = now()
                WHERE agent_id = \(agentID) AND id = ANY(\(ids.map(String.init))::bigint[]) AND acked_at IS NULL
                """)
        }
    }

    /// Commands not yet acknowledged, oldest first.
    public func openCommands(agentID: String, limit: Int = 1000) async throws -> [AgentProtocol.Command] {
        let rows = try await self.pool.query(
            """
            SELECT c.id::text AS id, c.kind, c.session_id, c.payload FROM agent_commands c
            WHERE c.agent_id = \(agentID) AND c.acked_at IS NULL ORDER BY c.id LIMIT \(limit)
            """)
        return try rows.map { row in
            let id = Int64(try row.decode("id", as: String.self)) ?? 0
            let sessionID: UUID = try row.decode("session_id")
            let kindText: String = try row.decode("kind")
            guard let kind = AgentProtocol.Command.Kind(rawValue: kindText) else {
                return AgentProtocol.Command(id: id, kind: .stop, sessionID: sessionID, spec: nil,
                                             problem: "unknown command kind '\(kindText.prefix(32))'")
            }
            guard kind == .start else { return AgentProtocol.Command(id: id, kind: kind, sessionID: sessionID, spec: nil) }
            // A payload that does not read as a spec is sent as a problem: the agent acknowledges it and reports
            // the session FAILED, instead of every later sync of this agent failing on it.
            do {
                let spec = try row.decode("payload", as: JSONB.self).decode(AgentProtocol.SessionSpec.self)
                return AgentProtocol.Command(id: id, kind: kind, sessionID: sessionID, spec: spec)
            } catch {
                return AgentProtocol.Command(id: id, kind: kind, sessionID: sessionID, spec: nil,
                                             problem: "the manager could not build this session's start command")
            }
        }
    }

    /// Marks agents silent for longer than `timeout` LOST and ends their sessions in ERROR `agent-lost`, which
    /// releases their slots. Safe on every replica at once: each agent is taken by one UPDATE.
    public func markLost(silentFor timeout: Duration) async throws -> [String] {
        try await self.pool.withTransaction { tx in
            let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
            let lost = try await tx.query(
                """
                UPDATE agents SET status = 'LOST', lost_at = now()
                WHERE status = 'ALIVE' AND last_heartbeat < now() - make_interval(secs => \(seconds))
                RETURNING id, scaling_group
                """
            ).map { (try $0.decode("id", as: String.self), try $0.decode("scaling_group", as: String.self)) }
            guard !lost.isEmpty else { return [] }
            let now = Date()
            let ended = try await tx.query(
                """
                UPDATE sessions SET status = 'ERROR', status_info = 'agent-lost', status_changed = \(now),
                    terminated_at = \(now),
                    status_history = status_history || jsonb_build_object('ERROR', \(Timestamp.pythonISO(now))),
                    result = CASE WHEN session_type = 'batch' THEN 'FAILURE' ELSE result END,
                    status_data = jsonb_build_object('error', jsonb_build_object('src', 'agent', 'name', 'AgentLost',
                        'repr', 'The agent ' || agent_id || ' stopped sending heartbeats.', 'agent_id', agent_id))
                WHERE agent_id = ANY(\(lost.map(\.0))::text[]) AND status = ANY(\(SessionOccupancy.activeNames)::text[])
                RETURNING id, name, access_key, session_type
                """)
            for row in ended {
                let id: UUID = try row.decode("id")
                let name: String = try row.decode("name")
                let owner: AccessKey = try row.decode("access_key")
                if try row.decode("session_type", as: String.self) == SessionType.batch.rawValue {
                    try await PostgresSessionStore.appendEvent(
                        tx, name: "session_failure", id: id, sessionName: name, owner: owner, reason: "agent-lost")
                }
                try await PostgresSessionStore.appendEvent(
                    tx, name: "session_terminated", id: id, sessionName: name, owner: owner, reason: "agent-lost")
            }
            for group in Set(lost.map(\.1)) {
                try await tx.execute("SELECT pg_notify('scheduler_wakeup', \(group))")
            }
            return lost.map(\.0)
        }
    }
}

/// An agent as `agent_list` shows it.
public struct AgentRecord: Sendable {
    public let id: String
    public let status: String
    public let statusChanged: Date
    public let architecture: String
    public let scalingGroup: String
    public let schedulable: Bool
    public let availableSlots: JSONValue
    public let occupiedSlots: JSONValue
    public let addr: String
    public let version: String
    public let firstContact: Date
    public let lostAt: Date?
}

extension PostgresAgentStore {
    /// Agents with a status (and optionally a scaling group), with occupancy summed from their sessions.
    public func list(status: String?, scalingGroup: String?, limit: Int, offset: Int) async throws -> (items: [AgentRecord], total: Int) {
        let filter: SQL = "(\(status)::text IS NULL OR a.status = \(status)) AND (\(scalingGroup)::text IS NULL OR a.scaling_group = \(scalingGroup))"
        let total: Int = try await self.pool.query("SELECT count(*) AS n FROM agents a WHERE \(filter)").first?.decode("n") ?? 0
        let rows = try await self.pool.query(
            """
            SELECT a.id, a.status, coalesce(a.lost_at, a.last_heartbeat) AS status_changed, a.architecture, a.scaling_group,
                   a.schedulable, a.available_slots, a.addr, a.version, a.first_contact, a.lost_at,
                   coalesce((SELECT jsonb_object_agg(key, amount) FROM (
                       SELECT e.key, sum(e.value::numeric)::text AS amount
                       FROM sessions s CROSS JOIN LATERAL jsonb_each_text(s.occupying_slots) e
                       WHERE s.agent_id = a.id AND s.status = ANY(\(SessionOccupancy.activeNames)::text[])
                       GROUP BY e.key) used), '{}') AS occupied
            FROM agents a WHERE \(filter) ORDER BY a.id LIMIT \(limit) OFFSET \(offset)
            """)
        let items = try rows.map { row in
            AgentRecord(
                id: try row.decode("id"), status: try row.decode("status"), statusChanged: try row.decode("status_changed"),
                architecture: try row.decode("architecture"), scalingGroup: try row.decode("scaling_group"),
                schedulable: try row.decode("schedulable"),
                availableSlots: try JSONValue.decode(row.decode("available_slots", as: JSONB.self).text),
                occupiedSlots: try JSONValue.decode(row.decode("occupied", as: JSONB.self).text),
                addr: try row.decode("addr"), version: try row.decode("version"), firstContact: try row.decode("first_contact"),
                lostAt: try row.decodeOptional("lost_at"))
        }
        return (items, total)
    }
}
