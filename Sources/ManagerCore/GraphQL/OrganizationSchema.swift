import Foundation
import GraphQL
import OrderedCollections
import SchedulerKit

/// `domains`, `domain`, `groups`, `group`, `groups_by_name` for `backend.ai admin domain|group list|info`: admins see
/// every one; a user sees their own domain and the projects they belong to.
enum OrganizationSchema {
    static func groupObject() throws -> GraphQLObjectType {
        try GraphQLObjectType(
            name: "Group",
            fields: [
                "id": GraphQLField(type: GraphQLScalars.uuid), "name": GraphQLField(type: GraphQLString),
                "description": GraphQLField(type: GraphQLString), "is_active": GraphQLField(type: GraphQLBoolean),
                "created_at": GraphQLField(type: GraphQLScalars.dateTime), "modified_at": GraphQLField(type: GraphQLScalars.dateTime),
                "domain_name": GraphQLField(type: GraphQLString), "total_resource_slots": GraphQLField(type: GraphQLScalars.jsonString),
                "allowed_vfolder_hosts": GraphQLField(type: GraphQLScalars.jsonString), "integration_id": GraphQLField(type: GraphQLString),
                "resource_policy": GraphQLField(type: GraphQLString),
            ])
    }

    static func domainObject() throws -> GraphQLObjectType {
        try GraphQLObjectType(
            name: "Domain",
            fields: [
                "name": GraphQLField(type: GraphQLString), "description": GraphQLField(type: GraphQLString),
                "is_active": GraphQLField(type: GraphQLBoolean), "created_at": GraphQLField(type: GraphQLScalars.dateTime),
                "modified_at": GraphQLField(type: GraphQLScalars.dateTime),
                "total_resource_slots": GraphQLField(type: GraphQLScalars.jsonString),
                "allowed_vfolder_hosts": GraphQLField(type: GraphQLScalars.jsonString),
                "allowed_docker_registries": GraphQLField(type: GraphQLList(GraphQLString)),
                "integration_id": GraphQLField(type: GraphQLString),
            ])
    }

    static func groupRow(_ group: PostgresOrganizationStore.Group) -> [String: any Sendable] {
        [
            "id": group.id, "name": group.name, "description": group.description, "is_active": group.isActive,
            "created_at": group.createdAt, "modified_at": group.modifiedAt, "domain_name": group.domainName,
            "total_resource_slots": group.totalResourceSlots, "allowed_vfolder_hosts": JSONValue.object([]),
            "integration_id": group.integrationID as (any Sendable)?, "resource_policy": "default",
        ]
    }

    static func domainRow(_ domain: PostgresOrganizationStore.Domain) -> [String: any Sendable] {
        [
            "name": domain.name, "description": domain.description, "is_active": domain.isActive, "created_at": domain.createdAt,
            "modified_at": domain.modifiedAt, "total_resource_slots": domain.totalResourceSlots,
            "allowed_vfolder_hosts": JSONValue.object([]), "allowed_docker_registries": [String](),
            "integration_id": domain.integrationID as (any Sendable)?,
        ]
    }

    static func queryFields(group: GraphQLObjectType, domain: GraphQLObjectType) throws -> GraphQLFieldMap {
        @Sendable func store(_ context: GraphQLContext) throws -> PostgresOrganizationStore {
            guard let store = context.organization else { throw GraphQLFailure("domains and projects are not available here") }
            return store
        }
        /// Users see only their own projects and domain.
        @Sendable func scope(_ context: GraphQLContext) -> (member: UUID?, domain: String?) {
            context.identity.isAdmin ? (nil, nil) : (context.identity.userID, context.identity.domainName)
        }
        return [
            "groups": GraphQLField(
                type: GraphQLList(group),
                args: ["domain_name": GraphQLArgument(type: GraphQLString), "is_active": GraphQLArgument(type: GraphQLBoolean)],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    let (member, own) = scope(context)
                    return try await store(context).groups(
                        domain: own ?? args["domain_name"].string, isActive: args["is_active"].bool, member: member).map(Self.groupRow)
                }),
            "groups_by_name": GraphQLField(
                type: GraphQLList(group),
                args: ["name": GraphQLArgument(type: GraphQLNonNull(GraphQLString)), "domain_name": GraphQLArgument(type: GraphQLString)],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    let (member, own) = scope(context)
                    return try await store(context).groups(
                        domain: own ?? args["domain_name"].string, isActive: nil, name: args["name"].string ?? "", member: member
                    ).map(Self.groupRow)
                }),
            "group": GraphQLField(
                type: group,
                args: ["id": GraphQLArgument(type: GraphQLNonNull(GraphQLScalars.uuid)), "domain_name": GraphQLArgument(type: GraphQLString)],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    guard let id = args["id"].string.flatMap(UUID.init(uuidString:)) else { return nil as [String: any Sendable]? }
                    let (member, own) = scope(context)
                    return try await store(context).groups(domain: own, isActive: nil, id: id, member: member).first.map(Self.groupRow)
                }),
            "domains": GraphQLField(
                type: GraphQLList(domain),
                args: ["is_active": GraphQLArgument(type: GraphQLBoolean)],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    return try await store(context).domains(name: scope(context).domain, isActive: args["is_active"].bool).map(Self.domainRow)
                }),
            "domain": GraphQLField(
                type: domain,
                args: ["name": GraphQLArgument(type: GraphQLString)],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    let name = args["name"].string ?? context.identity.domainName
                    if !context.identity.isAdmin, name != context.identity.domainName { return nil as [String: any Sendable]? }
                    return try await store(context).domains(name: name, isActive: nil).first.map(Self.domainRow)
                }),
        ]
    }
}
