/// What a pass has granted so far, so that later sessions in the same pass see earlier placements.
public struct PassLedger: Sendable {
    public private(set) var keypairs: [String: KeypairBudget]
    public private(set) var groups: [String: ResourceBudget]
    public private(set) var domains: [String: ResourceBudget]
    public private(set) var agents: [AgentSnapshot]
    /// Pending sessions that can never start because a dependency (or its dependency) ended without success.
    public let doomed: [String: String]
    /// Names of the pending sessions, by id.
    public let pendingNames: [String: String]

    public init(_ snapshot: SchedulingSnapshot) {
        self.keypairs = snapshot.keypairs
        self.groups = snapshot.groups
        self.domains = snapshot.domains
        self.agents = snapshot.agents.sorted { $0.id < $1.id }
        let names = Dictionary(snapshot.pending.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        self.pendingNames = names
        self.doomed = Self.doomedSessions(snapshot, names: names)
    }

    mutating func grant(_ session: PendingSession, agentIndex: Int) {
        self.agents[agentIndex].occupied = self.agents[agentIndex].occupied + session.requested
        self.keypairs[session.accessKey, default: KeypairBudget()].runningSessions += 1
        self.keypairs[session.accessKey, default: KeypairBudget()].resources.used =
            self.keypairs[session.accessKey, default: KeypairBudget()].resources.used + session.requested
        self.groups[session.groupID, default: ResourceBudget()].used =
            self.groups[session.groupID, default: ResourceBudget()].used + session.requested
        self.domains[session.domainName, default: ResourceBudget()].used =
            self.domains[session.domainName, default: ResourceBudget()].used + session.requested
    }

    /// Pending sessions whose dependency chain reaches one that ended without success, with the name of the
    /// failed dependency they depend on directly. Found as a fixpoint so a whole chain is cancelled in one pass.
    /// Only sessions with dependencies are looked at (a long queue of independent sessions costs nothing here).
    static func doomedSessions(_ snapshot: SchedulingSnapshot, names: [String: String]) -> [String: String] {
        let dependents = snapshot.pending.lazy.filter { !$0.dependencies.isEmpty }.map { ($0.id, $0.dependencies) }
        let chains = Array(dependents)
        var doomed: [String: String] = [:]
        var changed = !chains.isEmpty
        while changed {
            changed = false
            for (id, dependencies) in chains where doomed[id] == nil {
                for dependency in dependencies {
                    if let state = snapshot.dependencies[dependency], state.isUnsatisfiable {
                        doomed[id] = state.name
                    } else if doomed[dependency] != nil, let name = names[dependency] {
                        doomed[id] = name
                    }
                    if doomed[id] != nil {
                        changed = true
                        break
                    }
                }
            }
        }
        return doomed
    }
}
