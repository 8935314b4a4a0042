import ArgumentParser
import Foundation
import Logging
import SchedulerKit

/// `manager image`: the root filesystems sessions run on.
struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image", abstract: "Manage the images sessions run on.", subcommands: [Import.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Import a root filesystem as NAME:TAG into the local agent's image store and register it.",
            discussion: """
                PATH is a folder holding a root filesystem, a tarball of one, a `docker save` tarball, or an OCI image \
                layout (folder or tarball). Sessions asking for NAME:TAG then run on it (read-only, with /home/work and \
                their folders on top).
                """)
        @OptionGroup var options: GlobalOptions
        @Argument(help: "The image as sessions name it, e.g. python:3.11.") var reference: String
        @Argument(help: "The root filesystem (folder or tarball).") var path: String
        @Option(help: "The image's architecture (default: this machine's).") var architecture: String?

        func validate() throws {
            guard ImageReference(self.reference) != nil else {
                throw ValidationError("'\(self.reference.prefix(64))' is not an image reference like python:3.11")
            }
            if let architecture, architecture.isEmpty || architecture.count > 32 || !architecture.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                throw ValidationError("--architecture must be a name like x86_64 or aarch64")
            }
        }

        func run() async throws {
            let config = try self.options.load()
            let logger = LoggingSetup.bootstrap(config.logging)
            guard let reference = ImageReference(self.reference) else { throw ExitCode(2) }
            let store = ImageStore(root: config.localAgent.sandbox.imageRoot(workDir: config.localAgent.workDir))
            let imported: ImageImporter.Imported
            do {
                try FileManager.default.createDirectory(atPath: store.root, withIntermediateDirectories: true)
                imported = try ImageImporter(store: store).importImage(reference, from: self.path)
            } catch {
                logger.critical("cannot import the image: \(error)")
                throw ExitCode(3)
            }
            let pool = ManagerApplication.makePool(config, logger: logger)
            do {
                try await PostgresImageStore(pool: pool).register(ImageRecord(
                    reference: reference, architecture: self.architecture ?? MachineInfo.architecture, digest: imported.digest,
                    sizeBytes: imported.sizeBytes, labels: [:], createdAt: Date()))
                await pool.close()
            } catch {
                await pool.close()
                logger.critical("the image is unpacked but cannot be registered: \(error)")
                throw ExitCode(3)
            }
            logger.info("image imported", metadata: [
                "image": "\(reference.canonical)", "root": "\(store.folder(for: reference))/rootfs", "bytes": "\(imported.sizeBytes)",
            ])
        }
    }
}
