import Foundation
import Hummingbird
import Logging
import SchedulerKit

/// Our admin API over the outbox: `GET /webhooks/deliveries?status=&session_id=&limit=&offset=` (with each
/// delivery's attempts and last error) and `POST /webhooks/deliveries/{id}/redeliver`.
struct WebhookRoutes {
    let store: PostgresWebhookStore

    func register(on router: Router<ManagerRequestContext>) {
        router.get("/webhooks/deliveries", use: self.list)
        router.post("/webhooks/deliveries/:id/redeliver", use: self.redeliver)
    }

    @Sendable func list(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        _ = try context.requireAdmin()
        let query = request.uri.queryParameters
        let status = query.get("status")
        if let status, !["pending", "delivered", "dead", "refused"].contains(status) {
            throw APIError.invalidAPIParams("'status' must be one of pending, delivered, dead, refused.")
        }
        var sessionID: UUID?
        if let text = query.get("session_id") {
            guard let id = UUID(uuidString: text) else { throw APIError.invalidAPIParams("'session_id' must be a session id (a UUID).") }
            sessionID = id
        }
        let limit = try Self.integer(query.get("limit"), field: "limit", default: 50, range: 1...500)
        let offset = try Self.integer(query.get("offset"), field: "offset", default: 0, range: 0...Int(Int32.max))
        let items = try await self.store.list(status: status, sessionID: sessionID, limit: limit, offset: offset)
        return JSONResponse.raw(JSONValue.object([("items", items)]).text)
    }

    @Sendable func redeliver(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        _ = try context.requireAdmin()
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else {
            throw APIError.invalidAPIParams("The delivery id must be a UUID.")
        }
        guard try await self.store.redeliver(id) else {
            throw APIError.notFound("object-not-found", title: "No such webhook delivery.", msg: "No delivery \(text.prefix(40)).")
        }
        context.logger.info("webhook redelivery requested", metadata: ["delivery_id": "\(id)"])
        return JSONResponse.raw(#"{"delivery_id": "\#(id.uuidString.lowercased())", "status": "pending"}"#, status: .accepted)
    }

    static func integer(_ text: String?, field: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError.invalidAPIParams("'\(field)' must be an integer between \(range.lowerBound) and \(range.upperBound).")
        }
        return number
    }
}
