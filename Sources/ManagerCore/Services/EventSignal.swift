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
        let ticket = await self.state.ticket()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.state.wait(after: version, ticket: ticket) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                await self.state.release(ticket)
            }
            await group.next()
            group.cancelAll()
        }
        // Both children are done here, so nothing can mark the ticket again.
        await self.state.finish(ticket)
    }

    /// The version and the parked streams; a timeout releases only its own stream.
    actor State {
        var version = 0
        private var nextTicket = 0
        private var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        private var released: Set<Int> = []

        func ticket() -> Int {
            self.nextTicket += 1
            return self.nextTicket
        }

        func bump() {
            self.version += 1
            let waiting = self.waiters
            self.waiters.removeAll()
            for waiter in waiting.values { waiter.resume() }
        }

        func release(_ ticket: Int) {
            if let waiter = self.waiters.removeValue(forKey: ticket) {
                waiter.resume()
            } else {
                self.released.insert(ticket)
            }
        }

        func finish(_ ticket: Int) {
            self.released.remove(ticket)
            self.waiters.removeValue(forKey: ticket)?.resume()
        }

        func wait(after version: Int, ticket: Int) async {
            guard self.version <= version, self.released.remove(ticket) == nil else { return }
            await withCheckedContinuation { self.waiters[ticket] = $0 }
        }
    }
}
