import Foundation

/// Keypairs in PostgreSQL.
public struct PostgresKeypairStore: KeypairStore {
    let pool: PostgresPool

    public init(pool: PostgresPool) {
        self.pool = pool
    }

    public func keypair(_ accessKey: AccessKey) async throws -> KeypairRecord? {
        let rows = try await self.pool.query(
            """
            SELECT k.access_key, k.secret_key, k.is_admin, k.is_active, k.resource_policy, k.rate_limit, u.uuid, u.email, u.domain_name,
                   u.is_active AND d.is_active AS user_active
            FROM keypairs k JOIN users u ON u.uuid = k.user_id JOIN domains d ON d.name = u.domain_name
            WHERE k.access_key = \(accessKey)
            """)
        guard let row = rows.first else { return nil }
        return KeypairRecord(
            accessKey: try row.decode("access_key"), secretKey: try row.decode("secret_key"),
            userID: try row.decode("uuid"), email: try row.decode("email"), domainName: try row.decode("domain_name"),
            isAdmin: try row.decode("is_admin"),
            isActive: try row.decode("is_active", as: Bool.self) && row.decode("user_active", as: Bool.self),
            resourcePolicy: try row.decode("resource_policy"), rateLimit: try row.decode("rate_limit"))
    }

    /// A new access key (Backend.AI's `AKIA` + 16) and secret key (40 characters).
    static func newKeys() -> (AccessKey, String) {
        let accessKey = AccessKey("AKIA" + Self.randomText(length: 16, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"))
        let secretKey = Self.randomText(
            length: 40, alphabet: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
        return (accessKey, secretKey)
    }

    public func createKeypair(email: String, isAdmin: Bool) async throws -> KeypairRecord {
        let (accessKey, secretKey) = Self.newKeys()
        let username = String(email.split(separator: "@").first ?? Substring(email))
        let role = isAdmin ? "superadmin" : "user"
        return try await self.pool.withTransaction { tx in
            let user = try await tx.query(
                """
                INSERT INTO users (email, username, domain_name, role) VALUES (\(email), \(username), 'default', \(role))
                ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
                RETURNING uuid, domain_name
                """)
            guard let row = user.first else { throw PostgresError(.decoding, message: "no user row returned") }
            let userID: UUID = try row.decode("uuid")
            try await tx.execute(
                """
                INSERT INTO group_members (group_id, user_id)
                SELECT id, \(userID) FROM groups WHERE domain_name = 'default' AND name = 'default'
                ON CONFLICT DO NOTHING
                """)
            try await tx.execute(
                """
                INSERT INTO keypairs (access_key, secret_key, user_id, is_admin)
                VALUES (\(accessKey), \(secret: secretKey), \(userID), \(isAdmin))
                """)
            return KeypairRecord(
                accessKey: accessKey, secretKey: secretKey, userID: userID, email: email,
                domainName: try row.decode("domain_name"), isAdmin: isAdmin, isActive: true)
        }
    }

    public func modify(_ accessKey: AccessKey, _ changes: KeypairChanges) async throws -> KeypairModification {
        do {
            let updated = try await self.pool.query(
                """
                UPDATE keypairs SET is_active = coalesce(\(changes.isActive), is_active),
                    is_admin = coalesce(\(changes.isAdmin), is_admin),
                    resource_policy = coalesce(\(changes.resourcePolicy), resource_policy),
                    rate_limit = coalesce(\(changes.rateLimit), rate_limit)
                WHERE access_key = \(accessKey)
                """)
            return updated.affectedRows == 1 ? .modified : .notFound
        } catch let error as PostgresError where error.code == .foreignKeyViolation {
            return .unknownPolicy(changes.resourcePolicy ?? "")
        }
    }

    private static func randomText(length: Int, alphabet: String) -> String {
        let characters = Array(alphabet)
        var generator = SystemRandomNumberGenerator()
        return String((0..<length).map { _ in characters[Int.random(in: 0..<characters.count, using: &generator)] })
    }
}
