import Foundation
import SchedulerKit

/// A session event as an SSE message, in aiohttp-sse's layout (`\r\n` separators), with its log id.
enum SessionEventFrame {
    static func text(_ event: SessionEventRecord) -> String {
        var pairs: [(key: String, value: JSONValue)] = [
            ("reason", .string(event.reason)),
            ("sessionName", .string(event.sessionName ?? "")),
            ("ownerAccessKey", .string(event.accessKey ?? "")),
            ("sessionId", .string(event.sessionID?.uuidString.lowercased() ?? "")),
        ]
        // Only when there is one: `session watch` exits with `data.get("exitCode", 1)` on a failure, and a null
        // there would exit 0.
        if let code = event.exitCode { pairs.append(("exitCode", .number(Double(code)))) }
        let data = JSONValue.object(pairs)
        return "id: \(event.id)\r\nevent: \(event.name)\r\ndata: \(data.text)\r\nretry: 5\r\n\r\n"
    }
}
