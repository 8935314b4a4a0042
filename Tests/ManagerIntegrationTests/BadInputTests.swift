import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

/// What generators miss, sent byte for byte: each gets a clear 4xx and the database is unchanged afterwards.
@Suite struct BadInputTests {
    struct Case: Sendable, CustomStringConvertible {
        let label: String
        let path: String
        let body: Data
        let status: Int
        /// A text the answer must contain (the field or key it names).
        let names: String
        var description: String { self.label }
    }

    static func json(_ text: String) -> Data { Data(text.utf8) }

    @Test("invalid UTF-8, deep nesting, duplicate keys, huge bodies, bad GraphQL variables, hostile names: 4xx, nothing written")
    func hostileBodies() async throws {
        let environment = try TestEnvironment.current()
        let setup = try await VFolderTests.setUp(serverConfig: "body_read_timeout = \"2s\"\nidle_timeout = \"3s\"")
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let manager = setup.manager
        let before = try await Self.counts(setup.pool)
        let deepArray = Data(repeating: UInt8(ascii: "["), count: 100_000) + Data(repeating: UInt8(ascii: "]"), count: 100_000)
        let deepObject = Self.json(String(repeating: #"{"a":"#, count: 40_000) + "1" + String(repeating: "}", count: 40_000))
        let long = String(repeating: "x", count: 10_000)
        let cases: [Case] = [
            Case(label: "invalid UTF-8 in a string", path: "/session",
                 body: Self.json(#"{"name":"ab"#) + Data([0xff, 0xfe, 0xc3]) + Self.json(#"cd","image":"python:3.11"}"#),
                 status: 400, names: "not valid JSON"),
            Case(label: "100,000 nested arrays", path: "/session", body: deepArray, status: 400, names: "not valid JSON"),
            Case(label: "40,000 nested objects", path: "/folders", body: deepObject, status: 400, names: "not valid JSON"),
            Case(label: "nested GraphQL variables", path: "/admin/gql",
                 body: Self.json(#"{"query":"{ keypair { access_key } }","variables":"#) + deepObject + Self.json("}"),
                 status: 400, names: "not valid JSON"),
            Case(label: "a body over max_body_size", path: "/session",
                 body: Self.json(#"{"image":"python:3.11","tag":""# + String(repeating: "y", count: 1 << 20) + #""}"#),
                 status: 413, names: "too-large"),
            Case(label: "duplicate keys", path: "/session",
                 body: Self.json(#"{"name":"dup-keys","image":"python:3.11","image":"evil:latest","enqueueOnly":true}"#),
                 status: 400, names: "'image' appears twice"),
            Case(label: "duplicate keys, nested", path: "/session",
                 body: Self.json(#"{"name":"dup-nested","image":"python:3.11","config":{"resources":{"cpu":1,"cpu":64}}}"#),
                 status: 400, names: "'cpu' appears twice"),
            Case(label: "duplicate keys in a folder request", path: "/folders",
                 body: Self.json(#"{"name":"a-folder","name":"../../etc"}"#), status: 400, names: "'name' appears twice"),
            Case(label: "a JSON array as the body", path: "/session", body: Self.json("[1,2]"), status: 400, names: "JSON object"),
            Case(label: "a JSON string as the body", path: "/folders", body: Self.json(#""name""#), status: 400, names: "JSON object"),
            Case(label: "a form instead of JSON", path: "/session", body: Self.json("name=x&image=y"), status: 400,
                 names: "not valid JSON"),
            Case(label: "GraphQL variable of the wrong type", path: "/admin/gql",
                 body: Self.json(#"{"query":"query($id: UUID!) { compute_session(id: $id) { name } }","variables":{"id":123}}"#),
                 status: 400, names: "$id"),
            Case(label: "GraphQL variable missing", path: "/admin/gql",
                 body: Self.json(#"{"query":"query($id: UUID!) { compute_session(id: $id) { name } }"}"#),
                 status: 400, names: "$id"),
            Case(label: "GraphQL variables not an object", path: "/admin/gql",
                 body: Self.json(#"{"query":"{ keypair { access_key } }","variables":[1]}"#), status: 400, names: "variables"),
            Case(label: "GraphQL syntax error", path: "/admin/gql",
                 body: Self.json(#"{"query":"{ compute_session_list(limit: "}"#), status: 400, names: "Syntax Error"),
            Case(label: "a session name with ..", path: "/session",
                 body: Self.json(#"{"name":"../../etc","image":"python:3.11"}"#), status: 400, names: "'name'"),
            Case(label: "a session name with NUL", path: "/session",
                 body: Self.json(#"{"name":"abc\u0000def","image":"python:3.11"}"#), status: 400, names: "'name'"),
            Case(label: "a 10,000-character session name", path: "/session",
                 body: Self.json(#"{"name":"\#(long)","image":"python:3.11"}"#), status: 400, names: "'name'"),
            Case(label: "a 10,000-character image", path: "/session",
                 body: Self.json(#"{"name":"long-image","image":"\#(long)"}"#), status: 400, names: "'image'"),
            Case(label: "a dependency list of 10,000-character names", path: "/session",
                 body: Self.json(#"{"name":"long-deps","image":"python:3.11","dependencies":["\#(long)"]}"#), status: 400,
                 names: "'dependencies'"),
            Case(label: "a folder name with /", path: "/folders", body: Self.json(#"{"name":"a/b"}"#), status: 400, names: "'name'"),
            Case(label: "a folder name with NUL", path: "/folders", body: Self.json(#"{"name":"a\u0000b"}"#), status: 400,
                 names: "'name'"),
            Case(label: "a folder name ..", path: "/folders", body: Self.json(#"{"name":".."}"#), status: 400, names: "'name'"),
            Case(label: "a 10,000-character folder name", path: "/folders", body: Self.json(#"{"name":"\#(long)"}"#), status: 400,
                 names: "'name'"),
            Case(label: "a mount alias escaping the work folder", path: "/session",
                 body: Self.json(#"{"name":"escape","image":"python:3.11","config":{"mounts":["x"],"mount_map":{"x":"/home/work/../../etc"}}}"#),
                 status: 400, names: "mount_map"),
        ]
        for item in cases {
            let request = RawRequest.signed(manager.admin, method: "POST", path: item.path, body: item.body)
            let result = try await request.send(port: manager.port, environment: environment)
            #expect(result.status == item.status, "\(item): \(result.status.map(String.init) ?? result.error ?? "-") \(result.body.prefix(300))")
            #expect(result.body.contains(item.names), "\(item): \(result.body.prefix(300))")
        }

        // A body that stops arriving: 408 after body_read_timeout (2 s here), and the connection is closed.
        let body = try JSONSerialization.data(withJSONObject: ["name": "never-finished", "image": "python:3.11", "enqueueOnly": true])
        var stalled = RawRequest.signed(manager.admin, method: "POST", path: "/session", body: body, pieces: 2)
        stalled.pauses = [8]
        let timedOut = try await stalled.send(port: manager.port, environment: environment)
        #expect(timedOut.status == 408, "\(timedOut)")
        #expect(timedOut.head.lowercased().contains("connection: close"), "\(timedOut.head)")
        #expect(timedOut.json?["type"] as? String == "https://api.backend.ai/probs/request-timeout")

        // Headers that stop arriving: the connection is closed after idle_timeout (3 s here).
        let stalledHead = RawRequest(parts: [Data("GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8)], readTimeout: 20)
        let closed = try await stalledHead.send(port: manager.port, environment: environment)
        #expect(closed.status == nil && closed.elapsed >= 2.5 && closed.elapsed < 15, "\(closed)")

        // 200 KB of headers: refused by the HTTP parser with 400 and the connection closed.
        let oversized = RawRequest.signed(
            manager.admin, method: "POST", path: "/session", body: body, extraHeaders: [("X-Padding", String(repeating: "p", count: 200_000))])
        let refused = try await oversized.send(port: manager.port, environment: environment)
        #expect(refused.status == 400 || refused.status == 431, "\(refused.status.map(String.init) ?? refused.error ?? "-")")

        // `Expect: 100-continue` (curl asks it for large uploads): 100 Continue on the head, then the final answer
        // (here a 400: the body names no image, so nothing is written).
        var expecting = RawRequest.signed(
            manager.admin, method: "POST", path: "/session", body: Data(#"{"name": "expects-continue"}"#.utf8),
            extraHeaders: [("Expect", "100-continue")], pieces: 2)
        expecting.pauses = [0.3]
        let continued = try await expecting.send(port: manager.port, environment: environment)
        #expect(continued.status == 100 && continued.body.hasPrefix("HTTP/1.1 400"), "\(continued)")

        // Nothing was written, nothing crashed, and the daemon still serves.
        #expect(try await Self.counts(setup.pool) == before)
        #expect(try await HTTP.get("\(manager.endpoint)/health").status == 200)
        #expect(!manager.log().contains("unexpected error"))
        try await manager.stop()
    }

    static func counts(_ pool: PostgresPool) async throws -> [Int] {
        var counts: [Int] = []
        for table in ["sessions", "vfolders", "events", "background_tasks", "scaling_groups"] {
            let n: Int = try await pool.query(SQL(unsafeText: "SELECT count(*)::int AS n FROM \(table)")).first?.decode("n") ?? -1
            counts.append(n)
        }
        return counts
    }
}
