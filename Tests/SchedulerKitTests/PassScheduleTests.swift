import Testing
@testable import SchedulerKit

/// No pass for an unchanged queue: a group's pass runs after a change, when a time-based predicate comes due, or
/// after the idle interval; a change during a pass leads to another; an unsettled pass runs again.
@Suite struct PassScheduleTests {
    @Test("a group passes when new, after a change, when due and after the idle interval, and not otherwise")
    func needsPass() {
        var schedule = PassSchedule(idleInterval: 30)
        #expect(schedule.needsPass("g", now: 0), "never passed")
        schedule.passed("g", began: schedule.generation, at: 0, due: nil, settled: true)
        #expect(!schedule.needsPass("g", now: 1))
        #expect(!schedule.needsPass("g", now: 29.9))
        #expect(schedule.needsPass("g", now: 30), "the idle interval")
        #expect(schedule.needsPass("other", now: 1), "another group is new")

        schedule.passed("g", began: schedule.generation, at: 40, due: 45, settled: true)
        #expect(!schedule.needsPass("g", now: 44.9))
        #expect(schedule.needsPass("g", now: 45), "a deadline came due")

        schedule.passed("g", began: schedule.generation, at: 50, due: nil, settled: true)
        schedule.changed()
        #expect(schedule.needsPass("g", now: 50.1), "a wake-up changes every group")
    }

    @Test("a change during a pass, an unsettled pass and a forgotten group each lead to another pass")
    func races() {
        var schedule = PassSchedule(idleInterval: 30)
        let began = schedule.generation
        schedule.changed()  // arrives while the pass reads its snapshot
        schedule.passed("g", began: began, at: 1, due: nil, settled: true)
        #expect(schedule.needsPass("g", now: 1.1))
        schedule.passed("g", began: schedule.generation, at: 2, due: nil, settled: true)
        #expect(!schedule.needsPass("g", now: 2.1))

        schedule.passed("g", began: schedule.generation, at: 3, due: nil, settled: false)
        #expect(schedule.needsPass("g", now: 3.1), "the window was full, or another replica held the group")

        schedule.passed("g", began: schedule.generation, at: 4, due: nil, settled: true)
        schedule.keep(only: [])
        #expect(schedule.groups.isEmpty)
        #expect(schedule.needsPass("g", now: 4.1), "a group that had no PENDING sessions starts over")
    }

    @Test("the next deadline: a reserved start or a pending timeout after now, the earliest")
    func nextDeadline() {
        let slots = ResourceSlots()
        func session(_ id: String, created: Double, startsAt: Double? = nil, dependencies: [String] = []) -> PendingSession {
            PendingSession(
                id: id, name: id, type: .batch, accessKey: "ak", requested: slots, createdAt: created, startsAt: startsAt,
                dependencies: dependencies)
        }
        var snapshot = SchedulingSnapshot(scalingGroup: "g", now: 100, pending: [session("a", created: 90)], agents: [])
        #expect(snapshot.nextDeadline == nil, "no timeout, no reservation")
        snapshot.pending.append(session("b", created: 95, startsAt: 130))
        snapshot.pending.append(session("c", created: 95, startsAt: 50))
        #expect(snapshot.nextDeadline == 130, "a reservation in the past is no deadline")
        snapshot.options.pendingTimeout = 20
        #expect(snapshot.nextDeadline == 110, "a (90) times out at 110, before b's start")
        snapshot.options.pendingTimeout = 5
        #expect(snapshot.nextDeadline == 130, "every timeout already passed")

        #expect(snapshot.isComplete(maxReady: 100, maxParked: 10), "fewer than the parked cap")
        #expect(!snapshot.isComplete(maxReady: 100, maxParked: 2), "some parked, the parked cap reached")
        snapshot.pending = (0..<5).map { session("s\($0)", created: 99) }
        #expect(snapshot.isComplete(maxReady: 100, maxParked: 2), "none parked, below the window")
        #expect(!snapshot.isComplete(maxReady: 5, maxParked: 2), "the window is full")
        snapshot.pending.append(session("d", created: 99, dependencies: ["s0"]))
        #expect(!snapshot.isComplete(maxReady: 100, maxParked: 2))
    }
}
