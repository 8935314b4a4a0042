import CFileCopy
import Foundation
import Logging
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// Removes upload parts nobody will finish: a part file (`FolderFiles.partsRoot` of each volume) untouched for
/// longer than a transfer token lives cannot be resumed any more (its token has expired), so it only takes space.
/// Safe on every replica at once (a part removed by one is skipped by the other).
public final class UploadPartSweeper: Service, Sendable {
    private let volumes: StorageVolumes
    private let maxAge: Duration
    private let interval: Duration
    private let logger: Logger

    public init(volumes: StorageVolumes, maxAge: Duration, interval: Duration = .seconds(600), logger: Logger) {
        self.volumes = volumes
        self.maxAge = maxAge
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.sweepOnce()
                try await Task.sleep(for: self.interval)
            }
        }
    }

    /// One round over every volume; returns the parts removed.
    @discardableResult
    func sweepOnce(now: Date = Date()) async -> Int {
        var removed = 0
        let cutoff = Int64(now.timeIntervalSince1970) - self.maxAge.components.seconds
        for volume in self.volumes.volumes {
            let directory = volume.root + "/" + FolderFiles.uploadsDirectory
            do {
                removed += try await BlockingExecutor.shared.run(name: "upload-part-sweep") { try Self.sweep(directory, before: cutoff) }
            } catch {
                self.logger.warning("upload part sweep failed", metadata: ["volume": "\(volume.host)", "error": "\(error)"])
            }
        }
        if removed > 0 { self.logger.info("removed abandoned upload parts", metadata: ["parts": "\(removed)"]) }
        return removed
    }

    /// Unlinks the regular files of `directory` last modified before `cutoff` (Unix seconds).
    static func sweep(_ directory: String, before cutoff: Int64) throws -> Int {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            if errno == ENOENT { return 0 }
            throw FileSystemError("open", directory)
        }
        defer { close(descriptor) }
        var removed = 0
        for name in try directoryEntries(descriptor, path: directory) {
            let text = name.display
            var info = cfc_stat()
            guard cfc_lstatat(descriptor, text, &info) == 0, FolderFiles.kind(info.mode) == .file, Int64(info.mtime_sec) < cutoff else { continue }
            if unlinkat(descriptor, text, 0) == 0 { removed += 1 }
        }
        return removed
    }
}
