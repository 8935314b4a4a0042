import SchedulerKit
import Testing

/// One row: a snapshot, the session to look at, and the outcome each named predicate must give.
struct PredicateCase: CustomTestStringConvertible, Sendable {
    let label: String
    let predicate: any SchedulingPredicate
    let snapshot: SchedulingSnapshot
    let expected: PredicateOutcome
    var testDescription: String { self.label }
}

@Suite struct PredicateTests {
    static let ok = DependencyState(name: "s-a", status: .terminated, result: .success)

    static let cases: [PredicateCase] = [
        .init(label: "reserved_time in the past passes", predicate: ReservedTimePredicate(),
              snapshot: Fixture.snapshot([Fixture.session("x", startsAt: 50)]), expected: .passed),
        .init(label: "reserved_time in the future waits", predicate: ReservedTimePredicate(),
              snapshot: Fixture.snapshot([Fixture.session("x", startsAt: 130)]),
              expected: .waiting("Reserved to start in 30 s (starts_at).")),
        .init(label: "dependencies all succeeded", predicate: DependenciesPredicate(),
              snapshot: Fixture.snapshot([Fixture.session("x", dependencies: ["a"])], dependencies: ["a": ok]), expected: .passed),
        .init(label: "dependency still running waits", predicate: DependenciesPredicate(),
              snapshot: Fixture.snapshot(
                [Fixture.session("x", dependencies: ["a", "b"])],
                dependencies: ["a": ok, "b": .init(name: "s-b", status: .running, result: .undefined)]),
              expected: .waiting("Waiting dependency sessions to finish as success. (s-b)")),
        .init(label: "dependency pending in the same group waits", predicate: DependenciesPredicate(),
              snapshot: Fixture.snapshot([Fixture.session("b"), Fixture.session("x", dependencies: ["b"])]),
              expected: .waiting("Waiting dependency sessions to finish as success. (s-b)")),
        .init(label: "dependency that failed cancels", predicate: DependenciesPredicate(),
              snapshot: Fixture.snapshot(
                [Fixture.session("x", dependencies: ["a"])],
                dependencies: ["a": .init(name: "s-a", status: .terminated, result: .failure)]),
              expected: .cancel(statusInfo: "dependency-failed", message: "The dependency session 's-a' ended without success.")),
        .init(label: "cancelled dependency cancels", predicate: DependenciesPredicate(),
              snapshot: Fixture.snapshot(
                [Fixture.session("x", dependencies: ["a"])],
                dependencies: ["a": .init(name: "s-a", status: .cancelled, result: .undefined)]),
              expected: .cancel(statusInfo: "dependency-failed", message: "The dependency session 's-a' ended without success.")),
        .init(label: "allowed type passes", predicate: AllowedSessionTypesPredicate(),
              snapshot: Fixture.snapshot([Fixture.session("x", type: .batch)]), expected: .passed),
        .init(label: "narrowed types wait", predicate: AllowedSessionTypesPredicate(),
              snapshot: Fixture.snapshot(
                [Fixture.session("x", type: .batch)],
                options: Fixture.options(.object([("allowed_session_types", .array([.string("interactive")]))]))),
              expected: .waiting("The scaling group 'sg' does not accept the session type 'batch'.")),
        .init(label: "concurrency below the limit", predicate: ConcurrencyPredicate(),
              snapshot: Fixture.snapshot([Fixture.session("x")], keypairs: ["AK1": .init(maxConcurrentSessions: 2, runningSessions: 1)]),
              expected: .passed),
        .init(label: "concurrency at the limit waits", predicate: ConcurrencyPredicate(),
              snapshot: Fixture.snapshot([Fixture.session("x")], keypairs: ["AK1": .init(maxConcurrentSessions: 2, runningSessions: 2)]),
              expected: .waiting("You cannot run more than 2 concurrent sessions")),
        .init(label: "concurrency 0 is unlimited", predicate: ConcurrencyPredicate(),
              snapshot: Fixture.snapshot([Fixture.session("x")], keypairs: ["AK1": .init(maxConcurrentSessions: 0, runningSessions: 99)]),
              expected: .passed),
        .init(label: "keypair limit on cpu waits", predicate: KeypairResourceLimitPredicate(),
              snapshot: Fixture.snapshot(
                [Fixture.session("x", cpu: 2)],
                keypairs: ["AK1": .init(resources: .init(limits: ResourceSlots(["cpu": SlotAmount(3)]), used: Fixture.slots(cpu: 2)))]),
              expected: .waiting("Your keypair resource quota is exceeded. (cpu: 2 used + 2 requested > 3)")),
        .init(label: "keypair limit leaves unnamed slots unlimited", predicate: KeypairResourceLimitPredicate(),
              snapshot: Fixture.snapshot(
                [Fixture.session("x", cpu: 1, mem: "64g")],
                keypairs: ["AK1": .init(resources: .init(limits: ResourceSlots(["cpu": SlotAmount(3)]), used: Fixture.slots(cpu: 2)))]),
              expected: .passed),
        .init(label: "pending_timeout 0 never cancels", predicate: PendingTimeoutPredicate(),
              snapshot: Fixture.snapshot([Fixture.session("x", createdAt: 0)], now: 1e9), expected: .passed),
        .init(label: "pending_timeout not reached", predicate: PendingTimeoutPredicate(),
              snapshot: Fixture.snapshot(
                [Fixture.session("x", createdAt: 90)], options: Fixture.options(.object([("pending_timeout", .number(30))]))),
              expected: .passed),
        .init(label: "pending_timeout reached cancels", predicate: PendingTimeoutPredicate(),
              snapshot: Fixture.snapshot(
                [Fixture.session("x", createdAt: 70)], options: Fixture.options(.object([("pending_timeout", .string("30s"))]))),
              expected: .cancel(statusInfo: "pending-timeout",
                                message: "Pending for longer than the scaling group's pending_timeout (30 s).")),
    ]

    @Test("each predicate gives its outcome and reason", arguments: cases)
    func outcome(_ row: PredicateCase) throws {
        let session = try #require(row.snapshot.pending.last)
        let ledger = PassLedger(row.snapshot)
        #expect(row.predicate.evaluate(session, snapshot: row.snapshot, ledger: ledger) == row.expected)
    }

    @Test("group and domain limits name their owner")
    func groupAndDomain() {
        var snapshot = Fixture.snapshot([Fixture.session("x", cpu: 4)])
        snapshot.groups["default"] = .init(limits: ResourceSlots(["cpu": SlotAmount(2)]))
        snapshot.domains["default"] = .init(limits: ResourceSlots(["cpu": SlotAmount(3)]))
        let result = SchedulingPass().run(snapshot)
        #expect(result.failedMessages("x") == [
            "group_resource_limit: Your group resource quota is exceeded. (cpu: 0 used + 4 requested > 2)",
            "domain_resource_limit: Your domain resource quota is exceeded. (cpu: 0 used + 4 requested > 3)",
        ])
    }

    @Test("every predicate is evaluated: all reasons are listed at once")
    func noShortCircuit() {
        let snapshot = Fixture.snapshot(
            [Fixture.session("x", type: .batch, startsAt: 500, dependencies: ["a"])],
            options: Fixture.options(.object([("allowed_session_types", .array([.string("interactive")]))])),
            dependencies: ["a": .init(name: "s-a", status: .running, result: .undefined)],
            keypairs: ["AK1": .init(maxConcurrentSessions: 1, runningSessions: 1)])
        guard case .wait(let waiting)? = SchedulingPass().run(snapshot).decision("x") else {
            Issue.record("expected the session to wait")
            return
        }
        #expect(waiting.statusInfo == "predicate-checks-failed")
        #expect(waiting.failed.map(\.name) == ["reserved_time", "dependencies", "allowed_session_types", "concurrency"])
        #expect(waiting.passed == ["keypair_resource_limit", "group_resource_limit", "domain_resource_limit", "pending_timeout"])
        #expect(waiting.retries == 1)
    }
}

