import Foundation
import HTTPTypes
import NIOHTTP1
import Testing
@testable import ManagerCore

/// The web view (`/ui/`): sign-in by cookie, CSRF and origin checks over raw HTTP, and what a person sees in a real
/// headless Chromium driven by selenium (`Support/web_ui.py`): a waiting session and its reason, a chain drawn as a
/// DAG turning green, a clone's progress bar reaching 100 %, isolation between users, sign-out, a cross-site form.
/// Screenshots go to `$MANAGER_TEST_OUTPUT/web/<scenario>/` (scripts/test.sh: `test-output/`).
/// One at a time: each browser scenario runs a Chromium (several hundred MB and most of a core while it loads), and
/// four at once starved the timing-sensitive tests running beside them.
@Suite(.serialized) struct WebViewTests {
    /// Runs one browser scenario; its assertion message and the page text come back on failure.
    static func browse(_ scenario: String, _ arguments: [String: Any]) async throws {
        let environment = try TestEnvironment.current()
        let output = ProcessInfo.processInfo.environment["MANAGER_TEST_OUTPUT"].map { URL(fileURLWithPath: $0) }
            ?? environment.workDirectory.appendingPathComponent("test-output")
        let shots = output.appendingPathComponent("web").appendingPathComponent(scenario)
        var arguments = arguments
        arguments["shots"] = shots.path
        let text = String(decoding: try JSONSerialization.data(withJSONObject: arguments), as: UTF8.self)
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("Tests/ManagerIntegrationTests/Support/web_ui.py").path
        let run = try await runProcess(try environment.browserPython, [script, scenario, text], timeout: .seconds(180))
        #expect(run.status == 0, "browser scenario \(scenario) failed:\n\(run.stderr.suffix(6000))")
    }

    /// Signs in over HTTP as the page does; the cookie header to send back and the CSRF token.
    static func signIn(_ manager: ManagerProcess, accessKey: String, secretKey: String) async throws -> (cookie: String, csrf: String, setCookie: String) {
        let response = try await HTTP.send(
            .POST, manager.endpoint + "/ui/sign-in", headers: [("Content-Type", "application/json")],
            body: try JSONSerialization.data(withJSONObject: ["access_key": accessKey, "secret_key": secretKey]))
        #expect(response.status == 200, "\(response.text)")
        let setCookie = try #require(response.header("Set-Cookie"))
        let cookie = String(setCookie.split(separator: ";")[0])
        let csrf = try #require(response.json?["csrf_token"] as? String)
        return (cookie, csrf, setCookie)
    }

    static func pendingSession(_ client: SignedClient, _ name: String) async throws -> String {
        let created = try await client.send(.POST, "/session", json: [
            "name": name, "type": "batch", "image": "python:3.11", "startupCommand": "true", "enqueueOnly": true,
            "starts_at": "2099-01-01T00:00:00+00:00", "config": ["resources": ["cpu": "1", "mem": "256m"]],
        ])
        #expect(created.status == 201, "\(created.text)")
        return try #require(created.json?["sessionId"] as? String)
    }

    @Test("sign-in sets an HttpOnly SameSite=Strict cookie; state changes need the CSRF token and our Origin; sign-out revokes; bad input is a 4xx")
    func cookieAndCSRF() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment)
        let user = try await manager.createUserKeypair(email: "web-csrf@example.com")
        let client = SignedClient(endpoint: manager.endpoint, accessKey: user.accessKey, secretKey: user.secretKey)
        let sessionID = try await Self.pendingSession(client, "web-csrf")

        // The page and its headers.
        let page = try await HTTP.get(manager.endpoint + "/ui/")
        #expect(page.status == 200)
        #expect(page.header("Content-Security-Policy")?.contains("script-src 'self'") == true)
        #expect(page.header("Content-Security-Policy")?.contains("frame-ancestors 'none'") == true)
        #expect(page.header("X-Content-Type-Options") == "nosniff")
        #expect(page.text.contains("/ui/app.js"))
        let etag = try #require(page.header("ETag"))
        #expect(try await HTTP.send(.GET, manager.endpoint + "/ui/", headers: [("If-None-Match", etag)]).status == 304)
        #expect(try await HTTP.get(manager.endpoint + "/ui/no-such.js").status == 404)
        #expect(try await HTTP.get(manager.endpoint + "/ui/..%2F..%2Fconfig.toml").status == 404)
        let total = try FileManager.default.contentsOfDirectory(atPath: TestEnvironment.repositoryRoot.appendingPathComponent("Web").path)
            .reduce(0) { sum, name in
                sum + ((try? FileManager.default.attributesOfItem(
                    atPath: TestEnvironment.repositoryRoot.appendingPathComponent("Web/\(name)").path)[.size] as? Int) ?? 0)
            }
        #expect(total < 300_000, "the web view's files are \(total) bytes")

        // No sign-in: 401 problem+json, never the API's data.
        let anonymous = try await HTTP.get(manager.endpoint + "/ui/api/scheduler/queues")
        #expect(anonymous.status == 401)
        #expect(anonymous.header("Content-Type")?.contains("problem+json") == true)
        let forged = try await HTTP.send(.GET, manager.endpoint + "/ui/api/scheduler/queues", headers: [("Cookie", "bai_ui=" + String(repeating: "A", count: 43))])
        #expect(forged.status == 401)

        // Wrong credentials and malformed bodies.
        let wrong = try await HTTP.send(
            .POST, manager.endpoint + "/ui/sign-in", headers: [("Content-Type", "application/json")],
            body: Data(#"{"access_key": "\#(user.accessKey)", "secret_key": "nope"}"#.utf8))
        #expect(wrong.status == 401, "\(wrong.text)")
        for (body, field) in [(#"{"access_key": 5}"#, "'access_key'"), (#"[1]"#, "JSON object"), (#"{"email": "a@b.c"}"#, "'password'"), ("{", "not valid JSON")] {
            let bad = try await HTTP.send(.POST, manager.endpoint + "/ui/sign-in", headers: [("Content-Type", "application/json")], body: Data(body.utf8))
            #expect(bad.status == 400, "\(body): \(bad.status) \(bad.text)")
            #expect(bad.text.contains(field), "\(body): \(bad.text)")
        }

        let (cookie, csrf, setCookie) = try await Self.signIn(manager, accessKey: user.accessKey, secretKey: user.secretKey)
        for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age=3600"] {
            #expect(setCookie.contains(attribute), "\(setCookie)")
        }
        let me = try await HTTP.send(.GET, manager.endpoint + "/ui/me", headers: [("Cookie", cookie)])
        #expect(me.json?["access_key"] as? String == user.accessKey)

        // Reads work with the cookie alone, as the same keypair through the API (with its rate-limit budget).
        var queues = try await HTTP.send(.GET, manager.endpoint + "/ui/api/scheduler/queues", headers: [("Cookie", cookie)])
        #expect(queues.status == 200, "\(queues.text)")
        try await eventually("a pass records why it waits") {
            queues = try await HTTP.send(.GET, manager.endpoint + "/ui/api/scheduler/queues", headers: [("Cookie", cookie)])
            return queues.text.contains("reserved_time")
        }
        #expect(queues.header("Cache-Control") == "no-store")
        // The forwarded path cannot reach the agent or storage protocols, or loop.
        for path in ["/ui/api/agent-rpc/heartbeat", "/ui/api/ui/me", "/ui/api/storage/download"] {
            #expect(try await HTTP.send(.POST, manager.endpoint + path, headers: [("Cookie", cookie), ("X-CSRF-Token", csrf)]).status == 404, "\(path)")
        }

        // State changes: no token → 403; a wrong token → 403; a foreign Origin → 403, even with the token.
        let url = manager.endpoint + "/ui/api/session/" + sessionID
        let noToken = try await HTTP.send(.DELETE, url, headers: [("Cookie", cookie)])
        #expect(noToken.status == 403 && noToken.text.contains("csrf-failed"), "\(noToken.text)")
        #expect(try await HTTP.send(.DELETE, url, headers: [("Cookie", cookie), ("X-CSRF-Token", String(csrf.reversed()))]).status == 403)
        let foreign = try await HTTP.send(.DELETE, url, headers: [("Cookie", cookie), ("X-CSRF-Token", csrf), ("Origin", "http://evil.example")])
        #expect(foreign.status == 403, "\(foreign.text)")
        #expect(try await client.send(.GET, "/session/\(sessionID)").json?["status"] as? String == "PENDING")
        let allowed = try await HTTP.send(
            .DELETE, url, headers: [("Cookie", cookie), ("X-CSRF-Token", csrf), ("Origin", manager.endpoint)])
        #expect(allowed.status == 200 || allowed.status == 204, "\(allowed.status) \(allowed.text)")

        // Sign-out needs the token too, then the cookie is worthless.
        #expect(try await HTTP.send(.POST, manager.endpoint + "/ui/sign-out", headers: [("Cookie", cookie)]).status == 403)
        let out = try await HTTP.send(.POST, manager.endpoint + "/ui/sign-out", headers: [("Cookie", cookie), ("X-CSRF-Token", csrf)])
        #expect(out.status == 204)
        #expect(out.header("Set-Cookie")?.contains("Max-Age=0") == true)
        #expect(try await HTTP.send(.GET, manager.endpoint + "/ui/api/scheduler/queues", headers: [("Cookie", cookie)]).status == 401)
        #expect(try await HTTP.send(.GET, manager.endpoint + "/ui/me", headers: [("Cookie", cookie)]).status == 401)

        // Deactivating the keypair ends its sign-ins.
        let (second, _, _) = try await Self.signIn(manager, accessKey: user.accessKey, secretKey: user.secretKey)
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        _ = try await pool.query("UPDATE keypairs SET is_active = false WHERE access_key = \(user.accessKey)")
        try await eventually("the deactivated keypair's cookie is refused", timeout: .seconds(15)) {
            try await HTTP.send(.GET, manager.endpoint + "/ui/me", headers: [("Cookie", second)]).status == 401
        }
    }

    @Test("email and password sign in to the user's keypair; a user without a keypair cannot; guessing is limited per address; bad parameters are 400s")
    func passwordSignInAndLimits() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment)
        let cli = BackendAICLI(environment: environment, endpoint: manager.endpoint, accessKey: manager.adminAccessKey, secretKey: manager.adminSecretKey)
        let added = try await cli.run(["admin", "user", "add", "default", "web-ada@example.com", "correct-horse-battery"])
        #expect(added.status == 0, "\(added.stdout) \(added.stderr)")
        func signIn(_ body: String) async throws -> HTTPResult {
            try await HTTP.send(.POST, manager.endpoint + "/ui/sign-in", headers: [("Content-Type", "application/json")], body: Data(body.utf8))
        }
        // No keypair yet: refused like a wrong password.
        #expect(try await signIn(#"{"email": "web-ada@example.com", "password": "correct-horse-battery"}"#).status == 401)
        let keypair = try await cli.run(["admin", "keypair", "add", "web-ada@example.com", "default"])
        #expect(keypair.status == 0, "\(keypair.stdout) \(keypair.stderr)")
        let accessKey = try #require(keypair.stdout.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).first { $0.hasPrefix("AKIA") })
        let good = try await signIn(#"{"email": "web-ada@example.com", "password": "correct-horse-battery"}"#)
        #expect(good.status == 200, "\(good.text)")
        #expect(good.json?["access_key"] as? String == String(accessKey))
        #expect(good.json?["is_admin"] as? Bool == false)
        #expect(try await signIn(#"{"email": "web-ada@example.com", "password": "wrong-horse-battery"}"#).status == 401)
        #expect(try await signIn(#"{"email": "nobody@example.com", "password": "correct-horse-battery"}"#).status == 401)

        // Only the newest max_sessions_per_key (10) sign-ins of a keypair are kept.
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let cookie = String(try #require(good.header("Set-Cookie")).split(separator: ";")[0])
        for _ in 0..<10 {
            _ = try await signIn(#"{"access_key": "\#(manager.adminAccessKey)", "secret_key": "\#(manager.adminSecretKey)"}"#)
        }
        let kept: Int = try #require(try await pool.query(
            "SELECT count(*)::int AS n FROM web_sessions WHERE access_key = \(manager.adminAccessKey)").first?.decode("n"))
        #expect(kept == 10)
        // Ada's own sign-in is untouched by the admin's.
        #expect(try await HTTP.send(.GET, manager.endpoint + "/ui/me", headers: [("Cookie", cookie)]).status == 200)

        // Parameters of the routes the view uses.
        for (path, expected) in [
            ("/ui/api/bgtasks?limit=0", 400), ("/ui/api/bgtasks?limit=x", 400), ("/ui/api/events/session?since=yesterday", 400),
            ("/ui/api/events/session?since=now&owner_access_key=*", 403), ("/ui/api/bgtasks", 200),
        ] {
            let response = try await HTTP.send(.GET, manager.endpoint + path, headers: [("Cookie", cookie)], timeout: .seconds(5))
            #expect(response.status == expected, "\(path): \(response.status) \(response.text)")
        }

        // 20 attempts from one address, then 429 (whatever the credentials); the budget refills slowly.
        var statuses: [Int] = []
        for _ in 0..<25 { statuses.append(try await signIn(#"{"access_key": "AKIAGUESS", "secret_key": "guess"}"#).status) }
        #expect(statuses.contains(429), "\(statuses)")
        #expect(Set(statuses).isSubset(of: [401, 429]), "\(statuses)")
        let limited = try await signIn(#"{"access_key": "\#(manager.adminAccessKey)", "secret_key": "\#(manager.adminSecretKey)"}"#)
        #expect(limited.status == 429 && limited.header("Retry-After") != nil, "\(limited.status)")
    }

    @Test("the cookie parser takes only a well-formed token of its own name, from any header text")
    func cookieParsing() throws {
        let token = String(repeating: "a", count: 21) + "-_" + String(repeating: "Z", count: 20)
        func find(_ headers: [String]) -> String? {
            var fields = HTTPFields()
            for header in headers { fields.append(HTTPField(name: .cookie, value: header)) }
            return WebCookie.find(in: fields)?.token
        }
        #expect(find(["bai_ui=\(token)"]) == token)
        #expect(find(["theme=dark; bai_ui=\(token); other=1"]) == token)
        #expect(find(["theme=dark", "bai_ui=\(token)"]) == token)
        #expect(find(["bai_ui=\(token)x"]) == nil)
        #expect(find(["bai_ui=\(token.dropLast())"]) == nil)
        #expect(find(["bai_ui=\(token.dropLast())="]) == nil)
        #expect(find(["xbai_ui=\(token)"]) == nil)
        #expect(find(["bai_ui="]) == nil)
        #expect(find(["=;=;;bai_ui"]) == nil)
        #expect(find([""]) == nil)
        #expect(WebCookie.random().token.count == WebCookie.tokenLength)
        #expect(WebCookie.random() != WebCookie.random())
        #expect(WebCookie(token: token).hash.count == 64)
        #expect(WebCookie(token: token).setCookie(maxAge: .seconds(60), secure: true).hasSuffix("HttpOnly; SameSite=Strict; Secure"))
    }

    @Test("browser: sign in, see a session waiting with its reason in the queue, the list and its page; sign-out ends access")
    func waitingSession() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment, localAgent: .init())
        let user = try await manager.createUserKeypair(email: "web-wait@example.com")
        let client = SignedClient(endpoint: manager.endpoint, accessKey: user.accessKey, secretKey: user.secretKey)
        let sessionID = try await Self.pendingSession(client, "web-waiting")
        try await eventually("the pass records the reason") {
            (try await client.send(.GET, "/scheduler/queues").text).contains("reserved_time")
        }
        try await Self.browse("waiting", [
            "endpoint": manager.endpoint, "access_key": user.accessKey, "secret_key": user.secretKey,
            "session_id": sessionID, "group": "default",
        ])
    }

    @Test("browser: a chain of three sessions drawn as a DAG turns green as they finish")
    func chainTurnsGreen() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment, localAgent: .init())
        let admin = manager.admin
        var chain: [String] = []
        for (index, name) in ["web-chain-a", "web-chain-b", "web-chain-c"].enumerated() {
            let created = try await admin.send(.POST, "/session", json: [
                "name": name, "type": "batch", "image": "python:3.11", "startupCommand": "sleep \(index == 0 ? 6 : 3)",
                "enqueueOnly": true, "dependencies": Array(chain.suffix(1)), "config": ["resources": ["cpu": "1", "mem": "256m"]],
            ])
            #expect(created.status == 201, "\(created.text)")
            chain.append(try #require(created.json?["sessionId"] as? String))
        }
        try await Self.browse("chain", [
            "endpoint": manager.endpoint, "access_key": manager.adminAccessKey, "secret_key": manager.adminSecretKey,
            "chain": chain, "last": chain[2],
        ])
    }

    @Test("browser: a clone's progress bar moves with its progress events and reaches 100 %")
    func cloneProgress() async throws {
        let setup = try await VFolderTests.setUp(rateLimit: "2m")
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let created = try await setup.cli.run(["vfolder", "create", "web-src", "local:volume1", "--cloneable"])
        #expect(created.status == 0, "\(created.stderr)")
        try TreeSnapshot.populate(try await setup.path(of: "web-src"), sizes: [12 << 20, 8 << 20])
        let started = try await setup.admin.send(.POST, "/folders/web-src/clone", json: ["target_name": "web-dst", "target_host": "local:volume1"])
        let taskID = try #require(started.json?["bgtask_id"] as? String, "\(started.text)")
        try await Self.browse("clone", [
            "endpoint": setup.manager.endpoint, "access_key": setup.manager.adminAccessKey, "secret_key": setup.manager.adminSecretKey,
            "task_id": taskID,
        ])
        #expect(try await setup.task(taskID).status == "done")
    }

    @Test("browser: another user sees neither the session in the list nor its page by URL; admin views refuse them")
    func isolation() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment)
        let alice = try await manager.createUserKeypair(email: "web-alice@example.com")
        let bob = try await manager.createUserKeypair(email: "web-bob@example.com")
        let aliceClient = SignedClient(endpoint: manager.endpoint, accessKey: alice.accessKey, secretKey: alice.secretKey)
        let sessionID = try await Self.pendingSession(aliceClient, "web-private")
        try await Self.browse("isolation", [
            "endpoint": manager.endpoint, "access_key": bob.accessKey, "secret_key": bob.secretKey,
            "foreign_id": sessionID, "foreign_key": alice.accessKey,
        ])
    }

    @Test("browser: a cross-site form post does nothing; the page's own fetch needs the CSRF token")
    func crossSite() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment)
        let user = try await manager.createUserKeypair(email: "web-xsite@example.com")
        let client = SignedClient(endpoint: manager.endpoint, accessKey: user.accessKey, secretKey: user.secretKey)
        let sessionID = try await Self.pendingSession(client, "web-xsite")
        // Another site (localhost is not 127.0.0.1's site) whose page posts two forms at the daemon.
        let site = try environment.scratchDirectory("evil-site")
        let target = manager.endpoint + "/ui/api"
        try """
            <!doctype html><html><body>
            <iframe name="sink"></iframe>
            <form id="out" method="post" action="\(manager.endpoint)/ui/sign-out" target="sink"></form>
            <form id="create" method="post" action="\(target)/session" enctype="text/plain">
            <input name='{"name":"forged","image":"python:3.11","enqueueOnly":true,"x":"' value='"}'></form>
            <script>document.getElementById('out').submit(); setTimeout(() => document.getElementById('create').submit(), 300);</script>
            </body></html>
            """.write(to: site.appendingPathComponent("evil.html"), atomically: true, encoding: .utf8)
        let port = try freePort()
        let server = try spawn(
            "/usr/bin/python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", site.path],
            environment: ProcessInfo.processInfo.environment, currentDirectory: site,
            stdin: "/dev/null", stdout: site.appendingPathComponent("out").path, stderr: site.appendingPathComponent("err").path)
        defer { kill(server, SIGKILL); var status: Int32 = 0; waitpid(server, &status, 0) }
        try await eventually("the other site serves") { (try? await HTTP.get("http://127.0.0.1:\(port)/evil.html"))?.status == 200 }
        try await Self.browse("cross_site", [
            "endpoint": manager.endpoint, "access_key": user.accessKey, "secret_key": user.secretKey,
            "evil": "http://localhost:\(port)", "session_id": sessionID,
        ])
        // The forged create never reached the API.
        #expect(try await client.send(.GET, "/session/forged").status == 404)
    }

    @Test("browser: an admin's agents and webhook views (a refused delivery redelivered from the page); a narrow window; no console errors")
    func adminViews() async throws {
        let environment = try TestEnvironment.current()
        // An endpoint on loopback, which the delivery policy refuses: a finished session leaves refused deliveries.
        let manager = try await ManagerProcess(environment, extraConfig: """
            [[webhooks]]
            name = "internal"
            url = "http://127.0.0.1:9/hook"
            """, localAgent: .init())
        try await eventually("the local agent joined") {
            (try await manager.admin.send(.GET, "/scheduler/queues").text).contains("\"ALIVE\"")
        }
        let created = try await manager.admin.send(.POST, "/session", json: [
            "name": "web-hooked", "type": "batch", "image": "python:3.11", "startupCommand": "true", "enqueueOnly": true,
            "config": ["resources": ["cpu": "1", "mem": "256m"]],
        ])
        #expect(created.status == 201, "\(created.text)")
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        try await eventually("a refused delivery") {
            try await pool.query("SELECT 1 FROM webhook_deliveries WHERE status = 'refused'").count > 0
        }
        let before: Int = try #require(try await pool.query(
            "SELECT coalesce(sum(attempts), 0)::int AS n FROM webhook_deliveries").first?.decode("n"))
        try await Self.browse("views", [
            "endpoint": manager.endpoint, "access_key": manager.adminAccessKey, "secret_key": manager.adminSecretKey, "agent": "local",
        ])
        // The page's Redeliver put the delivery back in the queue, and the dispatcher tried it again.
        try await eventually("the redelivered delivery was tried again") {
            let after: Int = try #require(try await pool.query(
                "SELECT coalesce(sum(attempts), 0)::int AS n FROM webhook_deliveries").first?.decode("n"))
            return after > before
        }
    }
}
