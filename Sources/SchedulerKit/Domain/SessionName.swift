/// Backend.AI's session name rule: 4–64 characters of letters, digits, `_`, `-` and `.`, starting and ending
/// with a letter, digit or `_`.
public enum SessionName {
    /// nil when `name` is acceptable, else the reason.
    public static func problem(with name: String) -> String? {
        guard (4...64).contains(name.count) else { return "The session name must be 4 to 64 characters long." }
        func isWord(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || c == "_") }
        guard let first = name.first, let last = name.last, isWord(first), isWord(last),
            name.allSatisfy({ isWord($0) || $0 == "-" || $0 == "." })
        else {
            return "The session name may hold letters, digits, '_', '-' and '.', and must start and end with a letter, digit or '_'."
        }
        return nil
    }
}
