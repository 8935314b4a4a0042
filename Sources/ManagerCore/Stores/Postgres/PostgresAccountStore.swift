import Foundation
import SchedulerKit

/// Users and keypairs as an operator manages them (`admin user add|list|info`, `admin keypair add|list|info|delete`).
struct PostgresAccountStore: Sendable {
    let pool: PostgresPool

    static let roles = ["superadmin", "admin", "user", "monitor"]
    static let statuses = ["active", "inactive", "before-verification"]

    enum Refusal: Error, Equatable, CustomStringConvertible {
        case duplicateEmail(String)
        case unknownDomain(String)
        case unknownUser(String)
        case unknownPolicy(String)
        case unknownGroup

        var description: String {
            switch self {
            case .duplicateEmail(let email): return "A user with the email '\(email.prefix(128))' already exists."
            case .unknownDomain(let name): return "There is no domain '\(name.prefix(64))'."
            case .unknownUser(let email): return "There is no user '\(email.prefix(128))'."
            case .unknownPolicy(let name): return "No resource policy named '\(name.prefix(64))'."
            case .unknownGroup: return "'group_ids' names a project that is not in the user's domain."
            }
        }
    }

    struct NewUser: Sendable {
        var email: String
        var passwordHash: String
        var username: String
        var fullName: String
        var description: String
        var role: String
        var status: String
        var needPasswordChange: Bool
        var domainName: String
        var groupIDs: [UUID]
    }

    struct UserRecord: Sendable {
        let uuid: UUID
        let email: String
        let username: String
        let fullName: String
        let description: String
        let status: String
        let needPasswordChange: Bool
        let createdAt: Date
        let modifiedAt: Date
        let domainName: String
        let role: String
        let groups: [(id: UUID, name: String)]
        let mainAccessKey: String?
    }

    struct KeypairRow: Sendable {
        let record: KeypairRecord
        let createdAt: Date
        let lastUsed: Date?
        let fullName: String
        let concurrencyUsed: Int
    }

    /// Creates a user (in `groupIDs`, or the domain's `default` project when none is named).
    func createUser(_ user: NewUser) async throws -> UserRecord {
        try await self.pool.withTransaction { tx in
            let id: UUID
            do {
                guard let row = try await tx.query(
                    """
                    INSERT INTO users (email, username, domain_name, role, is_active, password_hash, full_name, description, status,
                                       need_password_change)
                    VALUES (\(user.email), \(user.username), \(user.domainName), \(user.role), \(user.status == "active"),
                            \(secret: user.passwordHash), \(user.fullName), \(user.description), \(user.status), \(user.needPasswordChange))
                    RETURNING uuid
                    """
                ).first else { throw PostgresError(.decoding, message: "INSERT … RETURNING gave no row") }
                id = try row.decode("uuid")
            } catch let error as PostgresError where error.code == .uniqueViolation {
                throw Refusal.duplicateEmail(user.email)
            } catch let error as PostgresError where error.code == .foreignKeyViolation {
                throw Refusal.unknownDomain(user.domainName)
            }
            let joined = try await tx.query(
                """
                INSERT INTO group_members (group_id, user_id)
                SELECT g.id, \(id) FROM groups g
                WHERE g.domain_name = \(user.domainName)
                  AND (CASE WHEN cardinality(\(UUIDArray(user.groupIDs))::uuid[]) = 0 THEN g.name = 'default'
                            ELSE g.id = ANY(\(UUIDArray(user.groupIDs))::uuid[]) END)
                ON CONFLICT DO NOTHING
                """
            ).affectedRows
            if !user.groupIDs.isEmpty, joined != Set(user.groupIDs).count { throw Refusal.unknownGroup }
            guard let created = try await Self.users(where: "u.uuid = \(id)", limit: 1, offset: 0, in: tx).first else {
                throw Refusal.unknownUser(user.email)
            }
            return created
        }
    }

    func user(email: String) async throws -> UserRecord? {
        try await self.pool.withConnection { try await Self.users(where: "u.email = \(email)", limit: 1, offset: 0, in: $0).first }
    }

    func user(id: UUID) async throws -> UserRecord? {
        try await self.pool.withConnection { try await Self.users(where: "u.uuid = \(id)", limit: 1, offset: 0, in: $0).first }
    }

    /// Users matching every criterion and `filter` (`ListFilterSQL.users`), in `order` (oldest first without one).
    func users(
        domain: String?, group: UUID?, status: String?, filter extra: ListFilter? = nil, order: [ListOrder] = [], limit: Int, offset: Int
    ) async throws -> (items: [UserRecord], total: Int) {
        var filter: SQL = """
            (\(domain)::text IS NULL OR u.domain_name = \(domain)) AND (\(status)::text IS NULL OR u.status = \(status))
            AND (\(group)::uuid IS NULL OR EXISTS (SELECT 1 FROM group_members m WHERE m.user_id = u.uuid AND m.group_id = \(group)))
            """
        if let extra { filter.append(" AND \(try ListFilterSQL.users.condition(extra))") }
        let orderBy = try ListFilterSQL.users.orderBy(order)
        return try await self.pool.withConnection { connection in
            let total: Int = try await connection.query("SELECT count(*)::int AS n FROM users u WHERE \(filter)").first?.decode("n") ?? 0
            return (try await Self.users(where: filter, order: orderBy, limit: limit, offset: offset, in: connection), total)
        }
    }

    static func users(
        where filter: SQL, order: SQL = "u.created_at, u.email", limit: Int, offset: Int, in session: PostgresSession
    ) async throws -> [UserRecord] {
        try await session.query(
            """
            SELECT u.uuid, u.email, u.username, u.full_name, u.description, u.status, u.need_password_change, u.created_at,
                   u.modified_at, u.domain_name, u.role,
                   coalesce((SELECT jsonb_agg(jsonb_build_object('id', g.id, 'name', g.name) ORDER BY g.name)
                             FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = u.uuid), '[]') AS groups,
                   coalesce(u.main_access_key, (SELECT k.access_key FROM keypairs k WHERE k.user_id = u.uuid ORDER BY k.created_at LIMIT 1))
                       AS main_access_key
            FROM users u WHERE \(filter) ORDER BY \(order) LIMIT \(limit) OFFSET \(offset)
            """
        ).map { row in
            var groups: [(id: UUID, name: String)] = []
            if case .array(let items) = try JSONValue.decode(row.decode("groups", as: JSONB.self).text) {
                for item in items {
                    if case .string(let text)? = item["id"], let id = UUID(uuidString: text), case .string(let name)? = item["name"] {
                        groups.append((id, name))
                    }
                }
            }
            return UserRecord(
                uuid: try row.decode("uuid"), email: try row.decode("email"), username: try row.decode("username"),
                fullName: try row.decode("full_name"), description: try row.decode("description"), status: try row.decode("status"),
                needPasswordChange: try row.decode("need_password_change"), createdAt: try row.decode("created_at"),
                modifiedAt: try row.decode("modified_at"), domainName: try row.decode("domain_name"), role: try row.decode("role"),
                groups: groups, mainAccessKey: try row.decodeOptional("main_access_key"))
        }
    }

    /// A new keypair for the user `email`.
    func createKeypair(email: String, isActive: Bool, isAdmin: Bool, policy: String, rateLimit: Int) async throws -> KeypairRecord {
        let (accessKey, secretKey) = PostgresKeypairStore.newKeys()
        do {
            let inserted = try await self.pool.query(
                """
                INSERT INTO keypairs (access_key, secret_key, user_id, is_admin, is_active, resource_policy, rate_limit)
                SELECT \(accessKey), \(secret: secretKey), u.uuid, \(isAdmin), \(isActive), \(policy), \(rateLimit)
                FROM users u WHERE u.email = \(email)
                RETURNING user_id
                """)
            guard inserted.affectedRows == 1 else { throw Refusal.unknownUser(email) }
        } catch let error as PostgresError where error.code == .foreignKeyViolation {
            throw Refusal.unknownPolicy(policy)
        }
        guard let created = try await PostgresKeypairStore(pool: self.pool).keypair(accessKey) else { throw Refusal.unknownUser(email) }
        return created
    }

    enum Deletion: Equatable { case deleted, notFound, ownsSessions }

    /// Deletes a keypair that owns no sessions (their rows keep it, live or in the history, as in Backend.AI).
    func deleteKeypair(_ accessKey: AccessKey) async throws -> Deletion {
        do {
            return try await self.pool.query("DELETE FROM keypairs WHERE access_key = \(accessKey)").affectedRows == 1 ? .deleted : .notFound
        } catch let error as PostgresError where error.code == .foreignKeyViolation {
            return .ownsSessions
        }
    }

    /// Keypairs matching every criterion and `filter` (`ListFilterSQL.keypairs`), in `order` (oldest first without one).
    func keypairs(
        email: String?, isActive: Bool?, filter extra: ListFilter? = nil, order: [ListOrder] = [], limit: Int, offset: Int
    ) async throws -> (items: [KeypairRow], total: Int) {
        var filter: SQL = "(\(email)::text IS NULL OR u.email = \(email)) AND (\(isActive)::bool IS NULL OR k.is_active = \(isActive))"
        if let extra { filter.append(" AND \(try ListFilterSQL.keypairs.condition(extra))") }
        let orderBy = try ListFilterSQL.keypairs.orderBy(order)
        return try await self.pool.withConnection { connection in
            let total: Int = try await connection.query(
                "SELECT count(*)::int AS n FROM keypairs k JOIN users u ON u.uuid = k.user_id WHERE \(filter)"
            ).first?.decode("n") ?? 0
            let rows = try await connection.query(
                """
                SELECT k.access_key, k.secret_key, k.is_admin, k.is_active, k.resource_policy, k.rate_limit, k.created_at,
                       k.last_used, u.uuid, u.email, u.domain_name, u.full_name,
                       (SELECT count(*)::int FROM sessions s WHERE s.access_key = k.access_key
                          AND s.status = ANY(\(SessionOccupancy.activeNames)::text[])) AS concurrency_used
                FROM keypairs k JOIN users u ON u.uuid = k.user_id WHERE \(filter)
                ORDER BY \(orderBy) LIMIT \(limit) OFFSET \(offset)
                """)
            let items = try rows.map { row in
                KeypairRow(
                    record: KeypairRecord(
                        accessKey: try row.decode("access_key"), secretKey: try row.decode("secret_key"), userID: try row.decode("uuid"),
                        email: try row.decode("email"), domainName: try row.decode("domain_name"), isAdmin: try row.decode("is_admin"),
                        isActive: try row.decode("is_active"), resourcePolicy: try row.decode("resource_policy"),
                        rateLimit: try row.decode("rate_limit")),
                    createdAt: try row.decode("created_at"), lastUsed: try row.decodeOptional("last_used"),
                    fullName: try row.decode("full_name"), concurrencyUsed: try row.decode("concurrency_used"))
            }
            return (items, total)
        }
    }
}
