import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing
@testable import ManagerCore

/// A researcher's files: upload, download, ls, mkdir, mv, rename-file, rm and folder rename with the official CLI;
/// tus resume, ranges, confinement and permissions against the raw endpoints.
@Suite struct VFolderFileTests {
    static func create(_ setup: VFolderTests.Setup, _ name: String, client: SignedClient? = nil, extra: [String: Any] = [:]) async throws {
        var body: [String: Any] = ["name": name]
        for (key, value) in extra { body[key] = value }
        let made = try await (client ?? setup.admin).send(.POST, "/folders", json: body)
        #expect(made.status == 201, "\(made.text)")
    }

    static func grant(_ client: SignedClient, _ folder: String, _ operation: String, _ body: [String: Any]) async throws -> (status: Int, url: String) {
        let response = try await client.send(.POST, "/folders/\(folder)/request-\(operation)", json: body)
        guard response.status == 200, let token = response.json?["token"] as? String, let url = response.json?["url"] as? String else {
            return (response.status, response.text)
        }
        var components = URLComponents(string: url)
        components?.queryItems = [URLQueryItem(name: "token", value: token)]
        return (200, components?.string ?? url)
    }

    @Test("the official CLI uploads, lists, downloads (byte-identical), makes directories, moves, renames and lists folders")
    func cliRoundTrip() async throws {
        let setup = try await VFolderTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        try await Self.create(setup, "research")
        let local = try TestEnvironment.current().scratchDirectory("local")
        // A file larger than one 16 MiB chunk, so the upload is several tus PATCHes.
        var generator = SystemRandomNumberGenerator()
        let data = Data((0..<(17 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) })
        try data.write(to: local.appendingPathComponent("weights.bin"))
        try Data("hello\n".utf8).write(to: local.appendingPathComponent("notes.txt"))

        let upload = try await setup.cli.run(["vfolder", "upload", "research", "weights.bin", "notes.txt", "-b", local.path], timeout: .seconds(120))
        #expect(upload.status == 0, "\(upload.stdout) \(upload.stderr)")
        let folder = try await setup.path(of: "research")
        #expect(FileManager.default.contents(atPath: folder + "/weights.bin") == data)
        #expect(!FileManager.default.fileExists(atPath: folder + "/" + FolderFiles.uploadsDirectory + "/x"))

        let ls = try await setup.cli.run(["vfolder", "ls", "research"])
        #expect(ls.status == 0 && ls.stdout.contains("weights.bin") && ls.stdout.contains("17825792") && ls.stdout.contains("notes.txt"),
                "\(ls.stdout) \(ls.stderr)")
        #expect(!ls.stdout.contains(FolderFiles.uploadsDirectory))

        let target = try TestEnvironment.current().scratchDirectory("downloads")
        let download = try await setup.cli.run(["vfolder", "download", "research", "weights.bin", "-b", target.path], timeout: .seconds(120))
        #expect(download.status == 0, "\(download.stdout) \(download.stderr)")
        #expect(FileManager.default.contents(atPath: target.appendingPathComponent("weights.bin").path) == data)

        let mkdir = try await setup.cli.run(["vfolder", "mkdir", "research", "runs/2026", "-p"])
        #expect(mkdir.status == 0, "\(mkdir.stdout) \(mkdir.stderr)")
        let mv = try await setup.cli.run(["vfolder", "mv", "research", "notes.txt", "runs/2026"])
        #expect(mv.status == 0, "\(mv.stdout) \(mv.stderr)")
        let rename = try await setup.cli.run(["vfolder", "rename-file", "research", "runs/2026/notes.txt", "README.txt"])
        #expect(rename.status == 0, "\(rename.stdout) \(rename.stderr)")
        #expect(FileManager.default.contents(atPath: folder + "/runs/2026/README.txt") == Data("hello\n".utf8))
        let inner = try await setup.cli.run(["vfolder", "ls", "research", "runs/2026"])
        #expect(inner.stdout.contains("README.txt"), "\(inner.stdout)")

        let removed = try await setup.admin.send(.DELETE, "/folders/research/delete-files", json: ["files": ["runs"], "recursive": false])
        #expect(removed.status == 400 && removed.text.contains("not empty"), "\(removed.text)")
        #expect(try await setup.admin.send(.DELETE, "/folders/research/delete-files", json: ["files": ["runs"], "recursive": true]).status == 200)
        #expect(!FileManager.default.fileExists(atPath: folder + "/runs"))

        let renamed = try await setup.cli.run(["vfolder", "rename", "research", "research-2"])
        #expect(renamed.status == 0, "\(renamed.stdout) \(renamed.stderr)")
        let list = try await setup.cli.run(["vfolder", "list"])
        #expect(list.status == 0 && list.stdout.contains("research-2"), "\(list.stdout) \(list.stderr)")
        let types = try await setup.cli.run(["vfolder", "list-allowed-types"])
        #expect(types.status == 0 && types.stdout.contains("user"), "\(types.stdout) \(types.stderr)")
        try await setup.manager.stop()
    }

    @Test("tus: an interrupted upload resumes at the offset HEAD reports; the file appears only when complete; wrong offsets and extra bytes are refused")
    func tusResume() async throws {
        let setup = try await VFolderTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        try await Self.create(setup, "uploads")
        let folder = try await setup.path(of: "uploads")
        let grant = try await Self.grant(setup.admin, "uploads", "upload", ["path": "deep/part.bin", "size": 10])
        #expect(grant.status == 200, "\(grant.url)")
        let tus = [("Tus-Resumable", "1.0.0")]
        func patch(_ offset: Int, _ body: String) async throws -> HTTPResult {
            try await HTTP.send(.PATCH, grant.url, headers: tus + [
                ("Upload-Offset", String(offset)), ("Content-Type", "application/offset+octet-stream"),
            ], body: Data(body.utf8))
        }
        let first = try await patch(0, "0123")
        #expect(first.status == 204 && first.header("Upload-Offset") == "4", "\(first.status) \(first.text)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/deep/part.bin"), "visible before it is complete")
        // The part waits beside the folders, not in the folder (where a session mounting it would see it).
        let partsRoot = FolderFiles(root: folder).partsRoot
        let parts = try FileManager.default.contentsOfDirectory(atPath: partsRoot)
        #expect(parts.count == 1 && parts[0].hasPrefix((folder as NSString).lastPathComponent + "."), "\(parts)")
        #expect(!FileManager.default.fileExists(atPath: folder + "/" + FolderFiles.uploadsDirectory))
        let head = try await HTTP.send(.HEAD, grant.url, headers: tus)
        #expect(head.status == 200 && head.header("Upload-Offset") == "4" && head.header("Upload-Length") == "10")
        let wrong = try await patch(2, "xx")
        #expect(wrong.status == 409 && wrong.header("Upload-Offset") == "4", "\(wrong.status) \(wrong.text)")
        let tooMuch = try await patch(4, "456789-and-more")
        #expect(tooMuch.status == 413, "\(tooMuch.status) \(tooMuch.text)")
        // The refused bytes were not kept past the limit: resume from what HEAD says.
        let resumeAt = Int(try await HTTP.send(.HEAD, grant.url, headers: tus).header("Upload-Offset") ?? "") ?? -1
        #expect(resumeAt >= 4 && resumeAt <= 10)
        let rest = "0123456789".dropFirst(resumeAt)
        let last = try await patch(resumeAt, String(rest))
        #expect(last.status == 204 && last.header("Upload-Offset") == "10", "\(last.status) \(last.text)")
        #expect(FileManager.default.contents(atPath: folder + "/deep/part.bin") == Data("0123456789".utf8))
        let done = try await HTTP.send(.HEAD, grant.url, headers: tus)
        #expect(done.header("Upload-Offset") == "10")

        // An abandoned part is removed once no token can resume it; a fresh one stays.
        let abandoned = try await Self.grant(setup.admin, "uploads", "upload", ["path": "stale.bin", "size": 10])
        _ = try await HTTP.send(.PATCH, abandoned.url, headers: tus + [
            ("Upload-Offset", "0"), ("Content-Type", "application/offset+octet-stream"),
        ], body: Data("abc".utf8))
        let fresh = try await Self.grant(setup.admin, "uploads", "upload", ["path": "fresh.bin", "size": 10])
        _ = try await HTTP.send(.PATCH, fresh.url, headers: tus + [
            ("Upload-Offset", "0"), ("Content-Type", "application/offset+octet-stream"),
        ], body: Data("abc".utf8))
        let waiting = try FileManager.default.contentsOfDirectory(atPath: partsRoot).sorted()
        #expect(waiting.count == 2, "\(waiting)")
        let old = Date(timeIntervalSinceNow: -7 * 3600)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: partsRoot + "/" + waiting[0])
        #expect(try UploadPartSweeper.sweep(partsRoot, before: Int64(Date().timeIntervalSince1970) - 6 * 3600) == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: partsRoot) == [waiting[1]])

        // A forged or altered token is refused; a download token cannot upload.
        #expect(try await HTTP.send(.HEAD, grant.url + "x", headers: tus).status == 401)
        let download = try await Self.grant(setup.admin, "uploads", "download", ["path": "deep/part.bin"])
        #expect(try await HTTP.send(.PATCH, download.url.replacingOccurrences(of: StorageRoutes.downloadPath, with: StorageRoutes.uploadPath),
                                    headers: tus + [("Upload-Offset", "0"), ("Content-Type", "application/offset+octet-stream")],
                                    body: Data("x".utf8)).status == 401)
        // Ranges, as the client's retries ask.
        let partial = try await HTTP.send(.GET, download.url, headers: [("Range", "bytes=3-")])
        #expect(partial.status == 206 && partial.text == "3456789" && partial.header("Content-Range") == "bytes 3-9/10", "\(partial.status)")
        let middle = try await HTTP.send(.GET, download.url, headers: [("Range", "bytes=2-4")])
        #expect(middle.status == 206 && middle.text == "234")
        let stale = try await HTTP.send(.GET, download.url, headers: [("Range", "bytes=3-"), ("If-Range", "Thu, 01 Jan 1970 00:00:00 GMT")])
        #expect(stale.status == 200 && stale.text == "0123456789")
        #expect(try await HTTP.send(.GET, download.url, headers: [("Range", "bytes=50-")]).status == 416)
        try await setup.manager.stop()
    }

    @Test("paths stay in the folder: .., absolute, NUL and symbolic links out are refused naming the field; read-only folders cannot be written")
    func confinement() async throws {
        let setup = try await VFolderTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        try await Self.create(setup, "guarded")
        let folder = try await setup.path(of: "guarded")
        try FileManager.default.createSymbolicLink(atPath: folder + "/etc-link", withDestinationPath: "/etc")
        try FileManager.default.createSymbolicLink(atPath: folder + "/passwd", withDestinationPath: "/etc/passwd")
        let admin = setup.admin
        for (path, field) in [("../x", "path"), ("/etc", "path"), ("a\u{0}b", "path")] {
            let response = try await admin.send(.GET, "/folders/guarded/files?path=\(path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")")
            #expect(response.status == 400 && response.text.contains("'\(field)'"), "\(path): \(response.status) \(response.text)")
        }
        let throughLink = try await admin.send(.GET, "/folders/guarded/files?path=etc-link")
        #expect(throughLink.status == 400 && throughLink.text.contains("symbolic link"), "\(throughLink.text)")
        let downloadLink = try await admin.send(.POST, "/folders/guarded/request-download", json: ["path": "passwd"])
        #expect(downloadLink.status == 400 && downloadLink.text.contains("symbolic link"), "\(downloadLink.text)")
        let mkdirThrough = try await admin.send(.POST, "/folders/guarded/mkdir", json: ["path": "etc-link/evil"])
        #expect(mkdirThrough.status == 400, "\(mkdirThrough.text)")
        #expect(!FileManager.default.fileExists(atPath: "/etc/evil"))
        let uploadThrough = try await Self.grant(admin, "guarded", "upload", ["path": "etc-link/evil.txt", "size": 1])
        #expect(uploadThrough.status == 200)
        let patched = try await HTTP.send(.PATCH, uploadThrough.url, headers: [
            ("Tus-Resumable", "1.0.0"), ("Upload-Offset", "0"), ("Content-Type", "application/offset+octet-stream"),
        ], body: Data("x".utf8))
        #expect(patched.status == 400, "\(patched.status) \(patched.text)")
        #expect(!FileManager.default.fileExists(atPath: "/etc/evil.txt"))
        // Removing the link removes the link, not /etc.
        #expect(try await admin.send(.DELETE, "/folders/guarded/delete-files", json: ["files": ["etc-link"], "recursive": true]).status == 200)
        #expect(FileManager.default.fileExists(atPath: "/etc/passwd"))
        let moveOut = try await admin.send(.POST, "/folders/guarded/move-file", json: ["src": "passwd", "dst": "../outside"])
        #expect(moveOut.status == 400 && moveOut.text.contains("'dst'"), "\(moveOut.text)")

        // A project folder shared read-only: a member may read, not write.
        try await Self.create(setup, "shared-ro", extra: ["group": "default", "permission": "ro"])
        let user = try await setup.manager.createUserKeypair(email: "member@example.com")
        let member = SignedClient(endpoint: setup.manager.endpoint, accessKey: user.accessKey, secretKey: user.secretKey)
        #expect(try await member.send(.GET, "/folders/shared-ro/files").status == 200)
        let write = try await member.send(.POST, "/folders/shared-ro/mkdir", json: ["path": "mine"])
        #expect(write.status == 403 && write.text.contains("read-only"), "\(write.text)")
        #expect(try await member.send(.POST, "/folders/shared-ro/request-upload", json: ["path": "x", "size": 1]).status == 403)
        // Another user's own folder is not reachable at all.
        let stranger = try await member.send(.GET, "/folders/guarded/files")
        #expect(stranger.status == 404, "\(stranger.text)")
        try await setup.manager.stop()
    }
}
