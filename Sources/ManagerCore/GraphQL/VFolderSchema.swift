import Foundation
import GraphQL
import OrderedCollections

/// `vfolder_own_list` (the CLI's `vfolder list-own`) and `vfolder_list` (own and project folders; admins may ask
/// for everyone's with `all`).
enum VFolderSchema {
    static func object() throws -> GraphQLObjectType {
        try GraphQLObjectType(
            name: "VirtualFolder",
            fields: [
                "id": GraphQLField(type: GraphQLScalars.uuid), "host": GraphQLField(type: GraphQLString),
                "quota_scope_id": GraphQLField(type: GraphQLString), "name": GraphQLField(type: GraphQLString),
                "user": GraphQLField(type: GraphQLScalars.uuid), "user_email": GraphQLField(type: GraphQLString),
                "group": GraphQLField(type: GraphQLScalars.uuid), "group_name": GraphQLField(type: GraphQLString),
                "creator": GraphQLField(type: GraphQLString), "unmanaged_path": GraphQLField(type: GraphQLString),
                "usage_mode": GraphQLField(type: GraphQLString), "permission": GraphQLField(type: GraphQLString),
                "max_files": GraphQLField(type: GraphQLInt), "max_size": GraphQLField(type: GraphQLFloat),
                "created_at": GraphQLField(type: GraphQLScalars.dateTime), "last_used": GraphQLField(type: GraphQLScalars.dateTime),
                "num_files": GraphQLField(type: GraphQLInt), "cur_size": GraphQLField(type: GraphQLFloat),
                "cloneable": GraphQLField(type: GraphQLBoolean), "status": GraphQLField(type: GraphQLString),
                "ownership_type": GraphQLField(type: GraphQLString), "type": GraphQLField(type: GraphQLString),
            ])
    }

    static func row(_ folder: VFolderRecord) -> [String: any Sendable] {
        [
            "id": folder.id, "host": folder.host, "quota_scope_id": VFolderRoutes.quotaScope(folder), "name": folder.name,
            "user": folder.userID, "user_email": folder.userID == nil ? nil : folder.creator, "group": folder.groupID,
            "group_name": folder.groupName, "creator": folder.creator, "unmanaged_path": nil as String?,
            "usage_mode": folder.usageMode, "permission": folder.permission, "max_files": 0, "max_size": 0.0,
            "created_at": folder.createdAt, "last_used": folder.lastUsed, "num_files": folder.numFiles,
            "cur_size": Double(folder.curSize), "cloneable": folder.cloneable, "status": folder.status.rawValue,
            "ownership_type": folder.ownershipType, "type": folder.ownershipType,
        ]
    }

    static func queryFields(object: GraphQLObjectType) throws -> [String: GraphQLField] {
        let list = try GraphQLPage.listType(name: "VirtualFolderList", of: object)
        let filters: GraphQLArgumentConfigMap = [
            "filter": GraphQLArgument(type: GraphQLString), "order": GraphQLArgument(type: GraphQLString),
        ]
        return [
            "vfolder_own_list": GraphQLField(
                type: list, args: GraphQLPage.arguments.merging(filters, uniquingKeysWith: { $1 }),
                resolve: { _, args, context, _ in
                    try await Self.page(args, context: context, scope: .own)
                }),
            "vfolder_invited_list": GraphQLField(
                type: list, args: GraphQLPage.arguments.merging(filters, uniquingKeysWith: { $1 }),
                resolve: { _, args, context, _ in try await Self.page(args, context: context, scope: .invited) }),
            "vfolder_project_list": GraphQLField(
                type: list, args: GraphQLPage.arguments.merging(filters, uniquingKeysWith: { $1 }),
                resolve: { _, args, context, _ in try await Self.page(args, context: context, scope: .project) }),
            "vfolder_list": GraphQLField(
                type: list,
                args: GraphQLPage.arguments.merging(filters, uniquingKeysWith: { $1 }).merging(
                    [
                        "group": GraphQLArgument(type: GraphQLScalars.uuid), "group_id": GraphQLArgument(type: GraphQLScalars.uuid),
                        "all": GraphQLArgument(type: GraphQLBoolean),
                    ],
                    uniquingKeysWith: { $1 }),
                resolve: { _, args, context, _ in
                    let group = (args["group_id"].string ?? args["group"].string).flatMap(UUID.init(uuidString:))
                    return try await Self.page(args, context: context, scope: args["all"].bool == true ? .everyone : .visible, group: group)
                }),
        ]
    }

    private static func page(
        _ args: Map, context: any Sendable, scope: PostgresVFolderStore.ListScope, group: UUID? = nil
    ) async throws -> any Sendable {
        let context = try GraphQLResolveInfo.context(context)
        let (limit, offset) = try GraphQLPage.bounds(args)
        let (items, total) = try await context.folders.list(
            identity: context.identity, scope: scope, group: group, limit: limit, offset: offset)
        return ["items": items.map(Self.row), "total_count": total] as [String: any Sendable]
    }
}
