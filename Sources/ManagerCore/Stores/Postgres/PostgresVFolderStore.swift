import Foundation
import SchedulerKit

/// vfolder rows in PostgreSQL. Directories are the caller's business (`StorageVolumes`); every change of status is
/// recorded in `status_history` with its time, as Backend.AI does.
public struct PostgresVFolderStore: Sendable {
    let pool: PostgresPool

    static let columns: SQL = """
        SELECT v.id, v.host, v.name, v.usage_mode, v.permission, v.ownership_type, v.user_uuid, v.group_id, g.name AS group_name,
               v.creator, v.cloneable, v.status, v.created_at, v.last_used, v.num_files, v.cur_size
        FROM vfolders v LEFT JOIN groups g ON g.id = v.group_id
        """

    /// Folders the caller may see: their own, their projects', and those shared with them; with `everyone`
    /// (admins), all.
    static func visible(to identity: Identity, everyone: Bool = false) -> SQL {
        if everyone && identity.isAdmin { return "true" }
        return Self.reachable(by: identity.userID)
    }

    /// Own, project and shared folders of `userID`.
    static func reachable(by userID: UUID) -> SQL {
        """
        (v.user_uuid = \(userID)
         OR v.group_id IN (SELECT group_id FROM group_members WHERE user_id = \(userID))
         OR v.id IN (SELECT vfolder FROM vfolder_permissions WHERE user_id = \(userID)))
        """
    }

    static func historyEntry(_ status: VFolderStatus) -> SQL {
        "jsonb_build_object(\(status.rawValue)::text, \(Timestamp.pythonISO(Date()))::text)"
    }

    /// Inserts a ready folder; `prepare` (creating its directory) runs inside the transaction, so a failure leaves no row.
    func create(
        _ creation: VFolderCreation, identity: Identity, prepare: @Sendable (UUID) throws -> Void
    ) async throws -> VFolderRecord {
        try await self.pool.withTransaction { tx in
            let id = UUID()
            let groupID = try await Self.resolveGroup(creation.group, identity: identity, in: tx)
            try await Self.checkPolicy(identity, host: creation.host, bytes: 0, personal: groupID == nil, in: tx)
            do {
                try await tx.execute(
                    """
                    INSERT INTO vfolders (id, host, name, domain_name, usage_mode, permission, ownership_type, user_uuid, group_id,
                                          creator, cloneable, status, status_history)
                    VALUES (\(id), \(creation.host), \(creation.name.rawValue), \(identity.domainName), \(creation.usageMode.rawValue),
                            \(creation.permission.rawValue), \(groupID == nil ? "user" : "group"),
                            \(groupID == nil ? identity.userID : nil), \(groupID), \(identity.email), \(creation.cloneable), 'ready',
                            \(Self.historyEntry(.ready)))
                    """)
            } catch let error as PostgresError where error.code == .uniqueViolation {
                throw VFolderRefusal.duplicateName(creation.name.rawValue)
            }
            try prepare(id)
            guard let row = try await tx.query("\(Self.columns) WHERE v.id = \(id)").first else {
                throw PostgresError(.decoding, message: "the new folder vanished")
            }
            return try Self.record(row)
        }
    }

    /// The folder's status, nil when there is no such folder.
    func status(_ id: UUID) async throws -> VFolderStatus? {
        try await self.pool.query("SELECT status FROM vfolders WHERE id = \(id)").first
            .flatMap { VFolderStatus(rawValue: try $0.decode("status")) }
    }

    /// Renames a folder; refused when the name is taken (among the owner's live folders).
    func rename(_ id: UUID, to name: VFolderName) async throws {
        do {
            try await self.pool.query("UPDATE vfolders SET name = \(name.rawValue) WHERE id = \(id)")
        } catch let error as PostgresError where error.code == .uniqueViolation {
            throw VFolderRefusal.duplicateName(name.rawValue)
        }
    }

    /// `max_vfolder_size` against a write of `bytes` more into `folder` (what it holds now is counted on disk).
    func checkWrite(_ identity: Identity, folder: VFolderRecord, bytes: Int, usage: @escaping @Sendable () throws -> Int64) async throws {
        let limit = try await self.pool.query(
            """
            SELECT p.max_vfolder_size FROM keypairs k JOIN keypair_resource_policies p ON p.name = k.resource_policy
            WHERE k.access_key = \(identity.accessKey)
            """
        ).first?.decode("max_vfolder_size", as: Int.self) ?? 0
        guard limit > 0 else { return }
        let held = try await BlockingExecutor.shared.run(name: "vfolder-usage", usage)
        let total = Int(clamping: held) + bytes
        if total > limit { throw VFolderRefusal.tooLarge(bytes: total, limit: limit) }
    }

    /// The caller's keypair resource policy against one more folder on `host` (`personal`: of their own) holding
    /// `bytes`: `allowed_vfolder_hosts` (host → permissions; empty: every host; a host with a non-empty list needs
    /// `create-vfolder` in it), and for personal folders `max_vfolder_count` (folders not deleted) and
    /// `max_vfolder_size` (0: unlimited), under a lock per user so concurrent creations count each other.
    static func checkPolicy(_ identity: Identity, host: String, bytes: Int, personal: Bool, in tx: PostgresSession) async throws {
        let rows = try await tx.query([
            "SELECT pg_advisory_xact_lock(7416, hashtext(\(identity.userID.uuidString))) WHERE \(personal)",
            """
            SELECT p.max_vfolder_count, p.max_vfolder_size, p.allowed_vfolder_hosts,
                   (SELECT count(*) FROM vfolders v WHERE v.user_uuid = \(identity.userID) AND v.ownership_type = 'user'
                      AND v.status NOT IN ('delete-ongoing', 'delete-complete')) AS owned
            FROM keypairs k JOIN keypair_resource_policies p ON p.name = k.resource_policy
            WHERE k.access_key = \(identity.accessKey)
            """,
        ])
        guard let row = rows[1].first else { return }
        if case .object(let hosts) = try JSONValue.decode(row.decode("allowed_vfolder_hosts", as: JSONB.self).text), !hosts.isEmpty {
            guard let permissions = hosts.first(where: { $0.key == host })?.value else { throw VFolderRefusal.hostNotAllowed(host) }
            if case .array(let items) = permissions, !items.isEmpty, !items.contains(.string("create-vfolder")) {
                throw VFolderRefusal.hostNotAllowed(host)
            }
        }
        guard personal else { return }
        let maxCount: Int = try row.decode("max_vfolder_count")
        let maxSize: Int = try row.decode("max_vfolder_size")
        if maxCount > 0, try row.decode("owned", as: Int.self) >= maxCount { throw VFolderRefusal.tooManyFolders(limit: maxCount) }
        if maxSize > 0, bytes > maxSize { throw VFolderRefusal.tooLarge(bytes: bytes, limit: maxSize) }
    }

    /// A project by name or id, of which the caller is a member (admins: any in their domain).
    static func resolveGroup(_ reference: String?, identity: Identity, in tx: PostgresSession) async throws -> UUID? {
        guard let reference, !reference.isEmpty else { return nil }
        let id = UUID(uuidString: reference)
        guard let row = try await tx.query(
            """
            SELECT g.id, EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.user_id = \(identity.userID)) AS member
            FROM groups g
            WHERE g.is_active AND g.domain_name = \(identity.domainName) AND (g.id = \(id) OR g.name = \(reference))
            LIMIT 1
            """
        ).first else { throw VFolderRefusal.unknownGroup(reference) }
        let member: Bool = try row.decode("member")
        guard member || identity.isAdmin else { throw VFolderRefusal.notGroupMember(reference) }
        return try row.decode("id")
    }

    /// The caller's folder called `reference` (or with that id): their own first, then their projects'; admins may
    /// also reach anyone's by id.
    func find(_ reference: String, identity: Identity) async throws -> VFolderRecord? {
        let id = UUID(uuidString: reference) ?? Self.uuid(hex: reference)
        let rows = try await self.pool.query(
            """
            \(Self.columns)
            WHERE (v.status NOT IN ('delete-ongoing', 'delete-complete', 'delete-error')
                   AND v.name = \(reference) AND \(Self.visible(to: identity)))
               -- By id, a folder whose purge failed is still found, so that the purge can be retried.
               OR (v.status NOT IN ('delete-ongoing', 'delete-complete')
                   AND v.id = \(id) AND \(Self.visible(to: identity, everyone: true)))
            ORDER BY (v.id = \(id)) DESC NULLS LAST, (v.user_uuid = \(identity.userID)) DESC NULLS LAST,
                     (v.status = 'delete-pending'), v.created_at
            LIMIT 1
            """)
        return try rows.first.map(Self.record)
    }

    /// 32 hex digits (Backend.AI's id form) as a UUID.
    static func uuid(hex: String) -> UUID? {
        guard hex.count == 32, hex.allSatisfy(\.isHexDigit) else { return nil }
        let c = Array(hex)
        return UUID(uuidString: "\(String(c[0..<8]))-\(String(c[8..<12]))-\(String(c[12..<16]))-\(String(c[16..<20]))-\(String(c[20...]))")
    }

    /// Which folders a list shows.
    enum ListScope: Sendable {
        /// The caller's own (`vfolder_own_list`).
        case own
        /// Own and the caller's projects'.
        case visible
        /// All (admins only; others get `visible`).
        case everyone
        /// Shared with the caller by others (`vfolder_invited_list`).
        case invited
        /// The caller's projects' (`vfolder_project_list`).
        case project
    }

    /// Folders in `scope`, newest first, with the total count.
    /// With `group`, only that project's folders (among those `scope` reaches).
    func list(
        identity: Identity, scope: ListScope, group: UUID? = nil, limit: Int, offset: Int
    ) async throws -> (items: [VFolderRecord], total: Int) {
        let reach: SQL
        switch scope {
        case .own: reach = "v.user_uuid = \(identity.userID)"
        case .visible: reach = Self.visible(to: identity)
        case .everyone: reach = Self.visible(to: identity, everyone: true)
        case .invited: reach = "v.id IN (SELECT vfolder FROM vfolder_permissions WHERE user_id = \(identity.userID)) AND v.user_uuid IS DISTINCT FROM \(identity.userID)"
        case .project: reach = "v.group_id IN (SELECT group_id FROM group_members WHERE user_id = \(identity.userID))"
        }
        let condition: SQL = """
            v.status NOT IN ('delete-ongoing', 'delete-complete', 'delete-error') AND \(reach)
              AND (\(group)::uuid IS NULL OR v.group_id = \(group))
            """
        let rows = try await self.pool.query(
            "\(Self.columns) WHERE \(condition) ORDER BY v.created_at DESC, v.id LIMIT \(limit) OFFSET \(offset)")
        let total: Int = try await self.pool.query("SELECT count(*)::int AS n FROM vfolders v WHERE \(condition)").first?.decode("n") ?? 0
        return (try rows.map(Self.record), total)
    }

    /// Names of live sessions that mount the folder.
    static func mountingSessions(_ id: UUID, in tx: PostgresSession) async throws -> [String] {
        try await tx.query(
            """
            SELECT name FROM sessions
            WHERE status NOT IN ('TERMINATED', 'CANCELLED', 'ERROR')
              AND vfolder_mounts @> jsonb_build_array(jsonb_build_object('id', \(id.uuidString.lowercased())::text))
            ORDER BY created_at LIMIT 10
            """
        ).map { try $0.decode("name") }
    }

    /// Moves a folder to the trash (`delete-pending`), refused while a live session mounts it.
    func trash(_ id: UUID) async throws {
        try await self.pool.withTransaction { tx in
            guard let row = try await tx.query("SELECT name, status FROM vfolders WHERE id = \(id) FOR UPDATE").first else { return }
            let name: String = try row.decode("name")
            let status = VFolderStatus(rawValue: try row.decode("status")) ?? .error
            guard status.isDeletable else { throw VFolderRefusal.wrongStatus(name: name, status: status, operation: "delete") }
            let sessions = try await Self.mountingSessions(id, in: tx)
            guard sessions.isEmpty else { throw VFolderRefusal.mounted(name: name, sessions: sessions) }
            try await Self.setStatus(id, to: .deletePending, in: tx)
        }
    }

    /// Back from the trash to `ready`; a folder of the same name made since is a conflict.
    func restore(_ id: UUID) async throws {
        try await self.pool.withTransaction { tx in
            guard let row = try await tx.query("SELECT name, status FROM vfolders WHERE id = \(id) FOR UPDATE").first else { return }
            let name: String = try row.decode("name")
            let status = VFolderStatus(rawValue: try row.decode("status")) ?? .error
            guard status == .deletePending else { throw VFolderRefusal.wrongStatus(name: name, status: status, operation: "restore") }
            do {
                try await Self.setStatus(id, to: .ready, in: tx)
            } catch let error as PostgresError where error.code == .uniqueViolation {
                throw VFolderRefusal.duplicateName(name)
            }
        }
    }

    /// `delete-pending` → `delete-ongoing`; the caller removes the directory, then calls `finishPurge`.
    func beginPurge(_ id: UUID) async throws {
        try await self.pool.withTransaction { tx in
            guard let row = try await tx.query("SELECT name, status FROM vfolders WHERE id = \(id) FOR UPDATE").first else { return }
            let name: String = try row.decode("name")
            let status = VFolderStatus(rawValue: try row.decode("status")) ?? .error
            guard status == .deletePending || status == .deleteError else {
                throw VFolderRefusal.wrongStatus(name: name, status: status, operation: "purge")
            }
            try await Self.setStatus(id, to: .deleteOngoing, in: tx)
        }
    }

    func finishPurge(_ id: UUID, succeeded: Bool) async throws {
        try await self.pool.withTransaction { tx in
            try await Self.setStatus(id, to: succeeded ? .deleteComplete : .deleteError, in: tx)
        }
    }

    static func setStatus(_ id: UUID, to status: VFolderStatus, in tx: PostgresSession, onlyFrom: [VFolderStatus]? = nil) async throws {
        var sql: SQL = """
            UPDATE vfolders SET status = \(status.rawValue), status_changed = now(),
                status_history = status_history || \(Self.historyEntry(status))
            WHERE id = \(id)
            """
        if let onlyFrom { sql.append(" AND status = ANY(\(onlyFrom.map(\.rawValue))::text[])") }
        try await tx.execute(sql)
    }

    /// One transaction: checks the source, inserts the target as `cloning` and the task that fills it.
    func beginClone(
        bytes: Int, source: VFolderRecord, target: VFolderCreation, identity: Identity, taskID: UUID, params: @Sendable (UUID) -> JSONValue,
        replica: String, lease: Duration
    ) async throws -> VFolderRecord {
        try await self.pool.withTransaction { tx in
            guard let row = try await tx.query("SELECT status, cloneable FROM vfolders WHERE id = \(source.id) FOR SHARE").first else {
                throw VFolderRefusal.wrongStatus(name: source.name, status: .deleteComplete, operation: "clone")
            }
            let status = VFolderStatus(rawValue: try row.decode("status")) ?? .error
            guard try row.decode("cloneable", as: Bool.self) else { throw VFolderRefusal.notCloneable }
            guard status.isUpdatable else { throw VFolderRefusal.wrongStatus(name: source.name, status: status, operation: "clone") }
            let id = UUID()
            let groupID = try await Self.resolveGroup(target.group, identity: identity, in: tx)
            try await Self.checkPolicy(identity, host: target.host, bytes: bytes, personal: groupID == nil, in: tx)
            do {
                try await tx.execute(
                    """
                    INSERT INTO vfolders (id, host, name, domain_name, usage_mode, permission, ownership_type, user_uuid, group_id,
                                          creator, cloneable, status, status_history)
                    VALUES (\(id), \(target.host), \(target.name.rawValue), \(identity.domainName), \(target.usageMode.rawValue),
                            \(target.permission.rawValue), \(groupID == nil ? "user" : "group"),
                            \(groupID == nil ? identity.userID : nil), \(groupID), \(identity.email), \(target.cloneable),
                            'cloning', \(Self.historyEntry(.cloning)))
                    """)
            } catch let error as PostgresError where error.code == .uniqueViolation {
                throw VFolderRefusal.duplicateName(target.name.rawValue)
            }
            try await PostgresBackgroundTaskStore.insert(
                tx, id: taskID, kind: VFolderCloneJob.kind, owner: identity.accessKey, params: params(id), replica: replica,
                lease: lease)
            guard let created = try await tx.query("\(Self.columns) WHERE v.id = \(id)").first else {
                throw PostgresError(.decoding, message: "the new folder vanished")
            }
            return try Self.record(created)
        }
    }

    /// The clone is complete: the target becomes `ready` (in the task's final transaction).
    static func finishClone(_ id: UUID, files: Int, bytes: Int, in tx: PostgresSession) async throws {
        try await tx.execute(
            """
            UPDATE vfolders SET status = 'ready', status_changed = now(), num_files = \(files), cur_size = \(bytes),
                status_history = status_history || \(Self.historyEntry(.ready))
            WHERE id = \(id) AND status = 'cloning'
            """)
    }

    /// The clone failed, was cancelled or interrupted, and its directory is gone: the target is marked deleted.
    func abandonClone(_ id: UUID) async throws {
        try await self.pool.withTransaction { tx in
            try await Self.setStatus(id, to: .deleteComplete, in: tx, onlyFrom: [.cloning])
        }
    }

    static func record(_ row: PostgresRow) throws -> VFolderRecord {
        VFolderRecord(
            id: try row.decode("id"), host: try row.decode("host"), name: try row.decode("name"),
            usageMode: try row.decode("usage_mode"), permission: try row.decode("permission"),
            ownershipType: try row.decode("ownership_type"), userID: try row.decodeOptional("user_uuid"),
            groupID: try row.decodeOptional("group_id"), groupName: try row.decodeOptional("group_name"),
            creator: try row.decode("creator"), cloneable: try row.decode("cloneable"),
            status: VFolderStatus(rawValue: try row.decode("status")) ?? .error, createdAt: try row.decode("created_at"),
            lastUsed: try row.decodeOptional("last_used"), numFiles: try row.decode("num_files"), curSize: try row.decode("cur_size"))
    }
}
