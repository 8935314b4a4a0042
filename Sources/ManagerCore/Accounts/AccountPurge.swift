import Foundation
import Logging

/// `purge_user` and `purge_group`: what cannot be undone, in three steps so that no transaction stays open while
/// files are removed — the store marks what goes (and refuses while sessions live), the folders' trees are removed
/// on the blocking executor, the store deletes the rows. A folder that could not be removed is left `delete-error`
/// with its owner kept (`deleted` / inactive), so running the purge again finishes it.
struct AccountPurge: Sendable {
    let accounts: PostgresAccountStore
    let organization: PostgresOrganizationStore
    let volumes: StorageVolumes
    let logger: Logger

    struct Outcome: Sendable, Equatable {
        /// Folders removed with their files.
        let removedFolders: Int
        /// Shared folders handed to the purging admin.
        let transferredFolders: Int
        /// Folders whose files could not be removed (the purge is incomplete).
        let failedFolders: Int
    }

    func purgeUser(email: String, admin: UUID, purgeShared: Bool) async throws -> Outcome {
        let plan = try await self.accounts.beginPurge(email: email, admin: admin, purgeShared: purgeShared)
        let failed = await self.remove(plan.folders)
        try await self.accounts.finishPurge(plan, failed: failed)
        return Outcome(removedFolders: plan.folders.count - failed.count, transferredFolders: plan.transferred, failedFolders: failed.count)
    }

    func purgeGroup(_ id: UUID) async throws -> Outcome {
        let plan = try await self.organization.beginPurge(group: id)
        let failed = await self.remove(plan.folders)
        try await self.organization.finishPurge(plan, failed: failed)
        return Outcome(removedFolders: plan.folders.count - failed.count, transferredFolders: 0, failedFolders: failed.count)
    }

    /// Removes each folder's tree; the ids of those that failed.
    private func remove(_ folders: [(id: UUID, host: String)]) async -> Set<UUID> {
        var failed: Set<UUID> = []
        for folder in folders {
            // A folder on a volume this manager does not serve has no files here to remove.
            guard let path = self.volumes.path(host: folder.host, folderID: folder.id) else { continue }
            do {
                try await BlockingExecutor.shared.run(name: "account-purge") { try TreeRemover.remove(path) }
            } catch {
                failed.insert(folder.id)
                self.logger.error("removing a purged folder failed", metadata: ["vfolder_id": "\(folder.id)", "error": "\(error)"])
            }
        }
        return failed
    }
}
