import Foundation

/// Pruning of the append-only logs by age, one small batch per statement (each its own short transaction), and
/// the marks that say how far each log was pruned.
public struct PostgresRetentionStore: Sendable {
    let pool: PostgresPool

    public init(pool: PostgresPool) { self.pool = pool }

    /// The logs retention prunes.
    public enum Log: String, CaseIterable, Sendable {
        case events
        case taskEvents = "background_task_events"
        case sessionLogs = "session_logs"
        case webhookAttempts = "webhook_attempts"
        case deliveredWebhooks = "webhook_deliveries"
        case fileRequests = "session_file_requests"
        /// The web view's sign-ins, once expired (`web_sessions`; a sign-out deletes its row at once).
        case expiredSignIns = "web_sessions"
    }

    /// Deletes at most `limit` rows of `log` older than `age`; returns how many went.
    func prune(_ log: Log, olderThan age: Duration, limit: Int) async throws -> Int {
        let seconds = age.seconds
        let doomed: SQL
        let key: SQL
        switch log {
        case .events:
            doomed = """
                SELECT id FROM events WHERE created_at < now() - make_interval(secs => \(seconds)) ORDER BY id LIMIT \(limit)
                """
            key = "id"
        case .taskEvents:
            // Each task keeps its last event: a stream opened on a finished task still answers its end.
            doomed = """
                SELECT e.id FROM background_task_events e
                WHERE e.created_at < now() - make_interval(secs => \(seconds))
                  AND EXISTS (SELECT 1 FROM background_task_events l WHERE l.task_id = e.task_id AND l.seq > e.seq)
                ORDER BY e.id LIMIT \(limit)
                """
            key = "id"
        case .sessionLogs:
            doomed = """
                SELECT l.session_id AS id FROM session_logs l JOIN sessions s ON s.id = l.session_id
                WHERE s.terminated_at < now() - make_interval(secs => \(seconds)) LIMIT \(limit)
                """
            key = "session_id"
        case .webhookAttempts:
            doomed = """
                SELECT ctid AS id FROM webhook_attempts
                WHERE started_at < now() - make_interval(secs => \(seconds)) LIMIT \(limit)
                """
            key = "ctid"
        case .deliveredWebhooks:
            doomed = """
                SELECT id FROM webhook_deliveries
                WHERE status = 'delivered' AND finished_at < now() - make_interval(secs => \(seconds)) LIMIT \(limit)
                """
            key = "id"
        case .fileRequests:
            doomed = """
                SELECT id FROM session_file_requests
                WHERE created_at < now() - make_interval(secs => \(seconds)) ORDER BY id LIMIT \(limit)
                """
            key = "id"
        case .expiredSignIns:
            doomed = """
                SELECT token_hash AS id FROM web_sessions
                WHERE expires_at < now() - make_interval(secs => \(seconds)) LIMIT \(limit)
                """
            key = "token_hash"
        }
        // The mark records the highest id pruned where ids are ordered (the event logs), for resumes.
        let mark: SQL = log == .events || log == .taskEvents ? "(SELECT max(id) FROM gone)" : "0"
        let rows = try await self.pool.query(
            """
            WITH doomed AS (\(doomed)),
            gone AS (DELETE FROM \(SQL(unsafeText: log.rawValue)) t USING doomed d WHERE t.\(key) = d.id RETURNING t.\(key) AS id),
            marked AS (
                INSERT INTO retention_marks (log, pruned_upto, pruned_rows)
                SELECT \(log.rawValue), coalesce(\(mark), 0), count(*) FROM gone HAVING count(*) > 0
                ON CONFLICT (log) DO UPDATE SET pruned_upto = greatest(retention_marks.pruned_upto, EXCLUDED.pruned_upto),
                    pruned_rows = retention_marks.pruned_rows + EXCLUDED.pruned_rows, last_run = now()
            )
            SELECT count(*)::int AS n FROM gone
            """)
        return try rows.first?.decode("n") ?? 0
    }

    /// The highest id pruned from `events` (0: nothing yet), and the oldest id still there.
    func eventHorizon() async throws -> (prunedUpTo: Int, oldest: Int?) {
        let row = try await self.pool.query(
            """
            SELECT coalesce((SELECT pruned_upto FROM retention_marks WHERE log = 'events'), 0)::bigint AS pruned,
                   (SELECT min(id) FROM events) AS oldest
            """
        ).first
        return (try row?.decode("pruned") ?? 0, try row?.decodeOptional("oldest"))
    }
}
