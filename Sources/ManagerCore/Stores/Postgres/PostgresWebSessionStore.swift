import Foundation
import SchedulerKit

/// The web view's sign-ins (migration 0019): a row per signed-in browser, found by the SHA-256 of its cookie token.
struct PostgresWebSessionStore: Sendable {
    let pool: PostgresPool

    /// One sign-in as the gateway needs it.
    struct SignIn: Sendable {
        let accessKey: AccessKey
        let csrfToken: String
        let expiresAt: Date
    }

    /// Stores a sign-in for `accessKey` until `ttl` from now; removes that key's expired sign-ins and, beyond
    /// `maxPerKey`, its oldest ones (a flood of sign-ins keeps a bounded number of rows).
    func create(tokenHash: String, accessKey: AccessKey, csrfToken: String, ttl: Duration, maxPerKey: Int) async throws {
        try await self.pool.withTransaction { tx in
            try await tx.execute(
                """
                INSERT INTO web_sessions (token_hash, access_key, csrf_token, expires_at)
                VALUES (\(tokenHash), \(accessKey), \(secret: csrfToken), now() + make_interval(secs => \(ttl.seconds)))
                """)
            try await tx.execute(
                """
                DELETE FROM web_sessions WHERE access_key = \(accessKey) AND (expires_at <= now() OR token_hash IN (
                    SELECT token_hash FROM web_sessions WHERE access_key = \(accessKey)
                    ORDER BY created_at DESC OFFSET \(maxPerKey)))
                """)
        }
    }

    /// The live sign-in with this token hash, or nil (unknown, expired or signed out).
    func signIn(tokenHash: String) async throws -> SignIn? {
        guard let row = try await self.pool.query(
            """
            SELECT access_key, csrf_token, expires_at FROM web_sessions
            WHERE token_hash = \(tokenHash) AND expires_at > now()
            """).first
        else { return nil }
        return SignIn(
            accessKey: AccessKey(try row.decode("access_key", as: String.self)), csrfToken: try row.decode("csrf_token"),
            expiresAt: try row.decode("expires_at"))
    }

    /// Ends a sign-in (sign-out); true when there was one.
    func revoke(tokenHash: String) async throws -> Bool {
        try await self.pool.query("DELETE FROM web_sessions WHERE token_hash = \(tokenHash)").affectedRows > 0
    }

    /// The password hash of an active user with this email and the keypair the web view signs them in with (their
    /// main keypair, else their oldest active one); nil when there is no such user or keypair.
    func passwordSignIn(email: String) async throws -> (passwordHash: String, accessKey: AccessKey)? {
        guard let row = try await self.pool.query(
            """
            SELECT u.password_hash,
                   coalesce(
                       (SELECT k.access_key FROM keypairs k WHERE k.access_key = u.main_access_key AND k.is_active),
                       (SELECT k.access_key FROM keypairs k WHERE k.user_id = u.uuid AND k.is_active
                        ORDER BY k.created_at LIMIT 1)) AS access_key
            FROM users u WHERE u.email = \(email) AND u.is_active AND u.password_hash IS NOT NULL
            """).first,
            let key: String = try row.decodeOptional("access_key"), let hash: String = try row.decodeOptional("password_hash")
        else { return nil }
        return (hash, AccessKey(key))
    }
}
