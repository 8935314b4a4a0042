import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Removes a folder and everything in it, descending by descriptor so a symbolic link is unlinked, never followed.
enum TreeRemover {
    /// Removes `path` (blocking; call it on a `BlockingThread`). A missing path is not an error.
    static func remove(_ path: String) throws {
        let root = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if root < 0 {
            if errno == ENOENT { return }
            if errno == ENOTDIR || errno == ELOOP {
                guard unlink(path) == 0 || errno == ENOENT else { throw FileSystemError("unlink", path) }
                return
            }
            throw FileSystemError("open", path)
        }
        try Self.empty(root, path: path)
        close(root)
        guard rmdir(path) == 0 || errno == ENOENT else { throw FileSystemError("rmdir", path) }
    }

    private static func empty(_ directory: Int32, path: String) throws {
        for name in try directoryEntries(directory, path: path) {
            if unlinkat(directory, name, 0) == 0 || errno == ENOENT { continue }
            guard errno == EISDIR || errno == EPERM else { throw FileSystemError("unlink", path + "/" + name) }
            let child = openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else { throw FileSystemError("open", path + "/" + name) }
            do {
                try Self.empty(child, path: path + "/" + name)
                close(child)
            } catch {
                close(child)
                throw error
            }
            guard unlinkat(directory, name, AT_REMOVEDIR) == 0 || errno == ENOENT else {
                throw FileSystemError("rmdir", path + "/" + name)
            }
        }
    }
}
