import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SchedulerKit
import ServiceLifecycle

/// `GET /events/background-task?task_id=` (SSE, in the Backend.AI client's format, resumable by `Last-Event-ID`),
/// and our additions `GET /bgtasks/{id}` (state for polling) and `DELETE /bgtasks/{id}` (cancel).
struct BackgroundTaskRoutes {
    let service: BackgroundTaskService
    let hub: BackgroundTaskEventHub

    var store: PostgresBackgroundTaskStore { self.service.store }

    func register(on router: Router<ManagerRequestContext>) {
        router.get("/events/background-task", use: self.stream)
        router.get("/bgtasks/:id", use: self.info)
        router.delete("/bgtasks/:id", use: self.cancel)
    }

    /// The task if the caller owns it or is an admin; 404 otherwise, so ids of others' tasks stay unknown.
    private func visibleTask(_ text: String?, field: String, context: ManagerRequestContext) async throws -> BackgroundTaskRecord {
        let identity = try context.requireIdentity()
        guard let text, !text.isEmpty else { throw APIError.invalidAPIParams("'\(field)' is required.") }
        guard let id = UUID(uuidString: text) else {
            throw APIError.invalidAPIParams("'\(field)': '\(text.prefix(40))' is not a task id (a UUID).")
        }
        guard let task = try await self.store.task(id), identity.isAdmin || task.owner == identity.accessKey else {
            throw APIError.notFound("object-not-found", title: "No such background task.", msg: "No background task \(id.uuidString.lowercased()).")
        }
        return task
    }

    @Sendable func stream(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        let task = try await self.visibleTask(
            query.get("task_id") ?? query.get("taskId"), field: "task_id", context: context)
        let lastEventID = try ServerSentEvents.lastEventID(request)
        let watcher = self.hub.watch(task.id)  // before reading the log, so nothing falls between
        let store = self.store
        let hub = self.hub
        let logger = context.logger
        let body = ResponseBody { writer in
            defer { hub.unwatch(watcher) }
            var cursor = lastEventID ?? 0
            /// Writes the logged events after the cursor; true once the terminal event (and server_close) went out.
            func catchUp() async throws -> Bool {
                while true {
                    let events = try await store.events(task.id, after: cursor)
                    for event in events {
                        try await writer.write(event.frameBytes)
                        cursor = event.seq
                        if event.isTerminal {
                            try await writer.write(ByteBuffer(string: ServerSentEvents.serverClose))
                            return true
                        }
                    }
                    if events.count < 500 { return false }
                }
            }
            let latest = try await store.latestEvent(task.id)
            if lastEventID == nil {
                // A new client gets what follows, as from Backend.AI (the official CLI's progress viewer breaks on an
                // event that arrives before its spinner has started); a finished task answers its end at once.
                if let latest {
                    cursor = latest.seq
                    if latest.isTerminal {
                        try await writer.write(latest.frameBytes)
                        try await writer.write(ByteBuffer(string: ServerSentEvents.serverClose))
                        try await writer.finish(nil)
                        return
                    }
                }
            } else if try await catchUp() {
                try await writer.finish(nil)
                return
            } else if let latest, latest.isTerminal, latest.seq <= cursor {
                try await writer.write(ByteBuffer(string: ServerSentEvents.serverClose))
                try await writer.finish(nil)
                return
            }
            var ticks = 0
            // Ends on graceful shutdown too: the client reconnects (to another replica) and resumes by id.
            for await signal in watcher.signals.cancelOnGracefulShutdown() {
                switch signal {
                case .event(let event):
                    if event.seq <= cursor { continue }
                    if event.seq == cursor + 1 {
                        try await writer.write(event.frameBytes)
                        cursor = event.seq
                        if event.isTerminal {
                            try await writer.write(ByteBuffer(string: ServerSentEvents.serverClose))
                            try await writer.finish(nil)
                            return
                        }
                    } else if try await catchUp() {  // a message went missing: the log has it
                        try await writer.finish(nil)
                        return
                    }
                case .resync:
                    if try await catchUp() {
                        try await writer.finish(nil)
                        return
                    }
                case .tick:
                    try await writer.write(ByteBuffer(string: ServerSentEvents.ping))
                    ticks += 1
                    // A safety net for events published while this replica's subscription was fine but the
                    // publisher's Redis was not: look at the log once a minute.
                    if ticks % 4 == 0, try await catchUp() {
                        try await writer.finish(nil)
                        return
                    }
                }
            }
            if watcher.overflowed {
                logger.info("closing a task stream that fell behind; the client resumes by Last-Event-ID",
                            metadata: ["task_id": "\(task.id)"])
            } else if Task.isShuttingDownGracefully {
                try await writer.write(ByteBuffer(string: ServerSentEvents.serverClose))
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: ServerSentEvents.headers, body: body)
    }

    struct TaskInfo: Encodable {
        let task_id: String
        let kind: String
        let status: String
        let current_progress: Double
        let total_progress: Double
        let message: String
        let created_at: String
        let updated_at: String
        let finished_at: String?
    }

    @Sendable func info(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let task = try await self.visibleTask(context.parameters.get("id"), field: "id", context: context)
        return try JSONResponse.make(Self.info(task))
    }

    static func info(_ task: BackgroundTaskRecord) -> TaskInfo {
        TaskInfo(
            task_id: task.id.uuidString.lowercased(), kind: task.kind, status: task.status.rawValue,
            current_progress: task.currentProgress, total_progress: task.totalProgress, message: task.message,
            created_at: Timestamp.pythonISO(task.createdAt), updated_at: Timestamp.pythonISO(task.updatedAt),
            finished_at: task.finishedAt.map(Timestamp.pythonISO))
    }

    @Sendable func cancel(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let task = try await self.visibleTask(context.parameters.get("id"), field: "id", context: context)
        guard try await self.store.requestCancel(task.id) else {
            throw APIError.conflict(
                "task-already-finished", title: "The background task has already ended.",
                msg: "The background task ended with status '\(task.status.rawValue)'.")
        }
        if !self.service.stop(task.id, reason: .cancelRequested) { await self.service.publishCancel(task.id) }
        context.logger.info("background task cancellation requested", metadata: ["task_id": "\(task.id)"])
        return try JSONResponse.make(["task_id": task.id.uuidString.lowercased(), "status": "cancelling"], status: .accepted)
    }
}
