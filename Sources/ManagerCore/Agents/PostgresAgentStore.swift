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

    /// Applies progress reports, forward only; a report about a session that already ended queues a stop.
    public func apply(_ reports: [AgentProtocol.SessionReport], agentID: String) async throws {
        guard !reports.isEmpty else { return }
        try await self.pool.withTransaction { tx in
            for report in reports {
                if let log = report.log, !log.isEmpty {
                    // Chunks carry their byte range, so a chunk sent twice (a retried sync, a restarted agent)
                    // is stored once: only the part past what was already stored is appended.
                    let start = Int(report.logOffset ?? -1)
                    let end = start >= 0 ? start + log.utf8.count : -1
                    try await tx.execute(
                        """
                        INSERT INTO session_logs (session_id, content, reported_bytes)
                        SELECT id, right(\(log), 1048576), greatest(\(end), 0) FROM sessions
                        WHERE id = \(report.sessionID) AND agent_id = \(agentID)
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
                let applied = try await self.apply(report, agentID: agentID, in: tx)
                if !applied, report.status != .terminated {
                    try await tx.execute(
                        """
                        INSERT INTO agent_commands (agent_id, session_id, kind)
                        SELECT \(agentID), id, 'stop' FROM sessions
                        WHERE id = \(report.sessionID) AND status IN ('TERMINATED', 'CANCELLED', 'ERROR')
                        ON CONFLICT (session_id, kind) DO NOTHING
                        """)
                    try await tx.execute("SELECT pg_notify('agent_commands', \(agentID))")
                }
            }
        }
    }

    private func apply(_ report: AgentProtocol.SessionReport, agentID: String, in tx: PostgresSession) async throws -> Bool {
        let now = Date()
        let stamp = Timestamp.pythonISO(now)
        switch report.status {
        case .preparing, .running:
            let next: SessionStatus = report.status == .preparing ? .preparing : .running
            let from: [String] = report.status == .preparing ? ["SCHEDULED", "PULLING"] : ["SCHEDULED", "PULLING", "PREPARING"]
            guard let row = try await tx.query(
                """
                UPDATE sessions SET status = \(next.rawValue), status_info = '', status_changed = \(now),
                    status_history = status_history || jsonb_build_object(\(next.rawValue), \(stamp))
                WHERE id = \(report.sessionID) AND agent_id = \(agentID) AND status = ANY(\(from)::text[])
                RETURNING name, access_key
                """
            ).first else {
                // Already further along (a repeated report) counts as applied; an ended session does not.
                return try await tx.query(
                    "SELECT 1 FROM sessions WHERE id = \(report.sessionID) AND status = ANY(\(SessionOccupancy.activeNames)::text[])"
                ).first != nil
            }
            let event = next == .preparing ? "session_preparing" : "session_started"
            try await PostgresSessionStore.appendEvent(
                tx, name: event, id: report.sessionID, sessionName: try row.decode("name"), owner: try row.decode("access_key"),
                reason: "")
            return true
        case .terminated:
            let exitCode = report.exitCode
            let statusData = JSONValue.object([
                ("kernel", .object([("exit_code", exitCode.map { .number(Double($0)) } ?? .null)])),
                ("session", .object([("status", .string("terminated"))])),
            ])
            guard let row = try await tx.query(
                """
                UPDATE sessions SET status = 'TERMINATED', status_changed = \(now), terminated_at = \(now),
                    exit_code = \(exitCode), status_data = \(JSONB(text: statusData.text)),
                    status_history = status_history || jsonb_build_object('TERMINATED', \(stamp)),
                    result = CASE WHEN session_type <> 'batch' THEN result
                                  WHEN \(exitCode) = 0 THEN 'SUCCESS' ELSE 'FAILURE' END,
                    status_info = CASE WHEN status = 'TERMINATING' THEN status_info
                                       WHEN session_type <> 'batch' THEN 'self-terminated'
                                       WHEN \(exitCode) = 0 THEN 'task-finished' ELSE 'task-failed' END
                WHERE id = \(report.sessionID) AND agent_id = \(agentID)
                  AND status = ANY(\(SessionOccupancy.activeNames)::text[])
                RETURNING name, access_key, session_type, result, status_info, scaling_group_name
                """
            ).first else { return true }
            let name: String = try row.decode("name")
            let owner: AccessKey = try row.decode("access_key")
            let info: String = try row.decodeOptional("status_info") ?? ""
            if try row.decode("session_type", as: String.self) == SessionType.batch.rawValue {
                let success = try row.decode("result", as: String.self) == SessionResult.success.rawValue
                try await PostgresSessionStore.appendEvent(
                    tx, name: success ? "session_success" : "session_failure", id: report.sessionID, sessionName: name,
                    owner: owner, reason: info, exitCode: exitCode)
            }
            try await PostgresSessionStore.appendEvent(
                tx, name: "session_terminated", id: report.sessionID, sessionName: name, owner: owner, reason: info,
                exitCode: exitCode)
            try await tx.execute("SELECT pg_notify('scheduler_wakeup', \(try row.decodeOptional("scaling_group_name", as: String.self) ?? ""))")
            return true
        }
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
            let kind = AgentProtocol.Command.Kind(rawValue: try row.decode("kind")) ?? .stop
            let payload = try row.decode("payload", as: JSONB.self)
            let spec = kind == .start ? try payload.decode(AgentProtocol.SessionSpec.self) : nil
            return AgentProtocol.Command(
                id: Int64(try row.decode("id", as: String.self)) ?? 0, kind: kind, sessionID: try row.decode("session_id"),
                spec: spec)
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
