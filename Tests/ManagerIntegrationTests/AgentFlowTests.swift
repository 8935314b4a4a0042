import Foundation
import NIOHTTP1
import SchedulerKit
import Testing
@testable import ManagerCore

/// Remote agents (`manager agent`) joining over HTTP: liveness, restarts, and several manager replicas.
@Suite struct AgentFlowTests {
    static func agentCount(_ pool: PostgresPool, status: String = "ALIVE") async throws -> Int {
        try await pool.query("SELECT count(*) AS n FROM agents WHERE status = \(status)").first?.decode("n") ?? 0
    }

    @Test("an agent killed with SIGKILL is marked LOST: its sessions end ERROR agent-lost and its slots are freed")
    func killedAgentIsLost() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment, heartbeatTimeout: "3s")
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let probe = SessionProbe(pool: pool)
        let agent = try AgentProcess(environment, managerEndpoint: manager.endpoint, id: "remote-1", cpu: "2", mem: "2g")
        try await probe.wait("the agent to join", timeout: .seconds(30), describe: { agent.log() }) {
            try await Self.agentCount(pool) == 1
        }
        let cli = BackendAICLI(
            environment: environment, endpoint: manager.endpoint, accessKey: manager.adminAccessKey,
            secretKey: manager.adminSecretKey)
        for (name, type) in [("lost-i", "interactive"), ("lost-b", "batch")] {
            let created = try await cli.run(
                ["session", "create", "--type", type, "-c", "exec sleep 120", "-r", "cpu=1", "-t", name, "python:3.11"])
            #expect(created.status == 0, "\(created.stderr)")
        }
        _ = try await probe.waitFor(["lost-i", "lost-b"], in: ["RUNNING"], timeout: .seconds(30))
        // The admin CLI lists the agent with what its sessions hold.
        let listed = try await cli.run(["admin", "agent", "list"])
        #expect(listed.status == 0 && listed.stdout.contains("remote-1") && listed.stdout.contains("ALIVE"),
                "\(listed.stdout) \(listed.stderr)")
        let gql = try await manager.admin.send(.POST, "/admin/gql", json: [
            "query": "query { agent_list(limit: 10, offset: 0, status: \"ALIVE\") { items { id occupied_slots available_slots } total_count } }",
        ])
        let list = (gql.json?["data"] as? [String: Any])?["agent_list"] as? [String: Any]
        #expect(list?["total_count"] as? Int == 1, "\(gql.text)")
        let item = (list?["items"] as? [[String: Any]])?.first
        #expect(item?["id"] as? String == "remote-1")
        // JSONString fields: strings that hold JSON; two running one-cpu sessions occupy 2 cpu.
        #expect((item?["occupied_slots"] as? String)?.contains(#""cpu": "2""#) == true, "\(gql.text)")
        // A third session does not fit while both run.
        let third = try await cli.run(["session", "create", "-r", "cpu=1", "-t", "lost-wait", "--enqueue-only", "python:3.11"])
        #expect(third.status == 0)
        try await probe.wait("the third to wait", timeout: .seconds(20)) {
            try await probe.session("lost-wait")?.statusInfo == "no-available-instances"
        }

        try await agent.kill(SIGKILL)
        let rows = try await probe.waitFor(["lost-i", "lost-b"], in: ["ERROR"], timeout: .seconds(30))
        for row in rows.values {
            #expect(row.statusInfo == "agent-lost", "\(row)")
            #expect(row.terminatedAt != nil)
        }
        #expect(rows["lost-b"]?.result == "FAILURE")
        #expect(try await Self.agentCount(pool, status: "LOST") == 1)
        let held = try await pool.query(
            """
            SELECT count(*) AS n FROM sessions
            WHERE agent_id = 'remote-1' AND status = ANY(\(SessionOccupancy.activeNames)::text[])
            """).first?.decode("n", as: Int.self)
        #expect(held == 0, "no session may hold slots on a lost agent")
        let waiting = try #require(try await probe.session("lost-wait"))
        #expect(waiting.status == "PENDING")
        try await probe.wait("the reason to count the lost agent", timeout: .seconds(10)) {
            try await probe.session("lost-wait").flatMap { SessionProbe.scheduler($0, "msg") } == .string("0/1 agents available: 1 not alive")
        }
        let events = try await manager.admin.events("/events/session?name=lost-i", count: 5)
        #expect(events.last?.event == "session_terminated" && events.last?.data.contains("agent-lost") == true, "\(events)")
        agent.killSessionProcesses()
    }

    @Test("an agent restarted mid-session adopts its process: one start, no second process, the result still arrives")
    func agentRestartAdoptsProcess() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment)
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let probe = SessionProbe(pool: pool)
        let workDir = try environment.scratchDirectory("agent-restart")
        var agent = try AgentProcess(environment, managerEndpoint: manager.endpoint, id: "phoenix", workDir: workDir)
        let cli = BackendAICLI(
            environment: environment, endpoint: manager.endpoint, accessKey: manager.adminAccessKey,
            secretKey: manager.adminSecretKey)
        // The session runs until the test releases it, so the restarts below happen mid-session however slow the machine.
        // The sandbox sees only its own folder: the release file is put there (`work/` on the host).
        let created = try await cli.run(
            ["session", "create", "--type", "batch", "-c", "echo started; while [ ! -e release ]; do sleep 0.1; done; echo finished",
             "-t", "phoenix-job", "python:3.11"])
        #expect(created.status == 0, "\(created.stderr)")
        let running = try await probe.waitFor(["phoenix-job"], in: ["RUNNING"], timeout: .seconds(30))
        let sessionID = try #require(running["phoenix-job"]).id.uuidString.lowercased()
        let release = workDir.appendingPathComponent("sessions-root/sessions/\(sessionID)/work/release").path

        // Kill the agent, and stop the manager too while the session runs: neither restart may lose or repeat work.
        try await agent.kill(SIGKILL)
        try await manager.stop()
        try await manager.start()
        agent = try AgentProcess(environment, managerEndpoint: manager.endpoint, id: "phoenix", workDir: workDir)
        try await eventually("the restarted agent to adopt the session") {
            agent.log().contains("adopted a running session")
        }
        #expect(FileManager.default.createFile(atPath: release, contents: Data()))

        let rows = try await probe.waitFor(["phoenix-job"], in: ["TERMINATED", "ERROR"], timeout: .seconds(30))
        let row = try #require(rows["phoenix-job"])
        #expect(row.status == "TERMINATED" && row.result == "SUCCESS" && row.exitCode == 0, "\(row) \(agent.log())")
        let starts = try await pool.query(
            "SELECT count(*) AS n FROM agent_commands WHERE session_id = \(row.id) AND kind = 'start'"
        ).first?.decode("n", as: Int.self)
        #expect(starts == 1)
        let logs = try await cli.run(["session", "logs", row.id.uuidString.lowercased()])
        #expect(logs.stdout.components(separatedBy: "started").count - 1 == 1, "one process only: \(logs.stdout)")
        #expect(logs.stdout.contains("finished"), "\(logs.stdout)")
        #expect(agent.log().contains("adopted a running session"), "\(agent.log())")
        // SIGTERM stops an agent promptly even in the middle of a long poll.
        #expect(try await agent.kill(SIGTERM, within: .seconds(5)), "\(agent.log())")
        agent.killSessionProcesses()
    }

    @Test("an agent with a wrong secret or a bad body is refused with a 4xx naming the problem")
    func agentAuthentication() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment)
        let body: [String: Any] = [
            "agent": ["id": "x", "scaling_group": "default", "architecture": "x86_64", "available_slots": ["cpu": "1"],
                      "addr": "", "version": ""],
            "acked": [], "reports": [], "wait": 0,
        ]
        let data = try JSONSerialization.data(withJSONObject: body)
        let wrong = try await HTTP.send(
            .POST, manager.endpoint + AgentProtocol.path,
            headers: [("Authorization", "Bearer nope"), ("Content-Type", "application/json")], body: data)
        #expect(wrong.status == 401)
        let headers = [("Authorization", "Bearer \(ManagerProcess.agentSecret)"), ("Content-Type", "application/json")]
        var badSlots = body
        badSlots["agent"] = ["id": "x", "scaling_group": "default", "architecture": "x86_64", "available_slots": ["cpu": "lots"],
                             "addr": "", "version": ""]
        let refused = try await HTTP.send(
            .POST, manager.endpoint + AgentProtocol.path, headers: headers, body: try JSONSerialization.data(withJSONObject: badSlots))
        #expect(refused.status == 400)
        #expect(refused.text.contains("agent.available_slots.cpu"), "\(refused.text)")
        var unknownGroup = body
        unknownGroup["agent"] = ["id": "x", "scaling_group": "nope", "architecture": "x86_64", "available_slots": ["cpu": "1"],
                                 "addr": "", "version": ""]
        let group = try await HTTP.send(
            .POST, manager.endpoint + AgentProtocol.path, headers: headers, body: try JSONSerialization.data(withJSONObject: unknownGroup))
        #expect(group.status == 400 && group.text.contains("agent.scaling_group"), "\(group.text)")
        let ok = try await HTTP.send(.POST, manager.endpoint + AgentProtocol.path, headers: headers, body: data)
        #expect(ok.status == 200, "\(ok.text)")
    }

    @Test("simulated agents (--simulate) run batch sessions to SUCCESS and hold interactive ones, with no process or folder")
    func simulatedAgents() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment)
        let pool = manager.database.makePool(maxConnections: 2)
        defer { Task { await pool.close() } }
        let probe = SessionProbe(pool: pool)
        let workDir = try environment.scratchDirectory("simulated")
        let agents = try AgentProcess(
            environment, managerEndpoint: manager.endpoint, id: "sim", cpu: "4", mem: "4g", instances: 2, workDir: workDir,
            extraArguments: ["--simulate"])
        try await probe.wait("2 simulated agents", timeout: .seconds(60), describe: { agents.log() }) {
            try await Self.agentCount(pool) == 2
        }
        // A command that would fail if it ran: a simulated agent runs nothing and reports exit code 0.
        let batch = (1...20).map { "sim-batch-\($0)" }
        for name in batch {
            let created = try await manager.admin.send(.POST, "/session", json: [
                "name": name, "image": "python:3.11", "type": "batch", "startupCommand": "exit 7",
                "config": ["resources": ["cpu": "1", "mem": "1g"]]])
            #expect(created.status == 201, "\(created.text)")
        }
        let interactive = try await manager.admin.send(.POST, "/session", json: [
            "name": "sim-interactive", "image": "python:3.11", "config": ["resources": ["cpu": "1", "mem": "1g"]]])
        #expect(interactive.status == 201)
        let ended = try await probe.waitFor(batch, in: ["TERMINATED"], timeout: .seconds(60))
        for (name, row) in ended {
            #expect(row.result == "SUCCESS" && row.exitCode == 0, "\(name): \(row)")
        }
        _ = try await probe.waitFor(["sim-interactive"], in: ["RUNNING"], timeout: .seconds(30))
        // Every session went through PREPARING and RUNNING, started once.
        for row in try await pool.query("SELECT status_history::text AS h FROM sessions") {
            let history: String = try row.decode("h")
            #expect(history.contains("PREPARING") && history.contains("RUNNING"), "\(history)")
        }
        let starts = try #require(try await pool.query(
            "SELECT count(*)::int AS n, count(DISTINCT session_id)::int AS d FROM agent_commands WHERE kind = 'start'").first)
        #expect(try starts.decode("n", as: Int.self) == 21 && starts.decode("d", as: Int.self) == 21)
        // Stopping the interactive one ends it; nothing was written under the agents' folder.
        #expect(try await manager.admin.send(.DELETE, "/session/sim-interactive").status == 200)
        _ = try await probe.waitFor(["sim-interactive"], in: ["TERMINATED"], timeout: .seconds(30))
        let files = FileManager.default.enumerator(atPath: workDir.path)?.allObjects.compactMap { $0 as? String } ?? []
        #expect(files.filter { $0.split(separator: "/").contains("sessions") }.isEmpty, "\(files.prefix(10))")
        _ = try await agents.kill(SIGTERM)
        try await manager.stop()
    }

    @Test("two manager processes scheduling 2,020 sessions onto 20 agents assign each at most once and never over-commit")
    func twoReplicas() async throws {
        let environment = try TestEnvironment.current()
        let first = try await ManagerProcess(environment)
        let second = try await ManagerProcess(environment, database: first.database, migrate: false)
        let pool = first.database.makePool(maxConnections: 2)
        defer { Task { await pool.close() } }
        let probe = SessionProbe(pool: pool)
        // 20 agents with 100 cpu each (10 through each replica): room for exactly 2,000 one-cpu sessions.
        let agentsA = try AgentProcess(environment, managerEndpoint: first.endpoint, id: "fleet-a", cpu: "100", mem: "100g", instances: 10)
        let agentsB = try AgentProcess(environment, managerEndpoint: second.endpoint, id: "fleet-b", cpu: "100", mem: "100g", instances: 10)
        try await probe.wait("20 agents", timeout: .seconds(60), describe: { agentsA.log() + agentsB.log() }) {
            try await Self.agentCount(pool) == 20
        }
        let total = 2020
        let clients = [first.admin, second.admin]
        try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<16 {
                group.addTask {
                    var failures = 0
                    for index in stride(from: worker, to: total, by: 16) {
                        // Interactive sessions without a command hold their slot until destroyed: no process needed.
                        // 503 means "retry shortly" (the pool was busy): a client does, so the test does too.
                        var status = 0
                        for attempt in 1...5 where status == 0 || status == 503 {
                            if attempt > 1 { try await Task.sleep(for: .milliseconds(200 * attempt)) }
                            status = try await clients[index % 2].send(.POST, "/session", json: [
                                "name": "fleet-\(index)", "image": "python:3.11", "type": "interactive",
                                "config": ["resources": ["cpu": "1", "mem": "1g"]],
                            ]).status
                        }
                        if status != 201 { failures += 1 }
                    }
                    return failures
                }
            }
            var failures = 0
            for try await count in group { failures += count }
            #expect(failures == 0)
        }
        var counts: [String: Int] = [:]
        try await probe.wait("2,000 sessions RUNNING", timeout: .seconds(180), describe: { "\(counts)" }) {
            counts = [:]
            for row in try await pool.query("SELECT status, count(*) AS n FROM sessions GROUP BY status") {
                counts[try row.decode("status")] = try row.decode("n")
            }
            return counts["RUNNING"] == 2000
        }
        try await probe.wait("the last 20 to get their verdict", timeout: .seconds(30)) {
            try await pool.query(
                "SELECT count(*) AS n FROM sessions WHERE status = 'PENDING' AND status_info = 'no-available-instances'"
            ).first?.decode("n", as: Int.self) == 20
        }
        // Every running session was started exactly once, on one agent.
        let starts = try await pool.query(
            "SELECT count(*) AS n, count(DISTINCT session_id) AS d FROM agent_commands WHERE kind = 'start'").first
        #expect(try starts?.decode("n", as: Int.self) == 2000)
        #expect(try starts?.decode("d", as: Int.self) == 2000)
        // No agent holds more than its 100 cpu.
        let perAgent = try await pool.query(
            """
            SELECT agent_id, sum((occupying_slots ->> 'cpu')::numeric)::float8 AS cpu FROM sessions
            WHERE status = ANY(\(SessionOccupancy.activeNames)::text[]) GROUP BY agent_id
            """)
        #expect(perAgent.count == 20)
        for row in perAgent {
            let agent: String = try row.decode("agent_id")
            let cpu: Double = try row.decode("cpu")
            #expect(cpu <= 100, "\(agent) holds \(cpu) cpu")
        }
        // fifo: the oldest waiting session carries the counted reason, the younger ones wait behind it.
        let pending = try await pool.query(
            "SELECT status_data #>> '{scheduler,msg}' AS msg FROM sessions WHERE status = 'PENDING' ORDER BY created_at, id")
        let messages = try pending.map { try $0.decode("msg", as: String.self) }
        // Every agent is full on both slots (100 × 1 cpu, 100 × 1 GiB).
        #expect(messages.first == "0/20 agents available: 20 insufficient cpu, 20 insufficient mem", "\(messages)")
        #expect(messages.dropFirst().allSatisfy { $0.hasPrefix("Waiting behind the older session") }, "\(messages)")
        // Both replicas took part in scheduling or serving agents.
        #expect(first.log().contains("agent joined") && second.log().contains("agent joined"))
    }
}
