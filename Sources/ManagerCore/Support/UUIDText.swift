import Foundation

/// A UUID's canonical text (`8-4-4-4-12` lowercase hex), written and read without Foundation's formatted I/O:
/// `uuidString` goes through `snprintf` and `UUID(uuidString:)` through `sscanf`, which took ~9 % of the
/// manager's CPU under session-list load (three UUIDs per row, a hundred rows per page).
enum UUIDText {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// `id` as PostgreSQL and the API write it: lowercase.
    static func lowercase(_ id: UUID) -> String {
        let bytes = id.uuid
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var out = 0
            withUnsafeBytes(of: bytes) { raw in
                for (index, byte) in raw.enumerated() {
                    if index == 4 || index == 6 || index == 8 || index == 10 {
                        buffer[out] = UInt8(ascii: "-")
                        out += 1
                    }
                    buffer[out] = Self.hex[Int(byte >> 4)]
                    buffer[out + 1] = Self.hex[Int(byte & 0x0F)]
                    out += 2
                }
            }
            return out
        }
    }

    /// The UUID written in `text`: the canonical form in either case (what `UUID(uuidString:)` accepts), else nil.
    static func parse(_ text: String) -> UUID? {
        var text = text
        return text.withUTF8 { utf8 -> UUID? in
            guard utf8.count == 36 else { return nil }
            var bytes = [UInt8](repeating: 0, count: 16)
            var byteIndex = 0
            var index = 0
            while index < 36 {
                if index == 8 || index == 13 || index == 18 || index == 23 {
                    guard utf8[index] == UInt8(ascii: "-") else { return nil }
                    index += 1
                    continue
                }
                guard let high = Self.nibble(utf8[index]), let low = Self.nibble(utf8[index + 1]) else { return nil }
                bytes[byteIndex] = high << 4 | low
                byteIndex += 1
                index += 2
            }
            return UUID(uuid: (
                bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
        }
    }

    private static func nibble(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
