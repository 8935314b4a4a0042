import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SchedulerKit
import ServiceLifecycle

/// `GET /events/session` (SSE): session lifecycle events from the durable log, each with an `id:`;
/// a client that reconnects with `Last-Event-ID` gets exactly what it missed.
struct SessionEventRoutes {
    let sessions: any SessionStore
    let signal: EventSignal

    func register(on router: Router<ManagerRequestContext>) {
        router.get("/events/session", use: self.stream)
    }

    @Sendable func stream(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let query = request.uri.queryParameters
        var owner = identity.accessKey
        if let requested = query.get("owner_access_key") ?? query.get("ownerAccessKey"), !requested.isEmpty,
            requested != identity.accessKey.rawValue
        {
            guard identity.isAdmin else { throw APIError.forbidden("Only an admin may watch another access key's sessions.") }
            owner = AccessKey(requested)
        }
        let scope = query.get("scope") ?? "*"
        guard ["*", "session", "kernel"].contains(scope) else {
            throw APIError.invalidAPIParams("'scope' must be *, session or kernel.")
        }
        var sessionID: UUID?
        if let reference = query.get("sessionId") ?? query.get("sessionName") ?? query.get("name"), !reference.isEmpty {
            guard let session = try await self.sessions.session(nameOrID: reference, owner: owner),
                identity.isAdmin || session.accessKey == identity.accessKey
            else {
                throw APIError.notFound("session-not-found", title: "No such session.", msg: "No session '\(reference.prefix(64))'.")
            }
            sessionID = session.id
        }
        let lastID = try ServerSentEvents.lastEventID(request) ?? 0
        let streamOwner: AccessKey? = sessionID == nil ? owner : nil
        let sessions = self.sessions
        let signal = self.signal
        let startID = lastID
        let watched = sessionID
        let body = ResponseBody { writer in
            var cursor = startID
            var lastPing = ContinuousClock.now
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                    let version = await signal.version()
                    let events = try await sessions.events(session: watched, owner: streamOwner, after: cursor, limit: 500)
                    for event in events {
                        cursor = event.id
                        if scope != "*" && SessionEventName(rawValue: event.name)?.scope != scope { continue }
                        try await writer.write(ByteBuffer(string: Self.frame(event)))
                    }
                    if events.count == 500 { continue }
                    if ContinuousClock.now - lastPing > .seconds(15) {
                        try await writer.write(ByteBuffer(string: ServerSentEvents.ping))
                        lastPing = ContinuousClock.now
                    }
                    await signal.wait(after: version, timeout: .seconds(1))
            }
            if Task.isShuttingDownGracefully {
                // The replica is stopping: say so; the client reconnects (to another replica) with Last-Event-ID.
                try await writer.write(ByteBuffer(string: ServerSentEvents.serverClose))
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: ServerSentEvents.headers,
            body: body)
    }

    /// One SSE message in aiohttp-sse's layout (`\r\n` separators), with the log id.
    static func frame(_ event: SessionEventRecord) -> String {
        let data = JSONValue.object([
            ("reason", .string(event.reason)),
            ("sessionName", .string(event.sessionName ?? "")),
            ("ownerAccessKey", .string(event.accessKey ?? "")),
            ("sessionId", .string(event.sessionID?.uuidString.lowercased() ?? "")),
            ("exitCode", event.exitCode.map { .number(Double($0)) } ?? .null),
        ])
        return "id: \(event.id)\r\nevent: \(event.name)\r\ndata: \(data.text)\r\nretry: 5\r\n\r\n"
    }
}
