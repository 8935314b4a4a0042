import Logging
import ServiceLifecycle

/// Prunes the append-only logs by age (`[retention]`), in small batches so no statement holds many locks or a long
/// transaction; safe on every replica at once (a row deleted by one is skipped by the other).
public final class RetentionService: Service, Sendable {
    private let store: PostgresRetentionStore
    private let configuration: ManagerConfig.Retention
    private let logger: Logger

    public init(store: PostgresRetentionStore, configuration: ManagerConfig.Retention, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
    }

    /// Each log with its age; logs kept forever (zero) are left out.
    var ages: [(PostgresRetentionStore.Log, Duration)] {
        let all: [(PostgresRetentionStore.Log, Duration)] = [
            (.events, self.configuration.events), (.taskEvents, self.configuration.taskEvents),
            (.sessionLogs, self.configuration.sessionLogs), (.webhookAttempts, self.configuration.webhookAttempts),
            (.deliveredWebhooks, self.configuration.deliveredWebhooks), (.fileRequests, self.configuration.fileRequests),
            // Expired sign-ins are worthless at once; an hour's grace keeps the cleanup off a row still being read.
            (.expiredSignIns, .seconds(3600)),
        ]
        return all.filter { $0.1 > .zero }
    }

    public func run() async throws {
        guard !self.ages.isEmpty else { return }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.pruneOnce()
                try await Task.sleep(for: self.configuration.interval)
            }
        }
    }

    /// One round: every log, batch after batch until a batch comes back short; returns the rows deleted per log.
    @discardableResult
    func pruneOnce() async -> [PostgresRetentionStore.Log: Int] {
        var deleted: [PostgresRetentionStore.Log: Int] = [:]
        for (log, age) in self.ages {
            var total = 0
            do {
                while !Task.isCancelled {
                    let count = try await self.store.prune(log, olderThan: age, limit: self.configuration.batchSize)
                    total += count
                    if count < self.configuration.batchSize { break }
                    await Task.yield()
                }
            } catch {
                self.logger.warning("pruning failed", metadata: ["log": "\(log.rawValue)", "error": "\(error)"])
            }
            deleted[log] = total
            if total > 0 { self.logger.info("pruned", metadata: ["log": "\(log.rawValue)", "rows": "\(total)"]) }
        }
        return deleted
    }
}
