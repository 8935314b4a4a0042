import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SchedulerKit
import Testing
@testable import ManagerCore

/// Many tenants on one daemon: resource policies, fair scheduling, rate limits, replays, stream caps, project and
/// scaling-group authorization.
@Suite struct TenantTests {
    /// Runs a GraphQL document as `client` and returns `data` (records an issue on errors).
    static func graphQL(_ client: SignedClient, _ query: String, _ variables: [String: Any] = [:]) async throws -> [String: Any] {
        let response = try await client.send(.POST, "/admin/gql", json: ["query": query, "variables": variables])
        #expect(response.status == 200, "\(response.text)")
        #expect(response.json?["errors"] == nil, "\(response.text)")
        return response.json?["data"] as? [String: Any] ?? [:]
    }

    static let createPolicy = """
        mutation($name: String!, $input: CreateKeyPairResourcePolicyInput!) {
          create_keypair_resource_policy(name: $name, props: $input) { ok msg resource_policy { name } } }
        """
    static let assignPolicy = """
        mutation($k: String!, $p: String!) { modify_keypair(access_key: $k, props: {resource_policy: $p}) { ok msg } }
        """

    /// A keypair of its own with a new policy `name` made of `props`.
    static func tenant(
        _ manager: ManagerProcess, _ email: String, policy name: String, _ props: [String: Any]
    ) async throws -> SignedClient {
        let created = try await Self.graphQL(manager.admin, Self.createPolicy, ["name": name, "input": props])
        #expect((created["create_keypair_resource_policy"] as? [String: Any])?["ok"] as? Bool == true, "\(created)")
        let user = try await manager.createUserKeypair(email: email)
        let assigned = try await Self.graphQL(manager.admin, Self.assignPolicy, ["k": user.accessKey, "p": name])
        #expect((assigned["modify_keypair"] as? [String: Any])?["ok"] as? Bool == true, "\(assigned)")
        return SignedClient(endpoint: manager.endpoint, accessKey: user.accessKey, secretKey: user.secretKey)
    }

    static func create(_ client: SignedClient, _ name: String, _ extra: [String: Any] = [:]) async throws -> HTTPResult {
        var body: [String: Any] = [
            "name": name, "image": "python:3.11", "type": "batch", "startupCommand": "true", "enqueueOnly": true,
            "config": ["resources": ["cpu": "1", "mem": "64m"]],
        ]
        for (key, value) in extra { body[key] = value }
        return try await client.send(.POST, "/session", json: body)
    }

    @Test("the official CLI adds, shows, lists, updates and deletes keypair resource policies")
    func policyCLI() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment)
        let cli = BackendAICLI(
            environment: environment, endpoint: manager.endpoint, accessKey: manager.adminAccessKey,
            secretKey: manager.adminSecretKey)
        let add = try await cli.run([
            "admin", "keypair-resource-policy", "add", "research", "--max-concurrent-sessions", "3",
            "--total-resource-slots", #"{"cpu": "8", "mem": "16g"}"#, "--idle-timeout", "600",
            "--max-session-lifetime", "86400", "--max-containers-per-session", "2",
        ])
        #expect(add.status == 0 && add.stdout.contains("success"), "\(add.stdout) \(add.stderr)")
        let info = try await cli.run(["admin", "keypair-resource-policy", "info", "research"])
        #expect(info.status == 0, "\(info.stderr)")
        #expect(info.stdout.contains("research") && info.stdout.contains("600"), "\(info.stdout)")
        #expect(info.stdout.contains("17179869184"), "mem is stored in bytes: \(info.stdout)")
        let update = try await cli.run(["admin", "keypair-resource-policy", "update", "research", "--idle-timeout", "900"])
        #expect(update.status == 0, "\(update.stdout) \(update.stderr)")
        let list = try await cli.run(["admin", "keypair-resource-policy", "list"])
        #expect(list.stdout.contains("research") && list.stdout.contains("900") && list.stdout.contains("default"), "\(list.stdout)")

        // In use: refused with the reason; unused: gone.
        let user = try await manager.createUserKeypair(email: "researcher@example.com")
        let assigned = try await Self.graphQL(manager.admin, Self.assignPolicy, ["k": user.accessKey, "p": "research"])
        #expect((assigned["modify_keypair"] as? [String: Any])?["ok"] as? Bool == true)
        let delete = #"mutation { delete_keypair_resource_policy(name: "research") { ok msg } }"#
        let inUse = try await Self.graphQL(manager.admin, delete)["delete_keypair_resource_policy"] as? [String: Any]
        #expect(inUse?["ok"] as? Bool == false && (inUse?["msg"] as? String)?.contains("still assigned") == true, "\(String(describing: inUse))")
        let keypair = try await cli.run(["admin", "keypair", "update", "--resource-policy", "default", user.accessKey])
        #expect(keypair.status == 0, "\(keypair.stdout) \(keypair.stderr)")
        let deleted = try await Self.graphQL(manager.admin, delete)["delete_keypair_resource_policy"] as? [String: Any]
        #expect(deleted?["ok"] as? Bool == true, "\(String(describing: deleted))")
        let after = try await cli.run(["admin", "keypair-resource-policy", "list"])
        #expect(!after.stdout.contains("research"), "\(after.stdout)")

        // Bad values name the field; a normal key may read only its own policy.
        let bad = try await Self.graphQL(manager.admin, Self.createPolicy, ["name": "bad", "input": ["idle_timeout": -1]])
        let refused = bad["create_keypair_resource_policy"] as? [String: Any]
        #expect(refused?["ok"] as? Bool == false)
        #expect((refused?["msg"] as? String)?.contains("idle_timeout") == true, "\(bad)")
        let userClient = SignedClient(endpoint: manager.endpoint, accessKey: user.accessKey, secretKey: user.secretKey)
        let own = try await Self.graphQL(userClient, "{ keypair_resource_policy { name max_concurrent_sessions } }")
        #expect((own["keypair_resource_policy"] as? [String: Any])?["name"] as? String == "default")
        let others = try await userClient.send(.POST, "/admin/gql", json: ["query": "{ keypair_resource_policies { name } }"])
        #expect(others.text.contains("Only an admin"), "\(others.text)")
        try await manager.stop()
    }

    @Test("pending limits, containers per session and vfolder count are refused at creation with Backend.AI's messages")
    func enqueueLimits() async throws {
        let environment = try TestEnvironment.current()
        let volume = try environment.scratchDirectory("volume1")
        let manager = try await ManagerProcess(
            environment, extraConfig: VFolderTests.storageConfig(volume: volume, rateLimit: "0", lease: "10s"))
        let tenant = try await Self.tenant(manager, "limited@example.com", policy: "limited", [
            "max_pending_session_count": 2, "max_containers_per_session": 1, "max_vfolder_count": 1,
        ])
        #expect(try await Self.create(tenant, "pend-1").status == 201)
        #expect(try await Self.create(tenant, "pend-2").status == 201)
        let third = try await Self.create(tenant, "pend-3")
        #expect(third.status == 412, "\(third.text)")
        #expect(third.json?["type"] as? String == "https://api.backend.ai/probs/quota-exceeded")
        #expect(third.json?["msg"] as? String == "You cannot create more than 2 pending session(s).")
        let cluster = try await Self.create(tenant, "cluster-1", ["cluster_size": 2])
        #expect(cluster.status == 412 && cluster.text.contains("more than 1 containers"), "\(cluster.text)")

        // Slots: what waits plus what is asked for, against the limit.
        let slots = try await Self.tenant(manager, "slots@example.com", policy: "slots", [
            "max_pending_session_resource_slots": #"{"cpu": "3"}"#, "max_containers_per_session": 4,
        ])
        #expect(try await Self.create(slots, "slots-1", ["config": ["resources": ["cpu": "2"]]]).status == 201)
        let over = try await Self.create(slots, "slots-2", ["config": ["resources": ["cpu": "2"]]])
        #expect(over.status == 412, "\(over.text)")
        #expect((over.json?["msg"] as? String)?.hasPrefix("Your pending session quota is exceeded. (cpu=4 > 3)") == true, "\(over.text)")
        #expect(try await Self.create(slots, "slots-3", ["config": ["resources": ["cpu": "1"]]]).status == 201)
        // Allowed containers, but more than one is not something we run: a 400 naming the field.
        let multi = try await Self.create(slots, "multi-1", ["cluster_size": 2, "config": ["resources": ["cpu": "0"]]])
        #expect(multi.status == 400 && multi.text.contains("clusterSize"), "\(multi.text)")

        // Nothing was written for the refused ones.
        let count = try await manager.database.withPool { pool in
            try await pool.query("SELECT count(*) AS n FROM sessions").first?.decode("n", as: Int.self)
        }
        #expect(count == 4)

        #expect(try await tenant.send(.POST, "/folders", json: ["name": "folder-1"]).status == 201)
        let second = try await tenant.send(.POST, "/folders", json: ["name": "folder-2"])
        #expect(second.status == 400 && second.json?["msg"] as? String == "You cannot create more vfolders.", "\(second.text)")

        // allowed_vfolder_hosts: a policy that names hosts allows only those (with create-vfolder when it lists any).
        let hosts = try await Self.tenant(manager, "hosts@example.com", policy: "hosts", [
            "allowed_vfolder_hosts": #"{"local:elsewhere": ["create-vfolder"]}"#,
        ])
        let refusedHost = try await hosts.send(.POST, "/folders", json: ["name": "on-volume1", "host": "local:volume1"])
        #expect(refusedHost.status == 403 && refusedHost.text.contains("allowed_vfolder_hosts"), "\(refusedHost.text)")
        let readOnly = try await Self.tenant(manager, "hosts-ro@example.com", policy: "hosts-ro", [
            "allowed_vfolder_hosts": #"{"local:volume1": ["download-file"]}"#,
        ])
        #expect(try await readOnly.send(.POST, "/folders", json: ["name": "ro-1", "host": "local:volume1"]).status == 403)
        let allowed = try await Self.tenant(manager, "hosts-ok@example.com", policy: "hosts-ok", [
            "allowed_vfolder_hosts": #"{"local:volume1": ["create-vfolder", "modify-vfolder"]}"#,
        ])
        #expect(try await allowed.send(.POST, "/folders", json: ["name": "ok-1", "host": "local:volume1"]).status == 201)
        try await manager.stop()
    }

    @Test("idle and over-age sessions end idle-timeout / session-lifetime-exceeded, with their events")
    func idleAndLifetime() async throws {
        let manager = try await ManagerProcess(
            try TestEnvironment.current(), extraConfig: "[scheduler]\nexpiry_interval = \"500ms\"", localAgent: .init())
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let idle = try await Self.tenant(manager, "idle@example.com", policy: "idle", ["idle_timeout": 2])
        let aging = try await Self.tenant(manager, "aging@example.com", policy: "aging", ["max_session_lifetime": 3])
        // Sleeps: no CPU, no API requests: idle. Spins: busy, but past its lifetime.
        #expect(try await Self.create(idle, "sleeper", ["startupCommand": "sleep 600"]).status == 201)
        #expect(try await Self.create(aging, "spinner", ["startupCommand": "while :; do :; done"]).status == 201)
        let probe = SessionProbe(pool: pool)
        let rows = try await probe.waitFor(["sleeper", "spinner"], in: ["TERMINATED", "ERROR", "CANCELLED"], timeout: .seconds(60))
        let sleeper = try #require(rows["sleeper"])
        let spinner = try #require(rows["spinner"])
        #expect(sleeper.status == "TERMINATED" && sleeper.statusInfo == "idle-timeout", "\(sleeper)")
        #expect(spinner.status == "TERMINATED" && spinner.statusInfo == "session-lifetime-exceeded", "\(spinner)")
        // Not before their time: each ran at least as long as its policy allows.
        let sleeperRan = try #require(SessionProbe.when(sleeper, "TERMINATED")).timeIntervalSince(try #require(SessionProbe.when(sleeper, "RUNNING")))
        let spinnerRan = try #require(SessionProbe.when(spinner, "TERMINATED")).timeIntervalSince(try #require(SessionProbe.when(spinner, "RUNNING")))
        #expect(sleeperRan >= 2 && spinnerRan >= 3, "ran \(sleeperRan) s and \(spinnerRan) s")
        let events = try await pool.query(
            "SELECT session_name, name FROM events WHERE name = 'session_terminated' ORDER BY id")
        #expect(Set(try events.map { try $0.decode("session_name", as: String.self) }) == ["sleeper", "spinner"])

        // A session someone looks at is not idle: asking about it every second keeps it running.
        #expect(try await Self.create(idle, "watched", ["startupCommand": "sleep 600"]).status == 201)
        _ = try await probe.waitFor(["watched"], in: ["RUNNING"])
        for _ in 0..<5 {
            #expect(try await idle.send(.GET, "/session/watched").status == 200)
            try await Task.sleep(for: .seconds(1))
        }
        #expect(try await probe.session("watched")?.status == "RUNNING")
        try await manager.stop()
    }

    /// Inserts `count` sessions of `accessKey` straight into the database (reserved for 2099 when `reserved`).
    static func flood(_ pool: PostgresPool, accessKey: String, count: Int, reserved: Bool, cpu: String) async throws {
        try await pool.query(
            """
            INSERT INTO sessions (id, name, session_type, domain_name, group_id, user_uuid, access_key, scaling_group_name,
                                  image, requested_slots, startup_command, starts_at, created_at)
            SELECT gen_random_uuid(), 'flood-' || n, 'batch', 'default', g.id, k.user_id, k.access_key, 'default',
                   'python:3.11', jsonb_build_object('cpu', \(cpu)::text), 'true',
                   CASE WHEN \(reserved) THEN timestamptz '2099-01-01' END, now() - interval '1 hour' + n * interval '1 ms'
            FROM generate_series(1, \(count)) AS n, keypairs k, groups g
            WHERE k.access_key = \(accessKey) AND g.name = 'default'
            """)
    }

    @Test("20,000 reserved sessions of one keypair, or a full window of its sessions that cannot fit, do not starve another's")
    func noStarvation() async throws {
        let manager = try await ManagerProcess(
            try TestEnvironment.current(), extraConfig: "[scheduler]\nmax_pending_per_pass = 100", localAgent: .init())
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let a = try await manager.createUserKeypair(email: "a@example.com")
        try await Self.flood(pool, accessKey: a.accessKey, count: 20_000, reserved: true, cpu: "1")
        // And 500 older sessions of A that are startable but never fit (1000 cpu each): a window of 100 by age alone
        // would hold only these.
        try await pool.query("UPDATE sessions SET name = 'reserved-' || name WHERE access_key = \(a.accessKey)")
        try await Self.flood(pool, accessKey: a.accessKey, count: 500, reserved: false, cpu: "1000")
        let bKeys = try await manager.createUserKeypair(email: "b@example.com")
        let b = SignedClient(endpoint: manager.endpoint, accessKey: bKeys.accessKey, secretKey: bKeys.secretKey)
        let created = try await Self.create(b, "b-job", ["startupCommand": "echo fair"])
        #expect(created.status == 201, "\(created.text)")
        let probe = SessionProbe(pool: pool)
        let rows = try await probe.waitFor(["b-job"], in: ["TERMINATED", "ERROR", "CANCELLED"], timeout: .seconds(60))
        #expect(rows["b-job"]?.result == "SUCCESS", "\(String(describing: rows["b-job"]))")
        // The reserved ones got their reason recorded as they rotated through, without holding places.
        let waited = try await pool.query(
            "SELECT count(*) AS n FROM sessions WHERE access_key = \(a.accessKey) AND status_info IS NOT NULL AND starts_at IS NOT NULL")
        #expect(try waited.first?.decode("n", as: Int.self) ?? 0 > 0)
        try await manager.stop()
    }

    @Test("rate limit: X-RateLimit-* on signed responses, 429 past the keypair's limit, another keypair unaffected")
    func rateLimit() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current())
        let noisy = try await manager.createUserKeypair(email: "noisy@example.com")
        let mutation = #"mutation($k: String!) { modify_keypair(access_key: $k, props: {rate_limit: 5}) { ok msg } }"#
        let modified = try await Self.graphQL(manager.admin, mutation, ["k": noisy.accessKey])
        #expect((modified["modify_keypair"] as? [String: Any])?["ok"] as? Bool == true)
        let client = SignedClient(endpoint: manager.endpoint, accessKey: noisy.accessKey, secretKey: noisy.secretKey)
        var remaining: [String] = []
        for _ in 0..<5 {
            let response = try await client.send(.GET, "/manager/announcement")
            #expect(response.status == 200)
            #expect(response.header("X-RateLimit-Limit") == "5" && response.header("X-RateLimit-Window") == "900")
            remaining.append(response.header("X-RateLimit-Remaining") ?? "?")
        }
        #expect(remaining == ["4", "3", "2", "1", "0"])
        let refused = try await client.send(.GET, "/manager/announcement")
        #expect(refused.status == 429)
        #expect(refused.header("Content-Type") == "application/problem+json")
        #expect(refused.json?["type"] as? String == "https://api.backend.ai/probs/too-many-requests")
        #expect(refused.header("X-RateLimit-Remaining") == "0")
        // Refused requests do not count: the window holds 5.
        let other = try await manager.admin.send(.GET, "/manager/announcement")
        #expect(other.status == 200 && other.header("X-RateLimit-Limit") == "30000", "\(other.headers)")
        try await manager.stop()
    }

    @Test("a captured request sent again is refused; event streams may reconnect with theirs")
    func replay() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current())
        let client = manager.admin
        let headers = client.headers(method: "GET", pathAndQuery: "/manager/announcement", contentType: nil)
        let first = try await HTTP.send(.GET, "\(manager.endpoint)/manager/announcement", headers: headers)
        #expect(first.status == 200)
        let again = try await HTTP.send(.GET, "\(manager.endpoint)/manager/announcement", headers: headers)
        #expect(again.status == 401, "\(again.text)")
        #expect((again.json?["msg"] as? String)?.contains("already received") == true)
        // The signature in upper case is the same signature.
        let upper = headers.map { $0.0 == "Authorization" ? ($0.0, $0.1.uppercased().replacingOccurrences(of: "BACKENDAI SIGNMETHOD=HMAC-SHA256, CREDENTIAL=\(client.accessKey.uppercased())", with: "BackendAI signMethod=HMAC-SHA256, credential=\(client.accessKey)")) : $0 }
        #expect(try await HTTP.send(.GET, "\(manager.endpoint)/manager/announcement", headers: upper).status == 401)
        // A POST with another body under the same signature: refused too.
        let post = client.headers(method: "POST", pathAndQuery: "/session", contentType: "application/json")
        let body = try JSONSerialization.data(withJSONObject: ["name": "replay-1", "image": "python:3.11", "enqueueOnly": true])
        #expect(try await HTTP.send(.POST, "\(manager.endpoint)/session", headers: post, body: body).status == 201)
        let other = try JSONSerialization.data(withJSONObject: ["name": "replay-2", "image": "python:3.11", "enqueueOnly": true])
        #expect(try await HTTP.send(.POST, "\(manager.endpoint)/session", headers: post, body: other).status == 401)

        // The client re-sends an event stream's request on reconnect: accepted twice.
        let path = "/events/session?name=replay-1"
        let stream = client.headers(method: "GET", pathAndQuery: path, contentType: nil)
        for _ in 0..<2 {
            var request = HTTPClientRequest(url: manager.endpoint + path)
            for (name, value) in stream { request.headers.add(name: name, value: value) }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
            #expect(response.status == .ok)
        }
        try await manager.stop()
    }

    @Test("streams per keypair are capped (429), others may still open theirs; unknown keys from one address are limited")
    func streamAndLookupCaps() async throws {
        let manager = try await ManagerProcess(
            try TestEnvironment.current(),
            extraConfig: "[auth]\nmax_streams_per_keypair = 2\nunknown_key_burst = 5\nunknown_key_rate = 0")
        let user = try await manager.createUserKeypair(email: "streamer@example.com")
        let client = SignedClient(endpoint: manager.endpoint, accessKey: user.accessKey, secretKey: user.secretKey)
        func open(_ client: SignedClient) async throws -> HTTPClientResponse {
            var request = HTTPClientRequest(url: manager.endpoint + "/events/session")
            for (name, value) in client.headers(method: "GET", pathAndQuery: "/events/session", contentType: nil) {
                request.headers.add(name: name, value: value)
            }
            return try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        }
        let held = [try await open(client), try await open(client)]
        #expect(held.allSatisfy { $0.status == .ok })
        let third = try await open(client)
        #expect(third.status == .tooManyRequests)
        #expect(try await open(manager.admin).status == .ok)
        #expect(try await client.send(.GET, "/manager/announcement").status == 200)

        // Made-up keys: 5 lookups, then 429 before the database; the known (cached) keys go on.
        var statuses: [Int] = []
        for index in 0..<8 {
            let stranger = SignedClient(endpoint: manager.endpoint, accessKey: "AKIAUNKNOWN\(index)", secretKey: "x")
            statuses.append(try await stranger.send(.GET, "/manager/announcement").status)
        }
        // The two stream keys above were looked up from this address too: what is left of the burst of 5 is spent
        // on the first strangers, then every lookup is refused before the database.
        let looked = statuses.prefix { $0 == 401 }.count
        #expect((1...3).contains(looked) && statuses.dropFirst(looked).allSatisfy { $0 == 429 }, "\(statuses)")
        #expect(try await client.send(.GET, "/manager/announcement").status == 200)
        try await manager.stop()
    }

    @Test("/metrics needs the bearer token when one is set")
    func metricsToken() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current(), extraConfig: "[auth]\nmetrics_token = \"s3cret\"")
        #expect(try await HTTP.get("\(manager.endpoint)/metrics").status == 401)
        let wrong = try await HTTP.send(.GET, "\(manager.endpoint)/metrics", headers: [("Authorization", "Bearer nope")])
        #expect(wrong.status == 401)
        let right = try await HTTP.send(.GET, "\(manager.endpoint)/metrics", headers: [("Authorization", "Bearer s3cret")])
        #expect(right.status == 200 && right.text.contains("manager_sessions"), "\(right.text.prefix(200))")
        try await manager.stop()
    }

    @Test("projects need membership, private scaling groups an association; get-available lists what one may use")
    func enqueueAuthorization() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment)
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let user = try await manager.createUserKeypair(email: "member@example.com")
        let client = SignedClient(endpoint: manager.endpoint, accessKey: user.accessKey, secretKey: user.secretKey)
        let projectID = try #require(try await pool.query(
            "INSERT INTO groups (name, domain_name) VALUES ('lab', 'default') RETURNING id").first?.decode("id", as: UUID.self))
        let notMember = try await Self.create(client, "auth-x1", ["group": "lab"])
        #expect(notMember.status == 403 && notMember.text.contains("not a member of the project 'lab'"), "\(notMember.text)")
        try await pool.query(
            "INSERT INTO group_members (group_id, user_id) SELECT \(projectID), user_id FROM keypairs WHERE access_key = \(user.accessKey)")
        #expect(try await Self.create(client, "auth-x2", ["group": "lab"]).status == 201)

        let sg = #"mutation { create_scaling_group(name: "sg-private", props: {is_public: false}) { ok msg } }"#
        _ = try await Self.graphQL(manager.admin, sg)
        let privateGroup = try await Self.create(client, "auth-x3", ["config": ["scalingGroup": "sg-private"]])
        #expect(privateGroup.status == 404, "\(privateGroup.text)")
        let cli = BackendAICLI(environment: environment, endpoint: manager.endpoint, accessKey: user.accessKey, secretKey: user.secretKey)
        let before = try await cli.run(["admin", "scaling-group", "get-available", "lab"])
        #expect(before.stdout.contains("default") && !before.stdout.contains("sg-private"), "\(before.stdout) \(before.stderr)")

        let associate = """
            mutation($g: UUID!) { associate_scaling_group_with_user_group(scaling_group: "sg-private", user_group: $g) { ok msg } }
            """
        let associated = try await Self.graphQL(manager.admin, associate, ["g": projectID.uuidString.lowercased()])
        #expect((associated["associate_scaling_group_with_user_group"] as? [String: Any])?["ok"] as? Bool == true, "\(associated)")
        #expect(try await Self.create(client, "auth-x4", ["group": "lab", "config": ["scalingGroup": "sg-private"]]).status == 201)
        // Only through that project.
        #expect(try await Self.create(client, "auth-x5", ["config": ["scalingGroup": "sg-private"]]).status == 404)
        let after = try await cli.run(["admin", "scaling-group", "get-available", "lab"])
        #expect(after.stdout.contains("sg-private"), "\(after.stdout)")

        // Domain-wide: every project of the domain.
        let byDomain = #"mutation { associate_scaling_group_with_domain(scaling_group: "sg-private", domain: "default") { ok msg } }"#
        _ = try await Self.graphQL(manager.admin, byDomain)
        #expect(try await Self.create(client, "auth-x6", ["config": ["scalingGroup": "sg-private"]]).status == 201)
        let unknownProject = try await client.send(.GET, "/scaling-groups?group=nope")
        #expect(unknownProject.status == 404)
        try await manager.stop()
    }

    @Test("two tenants: A fills its pending quota with reservations, opens streams to its cap and exceeds its rate limit; B's session runs to SUCCESS and B sees no 429 or 503")
    func twoTenants() async throws {
        let manager = try await ManagerProcess(
            try TestEnvironment.current(), extraConfig: "[auth]\nmax_streams_per_keypair = 3", localAgent: .init())
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let a = try await Self.tenant(manager, "tenant-a@example.com", policy: "tenant-a", ["max_pending_session_count": 40])
        let limited = try await Self.graphQL(
            manager.admin, #"mutation($k: String!) { modify_keypair(access_key: $k, props: {rate_limit: 120}) { ok } }"#,
            ["k": a.accessKey])
        #expect((limited["modify_keypair"] as? [String: Any])?["ok"] as? Bool == true)
        let bKeys = try await manager.createUserKeypair(email: "tenant-b@example.com")
        let b = SignedClient(endpoint: manager.endpoint, accessKey: bKeys.accessKey, secretKey: bKeys.secretKey)

        // A: reservations until the pending quota refuses, then streams to the cap, then requests past its limit.
        var aStatuses: [Int] = []
        for index in 0..<45 {
            aStatuses.append(try await Self.create(a, "reserved-\(index)", ["starts_at": "2099-01-01T00:00:00+00:00"]).status)
        }
        #expect(aStatuses.prefix(40).allSatisfy { $0 == 201 } && aStatuses.dropFirst(40).allSatisfy { $0 == 412 }, "\(aStatuses)")
        func open(_ client: SignedClient) async throws -> HTTPClientResponse {
            var request = HTTPClientRequest(url: manager.endpoint + "/events/session")
            for (name, value) in client.headers(method: "GET", pathAndQuery: "/events/session", contentType: nil) {
                request.headers.add(name: name, value: value)
            }
            return try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        }
        var aStreams: [HTTPClientResponse] = []
        for _ in 0..<3 { aStreams.append(try await open(a)) }
        #expect(aStreams.allSatisfy { $0.status == .ok })
        #expect(try await open(a).status == .tooManyRequests)

        // B works while A floods requests from 8 workers until every one of them has been refused.
        var bStatuses: [Int] = []
        let aRefused = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    var refused = 0
                    for _ in 0..<40 where refused < 5 {
                        if try await a.send(.GET, "/manager/announcement").status == 429 { refused += 1 }
                    }
                    return refused
                }
            }
            let bStream = try await open(b)
            bStatuses.append(Int(bStream.status.code))
            bStatuses.append(try await Self.create(b, "b-work", ["startupCommand": "echo from-b"]).status)
            for _ in 0..<10 {
                bStatuses.append(try await b.send(.GET, "/session/b-work").status)
                bStatuses.append(try await b.send(.POST, "/admin/gql", json: ["query": "{ compute_session_list(limit: 10, offset: 0) { total_count } }"]).status)
            }
            var refused = 0
            for try await count in group { refused += count }
            return refused
        }
        #expect(aRefused > 0, "A was never rate limited")
        #expect(bStatuses.allSatisfy { (200..<300).contains($0) }, "B got \(bStatuses)")
        let rows = try await SessionProbe(pool: pool).waitFor(["b-work"], in: ["TERMINATED", "ERROR", "CANCELLED"], timeout: .seconds(60))
        #expect(rows["b-work"]?.result == "SUCCESS", "\(String(describing: rows["b-work"]))")
        let logs = try await b.send(.GET, "/session/b-work/logs")
        #expect(logs.status == 200 && logs.text.contains("from-b"), "\(logs.text)")
        withExtendedLifetime(aStreams) {}
        try await manager.stop()
    }

    @Test("max_vfolder_size refuses a clone larger than it, with the sizes; under it the clone goes ahead")
    func vfolderSize() async throws {
        let setup = try await VFolderTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let tenant = try await Self.tenant(setup.manager, "sized@example.com", policy: "sized", ["max_vfolder_size": 10_000])
        #expect(try await tenant.send(.POST, "/folders", json: ["name": "sized-src", "cloneable": true]).status == 201)
        let source = try await setup.path(of: "sized-src")
        #expect(FileManager.default.createFile(atPath: source + "/small", contents: Data(count: 4_000)))
        let fits = try await tenant.send(.POST, "/folders/sized-src/clone", json: ["target_name": "sized-copy"])
        #expect(fits.status == 201, "\(fits.text)")
        #expect(FileManager.default.createFile(atPath: source + "/large", contents: Data(count: 20_000)))
        let tooLarge = try await tenant.send(.POST, "/folders/sized-src/clone", json: ["target_name": "sized-copy2"])
        #expect(tooLarge.status == 412, "\(tooLarge.text)")
        #expect((tooLarge.json?["msg"] as? String)?.contains("max_vfolder_size is 10000") == true, "\(tooLarge.text)")
        let written = try await setup.pool.query("SELECT count(*) AS n FROM vfolders WHERE name = 'sized-copy2'").first?.decode("n", as: Int.self)
        #expect(written == 0)
        try await setup.manager.stop()
    }
}
