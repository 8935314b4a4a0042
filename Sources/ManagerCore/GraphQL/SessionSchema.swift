import Foundation
import GraphQL
import OrderedCollections
import SchedulerKit

/// Compute session types and queries.
enum SessionSchema {
    static func object() throws -> GraphQLObjectType {
        let dependency = try GraphQLObjectType(
            name: "ComputeSessionDependency",
            fields: ["name": GraphQLField(type: GraphQLString), "id": GraphQLField(type: GraphQLScalars.uuid)])
        let container = try GraphQLObjectType(
            name: "ComputeContainer",
            fields: [
                "id": GraphQLField(type: GraphQLScalars.uuid), "cluster_role": GraphQLField(type: GraphQLString),
                "cluster_idx": GraphQLField(type: GraphQLInt), "cluster_hostname": GraphQLField(type: GraphQLString),
                "session_id": GraphQLField(type: GraphQLScalars.uuid), "image": GraphQLField(type: GraphQLString),
                "registry": GraphQLField(type: GraphQLString), "status": GraphQLField(type: GraphQLString),
                "status_info": GraphQLField(type: GraphQLString), "status_data": GraphQLField(type: GraphQLScalars.jsonString),
                "status_changed": GraphQLField(type: GraphQLScalars.dateTime), "agent": GraphQLField(type: GraphQLString),
                "container_id": GraphQLField(type: GraphQLString), "resource_opts": GraphQLField(type: GraphQLScalars.jsonString),
                "occupied_slots": GraphQLField(type: GraphQLScalars.jsonString), "preopen_ports": GraphQLField(type: GraphQLList(GraphQLInt)),
                "live_stat": GraphQLField(type: GraphQLScalars.jsonString), "last_stat": GraphQLField(type: GraphQLScalars.jsonString),
            ])
        return try GraphQLObjectType(
            name: "ComputeSession",
            fields: [
                "id": GraphQLField(type: GraphQLScalars.uuid),
                "session_id": GraphQLField(type: GraphQLScalars.uuid),
                "main_kernel_id": GraphQLField(type: GraphQLScalars.uuid),
                "name": GraphQLField(type: GraphQLString),
                "tag": GraphQLField(type: GraphQLString),
                "type": GraphQLField(type: GraphQLString),
                "session_type": GraphQLField(type: GraphQLString),
                "image": GraphQLField(type: GraphQLString),
                "architecture": GraphQLField(type: GraphQLString),
                "domain_name": GraphQLField(type: GraphQLString),
                "group_name": GraphQLField(type: GraphQLString),
                "user_uuid": GraphQLField(type: GraphQLScalars.uuid),
                "access_key": GraphQLField(type: GraphQLString),
                "scaling_group": GraphQLField(type: GraphQLString),
                "agent": GraphQLField(type: GraphQLString),
                "status": GraphQLField(type: GraphQLString),
                "status_info": GraphQLField(type: GraphQLString),
                "status_data": GraphQLField(type: GraphQLScalars.jsonString),
                "status_history": GraphQLField(type: GraphQLScalars.jsonString),
                "status_changed": GraphQLField(type: GraphQLScalars.dateTime),
                "created_at": GraphQLField(type: GraphQLScalars.dateTime),
                "terminated_at": GraphQLField(type: GraphQLScalars.dateTime),
                "starts_at": GraphQLField(type: GraphQLScalars.dateTime),
                "startup_command": GraphQLField(type: GraphQLString),
                "result": GraphQLField(type: GraphQLString),
                "occupying_slots": GraphQLField(type: GraphQLScalars.jsonString),
                "requested_slots": GraphQLField(type: GraphQLScalars.jsonString),
                "resource_opts": GraphQLField(type: GraphQLScalars.jsonString),
                "idle_checks": GraphQLField(type: GraphQLScalars.jsonString),
                "exit_code": GraphQLField(type: GraphQLInt),
                // Every field `ps --format` offers (null or empty where it does not apply here).
                "registry": GraphQLField(type: GraphQLString),
                "cluster_template": GraphQLField(type: GraphQLString),
                "cluster_mode": GraphQLField(type: GraphQLString),
                "cluster_size": GraphQLField(type: GraphQLInt),
                "group_id": GraphQLField(type: GraphQLScalars.uuid),
                "agent_ids": GraphQLField(type: GraphQLList(GraphQLString)),
                "user_email": GraphQLField(type: GraphQLString),
                "user_id": GraphQLField(type: GraphQLScalars.uuid),
                "created_user_email": GraphQLField(type: GraphQLString),
                "created_user_id": GraphQLField(type: GraphQLScalars.uuid),
                "scheduled_at": GraphQLField(type: GraphQLScalars.dateTime),
                "service_ports": GraphQLField(type: GraphQLScalars.jsonString),
                "mounts": GraphQLField(type: GraphQLList(GraphQLString)),
                "abusing_reports": GraphQLField(type: GraphQLList(GraphQLScalars.jsonString)),
                "containers": GraphQLField(type: GraphQLList(container)),
                "dependencies": GraphQLField(
                    type: GraphQLList(dependency),
                    resolve: { source, _, context, _ in
                        let context = try GraphQLResolveInfo.context(context)
                        guard let row = source as? [String: any Sendable], let id = row["id"] as? UUID else {
                            return [[String: any Sendable]]()
                        }
                        return try await context.sessions.dependencies(of: id).map { ["name": $0.name, "id": $0.id] as [String: any Sendable] }
                    }),
            ])
    }

    static func row(_ session: SessionRecord) -> [String: any Sendable] {
        [
            "id": session.id, "session_id": session.id, "main_kernel_id": session.id, "name": session.name,
            "tag": session.tag as (any Sendable)?, "type": session.type.rawValue.uppercased(),
            "session_type": session.type.rawValue.uppercased(), "image": session.image, "architecture": session.architecture,
            "domain_name": session.domainName, "group_name": session.groupName, "user_uuid": session.userID,
            "access_key": session.accessKey.rawValue, "scaling_group": session.scalingGroup as (any Sendable)?,
            "agent": session.agentID as (any Sendable)?, "status": session.status.rawValue,
            "status_info": session.statusInfo as (any Sendable)?, "status_data": session.statusData,
            "status_history": session.statusHistory, "status_changed": session.statusChanged, "created_at": session.createdAt,
            "terminated_at": session.terminatedAt as (any Sendable)?, "starts_at": session.startsAt as (any Sendable)?,
            "startup_command": session.startupCommand as (any Sendable)?, "result": session.result.rawValue,
            "occupying_slots": session.occupyingSlots, "requested_slots": session.requestedSlots,
            "resource_opts": session.resourceOpts, "idle_checks": JSONValue.object([]),
            "exit_code": session.exitCode as (any Sendable)?, "containers": [Self.mainKernel(session)],
            "registry": ImageReference(session.image)?.registry ?? "", "cluster_template": nil as (any Sendable)?,
            "cluster_mode": "single-node", "cluster_size": 1, "group_id": session.groupID as (any Sendable)?,
            "agent_ids": session.agentID.map { [$0] } ?? [String](), "user_email": session.userEmail as (any Sendable)?,
            "user_id": session.userID, "created_user_email": session.userEmail as (any Sendable)?,
            "created_user_id": session.userID, "scheduled_at": Self.when(session, .scheduled) as (any Sendable)?,
            "service_ports": JSONValue.array([]), "mounts": session.mountNames, "abusing_reports": [JSONValue](),
        ]
    }

    /// When the session entered `status`, from its status history.
    static func when(_ session: SessionRecord, _ status: SessionStatus) -> Date? {
        guard case .object(let entries) = session.statusHistory,
            let entry = entries.first(where: { $0.key == status.rawValue }), case .string(let text) = entry.value
        else { return nil }
        return Timestamp.parse(text)
    }

    /// The session's one kernel (Backend.AI's main container): its status, slots and measured use — `live_stat`
    /// while it runs, `last_stat` always.
    static func mainKernel(_ session: SessionRecord) -> [String: any Sendable] {
        let running = SessionOccupancy.activeStatuses.contains(session.status)
        let image = ImageReference(session.image)
        return [
            "id": session.id, "session_id": session.id, "cluster_role": "main", "cluster_idx": 0,
            "cluster_hostname": "main1", "image": session.image, "registry": image?.registry ?? "",
            "status": session.status.rawValue, "status_info": session.statusInfo as (any Sendable)?,
            "status_data": session.statusData, "status_changed": session.statusChanged,
            "agent": session.agentID as (any Sendable)?, "container_id": nil as (any Sendable)?,
            "resource_opts": session.resourceOpts, "occupied_slots": session.occupyingSlots, "preopen_ports": [Int](),
            "live_stat": running && session.lastStat != .null ? session.lastStat : nil as (any Sendable)?,
            "last_stat": session.lastStat == .null ? nil as (any Sendable)? : session.lastStat,
        ]
    }

    static func queryFields(object: GraphQLObjectType) throws -> GraphQLFieldMap {
        let list = try GraphQLPage.listType(name: "ComputeSessionList", of: object)
        return [
            "compute_session_list": GraphQLField(
                type: list,
                args: GraphQLPage.arguments.merging([
                    "status": GraphQLArgument(type: GraphQLString),
                    "access_key": GraphQLArgument(type: GraphQLString),
                    "filter": GraphQLArgument(type: GraphQLString),
                    "order": GraphQLArgument(type: GraphQLString),
                    "domain_name": GraphQLArgument(type: GraphQLString),
                    "group_id": GraphQLArgument(type: GraphQLScalars.uuid),
                ], uniquingKeysWith: { $1 }),
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    let (limit, offset) = try GraphQLPage.bounds(args)
                    var statuses = SessionStatus.allCases
                    if let text = args["status"].string, !text.isEmpty {
                        statuses = []
                        for name in text.split(separator: ",") {
                            let trimmed = name.trimmingCharacters(in: .whitespaces).uppercased()
                            guard let status = SessionStatus(rawValue: trimmed) else {
                                throw GraphQLFailure("status: '\(trimmed)' is not a session status")
                            }
                            statuses.append(status)
                        }
                    }
                    // A user sees only their own sessions; an admin may narrow to one access key.
                    var owner: AccessKey? = context.identity.accessKey
                    if context.identity.isAdmin { owner = args["access_key"].string.map { AccessKey($0) } }
                    var query = SessionListQuery(statuses: statuses, owner: owner, limit: limit, offset: offset)
                    (query.filter, query.order) = try GraphQLPage.filterAndOrder(args)
                    do {
                        let (items, total) = try await context.sessions.list(query)
                        return ["items": items.map(Self.row), "total_count": total] as [String: any Sendable]
                    } catch let refusal as ListFilterSQL.Refusal {
                        throw GraphQLFailure("filter/order: \(refusal)")
                    }
                }),
            "compute_session": GraphQLField(
                type: object, args: ["id": GraphQLArgument(type: GraphQLNonNull(GraphQLScalars.uuid))],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    guard let text = args["id"].string, let id = UUID(uuidString: text),
                        let session = try await context.sessions.session(id: id)
                    else { return nil }
                    guard context.identity.isAdmin || session.accessKey == context.identity.accessKey else { return nil }
                    return Self.row(session)
                }),
        ]
    }
}
