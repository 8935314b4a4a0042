import HTTPTypes
import Foundation
import Hummingbird
import Logging

/// Verifies Backend.AI v7 HMAC signatures and puts the caller's `Identity` into the context.
///
/// Public paths (`/`, `/health`, `/metrics`, `/openapi.yaml`) pass without a signature. Everything else answers
/// 401 `auth-failed` for a missing or garbled header, an unknown or inactive key, a wrong signature, or a Date
/// more than `maxClockSkew` away from our clock.
public struct AuthMiddleware: RouterMiddleware {
    public typealias Context = ManagerRequestContext

    let keypairs: any KeypairStore
    let maxClockSkew: Duration
    let now: @Sendable () -> Date
    static let publicPaths: Set<String> = ["/", "", "/health", "/metrics", "/openapi.yaml"]

    public init(keypairs: any KeypairStore, maxClockSkew: Duration, now: @escaping @Sendable () -> Date = { Date() }) {
        self.keypairs = keypairs
        self.maxClockSkew = maxClockSkew
        self.now = now
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if Self.publicPaths.contains(request.uri.path) && request.method == .get {
            return try await next(request, context)
        }
        // Agents authenticate with their own secret (AgentRoutes).
        if request.uri.path.hasPrefix(AgentRoutes.prefix) {
            return try await next(request, context)
        }
        var context = context
        context.identity = try await self.authenticate(request, logger: context.logger)
        context.logger[metadataKey: "access_key"] = "\(context.identity?.accessKey.rawValue ?? "-")"
        return try await next(request, context)
    }

    func authenticate(_ request: Request, logger: Logger) async throws -> Identity {
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

        let record: KeypairRecord?
        do {
            record = try await self.keypairs.keypair(AccessKey(header.accessKey))
        } catch let error as PostgresError {
            throw APIError.serviceUnavailable("The database is unavailable (\(error.code)); retry shortly.")
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
        return Identity(
            accessKey: record.accessKey, userID: record.userID, email: record.email, domainName: record.domainName,
            isAdmin: record.isAdmin)
    }

    /// `Application/JSON; charset=utf-8` → `application/json`.
    static func mimeType(_ header: String) -> String {
        String(header.split(separator: ";", maxSplits: 1).first ?? "").trimmingCharacters(in: .whitespaces).lowercased()
    }
}
