import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

/// `session create` as the CLI runs it by default (no `--enqueue-only`): the answer comes when the session runs,
/// or has ended, or after `--max-wait` as TIMEOUT; `--starts-at` takes Backend.AI's relative times.
@Suite("Create waits", .serialized)
struct SessionCreateWaitTests {
    @Test("create without --enqueue-only returns with the session RUNNING (a quick batch: ended); --max-wait gives TIMEOUT; --starts-at 10s reserves")
    func createWaits() async throws {
        let setup = try await SandboxTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let interactive = try await setup.cli.run(["session", "create", "-c", "exec sleep 300", "-t", "waited", "python:3.11"])
        #expect(interactive.status == 0 && (interactive.stdout + interactive.stderr).contains("is created and ready"),
                "\(interactive.stdout) \(interactive.stderr)")
        // Answered only once it ran: the row says RUNNING when the command returns.
        #expect(try await setup.probe.session("waited")?.status == "RUNNING")

        let raw = try await setup.manager.admin.send(.POST, "/session", json: [
            "name": "quick", "image": "python:3.11", "type": "batch", "startupCommand": "true", "enqueueOnly": false,
        ])
        #expect(raw.status == 201 && ["RUNNING", "TERMINATED"].contains(raw.json?["status"] as? String ?? ""), "\(raw.text)")

        // Too big for the agent: it waits in the queue, and the create gives up after --max-wait.
        let started = ContinuousClock.now
        let queued = try await setup.cli.run(["session", "create", "-r", "cpu=64", "--max-wait", "2", "-t", "too-big", "python:3.11"])
        let waited = ContinuousClock.now - started
        #expect(queued.status == 0 && (queued.stdout + queued.stderr).contains("still on the job queue"), "\(queued.stdout) \(queued.stderr)")
        #expect(waited >= .seconds(2), "answered after \(waited)")
        #expect(try await setup.probe.session("too-big")?.status == "PENDING")
        let timeout = try await setup.manager.admin.send(.POST, "/session", json: [
            "name": "too-big-2", "image": "python:3.11", "enqueueOnly": false, "maxWaitSeconds": 1,
            "config": ["resources": ["cpu": 64]],
        ])
        #expect(timeout.status == 201 && timeout.json?["status"] as? String == "TIMEOUT", "\(timeout.text)")
        let bad = try await setup.manager.admin.send(.POST, "/session", json: [
            "name": "bad-wait", "image": "python:3.11", "enqueueOnly": false, "maxWaitSeconds": -1,
        ])
        #expect(bad.status == 400 && bad.text.contains("maxWaitSeconds"), "\(bad.text)")

        // A relative start time, as Backend.AI takes it.
        let before = Date()
        let reserved = try await setup.cli.run(["session", "create", "--starts-at", "10s", "--enqueue-only", "-t", "later", "python:3.11"])
        #expect(reserved.status == 0, "\(reserved.stdout) \(reserved.stderr)")
        let startsAt: Date? = try await setup.pool.query("SELECT starts_at FROM sessions WHERE name = 'later'").first?.decode("starts_at")
        // The CLI reads its own clock when it starts (which takes seconds on a loaded machine): 10 s after a moment
        // between our `before` and the command's end.
        let after = Date()
        let offset = try #require(startsAt).timeIntervalSince(before)
        #expect(offset > 9 && offset < 11 + after.timeIntervalSince(before), "starts_at is \(offset) s from before, the CLI took \(after.timeIntervalSince(before)) s")
        let wrong = try await setup.cli.run(["session", "create", "--starts-at", "soon", "--enqueue-only", "-t", "never", "python:3.11"])
        #expect((wrong.stdout + wrong.stderr).contains("starts_at"), "\(wrong.stdout) \(wrong.stderr)")

        // `session watch` (of a live session: the CLI looks it up among those, so the session lives long enough for a
        // slow CLI start) exits with the session's code: 3 for a batch that exited 3, 0 for a success.
        for (name, code) in [("exits-3", 3), ("exits-0", 0)] {
            _ = try await setup.cli.run(
                ["session", "create", "--type", "batch", "--enqueue-only", "-c", "sleep 8; exit \(code)", "-t", name, "python:3.11"])
            let watched = try await setup.cli.run(["session", "watch", name], timeout: .seconds(30))
            #expect(watched.status == Int32(code), "\(name): \(watched.status) \(watched.stdout) \(watched.stderr.suffix(1500))")
        }
        try await setup.manager.stop()
    }
}
