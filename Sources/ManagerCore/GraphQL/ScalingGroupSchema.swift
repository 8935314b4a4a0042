import Foundation
import GraphQL
import OrderedCollections
import SchedulerKit

/// Scaling group types, queries and mutations (admin).
enum ScalingGroupSchema {
    static func object() throws -> GraphQLObjectType {
        try GraphQLObjectType(
            name: "ScalingGroup",
            fields: [
                "name": GraphQLField(type: GraphQLString),
                "description": GraphQLField(type: GraphQLString),
                "is_active": GraphQLField(type: GraphQLBoolean),
                "is_public": GraphQLField(type: GraphQLBoolean),
                "created_at": GraphQLField(type: GraphQLScalars.dateTime),
                "driver": GraphQLField(type: GraphQLString),
                "driver_opts": GraphQLField(type: GraphQLScalars.jsonString),
                "scheduler": GraphQLField(type: GraphQLString),
                "scheduler_opts": GraphQLField(type: GraphQLScalars.jsonString),
                "use_host_network": GraphQLField(type: GraphQLBoolean),
                "wsproxy_addr": GraphQLField(type: GraphQLString),
                "wsproxy_api_token": GraphQLField(type: GraphQLString),
            ])
    }

    static func row(_ group: ScalingGroupRecord) -> [String: any Sendable] {
        [
            "name": group.name, "description": group.description, "is_active": group.isActive, "is_public": group.isPublic,
            "created_at": group.createdAt, "driver": group.driver, "driver_opts": group.driverOpts,
            "scheduler": group.scheduler, "scheduler_opts": group.schedulerOpts.json, "use_host_network": group.useHostNetwork,
            "wsproxy_addr": group.wsproxyAddr as (any Sendable)?, "wsproxy_api_token": group.wsproxyAPIToken as (any Sendable)?,
        ]
    }

    static func input(name: String) throws -> GraphQLInputObjectType {
        try GraphQLInputObjectType(
            name: name,
            fields: [
                "description": InputObjectField(type: GraphQLString),
                "is_active": InputObjectField(type: GraphQLBoolean),
                "is_public": InputObjectField(type: GraphQLBoolean),
                "wsproxy_addr": InputObjectField(type: GraphQLString),
                "wsproxy_api_token": InputObjectField(type: GraphQLString),
                "driver": InputObjectField(type: GraphQLString),
                "driver_opts": InputObjectField(type: GraphQLScalars.jsonString),
                "scheduler": InputObjectField(type: GraphQLString),
                "scheduler_opts": InputObjectField(type: GraphQLScalars.jsonString),
                "use_host_network": InputObjectField(type: GraphQLBoolean),
            ])
    }

    /// Reads and validates `props`; a bad value is a message naming the key.
    static func changes(_ props: Map) -> Result<ScalingGroupChanges, GraphQLFailure> {
        var changes = ScalingGroupChanges()
        changes.description = props["description"].string
        changes.isActive = props["is_active"].bool
        changes.isPublic = props["is_public"].bool
        changes.driver = props["driver"].string
        changes.scheduler = props["scheduler"].string
        changes.useHostNetwork = props["use_host_network"].bool
        if !props["wsproxy_addr"].isUndefined { changes.wsproxyAddr = .some(props["wsproxy_addr"].string) }
        if !props["wsproxy_api_token"].isUndefined { changes.wsproxyAPIToken = .some(props["wsproxy_api_token"].string) }
        if let scheduler = changes.scheduler, !["fifo", "lifo", "drf"].contains(scheduler) {
            return .failure(GraphQLFailure("scheduler: '\(scheduler)' is not one of fifo, lifo, drf"))
        }
        if let description = changes.description, description.count > 512 {
            return .failure(GraphQLFailure("description is longer than 512 characters"))
        }
        do {
            if let driverOpts = try GraphQLScalars.json(props["driver_opts"], name: "driver_opts") {
                guard case .object = driverOpts else { return .failure(GraphQLFailure("driver_opts must be a JSON object")) }
                changes.driverOpts = driverOpts
            }
            if let json = try GraphQLScalars.json(props["scheduler_opts"], name: "scheduler_opts") {
                switch ScalingGroupOptions.parse(json) {
                case .success(let options): changes.schedulerOpts = options
                case .failure(let problem): return .failure(GraphQLFailure("scheduler_opts: \(problem.description)"))
                }
            }
        } catch let failure as GraphQLFailure {
            return .failure(failure)
        } catch {
            return .failure(GraphQLFailure("props are invalid"))
        }
        return .success(changes)
    }

    static func validName(_ name: String) -> Bool {
        (1...64).contains(name.count)
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
    }

    static func queryFields(object: GraphQLObjectType) -> GraphQLFieldMap {
        [
            "scaling_groups": GraphQLField(
                type: GraphQLList(object), args: ["is_active": GraphQLArgument(type: GraphQLBoolean)],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    // Admin-only, as in Backend.AI: a group's options (and wsproxy token) are the operators' business.
                    try context.requireAdmin()
                    return try await context.scalingGroups.list(isActive: args["is_active"].bool).map(Self.row)
                }),
            "scaling_group": GraphQLField(
                type: object, args: ["name": GraphQLArgument(type: GraphQLString)],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    try context.requireAdmin()
                    guard let name = args["name"].string else { return nil }
                    return try await context.scalingGroups.group(named: name).map(Self.row)
                }),
        ]
    }

    static func mutationFields(object: GraphQLObjectType) throws -> GraphQLFieldMap {
        let createInput = try Self.input(name: "CreateScalingGroupInput")
        let modifyInput = try Self.input(name: "ModifyScalingGroupInput")
        let created = try GraphQLObjectType(
            name: "CreateScalingGroup",
            fields: [
                "ok": GraphQLField(type: GraphQLBoolean), "msg": GraphQLField(type: GraphQLString),
                "scaling_group": GraphQLField(type: object),
            ])
        let simple = { (name: String) in
            try GraphQLObjectType(
                name: name, fields: ["ok": GraphQLField(type: GraphQLBoolean), "msg": GraphQLField(type: GraphQLString)])
        }
        return [
            "create_scaling_group": GraphQLField(
                type: created,
                args: [
                    "name": GraphQLArgument(type: GraphQLNonNull(GraphQLString)),
                    "props": GraphQLArgument(type: GraphQLNonNull(createInput)),
                ],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    try context.requireAdmin()
                    let name = args["name"].string ?? ""
                    guard Self.validName(name) else {
                        return Self.outcome(false, "name must be 1-64 letters, digits, '-', '_' or '.'")
                    }
                    switch Self.changes(args["props"]) {
                    case .failure(let failure): return Self.outcome(false, failure.description)
                    case .success(let changes):
                        guard try await context.scalingGroups.create(name: name, changes) else {
                            return Self.outcome(false, "The scaling group '\(name)' already exists.")
                        }
                        let group = try await context.scalingGroups.group(named: name)
                        return ["ok": true, "msg": "success", "scaling_group": group.map(Self.row) as (any Sendable)?]
                    }
                }),
            "modify_scaling_group": GraphQLField(
                type: try simple("ModifyScalingGroup"),
                args: [
                    "name": GraphQLArgument(type: GraphQLNonNull(GraphQLString)),
                    "props": GraphQLArgument(type: GraphQLNonNull(modifyInput)),
                ],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    try context.requireAdmin()
                    let name = args["name"].string ?? ""
                    switch Self.changes(args["props"]) {
                    case .failure(let failure): return Self.outcome(false, failure.description)
                    case .success(let changes):
                        guard try await context.scalingGroups.modify(name: name, changes) else {
                            return Self.outcome(false, "No scaling group named '\(name)'.")
                        }
                        return Self.outcome(true, "success")
                    }
                }),
            "delete_scaling_group": GraphQLField(
                type: try simple("DeleteScalingGroup"),
                args: ["name": GraphQLArgument(type: GraphQLNonNull(GraphQLString))],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    try context.requireAdmin()
                    let name = args["name"].string ?? ""
                    switch try await context.scalingGroups.delete(name: name) {
                    case .deleted: return Self.outcome(true, "success")
                    case .notFound: return Self.outcome(false, "No scaling group named '\(name)'.")
                    case .inUse(let reason): return Self.outcome(false, reason)
                    }
                }),
        ]
    }

    static func outcome(_ ok: Bool, _ msg: String) -> [String: any Sendable] {
        ["ok": ok, "msg": msg]
    }
}
