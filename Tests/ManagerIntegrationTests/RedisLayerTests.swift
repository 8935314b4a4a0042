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
}
