import Foundation
import Logging
import SchedulerKit
import ServiceLifecycle
import Synchronization

/// Runs background tasks as child tasks of one service, with PostgreSQL as the record of each.
///
/// - Every task row is leased to the replica that runs it; `leaseLoop` renews the leases a few times per lease and
///   learns of cancellations asked on other replicas.
/// - Progress is sampled ten times a second (`flushLoop`) and stored with its event; the row's NOTIFY wakes the
///   `EventBroadcaster` of every replica, which hands it to the task's streams.
/// - A cancellation asked on another replica arrives as a `task_cancel` notification (`EventSignal`); the lease
///   renewal, which reads `cancel_requested`, is the fallback.
/// - `reaperLoop` takes over tasks whose replica stopped renewing, runs their kind's cleanup and marks them failed
///   with `interrupted`, so nothing stays running forever.
public final class BackgroundTaskService: Service, Sendable {
    public struct Configuration: Sendable {
        public var replica: String
        public var lease: Duration
        public var flushInterval: Duration = .milliseconds(100)

        public init(replica: String, lease: Duration) {
            self.replica = replica
            self.lease = lease
        }
    }

    /// Why a running task is asked to stop.
    enum StopReason: Sendable {
        case cancelRequested, leaseLost, shutdown
    }

    private struct Submission: Sendable {
        let id: UUID
        let job: any BackgroundJob
    }

    private enum Outcome: Sendable {
        case done(BackgroundJobCompletion)
        case failed(String)
        case cancelled
        case stop(StopReason)
    }

    let store: PostgresBackgroundTaskStore
    private let signal: EventSignal
    private let configuration: Configuration
    private let cleanups: [String: BackgroundJobCleanup]
    private let logger: Logger
    private let submissions: AsyncStream<Submission>
    private let submissionContinuation: AsyncStream<Submission>.Continuation
    private let running = Mutex<[UUID: AsyncStream<StopReason>.Continuation]>([:])

    public init(
        store: PostgresBackgroundTaskStore, signal: EventSignal, configuration: Configuration,
        cleanups: [String: BackgroundJobCleanup], logger: Logger
    ) {
        self.store = store
        self.signal = signal
        self.configuration = configuration
        self.cleanups = cleanups
        self.logger = logger
        (self.submissions, self.submissionContinuation) = AsyncStream.makeStream()
    }

    public var replica: String { self.configuration.replica }
    public var lease: Duration { self.configuration.lease }

    /// Starts a job whose task row (leased to this replica) the caller has committed.
    public func start(_ job: some BackgroundJob, id: UUID) {
        let (stops, continuation) = AsyncStream<StopReason>.makeStream(bufferingPolicy: .bufferingOldest(1))
        self.running.withLock { $0[id] = continuation }
        self.pendingStops.withLock { $0[id] = stops }
        if case .terminated = self.submissionContinuation.yield(Submission(id: id, job: job)) {
            // Shutting down: the lease lapses and a replica cleans up after it.
            self.running.withLock { _ = $0.removeValue(forKey: id) }
            self.pendingStops.withLock { _ = $0.removeValue(forKey: id) }
        }
    }

    /// Each task's stop signal, from `start` until `execute` picks it up.
    private let pendingStops = Mutex<[UUID: AsyncStream<StopReason>]>([:])

    /// Asks a task that runs on this replica to stop; false when it does not run here.
    @discardableResult
    func stop(_ id: UUID, reason: StopReason) -> Bool {
        guard let continuation = self.running.withLock({ $0[id] }) else { return false }
        continuation.yield(reason)
        return true
    }

    /// Ids of the tasks this replica runs.
    var runningIDs: [UUID] { self.running.withLock { Array($0.keys) } }

    public func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { try? await cancelWhenGracefulShutdown { await self.leaseLoop() } }
                group.addTask { try? await cancelWhenGracefulShutdown { await self.reaperLoop() } }
                group.addTask {
                    for await id in self.signal.taskCancellations.cancelOnGracefulShutdown() {
                        self.stop(id, reason: .cancelRequested)
                    }
                }
                for await submission in self.submissions {
                    group.addTask { await self.execute(submission) }
                }
            }
        } onGracefulShutdown: {
            self.submissionContinuation.finish()
            for id in self.runningIDs { self.stop(id, reason: .shutdown) }
        }
    }

    // MARK: - Running one task

    private func execute(_ submission: Submission) async {
        let id = submission.id
        let logger = self.logger.with(["task_id": "\(id)", "task_kind": "\(submission.job.kind)"])
        let stops = self.pendingStops.withLock { $0.removeValue(forKey: id) } ?? AsyncStream { $0.finish() }
        defer { self.running.withLock { _ = $0.removeValue(forKey: id) } }
        let reporter = ProgressReporter()
        logger.info("background task started")

        let outcome: Outcome = await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                do {
                    return .done(try await submission.job.run(reporter))
                } catch is CancellationError {
                    return .cancelled
                } catch {
                    return Task.isCancelled ? .cancelled : .failed(String(describing: error))
                }
            }
            group.addTask {
                for await reason in stops { return .stop(reason) }
                return nil
            }
            group.addTask {
                await self.flushLoop(id, reporter: reporter, logger: logger)
                return nil
            }
            var stopReason: StopReason?
            var result: Outcome?
            while let next = await group.next() {
                switch next {
                case .stop(let reason)?:
                    stopReason = reason
                    group.cancelAll()
                case .some(let finished):
                    result = finished
                    group.cancelAll()
                case nil:
                    continue
                }
            }
            switch (result, stopReason) {
            case (.done?, _): return result ?? .cancelled
            case (_, .leaseLost?): return .stop(.leaseLost)
            case (_, .shutdown?): return .stop(.shutdown)
            case (_, .cancelRequested?): return .cancelled
            default: return result ?? .cancelled
            }
        }
        await self.finish(id, job: submission.job, outcome: outcome, reporter: reporter, logger: logger)
    }

    /// Stores and publishes progress when it changed, at most once per flush interval.
    private func flushLoop(_ id: UUID, reporter: ProgressReporter, logger: Logger) async {
        var flushed = 0
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: self.configuration.flushInterval)
            } catch {
                return
            }
            let (snapshot, version) = reporter.latest
            guard version != flushed else { continue }
            do {
                guard let event = try await self.store.record(
                    id, name: "bgtask_updated", message: snapshot.message, current: snapshot.current, total: snapshot.total,
                    replica: self.configuration.replica)
                else {
                    self.stop(id, reason: .leaseLost)
                    return
                }
                flushed = version
                _ = event
            } catch {
                logger.warning("storing progress failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private func finish(_ id: UUID, job: any BackgroundJob, outcome: Outcome, reporter: ProgressReporter, logger: Logger) async {
        let snapshot = reporter.latest.snapshot
        var status: BackgroundTaskStatus
        var message: String
        switch outcome {
        case .stop(.leaseLost):
            logger.warning("background task lost its lease; the replica that took it over cleans up")
            return
        case .done(let completion):
            do {
                // The final progress (a bar at 100%), then the end, with the job's own changes, in one transaction.
                try await self.store.pool.withTransaction { tx in
                    try await completion.commit(tx)
                    guard let last = try await self.store.record(
                        id, name: "bgtask_updated", message: snapshot.message, current: snapshot.current,
                        total: snapshot.total, replica: self.configuration.replica, in: tx),
                        let done = try await self.store.record(
                            id, name: "bgtask_done", message: completion.message, current: snapshot.current,
                            total: snapshot.total, replica: self.configuration.replica, finalStatus: .done, in: tx)
                    else { throw LeaseLost() }
                    _ = (last, done)
                }
                logger.info("background task done", metadata: ["message": "\(completion.message)"])
                return
            } catch is LeaseLost {
                logger.warning("background task lost its lease before it could finish")
                return
            } catch {
                status = .failed
                message = "finishing failed: \(error)"
            }
        case .failed(let reason):
            status = .failed
            message = reason
        case .cancelled, .stop(.cancelRequested):
            status = .cancelled
            message = "cancelled"
        case .stop(.shutdown):
            status = .cancelled
            message = "cancelled: the manager replica shut down"
        }
        message = await self.cleanUp(kind: job.kind, params: job.params, message: message, logger: logger)
        await self.end(id, status: status, message: message, snapshot: snapshot, logger: logger)
    }

    private struct LeaseLost: Error {}

    /// Runs the kind's cleanup; a failing cleanup is added to the message.
    private func cleanUp(kind: String, params: JSONValue, message: String, logger: Logger) async -> String {
        guard let cleanup = self.cleanups[kind] else { return message }
        do {
            try await cleanup(params)
            return message
        } catch {
            logger.error("background task cleanup failed", metadata: ["error": "\(error)"])
            return message + " (cleanup failed: \(error))"
        }
    }

    private func end(
        _ id: UUID, status: BackgroundTaskStatus, message: String, snapshot: ProgressReporter.Snapshot, logger: Logger
    ) async {
        guard let name = status.terminalEventName else { return }
        for attempt in 1...5 {
            do {
                _ = try await self.store.record(
                    id, name: name, message: message, current: snapshot.current, total: snapshot.total,
                    replica: self.configuration.replica, finalStatus: status)
                logger.info("background task ended", metadata: ["status": "\(status.rawValue)", "message": "\(message)"])
                return
            } catch {
                logger.warning("recording the end of a task failed", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
    }

    /// Tells the replica running `id` to cancel it (a notification; the lease renewal is the fallback).
    func publishCancel(_ id: UUID) async {
        try? await self.store.notifyCancel(id)
    }

    // MARK: - Leases

    private func leaseLoop() async {
        let interval = self.configuration.lease / 3
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            let ids = self.runningIDs
            guard !ids.isEmpty else { continue }
            do {
                let held = try await self.store.renew(ids, replica: self.configuration.replica, lease: self.configuration.lease)
                for id in ids {
                    switch held[id] {
                    case nil: self.stop(id, reason: .leaseLost)
                    case true?: self.stop(id, reason: .cancelRequested)
                    case false?: break
                    }
                }
            } catch {
                self.logger.warning("renewing task leases failed", metadata: ["error": "\(error)"])
            }
        }
    }

    private func reaperLoop() async {
        let interval = max(.seconds(1), self.configuration.lease / 4)
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval + .milliseconds(Int.random(in: 0...250)))
            } catch {
                return
            }
            do {
                let abandoned = try await self.store.claimAbandoned(
                    replica: self.configuration.replica, lease: self.configuration.lease)
                for task in abandoned {
                    let logger = self.logger.with(["task_id": "\(task.id)", "task_kind": "\(task.kind)"])
                    logger.warning("taking over a task whose replica stopped renewing its lease", metadata: ["replica": "\(task.replica)"])
                    let message = await self.cleanUp(kind: task.kind, params: task.params, message: "interrupted", logger: logger)
                    await self.end(
                        task.id, status: .failed, message: message,
                        snapshot: .init(current: task.currentProgress, total: task.totalProgress, message: task.message),
                        logger: logger)
                }
            } catch {
                self.logger.warning("looking for abandoned tasks failed", metadata: ["error": "\(error)"])
            }
        }
    }
}

extension Logger {
    /// A copy with extra metadata.
    func with(_ metadata: Logger.Metadata) -> Logger {
        var copy = self
        for (key, value) in metadata { copy[metadataKey: key] = value }
        return copy
    }
}
