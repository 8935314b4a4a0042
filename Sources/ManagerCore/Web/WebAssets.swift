import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The web view's files (`[web] assets_dir`: `index.html`, `app.js`, `app.css`, …), read once at start and served
/// from memory with an ETag. Only plain files of known types directly in the folder; 1 MiB in all at most.
struct WebAssets: Sendable {
    struct Asset: Sendable {
        let bytes: ByteBuffer
        let contentType: String
        let etag: String
    }

    static let maxTotalBytes = 1 << 20
    static let contentTypes = [
        "html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
        "svg": "image/svg+xml", "png": "image/png", "ico": "image/x-icon",
    ]

    let files: [String: Asset]

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Reads the folder; fails when it is missing, has no `index.html`, or holds more than `maxTotalBytes`.
    static func load(directory: String) throws -> WebAssets {
        let folder = URL(fileURLWithPath: directory)
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        } catch {
            throw Failure(description: "web.assets_dir: cannot read '\(directory)' (\(error.localizedDescription)); set web.assets_dir or web.enabled = false")
        }
        var files: [String: Asset] = [:]
        var total = 0
        for name in names.sorted() {
            guard let type = Self.contentTypes[URL(fileURLWithPath: name).pathExtension.lowercased()], !name.hasPrefix(".")
            else { continue }
            let url = folder.appendingPathComponent(name)
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            let data = try Data(contentsOf: url)
            total += data.count
            guard total <= Self.maxTotalBytes else {
                throw Failure(description: "web.assets_dir: '\(directory)' holds more than \(Self.maxTotalBytes) bytes of assets")
            }
            let digest = SHA256.hash(data: data).prefix(12).map { String(format: "%02x", $0) }.joined()
            files[name] = Asset(bytes: ByteBuffer(bytes: data), contentType: type, etag: "\"\(digest)\"")
        }
        guard files["index.html"] != nil else {
            throw Failure(description: "web.assets_dir: '\(directory)' has no index.html")
        }
        return WebAssets(files: files)
    }

    /// The asset's response: 304 when the browser's copy is current.
    func response(for name: String, request: Request) -> Response? {
        guard let asset = self.files[name] else { return nil }
        var headers = WebSecurity.headers
        headers[.contentType] = asset.contentType
        headers[.eTag] = asset.etag
        headers[.cacheControl] = "no-cache"
        if request.headers[.ifNoneMatch] == asset.etag {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: asset.bytes))
    }
}

/// Headers on every web view response: a strict Content-Security-Policy (only the daemon's own script, styles and
/// connections; no inline script, no framing, no form posts elsewhere) and the usual hardening.
enum WebSecurity {
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

    static let headers: HTTPFields = [
        .contentSecurityPolicy: Self.contentSecurityPolicy,
        .xContentTypeOptions: "nosniff",
        .referrerPolicy: "no-referrer",
        .xFrameOptions: "DENY",
        .crossOriginOpenerPolicy: "same-origin",
    ]
}
