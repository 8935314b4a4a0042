import Foundation
import GraphQL
import OrderedCollections
import SchedulerKit

/// `images` and `image` (what `backend.ai admin image list` reads): the images imported on this installation.
enum ImageSchema {
    static func object() throws -> GraphQLObjectType {
        let label = try GraphQLObjectType(
            name: "KVPair", fields: ["key": GraphQLField(type: GraphQLString), "value": GraphQLField(type: GraphQLString)])
        return try GraphQLObjectType(
            name: "Image",
            fields: [
                "name": GraphQLField(type: GraphQLString), "humanized_name": GraphQLField(type: GraphQLString),
                "tag": GraphQLField(type: GraphQLString), "registry": GraphQLField(type: GraphQLString),
                "architecture": GraphQLField(type: GraphQLString), "digest": GraphQLField(type: GraphQLString),
                // Backend.AI's BigInt: a JSON number.
                "size_bytes": GraphQLField(type: GraphQLFloat), "aliases": GraphQLField(type: GraphQLList(GraphQLString)),
                "labels": GraphQLField(type: GraphQLList(label)), "installed": GraphQLField(type: GraphQLBoolean),
                "is_local": GraphQLField(type: GraphQLBoolean),
            ])
    }

    static func row(_ image: ImageRecord) -> [String: any Sendable] {
        [
            "name": image.reference.shortName, "humanized_name": image.reference.canonical, "tag": image.reference.tag,
            "registry": image.reference.registry, "architecture": image.architecture, "digest": image.digest,
            "size_bytes": Double(image.sizeBytes), "aliases": [String](),
            "labels": image.labels.sorted { $0.key < $1.key }.map { ["key": $0.key, "value": $0.value] as [String: any Sendable] },
            "installed": true, "is_local": image.reference.registry == "local",
        ]
    }

    static func queryFields(object: GraphQLObjectType) -> GraphQLFieldMap {
        [
            "images": GraphQLField(
                type: GraphQLList(object),
                args: ["is_operation": GraphQLArgument(type: GraphQLBoolean), "is_installed": GraphQLArgument(type: GraphQLBoolean)],
                resolve: { _, _, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    return try await context.images.list().map(Self.row)
                }),
            "image": GraphQLField(
                type: object,
                args: ["reference": GraphQLArgument(type: GraphQLNonNull(GraphQLString)), "architecture": GraphQLArgument(type: GraphQLString)],
                resolve: { _, args, context, _ in
                    let context = try GraphQLResolveInfo.context(context)
                    guard let reference = args["reference"].string.flatMap(ImageReference.init) else {
                        throw GraphQLFailure("'reference' is not an image reference like python:3.11")
                    }
                    return try await context.images.image(reference, architecture: args["architecture"].string ?? MachineInfo.architecture)
                        .map(Self.row)
                }),
        ]
    }
}
