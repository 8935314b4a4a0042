import Foundation
import Logging
import SchedulerKit

/// The use case behind `POST /agent-rpc/sync`: an agent's heartbeat, its reports, the commands it carried out and
/// the commands it gets next, in one transaction; then, when it has nothing to do, a wait for new commands (woken
/// by the `agent_commands` notification, bounded by what the agent asked for).
struct AgentSync: Sendable {
    let agents: PostgresAgentStore
    let signal: EventSignal

    struct Outcome: Sendable {
        var commands: [AgentProtocol.Command]
        /// The agent is new, or came back from LOST.
        var joined: Bool
    }

    func sync(_ request: AgentProtocol.SyncRequest, slots: ResourceSlots) async throws -> Outcome {
        let agentID = request.agent.id
        let version = await self.signal.commandVersion(agent: agentID)
        let (joined, commands) = try await self.agents.pool.withTransaction { tx in
            let joined = try await self.agents.heartbeat(request.agent, slots: slots, in: tx)
            try await self.agents.apply(request.reports, agentID: agentID, in: tx)
            try await self.agents.acknowledge(request.acked, agentID: agentID, in: tx)
            return (joined, try await self.agents.openCommands(agentID: agentID, in: tx))
        }
        guard commands.isEmpty, request.wait > 0 else { return Outcome(commands: commands, joined: joined) }
        await self.signal.waitForCommands(agent: agentID, after: version, timeout: .milliseconds(Int(request.wait * 1000)))
        return Outcome(commands: try await self.agents.openCommands(agentID: agentID), joined: joined)
    }
}
