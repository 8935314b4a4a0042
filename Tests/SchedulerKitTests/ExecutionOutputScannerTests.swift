import SchedulerKit
import Testing

@Suite struct ExecutionOutputScannerTests {
    static let marker = "\u{1b}]1337;backend.ai-input;text\u{07}"
    static let secret = "\u{1b}]1337;backend.ai-input;password\u{07}"

    /// Feeds `text` cut at every position into two pieces; the pieces joined are always the same.
    @Test("a marker or a character cut anywhere between two pieces reads the same", arguments: [
        "name? " + marker + "hello",
        "é" + secret + "ü€𝄞",
        "no marker at all: \u{1b}[31mred\u{1b}[0m",
        "\u{1b}]1337;backend.ai-inputX not a marker",
        marker + marker,
    ])
    func cutAnywhere(_ text: String) {
        let bytes = Array(text.utf8)
        var whole = ExecutionOutputScanner()
        let expected = Self.joined(whole.feed(bytes) + whole.finish())
        for cut in 0...bytes.count {
            var scanner = ExecutionOutputScanner()
            let pieces = scanner.feed(bytes[..<cut]) + scanner.feed(bytes[cut...]) + scanner.finish()
            #expect(Self.joined(pieces) == expected, "cut at \(cut)")
        }
    }

    @Test("the marker is removed and said as a wait for input, secret for a password; other escapes stay text")
    func markers() {
        var scanner = ExecutionOutputScanner()
        #expect(scanner.feed(Array(("name? " + Self.marker).utf8)) == [.text("name? "), .waitingInput(secret: false)])
        #expect(scanner.feed(Array(("ok\n" + "pw: " + Self.secret).utf8)) == [.text("ok\npw: "), .waitingInput(secret: true)])
        #expect(scanner.feed(Array("\u{1b}[1mbold".utf8)) == [.text("\u{1b}[1mbold")])
        // Held back while it may still be a marker; text once the process ends.
        #expect(scanner.feed(Array("\u{1b}]1337;back".utf8)) == [])
        #expect(scanner.finish() == [.text("\u{1b}]1337;back")])
    }

    static func joined(_ pieces: [ExecutionOutputScanner.Piece]) -> String {
        var text = ""
        for piece in pieces {
            switch piece {
            case .text(let part): text += part
            case .waitingInput(let secret): text += secret ? "<secret>" : "<input>"
            }
        }
        return text
    }
}
