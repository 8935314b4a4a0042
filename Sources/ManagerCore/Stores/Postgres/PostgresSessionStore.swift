import Foundation
import Prometheus
import SchedulerKit

/// Sessions, their dependencies and the event log in PostgreSQL.
public struct PostgresSessionStore: SessionStore {
    let pool: PostgresPool
    /// Where mounted folders live, for the host paths agents link.
    let volumes: StorageVolumes
    /// Concurrent enqueues share transactions (see `PostgresSessionStore+Enqueue.swift`).
    let enqueueCommit: GroupCommit<SessionCreation, EnqueueOutcome>

    /// `registry` gets `manager_session_enqueue_batch_size` (requests per enqueue transaction).
    public init(
        pool: PostgresPool, volumes: StorageVolumes = StorageVolumes(ManagerConfig.Storage()),
        registry: PrometheusCollectorRegistry? = nil
    ) {
        self.pool = pool
        self.volumes = volumes
        let batchSizes = registry?.makeValueHistogram(
            name: "manager_session_enqueue_batch_size", buckets: [1, 2, 4, 8, 16, 32, 64],
            help: "Enqueue requests committed together in one transaction")
        self.enqueueCommit = GroupCommit(
            maxBatch: Self.enqueueBatchSize,
            // Two at once (measured at 32 concurrent clients, 20,000 enqueues: 1 batch 1,094/s, 2 batches 1,128 and
            // 1,134/s, 4 batches 930–1,065/s): fewer, larger batches commit less often; two keep one filling while
            // the other commits.
            maxConcurrentBatches: 2,
            batch: { [pool, volumes] creations in
                batchSizes?.record(Double(creations.count))
                return try await Self.enqueueBatch(creations, pool: pool, volumes: volumes)
            })
    }

    static let columns: SQL = Self.columns(.all)

    /// The row's columns; those `detail` leaves out come back as empty constants, neither read nor parsed.
    static func columns(_ detail: SessionDetail) -> SQL {
        var sql: SQL = """
            SELECT s.id, s.name, s.session_type, s.access_key, s.user_uuid, s.domain_name, g.name AS group_name,
                   s.scaling_group_name, s.agent_id, s.image, s.architecture, s.tag, s.startup_command, s.callback_url,
                   s.starts_at, s.created_at, s.terminated_at, s.status, s.status_info, s.status_changed, s.result,
                   s.exit_code, s.group_id
            """
        let costly: [(SessionDetail, SQL, SQL)] = [
            (.requestedSlots, ", s.requested_slots", ", '{}'::jsonb AS requested_slots"),
            (.occupyingSlots, ", s.occupying_slots", ", '{}'::jsonb AS occupying_slots"),
            (.resourceOpts, ", s.resource_opts", ", '{}'::jsonb AS resource_opts"),
            (.statusData, ", s.status_data", ", '{}'::jsonb AS status_data"),
            (.statusHistory, ", s.status_history", ", '{}'::jsonb AS status_history"),
            (.lastStat, ", s.last_stat", ", NULL::jsonb AS last_stat"),
            (.userEmail, ", (SELECT u.email FROM users u WHERE u.uuid = s.user_uuid) AS user_email", ", NULL::text AS user_email"),
            (.mounts, """
                , (SELECT coalesce(jsonb_agg(m -> 'name'), '[]'::jsonb) FROM jsonb_array_elements(
                      CASE WHEN jsonb_typeof(s.vfolder_mounts) = 'array' THEN s.vfolder_mounts ELSE '[]'::jsonb END) m
                   WHERE jsonb_typeof(m -> 'name') = 'string') AS mount_names
                """, ", '[]'::jsonb AS mount_names"),
        ]
        for (part, read, empty) in costly { sql.append(detail.contains(part) ? read : empty) }
        sql.append(" FROM sessions s JOIN groups g ON g.id = s.group_id")
        return sql
    }

    /// Resolves mount requests to the owner's folders (their own first, then their projects'), locked against a
    /// concurrent delete until the session row is committed; each entry carries what the agent links.
    static func resolveMounts(
        _ requests: [MountRequest], userID: UUID, volumes: StorageVolumes, in tx: PostgresSession
    ) async throws -> JSONValue {
        guard !requests.isEmpty else { return .array([]) }
        let rows = try await tx.query(
            """
            SELECT v.id, v.name, v.host, v.status, (v.user_uuid = \(userID)) AS own,
                   coalesce((SELECT p.permission FROM vfolder_permissions p WHERE p.vfolder = v.id AND p.user_id = \(userID)),
                            v.permission) AS permission
            FROM vfolders v
            WHERE v.name = ANY(\(requests.map(\.name))::text[]) AND v.status NOT LIKE 'delete-%'
              AND \(PostgresVFolderStore.reachable(by: userID))
            ORDER BY own DESC NULLS LAST, v.created_at
            FOR SHARE OF v
            """)
        var entries: [JSONValue] = []
        for request in requests {
            guard let row = try rows.first(where: { try $0.decode("name", as: String.self) == request.name }) else {
                throw SessionStoreRefusal.unknownVFolder(request.name)
            }
            let status = VFolderStatus(rawValue: try row.decode("status")) ?? .error
            guard status.isMountable else { throw SessionStoreRefusal.unmountableVFolder(name: request.name, status: status.rawValue) }
            let id: UUID = try row.decode("id")
            let host: String = try row.decode("host")
            entries.append(.object([
                ("id", .string(id.uuidString.lowercased())), ("name", .string(request.name)), ("host", .string(host)),
                ("alias", .string(request.alias)), ("host_path", .string(volumes.path(host: host, folderID: id) ?? "")),
                ("permission", .string(try row.decode("permission"))),
            ]))
        }
        return .array(entries)
    }

    /// Resolves dependency references (ids, or names among the owner's sessions, live ones first) in one query.
    static func resolveDependencies(_ references: [String], owner: AccessKey, in tx: PostgresSession) async throws -> [UUID] {
        guard !references.isEmpty else { return [] }
        let ids = references.compactMap { UUID(uuidString: $0) }
        let names = references.filter { UUID(uuidString: $0) == nil }
        let rows = try await tx.query(
            """
            SELECT id, access_key, lower(id::text) AS ref FROM sessions WHERE id = ANY(\(UUIDArray(ids))::uuid[])
            UNION ALL
            SELECT id, access_key, ref FROM (
                SELECT DISTINCT ON (name) id, access_key, name AS ref FROM sessions
                WHERE access_key = \(owner) AND name = ANY(\(names)::text[])
                ORDER BY name, (status NOT IN ('TERMINATED', 'CANCELLED')) DESC, created_at DESC
            ) named
            """)
        var found: [String: (id: UUID, owner: AccessKey)] = [:]
        for row in rows {
            found[try row.decode("ref")] = (try row.decode("id"), try row.decode("access_key"))
        }
        var resolved: [UUID] = []
        for reference in references {
            let key = UUID(uuidString: reference).map { $0.uuidString.lowercased() } ?? reference
            guard let match = found[key] else { throw SessionStoreRefusal.unknownDependency(reference) }
            guard match.owner == owner else { throw SessionStoreRefusal.foreignDependency(reference) }
            if !resolved.contains(match.id) { resolved.append(match.id) }
        }
        return resolved
    }

    public func session(nameOrID: String, owner: AccessKey) async throws -> SessionRecord? {
        if let id = UUID(uuidString: nameOrID) {
            return try await self.session(id: id)
        }
        return try await self.pool.query(
            """
            \(Self.columns) WHERE s.access_key = \(owner) AND s.name = \(nameOrID)
            ORDER BY (s.status NOT IN ('TERMINATED', 'CANCELLED')) DESC, s.created_at DESC LIMIT 1
            """
        ).first.map(Self.record)
    }

    public func touch(_ id: UUID) async throws {
        try await PostgresSessionStats.touch(id, pool: self.pool)
    }

    public func rename(_ id: UUID, to name: String) async throws -> Bool {
        do {
            return try await self.pool.query(
                "UPDATE sessions SET name = \(name) WHERE id = \(id) AND status = \(SessionStatus.running.rawValue)"
            ).affectedRows == 1
        } catch let error as PostgresError where error.code == .uniqueViolation {
            throw SessionStoreRefusal.duplicateName(name)
        }
    }

    public func session(id: UUID) async throws -> SessionRecord? {
        try await self.pool.query("\(Self.columns) WHERE s.id = \(id)").first.map(Self.record)
    }

    public func destroy(_ id: UUID, recursive: Bool, forced: Bool) async throws -> [SessionRecord] {
        try await self.pool.withTransaction { tx in
            // Dependents first (deepest first), then the root, as Backend.AI orders them.
            var targets: [UUID] = []
            if recursive {
                let rows = try await tx.query(
                    """
                    WITH RECURSIVE dependents(id, depth) AS (
                        SELECT session_id, 1 FROM session_dependencies WHERE depends_on = \(id)
                        UNION
                        SELECT d.session_id, dependents.depth + 1 FROM session_dependencies d
                        JOIN dependents ON d.depends_on = dependents.id WHERE dependents.depth < 1000
                    )
                    SELECT id, max(depth) AS depth FROM dependents GROUP BY id ORDER BY max(depth) DESC, id
                    """)
                targets = try rows.map { try $0.decode("id", as: UUID.self) }
            }
            targets.append(id)
            let rows = try await tx.query(
                "\(Self.columns) WHERE s.id = ANY(\(UUIDArray(targets))::uuid[]) FOR UPDATE OF s")
            var byID: [UUID: SessionRecord] = [:]
            for row in rows {
                let record = try Self.record(row)
                byID[record.id] = record
            }
            let now = Date()
            var changes: [SessionChangeWriter.Target] = []
            for target in targets {
                guard let session = byID[target] else { continue }
                let state = SessionState(
                    status: session.status, type: session.type, statusInfo: session.statusInfo.map { StatusInfo($0) },
                    hasAgent: session.agentID != nil)
                if let change = SessionLifecycle.decide(state, .destroy(forced: forced)).change {
                    changes.append(.init(id: target, change: change))
                }
            }
            var changed: [SessionRecord] = []
            for applied in try await SessionChangeWriter.apply(changes, in: tx, now: now) {
                guard var updated = byID[applied.id] else { continue }
                updated.status = applied.change.to
                updated.statusInfo = applied.change.statusInfo.rawValue
                updated.statusChanged = now
                changed.append(updated)
            }
            return changed
        }
    }

    public func restart(_ id: UUID) async throws -> IllegalTransition? {
        try await self.pool.withTransaction { tx in
            guard let row = try await tx.query("\(Self.columns) WHERE s.id = \(id) FOR UPDATE OF s").first else { return nil }
            let session = try Self.record(row)
            let state = SessionState(
                status: session.status, type: session.type, statusInfo: session.statusInfo.map { StatusInfo($0) },
                hasAgent: session.agentID != nil)
            switch SessionLifecycle.decide(state, .restart) {
            case .change(let change):
                _ = try await SessionChangeWriter.apply([.init(id: id, change: change)], in: tx, now: Date())
                return nil
            case .illegal(let refusal): return refusal
            case .unchanged, .orphaned: return IllegalTransition(from: session.status, trigger: "restart")
            }
        }
    }

    public func dependencies(of id: UUID) async throws -> [SessionRecord] {
        try await self.pool.query(
            "\(Self.columns) JOIN session_dependencies d ON d.depends_on = s.id WHERE d.session_id = \(id) ORDER BY s.created_at, s.id"
        ).map(Self.record)
    }

    public func dependencyNames(of ids: [UUID]) async throws -> [UUID: [(name: String, id: UUID)]] {
        guard !ids.isEmpty else { return [:] }
        let rows = try await self.pool.query(
            """
            SELECT d.session_id, s.name, s.id FROM session_dependencies d JOIN sessions s ON s.id = d.depends_on
            WHERE d.session_id = ANY(\(UUIDArray(ids))::uuid[]) ORDER BY d.session_id, s.created_at, s.id
            """)
        var names: [UUID: [(name: String, id: UUID)]] = [:]
        for row in rows {
            names[try row.decode("session_id"), default: []].append((try row.decode("name"), try row.decode("id")))
        }
        return names
    }

    public func logs(of id: UUID) async throws -> String {
        try await self.pool.query("SELECT content FROM session_logs WHERE session_id = \(id)").first?.decode("content") ?? ""
    }

    public func dependencyGraph(of id: UUID) async throws -> DependencyNode? {
        // One query for the reachable edges (each once: UNION drops repeats, so a diamond costs its edges, not its
        // paths), bounded; then the tree is built by `DependencyGraph`, each session expanded once.
        let graph = DependencyGraph<UUID>()
        let edgeLimit = graph.maxNodes * SessionCreateRequest.maxDependencies
        let edges = try await self.pool.query(
            """
            WITH RECURSIVE reach(session_id, depends_on) AS (
                SELECT session_id, depends_on FROM session_dependencies WHERE session_id = \(id)
                UNION
                SELECT d.session_id, d.depends_on FROM session_dependencies d JOIN reach r ON d.session_id = r.depends_on
            )
            SELECT session_id, depends_on FROM reach LIMIT \(edgeLimit)
            """)
        var children: [UUID: [UUID]] = [:]
        var ids: Set<UUID> = [id]
        for edge in edges {
            let from: UUID = try edge.decode("session_id")
            let to: UUID = try edge.decode("depends_on")
            children[from, default: []].append(to)
            ids.insert(to)
        }
        let rows = try await self.pool.query("\(Self.columns) WHERE s.id = ANY(\(UUIDArray(Array(ids)))::uuid[])")
        var records: [UUID: SessionRecord] = [:]
        for row in rows {
            let record = try Self.record(row)
            records[record.id] = record
        }
        for (node, list) in children {
            children[node] = list.sorted {
                (records[$0]?.createdAt ?? .distantPast, $0.uuidString) < (records[$1]?.createdAt ?? .distantPast, $1.uuidString)
            }
        }
        guard let tree = graph.tree(root: id, dependencies: { children[$0] ?? [] }, exists: { records[$0] != nil }) else {
            return nil
        }
        return DependencyNode(tree: tree, records: records, cutShort: edges.count >= edgeLimit)
    }

    public func list(_ query: SessionListQuery) async throws -> (items: [SessionRecord], total: Int) {
        let statuses = query.statuses.map(\.rawValue)
        let owner = query.owner?.rawValue
        var filter: SQL = "s.status = ANY(\(statuses)::text[]) AND (\(owner)::text IS NULL OR s.access_key = \(owner))"
        if let extra = query.filter { filter.append(" AND \(try ListFilterSQL.sessions.condition(extra))") }
        let order = try ListFilterSQL.sessions.orderBy(query.order)
        let page: SQL = "\(Self.columns(query.detail)) WHERE \(filter) ORDER BY \(order) LIMIT \(query.limit) OFFSET \(query.offset)"
        guard query.filter == nil else {
            // A filter's count scans the matching rows (an index-only scan where it can); it runs beside the page,
            // on another connection.
            async let counted = self.pool.query("SELECT count(*) AS n FROM sessions s WHERE \(filter)")
            let items = try await self.pool.query(page).map(Self.record)
            return (items, try await counted.first?.decode("n", as: Int.self) ?? 0)
        }
        // Statuses and owner only (what `ps` asks): the maintained counters, in the same trip as the page.
        let results = try await self.pool.withConnection { connection in
            try await connection.query([PostgresSessionCounts.count(statuses: query.statuses, owner: query.owner), page])
        }
        let total = try results.first?.first?.decode("n", as: Int.self) ?? 0
        return (try results.last?.map(Self.record) ?? [], total)
    }

    public func events(session: UUID?, owner: AccessKey?, after afterID: Int, limit: Int) async throws -> [SessionEventRecord] {
        let rows = try await self.pool.query(
            """
            SELECT id, name, session_id, session_name, access_key, reason, exit_code FROM events
            WHERE id > \(afterID) AND (\(session)::uuid IS NULL OR session_id = \(session))
              AND (\(owner?.rawValue)::text IS NULL OR access_key = \(owner?.rawValue))
            ORDER BY id LIMIT \(limit)
            """)
        return try rows.map { row in
            SessionEventRecord(
                id: try row.decode("id"), name: try row.decode("name"), sessionID: try row.decodeOptional("session_id"),
                sessionName: try row.decodeOptional("session_name"), accessKey: try row.decodeOptional("access_key"),
                reason: try row.decode("reason"), exitCode: try row.decodeOptional("exit_code"))
        }
    }

    static func record(_ row: PostgresRow) throws -> SessionRecord {
        func json(_ column: String) throws -> JSONValue { try JSONValue.decode(row.decode(column, as: JSONB.self).text) }
        var record = try Self.baseRecord(row, json)
        record.groupID = try row.decodeOptional("group_id")
        record.userEmail = try row.decodeOptional("user_email")
        if case .array(let names) = try json("mount_names") {
            record.mountNames = names.compactMap { if case .string(let name) = $0 { name } else { nil } }
        }
        return record
    }

    private static func baseRecord(_ row: PostgresRow, _ json: (String) throws -> JSONValue) throws -> SessionRecord {
        SessionRecord(
            id: try row.decode("id"), name: try row.decode("name"),
            type: SessionType(rawValue: try row.decode("session_type")) ?? .interactive,
            accessKey: try row.decode("access_key"), userID: try row.decode("user_uuid"), domainName: try row.decode("domain_name"),
            groupName: try row.decode("group_name"), scalingGroup: try row.decodeOptional("scaling_group_name"),
            agentID: try row.decodeOptional("agent_id"), image: try row.decode("image"), architecture: try row.decode("architecture"),
            tag: try row.decodeOptional("tag"), requestedSlots: try json("requested_slots"), occupyingSlots: try json("occupying_slots"),
            resourceOpts: try json("resource_opts"), startupCommand: try row.decodeOptional("startup_command"),
            callbackURL: try row.decodeOptional("callback_url"), startsAt: try row.decodeOptional("starts_at"),
            createdAt: try row.decode("created_at"), terminatedAt: try row.decodeOptional("terminated_at"),
            status: SessionStatus(rawValue: try row.decode("status")) ?? .error, statusInfo: try row.decodeOptional("status_info"),
            statusData: try json("status_data"), statusHistory: try json("status_history"),
            statusChanged: try row.decode("status_changed"),
            result: SessionResult(rawValue: try row.decode("result")) ?? .undefined, exitCode: try row.decodeOptional("exit_code"),
            lastStat: try row.decodeOptional("last_stat", as: JSONB.self).map { try JSONValue.decode($0.text) } ?? .null)
    }
}
