import Foundation
import Logging
import Prometheus
import SchedulerKit
import Testing
@testable import ManagerCore

/// The one reader of the event logs per replica, against a real PostgreSQL.
@Suite struct EventBroadcasterTests {
    @Test("the broadcaster reads each new event once for all streams, in id order; a stream that falls behind is closed")
    func fanOut() async throws {
        let environment = try TestEnvironment.current()
        let database = try await TestDatabase.create(environment)
        try await database.withPool { pool in
            let registry = PrometheusCollectorRegistry()
            let signal = EventSignal(conninfo: database.conninfo, logger: .init(label: "test"))
            let broadcaster = EventBroadcaster(
                log: PostgresEventLog(pool: pool), signal: signal, registry: registry,
                logger: .init(label: "test"))
            let store = PostgresBackgroundTaskStore(pool: pool)
            let taskID = UUID()
            let owner = try await PostgresKeypairStore(pool: pool).createKeypair(email: "fan@example.com", isAdmin: false)
            try await pool.withTransaction { tx in
                try await PostgresBackgroundTaskStore.insert(
                    tx, id: taskID, kind: "test", owner: owner.accessKey, params: .object([]), replica: "r1", lease: .seconds(60))
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await signal.run() }
                group.addTask { try await broadcaster.run() }
                // Many streams on the task, one slow stream (it never reads) and one on another task.
                let fast = (0..<50).map { _ in broadcaster.subscribe(.task(taskID)) }
                let slow = broadcaster.subscribe(.task(taskID), bufferSize: 4)
                let other = broadcaster.subscribe(.task(UUID()))
                try await Task.sleep(for: .milliseconds(300))  // the reader has its cursor
                let readsBefore = broadcaster.readCount
                var readers: [Task<[Int], Never>] = []
                for subscription in fast {
                    readers.append(Task {
                        var seqs: [Int] = []
                        while seqs.count < 10, let batch = await subscription.next() {
                            for signal in batch { if case .task(let event) = signal { seqs.append(event.seq) } }
                        }
                        return seqs
                    })
                }
                for seq in 1...10 {
                    _ = try await store.record(taskID, name: "bgtask_updated", message: "\(seq)", current: Double(seq), total: 10, replica: "r1")
                }
                for reader in readers { #expect(await reader.value == Array(1...10)) }
                #expect(slow.overflowed)
                var received: [Int] = []
                while let batch = await slow.next() {
                    for signal in batch { if case .task(let event) = signal { received.append(event.seq) } }
                }
                #expect(received == [1, 2, 3, 4])
                #expect(!other.overflowed)
                // Ten events, 52 streams: the reader's queries do not grow with the streams (two logs per wake-up).
                let reads = broadcaster.readCount - readsBefore
                #expect(reads > 0 && reads <= 2 * 11 + 4, "\(reads) reads")
                for subscription in fast + [slow, other] { broadcaster.unsubscribe(subscription) }
                #expect(broadcaster.subscriptionCount == 0)
                group.cancelAll()
            }
        }
    }

    @Test("an id taken by a transaction not yet committed holds delivery back; both arrive in id order at its commit")
    func gapHoldsOrder() async throws {
        let environment = try TestEnvironment.current()
        let database = try await TestDatabase.create(environment)
        try await database.withPool { pool in
            let signal = EventSignal(conninfo: database.conninfo, logger: .init(label: "test"))
            var configuration = EventBroadcaster.Configuration()
            configuration.gapGrace = .seconds(30)
            let broadcaster = EventBroadcaster(
                log: PostgresEventLog(pool: pool), signal: signal, configuration: configuration,
                registry: PrometheusCollectorRegistry(), logger: .init(label: "test"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await signal.run() }
                group.addTask { try await broadcaster.run() }
                let subscription = broadcaster.subscribe(.owner("AKGAP"))
                try await Task.sleep(for: .milliseconds(300))
                let reader = Task {
                    var names: [String] = []
                    while names.count < 2, let batch = await subscription.next() {
                        for signal in batch { if case .session(let event, _) = signal { names.append(event.name) } }
                    }
                    return names
                }
                try await pool.withTransaction { tx in
                    // This transaction takes the lower id and commits last.
                    try await tx.execute("INSERT INTO events (name, access_key) VALUES ('session_first', 'AKGAP')")
                    try await pool.withTransaction { other in
                        try await other.execute("INSERT INTO events (name, access_key) VALUES ('session_second', 'AKGAP')")
                        try await other.execute("SELECT pg_notify('manager_events', 'test')")
                    }
                    try await Task.sleep(for: .milliseconds(1500))  // the reader saw the second row, not the first
                    try await tx.execute("SELECT pg_notify('manager_events', 'test')")
                }
                #expect(await reader.value == ["session_first", "session_second"])
                broadcaster.unsubscribe(subscription)
                group.cancelAll()
            }
        }
    }

    @Test("a subscription's queue hands over its backlog at once, ends when full, drains after finish, and frees a cancelled waiter")
    func signalQueue() async throws {
        let queue = SignalQueue<Int>(capacity: 3)
        #expect(queue.send(1) && queue.send(2))
        #expect(await queue.next() == [1, 2])
        let waiting = Task { await queue.next() }
        try await Task.sleep(for: .milliseconds(50))
        #expect(queue.send(3))
        #expect(await waiting.value == [3])
        #expect(queue.send(4) && queue.send(5) && queue.send(6))
        #expect(!queue.send(7))  // full: the queue ends
        #expect(!queue.send(8))
        #expect(await queue.next() == [4, 5, 6])
        #expect(await queue.next() == nil)

        let other = SignalQueue<Int>(capacity: 8)
        other.send(1)
        other.finish()
        #expect(await other.next() == [1])
        #expect(await other.next() == nil)

        let idle = SignalQueue<Int>(capacity: 8)
        let cancelled = Task { await idle.next() }
        try await Task.sleep(for: .milliseconds(50))
        cancelled.cancel()
        #expect(await cancelled.value == nil)
    }
}
