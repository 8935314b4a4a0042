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
                resolve: GraphQLMutation.admin { args, context in
                    guard let name = args["name"].string else { return nil }
                    return try await context.scalingGroups.group(named: name).map(Self.row)
                }),
        ]
    }

    static func mutationFields(object: GraphQLObjectType) throws -> GraphQLFieldMap {
        let createInput = try Self.input(name: "CreateScalingGroupInput")
        let modifyInput = try Self.input(name: "ModifyScalingGroupInput")
        let created = try GraphQLMutation.result("CreateScalingGroup", extra: ["scaling_group": GraphQLField(type: object)])
        let simple = { (name: String) in try GraphQLMutation.result(name) }
        var fields: GraphQLFieldMap = [:]
        // associate/disassociate_scaling_group_with_domain(scaling_group, domain) and …_with_user_group(…, user_group).
        for (name, associated) in [("associate", true), ("disassociate", false)] {
            fields["\(name)_scaling_group_with_domain"] = GraphQLField(
                type: try simple("\(name.capitalized)ScalingGroupWithDomain"),
                args: [
                    "scaling_group": GraphQLArgument(type: GraphQLNonNull(GraphQLString)),
                    "domain": GraphQLArgument(type: GraphQLNonNull(GraphQLString)),
                ],
                resolve: GraphQLMutation.admin { args, context in
                    let group = args["scaling_group"].string ?? "", domain = args["domain"].string ?? ""
                    guard try await context.scalingGroups.associate(group, with: .domain(domain), associated) else {
                        return Self.outcome(false, associated
                            ? "No scaling group '\(group.prefix(64))' or no domain '\(domain.prefix(64))'."
                            : "The scaling group '\(group.prefix(64))' is not associated with '\(domain.prefix(64))'.")
                    }
                    return Self.outcome(true, "success")
                })
            fields["\(name)_scaling_group_with_user_group"] = GraphQLField(
                type: try simple("\(name.capitalized)ScalingGroupWithUserGroup"),
                args: [
                    "scaling_group": GraphQLArgument(type: GraphQLNonNull(GraphQLString)),
                    "user_group": GraphQLArgument(type: GraphQLNonNull(GraphQLScalars.uuid)),
                ],
                resolve: GraphQLMutation.admin { args, context in
                    let group = args["scaling_group"].string ?? ""
                    guard let project = args["user_group"].string.flatMap(UUID.init(uuidString:)) else {
                        return Self.outcome(false, "user_group must be a project id")
                    }
                    guard try await context.scalingGroups.associate(group, with: .project(project), associated) else {
                        return Self.outcome(false, associated
                            ? "No scaling group '\(group.prefix(64))' or no project \(project.uuidString.lowercased())."
                            : "The scaling group '\(group.prefix(64))' is not associated with that project.")
                    }
                    return Self.outcome(true, "success")
                })
        }
        fields["disassociate_all_scaling_groups_with_domain"] = GraphQLField(
            type: try simple("DisassociateAllScalingGroupsWithDomain"),
            args: ["domain": GraphQLArgument(type: GraphQLNonNull(GraphQLString))],
            resolve: GraphQLMutation.admin { args, context in
                try await context.scalingGroups.disassociateAll(domain: args["domain"].string ?? "")
                return Self.outcome(true, "success")
            })
        return fields.merging([
            "create_scaling_group": GraphQLField(
                type: created,
                args: [
                    "name": GraphQLArgument(type: GraphQLNonNull(GraphQLString)),
                    "props": GraphQLArgument(type: GraphQLNonNull(createInput)),
                ],
                resolve: GraphQLMutation.admin { args, context in
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
                resolve: GraphQLMutation.admin { args, context in
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
                resolve: GraphQLMutation.admin { args, context in
                    let name = args["name"].string ?? ""
                    switch try await context.scalingGroups.delete(name: name) {
                    case .deleted: return Self.outcome(true, "success")
                    case .notFound: return Self.outcome(false, "No scaling group named '\(name)'.")
                    case .inUse(let reason): return Self.outcome(false, reason)
                    }
                }),
        ]) { first, _ in first }
    }

    static func outcome(_ ok: Bool, _ msg: String) -> [String: any Sendable] { GraphQLMutation.outcome(ok, msg) }
}
