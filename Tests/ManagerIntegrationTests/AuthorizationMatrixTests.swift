import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

/// Every route and GraphQL field, called by a normal user on another user's objects and on admin-only operations:
/// each is refused, nothing of the other user's shows, and nothing changes.
@Suite struct AuthorizationMatrixTests {
    struct Call: Sendable, CustomStringConvertible {
        let method: HTTPMethod
        let path: String
        var json: [String: any Sendable]?
        /// Statuses that count as refused for this call.
        var refusedWith: Set<Int>
        var description: String { "\(self.method.rawValue) \(self.path)" }
    }

    @Test("a user is refused another user's sessions, folders, tasks and streams, and every admin-only operation")
    func matrix() async throws {
        let environment = try TestEnvironment.current()
        let setup = try await VFolderTests.setUp(rateLimit: "64k")
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let manager = setup.manager
        let ownerKeys = try await manager.createUserKeypair(email: "owner@example.com")
        let intruderKeys = try await manager.createUserKeypair(email: "intruder@example.com")
        let owner = SignedClient(endpoint: manager.endpoint, accessKey: ownerKeys.accessKey, secretKey: ownerKeys.secretKey)
        let intruder = SignedClient(endpoint: manager.endpoint, accessKey: intruderKeys.accessKey, secretKey: intruderKeys.secretKey)

        // The owner's objects: a session, a folder (cloneable, with a file), a running clone task, a webhook delivery.
        let session = try await owner.send(.POST, "/session", json: [
            "name": "owned-session", "image": "python:3.11", "enqueueOnly": true, "callback_url": "http://127.0.0.1:9/hook"])
        #expect(session.status == 201, "\(session.text)")
        let sessionID = try #require(session.json?["sessionId"] as? String)
        let folder = try await owner.send(.POST, "/folders", json: ["name": "owned-folder", "cloneable": true])
        #expect(folder.status == 201, "\(folder.text)")
        let folderID = try #require(folder.json?["id"] as? String)
        try TreeSnapshot.populate(try await setup.path(of: "owned-folder"), sizes: [4 << 20])
        let clone = try await owner.send(.POST, "/folders/owned-folder/clone", json: ["target_name": "owned-copy"])
        #expect(clone.status == 201, "\(clone.text)")
        let taskID = try #require(clone.json?["bgtask_id"] as? String)
        let deliveryID: String = try await {
            var id: UUID?
            try await eventually("the callback delivery row") {
                id = try await setup.pool.query("SELECT id FROM webhook_deliveries LIMIT 1").first?.decode("id")
                return id != nil
            }
            return try #require(id).uuidString.lowercased()
        }()

        let before = try await Self.snapshot(setup.pool)
        let notFound: Set<Int> = [404]
        let forbidden: Set<Int> = [403]
        let calls: [Call] = [
            // Sessions, by name and by id.
            Call(method: .GET, path: "/session/owned-session", refusedWith: notFound),
            Call(method: .GET, path: "/session/\(sessionID)", refusedWith: notFound),
            Call(method: .GET, path: "/session/owned-session/dependency-graph", refusedWith: notFound),
            Call(method: .GET, path: "/session/owned-session/logs", refusedWith: notFound),
            Call(method: .DELETE, path: "/session/owned-session", refusedWith: notFound),
            Call(method: .DELETE, path: "/session/\(sessionID)?recursive=true&forced=true", refusedWith: notFound),
            Call(method: .GET, path: "/session/owned-session?owner_access_key=\(ownerKeys.accessKey)", refusedWith: forbidden),
            Call(method: .DELETE, path: "/session/owned-session?owner_access_key=\(ownerKeys.accessKey)", refusedWith: forbidden),
            Call(method: .POST, path: "/session", json: [
                "name": "as-owner", "image": "python:3.11", "owner_access_key": ownerKeys.accessKey], refusedWith: forbidden),
            Call(method: .POST, path: "/session", json: [
                "name": "depends-on-owner", "image": "python:3.11", "dependencies": [sessionID]], refusedWith: [400]),
            Call(method: .POST, path: "/session", json: [
                "name": "mounts-owner", "image": "python:3.11", "config": ["mounts": ["owned-folder"]]], refusedWith: notFound),
            // Session streams.
            Call(method: .GET, path: "/events/session?sessionName=owned-session", refusedWith: notFound),
            Call(method: .GET, path: "/events/session?sessionName=\(sessionID)", refusedWith: notFound),
            Call(method: .GET, path: "/events/session?owner_access_key=\(ownerKeys.accessKey)", refusedWith: forbidden),
            // Folders, by name and by id.
            Call(method: .GET, path: "/folders/owned-folder", refusedWith: notFound),
            Call(method: .GET, path: "/folders/\(folderID)", refusedWith: notFound),
            Call(method: .DELETE, path: "/folders/owned-folder", refusedWith: notFound),
            Call(method: .DELETE, path: "/folders", json: ["id": folderID], refusedWith: notFound),
            Call(method: .POST, path: "/folders/purge", json: ["id": folderID], refusedWith: notFound),
            Call(method: .POST, path: "/folders/restore-from-trash-bin", json: ["id": folderID], refusedWith: notFound),
            Call(method: .POST, path: "/folders/owned-folder/clone", json: ["target_name": "stolen"], refusedWith: notFound),
            Call(method: .POST, path: "/folders/\(folderID)/clone", json: ["target_name": "stolen"], refusedWith: notFound),
            // Background tasks and their stream.
            Call(method: .GET, path: "/bgtasks/\(taskID)", refusedWith: notFound),
            Call(method: .DELETE, path: "/bgtasks/\(taskID)", refusedWith: notFound),
            Call(method: .GET, path: "/events/background-task?task_id=\(taskID)", refusedWith: notFound),
            // Admin-only routes.
            Call(method: .GET, path: "/webhooks/deliveries", refusedWith: forbidden),
            Call(method: .GET, path: "/webhooks/deliveries?session_id=\(sessionID)", refusedWith: forbidden),
            Call(method: .POST, path: "/webhooks/deliveries/\(deliveryID)/redeliver", refusedWith: forbidden),
        ]
        for call in calls {
            let response = try await intruder.send(call.method, call.path, json: call.json)
            #expect(call.refusedWith.contains(response.status), "\(call): \(response.status) \(response.text.prefix(300))")
            #expect(response.header("Content-Type") == "application/problem+json", "\(call)")
            // A refusal never echoes the other user's data.
            #expect(!response.text.contains(ownerKeys.accessKey) || call.path.contains(ownerKeys.accessKey), "\(call)")
            #expect(!response.text.contains("owned-copy"), "\(call)")
        }

        // Lists show none of the owner's objects.
        let folders = try await intruder.send(.GET, "/folders")
        #expect(folders.status == 200 && !folders.text.contains("owned-"), "\(folders.text)")
        let allFolders = try await intruder.send(.GET, "/folders?all=true")
        #expect(allFolders.status == 200 && !allFolders.text.contains("owned-"), "\(allFolders.text)")

        // GraphQL: every query field a user may call shows nothing of the owner's; admin-only fields are refused.
        let visibleNothing = [
            "{ compute_session_list(limit: 100, offset: 0) { total_count items { name } } }",
            "{ compute_session_list(limit: 100, offset: 0, access_key: \"\(ownerKeys.accessKey)\") { total_count items { name } } }",
            "{ compute_session(id: \"\(sessionID)\") { name } }",
            "{ vfolder_list(limit: 100, offset: 0) { total_count items { name } } }",
            "{ vfolder_list(limit: 100, offset: 0, all: true) { total_count items { name } } }",
            "{ vfolder_own_list(limit: 100, offset: 0) { total_count items { name } } }",
            "{ keypair { access_key secret_key } }",
        ]
        for query in visibleNothing {
            let response = try await intruder.send(.POST, "/admin/gql", json: ["query": query])
            #expect(response.status == 200, "\(query): \(response.text)")
            #expect(response.json?["errors"] == nil && response.json?["data"] != nil, "\(query): \(response.text)")
            #expect(!response.text.contains("owned-") && !response.text.contains(ownerKeys.accessKey)
                    && !response.text.contains(ownerKeys.secretKey), "\(query): \(response.text)")
        }
        let keypair = try await intruder.send(.POST, "/admin/gql", json: ["query": "{ keypair { access_key } }"])
        #expect(keypair.text.contains(intruderKeys.accessKey), "the keypair field answers the caller's own key: \(keypair.text)")
        let adminOnly = [
            "{ agent_list(limit: 10, offset: 0) { total_count items { id } } }",
            "{ scaling_groups { name scheduler_opts wsproxy_api_token } }",
            "{ scaling_group(name: \"default\") { name scheduler_opts } }",
            #"mutation { create_scaling_group(name: "mine", props: {}) { ok msg } }"#,
            #"mutation { modify_scaling_group(name: "default", props: {description: "taken"}) { ok msg } }"#,
            #"mutation { delete_scaling_group(name: "default") { ok msg } }"#,
        ]
        for query in adminOnly {
            let response = try await intruder.send(.POST, "/admin/gql", json: ["query": query])
            let errors = response.json?["errors"] as? [[String: Any]] ?? []
            #expect(errors.contains { ($0["message"] as? String)?.contains("Only an admin") == true }, "\(query): \(response.text)")
        }

        // Nothing changed; the owner still reaches everything, and an admin may act on it.
        #expect(try await Self.snapshot(setup.pool) == before)
        #expect(try await owner.send(.GET, "/session/owned-session").status == 200)
        #expect(try await owner.send(.GET, "/folders/owned-folder").status == 200)
        #expect(try await owner.send(.GET, "/bgtasks/\(taskID)").status == 200)
        #expect(try await setup.admin.send(.GET, "/session/owned-session?owner_access_key=\(ownerKeys.accessKey)").status == 200)
        #expect(try await setup.admin.send(.GET, "/webhooks/deliveries").status == 200)
        _ = environment
        try await manager.stop()
    }

    /// What the intruder might have changed: sessions, folders, tasks, groups, deliveries (ignoring the clone's
    /// progress and the delivery attempts, which move by themselves).
    static func snapshot(_ pool: PostgresPool) async throws -> [String] {
        var lines: [String] = []
        for row in try await pool.query("SELECT name, status, access_key FROM sessions ORDER BY name") {
            lines.append("session \(try row.decode("name", as: String.self)) \(try row.decode("status", as: String.self)) \(try row.decode("access_key", as: String.self))")
        }
        for row in try await pool.query("SELECT name, status FROM vfolders WHERE status <> 'cloning' ORDER BY name") {
            lines.append("folder \(try row.decode("name", as: String.self)) \(try row.decode("status", as: String.self))")
        }
        for row in try await pool.query("SELECT name, coalesce(description, '') AS d, is_active FROM scaling_groups ORDER BY name") {
            lines.append("group \(try row.decode("name", as: String.self)) \(try row.decode("d", as: String.self)) \(try row.decode("is_active", as: Bool.self))")
        }
        let cancels: Int = try await pool.query(
            "SELECT count(*)::int AS n FROM background_tasks WHERE cancel_requested").first?.decode("n") ?? -1
        lines.append("cancel requests \(cancels)")
        let redeliveries: Int = try await pool.query("SELECT count(*)::int AS n FROM webhook_deliveries").first?.decode("n") ?? -1
        lines.append("deliveries \(redeliveries)")
        return lines
    }
}

/// The request itself: a replay, a stale or future Date, another host's signature, an inactive key.
@Suite struct RequestAuthenticityTests {
    @Test("an exact replay is accepted inside max_clock_skew and refused after it; another host's signature never verifies")
    func replayWindow() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current(), extraConfig: "[auth]\nmax_clock_skew = \"2s\"")
        let path = "/manager/announcement"
        let headers = manager.admin.headers(method: "GET", pathAndQuery: path, contentType: "text/plain")
        let first = try await HTTP.send(.GET, manager.endpoint + path, headers: headers)
        #expect(first.status == 200, "\(first.text)")
        try await Task.sleep(for: .seconds(3))
        let replayed = try await HTTP.send(.GET, manager.endpoint + path, headers: headers)
        #expect(replayed.status == 401)
        #expect(replayed.json?["msg"] as? String == "The request's Date is too far from the server's clock.", "\(replayed.text)")

        // Signed for another host (a request captured from one manager, sent to this one), with a fresh Date.
        let elsewhere = manager.admin.headers(method: "GET", pathAndQuery: path, contentType: "text/plain", host: "other-manager:8091")
        let moved = try await HTTP.send(.GET, manager.endpoint + path, headers: elsewhere)
        #expect(moved.status == 401 && moved.json?["type"] as? String == "https://api.backend.ai/probs/auth-failed")
        // A POST whose signature covered another path is refused before its body is read, and writes nothing.
        let body = try JSONSerialization.data(withJSONObject: ["name": "smuggled", "image": "python:3.11", "enqueueOnly": true])
        let wrongPath = manager.admin.headers(method: "POST", pathAndQuery: "/folders", contentType: "application/json")
        let smuggled = try await HTTP.send(.POST, manager.endpoint + "/session", headers: wrongPath, body: body)
        #expect(smuggled.status == 401)
        let stored = try await manager.database.withPool { pool in
            try await pool.query("SELECT count(*)::int AS n FROM sessions").first?.decode("n", as: Int.self)
        }
        #expect(stored == 0)
        try await manager.stop()
    }
}
