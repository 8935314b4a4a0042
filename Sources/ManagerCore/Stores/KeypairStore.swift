import Foundation

/// A keypair with its owner, as authentication needs it.
public struct KeypairRecord: Sendable, Hashable {
    public let accessKey: AccessKey
    public let secretKey: String
    public let userID: UUID
    public let email: String
    public let domainName: String
    public let isAdmin: Bool
    public let isActive: Bool
    /// The name of its `keypair_resource_policies` row.
    public var resourcePolicy: String = "default"
    /// Requests per rolling 15-minute window (`keypairs.rate_limit`).
    public var rateLimit: Int = 30_000
}

/// Persistence for keypairs and their users.
public protocol KeypairStore: Sendable {
    /// The keypair with this access key, or nil.
    func keypair(_ accessKey: AccessKey) async throws -> KeypairRecord?
    /// Creates a keypair for `email` (creating the user in the default domain and project if needed).
    func createKeypair(email: String, isAdmin: Bool) async throws -> KeypairRecord
    /// Applies an admin's changes to a keypair.
    func modify(_ accessKey: AccessKey, _ changes: KeypairChanges) async throws -> KeypairModification
}

/// What an admin may change of a keypair; nil leaves a field as it is.
public struct KeypairChanges: Sendable, Equatable {
    public var isActive: Bool?
    public var isAdmin: Bool?
    public var resourcePolicy: String?
    public var rateLimit: Int?
    public init() {}
}

/// What `modify` did.
public enum KeypairModification: Sendable, Equatable {
    case modified
    case notFound
    case unknownPolicy(String)
}
