import Foundation
import NIOHTTP1
import Testing
@testable import ManagerCore

/// No pass for an unchanged queue (issue 21): a backlog nobody touches costs no passes; a change announced by a
/// trigger (an option set through GraphQL) runs one at once, and a deadline it sets (pending_timeout) comes due
/// without any further change.
@Suite struct IdleQueueTests {
    static func metric(_ text: String, _ name: String) -> Double {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.dropFirst(name.count + 1)) } ?? -1
    }

    @Test("an unchanged backlog is not passed over again; an option change passes at once; its deadline comes due")
    func unchangedQueue() async throws {
        let setup = try await VFolderTests.setUp()
        defer { Task { [pool = setup.pool] in await pool.close() } }
        for index in 0..<5 {
            let made = try await setup.admin.send(.POST, "/session", json: [
                "name": "idle-\(index)", "image": "python:3.11", "type": "batch", "startupCommand": "true", "enqueueOnly": true,
            ])
            #expect(made.status == 201, "\(made.text)")
        }
        // The enqueues' wake-ups pass over the queue (no agent: every session waits), then nothing changes.
        try await Task.sleep(for: .seconds(2))
        let before = try await HTTP.get("\(setup.manager.endpoint)/metrics").text
        try await Task.sleep(for: .seconds(3))  // three ticks
        let after = try await HTTP.get("\(setup.manager.endpoint)/metrics").text
        let passes = "manager_scheduler_pass_duration_seconds_count"
        #expect(Self.metric(before, passes) > 0, "\(before)")
        #expect(Self.metric(after, passes) == Self.metric(before, passes), "no pass over an unchanged queue")
        #expect(Self.metric(after, "manager_scheduler_passes_skipped_total") >= Self.metric(before, "manager_scheduler_passes_skipped_total") + 2)

        // An option change (a statement on scaling_groups: migration 0018's trigger wakes every replica) passes at
        // once; the pending_timeout it sets is a deadline the pass records, 3 s after the sessions' creation.
        let changed = try await setup.admin.send(.POST, "/admin/gql", json: [
            "query": "mutation($name: String!, $props: ModifyScalingGroupInput!) { modify_scaling_group(name: $name, props: $props) { ok msg } }",
            "variables": ["name": "default", "props": ["scheduler_opts": #"{"pending_timeout": 9}"#]],
        ])
        #expect(changed.text.contains(#""ok":true"#), "\(changed.text)")
        try await Task.sleep(for: .milliseconds(800))
        let woken = try await HTTP.get("\(setup.manager.endpoint)/metrics").text
        #expect(Self.metric(woken, passes) > Self.metric(after, passes), "the change ran a pass")
        try await eventually("the five sessions cancelled pending-timeout, with nothing else changing", timeout: .seconds(20)) {
            let rows = try await setup.pool.query(
                "SELECT count(*)::int AS n FROM sessions WHERE status = 'CANCELLED' AND status_info = 'pending-timeout'")
            return try rows.first?.decode("n", as: Int.self) == 5
        }
        try await setup.manager.stop()
    }
}
