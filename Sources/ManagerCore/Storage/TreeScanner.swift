import CFileCopy
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Counts what a folder holds without following symbolic links.
enum TreeScanner {
    struct Totals: Sendable, Equatable {
        /// Regular files, symbolic links and directories below the root.
        var entries = 0
        /// Regular files only (Backend.AI's `numFiles`).
        var files = 0
        var bytes: Int64 = 0
    }

    /// Walks `path` (blocking; call it on a `BlockingThread`).
    static func scan(_ path: String) throws -> Totals {
        let root = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard root >= 0 else { throw FileSystemError("open", path) }
        defer { close(root) }
        var totals = Totals()
        try Self.walk(root, path: path, into: &totals)
        return totals
    }

    private static func walk(_ directory: Int32, path: String, into totals: inout Totals) throws {
        for name in try directoryEntries(directory, path: path) {
            var info = cfc_stat()
            guard cfc_lstatat(directory, name, &info) == 0 else { continue }
            totals.entries += 1
            switch FileMode.type(mode_t(info.mode)) {
            case FileMode.regular:
                totals.files += 1
                totals.bytes += info.size
            case FileMode.directory:
                let child = openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard child >= 0 else { throw FileSystemError("open", path + "/" + name) }
                defer { close(child) }
                try Self.walk(child, path: path + "/" + name, into: &totals)
            default:
                break
            }
        }
    }
}
