import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

/// Sharing with the official CLI and the client's routes: invitations to personal folders, per-user permissions on
/// project folders, leaving, and what a shared permission allows.
@Suite struct VFolderSharingTests {
    @Test("an owner invites a user; the invitee accepts, reads but cannot write a ro share, mounts it ro, and leaves")
    func invitations() async throws {
        let setup = try await VFolderTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let owner = setup.admin
        #expect(try await owner.send(.POST, "/folders", json: ["name": "papers"]).status == 201)
        let folder = try await setup.path(of: "papers")
        try Data("draft".utf8).write(to: URL(fileURLWithPath: folder + "/draft.txt"))
        let keys = try await setup.manager.createUserKeypair(email: "reader@example.com")
        let reader = SignedClient(endpoint: setup.manager.endpoint, accessKey: keys.accessKey, secretKey: keys.secretKey)
        #expect(try await reader.send(.GET, "/folders/papers/files").status == 404, "not shared yet")

        let invite = try await setup.cli.run(["vfolder", "invite", "papers", "reader@example.com", "nobody@example.com", "-p", "ro"])
        #expect(invite.status == 0, "\(invite.stdout) \(invite.stderr)")
        let listed = try await reader.send(.GET, "/folders/invitations/list")
        let invitations = listed.json?["invitations"] as? [[String: Any]] ?? []
        #expect(invitations.count == 1 && invitations.first?["vfolder_name"] as? String == "papers"
                && invitations.first?["perm"] as? String == "ro" && invitations.first?["inviter"] as? String == "admin@example.com",
                "\(listed.text)")
        let id = try #require(invitations.first?["id"] as? String)
        // Another user cannot accept it.
        let otherKeys = try await setup.manager.createUserKeypair(email: "other@example.com")
        let other = SignedClient(endpoint: setup.manager.endpoint, accessKey: otherKeys.accessKey, secretKey: otherKeys.secretKey)
        #expect(try await other.send(.POST, "/folders/invitations/accept", json: ["inv_id": id]).status == 404)
        #expect(try await reader.send(.POST, "/folders/invitations/accept", json: ["inv_id": id]).status == 200)
        #expect(try await reader.send(.POST, "/folders/invitations/accept", json: ["inv_id": id]).status == 404, "accepted once")

        let readerCLI = BackendAICLI(environment: try TestEnvironment.current(), endpoint: setup.manager.endpoint,
                                     accessKey: keys.accessKey, secretKey: keys.secretKey)
        let ls = try await readerCLI.run(["vfolder", "ls", "papers"])
        #expect(ls.status == 0 && ls.stdout.contains("draft.txt"), "\(ls.stdout) \(ls.stderr)")
        let invited = try await readerCLI.run(["vfolder", "list-invited"])
        #expect(invited.status == 0 && invited.stdout.contains("papers"), "\(invited.stdout) \(invited.stderr)")
        let write = try await reader.send(.POST, "/folders/papers/mkdir", json: ["path": "mine"])
        #expect(write.status == 403, "\(write.text)")
        #expect(try await reader.send(.POST, "/folders/papers/request-download", json: ["path": "draft.txt"]).status == 200)
        // Mounted read-only in the reader's session.
        let created = try await reader.send(.POST, "/session", json: [
            "name": "reads-papers", "image": "python:3.11", "enqueueOnly": true, "config": ["mounts": ["papers"]],
        ])
        #expect(created.status == 201, "\(created.text)")
        let mounts = try await setup.pool.query("SELECT vfolder_mounts::text AS m FROM sessions WHERE name = 'reads-papers'")
            .first?.decode("m", as: String.self) ?? ""
        #expect(mounts.contains(#""permission": "ro""#) || mounts.contains(#""permission":"ro""#), "\(mounts)")
        // Only the owner manages it.
        #expect(try await reader.send(.POST, "/folders/papers/update-options", json: ["cloneable": true]).status == 403)
        #expect(try await reader.send(.POST, "/folders/papers/invite", json: ["user_ids": ["other@example.com"]]).status == 403)

        let leave = try await readerCLI.run(["vfolder", "leave", "papers"], timeout: .seconds(60))
        #expect(leave.status == 0, "\(leave.stdout) \(leave.stderr)")
        #expect(try await reader.send(.GET, "/folders/papers/files").status == 404)
        // A rejected invitation leaves nothing.
        _ = try await owner.send(.POST, "/folders/papers/invite", json: ["user_ids": ["other@example.com"], "perm": "rw"])
        let pending = try await other.send(.GET, "/folders/invitations/list")
        let otherID = try #require((pending.json?["invitations"] as? [[String: Any]])?.first?["id"] as? String)
        #expect(try await other.send(.DELETE, "/folders/invitations/delete", json: ["inv_id": otherID]).status == 200)
        #expect(try await other.send(.GET, "/folders/papers/files").status == 404)
        try await setup.manager.stop()
    }

    @Test("a project folder: members get the folder's permission; share gives one of them their own, unshare takes it back")
    func projectShares() async throws {
        let setup = try await VFolderTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        #expect(try await setup.admin.send(.POST, "/folders", json: ["name": "lab-data", "group": "default", "permission": "ro"]).status == 201)
        let keys = try await setup.manager.createUserKeypair(email: "student@example.com")
        let student = SignedClient(endpoint: setup.manager.endpoint, accessKey: keys.accessKey, secretKey: keys.secretKey)
        #expect(try await student.send(.POST, "/folders/lab-data/mkdir", json: ["path": "runs"]).status == 403)
        let share = try await setup.cli.run(["vfolder", "share", "lab-data", "student@example.com", "-p", "rw"])
        #expect(share.status == 0 && share.stdout.contains("student@example.com"), "\(share.stdout) \(share.stderr)")
        #expect(try await student.send(.POST, "/folders/lab-data/mkdir", json: ["path": "runs"]).status == 201)
        let unshare = try await setup.admin.send(.DELETE, "/folders/lab-data/unshare", json: ["emails": ["student@example.com"]])
        #expect(unshare.status == 200 && unshare.text.contains("student@example.com"), "\(unshare.text)")
        #expect(try await student.send(.POST, "/folders/lab-data/mkdir", json: ["path": "more"]).status == 403)
        // A personal folder is not `share`d, and a non-admin cannot share.
        #expect(try await student.send(.POST, "/folders/lab-data/share", json: ["emails": ["student@example.com"]]).status == 403)
        let bad = try await setup.admin.send(.POST, "/folders/lab-data/share", json: ["emails": "student@example.com"])
        #expect(bad.status == 400 && bad.text.contains("'emails'"), "\(bad.text)")
        let options = try await setup.cli.run(["vfolder", "update-options", "lab-data", "-p", "rw"])
        #expect(options.status == 0, "\(options.stdout) \(options.stderr)")
        #expect(try await student.send(.POST, "/folders/lab-data/mkdir", json: ["path": "now-rw"]).status == 201)
        try await setup.manager.stop()
    }
}
