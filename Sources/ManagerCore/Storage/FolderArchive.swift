import CFileCopy
import Foundation
import SchedulerKit
#if canImport(Glibc)
import Glibc
#endif

/// A tar archive of paths inside one folder, produced a piece at a time so a folder of any size streams in bounded
/// memory: `next(upTo:)` returns the next bytes (headers, file contents, padding, the trailer) and nil at the end.
///
/// The walk is `FolderFiles`'s: from the folder's root with `openat(O_NOFOLLOW)`, one descriptor per level (an
/// explicit stack, at most `TreeWalk.maxDepth` deep), symbolic links and special files left out, never followed.
/// Each path is archived under its own last name (the root's entries at the top), the way `docker cp` and
/// Backend.AI's downloads name them. A file that shrinks while it is read is padded with zeros to the size its
/// header gave, so the archive stays readable.
///
/// Blocking: call `next` on `BlockingExecutor`, from one task at a time; `close()` releases what is still open.
final class FolderArchive: @unchecked Sendable {
    private struct Level {
        let descriptor: Int32
        let prefix: String
        let names: [String]
        var next: Int
        /// The folder's own root, whose bookkeeping entries (`.upload-parts`, `.trash-*`) are not the user's.
        let isFolderRoot: Bool
    }

    private struct OpenFile {
        let descriptor: Int32
        let size: Int64
        var remaining: Int64
    }

    private let files: FolderFiles
    private var roots: [FolderPath]
    private var stack: [Level] = []
    private var current: OpenFile?
    private var finished = false
    /// Bytes of entries produced so far (headers and contents), for callers that cap an archive.
    private(set) var produced: Int64 = 0

    init(files: FolderFiles, paths: [FolderPath]) {
        self.files = files
        self.roots = paths
    }

    deinit { self.close() }

    func close() {
        if let file = self.current { Glibc.close(file.descriptor) }
        self.current = nil
        for level in self.stack { Glibc.close(level.descriptor) }
        self.stack.removeAll()
    }

    /// The next bytes of the archive (at most about `limit` plus one header), or nil when it is complete.
    func next(upTo limit: Int = 1 << 20) throws -> [UInt8]? {
        var out: [UInt8] = []
        while out.count < limit {
            if var file = self.current {
                let count = Int(min(file.remaining, Int64(limit - out.count)))
                var chunk = [UInt8](repeating: 0, count: count)
                let read = chunk.withUnsafeMutableBytes { Glibc.read(file.descriptor, $0.baseAddress, count) }
                // Shrunk or unreadable mid-way: zeros keep the size the header promised.
                if read > 0 { chunk.removeLast(count - read) }
                out += chunk
                file.remaining -= Int64(chunk.count)
                if file.remaining <= 0 {
                    out += TarFormat.padding(file.size)
                    Glibc.close(file.descriptor)
                    self.current = nil
                } else {
                    self.current = file
                }
                continue
            }
            if var level = self.stack.last {
                guard level.next < level.names.count else {
                    Glibc.close(level.descriptor)
                    self.stack.removeLast()
                    continue
                }
                let name = level.names[level.next]
                level.next += 1
                self.stack[self.stack.count - 1] = level
                if level.isFolderRoot, name == FolderFiles.uploadsDirectory || name.hasPrefix(".trash-") { continue }
                out += self.enter(parent: level.descriptor, name: name, archivedAs: level.prefix + name)
                continue
            }
            if !self.roots.isEmpty {
                let root = self.roots.removeFirst()
                if let name = root.name {
                    let parent = try self.files.directory(root.parent)
                    defer { Glibc.close(parent) }
                    let header = self.enter(parent: parent, name: name, archivedAs: name)
                    guard !header.isEmpty else { throw FolderFiles.Failure.notFound(root.description) }
                    out += header
                } else {
                    let descriptor = try self.files.directory(root)
                    self.stack.append(Level(
                        descriptor: descriptor, prefix: "", names: try Self.names(descriptor), next: 0, isFolderRoot: true))
                }
                continue
            }
            guard !self.finished else { break }
            self.finished = true
            out += TarFormat.trailer
        }
        self.produced += Int64(out.count)
        return out.isEmpty && self.finished ? nil : out
    }

    /// The header of `name` in `parent`, opening it for the walk (a directory is pushed, a file becomes current);
    /// empty for what is left out.
    private func enter(parent: Int32, name: String, archivedAs path: String) -> [UInt8] {
        var info = cfc_stat()
        guard cfc_lstatat(parent, name, &info) == 0 else { return [] }
        let modified = Int64(info.mtime_sec)
        switch FolderFiles.kind(info.mode) {
        case .directory:
            guard self.stack.count < TreeWalk.maxDepth else { return [] }
            let descriptor = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard descriptor >= 0 else { return [] }
            guard let names = try? Self.names(descriptor) else {
                Glibc.close(descriptor)
                return []
            }
            self.stack.append(Level(descriptor: descriptor, prefix: path + "/", names: names, next: 0, isFolderRoot: false))
            return TarFormat.header(.init(name: path, kind: .directory, size: 0, mode: info.mode, modified: modified))
        case .file:
            let descriptor = openat(parent, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
            guard descriptor >= 0 else { return [] }
            var opened = cfc_stat()
            guard cfc_fstat(descriptor, &opened) == 0, FolderFiles.kind(opened.mode) == .file else {
                Glibc.close(descriptor)
                return []
            }
            let size = max(0, opened.size)
            if size > 0 { self.current = OpenFile(descriptor: descriptor, size: size, remaining: size) } else { Glibc.close(descriptor) }
            return TarFormat.header(.init(name: path, kind: .file, size: size, mode: opened.mode, modified: modified))
        case .symbolicLink, .other:
            return []
        }
    }

    private static func names(_ descriptor: Int32) throws -> [String] {
        try directoryEntries(descriptor, path: ".").map(\.display).sorted()
    }
}
