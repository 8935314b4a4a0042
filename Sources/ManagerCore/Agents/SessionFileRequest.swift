import Foundation

/// File operations on a running session's work folder (`/home/work`), carried by the sync channel: the manager
/// sends open requests with a sync's answer (`SyncResponse.fileRequests`), the agent carries them out on its
/// copy of the session's folder and answers with its next sync (`SyncRequest.fileResults`). A request is sent
/// again until it is answered, and every kind is safe to repeat (an upload writes the same bytes again).
extension AgentProtocol {
    public struct FileRequest: Codable, Sendable, Hashable {
        public enum Kind: String, Codable, Sendable {
            case list, upload, download
            /// Starts `command` (with `environment`) in a new sandbox of the session, on its work folder, with its
            /// slots and mounts (`run`); answered with the run's id.
            case execute
            /// What run `run` wrote from `offset` on, and its exit code once it ended (waits briefly for news).
            case output
            /// One line (`input`) for run `run`'s stdin: the answer to the `input()` it waits on.
            case input
        }

        public var id: Int64
        public var sessionID: UUID
        /// Kept as text: a kind this agent does not know is answered as a problem, not a sync it cannot read.
        public var kind: String
        /// `list`: the directory, relative to the work folder.
        public var path: String?
        /// `download`: what to send, each archived under its own name.
        public var paths: [String]?
        /// `upload`: files to write (relative paths; directories on the way are made).
        public var uploads: [Upload]?
        /// `execute`: the shell command and its environment (`ExecutionCommand`).
        public var command: String?
        public var environment: [String: String]?
        /// `output`: the run and where to read from.
        public var run: String?
        public var offset: Int64?
        /// `execute`: give the process a stdin that `input` requests fill (else it reads /dev/null).
        public var interactive: Bool?
        /// `input`: the line to write (a newline is added); none closes the run's stdin (end of input).
        public var input: String?

        enum CodingKeys: String, CodingKey {
            case id, kind, path, paths, uploads, command, environment, run, offset, interactive, input
            case sessionID = "session_id"
        }

        public init(
            id: Int64, sessionID: UUID, kind: Kind, path: String? = nil, paths: [String]? = nil, uploads: [Upload]? = nil,
            command: String? = nil, environment: [String: String]? = nil, run: String? = nil, offset: Int64? = nil,
            interactive: Bool? = nil, input: String? = nil
        ) {
            self.interactive = interactive
            self.input = input
            self.id = id
            self.sessionID = sessionID
            self.kind = kind.rawValue
            self.path = path
            self.paths = paths
            self.uploads = uploads
            self.command = command
            self.environment = environment
            self.run = run
            self.offset = offset
        }
    }

    public struct Upload: Codable, Sendable, Hashable {
        public var name: String
        /// Base64 in JSON.
        public var data: Data

        public init(name: String, data: Data) {
            self.name = name
            self.data = data
        }
    }

    public struct FileResult: Codable, Sendable, Hashable {
        public var id: Int64
        /// `list`: the directory's entries.
        public var entries: [FileEntry]?
        /// `download`: one tar archive per requested path, in order.
        public var archives: [Data]?
        /// Set when the request could not be carried out.
        public var problem: FileProblem?
        /// `execute`: the run's id; `output`: its output from the offset asked for, where the next read starts,
        /// and, once it ended, its exit code.
        public var run: String?
        public var output: Data?
        public var nextOffset: Int64?
        public var exitCode: Int?

        public init(
            id: Int64, entries: [FileEntry]? = nil, archives: [Data]? = nil, problem: FileProblem? = nil, run: String? = nil,
            output: Data? = nil, nextOffset: Int64? = nil, exitCode: Int? = nil
        ) {
            self.id = id
            self.entries = entries
            self.archives = archives
            self.problem = problem
            self.run = run
            self.output = output
            self.nextOffset = nextOffset
            self.exitCode = exitCode
        }
    }

    public struct FileProblem: Codable, Sendable, Hashable {
        public enum Kind: String, Codable, Sendable {
            /// A path does not exist (404).
            case notFound = "not-found"
            /// A path or a request the agent refuses (400).
            case invalid
            /// The answer would exceed what the channel carries (413).
            case tooLarge = "too-large"
            /// The session is not (or no longer) on this agent (409).
            case noSession = "no-session"
            /// Anything else (502: the agent's failure, not the caller's).
            case failed
        }

        public var kind: Kind
        public var message: String

        public init(_ kind: Kind, _ message: String) {
            self.kind = kind
            self.message = message
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.kind = (try? container.decode(Kind.self, forKey: .kind)) ?? .failed
            self.message = String((try container.decodeIfPresent(String.self, forKey: .message) ?? "").prefix(1000))
        }

        enum CodingKeys: String, CodingKey { case kind, message }
    }

    public struct FileEntry: Codable, Sendable, Hashable {
        public var name: String
        /// `FILE`, `DIRECTORY`, `SYMLINK` or `OTHER`.
        public var kind: String
        public var size: Int64
        public var mode: UInt32
        /// Unix seconds.
        public var modified: Double

        public init(name: String, kind: String, size: Int64, mode: UInt32, modified: Double) {
            self.name = name
            self.kind = kind
            self.size = size
            self.mode = mode
            self.modified = modified
        }
    }
}
