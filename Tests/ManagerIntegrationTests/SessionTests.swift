import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

@Suite struct SessionTests {
    static func batchGroup(_ cli: BackendAICLI) async throws {
        let add = try await cli.run([
            "admin", "scaling-group", "add", "sg-batch", "--scheduler", "fifo", "--scheduler-opts",
            #"{"allowed_session_types":["batch"]}"#,
        ])
        #expect(add.status == 0, "\(add.stderr)")
    }

    static func create(_ cli: BackendAICLI, _ name: String, depends: [String] = []) async throws -> ProcessResult {
        try await cli.run(
            ["session", "create", "--type", "batch", "-c", "true", "--sgroup", "sg-batch", "-t", name]
                + depends.flatMap { ["--depends", $0] } + ["--enqueue-only", "img:latest"])
    }

    @Test("the CLI enqueues a chain, lists it, shows the graph with both dependencies, removes it recursively")
    func cliChain() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment)
        let cli = BackendAICLI(environment: environment, endpoint: manager.endpoint,
                               accessKey: manager.adminAccessKey, secretKey: manager.adminSecretKey)
        try await Self.batchGroup(cli)
        for name in ["pipe-a", "pipe-b"] {
            let created = try await Self.create(cli, name)
            #expect((created.stdout + created.stderr).contains("is enqueued for scheduling"), "\(created.stdout) \(created.stderr)")
        }
        let top = try await Self.create(cli, "pipe-top", depends: ["pipe-a", "pipe-b"])
        #expect((top.stdout + top.stderr).contains("is enqueued for scheduling"), "\(top.stderr)")

        // A type the group does not accept is refused with Backend.AI's message.
        let refused = try await cli.run(["session", "create", "--sgroup", "sg-batch", "-t", "pipe-i", "--enqueue-only", "img:latest"])
        #expect((refused.stdout + refused.stderr).contains("The scaling group 'sg-batch' does not accept the session type 'interactive'."),
                "\(refused.stdout) \(refused.stderr)")

        let ps = try await cli.run(["ps"])
        for name in ["pipe-a", "pipe-b", "pipe-top"] { #expect(ps.stdout.contains(name), "\(ps.stdout)") }
        #expect(ps.stdout.contains("PENDING"))

        let tree = try await cli.run(["session", "show-graph", "pipe-top"])
        #expect(tree.status == 0, "\(tree.stderr)")
        #expect(tree.stdout.components(separatedBy: "(\"PENDING\"").count - 1 == 3, "\(tree.stdout)")
        let table = try await cli.run(["session", "show-graph", "-t", "pipe-top"])
        for name in ["pipe-a", "pipe-b", "pipe-top"] { #expect(table.stdout.contains(name), "\(table.stdout)") }
        #expect(table.stdout.contains("KernelStatus.PENDING"))

        let sessionID = try #require(Self.sessionID(of: "pipe-a", in: ps.stdout))
        let info = try await cli.run(["session", "info", sessionID])
        #expect(info.stdout.contains("pipe-a") && info.stdout.contains("PENDING"), "\(info.stdout) \(info.stderr)")
        let topID = try #require(Self.sessionID(of: "pipe-top", in: ps.stdout))
        let topInfo = try await cli.run(["session", "info", topID])
        #expect(topInfo.stdout.contains("pipe-a") && topInfo.stdout.contains("pipe-b"), "\(topInfo.stdout)")

        let removed = try await cli.run(["session", "rm", "--recursive", "pipe-a"])
        #expect(removed.status == 0, "\(removed.stdout) \(removed.stderr)")
        let cancelled = try await cli.run(["ps", "--status", "CANCELLED"])
        #expect(cancelled.stdout.contains("pipe-a") && cancelled.stdout.contains("pipe-top"), "\(cancelled.stdout)")
        #expect(!cancelled.stdout.contains("pipe-b"))
        #expect(cancelled.stdout.contains("user-requested"))

        // The event stream replays the log: enqueued, then cancelled (and kernel_cancelled, so `watch` ends).
        let events = try await cli.run(["session", "events", "pipe-a"], stopAfter: .seconds(10)).stdout
        let names = events.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
        #expect(names == ["session_enqueued", "session_cancelled", "kernel_cancelled"], "\(events)")
        #expect(events.contains(#""reason": "user-requested""#))
        try await manager.stop()
    }

    static func sessionID(of name: String, in table: String) -> String? {
        for line in table.split(separator: "\n") where line.hasPrefix(name + " ") {
            return line.split(separator: " ").first { UUID(uuidString: String($0)) != nil }.map(String.init)
        }
        return nil
    }

    @Test("POST /session answers the client's shape and writes the row, dependencies and an event in one go")
    func createShape() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current())
        let admin = manager.admin
        let first = try await admin.send(.POST, "/session", json: Self.body("flow-a"))
        #expect(first.status == 201, "\(first.text)")
        #expect(first.json?["sessionName"] as? String == "flow-a")
        #expect(first.json?["status"] as? String == "PENDING")
        #expect(first.json?["created"] as? Bool == true)
        #expect(first.json?["servicePorts"] as? [Any] != nil)
        let firstID = try #require(first.json?["sessionId"] as? String)
        let second = try await admin.send(.POST, "/session", json: Self.body("flow-b", dependencies: [firstID]))
        #expect(second.status == 201, "\(second.text)")
        // reuseIfExists returns the live session instead of failing.
        var again = Self.body("flow-a")
        again["reuseIfExists"] = true
        let reused = try await admin.send(.POST, "/session", json: again)
        #expect(reused.json?["created"] as? Bool == false)
        #expect(reused.json?["sessionId"] as? String == firstID)
        let duplicate = try await admin.send(.POST, "/session", json: Self.body("flow-a"))
        #expect(duplicate.status == 400)
        #expect(duplicate.json?["type"] as? String == "https://api.backend.ai/probs/session-already-exists")

        let counts = try await manager.database.withPool { pool in
            try await pool.query(
                """
                SELECT (SELECT count(*) FROM sessions) AS sessions, (SELECT count(*) FROM session_dependencies) AS deps,
                       (SELECT count(*) FROM events WHERE name = 'session_enqueued') AS events
                """
            ).first.map { [try $0.decode("sessions", as: Int.self), try $0.decode("deps", as: Int.self), try $0.decode("events", as: Int.self)] }
        }
        #expect(counts == [2, 1, 2])
        let info = try await admin.send(.GET, "/session/flow-b")
        #expect(info.status == 200)
        #expect(info.json?["status"] as? String == "PENDING")
        #expect(info.json?["scalingGroup"] as? String == "default")
        try await manager.stop()
    }

    static func body(_ name: String, dependencies: [String] = [], type: String = "batch") -> [String: Any] {
        [
            "name": name, "type": type, "image": "img:latest", "enqueueOnly": true, "startupCommand": "true",
            "config": ["resources": ["cpu": "1", "mem": "1g"]], "dependencies": dependencies, "domain": "default",
            "group": "default",
        ]
    }

    @Test("bad session requests get a 400 naming the problem and write nothing", arguments: [
        (#"{"name": "a b c d"}"#, "'name'"),
        (#"{"name": "ab"}"#, "4 to 64"),
        (#"{"type": "gpu"}"#, "'type'"),
        (#"{"image": null}"#, "'image' is required"),
        (#"{"config": {"resources": {"cpu": "-1"}}}"#, "config.resources.cpu"),
        (#"{"config": {"resources": {"mem": "lots"}}}"#, "config.resources.mem"),
        (#"{"dependencies": ["no-such-session"]}"#, "Unknown session ID or name in the dependency list"),
        (#"{"dependencies": "flow"}"#, "'dependencies' must be a list"),
        (#"{"starts_at": "tomorrow"}"#, "'starts_at'"),
        (#"{"config": {"mount_map": {"data1": "work", "data2": "work"}}}"#, "Duplicate alias folder name exists."),
        (#"{"config": {"mount_map": {"data1": ".bashrc"}}}"#, ".bashrc is reserved for internal path."),
        (#"{"config": {"mount_map": {"data1": "/home/work/.ssh"}}}"#, ".ssh is reserved for internal path."),
        (#"{"callback_url": "ftp://x"}"#, "'callback_url'"),
    ])
    func badRequests(patch: String, message: String) async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current())
        var body = Self.body("bad-one")
        let change = try #require(try JSONSerialization.jsonObject(with: Data(patch.utf8)) as? [String: Any])
        for (key, value) in change { body[key] = value }
        let response = try await manager.admin.send(.POST, "/session", json: body)
        #expect(response.status == 400, "\(response.text)")
        #expect(response.json?["type"] as? String == "https://api.backend.ai/probs/invalid-api-params")
        #expect((response.json?["msg"] as? String)?.contains(message) == true, "\(response.text)")
        let count = try await manager.database.withPool { pool in
            try await pool.query("SELECT count(*) AS n FROM sessions").first?.decode("n", as: Int.self)
        }
        #expect(count == 0)
        try await manager.stop()
    }

    @Test("malformed JSON and oversized bodies are clear 4xx errors")
    func malformedBodies() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current(), extraConfig: "")
        let broken = try await manager.admin.send(.POST, "/session", rawBody: Data("{\"name\": ".utf8))
        #expect(broken.status == 400)
        #expect((broken.json?["msg"] as? String)?.contains("not valid JSON") == true, "\(broken.text)")
        let huge = try await manager.admin.send(.POST, "/session", rawBody: Data(repeating: UInt8(ascii: " "), count: 2 << 20))
        #expect(huge.status == 413)
        #expect(huge.json?["type"] as? String == "https://api.backend.ai/probs/too-large")
        try await manager.stop()
    }

    @Test("a user sees, watches and destroys only their own sessions; an admin may act on any")
    func ownership() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current())
        let alice = try await manager.createUserKeypair(email: "alice@example.com")
        let bob = try await manager.createUserKeypair(email: "bob@example.com")
        let aliceClient = SignedClient(endpoint: manager.endpoint, accessKey: alice.accessKey, secretKey: alice.secretKey)
        let bobClient = SignedClient(endpoint: manager.endpoint, accessKey: bob.accessKey, secretKey: bob.secretKey)
        let created = try await aliceClient.send(.POST, "/session", json: Self.body("alice-job"))
        let id = try #require(created.json?["sessionId"] as? String)

        for path in [
            "/session/\(id)", "/session/alice-job", "/session/\(id)/dependency-graph", "/session/\(id)/logs",
            "/events/session?sessionId=\(id)",
        ] {
            #expect(try await bobClient.send(.GET, path).status == 404, "\(path)")
        }
        #expect(try await bobClient.send(.DELETE, "/session/\(id)").status == 404)
        #expect(try await bobClient.send(.GET, "/session/alice-job?owner_access_key=\(alice.accessKey)").status == 403)
        // Bob cannot depend on Alice's session either.
        let foreign = try await bobClient.send(.POST, "/session", json: Self.body("bob-job", dependencies: [id]))
        #expect(foreign.status == 400)
        // Bob's list does not show Alice's session; the admin's does.
        let listQuery = ["query": "query { compute_session_list(limit: 100, offset: 0) { items { name } total_count } }"]
        let bobList = try await bobClient.send(.POST, "/admin/gql", json: listQuery)
        #expect(bobList.text.contains(#""total_count":0"#), "\(bobList.text)")
        let adminList = try await manager.admin.send(.POST, "/admin/gql", json: listQuery)
        #expect(adminList.text.contains("alice-job"))
        let bobLookup = try await bobClient.send(.POST, "/admin/gql", json: ["query": "query { compute_session(id: \"\(id)\") { name } }"])
        #expect(bobLookup.text.contains(#""compute_session":null"#), "\(bobLookup.text)")

        #expect(try await aliceClient.send(.GET, "/session/alice-job").status == 200)
        let logs = try await aliceClient.send(.GET, "/session/alice-job/logs")
        #expect(logs.status == 200 && logs.text == #"{"result": {"logs": ""}}"#, "\(logs.text)")
        #expect(try await manager.admin.send(.GET, "/session/alice-job?owner_access_key=\(alice.accessKey)").status == 200)
        let destroyed = try await manager.admin.send(.DELETE, "/session/\(id)")
        #expect(destroyed.status == 200, "\(destroyed.text)")
        let after = try await aliceClient.send(.GET, "/session/\(id)")
        #expect(after.json?["status"] as? String == "CANCELLED")
        #expect(after.json?["statusInfo"] as? String == "user-requested")
        try await manager.stop()
    }
}

@Suite struct SessionEventStreamTests {
    @Test("session events carry log ids, and Last-Event-ID resumes with exactly what was missed")
    func resumeByLastEventID() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current())
        let admin = manager.admin
        let created = try await admin.send(.POST, "/session", json: SessionTests.body("stream-a"))
        let id = try #require(created.json?["sessionId"] as? String)
        let all = try await admin.events("/events/session?sessionId=\(id)&scope=*", count: 1)
        #expect(all.map(\.event) == ["session_enqueued"])
        let firstID = try #require(all.first?.id)
        #expect(all.first?.data.contains(#""sessionName": "stream-a""#) == true, "\(all)")

        // While nobody listens the session is cancelled; a reconnect from the first id gets the rest, once.
        #expect(try await admin.send(.DELETE, "/session/\(id)").status == 200)
        let resumed = try await admin.events("/events/session?sessionId=\(id)&scope=*", lastEventID: firstID, count: 2)
        #expect(resumed.map(\.event) == ["session_cancelled", "kernel_cancelled"])
        #expect(Set(resumed.compactMap(\.id)).count == 2 && !resumed.contains { $0.id == firstID })
        #expect(resumed.first?.data.contains(#""reason": "user-requested""#) == true)
        // Only session events with scope=session.
        let scoped = try await admin.events("/events/session?sessionId=\(id)&scope=session", count: 2)
        #expect(scoped.map(\.event) == ["session_enqueued", "session_cancelled"])

        let bad = try await HTTP.send(
            .GET, manager.endpoint + "/events/session?sessionId=\(id)",
            headers: admin.headers(method: "GET", pathAndQuery: "/events/session?sessionId=\(id)", contentType: nil)
                + [("Last-Event-ID", "abc")])
        #expect(bad.status == 400)
        try await manager.stop()
    }
}
