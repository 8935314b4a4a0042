import HTTPTypes
import Foundation
import Hummingbird
import Logging

/// Verifies Backend.AI v7 HMAC signatures, applies the keypair's rate limit and refuses replays, and puts the
/// caller's `Identity` into the context.
///
/// Public paths (`/`, `/health`, `/metrics`, `/openapi.yaml`) pass without a signature. Everything else answers
/// 401 `auth-failed` for a missing or garbled header, an unknown or inactive key, a wrong signature, a Date
/// more than `maxClockSkew` away from our clock, or a signature already accepted once; 429 `too-many-requests`
/// over the keypair's `rate_limit` (with Backend.AI's `X-RateLimit-*` headers, also on every signed response), or
/// when one address sends too many keys that are not cached (`AddressBudget`).
///
/// Replays: the official client signs each request once, with a fresh Date, except that it re-sends an event
/// stream's original request when the stream reconnects. So the SSE routes (`streamPaths`) are not checked for
/// replays; their signatures still expire with the skew window, and what they return is read-only.
public struct AuthMiddleware: RouterMiddleware {
    public typealias Context = ManagerRequestContext

    let keypairs: any KeypairStore
    let maxClockSkew: Duration
    let cache: KeypairCache
    let limiter: RequestLimiter?
    let addresses: AddressBudget
    let now: @Sendable () -> Date
    static let publicPaths: Set<String> = ["/", "", "/health", "/metrics", "/openapi.yaml"]
    static let streamPaths: Set<String> = ["/events/session", "/events/background-task"]

    public init(
        keypairs: any KeypairStore, maxClockSkew: Duration, cache: KeypairCache = KeypairCache(ttl: .zero),
        limiter: RequestLimiter? = nil, addresses: AddressBudget = AddressBudget(burst: 60, perSecond: 1),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.keypairs = keypairs
        self.maxClockSkew = maxClockSkew
        self.cache = cache
        self.limiter = limiter
        self.addresses = addresses
        self.now = now
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if Self.publicPaths.contains(request.uri.path) && request.method == .get {
            return try await next(request, context)
        }
        // A web view request, already authenticated by its sign-in cookie (`WebRoutes` forwards `/ui/api/…` with
        // the caller set; nothing else sets it), or one of the web view's own routes, which check the cookie.
        if context.identity != nil || request.uri.path == WebRoutes.prefix || request.uri.path.hasPrefix(WebRoutes.prefix + "/") {
            return try await next(request, context)
        }
        // Agents authenticate with their own secret (AgentRoutes); the storage endpoint with the signed token of the
        // request-upload / request-download that issued its URL (StorageRoutes).
        if request.uri.path.hasPrefix(AgentRoutes.prefix) || request.uri.path.hasPrefix(StorageRoutes.prefix) {
            return try await next(request, context)
        }
        var context = context
        let (identity, record, signature) = try await self.authenticate(request, context: context)
        context.identity = identity
        context.logger[metadataKey: "access_key"] = "\(identity.accessKey.rawValue)"
        let replayCheck = Self.streamPaths.contains(request.uri.path) && request.method == .get ? nil : signature
        var rateHeaders: HTTPFields = [
            .rateLimitLimit: String(record.rateLimit),
            .rateLimitWindow: String(RequestLimiter.window.components.seconds),
        ]
        switch await self.limiter?.admit(accessKey: record.accessKey, limit: record.rateLimit, signature: replayCheck) {
        case .replayed?:
            context.logger.notice("replayed signature refused")
            throw APIError.authFailed("This request was already received once; sign every request anew.")
        case .tooManyRequests?:
            var error = APIError.tooManyRequests(
                "More than \(record.rateLimit) requests in \(RequestLimiter.window.components.seconds / 60) minutes.")
            rateHeaders[.rateLimitRemaining] = "0"
            error.headers.append(contentsOf: rateHeaders)
            throw error
        case .allowed(let remaining)?:
            rateHeaders[.rateLimitRemaining] = String(remaining)
        case .unchecked?, nil:
            rateHeaders[.rateLimitRemaining] = String(record.rateLimit)
        }
        do {
            var response = try await next(request, context)
            response.headers.append(contentsOf: rateHeaders)
            return response
        } catch var error as APIError {
            error.headers.append(contentsOf: rateHeaders)
            throw error
        }
    }

    /// The caller, their keypair, and the signature they sent.
    func authenticate(_ request: Request, context: Context) async throws -> (Identity, KeypairRecord, String) {
        let logger = context.logger
        guard let headerText = request.headers[.authorization] else {
            throw APIError.authFailed("The Authorization header is missing.")
        }
        guard let header = AuthorizationHeader(headerText) else {
            throw APIError.authFailed("The Authorization header is malformed.")
        }
        guard header.signMethod == "HMAC-SHA256" else {
            throw APIError.authFailed("Unsupported signMethod \(header.signMethod.prefix(32)); use HMAC-SHA256.")
        }
        guard let date = request.headers[.date] ?? request.headers[.backendAIDate] else {
            throw APIError.authFailed("The Date header is missing.")
        }
        guard let instant = Timestamp.parse(date) ?? HTTPDate.parse(date) else {
            throw APIError.authFailed("The Date header is not a date.")
        }
        let skew = abs(instant.timeIntervalSince(self.now()))
        guard skew <= Double(self.maxClockSkew.components.seconds) else {
            throw APIError.authFailed("The request's Date is too far from the server's clock.")
        }
        guard let version = request.headers[.backendAIVersion] else {
            throw APIError.authFailed("The X-BackendAI-Version header is missing.")
        }
        let host = request.head.authority ?? ""
        let contentType = request.headers[.contentType].map(Self.mimeType) ?? "application/octet-stream"
        let signature = RequestSignature(
            method: request.method.rawValue, pathAndQuery: request.head.path ?? request.uri.description, date: date,
            host: host, contentType: contentType, apiVersion: version)

        let key = AccessKey(header.accessKey)
        let record: KeypairRecord?
        if let cached = self.cache.lookup(key) {
            record = cached
        } else {
            guard self.addresses.take(context.remoteAddress ?? "-") else {
                throw APIError.tooManyRequests("Too many requests with unknown access keys from this address.", retryAfter: 1)
            }
            do {
                record = try await self.keypairs.keypair(key)
            } catch let error as PostgresError {
                throw APIError.serviceUnavailable("The database is unavailable (\(error.code)); retry shortly.")
            }
            self.cache.store(key, record)
        }
        // Compute the signature even for an unknown key so timing does not reveal which keys exist.
        let secret = record?.secretKey ?? "unknown-key-placeholder-secret"
        let matches = signature.verify(header.signature, secretKey: secret)
        guard let record, matches else {
            logger.info("signature rejected", metadata: ["access_key": "\(header.accessKey.prefix(32))"])
            throw APIError.authFailed("The signature does not match, or the access key is unknown.")
        }
        guard record.isActive else {
            throw APIError.authFailed("This keypair is inactive.")
        }
        let identity = Identity(
            accessKey: record.accessKey, userID: record.userID, email: record.email, domainName: record.domainName,
            isAdmin: record.isAdmin)
        // Lowercased: the check accepts either case, so a replay must not pass by changing it.
        return (identity, record, header.signature.lowercased())
    }

    /// `Application/JSON; charset=utf-8` → `application/json`.
    static func mimeType(_ header: String) -> String {
        String(header.split(separator: ";", maxSplits: 1).first ?? "").trimmingCharacters(in: .whitespaces).lowercased()
    }
}
