import Foundation
import HTTPTypes
import Hummingbird
import Logging
import MultipartKit
import NIOCore
import SchedulerKit

/// `POST /session/{name}/upload` (multipart/form-data, one `src` part per file, its filename the path under
/// `/home/work`), `GET /session/{name}/download` (`{"files": [...]}` → multipart/mixed, one tar per file, as the
/// CLI extracts it) and `GET /session/{name}/files` (`{"path": "."}` → `{"files": "<JSON text>", "errors": "",
/// "abspath": ...}`), as backend.ai-client 23.9.10 sends and reads them. The work is `SessionFiles`'.
struct SessionFileRoutes {
    let files: SessionFiles
    let maxBodySize: Int

    func register(on router: Router<ManagerRequestContext>) {
        router.post("/session/:name/upload", use: self.upload)
        router.get("/session/:name/download", use: self.download)
        router.get("/session/:name/files", use: self.list)
    }

    @Sendable func list(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let target = try SessionRoutes.target(request, context: context)
        let fields = try JSONFields(try await Self.optionalJSON(request, limit: self.maxBodySize))
        let path = try fields.string("path", maxLength: FolderPath.maxBytes) ?? "."
        let listing = try await self.files.list(target.reference, owner: target.owner, caller: target.caller, path: path)
        let entries = JSONValue.array(listing.entries.map { entry in
            .object([
                ("filename", .string(entry.name)), ("size", .number(Double(entry.size))),
                ("mode", .string(VFolderFileRoutes.modeString(entry.mode))), ("mtime", .number(entry.modified)),
            ])
        })
        let body = JSONValue.object([
            ("files", .string(entries.text)), ("errors", .string("")), ("abspath", .string(listing.directory)),
        ])
        return JSONResponse.raw(body.text)
    }

    @Sendable func upload(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let target = try SessionRoutes.target(request, context: context)
        guard let contentType = request.headers[.contentType], let boundary = Self.boundary(contentType) else {
            throw APIError.invalidAPIParams("'Content-Type' must be multipart/form-data with a boundary.")
        }
        let limit = SessionFiles.maxUploadFiles * (SessionFiles.maxUploadFileBytes + 4096)
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch {
            throw APIError(status: .contentTooLarge, kind: "too-large", title: "The upload is too large.",
                           msg: "An upload holds at most \(SessionFiles.maxUploadFiles) files of \(SessionFiles.maxUploadFileBytes) bytes.")
        }
        let uploads = try Self.parts(body, boundary: boundary)
        try await self.files.upload(target.reference, owner: target.owner, caller: target.caller, files: uploads)
        context.logger.info("session files uploaded", metadata: ["files": "\(uploads.count)"])
        return Response(status: .noContent)
    }

    @Sendable func download(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let target = try SessionRoutes.target(request, context: context)
        let fields = try JSONFields(try await Self.optionalJSON(request, limit: self.maxBodySize))
        guard case .array(let items)? = fields.pairs["files"] else {
            throw APIError.invalidAPIParams("'files' must be a list of paths.")
        }
        let paths = try items.map { item -> String in
            guard case .string(let text) = item, text.utf8.count <= FolderPath.maxBytes else {
                throw APIError.invalidAPIParams("'files' must hold paths (strings of at most \(FolderPath.maxBytes) bytes).")
            }
            return text
        }
        let archives = try await self.files.download(target.reference, owner: target.owner, caller: target.caller, paths: paths)
        let boundary = "bai-" + UUID().uuidString.lowercased()
        var out = ByteBuffer()
        for archive in archives {
            out.writeString("--\(boundary)\r\nContent-Type: application/x-tar\r\nContent-Length: \(archive.count)\r\n\r\n")
            out.writeBytes(archive)
            out.writeString("\r\n")
        }
        out.writeString("--\(boundary)--\r\n")
        return Response(
            status: .ok, headers: [.contentType: "multipart/mixed; boundary=\(boundary)"], body: .init(byteBuffer: out))
    }

    // MARK: - Parsing

    /// The CLI sends these GETs with a JSON body; none (or an empty one) is `{}`.
    static func optionalJSON(_ request: Request, limit: Int) async throws -> JSONValue {
        try await JSONResponse.decode(JSONValue.self, from: request, limit: limit, allowEmpty: true)
    }

    /// The `boundary` parameter of a multipart/form-data type (quoted or not), if it is one RFC 2046 allows.
    static func boundary(_ contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first?.lowercased() == "multipart/form-data" else { return nil }
        for part in parts.dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, pair[0].lowercased() == "boundary" else { continue }
            var value = pair[1]
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            guard (1...70).contains(value.utf8.count), value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else { return nil }
            return value
        }
        return nil
    }

    /// The `src` parts of a form, each a file with its name; refuses what is malformed or too large.
    static func parts(_ body: ByteBuffer, boundary: String) throws -> [AgentProtocol.Upload] {
        let parser = MultipartParser(boundary: boundary)
        var uploads: [AgentProtocol.Upload] = []
        var headers: [(String, String)] = []
        var data: [UInt8] = []
        var problem: APIError?
        parser.onHeader = { name, value in
            if headers.count < 32 { headers.append((name.lowercased(), value)) }
        }
        parser.onBody = { chunk in
            data += chunk.readableBytesView
            if data.count > SessionFiles.maxUploadFileBytes, problem == nil {
                problem = APIError(status: .contentTooLarge, kind: "too-large", title: "The file is too large.",
                                   msg: "'src': each file may hold at most \(SessionFiles.maxUploadFileBytes) bytes.")
            }
        }
        parser.onPartComplete = {
            defer {
                headers = []
                data = []
            }
            guard problem == nil else { return }
            let disposition = headers.first { $0.0 == "content-disposition" }?.1 ?? ""
            let parameters = Self.dispositionParameters(disposition)
            guard parameters["name"] == "src" else { return }
            guard let name = parameters["filename"], !name.isEmpty else {
                problem = .invalidAPIParams("'src': every file part needs a filename.")
                return
            }
            if uploads.count >= SessionFiles.maxUploadFiles {
                problem = .invalidAPIParams("'src': at most \(SessionFiles.maxUploadFiles) files per upload.")
                return
            }
            uploads.append(AgentProtocol.Upload(name: name, data: Data(data)))
        }
        guard Self.headerNamesAreASCII(body.readableBytesView, boundary: Array(boundary.utf8)) else {
            throw APIError.invalidAPIParams("The multipart body has a part header name that is not ASCII.")
        }
        do {
            try parser.execute(body)
        } catch {
            throw APIError.invalidAPIParams("The multipart body is malformed.")
        }
        if let problem { throw problem }
        return uploads
    }

    /// False when a part's header block has a byte ≥ 0x80 before a line's colon. MultipartKit 4.7.1 looks such a
    /// byte up in a 128-entry table and traps (found by the `multipart` fuzz target: one request would have
    /// crashed the daemon), so these bodies never reach it. Deliberately wider than the parser: every
    /// `--boundary` starts a scan to the next blank line, and a line break of either kind starts a new name.
    static func headerNamesAreASCII(_ body: ByteBufferView, boundary: [UInt8]) -> Bool {
        let bytes = Array(body)
        let delimiter = [UInt8(ascii: "-"), UInt8(ascii: "-")] + boundary
        var inHeaders = false
        var inName = true
        var position = 0
        // One pass (a delimiter compared at each byte, at most 72 bytes): no input makes it quadratic.
        while position < bytes.count {
            if bytes[position] == delimiter[0], bytes.count - position >= delimiter.count,
                bytes[position..<(position + delimiter.count)].elementsEqual(delimiter)
            {
                (inHeaders, inName) = (true, true)
                position += delimiter.count
                continue
            }
            let byte = bytes[position]
            if inHeaders {
                if byte == 13 || byte == 10 {
                    if bytes[position...].starts(with: [13, 10, 13, 10]) { inHeaders = false }
                    inName = true
                } else if inName {
                    if byte == UInt8(ascii: ":") { inName = false } else if byte >= 0x80 { return false }
                }
            }
            position += 1
        }
        return true
    }

    /// `form-data; name="src"; filename="a%2Fb.txt"` → its parameters, values unquoted and percent-decoded
    /// (aiohttp percent-encodes file names); `filename*=utf-8''…` (RFC 5987) wins over `filename`.
    static func dispositionParameters(_ header: String) -> [String: String] {
        var result: [String: String] = [:]
        for part in header.split(separator: ";").dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            let key = pair[0].lowercased()
            var value = pair[1]
            if key == "filename*" {
                guard let quote = value.range(of: "''") else { continue }
                value = String(value[quote.upperBound...])
                if let decoded = value.removingPercentEncoding { result["filename"] = decoded }
                continue
            }
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            if key == "filename", result["filename"] != nil { continue }
            result[key] = key == "filename" ? (value.removingPercentEncoding ?? value) : value
        }
        return result
    }
}
