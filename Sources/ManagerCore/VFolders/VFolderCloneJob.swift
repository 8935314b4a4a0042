import Foundation
import SchedulerKit

/// Copies a source folder's directory into a new folder's, outside any transaction, while the source stays usable.
/// Progress is in bytes (in files when the source holds no data); the message counts both.
struct VFolderCloneJob: BackgroundJob {
    static let kind = "vfolder-clone"

    let sourcePath: String
    let targetPath: String
    let targetID: UUID
    let rateLimit: Int64

    var kind: String { Self.kind }

    var params: JSONValue {
        .object([
            ("source_path", .string(self.sourcePath)), ("target_path", .string(self.targetPath)),
            ("target_id", .string(self.targetID.uuidString.lowercased())),
        ])
    }

    func run(_ reporter: ProgressReporter) async throws -> BackgroundJobCompletion {
        let started = ContinuousClock.now
        reporter.update(current: 0, total: 0, message: "counting files")
        let sourcePath = self.sourcePath
        let totals = try await BlockingExecutor.shared.run(name: "clone-scan") { try TreeScanner.scan(sourcePath) }
        let byBytes = totals.bytes > 0
        let total = Double(byBytes ? totals.bytes : Int64(totals.files))
        reporter.update(current: 0, total: total, message: Self.message(files: 0, bytes: 0, totals: totals))

        let copier = TreeCopier(rateLimit: self.rateLimit)
        let targetPath = self.targetPath
        do {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                group.addTask {
                    try await withTaskCancellationHandler {
                        try await BlockingExecutor.shared.run(name: "clone-copy") { try copier.copy(from: sourcePath, to: targetPath) }
                    } onCancel: {
                        copier.cancel()
                    }
                    return true
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(100))
                        let progress = copier.progress
                        reporter.update(
                            current: Double(byBytes ? progress.bytes : Int64(progress.files)),
                            message: Self.message(files: progress.files, bytes: progress.bytes, totals: totals))
                    }
                    return false
                }
                // Wait for the copy itself; the progress loop ends only by cancellation.
                while let copied = try await group.next() {
                    if copied {
                        group.cancelAll()
                        return
                    }
                }
            }
        } catch is TreeCopier.Cancelled {
            throw CancellationError()
        }
        try Task.checkCancellation()
        let progress = copier.progress
        reporter.update(
            current: Double(byBytes ? progress.bytes : Int64(progress.files)), total: max(total, Double(byBytes ? progress.bytes : Int64(progress.files))),
            message: Self.message(files: progress.files, bytes: progress.bytes, totals: totals))
        let elapsed = ContinuousClock.now - started
        let skipped = progress.skipped > 0 ? ", skipped \(progress.skipped) special files" : ""
        let targetID = self.targetID
        return BackgroundJobCompletion(
            message: "cloned \(progress.files) files, \(Self.bytes(progress.bytes)) in \(String(format: "%.1f", elapsed.seconds)) s\(skipped)",
            commit: { tx in
                try await PostgresVFolderStore.finishClone(targetID, files: progress.files, bytes: Int(progress.bytes), in: tx)
            })
    }

    static func message(files: Int, bytes: Int64, totals: TreeScanner.Totals) -> String {
        "copied \(files)/\(totals.files) files, \(Self.bytes(bytes))/\(Self.bytes(totals.bytes))"
    }

    static func bytes(_ count: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(count) B" : String(format: "%.1f", value) + " " + units[unit]
    }

    /// Removes the half-made target and marks it deleted; safe to run twice, and from any replica.
    static func cleanup(folders: PostgresVFolderStore) -> BackgroundJobCleanup {
        { params in
            guard case .string(let path)? = params["target_path"], case .string(let id)? = params["target_id"],
                let targetID = UUID(uuidString: id)
            else { return }
            try await BlockingExecutor.shared.run(name: "clone-cleanup") { try TreeRemover.remove(path) }
            try await folders.abandonClone(targetID)
        }
    }
}
