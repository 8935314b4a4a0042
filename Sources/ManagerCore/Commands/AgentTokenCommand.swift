import ArgumentParser
import Foundation
import Logging

/// `manager agent-token create|revoke|list`: one credential per remote agent (only its SHA-256 is stored).
struct AgentTokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent-token", abstract: "Manage the credentials of remote agents.",
        subcommands: [Create.self, Revoke.self, List.self])

    static func validID(_ id: String) -> Bool {
        (1...64).contains(id.count) && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue (or replace) the token of an agent id and print it once; give it to `manager agent --token`.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The agent id the token is for.") var id: String
        @Option(name: .customLong("scaling-group"), help: "The only scaling group the agent may join.") var scalingGroup = "default"

        func validate() throws {
            guard AgentTokenCommand.validID(self.id) else { throw ValidationError("--id must be 1-64 letters, digits, '-', '_', '.' or ':'") }
        }

        func run() async throws {
            let config = try self.options.load()
            let logger = LoggingSetup.bootstrap(config.logging)
            let pool = ManagerApplication.makePool(config, logger: logger)
            do {
                let token = try await PostgresAgentTokenStore(pool: pool).issue(agentID: self.id, scalingGroup: self.scalingGroup)
                await pool.close()
                // Printed once, for the operator to hand to the agent; only its digest is stored.
                FileHandle.standardOutput.write(Data("agent_id=\(self.id)\nscaling_group=\(self.scalingGroup)\ntoken=\(token)\n".utf8))
            } catch PostgresAgentTokenStore.Refusal.unknownScalingGroup(let group) {
                await pool.close()
                logger.critical("there is no scaling group '\(group)'")
                throw ExitCode(2)
            } catch {
                await pool.close()
                logger.critical("cannot create the token: \(error)")
                throw ExitCode(3)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an agent's token: its next sync is refused.")
        @OptionGroup var options: GlobalOptions
        @Option(help: "The agent id.") var id: String

        func run() async throws {
            let config = try self.options.load()
            let logger = LoggingSetup.bootstrap(config.logging)
            let pool = ManagerApplication.makePool(config, logger: logger)
            let revoked: Bool
            do {
                revoked = try await PostgresAgentTokenStore(pool: pool).revoke(agentID: self.id)
                await pool.close()
            } catch {
                await pool.close()
                logger.critical("cannot revoke the token: \(error)")
                throw ExitCode(3)
            }
            guard revoked else {
                logger.error("agent '\(self.id)' has no active token")
                throw ExitCode(1)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List agent tokens (never the tokens themselves).")
        @OptionGroup var options: GlobalOptions

        func run() async throws {
            let config = try self.options.load()
            let logger = LoggingSetup.bootstrap(config.logging)
            let pool = ManagerApplication.makePool(config, logger: logger)
            do {
                let rows = try await PostgresAgentTokenStore(pool: pool).list()
                await pool.close()
                let lines = rows.map { "\($0.agentID)\t\($0.scalingGroup)\t\(Timestamp.pythonISO($0.createdAt))\t\($0.revoked ? "revoked" : "active")" }
                FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")).utf8))
            } catch {
                await pool.close()
                logger.critical("cannot list tokens: \(error)")
                throw ExitCode(3)
            }
        }
    }
}
