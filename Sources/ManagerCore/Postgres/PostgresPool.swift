import Logging
import Metrics
import NIOPosix
import ServiceLifecycle

/// A bounded pool of libpq connections whose blocking calls run on a dedicated thread pool,
/// never on Swift's cooperative threads.
///
/// Connections are lent inside `withConnection`/`withTransaction` and never escape them. A connection that
/// broke (the server restarted) is dropped on return, and an idle one is checked before it is lent, so the pool
/// heals by itself after a restart.
public final class PostgresPool: Sendable {
    /// Pool settings.
    public struct Configuration: Sendable {
        /// A libpq connection string or URI.
        public var conninfo: String
        /// Most connections open at once.
        public var maxConnections: Int
        /// How long a caller waits for a free connection before `poolTimeout`.
        public var acquireTimeout: Duration
        /// Server-side limit on one statement.
        public var statementTimeout: Duration

        public init(
            conninfo: String, maxConnections: Int = 8, acquireTimeout: Duration = .seconds(5),
            statementTimeout: Duration = .seconds(30)
        ) {
            self.conninfo = conninfo
            self.maxConnections = maxConnections
            self.acquireTimeout = acquireTimeout
            self.statementTimeout = statementTimeout
        }
    }

    let configuration: Configuration
    let threads: NIOThreadPool
    private let state: PoolState
    private let logger: Logger

    /// Creates the pool; connections open lazily on first use.
    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        // One thread per connection, so a caller holding a connection never waits for a thread.
        self.threads = NIOThreadPool(numberOfThreads: configuration.maxConnections)
        self.threads.start()
        self.state = PoolState(maxConnections: configuration.maxConnections)
    }

    /// Closes idle connections and stops the threads. Calls after this fail with `poolClosed`.
    public func close() async {
        await self.state.close()
        try? await self.threads.shutdownGracefully()
    }

    /// Lends a connection for the duration of `body`.
    public func withConnection<T: Sendable>(
        _ body: (PostgresSession) async throws -> T
    ) async throws -> T {
        let connection = try await self.lease()
        let session = PostgresSession(connection: connection, threads: self.threads)
        do {
            let value = try await body(session)
            await self.state.release(connection, isBroken: !connection.isConnected)
            return value
        } catch {
            let broken = !connection.isConnected
            await self.state.release(connection, isBroken: broken)
            if broken { await self.state.dropIdle() }
            throw error
        }
    }

    /// Runs one statement outside an explicit transaction.
    @discardableResult
    public func query(_ sql: SQL) async throws -> PostgresRows {
        try await self.withConnection { try await $0.query(sql) }
    }

    /// Runs `body` in a transaction: COMMIT on return, ROLLBACK on throw.
    ///
    /// Serialization failures (40001) and deadlocks (40P01) run the whole body again, up to `maxAttempts` times,
    /// with a short jittered pause; so the body must have no effects outside the database.
    /// True when a trivial statement succeeds (for `/health`).
    public func ping() async -> Bool { (try? await self.query("SELECT 1")) != nil }

    public func withTransaction<T: Sendable>(
        isolation: IsolationLevel = .readCommitted,
        maxAttempts: Int = 5,
        _ body: (PostgresSession) async throws -> T
    ) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await self.withConnection { session in
                    // BEGIN goes with the body's first statement, in one trip to the pool's threads.
                    session.connection.deferUntilNextStatement(isolation.beginStatement)
                    do {
                        let value = try await body(session)
                        try await session.execute("COMMIT")
                        return value
                    } catch {
                        let neverBegan = session.connection.cancelDeferred()
                        if !neverBegan && session.isConnected { _ = try? await session.execute("ROLLBACK") }
                        throw error
                    }
                }
            } catch let error as PostgresError where error.isRetryableTransactionFailure && attempt < maxAttempts {
                self.logger.debug("retrying transaction", metadata: ["attempt": "\(attempt)", "code": "\(error.code)"])
                attempt += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...(10 * attempt))))
            }
        }
    }

    /// Connections lent now and callers waiting, for `/metrics`.
    public func usage() async -> (inUse: Int, idle: Int, waiting: Int) {
        await self.state.usage()
    }

    private func lease() async throws -> PostgresConnection {
        while true {
            switch try await self.state.acquire(timeout: self.configuration.acquireTimeout) {
            case .idle(let connection):
                // Checking is one non-blocking poll; a dead one is dropped and we go round again.
                if connection.isUsable { return connection }
                await self.state.release(connection, isBroken: true)
            case .open:
                do {
                    let conninfo = self.configuration.conninfo
                    let timeout = self.configuration.statementTimeout
                    return try await self.threads.runIfActive {
                        try PostgresConnection.connect(conninfo: conninfo, statementTimeout: timeout)
                    }
                } catch {
                    await self.state.openFailed()
                    self.logger.warning("cannot connect to PostgreSQL", metadata: ["error": "\(error)"])
                    throw error as? PostgresError ?? PostgresError(.connectionFailed, message: "\(error)")
                }
            }
        }
    }
}

/// A leased connection, as seen by the code inside `withConnection` / `withTransaction`.
public struct PostgresSession: Sendable {
    let connection: PostgresConnection
    let threads: NIOThreadPool

    /// Runs a statement on the pool's threads and returns its rows.
    @discardableResult
    public func query(_ sql: SQL) async throws -> PostgresRows {
        let connection = self.connection
        return try await self.threads.runIfActive { try connection.execute(sql) }
    }

    /// Runs statements one after another in one trip to the pool's threads (each its own round trip to the
    /// server, but one thread hand-off in all); use it for statements that do not need each other's results.
    public func query(_ statements: [SQL]) async throws -> [PostgresRows] {
        let connection = self.connection
        return try await self.threads.runIfActive { try statements.map { try connection.execute($0) } }
    }

    /// Runs a statement and returns the number of rows it changed.
    @discardableResult
    public func execute(_ sql: SQL) async throws -> Int {
        try await self.query(sql).affectedRows
    }

    /// Runs a parameterless multi-statement script (migrations only).
    func executeScript(_ sql: SQL) async throws {
        let connection = self.connection
        _ = try await self.threads.runIfActive { try connection.execute(sql, simpleProtocol: true) }
    }

    var isConnected: Bool { self.connection.isConnected }
}

/// Transaction isolation levels, as PostgreSQL names them.
public enum IsolationLevel: Sendable {
    case readCommitted, repeatableRead, serializable

    var beginStatement: SQL {
        switch self {
        case .readCommitted: return "BEGIN ISOLATION LEVEL READ COMMITTED"
        case .repeatableRead: return "BEGIN ISOLATION LEVEL REPEATABLE READ"
        case .serializable: return "BEGIN ISOLATION LEVEL SERIALIZABLE"
        }
    }
}

/// The pool's bookkeeping: idle connections, the open count and the waiters, in FIFO order.
actor PoolState {
    enum Grant: Sendable {
        case idle(PostgresConnection)
        case open
    }

    private let maxConnections: Int
    private var idle: [PostgresConnection] = []
    private var open = 0
    private var isClosed = false
    private var waiters: [(id: Int, continuation: CheckedContinuation<Bool, any Error>)] = []
    private var nextWaiterID = 0

    init(maxConnections: Int) {
        self.maxConnections = maxConnections
    }

    func acquire(timeout: Duration) async throws -> Grant {
        let deadline = ContinuousClock.now + timeout
        while true {
            guard !self.isClosed else { throw PostgresError(.poolClosed, message: "the pool is closed") }
            if let connection = self.idle.popLast() { return .idle(connection) }
            if self.open < self.maxConnections {
                self.open += 1
                return .open
            }
            guard ContinuousClock.now < deadline else {
                throw PostgresError(.poolTimeout, message: "no database connection free within \(timeout)")
            }
            try await self.wait(until: deadline)
        }
    }

    /// Suspends until a connection comes back or the deadline passes (bounded, so a cancelled caller
    /// is released by the deadline at the latest).
    private func wait(until deadline: ContinuousClock.Instant) async throws {
        let id = self.nextWaiterID
        self.nextWaiterID += 1
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                await self.resume(id: id)
            }
            _ = try await withCheckedThrowingContinuation { continuation in
                self.waiters.append((id, continuation))
            }
            group.cancelAll()
        }
    }

    private func resume(id: Int) {
        guard let index = self.waiters.firstIndex(where: { $0.id == id }) else { return }
        self.waiters.remove(at: index).continuation.resume(returning: false)
    }

    private func wakeOne() {
        guard !self.waiters.isEmpty else { return }
        self.waiters.removeFirst().continuation.resume(returning: true)
    }

    func release(_ connection: PostgresConnection, isBroken: Bool) {
        if isBroken || self.isClosed {
            self.open -= 1
        } else {
            self.idle.append(connection)
        }
        self.wakeOne()
    }

    func openFailed() {
        self.open -= 1
        self.wakeOne()
    }

    /// Drops every idle connection: after one broke, the rest are probably dead too.
    func dropIdle() {
        self.open -= self.idle.count
        self.idle.removeAll()
    }

    func close() {
        self.isClosed = true
        self.open -= self.idle.count
        self.idle.removeAll()
        for waiter in self.waiters { waiter.continuation.resume(returning: false) }
        self.waiters.removeAll()
    }

    func usage() -> (inUse: Int, idle: Int, waiting: Int) {
        (self.open - self.idle.count, self.idle.count, self.waiters.count)
    }
}
