import Foundation
import Logging

/// The daemon's settings: `config/manager.toml`, then `MANAGER_*` environment variables, over defaults in code.
public struct ManagerConfig: Sendable {
    /// The HTTP listener.
    public struct Server: Sendable {
        public var host = "127.0.0.1"
        public var port = 8091
        /// Largest request body accepted, in bytes (413 `too-large` beyond it).
        public var maxBodySize = 1 << 20
        /// How long SIGTERM waits for in-flight requests and streams before exiting.
        public var shutdownGrace: Duration = .seconds(10)
        /// A request body that pauses longer than this between two reads gets 408 and its connection closed.
        public var bodyReadTimeout: Duration = .seconds(30)
        /// A connection with no request in progress (including one whose headers stop arriving) is closed after this.
        public var idleTimeout: Duration = .seconds(75)
        /// This replica's name in leases and logs; defaults to host name and process id.
        public var replicaID = "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// PostgreSQL, the source of truth.
    public struct Database: Sendable {
        /// A libpq connection string or URI (`postgresql://user@host:port/db` or `host=… port=… dbname=…`).
        public var url = "postgresql://manager@127.0.0.1:5432/manager"
        public var poolSize = 8
        public var acquireTimeout: Duration = .seconds(5)
        public var statementTimeout: Duration = .seconds(30)
        /// Folder with the `NNNN_name.sql` files, relative to the working directory.
        public var migrationsDir = "Migrations"
    }

    /// Redis, which carries events between replicas.
    public struct Redis: Sendable {
        public var host = "127.0.0.1"
        public var port = 6379
        public var password: String?
        public var timeout: Duration = .seconds(2)
    }

    /// The scheduling loop.
    public struct Scheduler: Sendable {
        /// The periodic tick, which looks for passes that came due; wake-ups (enqueue, session end, agent join,
        /// option and policy changes) come in between.
        public var tickInterval: Duration = .seconds(1)
        /// The longest a scaling group with PENDING sessions goes without a pass when nothing announced a change.
        public var idlePassInterval: Duration = .seconds(30)
        /// How often a session that still waits for the same reasons has its `status_data.scheduler` (retries,
        /// last_try) written again; a changed reason is written at once.
        public var waitRefreshInterval: Duration = .seconds(10)
        /// How often running sessions are checked against their policy's idle_timeout and max_session_lifetime.
        public var expiryInterval: Duration = .seconds(5)
        /// The most startable PENDING sessions one pass over a scaling group considers (fair across keypairs).
        public var maxPendingPerPass = 20_000
    }

    /// How long the append-only logs keep their rows (`RetentionService`); zero keeps them forever.
    public struct Retention: Sendable {
        /// Session events (`events`): SSE resume and the webhook source.
        public var events: Duration = .seconds(30 * 86_400)
        /// Background-task events, except each task's last one.
        public var taskEvents: Duration = .seconds(7 * 86_400)
        /// Output of sessions that ended this long ago.
        public var sessionLogs: Duration = .seconds(30 * 86_400)
        /// Webhook delivery attempts.
        public var webhookAttempts: Duration = .seconds(30 * 86_400)
        /// Delivered webhook deliveries (dead ones stay until redelivered or removed).
        public var deliveredWebhooks: Duration = .seconds(7 * 86_400)
        /// Session file requests (`session upload|download|ls`) nobody came back for.
        public var fileRequests: Duration = .seconds(600)
        /// How often a pruning round runs; each round deletes in batches of `batchSize` rows.
        public var interval: Duration = .seconds(60)
        public var batchSize = 1000
    }

    /// The process agent embedded in `manager serve`.
    public struct LocalAgent: Sendable {
        public var enabled = true
        /// Empty: `<host name>-<server.port>`, so that replicas (on one host or several) never share an agent.
        public var id = ""
        public var scalingGroup = "default"
        /// Where each session gets its working folder and log.
        public var workDir = "state/agent"
        /// Slots to announce; nil takes the machine's processors and memory.
        public var cpu: String?
        public var mem: String?
        /// SIGTERM, then SIGKILL after this.
        public var stopGrace: Duration = .seconds(10)
        /// How sessions are isolated (bubblewrap by default).
        public var sandbox = SandboxSettings()
        /// Enqueue refuses an image that is not imported (`manager image import`).
        public var requireImages = false
    }

    /// Agents joining over the network.
    public struct Agents: Sendable {
        /// Shared secret agents present to the manager.
        public var secret = ""
        /// Silence after which an agent is marked LOST.
        public var heartbeatTimeout: Duration = .seconds(30)
        /// How long an agent's long poll waits; its heartbeat interval.
        public var heartbeatInterval: Duration = .seconds(10)
    }

    /// A storage volume: host `local:<name>` lives in `path`.
    public struct Volume: Sendable, Hashable {
        public var name: String
        public var path: String
    }

    /// vfolder storage.
    public struct Storage: Sendable {
        public var defaultHost: String?
        public var volumes: [Volume] = []
        /// Bytes per second one clone may copy (0: unlimited), so a large clone does not starve running sessions.
        public var cloneRateLimit: Int64 = 0
        /// Where clients reach this daemon's storage endpoint (upload and download URLs); empty: this listener.
        public var publicURL = ""
        /// Signs transfer tokens; replicas behind one address must share it. Empty: a fresh one per start (the URLs
        /// then work only against the replica that issued them, and not after its restart).
        public var transferSecret = ""
        /// How long an upload or download URL stays valid (a tus upload must finish within it).
        public var transferTTL: Duration = .seconds(6 * 3600)

        public init() {}
    }

    /// Long operations (vfolder clone) run as background tasks.
    public struct BackgroundTasks: Sendable {
        /// The lease a replica holds on each task it runs, renewed a few times per lease; when it lapses, another
        /// replica marks the task failed (`interrupted`) and cleans up after it.
        public var lease: Duration = .seconds(10)
    }

    /// A `[[webhooks]]` endpoint that receives every matching session event.
    public struct Webhook: Sendable, Hashable {
        public var name: String
        public var url: String
        /// Event names (`session_success`…); empty: every `session_*` event.
        public var events: [String] = []
        /// Signs each delivery (HMAC-SHA256); empty sends unsigned.
        public var secret = ""
    }

    /// How webhooks and `callback_url`s are delivered.
    public struct WebhookDelivery: Sendable {
        public var timeout: Duration = .seconds(10)
        /// Failed deliveries are retried with exponential backoff until this age, then marked dead.
        public var maxAge: Duration = .seconds(24 * 3600)
        /// The first retry's delay; each further one doubles it (with jitter), up to `retryMax`.
        public var retryBase: Duration = .seconds(1)
        public var retryMax: Duration = .seconds(600)
        /// Signs `callback_url` deliveries when set.
        public var callbackSecret = ""
        /// Hosts, IP addresses or CIDR blocks deliveries may go to; empty: anywhere not denied.
        public var allowedDestinations: [String] = []
        /// Refused in addition to link-local and cloud metadata addresses (always refused).
        public var deniedDestinations: [String] = []
        /// Loopback, private, CGNAT and ULA destinations are refused unless this is set (or they are allowed by name).
        public var allowPrivateDestinations = false
        /// Deliveries in flight to one origin (scheme, host, port) at once.
        public var perDestination = 4
        /// Deliveries in flight at once per replica.
        public var concurrency = 16
    }

    /// Log output.
    public struct Logging: Sendable {
        public var level: Logger.Level = .info
        /// `text` or `json`.
        public var format = "text"
    }

    /// Request authentication.
    public struct Auth: Sendable {
        /// Largest accepted difference between a request's Date and our clock.
        public var maxClockSkew: Duration = .seconds(900)
        /// How long a keypair read for authentication is reused (and so how late a revocation made elsewhere
        /// takes effect); 0 reads it on every request.
        public var keypairCacheTTL: Duration = .seconds(5)
        /// Per-keypair `rate_limit` in Redis (Backend.AI's X-RateLimit-*); replays are refused in the same call.
        public var rateLimit = true
        public var replayProtection = true
        /// Keys not in the cache that one client address may have looked up: a burst, then per second.
        public var unknownKeyBurst = 60
        public var unknownKeyRate = 1
        /// Event streams (SSE) one keypair may have open on this replica; 429 beyond.
        public var maxStreamsPerKeypair = 32
        /// When set, `/metrics` needs `Authorization: Bearer <token>`.
        public var metricsToken = ""
    }

    /// The embedded agent's id: `agent.local.id`, or one derived from the host and the port this replica serves.
    public var localAgentID: String {
        if !self.localAgent.id.isEmpty { return self.localAgent.id }
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "local"
        let safe = String(host.map { $0.isASCII && ($0.isLetter || $0.isNumber || "-_".contains($0)) ? $0 : "-" }.prefix(50))
        return "\(safe.isEmpty ? "local" : safe)-\(self.server.port)"
    }

    public var server = Server()
    public var database = Database()
    public var redis = Redis()
    public var scheduler = Scheduler()
    public var retention = Retention()
    public var localAgent = LocalAgent()
    public var agents = Agents()
    public var storage = Storage()
    public var backgroundTasks = BackgroundTasks()
    public var webhooks: [Webhook] = []
    public var webhookDelivery = WebhookDelivery()
    public var logging = Logging()
    public var auth = Auth()
    /// Bounds on one GraphQL request (`[graphql]`).
    public var graphql = GraphQLLimits()
    /// The web view at `/ui/` (`[web]`).
    public var web = Web()

    public init() {}
}

extension ManagerConfig {
    /// The web view served at `/ui/`.
    public struct Web: Sendable {
        public var enabled = true
        /// Folder with the page's files (`index.html`, `app.js`, `app.css`), relative to the working directory.
        public var assetsDir = "Web"
        /// How long a sign-in lasts (the cookie's Max-Age and the stored row's expiry).
        public var sessionTTL: Duration = .seconds(3600)
        /// Sign-ins kept per keypair; signing in again beyond this ends the oldest.
        public var maxSessionsPerKey = 10
        /// Adds `Secure` to the cookie: set it when the daemon is reached over HTTPS (a reverse proxy).
        public var secureCookie = false
    }
}
