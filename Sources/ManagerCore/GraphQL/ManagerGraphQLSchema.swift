import GraphQL
import OrderedCollections

/// The `/admin/gql` schema: the subset of Backend.AI's the official client uses.
enum ManagerGraphQLSchema {
    static func make() throws -> GraphQLSchema {
        let scalingGroup = try ScalingGroupSchema.object()
        let session = try SessionSchema.object()
        let keypair = try GraphQLObjectType(
            name: "KeyPair",
            fields: [
                "user_id": GraphQLField(type: GraphQLString), "access_key": GraphQLField(type: GraphQLString),
                "secret_key": GraphQLField(type: GraphQLString), "is_active": GraphQLField(type: GraphQLBoolean),
                "is_admin": GraphQLField(type: GraphQLBoolean), "resource_policy": GraphQLField(type: GraphQLString),
            ])
        var queryFields = ScalingGroupSchema.queryFields(object: scalingGroup)
        for (name, field) in try SessionSchema.queryFields(object: session) { queryFields[name] = field }
        for (name, field) in try AgentSchema.queryFields(object: try AgentSchema.object()) { queryFields[name] = field }
        for (name, field) in try VFolderSchema.queryFields(object: try VFolderSchema.object()) { queryFields[name] = field }
        for (name, field) in ImageSchema.queryFields(object: try ImageSchema.object()) { queryFields[name] = field }
        queryFields["keypair"] = GraphQLField(
            type: keypair, args: ["domain_name": GraphQLArgument(type: GraphQLString), "access_key": GraphQLArgument(type: GraphQLString)],
            resolve: { _, _, context, _ in
                let context = try GraphQLResolveInfo.context(context)
                guard let record = try await context.keypairs.keypair(context.identity.accessKey) else { return nil }
                return [
                    "user_id": record.email, "access_key": record.accessKey.rawValue, "secret_key": record.secretKey,
                    "is_active": record.isActive, "is_admin": record.isAdmin, "resource_policy": "default",
                ] as [String: any Sendable]
            })
        let schema = try GraphQLSchema(
            query: try GraphQLObjectType(name: "Query", fields: queryFields),
            mutation: try GraphQLObjectType(name: "Mutation", fields: try ScalingGroupSchema.mutationFields(object: scalingGroup)))
        // Checked once here; requests then go straight to their (cached) documents.
        let problems = validateSchema(schema: schema)
        guard problems.isEmpty else { throw SchemaProblem(errors: problems) }
        return schema
    }

    struct SchemaProblem: Error, CustomStringConvertible {
        let errors: [GraphQLError]
        var description: String { "invalid GraphQL schema: \(self.errors.map(\.message).joined(separator: "; "))" }
    }
}
