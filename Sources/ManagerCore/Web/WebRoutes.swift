import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SchedulerKit
import Synchronization

/// The web view: its files at `/ui/`, sign-in and sign-out, and `/ui/api/…`, which is the daemon's own API for a
/// signed-in browser.
///
/// `/ui/api/PATH` authenticates the browser by its cookie (instead of an HMAC signature), checks the CSRF token on
/// every state-changing request and that an `Origin` it sends is our own, applies the keypair's rate limit, and
/// then hands the request to the API router as `/PATH` with the caller's identity: the page sees exactly what the
/// same keypair sees through the API, by the same routes and the same ownership rules.
struct WebRoutes: Sendable {
    let signIn: WebSignIn
    let assets: WebAssets
    let limiter: RequestLimiter?
    let secureCookie: Bool
    let maxBodySize: Int
    /// The API router, set once it is built (it contains these routes).
    let api: WebAPITarget

    static let prefix = "/ui"

    func register(on router: Router<ManagerRequestContext>) {
        router.get("/ui", use: self.index)  // also `/ui/`: the router ignores a trailing slash
        router.get("/ui/:asset", use: self.asset)
        router.post("/ui/sign-in", use: self.startSignIn)
        router.post("/ui/sign-out", use: self.endSignIn)
        router.get("/ui/me", use: self.me)
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete, .head] {
            router.on("/ui/api/**", method: method, use: self.forward)
        }
    }

    @Sendable func index(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        guard let response = self.assets.response(for: "index.html", request: request) else {
            throw APIError.routeNotFound(request.uri.path)
        }
        return response
    }

    @Sendable func asset(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        guard let name = context.parameters.get("asset"), let response = self.assets.response(for: name, request: request) else {
            throw APIError.routeNotFound(String(request.uri.path.prefix(200)))
        }
        return response
    }

    /// `POST /ui/sign-in` `{"access_key", "secret_key"}` or `{"email", "password"}` → the cookie, and the CSRF token
    /// in the body (the page keeps it in memory).
    @Sendable func startSignIn(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        try self.checkOrigin(request)
        let fields = try JSONFields(try await JSONResponse.decode(JSONValue.self, from: request, limit: 16 << 10))
        let credentials: WebSignIn.Credentials
        if let email = try fields.string("email", maxLength: 256) {
            credentials = .password(email: email, password: try fields.requiredString("password", maxLength: PasswordHash.maxPasswordBytes))
        } else {
            let accessKey = try fields.requiredString("access_key", maxLength: 128)
            credentials = .keypair(accessKey: AccessKey(accessKey), secretKey: try fields.requiredString("secret_key", maxLength: 256))
        }
        let (cookie, caller) = try await self.signIn.signIn(credentials, from: context.remoteAddress ?? "-")
        context.logger.info("web sign-in", metadata: ["access_key": "\(caller.identity.accessKey.rawValue)"])
        var response = JSONResponse.raw(Self.describe(caller).text)
        response.headers.append(contentsOf: WebSecurity.headers)
        response.headers[.cacheControl] = "no-store"
        response.headers[.setCookie] = cookie.setCookie(maxAge: self.signIn.ttl, secure: self.secureCookie)
        return response
    }

    /// `POST /ui/sign-out` (with the CSRF token): the sign-in ends on every replica at once.
    @Sendable func endSignIn(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let (cookie, caller) = try await self.caller(request)
        try self.checkStateChange(request, caller: caller)
        try await self.signIn.signOut(cookie)
        context.logger.info("web sign-out", metadata: ["access_key": "\(caller.identity.accessKey.rawValue)"])
        var headers = WebSecurity.headers
        headers[.setCookie] = WebCookie.clearing(secure: self.secureCookie)
        headers[.cacheControl] = "no-store"
        return Response(status: .noContent, headers: headers)
    }

    /// `GET /ui/me`: who is signed in, and the CSRF token (for a page that was reloaded).
    @Sendable func me(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let (_, caller) = try await self.caller(request)
        var response = JSONResponse.raw(Self.describe(caller).text)
        response.headers.append(contentsOf: WebSecurity.headers)
        response.headers[.cacheControl] = "no-store"
        return response
    }

    /// `/ui/api/PATH` → the API's `/PATH`, as the signed-in caller.
    @Sendable func forward(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let (_, caller) = try await self.caller(request)
        if request.method != .get && request.method != .head { try self.checkStateChange(request, caller: caller) }
        let record = caller.keypair
        switch await self.limiter?.admit(accessKey: record.accessKey, limit: record.rateLimit, signature: nil) {
        case .tooManyRequests?:
            throw APIError.tooManyRequests("More than \(record.rateLimit) requests in \(RequestLimiter.window.components.seconds / 60) minutes.")
        default:
            break
        }
        let full = request.head.path ?? request.uri.description
        let rest = full.dropFirst("/ui/api".count)
        guard rest.hasPrefix("/"), !rest.hasPrefix("/ui"), !rest.hasPrefix(AgentRoutes.prefix), !rest.hasPrefix(StorageRoutes.prefix)
        else { throw APIError.routeNotFound(String(full.prefix(200))) }
        var head = request.head
        head.path = String(rest)
        var context = context
        context.identity = caller.identity
        context.logger[metadataKey: "access_key"] = "\(caller.identity.accessKey.rawValue)"
        var response = try await self.api.respond(to: Request(head: head, body: request.body), context: context)
        response.headers.append(contentsOf: WebSecurity.headers)
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        return response
    }

    /// The sign-in of the request's cookie; 401 when there is none.
    private func caller(_ request: Request) async throws -> (WebCookie, WebSignIn.Caller) {
        guard let cookie = WebCookie.find(in: request.headers), let caller = try await self.signIn.caller(cookie) else {
            throw APIError.authFailed("Sign in first (no sign-in, or it has expired or ended).")
        }
        return (cookie, caller)
    }

    /// A state-changing request must carry the page's CSRF token, and an `Origin` (which browsers send on such
    /// requests) must be this daemon's own.
    private func checkStateChange(_ request: Request, caller: WebSignIn.Caller) throws {
        try self.checkOrigin(request)
        guard let token = request.headers[.csrfToken], RequestSignature.constantTimeEquals(token, caller.csrfToken) else {
            throw APIError(
                status: .forbidden, kind: "csrf-failed", title: "The request's CSRF token is missing or wrong.",
                msg: "State-changing requests of the web view carry the X-CSRF-Token header its sign-in returned.")
        }
    }

    private func checkOrigin(_ request: Request) throws {
        guard let origin = request.headers[.origin] else { return }
        let host = request.head.authority ?? ""
        guard origin == "http://\(host)" || origin == "https://\(host)" else {
            throw APIError(
                status: .forbidden, kind: "csrf-failed", title: "Cross-site request refused.",
                msg: "The request's Origin '\(origin.prefix(100))' is not this server.")
        }
    }

    static func describe(_ caller: WebSignIn.Caller) -> JSONValue {
        .object([
            ("access_key", .string(caller.identity.accessKey.rawValue)), ("email", .string(caller.identity.email)),
            ("is_admin", .bool(caller.identity.isAdmin)), ("csrf_token", .string(caller.csrfToken)),
        ])
    }
}

/// The API router's responder, which `WebRoutes` forwards to; set once after the router is built.
final class WebAPITarget: Sendable {
    private let responder = Mutex<RouterResponder<ManagerRequestContext>?>(nil)

    func set(_ responder: RouterResponder<ManagerRequestContext>) {
        self.responder.withLock { $0 = responder }
    }

    func respond(to request: Request, context: ManagerRequestContext) async throws -> Response {
        guard let responder = self.responder.withLock({ $0 }) else {
            throw APIError.serviceUnavailable("The server is starting; retry shortly.")
        }
        return try await responder.respond(to: request, context: context)
    }
}
