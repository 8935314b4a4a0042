import Foundation

/// Per-agent credentials (`agent_tokens`): only each token's SHA-256 is stored.
struct PostgresAgentTokenStore: Sendable {
    let pool: PostgresPool

    enum Refusal: Error, Equatable {
        case unknownScalingGroup(String)
    }

    /// Issues (or replaces) the token of `agentID`; returns the token, which is not kept.
    func issue(agentID: String, scalingGroup: String) async throws -> String {
        let token = AgentCredential.newToken()
        try await self.store(token: token, agentID: agentID, scalingGroup: scalingGroup)
        return token
    }

    /// Registers `token` as `agentID`'s (replacing any earlier one).
    func store(token: String, agentID: String, scalingGroup: String) async throws {
        do {
            try await self.pool.query(
                """
                INSERT INTO agent_tokens (agent_id, token_sha256, scaling_group) VALUES (\(agentID), \(secret: AgentCredential.digest(token)), \(scalingGroup))
                ON CONFLICT (agent_id) DO UPDATE SET token_sha256 = EXCLUDED.token_sha256,
                    scaling_group = EXCLUDED.scaling_group, created_at = now(), revoked_at = NULL
                """)
        } catch let error as PostgresError where error.code == .foreignKeyViolation {
            throw Refusal.unknownScalingGroup(scalingGroup)
        }
    }

    /// Revokes `agentID`'s token; false when it had none.
    func revoke(agentID: String) async throws -> Bool {
        try await self.pool.query(
            "UPDATE agent_tokens SET revoked_at = now() WHERE agent_id = \(agentID) AND revoked_at IS NULL"
        ).affectedRows == 1
    }

    /// The agent a (not revoked) token belongs to.
    func agent(token: String) async throws -> AgentCredential? {
        guard let row = try await self.pool.query(
            """
            SELECT agent_id, scaling_group FROM agent_tokens
            WHERE token_sha256 = \(secret: AgentCredential.digest(token)) AND revoked_at IS NULL
            """
        ).first else { return nil }
        return .agent(id: try row.decode("agent_id"), scalingGroup: try row.decode("scaling_group"))
    }

    func list() async throws -> [(agentID: String, scalingGroup: String, createdAt: Date, revoked: Bool)] {
        try await self.pool.query(
            "SELECT agent_id, scaling_group, created_at, revoked_at IS NOT NULL AS revoked FROM agent_tokens ORDER BY agent_id"
        ).map { (try $0.decode("agent_id"), try $0.decode("scaling_group"), try $0.decode("created_at"), try $0.decode("revoked")) }
    }
}
