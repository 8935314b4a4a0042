import Foundation
import NIOHTTP1
import SchedulerKit
import Testing
@testable import ManagerCore

/// Single requests that once crashed, wedged or exhausted the daemon, and their variants, against a real daemon
/// with its process agent on. After each group: the daemon still answers, and at the end a normal batch session
/// still runs to SUCCESS on the same agent and the daemon's memory stayed bounded.
@Suite struct HostileInputTests {
    /// The daemon is alive and answering.
    static func answers(_ manager: ManagerProcess, after what: String) async throws {
        #expect(manager.isRunning, "the daemon died after \(what): \(manager.log().suffix(2000))")
        let health = try await HTTP.get("\(manager.endpoint)/")
        #expect(health.status == 200, "no answer after \(what)")
    }

    static func problem(_ result: HTTPResult) -> String { (result.json?["msg"] as? String) ?? result.text }

    @Test("overflowing dates, deep GraphQL, diamond graphs, non-string environ and NUL in every field: 4xx, and the daemon and its agent go on")
    func hostileRequests() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment, localAgent: .init(cpu: "4", mem: "4g"))
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let probe = SessionProbe(pool: pool)
        let admin = manager.admin
        let rssAtStart = try #require(manager.residentMiB())

        // 1. Dates that overflowed HTTPDate.parse (unauthenticated: before any key is looked up), and signed ones.
        let dates = [
            "Sun, 22 Nov 2026 3000000000000000:00:00 GMT", "Sun, 22 Nov 99999999999999999999 09:52:19 GMT",
            "Sun, 9223372036854775807 Nov 2026 09:52:19 GMT", "Sun, 22 Nov -9223372036854775808 00:00:00 GMT",
            "Sun, 31 Feb 2026 09:52:19 GMT", "9999-12-31T23:59:60-23:59", "0000-01-01T00:00:00Z",
            "2026-11-22T09:48:51." + String(repeating: "9", count: 5000) + "Z", "2026-13-45T99:99:99Z",
        ]
        for date in dates {
            let unsigned = try await HTTP.send(.GET, "\(manager.endpoint)/session/x", headers: [
                ("Date", date), ("Authorization", "BackendAI signMethod=HMAC-SHA256, credential=AKIANOSUCHKEY:00"),
            ])
            #expect(unsigned.status == 401, "\(date.prefix(60)): \(unsigned.status) \(unsigned.text)")
            let signed = try await HTTP.send(
                .GET, "\(manager.endpoint)/session/x",
                headers: admin.headers(method: "GET", pathAndQuery: "/session/x", contentType: "text/plain", date: date))
            #expect(signed.status == 401, "\(date.prefix(60)): \(signed.status) \(signed.text)")
        }
        let future = try await admin.send(.POST, "/session", json: [
            "name": "far-future", "image": "python:3.11", "starts_at": "99999-01-01T00:00:00Z",
        ])
        #expect(future.status == 400 && Self.problem(future).contains("starts_at"), "\(future.text)")
        try await Self.answers(manager, after: "overflowing dates")

        // 2. GraphQL nested thousands of levels deep, alias and fragment floods, costly lists: 400 naming the limit.
        let deep = "{ " + String(repeating: "a { ", count: 5000) + String(repeating: "} ", count: 5000) + "}"
        let deepFields = "{ " + String(repeating: "compute_session_list(limit: 1, offset: 0) { items { ", count: 8)
            + "id" + String(repeating: " } }", count: 8) + " }"
        let aliases = "{ " + (0..<200).map { "a\($0): agent_list(limit: 1, offset: 0) { total_count }" }.joined(separator: " ") + " }"
        // Eight fragments each spreading the one below eight times: 8^7 copies of a field once expanded.
        var fragments = "query { ...F7 } fragment F0 on Query { agent_list(limit: 1, offset: 0) { total_count } }"
        for level in 1..<8 {
            fragments += " fragment F\(level) on Query { " + String(repeating: "...F\(level - 1) ", count: 8) + "}"
        }
        // 100 sessions x 10 containers x 5 fields x 40 aliases.
        let costly = "{ compute_session_list(limit: 100, offset: 0) { items { "
            + (0..<40).map { "f\($0): containers { id status agent image registry }" }.joined(separator: " ") + " } } }"
        for (label, query, limit) in [("deep", deep, "max_depth"), ("deep fields", deepFields, "max_depth"), ("aliases", aliases, "max_aliases"),
                                      ("fragments", fragments, "max_fields"), ("cost", costly, "max_cost"),
                                      ("size", String(repeating: "{ __typename }", count: 10_000), "max_document_bytes")] {
            let answer = try await admin.send(.POST, "/admin/gql", json: ["query": query])
            #expect(answer.status == 400, "\(label): \(answer.status) \(answer.text.prefix(300))")
            #expect(Self.problem(answer).contains("graphql.\(limit)"), "\(label): \(answer.text.prefix(300))")
            #expect(answer.header("Content-Type")?.contains("problem+json") == true, "\(label)")
        }
        // Two equal definitions in one document trapped GraphQLSwift's validation (found by fuzzing): refused
        // before it, many times over, as the validation rules word it.
        let twice = "{ agent_list(limit: 1, offset: 0) { total_count } }"
        for (query, message) in [(twice + " " + twice, "anonymous operation must be the only"),
                                 ("query A " + twice + " query A " + twice, "only one operation named \"A\""),
                                 ("{ ...F } fragment F on Query { __typename } fragment F on Query { __typename }", "only one fragment named \"F\"")] {
            for _ in 0..<20 {
                let answer = try await admin.send(.POST, "/admin/gql", json: ["query": query])
                let errors = answer.json?["errors"] as? [[String: Any]]
                #expect(answer.status == 400 && (errors?.first?["message"] as? String ?? "").contains(message), "\(answer.text.prefix(300))")
            }
        }
        // A \u escape cut short at the end of the document trapped GraphQLSwift's lexer (found by fuzzing).
        for query in ["\"\\u", "{ agent_list(limit: 1, offset: 0, status: \"\\u12\") { total_count } }", "\"\\u00"] {
            let answer = try await admin.send(.POST, "/admin/gql", json: ["query": query])
            let errors = answer.json?["errors"] as? [[String: Any]]
            #expect(answer.status == 400 && (errors?.first?["message"] as? String ?? "").contains("escape"), "\(query): \(answer.text.prefix(300))")
        }
        // What the CLI sends still runs.
        let list = try await admin.send(.POST, "/admin/gql", json: [
            "query": "query($l: Int!) { compute_session_list(limit: $l, offset: 0) { items { id name status containers { id agent } dependencies { name id } } total_count } }",
            "variables": ["l": 100],
        ])
        #expect(list.status == 200 && list.json?["errors"] == nil, "\(list.text.prefix(300))")
        try await Self.answers(manager, after: "hostile GraphQL")

        // 3. The 26-layer diamond (each session depends on both of the layer below): each session shown once.
        let reserved = "2099-01-01T00:00:00Z"
        var below: [String] = []
        for layer in 0..<26 {
            var names: [String] = []
            for side in 0..<2 {
                let name = "dia-\(layer)-\(side)"
                let created = try await admin.send(.POST, "/session", json: [
                    "name": name, "image": "python:3.11", "starts_at": reserved, "dependencies": below, "enqueueOnly": true,
                ])
                #expect(created.status == 201, "\(name): \(created.text)")
                names.append(name)
            }
            below = names
        }
        let top = try await admin.send(.POST, "/session", json: [
            "name": "dia-top", "image": "python:3.11", "starts_at": reserved, "dependencies": below, "enqueueOnly": true,
        ])
        #expect(top.status == 201, "\(top.text)")
        let started = ContinuousClock.now
        let graph = try await admin.send(.GET, "/session/dia-top/dependency-graph")
        let took = ContinuousClock.now - started
        #expect(graph.status == 200, "\(graph.status) \(graph.text.prefix(300))")
        #expect(took < .seconds(10), "the graph took \(took)")
        var shown = Set<String>()
        var nodes = 0
        var pending: [[String: Any]] = graph.json.map { [$0] } ?? []
        while let node = pending.popLast() {
            nodes += 1
            if let name = node["session_name"] as? String { shown.insert(name) }
            pending += (node["depends_on"] as? [[String: Any]]) ?? []
        }
        #expect(shown.count == 53, "\(shown.count) sessions shown")
        #expect(nodes <= 1 + 2 * 53, "\(nodes) nodes for 53 sessions")
        // The CLI's two views of the graph still work.
        let cli = BackendAICLI(environment: environment, endpoint: manager.endpoint, accessKey: manager.adminAccessKey,
                               secretKey: manager.adminSecretKey)
        let table = try await cli.run(["session", "show-graph", "-t", "dia-top"])
        #expect(table.status == 0 && table.stdout.contains("dia-0-1") && table.stdout.contains("dia-top"), "\(table.stdout) \(table.stderr)")
        // A chain deeper than the graph's depth bound: cut at 100 levels, the cut node marked.
        var previous: String?
        for index in 0..<120 {
            let name = "chain-\(index)"
            let created = try await admin.send(.POST, "/session", json: [
                "name": name, "image": "python:3.11", "starts_at": reserved, "dependencies": previous.map { [$0] } ?? [],
            ])
            #expect(created.status == 201, "\(name): \(created.text)")
            previous = name
        }
        let chain = try await admin.send(.GET, "/session/chain-119/dependency-graph")
        #expect(chain.status == 200, "\(chain.text.prefix(300))")
        var depth = 0
        var cut: [String: Any]? = chain.json
        while let node = cut, let next = (node["depends_on"] as? [[String: Any]])?.first {
            depth += 1
            cut = next
        }
        #expect(depth + 1 == 100, "the chain was shown \(depth + 1) levels deep")
        #expect(cut?["truncated"] as? Bool == true, "\(String(describing: cut))")
        let tooMany = try await admin.send(.POST, "/session", json: [
            "name": "too-many-deps", "image": "python:3.11", "dependencies": (0..<65).map { "dep-\($0)" },
        ])
        #expect(tooMany.status == 400 && Self.problem(tooMany).contains("'dependencies'"), "\(tooMany.text)")
        try await Self.answers(manager, after: "the diamond")

        // 4. Non-string values in every map the agent reads, refused at enqueue naming the field.
        for (environ, field) in [(["A": 1] as [String: Any], "config.environ.A"), (["B": ["x": 1]], "config.environ.B"),
                                 (["C": NSNull()], "config.environ.C"), (["D": true], "config.environ.D"),
                                 (["E=F": "x"], "config.environ.E=F"), (["": "x"], "config.environ.")] {
            let answer = try await admin.send(.POST, "/session", json: [
                "name": "bad-environ", "image": "python:3.11", "type": "batch", "startupCommand": "true",
                "config": ["environ": environ],
            ])
            #expect(answer.status == 400 && Self.problem(answer).contains(field), "\(environ): \(answer.text)")
        }
        for (resources, field) in [(["cpu": ["n": 1]] as [String: Any], "config.resources.cpu"), (["mem": "1e30g"], "config.resources.mem")] {
            let answer = try await admin.send(.POST, "/session", json: ["name": "bad-slots", "image": "python:3.11", "config": ["resources": resources]])
            #expect(answer.status == 400 && Self.problem(answer).contains(field), "\(resources): \(answer.text)")
        }
        // A start command the agent cannot read (a row written before enqueue checked environ): the session ends
        // ERROR with the reason, the command is acknowledged, and the agent goes on with the next one.
        let poisoned = try await admin.send(.POST, "/session", json: [
            "name": "poisoned", "image": "python:3.11", "type": "batch", "startupCommand": "true", "starts_at": reserved,
        ])
        #expect(poisoned.status == 201, "\(poisoned.text)")
        _ = try await pool.query(
            "UPDATE sessions SET environ = '{\"A\": 1, \"B\": {\"c\": [1]}}'::jsonb, starts_at = now() WHERE name = 'poisoned'")
        // A change made behind the daemon's back announces itself, as its own writers do (or waits for the idle pass).
        _ = try await pool.query("SELECT pg_notify('scheduler_wakeup', 'default')")
        let failed = try await probe.waitFor(["poisoned"], in: ["ERROR"], timeout: .seconds(30))
        #expect(failed["poisoned"]?.statusInfo == "failed-to-start", "\(String(describing: failed["poisoned"]))")
        #expect(failed["poisoned"]?.result == "FAILURE")
        try await probe.wait("the poisoned command to be acknowledged", timeout: .seconds(20)) {
            try await pool.query("SELECT count(*) AS n FROM agent_commands WHERE acked_at IS NULL AND kind = 'start'").first?.decode("n", as: Int.self) == 0
        }
        try await Self.answers(manager, after: "a poisoned command")

        // 5. NUL in every text field, invalid UTF-8, NUL in a query: 400 naming the field, nothing stored.
        let base: [String: Any] = ["name": "nul-check", "image": "python:3.11", "type": "batch", "startupCommand": "true"]
        let nulCases: [(String, [String: Any])] = [
            ("name", ["name": "a\u{0}b"]), ("image", ["image": "py\u{0}"]), ("startupCommand", ["startupCommand": "echo \u{0}"]),
            ("tag", ["tag": "t\u{0}"]), ("group", ["group": "default\u{0}"]), ("callback_url", ["callback_url": "http://x/\u{0}"]),
            ("starts_at", ["starts_at": "2026-11-22T09:48:51Z\u{0}"]), ("bootstrap_script", ["bootstrap_script": "\u{0}"]),
            ("config.environ.A", ["config": ["environ": ["A": "x\u{0}y"]]]), ("config.environ", ["config": ["environ": ["A\u{0}": "x"]]]),
            ("config.mounts[0]", ["config": ["mounts": ["f\u{0}"]]]), ("config.mount_map.f", ["config": ["mount_map": ["f": "p\u{0}"]]]),
            ("dependencies[0]", ["dependencies": ["d\u{0}"]]), ("config.scalingGroup", ["config": ["scalingGroup": "default\u{0}"]]),
            ("owner_access_key", ["owner_access_key": "AK\u{0}"]), ("architecture", ["architecture": "x86\u{0}"]),
        ]
        for (field, patch) in nulCases {
            var body = base
            for (key, value) in patch { body[key] = value }
            let answer = try await admin.send(.POST, "/session", json: body)
            #expect(answer.status == 400 && Self.problem(answer).contains(field), "\(field): \(answer.status) \(answer.text)")
        }
        for path in ["/session/x%00y", "/session/x?owner_access_key=%00", "/session/x/logs?owner_access_key=a%00"] {
            let answer = try await admin.send(.GET, path)
            #expect((400..<500).contains(answer.status), "\(path): \(answer.status) \(answer.text)")
        }
        let folder = try await admin.send(.POST, "/folders", json: ["name": "nul\u{0}folder"])
        #expect(folder.status == 400, "\(folder.text)")
        let invalid = try await admin.send(.POST, "/session", rawBody: Data(#"{"name":"inv"#.utf8) + Data([0xc3, 0x28]) + Data(#"","image":"x"}"#.utf8))
        #expect(invalid.status == 400, "\(invalid.text)")
        let stored: Int = try await pool.query("SELECT count(*) AS n FROM sessions WHERE name LIKE 'nul%' OR name LIKE 'bad-%' OR name = 'inv'").first?.decode("n") ?? -1
        #expect(stored == 0)
        #expect(!manager.log().contains("unexpected error"), "\(manager.log().suffix(3000))")
        try await Self.answers(manager, after: "NUL and invalid UTF-8")

        // 6. The same agent still runs a normal session to SUCCESS, and memory stayed bounded.
        let normal = try await admin.send(.POST, "/session", json: [
            "name": "still-works", "image": "python:3.11", "type": "batch", "startupCommand": "echo fine",
            "config": ["environ": ["GREETING": "hello"]],
        ])
        #expect(normal.status == 201, "\(normal.text)")
        let done = try await probe.waitFor(["still-works"], in: ["TERMINATED", "ERROR", "CANCELLED"], timeout: .seconds(60))
        #expect(done["still-works"]?.result == "SUCCESS" && done["still-works"]?.agentID == "local", "\(String(describing: done["still-works"]))")
        let rss = try #require(manager.residentMiB())
        #expect(rss < max(300, rssAtStart * 4), "RSS \(rss) MiB (was \(rssAtStart) MiB at start)")
        try await manager.stop()
    }
}
