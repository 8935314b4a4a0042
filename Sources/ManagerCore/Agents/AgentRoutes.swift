import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SchedulerKit

/// `POST /agent-rpc/sync`: the one call agents make (see `AgentProtocol`). Agents present their token (or the
/// shared secret, where an operator opted in) as `Authorization: Bearer <credential>` (`AgentCredential`); the
/// Backend.AI HMAC middleware does not apply to this path. A token holder must announce its own id and scaling
/// group (403 otherwise), and a second live process announcing an id is refused by the epoch fence (409).
struct AgentRoutes {
    static let prefix = "/agent-rpc/"
    let agents: PostgresAgentStore
    let tokens: PostgresAgentTokenStore
    let signal: EventSignal
    let health: HeartbeatHealth
    /// `agent.secret`, when the operator opted into a shared secret; nil: tokens only.
    let sharedSecret: String?
    let heartbeatInterval: Duration
    /// An agent silent this long may be replaced by a new process with its id.
    let heartbeatTimeout: Duration
    let maxBodySize: Int

    func register(on router: Router<ManagerRequestContext>) {
        router.post(RouterPath(AgentProtocol.path), use: self.sync)
    }

    @Sendable func sync(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let credential = try await self.authenticate(request)
        let body = try await JSONResponse.decode(AgentProtocol.SyncRequest.self, from: request, limit: self.maxBodySize)
        let info = body.agent
        try Self.validate(body)
        if case .agent(let id, let group) = credential {
            guard info.id == id else {
                throw APIError.forbidden("This token belongs to agent '\(id)', not '\(info.id.prefix(64))'.")
            }
            guard info.scalingGroup == group else {
                throw APIError.forbidden("Agent '\(id)' may join only the scaling group '\(group)'.")
            }
        }
        let slots: ResourceSlots
        switch ResourceSlots.parse(.object(info.availableSlots.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })) {
        case .success(let parsed): slots = parsed
        case .failure(.badAmount(let slot)): throw APIError.invalidAPIParams("'agent.available_slots.\(slot.prefix(64))' is not an amount.")
        case .failure(.notAnObject): throw APIError.invalidAPIParams("'agent.available_slots' must be an object.")
        }
        var logger = context.logger
        logger[metadataKey: "agent_id"] = "\(info.id)"
        do {
            let outcome = try await AgentSync(
                agents: self.agents, files: PostgresSessionFileStore(pool: self.agents.pool), signal: self.signal,
                heartbeatTimeout: self.heartbeatTimeout)
                .sync(body, slots: slots)
            if outcome.joined {
                logger.info("agent joined", metadata: ["scaling_group": "\(info.scalingGroup)", "slots": "\(slots)"])
            }
            let interval = Double(self.heartbeatInterval.components.seconds)
            return try JSONResponse.make(AgentProtocol.SyncResponse(
                commands: outcome.commands, heartbeatInterval: interval, epoch: outcome.epoch,
                fileRequests: outcome.fileRequests.isEmpty ? nil : outcome.fileRequests))
        } catch let refusal as PostgresAgentStore.Refusal where refusal.isFence {
            logger.warning("agent refused by the epoch fence", metadata: ["reason": "\(refusal.message)"])
            throw APIError.conflict("agent-superseded", title: "Another process holds this agent id.", msg: refusal.message)
        } catch let refusal as PostgresAgentStore.Refusal {
            throw APIError.invalidAPIParams("'\(refusal.field)': \(refusal.message)")
        } catch let error as PostgresError {
            // The agent spoke but we could not record it: our problem, not the agent's.
            self.health.recordFailure()
            throw error
        }
    }

    private func authenticate(_ request: Request) async throws -> AgentCredential {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "), header.count <= 512 else {
            throw APIError.authFailed("Agents authenticate with 'Authorization: Bearer <token>' (`manager agent-token create`).")
        }
        let given = String(header.dropFirst("Bearer ".count))
        if let secret = self.sharedSecret, AgentCredential.sameSecret(given, secret) { return .shared }
        do {
            guard let credential = try await self.tokens.agent(token: given) else {
                throw APIError.authFailed("The agent token is unknown or revoked.")
            }
            return credential
        } catch let error as PostgresError {
            self.health.recordFailure()
            throw error
        }
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
        if let results = body.fileResults {
            guard results.count <= 100 else { throw APIError.invalidAPIParams("'file_results' holds at most 100 entries.") }
            let bytes = results.reduce(0) { $0 + ($1.archives ?? []).reduce(0) { $0 + $1.count } }
            guard bytes <= SessionFiles.maxDownloadBytes * 2 else {
                throw APIError.invalidAPIParams("'file_results.archives' hold more than \(SessionFiles.maxDownloadBytes * 2) bytes.")
            }
            guard results.allSatisfy({ ($0.entries?.count ?? 0) <= SessionFiles.maxListEntries }) else {
                throw APIError.invalidAPIParams("'file_results.entries' holds more than \(SessionFiles.maxListEntries) entries.")
            }
        }
    }
}
