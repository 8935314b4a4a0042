import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

/// SIGTERM against a busy daemon: it stops accepting, finishes the request in flight, closes its event streams
/// with `server_close`, gives up its task leases, and exits 0 within `server.shutdown_grace`.
@Suite struct ShutdownTests {
    @Test("SIGTERM: new connections refused, the request in flight finishes, streams get server_close, leases released, exit 0 in time")
    func gracefulShutdownUnderLoad() async throws {
        let environment = try TestEnvironment.current()
        // The receiver is on loopback, which webhooks refuse unless allowed.
        let setup = try await VFolderTests.setUp(
            rateLimit: "256k", extraConfig: "[webhook_delivery]\nallowed_destinations = [\"127.0.0.1\"]")
        defer { Task { [pool = setup.pool] in await pool.close() } }
        let manager = setup.manager
        let admin = setup.admin

        // A webhook receiver that accepts and never answers: the session's callback is in flight at SIGTERM.
        let holePort = try freePort()
        let hole = try spawn(
            "/usr/bin/python3",
            ["-c", "import socket,sys\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
                + "s.bind(('127.0.0.1',int(sys.argv[1])))\ns.listen(64)\nheld=[]\nwhile True: held.append(s.accept())",
             "\(holePort)"],
            environment: ProcessInfo.processInfo.environment, currentDirectory: nil, stdout: "/dev/null", stderr: "/dev/null")
        defer { kill(hole, SIGKILL); var status: Int32 = 0; waitpid(hole, &status, 0) }

        // A session stream with one event in it, and a clone (rate-limited to last) with its task stream.
        let first = try await admin.send(.POST, "/session", json: [
            "name": "before-sigterm", "image": "python:3.11", "enqueueOnly": true,
            "callback_url": "http://127.0.0.1:\(holePort)/hook"])
        #expect(first.status == 201, "\(first.text)")
        try await eventually("the callback delivery to be in flight", timeout: .seconds(20)) {
            try await setup.pool.query(
                "SELECT count(*)::int AS n FROM webhook_deliveries WHERE leased_by IS NOT NULL AND lease_until > now()"
            ).first?.decode("n", as: Int.self) ?? 0 > 0
        }
        let made = try await admin.send(.POST, "/folders", json: ["name": "src", "cloneable": true])
        #expect(made.status == 201, "\(made.text)")
        try TreeSnapshot.populate(try await setup.path(of: "src"), sizes: [8 << 20])
        let clone = try await admin.send(.POST, "/folders/src/clone", json: ["target_name": "dst"])
        let taskID = try #require(clone.json?["bgtask_id"] as? String)
        async let sessionStream = admin.events("/events/session", count: 10_000, timeout: .seconds(40))
        async let taskStream = admin.events("/events/background-task?task_id=\(taskID)", count: 10_000, timeout: .seconds(40))

        // A POST /session whose body arrives in two parts, 2 s apart: in flight when SIGTERM lands.
        let ready = try environment.scratchDirectory("ready").appendingPathComponent("sent").path
        let body = try JSONSerialization.data(withJSONObject: ["name": "in-flight", "image": "python:3.11", "enqueueOnly": true])
        var slow = RawRequest.signed(admin, method: "POST", path: "/session", body: body, pieces: 2)
        slow.pauses = [2.0]
        slow.readyFile = ready
        async let inFlight = slow.send(port: manager.port, environment: environment)
        try await eventually("the slow request's first part is sent", timeout: .seconds(10)) {
            FileManager.default.fileExists(atPath: ready)
        }
        try await Task.sleep(for: .milliseconds(500))  // streams open, the request's head is read

        let signalled = ContinuousClock.now
        async let exitStatus = manager.stop(signal: SIGTERM, timeout: .seconds(30))
        try await Task.sleep(for: .milliseconds(400))
        var refused = false
        do {
            let late = try await HTTP.send(.GET, "\(manager.endpoint)/health", timeout: .seconds(3))
            refused = late.status == 503
        } catch {
            refused = true  // connection refused: the listener is closed
        }
        #expect(refused, "a new request after SIGTERM was served")

        let finished = try await inFlight
        #expect(finished.status == 201, "the request in flight: \(finished)")
        let status = try await exitStatus
        let elapsed = ContinuousClock.now - signalled
        #expect(status == 0, "\(manager.log().suffix(3000))")
        #expect(elapsed < .seconds(5 + 2), "shutdown took \(elapsed) with shutdown_grace = 5s")

        let sessionEvents = try await sessionStream
        #expect(sessionEvents.first?.event == "session_enqueued", "\(sessionEvents)")
        #expect(sessionEvents.last?.event == "server_close", "\(sessionEvents)")
        let taskEvents = try await taskStream
        #expect(taskEvents.last?.event == "server_close", "\(taskEvents)")

        // The in-flight session was committed; the clone task ended (cancelled by the shutdown), so no replica
        // holds its lease and the partial copy is gone.
        let saved = try await setup.pool.query("SELECT status FROM sessions WHERE name = 'in-flight'")
        #expect(saved.count == 1)
        let taskUUID = try #require(UUID(uuidString: taskID))
        let task = try #require(try await setup.pool.query(
            "SELECT status, message FROM background_tasks WHERE id = \(taskUUID)").first)
        let taskStatus: String = try task.decode("status")
        let taskMessage: String = try task.decode("message")
        #expect(taskStatus == "cancelled", "\(taskMessage)")
        // The delivery in flight was handed back: pending, no lease, so another replica may send it at once.
        let leased: Int = try #require(try await setup.pool.query(
            "SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'pending' AND (leased_by IS NOT NULL OR lease_until > now())"
        ).first?.decode("n"))
        #expect(leased == 0)
        let pending: Int = try #require(try await setup.pool.query(
            "SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'pending'").first?.decode("n"))
        #expect(pending >= 1)
        #expect(manager.log().contains("stopped"))
    }
}
