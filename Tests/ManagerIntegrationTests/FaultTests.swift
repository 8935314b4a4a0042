import Foundation
import NIOHTTP1
import SchedulerKit
import Testing
@testable import ManagerCore

/// Faults against real processes: PostgreSQL and Redis restarted under load, a replica killed mid-scheduling.
@Suite struct FaultTests {
    /// What one enqueue got.
    struct Outcome: Sendable {
        let name: String
        let status: Int
        let problemType: String?
        let at: ContinuousClock.Instant
    }

    @Test("PostgreSQL restarted under enqueue load: 503 problem+json while it is down, recovery by itself, no 201 lost")
    func postgresRestartUnderLoad() async throws {
        let environment = try TestEnvironment.current()
        let server = try await PrivatePostgres.start(environment)
        let database = TestDatabase(name: "postgres", conninfo: server.conninfo, environment: environment)
        let manager = try await ManagerProcess(
            environment, database: database, extraConfig: "", start: false)
        // Fail fast while the database is away: a request waits at most 1 s for a connection.
        try (try String(contentsOfFile: manager.configPath, encoding: .utf8))
            .replacingOccurrences(of: "[database]\n", with: "[database]\nacquire_timeout = \"1s\"\n")
            .write(toFile: manager.configPath, atomically: true, encoding: .utf8)
        try await manager.start()
        let admin = manager.admin

        let stopLoad = Flag()
        let successes = Counter()
        let load = Task {
            try await withThrowingTaskGroup(of: [Outcome].self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        var outcomes: [Outcome] = []
                        var index = 0
                        while !stopLoad.isSet {
                            let name = "load-\(worker)-\(index)"
                            index += 1
                            do {
                                let response = try await admin.send(
                                    .POST, "/session", json: ["name": name, "image": "python:3.11", "enqueueOnly": true])
                                outcomes.append(Outcome(
                                    name: name, status: response.status, problemType: response.json?["type"] as? String,
                                    at: .now))
                                if response.status == 201 { successes.increment() }
                            } catch {
                                outcomes.append(Outcome(name: name, status: -1, problemType: "\(error)", at: .now))
                            }
                            if response503Pause(outcomes.last) { try await Task.sleep(for: .milliseconds(100)) }
                        }
                        return outcomes
                    }
                }
                var all: [Outcome] = []
                for try await outcomes in group { all += outcomes }
                return all
            }
        }
        // Under way before the fault, however slow the machine is.
        try await eventually("20 enqueues before the stop", timeout: .seconds(60)) { successes.value >= 20 }
        let stoppedAt = ContinuousClock.now
        try await server.stop()
        try await Task.sleep(for: .seconds(3))
        try await server.start()
        let restartedAt = ContinuousClock.now
        // Until the daemon answers 201 again on its own (no restart of the manager).
        try await eventually("enqueues to succeed after the restart", timeout: .seconds(30)) {
            let probe = try await admin.send(.POST, "/session", json: ["name": "probe-\(UUID().uuidString.prefix(8))",
                                                                     "image": "python:3.11", "enqueueOnly": true])
            return probe.status == 201
        }
        try await Task.sleep(for: .seconds(1))
        stopLoad.set()
        let outcomes = try await load.value

        let created = outcomes.filter { $0.status == 201 }
        let unavailable = outcomes.filter { $0.status == 503 }
        let other = outcomes.filter { $0.status != 201 && $0.status != 503 }
        #expect(created.contains { $0.at < stoppedAt }, "no 201 before the stop")
        #expect(created.contains { $0.at > restartedAt }, "no 201 after the restart")
        #expect(unavailable.count > 0, "no 503 while PostgreSQL was down")
        #expect(unavailable.allSatisfy { $0.problemType == "https://api.backend.ai/probs/service-unavailable" })
        #expect(other.isEmpty, "\(other.prefix(5).map { "\($0.status) \($0.problemType ?? "")" })")

        // Every 201 is a committed row.
        let pool = database.makePool()
        defer { Task { await pool.close() } }
        let stored = Set(try await pool.query("SELECT name FROM sessions").map { try $0.decode("name", as: String.self) })
        let lost = created.map(\.name).filter { !stored.contains($0) }
        #expect(lost.isEmpty, "201 but not stored: \(lost.prefix(10))")
        #expect(!manager.log().contains("unexpected error"))
        print("postgres restart: \(created.count) created, \(unavailable.count) answered 503, \(lost.count) lost")
        try await manager.stop()
        try await server.stop()
    }

    @Test("Redis restarted while a task stream is open: the client resumes by Last-Event-ID and misses nothing")
    func redisRestartDuringStreams() async throws {
        let environment = try TestEnvironment.current()
        let redis = try await PrivateRedis.start(environment)
        let volume = try environment.scratchDirectory("volume1")
        let manager = try await ManagerProcess(
            environment, redisPort: redis.port,
            extraConfig: VFolderTests.storageConfig(volume: volume, rateLimit: "1m", lease: "10s"))
        let admin = manager.admin
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let made = try await admin.send(.POST, "/folders", json: ["name": "src", "cloneable": true])
        #expect(made.status == 201, "\(made.text)")
        let sourceID = try #require(made.json?["id"] as? String)
        try TreeSnapshot.populate(volume.path + "/" + sourceID, sizes: [8 << 20])
        let clone = try await admin.send(.POST, "/folders/src/clone", json: ["target_name": "dst"])
        let taskID = try #require(clone.json?["bgtask_id"] as? String)
        let path = "/events/background-task?task_id=\(taskID)"

        // A client that reconnects with Last-Event-ID whenever its stream ends without the task's end.
        let reader = Task {
            var events: [SSEEvent] = []
            var connections = 0
            while connections < 20 {
                connections += 1
                let lastID = events.last(where: { $0.id != nil })?.id
                let batch = (try? await admin.events(path, lastEventID: lastID, count: 100_000, timeout: .seconds(60))) ?? []
                events += batch.filter { $0.event != "server_close" }
                if events.contains(where: { ["bgtask_done", "bgtask_failed", "bgtask_cancelled"].contains($0.event) }) { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            return (events, connections)
        }
        try await Task.sleep(for: .seconds(2))
        try await redis.stop()
        try await Task.sleep(for: .seconds(2))
        try await redis.start()
        let (events, connections) = try await reader.value

        #expect(events.last?.event == "bgtask_done", "\(events.suffix(3)) after \(connections) connections")
        let ids = events.compactMap { $0.id.flatMap(Int.init) }
        let taskUUID = try #require(UUID(uuidString: taskID))
        let logged: Int = try #require(try await pool.query(
            "SELECT count(*)::int AS n FROM background_task_events WHERE task_id = \(taskUUID)").first?.decode("n"))
        // The events after the first one the client saw, each exactly once, to the end of the log.
        let firstID = try #require(ids.first)
        #expect(ids == Array(firstID...logged), "ids \(ids) of \(logged) logged, over \(connections) connections")
        #expect(logged > 5)
        try await manager.stop()
        try await redis.stop()
    }

    @Test("a replica SIGKILLed again and again while scheduling: nothing started twice, no slot leaked, the survivor finishes")
    func replicaKilledWhileScheduling() async throws {
        let environment = try TestEnvironment.current()
        let survivor = try await ManagerProcess(environment)
        let victim = try await ManagerProcess(environment, database: survivor.database, migrate: false)
        let pool = survivor.database.makePool(maxConnections: 2)
        defer { Task { await pool.close() } }
        let probe = SessionProbe(pool: pool)
        // 10 agents × 20 cpu, all reporting to the survivor: 200 one-cpu slots.
        let agents = try AgentProcess(environment, managerEndpoint: survivor.endpoint, id: "k", cpu: "20", mem: "20g", instances: 10)
        try await probe.wait("10 agents", timeout: .seconds(60), describe: { agents.log() }) {
            try await AgentFlowTests.agentCount(pool) == 10
        }
        let total = 300
        let killer = Task {
            var kills = 0
            for _ in 0..<6 {
                try await Task.sleep(for: .milliseconds(Int.random(in: 300...900)))
                try await victim.stop(signal: SIGKILL)
                kills += 1
                try await victim.start()
            }
            return kills
        }
        // One owner through both replicas, so a retry on the other replica finds what an earlier attempt committed.
        let clients = [
            survivor.admin,
            SignedClient(endpoint: victim.endpoint, accessKey: survivor.adminAccessKey, secretKey: survivor.adminSecretKey),
        ]
        var failures = 0
        try await withThrowingTaskGroup(of: Int.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var failed = 0
                    for index in stride(from: worker, to: total, by: 8) {
                        var status = 0
                        var answer = ""
                        for attempt in 1...20 where status != 201 {
                            if attempt > 1 { try await Task.sleep(for: .milliseconds(100 * attempt)) }
                            // Half go through the replica being killed; a refused connection is retried on the other.
                            let client = clients[(index + attempt) % 2]
                            do {
                                let response = try await client.send(.POST, "/session", json: [
                                    "name": "kill-\(index)", "image": "python:3.11", "type": "interactive",
                                    "config": ["resources": ["cpu": "1", "mem": "1g"]], "reuseIfExists": true,
                                ])
                                status = response.status
                                answer = response.text
                            } catch {
                                status = 0
                                answer = "\(error)"
                            }
                            if status == 200 { status = 201 }  // an earlier attempt committed before the kill
                        }
                        if status != 201 {
                            failed += 1
                            print("kill-\(index) not enqueued: \(status) \(answer.prefix(300))")
                        }
                    }
                    return failed
                }
            }
            for try await count in group { failures += count }
        }
        let kills = try await killer.value
        #expect(failures == 0)
        #expect(kills == 6)

        var counts: [String: Int] = [:]
        try await probe.wait("200 RUNNING and 100 waiting", timeout: .seconds(120), describe: { "\(counts)" }) {
            counts = [:]
            for row in try await pool.query("SELECT status, count(*)::int AS n FROM sessions GROUP BY status") {
                counts[try row.decode("status")] = try row.decode("n")
            }
            return counts["RUNNING"] == 200 && counts["PENDING"] == 100
        }
        // Each running session started exactly once; no agent over its 20 cpu.
        let starts = try #require(try await pool.query(
            "SELECT count(*)::int AS n, count(DISTINCT session_id)::int AS d FROM agent_commands WHERE kind = 'start'").first)
        #expect(try starts.decode("n", as: Int.self) == 200)
        #expect(try starts.decode("d", as: Int.self) == 200)
        let perAgent = try await pool.query(
            """
            SELECT agent_id, sum((occupying_slots ->> 'cpu')::numeric)::float8 AS cpu FROM sessions
            WHERE status = ANY(\(SessionOccupancy.activeNames)::text[]) GROUP BY agent_id
            """)
        #expect(perAgent.count == 10)
        for row in perAgent {
            let agent: String = try row.decode("agent_id")
            #expect(try row.decode("cpu", as: Double.self) == 20, "\(agent)")
        }
        // No slot leaked: once the running ones are destroyed, the 100 waiting take their slots, and after those
        // end too nothing holds a slot.
        for row in try await pool.query("SELECT name FROM sessions WHERE status = 'RUNNING'") {
            let name: String = try row.decode("name")
            let destroyed = try await survivor.admin.send(.DELETE, "/session/\(name)")
            #expect(destroyed.status == 200, "\(destroyed.text)")
        }
        try await probe.wait("the 100 waiting to run", timeout: .seconds(120), describe: { "\(counts)" }) {
            counts = [:]
            for row in try await pool.query("SELECT status, count(*)::int AS n FROM sessions GROUP BY status") {
                counts[try row.decode("status")] = try row.decode("n")
            }
            return counts["RUNNING"] == 100 && counts["TERMINATED"] == 200
        }
        #expect(try await pool.query(
            "SELECT count(*)::int AS n FROM agent_commands WHERE kind = 'start'").first?.decode("n", as: Int.self) == 300)
        print("replica killed \(kills) times while scheduling 300 sessions: \(counts)")
        _ = try await agents.kill(SIGTERM)
        try await victim.stop()
        try await survivor.stop()
    }
}

/// Backs off after a 503 or a refused connection, as a client that honours Retry-After does (shortened).
private func response503Pause(_ outcome: FaultTests.Outcome?) -> Bool {
    guard let outcome else { return false }
    return outcome.status == 503 || outcome.status == -1
}

/// A count shared by several tasks.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { self.lock.withLock { self.count } }
    func increment() { self.lock.withLock { self.count += 1 } }
}

/// A flag set once, read from several tasks.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { self.lock.withLock { self.value } }
    func set() { self.lock.withLock { self.value = true } }
}
