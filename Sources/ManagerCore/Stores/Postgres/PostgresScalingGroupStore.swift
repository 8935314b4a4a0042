import Foundation
import SchedulerKit

/// Scaling groups in PostgreSQL.
public struct PostgresScalingGroupStore: ScalingGroupStore {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    private static let columns: SQL = """
        SELECT name, description, is_active, is_public, created_at, driver, driver_opts, scheduler, scheduler_opts,
               use_host_network, wsproxy_addr, wsproxy_api_token FROM scaling_groups
        """

    public func list(isActive: Bool?) async throws -> [ScalingGroupRecord] {
        let rows = try await self.pool.query(
            "\(Self.columns) WHERE (\(isActive)::bool IS NULL OR is_active = \(isActive)) ORDER BY name")
        return try rows.map(Self.record)
    }

    public func group(named name: String) async throws -> ScalingGroupRecord? {
        try await self.pool.query("\(Self.columns) WHERE name = \(name)").first.map(Self.record)
    }

    public func create(name: String, _ changes: ScalingGroupChanges) async throws -> Bool {
        do {
            try await self.pool.query(
                """
                INSERT INTO scaling_groups (name, description, is_active, is_public, driver, driver_opts, scheduler,
                                            scheduler_opts, use_host_network, wsproxy_addr, wsproxy_api_token)
                VALUES (\(name), \(changes.description ?? ""), \(changes.isActive ?? true), \(changes.isPublic ?? true),
                        \(changes.driver ?? "static"), \(JSONB(text: (changes.driverOpts ?? .object([])).text)),
                        \(changes.scheduler ?? "fifo"),
                        \(JSONB(text: (changes.schedulerOpts ?? ScalingGroupOptions()).json.text)),
                        \(changes.useHostNetwork ?? false), \(changes.wsproxyAddr ?? nil), \(changes.wsproxyAPIToken ?? nil))
                """)
            return true
        } catch let error as PostgresError where error.code == .uniqueViolation {
            return false
        }
    }

    public func modify(name: String, _ changes: ScalingGroupChanges) async throws -> Bool {
        let driverOpts = changes.driverOpts.map { JSONB(text: $0.text) }
        let schedulerOpts = changes.schedulerOpts.map { JSONB(text: $0.json.text) }
        let updated = try await self.pool.query(
            """
            UPDATE scaling_groups SET
                description = coalesce(\(changes.description), description),
                is_active = coalesce(\(changes.isActive), is_active),
                is_public = coalesce(\(changes.isPublic), is_public),
                driver = coalesce(\(changes.driver), driver),
                driver_opts = coalesce(\(driverOpts), driver_opts),
                scheduler = coalesce(\(changes.scheduler), scheduler),
                scheduler_opts = coalesce(\(schedulerOpts), scheduler_opts),
                use_host_network = coalesce(\(changes.useHostNetwork), use_host_network),
                wsproxy_addr = CASE WHEN \(changes.wsproxyAddr != nil) THEN \(changes.wsproxyAddr ?? nil) ELSE wsproxy_addr END,
                wsproxy_api_token = CASE WHEN \(changes.wsproxyAPIToken != nil) THEN \(changes.wsproxyAPIToken ?? nil)
                                    ELSE wsproxy_api_token END
            WHERE name = \(name)
            """)
        return updated.affectedRows == 1
    }

    public func delete(name: String) async throws -> DeleteOutcome {
        do {
            let deleted = try await self.pool.query("DELETE FROM scaling_groups WHERE name = \(name)")
            return deleted.affectedRows == 1 ? .deleted : .notFound
        } catch let error as PostgresError where error.code == .foreignKeyViolation {
            return .inUse("The scaling group '\(name)' still has sessions or agents.")
        }
    }

    public func associate(_ scalingGroup: String, with target: ScalingGroupAssociation, _ associated: Bool) async throws -> Bool {
        do {
            switch (target, associated) {
            case (.domain(let domain), true):
                try await self.pool.query(
                    """
                    INSERT INTO sgroups_for_domains (scaling_group, domain) VALUES (\(scalingGroup), \(domain))
                    ON CONFLICT DO NOTHING
                    """)
            case (.domain(let domain), false):
                let deleted = try await self.pool.query(
                    "DELETE FROM sgroups_for_domains WHERE scaling_group = \(scalingGroup) AND domain = \(domain)")
                return deleted.affectedRows == 1
            case (.project(let id), true):
                try await self.pool.query(
                    """
                    INSERT INTO sgroups_for_groups (scaling_group, group_id) VALUES (\(scalingGroup), \(id))
                    ON CONFLICT DO NOTHING
                    """)
            case (.project(let id), false):
                let deleted = try await self.pool.query(
                    "DELETE FROM sgroups_for_groups WHERE scaling_group = \(scalingGroup) AND group_id = \(id)")
                return deleted.affectedRows == 1
            }
            return true
        } catch let error as PostgresError where error.code == .foreignKeyViolation {
            return false
        }
    }

    public func disassociateAll(domain: String) async throws {
        try await self.pool.query("DELETE FROM sgroups_for_domains WHERE domain = \(domain)")
    }

    public func usable(domain: String, project: String, userID: UUID, isSuperadmin: Bool) async throws -> [String]? {
        let projectID = UUID(uuidString: project)
        let rows = try await self.pool.withConnection { session in try await session.query([
            """
            SELECT g.id FROM groups g
            WHERE g.domain_name = \(domain) AND g.is_active AND (g.name = \(project) OR g.id = \(projectID))
              AND (\(isSuperadmin) OR EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.user_id = \(userID)))
            """,
            """
            SELECT s.name FROM scaling_groups s
            WHERE s.is_active AND (s.is_public
                OR EXISTS (SELECT 1 FROM sgroups_for_domains d WHERE d.scaling_group = s.name AND d.domain = \(domain))
                OR EXISTS (SELECT 1 FROM sgroups_for_groups a JOIN groups g ON g.id = a.group_id
                           WHERE a.scaling_group = s.name AND g.domain_name = \(domain)
                             AND (g.name = \(project) OR g.id = \(projectID))))
            ORDER BY s.name
            """,
        ]) }
        guard !rows[0].isEmpty else { return nil }
        return try rows[1].map { try $0.decode("name", as: String.self) }
    }

    static func record(_ row: PostgresRow) throws -> ScalingGroupRecord {
        let optionsJSON = try JSONValue.decode(row.decode("scheduler_opts", as: JSONB.self).text)
        let options = (try? ScalingGroupOptions.parse(optionsJSON).get()) ?? ScalingGroupOptions()
        return ScalingGroupRecord(
            name: try row.decode("name"), description: try row.decode("description"), isActive: try row.decode("is_active"),
            isPublic: try row.decode("is_public"), createdAt: try row.decode("created_at"), driver: try row.decode("driver"),
            driverOpts: try JSONValue.decode(row.decode("driver_opts", as: JSONB.self).text), scheduler: try row.decode("scheduler"),
            schedulerOpts: options, useHostNetwork: try row.decode("use_host_network"),
            wsproxyAddr: try row.decodeOptional("wsproxy_addr"), wsproxyAPIToken: try row.decodeOptional("wsproxy_api_token"))
    }
}

extension JSONValue {
    /// Parses JSON text, object keys in text order (`JSONValue.parse`).
    static func decode(_ text: String) throws -> JSONValue {
        try JSONValue.parse(text)
    }
}
