import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A block of IP addresses (`10.0.0.0/8`, `fe80::/10`, or one address).
struct IPNetwork: Sendable, Hashable {
    let bytes: [UInt8]
    let prefix: Int

    init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let address = IPNetwork.parseAddress(parts[0]) else { return nil }
        let bits = address.count * 8
        var prefix = bits
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...bits).contains(value) else { return nil }
            prefix = value
        }
        self.bytes = address
        self.prefix = prefix
    }

    /// 4 or 16 bytes, or nil when `text` is not an IP address.
    static func parseAddress(_ text: String) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, text, &buffer) == 1 { return Array(buffer.prefix(4)) }
        if inet_pton(AF_INET6, text, &buffer) == 1 { return IPNetwork.unmapped(buffer) }
        return nil
    }

    /// `::ffff:a.b.c.d` as the IPv4 address it carries.
    static func unmapped(_ address: [UInt8]) -> [UInt8] {
        if address.count == 16, address[0..<10].allSatisfy({ $0 == 0 }), address[10] == 0xff, address[11] == 0xff {
            return Array(address[12..<16])
        }
        return address
    }

    func contains(_ address: [UInt8]) -> Bool {
        guard address.count == self.bytes.count else { return false }
        var remaining = self.prefix
        for (a, b) in zip(address, self.bytes) {
            guard remaining > 0 else { return true }
            let mask: UInt8 = remaining >= 8 ? 0xff : ~(0xff >> UInt8(remaining))
            if a & mask != b & mask { return false }
            remaining -= 8
        }
        return true
    }
}

/// One `allowed_destinations` / `denied_destinations` entry: a host name (`hooks.example.com`, `*.example.com`)
/// or an address block.
enum DestinationRule: Sendable, Hashable {
    case host(String)
    case network(IPNetwork)

    init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        if let network = IPNetwork(trimmed) {
            self = .network(network)
        } else if !trimmed.isEmpty, !trimmed.contains("/"),
            trimmed.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "*" })
        {
            self = .host(trimmed)
        } else {
            return nil
        }
    }

    func matches(host: String) -> Bool {
        guard case .host(let pattern) = self else { return false }
        if pattern.hasPrefix("*.") { return host.hasSuffix(String(pattern.dropFirst())) }
        return host == pattern
    }

    func matches(address: [UInt8]) -> Bool {
        guard case .network(let network) = self else { return false }
        return network.contains(address)
    }
}

/// Where deliveries may go: http(s) only; never to link-local or cloud metadata addresses; within
/// `allowed_destinations` when that is set; never to `denied_destinations`. The host is resolved and every address
/// it has is checked. (The HTTP client resolves again when it connects; a DNS answer that changes in between is not
/// caught.)
struct DestinationPolicy: Sendable {
    let allowed: [DestinationRule]
    let denied: [DestinationRule]

    static let alwaysDenied: [DestinationRule] = [
        "169.254.0.0/16", "fe80::/10", "100.100.100.200/32", "fd00:ec2::254/128", "0.0.0.0/8", "::/128",
        "224.0.0.0/4", "ff00::/8", "metadata.google.internal", "metadata",
    ].compactMap(DestinationRule.init)

    init(allowed: [String], denied: [String]) {
        self.allowed = allowed.compactMap(DestinationRule.init)
        self.denied = Self.alwaysDenied + denied.compactMap(DestinationRule.init)
    }

    /// Why `url` may not be contacted, or nil when it may. Resolves the host (blocking: call it off the event loop).
    func refusal(for url: String) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", var host = components.host?.lowercased(), !host.isEmpty
        else { return "only http and https URLs with a host are delivered" }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if self.denied.contains(where: { $0.matches(host: host) }) { return "destination \(host) is refused" }
        let addresses: [[UInt8]]
        if let literal = IPNetwork.parseAddress(host) {
            addresses = [literal]
        } else {
            addresses = Self.resolve(host)
            guard !addresses.isEmpty else { return "destination \(host) does not resolve" }
        }
        for address in addresses where self.denied.contains(where: { $0.matches(address: address) }) {
            return "destination \(host) resolves to a refused address (\(Self.text(address)))"
        }
        if !self.allowed.isEmpty && !self.allowed.contains(where: { $0.matches(host: host) }) {
            for address in addresses where !self.allowed.contains(where: { $0.matches(address: address) }) {
                return "destination \(host) (\(Self.text(address))) is not in allowed_destinations"
            }
        }
        return nil
    }

    static func resolve(_ host: String) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0 else { return [] }
        defer { freeaddrinfo(result) }
        var addresses: [[UInt8]] = []
        var cursor = result
        while let entry = cursor {
            if let address = entry.pointee.ai_addr {
                let raw = UnsafeRawPointer(address)
                switch entry.pointee.ai_family {
                case AF_INET: addresses.append(Array(UnsafeRawBufferPointer(start: raw + 4, count: 4)))
                case AF_INET6: addresses.append(IPNetwork.unmapped(Array(UnsafeRawBufferPointer(start: raw + 8, count: 16))))
                default: break
                }
            }
            cursor = entry.pointee.ai_next
        }
        return addresses
    }

    static func text(_ address: [UInt8]) -> String {
        if address.count == 4 { return address.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2).map { String(UInt16(address[$0]) << 8 | UInt16(address[$0 + 1]), radix: 16) }
            .joined(separator: ":")
    }
}
