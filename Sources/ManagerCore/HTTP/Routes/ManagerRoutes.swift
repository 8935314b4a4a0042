import Foundation
import Hummingbird
import Logging
import SchedulerKit

/// The operator's routes, as backend.ai-client 23.9.10 sends them: `GET|PUT /manager/status` (`admin manager
/// status|freeze|unfreeze`), `GET|POST /manager/announcement` (every CLI command reads it; `admin announcement
/// update|delete` writes it) and `POST /manager/scheduler/operation` (`admin scheduler include-agents|exclude-agents`).
struct ManagerRoutes {
    let store: PostgresManagerStateStore
    let state: ManagerState
    let sessions: any SessionStore
    let maxBodySize: Int
    /// This replica, as `nodes` shows it.
    let nodeID: String
    let serviceAddress: String
    let heartbeatTimeout: Duration

    func register(on router: Router<ManagerRequestContext>) {
        router.get("/manager/status", use: self.status)
        router.put("/manager/status", use: self.setStatus)
        router.get("/manager/announcement", use: self.announcement)
        router.post("/manager/announcement", use: self.setAnnouncement)
        router.post("/manager/scheduler/operation", use: self.schedulerOperation)
    }

    @Sendable func status(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        _ = try context.requireIdentity()
        let status = try await self.state.current().status.rawValue
        let active = try await self.store.activeSessions()
        let node = JSONValue.object([
            ("id", .string(self.nodeID)), ("num_proc", .number(1)), ("service_addr", .string(self.serviceAddress)),
            ("heartbeat_timeout", .number(Double(self.heartbeatTimeout.components.seconds))), ("ssl_enabled", .bool(false)),
            ("active_sessions", .number(Double(active))), ("status", .string(status)),
            ("version", .string(ManagerVersion.current)), ("api_version", .string(SystemRoutes.apiVersion)),
        ])
        return JSONResponse.raw(JSONValue.object([
            ("nodes", .array([node])), ("status", .string(status)), ("active_sessions", .number(Double(active))),
        ]).text)
    }

    /// `{"status": "frozen"|"running", "force_kill": bool}` (admins): with `force_kill`, every active session is
    /// destroyed (forced) through the lifecycle, as Backend.AI does.
    @Sendable func setStatus(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireAdmin()
        let fields = try JSONFields(try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize))
        guard let text = try fields.string("status"), let status = PostgresManagerStateStore.Status(rawValue: text) else {
            throw APIError.invalidAPIParams("'status' must be 'running' or 'frozen'.")
        }
        let forceKill = try fields.bool("force_kill") ?? false
        try await self.store.setStatus(status)
        self.state.invalidate()
        var killed = 0
        if status == .frozen, forceKill {
            for id in try await self.store.activeSessionIDs() {
                killed += try await self.sessions.destroy(id, recursive: false, forced: true).count
            }
        }
        context.logger.notice("manager status changed", metadata: [
            "status": "\(status.rawValue)", "by": "\(identity.accessKey.rawValue)", "force_killed": "\(killed)",
        ])
        return Response(status: .noContent)
    }

    @Sendable func announcement(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        _ = try context.requireIdentity()
        let snapshot = try await self.state.current()
        return JSONResponse.raw(JSONValue.object([
            ("enabled", .bool(snapshot.announcementEnabled)), ("message", .string(snapshot.announcementEnabled ? snapshot.announcement : "")),
        ]).text)
    }

    /// `{"enabled": bool, "message": text}` (admins); `enabled: false` removes it.
    @Sendable func setAnnouncement(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        _ = try context.requireAdmin()
        let fields = try JSONFields(try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize))
        let enabled = try fields.bool("enabled") ?? true
        let message = try fields.string("message", maxLength: 64 << 10) ?? ""
        if enabled && message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw APIError.invalidAPIParams("'message' is required when 'enabled' is true.")
        }
        try await self.store.setAnnouncement(enabled: enabled, message: enabled ? message : "")
        self.state.invalidate()
        return Response(status: .noContent)
    }

    /// `{"op": "include-agents"|"exclude-agents", "args": [agent ids]}` (admins): excluded agents take no new
    /// sessions (their running ones go on); including them wakes their groups' schedulers.
    @Sendable func schedulerOperation(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        _ = try context.requireAdmin()
        let body = try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize)
        let fields = try JSONFields(body)
        let op = try fields.requiredString("op", maxLength: 64)
        guard op == "include-agents" || op == "exclude-agents" else {
            throw APIError.invalidAPIParams("'op' must be 'include-agents' or 'exclude-agents'.")
        }
        guard case .array(let items)? = body["args"], !items.isEmpty, items.count <= 1000 else {
            throw APIError.invalidAPIParams("'args' must be a list of 1 to 1000 agent ids.")
        }
        let ids = try items.map { item -> String in
            guard case .string(let id) = item, !id.isEmpty, id.count <= 64 else {
                throw APIError.invalidAPIParams("'args' must hold agent ids (strings of 1 to 64 characters).")
            }
            return id
        }
        let changed = try await self.store.setSchedulable(ids, op == "include-agents")
        let missing = Set(ids).subtracting(changed)
        guard missing.isEmpty else {
            throw APIError.notFound("object-not-found", title: "No such agent.", msg: "No agent '\(missing.sorted().joined(separator: "', '").prefix(256))'.")
        }
        context.logger.notice("scheduler operation", metadata: ["op": "\(op)", "agents": "\(ids.joined(separator: ","))"])
        return Response(status: .noContent)
    }
}
