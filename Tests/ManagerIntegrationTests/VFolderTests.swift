import Foundation
import Logging
import NIOHTTP1
import SchedulerKit
import Testing
@testable import ManagerCore

/// vfolders, background tasks and clone, through the official CLI and signed requests, against real processes.
@Suite struct VFolderTests {
    struct Setup {
        let manager: ManagerProcess
        let cli: BackendAICLI
        let pool: PostgresPool
        let volume: URL

        var admin: SignedClient { self.manager.admin }

        /// The directory of the folder called `name` (any owner, not deleted).
        func path(of name: String) async throws -> String {
            let row = try #require(try await self.pool.query(
                "SELECT id FROM vfolders WHERE name = \(name) AND status NOT LIKE 'delete-%' ORDER BY created_at DESC LIMIT 1"
            ).first)
            let id: UUID = try row.decode("id")
            return self.volume.path + "/" + id.uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        }

        func folderStatus(id: String) async throws -> String? {
            guard let uuid = PostgresVFolderStore.uuid(hex: id) ?? UUID(uuidString: id) else { return nil }
            return try await self.pool.query("SELECT status FROM vfolders WHERE id = \(uuid)").first?.decode("status")
        }

        func task(_ id: String) async throws -> (status: String, message: String) {
            let uuid = try #require(UUID(uuidString: id))
            let row = try #require(try await self.pool.query(
                "SELECT status, message FROM background_tasks WHERE id = \(uuid)").first)
            return (try row.decode("status"), try row.decode("message"))
        }
    }

    static func storageConfig(volume: URL, rateLimit: String, lease: String) -> String {
        """
        [storage]
        default_host = "local:volume1"
        clone_rate_limit = "\(rateLimit)"
        [storage.volumes.volume1]
        path = "\(volume.path)"
        [background_tasks]
        lease = "\(lease)"
        """
    }

    static func setUp(
        rateLimit: String = "0", lease: String = "10s", localAgent: ManagerProcess.LocalAgent? = nil, serverConfig: String = "",
        extraConfig: String = ""
    ) async throws -> Setup {
        let environment = try TestEnvironment.current()
        let volume = try environment.scratchDirectory("volume1")
        let manager = try await ManagerProcess(
            environment, extraConfig: Self.storageConfig(volume: volume, rateLimit: rateLimit, lease: lease) + "\n" + extraConfig,
            serverConfig: serverConfig, localAgent: localAgent)
        let cli = BackendAICLI(
            environment: environment, endpoint: manager.endpoint, accessKey: manager.adminAccessKey,
            secretKey: manager.adminSecretKey)
        return Setup(manager: manager, cli: cli, pool: manager.database.makePool(), volume: volume)
    }

    @Test("CLI: create, fill, clone with a moving progress bar, a byte-identical copy; info, list-own and delete work")
    func cliCloneFlow() async throws {
        let setup = try await Self.setUp(rateLimit: "2m")
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let hosts = try await setup.cli.run(["vfolder", "list-hosts"])
        #expect(hosts.stdout.contains("Default vfolder host: local:volume1"), "\(hosts.stdout) \(hosts.stderr)")

        let created = try await setup.cli.run(["vfolder", "create", "src", "local:volume1", "--cloneable"])
        #expect(created.stdout.contains("\"src\" is created"), "\(created.stdout) \(created.stderr)")
        let source = try await setup.path(of: "src")
        try TreeSnapshot.populate(source, sizes: [9 << 20, 3 << 20, 12_345])

        let clone = try await setup.cli.run(["vfolder", "clone", "src", "dst", "local:volume1"], timeout: .seconds(120))
        let output = (clone.stdout + clone.stderr).replacingOccurrences(of: "\r", with: "\n")
        #expect(output.contains("Cloning the vfolder is complete"), "\(output)")
        // tqdm redraws the bar as progress events arrive: several distinct percentages, ending at 100%. (The copy
        // takes ~6 s at the 2 MiB/s limit, so even a slow CLI start sees it move.)
        let percentages = Set(output.components(separatedBy: "\n").compactMap { line -> Int? in
            guard let range = line.range(of: "%|") else { return nil }
            return Int(line[..<range.lowerBound].trimmingCharacters(in: .whitespaces))
        })
        #expect(percentages.count >= 3 && percentages.contains(100), "\(percentages) in \(output)")

        let target = try await setup.path(of: "dst")
        let original = try TreeSnapshot.read(source)
        #expect(original.entries.count == 9, "\(original)")
        #expect(try TreeSnapshot.read(target) == original)

        let info = try await setup.cli.run(["vfolder", "info", "dst"])
        #expect(info.stdout.contains("Status: ready") && info.stdout.contains("Number of files: 5"), "\(info.stdout) \(info.stderr)")
        #expect(info.stdout.contains("Clone Allowed: False"), "\(info.stdout)")
        let list = try await setup.cli.run(["vfolder", "list-own"])
        #expect(list.stdout.contains("src") && list.stdout.contains("dst"), "\(list.stdout) \(list.stderr)")
        // The clone's history holds both statuses with their times.
        let history = try #require(try await setup.pool.query("SELECT status_history::text AS h FROM vfolders WHERE name = 'dst'").first)
        let text: String = try history.decode("h")
        #expect(text.contains("cloning") && text.contains("ready"), "\(text)")

        let deleted = try await setup.cli.run(["vfolder", "delete", "dst"])
        #expect(deleted.status == 0, "\(deleted.stdout) \(deleted.stderr)")
        let status: String? = try await setup.pool.query("SELECT status FROM vfolders WHERE name = 'dst'").first?.decode("status")
        #expect(status == "delete-pending")
        // A trashed folder frees its name; the same name can be cloned again.
        let again = try await setup.cli.run(["vfolder", "clone", "src", "dst", "local:volume1"], timeout: .seconds(120))
        #expect((again.stdout + again.stderr).contains("complete"), "\(again.stdout) \(again.stderr)")
        // Not cloneable: the CLI refuses (it reads `cloneable`), and so does the API, with Backend.AI's message.
        _ = try await setup.cli.run(["vfolder", "create", "plain", "local:volume1"])
        let refused = try await setup.admin.send(.POST, "/folders/plain/clone", json: ["target_name": "plain2", "target_host": "local:volume1"])
        #expect(refused.status == 403 && refused.text.contains("The source vfolder is not permitted to be cloned."), "\(refused.text)")
    }

    @Test("the task stream resumes by Last-Event-ID without loss or repeat; a finished task answers at once; bad ids are 4xx")
    func streamResumes() async throws {
        let setup = try await Self.setUp(rateLimit: "2m")
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let made = try await setup.admin.send(.POST, "/folders", json: ["name": "src", "cloneable": true])
        #expect(made.status == 201, "\(made.text)")
        try TreeSnapshot.populate(try await setup.path(of: "src"), sizes: [12 << 20])
        let started = try await setup.admin.send(
            .POST, "/folders/src/clone", json: ["target_name": "dst", "target_host": "local:volume1", "usage_mode": "general", "permission": "rw"])
        #expect(started.status == 201, "\(started.text)")
        let taskID = try #require(started.json?["bgtask_id"] as? String)
        #expect(started.json?["status"] as? String == "cloning")
        let path = "/events/background-task?task_id=\(taskID)"

        // The first connection asks from the start (Last-Event-ID 0), so a slow machine that connects after the copy
        // has made progress (or finished) still reads events 1, 2, 3.
        let first = try await setup.admin.events(path, lastEventID: "0", count: 3, timeout: .seconds(30))
        #expect(first.count == 3 && first.allSatisfy { $0.event == "bgtask_updated" }, "\(first)")
        let resumeFrom = try #require(first.last?.id)
        let rest = try await setup.admin.events(path, lastEventID: resumeFrom, count: 10_000, timeout: .seconds(60))
        #expect(rest.last?.event == "server_close", "\(rest)")
        #expect(rest.dropLast().last?.event == "bgtask_done", "\(rest)")
        // Ids continue exactly where the first connection stopped and run to the end of the log, each once.
        let ids = (first + rest.dropLast()).compactMap { $0.id.flatMap(Int.init) }
        let taskUUID = try #require(UUID(uuidString: taskID))
        let logged: Int = try #require(try await setup.pool.query(
            "SELECT count(*)::int AS n FROM background_task_events WHERE task_id = \(taskUUID)"
        ).first?.decode("n"))
        #expect(ids == Array(1...logged), "\(ids) of \(logged)")
        // Progress messages are strings; the total is the bytes to copy (12 MiB + the 8-byte notes file), and the
        // current progress never goes back.
        var lastCurrent = -1
        var totals = Set<Int>()
        for update in (first + rest).filter({ $0.event == "bgtask_updated" }) {
            let data = try #require(try JSONSerialization.jsonObject(with: Data(update.data.utf8)) as? [String: Any])
            #expect(data["task_id"] as? String == taskID && data["message"] is String)
            let current = try #require((data["current_progress"] as? NSNumber)?.intValue)
            #expect(current >= lastCurrent)
            lastCurrent = current
            totals.insert(try #require((data["total_progress"] as? NSNumber)?.intValue))
        }
        #expect(totals.contains((12 << 20) + 8) && lastCurrent == (12 << 20) + 8, "\(totals) \(lastCurrent)")

        // Finished: the final event and server_close at once.
        let late = try await setup.admin.events(path, count: 10, timeout: .seconds(5))
        #expect(late.map(\.event) == ["bgtask_done", "server_close"], "\(late)")
        let polled = try await setup.admin.send(.GET, "/bgtasks/\(taskID)")
        #expect(polled.status == 200 && polled.json?["status"] as? String == "done", "\(polled.text)")
        let cancelDone = try await setup.admin.send(.DELETE, "/bgtasks/\(taskID)")
        #expect(cancelDone.status == 409, "\(cancelDone.text)")

        let unknown = try await setup.admin.send(.GET, "/events/background-task?task_id=\(UUID().uuidString)")
        #expect(unknown.status == 404 && unknown.header("Content-Type") == "application/problem+json", "\(unknown.text)")
        let malformed = try await setup.admin.send(.GET, "/events/background-task?task_id=../../etc")
        #expect(malformed.status == 400 && malformed.text.contains("task_id"), "\(malformed.text)")
        let missing = try await setup.admin.send(.GET, "/events/background-task")
        #expect(missing.status == 400 && missing.text.contains("task_id"), "\(missing.text)")
    }

    @Test("cancelling a clone stops the copy and leaves no target; the source is untouched")
    func cancelLeavesNoTarget() async throws {
        let setup = try await Self.setUp(rateLimit: "1m")
        defer { Task { [pool = setup.pool] in await pool.close() } }
        _ = try await setup.cli.run(["vfolder", "create", "src", "local:volume1", "--cloneable"])
        let source = try await setup.path(of: "src")
        try TreeSnapshot.populate(source, sizes: [8 << 20])
        let before = try TreeSnapshot.read(source)
        let started = try await setup.admin.send(.POST, "/folders/src/clone", json: ["target_name": "dst", "target_host": "local:volume1"])
        let taskID = try #require(started.json?["bgtask_id"] as? String)
        let targetID = try #require(started.json?["id"] as? String)
        let target = setup.volume.path + "/" + targetID
        _ = try await setup.admin.events("/events/background-task?task_id=\(taskID)", count: 2, timeout: .seconds(20))
        #expect(FileManager.default.fileExists(atPath: target), "the copy should be under way")

        let cancel = try await setup.admin.send(.DELETE, "/bgtasks/\(taskID)")
        #expect(cancel.status == 202, "\(cancel.text)")
        let tail = try await setup.admin.events("/events/background-task?task_id=\(taskID)", lastEventID: "0", count: 10_000, timeout: .seconds(20))
        #expect(tail.suffix(2).map(\.event) == ["bgtask_cancelled", "server_close"], "\(tail)")
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect(try await setup.folderStatus(id: targetID) == "delete-complete")
        #expect(try await setup.task(taskID).status == "cancelled")
        #expect(try TreeSnapshot.read(source) == before)
        // The name is free again.
        let list = try await setup.cli.run(["vfolder", "list-own"])
        #expect(!list.stdout.contains("dst"), "\(list.stdout)")
    }

    @Test("kill -9 of the replica running a clone: another replica marks it interrupted within the lease and removes the target")
    func killedReplicaIsTakenOver() async throws {
        let environment = try TestEnvironment.current()
        let volume = try environment.scratchDirectory("volume1")
        let config = Self.storageConfig(volume: volume, rateLimit: "1m", lease: "2s")
        let first = try await ManagerProcess(environment, extraConfig: config)
        let second = try await ManagerProcess(environment, database: first.database, extraConfig: config, migrate: false)
        let pool = first.database.makePool()
        defer { Task { await pool.close() } }
        let onFirst = first.admin
        let onSecond = SignedClient(endpoint: second.endpoint, accessKey: first.adminAccessKey, secretKey: first.adminSecretKey)
        let made = try await onFirst.send(.POST, "/folders", json: ["name": "src", "cloneable": true])
        let sourceID = try #require(made.json?["id"] as? String)
        try TreeSnapshot.populate(volume.path + "/" + sourceID, sizes: [16 << 20])
        let started = try await onFirst.send(.POST, "/folders/src/clone", json: ["target_name": "dst", "target_host": "local:volume1"])
        let taskID = try #require(started.json?["bgtask_id"] as? String)
        let targetID = try #require(started.json?["id"] as? String)
        // Watch from the second replica: progress made on the first arrives there through Redis.
        let seen = try await onSecond.events("/events/background-task?task_id=\(taskID)", count: 2, timeout: .seconds(20))
        #expect(seen.allSatisfy { $0.event == "bgtask_updated" }, "\(seen)")
        #expect(FileManager.default.fileExists(atPath: volume.path + "/" + targetID))

        let killedAt = ContinuousClock.now
        _ = try await first.stop(signal: SIGKILL)
        let tail = try await onSecond.events(
            "/events/background-task?task_id=\(taskID)", lastEventID: seen.last?.id, count: 10_000, timeout: .seconds(30))
        let tookOver = ContinuousClock.now - killedAt
        #expect(tail.suffix(2).map(\.event) == ["bgtask_failed", "server_close"], "\(tail)")
        #expect(tail.dropLast().last?.data.contains("interrupted") == true, "\(tail)")
        // Lease 2 s, renewed every 2/3 s; the survivor looks every second: well within lease + 2 checks.
        #expect(tookOver < .seconds(6), "took \(tookOver)")
        let taskUUID = try #require(UUID(uuidString: taskID))
        let task = try await pool.query("SELECT status, message, replica FROM background_tasks WHERE id = \(taskUUID)").first
        #expect(try task?.decode("status", as: String.self) == "failed")
        #expect(try task?.decode("message", as: String.self) == "interrupted")
        #expect(!FileManager.default.fileExists(atPath: volume.path + "/" + targetID))
        let targetUUID = try #require(PostgresVFolderStore.uuid(hex: targetID))
        let status: String? = try await pool.query("SELECT status FROM vfolders WHERE id = \(targetUUID)").first?.decode("status")
        #expect(status == "delete-complete")
        _ = try await second.stop()
    }

    @Test("a user cannot see, clone or watch another user's folders and tasks; traversal and reserved names are refused")
    func accessAndNames() async throws {
        let setup = try await Self.setUp(rateLimit: "1m")
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let (aliceKey, aliceSecret) = try await setup.manager.createUserKeypair(email: "alice@example.com")
        let (bobKey, bobSecret) = try await setup.manager.createUserKeypair(email: "bob@example.com")
        let alice = SignedClient(endpoint: setup.manager.endpoint, accessKey: aliceKey, secretKey: aliceSecret)
        let bob = SignedClient(endpoint: setup.manager.endpoint, accessKey: bobKey, secretKey: bobSecret)
        let made = try await alice.send(.POST, "/folders", json: ["name": "mine", "cloneable": true])
        #expect(made.status == 201, "\(made.text)")
        try TreeSnapshot.populate(try await setup.path(of: "mine"), sizes: [2 << 20])
        let started = try await alice.send(.POST, "/folders/mine/clone", json: ["target_name": "copy", "target_host": "local:volume1"])
        let taskID = try #require(started.json?["bgtask_id"] as? String)

        #expect(try await bob.send(.GET, "/folders/mine").status == 404)
        #expect(try await bob.send(.POST, "/folders/mine/clone", json: ["target_name": "stolen"]).status == 404)
        #expect(try await bob.send(.DELETE, "/folders/mine").status == 404)
        #expect(try await bob.send(.GET, "/events/background-task?task_id=\(taskID)").status == 404)
        #expect(try await bob.send(.GET, "/bgtasks/\(taskID)").status == 404)
        #expect(try await bob.send(.DELETE, "/bgtasks/\(taskID)").status == 404)
        let bobsList = try await bob.send(.GET, "/folders")
        #expect(bobsList.text == "[]", "\(bobsList.text)")
        let bobCLI = BackendAICLI(environment: setup.cli.environment, endpoint: setup.manager.endpoint, accessKey: bobKey, secretKey: bobSecret)
        let bobInfo = try await bobCLI.run(["vfolder", "info", "mine"])
        #expect(bobInfo.status != 0 || (bobInfo.stdout + bobInfo.stderr).contains("404"), "\(bobInfo.stdout) \(bobInfo.stderr)")
        // The admin sees Alice's task.
        #expect(try await setup.admin.send(.GET, "/bgtasks/\(taskID)").status == 200)

        let count = { () async throws -> Int in
            try #require(try await setup.pool.query("SELECT count(*)::int AS n FROM vfolders").first?.decode("n"))
        }
        let before = try await count()
        for bad in ["../escape", "a/b", "..", ".", "/abs", "x\u{0}y", "tmp", ".bashrc", String(repeating: "n", count: 65), "", "a..b", "sp ace"] {
            let response = try await alice.send(.POST, "/folders", json: ["name": bad])
            #expect(response.status == 400 && response.text.contains("'name'"), "\(bad.debugDescription): \(response.status) \(response.text)")
            let cloned = try await alice.send(.POST, "/folders/mine/clone", json: ["target_name": bad, "target_host": "local:volume1"])
            #expect(cloned.status == 400 && cloned.text.contains("target_name"), "\(bad.debugDescription): \(cloned.text)")
        }
        for (field, value) in [("host", "local:../../etc"), ("usage_mode", "root"), ("permission", "rwx")] {
            let response = try await alice.send(.POST, "/folders", json: ["name": "fine", field: value])
            #expect(response.status == 400 && response.text.contains("'\(field)'"), "\(field): \(response.text)")
        }
        let wrongType = try await alice.send(.POST, "/folders", json: ["name": "fine", "cloneable": ["yes"]])
        #expect(wrongType.status == 400 && wrongType.text.contains("'cloneable'"), "\(wrongType.text)")
        let duplicate = try await alice.send(.POST, "/folders", json: ["name": "mine"])
        #expect(duplicate.status == 409, "\(duplicate.text)")
        #expect(try await count() == before)
        // Nothing appeared outside the volume.
        #expect(!FileManager.default.fileExists(atPath: setup.volume.deletingLastPathComponent().appendingPathComponent("escape").path))
    }

    @Test("a session mounts a folder by name and alias; the folder cannot be deleted while the session lives")
    func mountedFolderIsKept() async throws {
        let setup = try await Self.setUp(localAgent: .init())
        defer { Task { [pool = setup.pool] in await pool.close() } }
        _ = try await setup.cli.run(["vfolder", "create", "data", "local:volume1"])
        let folder = try await setup.path(of: "data")
        try "mounted!".write(toFile: folder + "/hello.txt", atomically: true, encoding: .utf8)
        // The sandbox sees the folder, not the rest of the host: the release file is put into the folder.
        let release = folder + "/release"
        try await SchedulerFlowTests.batch(
            setup.cli, "mounter", "cat data/hello.txt && echo out > data/written.txt && while [ ! -e data/release ]; do sleep 0.1; done",
            extra: ["-m", "data=/home/work/data"])
        let probe = SessionProbe(pool: setup.pool)
        _ = try await probe.waitFor(["mounter"], in: ["RUNNING", "TERMINATED", "ERROR", "CANCELLED"])
        var ended: SessionProbe.Row?
        try await eventually("the session to write into the folder") {
            ended = try await probe.sessions(named: ["mounter"])["mounter"].flatMap { ["RUNNING"].contains($0.status) ? nil : $0 }
            return FileManager.default.fileExists(atPath: folder + "/written.txt") || ended != nil
        }
        #expect(ended == nil, "the session ended before writing: \(String(describing: ended)) \(setup.manager.log().suffix(4000))")
        let refused = try await setup.cli.run(["vfolder", "delete", "data"])
        #expect(refused.status != 0 || (refused.stdout + refused.stderr).contains("409"), "\(refused.stdout) \(refused.stderr)")
        let direct = try await setup.admin.send(.DELETE, "/folders/data")
        #expect(direct.status == 409 && direct.text.contains("mounter"), "\(direct.text)")

        #expect(FileManager.default.createFile(atPath: release, contents: Data()))
        let rows = try await probe.waitFor(["mounter"], in: ["TERMINATED", "ERROR", "CANCELLED"])
        #expect(rows["mounter"]?.result == "SUCCESS", "\(String(describing: rows["mounter"]))")
        let logs = try await setup.cli.run(["session", "logs", try #require(rows["mounter"]).id.uuidString.lowercased()])
        #expect(logs.stdout.contains("mounted!"), "\(logs.stdout)")
        let deleted = try await setup.admin.send(.DELETE, "/folders/data")
        #expect(deleted.status == 204, "\(deleted.text)")

        // Unknown folders and bad aliases are refused before anything is stored.
        let unknown = try await setup.cli.run(
            ["session", "create", "--type", "batch", "-c", "true", "-t", "nofolder", "-m", "nothere", "python:3.11"])
        #expect((unknown.stdout + unknown.stderr).contains("nothere"), "\(unknown.stdout) \(unknown.stderr)")
        let escape = try await setup.admin.send(.POST, "/session", json: [
            "image": "python:3.11", "name": "escape", "type": "batch", "startupCommand": "true",
            "config": ["mounts": ["data"], "mount_map": ["data": "/home/work/../../etc"]],
        ])
        #expect(escape.status == 400, "\(escape.text)")
        #expect(try await probe.sessions(named: ["nofolder", "escape"]).isEmpty)
    }

    /// Makes `levels` nested folders under `path` (each `mkdir` relative, as a session would), a file at the bottom,
    /// and a file whose name is not UTF-8.
    static func makeDeepTree(_ path: String, levels: Int) async throws {
        // By descriptor: a path 3,000 levels deep is longer than PATH_MAX, so no shell `cd` gets there.
        let script = """
            import os, sys
            root = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
            os.close(os.open(b"name-\\xff\\xfe", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=root))
            fd = root
            for _ in range(int(sys.argv[2])):
                os.mkdir("d", dir_fd=fd)
                child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
                if fd != root: os.close(fd)
                fd = child
            out = os.open("file", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
            os.write(out, b"bottom\\n")
            """
        let run = try await runProcess("/usr/bin/python3", ["-c", script, path, String(levels)], timeout: .seconds(120))
        guard run.status == 0 else { throw TestEnvironment.Missing(description: "deep tree: \(run.stderr)") }
    }

    @Test("a folder tree 3,000 levels deep with non-UTF-8 names: usage answers, clone fails cleanly, purge removes it all")
    func deepTree() async throws {
        let setup = try await Self.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let made = try await setup.admin.send(.POST, "/folders", json: ["name": "deep", "cloneable": true])
        let id = try #require(made.json?["id"] as? String)
        let path = try await setup.path(of: "deep")
        try await Self.makeDeepTree(path, levels: 3000)
        // Usage: the walk stops at its depth bound; the folder's info still answers.
        let info = try await setup.admin.send(.GET, "/folders/deep")
        #expect(info.status == 200, "\(info.text)")
        // A shallow folder with a non-UTF-8 name is counted and cloned whole.
        let shallow = try await setup.admin.send(.POST, "/folders", json: ["name": "shallow", "cloneable": true])
        #expect(shallow.status == 201)
        try await Self.makeDeepTree(try await setup.path(of: "shallow"), levels: 3)
        let shallowInfo = try await setup.admin.send(.GET, "/folders/shallow")
        #expect(shallowInfo.json?["numFiles"] as? Int == 2, "\(shallowInfo.text)")
        let shallowClone = try await setup.admin.send(.POST, "/folders/shallow/clone", json: ["target_name": "shallow-copy"])
        let shallowTask = try #require(shallowClone.json?["bgtask_id"] as? String, "\(shallowClone.text)")
        try await SessionProbe(pool: setup.pool).wait("the shallow clone", timeout: .seconds(30)) {
            try await setup.task(shallowTask).status != "running"
        }
        #expect(try await setup.task(shallowTask).status == "done")
        let copied = try FileManager.default.contentsOfDirectory(atPath: try await setup.path(of: "shallow-copy"))
        #expect(copied.count == 2, "\(copied)")
        // Clone of the deep one is refused up front (409 naming the bound), and no target is made.
        let clone = try await setup.admin.send(.POST, "/folders/deep/clone", json: ["target_name": "deep-copy"])
        #expect(clone.status == 409 && (clone.json?["msg"] as? String ?? "").contains("deeper than 1024"), "\(clone.text)")
        let targets: Int = try await setup.pool.query("SELECT count(*) AS n FROM vfolders WHERE name = 'deep-copy'").first?.decode("n") ?? -1
        #expect(targets == 0)
        // Purge: everything goes, however deep.
        #expect(try await setup.admin.send(.DELETE, "/folders/deep").status == 204)
        let purged = try await setup.admin.send(.POST, "/folders/purge", json: ["id": id])
        #expect(purged.status == 204, "\(purged.text)")
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(try await HTTP.get("\(setup.manager.endpoint)/").status == 200)
        try await setup.manager.stop()
    }

    @Test("a folder whose purge failed (delete-error) can be purged again by id; by name it stays gone")
    func purgeRetry() async throws {
        let setup = try await Self.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let made = try await setup.admin.send(.POST, "/folders", json: ["name": "doomed"])
        let id = try #require(made.json?["id"] as? String)
        let path = try await setup.path(of: "doomed")
        try TreeSnapshot.populate(path, sizes: [1024])
        #expect(try await setup.admin.send(.DELETE, "/folders/doomed").status == 204)
        // As a purge that failed halfway leaves it.
        let uuid = try #require(PostgresVFolderStore.uuid(hex: id))
        try await setup.pool.query("UPDATE vfolders SET status = 'delete-error' WHERE id = \(uuid)")
        #expect(try await setup.admin.send(.GET, "/folders/doomed").status == 404)
        let restored = try await setup.admin.send(.POST, "/folders/restore-from-trash-bin", json: ["id": id])
        #expect(restored.status == 409, "\(restored.text)")
        let purged = try await setup.admin.send(.POST, "/folders/purge", json: ["id": id])
        #expect(purged.status == 204, "\(purged.text)")
        #expect(try await setup.folderStatus(id: id) == "delete-complete")
        #expect(!FileManager.default.fileExists(atPath: path))
        // A second purge finds nothing left to purge.
        #expect(try await setup.admin.send(.POST, "/folders/purge", json: ["id": id]).status == 404)
        try await setup.manager.stop()
    }
}
