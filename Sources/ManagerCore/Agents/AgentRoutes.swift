import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SchedulerKit

/// `POST /agent-rpc/sync`: the one call agents make (see `AgentProtocol`). Agents present the shared secret as
/// `Authorization: Bearer <secret>`; the Backend.AI HMAC middleware does not apply to this path.
struct AgentRoutes {
    static let prefix = "/agent-rpc/"
    let agents: PostgresAgentStore
    let signal: EventSignal
    let health: HeartbeatHealth
    /// Nil refuses every agent (no secret configured and no local agent).
    let secret: String?
    let heartbeatInterval: Duration
    let maxBodySize: Int

    func register(on router: Router<ManagerRequestContext>) {
        router.post(RouterPath(AgentProtocol.path), use: self.sync)
    }

    @Sendable func sync(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        try self.authenticate(request)
        let body = try await JSONResponse.decode(AgentProtocol.SyncRequest.self, from: request, limit: self.maxBodySize)
        let info = body.agent
        try Self.validate(body)
        let slots: ResourceSlots
        switch ResourceSlots.parse(.object(info.availableSlots.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })) {
        case .success(let parsed): slots = parsed
        case .failure(.badAmount(let slot)): throw APIError.invalidAPIParams("'agent.available_slots.\(slot.prefix(64))' is not an amount.")
        case .failure(.notAnObject): throw APIError.invalidAPIParams("'agent.available_slots' must be an object.")
        }
        var logger = context.logger
        logger[metadataKey: "agent_id"] = "\(info.id)"
        do {
            let outcome = try await AgentSync(agents: self.agents, signal: self.signal).sync(body, slots: slots)
            if outcome.joined {
                logger.info("agent joined", metadata: ["scaling_group": "\(info.scalingGroup)", "slots": "\(slots)"])
            }
            let interval = Double(self.heartbeatInterval.components.seconds)
            return try JSONResponse.make(AgentProtocol.SyncResponse(commands: outcome.commands, heartbeatInterval: interval))
        } catch let refusal as PostgresAgentStore.Refusal {
            throw APIError.invalidAPIParams("'\(refusal.field)': \(refusal.message)")
        } catch let error as PostgresError {
            // The agent spoke but we could not record it: our problem, not the agent's.
            self.health.recordFailure()
            throw error
        }
    }

    private func authenticate(_ request: Request) throws {
        guard let secret = self.secret else {
            throw APIError.authFailed("This manager accepts no agents: set agent.secret in its config.")
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError.authFailed("Agents authenticate with 'Authorization: Bearer <agent.secret>'.")
        }
        // Compare digests so the time taken does not depend on where the strings differ.
        let given = SHA256.hash(data: Data(header.dropFirst("Bearer ".count).utf8))
        let expected = SHA256.hash(data: Data(secret.utf8))
        guard given == expected else { throw APIError.authFailed("The agent secret does not match.") }
    }

    static func validate(_ body: AgentProtocol.SyncRequest) throws {
        let info = body.agent
        let idCharacters = { (text: String) in
            !text.isEmpty && text.count <= 64 && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) }
        }
        guard idCharacters(info.id) else {
            throw APIError.invalidAPIParams("'agent.id' must be 1-64 letters, digits, '-', '_', '.' or ':'.")
        }
        guard !info.scalingGroup.isEmpty, info.scalingGroup.count <= 64 else {
            throw APIError.invalidAPIParams("'agent.scaling_group' must be a scaling group name.")
        }
        guard idCharacters(info.architecture) else { throw APIError.invalidAPIParams("'agent.architecture' is not an architecture.") }
        guard info.addr.count <= 256, info.version.count <= 64 else {
            throw APIError.invalidAPIParams("'agent.addr' or 'agent.version' is too long.")
        }
        guard body.wait >= 0, body.wait <= 30 else { throw APIError.invalidAPIParams("'wait' must be between 0 and 30 seconds.") }
        guard body.reports.count <= 10_000, body.acked.count <= 10_000 else {
            throw APIError.invalidAPIParams("'reports' and 'acked' hold at most 10000 entries each.")
        }
        // Offsets feed arithmetic on the stored log: bounded here (2^53 bytes is more than any log).
        if let offset = body.reports.compactMap(\.logOffset).first(where: { $0 < 0 || $0 > 1 << 53 }) {
            throw APIError.invalidAPIParams("'reports.log_offset' \(offset) is not an offset (0 to 2^53).")
        }
        if body.reports.contains(where: { ($0.reason?.utf8.count ?? 0) > 64 << 10 }) {
            throw APIError.invalidAPIParams("'reports.reason' is longer than 64 KiB.")
        }
        if let code = body.reports.compactMap(\.exitCode).first(where: { $0 < -1 || $0 > 255 }) {
            throw APIError.invalidAPIParams("'reports.exit_code' \(code) is not an exit code (0-255, or -1 for unknown).")
        }
    }
}
