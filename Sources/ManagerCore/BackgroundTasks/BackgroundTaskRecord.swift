import Foundation
import NIOCore
import SchedulerKit

/// Where a background task stands.
public enum BackgroundTaskStatus: String, Sendable {
    case running, done, failed, cancelled

    /// The SSE event that ends a task in this status.
    var terminalEventName: String? {
        switch self {
        case .running: nil
        case .done: "bgtask_done"
        case .failed: "bgtask_failed"
        case .cancelled: "bgtask_cancelled"
        }
    }
}

/// One background task as stored.
public struct BackgroundTaskRecord: Sendable {
    public let id: UUID
    public let kind: String
    public let owner: AccessKey
    public let status: BackgroundTaskStatus
    public let currentProgress: Double
    public let totalProgress: Double
    public let message: String
    public let params: JSONValue
    public let replica: String
    public let createdAt: Date
    public let updatedAt: Date
    public let finishedAt: Date?
}

/// One numbered event of a task, as its stream shows it (`id:` is `seq`).
public struct BackgroundTaskEvent: Sendable, Equatable {
    public let taskID: UUID
    public let seq: Int
    public let name: String
    public let message: String
    public let currentProgress: Double
    public let totalProgress: Double
    /// `frame`, encoded once: every stream watching the task writes these same bytes (a shared buffer).
    private(set) var frameBytes = ByteBuffer()

    public var isTerminal: Bool { self.name != "bgtask_updated" }

    /// The JSON the Backend.AI client reads: progress for updates, the message for the end.
    var data: JSONValue {
        let id = JSONValue.string(self.taskID.uuidString.lowercased())
        if self.isTerminal {
            return .object([("task_id", id), ("message", .string(self.message))])
        }
        return .object([
            ("task_id", id), ("message", .string(self.message)),
            ("current_progress", .number(self.currentProgress)), ("total_progress", .number(self.totalProgress)),
        ])
    }

    /// One SSE message in aiohttp-sse's layout, with its id.
    var frame: String { "id: \(self.seq)\r\nevent: \(self.name)\r\ndata: \(self.data.text)\r\nretry: 5\r\n\r\n" }

    init(taskID: UUID, seq: Int, name: String, message: String, currentProgress: Double, totalProgress: Double) {
        self.taskID = taskID
        self.seq = seq
        self.name = name
        self.message = message
        self.currentProgress = currentProgress
        self.totalProgress = totalProgress
        self.frameBytes = ByteBuffer(string: self.frame)
    }
}
