import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

/// `POST /session` under concurrency: requests share transactions (group commit), and each still gets exactly the
/// answer it would get alone.
@Suite struct EnqueueTests {
    enum Expectation: Sendable {
        case created
        case duplicate(String)
        case reused(String)
        case badGroup
        case badDependency
        case dependsOnHead
    }

    struct Answer: Sendable {
        let expectation: Expectation
        let status: Int
        let sessionID: String?
        let created: Bool?
        let type: String
        let message: String
    }

    @Test("88 enqueues at once are committed in shared transactions, each answered as if alone: duplicates refused, reuse returns the one session, refusals fail only their own request")
    func concurrentEnqueues() async throws {
        let environment = try TestEnvironment.current()
        let manager = try await ManagerProcess(environment, start: false)
        // One batch at a time (pool of 2), so requests arriving together must share transactions.
        try (try String(contentsOfFile: manager.configPath, encoding: .utf8))
            .replacingOccurrences(of: "[database]\n", with: "[database]\npool_size = 2\n")
            .write(toFile: manager.configPath, atomically: true, encoding: .utf8)
        try await manager.start()
        let admin = manager.admin
        let head = try await admin.send(.POST, "/session", json: Self.body("head"))
        #expect(head.status == 201, "\(head.text)")
        let headID = try #require(head.json?["sessionId"] as? String)

        var requests: [(Expectation, [String: Any])] = []
        for index in 0..<60 { requests.append((.created, Self.body("solo-\(index)"))) }
        for _ in 0..<8 { requests.append((.duplicate("dup-name"), Self.body("dup-name"))) }
        for _ in 0..<8 { requests.append((.reused("same-name"), Self.body("same-name", extra: ["reuseIfExists": true]))) }
        for index in 0..<4 { requests.append((.badGroup, Self.body("nogroup-\(index)", extra: ["group": "no-such-project"]))) }
        for index in 0..<4 { requests.append((.badDependency, Self.body("nodep-\(index)", extra: ["dependencies": ["no-such-session"]]))) }
        for index in 0..<4 { requests.append((.dependsOnHead, Self.body("after-\(index)", extra: ["dependencies": [headID]]))) }
        requests.shuffle()
        let bodies = try requests.map { ($0.0, try JSONSerialization.data(withJSONObject: $0.1)) }

        let answers = try await withThrowingTaskGroup(of: Answer.self) { group in
            for (expectation, body) in bodies {
                group.addTask {
                    let result = try await admin.send(.POST, "/session", rawBody: body)
                    return Answer(
                        expectation: expectation, status: result.status, sessionID: result.json?["sessionId"] as? String,
                        created: result.json?["created"] as? Bool, type: result.json?["type"] as? String ?? "",
                        message: (result.json?["msg"] as? String ?? "") + (result.json?["title"] as? String ?? ""))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }

        for answer in answers {
            switch answer.expectation {
            case .created, .dependsOnHead:
                #expect(answer.status == 201 && answer.created == true, "\(answer)")
            case .badGroup:
                #expect(answer.status == 400 && answer.message.contains("'group'"), "\(answer)")
            case .badDependency:
                #expect(answer.status == 400 && answer.message.contains("Unknown session ID or name"), "\(answer)")
            case .duplicate, .reused:
                break
            }
        }
        let duplicates = answers.filter { if case .duplicate = $0.expectation { true } else { false } }
        #expect(duplicates.filter { $0.status == 201 }.count == 1, "\(duplicates)")
        #expect(duplicates.filter { $0.status == 400 && $0.type.hasSuffix("session-already-exists") }.count == 7, "\(duplicates)")
        let reused = answers.filter { if case .reused = $0.expectation { true } else { false } }
        #expect(reused.filter { $0.status == 201 && $0.created == true }.count == 1, "\(reused)")
        #expect(reused.filter { $0.status == 200 && $0.created == false }.count == 7, "\(reused)")
        #expect(Set(reused.compactMap(\.sessionID)).count == 1, "every reuse names the one session: \(reused)")

        // What was committed: one row and one event per 201, the edges of the four dependents, nothing else.
        let pool = manager.database.makePool()
        defer { Task { await pool.close() } }
        let createdIDs = Set(answers.filter { $0.status == 201 }.compactMap(\.sessionID) + [headID])
        let expectedCount: Int = 67  // head, 60 solo, one dup-name, one same-name, 4 dependents
        #expect(createdIDs.count == expectedCount)
        let rows = try await pool.query("SELECT lower(id::text) AS id FROM sessions")
        #expect(Set(try rows.map { try $0.decode("id", as: String.self) }) == createdIDs)
        let events = try await pool.query(
            "SELECT count(*) AS n, count(DISTINCT session_id) AS d FROM events WHERE name = 'session_enqueued'").first
        #expect(try events?.decode("n", as: Int.self) == createdIDs.count)
        #expect(try events?.decode("d", as: Int.self) == createdIDs.count)
        let edges = try await pool.query("SELECT count(*) AS n FROM session_dependencies WHERE depends_on = \(UUID(uuidString: headID))").first
        #expect(try edges?.decode("n", as: Int.self) == 4)
        let history = try await pool.query(
            "SELECT count(*) AS n FROM sessions WHERE status = 'PENDING' AND status_history ? 'PENDING' AND scaling_group_name = 'default'").first
        #expect(try history?.decode("n", as: Int.self) == createdIDs.count)

        // Every request went through the batcher once, and some transactions held several.
        let metrics = try await HTTP.get(manager.endpoint + "/metrics").text
        let batches = try #require(Self.metric("manager_session_enqueue_batch_size_count", in: metrics))
        let requestsBatched = try #require(Self.metric("manager_session_enqueue_batch_size_sum", in: metrics))
        #expect(requestsBatched == Double(requests.count + 1))
        #expect(batches < requestsBatched, "\(batches) transactions for \(requestsBatched) requests")
    }

    static func body(_ name: String, extra: [String: Any] = [:]) -> [String: Any] {
        var body: [String: Any] = [
            "name": name, "type": "batch", "image": "img:latest", "enqueueOnly": true, "startupCommand": "true",
            "config": ["resources": ["cpu": "1", "mem": "256m"]],
        ]
        for (key, value) in extra { body[key] = value }
        return body
    }

    static func metric(_ name: String, in text: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }
}
