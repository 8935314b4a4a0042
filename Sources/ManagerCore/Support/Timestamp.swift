import Foundation

/// Formatting and parsing of the timestamps the wire formats use, without locale-dependent formatters.
public enum Timestamp {
    /// `2026-11-22T09:48:51.812325Z`: what we send to PostgreSQL and in JSON.
    public static func iso8601(_ date: Date) -> String {
        let parts = Self.components(date)
        return "\(parts.date)T\(parts.time).\(parts.micros)Z"
    }

    /// `2026-11-22T09:48:51.812325+00:00`: Python's `datetime.isoformat()` for an aware UTC value.
    public static func pythonISO(_ date: Date) -> String {
        let parts = Self.components(date)
        return "\(parts.date)T\(parts.time).\(parts.micros)+00:00"
    }

    /// `2026-11-22 09:48:51.812325+00:00`: Python's `str(datetime)`, as the dependency graph shows it.
    public static func pythonStr(_ date: Date) -> String {
        let parts = Self.components(date)
        return "\(parts.date) \(parts.time).\(parts.micros)+00:00"
    }

    private static func components(_ date: Date) -> (date: String, time: String, micros: String) {
        // Clamped to years 1–9999 first, so no instant (not even a NaN or an infinite one) can trap the conversion.
        let seconds1970 = date.timeIntervalSince1970
        let clamped = seconds1970.isNaN ? 0 : min(max(seconds1970, Self.minimumSeconds), Self.maximumSeconds)
        let totalMicros = Int64((clamped * 1_000_000).rounded())
        var seconds = totalMicros / 1_000_000
        var micros = totalMicros % 1_000_000
        if micros < 0 {
            micros += 1_000_000
            seconds -= 1
        }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let (year, month, day) = Self.civil(fromDays: days)
        let hour = secondOfDay / 3600
        let minute = (secondOfDay % 3600) / 60
        let second = secondOfDay % 60
        return (
            "\(Self.pad(year, 4))-\(Self.pad(month, 2))-\(Self.pad(day, 2))",
            "\(Self.pad(hour, 2)):\(Self.pad(minute, 2)):\(Self.pad(second, 2))",
            Self.pad(micros, 6)
        )
    }

    /// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range every text form here can show.
    static let minimumSeconds = -62_135_596_800.0
    static let maximumSeconds = 253_402_300_799.0

    /// True when `day` exists in `month` of `year` (proleptic Gregorian).
    static func isValidDay(year: Int, month: Int, day: Int) -> Bool {
        guard (1...12).contains(month), day >= 1 else { return false }
        let lengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        return day <= (month == 2 && leap ? 29 : lengths[month - 1])
    }

    /// Parses ISO 8601 / PostgreSQL output: `2026-11-22[T ]09:48:51[.ffffff][Z|±HH[:MM]|±HHMM]`.
    /// A value without an offset is taken as UTC.
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 19 else { return nil }
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= bytes.count else { return nil }
            var value = 0
            for index in from..<(from + count) {
                let byte = bytes[index]
                guard byte >= 48, byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0, 4), bytes[4] == UInt8(ascii: "-"), let month = number(5, 2),
            bytes[7] == UInt8(ascii: "-"), let day = number(8, 2),
            bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: " ") || bytes[10] == UInt8(ascii: "t"),
            let hour = number(11, 2), bytes[13] == UInt8(ascii: ":"), let minute = number(14, 2),
            bytes[16] == UInt8(ascii: ":"), let second = number(17, 2),
            year >= 1, Self.isValidDay(year: year, month: month, day: day), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") || bytes[index] == UInt8(ascii: ",") {
            index += 1
            var scale = 0.1
            let start = index
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                guard index - start < 32 else { return nil }
                fraction += Double(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        var offsetSeconds = 0
        if index < bytes.count {
            let sign = bytes[index]
            if sign == UInt8(ascii: "Z") || sign == UInt8(ascii: "z") {
                index += 1
            } else if sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                guard let hours = number(index + 1, 2) else { return nil }
                index += 3
                var minutes = 0
                if index < bytes.count, bytes[index] == UInt8(ascii: ":") {
                    guard let value = number(index + 1, 2) else { return nil }
                    minutes = value
                    index += 3
                } else if let value = number(index, 2) {
                    minutes = value
                    index += 2
                }
                guard hours < 24, minutes < 60 else { return nil }
                offsetSeconds = (hours * 3600 + minutes * 60) * (sign == UInt8(ascii: "-") ? -1 : 1)
            } else {
                return nil
            }
        }
        guard index == bytes.count else { return nil }
        let days = Self.days(fromCivil: year, month, day)
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetSeconds)
        // An offset or a leap second can step past year 9999 or before year 1: outside what any form here shows.
        guard Double(seconds) >= Self.minimumSeconds, Double(seconds) <= Self.maximumSeconds else { return nil }
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    /// The calendar day (`YYYYMMDD`) written in the text, before any offset is applied.
    public static func writtenDay(_ text: String) -> String? {
        guard text.utf8.count >= 10, Self.parse(text) != nil else { return nil }
        let prefix = text.prefix(10)
        return prefix.replacingOccurrences(of: "-", with: "")
    }

    /// The UTC calendar day of an instant as `YYYYMMDD`.
    public static func utcDay(_ date: Date) -> String {
        String(Self.components(date).date.replacingOccurrences(of: "-", with: ""))
    }

    // Howard Hinnant's days-from-civil algorithms (proleptic Gregorian calendar).
    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
