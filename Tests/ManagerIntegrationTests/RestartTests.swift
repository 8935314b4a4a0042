import Foundation
import Testing
@testable import ManagerCore
import SchedulerKit

/// `backend.ai session restart` against the real process agent and sandbox: the session's process is stopped and
/// started again in the same work folder, through RESTARTING back to RUNNING; batch and ended sessions refuse.
@Suite("Session restart", .serialized)
struct RestartTests {
    @Test("restart: a new process in the same /home/work (RESTARTING, then RUNNING again); idle sessions too; batch and ended refuse")
    func restart() async throws {
        let setup = try await SandboxTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let cli = setup.cli
        // Each start appends a line to a file of the work folder and prints how many lines it has.
        let script = "echo run >> runs; echo \"runs: $(wc -l < runs)\"; exec sleep 300"
        let created = try await cli.run(["session", "create", "-c", script, "-t", "restart-1", "python:3.11"])
        #expect(created.status == 0, "\(created.stdout) \(created.stderr)")
        func logs() async throws -> String { try await cli.run(["session", "logs", "restart-1"]).stdout }
        try await setup.probe.wait("the first start's output", timeout: .seconds(30)) { try await logs().contains("runs: 1") }

        let restarted = try await cli.run(["session", "restart", "restart-1"])
        #expect(restarted.status == 0 && (restarted.stdout + restarted.stderr).contains("Done"), "\(restarted.stdout) \(restarted.stderr)")
        // The request answers once the session runs again.
        let row = try #require(try await setup.probe.session("restart-1"))
        #expect(row.status == "RUNNING", "\(row.status) \(row.statusInfo ?? "")")
        #expect(row.history["RESTARTING"] != nil, "\(row.history.text)")
        let events: [String] = try await setup.pool.query(
            "SELECT name FROM events WHERE session_id = \(row.id) ORDER BY id").map { try $0.decode("name") }
        #expect(events.contains("session_restarting") && events.last == "session_started", "\(events)")
        try await setup.probe.wait("the second start's output", timeout: .seconds(30)) { try await logs().contains("runs: 2") }
        // One new process (its own pid namespace: pid 2 each time), appended to the same log, not the old one again.
        let output = try await logs()
        #expect(output.components(separatedBy: "runs: 1").count == 2 && output.components(separatedBy: "runs: 2").count == 2, "\(output)")

        // A session without a command runs again at once.
        #expect(try await cli.run(["session", "create", "-t", "idle-1", "python:3.11"]).status == 0)
        let idle = try await cli.run(["session", "restart", "idle-1"])
        #expect(idle.status == 0, "\(idle.stdout) \(idle.stderr)")
        #expect(try await setup.probe.session("idle-1")?.status == "RUNNING")

        // A batch session's process is its task: refused, with why.
        let batch = try await cli.run(["session", "create", "--type", "batch", "-c", "sleep 60", "-t", "batch-1", "python:3.11"])
        #expect(batch.status == 0, "\(batch.stdout) \(batch.stderr)")
        let refused = try await cli.run(["session", "restart", "batch-1"])
        #expect((refused.stdout + refused.stderr).contains("batch"), "\(refused.stdout) \(refused.stderr)")
        #expect(try await setup.probe.session("batch-1")?.status == "RUNNING")

        // Destroyed after a restart, it ends as any session does; restarting it then is refused.
        _ = try await cli.run(["session", "destroy", "restart-1"])
        try await setup.probe.wait("restart-1 to end", timeout: .seconds(30)) { try await setup.probe.session("restart-1")?.status == "TERMINATED" }
        let ended = try await cli.run(["session", "restart", "restart-1"])
        #expect(!(ended.stdout + ended.stderr).contains("Done"), "\(ended.stdout) \(ended.stderr)")
        _ = try await cli.run(["session", "destroy", "batch-1"])
        _ = try await cli.run(["session", "destroy", "idle-1"])
    }
}
