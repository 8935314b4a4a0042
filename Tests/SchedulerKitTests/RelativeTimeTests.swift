import Testing
@testable import SchedulerKit

@Suite struct RelativeTimeTests {
    static let cases: [(String, Double)] = [
        ("10s", 10), ("5m", 300), ("1h", 3600), ("1d", 86_400), ("1h30m", 5400), ("1.5d", 129_600),
        ("2hours", 7200), ("3mins", 180), ("1day2hrs3minutes4seconds", 93_784), ("-2h", -7200),
        ("+30sec", 30), ("0s", 0),
    ]

    @Test("Backend.AI's relative times parse to seconds", arguments: Self.cases)
    func parses(text: String, seconds: Double) {
        #expect(RelativeTime.seconds(parsing: text) == seconds)
    }

    @Test("anything else is not a relative time", arguments: [
        "", "10", "s", "10x", "1m1h", "1.2.3s", ".5s", "5.s", "10 s", "2026-11-22T09:48:51Z", "1s1s", "--1s",
        "99999999999999999999999999d", String(repeating: "9", count: 400) + "s", "1e5s",
    ])
    func refuses(text: String) {
        #expect(RelativeTime.seconds(parsing: text) == nil)
    }
}
