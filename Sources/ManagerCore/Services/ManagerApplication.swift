import Foundation
import Hummingbird
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Assembles the daemon: pool, Redis, routes and services, in one ServiceGroup shut down on SIGTERM/SIGINT.
public struct ManagerApplication {
    let config: ManagerConfig
    let logger: Logger

    public init(config: ManagerConfig, logger: Logger) {
        self.config = config
        self.logger = logger
    }

    private static let metricsRegistry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

    /// The pool this configuration describes.
    public static func makePool(_ config: ManagerConfig, logger: Logger) -> PostgresPool {
        PostgresPool(
            configuration: .init(
                conninfo: config.database.url, maxConnections: config.database.poolSize,
                acquireTimeout: config.database.acquireTimeout, statementTimeout: config.database.statementTimeout),
            logger: logger)
    }

    /// Runs until SIGTERM or SIGINT; refuses to start on an outdated schema.
    public func run() async throws {
        let registry = Self.metricsRegistry
        let pool = Self.makePool(self.config, logger: self.logger)
        let runner = MigrationRunner(
            pool: pool, directory: URL(fileURLWithPath: self.config.database.migrationsDir), logger: self.logger)
        let status: MigrationRunner.Status
        do {
            status = try await runner.status()
        } catch {
            await pool.close()
            throw error
        }
        guard status.pending.isEmpty else {
            await pool.close()
            throw MigrationRunner.Failure(
                description: "the database schema is outdated (pending: "
                    + status.pending.map(\.fileName).joined(separator: ", ") + "); run `manager migrate` first")
        }
        guard status.unknown.isEmpty else {
            await pool.close()
            throw MigrationRunner.Failure(
                description: "the database has migrations this build does not know (\(status.unknown)); upgrade the manager")
        }

        let redisConfiguration = RedisClient.Configuration(
            host: self.config.redis.host, port: self.config.redis.port, password: self.config.redis.password,
            timeout: self.config.redis.timeout)
        let redis = RedisClient(configuration: redisConfiguration)
        let subscriber = RedisSubscriber(
            configuration: redisConfiguration, channels: [EventChannel.wakeups], logger: self.logger)

        let router = Router(context: ManagerRequestContext.self)
        router.add(middleware: ProblemMiddleware(maxBodySize: self.config.server.maxBodySize))
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: AuthMiddleware(
            keypairs: PostgresKeypairStore(pool: pool), maxClockSkew: self.config.auth.maxClockSkew))
        let sessions = PostgresSessionStore(pool: pool)
        let keypairs = PostgresKeypairStore(pool: pool)
        let signal = EventSignal(conninfo: self.config.database.url, logger: self.logger)
        let maxBody = self.config.server.maxBodySize
        GraphQLRoutes(
            schema: try ManagerGraphQLSchema.make(), keypairs: keypairs, scalingGroups: PostgresScalingGroupStore(pool: pool),
            sessions: sessions, maxBodySize: maxBody
        ).register(on: router)
        SessionRoutes(sessions: sessions, maxBodySize: maxBody).register(on: router)
        SessionEventRoutes(sessions: sessions, signal: signal).register(on: router)
        SystemRoutes(
            health: HealthCheck(pool: pool, redis: redis), metrics: registry,
            poolGauges: PoolGauges(pool: pool, registry: registry)
        ).register(on: router)

        let logger = self.logger
        let host = self.config.server.host
        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: self.config.server.port), serverName: "session-manager"),
            onServerRunning: { channel in
                logger.info("listening", metadata: ["address": "\(channel.localAddress?.description ?? "?")",
                                                    "version": "\(ManagerVersion.current)"])
            },
            logger: self.logger)

        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: subscriber),
                    .init(service: signal),
                    .init(service: app),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: self.logger))
        do {
            try await group.run()
        } catch {
            await redis.close()
            await pool.close()
            throw error
        }
        await redis.close()
        await pool.close()
        self.logger.info("stopped")
    }
}

/// Redis channels the replicas talk on.
public enum EventChannel {
    /// Short wake-up messages after a commit ("session", "agent", "task"…); the data is in PostgreSQL.
    public static let wakeups = "manager.wakeups"
}
