import Foundation
import SchedulerKit

/// The web view's sign-in use cases: check the credentials a person typed, start a sign-in (cookie token + CSRF
/// token), find the caller of a request by its cookie, sign out.
struct WebSignIn: Sendable {
    let store: PostgresWebSessionStore
    let keypairs: any KeypairStore
    let cache: KeypairCache
    let ttl: Duration
    let maxPerKey: Int
    /// Sign-in attempts per client address (a password or secret key cannot be guessed at speed).
    let attempts: AddressBudget

    /// What a person signs in with.
    enum Credentials: Sendable {
        case keypair(accessKey: AccessKey, secretKey: String)
        case password(email: String, password: String)
    }

    /// A signed-in browser.
    struct Caller: Sendable {
        let identity: Identity
        let keypair: KeypairRecord
        let csrfToken: String
    }

    /// Checks the credentials and stores a new sign-in; 401 for wrong ones (the same answer whichever part is
    /// wrong), 429 when this address tried too often.
    func signIn(_ credentials: Credentials, from address: String) async throws -> (cookie: WebCookie, caller: Caller) {
        guard self.attempts.take(address) else {
            throw APIError.tooManyRequests("Too many sign-in attempts from this address; wait a minute.", retryAfter: 60)
        }
        let refused = APIError.authFailed("The credentials are wrong, or the account is inactive.")
        let record: KeypairRecord
        switch credentials {
        case .keypair(let accessKey, let secretKey):
            let found = try await self.keypairs.keypair(accessKey)
            // Compared even for an unknown key, so timing does not tell which keys exist.
            let matches = RequestSignature.constantTimeEquals(found?.secretKey ?? "unknown-key-placeholder-secret", secretKey)
            guard let found, matches else { throw refused }
            record = found
        case .password(let email, let password):
            let account = try await self.store.passwordSignIn(email: email)
            let stored = account?.passwordHash ?? Self.placeholderHash
            let matches = try await BlockingExecutor.shared.run(name: "password-check") {
                PasswordHash.verify(password, against: stored)
            }
            guard let account, matches, let found = try await self.keypairs.keypair(account.accessKey) else { throw refused }
            record = found
        }
        guard record.isActive else { throw refused }
        let cookie = WebCookie.random()
        let csrf = WebCookie.randomToken()
        try await self.store.create(
            tokenHash: cookie.hash, accessKey: record.accessKey, csrfToken: csrf, ttl: self.ttl, maxPerKey: self.maxPerKey)
        return (cookie, Caller(identity: Self.identity(record), keypair: record, csrfToken: csrf))
    }

    /// The caller whose browser holds `cookie`, or nil (no such sign-in, expired, signed out, keypair inactive).
    func caller(_ cookie: WebCookie) async throws -> Caller? {
        guard let signIn = try await self.store.signIn(tokenHash: cookie.hash) else { return nil }
        let record: KeypairRecord?
        if let cached = self.cache.lookup(signIn.accessKey) {
            record = cached
        } else {
            record = try await self.keypairs.keypair(signIn.accessKey)
            self.cache.store(signIn.accessKey, record)
        }
        guard let record, record.isActive else { return nil }
        return Caller(identity: Self.identity(record), keypair: record, csrfToken: signIn.csrfToken)
    }

    /// Ends the sign-in at once (every replica: the row is gone).
    func signOut(_ cookie: WebCookie) async throws {
        _ = try await self.store.revoke(tokenHash: cookie.hash)
    }

    static func identity(_ record: KeypairRecord) -> Identity {
        Identity(
            accessKey: record.accessKey, userID: record.userID, email: record.email, domainName: record.domainName,
            isAdmin: record.isAdmin)
    }

    /// Checked against when the email is unknown, so the answer takes as long as for a known one.
    static let placeholderHash =
        "pbkdf2_sha256$600000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
}
