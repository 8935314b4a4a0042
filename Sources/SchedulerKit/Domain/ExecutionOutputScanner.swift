/// Reads an execution's output as it arrives in pieces and finds where the process waits for input: the marker
/// `ESC ] 1337 ; backend.ai-input ; text|password BEL` that `ExecutionCommand`'s Python prelude prints after a
/// prompt. The marker is removed from the text the user sees. A marker (or a UTF-8 character) cut between two
/// pieces is held back until the rest arrives, so no piece of output is mis-decoded or leaks half a marker.
public struct ExecutionOutputScanner: Sendable {
    public enum Piece: Equatable, Sendable {
        case text(String)
        /// The process waits for one line of input; `secret` for a password (`getpass`).
        case waitingInput(secret: Bool)
    }

    static let prefix: [UInt8] = Array("\u{1b}]1337;backend.ai-input;".utf8)
    /// The longest marker kind (`password`) and its BEL: past this without a BEL, what looked like a marker is text.
    static let maxKindLength = 9
    private var pending: [UInt8] = []

    public init() {}

    /// Bytes held back (a marker or character not yet complete): not yet consumed.
    public var held: Int { self.pending.count }

    /// The text and input waits in `bytes` (with what was held back before), in order.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Piece] {
        self.pending.append(contentsOf: bytes)
        var pieces: [Piece] = []
        var start = 0
        var markerCut = false
        func emit(_ end: Int) {
            if end > start { pieces.append(.text(String(decoding: self.pending[start..<end], as: UTF8.self))) }
        }
        scan: while start < self.pending.count {
            guard let found = Self.find(Self.prefix, in: self.pending, from: start) else { break }
            let kindStart = found + Self.prefix.count
            var bell: Int?
            var index = kindStart
            while index < self.pending.count && index <= kindStart + Self.maxKindLength {
                if self.pending[index] == 0x07 { bell = index; break }
                index += 1
            }
            guard let bell else {
                if self.pending.count - kindStart <= Self.maxKindLength {
                    // The marker may be cut here: keep it (and what precedes it goes out now).
                    emit(found)
                    start = found
                    markerCut = true
                    break scan
                }
                // Not a marker after all: its ESC is text.
                emit(found + 1)
                start = found + 1
                continue
            }
            emit(found)
            let kind = String(decoding: self.pending[kindStart..<bell], as: UTF8.self)
            pieces.append(.waitingInput(secret: kind == "password"))
            start = bell + 1
        }
        // What may begin a marker or a character whose bytes have not all come stays for the next piece.
        if !markerCut {
            let held = max(self.partialPrefix(from: start), self.partialCharacter(from: start))
            emit(self.pending.count - held)
            start = self.pending.count - held
        }
        self.pending.removeFirst(start)
        return pieces
    }

    /// The rest, once the process has ended (a cut marker or character is text then).
    public mutating func finish() -> [Piece] {
        defer { self.pending.removeAll() }
        return self.pending.isEmpty ? [] : [.text(String(decoding: self.pending, as: UTF8.self))]
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count - start >= needle.count else { return nil }
        var index = start
        while index + needle.count <= haystack.count {
            if haystack[index] == needle[0] && haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    /// The length of the longest end of `pending` (from `start`) that is a beginning of the marker.
    private func partialPrefix(from start: Int) -> Int {
        let available = self.pending.count - start
        var length = min(available, Self.prefix.count - 1)
        while length > 0 {
            if self.pending[(self.pending.count - length)...].elementsEqual(Self.prefix[0..<length]) { return length }
            length -= 1
        }
        return 0
    }

    /// The bytes at the end of `pending` (from `start`) that begin a UTF-8 character not yet complete.
    private func partialCharacter(from start: Int) -> Int {
        var back = 1
        while back <= 3 && self.pending.count - back >= start {
            let byte = self.pending[self.pending.count - back]
            if byte & 0xC0 != 0x80 {
                let length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1
                return length > back ? back : 0
            }
            back += 1
        }
        return 0
    }
}
