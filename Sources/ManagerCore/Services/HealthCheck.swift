import Foundation
import Logging
import Synchronization

/// Checks PostgreSQL and Redis for `/health`. A check runs at most once per `maxAge`: probes in between get the last
/// report, so a flood of probes costs no pool connections.
public final class HealthCheck: Sendable {
    /// What `/health` answers: 200 when all is ok, 503 naming what is down.
    public struct Report: Encodable, Sendable {
        public let status: String
        public let postgres: String
        public let redis: String
        /// `ok`, `unavailable` (Redis is down: requests pass unlimited, replays unchecked) or `off`.
        public let rate_limiter: String
        var isHealthy: Bool { self.status == "ok" }
    }

    let pool: PostgresPool
    let redis: RedisClient
    let limiter: RequestLimiter?
    let maxAge: Duration
    private let last = Mutex<(at: ContinuousClock.Instant, report: Report)?>(nil)

    public init(pool: PostgresPool, redis: RedisClient, limiter: RequestLimiter? = nil, maxAge: Duration = .seconds(1)) {
        self.pool = pool
        self.redis = redis
        self.limiter = limiter
        self.maxAge = maxAge
    }

    public func check() async -> Report {
        let now = ContinuousClock.now
        if let cached = self.last.withLock({ $0 }), now - cached.at < self.maxAge { return cached.report }
        async let postgresUp = self.pool.ping()
        async let redisUp = self.redis.ping()
        let (pg, rd) = await (postgresUp, redisUp)
        let limiter = self.limiter.map { !rd || $0.isDegraded ? "unavailable" : "ok" } ?? "off"
        let report = Report(
            status: pg && rd ? "ok" : (pg ? "degraded" : "down"),
            postgres: pg ? "ok" : "down", redis: rd ? "ok" : "down", rate_limiter: limiter)
        self.last.withLock { $0 = (now, report) }
        return report
    }
}
