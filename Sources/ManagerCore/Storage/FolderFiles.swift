import CFileCopy
import Foundation
import SchedulerKit
#if canImport(Glibc)
import Glibc
#endif

/// Filesystem operations inside one folder's directory, never outside it. A path is walked part by part from the
/// folder's root with `openat(O_NOFOLLOW | O_DIRECTORY)`, and the last part is acted on with the `*at` calls
/// relative to its parent, so a symbolic link anywhere (a session can make one in a folder it mounts rw) is refused,
/// never followed: nothing outside the folder can be listed, read, written or removed through one.
///
/// New files and folders get the owner of the folder's root, so sessions (which run as the sandbox user) can
/// write what was uploaded. Every call blocks: run it on `BlockingExecutor`.
struct FolderFiles: Sendable {
    let root: String

    enum Failure: Error, Equatable, CustomStringConvertible {
        case notFound(String)
        case exists(String)
        case notDirectory(String)
        case isDirectory(String)
        case notEmpty(String)
        case symbolicLink(String)
        /// Something the request asks for cannot be done (moving a directory into itself).
        case invalid(String)
        case io(String, Int32)

        var description: String {
            switch self {
            case .notFound(let path): return "'\(path.prefix(256))' does not exist"
            case .exists(let path): return "'\(path.prefix(256))' already exists"
            case .notDirectory(let path): return "'\(path.prefix(256))' is not a directory"
            case .isDirectory(let path): return "'\(path.prefix(256))' is a directory"
            case .notEmpty(let path): return "'\(path.prefix(256))' is a directory that is not empty (use recursive)"
            case .symbolicLink(let path): return "'\(path.prefix(256))' goes through a symbolic link, which is not followed"
            case .invalid(let reason): return reason
            case .io(let path, let code): return "'\(path.prefix(256))': \(String(cString: strerror(code)))"
            }
        }
    }

    enum Kind: String, Sendable {
        case file = "FILE"
        case directory = "DIRECTORY"
        case symbolicLink = "SYMLINK"
        case other = "OTHER"
    }

    struct Entry: Sendable, Equatable {
        let name: String
        let kind: Kind
        let size: Int64
        let mode: UInt32
        let modified: Double
    }

    /// What an opened file is.
    struct Opened: Sendable {
        let descriptor: Int32
        let size: Int64
        let modified: Double
    }

    // MARK: walking

    /// A descriptor of the directory `path` (the root for the empty path); with `create`, missing directories are
    /// made. The caller closes it.
    func directory(_ path: FolderPath, create: Bool = false) throws -> Int32 {
        var current = open(self.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard current >= 0 else { throw Failure.io(".", errno) }
        var walked: [String] = []
        for part in path.components {
            walked.append(part)
            var next = openat(current, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0, errno == ENOENT, create {
                if mkdirat(current, part, 0o755) != 0, errno != EEXIST {
                    let code = errno
                    close(current)
                    throw Failure.io(walked.joined(separator: "/"), code)
                }
                self.giveOwnership(parent: current, name: part)
                next = openat(current, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            var code = errno
            // With O_DIRECTORY, a symbolic link reads as "not a directory": say what it is.
            if next < 0, code == ENOTDIR || code == ELOOP, let info = self.stat(at: current, part),
                Self.kind(info.mode) == .symbolicLink
            {
                code = ELOOP
            }
            close(current)
            guard next >= 0 else { throw Self.failure(code, walked.joined(separator: "/")) }
            current = next
        }
        return current
    }

    /// Maps errno from opening a directory along a path.
    private static func failure(_ code: Int32, _ path: String) -> Failure {
        switch code {
        case ENOENT: return .notFound(path)
        case ENOTDIR: return .notDirectory(path)
        // O_NOFOLLOW on a symbolic link.
        case ELOOP: return .symbolicLink(path)
        default: return .io(path, code)
        }
    }

    private func stat(at directory: Int32, _ name: String) -> cfc_stat? {
        var info = cfc_stat()
        return cfc_lstatat(directory, name, &info) == 0 ? info : nil
    }

    /// The owner of the folder's root, given to what we create.
    private func giveOwnership(parent: Int32, name: String) {
        var rootInfo = cfc_stat()
        let rootFD = open(self.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { return }
        defer { close(rootFD) }
        guard cfc_fstat(rootFD, &rootInfo) == 0 else { return }
        _ = fchownat(parent, name, rootInfo.uid, rootInfo.gid, AT_SYMLINK_NOFOLLOW)
    }

    static func kind(_ mode: UInt32) -> Kind {
        switch mode_t(mode) & FileMode.typeMask {
        case FileMode.directory: return .directory
        case FileMode.regular: return .file
        case FileMode.symbolicLink: return .symbolicLink
        default: return .other
        }
    }

    // MARK: operations

    /// The entries of the directory `path`, sorted by name (at most `limit`).
    func list(_ path: FolderPath, limit: Int = 10_000) throws -> [Entry] {
        let directory = try self.directory(path)
        defer { close(directory) }
        var entries: [Entry] = []
        for name in try directoryEntries(directory, path: path.description) {
            let text = name.display
            // Uploads in progress and directories being removed are ours, not the user's.
            if path.isRoot && (text == Self.uploadsDirectory || text.hasPrefix(".trash-")) { continue }
            guard let info = self.stat(at: directory, text) else { continue }
            entries.append(Entry(
                name: text, kind: Self.kind(info.mode), size: info.size, mode: info.mode,
                modified: Double(info.mtime_sec) + Double(info.mtime_nsec) / 1e9))
            if entries.count >= limit { break }
        }
        return entries.sorted { $0.name < $1.name }
    }

    func mkdir(_ path: FolderPath, parents: Bool, existOK: Bool) throws {
        guard let name = path.name else { throw Failure.exists(".") }
        let parent = parents ? try self.directory(path.parent, create: true) : try self.directory(path.parent)
        defer { close(parent) }
        if mkdirat(parent, name, 0o755) != 0 {
            let code = errno
            if code == EEXIST {
                if existOK, let info = self.stat(at: parent, name), Self.kind(info.mode) == .directory { return }
                throw Failure.exists(path.description)
            }
            throw Failure.io(path.description, code)
        }
        self.giveOwnership(parent: parent, name: name)
    }

    /// Removes a file or a symbolic link (never what it points to), or a directory (with `recursive` when not empty).
    func delete(_ path: FolderPath, recursive: Bool) throws {
        guard let name = path.name else { throw Failure.isDirectory(".") }
        let parent = try self.directory(path.parent)
        defer { close(parent) }
        guard let info = self.stat(at: parent, name) else { throw Failure.notFound(path.description) }
        guard Self.kind(info.mode) == .directory else {
            guard unlinkat(parent, name, 0) == 0 else { throw Failure.io(path.description, errno) }
            return
        }
        if unlinkat(parent, name, AT_REMOVEDIR) == 0 { return }
        let code = errno
        guard code == ENOTEMPTY || code == EEXIST else { throw Failure.io(path.description, code) }
        guard recursive else { throw Failure.notEmpty(path.description) }
        // The directory is moved aside inside the folder first, then removed by descriptor (`TreeRemover`), so
        // nothing it holds is reached by path.
        let trash = ".trash-\(UUID().uuidString.lowercased())"
        guard renameat(parent, name, parent, trash) == 0 else { throw Failure.io(path.description, errno) }
        let base = path.parent.isRoot ? self.root : self.root + "/" + path.parent.description
        do {
            try TreeRemover.remove(base + "/" + trash)
        } catch {
            throw Failure.io(path.description, EIO)
        }
    }

    /// Moves `source` to `destination`; into it when it is an existing directory, else replacing a file there.
    func move(_ source: FolderPath, to destination: FolderPath) throws {
        guard let sourceName = source.name else { throw Failure.isDirectory(".") }
        if source.contains(destination) && source != destination {
            throw Failure.invalid("cannot move '\(source.description.prefix(256))' into itself")
        }
        let from = try self.directory(source.parent)
        defer { close(from) }
        guard self.stat(at: from, sourceName) != nil else { throw Failure.notFound(source.description) }
        var target = destination
        if destination.isRoot || (try? self.isDirectory(destination)) == true {
            target = destination.appending(FolderPath(components: [sourceName]))
        }
        guard let targetName = target.name else { throw Failure.exists(".") }
        let to = try self.directory(target.parent)
        defer { close(to) }
        guard renameat(from, sourceName, to, targetName) == 0 else {
            let code = errno
            throw code == ENOENT ? Failure.notFound(source.description) : code == EISDIR || code == ENOTEMPTY || code == EEXIST
                ? Failure.exists(target.description) : Failure.io(target.description, code)
        }
    }

    /// Renames `path` within its directory; refuses to replace an existing name.
    func rename(_ path: FolderPath, to name: String) throws {
        guard let current = path.name else { throw Failure.isDirectory(".") }
        let parent = try self.directory(path.parent)
        defer { close(parent) }
        guard self.stat(at: parent, current) != nil else { throw Failure.notFound(path.description) }
        if self.stat(at: parent, name) != nil { throw Failure.exists(path.parent.appending(FolderPath(components: [name])).description) }
        guard renameat(parent, current, parent, name) == 0 else { throw Failure.io(path.description, errno) }
    }

    func isDirectory(_ path: FolderPath) throws -> Bool {
        guard let name = path.name else { return true }
        let parent = try self.directory(path.parent)
        defer { close(parent) }
        guard let info = self.stat(at: parent, name) else { throw Failure.notFound(path.description) }
        return Self.kind(info.mode) == .directory
    }

    /// Opens a regular file for reading (not through a link, not a directory); the caller closes it.
    func openForReading(_ path: FolderPath) throws -> Opened {
        guard let name = path.name else { throw Failure.isDirectory(".") }
        let parent = try self.directory(path.parent)
        defer { close(parent) }
        let descriptor = openat(parent, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { throw Self.failure(errno, path.description) }
        var info = cfc_stat()
        guard cfc_fstat(descriptor, &info) == 0 else {
            let code = errno
            close(descriptor)
            throw Failure.io(path.description, code)
        }
        guard Self.kind(info.mode) == .file else {
            close(descriptor)
            throw Self.kind(info.mode) == .directory ? Failure.isDirectory(path.description) : Failure.notFound(path.description)
        }
        return Opened(descriptor: descriptor, size: info.size, modified: Double(info.mtime_sec) + Double(info.mtime_nsec) / 1e9)
    }

    /// Writes `bytes` as the file `path` (replacing a file there, never a directory), making the directories on
    /// the way: into a hidden file beside it first, then one rename, so the file appears whole or not at all.
    func write(_ bytes: Data, to path: FolderPath) throws {
        guard let name = path.name else { throw Failure.isDirectory(".") }
        let parent = try self.directory(path.parent, create: true)
        defer { close(parent) }
        if let existing = self.stat(at: parent, name), Self.kind(existing.mode) == .directory {
            throw Failure.isDirectory(path.description)
        }
        let temporary = ".write-\(UUID().uuidString.lowercased())"
        let descriptor = openat(parent, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw Failure.io(path.description, errno) }
        var written = 0
        let failure: Int32? = bytes.withUnsafeBytes { buffer -> Int32? in
            while written < buffer.count {
                let count = Glibc.write(descriptor, buffer.baseAddress.map { $0 + written }, buffer.count - written)
                if count < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                written += count
            }
            return nil
        }
        close(descriptor)
        if let failure {
            unlinkat(parent, temporary, 0)
            throw Failure.io(path.description, failure)
        }
        self.giveOwnership(parent: parent, name: temporary)
        guard renameat(parent, temporary, parent, name) == 0 else {
            let code = errno
            unlinkat(parent, temporary, 0)
            throw Failure.io(path.description, code)
        }
    }

    // MARK: uploads

    /// Where uploads in progress gather: a hidden directory beside the folders of the volume, one part file per
    /// upload named `<folder>.<upload id>`. On the folder's filesystem, so completing one is a single rename;
    /// outside every folder, so no session that mounts one sees them. `UploadPartSweeper` removes abandoned ones.
    static let uploadsDirectory = ".upload-parts"

    var partsRoot: String { (self.root as NSString).deletingLastPathComponent + "/" + Self.uploadsDirectory }

    private func partName(_ id: String) -> String { (self.root as NSString).lastPathComponent + "." + id }

    /// The parts directory (made when missing, never through a link); the caller closes it.
    private func partsDirectory() throws -> Int32 {
        if Glibc.mkdir(self.partsRoot, 0o700) != 0, errno != EEXIST { throw Failure.io(Self.uploadsDirectory, errno) }
        let descriptor = open(self.partsRoot, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure.io(Self.uploadsDirectory, errno) }
        return descriptor
    }

    /// The bytes received so far of upload `id` (0 when none).
    func uploadedBytes(_ id: String) throws -> Int64 {
        let parts = try self.partsDirectory()
        defer { close(parts) }
        return self.stat(at: parts, self.partName(id))?.size ?? 0
    }

    /// Opens upload `id`'s part file for appending at `offset` (which must be what it holds); the caller closes it.
    func openPart(_ id: String, at offset: Int64) throws -> Int32 {
        let parts = try self.partsDirectory()
        defer { close(parts) }
        let descriptor = openat(parts, self.partName(id), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Failure.io(Self.uploadsDirectory + "/" + id, errno) }
        var info = cfc_stat()
        guard cfc_fstat(descriptor, &info) == 0, info.size == offset, lseek(descriptor, off_t(offset), SEEK_SET) == off_t(offset) else {
            close(descriptor)
            throw Failure.io(Self.uploadsDirectory + "/" + id, ESPIPE)
        }
        return descriptor
    }

    /// Moves upload `id`'s complete part file to `path` (replacing a file there, never a directory), making the
    /// directories on the way, in one rename: the file appears whole or not at all.
    func completeUpload(_ id: String, at path: FolderPath) throws {
        guard let name = path.name else { throw Failure.isDirectory(".") }
        let parts = try self.partsDirectory()
        defer { close(parts) }
        let parent = try self.directory(path.parent, create: true)
        defer { close(parent) }
        if let existing = self.stat(at: parent, name), Self.kind(existing.mode) == .directory {
            throw Failure.isDirectory(path.description)
        }
        let part = openat(parts, self.partName(id), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        if part >= 0 {
            _ = fsync(part)
            fchmod(part, 0o644)
            close(part)
        }
        guard renameat(parts, self.partName(id), parent, name) == 0 else { throw Failure.io(path.description, errno) }
        self.giveOwnership(parent: parent, name: name)
    }
}
