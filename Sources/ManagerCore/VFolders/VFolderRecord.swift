import Foundation

/// One vfolder row, with its owning project's name.
public struct VFolderRecord: Sendable {
    public let id: UUID
    public let host: String
    public let name: String
    public let usageMode: String
    public let permission: String
    public let ownershipType: String
    public let userID: UUID?
    public let groupID: UUID?
    public let groupName: String?
    public let creator: String
    public let cloneable: Bool
    public let status: VFolderStatus
    public let createdAt: Date
    public let lastUsed: Date?
    public let numFiles: Int
    public let curSize: Int

    /// The id as Backend.AI prints it: 32 hex digits.
    public var hexID: String { self.id.uuidString.lowercased().replacingOccurrences(of: "-", with: "") }

    func isOwned(by identity: Identity) -> Bool { self.userID == identity.userID }
}

/// What creating a folder needs.
public struct VFolderCreation: Sendable {
    public var name: VFolderName
    public var host: String
    public var usageMode: VFolderUsageMode
    public var permission: VFolderPermission
    public var cloneable: Bool
    /// A project (group) name or id for a project folder; nil for the caller's own.
    public var group: String?
}

/// Why the store refused a change.
public enum VFolderRefusal: Error, Equatable {
    case duplicateName(String)
    case unknownGroup(String)
    case notGroupMember(String)
    case wrongStatus(name: String, status: VFolderStatus, operation: String)
    case mounted(name: String, sessions: [String])
    case notCloneable
    /// The keypair resource policy's `max_vfolder_count`.
    case tooManyFolders(limit: Int)
    /// The keypair resource policy's `allowed_vfolder_hosts` leaves this host out (or without `create-vfolder`).
    case hostNotAllowed(String)
    /// The keypair resource policy's `max_vfolder_size` (bytes), against what the folder would hold.
    case tooLarge(bytes: Int, limit: Int)
}
