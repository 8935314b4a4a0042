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
    let broadcaster: EventBroadcaster
    let quota: StreamQuota

    var store: PostgresBackgroundTaskStore { self.service.store }

    func register(on router: Router<ManagerRequestContext>) {
        router.get("/events/background-task", use: self.stream)
        router.get("/bgtasks", use: self.list)
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
        let ticket = try self.quota.acquire(try context.requireIdentity().accessKey)
        let lastEventID = try ServerSentEvents.lastEventID(request)
        if let lastEventID, let first = try await self.store.firstEvent(task.id), first.seq > lastEventID + 1 {
            throw APIError.gone(
                "events-pruned", title: "The task's events after this Last-Event-ID were pruned.",
                msg: "The oldest event kept for this task is \(first.seq) (retention). Reconnect without Last-Event-ID.")
        }
        let stream = TaskEventStream(
            task: task, lastEventID: lastEventID, store: self.store,
            broadcaster: self.broadcaster, logger: context.logger)
        return Response(status: .ok, headers: ServerSentEvents.headers, body: ResponseBody { writer in
            // The stream's slot is held while the body runs (and released with it).
            defer { withExtendedLifetime(ticket) {} }
            try await stream.run(&writer)
        })
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

    struct TaskList: Encodable {
        let items: [TaskInfo]
    }

    /// `GET /bgtasks?limit=`: the caller's own tasks, newest first (the web view's task list).
    @Sendable func list(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let limit = try WebhookRoutes.integer(request.uri.queryParameters.get("limit"), field: "limit", default: 50, range: 1...500)
        let tasks = try await self.store.list(owner: identity.accessKey, limit: limit)
        return try JSONResponse.make(TaskList(items: tasks.map(Self.info)))
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
