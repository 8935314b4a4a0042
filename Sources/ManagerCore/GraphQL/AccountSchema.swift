import Foundation
import GraphQL
import OrderedCollections
import SchedulerKit

/// Users and keypairs as `backend.ai admin user|keypair` send them: `user`, `user_from_uuid`, `users`, `user_list`,
/// `create_user`; `keypairs`, `keypair_list`, `create_keypair`, `delete_keypair` (admins; a user may read their own
/// user). Passwords are hashed (`PasswordHash`) and never returned.
enum AccountSchema {
    static func userObject() throws -> GraphQLObjectType {
        let group = try GraphQLObjectType(
            name: "UserGroup", fields: ["id": GraphQLField(type: GraphQLScalars.uuid), "name": GraphQLField(type: GraphQLString)])
        return try GraphQLObjectType(
            name: "User",
            fields: [
                "id": GraphQLField(type: GraphQLScalars.uuid), "uuid": GraphQLField(type: GraphQLScalars.uuid),
                "username": GraphQLField(type: GraphQLString), "email": GraphQLField(type: GraphQLString),
                "need_password_change": GraphQLField(type: GraphQLBoolean), "full_name": GraphQLField(type: GraphQLString),
                "description": GraphQLField(type: GraphQLString), "is_active": GraphQLField(type: GraphQLBoolean),
                "status": GraphQLField(type: GraphQLString), "status_info": GraphQLField(type: GraphQLString),
                "created_at": GraphQLField(type: GraphQLScalars.dateTime), "modified_at": GraphQLField(type: GraphQLScalars.dateTime),
                "domain_name": GraphQLField(type: GraphQLString), "role": GraphQLField(type: GraphQLString),
                "groups": GraphQLField(type: GraphQLList(group)), "allowed_client_ip": GraphQLField(type: GraphQLList(GraphQLString)),
                "totp_activated": GraphQLField(type: GraphQLBoolean), "sudo_session_enabled": GraphQLField(type: GraphQLBoolean),
                "main_access_key": GraphQLField(type: GraphQLString),
            ])
    }

    static func row(_ user: PostgresAccountStore.UserRecord) -> [String: any Sendable] {
        [
            "id": user.uuid, "uuid": user.uuid, "username": user.username, "email": user.email,
            "need_password_change": user.needPasswordChange, "full_name": user.fullName, "description": user.description,
            "is_active": user.status == "active", "status": user.status, "status_info": nil as (any Sendable)?,
            "created_at": user.createdAt, "modified_at": user.modifiedAt, "domain_name": user.domainName, "role": user.role,
            "groups": user.groups.map { ["id": $0.id, "name": $0.name] as [String: any Sendable] },
            "allowed_client_ip": nil as (any Sendable)?, "totp_activated": false, "sudo_session_enabled": false,
            "main_access_key": user.mainAccessKey as (any Sendable)?,
        ]
    }

    /// The keypair fields `admin keypair list|info` show beyond `KeypairSchema`'s.
    static func keypairRow(_ row: PostgresAccountStore.KeypairRow) -> [String: any Sendable] {
        var fields = KeypairSchema.row(row.record)
        fields["created_at"] = row.createdAt
        fields["modified_at"] = row.createdAt
        fields["last_used"] = row.lastUsed as (any Sendable)?
        fields["concurrency_used"] = row.concurrencyUsed
        fields["user_info"] = ["full_name": row.fullName, "email": row.record.email] as [String: any Sendable]
        return fields
    }

    static func queryFields(user: GraphQLObjectType, keypair: GraphQLObjectType) throws -> GraphQLFieldMap {
        let userList = try GraphQLPage.listType(name: "UserList", of: user)
        let keypairList = try GraphQLPage.listType(name: "KeyPairList", of: keypair)
        @Sendable func accounts(_ context: GraphQLContext) throws -> PostgresAccountStore {
            guard let accounts = context.accounts else { throw GraphQLFailure("accounts are not available here") }
            return accounts
        }
        @Sendable func status(_ args: Map) throws -> String? {
            guard let text = args["status"].string, !text.isEmpty else { return nil }
            guard PostgresAccountStore.statuses.contains(text.lowercased()) else {
                throw GraphQLFailure("status: '\(text.prefix(32))' is not a user status (\(PostgresAccountStore.statuses.joined(separator: ", ")))")
            }
            return text.lowercased()
        }
        return [
            "user": GraphQLField(
                type: user, args: ["domain_name": GraphQLArgument(type: GraphQLString), "email": GraphQLArgument(type: GraphQLString)],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    let email = args["email"].string ?? context.identity.email
                    if email != context.identity.email { try context.requireAdmin() }
                    return try await accounts(context).user(email: email).map(Self.row)
                }),
            "user_from_uuid": GraphQLField(
                type: user, args: ["domain_name": GraphQLArgument(type: GraphQLString), "user_id": GraphQLArgument(type: GraphQLID)],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    let id = args["user_id"].string.flatMap(UUID.init(uuidString:)) ?? context.identity.userID
                    if id != context.identity.userID { try context.requireAdmin() }
                    return try await accounts(context).user(id: id).map(Self.row)
                }),
            "users": GraphQLField(
                type: GraphQLList(user),
                args: [
                    "domain_name": GraphQLArgument(type: GraphQLString), "group_id": GraphQLArgument(type: GraphQLScalars.uuid),
                    "is_active": GraphQLArgument(type: GraphQLBoolean), "status": GraphQLArgument(type: GraphQLString),
                ],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    try context.requireAdmin()
                    let group = args["group_id"].string.flatMap(UUID.init(uuidString:))
                    return try await accounts(context).users(
                        domain: args["domain_name"].string, group: group, status: try status(args), limit: 1000, offset: 0
                    ).items.map(Self.row)
                }),
            "user_list": GraphQLField(
                type: userList,
                args: GraphQLPage.arguments.merging([
                    "domain_name": GraphQLArgument(type: GraphQLString), "group_id": GraphQLArgument(type: GraphQLScalars.uuid),
                    "is_active": GraphQLArgument(type: GraphQLBoolean), "status": GraphQLArgument(type: GraphQLString),
                    "filter": GraphQLArgument(type: GraphQLString), "order": GraphQLArgument(type: GraphQLString),
                ], uniquingKeysWith: { $1 }),
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    try context.requireAdmin()
                    let (limit, offset) = try GraphQLPage.bounds(args)
                    let (filter, order) = try GraphQLPage.filterAndOrder(args)
                    let group = args["group_id"].string.flatMap(UUID.init(uuidString:))
                    do {
                        let (items, total) = try await accounts(context).users(
                            domain: args["domain_name"].string, group: group, status: try status(args), filter: filter, order: order,
                            limit: limit, offset: offset)
                        return ["items": items.map(Self.row), "total_count": total] as [String: any Sendable]
                    } catch let refusal as ListFilterSQL.Refusal {
                        throw GraphQLFailure("filter/order: \(refusal)")
                    }
                }),
            "keypairs": GraphQLField(
                type: GraphQLList(keypair),
                args: [
                    "domain_name": GraphQLArgument(type: GraphQLString), "email": GraphQLArgument(type: GraphQLString),
                    "is_active": GraphQLArgument(type: GraphQLBoolean),
                ],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    try context.requireAdmin()
                    return try await accounts(context).keypairs(
                        email: args["email"].string, isActive: args["is_active"].bool, limit: 1000, offset: 0
                    ).items.map(Self.keypairRow)
                }),
            "keypair_list": GraphQLField(
                type: keypairList,
                args: GraphQLPage.arguments.merging([
                    "domain_name": GraphQLArgument(type: GraphQLString), "email": GraphQLArgument(type: GraphQLString),
                    "is_active": GraphQLArgument(type: GraphQLBoolean), "filter": GraphQLArgument(type: GraphQLString),
                    "order": GraphQLArgument(type: GraphQLString),
                ], uniquingKeysWith: { $1 }),
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    try context.requireAdmin()
                    let (limit, offset) = try GraphQLPage.bounds(args)
                    let (filter, order) = try GraphQLPage.filterAndOrder(args)
                    do {
                        let (items, total) = try await accounts(context).keypairs(
                            email: args["email"].string, isActive: args["is_active"].bool, filter: filter, order: order,
                            limit: limit, offset: offset)
                        return ["items": items.map(Self.keypairRow), "total_count": total] as [String: any Sendable]
                    } catch let refusal as ListFilterSQL.Refusal {
                        throw GraphQLFailure("filter/order: \(refusal)")
                    }
                }),
        ]
    }

    /// The fields of `UserInput` (create) and `ModifyUserInput` (update), all optional here.
    static var userInputFields: InputObjectFieldMap {
        [
            "username": InputObjectField(type: GraphQLString), "password": InputObjectField(type: GraphQLString),
            "need_password_change": InputObjectField(type: GraphQLBoolean), "full_name": InputObjectField(type: GraphQLString),
            "description": InputObjectField(type: GraphQLString), "is_active": InputObjectField(type: GraphQLBoolean),
            "status": InputObjectField(type: GraphQLString), "domain_name": InputObjectField(type: GraphQLString),
            "role": InputObjectField(type: GraphQLString), "group_ids": InputObjectField(type: GraphQLList(GraphQLString)),
            "allowed_client_ip": InputObjectField(type: GraphQLList(GraphQLString)),
            "totp_activated": InputObjectField(type: GraphQLBoolean), "sudo_session_enabled": InputObjectField(type: GraphQLBoolean),
            "main_access_key": InputObjectField(type: GraphQLString), "resource_policy": InputObjectField(type: GraphQLString),
            "container_uid": InputObjectField(type: GraphQLInt),
        ]
    }

    /// What this manager does not do is refused by name rather than stored and ignored.
    static func refuseUnsupported(_ props: Map) throws {
        if case .array(let items) = props["allowed_client_ip"], !items.isEmpty {
            throw GraphQLFailure("allowed_client_ip: client address allow-lists are not supported by this manager")
        }
        if props["totp_activated"].bool == true { throw GraphQLFailure("totp_activated: TOTP is not supported by this manager") }
        if props["sudo_session_enabled"].bool == true {
            throw GraphQLFailure("sudo_session_enabled: sessions run as an unprivileged user in a sandbox, without sudo")
        }
        if !props["resource_policy"].isUndefined && !props["resource_policy"].isNull {
            throw GraphQLFailure("resource_policy: policies belong to keypairs here (admin keypair add USER POLICY)")
        }
        if !props["container_uid"].isUndefined && !props["container_uid"].isNull {
            throw GraphQLFailure("container_uid: every session runs as the sandbox's user (uid 1000 inside)")
        }
    }

    static func mutationFields(user: GraphQLObjectType, keypair: GraphQLObjectType) throws -> GraphQLFieldMap {
        var userFields = Self.userInputFields
        userFields["password"] = InputObjectField(type: GraphQLNonNull(GraphQLString))
        let userInput = try GraphQLInputObjectType(name: "UserInput", fields: userFields)
        let keypairInput = try GraphQLInputObjectType(
            name: "KeyPairInput",
            fields: [
                "is_active": InputObjectField(type: GraphQLBoolean), "is_admin": InputObjectField(type: GraphQLBoolean),
                "resource_policy": InputObjectField(type: GraphQLString), "concurrency_limit": InputObjectField(type: GraphQLInt),
                "rate_limit": InputObjectField(type: GraphQLInt),
            ])
        return [
            "create_user": GraphQLField(
                type: try GraphQLMutation.result("CreateUser", extra: ["user": GraphQLField(type: user)]),
                args: [
                    "email": GraphQLArgument(type: GraphQLNonNull(GraphQLString)),
                    "props": GraphQLArgument(type: GraphQLNonNull(userInput)),
                ],
                resolve: GraphQLMutation.admin { args, context in
                    guard let accounts = context.accounts else { return GraphQLMutation.outcome(false, "accounts are not available here") }
                    let props = args["props"]
                    do {
                        try Self.refuseUnsupported(props)
                    } catch let failure as GraphQLFailure {
                        return GraphQLMutation.outcome(false, failure.description)
                    }
                    let email = args["email"].string ?? ""
                    guard email.utf8.count <= 254, email.split(separator: "@", omittingEmptySubsequences: false).count == 2,
                        !email.hasPrefix("@"), !email.hasSuffix("@"), !email.contains(where: { $0.isWhitespace })
                    else { return GraphQLMutation.outcome(false, "email: '\(email.prefix(64))' is not an email address") }
                    let role = (props["role"].string ?? "user").lowercased()
                    guard PostgresAccountStore.roles.contains(role) else {
                        return GraphQLMutation.outcome(false, "role: '\(role.prefix(32))' is not a role (\(PostgresAccountStore.roles.joined(separator: ", ")))")
                    }
                    var status = (props["status"].string ?? "active").lowercased()
                    if props["is_active"].bool == false { status = "inactive" }
                    guard PostgresAccountStore.statuses.contains(status) else {
                        return GraphQLMutation.outcome(false, "status: '\(status.prefix(32))' is not a user status")
                    }
                    var groupIDs: [UUID] = []
                    if case .array(let items) = props["group_ids"] {
                        for item in items {
                            guard let id = item.string.flatMap(UUID.init(uuidString:)) else {
                                return GraphQLMutation.outcome(false, "group_ids: every entry must be a project id")
                            }
                            groupIDs.append(id)
                        }
                    }
                    let hash: String
                    let password = props["password"].string ?? ""
                    do {
                        // ~0.3 s of CPU by design: off the event loop and the cooperative pool.
                        hash = try await BlockingExecutor.shared.run(name: "password-hash") { try PasswordHash.make(password) }
                    } catch let refusal as PasswordHash.Refusal {
                        return GraphQLMutation.outcome(false, "password: \(refusal.description)")
                    }
                    let username = props["username"].string.flatMap { $0.isEmpty ? nil : $0 } ?? String(email.split(separator: "@").first ?? "")
                    let fields: [(String, String?)] = [
                        ("username", username), ("full_name", props["full_name"].string), ("description", props["description"].string),
                    ]
                    if let long = fields.first(where: { ($0.1?.count ?? 0) > 256 }) {
                        return GraphQLMutation.outcome(false, "\(long.0) is longer than 256 characters")
                    }
                    do {
                        let created = try await accounts.createUser(.init(
                            email: email, passwordHash: hash, username: username, fullName: props["full_name"].string ?? "",
                            description: props["description"].string ?? "", role: role, status: status,
                            needPasswordChange: props["need_password_change"].bool ?? false,
                            domainName: props["domain_name"].string ?? context.identity.domainName, groupIDs: groupIDs))
                        var result = GraphQLMutation.outcome(true, "success")
                        result["user"] = Self.row(created)
                        return result
                    } catch let refusal as PostgresAccountStore.Refusal {
                        return GraphQLMutation.outcome(false, refusal.description)
                    }
                }),
            "create_keypair": GraphQLField(
                type: try GraphQLMutation.result("CreateKeyPair", extra: ["keypair": GraphQLField(type: keypair)]),
                args: [
                    "user_id": GraphQLArgument(type: GraphQLNonNull(GraphQLString)),
                    "props": GraphQLArgument(type: GraphQLNonNull(keypairInput)),
                ],
                resolve: GraphQLMutation.admin { args, context in
                    guard let accounts = context.accounts else { return GraphQLMutation.outcome(false, "accounts are not available here") }
                    let props = args["props"]
                    var rateLimit = 30_000
                    if !props["rate_limit"].isUndefined && !props["rate_limit"].isNull {
                        guard let limit = props["rate_limit"].int, (1...Int(Int32.max)).contains(limit) else {
                            return GraphQLMutation.outcome(false, "rate_limit must be a positive integer")
                        }
                        rateLimit = limit
                    }
                    do {
                        let created = try await accounts.createKeypair(
                            email: args["user_id"].string ?? "", isActive: props["is_active"].bool ?? true,
                            isAdmin: props["is_admin"].bool ?? false, policy: props["resource_policy"].string ?? "default",
                            rateLimit: rateLimit)
                        var result = GraphQLMutation.outcome(true, "success")
                        result["keypair"] = KeypairSchema.row(created)
                        return result
                    } catch let refusal as PostgresAccountStore.Refusal {
                        return GraphQLMutation.outcome(false, refusal.description)
                    }
                }),
            "delete_keypair": GraphQLField(
                type: try GraphQLMutation.result("DeleteKeyPair"),
                args: ["access_key": GraphQLArgument(type: GraphQLNonNull(GraphQLString))],
                resolve: GraphQLMutation.admin { args, context in
                    guard let accounts = context.accounts else { return GraphQLMutation.outcome(false, "accounts are not available here") }
                    let key = AccessKey(args["access_key"].string ?? "")
                    guard key != context.identity.accessKey else {
                        return GraphQLMutation.outcome(false, "You cannot delete the keypair you are signing with.")
                    }
                    switch try await accounts.deleteKeypair(key) {
                    case .deleted: break
                    case .notFound: return GraphQLMutation.outcome(false, "No keypair with access key '\(key.rawValue.prefix(64))'.")
                    case .ownsSessions:
                        return GraphQLMutation.outcome(
                            false, "The keypair owns sessions (live or in the history); deactivate it instead (admin keypair deactivate).")
                    }
                    context.keypairCache?.forget(key)
                    return GraphQLMutation.outcome(true, "success")
                }),
        ]
    }
}
