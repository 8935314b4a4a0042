import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

/// `[retention]`: the logs are pruned by age in batches; a stream resuming from before the pruned range is told so.
@Suite struct RetentionTests {
    @Test("old rows of every log (and expired web sign-ins) are pruned in small batches, recent ones and each task's last event stay; a resume from a pruned id is 410")
    func prunes() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(
            environment, extraConfig: """
                [retention]
                events = "1h"
                task_events = "1h"
                session_logs = "1h"
                webhook_attempts = "1h"
                delivered_webhooks = "1h"
                interval = "200ms"
                batch_size = 7
                """, localAgent: nil, start: false)
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let owner = manager.admin.accessKey
        // 40 old session events and 5 recent ones.
        _ = try await pool.query(
            """
            INSERT INTO events (name, access_key, created_at)
            SELECT 'session_enqueued', \(owner), now() - interval '2 hours' FROM generate_series(1, 40)
            """)
        _ = try await pool.query(
            "INSERT INTO events (name, access_key) SELECT 'session_enqueued', \(owner) FROM generate_series(1, 5)")
        // A finished task with 20 old events (its last one stays).
        let taskID = UUID()
        _ = try await pool.query(
            """
            INSERT INTO background_tasks (id, kind, access_key, params, replica, status, last_seq, lease_until)
            VALUES (\(taskID), 'test', \(owner), '{}', 'r', 'done', 20, now())
            """)
        _ = try await pool.query(
            """
            INSERT INTO background_task_events (task_id, seq, name, created_at)
            SELECT \(taskID), n, CASE WHEN n = 20 THEN 'bgtask_done' ELSE 'bgtask_updated' END, now() - interval '2 hours'
            FROM generate_series(1, 20) n
            """)
        // Webhook deliveries: 10 delivered long ago (with an attempt each), 1 recent, 1 dead long ago.
        _ = try await pool.query(
            """
            INSERT INTO webhook_deliveries (id, target, url, event, payload, status, created_at, finished_at)
            SELECT gen_random_uuid(), 'callback', 'http://x', 'session_enqueued', '{}',
                   CASE WHEN n = 12 THEN 'dead' ELSE 'delivered' END,
                   now() - CASE WHEN n = 11 THEN interval '0' ELSE interval '2 hours' END,
                   now() - CASE WHEN n = 11 THEN interval '0' ELSE interval '2 hours' END
            FROM generate_series(1, 12) n
            """)
        _ = try await pool.query(
            """
            INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms)
            SELECT id, 1, created_at, 5 FROM webhook_deliveries
            """)
        // Web sign-ins: 9 expired two hours ago (pruned), one expired just now (kept an hour), one live.
        _ = try await pool.query(
            """
            INSERT INTO web_sessions (token_hash, access_key, csrf_token, expires_at)
            SELECT 'h' || n, \(owner), 'c', now() + CASE WHEN n = 10 THEN interval '0' WHEN n = 11 THEN interval '1 hour'
                                                     ELSE interval '-2 hours' END
            FROM generate_series(1, 11) n
            """)
        let firstRecentEventID: Int = try #require(try await pool.query(
            "SELECT min(id) AS id FROM events WHERE created_at > now() - interval '1 minute'").first?.decode("id"))

        try await manager.start()
        let probe = SessionProbe(pool: pool)
        try await probe.wait("the old rows pruned", timeout: .seconds(30), describe: { manager.log().components(separatedBy: "\n").filter { $0.contains("prun") }.suffix(8).joined(separator: "\n") }) {
            let left: Int = try await pool.query(
                """
                SELECT ((SELECT count(*) FROM events) + (SELECT count(*) FROM background_task_events)
                        + (SELECT count(*) FROM webhook_deliveries) + (SELECT count(*) FROM webhook_attempts)
                        + (SELECT count(*) FROM web_sessions))::int AS n
                """
            ).first?.decode("n") ?? -1
            // recent events, the last task event, a recent and a dead delivery, one recent attempt, two sign-ins
            return left == 5 + 1 + 2 + 1 + 2
        }
        let taskEvents: [String] = try await pool.query(
            "SELECT name FROM background_task_events WHERE task_id = \(taskID)").map { try $0.decode("name") }
        #expect(taskEvents == ["bgtask_done"])
        let kept: [String] = try await pool.query("SELECT status FROM webhook_deliveries ORDER BY status").map { try $0.decode("status") }
        #expect(kept == ["dead", "delivered"])
        let mark: Int = try #require(try await pool.query(
            "SELECT pruned_upto FROM retention_marks WHERE log = 'events'").first?.decode("pruned_upto"))
        #expect(mark == firstRecentEventID - 1)

        // A session stream resuming from a pruned id is told the events are gone; one from a kept id streams.
        let path = "/events/session"
        var headers = manager.admin.headers(method: "GET", pathAndQuery: path, contentType: nil)
        headers.append(("Last-Event-ID", "3"))
        let gone = try await HTTP.send(.GET, manager.endpoint + path, headers: headers)
        #expect(gone.status == 410, "\(gone.text)")
        #expect(gone.text.contains("events-pruned") && gone.text.contains("oldest kept is \(firstRecentEventID)"), "\(gone.text)")
        let resumed = try await manager.admin.events(path, lastEventID: "\(firstRecentEventID)", count: 4)
        #expect(resumed.compactMap(\.id) == (1...4).map { "\(firstRecentEventID + $0)" })
        // A task stream resuming from before its oldest kept event, likewise.
        let taskPath = "/events/background-task?task_id=\(taskID.uuidString.lowercased())"
        var taskHeaders = manager.admin.headers(method: "GET", pathAndQuery: taskPath, contentType: nil)
        taskHeaders.append(("Last-Event-ID", "2"))
        let taskGone = try await HTTP.send(.GET, manager.endpoint + taskPath, headers: taskHeaders)
        #expect(taskGone.status == 410, "\(taskGone.text)")
        try await manager.stop()
    }
}
