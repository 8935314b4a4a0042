import Logging
import ServiceLifecycle

/// Folds the session-count deltas into their counters every `interval`, so a list's count reads a few rows
/// (`PostgresSessionCounts`). Safe on every replica at once: one compaction runs at a time, the others return.
public final class SessionCountCompaction: Service, Sendable {
    private let counts: PostgresSessionCounts
    private let interval: Duration
    private let logger: Logger

    public init(counts: PostgresSessionCounts, interval: Duration = .seconds(1), logger: Logger) {
        self.counts = counts
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await self.counts.compact()
                } catch {
                    self.logger.warning("session count compaction failed", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: self.interval)
            }
        }
    }
}
