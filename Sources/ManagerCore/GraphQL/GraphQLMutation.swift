import GraphQL
import OrderedCollections

/// What Backend.AI's admin mutations share: an `{ok msg}` result type and an admin-only resolver.
enum GraphQLMutation {
    /// The `{ok msg}` object type named `name`, with `extra` fields (the created object).
    static func result(_ name: String, extra: GraphQLFieldMap = [:]) throws -> GraphQLObjectType {
        var fields: GraphQLFieldMap = ["ok": GraphQLField(type: GraphQLBoolean), "msg": GraphQLField(type: GraphQLString)]
        for (key, field) in extra { fields[key] = field }
        return try GraphQLObjectType(name: name, fields: fields)
    }

    static func outcome(_ ok: Bool, _ msg: String) -> [String: any Sendable] {
        ["ok": ok, "msg": msg]
    }

    /// A resolver that refuses non-admins, then runs `body` with the arguments and the context.
    static func admin(
        _ body: @escaping @Sendable (Map, GraphQLContext) async throws -> (any Sendable)?
    ) -> GraphQLFieldResolve {
        { _, args, context, _ in
            let context = try GraphQLResolveInfo.context(context)
            try context.requireAdmin()
            return try await body(args, context)
        }
    }
}
