import Foundation
import Logging

/// Checks PostgreSQL and Redis for `/health`.
public struct HealthCheck: Sendable {
    /// What `/health` answers: 200 when all is ok, 503 naming what is down.
    public struct Report: Encodable, Sendable {
        public let status: String
        public let postgres: String
        public let redis: String
        var isHealthy: Bool { self.status == "ok" }
    }

    let pool: PostgresPool
    let redis: RedisClient

    public func check() async -> Report {
        async let postgresUp = self.pool.ping()
        async let redisUp = self.redis.ping()
        let (pg, rd) = await (postgresUp, redisUp)
        return Report(
            status: pg && rd ? "ok" : (pg ? "degraded" : "down"),
            postgres: pg ? "ok" : "down", redis: rd ? "ok" : "down")
    }
}
