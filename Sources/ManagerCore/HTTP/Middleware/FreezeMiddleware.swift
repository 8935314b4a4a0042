import Foundation
import HTTPTypes
import Hummingbird

/// A frozen installation (`admin manager freeze`) refuses what would add work, as Backend.AI's `ServerFrozen`
/// does: new sessions, executions, folders, clones and uploads. Reads, ends of sessions and the operator's own
/// routes (`/manager/…`) go on, so sessions can drain and the operator can unfreeze.
struct FreezeMiddleware: RouterMiddleware {
    typealias Context = ManagerRequestContext
    let state: ManagerState

    /// Whether a request adds work (checked only when the state says frozen).
    static func isGated(_ method: HTTPRequest.Method, _ path: String) -> Bool {
        switch method {
        case .post:
            if path == "/session" || path == "/folders" { return true }
            if path.hasPrefix("/folders/"), path.hasSuffix("/clone") || path.hasSuffix("/request-upload") { return true }
            if path.hasPrefix("/session/"), path.hasSuffix("/upload") { return true }
            // `POST /session/{name}`: an execution.
            if path.hasPrefix("/session/"), !path.dropFirst("/session/".count).contains("/") { return true }
            return false
        case .get:
            return path.hasPrefix("/stream/session/") && path.hasSuffix("/execute")
        case .patch:
            return path == "/storage/upload"
        default:
            return false
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.isGated(request.method, request.uri.path), try await self.state.current().status == .frozen {
            var error = APIError(
                status: .serviceUnavailable, kind: "server-frozen", title: "The server is frozen due to maintenance. Please try again later.",
                msg: "The manager is frozen (admin manager freeze): no new sessions, folders or uploads until it is unfrozen.")
            error.headers[.retryAfter] = "60"
            throw error
        }
        return try await next(request, context)
    }
}
