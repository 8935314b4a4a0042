import HTTPTypes
import Hummingbird

/// What every event stream shares: aiohttp-sse's headers and the keep-alive comment.
enum ServerSentEvents {
    static var headers: HTTPFields {
        [
            .contentType: "text/event-stream", .cacheControl: "no-cache", .connection: "keep-alive",
            HTTPField.Name("X-Accel-Buffering")!: "no",
        ]
    }

    static let ping = ": ping\r\n\r\n"
    static let serverClose = "event: server_close\r\ndata: {}\r\nretry: 5\r\n\r\n"

    /// `Last-Event-ID` as a non-negative number; a malformed one is a 400.
    static func lastEventID(_ request: Request) throws -> Int? {
        guard let header = request.headers[HTTPField.Name("Last-Event-ID")!] else { return nil }
        guard let value = Int(header), value >= 0 else { throw APIError.invalidAPIParams("Last-Event-ID must be an event id.") }
        return value
    }
}
