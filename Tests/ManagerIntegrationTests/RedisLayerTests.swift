import Foundation
import Testing
@testable import ManagerCore

@Suite struct RedisLayerTests {
    func client(_ environment: TestEnvironment, port: Int? = nil) -> RedisClient {
        RedisClient(configuration: .init(host: environment.redisHost, port: port ?? environment.redisPort, timeout: .milliseconds(500)))
    }

    @Test("commands return typed replies")
    func typedReplies() async throws {
        let environment = try TestEnvironment.current()
        let redis = self.client(environment)
        let key = "test:\(UUID())"
        #expect(try await redis.command("SET", key, "va lue\u{00e9}") == .status("OK"))
        #expect(try await redis.command("GET", key) == .string("va lue\u{00e9}"))
        #expect(try await redis.command("GET", key + ":missing") == .null)
        #expect(try await redis.command("INCR", key + ":n") == .integer(1))
        #expect(try await redis.command("RPUSH", key + ":l", "a", "b") == .integer(2))
        #expect(try await redis.command("LRANGE", key + ":l", "0", "-1") == .array([.string("a"), .string("b")]))
        guard case .error(let message) = try await redis.command("INCR", key) else {
            Issue.record("INCR on a string must be an error reply")
            return
        }
        #expect(message.contains("not an integer"))
        await redis.close()
    }

    @Test("stream commands append and read back in order")
    func streams() async throws {
        let redis = self.client(try TestEnvironment.current())
        let stream = "test:stream:\(UUID())"
        let first = try await redis.xadd(stream, fields: [("kind", "a"), ("n", "1")])
        let second = try await redis.xadd(stream, fields: [("kind", "b"), ("n", "2")], maxLength: 1000)
        let all = try await redis.xrange(stream)
        #expect(all.map(\.id) == [first, second])
        #expect(all.first?[field: "kind"] == "a")
        let after = try await redis.xread(stream, after: first)
        #expect(after.map(\.id) == [second])
        #expect(after.first?[field: "n"] == "2")
        #expect(try await redis.xread(stream, after: second).isEmpty)
        await redis.close()
    }

    @Test("a command against a stopped Redis fails with a connection error")
    func downFailsFast() async throws {
        let redis = RedisClient(configuration: .init(host: "127.0.0.1", port: try freePort(), timeout: .milliseconds(300)))
        await #expect { try await redis.command("PING") } throws: { ($0 as? RedisError)?.isConnectionFailure == true }
        #expect(await redis.ping() == false)
        await redis.close()
    }

    @Test("the subscriber resubscribes by itself after Redis restarts")
    func subscriberSurvivesRestart() async throws {
        let environment = try TestEnvironment.current()
        let server = try await PrivateRedis.start(environment)
        let configuration = RedisClient.Configuration(host: "127.0.0.1", port: server.port, timeout: .milliseconds(300))
        let subscriber = RedisSubscriber(configuration: configuration, channels: ["news"], logger: TestDatabase.logger)
        let publisher = RedisClient(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await subscriber.run() }
            var iterator = subscriber.events.makeAsyncIterator()

            try await Self.publishUntilReceived("before", publisher: publisher, iterator: &iterator)
            try await server.stop()
            var noticed = false
            for _ in 0..<250 where !noticed {
                noticed = !subscriber.isConnected
                if !noticed { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(noticed)
            try await server.start()
            // After the restart: first the reconnect notice, then messages flow again.
            var sawReconnect = false
            let deadline = ContinuousClock.now + .seconds(15)
            while ContinuousClock.now < deadline, let event = await iterator.next() {
                if event == .reconnected { sawReconnect = true; break }
            }
            #expect(sawReconnect)
            try await Self.publishUntilReceived("after", publisher: publisher, iterator: &iterator)
            subscriber.stop()
            try await group.waitForAll()
        }
        await publisher.close()
        try await server.stop()
    }

    static func publishUntilReceived(
        _ payload: String, publisher: RedisClient, iterator: inout AsyncStream<RedisSubscriber.Event>.Iterator
    ) async throws {
        // The subscription may not be live yet: publish until somebody hears it.
        var receivers = 0
        let deadline = ContinuousClock.now + .seconds(15)
        while receivers == 0 && ContinuousClock.now < deadline {
            receivers = (try? await publisher.publish(payload, to: "news")) ?? 0
            if receivers == 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        #expect(receivers == 1)
        guard receivers == 1 else { return }
        while let event = await iterator.next() {
            if case .message(let channel, let text) = event, text == payload {
                #expect(channel == "news")
                return
            }
        }
        Issue.record("no message \(payload)")
    }
}
