/// Parses durations the way Backend.AI's `TimeDuration` does: a number of seconds, or a number with a unit
/// suffix `s`, `m`, `h`, `d` or `w` (`"30m"`, `"1.5h"`). Used for `pending_timeout` and config intervals.
public enum TimeDuration {
    /// Why a text is not a duration.
    public enum Problem: Error, Equatable, Sendable {
        case notANumber(String)
        case negative
        case unknownUnit(String)
        /// Longer than `maxSeconds`: no timeout or interval here needs more, and every conversion stays in range.
        case tooLarge
    }

    /// 100 years.
    public static let maxSeconds = 3_155_760_000.0

    /// Seconds in each unit suffix.
    static let units: [String: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]

    /// The number of seconds `text` stands for; negative values are refused.
    public static func seconds(parsing text: String) -> Result<Double, Problem> {
        let trimmed = text.trimmingWhitespace()
        var numberPart = Substring(trimmed)
        var factor = 1.0
        if let last = trimmed.last, last.isLetter {
            let unit = String(trimmed.reversed().prefix { $0.isLetter }.reversed())
            guard let unitFactor = Self.units[unit] else { return .failure(.unknownUnit(unit)) }
            factor = unitFactor
            numberPart = numberPart.dropLast(unit.count)
        }
        guard !numberPart.isEmpty, numberPart.allSatisfy({ $0.isNumber || $0 == "." || $0 == "-" || $0 == "+" }),
            let value = Double(numberPart), value.isFinite
        else {
            return .failure(.notANumber(trimmed))
        }
        guard value >= 0 else { return .failure(.negative) }
        guard value * factor <= Self.maxSeconds else { return .failure(.tooLarge) }
        return .success(value * factor)
    }

    /// Seconds from a plain number; negative or non-finite values are refused.
    public static func seconds(from value: Double) -> Result<Double, Problem> {
        guard value.isFinite else { return .failure(.notANumber("\(value)")) }
        guard value >= 0 else { return .failure(.negative) }
        guard value <= Self.maxSeconds else { return .failure(.tooLarge) }
        return .success(value)
    }
}

extension TimeDuration.Problem: CustomStringConvertible {
    public var description: String {
        switch self {
        case .notANumber(let text): return "'\(text)' is not a duration (a number of seconds, or a number with s, m, h, d or w)"
        case .negative: return "a duration cannot be negative"
        case .unknownUnit(let unit): return "unknown duration unit '\(unit)' (use s, m, h, d or w)"
        case .tooLarge: return "a duration cannot be longer than 100 years"
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars = scalars.dropFirst() }
        while let last = scalars.last, last.isWhitespace { scalars = scalars.dropLast() }
        return String(scalars)
    }
}
