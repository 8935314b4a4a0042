import Foundation
import SchedulerKit

/// What an operator changes on a user (`admin user update|delete|purge`). Each method is one transaction; a purge is
/// two (`beginPurge`, `finishPurge`), with the folders' files removed between them, outside any transaction.
extension PostgresAccountStore {
    /// The fields `modify_user` sets; nil leaves one as it is.
    struct UserChanges: Sendable {
        var passwordHash: String?
        var username: String?
        var fullName: String?
        var description: String?
        var domainName: String?
        var role: String?
        var status: String?
        var needPasswordChange: Bool?
        /// Replaces the user's projects (all in the user's domain).
        var groupIDs: [UUID]?
        var mainAccessKey: AccessKey?
    }

    enum EditRefusal: Error, Equatable, CustomStringConvertible {
        case notTheirKeypair(String)
        case liveSessions(Int)
        case mountedFolder(String)

        var description: String {
            switch self {
            case .notTheirKeypair(let key): return "main_access_key: '\(key.prefix(64))' is not one of the user's keypairs."
            case .liveSessions(let count):
                return "The user has \(count) session(s) that have not ended; terminate them first."
            case .mountedFolder(let name): return "The folder '\(name.prefix(64))' is mounted by a session that has not ended."
            }
        }
    }

    /// Applies `changes` to the user `email`. A new role sets the admin flag of the user's keypairs (Backend.AI's
    /// rule); a new domain drops the projects of the old one unless `groupIDs` names new ones.
    func modifyUser(email: String, _ changes: UserChanges) async throws {
        try await self.pool.withTransaction { tx in
            guard let row = try await tx.query("SELECT uuid, domain_name, role FROM users WHERE email = \(email) FOR UPDATE").first else {
                throw Refusal.unknownUser(email)
            }
            let id: UUID = try row.decode("uuid")
            let oldRole: String = try row.decode("role")
            if let key = changes.mainAccessKey {
                let owned = try await tx.query("SELECT 1 FROM keypairs WHERE access_key = \(key) AND user_id = \(id)")
                guard !owned.isEmpty else { throw EditRefusal.notTheirKeypair(key.rawValue) }
            }
            do {
                try await tx.execute(
                    """
                    UPDATE users SET
                        username = coalesce(\(changes.username), username), full_name = coalesce(\(changes.fullName), full_name),
                        description = coalesce(\(changes.description), description),
                        domain_name = coalesce(\(changes.domainName), domain_name), role = coalesce(\(changes.role), role),
                        status = coalesce(\(changes.status), status), is_active = coalesce(\(changes.status), status) = 'active',
                        need_password_change = coalesce(\(changes.needPasswordChange), need_password_change),
                        password_hash = coalesce(\(secret: changes.passwordHash), password_hash),
                        main_access_key = coalesce(\(changes.mainAccessKey), main_access_key), modified_at = now()
                    WHERE uuid = \(id)
                    """)
            } catch let error as PostgresError where error.code == .foreignKeyViolation {
                throw Refusal.unknownDomain(changes.domainName ?? "")
            }
            if let role = changes.role, role != oldRole {
                try await tx.execute(
                    "UPDATE keypairs SET is_admin = \(["superadmin", "admin"].contains(role)) WHERE user_id = \(id)")
            }
            if let groupIDs = changes.groupIDs {
                try await tx.execute("DELETE FROM group_members WHERE user_id = \(id)")
                let joined = try await tx.execute(
                    """
                    INSERT INTO group_members (group_id, user_id)
                    SELECT g.id, u.uuid FROM groups g JOIN users u ON u.domain_name = g.domain_name
                    WHERE u.uuid = \(id) AND g.id = ANY(\(UUIDArray(groupIDs))::uuid[])
                    """)
                if joined != Set(groupIDs).count { throw Refusal.unknownGroup }
            } else if changes.domainName != nil {
                try await tx.execute(
                    """
                    DELETE FROM group_members m USING groups g, users u
                    WHERE m.user_id = \(id) AND g.id = m.group_id AND u.uuid = m.user_id AND g.domain_name <> u.domain_name
                    """)
            }
        }
    }

    /// `delete_user`: the user becomes `deleted` and their keypairs inactive; nothing is removed (Backend.AI's rule).
    func deactivateUser(email: String) async throws {
        try await self.pool.withTransaction { tx in
            let rows = try await tx.query(
                """
                UPDATE users SET status = 'deleted', is_active = false, modified_at = now() WHERE email = \(email) RETURNING uuid
                """)
            guard let row = rows.first else { throw Refusal.unknownUser(email) }
            let id: UUID = try row.decode("uuid")
            try await tx.execute("UPDATE keypairs SET is_active = false WHERE user_id = \(id)")
        }
    }

    /// What a purge removes once the folders' files are gone.
    struct PurgePlan: Sendable {
        let userID: UUID
        /// Folders to remove from disk (already `delete-ongoing`).
        let folders: [(id: UUID, host: String)]
        /// Shared folders handed to the purging admin.
        let transferred: Int
    }

    /// First step of `purge_user`: refuses while the user has sessions that have not ended (or a folder of theirs is
    /// mounted by one); marks the user `deleted`, their keypairs inactive, hands shared folders to `admin` (unless
    /// `purgeShared`) and marks the others `delete-ongoing`.
    func beginPurge(email: String, admin: UUID, purgeShared: Bool) async throws -> PurgePlan {
        try await self.pool.withTransaction { tx in
            guard let row = try await tx.query("SELECT uuid FROM users WHERE email = \(email) FOR UPDATE").first else {
                throw Refusal.unknownUser(email)
            }
            let id: UUID = try row.decode("uuid")
            let live: Int = try await tx.query(
                """
                SELECT count(*)::int AS n FROM sessions WHERE user_uuid = \(id) AND NOT (status = ANY(\(Self.endedStatuses)::text[]))
                """
            ).first?.decode("n") ?? 0
            guard live == 0 else { throw EditRefusal.liveSessions(live) }
            let folders = try await tx.query(
                """
                SELECT v.id, v.host, v.name,
                       EXISTS (SELECT 1 FROM vfolder_permissions p WHERE p.vfolder = v.id AND p.user_id <> \(id)) AS shared,
                       EXISTS (SELECT 1 FROM sessions s WHERE s.vfolder_mounts @> jsonb_build_array(jsonb_build_object('id', v.id::text))
                               AND NOT (s.status = ANY(\(Self.endedStatuses)::text[]))) AS mounted
                FROM vfolders v WHERE v.ownership_type = 'user' AND v.user_uuid = \(id) AND v.status <> 'delete-complete'
                FOR UPDATE OF v
                """)
            var remove: [(id: UUID, host: String)] = []
            var transferred = 0
            for folder in folders {
                let folderID: UUID = try folder.decode("id")
                let name: String = try folder.decode("name")
                if try folder.decode("shared", as: Bool.self), !purgeShared {
                    // Kept for the users it is shared with; the admin owns it now (renamed if the admin has that name).
                    try await tx.execute(
                        """
                        UPDATE vfolders SET user_uuid = \(admin),
                            name = CASE WHEN EXISTS (SELECT 1 FROM vfolders o WHERE o.user_uuid = \(admin) AND o.name = \(name)
                                                     AND o.status NOT LIKE 'delete-%')
                                        THEN left(\(name), 55) || '-' || left(md5(\(folderID)::text), 8) ELSE \(name) END
                        WHERE id = \(folderID)
                        """)
                    try await tx.execute("DELETE FROM vfolder_permissions WHERE vfolder = \(folderID) AND user_id = \(admin)")
                    transferred += 1
                    continue
                }
                guard !(try folder.decode("mounted", as: Bool.self)) else { throw EditRefusal.mountedFolder(name) }
                try await PostgresVFolderStore.setStatus(folderID, to: .deleteOngoing, in: tx)
                remove.append((folderID, try folder.decode("host")))
            }
            try await tx.execute("UPDATE users SET status = 'deleted', is_active = false, modified_at = now() WHERE uuid = \(id)")
            try await tx.execute("UPDATE keypairs SET is_active = false WHERE user_id = \(id)")
            return PurgePlan(userID: id, folders: remove, transferred: transferred)
        }
    }

    /// Last step of `purge_user`: with every folder removed, deletes the user's session history, invitations and the
    /// user (its keypairs, memberships, shares and folder rows go with it). Folders whose removal failed are marked
    /// `delete-error` and the user stays `deleted`, so the purge can be run again.
    func finishPurge(_ plan: PurgePlan, failed: Set<UUID>) async throws {
        try await self.pool.withTransaction { tx in
            guard failed.isEmpty else {
                for id in failed { try await PostgresVFolderStore.setStatus(id, to: .deleteError, in: tx) }
                return
            }
            guard let email: String = try await tx.query("SELECT email FROM users WHERE uuid = \(plan.userID) FOR UPDATE").first?.decode("email")
            else { return }
            try await tx.execute("DELETE FROM sessions WHERE user_uuid = \(plan.userID)")
            try await tx.execute("DELETE FROM vfolder_invitations WHERE invitee = \(email) OR inviter = \(email)")
            try await tx.execute("DELETE FROM users WHERE uuid = \(plan.userID)")
        }
    }

    static let endedStatuses: [String] = SessionStatus.allCases.filter(\.hasEnded).map(\.rawValue)
}
