/// Finds the first object key that appears twice in the same JSON object.
///
/// JSON decoders keep one of two equal keys silently (RFC 8259 leaves it open), so `{"image": "a", "image": "b"}`
/// would be read as whichever the decoder keeps; the API refuses it instead. One pass over the bytes, without
/// recursion (a deeply nested body cannot exhaust the stack); keys are compared as written, escapes undecoded.
/// Only called on bodies the JSON decoder has already accepted, so the text is well formed.
enum JSONDuplicateKeys {
    static func first(in bytes: some Collection<UInt8>) -> String? {
        // One frame per open container: the keys seen so far for an object, nil for an array.
        var frames: [Set<[UInt8]>?] = []
        var expectingKey = false
        var iterator = bytes.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "{"):
                frames.append([])
                expectingKey = true
            case UInt8(ascii: "["):
                frames.append(nil)
                expectingKey = false
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = frames.popLast()
                expectingKey = false
            case UInt8(ascii: ","):
                expectingKey = frames.last.map { $0 != nil } ?? false
            case UInt8(ascii: "\""):
                var text: [UInt8] = []
                var escaped = false
                while let next = iterator.next() {
                    if escaped {
                        escaped = false
                    } else if next == UInt8(ascii: "\\") {
                        escaped = true
                    } else if next == UInt8(ascii: "\"") {
                        break
                    }
                    if expectingKey { text.append(next) }
                }
                if expectingKey, let last = frames.indices.last, frames[last] != nil {
                    if frames[last]?.insert(text).inserted == false {
                        return String(decoding: text, as: UTF8.self)
                    }
                    expectingKey = false
                }
            default:
                continue
            }
        }
        return nil
    }
}
