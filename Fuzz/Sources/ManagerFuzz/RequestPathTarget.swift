import Crypto
import Foundation
import HTTPTypes
import GraphQL
import Hummingbird
import Logging
@testable import ManagerCore
import NIOCore
import NIOEmbedded
import SchedulerKit
import Synchronization

/// The whole request path in memory: the daemon's middleware (problem+json, authentication) and routes over
/// in-memory stores, driven with signed requests built from the input. An answer of 500 is a finding.
///
/// Input: byte 0 picks the method and the signer (admin, user, unsigned); the rest is split at NUL bytes into the
/// path with query, the Date header (`now` for the current time), the content type and the body.
final class RequestPathTarget: Sendable {
    static let shared = RequestPathTarget()

    let responder: RouterResponder<ManagerRequestContext>
    let logger: Logger
    /// One channel for every request (the routes only read its addresses).
    nonisolated(unsafe) let channel = EmbeddedChannel()
    static let keys = [
        KeypairRecord(accessKey: AccessKey("AKIAFUZZADMIN"), secretKey: "admin-secret", userID: UUID(), email: "admin@fuzz",
                      domainName: "default", isAdmin: true, isActive: true),
        KeypairRecord(accessKey: AccessKey("AKIAFUZZUSER"), secretKey: "user-secret", userID: UUID(), email: "user@fuzz",
                      domainName: "default", isAdmin: false, isActive: true),
    ]

    static let agentSecret = "fuzz-agent-secret"

    init() {
        var logger = Logger(label: "fuzz")
        logger.logLevel = .critical
        logger[metadataKey: "hb.request.id"] = "fuzz"  // what Hummingbird's server sets for each request
        self.logger = logger
        let keypairs = MemoryKeypairs(records: Self.keys)
        let sessions = MemorySessions()
        // No database: a resolver that reaches one fails fast (connection refused), as in an outage.
        let pool = PostgresPool(
            configuration: .init(conninfo: "host=127.0.0.1 port=1 connect_timeout=1", maxConnections: 1, acquireTimeout: .milliseconds(50)),
            logger: logger)
        let router = Router(context: ManagerRequestContext.self)
        router.add(middleware: ProblemMiddleware(maxBodySize: 1 << 20))
        router.add(middleware: AuthMiddleware(keypairs: keypairs, maxClockSkew: .seconds(900)))
        let schema: GraphQLSchemaBox
        do { schema = GraphQLSchemaBox(try ManagerGraphQLSchema.make()) } catch { fatalError("schema: \(error)") }
        GraphQLRoutes(
            schema: schema.schema, keypairs: keypairs, scalingGroups: PostgresScalingGroupStore(pool: pool), sessions: sessions,
            agents: PostgresAgentStore(pool: pool), folders: PostgresVFolderStore(pool: pool), images: PostgresImageStore(pool: pool),
            policies: PostgresResourcePolicyStore(pool: pool), keypairCache: nil, maxBodySize: 1 << 20,
            limits: GraphQLLimits()
        ).register(on: router)
        SessionRoutes(sessions: sessions, maxBodySize: 1 << 20).register(on: router)
        // Folder, task and webhook routes over the same unreachable database: their bodies and parameters are
        // read before any store call.
        var storage = ManagerConfig.Storage()
        storage.defaultHost = "local:volume1"
        storage.volumes = [ManagerConfig.Volume(name: "volume1", path: "/nonexistent/fuzz-volume")]
        let signal = EventSignal(conninfo: "host=127.0.0.1 port=1", logger: logger)
        let tasks = BackgroundTaskService(
            store: PostgresBackgroundTaskStore(pool: pool), signal: signal, configuration: .init(replica: "fuzz", lease: .seconds(10)),
            cleanups: [:], logger: logger)
        VFolderRoutes(
            folders: PostgresVFolderStore(pool: pool), volumes: StorageVolumes(storage), tasks: tasks, cloneRateLimit: 0,
            maxBodySize: 1 << 20
        ).register(on: router)
        WebhookRoutes(store: PostgresWebhookStore(pool: pool)).register(on: router)
        AgentRoutes(
            agents: PostgresAgentStore(pool: pool), tokens: PostgresAgentTokenStore(pool: pool), signal: signal,
            health: HeartbeatHealth(), sharedSecret: Self.agentSecret, heartbeatInterval: .seconds(10),
            heartbeatTimeout: .seconds(30), maxBodySize: 1 << 20
        ).register(on: router)
        self.responder = router.buildResponder()
    }

    func run(_ bytes: [UInt8]) {
        guard let first = bytes.first else { return }
        let parts = bytes.dropFirst().split(separator: 0, maxSplits: 3, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        let methods: [HTTPRequest.Method] = [.get, .post, .delete, .put, .patch]
        let method = methods[Int(first & 0x07) % methods.count]
        let signer = Int(first >> 6) % 3
        let path = parts.first.map { $0.hasPrefix("/") ? $0 : "/" + $0 } ?? "/"
        var date = parts.count > 1 ? parts[1] : "now"
        if date == "now" { date = Timestamp.iso8601(Date()) }
        let contentType = parts.count > 2 ? parts[2] : "application/json"
        let body = parts.count > 3 ? parts[3] : ""

        var headers = HTTPFields()
        if !date.isEmpty { headers[.date] = date }
        headers[.contentType] = contentType
        if path.hasPrefix(AgentRoutes.prefix) {
            if signer == 0 { headers[.authorization] = "Bearer \(Self.agentSecret)" }
        } else if signer < 2 {
            let key = Self.keys[signer]
            let signature = RequestSignature(
                method: method.rawValue, pathAndQuery: path, date: date, host: "fuzz", contentType: contentType, apiVersion: "v7.20230615")
            let day = Timestamp.parse(date).map(Timestamp.utcDay) ?? "19700101"
            headers[.authorization] = "BackendAI signMethod=HMAC-SHA256, credential=\(key.accessKey.rawValue):\(signature.signature(secretKey: key.secretKey, day: day))"
            headers[HTTPField.Name("X-BackendAI-Version")!] = "v7.20230615"
        }
        let request = Request(
            head: HTTPRequest(method: method, scheme: "http", authority: "fuzz", path: path, headerFields: headers),
            body: RequestBody(buffer: ByteBuffer(string: body)))
        let status = Mutex<Int>(0)
        let done = DispatchSemaphore(value: 0)
        let responder = self.responder
        let logger = self.logger
        let channel = self.channel
        Task {
            let context = ManagerRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: logger))
            let code: Int
            do {
                code = Int(try await responder.respond(to: request, context: context).status.code)
            } catch let error as APIError {
                code = Int(error.status.code)
            } catch {
                code = 599
            }
            status.withLock { $0 = code }
            done.signal()
        }
        done.wait()
        let code = status.withLock { $0 }
        require(code != 500 && code != 599, "answered \(code) to \(method.rawValue) \(path.prefix(100)) with a \(body.utf8.count)-byte body")
    }
}

/// The schema is built once; GraphQLSchema is not Sendable.
struct GraphQLSchemaBox: @unchecked Sendable {
    let schema: GraphQLSchema
    init(_ schema: GraphQLSchema) { self.schema = schema }
}

struct MemoryKeypairs: KeypairStore {
    let records: [KeypairRecord]
    func keypair(_ accessKey: AccessKey) async throws -> KeypairRecord? { self.records.first { $0.accessKey == accessKey } }
    func createKeypair(email: String, isAdmin: Bool) async throws -> KeypairRecord {
        throw APIError.forbidden("not in the fuzz harness")
    }
    func modify(_ accessKey: AccessKey, _ changes: KeypairChanges) async throws -> KeypairModification { .notFound }
}

/// Sessions that never exist: enqueue is refused after the request was read whole (the part fuzzed).
struct MemorySessions: SessionStore {
    func enqueue(_ creation: SessionCreation) async throws -> EnqueueOutcome { throw SessionStoreRefusal.unknownGroup(creation.groupName) }
    func session(nameOrID: String, owner: AccessKey) async throws -> SessionRecord? { nil }
    func session(id: UUID) async throws -> SessionRecord? { nil }
    func touch(_ id: UUID) async throws {}
    func rename(_ id: UUID, to name: String) async throws -> Bool { false }
    func restart(_ id: UUID) async throws -> IllegalTransition? { nil }
    func destroy(_ id: UUID, recursive: Bool, forced: Bool) async throws -> [SessionRecord] { [] }
    func dependencyGraph(of id: UUID) async throws -> DependencyNode? { nil }
    func dependencies(of id: UUID) async throws -> [SessionRecord] { [] }
    func dependencyNames(of ids: [UUID]) async throws -> [UUID: [(name: String, id: UUID)]] { [:] }
    func logs(of id: UUID) async throws -> String { "" }
    func list(_ query: SessionListQuery) async throws -> (items: [SessionRecord], total: Int) { ([], 0) }
    func events(session: UUID?, owner: AccessKey?, after afterID: Int, limit: Int) async throws -> [SessionEventRecord] { [] }
}
