import Foundation

/// One invitation to a folder, as `GET /folders/invitations/list` shows it.
struct VFolderInvitation: Sendable {
    let id: UUID
    let folder: UUID
    let folderName: String
    let inviter: String
    let invitee: String
    let permission: String
    let state: String
    let createdAt: Date
    let modifiedAt: Date
}

/// Sharing (Backend.AI's `vfolder_invitations` and `vfolder_permissions`): invitations to personal folders, and the
/// per-user permissions that accepted invitations and project-folder shares give.
extension PostgresVFolderStore {
    /// The permission `identity` holds on `folder`: their own folder and admins `wd`; a permission of their own
    /// (shared) over the folder's; else the folder's (project members).
    func effectivePermission(_ folder: VFolderRecord, identity: Identity) async throws -> VFolderPermission {
        if folder.isOwned(by: identity) || identity.isAdmin { return .readWriteDelete }
        let own: String? = try await self.pool.query(
            "SELECT permission FROM vfolder_permissions WHERE vfolder = \(folder.id) AND user_id = \(identity.userID)"
        ).first?.decode("permission")
        return VFolderPermission(rawValue: own ?? folder.permission) ?? .readOnly
    }

    /// Invites the users with `emails` (existing, active, not the owner) to `folder`; returns those invited now.
    func invite(_ folder: VFolderRecord, by identity: Identity, emails: [String], permission: VFolderPermission) async throws -> [String] {
        try await self.pool.query(
            """
            INSERT INTO vfolder_invitations (vfolder, inviter, invitee, permission)
            SELECT \(folder.id), \(identity.email), u.email, \(permission.rawValue) FROM users u
            WHERE u.email = ANY(\(emails)::text[]) AND u.is_active AND u.uuid <> \(identity.userID)
              AND NOT EXISTS (SELECT 1 FROM vfolder_permissions p WHERE p.vfolder = \(folder.id) AND p.user_id = u.uuid)
            ON CONFLICT (vfolder, invitee) WHERE state = 'pending' DO NOTHING
            RETURNING invitee
            """
        ).map { try $0.decode("invitee", as: String.self) }
    }

    /// Pending invitations to `identity`.
    func invitations(for identity: Identity) async throws -> [VFolderInvitation] {
        try await self.pool.query(
            """
            SELECT i.id, i.vfolder, v.name, i.inviter, i.invitee, i.permission, i.state, i.created_at, i.modified_at
            FROM vfolder_invitations i JOIN vfolders v ON v.id = i.vfolder
            WHERE i.invitee = \(identity.email) AND i.state = 'pending' AND v.status NOT LIKE 'delete-%'
            ORDER BY i.created_at
            """
        ).map { row in
            VFolderInvitation(
                id: try row.decode("id"), folder: try row.decode("vfolder"), folderName: try row.decode("name"),
                inviter: try row.decode("inviter"), invitee: try row.decode("invitee"), permission: try row.decode("permission"),
                state: try row.decode("state"), createdAt: try row.decode("created_at"), modifiedAt: try row.decode("modified_at"))
        }
    }

    enum InvitationOutcome: Sendable, Equatable {
        case done
        case notFound
        /// The invitee already has a folder of that name.
        case nameTaken(String)
    }

    /// The invitee accepts: the permission becomes theirs, in one transaction.
    func accept(invitation id: UUID, by identity: Identity) async throws -> InvitationOutcome {
        try await self.pool.withTransaction { tx in
            guard let row = try await tx.query(
                """
                SELECT i.vfolder, i.permission, v.name FROM vfolder_invitations i JOIN vfolders v ON v.id = i.vfolder
                WHERE i.id = \(id) AND i.invitee = \(identity.email) AND i.state = 'pending' FOR UPDATE OF i
                """
            ).first else { return .notFound }
            let name: String = try row.decode("name")
            let taken = try await tx.query(
                "SELECT 1 FROM vfolders v WHERE v.name = \(name) AND v.status NOT LIKE 'delete-%' AND \(Self.reachable(by: identity.userID))"
            ).first != nil
            if taken { return .nameTaken(name) }
            let folder: UUID = try row.decode("vfolder")
            try await tx.query([
                """
                INSERT INTO vfolder_permissions (vfolder, user_id, permission) VALUES (\(folder), \(identity.userID), \(try row.decode("permission", as: String.self)))
                ON CONFLICT (vfolder, user_id) DO UPDATE SET permission = EXCLUDED.permission
                """,
                "UPDATE vfolder_invitations SET state = 'accepted', modified_at = now() WHERE id = \(id)",
            ])
            return .done
        }
    }

    /// The invitee rejects, or the inviter cancels, a pending invitation.
    func deleteInvitation(_ id: UUID, by identity: Identity) async throws -> InvitationOutcome {
        let updated = try await self.pool.query(
            """
            UPDATE vfolder_invitations SET state = CASE WHEN invitee = \(identity.email) THEN 'rejected' ELSE 'canceled' END,
                modified_at = now()
            WHERE id = \(id) AND state = 'pending' AND (invitee = \(identity.email) OR inviter = \(identity.email))
            """)
        return updated.affectedRows == 1 ? .done : .notFound
    }

    /// Drops `userID`'s own permission on `folder`; false when they had none.
    func leave(_ folder: VFolderRecord, userID: UUID) async throws -> Bool {
        try await self.pool.query(
            "DELETE FROM vfolder_permissions WHERE vfolder = \(folder.id) AND user_id = \(userID)"
        ).affectedRows == 1
    }

    /// Gives the project members with `emails` their own permission on a project folder; returns those changed.
    func share(_ folder: VFolderRecord, emails: [String], permission: VFolderPermission) async throws -> [String] {
        guard let group = folder.groupID else { return [] }
        return try await self.pool.query(
            """
            WITH members AS (
                SELECT u.uuid, u.email FROM users u JOIN group_members m ON m.user_id = u.uuid
                WHERE m.group_id = \(group) AND u.email = ANY(\(emails)::text[])
            ), written AS (
                INSERT INTO vfolder_permissions (vfolder, user_id, permission)
                SELECT \(folder.id), uuid, \(permission.rawValue) FROM members
                ON CONFLICT (vfolder, user_id) DO UPDATE SET permission = EXCLUDED.permission
                RETURNING user_id
            )
            SELECT m.email FROM members m JOIN written w ON w.user_id = m.uuid ORDER BY m.email
            """
        ).map { try $0.decode("email", as: String.self) }
    }

    /// Removes the own permissions of the users with `emails`; returns those removed.
    func unshare(_ folder: VFolderRecord, emails: [String]) async throws -> [String] {
        try await self.pool.query(
            """
            DELETE FROM vfolder_permissions p USING users u
            WHERE p.vfolder = \(folder.id) AND p.user_id = u.uuid AND u.email = ANY(\(emails)::text[])
            RETURNING u.email
            """
        ).map { try $0.decode("email", as: String.self) }
    }

    /// The owner changes the folder's default permission or whether it may be cloned.
    func updateOptions(_ folder: VFolderRecord, permission: VFolderPermission?, cloneable: Bool?) async throws {
        try await self.pool.query(
            """
            UPDATE vfolders SET permission = coalesce(\(permission?.rawValue), permission), cloneable = coalesce(\(cloneable), cloneable)
            WHERE id = \(folder.id)
            """)
    }
}
