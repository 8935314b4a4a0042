import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SchedulerKit
#if canImport(Glibc)
import Glibc
#endif

/// The storage endpoint this daemon serves itself (Backend.AI's storage-proxy role, in-process), reached with the
/// signed token of `request-upload` / `request-download` (`?token=`) instead of a keypair signature:
///
/// - `/storage/upload`: **tus 1.0** as aiotusclient speaks it: `OPTIONS` (discovery), `HEAD` (the offset, to
///   resume), `PATCH` (`Upload-Offset` must be what the server holds; the body, `application/offset+octet-stream`,
///   is appended as it arrives, never held in memory). The bytes gather in a part file; when the last one is in,
///   the file is moved to its path in one rename, so it appears whole or not at all. An interrupted upload resumes
///   at the offset `HEAD` reports.
/// - `/storage/download`: the file streamed in chunks, `Range: bytes=a-b` (206) and `If-Range` with the
///   `Last-Modified` it sent, as the client retries.
struct StorageRoutes {
    static let uploadPath = "/storage/upload"
    static let downloadPath = "/storage/download"
    static let prefix = "/storage/"
    /// Bytes read per download hop (read straight into the buffer sent).
    static let chunk = 1 << 20
    /// Bytes gathered from an upload's body before one write (1 MiB copies stay in the CPU's caches; 4 MiB ones
    /// were slower here).
    static let uploadBatch = 1 << 20
    /// The most vectors one `writev` takes (Linux's `IOV_MAX`).
    static let maxVectors = 1024
    /// The most bytes one write call takes. The kernel gives a write a page-cache folio as large as the write; large
    /// folios come from large free blocks, which a VM's host may have taken back (free page reporting), and touching
    /// them again cost ~5x: 1 MiB writes made a 1 GiB upload 2.5 s where 128 KiB ones took 0.5-0.7 s here.
    static let writeSize = 128 << 10

    let folders: PostgresVFolderStore
    let volumes: StorageVolumes
    let secret: Data

    func register(on router: Router<ManagerRequestContext>) {
        router.on("/storage/upload", method: .options) { _, _ in
            Self.tusResponse(.noContent, [HTTPField.Name("Tus-Version")!: "1.0.0"])
        }
        router.head("/storage/upload", use: self.head)
        router.patch("/storage/upload", use: self.patch)
        router.get("/storage/download", use: self.download)
    }

    static let tusResumable = HTTPField.Name("Tus-Resumable")!
    static let uploadOffset = HTTPField.Name("Upload-Offset")!
    static let uploadLength = HTTPField.Name("Upload-Length")!

    static func tusResponse(_ status: HTTPResponse.Status, _ extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [Self.tusResumable: "1.0.0", .cacheControl: "no-store"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers)
    }

    /// The token's claims and the folder's files, or 401/404.
    private func authorize(_ request: Request, _ operation: TransferToken.Operation) async throws -> (TransferToken, FolderFiles, FolderPath) {
        guard let text: String = request.uri.queryParameters.get("token"), !text.isEmpty else {
            throw APIError.authFailed("'token' is required: ask request-\(operation.rawValue) for a URL.")
        }
        let token: TransferToken
        switch TransferToken.verify(text, secret: self.secret, operation: operation) {
        case .success(let verified): token = verified
        case .failure(let refusal): throw APIError.authFailed("'token': \(refusal.description).")
        }
        guard let status = try await self.folders.status(token.folder), status.isReadable,
            operation == .download || status.isUpdatable,
            let root = self.volumes.path(host: token.host, folderID: token.folder)
        else {
            throw APIError.notFound("vfolder-not-found", title: "Virtual folder not found.", msg: "The folder of this token is gone or cannot be written now.")
        }
        let path = try VFolderFileRoutes.path(token.path, field: "path", allowRoot: token.archive == true)
        return (token, FolderFiles(root: root), path)
    }

    // MARK: - Upload (tus)

    @Sendable func head(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let (token, files, path) = try await self.authorize(request, .upload)
        let size = token.size ?? 0
        let offset = try await VFolderFileRoutes.run("tus-head") { () -> Int64 in
            let held = try files.uploadedBytes(token.id)
            // Complete already: the part file became the file.
            if held == 0, size > 0, let opened = try? files.openForReading(path) {
                close(opened.descriptor)
                if opened.size == size { return size }
            }
            return held
        }
        return Self.tusResponse(.ok, [Self.uploadOffset: String(offset), Self.uploadLength: String(size)])
    }

    @Sendable func patch(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let (token, files, path) = try await self.authorize(request, .upload)
        guard request.headers[.contentType].map(AuthMiddleware.mimeType) == "application/offset+octet-stream" else {
            throw APIError(status: .unsupportedMediaType, kind: "invalid-api-params", title: "Missing or invalid API parameters.",
                           msg: "A tus PATCH carries 'Content-Type: application/offset+octet-stream'.")
        }
        guard let offsetText = request.headers[Self.uploadOffset], let offset = Int64(offsetText), offset >= 0 else {
            throw APIError.invalidAPIParams("'Upload-Offset' must be the byte offset this chunk starts at.")
        }
        let size = token.size ?? 0
        let id = token.id
        let descriptor: Int32
        do {
            descriptor = try await BlockingExecutor.shared.run(name: "tus-open") { try files.openPart(id, at: offset) }
        } catch let failure as FolderFiles.Failure {
            if case .io(_, ESPIPE) = failure {
                let held = (try? await BlockingExecutor.shared.run(name: "tus-offset") { try files.uploadedBytes(id) }) ?? 0
                var error = APIError.conflict("upload-offset-mismatch", title: "The offset does not match.",
                                              msg: "'Upload-Offset' is \(offset); the server holds \(held) bytes (HEAD to resume).")
                error.headers[Self.uploadOffset] = String(held)
                throw error
            }
            throw VFolderFileRoutes.apiError(failure)
        }
        var written = offset
        var accepted = offset
        // The body arrives in pieces (up to the channel's read size), copied into a `Self.uploadBatch` buffer; a full
        // buffer is written (in `Self.writeSize` calls) in one hop to the blocking executor, as the one child of a task
        // group, while the other buffer fills (two buffers, reused), so the socket is read during a write. A hop per
        // piece, and a socket idle during each write, cost most of an upload's time before. The group waits for its
        // child whatever happens, so the descriptor is never closed under a write.
        do {
            try await withThrowingTaskGroup(of: ByteBuffer.self) { group in
                var filling = ByteBufferAllocator().buffer(capacity: Self.uploadBatch)
                var spare: ByteBuffer?
                var writing = false
                func settle() async throws {
                    guard writing, var batch = try await group.next() else { return }
                    writing = false
                    written += Int64(batch.readableBytes)
                    batch.clear()
                    spare = batch
                }
                func flush() async throws {
                    try await settle()
                    guard filling.readableBytes > 0 else { return }
                    let batch = filling
                    filling = spare ?? ByteBufferAllocator().buffer(capacity: Self.uploadBatch)
                    spare = nil
                    writing = true
                    group.addTask {
                        try await BlockingExecutor.shared.run(name: "tus-write") { () -> ByteBuffer in
                            _ = try Self.write([batch], to: descriptor)
                            return batch
                        }
                    }
                }
                for try await piece in request.body {
                    guard accepted + Int64(piece.readableBytes) <= size else {
                        try await flush()
                        try await settle()
                        throw APIError.tooLarge(limit: Int(clamping: size - offset))
                    }
                    accepted += Int64(piece.readableBytes)
                    if filling.writableBytes < piece.readableBytes { try await flush() }
                    filling.writeImmutableBuffer(piece)
                    if filling.writableBytes == 0 { try await flush() }
                }
                try await flush()
                try await settle()
            }
            close(descriptor)
        } catch {
            close(descriptor)
            if let failure = error as? FolderFiles.Failure { throw VFolderFileRoutes.apiError(failure) }
            throw error
        }
        if written == size {
            try await VFolderFileRoutes.run("tus-complete") { try files.completeUpload(id, at: path) }
            context.logger.info("upload complete", metadata: ["vfolder_id": "\(token.folder)", "bytes": "\(size)"])
        }
        return Self.tusResponse(.noContent, [Self.uploadOffset: String(written)])
    }

    /// Writes every byte of `buffers` to `descriptor`, in order, with as few `writev` calls as it takes (a system
    /// call costs ~30-60 us on this kind of VM, whatever its size); returns how many bytes.
    static func write(_ buffers: [ByteBuffer], to descriptor: Int32) throws -> Int {
        var vectors: [iovec] = []
        var storages: [Unmanaged<AnyObject>] = []
        vectors.reserveCapacity(buffers.count)
        storages.reserveCapacity(buffers.count)
        // Each buffer's storage is retained until the writes are done, so its bytes stay where the vector points.
        defer { for storage in storages { storage.release() } }
        for buffer in buffers where buffer.readableBytes > 0 {
            buffer.withUnsafeReadableBytesWithStorageManagement { raw, storage in
                storages.append(storage.retain())
                vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress), iov_len: raw.count))
            }
        }
        var total = 0
        var index = 0
        while index < vectors.count {
            // At most `Self.writeSize` bytes a call: the vectors up to it, the last one cut short for the call.
            var count = 0
            var length = 0
            var cut: Int?
            while index + count < vectors.count, count < Self.maxVectors, length < Self.writeSize {
                let next = vectors[index + count].iov_len
                if length + next > Self.writeSize {
                    cut = Self.writeSize - length
                    length = Self.writeSize
                } else {
                    length += next
                }
                count += 1
            }
            let saved = vectors[index + count - 1].iov_len
            if let cut { vectors[index + count - 1].iov_len = cut }
            let done = vectors.withUnsafeBufferPointer { all in all.baseAddress.map { Glibc.writev(descriptor, $0 + index, Int32(count)) } ?? 0 }
            vectors[index + count - 1].iov_len = saved
            if done < 0, errno == EINTR { continue }
            guard done > 0 else { throw FolderFiles.Failure.io(FolderFiles.uploadsDirectory, done < 0 ? errno : EIO) }
            total += done
            // Past what was written: whole vectors, then into the one a short write stopped in.
            var left = done
            while left > 0, index < vectors.count {
                if left >= vectors[index].iov_len {
                    left -= vectors[index].iov_len
                    index += 1
                } else {
                    vectors[index].iov_base = vectors[index].iov_base.map { $0 + left }
                    vectors[index].iov_len -= left
                    left = 0
                }
            }
        }
        return total
    }

    // MARK: - Download

    @Sendable func download(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let (token, files, path) = try await self.authorize(request, .download)
        if token.archive == true { return try await self.archive(files, path) }
        let opened = try await VFolderFileRoutes.run("download-open") { try files.openForReading(path) }
        let lastModified = HTTPDate.format(Date(timeIntervalSince1970: opened.modified.rounded(.down)))
        var start: Int64 = 0
        var end = opened.size - 1
        var partial = false
        if let range = request.headers[.range],
            request.headers[.ifRange].map({ $0 == lastModified }) ?? true,
            let parsed = Self.byteRange(range, size: opened.size)
        {
            (start, end, partial) = (parsed.start, parsed.end, true)
        } else if request.headers[.range] != nil, request.headers[.ifRange] == nil, opened.size > 0 {
            close(opened.descriptor)
            var error = APIError(status: .rangeNotSatisfiable, kind: "invalid-api-params", title: "Missing or invalid API parameters.",
                                 msg: "'Range' must be bytes=START- or bytes=START-END within the file's \(opened.size) bytes.")
            error.headers[.contentRange] = "bytes */\(opened.size)"
            throw error
        }
        var headers: HTTPFields = [
            .contentType: "application/octet-stream", .lastModified: lastModified, .acceptRanges: "bytes",
            .contentLength: String(max(0, end - start + 1)),
            .contentDisposition: "attachment; filename*=UTF-8''\(Self.percentEncoded(path.name ?? "file"))",
        ]
        if partial { headers[.contentRange] = "bytes \(start)-\(end)/\(opened.size)" }
        let descriptor = opened.descriptor
        let length = max(0, end - start + 1)
        let (first, last) = (start, end)
        return Response(status: partial ? .partialContent : .ok, headers: headers, body: ResponseBody(contentLength: Int(length)) { writer in
            // The next chunk is read (the one child of a task group) while this one is sent, so the socket never waits
            // for the disk; the group waits for its child whatever happens, so the descriptor is never closed under a read.
            defer { close(descriptor) }
            try await withThrowingTaskGroup(of: ByteBuffer.self) { group in
                func read(at position: Int64) {
                    let count = Int(min(Int64(Self.chunk), last - position + 1))
                    group.addTask { try await BlockingExecutor.shared.run(name: "download-read") { try Self.read(descriptor, count: count, at: position) } }
                }
                var position = first
                if position <= last { read(at: position) }
                while let buffer = try await group.next() {
                    position += Int64(buffer.readableBytes)
                    if position <= last { read(at: position) }
                    try await writer.write(buffer)
                }
            }
            try await writer.finish(nil)
        })
    }

    /// `count` bytes of `descriptor` at `offset`, read straight into the buffer that is sent (no second copy).
    static func read(_ descriptor: Int32, count: Int, at offset: Int64) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var failure: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
            let read = pread(descriptor, raw.baseAddress, count, off_t(offset))
            if read <= 0 { failure = read == 0 ? EIO : errno }
            return max(0, read)
        }
        guard failure == 0 else { throw FolderFiles.Failure.io("download", failure) }
        return buffer
    }

    /// A directory as a tar archive, streamed as it is read (chunked: its length is not known up front).
    private func archive(_ files: FolderFiles, _ path: FolderPath) async throws -> Response {
        guard try await VFolderFileRoutes.run("archive-stat", { try files.isDirectory(path) }) else {
            throw APIError.invalidAPIParams("'path': '\(path.description.prefix(256))' is no longer a directory.")
        }
        let name = (path.name ?? "folder") + ".tar"
        let archive = FolderArchive(files: files, paths: [path])
        let headers: HTTPFields = [
            .contentType: "application/x-tar",
            .contentDisposition: "attachment; filename*=UTF-8''\(Self.percentEncoded(name))",
        ]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { archive.close() }
            while let bytes = try await BlockingExecutor.shared.run(name: "archive-read", { try archive.next(upTo: Self.chunk) }) {
                try await writer.write(ByteBuffer(bytes: bytes))
            }
            try await writer.finish(nil)
        })
    }

    /// `bytes=START-` or `bytes=START-END` (one range) within `size`; nil when it is none of these.
    static func byteRange(_ header: String, size: Int64) -> (start: Int64, end: Int64)? {
        guard header.hasPrefix("bytes="), size > 0 else { return nil }
        let spec = header.dropFirst("bytes=".count)
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, !spec.contains(","), let start = Int64(parts[0]), start >= 0, start < size else { return nil }
        if parts[1].isEmpty { return (start, size - 1) }
        guard let last = Int64(parts[1]), last >= start else { return nil }
        return (start, min(last, size - 1))
    }

    static func percentEncoded(_ name: String) -> String {
        name.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? "file"
    }
}
