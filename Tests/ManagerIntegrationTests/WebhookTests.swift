import Crypto
import Foundation
import NIOHTTP1
import SchedulerKit
import Testing
@testable import ManagerCore

/// Durable webhooks, against a real receiver process: order, signatures, retries, restarts, refused destinations.
@Suite struct WebhookTests {
    static let secret = "endpoint-secret"
    static let callbackSecret = "callback-secret"

    static func config(_ receiver: WebhookReceiver, extra: String = "") -> String {
        """
        [webhook_delivery]
        callback_secret = "\(Self.callbackSecret)"
        retry_base = "200ms"
        retry_max = "1s"
        allowed_destinations = ["127.0.0.1"]
        \(extra)
        [[webhooks]]
        name = "ops"
        url = "\(receiver.url("/ops"))"
        secret = "\(Self.secret)"
        """
    }

    struct Delivery {
        let request: WebhookReceiver.Request
        let payload: [String: Any]
        var event: String { self.payload["event"] as? String ?? "" }
        var sessionName: String { self.payload["session_name"] as? String ?? "" }
        var id: String { self.request.headers["x-webhook-id"] ?? "" }
    }

    /// The accepted (200) deliveries, after checking each one's signature and id.
    static func accepted(_ receiver: WebhookReceiver) throws -> [Delivery] {
        try receiver.requests().filter { $0.status == 200 }.map { request in
            let payload = try #require(try JSONSerialization.jsonObject(with: Data(request.body.utf8)) as? [String: Any])
            let timestamp = try #require(request.headers["x-webhook-timestamp"].flatMap(Int.init))
            let secret = request.path == "/ops" ? Self.secret : Self.callbackSecret
            #expect(request.headers["x-webhook-signature"] == Self.sign(request.body, timestamp: timestamp, secret: secret),
                    "signature of \(request.body)")
            #expect(abs(Double(timestamp) - Date().timeIntervalSince1970) < 300)
            #expect(payload["delivery_id"] as? String == request.headers["x-webhook-id"])
            return Delivery(request: request, payload: payload)
        }
    }

    static func sign(_ body: String, timestamp: Int, secret: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Data("\(timestamp).\(body)".utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + code.map { String(format: "%02x", $0) }.joined()
    }

    static func pending(_ pool: PostgresPool) async throws -> Int {
        try #require(try await pool.query("SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'pending'").first?.decode("n"))
    }

    static let lifecycle = ["enqueued", "scheduled", "preparing", "started", "success", "terminated"]

    @Test("a chain of batch sessions posts its lifecycle in order, signed, once per delivery id, to the callback and the endpoint")
    func chainInOrder() async throws {
        let environment = try TestEnvironment.current()
        let receiver = try WebhookReceiver(environment)
        try await receiver.start()
        let manager = try await ManagerProcess(environment, extraConfig: Self.config(receiver), localAgent: .init())
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let cli = BackendAICLI(environment: environment, endpoint: manager.endpoint, accessKey: manager.adminAccessKey, secretKey: manager.adminSecretKey)
        let callback = receiver.url("/callback")
        try await SchedulerFlowTests.batch(cli, "hook-a", "echo a", extra: ["--callback-url", callback])
        try await SchedulerFlowTests.batch(cli, "hook-b", "exit 3", depends: ["hook-a"], extra: ["--callback-url", callback])
        _ = try await SessionProbe(pool: pool).waitFor(["hook-a", "hook-b"], in: ["TERMINATED", "CANCELLED", "ERROR"])
        try await eventually("every delivery to be sent") { try await Self.pending(pool) == 0 }

        let deliveries = try Self.accepted(receiver)
        #expect(Set(deliveries.map(\.id)).count == deliveries.count, "a delivery id arrived twice")
        for path in ["/callback", "/ops"] {
            let a = deliveries.filter { $0.request.path == path && $0.sessionName == "hook-a" }.map(\.event)
            let b = deliveries.filter { $0.request.path == path && $0.sessionName == "hook-b" }.map(\.event)
            #expect(a == Self.lifecycle, "\(path) hook-a: \(a)")
            #expect(b == ["enqueued", "scheduled", "preparing", "started", "failure", "terminated"], "\(path) hook-b: \(b)")
        }
        let failure = try #require(deliveries.first { $0.sessionName == "hook-b" && $0.event == "failure" })
        #expect(failure.payload["type"] as? String == "session_lifecycle")
        #expect(failure.payload["status"] as? String == "TERMINATED" && failure.payload["result"] as? String == "FAILURE")
        #expect((failure.payload["exit_code"] as? NSNumber)?.intValue == 3)
        #expect(failure.payload["scaling_group"] as? String == "default")
        #expect((failure.payload["session_id"] as? String).flatMap(UUID.init(uuidString:)) != nil)
        #expect((failure.payload["when"] as? String).flatMap(Timestamp.parse) != nil)
        #expect(failure.request.headers["x-webhook-event"] == "session_failure")

        // The admin API lists them with their attempts; users may not; redelivery sends one again.
        let listed = try await manager.admin.send(.GET, "/webhooks/deliveries?status=delivered&limit=500")
        let items = try #require(listed.json?["items"] as? [[String: Any]])
        #expect(items.count == deliveries.count, "\(items.count) listed, \(deliveries.count) received")
        #expect((items.first?["attempt_log"] as? [[String: Any]])?.first?["status_code"] as? Int == 200)
        let (userKey, userSecret) = try await manager.createUserKeypair(email: "hooks-user@example.com")
        let user = SignedClient(endpoint: manager.endpoint, accessKey: userKey, secretKey: userSecret)
        #expect(try await user.send(.GET, "/webhooks/deliveries").status == 403)
        #expect(try await manager.admin.send(.GET, "/webhooks/deliveries?status=lost").status == 400)
        let again = try #require(items.first?["delivery_id"] as? String)
        #expect(try await manager.admin.send(.POST, "/webhooks/deliveries/\(again)/redeliver").status == 202)
        try await eventually("the redelivery") { receiver.requests().filter { $0.headers["x-webhook-id"] == again }.count == 2 }
        let metrics = try await HTTP.get(manager.endpoint + "/metrics")
        #expect(metrics.text.contains(#"manager_webhook_deliveries_total{outcome="delivered"}"#), "\(metrics.text.prefix(200))")
    }

    @Test("the receiver answering 503, then refusing connections, then back: every delivery arrives, none twice")
    func receiverOutage() async throws {
        let environment = try TestEnvironment.current()
        let receiver = try WebhookReceiver(environment)
        try await receiver.start()
        try receiver.answer(503)
        let manager = try await ManagerProcess(environment, extraConfig: Self.config(receiver), localAgent: .init())
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let cli = BackendAICLI(environment: environment, endpoint: manager.endpoint, accessKey: manager.adminAccessKey, secretKey: manager.adminSecretKey)
        try await SchedulerFlowTests.batch(cli, "outage-a", "true", extra: ["--callback-url", receiver.url("/callback")])
        try await SchedulerFlowTests.batch(cli, "outage-b", "true", depends: ["outage-a"])
        try await eventually("503s to be answered") { receiver.requests().filter { $0.status == 503 }.count >= 3 }
        receiver.stop()
        _ = try await SessionProbe(pool: pool).waitFor(["outage-a", "outage-b"], in: ["TERMINATED", "CANCELLED", "ERROR"])
        try await eventually("an attempt to meet a refused connection") {
            let refused: Int? = try await pool.query(
                "SELECT count(*)::int AS n FROM webhook_attempts WHERE error IS NOT NULL AND status_code IS NULL").first?.decode("n")
            return (refused ?? 0) >= 1
        }
        try receiver.answer(200)
        try await receiver.start()
        try await eventually("every delivery to be sent") { try await Self.pending(pool) == 0 }
        let total: Int = try #require(try await pool.query("SELECT count(*)::int AS n FROM webhook_deliveries").first?.decode("n"))
        let delivered = try Self.accepted(receiver)
        #expect(delivered.count == total && Set(delivered.map(\.id)).count == total, "\(delivered.count) accepted of \(total)")
        let a = delivered.filter { $0.request.path == "/callback" }.map(\.event)
        #expect(a == Self.lifecycle, "\(a)")
        let b = delivered.filter { $0.request.path == "/ops" && $0.sessionName == "outage-b" }.map(\.event)
        #expect(b == Self.lifecycle, "\(b)")
    }

    @Test("the manager killed with SIGKILL before it could deliver: the deliveries arrive after the restart")
    func deliveredAfterKill() async throws {
        let environment = try TestEnvironment.current()
        let receiver = try WebhookReceiver(environment)  // not started: connections are refused
        let manager = try await ManagerProcess(environment, extraConfig: Self.config(receiver), localAgent: .init())
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let cli = BackendAICLI(environment: environment, endpoint: manager.endpoint, accessKey: manager.adminAccessKey, secretKey: manager.adminSecretKey)
        try await SchedulerFlowTests.batch(cli, "phoenix-hook", "true", extra: ["--callback-url", receiver.url("/callback")])
        _ = try await SessionProbe(pool: pool).waitFor(["phoenix-hook"], in: ["TERMINATED"])
        #expect(try await Self.pending(pool) == 12)
        _ = try await manager.stop(signal: SIGKILL)
        try await receiver.start()
        try await manager.start()
        try await eventually("every delivery to be sent after the restart") { try await Self.pending(pool) == 0 }
        let delivered = try Self.accepted(receiver)
        #expect(delivered.filter { $0.request.path == "/callback" }.map(\.event) == Self.lifecycle)
        #expect(delivered.count == 12 && Set(delivered.map(\.id)).count == 12)
    }

    @Test("refused destinations are never contacted: metadata and link-local by default, denied_destinations by config")
    func refusedDestinations() async throws {
        let environment = try TestEnvironment.current()
        let receiver = try WebhookReceiver(environment, host: "0.0.0.0")
        try await receiver.start()
        let extra = """
            denied_destinations = ["127.0.0.2"]
            [[webhooks]]
            name = "sneaky"
            url = "\(receiver.url("/sneaky", host: "127.0.0.2"))"
            """
        let manager = try await ManagerProcess(environment, extraConfig: Self.config(receiver, extra: extra), localAgent: .init())
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let cli = BackendAICLI(environment: environment, endpoint: manager.endpoint, accessKey: manager.adminAccessKey, secretKey: manager.adminSecretKey)
        try await SchedulerFlowTests.batch(cli, "guarded", "true", extra: ["--callback-url", "http://169.254.169.254/latest/meta-data"])
        _ = try await SessionProbe(pool: pool).waitFor(["guarded"], in: ["TERMINATED"])
        try await eventually("every delivery to be settled") { try await Self.pending(pool) == 0 }
        let rows = try await pool.query("SELECT target, status, last_error FROM webhook_deliveries ORDER BY seq")
        var byTarget: [String: Set<String>] = [:]
        for row in rows { byTarget[try row.decode("target"), default: []].insert(try row.decode("status")) }
        #expect(byTarget["callback"] == ["refused"], "\(byTarget)")
        #expect(byTarget["endpoint:sneaky"] == ["refused"], "\(byTarget)")
        #expect(byTarget["endpoint:ops"] == ["delivered"], "\(byTarget)")
        let errors = try rows.compactMap { try $0.decodeOptional("last_error", as: String.self) }
        #expect(errors.contains { $0.contains("169.254.169.254") } && errors.contains { $0.contains("127.0.0.2") }, "\(errors)")
        #expect(receiver.requests().allSatisfy { $0.path == "/ops" }, "\(receiver.requests().map(\.path))")
        let attempts: Int = try #require(try await pool.query(
            "SELECT count(*)::int AS n FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id WHERE d.status = 'refused' AND a.status_code IS NOT NULL"
        ).first?.decode("n"))
        #expect(attempts == 0)
    }

    @Test("internal destinations are refused by default: loopback, private, CGNAT, ULA; an operator may allow them")
    func internalRefusedByDefault() async throws {
        let environment = try TestEnvironment.current()
        let receiver = try WebhookReceiver(environment)
        try await receiver.start()
        let config = """
            [webhook_delivery]
            retry_base = "200ms"
            [[webhooks]]
            name = "loopback"
            url = "\(receiver.url("/loopback"))"
            [[webhooks]]
            name = "named"
            url = "http://localhost:\(receiver.port)/named"
            """
        let manager = try await ManagerProcess(environment, extraConfig: config, localAgent: .init())
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let cli = BackendAICLI(environment: environment, endpoint: manager.endpoint, accessKey: manager.adminAccessKey, secretKey: manager.adminSecretKey)
        try await SchedulerFlowTests.batch(cli, "inside", "true", extra: ["--callback-url", "http://10.1.2.3/hook"])
        _ = try await SessionProbe(pool: pool).waitFor(["inside"], in: ["TERMINATED"])
        try await eventually("every delivery to be settled") { try await Self.pending(pool) == 0 }
        let rows = try await pool.query("SELECT DISTINCT target, status, last_error FROM webhook_deliveries")
        for row in rows {
            #expect(try row.decode("status", as: String.self) == "refused")
            #expect(try row.decodeOptional("last_error", as: String.self)?.contains("internal") == true)
        }
        #expect(Set(try rows.map { try $0.decode("target", as: String.self) }) == ["callback", "endpoint:loopback", "endpoint:named"])
        #expect(receiver.requests().isEmpty)
        receiver.stop()
        for url in ["http://127.0.0.1/x", "http://10.0.0.1/x", "http://172.16.5.4/x", "http://192.168.1.1/x",
                    "http://100.64.0.1/x", "http://[fd12::1]/x", "http://[::1]/x", "http://[::ffff:127.0.0.1]/x", "http://localhost/x"] {
            #expect(DestinationPolicy(allowed: [], denied: []).refusal(for: url) != nil, "\(url)")
        }
        #expect(DestinationPolicy(allowed: [], denied: [], allowPrivate: true).refusal(for: "http://10.0.0.1/x") == nil)
        #expect(DestinationPolicy(allowed: ["10.0.0.0/8"], denied: []).refusal(for: "http://10.0.0.1/x") == nil)
        #expect(DestinationPolicy(allowed: [], denied: []).refusal(for: "http://8.8.8.8/x") == nil)
    }

    @Test("a tarpit receiver holds only its own slots: another endpoint's deliveries arrive on time")
    func tarpitDoesNotDelayOthers() async throws {
        let environment = try TestEnvironment.current()
        let slow = try WebhookReceiver(environment)
        try await slow.start()
        try slow.answer(mode: "tarpit")
        let fast = try WebhookReceiver(environment)
        try await fast.start()
        let config = """
            [webhook_delivery]
            timeout = "30s"
            concurrency = 4
            per_destination = 2
            allowed_destinations = ["127.0.0.1", "localhost"]
            [[webhooks]]
            name = "fast"
            url = "http://localhost:\(fast.port)/fast"
            """
        let manager = try await ManagerProcess(environment, extraConfig: config, localAgent: .init())
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let cli = BackendAICLI(environment: environment, endpoint: manager.endpoint, accessKey: manager.adminAccessKey, secretKey: manager.adminSecretKey)
        let names = (0..<6).map { "tarpit-\($0)" }
        for name in names {
            try await SchedulerFlowTests.batch(cli, name, "true", extra: ["--callback-url", slow.url("/slow")])
        }
        let started = ContinuousClock.now
        _ = try await SessionProbe(pool: pool).waitFor(names, in: ["TERMINATED"], timeout: .seconds(60))
        // Every session's lifecycle reached the fast endpoint while the tarpit still holds its first deliveries.
        try await eventually("the fast endpoint to get every session's events", timeout: .seconds(20)) {
            let done = Set(fast.requests().filter { $0.body.contains("\"terminated\"") }.compactMap { request in
                names.first { request.body.contains("\"\($0)\"") }
            })
            return done.count == names.count
        }
        #expect(ContinuousClock.now - started < .seconds(25), "the fast endpoint waited for the tarpit")
        #expect(slow.requests().count <= 2, "at most per_destination at once to the tarpit: \(slow.requests().count)")
        // The fast endpoint was reached by name, through the address that was checked, with its Host kept.
        #expect(fast.requests().allSatisfy { $0.headers["host"] == "localhost:\(fast.port)" }, "\(fast.requests().first?.headers ?? [:])")
        slow.stop()
        fast.stop()
    }

    @Test("a session given its own callback_secret has its callbacks signed with it; the secret is never shown")
    func perSessionSecret() async throws {
        let environment = try TestEnvironment.current()
        let receiver = try WebhookReceiver(environment)
        try await receiver.start()
        let manager = try await ManagerProcess(environment, extraConfig: Self.config(receiver), localAgent: .init())
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let own = "per-session-secret-\(UUID().uuidString.prefix(8))"
        let created = try await manager.admin.send(.POST, "/session", json: [
            "name": "own-secret", "image": "python:3.11", "type": "batch", "startupCommand": "true", "enqueueOnly": true,
            "callback_url": receiver.url("/own"), "callback_secret": own,
        ])
        #expect(created.status == 201, "\(created.text)")
        #expect(!created.text.contains(own))
        let short = try await manager.admin.send(.POST, "/session", json: [
            "name": "short-secret", "image": "python:3.11", "callback_url": receiver.url("/own"), "callback_secret": "x",
        ])
        #expect(short.status == 400 && short.text.contains("callback_secret"), "\(short.text)")
        _ = try await SessionProbe(pool: pool).waitFor(["own-secret"], in: ["TERMINATED"])
        try await eventually("the callbacks to arrive") {
            receiver.requests().filter { $0.path == "/own" && $0.status == 200 }.count == Self.lifecycle.count
        }
        for request in receiver.requests() where request.path == "/own" {
            let timestamp = try #require(request.headers["x-webhook-timestamp"].flatMap(Int.init))
            #expect(request.headers["x-webhook-signature"] == Self.sign(request.body, timestamp: timestamp, secret: own))
        }
        let info = try await manager.admin.send(.GET, "/session/own-secret")
        #expect(!info.text.contains(own))
        receiver.stop()
    }
}
