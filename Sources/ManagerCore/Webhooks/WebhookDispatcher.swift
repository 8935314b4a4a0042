import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Sends the outbox: leases due deliveries (any replica may), POSTs each with a timeout and without following
/// redirects, to the address the destination policy checked, and records the attempt. Up to `concurrency`
/// deliveries are in flight at once, at most `per_destination` of them to one origin (scheme, host and port): a
/// slow or tarpitting receiver holds only its own slots, and the others' deliveries go on around it. Failures are retried with exponential backoff and full jitter until
/// `max_age`, then the delivery is dead; a destination the policy refuses is never contacted. A delivery whose
/// replica died mid-send is leased again when its lease lapses: at least once, with `X-Webhook-Id` to deduplicate.
final class WebhookDispatcher: Service, Sendable {
    struct Configuration: Sendable {
        var replica: String
        var delivery: ManagerConfig.WebhookDelivery
        /// Endpoint name → secret.
        var secrets: [String: String]
    }

    private let store: PostgresWebhookStore
    private let signal: EventSignal
    private let configuration: Configuration
    private let policy: DestinationPolicy
    private let logger: Logger
    private let client: HTTPClient

    private static let outcomes = ["delivered", "failed", "dead", "refused"]
    private let outcomeCounters: [String: Counter]
    private let queueDepth = Gauge(label: "manager_webhook_queue_depth")
    private let oldestPending = Gauge(label: "manager_webhook_oldest_pending_seconds")

    init(store: PostgresWebhookStore, signal: EventSignal, configuration: Configuration, logger: Logger) {
        self.store = store
        self.signal = signal
        self.configuration = configuration
        self.policy = DestinationPolicy(
            allowed: configuration.delivery.allowedDestinations, denied: configuration.delivery.deniedDestinations,
            allowPrivate: configuration.delivery.allowPrivateDestinations)
        self.logger = logger
        self.client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: Self.clientConfiguration(configuration.delivery))
        var counters: [String: Counter] = [:]
        for outcome in Self.outcomes {
            counters[outcome] = Counter(label: "manager_webhook_deliveries_total", dimensions: [("outcome", outcome)])
        }
        self.outcomeCounters = counters
    }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.gaugeLoop() }
                await self.sendLoop()
                group.cancelAll()
            }
        }
        // Hand what this replica had leased back at once, instead of leaving it until the lease lapses.
        do {
            let released = try await self.store.releaseLeases(replica: self.configuration.replica)
            if released > 0 { self.logger.info("released webhook delivery leases", metadata: ["count": "\(released)"]) }
        } catch {
            self.logger.warning("releasing webhook delivery leases failed", metadata: ["error": "\(error)"])
        }
        try? await self.client.shutdown()
    }

    static func clientConfiguration(_ delivery: ManagerConfig.WebhookDelivery, pin: (host: String, address: String)? = nil) -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(
                connect: .milliseconds(Int64(delivery.timeout.seconds * 1000)),
                read: .milliseconds(Int64(delivery.timeout.seconds * 1000))))
        configuration.decompression = .disabled
        if let pin { configuration.dnsOverride = [pin.host: pin.address] }
        return configuration
    }

    /// Deliveries in flight per origin on this replica.
    private let inFlight = Mutex<[String: Int]>([:])

    /// `scheme://host:port` of a URL, as the claim's SQL computes it (`PostgresWebhookStore.origin`).
    static func origin(_ url: String) -> String {
        guard let end = url.range(of: "://") else { return url }
        let rest = url[end.upperBound...]
        let authority = rest.prefix { !"/?#".contains($0) }
        return url[..<end.upperBound].lowercased() + authority.lowercased()
    }

    private func sendLoop() async {
        let lease = self.configuration.delivery.timeout + .seconds(10)
        let total = self.configuration.delivery.concurrency
        let perDestination = self.configuration.delivery.perDestination
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                let version = await self.signal.webhookVersion()
                let (busy, saturated) = self.inFlight.withLock { counts in
                    (counts.values.reduce(0, +), counts.filter { $0.value >= perDestination }.map(\.key).sorted())
                }
                var claimed: [WebhookDelivery] = []
                if busy < total {
                    do {
                        claimed = try await self.store.claim(
                            replica: self.configuration.replica, lease: lease, limit: total - busy, skippingOrigins: saturated,
                            perOrigin: perDestination)
                    } catch {
                        self.logger.warning("claiming webhook deliveries failed", metadata: ["error": "\(error)"])
                    }
                }
                for delivery in claimed {
                    let origin = Self.origin(delivery.url)
                    self.inFlight.withLock { $0[origin, default: 0] += 1 }
                    group.addTask {
                        await self.send(delivery)
                        self.inFlight.withLock { counts in
                            counts[origin, default: 1] -= 1
                            if counts[origin] == 0 { counts[origin] = nil }
                        }
                        // A slot is free: look for more at once.
                        await self.signal.wakeWebhooks()
                    }
                }
                if !claimed.isEmpty { continue }
                // Nothing due (or every slot busy): wait for a new delivery, a freed slot, or the next retry (checked
                // at least every second).
                var wait: Duration = .seconds(1)
                if busy < total, let due = try? await self.store.nextDue() {
                    wait = max(.milliseconds(20), min(wait, .milliseconds(Int64(max(0, due.timeIntervalSinceNow) * 1000))))
                }
                await self.signal.waitForWebhooks(after: version, timeout: wait)
            }
        }
    }

    private func send(_ delivery: WebhookDelivery) async {
        let logger = self.logger.with(["delivery_id": "\(delivery.id)", "webhook_target": "\(delivery.target)"])
        let startedAt = Date()
        let clock = ContinuousClock.now
        let url = delivery.url
        let policy = self.policy
        let verdict = (try? await BlockingExecutor.shared.run(name: "webhook-resolve") { policy.check(url) })
            ?? .refused("the destination could not be checked")
        let pin: (host: String, address: String)?
        switch verdict {
        case .refused(let reason):
            logger.warning("webhook destination refused; not contacted", metadata: ["reason": "\(reason)"])
            await self.record(delivery, .init(startedAt: startedAt, duration: .zero, error: reason), outcome: .refused, logger: logger)
            return
        case .allowed(let host, let address):
            pin = address.map { (host, $0) }
        }
        // Connect to the address just checked (not whatever the name resolves to next), with the name kept for the
        // Host header and TLS: a client of its own for this delivery.
        let pinned = pin.map { HTTPClient(eventLoopGroupProvider: .singleton, configuration: Self.clientConfiguration(self.configuration.delivery, pin: $0)) }
        let body = Data(delivery.payload.utf8)
        var request = HTTPClientRequest(url: delivery.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "session-manager/\(ManagerVersion.current)")
        request.headers.add(name: WebhookSignature.idHeader, value: delivery.id.uuidString.lowercased())
        request.headers.add(name: WebhookSignature.eventHeader, value: delivery.event)
        let timestamp = Int(Date().timeIntervalSince1970)
        request.headers.add(name: WebhookSignature.timestampHeader, value: String(timestamp))
        if let secret = delivery.sessionSecret ?? self.secret(for: delivery.target), !secret.isEmpty {
            request.headers.add(
                name: WebhookSignature.signatureHeader, value: WebhookSignature.sign(body: body, timestamp: timestamp, secret: secret))
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        var attempt = PostgresWebhookStore.Attempt(startedAt: startedAt, duration: .zero)
        do {
            let timeout = TimeAmount.milliseconds(Int64(self.configuration.delivery.timeout.seconds * 1000))
            let (status, prefix): (UInt, String?)
            do {
                let response = try await (pinned ?? self.client).execute(request, timeout: timeout)
                (status, prefix) = (response.status.code, try await Self.prefix(of: response.body))
                try? await pinned?.shutdown()
            } catch {
                try? await pinned?.shutdown()
                throw error
            }
            attempt.statusCode = Int(status)
            attempt.responsePrefix = prefix
            attempt.duration = ContinuousClock.now - clock
            if (200..<300).contains(status) {
                await self.record(delivery, attempt, outcome: .delivered, logger: logger)
                return
            }
            attempt.error = "HTTP \(status)"
        } catch {
            attempt.duration = ContinuousClock.now - clock
            attempt.error = String(describing: error).prefix(500).description
        }
        let age = Date().timeIntervalSince(delivery.createdAt)
        if age >= self.configuration.delivery.maxAge.seconds {
            logger.warning("webhook delivery is dead after retrying", metadata: ["attempts": "\(delivery.attempts)", "error": "\(attempt.error ?? "")"])
            await self.record(delivery, attempt, outcome: .dead, logger: logger)
        } else {
            let delay = Self.backoff(
                attempt: delivery.attempts, base: self.configuration.delivery.retryBase, max: self.configuration.delivery.retryMax)
            logger.info("webhook delivery failed; retrying", metadata: [
                "attempts": "\(delivery.attempts)", "error": "\(attempt.error ?? "")", "retry_in": "\(delay)",
            ])
            await self.record(delivery, attempt, outcome: .retry(after: delay), logger: logger)
        }
    }

    /// `base` doubling per attempt up to `max`, with jitter (between half and all of it).
    static func backoff(attempt: Int, base: Duration, max limit: Duration) -> Duration {
        let delay = min(limit.seconds, base.seconds * pow(2.0, Double(min(30, max(0, attempt - 1)))))
        return .milliseconds(Int64(Double.random(in: (delay / 2)...delay) * 1000))
    }

    private func secret(for target: String) -> String? {
        if target == "callback" { return self.configuration.delivery.callbackSecret }
        guard target.hasPrefix("endpoint:") else { return nil }
        return self.configuration.secrets[String(target.dropFirst("endpoint:".count))]
    }

    /// At most the first KiB of a response body; the rest is read and dropped.
    static func prefix(of body: HTTPClientResponse.Body) async throws -> String? {
        var kept = ByteBuffer()
        for try await chunk in body where kept.readableBytes < 1024 {
            var chunk = chunk
            if let slice = chunk.readSlice(length: min(chunk.readableBytes, 1024 - kept.readableBytes)) {
                var slice = slice
                kept.writeBuffer(&slice)
            }
        }
        return kept.readableBytes == 0 ? nil : String(decoding: kept.readableBytesView, as: UTF8.self)
    }

    private func record(
        _ delivery: WebhookDelivery, _ attempt: PostgresWebhookStore.Attempt, outcome: PostgresWebhookStore.Outcome,
        logger: Logger
    ) async {
        let name: String
        switch outcome {
        case .delivered: name = "delivered"
        case .retry: name = "failed"
        case .dead: name = "dead"
        case .refused: name = "refused"
        }
        self.outcomeCounters[name]?.increment()
        for attemptNumber in 1...3 {
            do {
                try await self.store.record(delivery, attempt: attempt, outcome: outcome, replica: self.configuration.replica)
                return
            } catch {
                logger.warning("recording a webhook attempt failed", metadata: ["error": "\(error)", "try": "\(attemptNumber)"])
                try? await Task.sleep(for: .milliseconds(200 * attemptNumber))
            }
        }
    }

    private func gaugeLoop() async {
        while !Task.isCancelled {
            if let (pending, oldest) = try? await self.store.backlog() {
                self.queueDepth.record(pending)
                self.oldestPending.record(oldest)
            }
            try? await Task.sleep(for: .seconds(5))
        }
    }
}
