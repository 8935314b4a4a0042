import SchedulerKit
import Testing

@Suite struct PendingQuotaTests {
    static func slots(_ pairs: [String: String]) -> ResourceSlots {
        var slots = ResourceSlots()
        for (key, value) in pairs { slots[key] = SlotAmount(parsing: value) ?? .zero }
        return slots
    }

    struct Row: Sendable, CustomTestStringConvertible {
        let name: String
        let quota: PendingQuota
        let pending: Int
        let pendingSlots: [String: String]
        let request: [String: String]
        let containers: Int
        let expected: QuotaRefusal?
        var testDescription: String { self.name }
    }

    static let rows: [Row] = [
        Row(name: "no limits", quota: PendingQuota(), pending: 10_000, pendingSlots: ["cpu": "9999"], request: ["cpu": "1"],
            containers: 1, expected: nil),
        Row(name: "under the count", quota: PendingQuota(maxPendingSessions: 2), pending: 1, pendingSlots: [:], request: [:],
            containers: 1, expected: nil),
        Row(name: "at the count", quota: PendingQuota(maxPendingSessions: 2), pending: 2, pendingSlots: [:], request: [:],
            containers: 1, expected: .pendingSessionCount(limit: 2)),
        Row(name: "a count of 0 refuses every pending session", quota: PendingQuota(maxPendingSessions: 0), pending: 0,
            pendingSlots: [:], request: [:], containers: 1, expected: .pendingSessionCount(limit: 0)),
        Row(name: "slots fit exactly", quota: PendingQuota(maxPendingSlots: slots(["cpu": "4"])), pending: 3,
            pendingSlots: ["cpu": "3"], request: ["cpu": "1"], containers: 1, expected: nil),
        Row(name: "slots over", quota: PendingQuota(maxPendingSlots: slots(["cpu": "4"])), pending: 3,
            pendingSlots: ["cpu": "3"], request: ["cpu": "2"], containers: 1, expected: .pendingSessionSlots(["cpu=5 > 4"])),
        Row(name: "only named slots are limited", quota: PendingQuota(maxPendingSlots: slots(["cpu": "4"])), pending: 0,
            pendingSlots: ["mem": "999999999999"], request: ["mem": "1"], containers: 1, expected: nil),
        Row(name: "containers over", quota: PendingQuota(maxContainersPerSession: 1), pending: 0, pendingSlots: [:],
            request: [:], containers: 2, expected: .containersPerSession(limit: 1)),
        Row(name: "containers unlimited at 0", quota: PendingQuota(maxContainersPerSession: 0), pending: 0, pendingSlots: [:],
            request: [:], containers: 64, expected: nil),
    ]

    @Test("each limit refuses exactly past it", arguments: rows)
    func refusal(row: Row) {
        let refusal = row.quota.refusal(
            pending: row.pending, pendingSlots: Self.slots(row.pendingSlots), request: Self.slots(row.request),
            containers: row.containers)
        #expect(refusal == row.expected)
    }

    @Test("messages are Backend.AI's")
    func messages() {
        #expect(QuotaRefusal.pendingSessionCount(limit: 3).message == "You cannot create more than 3 pending session(s).")
        #expect(QuotaRefusal.pendingSessionSlots(["cpu=5 > 4"]).message == "Your pending session quota is exceeded. (cpu=5 > 4)")
        #expect(QuotaRefusal.containersPerSession(limit: 1).message == "You cannot create session with more than 1 containers.")
    }
}
