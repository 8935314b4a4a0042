import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

/// Agents have identities: a token per agent bound to its id and scaling group, and an epoch fence so that two live
/// processes never share one agent id.
@Suite struct AgentIdentityTests {
    static func body(id: String, group: String = "default", epoch: Int64? = nil) throws -> Data {
        var body: [String: Any] = [
            "agent": ["id": id, "scaling_group": group, "architecture": "x86_64", "available_slots": ["cpu": "1", "mem": "1g"],
                      "addr": "", "version": ""],
            "acked": [], "reports": [], "wait": 0,
        ]
        if let epoch { body["epoch"] = epoch }
        return try JSONSerialization.data(withJSONObject: body)
    }

    static func sync(_ manager: ManagerProcess, credential: String, _ body: Data) async throws -> HTTPResult {
        try await HTTP.send(
            .POST, manager.endpoint + AgentProtocol.path,
            headers: [("Authorization", "Bearer \(credential)"), ("Content-Type", "application/json")], body: body)
    }

    static func token(_ manager: ManagerProcess, id: String, group: String = "default") async throws -> String {
        let created = try await manager.command(["agent-token", "create", "--id", id, "--scaling-group", group])
        #expect(created.status == 0, "\(created.stderr)")
        return try #require(ManagerProcess.parseKeys(created.stdout)["token"])
    }

    @Test("a token is bound to its agent id and scaling group; a revoked or unknown one is refused; only its digest is stored")
    func tokens() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current())
        let token = try await Self.token(manager, id: "gpu-1")
        let joined = try await Self.sync(manager, credential: token, try Self.body(id: "gpu-1"))
        #expect(joined.status == 200, "\(joined.text)")
        #expect(joined.json?["epoch"] as? Int == 1)
        let impostor = try await Self.sync(manager, credential: token, try Self.body(id: "gpu-2"))
        #expect(impostor.status == 403 && impostor.text.contains("belongs to agent 'gpu-1'"), "\(impostor.text)")
        let otherGroup = try await manager.admin.send(.POST, "/admin/gql", json: [
            "query": #"mutation { create_scaling_group(name: "sg-two", props: {}) { ok } }"#,
        ])
        #expect(otherGroup.status == 200)
        let moved = try await Self.sync(manager, credential: token, try Self.body(id: "gpu-1", group: "sg-two", epoch: 1))
        #expect(moved.status == 403 && moved.text.contains("only the scaling group 'default'"), "\(moved.text)")
        let stored = try await manager.database.withPool { pool in
            try await pool.query("SELECT token_sha256 FROM agent_tokens WHERE agent_id = 'gpu-1'").first?.decode("token_sha256", as: String.self)
        }
        #expect(stored == AgentCredential.digest(token) && stored != token)

        let revoke = try await manager.command(["agent-token", "revoke", "--id", "gpu-1"])
        #expect(revoke.status == 0, "\(revoke.stderr)")
        #expect(try await Self.sync(manager, credential: token, try Self.body(id: "gpu-1", epoch: 1)).status == 401)
        #expect(try await Self.sync(manager, credential: "made-up", try Self.body(id: "gpu-1")).status == 401)
        let list = try await manager.command(["agent-token", "list"])
        #expect(list.stdout.contains("gpu-1\tdefault") && list.stdout.contains("revoked") && !list.stdout.contains(token))
        try await manager.stop()
    }

    @Test("two agent processes claiming one id: exactly one is served, no session starts twice")
    func twoProcessesOneID() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment)
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let token = try await Self.token(manager, id: "twin")
        let first = try AgentProcess(environment, managerEndpoint: manager.endpoint, id: "twin", token: token)
        try await eventually("the first twin to join") {
            try await pool.query("SELECT 1 FROM agents WHERE id = 'twin' AND status = 'ALIVE'").first != nil
        }
        let second = try AgentProcess(environment, managerEndpoint: manager.endpoint, id: "twin", token: token)
        try await eventually("the second twin to be refused") { second.log().contains("409") }

        let cli = BackendAICLI(
            environment: environment, endpoint: manager.endpoint, accessKey: manager.adminAccessKey,
            secretKey: manager.adminSecretKey)
        for index in 0..<4 {
            let created = try await cli.run(["session", "create", "--type", "batch", "-c", "echo twin-\(index)", "-t", "twin-job-\(index)", "python:3.11"])
            #expect(created.status == 0, "\(created.stderr)")
        }
        let names = (0..<4).map { "twin-job-\($0)" }
        let rows = try await SessionProbe(pool: pool).waitFor(names, in: ["TERMINATED", "ERROR", "CANCELLED"], timeout: .seconds(60))
        for name in names {
            #expect(rows[name]?.result == "SUCCESS", "\(name): \(String(describing: rows[name])) \(second.log().suffix(2000))")
        }
        // One start each, and only the first process ran anything (the second never got a command).
        let starts = try await pool.query(
            "SELECT count(*) AS n FROM agent_commands WHERE kind = 'start'").first?.decode("n", as: Int.self)
        #expect(starts == 4)
        let sessionsOfSecond = (try? FileManager.default.contentsOfDirectory(
            atPath: second.workDir.appendingPathComponent("sessions-root/sessions").path)) ?? []
        #expect(sessionsOfSecond.isEmpty, "\(sessionsOfSecond)")
        let epoch = try await pool.query("SELECT epoch FROM agents WHERE id = 'twin'").first?.decode("epoch", as: Int.self)
        #expect(epoch == 1)
        try await second.kill()
        try await first.kill()
        first.killSessionProcesses()
        try await manager.stop()
    }

    @Test("the fence: a stale epoch is refused; a silent holder can be replaced, and is then refused")
    func fence() async throws {
        let manager = try await ManagerProcess(try TestEnvironment.current(), heartbeatTimeout: "2s")
        let secret = ManagerProcess.agentSecret
        let joined = try await Self.sync(manager, credential: secret, try Self.body(id: "solo"))
        #expect(joined.json?["epoch"] as? Int == 1)
        let rival = try await Self.sync(manager, credential: secret, try Self.body(id: "solo"))
        #expect(rival.status == 409 && rival.text.contains("held by a live process"), "\(rival.text)")
        #expect(try await Self.sync(manager, credential: secret, try Self.body(id: "solo", epoch: 7)).status == 409)
        #expect(try await Self.sync(manager, credential: secret, try Self.body(id: "solo", epoch: 1)).status == 200)
        // Silent past heartbeat_timeout: a new process takes over, and the old one is fenced off.
        try await Task.sleep(for: .milliseconds(2500))
        let takeover = try await Self.sync(manager, credential: secret, try Self.body(id: "solo"))
        #expect(takeover.status == 200 && takeover.json?["epoch"] as? Int == 2, "\(takeover.text)")
        let stale = try await Self.sync(manager, credential: secret, try Self.body(id: "solo", epoch: 1))
        #expect(stale.status == 409 && stale.text.contains("taken over"), "\(stale.text)")
        try await manager.stop()
    }

    @Test("a second replica on the same database with the default config does not share the first replica's agent")
    func replicasHaveTheirOwnAgents() async throws {
        let environment = try TestEnvironment.current()
        let first = try await ManagerProcess(environment, localAgent: .init(id: nil))
        let second = try await ManagerProcess(environment, database: first.database, localAgent: .init(id: nil), migrate: false)
        let pool = first.database.makePool()
        defer { Task { await pool.close() } }
        try await eventually("both embedded agents to join") {
            try await pool.query("SELECT count(*) AS n FROM agents WHERE status = 'ALIVE'").first?.decode("n", as: Int.self) == 2
        }
        let ids = try await pool.query("SELECT id FROM agents ORDER BY id").map { try $0.decode("id", as: String.self) }
        #expect(Set(ids).count == 2 && ids.allSatisfy { $0.hasSuffix("-\(first.port)") || $0.hasSuffix("-\(second.port)") }, "\(ids)")
        try await second.stop()
        try await first.stop()
    }
}
