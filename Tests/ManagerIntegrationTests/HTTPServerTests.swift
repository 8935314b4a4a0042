import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

@Suite struct HTTPServerTests {
    @Test("GET / negotiates the version without auth, and the official client's `config` shows ours")
    func versionAndClientConfig() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment)
        let root = try await HTTP.get("\(manager.endpoint)/")
        #expect(root.status == 200)
        #expect(root.json?["version"] as? String == "v7.20230615")
        #expect(root.json?["manager"] as? String == ManagerVersion.current)

        let cli = BackendAICLI(environment: environment, endpoint: manager.endpoint,
                               accessKey: manager.adminAccessKey, secretKey: manager.adminSecretKey)
        let result = try await cli.run(["config"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("Server version: \(ManagerVersion.current) (API: v7.20230615)"))
        #expect(result.stdout.contains("Negotiated API version: (7, '20230615')"))
        try await manager.stop()
    }

    @Test("a signed announcement request succeeds")
    func announcement() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current())
        let response = try await manager.admin.send(.GET, "/manager/announcement")
        #expect(response.status == 200)
        #expect(response.json?["enabled"] as? Bool == false)
        #expect(response.json?["message"] as? String == "")
        try await manager.stop()
    }

    @Test("unauthenticated and badly signed requests get 401 auth-failed problem+json")
    func authFailures() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current())
        let path = "/manager/announcement"
        let url = manager.endpoint + path
        let good = manager.admin
        let stale = SignedClient.dateHeader(Date().addingTimeInterval(-16 * 60))
        let future = SignedClient.dateHeader(Date().addingTimeInterval(16 * 60))
        var cases: [(String, [(String, String)])] = [
            ("missing header", [("Date", SignedClient.dateHeader()), ("X-BackendAI-Version", "v7.20230615")]),
            ("garbled header", [("Authorization", "BackendAI nonsense"), ("Date", SignedClient.dateHeader()),
                                ("X-BackendAI-Version", "v7.20230615")]),
            ("wrong scheme", [("Authorization", "Bearer abc"), ("Date", SignedClient.dateHeader())]),
            ("unknown key", SignedClient(endpoint: manager.endpoint, accessKey: "AKIANOSUCHKEY0000000", secretKey: "x")
                .headers(method: "GET", pathAndQuery: path, contentType: "text/plain")),
            ("wrong secret", SignedClient(endpoint: manager.endpoint, accessKey: manager.adminAccessKey, secretKey: "wrong")
                .headers(method: "GET", pathAndQuery: path, contentType: "text/plain")),
            ("expired date", good.headers(method: "GET", pathAndQuery: path, contentType: "text/plain", date: stale)),
            ("future date", good.headers(method: "GET", pathAndQuery: path, contentType: "text/plain", date: future)),
            ("signed for another host", good.headers(method: "GET", pathAndQuery: path, contentType: "text/plain",
                                                      host: "evil.example:8091")),
            ("signed for another path", good.headers(method: "GET", pathAndQuery: "/other", contentType: "text/plain")),
            ("signed for another content type", good.headers(method: "GET", pathAndQuery: path, contentType: "application/json")
                .map { $0.0 == "Content-Type" ? ("Content-Type", "text/plain") : $0 }),
        ]
        // The same valid request replayed with a Date that is not a date.
        cases.append(("unparsable date", good.headers(method: "GET", pathAndQuery: path, contentType: "text/plain")
            .map { $0.0 == "Date" ? ("Date", "yesterday") : $0 }))
        for (label, headers) in cases {
            let response = try await HTTP.send(.GET, url, headers: headers)
            #expect(response.status == 401, "\(label)")
            #expect(response.header("Content-Type") == "application/problem+json", "\(label)")
            #expect(response.json?["type"] as? String == "https://api.backend.ai/probs/auth-failed", "\(label)")
            #expect(response.json?["title"] as? String == "Credential/signature mismatch.", "\(label)")
        }
        // And the correct one passes.
        #expect(try await good.send(.GET, path).status == 200)
        try await manager.stop()
    }

    @Test("an inactive keypair is refused: at once through modify_keypair, within the cache TTL when changed by SQL")
    func inactiveKey() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current(), extraConfig: "[auth]\nkeypair_cache_ttl = \"1s\"")
        let user = try await manager.createUserKeypair(email: "user@example.com")
        let client = SignedClient(endpoint: manager.endpoint, accessKey: user.accessKey, secretKey: user.secretKey)
        #expect(try await client.send(.GET, "/manager/announcement").status == 200)
        try await manager.database.withPool { pool in
            try await pool.query("UPDATE keypairs SET is_active = false WHERE access_key = \(user.accessKey)")
        }
        // Behind the daemon's back: refused once the cached keypair expires.
        var refused = try await client.send(.GET, "/manager/announcement")
        let deadline = ContinuousClock.now + .seconds(5)
        while refused.status == 200 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            refused = try await client.send(.GET, "/manager/announcement")
        }
        #expect(refused.status == 401)
        #expect(refused.json?["msg"] as? String == "This keypair is inactive.")

        // Through the API: the next request is refused.
        let other = try await manager.createUserKeypair(email: "other@example.com")
        let otherClient = SignedClient(endpoint: manager.endpoint, accessKey: other.accessKey, secretKey: other.secretKey)
        #expect(try await otherClient.send(.GET, "/manager/announcement").status == 200)
        let mutation = #"mutation($k: String!) { modify_keypair(access_key: $k, props: {is_active: false}) { ok msg } }"#
        let modified = try await manager.admin.send(.POST, "/admin/gql", json: ["query": mutation, "variables": ["k": other.accessKey]])
        #expect(modified.text.contains(#""ok":true"#), "\(modified.text)")
        #expect(try await otherClient.send(.GET, "/manager/announcement").status == 401)
        try await manager.stop()
    }

    @Test("an unknown route is a 404 problem+json with a request id")
    func unknownRoute() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current())
        let response = try await manager.admin.send(.GET, "/no/such/route")
        #expect(response.status == 404)
        #expect(response.header("Content-Type") == "application/problem+json")
        #expect(response.json?["type"] as? String == "https://api.backend.ai/probs/generic-not-found")
        #expect(response.header("X-Request-ID")?.isEmpty == false)
        try await manager.stop()
    }

    @Test("/health is ok with both services, and /metrics counts requests and the pool")
    func healthAndMetrics() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current())
        let health = try await HTTP.get("\(manager.endpoint)/health")
        #expect(health.status == 200)
        #expect(health.json as? [String: String] == ["status": "ok", "postgres": "ok", "redis": "ok", "rate_limiter": "ok"])
        _ = try await manager.admin.send(.GET, "/manager/announcement")
        let metrics = try await HTTP.get("\(manager.endpoint)/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.text.contains(#"hb_requests{http_route="/manager/announcement",http_request_method="GET",http_response_status_code="200"} 1"#))
        #expect(metrics.text.contains("http_server_request_duration_bucket"))
        #expect(metrics.text.contains(#"manager_db_pool_connections{state="in_use"}"#))
        #expect(metrics.text.contains("manager_db_pool_waiting"))
        try await manager.stop()
    }

    @Test("/health says degraded, naming Redis, while Redis is down, and the API keeps serving")
    func healthRedisDown() async throws {
        let environment = try TestEnvironment.current()
        let redis = try await PrivateRedis.start(environment)
        let manager = try await ManagerProcess(environment, redisPort: redis.port)
        #expect(try await HTTP.get("\(manager.endpoint)/health").status == 200)
        try await redis.stop()
        // A report is reused for up to a second.
        var degraded = try await HTTP.get("\(manager.endpoint)/health")
        for _ in 0..<30 where degraded.status == 200 {
            try await Task.sleep(for: .milliseconds(100))
            degraded = try await HTTP.get("\(manager.endpoint)/health")
        }
        #expect(degraded.status == 503)
        #expect(degraded.json as? [String: String] == [
            "status": "degraded", "postgres": "ok", "redis": "down", "rate_limiter": "unavailable",
        ])
        #expect(try await manager.admin.send(.GET, "/manager/announcement").status == 200)
        try await redis.start()
        var recovered = 0
        for _ in 0..<50 where recovered != 200 {
            recovered = try await HTTP.get("\(manager.endpoint)/health").status
            if recovered != 200 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(recovered == 200)
        // The limiter comes back too (the restarted Redis has no script cached: it is loaded again) and counts.
        try await eventually("requests to be counted again", timeout: .seconds(10)) {
            let response = try await manager.admin.send(.GET, "/manager/announcement")
            return response.status == 200 && response.header("X-RateLimit-Remaining").flatMap(Int.init).map { $0 < 30000 } == true
        }
        try await manager.stop()
        try await redis.stop()
    }

    @Test("SIGTERM stops the daemon gracefully with exit status 0")
    func gracefulShutdown() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current())
        #expect(try await manager.stop(signal: SIGTERM) == 0)
        #expect(manager.log().contains("stopped"))
    }
}
