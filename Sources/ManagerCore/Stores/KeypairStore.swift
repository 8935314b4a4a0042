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
}

/// Persistence for keypairs and their users.
public protocol KeypairStore: Sendable {
    /// The keypair with this access key, or nil.
    func keypair(_ accessKey: AccessKey) async throws -> KeypairRecord?
    /// Creates a keypair for `email` (creating the user in the default domain and project if needed).
    func createKeypair(email: String, isAdmin: Bool) async throws -> KeypairRecord
}
