import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SchedulerKit
import ServiceLifecycle

/// `GET /events/session` (SSE): session lifecycle events from the durable log, each with an `id:`;
/// a client that reconnects with `Last-Event-ID` gets what it missed (`SessionEventStream`).
struct SessionEventRoutes {
    let sessions: any SessionStore
    let broadcaster: EventBroadcaster
    let retention: PostgresRetentionStore?
    let quota: StreamQuota

    func register(on router: Router<ManagerRequestContext>) {
        router.get("/events/session", use: self.stream)
    }

    @Sendable func stream(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let query = request.uri.queryParameters
        var owner = identity.accessKey
        var everyone = false
        if let requested = query.get("owner_access_key") ?? query.get("ownerAccessKey"), requested == "*" {
            // Ours: every session's events, for an admin's view of all queues.
            guard identity.isAdmin else { throw APIError.forbidden("Only an admin may watch every access key's sessions.") }
            everyone = true
        } else if let requested = query.get("owner_access_key") ?? query.get("ownerAccessKey"), !requested.isEmpty,
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
        let ticket = try self.quota.acquire(identity.accessKey)
        var lastEventID = try ServerSentEvents.lastEventID(request) ?? 0
        // Ours: `since=now` starts after the newest event instead of replaying the history (a Last-Event-ID, which
        // a reconnecting EventSource sends, still resumes from where it was).
        if let since = query.get("since") {
            guard since == "now" else { throw APIError.invalidAPIParams("'since' must be now.") }
            if lastEventID == 0 { lastEventID = try await self.broadcaster.log.heads().sessions }
        }
        if lastEventID > 0, let retention = self.retention {
            // A resume from before what retention pruned would silently miss events: say so instead.
            let horizon = try await retention.eventHorizon()
            if lastEventID < horizon.prunedUpTo {
                throw APIError.gone(
                    "events-pruned", title: "The events after this Last-Event-ID were pruned.",
                    msg: "Events up to id \(horizon.prunedUpTo) are gone (retention); the oldest kept is \(horizon.oldest.map(String.init) ?? "none"). Reconnect without Last-Event-ID.")
            }
        }
        let stream = SessionEventStream(
            topic: sessionID.map { .session($0) } ?? (everyone ? .everyone : .owner(owner.rawValue)), scope: scope,
            lastEventID: lastEventID, sessions: self.sessions,
            broadcaster: self.broadcaster, logger: context.logger)
        return Response(status: .ok, headers: ServerSentEvents.headers, body: ResponseBody { writer in
            // The stream's slot is held while the body runs (and released with it).
            defer { withExtendedLifetime(ticket) {} }
            try await stream.run(&writer)
        })
    }
}
