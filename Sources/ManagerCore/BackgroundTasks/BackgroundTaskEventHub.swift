import Foundation
import Logging
import SchedulerKit
import ServiceLifecycle
import Synchronization

/// Fans task events from Redis out to this replica's streams: one subscription per replica, one bounded buffer per
/// stream. A stream whose client falls behind by more than the buffer is closed and resumes by `Last-Event-ID`,
/// so a stuck client costs a fixed amount of memory. When the subscription was lost, every stream re-reads the
/// log in PostgreSQL (`resync`), and a 15 s `tick` drives keep-alive pings without a timer per stream.
public final class BackgroundTaskEventHub: Service, Sendable {
    enum Signal: Sendable {
        case event(BackgroundTaskEvent)
        case resync
        case tick
    }

    /// One stream's subscription.
    final class Watcher: Sendable {
        let number: Int
        let taskID: UUID
        let signals: AsyncStream<Signal>
        fileprivate let continuation: AsyncStream<Signal>.Continuation
        private let overflowFlag = Atomic<Bool>(false)

        /// True when the buffer overflowed and the stream must end for the client to resume.
        var overflowed: Bool { self.overflowFlag.load(ordering: .relaxed) }

        fileprivate init(number: Int, taskID: UUID, bufferSize: Int) {
            self.number = number
            self.taskID = taskID
            (self.signals, self.continuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(bufferSize))
        }

        fileprivate func send(_ signal: Signal) {
            if case .dropped = self.continuation.yield(signal) {
                self.overflowFlag.store(true, ordering: .relaxed)
                self.continuation.finish()
            }
        }
    }

    private let subscriber: RedisSubscriber
    private let onCancel: @Sendable (UUID) -> Void
    private let bufferSize: Int
    private let pingInterval: Duration
    private let logger: Logger
    private let state = Mutex<(next: Int, watchers: [UUID: [Int: Watcher]])>((0, [:]))

    public init(
        subscriber: RedisSubscriber, bufferSize: Int = 256, pingInterval: Duration = .seconds(15), logger: Logger,
        onCancel: @escaping @Sendable (UUID) -> Void
    ) {
        self.subscriber = subscriber
        self.bufferSize = bufferSize
        self.pingInterval = pingInterval
        self.logger = logger
        self.onCancel = onCancel
    }

    /// Streams watching tasks on this replica.
    public var watcherCount: Int { self.state.withLock { $0.watchers.values.reduce(0) { $0 + $1.count } } }

    func watch(_ taskID: UUID) -> Watcher {
        self.state.withLock { state in
            state.next += 1
            let watcher = Watcher(number: state.next, taskID: taskID, bufferSize: self.bufferSize)
            state.watchers[taskID, default: [:]][state.next] = watcher
            return watcher
        }
    }

    func unwatch(_ watcher: Watcher) {
        self.state.withLock { state in
            state.watchers[watcher.taskID]?.removeValue(forKey: watcher.number)
            if state.watchers[watcher.taskID]?.isEmpty == true { state.watchers.removeValue(forKey: watcher.taskID) }
        }
        watcher.continuation.finish()
    }

    private func watchers(of taskID: UUID? = nil) -> [Watcher] {
        self.state.withLock { state in
            if let taskID { return state.watchers[taskID].map { Array($0.values) } ?? [] }
            return state.watchers.values.flatMap(\.values)
        }
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask {
                    try? await cancelWhenGracefulShutdown {
                        while !Task.isCancelled {
                            try await Task.sleep(for: self.pingInterval)
                            for watcher in self.watchers() { watcher.send(.tick) }
                        }
                    }
                }
                for await event in self.subscriber.events.cancelOnGracefulShutdown() {
                    switch event {
                    case .message(let channel, let payload) where channel == BackgroundTaskService.channel:
                        self.dispatch(payload)
                    case .message:
                        continue
                    case .reconnected:
                        for watcher in self.watchers() { watcher.send(.resync) }
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            for watcher in self.watchers() { watcher.continuation.finish() }
        }
    }

    private func dispatch(_ payload: String) {
        if let event = BackgroundTaskEvent(wireText: payload) {
            for watcher in self.watchers(of: event.taskID) { watcher.send(.event(event)) }
        } else if let json = try? JSONValue.decode(payload), case .string(let text)? = json["cancel"],
            let id = UUID(uuidString: text)
        {
            self.onCancel(id)
        } else {
            self.logger.debug("ignoring a malformed task message")
        }
    }
}
