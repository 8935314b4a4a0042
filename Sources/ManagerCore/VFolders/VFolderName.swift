/// A vfolder name as Backend.AI accepts it: 1–64 characters of letters, digits, `_`, `-` and `.`, not `.` or `..`,
/// no `..` inside, and none of the names reserved for paths inside a session.
///
/// Names never reach the filesystem (a folder's directory is named after its id), so this guards clarity, not safety.
public struct VFolderName: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public var description: String { self.rawValue }

    /// Why a name is refused, in a sentence that names it.
    public struct Refusal: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    static let reserved: Set<String> = [
        ".terminfo", ".jupyter", ".tmux.conf", ".ssh", "bin", "boot", "dev", "etc", "lib", "lib64", "media", "mnt", "opt",
        "proc", "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var", "home",
    ]

    public static func parse(_ text: String, field: String = "name") -> Result<VFolderName, Refusal> {
        let shown = String(text.unicodeScalars.prefix(64).map { $0.properties.isWhitespace || $0.value < 0x20 ? "?" : Character($0) })
        guard !text.isEmpty else { return .failure(Refusal(description: "'\(field)' must not be empty.")) }
        guard text.unicodeScalars.count <= 64 else {
            return .failure(Refusal(description: "'\(field)' must be at most 64 characters."))
        }
        guard text.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0)) })
        else {
            return .failure(Refusal(description: "'\(field)': '\(shown)' may hold only letters, digits, '_', '-' and '.'."))
        }
        guard text != ".", text != "..", !text.contains("..") else {
            return .failure(Refusal(description: "'\(field)': '\(shown)' must not be '.' or contain '..'."))
        }
        if Self.reserved.contains(text) || Self.isReservedDotfile(text) {
            return .failure(Refusal(description: "'\(field)': '\(shown)' is reserved for internal path."))
        }
        return .success(VFolderName(rawValue: text))
    }

    /// `^\.[a-z0-9]+rc$` and `^\.[a-z0-9]+_profile$`, as Backend.AI's RESERVED_VFOLDER_PATTERNS.
    static func isReservedDotfile(_ name: String) -> Bool {
        guard name.hasPrefix("."), name.count > 1 else { return false }
        let body = name.dropFirst()
        let word = { (s: Substring) in !s.isEmpty && s.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber) } }
        if body.hasSuffix("rc") { return word(body.dropLast(2)) }
        if body.hasSuffix("_profile") { return word(body.dropLast(8)) }
        return false
    }
}
