import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Removes a folder and everything in it, descending by descriptor so a symbolic link is unlinked, never followed.
enum TreeRemover {
    private struct Frame {
        let descriptor: Int32
        let path: String
        /// The name of this directory in its parent (nil for the root).
        let name: FileName?
        let names: [FileName]
        var next = 0
    }

    /// Removes `path` (blocking; call it on the `BlockingExecutor`). A missing path is not an error. A tree deeper
    /// than `TreeWalk.maxDepth` is still removed: the part below the bound is moved up to the root and removed on a
    /// further pass.
    static func remove(_ path: String) throws {
        var passes = 0
        while try Self.removePass(path) {
            passes += 1
            guard passes < 1_000_000 else { throw TreeWalk.tooDeep(path) }
        }
    }

    /// One pass; true when subtrees were moved up to the root and another pass is needed.
    private static func removePass(_ path: String) throws -> Bool {
        let root = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if root < 0 {
            if errno == ENOENT { return false }
            if errno == ENOTDIR || errno == ELOOP {
                guard unlink(path) == 0 || errno == ENOENT else { throw FileSystemError("unlink", path) }
                return false
            }
            throw FileSystemError("open", path)
        }
        defer { close(root) }
        var stack: [Frame] = []
        defer { stack.dropFirst().forEach { close($0.descriptor) } }
        stack.append(Frame(descriptor: root, path: path, name: nil, names: try directoryEntries(root, path: path)))
        var moved = 0
        while var frame = stack.popLast() {
            guard frame.next < frame.names.count else {
                // Emptied: remove it from its parent (still open below it on the stack).
                if frame.descriptor != root { close(frame.descriptor) }
                if let name = frame.name, let parent = stack.last {
                    guard unlinkat(parent.descriptor, name, AT_REMOVEDIR) == 0 || errno == ENOENT else {
                        throw FileSystemError("rmdir", frame.path)
                    }
                }
                continue
            }
            let name = frame.names[frame.next]
            frame.next += 1
            stack.append(frame)
            if unlinkat(frame.descriptor, name, 0) == 0 || errno == ENOENT { continue }
            let childPath = frame.path + "/" + name.display
            guard errno == EISDIR || errno == EPERM else { throw FileSystemError("unlink", childPath) }
            guard stack.count < TreeWalk.maxDepth else {
                let parked = Array(".purge-\(getpid())-\(moved)-\(UInt64.random(in: 0...UInt64.max))".utf8CString)
                guard renameat(frame.descriptor, name, root, parked) == 0 else { throw TreeWalk.tooDeep(childPath) }
                moved += 1
                continue
            }
            let child = openat(frame.descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            guard child >= 0 else { throw FileSystemError("open", childPath) }
            do {
                stack.append(Frame(descriptor: child, path: childPath, name: name, names: try directoryEntries(child, path: childPath)))
            } catch {
                close(child)
                throw error
            }
        }
        guard moved == 0 else { return true }
        guard rmdir(path) == 0 || errno == ENOENT else { throw FileSystemError("rmdir", path) }
        return false
    }
}
