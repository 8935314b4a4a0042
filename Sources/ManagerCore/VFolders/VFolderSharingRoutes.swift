import Foundation
import Hummingbird
import Logging
import SchedulerKit

/// Sharing, as the CLI's `vfolder invite / invitations / share / unshare / leave / update-options` send it: an owner
/// invites users to a personal folder (they accept or reject); an owner or admin gives project members their own
/// permission on a project folder; a user leaves a folder shared with them.
struct VFolderSharingRoutes {
    let folders: PostgresVFolderStore
    let files: VFolderFileRoutes
    let maxBodySize: Int

    func register(on router: Router<ManagerRequestContext>) {
        router.post("/folders/:name/invite", use: self.invite)
        router.get("/folders/invitations/list", use: self.invitations)
        router.post("/folders/invitations/accept", use: self.accept)
        router.delete("/folders/invitations/delete", use: self.deleteInvitation)
        router.post("/folders/:name/share", use: self.share)
        router.delete("/folders/:name/unshare", use: self.unshare)
        router.post("/folders/:name/leave", use: self.leave)
        router.post("/folders/:name/update-options", use: self.updateOptions)
    }

    private func body(_ request: Request) async throws -> JSONFields {
        try JSONFields(try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize))
    }

    /// A list of 1 to 100 email addresses in `field`.
    private static func emails(_ body: JSONFields, _ field: String) throws -> [String] {
        guard case .array(let items)? = body.pairs[field], (1...100).contains(items.count) else {
            throw APIError.invalidAPIParams("'\(field)' must be a list of 1 to 100 email addresses.")
        }
        return try items.map { item in
            guard case .string(let email) = item, email.contains("@"), email.utf8.count <= 254, !email.utf8.contains(0) else {
                throw APIError.invalidAPIParams("'\(field)' must be a list of email addresses.")
            }
            return email
        }
    }

    private static func permission(_ body: JSONFields, _ keys: String...) throws -> VFolderPermission? {
        for key in keys {
            if let text = try body.string(key) {
                guard let permission = VFolderPermission(rawValue: text) else {
                    throw APIError.invalidAPIParams("'\(key)' must be one of ro, rw, wd.")
                }
                return permission
            }
        }
        return nil
    }

    private static func invitationID(_ body: JSONFields) throws -> UUID {
        guard let id = UUID(uuidString: try body.requiredString("inv_id", maxLength: 64)) else {
            throw APIError.invalidAPIParams("'inv_id' is not an invitation id.")
        }
        return id
    }

    @Sendable func invite(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let folder = try await self.files.resolve(context)
        guard folder.isOwned(by: identity) else { throw APIError.forbidden("Only the folder's owner may invite others.") }
        guard folder.groupID == nil else {
            throw APIError.invalidAPIParams("A project folder is shared with `share`, not invitations.")
        }
        let body = try await self.body(request)
        let permission = try Self.permission(body, "perm", "permission") ?? .readWrite
        let invited = try await self.folders.invite(folder, by: identity, emails: try Self.emails(body, "user_ids"), permission: permission)
        context.logger.info("vfolder invitations sent", metadata: ["vfolder_id": "\(folder.id)", "count": "\(invited.count)"])
        return JSONResponse.raw(JSONValue.object([("invited_ids", .array(invited.map(JSONValue.string)))]).text, status: .created)
    }

    @Sendable func invitations(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let items: [JSONValue] = try await self.folders.invitations(for: identity).map { invitation in
            .object([
                ("id", .string(invitation.id.uuidString.lowercased())), ("inviter", .string(invitation.inviter)),
                ("invitee", .string(invitation.invitee)), ("perm", .string(invitation.permission)),
                ("state", .string(invitation.state)), ("created_at", .string(Timestamp.pythonISO(invitation.createdAt))),
                ("modified_at", .string(Timestamp.pythonISO(invitation.modifiedAt))),
                ("vfolder_id", .string(invitation.folder.uuidString.lowercased())), ("vfolder_name", .string(invitation.folderName)),
            ])
        }
        return JSONResponse.raw(JSONValue.object([("invitations", .array(items))]).text)
    }

    @Sendable func accept(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        switch try await self.folders.accept(invitation: try Self.invitationID(try await self.body(request)), by: identity) {
        case .done: return JSONResponse.raw("{}")
        case .notFound:
            throw APIError.notFound("object-not-found", title: "No such invitation.", msg: "No pending invitation with this id for you.")
        case .nameTaken(let name):
            throw APIError.conflict("vfolder-already-exists", title: "The virtual folder already exists with the same name.",
                                    msg: "You already reach a folder named '\(name)'; rename it first.")
        }
    }

    @Sendable func deleteInvitation(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        guard try await self.folders.deleteInvitation(try Self.invitationID(try await self.body(request)), by: identity) == .done else {
            throw APIError.notFound("object-not-found", title: "No such invitation.", msg: "No pending invitation with this id of yours.")
        }
        return JSONResponse.raw("{}")
    }

    /// Owners and admins manage a project folder's per-user permissions.
    private func manageable(_ context: ManagerRequestContext) async throws -> VFolderRecord {
        let identity = try context.requireIdentity()
        let folder = try await self.files.resolve(context)
        guard identity.isAdmin || folder.isOwned(by: identity) else {
            throw APIError.forbidden("Only an admin (or the folder's owner) may share it.")
        }
        guard folder.groupID != nil else {
            throw APIError.invalidAPIParams("Only project folders are shared; invite users to a personal folder.")
        }
        return folder
    }

    @Sendable func share(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let folder = try await self.manageable(context)
        let body = try await self.body(request)
        let permission = try Self.permission(body, "permission", "perm") ?? .readWrite
        let shared = try await self.folders.share(folder, emails: try Self.emails(body, "emails"), permission: permission)
        return JSONResponse.raw(JSONValue.object([("shared_emails", .array(shared.map(JSONValue.string)))]).text, status: .created)
    }

    @Sendable func unshare(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let folder = try await self.manageable(context)
        let removed = try await self.folders.unshare(folder, emails: try Self.emails(try await self.body(request), "emails"))
        return JSONResponse.raw(JSONValue.object([("unshared_emails", .array(removed.map(JSONValue.string)))]).text)
    }

    @Sendable func leave(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let folder = try await self.files.resolve(context)
        guard !folder.isOwned(by: identity) else {
            throw APIError.invalidAPIParams("You cannot leave a folder you own; delete it instead.")
        }
        guard try await self.folders.leave(folder, userID: identity.userID) else {
            throw APIError.invalidAPIParams("The folder '\(folder.name)' is not shared with you.")
        }
        return JSONResponse.raw("{}")
    }

    @Sendable func updateOptions(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let folder = try await self.files.resolve(context)
        guard identity.isAdmin || folder.isOwned(by: identity) else {
            throw APIError.forbidden("Only the folder's owner or an admin may change its options.")
        }
        let body = try await self.body(request)
        try await self.folders.updateOptions(
            folder, permission: try Self.permission(body, "permission"), cloneable: try body.bool("cloneable"))
        return JSONResponse.raw("{}")
    }
}
