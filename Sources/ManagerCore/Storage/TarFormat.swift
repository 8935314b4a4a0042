/// The POSIX tar (pax interchange) format as far as the daemon writes it: regular files and directories, names of
/// any length and sizes past ustar's 8 GiB through a pax extended header. Pure byte building, no I/O; every number
/// is range-checked (no trapping arithmetic on a file's size or time).
///
/// Archives are read by Python's `tarfile` (the CLI extracts session downloads with it), GNU tar and bsdtar.
enum TarFormat {
    static let block = 512

    enum Kind: Sendable {
        case file
        case directory
    }

    struct Entry: Sendable, Equatable {
        /// Relative, `/`-separated, no leading `/` (a directory's name without its trailing `/`).
        var name: String
        var kind: Kind
        var size: Int64
        /// Permission bits (the low 12 bits are kept).
        var mode: UInt32
        /// Unix seconds.
        var modified: Int64
    }

    /// The header block(s) of `entry`: a pax header first when the name or the size does not fit ustar.
    static func header(_ entry: Entry) -> [UInt8] {
        let name = entry.kind == .directory ? entry.name + "/" : entry.name
        let nameBytes = Array(name.utf8)
        let size = entry.kind == .directory ? 0 : max(0, entry.size)
        var records: [(String, String)] = []
        var ustarName = nameBytes
        var prefix: [UInt8] = []
        if nameBytes.count > 100 {
            if let split = Self.ustarSplit(nameBytes) {
                (prefix, ustarName) = split
            } else {
                records.append(("path", name))
                ustarName = Array(nameBytes.suffix(99))
            }
        }
        if size > Self.maxOctal(digits: 11) { records.append(("size", String(size))) }
        var out: [UInt8] = []
        if !records.isEmpty {
            let body = records.flatMap { Self.paxRecord(key: $0.0, value: $0.1) }
            out += Self.block(
                name: Array("PaxHeaders/\(ustarName.count)".utf8), prefix: [], mode: 0o644, size: Int64(body.count),
                modified: entry.modified, type: UInt8(ascii: "x"))
            out += body
            out += Self.padding(Int64(body.count))
        }
        out += Self.block(
            name: ustarName, prefix: prefix, mode: entry.mode & 0o7777,
            size: size > Self.maxOctal(digits: 11) ? 0 : size, modified: entry.modified,
            type: entry.kind == .directory ? UInt8(ascii: "5") : UInt8(ascii: "0"))
        return out
    }

    /// Zeros that fill a member of `size` bytes up to the next block.
    static func padding(_ size: Int64) -> [UInt8] {
        let remainder = Int(size % Int64(Self.block))
        return remainder == 0 ? [] : [UInt8](repeating: 0, count: Self.block - remainder)
    }

    /// The end of an archive: two zero blocks.
    static var trailer: [UInt8] { [UInt8](repeating: 0, count: 2 * Self.block) }

    /// One pax record, `"<length> <key>=<value>\n"`, where the length counts itself.
    static func paxRecord(key: String, value: String) -> [UInt8] {
        let rest = Array(" \(key)=\(value)\n".utf8)
        var length = rest.count + 1
        while String(length).utf8.count + rest.count > length { length += 1 }
        return Array(String(length).utf8) + rest
    }

    /// ustar's split of a long name at a `/` into a prefix of ≤ 155 bytes and a name of ≤ 100, if one exists.
    static func ustarSplit(_ name: [UInt8]) -> (prefix: [UInt8], name: [UInt8])? {
        guard name.count <= 256 else { return nil }
        for index in name.indices.reversed() where name[index] == UInt8(ascii: "/") {
            let rest = Array(name[(index + 1)...])
            // A directory's trailing `/` stays with its last part; further left the name part only grows.
            if rest.isEmpty { continue }
            if rest.count > 100 { return nil }
            let prefix = Array(name[..<index])
            if prefix.count <= 155 { return (prefix, rest) }
        }
        return nil
    }

    static func maxOctal(digits: Int) -> Int64 { (Int64(1) << (3 * Int64(digits))) - 1 }

    private static func block(name: [UInt8], prefix: [UInt8], mode: UInt32, size: Int64, modified: Int64, type: UInt8) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: Self.block)
        func put(_ bytes: [UInt8], at offset: Int, width: Int) {
            for (index, byte) in bytes.prefix(width).enumerated() { header[offset + index] = byte }
        }
        func octal(_ value: Int64, at offset: Int, width: Int) {
            // width - 1 digits and a NUL; out-of-range values are clamped (callers move them to pax records).
            let clamped = min(max(0, value), Self.maxOctal(digits: width - 1))
            var text = Array(String(clamped, radix: 8).utf8)
            if text.count < width - 1 { text = [UInt8](repeating: UInt8(ascii: "0"), count: width - 1 - text.count) + text }
            put(text, at: offset, width: width - 1)
        }
        put(name, at: 0, width: 100)
        octal(Int64(mode), at: 100, width: 8)
        octal(1000, at: 108, width: 8)  // uid: the sandbox's `work`
        octal(1000, at: 116, width: 8)  // gid
        octal(size, at: 124, width: 12)
        octal(modified, at: 136, width: 12)
        header[156] = type
        put(Array("ustar\u{0}00".utf8), at: 257, width: 8)
        put(Array("work".utf8), at: 265, width: 32)
        put(Array("work".utf8), at: 297, width: 32)
        put(prefix, at: 345, width: 155)
        // The checksum is computed with its own field as spaces.
        for index in 148..<156 { header[index] = UInt8(ascii: " ") }
        let sum = header.reduce(0) { $0 + Int($1) }
        var digits = Array(String(sum, radix: 8).utf8)
        if digits.count < 6 { digits = [UInt8](repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits }
        put(digits, at: 148, width: 6)
        header[154] = 0
        header[155] = UInt8(ascii: " ")
        return header
    }
}
