import Foundation
import Hummingbird
import Logging
import NIOCore
import SchedulerKit
import ServiceLifecycle

/// One `GET /events/session` stream: what the client missed (from the log, after its `Last-Event-ID`), then what
/// the broadcaster hands out, pings every 15 s, and `server_close` when the replica stops.
struct SessionEventStream: Sendable {
    /// The sessions it follows: one session, or every session of an access key.
    let topic: EventBroadcaster.Topic
    /// `*`, `session` or `kernel` (`SessionEventName.scope`).
    let scope: String
    let lastEventID: Int
    let sessions: any SessionStore
    let broadcaster: EventBroadcaster
    let logger: Logger

    func run(_ writer: inout any ResponseBodyWriter) async throws {
        let subscription = self.broadcaster.subscribe(self.topic)  // before reading the log: nothing falls between
        defer { self.broadcaster.unsubscribe(subscription) }
        var cursor = self.lastEventID
        // Catch-up, in pages. It reads what is committed now: an event whose id was taken by a transaction that
        // commits after this read but below an id read here is skipped by this stream (the broadcaster's live path
        // holds id order; this one-time read cannot). Rare: it needs a commit racing the stream's opening.
        while true {
            let events = try await self.sessions.events(
                session: self.topic.sessionID, owner: self.topic.owner.map { AccessKey($0) }, after: cursor, limit: 500)
            for event in events {
                cursor = event.id
                if self.wants(event) { try await writer.write(ByteBuffer(string: SessionEventFrame.text(event))) }
            }
            if events.count < 500 { break }
        }
        // Ends on graceful shutdown: the broadcaster closes every subscription once (cheaper than merging every
        // element with the shutdown signal, as `cancelOnGracefulShutdown()` does).
        while let batch = await subscription.next() {
            var frames: [ByteBuffer] = []
            for signal in batch {
                switch signal {
                case .session(let event, let frame):
                    guard event.id > cursor else { continue }  // already sent by the catch-up
                    cursor = event.id
                    if self.wants(event) { frames.append(frame) }
                case .tick:
                    frames.append(ByteBuffer(string: ServerSentEvents.ping))
                case .task:
                    continue
                }
            }
            // A stream that fell behind writes its backlog at once.
            if !frames.isEmpty { try await writer.write(contentsOf: frames) }
        }
        if subscription.overflowed {
            self.logger.info("closing a session event stream that fell behind; the client resumes by Last-Event-ID")
        } else if subscription.endedByShutdown || Task.isShuttingDownGracefully {
            // The replica is stopping: say so; the client reconnects (to another replica) with Last-Event-ID.
            try await writer.write(ByteBuffer(string: ServerSentEvents.serverClose))
        }
        try await writer.finish(nil)
    }

    private func wants(_ event: SessionEventRecord) -> Bool {
        self.scope == "*" || SessionEventName(rawValue: event.name)?.scope == self.scope
    }
}

extension EventBroadcaster.Topic {
    var sessionID: UUID? { if case .session(let id) = self { id } else { nil } }
    var owner: String? { if case .owner(let key) = self { key } else { nil } }
}
