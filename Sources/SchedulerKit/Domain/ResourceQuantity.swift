/// Parses resource amounts as the Backend.AI client sends them: `"1"`, `"0.5"`, `"512m"`, `"1g"`.
/// Binary suffixes (k, m, g, t, p = powers of 1024) apply to memory-like slots.
public enum ResourceQuantity {
    static let suffixes: [Character: Double] = [
        "k": 1024, "m": 1_048_576, "g": 1_073_741_824, "t": 1_099_511_627_776, "p": 1_125_899_906_842_624,
    ]

    /// The amount, or nil when the text is not a non-negative number with an optional suffix.
    public static func parse(_ text: String) -> Double? {
        var body = Substring(text.trimmingWhitespace().lowercased())
        if body.hasSuffix("ib") || body.hasSuffix("b") { body = body.dropLast(body.hasSuffix("ib") ? 2 : 1) }
        var factor = 1.0
        if let last = body.last, let value = Self.suffixes[last] {
            factor = value
            body = body.dropLast()
        }
        guard !body.isEmpty, body.allSatisfy({ $0.isNumber || $0 == "." }), let value = Double(body), value.isFinite,
            value >= 0
        else { return nil }
        return value * factor
    }
}
