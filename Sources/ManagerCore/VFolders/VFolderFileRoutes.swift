import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SchedulerKit

/// What a researcher does with the files of a folder, as backend.ai-client 23.9.10 sends it: `ls` (`GET files`),
/// `mkdir`, `rm` (`delete-files`), `mv` (`move-file`), `rename-file`, folder `rename`, and the transfers:
/// `request-upload` / `request-download` answer a short-lived signed URL on this daemon's storage endpoint
/// (`StorageRoutes`: tus 1.0 uploads, streamed downloads with `Range`).
///
/// Every path is a `FolderPath` (relative, no `..`, no NUL: 400 naming the field) and is acted on by
/// `FolderFiles`, which never follows a symbolic link. Writing needs a folder the caller may write (`rw`/`wd`,
/// or their own) in a writable status.
struct VFolderFileRoutes {
    let folders: PostgresVFolderStore
    let volumes: StorageVolumes
    let transfers: TransferSettings
    let maxBodySize: Int

    /// How transfer URLs are made and signed.
    struct TransferSettings: Sendable {
        /// The base URL clients reach the storage endpoint at (`storage.public_url`).
        let publicURL: String
        let secret: Data
        let ttl: Duration
    }

    func register(on router: Router<ManagerRequestContext>) {
        router.get("/folders/:name/files", use: self.list)
        router.post("/folders/:name/mkdir", use: self.mkdir)
        router.delete("/folders/:name/delete-files", use: self.deleteFiles)
        router.post("/folders/:name/move-file", use: self.moveFile)
        router.post("/folders/:name/rename-file", use: self.renameFile)
        router.post("/folders/:name/rename", use: self.rename)
        router.post("/folders/:name/request-upload", use: self.requestUpload)
        router.post("/folders/:name/request-download", use: self.requestDownload)
    }

    // MARK: - Reading

    @Sendable func list(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let (folder, files) = try await self.open(context, writing: false)
        // The client sends `{"path": …}` as a JSON body of the GET; `?path=` works too.
        var text: String? = request.uri.queryParameters.get("path")
        if text == nil {
            let body = try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize, allowEmpty: true)
            if case .object = body { text = try JSONFields(body).string("path", maxLength: FolderPath.maxBytes) }
        }
        let path = try Self.path(text ?? ".", field: "path")
        let entries = try await Self.run("vfolder-ls") { try files.list(path) }
        let items: [JSONValue] = entries.map { entry in
            .object([
                ("filename", .string(entry.name)), ("size", .number(Double(entry.size))),
                ("mode", .string(Self.modeString(entry.mode))), ("mtime", .number(entry.modified.rounded(.down))),
                ("type", .string(entry.kind.rawValue)),
            ])
        }
        context.logger.debug("vfolder files listed", metadata: ["vfolder_id": "\(folder.id)", "count": "\(items.count)"])
        // Backend.AI sends the list as a JSON string (the CLI runs `json.loads(result["files"])`).
        return JSONResponse.raw(JSONValue.object([
            ("files", .string(JSONValue.array(items).text)), ("folder_path", .string(path.description)),
        ]).text)
    }

    // MARK: - Changing

    @Sendable func mkdir(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let (_, files) = try await self.open(context, writing: true)
        let fields = try JSONFields(try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize))
        let path = try Self.path(try fields.requiredString("path", maxLength: FolderPath.maxBytes), field: "path", allowRoot: false)
        let parents = try fields.bool("parents") ?? false
        let existOK = try fields.bool("exist_ok") ?? false
        try await Self.run("vfolder-mkdir") { try files.mkdir(path, parents: parents, existOK: existOK) }
        return JSONResponse.raw(#"{"results": []}"#, status: .created)
    }

    @Sendable func deleteFiles(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let (_, files) = try await self.open(context, writing: true)
        let body = try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize)
        let fields = try JSONFields(body)
        guard case .array(let items)? = body["files"], !items.isEmpty, items.count <= 1000 else {
            throw APIError.invalidAPIParams("'files' must be a list of 1 to 1000 paths.")
        }
        let paths = try items.map { item -> FolderPath in
            guard case .string(let text) = item else { throw APIError.invalidAPIParams("'files' must be a list of paths.") }
            return try Self.path(text, field: "files", allowRoot: false)
        }
        let recursive = try fields.bool("recursive") ?? false
        try await Self.run("vfolder-rm") { for path in paths { try files.delete(path, recursive: recursive) } }
        return JSONResponse.raw("{}")
    }

    @Sendable func moveFile(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let (_, files) = try await self.open(context, writing: true)
        let fields = try JSONFields(try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize))
        let source = try Self.path(try fields.requiredString("src", maxLength: FolderPath.maxBytes), field: "src", allowRoot: false)
        let destination = try Self.path(try fields.requiredString("dst", maxLength: FolderPath.maxBytes), field: "dst")
        try await Self.run("vfolder-mv") { try files.move(source, to: destination) }
        return JSONResponse.raw("{}")
    }

    @Sendable func renameFile(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let (_, files) = try await self.open(context, writing: true)
        let fields = try JSONFields(try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize))
        let path = try Self.path(
            try fields.requiredString("target_path", maxLength: FolderPath.maxBytes), field: "target_path", allowRoot: false)
        let newName: String
        switch FolderPath.name(try fields.requiredString("new_name", maxLength: FolderPath.maxComponentBytes)) {
        case .success(let name): newName = name
        case .failure(let problem): throw APIError.invalidAPIParams("'new_name' \(problem.description).")
        }
        try await Self.run("vfolder-rename-file") { try files.rename(path, to: newName) }
        return JSONResponse.raw("{}")
    }

    /// Renames the folder itself (the owner or an admin).
    @Sendable func rename(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let folder = try await self.resolve(context)
        guard identity.isAdmin || folder.isOwned(by: identity) else {
            throw APIError.forbidden("Only the folder's owner or an admin may rename it.")
        }
        let fields = try JSONFields(try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize))
        let name = try VFolderRoutes.name(try fields.requiredString("new_name", maxLength: 256), field: "new_name")
        try await VFolderRoutes.refusing { try await self.folders.rename(folder.id, to: name) }
        return JSONResponse.raw("{}", status: .created)
    }

    // MARK: - Transfers

    @Sendable func requestUpload(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let (folder, files) = try await self.open(context, writing: true)
        let identity = try context.requireIdentity()
        let fields = try JSONFields(try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize))
        let path = try Self.path(try fields.requiredString("path", maxLength: FolderPath.maxBytes), field: "path", allowRoot: false)
        guard case .number(let number)? = fields.pairs["size"], let size = Int64(exactly: number), size >= 0, size < 1 << 50 else {
            throw APIError.invalidAPIParams("'size' must be the file's size in bytes.")
        }
        let root = files.root
        try await VFolderRoutes.refusing {
            try await self.folders.checkWrite(identity, folder: folder, bytes: Int(size)) { try TreeScanner.scan(root).bytes }
        }
        return try self.grant(.upload, folder: folder, path: path, size: size)
    }

    @Sendable func requestDownload(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let (folder, files) = try await self.open(context, writing: false)
        let fields = try JSONFields(try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize))
        let archive = try fields.bool("archive") == true
        let path = try Self.path(try fields.requiredString("path", maxLength: FolderPath.maxBytes), field: "path", allowRoot: archive)
        // Checked now so a wrong path is the caller's 4xx here, not a failed download later.
        let isDirectory = try await Self.run("vfolder-stat") { () -> Bool in
            if archive { return try files.isDirectory(path) }
            let opened = try files.openForReading(path)
            close(opened.descriptor)
            return false
        }
        if archive && !isDirectory {
            throw APIError.invalidAPIParams("'path': '\(path.description.prefix(256))' is a file; 'archive' is for directories.")
        }
        return try self.grant(.download, folder: folder, path: path, size: nil, archive: archive)
    }

    private func grant(
        _ operation: TransferToken.Operation, folder: VFolderRecord, path: FolderPath, size: Int64?, archive: Bool = false
    ) throws -> Response {
        let token = TransferToken(
            id: UUID().uuidString.lowercased(), operation: operation, folder: folder.id, host: folder.host,
            path: path.description, size: size,
            expires: Int64(Date().timeIntervalSince1970) + self.transfers.ttl.components.seconds, archive: archive ? true : nil)
        let url = self.transfers.publicURL + (operation == .upload ? StorageRoutes.uploadPath : StorageRoutes.downloadPath)
        return JSONResponse.raw(JSONValue.object([
            ("token", .string(token.encoded(secret: self.transfers.secret))), ("url", .string(url)),
        ]).text)
    }

    // MARK: - Helpers

    func resolve(_ context: ManagerRequestContext) async throws -> VFolderRecord {
        let identity = try context.requireIdentity()
        guard let reference = context.parameters.get("name"), !reference.isEmpty, reference.count <= 64 else {
            throw APIError.invalidAPIParams("The folder name is missing or too long.")
        }
        guard let folder = try await self.folders.find(reference, identity: identity) else {
            throw VFolderRoutes.notFound(reference)
        }
        return folder
    }

    /// The folder and its files, checked for what the caller is about to do.
    private func open(_ context: ManagerRequestContext, writing: Bool) async throws -> (VFolderRecord, FolderFiles) {
        let identity = try context.requireIdentity()
        let folder = try await self.resolve(context)
        if writing {
            // Owners and admins write; others by their own permission (shared) or the folder's (project).
            guard try await self.folders.effectivePermission(folder, identity: identity) != .readOnly else {
                throw APIError.forbidden("The folder '\(folder.name)' is read-only for you.")
            }
            guard folder.status.isUpdatable else {
                throw APIError.conflict("vfolder-filter-status-failed", title: "The folder cannot be changed in its current status.",
                                        msg: "The folder '\(folder.name)' is '\(folder.status.rawValue)'.")
            }
        } else if !folder.status.isReadable {
            throw VFolderRoutes.notFound(folder.name)
        }
        guard let root = self.volumes.path(host: folder.host, folderID: folder.id) else {
            throw APIError.conflict("vfolder-host-unavailable", title: "The folder's volume is not available here.",
                                    msg: "The volume '\(folder.host)' is not configured on this manager.")
        }
        return (folder, FolderFiles(root: root))
    }

    static func path(_ text: String, field: String, allowRoot: Bool = true) throws -> FolderPath {
        switch FolderPath.parse(text, allowRoot: allowRoot) {
        case .success(let path): return path
        case .failure(let problem): throw APIError.invalidAPIParams("'\(field)' \(problem.description).")
        }
    }

    /// Runs filesystem work on the blocking executor, its failures as the API's problems.
    static func run<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        do {
            return try await BlockingExecutor.shared.run(name: name, body)
        } catch let failure as FolderFiles.Failure {
            throw Self.apiError(failure)
        }
    }

    static func apiError(_ failure: FolderFiles.Failure) -> APIError {
        switch failure {
        case .notFound: return .notFound("vfolder-file-not-found", title: "No such file or directory.", msg: failure.description)
        case .exists: return .conflict("vfolder-file-exists", title: "The file or directory already exists.", msg: failure.description)
        case .notDirectory, .isDirectory, .notEmpty, .symbolicLink, .invalid: return .invalidAPIParams(failure.description)
        case .io(_, let code) where code == EACCES || code == EPERM: return .forbidden(failure.description)
        case .io(_, let code) where code == ENOSPC || code == EDQUOT:
            return .conflict("vfolder-storage-full", title: "The storage is full.", msg: failure.description)
        case .io: return APIError(status: .internalServerError, kind: "vfolder-io-error", title: "The storage failed.", msg: failure.description)
        }
    }

    /// `stat.filemode` as Python prints it: `drwxr-xr-x`.
    static func modeString(_ mode: UInt32) -> String {
        let kind: Character
        switch FolderFiles.kind(mode) {
        case .directory: kind = "d"
        case .symbolicLink: kind = "l"
        case .file: kind = "-"
        case .other: kind = "?"
        }
        let letters: [Character] = ["r", "w", "x"]
        var text = String(kind)
        for bit in (0..<9).reversed() { text.append(mode & (1 << UInt32(bit)) != 0 ? letters[(8 - bit) % 3] : "-") }
        return text
    }
}
