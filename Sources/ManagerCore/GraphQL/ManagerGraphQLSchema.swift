import GraphQL
import OrderedCollections

/// The `/admin/gql` schema: the subset of Backend.AI's the official client uses.
enum ManagerGraphQLSchema {
    static func make() throws -> GraphQLSchema {
        let scalingGroup = try ScalingGroupSchema.object()
        let session = try SessionSchema.object()
        var queryFields = ScalingGroupSchema.queryFields(object: scalingGroup)
        for (name, field) in try SessionSchema.queryFields(object: session) { queryFields[name] = field }
        for (name, field) in try AgentSchema.queryFields(object: try AgentSchema.object()) { queryFields[name] = field }
        for (name, field) in try VFolderSchema.queryFields(object: try VFolderSchema.object()) { queryFields[name] = field }
        for (name, field) in ImageSchema.queryFields(object: try ImageSchema.object()) { queryFields[name] = field }
        let policy = try ResourcePolicySchema.object()
        for (name, field) in ResourcePolicySchema.queryFields(object: policy) { queryFields[name] = field }
        var mutationFields = try ScalingGroupSchema.mutationFields(object: scalingGroup)
        for (name, field) in try ResourcePolicySchema.mutationFields(object: policy) { mutationFields[name] = field }
        let keypair = try KeypairSchema.object()
        for (name, field) in KeypairSchema.queryFields(object: keypair) { queryFields[name] = field }
        for (name, field) in try KeypairSchema.mutationFields() { mutationFields[name] = field }
        let user = try AccountSchema.userObject()
        for (name, field) in try AccountSchema.queryFields(user: user, keypair: keypair) { queryFields[name] = field }
        for (name, field) in try AccountSchema.mutationFields(user: user, keypair: keypair) { mutationFields[name] = field }
        let group = try OrganizationSchema.groupObject(), domain = try OrganizationSchema.domainObject()
        for (name, field) in try OrganizationSchema.queryFields(group: group, domain: domain) { queryFields[name] = field }
        for (name, field) in try OrganizationEditSchema.mutationFields(group: group, domain: domain) { mutationFields[name] = field }
        for (name, field) in try AccountEditSchema.mutationFields() { mutationFields[name] = field }
        for (name, field) in try StorageSchema.queryFields(object: try StorageSchema.object()) { queryFields[name] = field }
        let schema = try GraphQLSchema(
            query: try GraphQLObjectType(name: "Query", fields: queryFields),
            mutation: try GraphQLObjectType(name: "Mutation", fields: mutationFields))
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
