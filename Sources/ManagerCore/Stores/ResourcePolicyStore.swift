import Foundation
import SchedulerKit

/// A keypair resource policy as stored (Backend.AI's `keypair_resource_policies`).
public struct KeypairResourcePolicy: Sendable, Hashable {
    public var name: String
    public var createdAt: Date
    public var defaultForUnspecified: String
    /// `{}`: unlimited.
    public var totalResourceSlots: ResourceSlots
    /// Seconds a session may run; 0: forever.
    public var maxSessionLifetime: Int
    /// 0: unlimited.
    public var maxConcurrentSessions: Int
    public var maxConcurrentSFTPSessions: Int
    public var maxContainersPerSession: Int
    /// Seconds without activity after which a running session is terminated; 0: never.
    public var idleTimeout: Int
    /// 0: unlimited.
    public var maxVFolderCount: Int
    /// Bytes per folder; 0: unlimited.
    public var maxVFolderSize: Int
    /// nil: no limit.
    public var maxPendingSessionCount: Int?
    /// nil: no limit.
    public var maxPendingSessionResourceSlots: ResourceSlots?
    public var allowedVFolderHosts: JSONValue

    /// What enqueue checks of this policy.
    public var pendingQuota: PendingQuota {
        PendingQuota(
            maxPendingSessions: self.maxPendingSessionCount, maxPendingSlots: self.maxPendingSessionResourceSlots,
            maxContainersPerSession: self.maxContainersPerSession)
    }
}

/// The fields an admin sets when creating or modifying a policy; nil leaves a field as it is (`.some(nil)` clears a
/// nullable one).
public struct ResourcePolicyChanges: Sendable, Equatable {
    public var defaultForUnspecified: String?
    public var totalResourceSlots: ResourceSlots?
    public var maxSessionLifetime: Int?
    public var maxConcurrentSessions: Int?
    public var maxConcurrentSFTPSessions: Int?
    public var maxContainersPerSession: Int?
    public var idleTimeout: Int?
    public var maxVFolderCount: Int?
    public var maxVFolderSize: Int?
    public var maxPendingSessionCount: Int??
    public var maxPendingSessionResourceSlots: ResourceSlots??
    public var allowedVFolderHosts: JSONValue?
    public init() {}
}

/// Persistence for keypair resource policies.
public protocol ResourcePolicyStore: Sendable {
    func list() async throws -> [KeypairResourcePolicy]
    func policy(named name: String) async throws -> KeypairResourcePolicy?
    /// The policy of the keypair `accessKey`.
    func policy(of accessKey: AccessKey) async throws -> KeypairResourcePolicy?
    /// Creates a policy; false when the name is taken.
    func create(name: String, _ changes: ResourcePolicyChanges) async throws -> Bool
    /// Applies changes; false when there is no such policy.
    func modify(name: String, _ changes: ResourcePolicyChanges) async throws -> Bool
    func delete(name: String) async throws -> DeleteOutcome
}
