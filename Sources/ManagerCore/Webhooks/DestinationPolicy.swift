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

/// Where deliveries may go: http(s) only; never to link-local or cloud metadata addresses; not to loopback, private
/// (RFC 1918), CGNAT, ULA or other internal ranges unless `allow_private_destinations` is set or the address is in
/// `allowed_destinations`; within `allowed_destinations` when that is set; never to `denied_destinations`. The host
/// is resolved, every address it has is checked, and the delivery then connects to the checked address (the
/// dispatcher pins it, keeping the host name for the Host header and TLS), so a DNS answer that changes in between
/// (rebinding) changes nothing.
struct DestinationPolicy: Sendable {
    let allowed: [DestinationRule]
    let denied: [DestinationRule]
    /// Internal ranges, refused unless allowed.
    let internalRules: [DestinationRule]

    static let alwaysDenied: [DestinationRule] = [
        "169.254.0.0/16", "fe80::/10", "100.100.100.200/32", "fd00:ec2::254/128", "0.0.0.0/8", "::/128",
        "224.0.0.0/4", "ff00::/8", "metadata.google.internal", "metadata",
    ].compactMap(DestinationRule.init)

    /// Loopback, RFC 1918, CGNAT, benchmarking, IETF protocol assignments, ULA and the NAT64 well-known prefix's
    /// local use, plus host names that mean this machine.
    static let internalRanges: [DestinationRule] = [
        "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "198.18.0.0/15",
        "192.0.0.0/24", "fc00::/7", "64:ff9b:1::/48", "localhost", "*.localhost",
    ].compactMap(DestinationRule.init)

    init(allowed: [String], denied: [String], allowPrivate: Bool = false) {
        self.allowed = allowed.compactMap(DestinationRule.init)
        self.denied = Self.alwaysDenied + denied.compactMap(DestinationRule.init)
        self.internalRules = allowPrivate ? [] : Self.internalRanges
    }

    /// What the check decided: a refusal, or the host and the address to connect to.
    enum Verdict: Sendable, Equatable {
        case refused(String)
        /// `address` is nil when the host is an address itself.
        case allowed(host: String, address: String?)
    }

    /// Why `url` may not be contacted, or nil when it may.
    func refusal(for url: String) -> String? {
        if case .refused(let reason) = self.check(url) { return reason }
        return nil
    }

    /// Checks `url` and picks the address to connect to. Resolves the host (blocking: call it off the event loop).
    func check(_ url: String) -> Verdict {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", var host = components.host?.lowercased(), !host.isEmpty
        else { return .refused("only http and https URLs with a host are delivered") }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if self.denied.contains(where: { $0.matches(host: host) }) { return .refused("destination \(host) is refused") }
        let allowedByName = self.allowed.contains(where: { $0.matches(host: host) })
        if !allowedByName, self.internalRules.contains(where: { $0.matches(host: host) }) {
            return .refused("destination \(host) is internal; allow it in allowed_destinations or allow_private_destinations")
        }
        let literal = IPNetwork.parseAddress(host)
        let addresses: [[UInt8]]
        if let literal {
            addresses = [literal]
        } else {
            addresses = Self.resolve(host)
            guard !addresses.isEmpty else { return .refused("destination \(host) does not resolve") }
        }
        for address in addresses where self.denied.contains(where: { $0.matches(address: address) }) {
            return .refused("destination \(host) resolves to a refused address (\(Self.text(address)))")
        }
        for address in addresses {
            let explicitlyAllowed = allowedByName || self.allowed.contains(where: { $0.matches(address: address) })
            if !explicitlyAllowed, self.internalRules.contains(where: { $0.matches(address: address) }) {
                return .refused("destination \(host) resolves to an internal address (\(Self.text(address))); allow it in allowed_destinations or allow_private_destinations")
            }
        }
        if !self.allowed.isEmpty && !allowedByName {
            for address in addresses where !self.allowed.contains(where: { $0.matches(address: address) }) {
                return .refused("destination \(host) (\(Self.text(address))) is not in allowed_destinations")
            }
        }
        // Every address passed; connect to one of them (IPv4 first: a name like localhost often lists ::1 first, where
        // fewer services listen).
        let pinned = addresses.first { $0.count == 4 } ?? addresses.first
        return .allowed(host: host, address: literal == nil ? pinned.map(Self.text) : nil)
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
