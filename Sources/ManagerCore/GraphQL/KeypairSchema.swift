import Foundation
import GraphQL
import SchedulerKit
import OrderedCollections

/// Keypairs: `keypair` (the caller's, or any for an admin) and `modify_keypair` (admin: activation, admin flag,
/// resource policy, rate limit), as `backend.ai admin keypair` sends them.
enum KeypairSchema {
    static func object() throws -> GraphQLObjectType {
        let userInfo = try GraphQLObjectType(
            name: "UserInfo", fields: ["full_name": GraphQLField(type: GraphQLString), "email": GraphQLField(type: GraphQLString)])
        return try GraphQLObjectType(
            name: "KeyPair",
            fields: [
                "user_id": GraphQLField(type: GraphQLString), "access_key": GraphQLField(type: GraphQLString),
                "secret_key": GraphQLField(type: GraphQLString), "is_active": GraphQLField(type: GraphQLBoolean),
                "is_admin": GraphQLField(type: GraphQLBoolean), "resource_policy": GraphQLField(type: GraphQLString),
                "rate_limit": GraphQLField(type: GraphQLInt),
                // What `admin keypair list|info` show (null where this daemon keeps nothing).
                "user_info": GraphQLField(type: userInfo), "projects": GraphQLField(type: GraphQLList(GraphQLString)),
                "created_at": GraphQLField(type: GraphQLScalars.dateTime), "modified_at": GraphQLField(type: GraphQLScalars.dateTime),
                "last_used": GraphQLField(type: GraphQLScalars.dateTime), "concurrency_used": GraphQLField(type: GraphQLInt),
                "ssh_public_key": GraphQLField(type: GraphQLString), "ssh_private_key": GraphQLField(type: GraphQLString),
                "dotfiles": GraphQLField(type: GraphQLString), "bootstrap_script": GraphQLField(type: GraphQLString),
                "num_queries": GraphQLField(type: GraphQLInt),
            ])
    }

    static func row(_ record: KeypairRecord) -> [String: any Sendable] {
        [
            "user_id": record.email, "access_key": record.accessKey.rawValue, "secret_key": record.secretKey,
            "is_active": record.isActive, "is_admin": record.isAdmin, "resource_policy": record.resourcePolicy,
            "rate_limit": record.rateLimit,
        ]
    }

    static func queryFields(object: GraphQLObjectType) -> GraphQLFieldMap {
        [
            "keypair": GraphQLField(
                type: object,
                args: ["domain_name": GraphQLArgument(type: GraphQLString), "access_key": GraphQLArgument(type: GraphQLString)],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    var key = context.identity.accessKey
                    if let requested = args["access_key"].string, requested != key.rawValue {
                        try context.requireAdmin()
                        key = AccessKey(requested)
                    }
                    // With the account store, the fields `admin keypair info` shows (created_at, user_info, …).
                    if let accounts = context.accounts {
                        let one = ListFilter.compare(field: "access_key", op: .equal, value: .string(key.rawValue))
                        if let row = try await accounts.keypairs(email: nil, isActive: nil, filter: one, limit: 1, offset: 0).items.first {
                            return AccountSchema.keypairRow(row)
                        }
                    }
                    return try await context.keypairs.keypair(key).map(Self.row)
                }),
        ]
    }

    static func mutationFields() throws -> GraphQLFieldMap {
        let input = try GraphQLInputObjectType(
            name: "ModifyKeyPairInput",
            fields: [
                "is_active": InputObjectField(type: GraphQLBoolean), "is_admin": InputObjectField(type: GraphQLBoolean),
                "resource_policy": InputObjectField(type: GraphQLString), "rate_limit": InputObjectField(type: GraphQLInt),
            ])
        return [
            "modify_keypair": GraphQLField(
                type: try GraphQLMutation.result("ModifyKeyPair"),
                args: [
                    "access_key": GraphQLArgument(type: GraphQLNonNull(GraphQLString)),
                    "props": GraphQLArgument(type: GraphQLNonNull(input)),
                ],
                resolve: GraphQLMutation.admin { args, context in
                    let props = args["props"]
                    var changes = KeypairChanges()
                    changes.isActive = props["is_active"].bool
                    changes.isAdmin = props["is_admin"].bool
                    changes.resourcePolicy = props["resource_policy"].string
                    if !props["rate_limit"].isUndefined && !props["rate_limit"].isNull {
                        guard let limit = props["rate_limit"].int, (1...Int(Int32.max)).contains(limit) else {
                            return GraphQLMutation.outcome(false, "rate_limit must be a positive integer")
                        }
                        changes.rateLimit = limit
                    }
                    let key = AccessKey(args["access_key"].string ?? "")
                    switch try await context.keypairs.modify(key, changes) {
                    case .modified:
                        context.keypairCache?.forget(key)
                        return GraphQLMutation.outcome(true, "success")
                    case .notFound: return GraphQLMutation.outcome(false, "No keypair with access key '\(key.rawValue.prefix(64))'.")
                    case .unknownPolicy(let name):
                        return GraphQLMutation.outcome(false, "No resource policy named '\(name.prefix(64))'.")
                    }
                }),
        ]
    }
}
