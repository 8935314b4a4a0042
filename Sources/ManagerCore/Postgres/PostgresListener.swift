import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// LISTEN on a dedicated connection and thread; notifications arrive on `notifications`.
///
/// The wait (`poll` on the socket) happens on the listener's own thread, never on the cooperative pool or the
/// query threads. After a lost connection it reconnects with backoff and LISTENs again.
public final class PostgresListener: Service, Sendable {
    /// Notifications in arrival order; `reconnected` tells consumers that some may have been missed.
    public enum Event: Sendable {
        case notification(PostgresNotification)
        case reconnected
    }

    /// The stream consumers iterate; it finishes when the service stops.
    public let events: AsyncStream<Event>
    private let continuation: AsyncStream<Event>.Continuation
    private let conninfo: String
    private let channels: [String]
    private let logger: Logger
    private let isRunning = Atomic<Bool>(true)

    /// Channels must be plain identifiers (they are quoted into LISTEN, which takes no parameters).
    public init(conninfo: String, channels: [String], logger: Logger) {
        precondition(channels.allSatisfy { $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } })
        self.conninfo = conninfo
        self.channels = channels
        self.logger = logger
        (self.events, self.continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(1024))
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let thread = Thread { [self] in
                        self.loop()
                        continuation.resume()
                    }
                    thread.name = "pg-listener"
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

    /// Stops the loop; `run()` returns within one poll interval.
    public func stop() {
        self.isRunning.store(false, ordering: .relaxed)
    }

    private func loop() {
        var backoff = 0.1
        var firstConnect = true
        while self.isRunning.load(ordering: .relaxed) {
            do {
                let connection = try PostgresConnection.connect(conninfo: self.conninfo, statementTimeout: .seconds(30))
                for channel in self.channels {
                    _ = try connection.execute(SQL(unsafeText: "LISTEN \"\(channel)\""))
                }
                if !firstConnect { self.continuation.yield(.reconnected) }
                firstConnect = false
                backoff = 0.1
                while self.isRunning.load(ordering: .relaxed) {
                    var descriptor = pollfd(fd: connection.socket, events: Int16(POLLIN), revents: 0)
                    let ready = poll(&descriptor, 1, 250)
                    if ready < 0 && errno != EINTR { throw PostgresError(.connectionClosed, message: "poll failed") }
                    if ready > 0 {
                        for notification in try connection.consumeNotifications() {
                            self.continuation.yield(.notification(notification))
                        }
                    }
                }
            } catch {
                self.logger.warning("LISTEN connection lost; reconnecting", metadata: ["error": "\(error)"])
                Thread.sleep(forTimeInterval: backoff)
                backoff = min(backoff * 2, 2)
            }
        }
    }
}
