import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

/// Accounts through the official CLI: an operator adds a user and a keypair with a policy; the user signs with it
/// and the policy holds; keypairs list, show their fields and are deleted.
@Suite("Accounts", .serialized)
struct AccountTests {
    @Test("admin user add, keypair add with a policy, keypair list/info/delete; the new user's sessions obey the policy")
    func operatorAddsAUser() async throws {
        let setup = try await SandboxTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let policy = try await setup.cli.run(["admin", "keypair-resource-policy", "add", "one-at-a-time", "--max-concurrent-sessions", "1"])
        #expect(policy.status == 0, "\(policy.stdout) \(policy.stderr)")

        let added = try await setup.cli.run(["admin", "user", "add", "default", "ada@example.com", "correct-horse-battery", "--full-name", "Ada L."])
        #expect(added.status == 0 && (added.stdout + added.stderr).contains("ada@example.com"), "\(added.stdout) \(added.stderr)")
        // The password is stored hashed, never as given.
        let stored: String = try #require(try await setup.pool.query("SELECT password_hash FROM users WHERE email = 'ada@example.com'").first?.decode("password_hash"))
        #expect(stored.hasPrefix("pbkdf2_sha256$") && !stored.contains("correct-horse"))
        #expect(PasswordHash.verify("correct-horse-battery", against: stored) && !PasswordHash.verify("wrong-horse-battery", against: stored))
        let duplicate = try await setup.cli.run(["admin", "user", "add", "default", "ada@example.com", "another-password"])
        #expect((duplicate.stdout + duplicate.stderr).contains("already exists"), "\(duplicate.stdout) \(duplicate.stderr)")
        let short = try await setup.cli.run(["admin", "user", "add", "default", "bob@example.com", "short"])
        #expect((short.stdout + short.stderr).contains("password"), "\(short.stdout) \(short.stderr)")

        // Domains and projects: an admin sees them all, a user their own.
        let groups = try await setup.cli.run(["admin", "group", "list"])
        #expect(groups.status == 0 && groups.stdout.contains("default"), "\(groups.stdout) \(groups.stderr)")
        let groupID: UUID = try #require(try await setup.pool.query("SELECT id FROM groups WHERE name = 'default'").first?.decode("id"))
        let groupInfo = try await setup.cli.run(["admin", "group", "info", groupID.uuidString.lowercased()])
        #expect(groupInfo.status == 0 && groupInfo.stdout.contains("default"), "\(groupInfo.stdout) \(groupInfo.stderr)")
        let domains = try await setup.cli.run(["admin", "domain", "list"])
        #expect(domains.status == 0 && domains.stdout.contains("default"), "\(domains.stdout) \(domains.stderr)")
        let domainInfo = try await setup.cli.run(["admin", "domain", "info", "default"])
        #expect(domainInfo.status == 0 && domainInfo.stdout.contains("default"), "\(domainInfo.stdout) \(domainInfo.stderr)")

        let users = try await setup.cli.run(["admin", "user", "list"])
        #expect(users.status == 0 && users.stdout.contains("ada@example.com"), "\(users.stdout) \(users.stderr)")
        let userInfo = try await setup.cli.run(["admin", "user", "info", "--email", "ada@example.com"])
        #expect(userInfo.status == 0 && userInfo.stdout.contains("Ada L.") && userInfo.stdout.contains("default"), "\(userInfo.stdout) \(userInfo.stderr)")

        let keypair = try await setup.cli.run(["admin", "keypair", "add", "ada@example.com", "one-at-a-time"])
        #expect(keypair.status == 0, "\(keypair.stdout) \(keypair.stderr)")
        let row = try #require(try await setup.pool.query(
            "SELECT k.access_key, k.secret_key FROM keypairs k JOIN users u ON u.uuid = k.user_id WHERE u.email = 'ada@example.com'").first)
        let accessKey: String = try row.decode("access_key")
        let secretKey: String = try row.decode("secret_key")
        #expect((keypair.stdout + keypair.stderr).contains(accessKey), "\(keypair.stdout)")

        let list = try await setup.cli.run(["admin", "keypair", "list", "--user-id", "ada@example.com"])
        #expect(list.status == 0 && list.stdout.contains(accessKey), "\(list.stdout) \(list.stderr)")
        // The user, signing with the new keypair: the policy allows one session at a time.
        let ada = BackendAICLI(environment: try TestEnvironment.current(), endpoint: setup.manager.endpoint, accessKey: accessKey, secretKey: secretKey)
        let info = try await ada.run(["admin", "keypair", "info"])
        #expect(info.status == 0 && info.stdout.contains("Ada L.") && info.stdout.contains("one-at-a-time"), "\(info.stdout) \(info.stderr)")
        let first = try await ada.run(["session", "create", "-c", "exec sleep 300", "-t", "ada-1", "python:3.11"])
        #expect(first.status == 0, "\(first.stdout) \(first.stderr)")
        #expect(try await setup.probe.session("ada-1")?.status == "RUNNING")
        _ = try await ada.run(["session", "create", "--enqueue-only", "-c", "exec sleep 300", "-t", "ada-2", "python:3.11"])
        try await setup.probe.wait("the second session to wait for the policy", timeout: .seconds(20)) {
            let data: String? = try await setup.pool.query("SELECT status_data::text AS d FROM sessions WHERE name = 'ada-2'").first?.decode("d")
            return data?.contains("concurrent sessions") == true
        }
        #expect(try await setup.probe.session("ada-2")?.status == "PENDING")
        // Users cannot manage accounts.
        let refused = try await ada.run(["admin", "user", "add", "default", "eve@example.com", "eve-password-1"])
        #expect(!(refused.stdout + refused.stderr).contains("success"), "\(refused.stdout) \(refused.stderr)")
        #expect(try await setup.pool.query("SELECT 1 FROM users WHERE email = 'eve@example.com'").first == nil)

        // A keypair with sessions is kept (their history names it) and deactivated instead; a spare one is deleted.
        let kept = try await setup.cli.run(["admin", "keypair", "delete", accessKey])
        #expect((kept.stdout + kept.stderr).contains("deactivate"), "\(kept.stdout) \(kept.stderr)")
        let deactivated = try await setup.cli.run(["admin", "keypair", "deactivate", accessKey])
        #expect(deactivated.status == 0, "\(deactivated.stdout) \(deactivated.stderr)")
        let gone = try await ada.run(["admin", "keypair", "info"])
        #expect(gone.status != 0, "a deactivated keypair still signs: \(gone.stdout)")
        _ = try await setup.cli.run(["admin", "keypair", "add", "ada@example.com", "default"])
        let spare: String = try #require(try await setup.pool.query(
            "SELECT k.access_key FROM keypairs k JOIN users u ON u.uuid = k.user_id WHERE u.email = 'ada@example.com' AND k.access_key <> \(accessKey)"
        ).first?.decode("access_key"))
        let deleted = try await setup.cli.run(["admin", "keypair", "delete", spare])
        #expect(deleted.status == 0, "\(deleted.stdout) \(deleted.stderr)")
        #expect(try await setup.pool.query("SELECT 1 FROM keypairs WHERE access_key = \(spare)").first == nil)
        try await setup.manager.stop()
    }
}
