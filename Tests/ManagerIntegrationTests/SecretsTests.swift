import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

/// Secrets (secret keys, the agent secret, webhook secrets, the database password) never reach a log line or a
/// response that is not the owner's own keypair.
@Suite struct SecretsTests {
    @Test("secret keys, agent and webhook secrets and the database password appear in no log line and no other response")
    func secretsStayOut() async throws {
        let environment = try TestEnvironment.current()
        let database = try await TestDatabase.create(environment, migrated: false)
        // The test server trusts local connections, so a password in the URL is accepted and ignored: it must
        // still never be printed.
        let databasePassword = "db-pass-\(UUID().uuidString.prefix(8))"
        let withPassword = TestDatabase(
            name: database.name, conninfo: database.conninfo + " password=\(databasePassword)", environment: environment)
        let webhookSecret = "hook-secret-\(UUID().uuidString.prefix(8))"
        let callbackSecret = "callback-secret-\(UUID().uuidString.prefix(8))"
        let volume = try environment.scratchDirectory("volume1")
        let manager = try await ManagerProcess(
            environment, database: withPassword,
            extraConfig: VFolderTests.storageConfig(volume: volume, rateLimit: "0", lease: "10s") + """

                [webhook_delivery]
                callback_secret = "\(callbackSecret)"
                retry_base = "200ms"
                [[webhooks]]
                name = "ops"
                url = "http://127.0.0.1:9/ops"
                secret = "\(webhookSecret)"
                """,
            localAgent: .init())
        let user = try await manager.createUserKeypair(email: "user@example.com")
        let client = SignedClient(endpoint: manager.endpoint, accessKey: user.accessKey, secretKey: user.secretKey)

        // Exercise what logs: sessions run and fail, a bad signature, an unknown key, GraphQL, folders, webhooks
        // failing against a closed port, agent syncs (with the agent secret), a refused agent.
        var responses: [HTTPResult] = []
        responses.append(try await client.send(.POST, "/session", json: [
            "name": "logs-secrets", "image": "python:3.11", "type": "batch", "startupCommand": "exit 3",
            "callback_url": "http://127.0.0.1:9/cb"]))
        responses.append(try await client.send(.GET, "/session/logs-secrets"))
        responses.append(try await client.send(.GET, "/session/logs-secrets/logs"))
        responses.append(try await client.send(.POST, "/admin/gql", json: ["query": "{ compute_session_list(limit: 5, offset: 0) { items { name status } } }"]))
        responses.append(try await manager.admin.send(.POST, "/admin/gql", json: ["query": "{ agent_list(limit: 5, offset: 0) { items { id addr local_config } } }"]))
        responses.append(try await manager.admin.send(.GET, "/webhooks/deliveries"))
        responses.append(try await client.send(.POST, "/folders", json: ["name": "data"]))
        responses.append(try await client.send(.GET, "/folders/data"))
        responses.append(try await SignedClient(endpoint: manager.endpoint, accessKey: user.accessKey, secretKey: "wrong")
            .send(.GET, "/manager/announcement"))
        responses.append(try await SignedClient(endpoint: manager.endpoint, accessKey: "AKIANOSUCHKEY0000000", secretKey: user.secretKey)
            .send(.GET, "/manager/announcement"))
        responses.append(try await HTTP.send(
            .POST, manager.endpoint + AgentProtocol.path, headers: [("Authorization", "Bearer wrong-\(ManagerProcess.agentSecret)")],
            body: Data("{}".utf8)))
        responses.append(try await HTTP.get("\(manager.endpoint)/metrics"))
        responses.append(try await HTTP.get("\(manager.endpoint)/health"))
        try await eventually("the session to end and its webhooks to be tried", timeout: .seconds(60)) {
            let attempts = try await manager.database.withPool { pool in
                try await pool.query("SELECT count(*)::int AS n FROM webhook_attempts").first?.decode("n", as: Int.self)
            }
            return (attempts ?? 0) >= 4
        }
        // The one place a secret key is shown, as in Backend.AI: the caller's own keypair (not kept in `responses`).
        let own = try await client.send(.POST, "/admin/gql", json: ["query": "{ keypair { secret_key } }"])
        #expect(own.text.contains(user.secretKey), "\(own.text)")
        try await manager.stop()

        let secrets = [
            ("the user's secret key", user.secretKey), ("the admin's secret key", manager.adminSecretKey),
            ("the agent secret", ManagerProcess.agentSecret), ("a webhook secret", webhookSecret),
            ("the callback secret", callbackSecret), ("the database password", databasePassword),
        ]
        let log = manager.log()
        #expect(log.count > 2000, "the manager logged too little to judge: \(log)")
        for (label, secret) in secrets {
            #expect(!log.contains(secret), "\(label) is in the log")
            for response in responses {
                #expect(!response.text.contains(secret), "\(label) is in a response: \(response.text.prefix(200))")
            }
        }
    }
}
