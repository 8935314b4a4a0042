import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

/// `session upload|ls|download` with the official CLI against a session running in the real sandbox, through the
/// agent's sync channel; and a vfolder directory downloaded as a streamed tar archive.
@Suite("Session files", .serialized)
struct SessionFileTests {
    @Test("the CLI uploads into a running session's /home/work (the session reads it), lists it and downloads what the session wrote; strangers, escapes and stopped sessions are refused")
    func sessionFiles() async throws {
        let setup = try await SandboxTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        // An interactive session that writes a result, then waits for an uploaded file and copies it.
        let script = "echo made-inside > /home/work/result.txt; mkdir -p /home/work/out/deep; echo nested > /home/work/out/deep/n.txt; "
            + "while [ ! -f /home/work/inbox/data.txt ]; do sleep 0.1; done; cp /home/work/inbox/data.txt /home/work/echoed.txt; sleep 600"
        let created = try await setup.manager.admin.send(.POST, "/session", json: [
            "name": "files1", "image": "python:3.11", "type": "interactive", "startupCommand": script,
        ])
        #expect(created.status == 201, "\(created.text)")
        let row = try #require(try await setup.probe.waitFor(["files1"], in: ["RUNNING"])["files1"])
        try await eventually("the session wrote its files", timeout: .seconds(20)) {
            let listed = try await setup.manager.admin.send(.GET, "/session/files1/files", json: ["path": "out/deep"])
            return listed.status == 200 && listed.text.contains("n.txt")
        }

        let local = try TestEnvironment.current().scratchDirectory("session-upload")
        try FileManager.default.createDirectory(at: local.appendingPathComponent("inbox"), withIntermediateDirectories: true)
        try Data("uploaded bytes\n".utf8).write(to: local.appendingPathComponent("inbox/data.txt"))
        let upload = try await setup.cli.run(["session", "upload", "files1", "inbox/data.txt"], in: local)
        #expect(upload.status == 0 && (upload.stdout + upload.stderr).contains("Uploaded"), "\(upload.stdout) \(upload.stderr)")

        let workDir = setup.manager.directory.appendingPathComponent("agent/sessions/\(row.id.uuidString.lowercased())/work").path
        let uploaded = try FileManager.default.attributesOfItem(atPath: workDir + "/inbox/data.txt")
        let root = try FileManager.default.attributesOfItem(atPath: workDir)
        // Owned like the work folder (the sandbox's user), so the session can change it.
        #expect((uploaded[.ownerAccountID] as? NSNumber) == (root[.ownerAccountID] as? NSNumber))
        try await eventually("the session copied the upload", timeout: .seconds(20)) { FileManager.default.fileExists(atPath: workDir + "/echoed.txt") }
        #expect(FileManager.default.contents(atPath: workDir + "/echoed.txt") == Data("uploaded bytes\n".utf8))

        let ls = try await setup.cli.run(["session", "ls", "files1", "."])
        #expect(ls.status == 0 && ls.stdout.contains("result.txt") && ls.stdout.contains("inbox") && ls.stdout.contains("-rw-r--r--"),
                "\(ls.stdout) \(ls.stderr)")
        let absolute = try await setup.cli.run(["session", "ls", "files1", "/home/work/out"])
        #expect(absolute.status == 0 && absolute.stdout.contains("deep"), "\(absolute.stdout) \(absolute.stderr)")

        let target = try TestEnvironment.current().scratchDirectory("session-download")
        let download = try await setup.cli.run(["session", "download", "files1", "result.txt", "out", "--dest", target.path])
        #expect(download.status == 0, "\(download.stdout) \(download.stderr)")
        #expect(FileManager.default.contents(atPath: target.appendingPathComponent("result.txt").path) == Data("made-inside\n".utf8))
        #expect(FileManager.default.contents(atPath: target.appendingPathComponent("out/deep/n.txt").path) == Data("nested\n".utf8))

        // Escapes, missing files and links out are the caller's 4xx, naming what is wrong.
        let escape = try await setup.manager.admin.send(.GET, "/session/files1/files", json: ["path": "../../.."])
        #expect(escape.status == 400 && escape.text.contains("'path'"), "\(escape.text)")
        let outside = try await setup.manager.admin.send(.GET, "/session/files1/download", json: ["files": ["/etc/passwd"]])
        #expect(outside.status == 400 && outside.text.contains("'files'"), "\(outside.text)")
        let missing = try await setup.manager.admin.send(.GET, "/session/files1/download", json: ["files": ["nope.txt"]])
        #expect(missing.status == 404, "\(missing.text)")
        try FileManager.default.createSymbolicLink(atPath: workDir + "/sneaky", withDestinationPath: "/etc")
        let link = try await setup.manager.admin.send(.GET, "/session/files1/files", json: ["path": "sneaky"])
        #expect(link.status == 400 && link.text.contains("symbolic link"), "\(link.text)")
        let tooMany = try await setup.manager.admin.send(.GET, "/session/files1/download", json: ["files": ["a", "b", "c", "d", "e", "f"]])
        #expect(tooMany.status == 400, "\(tooMany.text)")
        let badForm = try await setup.manager.admin.send(.POST, "/session/files1/upload", json: ["src": "x"])
        #expect(badForm.status == 400 && badForm.text.contains("multipart"), "\(badForm.text)")
        // The fuzzer's finding: a non-ASCII header name, which would trap inside MultipartKit, is a 400.
        let finding = try Data(contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("Fuzz/corpus/multipart/crash-non-ascii-header-name"))
        let newline = try #require(finding.firstIndex(of: 10))
        let hostile = try await setup.manager.admin.send(
            .POST, "/session/files1/upload", rawBody: finding[(newline + 1)...],
            contentType: String(decoding: finding[..<newline], as: UTF8.self))
        #expect(hostile.status == 400 && hostile.text.contains("not ASCII"), "\(hostile.text)")
        let valid = "--XyZ\r\nContent-Disposition: form-data; name=\"src\"; filename=\"inbox%2Fsecond.txt\"\r\n\r\nsecond\r\n--XyZ--\r\n"
        let raw = try await setup.manager.admin.send(
            .POST, "/session/files1/upload", rawBody: Data(valid.utf8), contentType: "multipart/form-data; boundary=XyZ")
        #expect(raw.status == 204, "\(raw.text)")
        #expect(FileManager.default.contents(atPath: workDir + "/inbox/second.txt") == Data("second".utf8))

        // Another user sees no such session.
        let stranger = try await setup.manager.createUserKeypair(email: "stranger@example.com")
        let other = SignedClient(endpoint: setup.manager.endpoint, accessKey: stranger.accessKey, secretKey: stranger.secretKey)
        let foreign = try await other.send(.GET, "/session/files1/files", json: ["path": "."])
        #expect(foreign.status == 404, "\(foreign.text)")

        // Ended: refused, and no request is left behind.
        #expect(try await setup.manager.admin.send(.DELETE, "/session/files1").status == 200)
        _ = try await setup.finished(["files1"])
        let ended = try await setup.manager.admin.send(.GET, "/session/files1/files", json: ["path": "."])
        #expect(ended.status == 409 || ended.status == 404, "\(ended.text)")
        let left: Int = try #require(try await setup.pool.query("SELECT count(*)::int AS n FROM session_file_requests").first?.decode("n"))
        #expect(left == 0)
        try await setup.manager.stop()
    }

    @Test("a vfolder directory downloads as a tar archive streamed from the storage endpoint; links are left out")
    func folderArchive() async throws {
        let setup = try await VFolderTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        try await VFolderFileTests.create(setup, "bundle")
        let folder = try await setup.path(of: "bundle")
        try FileManager.default.createDirectory(atPath: folder + "/runs/" + String(repeating: "long-name-", count: 15), withIntermediateDirectories: true)
        try Data("alpha\n".utf8).write(to: URL(fileURLWithPath: folder + "/runs/a.txt"))
        try Data(repeating: 7, count: 3 << 20).write(to: URL(fileURLWithPath: folder + "/runs/big.bin"))
        try Data("deep\n".utf8).write(to: URL(fileURLWithPath: folder + "/runs/" + String(repeating: "long-name-", count: 15) + "/z.txt"))
        try FileManager.default.createSymbolicLink(atPath: folder + "/runs/escape", withDestinationPath: "/etc")

        let file = try await VFolderFileTests.grant(setup.admin, "bundle", "download", ["path": "runs/a.txt", "archive": true])
        #expect(file.status == 400, "\(file.url)")
        let grant = try await VFolderFileTests.grant(setup.admin, "bundle", "download", ["path": "runs", "archive": true])
        #expect(grant.status == 200, "\(grant.url)")
        let target = try TestEnvironment.current().scratchDirectory("archive")
        let tarPath = target.appendingPathComponent("runs.tar").path
        let fetched = try await runProcess("/usr/bin/curl", ["-sf", "-o", tarPath, grant.url], timeout: .seconds(60))
        #expect(fetched.status == 0, "\(fetched.stderr)")
        let extracted = try await runProcess("/usr/bin/tar", ["-xf", tarPath, "-C", target.path], timeout: .seconds(60))
        #expect(extracted.status == 0, "\(extracted.stderr)")
        #expect(FileManager.default.contents(atPath: target.path + "/runs/a.txt") == Data("alpha\n".utf8))
        #expect(FileManager.default.contents(atPath: target.path + "/runs/big.bin") == Data(repeating: 7, count: 3 << 20))
        #expect(FileManager.default.contents(atPath: target.path + "/runs/" + String(repeating: "long-name-", count: 15) + "/z.txt") == Data("deep\n".utf8))
        #expect(!FileManager.default.fileExists(atPath: target.path + "/runs/escape"))
        // The whole folder: its entries at the top, bookkeeping left out.
        let all = try await VFolderFileTests.grant(setup.admin, "bundle", "download", ["path": ".", "archive": true])
        #expect(all.status == 200, "\(all.url)")
        let listing = try await runProcess("/bin/sh", ["-c", "curl -sf '\(all.url)' | tar -t"], timeout: .seconds(60))
        #expect(listing.status == 0 && listing.stdout.contains("runs/a.txt") && !listing.stdout.contains(FolderFiles.uploadsDirectory), "\(listing.stdout)")
        try await setup.manager.stop()
    }
}
