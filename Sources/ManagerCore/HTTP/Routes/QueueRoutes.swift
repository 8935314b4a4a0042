import Foundation
import Hummingbird
import SchedulerKit

/// Ours: `GET /scheduler/queues`, what each scaling group's queue holds and why its PENDING sessions wait
/// (`120 waiting: 80 insufficient cpu, 30 dependencies, 10 reserved_time`), with its agents' capacity. A user sees
/// their own sessions and their groups' totals; an admin every session, every group and each agent.
struct QueueRoutes {
    let queues: PostgresQueueSummary
    let agents: PostgresAgentStore

    func register(on router: Router<ManagerRequestContext>) {
        router.get("/scheduler/queues", use: self.list)
    }

    @Sendable func list(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let groups = try await self.queues.groups(owner: identity.isAdmin ? nil : identity.accessKey)
        let agents = try await self.agents.list(status: nil, scalingGroup: nil, limit: 1000, offset: 0).items
        let perAgent = identity.isAdmin ? try await self.queues.sessionsPerAgent() : [:]
        let items: [JSONValue] = groups.map { group in
            let members = agents.filter { $0.scalingGroup == group.name }
            var total = ResourceSlots()
            var used = ResourceSlots()
            for agent in members where agent.status == "ALIVE" {
                if case .success(let slots) = ResourceSlots.parse(agent.availableSlots) { total = total + slots }
                if case .success(let slots) = ResourceSlots.parse(agent.occupiedSlots) { used = used + slots }
            }
            var pairs: [(key: String, value: JSONValue)] = [
                ("name", .string(group.name)),
                ("pending", .number(Double(group.statuses[SessionStatus.pending.rawValue] ?? 0))),
                ("running", .number(Double(group.statuses[SessionStatus.running.rawValue] ?? 0))),
                ("statuses", .object(group.statuses.sorted { $0.key < $1.key }.map { ($0.key, .number(Double($0.value))) })),
                ("reasons", .array(group.reasons.map { .object([("reason", .string($0.reason)), ("count", .number(Double($0.count)))]) })),
                ("capacity", .object([("total", total.json), ("used", used.json)])),
            ]
            if identity.isAdmin {
                pairs.append(("agents", .array(members.map { agent in
                    .object([
                        ("id", .string(agent.id)), ("status", .string(agent.status)), ("schedulable", .bool(agent.schedulable)),
                        ("available_slots", agent.availableSlots), ("occupied_slots", agent.occupiedSlots),
                        ("sessions", .number(Double(perAgent[agent.id] ?? 0))),
                    ])
                })))
            }
            return .object(pairs)
        }
        return JSONResponse.raw(JSONValue.object([("scaling_groups", .array(items))]).text)
    }
}
