import Foundation
import SchedulerKit

/// A scaling group as stored.
public struct ScalingGroupRecord: Sendable {
    public var name: String
    public var description: String
    public var isActive: Bool
    public var isPublic: Bool
    public var createdAt: Date
    public var driver: String
    public var driverOpts: JSONValue
    public var scheduler: String
    public var schedulerOpts: ScalingGroupOptions
    public var useHostNetwork: Bool
    public var wsproxyAddr: String?
    public var wsproxyAPIToken: String?
}

/// The fields an admin may set when creating or modifying a scaling group; nil leaves a field as it is.
public struct ScalingGroupChanges: Sendable {
    public var description: String?
    public var isActive: Bool?
    public var isPublic: Bool?
    public var driver: String?
    public var driverOpts: JSONValue?
    public var scheduler: String?
    public var schedulerOpts: ScalingGroupOptions?
    public var useHostNetwork: Bool?
    public var wsproxyAddr: String??
    public var wsproxyAPIToken: String??
    public init() {}
}

/// Persistence for scaling groups.
public protocol ScalingGroupStore: Sendable {
    func list(isActive: Bool?) async throws -> [ScalingGroupRecord]
    func group(named name: String) async throws -> ScalingGroupRecord?
    /// Creates a group; false when the name is taken.
    func create(name: String, _ changes: ScalingGroupChanges) async throws -> Bool
    /// Applies changes; false when there is no such group.
    func modify(name: String, _ changes: ScalingGroupChanges) async throws -> Bool
    /// Deletes a group; nil when there is none, or a reason when it is still in use.
    func delete(name: String) async throws -> DeleteOutcome
    /// Associates a (private) scaling group with a domain or a project, or removes that; false when either is missing.
    func associate(_ scalingGroup: String, with target: ScalingGroupAssociation, _ associated: Bool) async throws -> Bool
    /// Removes every association of the domain.
    func disassociateAll(domain: String) async throws
    /// The scaling groups a user of `domain` may use for sessions of the project `project` (a name or an id):
    /// public ones and those associated with the domain or project; nil when the user is not a member of the
    /// project (superadmins are members of all).
    func usable(domain: String, project: String, userID: UUID, isSuperadmin: Bool) async throws -> [String]?
}

/// What a scaling group is associated with (Backend.AI's sgroups_for_domains / sgroups_for_groups).
public enum ScalingGroupAssociation: Sendable, Hashable {
    case domain(String)
    case project(UUID)
}

/// What deleting a scaling group did.
public enum DeleteOutcome: Sendable, Equatable {
    case deleted
    case notFound
    case inUse(String)
}
