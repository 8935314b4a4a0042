import Logging
import NIOPosix
import Synchronization

/// Redis commands with typed replies, run on the client's own threads with a timeout.
///
/// Connections are opened on demand and kept idle for reuse; one that failed is dropped. While Redis is down,
/// every call fails fast with `RedisError` (`isConnectionFailure`), and callers carry on without it.
public final class RedisClient: Sendable {
    /// Connection settings.
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var password: String?
        /// Connect and command timeout.
        public var timeout: Duration
        /// Idle connections kept for reuse.
        public var maxIdle: Int

        public init(host: String, port: Int, password: String? = nil, timeout: Duration = .seconds(2), maxIdle: Int = 4) {
            self.host = host
            self.port = port
            self.password = password
            self.timeout = timeout
            self.maxIdle = maxIdle
        }
    }

    /// The settings this client connects with.
    public let configuration: Configuration
    private let threads: NIOThreadPool
    private let idle = Mutex<[RedisConnection]>([])

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.threads = NIOThreadPool(numberOfThreads: 2)
        self.threads.start()
    }

    /// Drops idle connections and stops the threads.
    public func close() async {
        self.idle.withLock { $0.removeAll() }
        try? await self.threads.shutdownGracefully()
    }

    /// Sends a command; a Redis error reply comes back as `.error`, a connection failure throws.
    @discardableResult
    public func command(_ arguments: String...) async throws -> RedisReply {
        try await self.command(arguments)
    }

    /// Sends a command given as an array of arguments.
    @discardableResult
    public func command(_ arguments: [String]) async throws -> RedisReply {
        let replies = try await self.pipeline([arguments])
        guard let reply = replies.first else { throw RedisError(message: "no reply", isConnectionFailure: false) }
        return reply
    }

    /// Sends `commands` pipelined on one connection (one write, one round trip) and returns their replies in order;
    /// a Redis error reply comes back as `.error`, a connection failure throws for all.
    public func pipeline(_ commands: [[String]]) async throws -> [RedisReply] {
        guard !commands.isEmpty else { return [] }
        let configuration = self.configuration
        return try await self.threads.runIfActive { [self] in
            let connection = try self.idle.withLock { $0.popLast() }
                ?? RedisConnection.connect(
                    host: configuration.host, port: configuration.port, timeout: configuration.timeout,
                    password: configuration.password)
            for command in commands { try connection.send(command) }
            try connection.flush()
            let replies = try commands.map { _ in try connection.readReply() }
            self.idle.withLock { if $0.count < configuration.maxIdle { $0.append(connection) } }
            return replies
        }
    }

    /// True when Redis answers PING.
    public func ping() async -> Bool {
        (try? await self.command("PING"))?.string == "PONG"
    }

    /// PUBLISH; returns the number of subscribers that received it.
    @discardableResult
    public func publish(_ message: String, to channel: String) async throws -> Int {
        try await self.command("PUBLISH", channel, message).integer ?? 0
    }

    /// XADD with an automatic id, trimmed to about `maxLength` entries; returns the new id.
    @discardableResult
    public func xadd(_ stream: String, fields: [(String, String)], maxLength: Int? = nil) async throws -> String {
        var arguments = ["XADD", stream]
        if let maxLength { arguments += ["MAXLEN", "~", String(maxLength)] }
        arguments.append("*")
        for (name, value) in fields { arguments += [name, value] }
        let reply = try await self.command(arguments)
        if case .error(let message) = reply { throw RedisError(message: message, isConnectionFailure: false) }
        return reply.string ?? ""
    }

    /// XRANGE from `start` to `end` (inclusive; `-` and `+` for the ends).
    public func xrange(_ stream: String, from start: String = "-", to end: String = "+", count: Int? = nil)
        async throws -> [RedisStreamEntry]
    {
        var arguments = ["XRANGE", stream, start, end]
        if let count { arguments += ["COUNT", String(count)] }
        let reply = try await self.command(arguments)
        if case .error(let message) = reply { throw RedisError(message: message, isConnectionFailure: false) }
        return (reply.array ?? []).compactMap(RedisStreamEntry.parse)
    }

    /// XREAD of one stream after `lastID`, without blocking (a blocking read would hold a thread).
    public func xread(_ stream: String, after lastID: String, count: Int = 100) async throws -> [RedisStreamEntry] {
        let reply = try await self.command(["XREAD", "COUNT", String(count), "STREAMS", stream, lastID])
        if case .error(let message) = reply { throw RedisError(message: message, isConnectionFailure: false) }
        guard let streams = reply.array, let first = streams.first?.array, first.count == 2 else { return [] }
        return (first[1].array ?? []).compactMap(RedisStreamEntry.parse)
    }
}
