import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// One `GET /events/background-task` stream, as the Backend.AI client reads it: a new client gets what follows
/// (its progress viewer breaks on an event that arrives before its spinner started), a client resuming with
/// `Last-Event-ID` gets what it missed; the stream ends after the terminal event with `server_close`.
struct TaskEventStream: Sendable {
    let task: BackgroundTaskRecord
    let lastEventID: Int?
    let store: PostgresBackgroundTaskStore
    let broadcaster: EventBroadcaster
    let logger: Logger

    func run(_ writer: inout any ResponseBodyWriter) async throws {
        let subscription = self.broadcaster.subscribe(.task(self.task.id))  // before reading the log
        defer { self.broadcaster.unsubscribe(subscription) }
        var cursor = self.lastEventID ?? 0
        if try await self.start(&cursor, &writer) {
            try await writer.finish(nil)
            return
        }
        // Ends on graceful shutdown too: the client reconnects (to another replica) and resumes by id.
        // Ends on graceful shutdown: the broadcaster closes every subscription once (cheaper than merging every
        // element with the shutdown signal, as `cancelOnGracefulShutdown()` does).
        while let batch = await subscription.next() {
            var frames: [ByteBuffer] = []
            var ended = false
            for signal in batch where !ended {
                switch signal {
                case .task(let event):
                    if event.seq <= cursor { continue }
                    if event.seq == cursor + 1 {
                        frames.append(event.frameBytes)
                        cursor = event.seq
                        if event.isTerminal {
                            frames.append(ByteBuffer(string: ServerSentEvents.serverClose))
                            ended = true
                        }
                    } else {
                        // A gap: the log has what is missing.
                        if !frames.isEmpty { try await writer.write(contentsOf: frames) }
                        frames.removeAll()
                        ended = try await self.catchUp(&cursor, &writer)
                    }
                case .tick:
                    frames.append(ByteBuffer(string: ServerSentEvents.ping))
                case .session:
                    continue
                }
            }
            // A stream that fell behind writes its backlog at once.
            if !frames.isEmpty { try await writer.write(contentsOf: frames) }
            if ended {
                try await writer.finish(nil)
                return
            }
        }
        if subscription.overflowed {
            self.logger.info("closing a task stream that fell behind; the client resumes by Last-Event-ID",
                             metadata: ["task_id": "\(self.task.id)"])
        } else if subscription.endedByShutdown || Task.isShuttingDownGracefully {
            try await writer.write(ByteBuffer(string: ServerSentEvents.serverClose))
        }
        try await writer.finish(nil)
    }

    /// The opening: true when the stream is already over (the task had ended).
    private func start(_ cursor: inout Int, _ writer: inout any ResponseBodyWriter) async throws -> Bool {
        let latest = try await self.store.latestEvent(self.task.id)
        guard self.lastEventID != nil else {
            guard let latest else { return false }
            cursor = latest.seq
            if latest.isTerminal { try await self.send(latest, &cursor, &writer) }
            return latest.isTerminal
        }
        if try await self.catchUp(&cursor, &writer) { return true }
        if let latest, latest.isTerminal, latest.seq <= cursor {
            try await writer.write(ByteBuffer(string: ServerSentEvents.serverClose))
            return true
        }
        return false
    }

    /// Writes the logged events after the cursor; true once the terminal event (and server_close) went out.
    private func catchUp(_ cursor: inout Int, _ writer: inout any ResponseBodyWriter) async throws -> Bool {
        while true {
            let events = try await self.store.events(self.task.id, after: cursor)
            for event in events {
                try await self.send(event, &cursor, &writer)
                if event.isTerminal { return true }
            }
            if events.count < 500 { return false }
        }
    }

    /// Writes one event (and `server_close` after the terminal one).
    private func send(_ event: BackgroundTaskEvent, _ cursor: inout Int, _ writer: inout any ResponseBodyWriter) async throws {
        try await writer.write(event.frameBytes)
        cursor = event.seq
        if event.isTerminal { try await writer.write(ByteBuffer(string: ServerSentEvents.serverClose)) }
    }
}
