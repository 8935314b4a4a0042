import Foundation
import Hummingbird

/// Every error the API answers with, rendered as Backend.AI's problem+json:
/// `{"type":"https://api.backend.ai/probs/<kind>","title":…,"msg":…}`.
///
/// Each kind is a static factory below, so wire names are declared once.
public struct APIError: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    /// The HTTP status.
    public let status: HTTPResponse.Status
    /// The `<kind>` at the end of the `type` URL, such as `invalid-api-params`.
    public let kind: String
    /// Backend.AI's fixed title for the kind.
    public let title: String
    /// What exactly was wrong, for the user.
    public let msg: String?
    /// Extra response headers (Retry-After, Allow).
    public var headers: HTTPFields = [:]

    public init(status: HTTPResponse.Status, kind: String, title: String, msg: String?) {
        self.status = status
        self.kind = kind
        self.title = title
        self.msg = msg
    }

    public var description: String { "APIError(\(self.status.code) \(self.kind): \(self.msg ?? self.title))" }

    private struct Body: Encodable {
        let type: String
        let title: String
        let msg: String?
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let body = Body(type: "https://api.backend.ai/probs/\(self.kind)", title: self.title, msg: self.msg)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = try encoder.encode(body)
        var headers = self.headers
        headers[.contentType] = "application/problem+json"
        return Response(status: self.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: 4xx

    /// 400: a parameter is missing or malformed; `msg` names it.
    /// A GraphQL document past one of `[graphql]`'s limits (checked before it runs).
    public static func graphQLLimit(_ msg: String) -> APIError {
        APIError(status: .badRequest, kind: "graphql-limit-exceeded", title: "The GraphQL document exceeds a limit.", msg: msg)
    }

    public static func invalidAPIParams(_ msg: String) -> APIError {
        APIError(status: .badRequest, kind: "invalid-api-params", title: "Missing or invalid API parameters.", msg: msg)
    }

    /// 401: the request is not signed, or not signed right.
    public static func authFailed(_ msg: String) -> APIError {
        APIError(status: .unauthorized, kind: "auth-failed", title: "Credential/signature mismatch.", msg: msg)
    }

    /// 403: the caller may not do this.
    public static func forbidden(_ msg: String = "You are not allowed to do this.") -> APIError {
        APIError(status: .forbidden, kind: "forbidden", title: "Forbidden operation.", msg: msg)
    }

    /// 404 for a URL no route matches.
    public static func routeNotFound(_ path: String) -> APIError {
        APIError(status: .notFound, kind: "generic-not-found", title: "Unknown URL path.", msg: "No route for \(path)")
    }

    /// 404 for a named object of a kind (`session-not-found`, `vfolder-not-found`, `object-not-found`...).
    public static func notFound(_ kind: String, title: String, msg: String?) -> APIError {
        APIError(status: .notFound, kind: kind, title: title, msg: msg)
    }

    /// 405.
    public static func methodNotAllowed(_ method: String) -> APIError {
        APIError(status: .methodNotAllowed, kind: "method-not-allowed", title: "Method not allowed.", msg: "\(method) is not allowed here")
    }

    /// 408: the body stopped arriving (`server.body_read_timeout` between two reads); the connection is closed.
    public static func requestTimeout(after timeout: Duration) -> APIError {
        var error = APIError(
            status: .requestTimeout, kind: "request-timeout", title: "The request body did not arrive in time.",
            msg: "No part of the body arrived for \(timeout.components.seconds) s.")
        error.headers[.connection] = "close"
        return error
    }

    /// 409: the request conflicts with the current state (a duplicate name).
    public static func conflict(_ kind: String, title: String, msg: String) -> APIError {
        APIError(status: .conflict, kind: kind, title: title, msg: msg)
    }

    /// 410: what was asked for existed but was pruned (events older than the retention).
    public static func gone(_ kind: String, title: String, msg: String) -> APIError {
        APIError(status: .gone, kind: kind, title: title, msg: msg)
    }

    /// 413: the body is larger than `server.max_body_size`.
    /// 429: over a rate limit or a cap; `Retry-After` when known.
    public static func tooManyRequests(_ msg: String, retryAfter: Int? = nil) -> APIError {
        var error = APIError(status: .tooManyRequests, kind: "too-many-requests", title: "Too many requests.", msg: msg)
        if let retryAfter { error.headers[.retryAfter] = String(retryAfter) }
        return error
    }

    public static func tooLarge(limit: Int) -> APIError {
        APIError(status: .contentTooLarge, kind: "too-large", title: "Request body too large.", msg: "The request body is larger than \(limit) bytes.")
    }

    // MARK: 5xx

    /// 500: anything unexpected. The details go to the log with the request id, never to the client.
    public static func internalError(requestID: String) -> APIError {
        APIError(status: .internalServerError, kind: "internal-server-error", title: "Internal server error.", msg: "request id \(requestID)")
    }

    /// 503: a dependency (PostgreSQL) is unavailable; the client may retry.
    public static func serviceUnavailable(_ msg: String) -> APIError {
        var error = APIError(status: .serviceUnavailable, kind: "service-unavailable", title: "Service unavailable.", msg: msg)
        error.headers[.retryAfter] = "1"
        return error
    }
}
