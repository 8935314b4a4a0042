import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SchedulerKit

/// `POST /session`, `GET|DELETE /session/{name_or_id}`, `GET /session/{name_or_id}/dependency-graph`.
struct SessionRoutes {
    let service: SessionService
    let maxBodySize: Int

    init(sessions: any SessionStore, maxBodySize: Int, requiredImages: (any ImageCatalog)? = nil, events: EventBroadcaster? = nil) {
        self.service = SessionService(sessions: sessions, requiredImages: requiredImages, events: events)
        self.maxBodySize = maxBodySize
    }

    func register(on router: Router<ManagerRequestContext>) {
        router.post("/session", use: self.create)
        router.get("/session/:name", use: self.info)
        router.delete("/session/:name", use: self.destroy)
        router.patch("/session/:name", use: self.restart)
        router.get("/session/:name/dependency-graph", use: self.dependencyGraph)
        router.get("/session/:name/logs", use: self.logs)
        router.get("/session/:name/status-history", use: self.statusHistory)
        router.post("/session/:name/rename", use: self.rename)
    }

    struct Created: Encodable {
        let sessionId: String
        let sessionName: String
        let status: String
        let servicePorts: [String]
        let created: Bool
    }

    @Sendable func create(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let body = try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize)
        let (creation, enqueueOnly) = try SessionCreateRequest.parse(body, identity: identity)
        let maxWait = try SessionCreateRequest.maxWait(body)
        switch try await self.service.create(creation) {
        case .created(let session):
            context.logger.info("session enqueued", metadata: ["session_id": "\(session.id)", "session_name": "\(session.name)"])
            var status = session.status.rawValue
            // Without enqueueOnly, Backend.AI answers when the session runs (or has ended), else TIMEOUT.
            if !enqueueOnly {
                status = try await self.service.awaitStart(session.id, timeout: maxWait)?.rawValue ?? "TIMEOUT"
            }
            return try JSONResponse.make(
                Created(sessionId: session.id.uuidString.lowercased(), sessionName: session.name, status: status,
                        servicePorts: [], created: true), status: .created)
        case .existing(let session):
            return try JSONResponse.make(
                Created(sessionId: session.id.uuidString.lowercased(), sessionName: session.name, status: session.status.rawValue,
                        servicePorts: [], created: false))
        }
    }

    static func apiError(_ refusal: SessionStoreRefusal) -> APIError {
        switch refusal {
        case .unknownOwner: return .invalidAPIParams("'owner_access_key' is not an active access key.")
        case .unknownGroup(let name): return .invalidAPIParams("'group': there is no active project named '\(name.prefix(64))'.")
        case .scalingGroup(let message): return .notFound("object-not-found", title: "No such scaling group.", msg: message)
        case .duplicateName(let name):
            return APIError(status: .badRequest, kind: "session-already-exists",
                            title: "The session already exists but you requested to create a new one.",
                            msg: "A live session named '\(name)' already exists.")
        case .unknownDependency: return .invalidAPIParams("Unknown session ID or name in the dependency list")
        case .foreignDependency(let reference):
            return .invalidAPIParams("The dependency '\(reference.prefix(64))' belongs to another user.")
        case .alreadyEnded(let name): return .forbidden("The session '\(name)' has already ended.")
        case .unknownVFolder(let name):
            return .notFound("vfolder-not-found", title: "Virtual folder not found.",
                             msg: "'config.mounts': no folder '\(name.prefix(64))' you can mount.")
        case .unmountableVFolder(let name, let status):
            return .conflict("vfolder-filter-status-failed", title: "The folder cannot be mounted now.",
                             msg: "'config.mounts': the folder '\(name.prefix(64))' is '\(status)'.")
        case .notMember(let name):
            return .forbidden("'group': you are not a member of the project '\(name.prefix(64))'.")
        case .quota(let refusal):
            return APIError(status: .preconditionFailed, kind: "quota-exceeded",
                            title: "You have reached your resource limit.", msg: refusal.message)
        case .multiContainer(let size):
            return .invalidAPIParams(
                "'clusterSize': \(size) containers asked for; multi-container sessions are not supported (use 1).")
        }
    }

    /// `{name}` and the owner it is looked up under (admins may name another with `owner_access_key`).
    static func target(_ request: Request, context: ManagerRequestContext) throws -> (reference: String, owner: AccessKey, caller: Identity) {
        let identity = try context.requireIdentity()
        guard let reference = context.parameters.get("name"), !reference.isEmpty, reference.count <= 64 else {
            throw APIError.invalidAPIParams("The session name or id is missing or too long.")
        }
        var owner = identity.accessKey
        if let requested = request.uri.queryParameters.get("owner_access_key"), !requested.isEmpty,
            requested != identity.accessKey.rawValue
        {
            guard identity.isAdmin else { throw APIError.forbidden("Only an admin may act on another access key's sessions.") }
            owner = AccessKey(requested)
        }
        return (reference, owner, identity)
    }

    @Sendable func info(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let target = try Self.target(request, context: context)
        return try JSONResponse.make(SessionInfo(try await self.service.find(target.reference, owner: target.owner, caller: target.caller)))
    }

    @Sendable func destroy(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let target = try Self.target(request, context: context)
        let flags = request.uri.queryParameters
        let recursive = ["true", "1"].contains(flags.get("recursive")?.lowercased() ?? "")
        let forced = ["true", "1"].contains(flags.get("forced")?.lowercased() ?? "")
        let (session, changed) = try await self.service.destroy(
            target.reference, owner: target.owner, caller: target.caller, recursive: recursive, forced: forced)
        context.logger.info("session destroyed", metadata: [
            "session_id": "\(session.id)", "recursive": "\(recursive)", "changed": "\(changed.count)",
        ])
        let body = recursive ? JSONValue.array(changed.map { _ in .object([]) }) : .object([("stats", .object([]))])
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: body.text)))
    }

    /// The output the agent reported (its last MiB), as `{"result": {"logs": "..."}}`; `GET /session/_/logs?taskId=`
    /// (`backend.ai task-logs ID`, a batch session's id) answers the same output as plain text.
    @Sendable func logs(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        if context.parameters.get("name") == "_" {
            let caller = try context.requireIdentity()
            guard let text: String = request.uri.queryParameters.get("taskId"), let id = UUID(uuidString: text) else {
                throw APIError.invalidAPIParams("'taskId' must be the id of a session (or its kernel).")
            }
            let session = try await self.service.find(id.uuidString.lowercased(), owner: caller.accessKey, caller: caller, anyOwnerForAdmins: true)
            let output = try await self.service.sessions.logs(of: session.id)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: output)))
        }
        let target = try Self.target(request, context: context)
        let text = try await self.service.logs(target.reference, owner: target.owner, caller: target.caller)
        let body = JSONValue.object([("result", .object([("logs", .string(text))]))])
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: body.text)))
    }

    /// `{"result": {STATUS: iso8601, …}}` from the status history we keep. The CLI's `status-history` looks up
    /// `preparing` and `terminated` in lower case (Backend.AI sends upper case, so its CLI always printed 0 s):
    /// each entry is also given under its lower-case name, so the allocation time the CLI prints is the real one.
    @Sendable func statusHistory(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let target = try Self.target(request, context: context)
        let session = try await self.service.find(target.reference, owner: target.owner, caller: target.caller)
        var pairs: [(key: String, value: JSONValue)] = []
        if case .object(let entries) = session.statusHistory {
            pairs = entries
            let names = Set(entries.map(\.key))
            for entry in entries where !names.contains(entry.key.lowercased()) { pairs.append((entry.key.lowercased(), entry.value)) }
        }
        return JSONResponse.raw(JSONValue.object([("result", .object(pairs))]).text)
    }

    /// `PATCH /session/{name}` (`backend.ai session restart`) → 204: the agent starts the session's process again in
    /// the same work folder; the session is RESTARTING until then.
    @Sendable func restart(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let target = try Self.target(request, context: context)
        let session = try await self.service.restart(target.reference, owner: target.owner, caller: target.caller)
        context.logger.info("session restarting", metadata: ["session_id": "\(session.id)"])
        return Response(status: .noContent)
    }

    /// `POST /session/{name}/rename?name=NEW` → 204.
    @Sendable func rename(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let target = try Self.target(request, context: context)
        guard let name = request.uri.queryParameters.get("name"), !name.isEmpty else {
            throw APIError.invalidAPIParams("'name' (the new name) is required.")
        }
        try await self.service.rename(target.reference, owner: target.owner, caller: target.caller, to: name)
        context.logger.info("session renamed", metadata: ["session_name": "\(target.reference)", "new_name": "\(name)"])
        return Response(status: .noContent)
    }

    @Sendable func dependencyGraph(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let target = try Self.target(request, context: context)
        guard let root = try await self.service.dependencyGraph(target.reference, owner: target.owner, caller: target.caller) else {
            throw APIError.notFound("session-not-found", title: "No such session.", msg: "The session vanished.")
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: Self.node(root).text)))
    }

    /// Backend.AI's node format, which the CLI parses strictly; `truncated` is added only where dependencies were
    /// left out (the CLI ignores keys it does not read).
    static func node(_ node: DependencyNode) -> JSONValue {
        var pairs: [(key: String, value: JSONValue)] = [
            ("session_id", .string(node.session.id.uuidString.lowercased())),
            ("session_name", .string(node.session.name)),
            ("status", .string("KernelStatus.\(node.session.status.rawValue)")),
            ("status_changed", .string(Timestamp.pythonStr(node.session.statusChanged))),
            ("depends_on", .array(node.dependsOn.map(Self.node))),
        ]
        if node.truncated { pairs.append(("truncated", .bool(true))) }
        return .object(pairs)
    }
}

/// `GET /session/{id}`'s legacy info JSON.
struct SessionInfo: Encodable {
    let sessionId: String
    let sessionName: String
    let domainName: String
    let groupName: String
    let userId: String
    let image: String
    let architecture: String
    let type: String
    let tag: String?
    let status: String
    let statusInfo: String?
    let statusData: String
    let result: String
    let exitCode: Int?
    let scalingGroup: String?
    let agentId: String?
    let requestedSlots: String
    let occupyingSlots: String
    let startupCommand: String?
    let creationTime: String
    let terminationTime: String?
    let startsAt: String?

    init(_ session: SessionRecord) {
        self.sessionId = session.id.uuidString.lowercased()
        self.sessionName = session.name
        self.domainName = session.domainName
        self.groupName = session.groupName
        self.userId = session.userID.uuidString.lowercased()
        self.image = session.image
        self.architecture = session.architecture
        self.type = session.type.rawValue
        self.tag = session.tag
        self.status = session.status.rawValue
        self.statusInfo = session.statusInfo
        self.statusData = session.statusData.text
        self.result = session.result.rawValue
        self.exitCode = session.exitCode
        self.scalingGroup = session.scalingGroup
        self.agentId = session.agentID
        self.requestedSlots = session.requestedSlots.text
        self.occupyingSlots = session.occupyingSlots.text
        self.startupCommand = session.startupCommand
        self.creationTime = Timestamp.pythonISO(session.createdAt)
        self.terminationTime = session.terminatedAt.map(Timestamp.pythonISO)
        self.startsAt = session.startsAt.map(Timestamp.pythonISO)
    }
}
