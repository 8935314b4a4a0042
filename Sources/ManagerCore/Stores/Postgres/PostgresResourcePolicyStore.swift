import Foundation
import SchedulerKit

/// Keypair resource policies in PostgreSQL.
public struct PostgresResourcePolicyStore: ResourcePolicyStore {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    static let columns: SQL = """
        SELECT p.name, p.created_at, p.default_for_unspecified, p.total_resource_slots, p.max_session_lifetime,
               p.max_concurrent_sessions, p.max_concurrent_sftp_sessions, p.max_containers_per_session, p.idle_timeout,
               p.max_vfolder_count, p.max_vfolder_size, p.max_pending_session_count,
               p.max_pending_session_resource_slots, p.allowed_vfolder_hosts
        FROM keypair_resource_policies p
        """

    public func list() async throws -> [KeypairResourcePolicy] {
        try await self.pool.query("\(Self.columns) ORDER BY p.name").map(Self.record)
    }

    public func policy(named name: String) async throws -> KeypairResourcePolicy? {
        try await self.pool.query("\(Self.columns) WHERE p.name = \(name)").first.map(Self.record)
    }

    public func policy(of accessKey: AccessKey) async throws -> KeypairResourcePolicy? {
        try await self.pool.query(
            "\(Self.columns) JOIN keypairs k ON k.resource_policy = p.name WHERE k.access_key = \(accessKey)"
        ).first.map(Self.record)
    }

    public func create(name: String, _ changes: ResourcePolicyChanges) async throws -> Bool {
        do {
            try await self.pool.query(
                """
                INSERT INTO keypair_resource_policies (name, default_for_unspecified, total_resource_slots,
                    max_session_lifetime, max_concurrent_sessions, max_concurrent_sftp_sessions, max_containers_per_session,
                    idle_timeout, max_vfolder_count, max_vfolder_size, max_pending_session_count,
                    max_pending_session_resource_slots, allowed_vfolder_hosts)
                VALUES (\(name), \(changes.defaultForUnspecified ?? "UNLIMITED"),
                        \(JSONB(text: (changes.totalResourceSlots ?? .empty).json.text)), \(changes.maxSessionLifetime ?? 0),
                        \(changes.maxConcurrentSessions ?? 0), \(changes.maxConcurrentSFTPSessions ?? 0),
                        \(changes.maxContainersPerSession ?? 1), \(changes.idleTimeout ?? 0), \(changes.maxVFolderCount ?? 0),
                        \(changes.maxVFolderSize ?? 0), \(changes.maxPendingSessionCount ?? nil),
                        \((changes.maxPendingSessionResourceSlots ?? nil).map { JSONB(text: $0.json.text) }),
                        \(JSONB(text: (changes.allowedVFolderHosts ?? .object([])).text)))
                """)
            return true
        } catch let error as PostgresError where error.code == .uniqueViolation {
            return false
        }
    }

    public func modify(name: String, _ changes: ResourcePolicyChanges) async throws -> Bool {
        let totalSlots = changes.totalResourceSlots.map { JSONB(text: $0.json.text) }
        let hosts = changes.allowedVFolderHosts.map { JSONB(text: $0.text) }
        let pendingSlots = (changes.maxPendingSessionResourceSlots ?? nil).map { JSONB(text: $0.json.text) }
        let updated = try await self.pool.query(
            """
            UPDATE keypair_resource_policies SET
                default_for_unspecified = coalesce(\(changes.defaultForUnspecified), default_for_unspecified),
                total_resource_slots = coalesce(\(totalSlots), total_resource_slots),
                max_session_lifetime = coalesce(\(changes.maxSessionLifetime), max_session_lifetime),
                max_concurrent_sessions = coalesce(\(changes.maxConcurrentSessions), max_concurrent_sessions),
                max_concurrent_sftp_sessions = coalesce(\(changes.maxConcurrentSFTPSessions), max_concurrent_sftp_sessions),
                max_containers_per_session = coalesce(\(changes.maxContainersPerSession), max_containers_per_session),
                idle_timeout = coalesce(\(changes.idleTimeout), idle_timeout),
                max_vfolder_count = coalesce(\(changes.maxVFolderCount), max_vfolder_count),
                max_vfolder_size = coalesce(\(changes.maxVFolderSize), max_vfolder_size),
                max_pending_session_count = CASE WHEN \(changes.maxPendingSessionCount != nil)
                    THEN \(changes.maxPendingSessionCount ?? nil) ELSE max_pending_session_count END,
                max_pending_session_resource_slots = CASE WHEN \(changes.maxPendingSessionResourceSlots != nil)
                    THEN \(pendingSlots) ELSE max_pending_session_resource_slots END,
                allowed_vfolder_hosts = coalesce(\(hosts), allowed_vfolder_hosts)
            WHERE name = \(name)
            """)
        return updated.affectedRows == 1
    }

    public func delete(name: String) async throws -> DeleteOutcome {
        do {
            let deleted = try await self.pool.query("DELETE FROM keypair_resource_policies WHERE name = \(name)")
            return deleted.affectedRows == 1 ? .deleted : .notFound
        } catch let error as PostgresError where error.code == .foreignKeyViolation {
            return .inUse("The resource policy '\(name)' is still assigned to keypairs.")
        }
    }

    static func record(_ row: PostgresRow) throws -> KeypairResourcePolicy {
        func slots(_ column: String) throws -> ResourceSlots? {
            guard let json: JSONB = try row.decodeOptional(column) else { return nil }
            return SchedulingSnapshotReader.slots(try JSONValue.decode(json.text))
        }
        return KeypairResourcePolicy(
            name: try row.decode("name"), createdAt: try row.decode("created_at"),
            defaultForUnspecified: try row.decode("default_for_unspecified"),
            totalResourceSlots: try slots("total_resource_slots") ?? .empty,
            maxSessionLifetime: try row.decode("max_session_lifetime"),
            maxConcurrentSessions: try row.decode("max_concurrent_sessions"),
            maxConcurrentSFTPSessions: try row.decode("max_concurrent_sftp_sessions"),
            maxContainersPerSession: try row.decode("max_containers_per_session"),
            idleTimeout: try row.decode("idle_timeout"), maxVFolderCount: try row.decode("max_vfolder_count"),
            maxVFolderSize: try row.decode("max_vfolder_size"),
            maxPendingSessionCount: try row.decodeOptional("max_pending_session_count"),
            maxPendingSessionResourceSlots: try slots("max_pending_session_resource_slots"),
            allowedVFolderHosts: try JSONValue.decode(row.decode("allowed_vfolder_hosts", as: JSONB.self).text))
    }
}
