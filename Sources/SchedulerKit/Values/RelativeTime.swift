/// Backend.AI's relative times (`str_to_timedelta`), as `session create --starts-at 10s` sends them: an optional
/// sign, then days, hours, minutes and seconds in that order, each optional, each a decimal number with its unit
/// (`d|day|days`, `h|hr|hrs|hour|hours`, `m|min|mins|minute|minutes`, `s|sec|secs|second|seconds`):
/// `10s`, `5m`, `1h30m`, `1.5d`, `-2h`. Total: any text gives a value within ±`TimeDuration.maxSeconds` or nil.
public enum RelativeTime {
    static let units: [(seconds: Double, names: [String])] = [
        (86_400, ["days", "day", "d"]),
        (3600, ["hours", "hour", "hrs", "hr", "h"]),
        (60, ["minutes", "minute", "mins", "min", "m"]),
        (1, ["seconds", "second", "secs", "sec", "s"]),
    ]

    /// Seconds from now (negative for the past), or nil when `text` is not a relative time.
    public static func seconds(parsing text: String) -> Double? {
        var rest = Substring(text)
        guard !rest.isEmpty, rest.utf8.count <= 64 else { return nil }
        var sign = 1.0
        if rest.first == "+" || rest.first == "-" {
            sign = rest.first == "-" ? -1 : 1
            rest = rest.dropFirst()
        }
        var total = 0.0
        var matched = false
        for unit in Self.units {
            let digits = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !digits.isEmpty else { continue }
            let afterDigits = rest.dropFirst(digits.count)
            guard let name = unit.names.first(where: { afterDigits.hasPrefix($0) }) else { continue }
            // Python's `\d+(\.\d+)?`: digits, then at most one point followed by digits.
            let parts = digits.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count <= 2, parts.allSatisfy({ !$0.isEmpty }), let value = Double(digits), value.isFinite else { return nil }
            total += value * unit.seconds
            guard total <= TimeDuration.maxSeconds else { return nil }
            rest = afterDigits.dropFirst(name.count)
            matched = true
        }
        guard matched, rest.isEmpty else { return nil }
        return sign * total
    }
}
