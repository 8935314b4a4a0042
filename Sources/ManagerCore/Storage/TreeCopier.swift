import CFileCopy
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Copies a folder tree like `cp -a`: modes, times and symbolic links are preserved (a link is copied as a link,
/// never followed), file data moves through the kernel (a reflink clone where the filesystem can, else
/// `copy_file_range`, plain reads and writes only where the kernel refuses both), and every step goes through directory
/// descriptors opened with `O_NOFOLLOW`, so nothing outside the source is read and nothing outside the target is written.
///
/// `copy` blocks: run it on the `BlockingExecutor`. Progress is readable from any thread; `cancel()` stops it between
/// chunks. Hard links become separate files; sockets, FIFOs and devices are skipped.
final class TreeCopier: Sendable {
    struct Progress: Sendable, Equatable {
        /// Regular files copied.
        var files = 0
        var links = 0
        var bytes: Int64 = 0
        var skipped = 0
    }

    struct Cancelled: Error {}

    private let progressState = Mutex(Progress())
    private let cancelled = Atomic<Bool>(false)
    /// Bytes per second; nil copies as fast as the disk goes.
    private let rateLimit: Int64?
    private let startedAt = ContinuousClock.now

    init(rateLimit: Int64? = nil) {
        self.rateLimit = rateLimit.flatMap { $0 > 0 ? $0 : nil }
    }

    var progress: Progress { self.progressState.withLock { $0 } }

    func cancel() { self.cancelled.store(true, ordering: .relaxed) }

    /// Copies the contents of `source` into `target`, which must not exist yet; it is created.
    func copy(from source: String, to target: String) throws {
        let sourceRoot = open(source, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard sourceRoot >= 0 else { throw FileSystemError("open", source) }
        defer { close(sourceRoot) }
        var info = cfc_stat()
        guard cfc_fstat(sourceRoot, &info) == 0 else { throw FileSystemError("stat", source) }
        guard mkdir(target, 0o700) == 0 else { throw FileSystemError("mkdir", target) }
        let targetRoot = open(target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard targetRoot >= 0 else { throw FileSystemError("open", target) }
        defer { close(targetRoot) }
        try self.copyContents(of: sourceRoot, into: targetRoot, path: source)
        Self.applyAttributes(of: info, to: targetRoot)
    }

    private func checkCancelled() throws {
        if self.cancelled.load(ordering: .relaxed) { throw Cancelled() }
    }

    /// A directory being copied: both descriptors, its entries, and its own attributes to apply once it is full.
    private struct Frame {
        let source: Int32
        let target: Int32
        let path: String
        let names: [FileName]
        var next = 0
        let info: cfc_stat?
    }

    /// Depth first with its own stack (bounded by `TreeWalk.maxDepth`), never recursion.
    private func copyContents(of sourceRoot: Int32, into targetRoot: Int32, path: String) throws {
        var stack = [Frame(source: sourceRoot, target: targetRoot, path: path, names: try directoryEntries(sourceRoot, path: path), info: nil)]
        defer {
            for frame in stack.dropFirst() {
                close(frame.source)
                close(frame.target)
            }
        }
        while var frame = stack.popLast() {
            guard frame.next < frame.names.count else {
                if let info = frame.info {
                    Self.applyAttributes(of: info, to: frame.target)
                    close(frame.source)
                    close(frame.target)
                }
                continue
            }
            let name = frame.names[frame.next]
            frame.next += 1
            stack.append(frame)
            try self.checkCancelled()
            let childPath = frame.path + "/" + name.display
            var info = cfc_stat()
            guard cfc_lstatat(frame.source, name, &info) == 0 else {
                if errno == ENOENT { continue }  // removed while we copy: the source stays usable
                throw FileSystemError("stat", childPath)
            }
            switch FileMode.type(mode_t(info.mode)) {
            case FileMode.directory:
                guard stack.count < TreeWalk.maxDepth else { throw TreeWalk.tooDeep(childPath) }
                guard mkdirat(frame.target, name, 0o700) == 0 else { throw FileSystemError("mkdir", childPath) }
                let from = openat(frame.source, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard from >= 0 else { throw FileSystemError("open", childPath) }
                let to = openat(frame.target, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard to >= 0 else {
                    close(from)
                    throw FileSystemError("open (target)", childPath)
                }
                let names: [FileName]
                do {
                    names = try directoryEntries(from, path: childPath)
                } catch {
                    close(from)
                    close(to)
                    throw error
                }
                stack.append(Frame(source: from, target: to, path: childPath, names: names, info: info))
            case FileMode.regular:
                try self.copyFile(name, from: frame.source, to: frame.target, info: info, path: childPath)
            case FileMode.symbolicLink:
                try self.copyLink(name, from: frame.source, to: frame.target, info: info, path: childPath)
            default:
                self.progressState.withLock { $0.skipped += 1 }
            }
        }
    }

    private func copyFile(_ name: FileName, from source: Int32, to target: Int32, info: cfc_stat, path: String) throws {
        let input = openat(source, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard input >= 0 else {
            if errno == ENOENT { return }
            throw FileSystemError("open", path)
        }
        defer { close(input) }
        let output = openat(target, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw FileSystemError("create", path) }
        defer { close(output) }
        let size = info.size
        if self.rateLimit == nil, size > 0, cfc_clone_file(output, input) == 0 {
            self.progressState.withLock { $0.bytes += size }
        } else {
            try self.copyData(from: input, to: output, path: path)
        }
        Self.applyAttributes(of: info, to: output)
        self.progressState.withLock { $0.files += 1 }
    }

    /// Moves bytes in the kernel with copy_file_range; falls back to read/write where the kernel refuses.
    private func copyData(from input: Int32, to output: Int32, path: String) throws {
        let chunk = self.rateLimit.map { max(4 << 10, min(8 << 20, Int($0 / 10))) } ?? (8 << 20)  // ~10 chunks a second
        var useKernel = true
        var buffer: [UInt8] = []
        while true {
            try self.checkCancelled()
            var moved: Int
            if useKernel {
                moved = cfc_copy_file_range(input, output, chunk)
                if moved < 0 {
                    guard [EXDEV, ENOSYS, EINVAL, EOPNOTSUPP, EBADF].contains(errno) else { throw FileSystemError("copy", path) }
                    useKernel = false
                    continue
                }
            } else {
                if buffer.isEmpty { buffer = [UInt8](repeating: 0, count: 1 << 20) }
                moved = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
                if moved < 0 {
                    if errno == EINTR { continue }
                    throw FileSystemError("read", path)
                }
                var written = 0
                while written < moved {
                    let result = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, moved - written) }
                    if result < 0 {
                        if errno == EINTR { continue }
                        throw FileSystemError("write", path)
                    }
                    written += result
                }
            }
            if moved == 0 { return }
            let total = self.progressState.withLock { progress -> Int64 in
                progress.bytes += Int64(moved)
                return progress.bytes
            }
            try self.throttle(total: total)
        }
    }

    private func copyLink(_ name: FileName, from source: Int32, to target: Int32, info: cfc_stat, path: String) throws {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlinkat(source, name, &buffer, buffer.count - 1)
        guard length >= 0 else {
            if errno == ENOENT { return }
            throw FileSystemError("readlink", path)
        }
        buffer[length] = 0
        guard symlinkat(buffer, target, name) == 0 else { throw FileSystemError("symlink", path) }
        var info = info
        cfc_apply_link_times(target, name, &info)
        self.progressState.withLock { $0.links += 1 }
    }

    /// Mode, owner (when we may) and times, as `cp -a`.
    private static func applyAttributes(of info: cfc_stat, to descriptor: Int32) {
        var info = info
        cfc_apply_attributes(descriptor, &info, geteuid() == 0 ? 1 : 0)
    }

    /// Sleeps until `total` bytes are within the rate limit, in short slices so a cancellation is seen quickly.
    private func throttle(total: Int64) throws {
        guard let rate = self.rateLimit else { return }
        let due = Double(total) / Double(rate)
        while true {
            try self.checkCancelled()
            let elapsed = (ContinuousClock.now - self.startedAt)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            guard due > seconds else { return }
            usleep(useconds_t(min(0.1, due - seconds) * 1_000_000))
        }
    }
}
