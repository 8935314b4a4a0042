import Foundation
import Testing
@testable import ManagerCore

/// An operator's account edits through the official CLI: `admin user update|delete|purge`, `admin group
/// add|update|add-users|remove-users|delete|purge`, `admin domain add|update|delete|purge`, and `--filter` on the
/// user and keypair lists, each checked in the database and in what the CLI prints.
@Suite("Account edits", .serialized)
struct AccountEditTests {
    static func keys(_ pool: PostgresPool, _ email: String) async throws -> (access: String, secret: String) {
        let row = try #require(try await pool.query(
            "SELECT k.access_key, k.secret_key FROM keypairs k JOIN users u ON u.uuid = k.user_id WHERE u.email = \(email)").first)
        return (try row.decode("access_key"), try row.decode("secret_key"))
    }

    @Test("user update (role, password, name, refused options), list --filter, keypair list --filter, delete, purge with its folders")
    func users() async throws {
        let setup = try await SandboxTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let cli = setup.cli
        for email in ["bob@example.com", "carol@example.com"] {
            let added = try await cli.run(["admin", "user", "add", "default", email, "a-long-password-1"])
            #expect(added.status == 0, "\(added.stdout) \(added.stderr)")
            let keypair = try await cli.run(["admin", "keypair", "add", email, "default"])
            #expect(keypair.status == 0, "\(keypair.stdout) \(keypair.stderr)")
        }
        let bobKeys = try await Self.keys(setup.pool, "bob@example.com")

        // update: a new role sets the keypairs' admin flag; a new password is hashed; what is not supported is refused.
        let promoted = try await cli.run(["admin", "user", "update", "bob@example.com", "--full-name", "Bob B.", "--role", "admin"])
        #expect(promoted.status == 0, "\(promoted.stdout) \(promoted.stderr)")
        let row = try #require(try await setup.pool.query(
            "SELECT u.full_name, u.role, k.is_admin FROM users u JOIN keypairs k ON k.user_id = u.uuid WHERE u.email = 'bob@example.com'").first)
        #expect(try row.decode("full_name", as: String.self) == "Bob B." && row.decode("role", as: String.self) == "admin")
        #expect(try row.decode("is_admin", as: Bool.self))
        _ = try await cli.run(["admin", "user", "update", "bob@example.com", "--role", "user", "-p", "another-long-password"])
        let hash: String = try #require(try await setup.pool.query("SELECT password_hash FROM users WHERE email = 'bob@example.com'").first?.decode("password_hash"))
        #expect(PasswordHash.verify("another-long-password", against: hash))
        #expect(try await setup.pool.query("SELECT 1 FROM keypairs k JOIN users u ON u.uuid = k.user_id WHERE u.email = 'bob@example.com' AND k.is_admin").first == nil)
        let ip = try await cli.run(["admin", "user", "update", "bob@example.com", "--allowed-ip", "10.0.0.1"])
        #expect(ip.status != 0 && (ip.stdout + ip.stderr).contains("allowed_client_ip"), "\(ip.stdout) \(ip.stderr)")
        let role = try await cli.run(["admin", "user", "update", "bob@example.com", "--role", "pharaoh"])
        #expect(role.status != 0 && (role.stdout + role.stderr).contains("role"), "\(role.stdout) \(role.stderr)")
        let adminEmail: String = try #require(try await setup.pool.query(
            "SELECT u.email FROM users u JOIN keypairs k ON k.user_id = u.uuid WHERE k.access_key = \(setup.manager.adminAccessKey)").first?.decode("email"))
        let selfDemotion = try await cli.run(["admin", "user", "update", adminEmail, "--role", "user"])
        #expect(selfDemotion.status != 0, "an admin demoted themselves: \(selfDemotion.stdout)")

        // The filter and order languages on the user and keypair lists.
        let filtered = try await cli.run(["admin", "user", "list", "--filter", "email ilike \"%bob%\""])
        #expect(filtered.status == 0 && filtered.stdout.contains("bob@example.com") && !filtered.stdout.contains("carol@example.com"),
                "\(filtered.stdout) \(filtered.stderr)")
        let roles = try await cli.run(["admin", "user", "list", "--filter", "status == \"ACTIVE\" & role in [\"ADMIN\", \"SUPERADMIN\"]"])
        #expect(roles.status == 0 && roles.stdout.contains(adminEmail) && !roles.stdout.contains("bob@example.com"), "\(roles.stdout) \(roles.stderr)")
        let bad = try await cli.run(["admin", "user", "list", "--filter", "password_hash == \"x\""])
        #expect(bad.status != 0 && (bad.stdout + bad.stderr).contains("password_hash"), "\(bad.stdout) \(bad.stderr)")
        let keypairs = try await cli.run(["admin", "keypair", "list", "--filter", "user_id == \"bob@example.com\""])
        #expect(keypairs.status == 0 && keypairs.stdout.contains(bobKeys.access) && !keypairs.stdout.contains(setup.manager.adminAccessKey),
                "\(keypairs.stdout) \(keypairs.stderr)")

        // delete: the user is kept as `deleted`; their keypair no longer signs.
        let carolKeys = try await Self.keys(setup.pool, "carol@example.com")
        let carol = BackendAICLI(environment: try TestEnvironment.current(), endpoint: setup.manager.endpoint,
                                 accessKey: carolKeys.access, secretKey: carolKeys.secret)
        let before = try await carol.run(["admin", "keypair", "info"])
        #expect(before.status == 0, "\(before.stdout) \(before.stderr)")
        let deleted = try await cli.run(["admin", "user", "delete", "carol@example.com"])
        #expect(deleted.status == 0, "\(deleted.stdout) \(deleted.stderr)")
        #expect(try await setup.pool.query("SELECT status FROM users WHERE email = 'carol@example.com'").first?.decode("status", as: String.self) == "deleted")
        #expect(try await carol.run(["admin", "keypair", "info"]).status != 0, "a deleted user's keypair still signs")
        #expect(try await cli.run(["admin", "user", "delete", adminEmail]).status != 0, "an admin deleted themselves")

        // purge: refused while a session lives; then the user, their sessions and their folder's files are gone.
        let bob = BackendAICLI(environment: try TestEnvironment.current(), endpoint: setup.manager.endpoint,
                               accessKey: bobKeys.access, secretKey: bobKeys.secret)
        let folder = try await bob.run(["vfolder", "create", "bobdata", "local:volume1"])
        #expect(folder.status == 0, "\(folder.stdout) \(folder.stderr)")
        let folderID: UUID = try #require(try await setup.pool.query("SELECT id FROM vfolders WHERE name = 'bobdata'").first?.decode("id"))
        let folderPath = setup.volume.path + "/" + StorageVolumes.directoryName(folderID)
        #expect(FileManager.default.fileExists(atPath: folderPath))
        let session = try await bob.run(["session", "create", "-c", "exec sleep 300", "-t", "bob-1", "python:3.11"])
        #expect(session.status == 0, "\(session.stdout) \(session.stderr)")
        let refused = try await cli.run(["admin", "user", "purge", "bob@example.com"], input: "y\n")
        #expect(refused.status != 0 && (refused.stdout + refused.stderr).contains("terminate them first"), "\(refused.stdout) \(refused.stderr)")
        #expect(try await setup.pool.query("SELECT 1 FROM users WHERE email = 'bob@example.com'").first != nil)
        _ = try await bob.run(["session", "destroy", "bob-1"])
        try await setup.probe.wait("bob-1 to end", timeout: .seconds(30)) {
            try await setup.probe.session("bob-1")?.status == "TERMINATED"
        }
        let purged = try await cli.run(["admin", "user", "purge", "bob@example.com"], input: "y\n")
        #expect(purged.status == 0, "\(purged.stdout) \(purged.stderr)")
        #expect(try await setup.pool.query("SELECT 1 FROM users WHERE email = 'bob@example.com'").first == nil)
        #expect(try await setup.pool.query("SELECT 1 FROM sessions WHERE name = 'bob-1'").first == nil)
        #expect(try await setup.pool.query("SELECT 1 FROM vfolders WHERE id = \(folderID)").first == nil)
        #expect(!FileManager.default.fileExists(atPath: folderPath), "the purged user's folder is still on disk")
        #expect(try await bob.run(["admin", "keypair", "info"]).status != 0)
    }

    @Test("domain add (with its default project), group add/update/add-users/remove-users/delete/purge, domain update/delete/purge")
    func projectsAndDomains() async throws {
        let setup = try await SandboxTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let cli = setup.cli
        let domain = try await cli.run(["admin", "domain", "add", "research", "-d", "Research", "--total-resource-slots", "{\"cpu\": \"2\"}"])
        #expect(domain.status == 0 && domain.stdout.contains("research"), "\(domain.stdout) \(domain.stderr)")
        #expect(try await setup.pool.query("SELECT 1 FROM groups WHERE domain_name = 'research' AND name = 'default'").first != nil)
        let badName = try await cli.run(["admin", "domain", "add", "no spaces please"])
        #expect(badName.status != 0 && (badName.stdout + badName.stderr).contains("domain name"), "\(badName.stdout) \(badName.stderr)")
        let badSlots = try await cli.run(["admin", "domain", "add", "other", "--total-resource-slots", "{\"cpu\": \"lots\"}"])
        #expect(badSlots.status != 0 && (badSlots.stdout + badSlots.stderr).contains("total_resource_slots"), "\(badSlots.stdout) \(badSlots.stderr)")

        let group = try await cli.run(["admin", "group", "add", "research", "ml-team", "-d", "Machine learning"])
        #expect(group.status == 0 && group.stdout.contains("ml-team"), "\(group.stdout) \(group.stderr)")
        let duplicate = try await cli.run(["admin", "group", "add", "research", "ml-team"])
        #expect(duplicate.status != 0 && (duplicate.stdout + duplicate.stderr).contains("already exists"), "\(duplicate.stdout) \(duplicate.stderr)")
        let gid: UUID = try #require(try await setup.pool.query("SELECT id FROM groups WHERE name = 'ml-team'").first?.decode("id"))
        let gidText = gid.uuidString.lowercased()

        // A user of the new domain joins its default project; add-users / remove-users change the membership.
        let user = try await cli.run(["admin", "user", "add", "research", "dana@example.com", "a-long-password-2"])
        #expect(user.status == 0, "\(user.stdout) \(user.stderr)")
        _ = try await cli.run(["admin", "keypair", "add", "dana@example.com", "default"])
        let dana: UUID = try #require(try await setup.pool.query("SELECT uuid FROM users WHERE email = 'dana@example.com'").first?.decode("uuid"))
        let inDefault = try await setup.pool.query(
            "SELECT 1 FROM group_members m JOIN groups g ON g.id = m.group_id WHERE m.user_id = \(dana) AND g.name = 'default' AND g.domain_name = 'research'")
        #expect(inDefault.first != nil)
        let added = try await cli.run(["admin", "group", "add-users", gidText, dana.uuidString.lowercased()])
        #expect(added.status == 0, "\(added.stdout) \(added.stderr)")
        #expect(try await setup.pool.query("SELECT 1 FROM group_members WHERE group_id = \(gid) AND user_id = \(dana)").first != nil)
        let adminID: UUID = try #require(try await setup.pool.query(
            "SELECT k.user_id FROM keypairs k WHERE k.access_key = \(setup.manager.adminAccessKey)").first?.decode("user_id"))
        let outsider = try await cli.run(["admin", "group", "add-users", gidText, adminID.uuidString.lowercased()])
        #expect(outsider.status != 0 && (outsider.stdout + outsider.stderr).contains("domain"), "\(outsider.stdout) \(outsider.stderr)")
        let removed = try await cli.run(["admin", "group", "remove-users", gidText, dana.uuidString.lowercased()])
        #expect(removed.status == 0, "\(removed.stdout) \(removed.stderr)")
        #expect(try await setup.pool.query("SELECT 1 FROM group_members WHERE group_id = \(gid) AND user_id = \(dana)").first == nil)

        let updated = try await cli.run(["admin", "group", "update", gidText, "-n", "ml", "--total-resource-slots", "{\"cpu\": \"1\"}"])
        #expect(updated.status == 0, "\(updated.stdout) \(updated.stderr)")
        let groupRow = try #require(try await setup.pool.query("SELECT name, total_resource_slots::text AS slots FROM groups WHERE id = \(gid)").first)
        #expect(try groupRow.decode("name", as: String.self) == "ml" && groupRow.decode("slots", as: String.self).contains("\"cpu\""))
        let info = try await cli.run(["admin", "group", "info", gidText])
        #expect(info.status == 0 && info.stdout.contains("ml"), "\(info.stdout) \(info.stderr)")
        #expect(try await cli.run(["admin", "group", "delete", gidText]).status == 0)
        #expect(try await setup.pool.query("SELECT is_active FROM groups WHERE id = \(gid)").first?.decode("is_active", as: Bool.self) == false)
        let purgedGroup = try await cli.run(["admin", "group", "purge", gidText], input: "y\n")
        #expect(purgedGroup.status == 0, "\(purgedGroup.stdout) \(purgedGroup.stderr)")
        #expect(try await setup.pool.query("SELECT 1 FROM groups WHERE id = \(gid)").first == nil)

        // Domains: update, rename (carried to the users), deactivate (their keypairs stop signing), purge.
        let danaKeys = try await Self.keys(setup.pool, "dana@example.com")
        let danaCLI = BackendAICLI(environment: try TestEnvironment.current(), endpoint: setup.manager.endpoint,
                                   accessKey: danaKeys.access, secretKey: danaKeys.secret)
        let before = try await danaCLI.run(["admin", "keypair", "info"])
        #expect(before.status == 0, "\(before.stdout) \(before.stderr)")
        let renamed = try await cli.run(["admin", "domain", "update", "research", "--new-name", "lab", "--description", "The lab"])
        #expect(renamed.status == 0, "\(renamed.stdout) \(renamed.stderr)")
        #expect(try await setup.pool.query("SELECT domain_name FROM users WHERE uuid = \(dana)").first?.decode("domain_name", as: String.self) == "lab")
        #expect(try await cli.run(["admin", "domain", "update", "default", "--new-name", "elsewhere"]).status != 0)
        #expect(try await cli.run(["admin", "domain", "delete", "default"]).status != 0, "an admin deactivated their own domain")
        let deactivated = try await cli.run(["admin", "domain", "delete", "lab"])
        #expect(deactivated.status == 0, "\(deactivated.stdout) \(deactivated.stderr)")
        #expect(try await danaCLI.run(["admin", "keypair", "info"]).status != 0, "a keypair of an inactive domain still signs")
        let busy = try await cli.run(["admin", "domain", "purge", "lab"], input: "y\n")
        #expect(busy.status != 0 && (busy.stdout + busy.stderr).contains("users"), "\(busy.stdout) \(busy.stderr)")
        #expect(try await cli.run(["admin", "user", "purge", "dana@example.com"], input: "y\n").status == 0)
        let purged = try await cli.run(["admin", "domain", "purge", "lab"], input: "y\n")
        #expect(purged.status == 0, "\(purged.stdout) \(purged.stderr)")
        #expect(try await setup.pool.query("SELECT 1 FROM domains WHERE name = 'lab'").first == nil)
        #expect(try await setup.pool.query("SELECT 1 FROM groups WHERE domain_name = 'lab'").first == nil)
    }
}
