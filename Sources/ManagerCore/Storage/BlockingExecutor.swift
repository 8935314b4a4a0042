import NIOPosix
import ServiceLifecycle
import Synchronization

/// The one place blocking calls run: filesystem walks and copies, DNS look-ups for webhooks. A fixed set of
/// threads (so neither the event loops nor Swift's cooperative pool wait on disk) and a bounded queue: when
/// `queueLimit` calls are already waiting or running, a new one is refused at once (`Saturated`, a 503 with
/// `Retry-After`), instead of piling up threads or memory.
///
/// It is process-wide (`shared`): clone jobs are rebuilt from their stored parameters on any replica and reach it
/// from there. As a Service it stops its threads when the daemon stops.
public final class BlockingExecutor: Service, Sendable {
    public struct Saturated: Error, CustomStringConvertible {
        public let limit: Int
        public var description: String { "the blocking executor has \(self.limit) calls in flight" }
    }

    public static let shared = BlockingExecutor(threads: 8, queueLimit: 256)

    public let threads: Int
    public let queueLimit: Int
    private let pool: NIOThreadPool
    private let inFlight = Atomic<Int>(0)

    init(threads: Int, queueLimit: Int) {
        self.threads = threads
        self.queueLimit = queueLimit
        self.pool = NIOThreadPool(numberOfThreads: threads)
        self.pool.start()
    }

    /// Calls waiting or running now.
    public var load: Int { self.inFlight.load(ordering: .relaxed) }

    /// Runs `body` on one of the executor's threads; throws `Saturated` when the queue is full.
    public func run<T: Sendable>(name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        let (previous, _) = self.inFlight.add(1, ordering: .acquiringAndReleasing)
        defer { self.inFlight.subtract(1, ordering: .acquiringAndReleasing) }
        guard previous < self.queueLimit else { throw Saturated(limit: self.queueLimit) }
        return try await self.pool.runIfActive(body)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        // Work still queued fails with NIOThreadPoolError.ThreadPoolInactive; running calls finish first.
        try? await self.pool.shutdownGracefully()
    }
}
