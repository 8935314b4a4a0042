import Foundation
import GraphQL
import OrderedCollections
import SchedulerKit

/// `agent_list` and `agent` for `backend.ai admin agent list|info` (admins only).
enum AgentSchema {
    static func object() throws -> GraphQLObjectType {
        try GraphQLObjectType(
            name: "Agent",
            fields: [
                "id": GraphQLField(type: GraphQLString),
                "status": GraphQLField(type: GraphQLString),
                "status_changed": GraphQLField(type: GraphQLScalars.dateTime),
                "region": GraphQLField(type: GraphQLString),
                "architecture": GraphQLField(type: GraphQLString),
                "scaling_group": GraphQLField(type: GraphQLString),
                "schedulable": GraphQLField(type: GraphQLBoolean),
                "available_slots": GraphQLField(type: GraphQLScalars.jsonString),
                "occupied_slots": GraphQLField(type: GraphQLScalars.jsonString),
                "addr": GraphQLField(type: GraphQLString),
                "first_contact": GraphQLField(type: GraphQLScalars.dateTime),
                "lost_at": GraphQLField(type: GraphQLScalars.dateTime),
                "version": GraphQLField(type: GraphQLString),
                "live_stat": GraphQLField(type: GraphQLScalars.jsonString),
                "compute_plugins": GraphQLField(type: GraphQLScalars.jsonString),
                "hardware_metadata": GraphQLField(type: GraphQLScalars.jsonString),
                "local_config": GraphQLField(type: GraphQLScalars.jsonString),
                "cpu_cur_pct": GraphQLField(type: GraphQLFloat),
                "mem_cur_bytes": GraphQLField(type: GraphQLFloat),
            ])
    }

    static func row(_ agent: AgentRecord) -> [String: any Sendable] {
        [
            "id": agent.id, "status": agent.status, "status_changed": agent.statusChanged, "region": "local",
            "architecture": agent.architecture, "scaling_group": agent.scalingGroup, "schedulable": agent.schedulable,
            "available_slots": agent.availableSlots, "occupied_slots": agent.occupiedSlots, "addr": agent.addr,
            "first_contact": agent.firstContact, "lost_at": agent.lostAt, "version": agent.version,
            "live_stat": nil as (any Sendable)?, "compute_plugins": JSONValue.object([]),
            "hardware_metadata": JSONValue.object([]), "local_config": JSONValue.object([]),
            "cpu_cur_pct": 0.0, "mem_cur_bytes": 0.0,
        ]
    }

    static func queryFields(object: GraphQLObjectType) throws -> [String: GraphQLField] {
        let list = try GraphQLPage.listType(name: "AgentList", of: object)
        return [
            "agent_list": GraphQLField(
                type: list,
                args: GraphQLPage.arguments.merging([
                    "status": GraphQLArgument(type: GraphQLString),
                    "scaling_group": GraphQLArgument(type: GraphQLString),
                    "filter": GraphQLArgument(type: GraphQLString),
                    "order": GraphQLArgument(type: GraphQLString),
                ], uniquingKeysWith: { $1 }),
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    try context.requireAdmin()
                    let (limit, offset) = try GraphQLPage.bounds(args)
                    let status = args["status"].string?.uppercased()
                    if let status, !["ALIVE", "LOST", "TERMINATED"].contains(status) {
                        throw GraphQLFailure("status: '\(status.prefix(32))' is not an agent status (ALIVE, LOST, TERMINATED)")
                    }
                    let (items, total) = try await context.agents.list(
                        status: status, scalingGroup: args["scaling_group"].string, limit: limit, offset: offset)
                    return ["items": items.map(Self.row), "total_count": total] as [String: any Sendable]
                }),
            // `admin agent info ID`.
            "agent": GraphQLField(
                type: object, args: ["agent_id": GraphQLArgument(type: GraphQLNonNull(GraphQLString))],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    try context.requireAdmin()
                    guard let id = args["agent_id"].string, id.count <= 64 else { return nil as [String: any Sendable]? }
                    let (items, _) = try await context.agents.list(status: nil, scalingGroup: nil, id: id, limit: 1, offset: 0)
                    return items.first.map(Self.row)
                }),
        ]
    }
}
