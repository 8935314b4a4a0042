import Foundation
import GraphQL
import OrderedCollections
import SchedulerKit

/// `storage_volume_list` and `storage_volume(id:)` for `backend.ai admin storage list|info` (admins only, as in
/// Backend.AI): the configured volumes (`[[storage.volumes]]`), each a `vfs` directory of this manager, with its
/// capacity and use from `statvfs`.
enum StorageSchema {
    static func object() throws -> GraphQLObjectType {
        try GraphQLObjectType(
            name: "StorageVolume",
            fields: [
                "id": GraphQLField(type: GraphQLString), "backend": GraphQLField(type: GraphQLString),
                "fsprefix": GraphQLField(type: GraphQLString), "path": GraphQLField(type: GraphQLString),
                "capabilities": GraphQLField(type: GraphQLList(GraphQLString)),
                "hardware_metadata": GraphQLField(type: GraphQLScalars.jsonString),
                "performance_metric": GraphQLField(type: GraphQLScalars.jsonString),
                "usage": GraphQLField(type: GraphQLScalars.jsonString),
            ])
    }

    static func row(_ volume: StorageVolumes.Volume, usage: StorageVolumes.Usage?) -> [String: any Sendable] {
        var usageJSON = JSONValue.object([])
        if let usage {
            usageJSON = .object([
                ("capacity_bytes", .number(Double(usage.capacityBytes))), ("used_bytes", .number(Double(usage.usedBytes))),
            ])
        }
        return [
            "id": volume.host, "backend": "vfs", "fsprefix": ".", "path": volume.root,
            "capabilities": ["vfolder"], "hardware_metadata": JSONValue.object([]), "performance_metric": JSONValue.object([]),
            "usage": usageJSON,
        ]
    }

    static func queryFields(object: GraphQLObjectType) throws -> GraphQLFieldMap {
        let list = try GraphQLPage.listType(name: "StorageVolumeList", of: object)
        @Sendable func volumes(_ context: GraphQLContext) throws -> StorageVolumes {
            try context.requireAdmin()
            guard let volumes = context.volumes else { throw GraphQLFailure("storage volumes are not available here") }
            return volumes
        }
        @Sendable func usage(_ volumes: StorageVolumes, _ volume: StorageVolumes.Volume) async -> StorageVolumes.Usage? {
            // statvfs is a system call on the volume's filesystem: on the blocking executor.
            try? await BlockingExecutor.shared.run(name: "volume-usage") { volumes.usage(volume.host) }
        }
        return [
            "storage_volume_list": GraphQLField(
                type: list,
                args: GraphQLPage.arguments.merging([
                    "filter": GraphQLArgument(type: GraphQLString), "order": GraphQLArgument(type: GraphQLString),
                ], uniquingKeysWith: { $1 }),
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    let all = try volumes(context)
                    if let filter = args["filter"].string, !filter.isEmpty { throw GraphQLFailure("filter: storage volumes take no filter") }
                    if let order = args["order"].string, !order.isEmpty { throw GraphQLFailure("order: storage volumes are listed by id") }
                    let (limit, offset) = try GraphQLPage.bounds(args)
                    var items: [[String: any Sendable]] = []
                    for volume in all.volumes.sorted(by: { $0.host < $1.host }).dropFirst(offset).prefix(limit) {
                        items.append(Self.row(volume, usage: await usage(all, volume)))
                    }
                    return ["items": items, "total_count": all.volumes.count] as [String: any Sendable]
                }),
            "storage_volume": GraphQLField(
                type: object, args: ["id": GraphQLArgument(type: GraphQLNonNull(GraphQLString))],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    let all = try volumes(context)
                    guard let volume = all.volume(args["id"].string ?? "") else { return nil as [String: any Sendable]? }
                    return Self.row(volume, usage: await usage(all, volume))
                }),
        ]
    }
}
