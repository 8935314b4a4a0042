import Foundation
import HTTPTypes
import Hummingbird
import Logging
import SchedulerKit

/// The `/folders` routes the Backend.AI client uses: hosts, create, list, info, delete (to the trash), purge,
/// restore, and clone (a background task).
struct VFolderRoutes {
    let folders: PostgresVFolderStore
    let volumes: StorageVolumes
    let tasks: BackgroundTaskService
    let cloneRateLimit: Int64
    let maxBodySize: Int

    func register(on router: Router<ManagerRequestContext>) {
        router.get("/folders/_/hosts", use: self.hosts)
        router.get("/folders/_/all-hosts", use: self.hosts)
        router.get("/folders/_/all_hosts", use: self.hosts)
        router.get("/folders/_/allowed-types", use: self.allowedTypes)
        router.get("/folders/_/allowed_types", use: self.allowedTypes)
        router.post("/folders", use: self.create)
        router.get("/folders", use: self.list)
        router.delete("/folders", use: self.deleteByID)
        router.post("/folders/purge", use: self.purge)
        router.post("/folders/restore-from-trash-bin", use: self.restore)
        router.get("/folders/:name", use: self.info)
        router.delete("/folders/:name", use: self.delete)
        router.post("/folders/:name/clone", use: self.clone)
    }

    // MARK: - Hosts

    @Sendable func hosts(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        _ = try context.requireIdentity()
        var info: [(key: String, value: JSONValue)] = []
        for volume in self.volumes.volumes {
            info.append((volume.host, .object([
                ("backend", .string("vfs")), ("capabilities", .array([.string("vfolder")])),
                ("usage", .object([("free_bytes", self.volumes.freeBytes(volume.host).map { .number(Double($0)) } ?? .null)])),
            ])))
        }
        let body = JSONValue.object([
            ("default", self.volumes.defaultHost.map(JSONValue.string) ?? .null),
            ("allowed", .array(self.volumes.hosts.map(JSONValue.string))),
            ("volume_info", .object(info)),
        ])
        return JSONResponse.raw(body.text)
    }

    @Sendable func allowedTypes(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        _ = try context.requireIdentity()
        return JSONResponse.raw(#"["user", "group"]"#)
    }

    // MARK: - Create, list, info

    @Sendable func create(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let fields = try JSONFields(try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize))
        if let unmanaged = try fields.string("unmanaged_path"), !unmanaged.isEmpty {
            throw APIError.invalidAPIParams("'unmanaged_path': unmanaged folders are not supported.")
        }
        let creation = VFolderCreation(
            name: try Self.name(try fields.requiredString("name", maxLength: 256), field: "name"),
            host: try self.host(try fields.string("host", "folder_host"), field: "host"),
            usageMode: try fields.choice("usage_mode", as: VFolderUsageMode.self) ?? .general,
            permission: try fields.choice("permission", as: VFolderPermission.self) ?? .readWrite,
            cloneable: try fields.bool("cloneable") ?? false,
            group: try fields.string("group", "groupId", "group_id", maxLength: 64))
        let volumes = self.volumes
        let folder = try await Self.refusing {
            try await self.folders.create(creation, identity: identity) { id in
                guard let path = volumes.path(host: creation.host, folderID: id) else { return }
                guard mkdir(path, 0o755) == 0 else { throw FileSystemError("mkdir", path) }
            }
        }
        context.logger.info("vfolder created", metadata: ["vfolder_id": "\(folder.id)", "vfolder_name": "\(folder.name)"])
        return JSONResponse.raw(Self.summary(folder).text, status: .created)
    }

    @Sendable func list(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        var everyone = request.uri.queryParameters.get("all") == "true"
        let body = try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize, allowEmpty: true)
        if let all = try JSONFields(body).bool("all") { everyone = everyone || all }
        if everyone && !identity.isAdmin { everyone = false }
        let (items, _) = try await self.folders.list(
            identity: identity, scope: everyone ? .everyone : .visible, limit: 1000, offset: 0)
        return JSONResponse.raw(JSONValue.array(items.map { Self.summary($0, for: identity) }).text)
    }

    @Sendable func info(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let folder = try await self.resolve(context)
        var totals = TreeScanner.Totals(files: folder.numFiles, bytes: Int64(folder.curSize))
        if let path = self.volumes.path(host: folder.host, folderID: folder.id), folder.status != .cloning {
            totals = (try? await BlockingExecutor.shared.run(name: "vfolder-usage") { try TreeScanner.scan(path) }) ?? totals
        }
        let body = JSONValue.object([
            ("name", .string(folder.name)), ("id", .string(folder.hexID)),
            ("quota_scope_id", .string(Self.quotaScope(folder))), ("host", .string(folder.host)),
            ("status", .string(folder.status.rawValue)), ("numFiles", .number(Double(totals.files))),
            ("num_files", .number(Double(totals.files))), ("used_bytes", .number(Double(totals.bytes))),
            ("cur_size", .number(Double(totals.bytes))), ("max_size", .number(0)),
            ("created_at", .string(Timestamp.pythonISO(folder.createdAt))),
            ("last_used", folder.lastUsed.map { .string(Timestamp.pythonISO($0)) } ?? .null),
            ("user", folder.userID.map { .string($0.uuidString.lowercased()) } ?? .null),
            ("group", folder.groupID.map { .string($0.uuidString.lowercased()) } ?? .null),
            // Backend.AI: a project folder is "owned" by admins (the CLI checks it before update-options).
            ("type", .string(folder.ownershipType)), ("is_owner", .bool(folder.isOwned(by: identity) || (folder.groupID != nil && identity.isAdmin))),
            ("permission", .string(folder.permission)), ("usage_mode", .string(folder.usageMode)),
            ("cloneable", .bool(folder.cloneable)),
        ])
        return JSONResponse.raw(body.text)
    }

    // MARK: - Delete, purge, restore

    @Sendable func delete(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let folder = try await self.resolve(context)
        try self.requireManage(folder, identity: identity)
        try await Self.refusing { try await self.folders.trash(folder.id) }
        context.logger.info("vfolder moved to the trash", metadata: ["vfolder_id": "\(folder.id)"])
        return Response(status: .noContent)
    }

    @Sendable func deleteByID(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let folder = try await self.folderByID(request, context: context)
        try self.requireManage(folder, identity: identity)
        try await Self.refusing { try await self.folders.trash(folder.id) }
        return Response(status: .noContent)
    }

    @Sendable func restore(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let folder = try await self.folderByID(request, context: context)
        try self.requireManage(folder, identity: identity)
        try await Self.refusing { try await self.folders.restore(folder.id) }
        return Response(status: .noContent)
    }

    @Sendable func purge(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let folder = try await self.folderByID(request, context: context)
        try self.requireManage(folder, identity: identity)
        try await Self.refusing { try await self.folders.beginPurge(folder.id) }
        var succeeded = true
        if let path = self.volumes.path(host: folder.host, folderID: folder.id) {
            do {
                try await BlockingExecutor.shared.run(name: "vfolder-purge") { try TreeRemover.remove(path) }
            } catch {
                succeeded = false
                context.logger.error("purging a vfolder failed", metadata: ["vfolder_id": "\(folder.id)", "error": "\(error)"])
            }
        }
        try await self.folders.finishPurge(folder.id, succeeded: succeeded)
        guard succeeded else { throw APIError(status: .internalServerError, kind: "vfolder-operation-failed",
                                              title: "Removing the folder's files failed.", msg: nil) }
        return Response(status: .noContent)
    }

    // MARK: - Clone

    @Sendable func clone(_ request: Request, context: ManagerRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let source = try await self.resolve(context)
        let fields = try JSONFields(try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize))
        let target = VFolderCreation(
            name: try Self.name(try fields.requiredString("target_name", maxLength: 256), field: "target_name"),
            host: try self.host(try fields.string("target_host"), field: "target_host"),
            usageMode: try fields.choice("usage_mode", as: VFolderUsageMode.self) ?? .general,
            permission: try fields.choice("permission", as: VFolderPermission.self) ?? .readWrite,
            cloneable: try fields.bool("cloneable") ?? false, group: nil)
        guard source.cloneable else { throw APIError.forbidden("The source vfolder is not permitted to be cloned.") }
        guard source.status.isUpdatable else {
            throw APIError.conflict("vfolder-filter-status-failed", title: "The folder cannot be cloned now.",
                                    msg: "The source vfolder is '\(source.status.rawValue)'; it must be ready or mounted.")
        }
        guard let sourcePath = self.volumes.path(host: source.host, folderID: source.id) else {
            throw APIError.conflict("vfolder-host-unavailable", title: "The source folder's volume is not available here.",
                                    msg: "The volume '\(source.host)' is not configured on this manager.")
        }
        let usage: TreeScanner.Totals
        do {
            usage = try await BlockingExecutor.shared.run(name: "clone-size") { try TreeScanner.scan(sourcePath) }
        } catch is TreeWalk.TooDeep {
            throw APIError.conflict("vfolder-tree-too-deep", title: "The folder cannot be cloned.",
                                    msg: "The source folder's tree is deeper than \(TreeWalk.maxDepth) levels.")
        }
        if let free = self.volumes.freeBytes(target.host), usage.bytes > free {
            throw APIError.invalidAPIParams("Not enough space available for clone.")
        }
        let taskID = UUID()
        let volumes = self.volumes
        let rateLimit = self.cloneRateLimit
        let created = try await Self.refusing {
            try await self.folders.beginClone(
                bytes: Int(clamping: usage.bytes),
                source: source, target: target, identity: identity, taskID: taskID,
                params: { id in
                    VFolderCloneJob(sourcePath: sourcePath, targetPath: volumes.path(host: target.host, folderID: id) ?? "",
                                    targetID: id, rateLimit: rateLimit).params
                },
                replica: self.tasks.replica, lease: self.tasks.lease)
        }
        guard let targetPath = self.volumes.path(host: created.host, folderID: created.id) else {
            throw APIError.invalidAPIParams("'target_host': unknown storage host.")
        }
        self.tasks.start(
            VFolderCloneJob(sourcePath: sourcePath, targetPath: targetPath, targetID: created.id, rateLimit: rateLimit), id: taskID)
        context.logger.info("vfolder clone started", metadata: [
            "task_id": "\(taskID)", "source_id": "\(source.id)", "vfolder_id": "\(created.id)",
        ])
        guard case .object(var pairs) = Self.summary(created) else { throw APIError.internalError(requestID: "") }
        pairs.append(("bgtask_id", .string(taskID.uuidString.lowercased())))
        return JSONResponse.raw(JSONValue.object(pairs).text, status: .created)
    }

    // MARK: - Helpers

    static func name(_ text: String, field: String) throws -> VFolderName {
        switch VFolderName.parse(text, field: field) {
        case .success(let name): return name
        case .failure(let refusal): throw APIError.invalidAPIParams(refusal.description)
        }
    }

    func host(_ text: String?, field: String) throws -> String {
        guard let host = text ?? self.volumes.defaultHost else {
            throw APIError.invalidAPIParams("'\(field)' is required: no default storage host is configured.")
        }
        guard self.volumes.volume(host) != nil else {
            throw APIError.invalidAPIParams(
                "'\(field)': '\(host.prefix(64))' is not a storage host (allowed: \(self.volumes.hosts.joined(separator: ", "))).")
        }
        return host
    }

    func resolve(_ context: ManagerRequestContext) async throws -> VFolderRecord {
        let identity = try context.requireIdentity()
        guard let reference = context.parameters.get("name"), !reference.isEmpty, reference.count <= 64 else {
            throw APIError.invalidAPIParams("The folder name is missing or too long.")
        }
        guard let folder = try await self.folders.find(reference, identity: identity) else {
            throw Self.notFound(reference)
        }
        return folder
    }

    func folderByID(_ request: Request, context: ManagerRequestContext) async throws -> VFolderRecord {
        let identity = try context.requireIdentity()
        let fields = try JSONFields(try await JSONResponse.decode(JSONValue.self, from: request, limit: self.maxBodySize))
        let reference = try fields.requiredString("id", "vfolder_id", maxLength: 64)
        guard UUID(uuidString: reference) != nil || PostgresVFolderStore.uuid(hex: reference) != nil else {
            throw APIError.invalidAPIParams("'id': '\(reference.prefix(64))' is not a folder id.")
        }
        guard let folder = try await self.folders.find(reference, identity: identity) else { throw Self.notFound(reference) }
        return folder
    }

    static func notFound(_ reference: String) -> APIError {
        .notFound("vfolder-not-found", title: "Virtual folder not found.", msg: "No folder '\(reference.prefix(64))' you can reach.")
    }

    /// Owners manage their folders; project folders and other users' folders need an admin.
    func requireManage(_ folder: VFolderRecord, identity: Identity) throws {
        guard identity.isAdmin || folder.isOwned(by: identity) else {
            throw APIError.forbidden("Only the folder's owner or an admin may do this.")
        }
    }

    static func refusing<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let refusal as VFolderRefusal {
            throw Self.apiError(refusal)
        }
    }

    static func apiError(_ refusal: VFolderRefusal) -> APIError {
        switch refusal {
        case .duplicateName(let name):
            return .conflict("vfolder-already-exists", title: "The virtual folder already exists with the same name.",
                             msg: "A folder named '\(name)' already exists.")
        case .unknownGroup(let reference):
            return .invalidAPIParams("'group': there is no active project '\(reference.prefix(64))'.")
        case .notGroupMember(let reference):
            return .forbidden("You are not a member of the project '\(reference.prefix(64))'.")
        case .wrongStatus(let name, let status, let operation):
            return .conflict("vfolder-filter-status-failed", title: "The folder cannot be changed in its current status.",
                             msg: "Cannot \(operation) the folder '\(name)' while it is '\(status.rawValue)'.")
        case .mounted(let name, let sessions):
            return .conflict("vfolder-in-use", title: "The folder is mounted by a live session.",
                             msg: "Cannot delete the folder '\(name)': mounted by \(sessions.joined(separator: ", ")).")
        case .notCloneable:
            return .forbidden("The source vfolder is not permitted to be cloned.")
        case .tooManyFolders:
            // Backend.AI's words.
            return .invalidAPIParams("You cannot create more vfolders.")
        case .hostNotAllowed(let host):
            return .forbidden(
                "You are not allowed to create folders on the host '\(host.prefix(128))' (your keypair resource policy's allowed_vfolder_hosts).")
        case .tooLarge(let bytes, let limit):
            return APIError(status: .preconditionFailed, kind: "quota-exceeded", title: "You have reached your resource limit.",
                            msg: "The folder would hold \(bytes) bytes; your resource policy's max_vfolder_size is \(limit).")
        }
    }

    static func quotaScope(_ folder: VFolderRecord) -> String {
        if let user = folder.userID { return "user:" + user.uuidString.lowercased() }
        return "project:" + (folder.groupID?.uuidString.lowercased() ?? "")
    }

    /// The folder as create, clone and list answer it.
    static func summary(_ folder: VFolderRecord, for identity: Identity? = nil) -> JSONValue {
        var pairs: [(key: String, value: JSONValue)] = [
            ("id", .string(folder.hexID)), ("name", .string(folder.name)), ("quota_scope_id", .string(Self.quotaScope(folder))),
            ("host", .string(folder.host)), ("usage_mode", .string(folder.usageMode)), ("permission", .string(folder.permission)),
            ("max_size", .number(0)), ("creator", .string(folder.creator)), ("ownership_type", .string(folder.ownershipType)),
            ("user", folder.userID.map { .string($0.uuidString.lowercased()) } ?? .null),
            ("group", folder.groupID.map { .string($0.uuidString.lowercased()) } ?? .null),
            ("cloneable", .bool(folder.cloneable)), ("status", .string(folder.status.rawValue)),
        ]
        if let identity {
            pairs += [
                ("created_at", .string(Timestamp.pythonISO(folder.createdAt))), ("is_owner", .bool(folder.isOwned(by: identity) || (folder.groupID != nil && identity.isAdmin))),
                ("type", .string(folder.ownershipType)), ("group_name", folder.groupName.map(JSONValue.string) ?? .null),
                ("max_files", .number(0)), ("cur_size", .number(Double(folder.curSize))),
            ]
        }
        return .object(pairs)
    }
}
