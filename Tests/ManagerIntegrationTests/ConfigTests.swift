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
        #expect(config.backgroundTasks.lease == .seconds(10))
        #expect(config.webhookDelivery.maxAge == .seconds(86400) && config.webhooks.isEmpty)
        #expect(config.graphql == GraphQLLimits())
    }

    @Test("[[webhooks]] tables and the delivery policy are read")
    func webhooksRead() throws {
        let config = try ConfigLoader(environment: [:]).parse("""
            [webhook_delivery]
            allowed_destinations = ["*.example.com", "10.0.0.0/8"]
            [[webhooks]]
            name = "ops"
            url = "https://hooks.example.com/x"
            events = ["session_success", "session_failure"]
            secret = "s3"
            [[webhooks]]
            name = "all"
            url = "http://10.1.2.3/all"
            """)
        #expect(config.webhooks.map(\.name) == ["ops", "all"])
        #expect(config.webhooks[0].events == ["session_success", "session_failure"] && config.webhooks[0].secret == "s3")
        #expect(config.webhooks[1].events.isEmpty)
        let policy = DestinationPolicy(allowed: config.webhookDelivery.allowedDestinations, denied: [])
        #expect(policy.refusal(for: "http://10.1.2.3/all") == nil)
        #expect(policy.refusal(for: "http://192.168.1.1/x")?.contains("allowed_destinations") == true)
        #expect(policy.refusal(for: "http://169.254.169.254/latest")?.contains("refused") == true)
        #expect(policy.refusal(for: "http://[::ffff:169.254.169.254]/latest") != nil)
        #expect(policy.refusal(for: "file:///etc/passwd") != nil)
    }

    @Test("an unknown key stops start-up and is named", arguments: [
        ("[server]\nprot = 1", "server.prot"),
        ("[serer]\nport = 1", "serer.port"),
        ("toplevel = true", "toplevel"),
        ("[storage.volumes.v1]\npath = \"/x\"\nsize = 3", "storage.volumes.v1.size"),
        ("[[webhooks]]\nname = \"a\"\nurl = \"http://x\"\nsecert = \"s\"", "webhooks[0].secert"),
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
        ("[scheduler]\nwait_refresh_interval = \"-1s\"", "scheduler.wait_refresh_interval"),
        ("[logging]\nlevel = \"loud\"", "logging.level must be one of"),
        ("[agent.local]\nenabled = \"yes\"", "agent.local.enabled must be true or false"),
        ("[agent.local]\nprepared_networks = 65", "agent.local.prepared_networks must be between"),
        ("[storage.volumes.v1]\n", "storage.volumes.v1.path is required"),
        ("[server\nport = 1", "config"),
        ("[[webhooks]]\nname = \"a\"\nurl = \"ftp://x\"", "webhooks[0].url must be an http or https URL"),
        ("[[webhooks]]\nurl = \"http://x\"", "webhooks[0].name is required"),
        ("[[webhooks]]\nname = \"a\"\nurl = \"http://x\"\nevents = [\"success\"]", "webhooks[0].events"),
        ("[[webhooks]]\nname = \"a\"\nurl = \"http://x\"\n[[webhooks]]\nname = \"a\"\nurl = \"http://y\"", "used twice"),
        ("[webhook_delivery]\ndenied_destinations = [\"10.0.0.0/99\"]", "denied_destinations"),
        ("[storage]\nclone_rate_limit = \"fast\"", "storage.clone_rate_limit"),
        ("[background_tasks]\nlease = \"100ms\"", "background_tasks.lease must be at least 1s"),
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
