import Synchronization

/// A bounded queue with one consumer that takes everything pending at once: a stream that fell behind writes its
/// backlog in one write (one wake-up, one hop to the event loop) instead of one per event. When `send` finds it
/// full, the queue ends (`overflowed`) and the consumer drains what it holds, then gets nil.
final class SignalQueue<Element: Sendable>: Sendable {
    private struct State {
        var items: [Element] = []
        var waiter: CheckedContinuation<[Element]?, Never>?
        var finished = false
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) { self.capacity = max(1, capacity) }

    /// False when the queue was full (it is finished now) or already finished.
    @discardableResult
    func send(_ element: Element) -> Bool {
        let (handOver, accepted): ((CheckedContinuation<[Element]?, Never>, [Element])?, Bool) = self.state.withLock { state in
            guard !state.finished else { return (nil, false) }
            guard state.items.count < self.capacity else {
                state.finished = true  // a consumer never waits on a full queue, so nobody is to be woken
                return (nil, false)
            }
            state.items.append(element)
            guard let waiter = state.waiter else { return (nil, true) }
            state.waiter = nil
            defer { state.items.removeAll(keepingCapacity: true) }
            return ((waiter, state.items), true)
        }
        if let (waiter, batch) = handOver { waiter.resume(returning: batch) }
        return accepted
    }

    /// Ends the queue; the consumer drains what is pending, then gets nil.
    func finish() {
        let waiter: CheckedContinuation<[Element]?, Never>? = self.state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.items.isEmpty ? state.waiter : nil
        }
        waiter?.resume(returning: nil)
    }

    /// Everything pending (at least one element), waiting when there is nothing; nil once finished and drained,
    /// or when the waiting task is cancelled.
    func next() async -> [Element]? {
        if let batch = self.take() { return batch.isEmpty ? nil : batch }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<[Element]?, Never>) in
                let immediate: [Element]?? = self.state.withLock { state in
                    if !state.items.isEmpty {
                        defer { state.items.removeAll(keepingCapacity: true) }
                        return .some(state.items)
                    }
                    if state.finished || Task.isCancelled { return .some(nil) }
                    state.waiter = continuation
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = self.state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Pending elements, `[]` when finished and drained, nil when the consumer must wait.
    private func take() -> [Element]? {
        self.state.withLock { state in
            if !state.items.isEmpty {
                defer { state.items.removeAll(keepingCapacity: true) }
                return state.items
            }
            return state.finished ? [] : nil
        }
    }
}
