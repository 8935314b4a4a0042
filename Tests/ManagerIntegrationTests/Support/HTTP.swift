import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
@testable import ManagerCore

/// A finished HTTP exchange.
struct HTTPResult: Sendable {
    let status: Int
    let headers: [(String, String)]
    let body: Data

    var text: String { String(decoding: self.body, as: UTF8.self) }

    /// The body as a JSON object (or nil).
    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: self.body)) as? [String: Any] }

    func header(_ name: String) -> String? {
        self.headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// Plain HTTP calls over a real socket.
enum HTTP {
    static func send(
        _ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: Data? = nil,
        timeout: Duration = .seconds(20)
    ) async throws -> HTTPResult {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(Int64(timeout.components.seconds)))
        let buffer = try await response.body.collect(upTo: 64 << 20)
        return HTTPResult(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: Data(buffer.readableBytesView))
    }

    static func get(_ url: String) async throws -> HTTPResult {
        try await self.send(.GET, url)
    }
}

/// Sends requests signed exactly as the Backend.AI client signs them.
struct SignedClient: Sendable {
    let endpoint: String
    let accessKey: String
    let secretKey: String
    var apiVersion = "v7.20230615"

    /// The Date header value the client sends: Python's `datetime.now(UTC).isoformat()`. Two requests signed in the
    /// same microsecond (concurrent test workers) would carry the same signature, which the daemon refuses as a
    /// replay; the official client never signs two at once, so neither do we: each Date is at least 1 µs later.
    static func dateHeader(_ date: Date? = nil) -> String {
        if let date { return Timestamp.pythonISO(date) }
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        let micros = lastMicros.withLock { last -> Int64 in
            last = max(last + 1, now)
            return last
        }
        return Timestamp.pythonISO(Date(timeIntervalSince1970: Double(micros) / 1_000_000))
    }

    private static let lastMicros = Mutex<Int64>(0)

    func headers(
        method: String, pathAndQuery: String, contentType: String?, date: String = SignedClient.dateHeader(),
        host: String? = nil
    ) -> [(String, String)] {
        let hostValue = host ?? String(self.endpoint.dropFirst("http://".count))
        let signature = RequestSignature(
            method: method, pathAndQuery: pathAndQuery, date: date, host: hostValue,
            contentType: contentType ?? "application/octet-stream", apiVersion: self.apiVersion
        ).signature(secretKey: self.secretKey, day: Timestamp.writtenDay(date) ?? "")
        var headers: [(String, String)] = [
            ("Date", date), ("X-BackendAI-Version", self.apiVersion), ("X-BackendAI-Domain", "default"),
            ("Authorization", "BackendAI signMethod=HMAC-SHA256, credential=\(self.accessKey):\(signature)"),
        ]
        if let contentType { headers.append(("Content-Type", contentType)) }
        return headers
    }

    func send(
        _ method: HTTPMethod, _ pathAndQuery: String, json: Any? = nil, rawBody: Data? = nil, contentType given: String? = nil
    ) async throws -> HTTPResult {
        var body = rawBody
        if var json {
            // Tests enqueue (the API's default is to wait until the session runs) unless they ask to wait.
            if method == .POST, pathAndQuery == "/session", var object = json as? [String: Any], object["enqueueOnly"] == nil {
                object["enqueueOnly"] = true
                json = object
            }
            body = try JSONSerialization.data(withJSONObject: json)
        }
        let contentType = given ?? (body == nil ? "text/plain" : "application/json")
        // The signature covers the media type only (as the client signs it); parameters such as a boundary are sent.
        let mediaType = String(contentType.split(separator: ";").first ?? "")
        var headers = self.headers(method: method.rawValue, pathAndQuery: pathAndQuery, contentType: mediaType)
        headers = headers.map { $0.0 == "Content-Type" ? ($0.0, contentType) : $0 }
        return try await HTTP.send(method, self.endpoint + pathAndQuery, headers: headers, body: body)
    }
}

/// The official `backend.ai` CLI, run as a user would: its own HOME, a folder with no `.env`.
struct BackendAICLI: Sendable {
    let environment: TestEnvironment
    let endpoint: String
    let accessKey: String
    let secretKey: String

    /// Runs the CLI; with `stopAfter`, a command that would go on (an event stream) is stopped then and its
    /// output returned. It runs in its HOME unless `in` names another folder (paths the CLI takes relative to it).
    func run(
        _ arguments: [String], timeout: Duration = .seconds(60), stopAfter: Duration? = nil, in directory: URL? = nil,
        input: String? = nil
    ) async throws -> ProcessResult {
        let home = try self.environment.scratchDirectory("cli-home")
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("BACKEND_") }
        env["HOME"] = home.path
        env["BACKEND_ENDPOINT"] = self.endpoint
        env["BACKEND_ENDPOINT_TYPE"] = "api"
        env["BACKEND_ACCESS_KEY"] = self.accessKey
        env["BACKEND_SECRET_KEY"] = self.secretKey
        env["PYTHONWARNINGS"] = "ignore"
        env["PYTHONUNBUFFERED"] = "1"
        return try await runProcess(self.environment.clientExecutable, arguments, environment: env, currentDirectory: directory ?? home,
            timeout: stopAfter ?? timeout, stopAfterTimeout: stopAfter != nil, input: input)
    }
}

/// One server-sent event as the client reads it.
struct SSEEvent: Sendable, Equatable {
    let id: String?
    let event: String
    let data: String
}

extension SignedClient {
    /// Opens an SSE stream and returns its first `count` events (then hangs up); fails after `timeout`.
    func events(
        _ pathAndQuery: String, lastEventID: String? = nil, count: Int, timeout: Duration = .seconds(20)
    ) async throws -> [SSEEvent] {
        try await withThrowingTaskGroup(of: [SSEEvent]?.self) { group in
            group.addTask { try await self.readEvents(pathAndQuery, lastEventID: lastEventID, count: count) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            guard let events = first else {
                throw SessionProbe.Timeout(description: "fewer than \(count) events on \(pathAndQuery) within \(timeout)")
            }
            return events
        }
    }

    private func readEvents(_ pathAndQuery: String, lastEventID: String?, count: Int) async throws -> [SSEEvent] {
        var request = HTTPClientRequest(url: self.endpoint + pathAndQuery)
        request.method = .GET
        // The client signs SSE requests with application/octet-stream and sends no Content-Type.
        for (name, value) in self.headers(method: "GET", pathAndQuery: pathAndQuery, contentType: nil) {
            request.headers.add(name: name, value: value)
        }
        if let lastEventID { request.headers.add(name: "Last-Event-ID", value: lastEventID) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(20))
        guard response.status == .ok else { return [] }
        var text = ""
        var events: [SSEEvent] = []
        for try await chunk in response.body {
            text += String(buffer: chunk)
            while let range = text.range(of: "\r\n\r\n") {
                let block = String(text[..<range.lowerBound])
                text = String(text[range.upperBound...])
                var id: String?
                var name = "message"
                var data = ""
                for line in block.components(separatedBy: "\r\n") {
                    if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
                    if line.hasPrefix("event: ") { name = String(line.dropFirst(7)) }
                    if line.hasPrefix("data: ") { data = String(line.dropFirst(6)) }
                }
                if !block.hasPrefix(":") { events.append(SSEEvent(id: id, event: name, data: data)) }
                if events.count >= count { return events }
            }
        }
        return events
    }
}
