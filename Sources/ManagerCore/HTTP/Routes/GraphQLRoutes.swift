import Foundation
import GraphQL
import OrderedCollections
import HTTPTypes
import Hummingbird
import Logging
import Prometheus

/// `POST /admin/gql`: the GraphQL subset, executed by GraphQLSwift. Replies `{"data":…}` and, on failure,
/// `{"errors":[{"message","path"}]}`, with fields in the order they were selected.
struct GraphQLRoutes {
    let schema: GraphQLSchema
    let keypairs: any KeypairStore
    let scalingGroups: any ScalingGroupStore
    let sessions: any SessionStore
    let agents: PostgresAgentStore
    let folders: PostgresVFolderStore
    let images: PostgresImageStore
    let policies: any ResourcePolicyStore
    let keypairCache: KeypairCache?
    var accounts: PostgresAccountStore? = nil
    var organization: PostgresOrganizationStore? = nil
    var purges: AccountPurge? = nil
    var volumes: StorageVolumes? = nil
    let maxBodySize: Int
    let limits: GraphQLLimits
    let documents = ValidatedDocumentCache()
    let plans = CompiledPlanCache()
    /// Requests by the path that answered them: `compiled` (`CompiledSessionList`) or `general` (GraphQLSwift).
    var compiledCount: Prometheus.Counter? = nil
    var generalCount: Prometheus.Counter? = nil

    func counting(in registry: PrometheusCollectorRegistry) -> GraphQLRoutes {
        var routes = self
        let name = MetricNameDescriptor(
            namespace: "manager", subsystem: "graphql", metricName: "requests", unitName: "total",
            helpText: "GraphQL requests by the execution path that answered them")
        routes.compiledCount = registry.makeCounter(descriptor: name, labels: [("path", "compiled")])
        routes.generalCount = registry.makeCounter(descriptor: name, labels: [("path", "general")])
        return routes
    }

    struct Body: Decodable {
        let query: String
        let variables: [String: Map]?
        let operationName: String?
    }

    func register(on router: Router<ManagerRequestContext>) {
        router.post("/admin/gql") { request, context in
            let identity = try context.requireIdentity()
            let body = try await JSONResponse.decode(Body.self, from: request, limit: self.maxBodySize)
            let result: GraphQLResult
            do {
                try Self.refuseOverLimit { try self.limits.scan(body.query) }
                let lookup = try Self.refuseOverLimit {
                    try self.documents.document(for: body.query, schema: self.schema) { document in
                        try GraphQLDocumentGuard.check(document)
                        try self.limits.check(document, schema: self.schema, operationName: body.operationName,
                                              variables: body.variables ?? [:])
                    }
                }
                switch lookup {
                case .invalid(let errors):
                    result = GraphQLResult(data: nil, errors: errors)
                case .document(let document):
                    let graphQLContext = GraphQLContext(
                        identity: identity, keypairs: self.keypairs, scalingGroups: self.scalingGroups,
                        sessions: self.sessions, agents: self.agents, folders: self.folders, images: self.images,
                        policies: self.policies, keypairCache: self.keypairCache, accounts: self.accounts,
                        organization: self.organization, purges: self.purges, volumes: self.volumes)
                    // The compiled path answers what it covers; anything else, errors included, runs GraphQLSwift.
                    if body.query.utf8.count <= self.documents.maxTextLength,
                        let plan = self.plans.plan(for: body.query, operationName: body.operationName, document: document),
                        let bytes = await plan.execute(variables: body.variables ?? [:], context: graphQLContext)
                    {
                        self.compiledCount?.increment()
                        return Response(
                            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
                    }
                    self.generalCount?.increment()
                    result = try await execute(
                        schema: self.schema, documentAST: document, rootValue: (), context: graphQLContext,
                        variableValues: body.variables ?? [:], operationName: body.operationName)
                }
            } catch let error as GraphQLError {
                // A syntax error in the document (GraphQLSwift throws it before execution): a request error, reported
                // in the body like every other GraphQL error.
                result = GraphQLResult(data: nil, errors: [error])
            }
            for error in result.errors where Self.isInternal(error) {
                context.logger.error("graphql resolver failed", metadata: ["error": "\(String(reflecting: error.originalError))"])
            }
            let data = try GraphQLJSONEncoder().encode(Self.sanitized(result))
            // A request error (syntax, validation, variables of the wrong type: nothing was executed) is a 400,
            // as in GraphQL over HTTP; errors of fields that did run come with their data in a 200.
            let requestError = result.data == nil && !result.errors.isEmpty
            return Response(
                status: requestError ? .badRequest : .ok, headers: [.contentType: "application/json; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
    }

    /// A document past one of `limits` is refused before it runs: 400 problem+json naming the setting.
    static func refuseOverLimit<T>(_ check: () throws -> T) throws -> T {
        do {
            return try check()
        } catch let exceeded as GraphQLLimits.Exceeded {
            throw APIError.graphQLLimit(exceeded.description)
        }
    }

    /// Resolver errors that are not ours (database failures) become a generic message: no internals leak.
    static func sanitized(_ result: GraphQLResult) -> GraphQLResult {
        var result = result
        result.errors = result.errors.map { error in
            if let failure = error.originalError as? GraphQLFailure {
                return GraphQLError(message: failure.description, locations: error.locations, path: error.path)
            }
            if Self.isInternal(error) {
                return GraphQLError(message: "internal error; see the server log", locations: error.locations, path: error.path)
            }
            return error
        }
        return result
    }

    /// An error raised by our code below the resolvers (a database failure), not a user mistake.
    static func isInternal(_ error: GraphQLError) -> Bool {
        guard let original = error.originalError else { return false }
        return !(original is GraphQLFailure || original is GraphQLError)
    }
}
