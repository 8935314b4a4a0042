import Logging
import SchedulerKit
import ServiceLifecycle

/// Ends running sessions past their policy's `idle_timeout` or `max_session_lifetime` (`PostgresSessionExpiry`),
/// every `interval`, on every replica (each session is taken by one of them).
final class SessionExpiryService: Service, Sendable {
    let expiry: PostgresSessionExpiry
    let interval: Duration
    let logger: Logger

    init(expiry: PostgresSessionExpiry, interval: Duration, logger: Logger) {
        self.expiry = expiry
        self.interval = interval
        self.logger = logger
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.sweep()
                try await Task.sleep(for: self.interval)
            }
        }
    }

    /// Ends what has expired, batch after batch; returns how many sessions it ended.
    @discardableResult
    func sweep() async -> Int {
        var total = 0
        do {
            while !Task.isCancelled {
                let ended = try await self.expiry.expire(limit: 500)
                for (id, info) in ended {
                    self.logger.info("session expired", metadata: ["session_id": "\(id)", "status_info": "\(info.rawValue)"])
                }
                total += ended.count
                if ended.count < 500 { break }
            }
        } catch {
            self.logger.warning("expiry sweep failed", metadata: ["error": "\(error)"])
        }
        return total
    }
}
