import Foundation

/// The file requests waiting for agents (`session_file_requests`, migration 0011): queued by `SessionFiles`,
/// handed to the agent with its syncs until it answers, read and deleted by the waiting call.
struct PostgresSessionFileStore: Sendable {
    let pool: PostgresPool

    /// How long a request is offered to its agent; the waiting call gives up sooner (`SessionFiles.answerTimeout`).
    static let offeredFor = 120
    /// Requests handed out per sync.
    static let batch = 16

    /// Queues `request` for `agentID` and wakes the agent; returns the request's id.
    func queue(_ request: AgentProtocol.FileRequest, agentID: String) async throws -> Int64 {
        let rows = try await self.pool.query(
            """
            WITH queued AS (
                INSERT INTO session_file_requests (agent_id, session_id, request)
                VALUES (\(agentID), \(request.sessionID), \(try JSONB(encoding: request)))
                RETURNING id
            )
            SELECT queued.id::text AS id, pg_notify('agent_commands', \(agentID)) FROM queued
            """)
        guard let text: String = try rows.first?.decode("id"), let id = Int64(text) else {
            throw PostgresError(.decoding, message: "INSERT … RETURNING gave no id")
        }
        return id
    }

    /// The requests `agentID` has not answered (recent ones only); with `epoch`, only while that process holds it.
    func open(agentID: String, epoch: Int64? = nil, in session: PostgresSession? = nil) async throws -> [AgentProtocol.FileRequest] {
        let sql: SQL = """
            SELECT r.id::text AS id, r.session_id, r.request FROM session_file_requests r
            WHERE r.agent_id = \(agentID) AND r.answered_at IS NULL
              AND r.created_at > now() - make_interval(secs => \(Self.offeredFor))
              AND (\(epoch.map(Int.init))::int8 IS NULL OR EXISTS (SELECT 1 FROM agents a WHERE a.id = r.agent_id AND a.epoch = \(epoch.map(Int.init))))
            ORDER BY r.id LIMIT \(Self.batch)
            """
        let rows: PostgresRows
        if let session { rows = try await session.query(sql) } else { rows = try await self.pool.query(sql) }
        return try rows.compactMap { row in
            guard let id = Int64(try row.decode("id", as: String.self)) else { return nil }
            var request = try row.decode("request", as: JSONB.self).decode(AgentProtocol.FileRequest.self)
            request.id = id
            request.sessionID = try row.decode("session_id")
            return request
        }
    }

    /// Stores the agent's answers (only to requests queued for it, once) and wakes the waiting calls.
    func answer(_ results: [AgentProtocol.FileResult], agentID: String, in tx: PostgresSession) async throws {
        for result in results {
            try await tx.execute(
                """
                WITH answered AS (
                    UPDATE session_file_requests SET result = \(try JSONB(encoding: result)), answered_at = now()
                    WHERE id = \(Int(result.id)) AND agent_id = \(agentID) AND answered_at IS NULL
                    RETURNING id
                )
                SELECT pg_notify('session_file_results', id::text) FROM answered
                """)
        }
    }

    /// The answer to request `id`, removing the request; nil while it is unanswered.
    func take(_ id: Int64) async throws -> AgentProtocol.FileResult? {
        let rows = try await self.pool.query(
            "DELETE FROM session_file_requests WHERE id = \(Int(id)) AND answered_at IS NOT NULL RETURNING result")
        return try rows.first.map { try $0.decode("result", as: JSONB.self).decode(AgentProtocol.FileResult.self) }
    }

    /// Withdraws request `id` (its caller gave up).
    func withdraw(_ id: Int64) async throws {
        try await self.pool.query("DELETE FROM session_file_requests WHERE id = \(Int(id))")
    }

    /// Removes requests older than `age` seconds that nobody came back for; returns how many.
    func prune(olderThan age: Int) async throws -> Int {
        try await self.pool.query(
            "DELETE FROM session_file_requests WHERE created_at < now() - make_interval(secs => \(age))"
        ).affectedRows
    }
}
