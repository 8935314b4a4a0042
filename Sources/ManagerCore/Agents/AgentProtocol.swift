import Foundation
import SchedulerKit

/// The JSON an agent and the manager exchange on `POST /agent-rpc/sync`, the same for the embedded process
/// agent and for `manager agent` on another machine.
///
/// An agent calls sync in a loop: it says who it is (which is also its heartbeat), acknowledges the commands it
/// has carried out, reports session progress, and receives the commands still open for it. With `wait` > 0 the
/// call is a long poll that returns as soon as a command is queued for the agent.
public enum AgentProtocol {
    public static let path = "/agent-rpc/sync"

    public struct SyncRequest: Codable, Sendable {
        public var agent: AgentInfo
        /// Ids of commands carried out; they are not sent again.
        public var acked: [Int64]
        public var reports: [SessionReport]
        /// Seconds to wait for a command when none is open (0 to 30).
        public var wait: Double
        /// The fence this process got at join (absent on the first sync); see `PostgresAgentStore.heartbeat`.
        public var epoch: Int64?
        /// Answers to file requests (`SessionFileRequest.swift`).
        public var fileResults: [FileResult]?

        enum CodingKeys: String, CodingKey {
            case agent, acked, reports, wait, epoch
            case fileResults = "file_results"
        }

        public init(
            agent: AgentInfo, acked: [Int64], reports: [SessionReport], wait: Double, epoch: Int64? = nil,
            fileResults: [FileResult]? = nil
        ) {
            self.agent = agent
            self.acked = acked
            self.reports = reports
            self.wait = wait
            self.epoch = epoch
            self.fileResults = fileResults
        }
    }

    public struct AgentInfo: Codable, Sendable, Hashable {
        public var id: String
        public var scalingGroup: String
        public var architecture: String
        /// `{"cpu": "8", "mem": "17179869184"}`.
        public var availableSlots: [String: String]
        public var addr: String
        public var version: String

        enum CodingKeys: String, CodingKey {
            case id, architecture, addr, version
            case scalingGroup = "scaling_group"
            case availableSlots = "available_slots"
        }

        public init(
            id: String, scalingGroup: String, architecture: String, availableSlots: [String: String], addr: String,
            version: String
        ) {
            self.id = id
            self.scalingGroup = scalingGroup
            self.architecture = architecture
            self.availableSlots = availableSlots
            self.addr = addr
            self.version = version
        }
    }

    /// What happened to a session on the agent.
    public struct SessionReport: Codable, Sendable, Hashable {
        public enum Status: String, Codable, Sendable {
            case preparing = "PREPARING"
            case running = "RUNNING"
            case terminated = "TERMINATED"
            /// The agent could not carry out the start command (it could not read it, or could not run it): the
            /// session ends ERROR with `reason`.
            case failed = "FAILED"
        }

        public var sessionID: UUID
        public var status: Status
        /// Set with TERMINATED when a process ran.
        public var exitCode: Int?
        /// Output written since the previous report.
        public var log: String?
        /// Where `log` starts in the session's output, in bytes; lets the manager drop a chunk it already has.
        public var logOffset: Int64?
        /// Why a FAILED session failed, or why a TERMINATED one was killed, in words.
        public var reason: String?
        /// Set with TERMINATED when the agent knows why the command ended other than by itself.
        public var cause: Cause?
        /// What the session used (with RUNNING now and then, and with TERMINATED).
        public var stats: SessionStats?
        /// With RUNNING: the process runs again after a restart (a plain RUNNING report also carries output and use,
        /// so only this one ends a restart).
        public var restarted: Bool?

        /// Why a session's command ended, when it was not its own doing.
        public enum Cause: String, Codable, Sendable {
            /// The kernel killed it for exceeding its memory slot.
            case oomKilled = "oom-killed"
        }

        enum CodingKeys: String, CodingKey {
            case status, log, reason, cause, stats, restarted
            case sessionID = "session_id"
            case exitCode = "exit_code"
            case logOffset = "log_offset"
        }

        public init(
            sessionID: UUID, status: Status, exitCode: Int? = nil, log: String? = nil, logOffset: Int64? = nil,
            reason: String? = nil, cause: Cause? = nil, stats: SessionStats? = nil, restarted: Bool? = nil
        ) {
            self.restarted = restarted
            self.sessionID = sessionID
            self.status = status
            self.exitCode = exitCode
            self.log = log
            self.logOffset = logOffset
            self.reason = reason
            self.cause = cause
            self.stats = stats
        }

        /// A `cause` this manager does not know (a newer agent's) is read as none, so the report (and the rest of
        /// the sync) is not refused for it: the session still ends, with its exit code.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.sessionID = try container.decode(UUID.self, forKey: .sessionID)
            self.status = try container.decode(Status.self, forKey: .status)
            self.exitCode = try container.decodeIfPresent(Int.self, forKey: .exitCode)
            self.log = try container.decodeIfPresent(String.self, forKey: .log)
            self.logOffset = try container.decodeIfPresent(Int64.self, forKey: .logOffset)
            self.reason = try container.decodeIfPresent(String.self, forKey: .reason)
            self.cause = (try? container.decodeIfPresent(String.self, forKey: .cause)).flatMap { $0.flatMap(Cause.init(rawValue:)) }
            self.stats = try container.decodeIfPresent(SessionStats.self, forKey: .stats)
            self.restarted = try container.decodeIfPresent(Bool.self, forKey: .restarted)
        }
    }

    /// A session's measured use, from its cgroups.
    public struct SessionStats: Codable, Sendable, Hashable {
        public var cpuUsedMilliseconds: Int64?
        public var memoryBytes: Int64?
        public var memoryPeakBytes: Int64?
        public var memoryLimitBytes: Int64?
        public var processes: Int64?

        enum CodingKeys: String, CodingKey {
            case cpuUsedMilliseconds = "cpu_used_ms"
            case memoryBytes = "mem_bytes"
            case memoryPeakBytes = "mem_peak_bytes"
            case memoryLimitBytes = "mem_limit_bytes"
            case processes
        }

        public init(
            cpuUsedMilliseconds: Int64? = nil, memoryBytes: Int64? = nil, memoryPeakBytes: Int64? = nil,
            memoryLimitBytes: Int64? = nil, processes: Int64? = nil
        ) {
            self.cpuUsedMilliseconds = cpuUsedMilliseconds
            self.memoryBytes = memoryBytes
            self.memoryPeakBytes = memoryPeakBytes
            self.memoryLimitBytes = memoryLimitBytes
            self.processes = processes
        }
    }

    public struct SyncResponse: Codable, Sendable {
        public var commands: [Command]
        /// How often the agent should call even when idle.
        public var heartbeatInterval: Double
        /// The epoch this process holds: sent back with every later sync.
        public var epoch: Int64?
        /// File operations on sessions of this agent, open until answered.
        public var fileRequests: [FileRequest]?

        enum CodingKeys: String, CodingKey {
            case commands, epoch
            case heartbeatInterval = "heartbeat_interval"
            case fileRequests = "file_requests"
        }

        public init(commands: [Command], heartbeatInterval: Double, epoch: Int64? = nil, fileRequests: [FileRequest]? = nil) {
            self.commands = commands
            self.heartbeatInterval = heartbeatInterval
            self.epoch = epoch
            self.fileRequests = fileRequests
        }
    }

    public struct Command: Codable, Sendable, Hashable {
        public enum Kind: String, Codable, Sendable {
            /// `restart`: start the session's process again, same folder and spec (`session restart`).
            case start, stop, restart
        }

        public var id: Int64
        public var kind: Kind
        public var sessionID: UUID
        /// Present on `start`.
        public var spec: SessionSpec?
        /// Set when the command cannot be carried out as sent (the manager could not build its spec, or the agent
        /// could not read it): the agent acknowledges it and reports the session FAILED with this reason, and
        /// goes on with its other commands.
        public var problem: String?

        enum CodingKeys: String, CodingKey {
            case id, kind, spec, problem
            case sessionID = "session_id"
        }

        public init(id: Int64, kind: Kind, sessionID: UUID, spec: SessionSpec?, problem: String? = nil) {
            self.id = id
            self.kind = kind
            self.sessionID = sessionID
            self.spec = spec
            self.problem = problem
        }

        /// Only the id and session are required: a spec (or a kind) this agent cannot read becomes a `problem`, so
        /// one bad command never makes the whole answer unreadable.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.id = try container.decode(Int64.self, forKey: .id)
            self.sessionID = try container.decode(UUID.self, forKey: .sessionID)
            self.problem = try? container.decodeIfPresent(String.self, forKey: .problem)
            let kindText = (try? container.decode(String.self, forKey: .kind)) ?? ""
            if let kind = Kind(rawValue: kindText) {
                self.kind = kind
            } else {
                // A kind this agent does not know (a newer manager's): acknowledged and logged, the session left be.
                self.kind = .stop
                self.problem = self.problem ?? "unknown command kind '\(kindText.prefix(32))'"
            }
            do {
                self.spec = try container.decodeIfPresent(SessionSpec.self, forKey: .spec)
            } catch {
                self.spec = nil
                self.problem = self.problem ?? "the session spec cannot be read: \(String(describing: error).prefix(300))"
            }
        }
    }

    /// What an agent needs to run a session.
    public struct SessionSpec: Codable, Sendable, Hashable {
        public var name: String
        public var type: String
        public var accessKey: String
        public var command: String?
        /// The image the session asked for (`python:3.11`); the agent runs it on that root filesystem when the image
        /// is imported on this agent.
        public var image: String?
        public var environ: [String: String]
        public var slots: [String: String]
        /// Folders to mount under the session's working folder.
        public var mounts: [Mount]?

        enum CodingKeys: String, CodingKey {
            case name, type, command, image, environ, slots, mounts
            case accessKey = "access_key"
        }

        public init(
            name: String, type: String, accessKey: String, command: String?, environ: [String: String],
            slots: [String: String], mounts: [Mount]? = nil, image: String? = nil
        ) {
            self.image = image
            self.name = name
            self.type = type
            self.accessKey = accessKey
            self.command = command
            self.environ = environ
            self.slots = slots
            self.mounts = mounts
        }
    }

    /// A vfolder as the session sees it: `<work>/<alias>` points at `hostPath` on the agent's machine.
    public struct Mount: Codable, Sendable, Hashable {
        public var name: String
        public var alias: String?
        public var hostPath: String
        public var permission: String?

        enum CodingKeys: String, CodingKey {
            case name, alias, permission
            case hostPath = "host_path"
        }

        public init(name: String, alias: String? = nil, hostPath: String, permission: String? = nil) {
            self.name = name
            self.alias = alias
            self.hostPath = hostPath
            self.permission = permission
        }

        /// Where the folder appears inside the session, or nil when its alias is not a path a session may use.
        public var path: MountPath? { try? MountPath(alias: self.alias ?? self.name) }

        /// `ro` mounts are read-only inside the session; `rw` and `wd` are writable.
        public var isReadOnly: Bool { self.permission == "ro" }
    }
}
