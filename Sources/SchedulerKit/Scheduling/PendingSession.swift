/// A PENDING session as one pass sees it. Times are seconds since the Unix epoch.
public struct PendingSession: Hashable, Sendable {
    public var id: String
    public var name: String
    public var type: SessionType
    public var accessKey: String
    public var domainName: String
    public var groupID: String
    public var architecture: String
    public var requested: ResourceSlots
    public var createdAt: Double
    public var startsAt: Double?
    /// Ids of the sessions this one waits for.
    public var dependencies: [String]
    /// Passes that already left this session waiting (`status_data.scheduler.retries`).
    public var retries: Int
    /// Its last recorded wait, if any.
    public var lastWait: WaitRecord?
    /// The agents an admin chose for it (`--assign-agent`); empty: any agent of its scaling group.
    public var designatedAgents: [String] = []

    public init(
        id: String, name: String, type: SessionType, accessKey: String, domainName: String = "default",
        groupID: String = "default", architecture: String = "x86_64", requested: ResourceSlots, createdAt: Double,
        startsAt: Double? = nil, dependencies: [String] = [], retries: Int = 0, lastWait: WaitRecord? = nil
    ) {
        self.id = id
        self.name = name
        self.type = type
        self.accessKey = accessKey
        self.domainName = domainName
        self.groupID = groupID
        self.architecture = architecture
        self.requested = requested
        self.createdAt = createdAt
        self.startsAt = startsAt
        self.dependencies = dependencies
        self.retries = retries
        self.lastWait = lastWait
    }
}

/// Where a dependency stands.
public struct DependencyState: Hashable, Sendable {
    public var name: String
    public var status: SessionStatus
    public var result: SessionResult

    public init(name: String, status: SessionStatus, result: SessionResult) {
        self.name = name
        self.status = status
        self.result = result
    }

    /// TERMINATED with SUCCESS: the dependent may start.
    public var isSatisfied: Bool { self.status == .terminated && self.result == .success }

    /// Ended any other way (FAILURE, CANCELLED, ERROR): the dependent can never start.
    public var isUnsatisfiable: Bool { self.status.hasEnded && !self.isSatisfied }
}
