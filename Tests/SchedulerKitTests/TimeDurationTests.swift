import SchedulerKit
import Testing

@Suite struct TimeDurationTests {
    @Test("durations parse as Backend.AI's TimeDuration does", arguments: [
        ("30", 30.0), ("30s", 30), ("30m", 1800), ("1.5h", 5400), ("2d", 172_800), ("1w", 604_800), (" 6 ", 6), ("0", 0),
    ])
    func parses(text: String, seconds: Double) {
        #expect(TimeDuration.seconds(parsing: text) == .success(seconds))
    }

    @Test("bad durations say why", arguments: [
        ("-5", TimeDuration.Problem.negative),
        ("-5m", .negative),
        ("5y", .unknownUnit("y")),
        ("abc", .unknownUnit("abc")),
        ("", .notANumber("")),
        ("1.2.3s", .notANumber("1.2.3s")),
    ])
    func refuses(text: String, problem: TimeDuration.Problem) {
        #expect(TimeDuration.seconds(parsing: text) == .failure(problem))
    }

    @Test("the problem text names the accepted units")
    func problemText() {
        #expect("\(TimeDuration.Problem.unknownUnit("y"))" == "unknown duration unit 'y' (use s, m, h, d or w)")
        #expect(TimeDuration.seconds(from: -1) == .failure(.negative))
        #expect(TimeDuration.seconds(from: 12) == .success(12))
    }
}
