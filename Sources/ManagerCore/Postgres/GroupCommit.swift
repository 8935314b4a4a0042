import Synchronization

/// Runs concurrent requests' writes together, several per transaction (group commit), so that a burst of requests
/// costs a few durable commits instead of one each, without weakening what an answer means: every caller gets its
/// own outcome only after the transaction holding it committed.
///
/// No background task: the first caller to find a free batch slot leads — it takes the callers queued behind it
/// (up to `maxBatch`), runs them as one batch in its own task, answers them, and hands the lead to the next caller
/// still waiting. At most `maxConcurrentBatches` batches run at once; a lone caller leads at once, so an idle
/// daemon adds no latency.
final class GroupCommit<Item: Sendable, Output: Sendable>: Sendable {
    /// Runs one batch; returns one outcome per item, in order. Throwing fails every item of the batch.
    typealias Batch = @Sendable ([Item]) async throws -> [Result<Output, any Error>]

    private enum Turn: Sendable {
        case lead
        case done(Result<Output, any Error>)
    }

    private struct Waiter: Sendable {
        let item: Item
        let continuation: CheckedContinuation<Turn, Never>
    }

    private struct State: Sendable {
        var runningBatches = 0
        var waiting: [Waiter] = []
    }

    let maxBatch: Int
    let maxConcurrentBatches: Int
    private let batch: Batch
    private let state = Mutex(State())

    init(maxBatch: Int, maxConcurrentBatches: Int, batch: @escaping Batch) {
        self.maxBatch = max(1, maxBatch)
        self.maxConcurrentBatches = max(1, maxConcurrentBatches)
        self.batch = batch
    }

    /// Submits one item and returns its outcome once its batch has run.
    func submit(_ item: Item) async throws -> Output {
        let turn = await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
            let leads = self.state.withLock { state in
                if state.runningBatches < self.maxConcurrentBatches {
                    state.runningBatches += 1
                    return true
                }
                state.waiting.append(Waiter(item: item, continuation: continuation))
                return false
            }
            if leads { continuation.resume(returning: .lead) }
        }
        switch turn {
        case .done(let result): return try result.get()
        case .lead: return try await self.lead(with: item)
        }
    }

    private func lead(with item: Item) async throws -> Output {
        let followers = self.state.withLock { state in
            let count = min(self.maxBatch - 1, state.waiting.count)
            let taken = Array(state.waiting.prefix(count))
            state.waiting.removeFirst(count)
            return taken
        }
        let items = [item] + followers.map(\.item)
        var results: [Result<Output, any Error>]
        do {
            results = try await self.batch(items)
            if results.count != items.count {
                results = Array(repeating: .failure(GroupCommitError.outcomeCountMismatch), count: items.count)
            }
        } catch {
            results = Array(repeating: .failure(error), count: items.count)
        }
        for (follower, result) in zip(followers, results.dropFirst()) {
            follower.continuation.resume(returning: .done(result))
        }
        let next = self.state.withLock { state -> Waiter? in
            guard !state.waiting.isEmpty else {
                state.runningBatches -= 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        // The next caller leads its own batch in its own task (the batch slot passes to it).
        next?.continuation.resume(returning: .lead)
        return try results[0].get()
    }
}

enum GroupCommitError: Error {
    case outcomeCountMismatch
}
