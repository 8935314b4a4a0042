import Foundation
import SchedulerKit

/// One delivery as a dispatcher sends it.
struct WebhookDelivery: Sendable {
    let id: UUID
    let target: String
    let url: String
    let event: String
    let payload: String
    let attempts: Int
    let createdAt: Date
    /// The session's own callback signing secret (callback deliveries only).
    var sessionSecret: String? = nil
}

/// The outbox in PostgreSQL: endpoints, deliveries (queued by a trigger on `events`, in the transaction of each
/// status change) and their attempts.
struct PostgresWebhookStore: Sendable {
    let pool: PostgresPool

    /// Makes the endpoints table match this replica's `[[webhooks]]`.
    func syncEndpoints(_ webhooks: [ManagerConfig.Webhook]) async throws {
        try await self.pool.withTransaction { tx in
            for webhook in webhooks {
                try await tx.execute(
                    """
                    INSERT INTO webhook_endpoints (name, url, events, active, updated_at)
                    VALUES (\(webhook.name), \(webhook.url), \(webhook.events)::text[], true, now())
                    ON CONFLICT (name) DO UPDATE SET url = excluded.url, events = excluded.events, active = true, updated_at = now()
                    """)
            }
            try await tx.execute(
                "UPDATE webhook_endpoints SET active = false, updated_at = now() WHERE active AND NOT (name = ANY(\(webhooks.map(\.name))::text[]))")
        }
    }

    /// The origin (`scheme://host:port`, lowercased) of a delivery's URL, as `WebhookDispatcher.origin` computes it.
    static let origin: SQL = "lower(substring(c.url from '^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*'))"

    /// Leases up to `limit` due deliveries to `replica`: only the oldest pending one per session and destination, so
    /// each destination sees a session's events in order, and none another dispatcher is sending; none to
    /// `skippingOrigins` (their slots are full) and at most `perOrigin` to any one origin.
    func claim(
        replica: String, lease: Duration, limit: Int, skippingOrigins: [String] = [], perOrigin: Int = Int(Int32.max)
    ) async throws -> [WebhookDelivery] {
        let rows = try await self.pool.query(
            """
            UPDATE webhook_deliveries d
            SET lease_until = now() + make_interval(secs => \(lease.seconds)), leased_by = \(replica), attempts = d.attempts + 1
            WHERE d.id IN (
                SELECT id FROM (
                    SELECT id, seq, row_number() OVER (PARTITION BY origin ORDER BY seq) AS turn FROM (
                        SELECT c.id, c.seq, \(Self.origin) AS origin FROM webhook_deliveries c
                        WHERE c.status = 'pending' AND c.next_attempt_at <= now()
                          AND (c.lease_until IS NULL OR c.lease_until < now())
                          AND coalesce(\(Self.origin), '') <> ALL(\(skippingOrigins)::text[])
                          AND NOT EXISTS (
                              SELECT 1 FROM webhook_deliveries e
                              WHERE e.status = 'pending' AND e.session_id = c.session_id AND e.target = c.target AND e.seq < c.seq)
                        ORDER BY c.seq LIMIT \(limit * 8)
                        FOR UPDATE SKIP LOCKED
                    ) locked
                ) due WHERE turn <= \(perOrigin) ORDER BY seq LIMIT \(limit)
            )
            RETURNING d.id, d.target, d.url, d.event, d.payload::text AS payload, d.attempts, d.created_at,
                (SELECT s.callback_secret FROM sessions s WHERE s.id = d.session_id AND d.target = 'callback') AS session_secret
            """)
        return try rows.map { row in
            WebhookDelivery(
                id: try row.decode("id"), target: try row.decode("target"), url: try row.decode("url"),
                event: try row.decode("event"), payload: try row.decode("payload"), attempts: try row.decode("attempts"),
                createdAt: try row.decode("created_at"), sessionSecret: try row.decodeOptional("session_secret"))
        }.sorted { $0.createdAt < $1.createdAt }
    }

    /// Ends this replica's leases on pending deliveries (at shutdown), so another replica may send them now.
    func releaseLeases(replica: String) async throws -> Int {
        try await self.pool.query(
            """
            UPDATE webhook_deliveries SET lease_until = NULL, leased_by = NULL
            WHERE leased_by = \(replica) AND status = 'pending' AND lease_until > now()
            RETURNING id
            """).count
    }

    /// How one attempt went.
    struct Attempt: Sendable {
        var startedAt: Date
        var duration: Duration
        var statusCode: Int?
        var error: String?
        var responsePrefix: String?
    }

    /// What happens to the delivery after an attempt.
    enum Outcome: Sendable {
        case delivered
        case retry(after: Duration)
        case dead
        case refused
    }

    /// Records the attempt and the delivery's new state, if this replica still holds its lease.
    func record(_ delivery: WebhookDelivery, attempt: Attempt, outcome: Outcome, replica: String) async throws {
        let status: String
        var delay: Double = 0
        switch outcome {
        case .delivered: status = "delivered"
        case .retry(let after):
            status = "pending"
            delay = after.seconds
        case .dead: status = "dead"
        case .refused: status = "refused"
        }
        try await self.pool.withTransaction { tx in
            let updated = try await tx.query(
                """
                UPDATE webhook_deliveries
                SET status = \(status), lease_until = NULL, leased_by = NULL, last_error = \(attempt.error),
                    last_status_code = \(attempt.statusCode),
                    next_attempt_at = now() + make_interval(secs => \(delay)),
                    finished_at = CASE WHEN \(status) = 'pending' THEN NULL ELSE now() END
                WHERE id = \(delivery.id) AND leased_by = \(replica) AND status = 'pending'
                RETURNING attempts
                """)
            guard let row = updated.first else { return }
            let number: Int = try row.decode("attempts")
            try await tx.execute(
                """
                INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, response_prefix)
                VALUES (\(delivery.id), \(number), \(attempt.startedAt), \(Int(attempt.duration.seconds * 1000)), \(attempt.statusCode),
                        \(attempt.error), \(attempt.responsePrefix))
                ON CONFLICT DO NOTHING
                """)
        }
    }

    /// Queue depth and the age of the oldest pending delivery, in seconds.
    func backlog() async throws -> (pending: Int, oldestSeconds: Double) {
        guard let row = try await self.pool.query(
            """
            SELECT count(*)::int AS pending, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest
            FROM webhook_deliveries WHERE status = 'pending'
            """
        ).first else { return (0, 0) }
        return (try row.decode("pending"), try row.decode("oldest"))
    }

    /// The earliest moment a pending delivery becomes due (nil when none is pending).
    func nextDue() async throws -> Date? {
        try await self.pool.query(
            "SELECT min(greatest(next_attempt_at, coalesce(lease_until, next_attempt_at))) AS due FROM webhook_deliveries WHERE status = 'pending'"
        ).first?.decodeOptional("due")
    }

    /// Deliveries, newest first, with their attempts.
    func list(status: String?, sessionID: UUID?, limit: Int, offset: Int) async throws -> JSONValue {
        let rows = try await self.pool.query(
            """
            SELECT d.id, d.target, d.url, d.session_id, d.event, d.payload::text AS payload, d.status, d.attempts,
                   d.next_attempt_at, d.last_error, d.last_status_code, d.created_at, d.finished_at,
                   coalesce((SELECT jsonb_agg(jsonb_build_object(
                                 'attempt', a.attempt, 'started_at', a.started_at, 'duration_ms', a.duration_ms,
                                 'status_code', a.status_code, 'error', a.error, 'response_prefix', a.response_prefix)
                                 ORDER BY a.attempt)
                             FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'::jsonb)::text AS attempt_log
            FROM webhook_deliveries d
            WHERE (\(status)::text IS NULL OR d.status = \(status)) AND (\(sessionID)::uuid IS NULL OR d.session_id = \(sessionID))
            ORDER BY d.seq DESC LIMIT \(limit) OFFSET \(offset)
            """)
        return .array(try rows.map { row in
            let sessionID: UUID? = try row.decodeOptional("session_id")
            let code: Int? = try row.decodeOptional("last_status_code")
            let finished: Date? = try row.decodeOptional("finished_at")
            let lastError: String? = try row.decodeOptional("last_error")
            return .object([
                ("delivery_id", .string((try row.decode("id", as: UUID.self)).uuidString.lowercased())),
                ("target", .string(try row.decode("target"))), ("url", .string(try row.decode("url"))),
                ("session_id", sessionID.map { .string($0.uuidString.lowercased()) } ?? .null),
                ("event", .string(try row.decode("event"))), ("status", .string(try row.decode("status"))),
                ("attempts", .number(Double(try row.decode("attempts", as: Int.self)))),
                ("next_attempt_at", .string(Timestamp.pythonISO(try row.decode("next_attempt_at")))),
                ("last_error", lastError.map(JSONValue.string) ?? .null),
                ("last_status_code", code.map { .number(Double($0)) } ?? .null),
                ("created_at", .string(Timestamp.pythonISO(try row.decode("created_at")))),
                ("finished_at", finished.map { .string(Timestamp.pythonISO($0)) } ?? .null),
                ("payload", try JSONValue.decode(row.decode("payload"))),
                ("attempt_log", try JSONValue.decode(row.decode("attempt_log"))),
            ])
        })
    }

    /// Puts a delivery back in the queue, due now; false when there is no such delivery.
    func redeliver(_ id: UUID) async throws -> Bool {
        try await self.pool.withConnection { session in
            try await session.execute(
                """
                UPDATE webhook_deliveries
                SET status = 'pending', next_attempt_at = now(), lease_until = NULL, leased_by = NULL, finished_at = NULL
                WHERE id = \(id)
                """) == 1
        }
    }
}
