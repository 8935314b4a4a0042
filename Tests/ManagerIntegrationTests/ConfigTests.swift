import Foundation
import Testing
@testable import ManagerCore

@Suite struct ConfigTests {
    @Test("the sample config/manager.toml loads and documents real keys")
    func sampleLoads() throws {
        let path = TestEnvironment.repositoryRoot.appendingPathComponent("config/manager.toml").path
        let config = try ConfigLoader(environment: [:]).load(path: path, required: true)
        #expect(config.server.port == 8091)
        #expect(config.scheduler.tickInterval == .seconds(1))
        #expect(config.storage.volumes == [ManagerConfig.Volume(name: "volume1", path: "state/volumes/volume1")])
        #expect(config.localAgent.enabled)
        #expect(config.auth.maxClockSkew == .seconds(900))
    }

    @Test("an unknown key stops start-up and is named", arguments: [
        ("[server]\nprot = 1", "server.prot"),
        ("[serer]\nport = 1", "serer.port"),
        ("toplevel = true", "toplevel"),
        ("[storage.volumes.v1]\npath = \"/x\"\nsize = 3", "storage.volumes.v1.size"),
    ])
    func unknownKey(text: String, key: String) {
        #expect {
            try ConfigLoader(environment: [:]).parse(text)
        } throws: { error in
            "\(error)".contains("unknown config key '\(key)'")
        }
    }

    @Test("a value of the wrong type or range is refused with the key's name", arguments: [
        ("[server]\nport = \"x\"", "server.port must be an integer"),
        ("[server]\nport = 70000", "server.port must be between"),
        ("[scheduler]\ntick_interval = \"soon\"", "scheduler.tick_interval"),
        ("[logging]\nlevel = \"loud\"", "logging.level must be one of"),
        ("[agent.local]\nenabled = \"yes\"", "agent.local.enabled must be true or false"),
        ("[storage.volumes.v1]\n", "storage.volumes.v1.path is required"),
        ("[server\nport = 1", "config"),
    ])
    func badValue(text: String, message: String) {
        #expect {
            try ConfigLoader(environment: [:]).parse(text)
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test("MANAGER_* environment variables override the file")
    func environmentOverrides() throws {
        let loader = ConfigLoader(environment: [
            "MANAGER_SERVER_PORT": "9000", "MANAGER_DATABASE_URL": "host=db", "MANAGER_SCHEDULER_TICK_INTERVAL": "250ms",
            "MANAGER_AGENT_LOCAL_ENABLED": "false",
        ])
        let config = try loader.parse("[server]\nport = 8000\n[database]\nurl = \"host=file\"")
        #expect(config.server.port == 9000)
        #expect(config.database.url == "host=db")
        #expect(config.scheduler.tickInterval == .milliseconds(250))
        #expect(config.localAgent.enabled == false)
        #expect(throws: ConfigError.self) { try ConfigLoader(environment: ["MANAGER_SERVER_PORT": "x"]).parse("") }
    }

    @Test("durations accept seconds as numbers and strings with units")
    func durations() throws {
        let config = try ConfigLoader(environment: [:]).parse(
            "[server]\nshutdown_grace = 2.5\n[database]\nacquire_timeout = \"1m\"\n[agent]\nheartbeat_timeout = 7")
        #expect(config.server.shutdownGrace == .milliseconds(2500))
        #expect(config.database.acquireTimeout == .seconds(60))
        #expect(config.agents.heartbeatTimeout == .seconds(7))
    }
}
