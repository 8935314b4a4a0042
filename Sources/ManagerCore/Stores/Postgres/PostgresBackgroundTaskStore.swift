import Foundation
import SchedulerKit

/// Background tasks in PostgreSQL: the task row (status, progress, lease) and its numbered event log.
public struct PostgresBackgroundTaskStore: Sendable {
    let pool: PostgresPool

    static let columns: SQL = """
        SELECT id, kind, access_key, status, current_progress, total_progress, message, params, replica, created_at,
               updated_at, finished_at FROM background_tasks
        """

    /// Inserts a running task leased to `replica`, inside the caller's transaction (with whatever the task is about).
    static func insert(
        _ tx: PostgresSession, id: UUID, kind: String, owner: AccessKey, params: JSONValue, replica: String, lease: Duration
    ) async throws {
        try await tx.execute(
            """
            INSERT INTO background_tasks (id, kind, access_key, params, replica, lease_until)
            VALUES (\(id), \(kind), \(owner), \(JSONB(text: params.text)), \(replica),
                    now() + make_interval(secs => \(lease.seconds)))
            """)
    }

    /// `owner`'s tasks, newest first.
    func list(owner: AccessKey, limit: Int) async throws -> [BackgroundTaskRecord] {
        try await self.pool.query("\(Self.columns) WHERE access_key = \(owner) ORDER BY created_at DESC LIMIT \(limit)")
            .map(Self.record)
    }

    public func task(_ id: UUID) async throws -> BackgroundTaskRecord? {
        guard let row = try await self.pool.query("\(Self.columns) WHERE id = \(id)").first else { return nil }
        return try Self.record(row)
    }

    /// Appends an event while `replica` still owns the running task, updating the task row in the same statement;
    /// a terminal event also ends the task. Nil when the task is no longer ours (its lease lapsed and it was taken over).
    func record(
        _ id: UUID, name: String, message: String, current: Double, total: Double, replica: String,
        finalStatus: BackgroundTaskStatus? = nil, in session: PostgresSession? = nil
    ) async throws -> BackgroundTaskEvent? {
        let sql: SQL = """
            WITH task AS (
                UPDATE background_tasks
                SET last_seq = last_seq + 1, current_progress = \(current), total_progress = \(total), message = \(message),
                    updated_at = now(), status = coalesce(\(finalStatus?.rawValue)::text, status),
                    finished_at = CASE WHEN \(finalStatus?.rawValue)::text IS NULL THEN NULL ELSE now() END
                WHERE id = \(id) AND status = 'running' AND replica = \(replica)
                RETURNING id, last_seq
            ), event AS (
                INSERT INTO background_task_events (task_id, seq, name, message, current_progress, total_progress)
                SELECT id, last_seq, \(name), \(message), \(current), \(total) FROM task
                RETURNING seq
            )
            -- Every replica's broadcaster reads the new row after commit.
            SELECT seq, pg_notify('manager_events', 'task') FROM event
            """
        let rows: PostgresRows
        if let session {
            rows = try await session.query(sql)
        } else {
            rows = try await self.pool.query(sql)
        }
        guard let row = rows.first else { return nil }
        return BackgroundTaskEvent(
            taskID: id, seq: try row.decode("seq"), name: name, message: message, currentProgress: current, totalProgress: total)
    }

    /// Events after `seq`, oldest first.
    func events(_ id: UUID, after seq: Int, limit: Int = 500) async throws -> [BackgroundTaskEvent] {
        try await self.pool.query(
            """
            SELECT task_id, seq, name, message, current_progress, total_progress FROM background_task_events
            WHERE task_id = \(id) AND seq > \(seq) ORDER BY seq LIMIT \(limit)
            """
        ).map(Self.event)
    }

    /// The oldest event kept (retention prunes the older ones), or nil before the first.
    func firstEvent(_ id: UUID) async throws -> BackgroundTaskEvent? {
        try await self.pool.query(
            """
            SELECT task_id, seq, name, message, current_progress, total_progress FROM background_task_events
            WHERE task_id = \(id) ORDER BY seq LIMIT 1
            """
        ).first.map(Self.event)
    }

    /// The newest event, or nil before the first.
    func latestEvent(_ id: UUID) async throws -> BackgroundTaskEvent? {
        try await self.pool.query(
            """
            SELECT task_id, seq, name, message, current_progress, total_progress FROM background_task_events
            WHERE task_id = \(id) ORDER BY seq DESC LIMIT 1
            """
        ).first.map(Self.event)
    }

    /// Tells every replica (the one running it acts) that the task is to be cancelled.
    func notifyCancel(_ id: UUID) async throws {
        try await self.pool.query("SELECT pg_notify('task_cancel', \(id.uuidString.lowercased()))")
    }

    /// Marks a running task for cancellation; false when it has already ended.
    func requestCancel(_ id: UUID) async throws -> Bool {
        try await self.pool.withConnection { session in
            try await session.execute(
                "UPDATE background_tasks SET cancel_requested = true WHERE id = \(id) AND status = 'running'") == 1
        }
    }

    /// Extends the leases `replica` holds on `ids`; returns, for each task still ours, whether cancellation was asked.
    func renew(_ ids: [UUID], replica: String, lease: Duration) async throws -> [UUID: Bool] {
        guard !ids.isEmpty else { return [:] }
        let rows = try await self.pool.query(
            """
            UPDATE background_tasks SET lease_until = now() + make_interval(secs => \(lease.seconds))
            WHERE id = ANY(\(UUIDArray(ids))::uuid[]) AND replica = \(replica) AND status = 'running'
            RETURNING id, cancel_requested
            """)
        var result: [UUID: Bool] = [:]
        for row in rows { result[try row.decode("id")] = try row.decode("cancel_requested") }
        return result
    }

    /// Takes over running tasks whose lease lapsed (their replica died or stalled), leasing them to `replica` for
    /// the cleanup; each is claimed by one replica only.
    func claimAbandoned(replica: String, lease: Duration, limit: Int = 20) async throws -> [BackgroundTaskRecord] {
        let rows = try await self.pool.query(
            """
            UPDATE background_tasks SET replica = \(replica), lease_until = now() + make_interval(secs => \(lease.seconds))
            WHERE id IN (
                SELECT id FROM background_tasks WHERE status = 'running' AND lease_until < now()
                ORDER BY lease_until LIMIT \(limit) FOR UPDATE SKIP LOCKED
            )
            RETURNING id, kind, access_key, status, current_progress, total_progress, message, params, replica, created_at,
                      updated_at, finished_at
            """)
        return try rows.map(Self.record)
    }

    static func record(_ row: PostgresRow) throws -> BackgroundTaskRecord {
        BackgroundTaskRecord(
            id: try row.decode("id"), kind: try row.decode("kind"), owner: try row.decode("access_key"),
            status: BackgroundTaskStatus(rawValue: try row.decode("status")) ?? .failed,
            currentProgress: try row.decode("current_progress"), totalProgress: try row.decode("total_progress"),
            message: try row.decode("message"), params: try JSONValue.decode(row.decode("params", as: JSONB.self).text),
            replica: try row.decode("replica"), createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"),
            finishedAt: try row.decodeOptional("finished_at"))
    }

    static func event(_ row: PostgresRow) throws -> BackgroundTaskEvent {
        BackgroundTaskEvent(
            taskID: try row.decode("task_id"), seq: try row.decode("seq"), name: try row.decode("name"),
            message: try row.decode("message"), currentProgress: try row.decode("current_progress"),
            totalProgress: try row.decode("total_progress"))
    }
}

extension Duration {
    /// Whole and fractional seconds, for SQL intervals.
    var seconds: Double {
        Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18
    }
}
