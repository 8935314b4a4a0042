/// An exact, non-negative amount of one resource slot, kept in thousandths (like Kubernetes' milli-units).
///
/// `"1"`, `"0.5"`, `"512m"` and `"1g"` parse without floating point: binary suffixes (k, m, g, t, p) are powers of
/// 1024 and the result is rounded half-up to 1/1000. The largest amount is about 9.2 × 10¹⁵ (8 PiB of memory).
public struct SlotAmount: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The amount in thousandths.
    public var milli: Int64

    public init(milli: Int64) {
        self.milli = milli
    }

    public init(_ whole: Int) {
        self.milli = Int64(whole) * 1000
    }

    public static let zero = SlotAmount(milli: 0)

    static let suffixes: [Character: Int64] = [
        "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50,
    ]

    /// The amount `text` stands for, or nil when it is not a non-negative number with an optional suffix.
    public init?(parsing text: String) {
        var body = Substring(text.trimmingWhitespace().lowercased())
        if body.hasSuffix("ib") { body = body.dropLast(2) } else if body.hasSuffix("b") { body = body.dropLast() }
        var factor: Int64 = 1
        if let last = body.last, let value = Self.suffixes[last] {
            factor = value
            body = body.dropLast()
        }
        let parts = body.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let wholeText = parts.first, !body.isEmpty, body != ".",
            wholeText.allSatisfy(\.isASCIIDigit), parts.count == 1 || parts[1].allSatisfy(\.isASCIIDigit)
        else { return nil }
        // Whole part, exactly.
        var milli: Int64 = 0
        for digit in wholeText.drop(while: { $0 == "0" }) {
            guard let next = Self.multiplyAdd(milli, 10, Int64(digit.asciiDigitValue)) else { return nil }
            milli = next
        }
        guard let scaledWhole = Self.multiply(milli, factor), let wholeMilli = Self.multiply(scaledWhole, 1000) else {
            return nil
        }
        // Fraction: up to 12 digits are kept, scaled by the suffix and rounded half-up to thousandths.
        var fraction: Int64 = 0
        var denominator: Int64 = 1
        if parts.count == 2 {
            for digit in parts[1].prefix(12) {
                fraction = fraction * 10 + Int64(digit.asciiDigitValue)
                denominator *= 10
            }
        }
        // fraction × factor × 1000 / denominator, without overflow: factor ≤ 2⁵⁰ and fraction < 10¹², so split.
        let fractionMilli = Self.scaledFraction(fraction, denominator: denominator, factor: factor)
        guard let fractionMilli, let total = Self.add(wholeMilli, fractionMilli) else { return nil }
        self.milli = total
    }

    private static func scaledFraction(_ fraction: Int64, denominator: Int64, factor: Int64) -> Int64? {
        guard fraction > 0 else { return 0 }
        // (fraction × factor × 1000 + denominator/2) / denominator with 128-bit intermediate.
        let numerator = UInt128(fraction) * UInt128(factor) * 1000 + UInt128(denominator / 2)
        let quotient = numerator / UInt128(denominator)
        return quotient <= UInt128(Int64.max) ? Int64(quotient) : nil
    }

    private static func multiply(_ a: Int64, _ b: Int64) -> Int64? {
        let (value, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : value
    }

    private static func add(_ a: Int64, _ b: Int64) -> Int64? {
        let (value, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : value
    }

    private static func multiplyAdd(_ a: Int64, _ b: Int64, _ c: Int64) -> Int64? {
        self.multiply(a, b).flatMap { self.add($0, c) }
    }

    /// Decimal text without trailing zeros: `"1073741824"`, `"0.5"`, `"2.125"`.
    public var description: String {
        let sign = self.milli < 0 ? "-" : ""
        let magnitude = self.milli.magnitude
        let whole = magnitude / 1000
        let fraction = magnitude % 1000
        guard fraction != 0 else { return "\(sign)\(whole)" }
        var digits = String(fraction)
        digits = String(repeating: "0", count: 3 - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(sign)\(whole).\(digits)"
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.milli < rhs.milli }
    public static func + (lhs: Self, rhs: Self) -> Self { Self(milli: lhs.milli &+ rhs.milli) }
    public static func - (lhs: Self, rhs: Self) -> Self { Self(milli: lhs.milli &- rhs.milli) }

    /// This amount as a share of `total` (0 when `total` is zero), for fairness ordering.
    public func share(of total: SlotAmount) -> Double {
        total.milli > 0 ? Double(self.milli) / Double(total.milli) : 0
    }
}

extension Character {
    var isASCIIDigit: Bool { self.isASCII && self.isNumber }
    var asciiDigitValue: Int { Int(self.asciiValue ?? 48) - 48 }
}
