import Foundation
import Hummingbird
import HummingbirdWebSocket
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

        let router = Router(context: ManagerRequestContext.self)
        router.add(middleware: ProblemMiddleware(maxBodySize: self.config.server.maxBodySize))
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: BodyReadTimeoutMiddleware(timeout: self.config.server.bodyReadTimeout))
        let auth = self.config.auth
        let keypairCache = KeypairCache(ttl: auth.keypairCacheTTL)
        let limiter = auth.rateLimit || auth.replayProtection
            ? RequestLimiter(
                redis: redis, maxClockSkew: auth.maxClockSkew, limitsRequests: auth.rateLimit,
                refusesReplays: auth.replayProtection, logger: self.logger)
            : nil
        let authentication = AuthMiddleware(
            keypairs: PostgresKeypairStore(pool: pool), maxClockSkew: auth.maxClockSkew, cache: keypairCache,
            limiter: limiter, addresses: AddressBudget(burst: auth.unknownKeyBurst, perSecond: Double(auth.unknownKeyRate)))
        router.add(middleware: authentication)
        let managerStateStore = PostgresManagerStateStore(pool: pool)
        let managerState = ManagerState(store: managerStateStore)
        router.add(middleware: FreezeMiddleware(state: managerState))
        // `Upgrade: websocket` requests are matched here first (`run`'s execute stream), through the same checks.
        let webSocketRouter = Router(context: ManagerRequestContext.self)
        webSocketRouter.add(middleware: ProblemMiddleware(maxBodySize: self.config.server.maxBodySize))
        webSocketRouter.add(middleware: authentication)
        webSocketRouter.add(middleware: FreezeMiddleware(state: managerState))
        let volumes = StorageVolumes(self.config.storage)
        try volumes.prepare()
        let sessions = PostgresSessionStore(pool: pool, volumes: volumes, registry: registry)
        let keypairs = PostgresKeypairStore(pool: pool)
        let signal = EventSignal(conninfo: self.config.database.url, logger: self.logger)
        let maxBody = self.config.server.maxBodySize
        GraphQLRoutes(
            schema: try ManagerGraphQLSchema.make(), keypairs: keypairs, scalingGroups: PostgresScalingGroupStore(pool: pool),
            sessions: sessions, agents: PostgresAgentStore(pool: pool), folders: PostgresVFolderStore(pool: pool), images: PostgresImageStore(pool: pool),
            policies: PostgresResourcePolicyStore(pool: pool), keypairCache: keypairCache, accounts: PostgresAccountStore(pool: pool),
            organization: PostgresOrganizationStore(pool: pool),
            purges: AccountPurge(
                accounts: PostgresAccountStore(pool: pool), organization: PostgresOrganizationStore(pool: pool), volumes: volumes,
                logger: self.logger),
            volumes: volumes,
            maxBodySize: maxBody, limits: config.graphql
        ).counting(in: registry).register(on: router)
        ScalingGroupRoutes(scalingGroups: PostgresScalingGroupStore(pool: pool)).register(on: router)
        ResourceConfigRoutes().register(on: router)
        // One reader of the event logs per replica; every SSE stream (and every waiting create) subscribes to it.
        let broadcaster = EventBroadcaster(log: PostgresEventLog(pool: pool), signal: signal, registry: registry, logger: self.logger)
        let sessionRoutes = SessionRoutes(
            sessions: sessions, maxBodySize: maxBody,
            requiredImages: config.localAgent.requireImages ? PostgresImageStore(pool: pool) : nil, events: broadcaster)
        sessionRoutes.register(on: router)
        let sessionFiles = SessionFiles(sessions: sessionRoutes.service, store: PostgresSessionFileStore(pool: pool), signal: signal)
        SessionFileRoutes(files: sessionFiles, maxBodySize: maxBody).register(on: router)
        let executeRoutes = SessionExecuteRoutes(execution: SessionExecution(files: sessionFiles), maxBodySize: maxBody)
        executeRoutes.register(webSockets: webSocketRouter)
        executeRoutes.register(on: router)
        ManagerRoutes(
            store: managerStateStore, state: managerState, sessions: sessions, maxBodySize: maxBody, nodeID: self.config.localAgentID,
            serviceAddress: "\(self.config.server.host):\(self.config.server.port)", heartbeatTimeout: self.config.agents.heartbeatTimeout
        ).register(on: router)
        let streamQuota = StreamQuota(maxPerKeypair: auth.maxStreamsPerKeypair)
        SessionEventRoutes(
            sessions: sessions, broadcaster: broadcaster, retention: PostgresRetentionStore(pool: pool), quota: streamQuota)
            .register(on: router)
        SystemRoutes(
            health: HealthCheck(pool: pool, redis: redis, limiter: limiter), metrics: registry,
            poolGauges: PoolGauges(pool: pool, registry: registry), sessionGauges: SessionGauges(pool: pool, registry: registry),
            metricsToken: auth.metricsToken
        ).register(on: router)

        // Agents: each with its own token (`manager agent-token create`), or the shared agent.secret where an operator
        // opted in. The embedded agent gets a fresh token of its own at every start.
        let agentStore = PostgresAgentStore(pool: pool)
        let agentTokens = PostgresAgentTokenStore(pool: pool)
        let configuredSecret = self.config.agents.secret
        var localToken: String?
        if self.config.localAgent.enabled {
            let token = AgentCredential.newToken()
            do {
                try await agentTokens.store(token: token, agentID: self.config.localAgentID, scalingGroup: self.config.localAgent.scalingGroup)
            } catch PostgresAgentTokenStore.Refusal.unknownScalingGroup(let group) {
                await pool.close()
                throw ConfigError(description: "agent.local.scaling_group: there is no scaling group '\(group)'")
            }
            localToken = token
        }
        let heartbeats = HeartbeatHealth()
        AgentRoutes(
            agents: agentStore, tokens: agentTokens, signal: signal, health: heartbeats,
            sharedSecret: configuredSecret.isEmpty ? nil : configuredSecret,
            heartbeatInterval: self.config.agents.heartbeatInterval, heartbeatTimeout: self.config.agents.heartbeatTimeout,
            maxBodySize: 64 << 20
        ).register(on: router)
        let scheduler = SchedulerService(
            pool: pool, signal: signal, agents: agentStore, heartbeats: heartbeats,
            configuration: .init(
                tickInterval: self.config.scheduler.tickInterval, heartbeatTimeout: self.config.agents.heartbeatTimeout,
                maxPendingPerPass: self.config.scheduler.maxPendingPerPass,
                waitRefreshInterval: self.config.scheduler.waitRefreshInterval,
                idlePassInterval: self.config.scheduler.idlePassInterval),
            registry: registry, logger: self.logger)

        // Storage and background tasks (vfolder clone).
        let folders = PostgresVFolderStore(pool: pool)
        let tasks = BackgroundTaskService(
            store: PostgresBackgroundTaskStore(pool: pool), signal: signal,
            configuration: .init(replica: self.config.server.replicaID, lease: self.config.backgroundTasks.lease),
            cleanups: [VFolderCloneJob.kind: VFolderCloneJob.cleanup(folders: folders)], logger: self.logger)
        BackgroundTaskRoutes(service: tasks, broadcaster: broadcaster, quota: streamQuota).register(on: router)
        VFolderRoutes(
            folders: folders, volumes: volumes, tasks: tasks, cloneRateLimit: self.config.storage.cloneRateLimit,
            maxBodySize: maxBody
        ).register(on: router)
        let storage = self.config.storage
        let transferSecret = Data((storage.transferSecret.isEmpty ? AgentCredential.newToken() : storage.transferSecret).utf8)
        var listener = self.config.server.host
        if listener == "0.0.0.0" || listener == "::" || listener.isEmpty { listener = "127.0.0.1" }
        if listener.contains(":") { listener = "[\(listener)]" }
        let fileRoutes = VFolderFileRoutes(
            folders: folders, volumes: volumes,
            transfers: .init(
                publicURL: storage.publicURL.isEmpty ? "http://\(listener):\(self.config.server.port)" : storage.publicURL,
                secret: transferSecret, ttl: storage.transferTTL),
            maxBodySize: maxBody)
        fileRoutes.register(on: router)
        VFolderSharingRoutes(folders: folders, files: fileRoutes, maxBodySize: maxBody).register(on: router)
        StorageRoutes(folders: folders, volumes: volumes, secret: transferSecret).register(on: router)
        QueueRoutes(queues: PostgresQueueSummary(pool: pool), agents: agentStore).register(on: router)

        // The web view: its files, sign-in, and `/ui/api/…` forwarded to this router as the signed-in caller.
        let webTarget = WebAPITarget()
        if self.config.web.enabled {
            let assets: WebAssets
            do {
                assets = try WebAssets.load(directory: self.config.web.assetsDir)
            } catch let failure as WebAssets.Failure {
                await pool.close()
                throw ConfigError(description: failure.description)
            }
            WebRoutes(
                signIn: WebSignIn(
                    store: PostgresWebSessionStore(pool: pool), keypairs: keypairs, cache: keypairCache,
                    ttl: self.config.web.sessionTTL, maxPerKey: self.config.web.maxSessionsPerKey,
                    attempts: AddressBudget(burst: 20, perSecond: 0.5)),
                assets: assets, limiter: limiter, secureCookie: self.config.web.secureCookie, maxBodySize: maxBody,
                api: webTarget
            ).register(on: router)
        }

        // Webhooks: the outbox is filled by a trigger in each status change's transaction; dispatchers send it.
        let webhookStore = PostgresWebhookStore(pool: pool)
        try await webhookStore.syncEndpoints(self.config.webhooks)
        WebhookRoutes(store: webhookStore).register(on: router)
        let webhooks = WebhookDispatcher(
            store: webhookStore, signal: signal,
            configuration: .init(
                replica: self.config.server.replicaID, delivery: self.config.webhookDelivery,
                secrets: Dictionary(uniqueKeysWithValues: self.config.webhooks.map { ($0.name, $0.secret) })),
            logger: self.logger)

        let logger = self.logger
        let host = self.config.server.host
        let idleTimeout = self.config.server.idleTimeout
        let idle: TimeAmount? = idleTimeout > .zero
            ? .nanoseconds(Int64(idleTimeout.components.seconds) * 1_000_000_000 + idleTimeout.components.attoseconds / 1_000_000_000)
            : nil
        let responder = router.buildResponder()
        webTarget.set(responder)
        let app = Application(
            responder: responder,
            server: GuardedHTTPChannel.builder(
                webSocketRouter: webSocketRouter, configuration: .init(http1: .init(idleTimeout: idle)), headTimeout: idle),
            configuration: .init(address: .hostname(host, port: self.config.server.port), serverName: "session-manager"),
            onServerRunning: { channel in
                logger.info("listening", metadata: ["address": "\(channel.localAddress?.description ?? "?")",
                                                    "version": "\(ManagerVersion.current)"])
            },
            logger: self.logger)

        // Graceful shutdown runs in reverse order: the executor stops last, after the services whose work runs on
        // it (clones) were cancelled.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: BlockingExecutor.shared),
            .init(service: signal),
            .init(service: tasks),
            .init(service: webhooks),
            .init(service: scheduler),
            .init(service: SessionExpiryService(
                expiry: PostgresSessionExpiry(pool: pool), interval: self.config.scheduler.expiryInterval, logger: self.logger)),
            .init(service: SessionCountCompaction(counts: PostgresSessionCounts(pool: pool), logger: self.logger)),
            .init(service: RetentionService(
                store: PostgresRetentionStore(pool: pool), configuration: self.config.retention, logger: self.logger)),
            .init(service: UploadPartSweeper(volumes: volumes, maxAge: self.config.storage.transferTTL, logger: self.logger)),
            .init(service: app),
            // After the server: stopped before it, so open streams end (server_close) and the server's drain is quick.
            .init(service: broadcaster),
        ]
        if let localToken {
            services.append(.init(service: ProcessAgent(settings: self.localAgentSettings(secret: localToken), logger: self.logger)))
        }
        var groupConfiguration = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: self.logger)
        // SIGTERM: in-flight requests and streams get `server.shutdown_grace`, then whatever is left is cancelled.
        groupConfiguration.maximumGracefulShutdownDuration = self.config.server.shutdownGrace
        let group = ServiceGroup(configuration: groupConfiguration)
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

extension ManagerApplication {
    /// The embedded agent reaches this server over loopback, through the same protocol as remote agents.
    func localAgentSettings(secret: String) -> AgentSettings {
        let local = self.config.localAgent
        var host = self.config.server.host
        if host == "0.0.0.0" || host == "::" || host.isEmpty { host = "127.0.0.1" }
        if host.contains(":") { host = "[\(host)]" }
        var slots = MachineInfo.slots
        if let cpu = local.cpu { slots["cpu"] = cpu }
        if let mem = local.mem { slots["mem"] = mem }
        var settings = AgentSettings(
            id: self.config.localAgentID, scalingGroup: local.scalingGroup, slots: slots, workDir: local.workDir,
            managerURL: "http://\(host):\(self.config.server.port)", secret: secret, stopGrace: local.stopGrace,
            pollWait: self.config.agents.heartbeatInterval)
        settings.sandbox = local.sandbox
        return settings
    }
}
