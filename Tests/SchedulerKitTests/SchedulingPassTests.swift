import SchedulerKit
import Testing

@Suite struct SchedulingPassTests {
    @Test("a session that fits nowhere waits with counted reasons and the rest of the pass goes on")
    func countedReason() {
        let agents = [
            Fixture.agent("a1", cpu: 2), Fixture.agent("a2", cpu: 2), Fixture.agent("a3", cpu: 8, usedCPU: 7),
            Fixture.agent("a4", architecture: "aarch64"), Fixture.agent("a5", architecture: "aarch64"),
        ]
        let snapshot = Fixture.snapshot(
            [Fixture.session("big", cpu: 16, createdAt: 1), Fixture.session("small", cpu: 1, createdAt: 2)], agents: agents)
        let result = SchedulingPass().run(snapshot)
        guard case .wait(let waiting)? = result.decision("big") else {
            Issue.record("big should wait")
            return
        }
        #expect(waiting.statusInfo == "no-available-instances")
        #expect(waiting.message == "0/5 agents available: 3 insufficient cpu, 2 wrong architecture")
        // `big` can never fit, so it does not block the fifo queue.
        #expect(result.placements.map(\.sessionID) == ["small"])
    }

    @Test("designated agents (--assign-agent): the session goes only to one of them, and waits saying the others are not designated")
    func designatedAgents() {
        let agents = [Fixture.agent("a1", cpu: 8), Fixture.agent("a2", cpu: 2), Fixture.agent("a3", cpu: 2, usedCPU: 2)]
        var pinned = Fixture.session("pinned", cpu: 1, createdAt: 1)
        pinned.designatedAgents = ["a2"]
        var busy = Fixture.session("busy", cpu: 1, createdAt: 4)
        busy.designatedAgents = ["a3"]
        let free = Fixture.session("free", cpu: 1, createdAt: 3)
        let snapshot = Fixture.snapshot([pinned, busy, free], agents: agents, options: Fixture.options(.object([
            ("agent_selection_strategy", .string("dispersed")),
        ])))
        let result = SchedulingPass().run(snapshot)
        // Dispersed would have picked a1 (most free); the designation wins.
        #expect(result.placements.first { $0.sessionID == "pinned" }?.agentID == "a2")
        guard case .wait(let waiting)? = result.decision("busy") else {
            Issue.record("busy should wait for its agent")
            return
        }
        #expect(waiting.message == "0/3 agents available: 2 not designated, 1 insufficient cpu")
        #expect(result.placements.first { $0.sessionID == "free" }?.agentID == "a1")
    }

    @Test("fifo: an older session that fits once agents free up blocks younger ones")
    func fifoBlocks() {
        let snapshot = Fixture.snapshot(
            [Fixture.session("old", cpu: 4, createdAt: 1), Fixture.session("young", cpu: 1, createdAt: 2)],
            agents: [Fixture.agent("a1", cpu: 4, usedCPU: 2)])
        let result = SchedulingPass().run(snapshot)
        #expect(result.placements.isEmpty)
        #expect(result.failedMessages("young") == ["Waiting behind the older session 's-old' that does not fit yet (fifo)."])
    }

    @Test("fifo with num_retries_to_skip moves a session that waited long enough behind the others")
    func fifoSkips() {
        let snapshot = Fixture.snapshot(
            [Fixture.session("old", cpu: 4, createdAt: 1, retries: 3), Fixture.session("young", cpu: 1, createdAt: 2)],
            agents: [Fixture.agent("a1", cpu: 4, usedCPU: 2)],
            options: Fixture.options(.object([("config", .object([("num_retries_to_skip", .number(3))]))])))
        let result = SchedulingPass().run(snapshot)
        #expect(result.placements.map(\.sessionID) == ["young"])
        #expect(result.decisions.map(\.sessionID) == ["young", "old"])
    }

    @Test("lifo takes the newest first and nothing blocks")
    func lifo() {
        let snapshot = Fixture.snapshot(
            [Fixture.session("s1", cpu: 2, createdAt: 1), Fixture.session("s2", cpu: 2, createdAt: 2),
             Fixture.session("s3", cpu: 3, createdAt: 3)],
            agents: [Fixture.agent("a1", cpu: 4)], scheduler: .lifo)
        #expect(SchedulingPass().run(snapshot).placements.map(\.sessionID) == ["s3"])
        let roomy = Fixture.snapshot(snapshot.pending, agents: [Fixture.agent("a1", cpu: 5)], scheduler: .lifo)
        #expect(SchedulingPass().run(roomy).placements.map(\.sessionID) == ["s3", "s2"])
    }

    @Test("drf serves the owner with the smallest dominant share first")
    func drf() {
        var snapshot = Fixture.snapshot(
            [Fixture.session("heavy1", owner: "HEAVY", createdAt: 1), Fixture.session("heavy2", owner: "HEAVY", createdAt: 2),
             Fixture.session("light1", owner: "LIGHT", createdAt: 3), Fixture.session("light2", owner: "LIGHT", createdAt: 4)],
            agents: [Fixture.agent("a1", cpu: 10, mem: "100g", usedCPU: 4)], scheduler: .drf)
        snapshot.keypairs["HEAVY"] = .init(resources: .init(used: Fixture.slots(cpu: 4, mem: "0")))
        let order = SchedulingPass().run(snapshot).placements.map(\.sessionID)
        // LIGHT starts at share 0 and goes twice before HEAVY (0.4) is considered again at 0.2/0.3.
        #expect(order == ["light1", "light2", "heavy1", "heavy2"])
    }

    @Test("a failed dependency cancels the whole pending chain in one pass, whatever the order")
    func dependencyChain() {
        for scheduler in SchedulerKind.allCases {
            let snapshot = Fixture.snapshot(
                [Fixture.session("b", createdAt: 2, dependencies: ["a"]), Fixture.session("c", createdAt: 3, dependencies: ["b"]),
                 Fixture.session("d", createdAt: 4)],
                scheduler: scheduler, dependencies: ["a": .init(name: "s-a", status: .terminated, result: .failure)])
            let result = SchedulingPass().run(snapshot)
            #expect(Set(result.cancellations.map(\.sessionID)) == ["b", "c"], "\(scheduler)")
            #expect(result.cancellations.allSatisfy { $0.statusInfo == "dependency-failed" })
            #expect(result.placements.map(\.sessionID) == ["d"])
        }
    }

    @Test("agent selection strategies", arguments: [
        // dispersed: most free cpu first; a tie goes to the lower id.
        (ScalingGroupOptions.AgentSelectionStrategy.dispersed, ["a3", "a2", "a3"]),
        (.concentrated, ["a1", "a1", "a1"]),
        (.roundrobin, ["a2", "a3", "a1"]),
    ])
    func selection(strategy: ScalingGroupOptions.AgentSelectionStrategy, expected: [String]) {
        var options = ScalingGroupOptions()
        options.agentSelectionStrategy = strategy
        var snapshot = Fixture.snapshot(
            [Fixture.session("s1", createdAt: 1), Fixture.session("s2", createdAt: 2), Fixture.session("s3", createdAt: 3)],
            agents: [Fixture.agent("a1", cpu: 4, usedCPU: 1), Fixture.agent("a2", cpu: 6, usedCPU: 2), Fixture.agent("a3", cpu: 8, usedCPU: 3)],
            options: options)
        snapshot.roundRobinCursor = 1
        let result = SchedulingPass().run(snapshot)
        #expect(result.placements.map(\.agentID) == expected)
    }

    @Test("lost agents and architecture are filtered")
    func filters() {
        let snapshot = Fixture.snapshot(
            [Fixture.session("s", architecture: "aarch64")],
            agents: [Fixture.agent("a1", alive: false), Fixture.agent("a2", architecture: "aarch64"), Fixture.agent("a3")])
        #expect(SchedulingPass().run(snapshot).placements.map(\.agentID) == ["a2"])
    }

    @Test("pending_timeout cancels even when no agent is alive")
    func timeoutWithoutAgents() {
        let snapshot = Fixture.snapshot(
            [Fixture.session("x", createdAt: 0)], agents: [Fixture.agent("a1", alive: false)],
            options: Fixture.options(.object([("pending_timeout", .number(10))])))
        #expect(SchedulingPass().run(snapshot).cancellations.map(\.statusInfo) == ["pending-timeout"])
    }
}
