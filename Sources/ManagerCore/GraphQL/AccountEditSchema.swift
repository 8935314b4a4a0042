import Foundation
import GraphQL
import OrderedCollections
import SchedulerKit

/// `modify_user`, `delete_user`, `purge_user` as `backend.ai admin user update|delete|purge` send them (admins only).
/// What this manager does not do (client IP allow-lists, TOTP, sudo inside sessions) is refused by name, never
/// stored and ignored. An admin cannot deactivate, demote, delete or purge themselves (they would lock themselves out).
enum AccountEditSchema {
    static func mutationFields() throws -> GraphQLFieldMap {
        let modifyInput = try GraphQLInputObjectType(name: "ModifyUserInput", fields: AccountSchema.userInputFields)
        let purgeInput = try GraphQLInputObjectType(
            name: "PurgeUserInput", fields: ["purge_shared_vfolders": InputObjectField(type: GraphQLBoolean)])
        return [
            "modify_user": GraphQLField(
                type: try GraphQLMutation.result("ModifyUser"),
                args: [
                    "email": GraphQLArgument(type: GraphQLNonNull(GraphQLString)),
                    "props": GraphQLArgument(type: GraphQLNonNull(modifyInput)),
                ],
                resolve: GraphQLMutation.admin { args, context in
                    guard let accounts = context.accounts else { return GraphQLMutation.outcome(false, "accounts are not available here") }
                    let email = args["email"].string ?? ""
                    let changes: PostgresAccountStore.UserChanges
                    switch await Self.changes(args["props"]) {
                    case .success(let parsed): changes = parsed
                    case .failure(let failure): return GraphQLMutation.outcome(false, failure.description)
                    }
                    if email == context.identity.email {
                        if let status = changes.status, status != "active" {
                            return GraphQLMutation.outcome(false, "status: you cannot deactivate yourself.")
                        }
                        if let role = changes.role, !["superadmin", "admin"].contains(role) {
                            return GraphQLMutation.outcome(false, "role: you cannot take away your own admin role.")
                        }
                    }
                    do {
                        try await accounts.modifyUser(email: email, changes)
                    } catch let refusal as PostgresAccountStore.Refusal {
                        return GraphQLMutation.outcome(false, refusal.description)
                    } catch let refusal as PostgresAccountStore.EditRefusal {
                        return GraphQLMutation.outcome(false, refusal.description)
                    }
                    context.keypairCache?.forgetAll()
                    return GraphQLMutation.outcome(true, "success")
                }),
            "delete_user": GraphQLField(
                type: try GraphQLMutation.result("DeleteUser"),
                args: ["email": GraphQLArgument(type: GraphQLNonNull(GraphQLString))],
                resolve: GraphQLMutation.admin { args, context in
                    guard let accounts = context.accounts else { return GraphQLMutation.outcome(false, "accounts are not available here") }
                    let email = args["email"].string ?? ""
                    guard email != context.identity.email else { return GraphQLMutation.outcome(false, "You cannot delete yourself.") }
                    do {
                        try await accounts.deactivateUser(email: email)
                    } catch let refusal as PostgresAccountStore.Refusal {
                        return GraphQLMutation.outcome(false, refusal.description)
                    }
                    context.keypairCache?.forgetAll()
                    return GraphQLMutation.outcome(true, "success")
                }),
            "purge_user": GraphQLField(
                type: try GraphQLMutation.result("PurgeUser"),
                args: [
                    "email": GraphQLArgument(type: GraphQLNonNull(GraphQLString)),
                    "props": GraphQLArgument(type: GraphQLNonNull(purgeInput)),
                ],
                resolve: GraphQLMutation.admin { args, context in
                    guard let purges = context.purges else { return GraphQLMutation.outcome(false, "accounts are not available here") }
                    let email = args["email"].string ?? ""
                    guard email != context.identity.email else { return GraphQLMutation.outcome(false, "You cannot purge yourself.") }
                    let outcome: AccountPurge.Outcome
                    do {
                        outcome = try await purges.purgeUser(
                            email: email, admin: context.identity.userID,
                            purgeShared: args["props"]["purge_shared_vfolders"].bool ?? false)
                    } catch let refusal as PostgresAccountStore.Refusal {
                        return GraphQLMutation.outcome(false, refusal.description)
                    } catch let refusal as PostgresAccountStore.EditRefusal {
                        return GraphQLMutation.outcome(false, refusal.description)
                    }
                    context.keypairCache?.forgetAll()
                    guard outcome.failedFolders == 0 else {
                        return GraphQLMutation.outcome(
                            false, "\(outcome.failedFolders) folder(s) could not be removed (now delete-error); the user is kept as "
                                + "deleted: run the purge again.")
                    }
                    return GraphQLMutation.outcome(
                        true, "success (\(outcome.removedFolders) folder(s) removed, \(outcome.transferredFolders) shared folder(s) now yours)")
                }),
        ]
    }

    /// Reads and checks `props`; a bad value is a message naming the key. The password is hashed here (off the
    /// event loop and the cooperative pool: ~0.3 s of CPU by design).
    static func changes(_ props: Map) async -> Result<PostgresAccountStore.UserChanges, GraphQLFailure> {
        var changes = PostgresAccountStore.UserChanges()
        do {
            func text(_ key: String, max: Int = 256) throws -> String? {
                let value = props[key]
                if value.isUndefined || value.isNull { return nil }
                guard let text = value.string, text.count <= max else { throw GraphQLFailure("\(key) must be text of at most \(max) characters") }
                return text
            }
            changes.username = try text("username")
            changes.fullName = try text("full_name")
            changes.description = try text("description")
            changes.domainName = try text("domain_name", max: 64)
            if let role = try text("role", max: 32)?.lowercased() {
                guard PostgresAccountStore.roles.contains(role) else {
                    throw GraphQLFailure("role: '\(role)' is not a role (\(PostgresAccountStore.roles.joined(separator: ", ")))")
                }
                changes.role = role
            }
            let statuses = PostgresAccountStore.statuses + ["deleted"]
            if let status = try text("status", max: 32)?.lowercased() {
                guard statuses.contains(status) else {
                    throw GraphQLFailure("status: '\(status)' is not a user status (\(statuses.joined(separator: ", ")))")
                }
                changes.status = status
            } else if let active = props["is_active"].bool {
                changes.status = active ? "active" : "inactive"
            }
            changes.needPasswordChange = props["need_password_change"].bool
            if case .array(let items) = props["group_ids"] {
                changes.groupIDs = try items.map { item in
                    guard let id = item.string.flatMap(UUID.init(uuidString:)) else {
                        throw GraphQLFailure("group_ids: every entry must be a project id")
                    }
                    return id
                }
            }
            if let key = try text("main_access_key", max: 64) { changes.mainAccessKey = AccessKey(key) }
            try AccountSchema.refuseUnsupported(props)
            if let password = props["password"].string {
                changes.passwordHash = try await BlockingExecutor.shared.run(name: "password-hash") { try PasswordHash.make(password) }
            }
        } catch let failure as GraphQLFailure {
            return .failure(failure)
        } catch let refusal as PasswordHash.Refusal {
            return .failure(GraphQLFailure("password: \(refusal.description)"))
        } catch {
            return .failure(GraphQLFailure("props are invalid"))
        }
        return .success(changes)
    }
}
