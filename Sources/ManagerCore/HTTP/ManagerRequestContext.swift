import Foundation
import Hummingbird
import HummingbirdWebSocket

/// Who signed a request: filled in by `AuthMiddleware`.
public struct Identity: Sendable, Hashable {
    public let accessKey: AccessKey
    public let userID: UUID
    public let email: String
    public let domainName: String
    public let isAdmin: Bool
}

/// The per-request context every route receives.
public struct ManagerRequestContext: RequestContext, WebSocketRequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by a WebSocket route that accepts the upgrade (`SessionExecuteRoutes`).
    public let webSocket: WebSocketHandlerReference<Self>
    /// The authenticated caller; nil on public routes.
    public var identity: Identity?
    /// The peer's IP address (no proxy header is trusted).
    public let remoteAddress: String?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.webSocket = .init()
        self.identity = nil
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// The caller, or a 401 when the route was reached without authentication.
    public func requireIdentity() throws -> Identity {
        guard let identity = self.identity else { throw APIError.authFailed("This route needs a signed request.") }
        return identity
    }

    /// The caller if an admin, else 403.
    public func requireAdmin() throws -> Identity {
        let identity = try self.requireIdentity()
        guard identity.isAdmin else { throw APIError.forbidden("Only an admin may do this.") }
        return identity
    }
}
