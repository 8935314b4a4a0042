/// A path inside a vfolder as a user names it (`vfolder ls/mkdir/rm/mv/upload/download`): relative to the folder's
/// root, read as plain components. `.` parts and repeated or trailing slashes are dropped; `..`, an absolute path,
/// NUL, and over-long names or paths are refused, so a path can only ever name something inside the folder (the
/// filesystem side also refuses to follow symbolic links: `Storage/FolderFiles`).
public struct FolderPath: Hashable, Sendable, CustomStringConvertible {
    /// Longest accepted path and component, in UTF-8 bytes (Linux's PATH_MAX and NAME_MAX).
    public static let maxBytes = 4096
    public static let maxComponentBytes = 255

    public enum Problem: Error, Equatable, Sendable, CustomStringConvertible {
        case absolute
        case parent
        case nul
        case tooLong
        case empty

        public var description: String {
            switch self {
            case .absolute: return "must be relative to the folder (no leading '/')"
            case .parent: return "must not contain '..'"
            case .nul: return "contains a NUL character"
            case .tooLong: return "is longer than \(FolderPath.maxBytes) bytes or has a part longer than \(FolderPath.maxComponentBytes)"
            case .empty: return "names the folder itself, not something in it"
            }
        }
    }

    /// The components, none empty, `.` or `..`; empty for the folder's root.
    public let components: [String]

    public var isRoot: Bool { self.components.isEmpty }
    public var description: String { self.components.isEmpty ? "." : self.components.joined(separator: "/") }
    /// The last component (nil for the root).
    public var name: String? { self.components.last }
    /// The folder holding this path (the root for a top-level name).
    public var parent: FolderPath { FolderPath(components: Array(self.components.dropLast())) }

    public init(components: [String]) {
        self.components = components
    }

    /// Parses `text`; the root (`.`, `""`) is accepted only with `allowRoot`.
    ///
    /// Split on the bytes, never on Characters: a grapheme cluster can hold a `/` (U+06DD before it makes one
    /// Character of both), and a component the kernel would split again could pass through a symbolic link.
    public static func parse(_ text: String, allowRoot: Bool = true) -> Result<FolderPath, Problem> {
        let bytes = Array(text.utf8)
        if bytes.contains(0) { return .failure(.nul) }
        guard bytes.count <= Self.maxBytes else { return .failure(.tooLong) }
        if bytes.first == Self.slash { return .failure(.absolute) }
        var components: [String] = []
        for part in bytes.split(separator: Self.slash, omittingEmptySubsequences: true) {
            if part.elementsEqual([Self.dot]) { continue }
            if part.elementsEqual([Self.dot, Self.dot]) { return .failure(.parent) }
            guard part.count <= Self.maxComponentBytes else { return .failure(.tooLong) }
            components.append(String(decoding: part, as: UTF8.self))
        }
        if components.isEmpty && !allowRoot { return .failure(.empty) }
        return .success(FolderPath(components: components))
    }

    /// Where a session's work folder is inside its sandbox.
    public static let workFolder = "/home/work"

    /// A path in a session's work folder, as `session upload|download|ls` name them: relative to `/home/work`, or
    /// absolute under it (`/home/work/out/a.txt`); any other absolute path is refused.
    public static func inWorkFolder(_ text: String, allowRoot: Bool = true) -> Result<FolderPath, Problem> {
        let bytes = Array(text.utf8)
        let prefix = Array(Self.workFolder.utf8)
        if bytes.starts(with: prefix), bytes.count == prefix.count || bytes[prefix.count] == Self.slash {
            return Self.parse(String(decoding: bytes.dropFirst(prefix.count).drop(while: { $0 == Self.slash }), as: UTF8.self), allowRoot: allowRoot)
        }
        return Self.parse(text, allowRoot: allowRoot)
    }

    static let slash = UInt8(ascii: "/")
    static let dot = UInt8(ascii: ".")

    /// A new name for something (`rename-file`'s `new_name`): one component, not `.` or `..` (checked on bytes).
    public static func name(_ text: String) -> Result<String, Problem> {
        let bytes = Array(text.utf8)
        if bytes.contains(0) { return .failure(.nul) }
        guard !bytes.isEmpty, bytes != [Self.dot] else { return .failure(.empty) }
        guard bytes != [Self.dot, Self.dot] else { return .failure(.parent) }
        guard !bytes.contains(Self.slash) else { return .failure(.absolute) }
        guard bytes.count <= Self.maxComponentBytes else { return .failure(.tooLong) }
        return .success(text)
    }

    /// `self` followed by `other`'s components.
    public func appending(_ other: FolderPath) -> FolderPath {
        FolderPath(components: self.components + other.components)
    }

    /// True when `other` is `self` or inside it.
    public func contains(_ other: FolderPath) -> Bool {
        other.components.count >= self.components.count && Array(other.components.prefix(self.components.count)) == self.components
    }
}
