import Foundation
import SchedulerKit

/// A session row, as the API shows it.
public struct SessionRecord: Sendable {
    public var id: UUID
    public var name: String
    public var type: SessionType
    public var accessKey: AccessKey
    public var userID: UUID
    public var domainName: String
    public var groupName: String
    public var scalingGroup: String?
    public var agentID: String?
    public var image: String
    public var architecture: String
    public var tag: String?
    public var requestedSlots: JSONValue
    public var occupyingSlots: JSONValue
    public var resourceOpts: JSONValue
    public var startupCommand: String?
    public var callbackURL: String?
    public var startsAt: Date?
    public var createdAt: Date
    public var terminatedAt: Date?
    public var status: SessionStatus
    public var statusInfo: String?
    public var statusData: JSONValue
    public var statusHistory: JSONValue
    public var statusChanged: Date
    public var result: SessionResult
    public var exitCode: Int?
    /// What the session used, as its agent last measured (Backend.AI's stat shape), or null.
    public var lastStat: JSONValue = .null
    public var groupID: UUID? = nil
    public var userEmail: String? = nil
    /// The names of the folders it mounts.
    public var mountNames: [String] = []
}

/// What `POST /session` asks for, validated by the handler.
public struct SessionCreation: Sendable {
    public var name: String
    public var type: SessionType
    public var image: String
    public var architecture: String
    public var requestedScalingGroup: String?
    public var requestedSlots: JSONValue
    public var resourceOpts: JSONValue
    public var dependencies: [String]
    public var startupCommand: String?
    public var bootstrapScript: String?
    public var startsAt: Date?
    public var callbackURL: String?
    public var environ: JSONValue
    /// vfolders to mount, by name, with the path inside the session (relative to its working folder).
    public var mounts: [MountRequest]
    public var tag: String?
    public var reuseIfExists: Bool
    public var owner: AccessKey
    public var groupName: String
    public var isAdminRequest: Bool
    /// Containers asked for (`clusterSize`); only 1 is supported, more is refused after the policy check.
    public var clusterSize: Int = 1
    /// `config.agentList` (admins only): the agents the session may be placed on; empty: any.
    public var designatedAgents: [String] = []
    /// Signs this session's `callback_url` deliveries (instead of `webhook_delivery.callback_secret`).
    public var callbackSecret: String?
}

/// One `config.mounts` entry with its `mount_map` alias.
public struct MountRequest: Sendable, Hashable {
    public var name: String
    public var alias: String
}

/// The result of an enqueue.
public enum EnqueueOutcome: Sendable {
    case created(SessionRecord)
    /// `reuseIfExists` found a live session with the name.
    case existing(SessionRecord)
}

/// Why a request about sessions cannot be done; handlers map each to an API error.
public enum SessionStoreRefusal: Error, Sendable, Equatable {
    case unknownOwner
    case unknownGroup(String)
    case scalingGroup(String)
    case duplicateName(String)
    case unknownDependency(String)
    case foreignDependency(String)
    case alreadyEnded(String)
    case unknownVFolder(String)
    case unmountableVFolder(name: String, status: String)
    /// The owner is not a member of the project.
    case notMember(String)
    /// The keypair resource policy refuses it.
    case quota(QuotaRefusal)
    case multiContainer(Int)
}

/// A node of `GET /session/{id}/dependency-graph`: a session, and its dependencies (each session of the graph is
/// expanded once; see `DependencyGraph`).
public struct DependencyNode: Sendable {
    public let session: SessionRecord
    public let dependsOn: [DependencyNode]
    /// Dependencies were left out here (the graph is larger than what one answer shows).
    public let truncated: Bool

    /// The records along `tree` (nil where one is missing); its depth is bounded by `DependencyGraph.maxDepth`, so
    /// this recursion is too.
    init?(tree: DependencyGraph<UUID>.Node, records: [UUID: SessionRecord], cutShort: Bool) {
        guard let session = records[tree.id] else { return nil }
        self.session = session
        self.dependsOn = tree.dependsOn.compactMap { DependencyNode(tree: $0, records: records, cutShort: false) }
        self.truncated = tree.truncated || cutShort
    }
}

/// One row of the event log.
public struct SessionEventRecord: Sendable {
    public let id: Int
    public let name: String
    public let sessionID: UUID?
    public let sessionName: String?
    public let accessKey: String?
    public let reason: String
    public let exitCode: Int?
}

/// Filters for listing sessions.
public struct SessionListQuery: Sendable {
    public var statuses: [SessionStatus]
    /// Only this owner's sessions; nil for all (admins).
    public var owner: AccessKey?
    public var limit: Int
    public var offset: Int
    /// `filter:` and `order:` in Backend.AI's mini-language, parsed (`SchedulerKit/Query/ListFilter`).
    public var filter: ListFilter? = nil
    public var order: [ListOrder] = []
    /// The costly columns the caller reads; the others come back empty (`{}`, `[]`, nil) unread.
    public var detail: SessionDetail = .all
}

/// The columns of a session row that cost something to read (JSON to parse, a subquery): a list that shows none of
/// them (`ps`'s default fields) asks for none.
public struct SessionDetail: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    public static let requestedSlots = SessionDetail(rawValue: 1 << 0)
    public static let occupyingSlots = SessionDetail(rawValue: 1 << 1)
    public static let resourceOpts = SessionDetail(rawValue: 1 << 2)
    public static let statusData = SessionDetail(rawValue: 1 << 3)
    public static let statusHistory = SessionDetail(rawValue: 1 << 4)
    public static let lastStat = SessionDetail(rawValue: 1 << 5)
    public static let userEmail = SessionDetail(rawValue: 1 << 6)
    public static let mounts = SessionDetail(rawValue: 1 << 7)
    public static let all: SessionDetail = [
        .requestedSlots, .occupyingSlots, .resourceOpts, .statusData, .statusHistory, .lastStat, .userEmail, .mounts,
    ]
}

/// Persistence for sessions. Each method is one transaction.
public protocol SessionStore: Sendable {
    func enqueue(_ creation: SessionCreation) async throws -> EnqueueOutcome
    /// Finds a session by UUID or by name among `owner`'s sessions (live ones first).
    func session(nameOrID: String, owner: AccessKey) async throws -> SessionRecord?
    func session(id: UUID) async throws -> SessionRecord?
    /// An API request named the running session: it is not idle (`idle_timeout`).
    func touch(_ id: UUID) async throws
    /// Renames a RUNNING session; false when it is not running. Throws `.duplicateName` when the owner has a live
    /// session of that name.
    func rename(_ id: UUID, to name: String) async throws -> Bool
    /// Restarts a RUNNING interactive or inference session's process (RESTARTING until its agent reports it running
    /// again); the lifecycle's refusal when it cannot be restarted now.
    func restart(_ id: UUID) async throws -> IllegalTransition?
    /// Ends a session (and with `recursive`, its dependents first); returns the sessions changed.
    func destroy(_ id: UUID, recursive: Bool, forced: Bool) async throws -> [SessionRecord]
    func dependencyGraph(of id: UUID) async throws -> DependencyNode?
    func dependencies(of id: UUID) async throws -> [SessionRecord]
    /// The name and id of each listed session's dependencies, in the order `dependencies(of:)` gives them: one
    /// query for a page instead of one per row.
    func dependencyNames(of ids: [UUID]) async throws -> [UUID: [(name: String, id: UUID)]]
    /// The session's output as its agent reported it ("" when there is none yet).
    func logs(of id: UUID) async throws -> String
    func list(_ query: SessionListQuery) async throws -> (items: [SessionRecord], total: Int)
    /// Events after `afterID` for one session (or every session of `owner`), oldest first.
    func events(session: UUID?, owner: AccessKey?, after afterID: Int, limit: Int) async throws -> [SessionEventRecord]
}
