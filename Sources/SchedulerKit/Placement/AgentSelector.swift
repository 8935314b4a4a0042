/// Chooses an agent for a session, or explains with counts why none can take it.
public struct AgentSelector: Sendable {
    public var strategy: ScalingGroupOptions.AgentSelectionStrategy

    public init(strategy: ScalingGroupOptions.AgentSelectionStrategy) {
        self.strategy = strategy
    }

    public enum Outcome: Hashable, Sendable {
        /// The index into the agents array.
        case selected(Int)
        /// `0/5 agents available: 3 insufficient cpu, 2 wrong architecture`. `fitsWhenIdle` says whether some live
        /// agent could take the session once its current sessions end.
        case unavailable(message: String, fitsWhenIdle: Bool)
    }

    /// `agents` must be sorted by id (round-robin order); `cursor` is where round-robin continues.
    public func select(_ session: PendingSession, among agents: [AgentSnapshot], cursor: Int) -> Outcome {
        var reasons: [String: Int] = [:]
        var candidates: [Int] = []
        var fitsWhenIdle = false
        let designated = Set(session.designatedAgents)
        for (index, agent) in agents.enumerated() {
            if !designated.isEmpty && !designated.contains(agent.id) {
                reasons["not designated", default: 0] += 1
            } else if !agent.isAlive {
                reasons["not alive", default: 0] += 1
            } else if !agent.isSchedulable {
                reasons["not schedulable", default: 0] += 1
            } else if agent.architecture != session.architecture {
                reasons["wrong architecture", default: 0] += 1
            } else {
                let short = session.requested.exceeding(agent.free)
                if session.requested.exceeding(agent.capacity).isEmpty { fitsWhenIdle = true }
                if short.isEmpty {
                    candidates.append(index)
                } else {
                    for slot in short { reasons["insufficient \(slot)", default: 0] += 1 }
                }
            }
        }
        guard !candidates.isEmpty else {
            let detail = reasons.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { "\($0.value) \($0.key)" }
            let suffix = detail.isEmpty ? "" : ": " + detail.joined(separator: ", ")
            return .unavailable(message: "0/\(agents.count) agents available\(suffix)", fitsWhenIdle: fitsWhenIdle)
        }
        switch self.strategy {
        case .roundrobin:
            let start = agents.isEmpty ? 0 : ((cursor % agents.count) + agents.count) % agents.count
            let chosen = candidates.first { $0 >= start } ?? candidates[0]
            return .selected(chosen)
        case .dispersed:
            return .selected(self.pick(candidates, agents, session, preferMoreFree: true))
        case .concentrated:
            return .selected(self.pick(candidates, agents, session, preferMoreFree: false))
        }
    }

    /// Compares free amounts slot by slot (the session's slots in display order), then agent id.
    private func pick(_ candidates: [Int], _ agents: [AgentSnapshot], _ session: PendingSession, preferMoreFree: Bool) -> Int {
        let slots = session.requested.slotNames.isEmpty ? ["cpu", "mem"] : session.requested.slotNames
        var best = candidates[0]
        for index in candidates.dropFirst() {
            let lhs = slots.map { agents[index].free[$0] }
            let rhs = slots.map { agents[best].free[$0] }
            if lhs != rhs, lhs.lexicographicallyPrecedes(rhs) != preferMoreFree { best = index }
        }
        return best
    }
}
