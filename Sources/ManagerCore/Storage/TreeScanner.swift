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

    private struct Frame {
        let descriptor: Int32
        let path: String
        let names: [FileName]
        var next = 0
    }

    /// Walks `path` (blocking; call it on the `BlockingExecutor`), depth first with its own stack.
    static func scan(_ path: String) throws -> Totals {
        let root = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard root >= 0 else { throw FileSystemError("open", path) }
        var stack: [Frame] = []
        defer { stack.forEach { close($0.descriptor) } }
        do {
            stack.append(Frame(descriptor: root, path: path, names: try directoryEntries(root, path: path)))
        } catch {
            close(root)
            throw error
        }
        var totals = Totals()
        while var frame = stack.popLast() {
            guard frame.next < frame.names.count else {
                close(frame.descriptor)
                continue
            }
            let name = frame.names[frame.next]
            frame.next += 1
            stack.append(frame)
            var info = cfc_stat()
            guard cfc_lstatat(frame.descriptor, name, &info) == 0 else { continue }
            totals.entries += 1
            switch FileMode.type(mode_t(info.mode)) {
            case FileMode.regular:
                totals.files += 1
                totals.bytes &+= info.size
            case FileMode.directory:
                let childPath = frame.path + "/" + name.display
                guard stack.count < TreeWalk.maxDepth else { throw TreeWalk.tooDeep(childPath) }
                let child = openat(frame.descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard child >= 0 else { throw FileSystemError("open", childPath) }
                do {
                    stack.append(Frame(descriptor: child, path: childPath, names: try directoryEntries(child, path: childPath)))
                } catch {
                    close(child)
                    throw error
                }
            default:
                break
            }
        }
        return totals
    }
}
