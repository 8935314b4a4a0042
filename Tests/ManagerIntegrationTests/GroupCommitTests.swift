import Synchronization
import Testing
@testable import ManagerCore

/// The group-commit primitive alone (no database): who leads, what each caller gets back.
@Suite struct GroupCommitTests {
    struct Refused: Error, Equatable { let item: Int }
    struct BatchFailed: Error {}

    /// Records the batches it ran; sleeps in each so that callers pile up behind it.
    final class Recorder: Sendable {
        let batches = Mutex<[[Int]]>([])
        let running = Mutex((now: 0, most: 0))
    }

    static func commit(_ recorder: Recorder, maxBatch: Int, slots: Int) -> GroupCommit<Int, Int> {
        GroupCommit(maxBatch: maxBatch, maxConcurrentBatches: slots) { items in
            recorder.batches.withLock { $0.append(items) }
            recorder.running.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            defer { recorder.running.withLock { $0.now -= 1 } }
            try await Task.sleep(for: .milliseconds(20))
            if items.contains(-1) { throw BatchFailed() }
            return items.map { $0 % 7 == 0 ? .failure(Refused(item: $0)) : .success($0 * 10) }
        }
    }

    @Test("callers queued behind a running batch share the next one; each gets its own outcome, in order")
    func batching() async throws {
        let recorder = Recorder()
        let commit = Self.commit(recorder, maxBatch: 16, slots: 2)
        let outcomes = await withTaskGroup(of: (Int, Result<Int, any Error>).self) { group in
            for item in 1...100 {
                group.addTask {
                    do { return (item, .success(try await commit.submit(item))) } catch { return (item, .failure(error)) }
                }
            }
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        for item in 1...100 {
            let outcome = try #require(outcomes[item])
            if item % 7 == 0 {
                #expect(throws: Refused(item: item)) { try outcome.get() }
            } else {
                #expect(try outcome.get() == item * 10)
            }
        }
        let batches = recorder.batches.withLock { $0 }
        #expect(batches.flatMap { $0 }.sorted() == Array(1...100), "every item ran exactly once")
        #expect(batches.count < 100, "\(batches.count) batches for 100 items")
        #expect(batches.allSatisfy { $0.count <= 16 })
        #expect(recorder.running.withLock { $0.most } <= 2)
    }

    @Test("a lone caller leads at once, and a failing batch fails only the callers in it")
    func failures() async throws {
        let recorder = Recorder()
        let commit = Self.commit(recorder, maxBatch: 4, slots: 1)
        #expect(try await commit.submit(3) == 30)
        #expect(recorder.batches.withLock { $0 } == [[3]])
        await #expect(throws: BatchFailed.self) { try await commit.submit(-1) }
        #expect(try await commit.submit(5) == 50, "the next batch runs normally")
    }
}
