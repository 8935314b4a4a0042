import SchedulerKit
import Testing

/// A small seeded generator so every property run is reproducible.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct SchedulingPassPropertyTests {
    static func randomSnapshot(seed: UInt64) -> SchedulingSnapshot {
        var rng = SplitMix64(state: seed)
        let agents = (0..<Int.random(in: 1...8, using: &rng)).map { index in
            Fixture.agent(
                "a\(index)", cpu: Int.random(in: 1...16, using: &rng), mem: "\(Int.random(in: 1...32, using: &rng))g",
                usedCPU: Int.random(in: 0...1, using: &rng), architecture: Bool.random(using: &rng) ? "x86_64" : "aarch64",
                alive: Int.random(in: 0..<10, using: &rng) > 0)
        }
        let pending = (0..<Int.random(in: 0...60, using: &rng)).map { index in
            Fixture.session(
                "s\(index)", cpu: Int.random(in: 1...6, using: &rng), mem: "\(Int.random(in: 1...8, using: &rng))g",
                owner: "AK\(Int.random(in: 0..<4, using: &rng))", createdAt: Double(Int.random(in: 0...50, using: &rng)),
                retries: Int.random(in: 0...4, using: &rng), architecture: Int.random(in: 0..<5, using: &rng) == 0 ? "aarch64" : "x86_64")
        }
        var options = ScalingGroupOptions()
        options.agentSelectionStrategy = ScalingGroupOptions.AgentSelectionStrategy.allCases.randomElement(using: &rng) ?? .dispersed
        return Fixture.snapshot(
            pending, agents: agents, scheduler: SchedulerKind.allCases.randomElement(using: &rng) ?? .fifo, options: options)
    }

    @Test("no pass over-commits an agent or places a session twice", arguments: 0..<200)
    func neverOverCommits(seed: Int) {
        let snapshot = Self.randomSnapshot(seed: UInt64(seed))
        let result = SchedulingPass().run(snapshot)
        #expect(Set(result.decisions.map(\.sessionID)).count == snapshot.pending.count)
        #expect(result.decisions.count == snapshot.pending.count)
        for agent in snapshot.agents {
            let granted = result.placements.filter { $0.agentID == agent.id }.reduce(ResourceSlots.empty) { $0 + $1.slots }
            #expect((agent.occupied + granted).exceeding(agent.capacity).isEmpty, "seed \(seed) agent \(agent.id)")
            if !agent.isAlive { #expect(granted == .empty) }
        }
    }

    @Test("a pass is deterministic for one snapshot, whatever the input order", arguments: 0..<50)
    func deterministic(seed: Int) {
        var snapshot = Self.randomSnapshot(seed: UInt64(seed))
        let first = SchedulingPass().run(snapshot)
        snapshot.pending.reverse()
        snapshot.agents.reverse()
        #expect(SchedulingPass().run(snapshot) == first)
    }

    @Test("placements follow the scheduler's order", arguments: 0..<100)
    func order(seed: Int) {
        let snapshot = Self.randomSnapshot(seed: UInt64(seed))
        let created = Dictionary(uniqueKeysWithValues: snapshot.pending.map { ($0.id, ($0.createdAt, $0.id, $0.retries)) })
        let considered = SchedulingPass().run(snapshot).decisions.compactMap { created[$0.sessionID] }
        switch snapshot.scheduler {
        case .fifo:
            // Oldest first (no skipping configured here).
            #expect(zip(considered, considered.dropFirst()).allSatisfy { ($0.0, $0.1) <= ($1.0, $1.1) })
        case .lifo:
            #expect(zip(considered, considered.dropFirst()).allSatisfy { ($0.0, $0.1) >= ($1.0, $1.1) })
        case .drf:
            // Within one owner, oldest first.
            let owners = Dictionary(uniqueKeysWithValues: snapshot.pending.map { ($0.id, $0.accessKey) })
            let decisions = SchedulingPass().run(snapshot).decisions.map(\.sessionID)
            for owner in Set(owners.values) {
                let mine = decisions.filter { owners[$0] == owner }.compactMap { created[$0] }
                #expect(zip(mine, mine.dropFirst()).allSatisfy { ($0.0, $0.1) <= ($1.0, $1.1) })
            }
        }
    }
}
