import Foundation
import GraphQL
import OrderedCollections
import SchedulerKit

/// Keypair resource policies: `keypair_resource_policy(name:)` (a user sees their own), `keypair_resource_policies`
/// and the create/modify/delete mutations (admin), as `backend.ai admin keypair-resource-policy` sends them.
enum ResourcePolicySchema {
    static func object() throws -> GraphQLObjectType {
        try GraphQLObjectType(
            name: "KeyPairResourcePolicy",
            fields: [
                "name": GraphQLField(type: GraphQLString),
                "created_at": GraphQLField(type: GraphQLScalars.dateTime),
                "default_for_unspecified": GraphQLField(type: GraphQLString),
                "total_resource_slots": GraphQLField(type: GraphQLScalars.jsonString),
                "max_session_lifetime": GraphQLField(type: GraphQLInt),
                "max_concurrent_sessions": GraphQLField(type: GraphQLInt),
                "max_concurrent_sftp_sessions": GraphQLField(type: GraphQLInt),
                "max_containers_per_session": GraphQLField(type: GraphQLInt),
                "idle_timeout": GraphQLField(type: GraphQLScalars.bigInt),
                "max_vfolder_count": GraphQLField(type: GraphQLInt),
                "max_vfolder_size": GraphQLField(type: GraphQLScalars.bigInt),
                "max_pending_session_count": GraphQLField(type: GraphQLInt),
                "max_pending_session_resource_slots": GraphQLField(type: GraphQLScalars.jsonString),
                "allowed_vfolder_hosts": GraphQLField(type: GraphQLScalars.jsonString),
            ])
    }

    static func row(_ policy: KeypairResourcePolicy) -> [String: any Sendable] {
        [
            "name": policy.name, "created_at": policy.createdAt, "default_for_unspecified": policy.defaultForUnspecified,
            "total_resource_slots": policy.totalResourceSlots.json, "max_session_lifetime": policy.maxSessionLifetime,
            "max_concurrent_sessions": policy.maxConcurrentSessions,
            "max_concurrent_sftp_sessions": policy.maxConcurrentSFTPSessions,
            "max_containers_per_session": policy.maxContainersPerSession, "idle_timeout": policy.idleTimeout,
            "max_vfolder_count": policy.maxVFolderCount, "max_vfolder_size": policy.maxVFolderSize,
            "max_pending_session_count": policy.maxPendingSessionCount as (any Sendable)?,
            "max_pending_session_resource_slots": policy.maxPendingSessionResourceSlots?.json as (any Sendable)?,
            "allowed_vfolder_hosts": policy.allowedVFolderHosts,
        ]
    }

    static func input(name: String) throws -> GraphQLInputObjectType {
        try GraphQLInputObjectType(
            name: name,
            fields: [
                "default_for_unspecified": InputObjectField(type: GraphQLString),
                "total_resource_slots": InputObjectField(type: GraphQLScalars.jsonString),
                "max_session_lifetime": InputObjectField(type: GraphQLInt),
                "max_concurrent_sessions": InputObjectField(type: GraphQLInt),
                "max_concurrent_sftp_sessions": InputObjectField(type: GraphQLInt),
                "max_containers_per_session": InputObjectField(type: GraphQLInt),
                "idle_timeout": InputObjectField(type: GraphQLScalars.bigInt),
                "max_vfolder_count": InputObjectField(type: GraphQLInt),
                "max_vfolder_size": InputObjectField(type: GraphQLScalars.bigInt),
                "max_pending_session_count": InputObjectField(type: GraphQLInt),
                "max_pending_session_resource_slots": InputObjectField(type: GraphQLScalars.jsonString),
                "allowed_vfolder_hosts": InputObjectField(type: GraphQLScalars.jsonString),
            ])
    }

    /// The longest `idle_timeout` / `max_session_lifetime` accepted: 100 years of seconds.
    static let maxSeconds = 100 * 366 * 86_400

    /// Reads and validates `props`; a bad value is a message naming the key.
    static func changes(_ props: Map) -> Result<ResourcePolicyChanges, GraphQLFailure> {
        var changes = ResourcePolicyChanges()
        do {
            func count(_ key: String, max: Int = Int(Int32.max)) throws -> Int? {
                let value = props[key]
                if value.isUndefined || value.isNull { return nil }
                guard let number = value.int, (0...max).contains(number) else {
                    throw GraphQLFailure("\(key) must be an integer from 0 to \(max)")
                }
                return number
            }
            func slots(_ key: String) throws -> ResourceSlots? {
                guard let json = try GraphQLScalars.json(props[key], name: key) else { return nil }
                switch ResourceSlots.parse(json) {
                case .success(let slots): return slots
                case .failure(.notAnObject): throw GraphQLFailure("\(key) must be a JSON object of slot amounts")
                case .failure(.badAmount(let slot)): throw GraphQLFailure("\(key).\(slot.prefix(64)) is not an amount")
                }
            }
            if let text = props["default_for_unspecified"].string {
                guard ["LIMITED", "UNLIMITED"].contains(text) else {
                    throw GraphQLFailure("default_for_unspecified must be LIMITED or UNLIMITED")
                }
                changes.defaultForUnspecified = text
            }
            changes.totalResourceSlots = try slots("total_resource_slots")
            changes.maxSessionLifetime = try count("max_session_lifetime", max: Self.maxSeconds)
            changes.maxConcurrentSessions = try count("max_concurrent_sessions")
            changes.maxConcurrentSFTPSessions = try count("max_concurrent_sftp_sessions")
            changes.maxContainersPerSession = try count("max_containers_per_session")
            changes.idleTimeout = try count("idle_timeout", max: Self.maxSeconds)
            changes.maxVFolderCount = try count("max_vfolder_count")
            changes.maxVFolderSize = try count("max_vfolder_size", max: Int(Int64.max / 2))
            if !props["max_pending_session_count"].isUndefined {
                changes.maxPendingSessionCount = .some(try count("max_pending_session_count"))
            }
            if !props["max_pending_session_resource_slots"].isUndefined {
                changes.maxPendingSessionResourceSlots = .some(try slots("max_pending_session_resource_slots"))
            }
            if let hosts = try GraphQLScalars.json(props["allowed_vfolder_hosts"], name: "allowed_vfolder_hosts") {
                guard case .object(let pairs) = hosts,
                    pairs.allSatisfy({ _, value in
                        guard case .array(let items) = value else { return false }
                        return items.allSatisfy { if case .string = $0 { return true } else { return false } }
                    })
                else {
                    throw GraphQLFailure("allowed_vfolder_hosts must be a JSON object of host → list of permissions")
                }
                changes.allowedVFolderHosts = hosts
            }
        } catch let failure as GraphQLFailure {
            return .failure(failure)
        } catch {
            return .failure(GraphQLFailure("props are invalid"))
        }
        return .success(changes)
    }

    static func queryFields(object: GraphQLObjectType) -> GraphQLFieldMap {
        [
            "keypair_resource_policy": GraphQLField(
                type: object, args: ["name": GraphQLArgument(type: GraphQLString)],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    // Without a name, or naming their own: anyone may read their own policy; others' are admins'.
                    let own = try await context.policies.policy(of: context.identity.accessKey)
                    guard let name = args["name"].string, name != own?.name else { return own.map(Self.row) }
                    try context.requireAdmin()
                    return try await context.policies.policy(named: name).map(Self.row)
                }),
            "keypair_resource_policies": GraphQLField(
                type: GraphQLList(object),
                resolve: { _, _, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    try context.requireAdmin()
                    return try await context.policies.list().map(Self.row)
                }),
        ]
    }

    static func mutationFields(object: GraphQLObjectType) throws -> GraphQLFieldMap {
        let created = try GraphQLMutation.result(
            "CreateKeyPairResourcePolicy", extra: ["resource_policy": GraphQLField(type: object)])
        let simple = { (name: String) in try GraphQLMutation.result(name) }
        let outcome = GraphQLMutation.outcome
        return [
            "create_keypair_resource_policy": GraphQLField(
                type: created,
                args: [
                    "name": GraphQLArgument(type: GraphQLNonNull(GraphQLString)),
                    "props": GraphQLArgument(type: GraphQLNonNull(try Self.input(name: "CreateKeyPairResourcePolicyInput"))),
                ],
                resolve: GraphQLMutation.admin { args, context in
                    let name = args["name"].string ?? ""
                    guard ScalingGroupSchema.validName(name) else {
                        return outcome(false, "name must be 1-64 letters, digits, '-', '_' or '.'")
                    }
                    switch Self.changes(args["props"]) {
                    case .failure(let failure): return outcome(false, failure.description)
                    case .success(let changes):
                        guard try await context.policies.create(name: name, changes) else {
                            return outcome(false, "The resource policy '\(name)' already exists.")
                        }
                        let policy = try await context.policies.policy(named: name)
                        return ["ok": true, "msg": "success", "resource_policy": policy.map(Self.row) as (any Sendable)?]
                    }
                }),
            "modify_keypair_resource_policy": GraphQLField(
                type: try simple("ModifyKeyPairResourcePolicy"),
                args: [
                    "name": GraphQLArgument(type: GraphQLNonNull(GraphQLString)),
                    "props": GraphQLArgument(type: GraphQLNonNull(try Self.input(name: "ModifyKeyPairResourcePolicyInput"))),
                ],
                resolve: GraphQLMutation.admin { args, context in
                    let name = args["name"].string ?? ""
                    switch Self.changes(args["props"]) {
                    case .failure(let failure): return outcome(false, failure.description)
                    case .success(let changes):
                        guard try await context.policies.modify(name: name, changes) else {
                            return outcome(false, "No resource policy named '\(name.prefix(64))'.")
                        }
                        return outcome(true, "success")
                    }
                }),
            "delete_keypair_resource_policy": GraphQLField(
                type: try simple("DeleteKeyPairResourcePolicy"),
                args: ["name": GraphQLArgument(type: GraphQLNonNull(GraphQLString))],
                resolve: GraphQLMutation.admin { args, context in
                    let name = args["name"].string ?? ""
                    switch try await context.policies.delete(name: name) {
                    case .deleted: return outcome(true, "success")
                    case .notFound: return outcome(false, "No resource policy named '\(name.prefix(64))'.")
                    case .inUse(let reason): return outcome(false, reason)
                    }
                }),
        ]
    }
}
