import Foundation
import SchedulerKit

/// The two append-only event logs as the broadcaster follows them: session events (`events`) and task events
/// (`background_task_events`), each read in id order after a cursor.
public struct PostgresEventLog: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    /// The newest ids of both logs: where a broadcaster that just started begins.
    func heads() async throws -> (sessions: Int, tasks: Int) {
        let row = try await self.pool.query(
            """
            SELECT (SELECT coalesce(max(id), 0) FROM events) AS sessions,
                   (SELECT coalesce(max(id), 0) FROM background_task_events) AS tasks
            """
        ).first
        return (try row?.decode("sessions") ?? 0, try row?.decode("tasks") ?? 0)
    }

    /// Session events after `id`, in id order.
    func sessionEvents(after id: Int, limit: Int) async throws -> [SessionEventRecord] {
        try await self.pool.query(
            """
            SELECT id, name, session_id, session_name, access_key, reason, exit_code FROM events
            WHERE id > \(id) ORDER BY id LIMIT \(limit)
            """
        ).map(Self.sessionEvent)
    }

    /// Task events after `id` (the log's own order), in id order.
    func taskEvents(after id: Int, limit: Int) async throws -> [(id: Int, event: BackgroundTaskEvent)] {
        try await self.pool.query(
            """
            SELECT id, task_id, seq, name, message, current_progress, total_progress FROM background_task_events
            WHERE id > \(id) ORDER BY id LIMIT \(limit)
            """
        ).map { (try $0.decode("id"), try PostgresBackgroundTaskStore.event($0)) }
    }

    static func sessionEvent(_ row: PostgresRow) throws -> SessionEventRecord {
        SessionEventRecord(
            id: try row.decode("id"), name: try row.decode("name"), sessionID: try row.decodeOptional("session_id"),
            sessionName: try row.decodeOptional("session_name"), accessKey: try row.decodeOptional("access_key"),
            reason: try row.decode("reason"), exitCode: try row.decodeOptional("exit_code"))
    }
}
