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

    /// A session as GraphQLSwift's default resolvers read it: every leaf field (`SessionFields`) by name, and its
    /// one container.
    static func row(_ session: SessionRecord) -> [String: any Sendable] {
        var row = [String: any Sendable](minimumCapacity: SessionField.allCases.count + 1)
        for field in SessionField.allCases { row[field.rawValue] = field.value(of: session).boxed }
        row["containers"] = [Self.mainKernel(session)]
        return row
    }

    static func mainKernel(_ session: SessionRecord) -> [String: any Sendable] {
        var row = [String: any Sendable](minimumCapacity: ContainerField.allCases.count)
        for field in ContainerField.allCases { row[field.rawValue] = field.value(of: session).boxed }
        return row
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
                    let arguments = SessionListArguments(
                        limit: args["limit"].int, offset: args["offset"].int, status: args["status"].string,
                        accessKey: args["access_key"].string, filter: args["filter"].string, order: args["order"].string)
                    let (items, total) = try await Self.list(arguments, context: context)
                    return ["items": items.map(Self.row), "total_count": total] as [String: any Sendable]
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

    /// `compute_session_list`'s arguments, as both execution paths read them.
    struct SessionListArguments {
        var limit: Int?
        var offset: Int?
        var status: String?
        var accessKey: String?
        var filter: String?
        var order: String?
    }

    /// The page and the count `compute_session_list` answers with; a bad argument is a `GraphQLFailure` naming it.
    static func list(
        _ arguments: SessionListArguments, detail: SessionDetail = .all, context: GraphQLContext
    ) async throws -> (items: [SessionRecord], total: Int) {
        let (limit, offset) = try GraphQLPage.bounds(limit: arguments.limit, offset: arguments.offset)
        var statuses = SessionStatus.allCases
        if let text = arguments.status, !text.isEmpty {
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
        if context.identity.isAdmin { owner = arguments.accessKey.map { AccessKey($0) } }
        var query = SessionListQuery(statuses: statuses, owner: owner, limit: limit, offset: offset, detail: detail)
        (query.filter, query.order) = try GraphQLPage.filterAndOrder(filter: arguments.filter, order: arguments.order)
        do {
            return try await context.sessions.list(query)
        } catch let refusal as ListFilterSQL.Refusal {
            throw GraphQLFailure("filter/order: \(refusal)")
        }
    }
}
