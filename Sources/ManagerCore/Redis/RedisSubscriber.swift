import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// SUBSCRIBE on a dedicated connection and thread, resubscribing by itself after Redis restarts.
///
/// Messages arrive on `events`. After a reconnect, `.reconnected` tells consumers that messages sent while
/// Redis was away were lost, so they re-read their durable source (the event log in PostgreSQL).
public final class RedisSubscriber: Service, Sendable {
    /// What the subscriber reports.
    public enum Event: Sendable, Hashable {
        case message(channel: String, payload: String)
        case reconnected
    }

    /// The events, in arrival order; finishes when the service stops.
    public let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let configuration: RedisClient.Configuration
    private let channels: [String]
    private let logger: Logger
    private let isRunning = Atomic<Bool>(true)
    private let connected = Atomic<Bool>(false)

    public init(configuration: RedisClient.Configuration, channels: [String], logger: Logger) {
        self.configuration = configuration
        self.channels = channels
        self.logger = logger
        (self.events, self.continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(4096))
    }

    /// True while the subscription is live.
    public var isConnected: Bool { self.connected.load(ordering: .relaxed) }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let thread = Thread { [self] in
                        self.loop()
                        continuation.resume()
                    }
                    thread.name = "redis-subscriber"
                    thread.start()
                }
            } onCancel: {
                self.stop()
            }
        } onGracefulShutdown: {
            self.stop()
        }
        self.continuation.finish()
    }

    /// Stops the loop within one poll interval.
    public func stop() {
        self.isRunning.store(false, ordering: .relaxed)
    }

    private func loop() {
        var backoff = 0.05
        var wasConnected = false
        var loggedDown = false
        while self.isRunning.load(ordering: .relaxed) {
            do {
                let connection = try RedisConnection.connect(
                    host: self.configuration.host, port: self.configuration.port, timeout: self.configuration.timeout,
                    password: self.configuration.password)
                try connection.send(["SUBSCRIBE"] + self.channels)
                try connection.flush()
                self.connected.store(true, ordering: .relaxed)
                if wasConnected || loggedDown {
                    self.logger.info("Redis subscription restored")
                    self.continuation.yield(.reconnected)
                }
                wasConnected = true
                loggedDown = false
                backoff = 0.05
                while self.isRunning.load(ordering: .relaxed) {
                    var descriptor = pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0)
                    let ready = poll(&descriptor, 1, 250)
                    if ready < 0 && errno != EINTR { throw RedisError(message: "poll failed", isConnectionFailure: true) }
                    guard ready > 0 else { continue }
                    guard connection.fillBuffer() else {
                        throw RedisError(message: "connection closed", isConnectionFailure: true)
                    }
                    while let reply = try connection.bufferedReply() {
                        if let parts = reply.array, parts.count == 3, parts[0].string == "message",
                            let channel = parts[1].string, let payload = parts[2].string
                        {
                            self.continuation.yield(.message(channel: channel, payload: payload))
                        }
                    }
                }
            } catch {
                self.connected.store(false, ordering: .relaxed)
                if !loggedDown {
                    self.logger.warning("Redis subscription down; retrying", metadata: ["error": "\(error)"])
                    loggedDown = true
                }
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 1)
            }
        }
        self.connected.store(false, ordering: .relaxed)
    }
}
