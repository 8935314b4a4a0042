import Foundation

/// One request sent byte for byte over a plain socket by `raw_request.py`, with pauses between its parts: for
/// what an HTTP library will not send (slow bodies, invalid UTF-8, oversized headers, a request in flight during
/// shutdown).
struct RawRequest {
    struct Result: Decodable, Sendable {
        let status: Int?
        let head: String
        let body: String
        let error: String?
        let elapsed: Double

        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(self.body.utf8))) as? [String: Any] }
    }

    var parts: [Data]
    var pauses: [Double] = []
    var readyFile: String?
    var readTimeout: Double = 30

    /// A signed request head (and the body split in `pieces` parts) for `client`.
    static func signed(
        _ client: SignedClient, method: String, path: String, body: Data, contentType: String? = "application/json",
        extraHeaders: [(String, String)] = [], pieces: Int = 1
    ) -> RawRequest {
        let host = String(client.endpoint.dropFirst("http://".count))
        var lines = ["\(method) \(path) HTTP/1.1", "Host: \(host)", "Content-Length: \(body.count)", "Connection: close"]
        for (name, value) in client.headers(method: method, pathAndQuery: path, contentType: contentType) {
            lines.append("\(name): \(value)")
        }
        for (name, value) in extraHeaders { lines.append("\(name): \(value)") }
        let head = Data((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
        let size = max(1, (body.count + pieces - 1) / max(pieces, 1))
        var parts = [head + body.prefix(pieces > 1 ? size : body.count)]
        var offset = pieces > 1 ? size : body.count
        while offset < body.count {
            parts.append(body.subdata(in: offset..<min(body.count, offset + size)))
            offset += size
        }
        return RawRequest(parts: parts)
    }

    func send(port: Int, environment: TestEnvironment) async throws -> Result {
        let directory = try environment.scratchDirectory("raw")
        let specPath = directory.appendingPathComponent("spec.json").path
        var spec: [String: Any] = ["port": port, "parts": self.parts.map { $0.base64EncodedString() }, "pauses": self.pauses,
                                   "read_timeout": self.readTimeout]
        if let readyFile { spec["ready_file"] = readyFile }
        try JSONSerialization.data(withJSONObject: spec).write(to: URL(fileURLWithPath: specPath))
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("Tests/ManagerIntegrationTests/Support/raw_request.py").path
        let run = try await runProcess("/usr/bin/python3", [script, specPath], timeout: .seconds(Int64(self.readTimeout) + 30))
        guard let line = run.stdout.split(separator: "\n").last else {
            throw TestEnvironment.Missing(description: "raw_request.py printed nothing: \(run.stderr)")
        }
        return try JSONDecoder().decode(Result.self, from: Data(line.utf8))
    }
}
