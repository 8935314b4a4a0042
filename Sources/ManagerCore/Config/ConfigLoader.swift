import Foundation
import Logging
import SchedulerKit

/// Why the configuration cannot be used; the message names the key.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// Reads `manager.toml` into `ManagerConfig`, applying `MANAGER_*` overrides and refusing unknown keys.
public struct ConfigLoader {
    let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// Loads a file; a missing file is an error only when the path was given explicitly.
    public func load(path: String?, required: Bool) throws -> ManagerConfig {
        var text = ""
        if let path {
            if let data = FileManager.default.contents(atPath: path) {
                text = String(decoding: data, as: UTF8.self)
            } else if required {
                throw ConfigError(description: "cannot read the config file \(path)")
            }
        }
        return try self.parse(text, source: path ?? "defaults")
    }

    /// `[agent.local]`'s sandbox keys.
    fileprivate static func readSandbox(_ reader: TableReader, into sandbox: inout SandboxSettings) throws {
        try reader.string("agent.local.sandbox") { text in
            guard let mode = SandboxSettings.Mode(rawValue: text) else {
                throw ConfigError(description: "agent.local.sandbox must be \"bubblewrap\" or \"none\"")
            }
            sandbox.mode = mode
        }
        try reader.string("agent.local.network") { text in
            guard let network = SandboxSettings.Network(rawValue: text) else {
                throw ConfigError(description: "agent.local.network must be \"none\", \"outbound\" or \"host\"")
            }
            sandbox.network = network
        }
        try reader.int("agent.local.prepared_networks", range: 0...64) { sandbox.preparedNetworks = $0 }
        try reader.bool("agent.local.allow_unsandboxed_root") { sandbox.allowUnsandboxedRoot = $0 }
        try reader.int("agent.local.sandbox_uid", range: 1...4_294_967_294) { sandbox.hostUID = UInt32($0) }
        try reader.int("agent.local.sandbox_gid", range: 1...4_294_967_294) { sandbox.hostGID = UInt32($0) }
        try reader.bool("agent.local.resource_limits") { sandbox.resourceLimits = $0 }
        try reader.int("agent.local.pids_limit", range: 16...4_194_304) { sandbox.pidsLimit = $0 }
        try reader.int("agent.local.max_open_files", range: 64...1_048_576) { sandbox.maxOpenFiles = $0 }
        try reader.string("agent.local.max_log_size") { text in
            guard let amount = SlotAmount(parsing: text), amount.milli % 1000 == 0, amount.milli / 1000 >= 4096 else {
                throw ConfigError(description: "agent.local.max_log_size must be a size of at least 4096 bytes, like \"64m\"")
            }
            sandbox.maxLogSize = amount.milli / 1000
        }
        try reader.duration("agent.local.keep_finished") { sandbox.keepFinished = $0 }
        try reader.string("agent.local.image_dir") { sandbox.imageDir = $0 }
    }

    /// Parses TOML text.
    public func parse(_ text: String, source: String = "config") throws -> ManagerConfig {
        let table: TOMLTable
        do {
            table = try TOMLDocument.parse(text)
        } catch let problem as TOMLDocument.Problem {
            throw ConfigError(description: "\(source): \(problem)")
        }
        let reader = TableReader(root: table, environment: self.environment)
        var config = ManagerConfig()

        try reader.string("server.host") { config.server.host = $0 }
        try reader.int("server.port", range: 0...65535) { config.server.port = $0 }
        try reader.int("server.max_body_size", range: 1024...(1 << 30)) { config.server.maxBodySize = $0 }
        try reader.duration("server.shutdown_grace") { config.server.shutdownGrace = $0 }
        try reader.duration("server.body_read_timeout") { config.server.bodyReadTimeout = $0 }
        try reader.duration("server.idle_timeout") { config.server.idleTimeout = $0 }
        try reader.string("server.replica_id") { if !$0.isEmpty { config.server.replicaID = $0 } }

        try reader.string("database.url") { config.database.url = $0 }
        try reader.int("database.pool_size", range: 1...256) { config.database.poolSize = $0 }
        try reader.duration("database.acquire_timeout") { config.database.acquireTimeout = $0 }
        try reader.duration("database.statement_timeout") { config.database.statementTimeout = $0 }
        try reader.string("database.migrations_dir") { config.database.migrationsDir = $0 }

        try reader.int("graphql.max_document_bytes", range: 256...(1 << 20)) { config.graphql.maxDocumentBytes = $0 }
        try reader.int("graphql.max_depth", range: 2...64) { config.graphql.maxDepth = $0 }
        try reader.int("graphql.max_fields", range: 1...100_000) { config.graphql.maxFields = $0 }
        try reader.int("graphql.max_aliases", range: 0...10_000) { config.graphql.maxAliases = $0 }
        try reader.int("graphql.max_cost", range: 1...1_000_000_000) { config.graphql.maxCost = $0 }
        try reader.int("graphql.list_factor", range: 1...10_000) { config.graphql.listFactor = $0 }

        try reader.string("redis.host") { config.redis.host = $0 }
        try reader.int("redis.port", range: 1...65535) { config.redis.port = $0 }
        try reader.string("redis.password") { config.redis.password = $0.isEmpty ? nil : $0 }
        try reader.duration("redis.timeout") { config.redis.timeout = $0 }

        try reader.duration("scheduler.tick_interval") { config.scheduler.tickInterval = $0 }
        try reader.duration("scheduler.wait_refresh_interval") { config.scheduler.waitRefreshInterval = $0 }
        try reader.duration("scheduler.idle_pass_interval") {
            guard $0 > .zero else { throw ConfigError(description: "scheduler.idle_pass_interval must be more than 0") }
            config.scheduler.idlePassInterval = $0
        }
        try reader.int("scheduler.max_pending_per_pass", range: 1...1_000_000) { config.scheduler.maxPendingPerPass = $0 }
        try reader.duration("scheduler.expiry_interval") {
            guard $0 > .zero else { throw ConfigError(description: "scheduler.expiry_interval must be more than 0") }
            config.scheduler.expiryInterval = $0
        }

        try reader.duration("retention.events") { config.retention.events = $0 }
        try reader.duration("retention.task_events") { config.retention.taskEvents = $0 }
        try reader.duration("retention.session_logs") { config.retention.sessionLogs = $0 }
        try reader.duration("retention.webhook_attempts") { config.retention.webhookAttempts = $0 }
        try reader.duration("retention.delivered_webhooks") { config.retention.deliveredWebhooks = $0 }
        try reader.duration("retention.file_requests") { config.retention.fileRequests = $0 }
        try reader.duration("retention.interval") { interval in
            guard interval >= .milliseconds(100) else { throw ConfigError(description: "retention.interval must be at least 100ms") }
            config.retention.interval = interval
        }
        try reader.int("retention.batch_size", range: 1...100_000) { config.retention.batchSize = $0 }

        try reader.bool("web.enabled") { config.web.enabled = $0 }
        try reader.string("web.assets_dir") { config.web.assetsDir = $0 }
        try reader.duration("web.session_ttl") {
            guard $0 >= .seconds(60), $0 <= .seconds(7 * 86_400) else {
                throw ConfigError(description: "web.session_ttl must be between 1m and 7d")
            }
            config.web.sessionTTL = $0
        }
        try reader.int("web.max_sessions_per_key", range: 1...1000) { config.web.maxSessionsPerKey = $0 }
        try reader.bool("web.secure_cookie") { config.web.secureCookie = $0 }

        try reader.bool("agent.local.enabled") { config.localAgent.enabled = $0 }
        try reader.string("agent.local.id") { config.localAgent.id = $0 }
        try reader.string("agent.local.scaling_group") { config.localAgent.scalingGroup = $0 }
        try reader.string("agent.local.work_dir") { config.localAgent.workDir = $0 }
        try reader.string("agent.local.cpu") { text in
            guard SlotAmount(parsing: text) != nil else { throw ConfigError(description: "agent.local.cpu must be an amount like \"4\"") }
            config.localAgent.cpu = text
        }
        try reader.string("agent.local.mem") { text in
            guard SlotAmount(parsing: text) != nil else { throw ConfigError(description: "agent.local.mem must be an amount like \"8g\"") }
            config.localAgent.mem = text
        }
        try reader.duration("agent.local.stop_grace") { config.localAgent.stopGrace = $0 }
        try Self.readSandbox(reader, into: &config.localAgent.sandbox)
        try reader.bool("agent.local.require_images") { config.localAgent.requireImages = $0 }
        try reader.duration("agent.heartbeat_interval") { config.agents.heartbeatInterval = $0 }
        try reader.string("agent.secret") { config.agents.secret = $0 }
        try reader.duration("agent.heartbeat_timeout") { config.agents.heartbeatTimeout = $0 }

        try reader.string("storage.default_host") { config.storage.defaultHost = $0 }
        try reader.string("storage.public_url") { text in
            guard text.isEmpty || ((text.hasPrefix("http://") || text.hasPrefix("https://")) && !text.hasSuffix("/")) else {
                throw ConfigError(description: "storage.public_url must be an http(s) URL without a trailing slash")
            }
            config.storage.publicURL = text
        }
        try reader.string("storage.transfer_secret") { text in
            guard text.isEmpty || text.utf8.count >= 16 else {
                throw ConfigError(description: "storage.transfer_secret must be at least 16 characters")
            }
            config.storage.transferSecret = text
        }
        try reader.duration("storage.transfer_ttl") {
            guard $0 >= .seconds(60) else { throw ConfigError(description: "storage.transfer_ttl must be at least 60s") }
            config.storage.transferTTL = $0
        }
        try reader.string("storage.clone_rate_limit") { text in
            guard let amount = SlotAmount(parsing: text), amount.milli % 1000 == 0 else {
                throw ConfigError(description: "storage.clone_rate_limit must be bytes per second like \"200m\" or \"0\"")
            }
            config.storage.cloneRateLimit = amount.milli / 1000
        }
        try reader.duration("background_tasks.lease") { lease in
            guard lease >= .seconds(1) else { throw ConfigError(description: "background_tasks.lease must be at least 1s") }
            config.backgroundTasks.lease = lease
        }
        for name in try reader.tableKeys("storage.volumes") {
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                throw ConfigError(description: "storage.volumes.\(name): a volume name may hold letters, digits, - and _")
            }
            var volume = ManagerConfig.Volume(name: name, path: "")
            try reader.string("storage.volumes.\(name).path") { volume.path = $0 }
            guard !volume.path.isEmpty else {
                throw ConfigError(description: "storage.volumes.\(name).path is required")
            }
            config.storage.volumes.append(volume)
        }

        try reader.duration("webhook_delivery.timeout") { config.webhookDelivery.timeout = $0 }
        try reader.duration("webhook_delivery.max_age") { config.webhookDelivery.maxAge = $0 }
        try reader.duration("webhook_delivery.retry_base") { config.webhookDelivery.retryBase = max($0, .milliseconds(10)) }
        try reader.duration("webhook_delivery.retry_max") { config.webhookDelivery.retryMax = max($0, .milliseconds(10)) }
        try reader.string("webhook_delivery.callback_secret") { config.webhookDelivery.callbackSecret = $0 }
        try reader.int("webhook_delivery.concurrency", range: 1...256) { config.webhookDelivery.concurrency = $0 }
        try reader.int("webhook_delivery.per_destination", range: 1...256) { config.webhookDelivery.perDestination = $0 }
        try reader.bool("webhook_delivery.allow_private_destinations") { config.webhookDelivery.allowPrivateDestinations = $0 }
        try reader.strings("webhook_delivery.allowed_destinations") { list in
            for entry in list where DestinationRule(entry) == nil {
                throw ConfigError(description: "webhook_delivery.allowed_destinations: '\(entry)' is not a host, address or CIDR block")
            }
            config.webhookDelivery.allowedDestinations = list
        }
        try reader.strings("webhook_delivery.denied_destinations") { list in
            for entry in list where DestinationRule(entry) == nil {
                throw ConfigError(description: "webhook_delivery.denied_destinations: '\(entry)' is not a host, address or CIDR block")
            }
            config.webhookDelivery.deniedDestinations = list
        }
        for (index, table) in try reader.tables("webhooks").enumerated() {
            let at = "webhooks[\(index)]"
            var webhook = ManagerConfig.Webhook(name: "", url: "")
            for key in table.keys {
                let value = table[key]
                switch key {
                case "name", "url", "secret":
                    guard let text = value?.string else { throw ConfigError(description: "\(at).\(key) must be a string") }
                    if key == "name" { webhook.name = text } else if key == "url" { webhook.url = text } else { webhook.secret = text }
                case "events":
                    guard let array = value?.array else { throw ConfigError(description: "\(at).events must be a list of event names") }
                    webhook.events = try array.map { element in
                        guard let text = element.string, let name = SessionEventName(rawValue: text), name.isWebhookEvent else {
                            let known = SessionEventName.allCases.filter(\.isWebhookEvent).map(\.rawValue).joined(separator: ", ")
                            throw ConfigError(description: "\(at).events: each entry must be one of \(known)")
                        }
                        return name.rawValue
                    }
                default:
                    throw ConfigError(description: "\(source): unknown config key '\(at).\(key)'")
                }
            }
            guard !webhook.name.isEmpty, webhook.name.count <= 64 else {
                throw ConfigError(description: "\(at).name is required (at most 64 characters)")
            }
            guard webhook.url.hasPrefix("http://") || webhook.url.hasPrefix("https://"), URL(string: webhook.url)?.host != nil else {
                throw ConfigError(description: "\(at).url must be an http or https URL")
            }
            guard !config.webhooks.contains(where: { $0.name == webhook.name }) else {
                throw ConfigError(description: "\(at).name '\(webhook.name)' is used twice")
            }
            config.webhooks.append(webhook)
        }

        try reader.string("logging.level") { text in
            guard let level = Logger.Level(rawValue: text) else {
                throw ConfigError(
                    description: "logging.level must be one of trace, debug, info, notice, warning, error, critical")
            }
            config.logging.level = level
        }
        try reader.string("logging.format") { text in
            guard ["text", "json"].contains(text) else {
                throw ConfigError(description: "logging.format must be text or json")
            }
            config.logging.format = text
        }
        try reader.duration("auth.max_clock_skew") { config.auth.maxClockSkew = $0 }
        try reader.duration("auth.keypair_cache_ttl") { config.auth.keypairCacheTTL = $0 }
        try reader.bool("auth.rate_limit") { config.auth.rateLimit = $0 }
        try reader.bool("auth.replay_protection") { config.auth.replayProtection = $0 }
        try reader.int("auth.unknown_key_burst", range: 1...1_000_000) { config.auth.unknownKeyBurst = $0 }
        try reader.int("auth.unknown_key_rate", range: 0...1_000_000) { config.auth.unknownKeyRate = $0 }
        try reader.int("auth.max_streams_per_keypair", range: 1...100_000) { config.auth.maxStreamsPerKeypair = $0 }
        try reader.string("auth.metrics_token") { config.auth.metricsToken = $0 }

        if let unknown = reader.unreadKeys().first {
            throw ConfigError(description: "\(source): unknown config key '\(unknown)'")
        }
        return config
    }
}

/// Walks a TOML table by dotted key, remembering what was read so that leftovers can be reported.
private final class TableReader {
    let root: TOMLTable
    let environment: [String: String]
    private(set) var read: Set<String> = []

    init(root: TOMLTable, environment: [String: String]) {
        self.root = root
        self.environment = environment
    }

    private func value(_ key: String) -> TOMLValue? {
        self.read.insert(key)
        var table: TOMLTable? = self.root
        let parts = key.split(separator: ".").map(String.init)
        for part in parts.dropLast() {
            table = table?[part]?.table
        }
        return table?[parts.last ?? ""]
    }

    private func override(_ key: String) -> String? {
        self.read.insert(key)
        return self.environment["MANAGER_" + key.uppercased().replacingOccurrences(of: ".", with: "_")]
    }

    func string(_ key: String, _ apply: (String) throws -> Void) throws {
        if let text = self.override(key) { return try apply(text) }
        guard let value = self.value(key) else { return }
        guard let text = value.string else { throw self.typeError(key, "a string", value) }
        try apply(text)
    }

    func int(_ key: String, range: ClosedRange<Int>, _ apply: (Int) throws -> Void) throws {
        let number: Int
        if let text = self.override(key) {
            guard let parsed = Int(text) else { throw ConfigError(description: "\(key) (from the environment) must be an integer") }
            number = parsed
        } else {
            guard let value = self.value(key) else { return }
            guard let parsed = value.int else { throw self.typeError(key, "an integer", value) }
            number = parsed
        }
        guard range.contains(number) else {
            throw ConfigError(description: "\(key) must be between \(range.lowerBound) and \(range.upperBound), not \(number)")
        }
        try apply(number)
    }

    func bool(_ key: String, _ apply: (Bool) throws -> Void) throws {
        if let text = self.override(key) {
            guard let parsed = Bool(text.lowercased()) else {
                throw ConfigError(description: "\(key) (from the environment) must be true or false")
            }
            return try apply(parsed)
        }
        guard let value = self.value(key) else { return }
        guard let flag = value.bool else { throw self.typeError(key, "true or false", value) }
        try apply(flag)
    }

    /// A duration: a number of seconds, or a string such as "500ms", "30s", "5m".
    func duration(_ key: String, _ apply: (Duration) throws -> Void) throws {
        var seconds: Double
        if let text = self.override(key) {
            seconds = try Self.parseDuration(text, key: key)
        } else {
            guard let value = self.value(key) else { return }
            if let number = value.int {
                seconds = Double(number)
            } else if let number = value.double {
                seconds = number
            } else if let text = value.string {
                seconds = try Self.parseDuration(text, key: key)
            } else {
                throw self.typeError(key, "a duration (seconds, or a string like \"30s\")", value)
            }
        }
        guard seconds >= 0, seconds.isFinite else { throw ConfigError(description: "\(key) cannot be negative") }
        guard seconds <= TimeDuration.maxSeconds else { throw ConfigError(description: "\(key) cannot be longer than 100 years") }
        try apply(.milliseconds(Int64((seconds * 1000).rounded())))
    }

    private static func parseDuration(_ text: String, key: String) throws -> Double {
        if text.hasSuffix("ms"), let value = Double(text.dropLast(2)) { return value / 1000 }
        switch TimeDuration.seconds(parsing: text) {
        case .success(let seconds): return seconds
        case .failure(let problem): throw ConfigError(description: "\(key): \(problem)")
        }
    }

    /// A list of strings (from the environment: comma-separated).
    func strings(_ key: String, _ apply: ([String]) throws -> Void) throws {
        if let text = self.override(key) {
            return try apply(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        }
        guard let value = self.value(key) else { return }
        guard let array = value.array else { throw self.typeError(key, "a list of strings", value) }
        try apply(try array.map { element in
            guard let text = element.string else { throw ConfigError(description: "\(key) must hold only strings") }
            return text
        })
    }

    /// An array of tables (`[[key]]`); the caller checks each table's keys.
    func tables(_ key: String) throws -> [TOMLTable] {
        guard let value = self.value(key) else { return [] }
        guard let array = value.array else { throw self.typeError(key, "an array of tables ([[\(key)]])", value) }
        return try array.map { element in
            guard let table = element.table else { throw ConfigError(description: "\(key) must be an array of tables ([[\(key)]])") }
            return table
        }
    }

    /// The names of the sub-tables of `key` (for `[storage.volumes.NAME]`).
    func tableKeys(_ key: String) throws -> [String] {
        guard let value = self.value(key) else { return [] }
        guard let table = value.table else { throw self.typeError(key, "a table", value) }
        return table.keys.sorted()
    }

    private func typeError(_ key: String, _ expected: String, _ value: TOMLValue) -> ConfigError {
        ConfigError(description: "\(key) must be \(expected), not a \(value.kind)")
    }

    /// Leaf keys present in the file that no reader asked for.
    func unreadKeys() -> [String] {
        var unknown: [String] = []
        func walk(_ table: TOMLTable, prefix: String) {
            for key in table.keys.sorted() {
                let path = prefix.isEmpty ? key : "\(prefix).\(key)"
                if let child = table[key]?.table {
                    walk(child, prefix: path)
                } else if !self.read.contains(path) {
                    unknown.append(path)
                }
            }
        }
        walk(self.root, prefix: "")
        return unknown
    }
}
