import Foundation
import GraphQL
import OrderedCollections
import SchedulerKit

/// The `{items total_count}` list shape and the `limit`/`offset` arguments every paginated root field shares.
enum GraphQLPage {
    static func listType(name: String, of object: GraphQLObjectType) throws -> GraphQLObjectType {
        try GraphQLObjectType(
            name: name,
            fields: ["items": GraphQLField(type: GraphQLList(object)), "total_count": GraphQLField(type: GraphQLInt)])
    }

    static var arguments: GraphQLArgumentConfigMap {
        [
            "limit": GraphQLArgument(type: GraphQLNonNull(GraphQLInt)),
            "offset": GraphQLArgument(type: GraphQLNonNull(GraphQLInt)),
        ]
    }

    /// `limit` in 1...100 and a non-negative `offset`.
    static func bounds(_ args: Map) throws -> (limit: Int, offset: Int) {
        try Self.bounds(limit: args["limit"].int, offset: args["offset"].int)
    }

    static func bounds(limit: Int?, offset: Int?) throws -> (limit: Int, offset: Int) {
        let limit = limit ?? 20
        let offset = offset ?? 0
        guard (1...100).contains(limit) else { throw GraphQLFailure("limit must be between 1 and 100") }
        guard offset >= 0 else { throw GraphQLFailure("offset must not be negative") }
        return (limit, offset)
    }

    /// The `filter` and `order` arguments (Backend.AI's mini-languages); a bad expression is an error naming it.
    static func filterAndOrder(_ args: Map) throws -> (filter: ListFilter?, order: [ListOrder]) {
        try Self.filterAndOrder(filter: args["filter"].string, order: args["order"].string)
    }

    static func filterAndOrder(filter filterText: String?, order orderText: String?) throws -> (filter: ListFilter?, order: [ListOrder]) {
        var filter: ListFilter?
        var order: [ListOrder] = []
        if let text = filterText, !text.trimmingCharacters(in: .whitespaces).isEmpty {
            switch ListFilter.parse(text) {
            case .success(let parsed): filter = parsed
            case .failure(let problem): throw GraphQLFailure("filter: \(problem)")
            }
        }
        if let text = orderText, !text.trimmingCharacters(in: .whitespaces).isEmpty {
            switch ListOrder.parse(text) {
            case .success(let parsed): order = parsed
            case .failure(let problem): throw GraphQLFailure("order: \(problem)")
            }
        }
        return (filter, order)
    }
}
