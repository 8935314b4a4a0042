import Testing
@testable import SchedulerKit

@Suite struct WaitRecordTests {
    /// A wait as the pass decides it: no agent has room.
    static func waiting() -> SchedulingDecision.Waiting {
        let snapshot = Fixture.snapshot([Fixture.session("x", cpu: 64, createdAt: 1)])
        guard case .wait(let waiting)? = SchedulingPass().run(snapshot).decision("x") else {
            preconditionFailure("a session asking for more than any agent has must wait")
        }
        return waiting
    }

    static func record(of waiting: SchedulingDecision.Waiting, at lastTry: Double?) -> WaitRecord {
        WaitRecord(statusInfo: waiting.statusInfo, failed: waiting.failed, message: waiting.message, lastTry: lastTry)
    }

    @Test("a first wait is written; the same wait again only once the refresh interval has passed")
    func sameReasons() {
        let waiting = Self.waiting()
        #expect(waiting.needsRecording(over: nil, now: 100, refreshInterval: 10))
        #expect(!waiting.needsRecording(over: Self.record(of: waiting, at: 95), now: 100, refreshInterval: 10))
        #expect(waiting.needsRecording(over: Self.record(of: waiting, at: 90), now: 100, refreshInterval: 10))
        #expect(waiting.needsRecording(over: Self.record(of: waiting, at: nil), now: 100, refreshInterval: 10))
    }

    @Test("a wait that says anything new is written at once")
    func newReasons() {
        let waiting = Self.waiting()
        var other = Self.record(of: waiting, at: 99)
        other.statusInfo = "predicate-checks-failed"
        #expect(waiting.needsRecording(over: other, now: 100, refreshInterval: 10))
        other = Self.record(of: waiting, at: 99)
        other.message = "0/0 agents available"
        #expect(waiting.needsRecording(over: other, now: 100, refreshInterval: 10))
        other = Self.record(of: waiting, at: 99)
        other.failed.append(PredicateFailure(name: "concurrency", message: "You cannot run more than 1 concurrent sessions"))
        #expect(waiting.needsRecording(over: other, now: 100, refreshInterval: 10))
    }
}
