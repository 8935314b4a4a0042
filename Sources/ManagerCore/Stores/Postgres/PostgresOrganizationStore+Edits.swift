import Foundation
import SchedulerKit

/// What an operator changes on projects and domains (`admin group add|update|delete|purge|add-users|remove-users`,
/// `admin domain add|update|delete|purge`). Each method is one transaction; a project purge is two, with its folders'
/// files removed between them.
extension PostgresOrganizationStore {
    enum Refusal: Error, Equatable, CustomStringConvertible {
        case unknownDomain(String)
        case unknownGroup
        case duplicateGroup(name: String, domain: String)
        case duplicateDomain(String)
        case notInDomain
        case unknownUsers
        case liveSessions(Int)
        case mountedFolder(String)
        case domainInUse(String)

        var description: String {
            switch self {
            case .unknownDomain(let name): return "There is no domain '\(name.prefix(64))'."
            case .unknownGroup: return "There is no such project."
            case .duplicateGroup(let name, let domain):
                return "A project named '\(name.prefix(64))' already exists in the domain '\(domain.prefix(64))'."
            case .duplicateDomain(let name): return "A domain named '\(name.prefix(64))' already exists."
            case .notInDomain: return "user_uuids: every user must belong to the project's domain."
            case .unknownUsers: return "user_uuids: some of these users do not exist."
            case .liveSessions(let count):
                return "The project has \(count) session(s) that have not ended; terminate them first."
            case .mountedFolder(let name): return "The folder '\(name.prefix(64))' is mounted by a session that has not ended."
            case .domainInUse(let what): return "The domain still has \(what); purge them first."
            }
        }
    }

    /// The fields `create_group`/`modify_group`/`create_domain`/`modify_domain` set; nil leaves one as it is.
    struct Changes: Sendable {
        var name: String?
        var description: String?
        var isActive: Bool?
        var totalResourceSlots: JSONValue?
        var integrationID: String?
    }

    enum MemberChange: Sendable { case add([UUID]), remove([UUID]) }

    func createGroup(domain: String, _ group: Changes) async throws -> Group {
        let name = group.name ?? ""
        do {
            let id: UUID = try await self.pool.query(
                """
                INSERT INTO groups (name, domain_name, description, is_active, total_resource_slots, integration_id)
                VALUES (\(name), \(domain), \(group.description ?? ""), \(group.isActive ?? true),
                        \(JSONB(text: (group.totalResourceSlots ?? .object([])).text))::jsonb, \(group.integrationID))
                RETURNING id
                """
            ).first?.decode("id") ?? UUID()
            guard let created = try await self.groups(domain: nil, isActive: nil, id: id).first else { throw Refusal.unknownGroup }
            return created
        } catch let error as PostgresError where error.code == .uniqueViolation {
            throw Refusal.duplicateGroup(name: name, domain: domain)
        } catch let error as PostgresError where error.code == .foreignKeyViolation {
            throw Refusal.unknownDomain(domain)
        }
    }

    /// Applies `changes` and a membership change to the project `id`.
    func modifyGroup(_ id: UUID, _ changes: Changes, members: MemberChange?) async throws {
        try await self.pool.withTransaction { tx in
            guard let row = try await tx.query("SELECT domain_name, name FROM groups WHERE id = \(id) FOR UPDATE").first else {
                throw Refusal.unknownGroup
            }
            let domain: String = try row.decode("domain_name")
            do {
                try await tx.execute(
                    """
                    UPDATE groups SET name = coalesce(\(changes.name), name), description = coalesce(\(changes.description), description),
                        is_active = coalesce(\(changes.isActive), is_active),
                        total_resource_slots = coalesce(\(changes.totalResourceSlots.map { JSONB(text: $0.text) })::jsonb, total_resource_slots),
                        integration_id = coalesce(\(changes.integrationID), integration_id), modified_at = now()
                    WHERE id = \(id)
                    """)
            } catch let error as PostgresError where error.code == .uniqueViolation {
                throw Refusal.duplicateGroup(name: changes.name ?? "", domain: domain)
            }
            switch members {
            case .none: break
            case .add(let users):
                let found = try await tx.query(
                    "SELECT uuid, domain_name FROM users WHERE uuid = ANY(\(UUIDArray(users))::uuid[])")
                guard found.count == Set(users).count else { throw Refusal.unknownUsers }
                guard try found.allSatisfy({ try $0.decode("domain_name", as: String.self) == domain }) else { throw Refusal.notInDomain }
                try await tx.execute(
                    """
                    INSERT INTO group_members (group_id, user_id) SELECT \(id), unnest(\(UUIDArray(users))::uuid[])
                    ON CONFLICT DO NOTHING
                    """)
            case .remove(let users):
                try await tx.execute("DELETE FROM group_members WHERE group_id = \(id) AND user_id = ANY(\(UUIDArray(users))::uuid[])")
            }
        }
    }

    /// What a project purge removes once its folders' files are gone.
    struct GroupPurgePlan: Sendable {
        let groupID: UUID
        let folders: [(id: UUID, host: String)]
    }

    /// First step of `purge_group`: refuses while the project has sessions that have not ended or a folder of it is
    /// mounted; marks the project inactive and its folders `delete-ongoing`.
    func beginPurge(group id: UUID) async throws -> GroupPurgePlan {
        try await self.pool.withTransaction { tx in
            guard try await !tx.query("SELECT 1 FROM groups WHERE id = \(id) FOR UPDATE").isEmpty else { throw Refusal.unknownGroup }
            let ended = PostgresAccountStore.endedStatuses
            let live: Int = try await tx.query(
                "SELECT count(*)::int AS n FROM sessions WHERE group_id = \(id) AND NOT (status = ANY(\(ended)::text[]))"
            ).first?.decode("n") ?? 0
            guard live == 0 else { throw Refusal.liveSessions(live) }
            let folders = try await tx.query(
                """
                SELECT v.id, v.host, v.name,
                       EXISTS (SELECT 1 FROM sessions s WHERE s.vfolder_mounts @> jsonb_build_array(jsonb_build_object('id', v.id::text))
                               AND NOT (s.status = ANY(\(ended)::text[]))) AS mounted
                FROM vfolders v WHERE v.ownership_type = 'group' AND v.group_id = \(id) AND v.status <> 'delete-complete'
                FOR UPDATE OF v
                """)
            var remove: [(id: UUID, host: String)] = []
            for folder in folders {
                guard !(try folder.decode("mounted", as: Bool.self)) else { throw Refusal.mountedFolder(try folder.decode("name")) }
                let folderID: UUID = try folder.decode("id")
                try await PostgresVFolderStore.setStatus(folderID, to: .deleteOngoing, in: tx)
                remove.append((folderID, try folder.decode("host")))
            }
            try await tx.execute("UPDATE groups SET is_active = false, modified_at = now() WHERE id = \(id)")
            return GroupPurgePlan(groupID: id, folders: remove)
        }
    }

    /// Last step of `purge_group`: deletes the project's session history and the project (members, scaling-group
    /// associations and folder rows go with it); folders whose removal failed are marked `delete-error` instead.
    func finishPurge(_ plan: GroupPurgePlan, failed: Set<UUID>) async throws {
        try await self.pool.withTransaction { tx in
            guard failed.isEmpty else {
                for id in failed { try await PostgresVFolderStore.setStatus(id, to: .deleteError, in: tx) }
                return
            }
            try await tx.execute("DELETE FROM sessions WHERE group_id = \(plan.groupID)")
            try await tx.execute("DELETE FROM groups WHERE id = \(plan.groupID)")
        }
    }

    /// A new domain, with a `default` project so that users added to it can start sessions at once.
    func createDomain(_ domain: Changes) async throws -> Domain {
        let name = domain.name ?? ""
        do {
            try await self.pool.withTransaction { tx in
                try await tx.execute(
                    """
                    INSERT INTO domains (name, description, is_active, total_resource_slots, integration_id)
                    VALUES (\(name), \(domain.description ?? ""), \(domain.isActive ?? true),
                            \(JSONB(text: (domain.totalResourceSlots ?? .object([])).text))::jsonb, \(domain.integrationID))
                    """)
                try await tx.execute("INSERT INTO groups (name, domain_name, description) VALUES ('default', \(name), 'default project')")
            }
        } catch let error as PostgresError where error.code == .uniqueViolation {
            throw Refusal.duplicateDomain(name)
        }
        guard let created = try await self.domains(name: name, isActive: nil).first else { throw Refusal.unknownDomain(name) }
        return created
    }

    /// Applies `changes` to the domain `name`; a new name is carried to every row naming the domain.
    func modifyDomain(_ name: String, _ changes: Changes) async throws {
        do {
            let changed = try await self.pool.query(
                """
                UPDATE domains SET name = coalesce(\(changes.name), name), description = coalesce(\(changes.description), description),
                    is_active = coalesce(\(changes.isActive), is_active),
                    total_resource_slots = coalesce(\(changes.totalResourceSlots.map { JSONB(text: $0.text) })::jsonb, total_resource_slots),
                    integration_id = coalesce(\(changes.integrationID), integration_id), modified_at = now()
                WHERE name = \(name)
                """).affectedRows
            guard changed == 1 else { throw Refusal.unknownDomain(name) }
        } catch let error as PostgresError where error.code == .uniqueViolation {
            throw Refusal.duplicateDomain(changes.name ?? "")
        }
    }

    /// `purge_domain`: refuses while users, sessions (live or in the history) or project folders remain; deletes its
    /// empty projects and the domain.
    func purgeDomain(_ name: String) async throws {
        try await self.pool.withTransaction { tx in
            guard try await !tx.query("SELECT 1 FROM domains WHERE name = \(name) FOR UPDATE").isEmpty else {
                throw Refusal.unknownDomain(name)
            }
            let counts = try await tx.query(
                """
                SELECT (SELECT count(*)::int FROM users WHERE domain_name = \(name)) AS users,
                       (SELECT count(*)::int FROM sessions WHERE domain_name = \(name)) AS sessions,
                       (SELECT count(*)::int FROM vfolders WHERE domain_name = \(name) AND status <> 'delete-complete') AS folders
                """)
            guard let row = counts.first else { return }
            if try row.decode("users", as: Int.self) > 0 { throw Refusal.domainInUse("users") }
            if try row.decode("sessions", as: Int.self) > 0 { throw Refusal.domainInUse("sessions") }
            if try row.decode("folders", as: Int.self) > 0 { throw Refusal.domainInUse("project folders") }
            try await tx.execute("DELETE FROM vfolders WHERE domain_name = \(name)")
            try await tx.execute("DELETE FROM groups WHERE domain_name = \(name)")
            try await tx.execute("DELETE FROM domains WHERE name = \(name)")
        }
    }
}
