import Crypto
import Foundation

/// Backend.AI's v7 request signature (HMAC-SHA256), as the official client computes it.
///
/// The signed text is seven lines: method, path with query as sent, the Date header, `host:<Host>`,
/// `content-type:<mime>`, `x-backendai-version:<version>`, and the SHA-256 of empty bytes (the body is never
/// hashed). The key is `HMAC(HMAC(secret, YYYYMMDD), host)`.
public struct RequestSignature: Sendable, Hashable {
    public var method: String
    public var pathAndQuery: String
    public var date: String
    public var host: String
    public var contentType: String
    public var apiVersion: String

    public init(method: String, pathAndQuery: String, date: String, host: String, contentType: String, apiVersion: String) {
        self.method = method
        self.pathAndQuery = pathAndQuery
        self.date = date
        self.host = host
        self.contentType = contentType
        self.apiVersion = apiVersion
    }

    private static let emptyBodyHash = SHA256.hash(data: Data()).hexString

    /// The seven-line text that is signed.
    public var stringToSign: String {
        [
            self.method.uppercased(), self.pathAndQuery, self.date, "host:\(self.host)",
            "content-type:\(self.contentType.lowercased())", "x-backendai-version:\(self.apiVersion)", Self.emptyBodyHash,
        ].joined(separator: "\n")
    }

    /// The hex signature for `secretKey`, keyed on the calendar day `day` (`YYYYMMDD`).
    public func signature(secretKey: String, day: String) -> String {
        let dayKey = HMAC<SHA256>.authenticationCode(for: Data(day.utf8), using: SymmetricKey(data: Data(secretKey.utf8)))
        let hostKey = HMAC<SHA256>.authenticationCode(for: Data(self.host.utf8), using: SymmetricKey(data: Data(dayKey)))
        let code = HMAC<SHA256>.authenticationCode(for: Data(self.stringToSign.utf8), using: SymmetricKey(data: Data(hostKey)))
        return Data(code).hexString
    }

    /// True when `candidate` matches the signature for the day written in the Date header, or for its UTC day
    /// (they differ only for a Date with a non-UTC offset). Compared in constant time, on the MAC's bytes: the
    /// signed text is fed to the HMAC part by part and the candidate's hex read in place, so a request's check
    /// builds no joined text and no hex string (`signature(secretKey:day:)` stays the readable reference, and
    /// `RequestSignatureTests` checks the two agree).
    public func verify(_ candidate: String, secretKey: String) -> Bool {
        guard let instant = Timestamp.parse(self.date) ?? HTTPDate.parse(self.date) else { return false }
        let utcDay = Timestamp.utcDay(instant)
        var matched = self.matches(candidate, secretKey: secretKey, day: utcDay)
        if let written = Timestamp.writtenDay(self.date), written != utcDay {
            matched = self.matches(candidate, secretKey: secretKey, day: written) || matched
        }
        return matched
    }

    private func matches(_ candidate: String, secretKey: String, day: String) -> Bool {
        let dayKey = HMAC<SHA256>.authenticationCode(for: Data(day.utf8), using: SymmetricKey(data: Data(secretKey.utf8)))
        let hostKey = HMAC<SHA256>.authenticationCode(for: Data(self.host.utf8), using: SymmetricKey(data: Data(dayKey)))
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: Data(hostKey)))
        func feed(_ text: String) {
            var text = text
            text.withUTF8 { hmac.update(data: UnsafeRawBufferPointer($0)) }
        }
        let newline = "\n"
        feed(self.method.uppercased())
        feed(newline)
        feed(self.pathAndQuery)
        feed(newline)
        feed(self.date)
        feed("\nhost:")
        feed(self.host)
        feed("\ncontent-type:")
        feed(self.contentType.lowercased())
        feed("\nx-backendai-version:")
        feed(self.apiVersion)
        feed(newline)
        feed(Self.emptyBodyHash)
        let code = hmac.finalize()
        return code.withUnsafeBytes { mac in Self.constantTimeEqualsHex(mac, candidate) }
    }

    /// Whether `hex` (either case) spells `bytes`, without an early exit.
    static func constantTimeEqualsHex(_ bytes: UnsafeRawBufferPointer, _ hex: String) -> Bool {
        var hex = hex
        return hex.withUTF8 { text -> Bool in
            var difference = UInt8(text.count == bytes.count * 2 ? 0 : 1)
            for index in 0..<bytes.count {
                let high = 2 * index < text.count ? Self.nibble(text[2 * index]) : 0xFF
                let low = 2 * index + 1 < text.count ? Self.nibble(text[2 * index + 1]) : 0xFF
                difference |= (high | low) & 0xF0  // a character that is not a hex digit
                difference |= ((high << 4) | (low & 0x0F)) ^ bytes[index]
            }
            return difference == 0
        }
    }

    /// A hex digit's value, or 0xFF.
    private static func nibble(_ byte: UInt8) -> UInt8 {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return 0xFF
        }
    }

    /// Compares two strings without an early exit on the first differing byte.
    public static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        let left = Array(lhs.utf8)
        let right = Array(rhs.utf8)
        var difference = UInt8(left.count == right.count ? 0 : 1)
        for index in 0..<max(left.count, right.count) {
            let a = index < left.count ? left[index] : 0
            let b = index < right.count ? right[index] : 0
            difference |= a ^ b
        }
        return difference == 0
    }
}

/// The parts of `Authorization: BackendAI signMethod=HMAC-SHA256, credential=<access key>:<signature>`.
public struct AuthorizationHeader: Sendable, Hashable {
    public let signMethod: String
    public let accessKey: String
    public let signature: String

    /// Parses the header the way the Backend.AI manager does; nil when it is garbled.
    public init?(_ text: String) {
        let pieces = text.split(separator: " ", maxSplits: 1)
        guard pieces.count == 2, pieces[0] == "BackendAI" || pieces[0] == "Sorna" else { return nil }
        var fields: [String: String] = [:]
        for part in pieces[1].split(separator: ",") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { return nil }
            fields[String(pair[0])] = String(pair[1])
        }
        guard let method = fields["signMethod"], let credential = fields["credential"] else { return nil }
        let credentialParts = credential.split(separator: ":", omittingEmptySubsequences: false)
        guard credentialParts.count == 2, !credentialParts[0].isEmpty, !credentialParts[1].isEmpty else { return nil }
        self.signMethod = method
        self.accessKey = String(credentialParts[0])
        self.signature = String(credentialParts[1])
    }
}

/// RFC 1123 dates (`Sun, 22 Nov 2026 09:52:19 GMT`), which the manager also accepts in `Date`.
///
/// Total: every field is a fixed number of digits checked against its range before any arithmetic, so no text
/// can overflow (the year is 1–9999, as in ISO 8601 text).
enum HTTPDate {
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    private static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]

    /// `date` in RFC 1123 form, UTC (`Last-Modified`).
    static func format(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        guard gmtime_r(&seconds, &parts) != nil else { return "Thu, 01 Jan 1970 00:00:00 GMT" }
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(Self.weekdays[Int(parts.tm_wday) % 7]), \(two(parts.tm_mday)) \(Self.months[Int(parts.tm_mon) % 12]) "
            + "\(parts.tm_year + 1900) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    static func parse(_ text: String) -> Date? {
        guard text.utf8.count <= 64 else { return nil }
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let monthIndex = Self.months.firstIndex(of: String(parts[2])),
            let day = Self.digits(parts[1], count: 1...2),
            let year = Self.digits(parts[3], count: 4...4), year >= 1,
            Timestamp.isValidDay(year: year, month: monthIndex + 1, day: day)
        else { return nil }
        let time = parts[4].split(separator: ":", omittingEmptySubsequences: false)
        guard time.count == 3, let hour = Self.digits(time[0], count: 2...2), let minute = Self.digits(time[1], count: 2...2),
            let second = Self.digits(time[2], count: 2...2), hour < 24, minute < 60, second < 61
        else { return nil }
        let days = Timestamp.days(fromCivil: year, monthIndex + 1, day)
        return Date(timeIntervalSince1970: Double(days * 86_400 + Int64(hour * 3600 + minute * 60 + second)))
    }

    /// A run of `count` ASCII digits (no sign, no spaces) as a number; nil otherwise.
    private static func digits(_ text: Substring, count: ClosedRange<Int>) -> Int? {
        let bytes = text.utf8
        guard count.contains(bytes.count) else { return nil }
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }
}

extension Sequence where Element == UInt8 {
    /// Lower-case hex digits.
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        for byte in self {
            bytes.append(digits[Int(byte >> 4)])
            bytes.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension SHA256.Digest {
    var hexString: String { Array(self).hexString }
}
