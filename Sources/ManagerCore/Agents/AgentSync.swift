import Foundation
import Logging
import SchedulerKit

/// The use case behind `POST /agent-rpc/sync`: an agent's heartbeat, its reports, the commands it carried out and
/// the commands it gets next, in one transaction; then, when it has nothing to do, a wait for new commands (woken
/// by the `agent_commands` notification, bounded by what the agent asked for).
struct AgentSync: Sendable {
    let agents: PostgresAgentStore
    let files: PostgresSessionFileStore
    let signal: EventSignal
    /// An agent process silent this long may be replaced by another with its id.
    let heartbeatTimeout: Duration

    struct Outcome: Sendable {
        var commands: [AgentProtocol.Command]
        var fileRequests: [AgentProtocol.FileRequest]
        /// The agent is new, or came back from LOST.
        var joined: Bool
        /// The fence this process holds; it sends it with every later sync.
        var epoch: Int64
    }

    func sync(_ request: AgentProtocol.SyncRequest, slots: ResourceSlots) async throws -> Outcome {
        let agentID = request.agent.id
        let version = await self.signal.commandVersion(agent: agentID)
        let (beat, commands, fileRequests) = try await self.agents.pool.withTransaction { tx in
            let beat = try await self.agents.heartbeat(
                request.agent, slots: slots, epoch: request.epoch, heartbeatTimeout: self.heartbeatTimeout, in: tx)
            try await self.agents.apply(request.reports, agentID: agentID, in: tx)
            try await self.agents.acknowledge(request.acked, agentID: agentID, in: tx)
            try await self.files.answer(request.fileResults ?? [], agentID: agentID, in: tx)
            return (beat, try await self.agents.openCommands(agentID: agentID, in: tx),
                    try await self.files.open(agentID: agentID, in: tx))
        }
        guard commands.isEmpty, fileRequests.isEmpty, request.wait > 0 else {
            return Outcome(commands: commands, fileRequests: fileRequests, joined: beat.joined, epoch: beat.epoch)
        }
        await self.signal.waitForCommands(agent: agentID, after: version, timeout: .milliseconds(Int(request.wait * 1000)))
        // Still this process's id? (Another process could only have taken it after this one fell silent.)
        return Outcome(
            commands: try await self.agents.openCommands(agentID: agentID, epoch: beat.epoch),
            fileRequests: try await self.files.open(agentID: agentID, epoch: beat.epoch), joined: beat.joined,
            epoch: beat.epoch)
    }
}
