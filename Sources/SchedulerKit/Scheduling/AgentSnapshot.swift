/// An agent of the scaling group as one pass sees it.
public struct AgentSnapshot: Hashable, Sendable {
    public var id: String
    public var architecture: String
    /// ALIVE and heard from recently; LOST agents are listed so reasons can count them.
    public var isAlive: Bool
    /// An admin can stop new sessions from landing on an agent.
    public var isSchedulable: Bool
    public var capacity: ResourceSlots
    /// What sessions placed on it hold now.
    public var occupied: ResourceSlots

    public init(
        id: String, architecture: String = "x86_64", isAlive: Bool = true, isSchedulable: Bool = true,
        capacity: ResourceSlots, occupied: ResourceSlots = .empty
    ) {
        self.id = id
        self.architecture = architecture
        self.isAlive = isAlive
        self.isSchedulable = isSchedulable
        self.capacity = capacity
        self.occupied = occupied
    }

    public var free: ResourceSlots { self.capacity - self.occupied }
}
