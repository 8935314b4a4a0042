import Foundation
import SchedulerKit

/// Agents, their heartbeats, the commands sent to them and what they report, in PostgreSQL.
public struct PostgresAgentStore: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    /// Why an agent's request is refused; the route maps it to a 400 naming the field, or a 409 for the fence.
    public struct Refusal: Error, Sendable {
        public let field: String
        public let message: String
        public var isFence = false

        static func fence(_ message: String) -> Refusal {
            Refusal(field: "epoch", message: message, isFence: true)
        }
    }

    /// What a heartbeat found: whether the agent (re)joined, and the epoch the process holds.
    struct Heartbeat: Sendable {
        var joined: Bool
        var epoch: Int64
    }

    /// Records a heartbeat (creating the agent on first contact), behind the epoch fence: a process joins without an
    /// epoch and gets the next one, which it sends from then on. A join while the id's current process is alive
    /// (ALIVE and heard from within `heartbeatTimeout`), or a sync with an epoch that is no longer the id's, is
    /// refused: two processes never both take one agent's commands. Each join takes the epoch by compare-and-set,
    /// so two racing joins cannot both win.
    func heartbeat(
        _ info: AgentProtocol.AgentInfo, slots: ResourceSlots, epoch: Int64?, heartbeatTimeout: Duration,
        in tx: PostgresSession
    ) async throws -> Heartbeat {
        guard try await tx.query("SELECT 1 FROM scaling_groups WHERE name = \(info.scalingGroup)").first != nil else {
            throw Refusal(field: "agent.scaling_group", message: "The scaling group '\(info.scalingGroup)' does not exist.")
        }
        let timeout = Double(heartbeatTimeout.components.seconds) + Double(heartbeatTimeout.components.attoseconds) / 1e18
        // No row lock here: sessions and commands hold KEY SHARE locks on agent rows while a pass runs,
        // and an update that leaves the key alone does not wait for them.
        let previous = try await tx.query(
            """
            SELECT status, epoch, last_heartbeat > now() - make_interval(secs => \(timeout)) AS live
            FROM agents WHERE id = \(info.id)
            """
        ).first
        let previousStatus: String? = try previous?.decode("status")
        let previousEpoch: Int64 = try previous.map { Int64(try $0.decode("epoch", as: Int.self)) } ?? 0
        let slotsJSON = JSONB(text: slots.json.text)
        let held: Int64
        if let epoch {
            guard previous != nil, epoch == previousEpoch else {
                throw Refusal.fence("Agent '\(info.id)' was taken over by another process (epoch \(previousEpoch), this one holds \(epoch)); rejoin without an epoch once it is silent.")
            }
            held = epoch
            // A heartbeat is written at most once a second, unless something about the agent changed.
            try await tx.execute(
                """
                UPDATE agents SET scaling_group = \(info.scalingGroup), status = 'ALIVE', architecture = \(info.architecture),
                    available_slots = \(slotsJSON), addr = \(info.addr), version = \(info.version), last_heartbeat = now(),
                    lost_at = NULL
                WHERE id = \(info.id) AND epoch = \(Int(epoch))
                  AND (status <> 'ALIVE' OR last_heartbeat < now() - interval '1 second' OR scaling_group <> \(info.scalingGroup)
                       OR architecture <> \(info.architecture) OR available_slots <> \(slotsJSON))
                """)
        } else {
            if previousStatus == "ALIVE", try previous?.decode("live", as: Bool.self) == true {
                throw Refusal.fence("Agent id '\(info.id)' is held by a live process (epoch \(previousEpoch)); a second process with this id is refused until the first is silent for \(Int(timeout)) s.")
            }
            held = previousEpoch + 1
            let taken = try await tx.query(
                """
                INSERT INTO agents (id, scaling_group, status, architecture, available_slots, addr, version, last_heartbeat, epoch)
                VALUES (\(info.id), \(info.scalingGroup), 'ALIVE', \(info.architecture), \(slotsJSON), \(info.addr), \(info.version),
                        now(), \(Int(held)))
                ON CONFLICT (id) DO UPDATE SET scaling_group = EXCLUDED.scaling_group, status = 'ALIVE',
                    architecture = EXCLUDED.architecture, available_slots = EXCLUDED.available_slots,
                    addr = EXCLUDED.addr, version = EXCLUDED.version, last_heartbeat = now(), lost_at = NULL,
                    epoch = EXCLUDED.epoch
                WHERE agents.epoch = \(Int(previousEpoch))
                """)
            guard taken.affectedRows == 1 else {
                throw Refusal.fence("Agent id '\(info.id)' was just taken by another process.")
            }
        }
        let joined = epoch == nil || previousStatus != "ALIVE"
        if joined {
            try await tx.execute("SELECT pg_notify('scheduler_wakeup', \(info.scalingGroup))")
        }
        return Heartbeat(joined: joined, epoch: held)
    }

    /// Applies progress reports, forward only: the reported sessions are read (locked) once, each report is decided
    /// by `SessionLifecycle`, and the changes are written by `SessionChangeWriter` in at most three rounds
    /// (PREPARING, RUNNING, the end), each a few statements whatever the number of sessions. Output chunks are
    /// stored per chunk (only sessions that printed something have them).
    func apply(_ reports: [AgentProtocol.SessionReport], agentID: String, in tx: PostgresSession) async throws {
        guard !reports.isEmpty else { return }
        do {
            for report in reports {
                if let log = report.log, !log.isEmpty {
                    try await Self.storeLog(log, offset: report.logOffset, session: report.sessionID, agentID: agentID, in: tx)
                }
            }
            var stats: [UUID: AgentProtocol.SessionStats] = [:]
            for report in reports { if let stat = report.stats { stats[report.sessionID] = stat } }
            if !stats.isEmpty { try await PostgresSessionStats.store(stats, agentID: agentID, in: tx) }

            var states = try await Self.states(of: Self.unique(reports.map(\.sessionID)), agentID: agentID, in: tx)
            var orphans: [UUID] = []
            /// Decides one round of triggers (one per session) and writes its changes.
            func round(_ triggers: [(UUID, SessionTrigger)]) async throws {
                var targets: [SessionChangeWriter.Target] = []
                for (id, trigger) in triggers {
                    guard let state = states[id] else { continue }  // not this agent's session
                    switch SessionLifecycle.decide(state, trigger) {
                    case .change(let change): targets.append(.init(id: id, change: change))
                    case .orphaned: orphans.append(id)
                    case .unchanged, .illegal: continue
                    }
                }
                for applied in try await SessionChangeWriter.apply(targets, in: tx) {
                    states[applied.id]?.status = applied.change.to
                    states[applied.id]?.statusInfo = applied.change.statusInfo
                }
            }
            for (phase, trigger) in [(AgentProtocol.SessionReport.Status.preparing, SessionTrigger.preparing), (.running, .running)] {
                try await round(Self.unique(reports.filter { $0.status == phase }.map(\.sessionID)).map { ($0, trigger) })
            }
            let restarted = reports.filter { $0.status == .running && $0.restarted == true }.map(\.sessionID)
            try await round(Self.unique(restarted).map { ($0, .restarted) })
            // The end: the first terminated or failed report of each session.
            var seen = Set<UUID>()
            var ends: [(UUID, SessionTrigger)] = []
            for report in reports where report.status == .terminated || report.status == .failed {
                guard seen.insert(report.sessionID).inserted else { continue }
                if report.status == .terminated {
                    ends.append((report.sessionID, .exited(code: report.exitCode, cause: report.cause.map { StatusInfo($0.rawValue) })))
                } else {
                    let reason = String((report.reason ?? "the agent could not start the session").prefix(1000))
                    ends.append((report.sessionID, .failedToStart(reason: reason, agentID: agentID)))
                }
            }
            try await round(ends)
            // Reports about sessions that ended meanwhile (destroyed, agent-lost): tell the agent to stop them.
            try await SessionChangeWriter.stopOrphans(Self.unique(orphans), agentID: agentID, in: tx)
        }
    }

    /// The lifecycle state of this agent's sessions among `ids`, locked for the transaction.
    static func states(of ids: [UUID], agentID: String, in tx: PostgresSession) async throws -> [UUID: SessionState] {
        guard !ids.isEmpty else { return [:] }
        let rows = try await tx.query(
            """
            SELECT id, status, session_type, status_info FROM sessions
            WHERE id = ANY(\(UUIDArray(ids))::uuid[]) AND agent_id = \(agentID) ORDER BY id FOR UPDATE
            """)
        var states: [UUID: SessionState] = [:]
        for row in rows {
            guard let status = SessionStatus(rawValue: try row.decode("status")) else { continue }
            let type = SessionType(rawValue: try row.decode("session_type")) ?? .interactive
            let info: String? = try row.decodeOptional("status_info")
            states[try row.decode("id")] = SessionState(status: status, type: type, statusInfo: info.map { StatusInfo($0) }, hasAgent: true)
        }
        return states
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

    /// Marks commands carried out.
    func acknowledge(_ ids: [Int64], agentID: String, in tx: PostgresSession) async throws {
        guard !ids.isEmpty else { return }
        try await tx.execute(
            """
            UPDATE agent_commands SET acked_at = now()
            WHERE agent_id = \(agentID) AND id = ANY(\(ids.map(String.init))::bigint[]) AND acked_at IS NULL
            """)
    }

    /// Commands not yet acknowledged, oldest first.
    /// The commands the agent has not acknowledged; with `epoch`, only while that process still holds the id.
    func openCommands(
        agentID: String, epoch: Int64? = nil, limit: Int = 1000, in session: PostgresSession? = nil
    ) async throws -> [AgentProtocol.Command] {
        let sql: SQL = """
            SELECT c.id::text AS id, c.kind, c.session_id, c.payload FROM agent_commands c
            WHERE c.agent_id = \(agentID) AND c.acked_at IS NULL
              AND (\(epoch.map(Int.init))::int8 IS NULL OR EXISTS (SELECT 1 FROM agents a WHERE a.id = c.agent_id AND a.epoch = \(epoch.map(Int.init))))
            ORDER BY c.id LIMIT \(limit)
            """
        let rows: PostgresRows
        if let session { rows = try await session.query(sql) } else { rows = try await self.pool.query(sql) }
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
            let rows = try await tx.query(
                """
                SELECT id, status, session_type, status_info, agent_id FROM sessions
                WHERE agent_id = ANY(\(lost.map(\.0))::text[]) AND status = ANY(\(SessionOccupancy.activeNames)::text[])
                ORDER BY id FOR UPDATE
                """)
            var targets: [SessionChangeWriter.Target] = []
            for row in rows {
                guard let status = SessionStatus(rawValue: try row.decode("status")) else { continue }
                let state = SessionState(
                    status: status, type: SessionType(rawValue: try row.decode("session_type")) ?? .interactive,
                    statusInfo: (try row.decodeOptional("status_info", as: String.self)).map { StatusInfo($0) }, hasAgent: true)
                if let change = SessionLifecycle.decide(state, .agentLost(agentID: try row.decode("agent_id"))).change {
                    targets.append(.init(id: try row.decode("id"), change: change))
                }
            }
            try await SessionChangeWriter.apply(targets, in: tx)
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
    public func list(
        status: String?, scalingGroup: String?, id: String? = nil, limit: Int, offset: Int
    ) async throws -> (items: [AgentRecord], total: Int) {
        let filter: SQL = """
            (\(status)::text IS NULL OR a.status = \(status)) AND (\(scalingGroup)::text IS NULL OR a.scaling_group = \(scalingGroup))
            AND (\(id)::text IS NULL OR a.id = \(id))
            """
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
