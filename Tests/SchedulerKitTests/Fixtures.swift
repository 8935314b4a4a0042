import SchedulerKit

/// Short builders for snapshots in tests.
enum Fixture {
    static func slots(cpu: Int, mem: String = "1g") -> ResourceSlots {
        var slots = ResourceSlots()
        slots["cpu"] = SlotAmount(cpu)
        slots["mem"] = SlotAmount(parsing: mem) ?? .zero
        return slots
    }

    static func session(
        _ id: String, cpu: Int = 1, mem: String = "1g", type: SessionType = .batch, owner: String = "AK1",
        createdAt: Double = 0, startsAt: Double? = nil, dependencies: [String] = [], retries: Int = 0,
        architecture: String = "x86_64"
    ) -> PendingSession {
        PendingSession(
            id: id, name: "s-\(id)", type: type, accessKey: owner, architecture: architecture,
            requested: slots(cpu: cpu, mem: mem), createdAt: createdAt, startsAt: startsAt, dependencies: dependencies,
            retries: retries)
    }

    static func agent(
        _ id: String, cpu: Int = 4, mem: String = "8g", usedCPU: Int = 0, architecture: String = "x86_64", alive: Bool = true
    ) -> AgentSnapshot {
        AgentSnapshot(
            id: id, architecture: architecture, isAlive: alive, capacity: slots(cpu: cpu, mem: mem),
            occupied: usedCPU > 0 ? slots(cpu: usedCPU, mem: "0") : .empty)
    }

    static func snapshot(
        _ pending: [PendingSession], agents: [AgentSnapshot] = [agent("a1")], scheduler: SchedulerKind = .fifo,
        options: ScalingGroupOptions = .init(), now: Double = 100, dependencies: [String: DependencyState] = [:],
        keypairs: [String: KeypairBudget] = [:]
    ) -> SchedulingSnapshot {
        SchedulingSnapshot(
            scalingGroup: "sg", scheduler: scheduler, options: options, now: now, pending: pending, agents: agents,
            dependencies: dependencies, keypairs: keypairs)
    }

    static func options(_ json: JSONValue) -> ScalingGroupOptions {
        (try? ScalingGroupOptions.parse(json).get()) ?? ScalingGroupOptions()
    }
}

extension PassResult {
    func decision(_ id: String) -> SchedulingDecision? { self.decisions.first { $0.sessionID == id } }

    func failedMessages(_ id: String) -> [String] {
        switch self.decision(id) {
        case .wait(let waiting)?: waiting.failed.map { "\($0.name): \($0.message)" } + (waiting.message.map { [$0] } ?? [])
        case .cancel(let cancellation)?: cancellation.failed.map { "\($0.name): \($0.message)" }
        default: []
        }
    }
}
