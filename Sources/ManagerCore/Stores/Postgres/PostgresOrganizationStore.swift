import Foundation
import SchedulerKit

/// Domains and projects (groups) as `admin domain|group list|info` read them.
struct PostgresOrganizationStore: Sendable {
    let pool: PostgresPool

    struct Group: Sendable {
        let id: UUID
        let name: String
        let description: String
        let isActive: Bool
        let createdAt: Date
        let domainName: String
        let totalResourceSlots: JSONValue
        let integrationID: String?
        let modifiedAt: Date
    }

    struct Domain: Sendable {
        let name: String
        let description: String
        let isActive: Bool
        let createdAt: Date
        let totalResourceSlots: JSONValue
        let integrationID: String?
        let modifiedAt: Date
    }

    /// Projects matching every given criterion; with `member`, only those that user belongs to.
    func groups(domain: String?, isActive: Bool?, name: String? = nil, id: UUID? = nil, member: UUID? = nil) async throws -> [Group] {
        try await self.pool.query(
            """
            SELECT g.id, g.name, g.description, g.is_active, g.created_at, g.domain_name, g.total_resource_slots, g.integration_id,
                   g.modified_at
            FROM groups g
            WHERE (\(domain)::text IS NULL OR g.domain_name = \(domain)) AND (\(isActive)::bool IS NULL OR g.is_active = \(isActive))
              AND (\(name)::text IS NULL OR g.name = \(name)) AND (\(id)::uuid IS NULL OR g.id = \(id))
              AND (\(member)::uuid IS NULL OR EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.user_id = \(member)))
            ORDER BY g.domain_name, g.name LIMIT 1000
            """
        ).map { row in
            Group(
                id: try row.decode("id"), name: try row.decode("name"), description: try row.decode("description"),
                isActive: try row.decode("is_active"), createdAt: try row.decode("created_at"), domainName: try row.decode("domain_name"),
                totalResourceSlots: try JSONValue.decode(row.decode("total_resource_slots", as: JSONB.self).text),
                integrationID: try row.decodeOptional("integration_id"), modifiedAt: try row.decode("modified_at"))
        }
    }

    func domains(name: String? = nil, isActive: Bool?) async throws -> [Domain] {
        try await self.pool.query(
            """
            SELECT name, description, is_active, created_at, total_resource_slots, integration_id, modified_at FROM domains
            WHERE (\(name)::text IS NULL OR name = \(name)) AND (\(isActive)::bool IS NULL OR is_active = \(isActive))
            ORDER BY name LIMIT 1000
            """
        ).map { row in
            Domain(
                name: try row.decode("name"), description: try row.decode("description"), isActive: try row.decode("is_active"),
                createdAt: try row.decode("created_at"),
                totalResourceSlots: try JSONValue.decode(row.decode("total_resource_slots", as: JSONB.self).text),
                integrationID: try row.decodeOptional("integration_id"), modifiedAt: try row.decode("modified_at"))
        }
    }
}
