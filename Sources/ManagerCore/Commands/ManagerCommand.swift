import ArgumentParser
import Foundation
import Logging

/// `manager`: the session manager daemon and its admin commands.
public struct ManagerCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "manager",
        abstract: "A compute-session manager compatible with the Backend.AI manager API v7.20230615.",
        version: ManagerVersion.current,
        subcommands: [
            ServeCommand.self, MigrateCommand.self, KeypairCommand.self, ImageCommand.self, AgentCommand.self,
            AgentTokenCommand.self,
        ])

    public init() {}

    /// Parses the process arguments and runs the chosen subcommand.
    public static func start() async {
        await Self.main()
    }
}

/// Options every subcommand shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "Path of the TOML config file (default: config/manager.toml when it exists).")
    var config: String?

    /// Loads the config; a bad or unknown key stops with a message naming it.
    func load() throws -> ManagerConfig {
        do {
            if let path = self.config {
                return try ConfigLoader().load(path: path, required: true)
            }
            return try ConfigLoader().load(path: "config/manager.toml", required: false)
        } catch let error as ConfigError {
            throw ValidationError("invalid configuration: \(error.description)")
        }
    }
}

/// `manager serve`: runs the daemon until SIGTERM/SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the manager daemon.")
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let config = try self.options.load()
        let logger = LoggingSetup.bootstrap(config.logging)
        do {
            try await ManagerApplication(config: config, logger: logger).run()
        } catch let error as MigrationRunner.Failure {
            logger.critical("cannot start: \(error.description)")
            throw ExitCode(2)
        } catch let error as PostgresError {
            logger.critical("cannot start: PostgreSQL is unavailable (\(error.message))")
            throw ExitCode(3)
        }
    }
}

/// `manager migrate`: applies pending migrations under an advisory lock.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Apply pending database migrations.")
    @OptionGroup var options: GlobalOptions

    func run() async throws {
        let config = try self.options.load()
        let logger = LoggingSetup.bootstrap(config.logging)
        let pool = ManagerApplication.makePool(config, logger: logger)
        let runner = MigrationRunner(pool: pool, directory: URL(fileURLWithPath: config.database.migrationsDir), logger: logger)
        do {
            let applied = try await runner.migrate()
            await pool.close()
            logger.info("migrations done", metadata: ["applied": "\(applied.map(\.fileName))"])
        } catch let error as MigrationRunner.Failure {
            await pool.close()
            logger.critical("\(error.description)")
            throw ExitCode(2)
        } catch {
            await pool.close()
            logger.critical("migration failed: \(error)")
            throw ExitCode(3)
        }
    }
}

/// `manager keypair create`: makes an access/secret key pair and prints it once.
struct KeypairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keypair", abstract: "Manage keypairs.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a keypair and print its keys once.")
        @OptionGroup var options: GlobalOptions
        @Flag(help: "Give the keypair admin (superadmin) rights.") var admin = false
        @Option(help: "The owner's email; the user is created when missing.") var user = "admin@lablup.com"

        func validate() throws {
            guard self.user.contains("@"), self.user.count <= 254, !self.user.contains(where: \.isWhitespace) else {
                throw ValidationError("--user must be an email address")
            }
        }

        func run() async throws {
            let config = try self.options.load()
            let logger = LoggingSetup.bootstrap(config.logging)
            let pool = ManagerApplication.makePool(config, logger: logger)
            do {
                let record = try await PostgresKeypairStore(pool: pool).createKeypair(email: self.user, isAdmin: self.admin)
                await pool.close()
                // The one place the daemon's binary writes to stdout: the keys, for the operator to copy.
                let output = """
                    access_key=\(record.accessKey)
                    secret_key=\(record.secretKey)
                    user=\(record.email)
                    is_admin=\(record.isAdmin)

                    """
                FileHandle.standardOutput.write(Data(output.utf8))
            } catch {
                await pool.close()
                logger.critical("cannot create the keypair: \(error)")
                throw ExitCode(3)
            }
        }
    }
}
