import Foundation
import SchedulerKit

/// A long operation run as a background task.
///
/// `run` reports through the reporter and either returns its completion (whose `commit` runs in the same
/// transaction that marks the task done) or throws. Cancellation arrives as Swift task cancellation.
/// After a failure, a cancellation, or the death of the replica that ran it, the task's kind's `cleanup` undoes the
/// partial work: it must be idempotent, because a replica can die in the middle of it too.
public protocol BackgroundJob: Sendable {
    /// Stored with the task; selects the cleanup.
    var kind: String { get }
    /// Enough to clean up after the job from another replica.
    var params: JSONValue { get }
    func run(_ reporter: ProgressReporter) async throws -> BackgroundJobCompletion
}

/// How a job ends well.
public struct BackgroundJobCompletion: Sendable {
    public let message: String
    /// Runs in the transaction that records `bgtask_done`.
    public let commit: @Sendable (PostgresSession) async throws -> Void

    public init(message: String, commit: @escaping @Sendable (PostgresSession) async throws -> Void = { _ in }) {
        self.message = message
        self.commit = commit
    }
}

/// Undoes a task's partial work from its stored params; registered per kind.
public typealias BackgroundJobCleanup = @Sendable (_ params: JSONValue) async throws -> Void
