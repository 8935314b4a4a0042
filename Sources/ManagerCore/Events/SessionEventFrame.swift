import Foundation
import SchedulerKit

/// A session event as an SSE message, in aiohttp-sse's layout (`\r\n` separators), with its log id.
enum SessionEventFrame {
    static func text(_ event: SessionEventRecord) -> String {
        let data = JSONValue.object([
            ("reason", .string(event.reason)),
            ("sessionName", .string(event.sessionName ?? "")),
            ("ownerAccessKey", .string(event.accessKey ?? "")),
            ("sessionId", .string(event.sessionID?.uuidString.lowercased() ?? "")),
            ("exitCode", event.exitCode.map { .number(Double($0)) } ?? .null),
        ])
        return "id: \(event.id)\r\nevent: \(event.name)\r\ndata: \(data.text)\r\nretry: 5\r\n\r\n"
    }
}
