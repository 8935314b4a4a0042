import Foundation
import NIOHTTP1
import SchedulerKit
import Testing
@testable import ManagerCore

/// Sessions really run: the scheduler loop, the embedded process agent and the official CLI, end to end.
@Suite struct SchedulerFlowTests {
    struct Setup {
        let manager: ManagerProcess
        let cli: BackendAICLI
        let pool: PostgresPool
        var probe: SessionProbe { SessionProbe(pool: self.pool) }
    }

    static func setUp(
        localAgent: ManagerProcess.LocalAgent? = .init(), heartbeatTimeout: String = "30s", extraConfig: String = ""
    ) async throws -> Setup {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(
            environment, extraConfig: extraConfig, localAgent: localAgent, heartbeatTimeout: heartbeatTimeout)
        let cli = BackendAICLI(
            environment: environment, endpoint: manager.endpoint, accessKey: manager.adminAccessKey,
            secretKey: manager.adminSecretKey)
        return Setup(manager: manager, cli: cli, pool: manager.database.makePool())
    }

    static func batch(_ cli: BackendAICLI, _ name: String, _ command: String, depends: [String] = [], extra: [String] = []) async throws {
        let created = try await cli.run(
            ["session", "create", "--type", "batch", "-c", command, "-t", name, "--enqueue-only"] + depends.flatMap { ["--depends", $0] }
                + extra + ["python:3.11"])
        #expect((created.stdout + created.stderr).contains("enqueued"), "\(created.stdout) \(created.stderr)")
    }

    @Test("a batch chain A → B → C runs in order, all SUCCESS; the CLI shows the graph, the events and the logs")
    func chainRunsInOrder() async throws {
        let setup = try await Self.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        try await Self.batch(setup.cli, "chain-a", "echo from-a; sleep 0.3")
        try await Self.batch(setup.cli, "chain-b", "echo from-b", depends: ["chain-a"])
        try await Self.batch(setup.cli, "chain-c", "echo from-c; exit 0", depends: ["chain-b"])

        let rows = try await setup.probe.waitFor(["chain-a", "chain-b", "chain-c"], in: ["TERMINATED", "CANCELLED", "ERROR"])
        for name in ["chain-a", "chain-b", "chain-c"] {
            let row = try #require(rows[name])
            #expect(row.status == "TERMINATED" && row.result == "SUCCESS" && row.exitCode == 0, "\(name): \(row)")
            #expect(row.statusInfo == "task-finished")
            #expect(row.agentID == "local")
        }
        // Each dependent was scheduled only after its dependency had ended.
        let a = try #require(rows["chain-a"])
        let b = try #require(rows["chain-b"])
        let c = try #require(rows["chain-c"])
        let aEnd = try #require(SessionProbe.when(a, "TERMINATED"))
        let bStart = try #require(SessionProbe.when(b, "SCHEDULED"))
        let bEnd = try #require(SessionProbe.when(b, "TERMINATED"))
        let cStart = try #require(SessionProbe.when(c, "SCHEDULED"))
        #expect(aEnd <= bStart && bEnd <= cStart)
        for status in ["PENDING", "SCHEDULED", "PREPARING", "RUNNING", "TERMINATED"] {
            #expect(SessionProbe.when(c, status) != nil, "history lacks \(status)")
        }

        let graph = try await setup.cli.run(["session", "show-graph", "-t", "chain-c"])
        for name in ["chain-a", "chain-b", "chain-c"] { #expect(graph.stdout.contains(name), "\(graph.stdout) \(graph.stderr)") }
        #expect(graph.stdout.contains("KernelStatus.TERMINATED"))

        let events = try await setup.cli.run(["session", "events", "chain-b"], stopAfter: .seconds(10))
        let names = events.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
        #expect(names.starts(with: [
            "session_enqueued", "session_scheduled", "session_preparing", "session_started", "session_success",
            "session_terminated",
        ]), "\(events.stdout) \(events.stderr)")

        let logs = try await setup.cli.run(["session", "logs", a.id.uuidString.lowercased()])
        #expect(logs.stdout.contains("from-a"), "\(logs.stdout) \(logs.stderr)")

        let metrics = try await HTTP.get("\(setup.manager.endpoint)/metrics").text
        #expect(metrics.contains(#"manager_sessions{status="TERMINATED"} 3"#), "\(metrics)")
        #expect(metrics.contains(#"manager_scheduler_pending_sessions{scaling_group="default"} 0"#))
        #expect(metrics.contains("manager_scheduler_sessions_scheduled_total 3"))
        #expect(metrics.contains("manager_scheduler_pass_duration_seconds_count"))
    }

    @Test("a failing head ends FAILURE with its exit code and its dependents are cancelled dependency-failed")
    func failureCancelsDependents() async throws {
        let setup = try await Self.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        try await Self.batch(setup.cli, "fail-a", "echo oops >&2; exit 3")
        try await Self.batch(setup.cli, "fail-b", "echo never", depends: ["fail-a"])
        try await Self.batch(setup.cli, "fail-c", "echo never", depends: ["fail-b"])
        let rows = try await setup.probe.waitFor(["fail-a", "fail-b", "fail-c"], in: ["TERMINATED", "CANCELLED", "ERROR"])
        let head = try #require(rows["fail-a"])
        #expect(head.status == "TERMINATED" && head.result == "FAILURE" && head.exitCode == 3 && head.statusInfo == "task-failed")
        for name in ["fail-b", "fail-c"] {
            let row = try #require(rows[name])
            #expect(row.status == "CANCELLED" && row.statusInfo == "dependency-failed", "\(name): \(row)")
            #expect(SessionProbe.when(row, "SCHEDULED") == nil, "\(name) must never have been scheduled")
        }
        let cancelled = try await setup.cli.run(["ps", "--status", "CANCELLED"])
        #expect(cancelled.stdout.contains("fail-c") && cancelled.stdout.contains("dependency-failed"), "\(cancelled.stdout)")
        let logs = try await setup.cli.run(["session", "logs", head.id.uuidString.lowercased()])
        #expect(logs.stdout.contains("oops"), "\(logs.stdout)")
    }

    @Test("a session larger than any agent waits with the counted reason, then pending_timeout cancels it on time")
    func oversizedWaitsThenTimesOut() async throws {
        let setup = try await Self.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let update = try await setup.cli.run(
            ["admin", "scaling-group", "update", "default", "--scheduler-opts", #"{"pending_timeout": 10}"#])
        #expect(update.status == 0, "\(update.stderr)")
        try await Self.batch(setup.cli, "huge", "true", extra: ["-r", "cpu=64"])

        try await setup.probe.wait("a scheduler verdict on huge", timeout: .seconds(9), describe: {
            (try? await setup.probe.session("huge")).map { "\($0.status) \($0.statusInfo ?? "")" } ?? "no session"
        }) {
            try await setup.probe.session("huge")?.statusInfo == "no-available-instances"
        }
        let waiting = try #require(try await setup.probe.session("huge"))
        #expect(waiting.status == "PENDING")
        #expect(SessionProbe.scheduler(waiting, "msg") == .string("0/1 agents available: 1 insufficient cpu"))
        // It can never fit, so it does not hold back the queue.
        try await Self.batch(setup.cli, "small", "true")
        _ = try await setup.probe.waitFor(["small"], in: ["TERMINATED"], timeout: .seconds(20))

        let rows = try await setup.probe.waitFor(["huge"], in: ["CANCELLED"], timeout: .seconds(30))
        let cancelled = try #require(rows["huge"])
        #expect(cancelled.statusInfo == "pending-timeout")
        let late = try #require(cancelled.terminatedAt).timeIntervalSince(cancelled.createdAt) - 10
        // At most one tick (1 s) late, plus room for the pass itself on a busy 2-core test machine.
        #expect(late >= 0 && late <= 2.5, "cancelled \(late) s after the timeout")
        let events = try await setup.manager.admin.events("/events/session?name=huge", count: 3)
        #expect(events.map(\.event) == ["session_enqueued", "session_cancelled", "kernel_cancelled"])
        #expect(events.dropFirst().allSatisfy { $0.data.contains(#""reason": "pending-timeout""#) }, "\(events)")
    }

    @Test("a session that keeps waiting for the same reason is rewritten once per wait_refresh_interval, not every pass")
    func unchangedWaitsAreNotRewrittenEveryPass() async throws {
        // A pass every tick even over this unchanged queue (idle_pass_interval = tick_interval), so the passes that
        // do not rewrite the row are there to be seen.
        let setup = try await Self.setUp(
            localAgent: nil, extraConfig: "[scheduler]\nwait_refresh_interval = \"8s\"\nidle_pass_interval = \"1s\"\n")
        defer { Task { [pool = setup.pool] in await pool.close() } }
        try await Self.batch(setup.cli, "stuck", "true")
        try await setup.probe.wait("a first verdict", timeout: .seconds(20)) {
            try await setup.probe.session("stuck")?.statusInfo == "no-available-instances"
        }
        let first = try #require(try await setup.probe.session("stuck"))
        let firstTry = try #require(SessionProbe.scheduler(first, "last_try"))
        #expect(SessionProbe.scheduler(first, "retries") == .number(1))
        // Ticks every second: two more passes at least, and none of them rewrites the row.
        try await Task.sleep(for: .milliseconds(2500))
        let unchanged = try #require(try await setup.probe.session("stuck"))
        #expect(SessionProbe.scheduler(unchanged, "last_try") == firstTry)
        #expect(SessionProbe.scheduler(unchanged, "retries") == .number(1))
        // Past the interval the wait is recorded again: retries and last_try move on, the reason stays.
        try await setup.probe.wait("a refreshed record", timeout: .seconds(15)) {
            guard let row = try await setup.probe.session("stuck") else { return false }
            return SessionProbe.scheduler(row, "retries") == .number(2)
        }
        let refreshed = try #require(try await setup.probe.session("stuck"))
        #expect(SessionProbe.scheduler(refreshed, "last_try") != firstTry)
        #expect(refreshed.statusInfo == "no-available-instances" && refreshed.status == "PENDING")
    }

    @Test("narrowing allowed_session_types leaves a queued session PENDING with the allowed_session_types reason")
    func narrowedTypesWait() async throws {
        let setup = try await Self.setUp(localAgent: nil)
        defer { Task { [pool = setup.pool] in await pool.close() } }
        try await Self.batch(setup.cli, "queued", "true")
        try await setup.probe.wait("a first verdict", timeout: .seconds(20)) {
            try await setup.probe.session("queued")?.statusInfo == "no-available-instances"
        }
        let update = try await setup.cli.run(
            ["admin", "scaling-group", "update", "default", "--scheduler-opts", #"{"allowed_session_types": ["interactive"]}"#])
        #expect(update.status == 0, "\(update.stderr)")
        try await setup.probe.wait("the allowed_session_types reason", timeout: .seconds(20)) {
            try await setup.probe.session("queued")?.statusInfo == "predicate-checks-failed"
        }
        let row = try #require(try await setup.probe.session("queued"))
        #expect(row.status == "PENDING")
        guard case .array(let failed)? = SessionProbe.scheduler(row, "failed_predicates"), failed.count == 1,
            case .object(let predicate) = failed[0]
        else {
            Issue.record("expected one failed predicate: \(row.statusData)")
            return
        }
        #expect(predicate.first { $0.key == "name" }?.value == .string("allowed_session_types"))
        #expect(predicate.first { $0.key == "msg" }?.value
            == .string("The scaling group 'default' does not accept the session type 'batch'."))
        let info = try await setup.cli.run(["session", "info", row.id.uuidString.lowercased()])
        #expect(info.stdout.contains("allowed_session_types"), "\(info.stdout)")
    }

    @Test("destroying a running interactive session goes through TERMINATING to TERMINATED and stops its process")
    func destroyRunning() async throws {
        let setup = try await Self.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let created = try await setup.cli.run(["session", "create", "-c", "echo up; exec sleep 300", "-t", "shell", "python:3.11"])
        #expect(created.status == 0, "\(created.stderr)")
        let running = try #require(try await setup.probe.waitFor(["shell"], in: ["RUNNING"])["shell"])
        let folder = setup.manager.directory.appendingPathComponent("agent/sessions/\(running.id.uuidString.lowercased())")
        var pidText = ""
        try await eventually("the agent to record the session's pid") {
            pidText = (try? String(contentsOf: folder.appendingPathComponent("pid"), encoding: .utf8)) ?? ""
            return !pidText.isEmpty
        }
        let pid = try #require(pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        let removed = try await setup.cli.run(["session", "rm", "shell"])
        #expect(removed.status == 0, "\(removed.stdout) \(removed.stderr)")
        let rows = try await setup.probe.waitFor(["shell"], in: ["TERMINATED"], timeout: .seconds(20))
        let row = try #require(rows["shell"])
        #expect(row.statusInfo == "user-requested" && row.exitCode == 143, "\(row)")
        #expect(SessionProbe.when(row, "TERMINATING") != nil)
        #expect(kill(pid, 0) != 0, "the session's process must be gone")
        // The session's folder goes once the manager has its end (keep_finished = 0).
        try await eventually("the session's folder to be removed") {
            !FileManager.default.fileExists(atPath: folder.path)
        }
    }

    @Test("a stream on one replica sees a session enqueued, run and finished through another")
    func streamOnOtherReplica() async throws {
        let environment = try TestEnvironment.current()
        let runner = try await ManagerProcess(environment, localAgent: .init())
        let watcher = try await ManagerProcess(environment, database: runner.database, migrate: false)
        let created = try await runner.admin.send(.POST, "/session", json: [
            "name": "across", "image": "python:3.11", "type": "batch", "startupCommand": "exit 0",
            "config": ["resources": ["cpu": "1"]],
        ])
        #expect(created.status == 201, "\(created.text)")
        // The watcher's admin key differs, so it watches the runner's owner explicitly.
        let events = try await watcher.admin.events(
            "/events/session?name=across&ownerAccessKey=\(runner.adminAccessKey)", count: 6, timeout: .seconds(30))
        #expect(events.map(\.event) == [
            "session_enqueued", "session_scheduled", "session_preparing", "session_started", "session_success",
            "session_terminated",
        ], "\(events)")
        #expect(Set(events.compactMap(\.id)).count == 6)
    }
}
