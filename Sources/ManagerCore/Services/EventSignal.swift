import Logging
import ServiceLifecycle

/// Wakes SSE streams when new rows land in the event log, on any replica.
///
/// Every committed event does `pg_notify('manager_events')`; this service listens on its own connection and
/// bumps a version. Streams wait for a newer version (or a timeout, so a lost notification costs at most one
/// poll interval) and then read the log by id.
public final class EventSignal: Service, Sendable {
    private let listener: PostgresListener
    private let state = State()

    public init(conninfo: String, logger: Logger) {
        self.listener = PostgresListener(conninfo: conninfo, channels: ["manager_events"], logger: logger)
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await self.listener.run() }
            for await _ in self.listener.events {
                await self.state.bump()
            }
        }
    }

    /// The current version; pass it to `wait(after:timeout:)`.
    func version() async -> Int { await self.state.version }

    /// Returns when the version moves past `version` or after `timeout`.
    func wait(after version: Int, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.state.wait(after: version) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
            await self.state.wakeAll()
        }
    }

    actor State {
        var version = 0
        private var waiters: [CheckedContinuation<Void, Never>] = []

        func bump() {
            self.version += 1
            self.wakeAll()
        }

        func wakeAll() {
            let waiting = self.waiters
            self.waiters.removeAll()
            for waiter in waiting { waiter.resume() }
        }

        func wait(after version: Int) async {
            guard self.version <= version else { return }
            await withCheckedContinuation { self.waiters.append($0) }
        }
    }
}
