/// An image as sessions name it: `[registry/][project/]name[:tag]` (`python:3.11`, `cr.backend.ai/stable/python`).
/// The tag defaults to `latest`; the registry is the part before the first `/` when it looks like a host.
public struct ImageReference: Hashable, Sendable, CustomStringConvertible {
    /// Everything before the tag: `cr.backend.ai/stable/python`, `python`.
    public let name: String
    public let tag: String

    public static let maxLength = 255

    public init?(_ text: String) {
        guard !text.isEmpty, text.utf8.count <= Self.maxLength,
            text.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value != 0x7f })
        else { return nil }
        let lastSlash = text.lastIndex(of: "/")
        let tagStart = text.lastIndex(of: ":").flatMap { colon in lastSlash.map { colon > $0 } ?? true ? colon : nil }
        let name = tagStart.map { String(text[..<$0]) } ?? text
        let tag = tagStart.map { String(text[text.index(after: $0)...]) } ?? "latest"
        let nameParts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard !tag.isEmpty, tag.count <= 128,
            tag.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-" }),
            !nameParts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }),
            name.allSatisfy({ $0.isLetter || $0.isNumber || "._-/:".contains($0) })
        else { return nil }
        self.name = name
        self.tag = tag
    }

    /// `name:tag`, the form the image list shows and enqueue compares.
    public var canonical: String { self.name + ":" + self.tag }
    public var description: String { self.canonical }

    /// The registry part (`cr.backend.ai`), or `local` for names without one.
    public var registry: String {
        let parts = self.name.split(separator: "/")
        if parts.count > 1, let first = parts.first, first.contains(".") || first.contains(":") || first == "localhost" {
            return String(first)
        }
        return "local"
    }

    /// The name without its registry.
    public var shortName: String {
        let registry = self.registry
        return registry == "local" ? self.name : String(self.name.dropFirst(registry.count + 1))
    }

    /// A single folder name for the image store: `/` and `:` escaped, so no reference can leave its folder.
    public var storeFolder: String {
        var folder = ""
        for scalar in self.canonical.unicodeScalars {
            switch scalar {
            case "/": folder += "%2F"
            case ":": folder += "%3A"
            case "%": folder += "%25"
            default: folder.unicodeScalars.append(scalar)
            }
        }
        return folder
    }
}
