import Foundation
import SchedulerKit

/// JSON bytes written as `GraphQLJSONEncoder` (default options) writes a `GraphQLResult`: no spaces, `/` escaped
/// as `\/`, control characters as `\b \f \n \r \t` or `\u00xx`, numbers through `Double`'s description without a
/// trailing `.0`. The compiled path's output must equal the general path's byte for byte
/// (`CompiledSessionListTests` runs both).
struct GraphQLJSONWriter {
    private(set) var bytes: [UInt8] = []
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    init(capacity: Int) { self.bytes.reserveCapacity(capacity) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { self.bytes.append(contentsOf: $0) }
    }

    mutating func raw(_ prepared: [UInt8]) { self.bytes.append(contentsOf: prepared) }

    mutating func byte(_ byte: UInt8) { self.bytes.append(byte) }

    mutating func string(_ text: String) {
        var text = text
        text.withUTF8 { self.string(utf8: $0) }
    }

    mutating func string(utf8: UnsafeBufferPointer<UInt8>) {
        self.bytes.append(UInt8(ascii: "\""))
        var copyFrom = 0
        for index in 0..<utf8.count {
            let byte = utf8[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "/") else {
                continue
            }
            self.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[copyFrom..<index]))
            copyFrom = index + 1
            switch byte {
            case UInt8(ascii: "\""): self.bytes.append(contentsOf: [0x5C, 0x22])
            case UInt8(ascii: "\\"): self.bytes.append(contentsOf: [0x5C, 0x5C])
            case UInt8(ascii: "/"): self.bytes.append(contentsOf: [0x5C, 0x2F])
            case 0x08: self.bytes.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: self.bytes.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0A: self.bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: self.bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: self.bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            default:
                self.bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                self.bytes.append(Self.hex[Int(byte >> 4)])
                self.bytes.append(Self.hex[Int(byte & 0x0F)])
            }
        }
        self.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[copyFrom..<utf8.count]))
        self.bytes.append(UInt8(ascii: "\""))
    }

    /// An integer as the encoder writes a `Map.number`: through `Double`.
    mutating func int(_ number: Int) {
        var text = Double(number).description
        if text.hasSuffix(".0") { text.removeLast(2) }
        self.bytes.append(contentsOf: text.utf8)
    }

    mutating func value(_ value: SessionFieldValue) {
        switch value {
        case .null: self.raw("null")
        case .string(let text): self.string(text)
        case .int(let number): self.int(number)
        case .uuid(let id): self.string(UUIDText.lowercase(id))
        case .date(let date): self.string(Timestamp.pythonISO(date))
        case .json(let json): self.string(json.text)
        case .strings(let texts): self.list(texts) { $0.string($1) }
        case .ints(let numbers): self.list(numbers) { $0.int($1) }
        case .jsons(let values): self.list(values) { $0.string($1.text) }
        }
    }

    private mutating func list<T>(_ elements: [T], _ write: (inout GraphQLJSONWriter, T) -> Void) {
        self.byte(UInt8(ascii: "["))
        for (index, element) in elements.enumerated() {
            if index > 0 { self.byte(UInt8(ascii: ",")) }
            write(&self, element)
        }
        self.byte(UInt8(ascii: "]"))
    }
}
