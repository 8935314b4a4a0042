import _CryptoExtras
import Crypto
import Foundation

/// Passwords as stored: PBKDF2-HMAC-SHA256 (swift-crypto's `_CryptoExtras`) with a random 16-byte salt, in the
/// self-describing form `pbkdf2_sha256$<rounds>$<salt>$<hash>` (base64), so the rounds can be raised later without
/// breaking stored hashes. Verification compares in constant time.
enum PasswordHash {
    /// OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
    static let rounds = 600_000
    static let maxPasswordBytes = 1024

    struct Refusal: Error, CustomStringConvertible {
        let description: String
    }

    static func make(_ password: String, rounds: Int = Self.rounds) throws -> String {
        guard (8...Self.maxPasswordBytes).contains(password.utf8.count) else {
            throw Refusal(description: "a password must be 8 to \(Self.maxPasswordBytes) bytes")
        }
        var salt = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        for index in salt.indices { salt[index] = UInt8.random(in: 0...255, using: &generator) }
        let key = try KDF.Insecure.PBKDF2.deriveKey(
            from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: 32, rounds: rounds)
        let hash = key.withUnsafeBytes { Data($0) }
        return "pbkdf2_sha256$\(rounds)$\(Data(salt).base64EncodedString())$\(hash.base64EncodedString())"
    }

    static func verify(_ password: String, against stored: String) -> Bool {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "pbkdf2_sha256", let rounds = Int(parts[1]), (1000...10_000_000).contains(rounds),
            let salt = Data(base64Encoded: String(parts[2])), let expected = Data(base64Encoded: String(parts[3])),
            expected.count == 32, password.utf8.count <= Self.maxPasswordBytes,
            let key = try? KDF.Insecure.PBKDF2.deriveKey(
                from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: 32, rounds: rounds)
        else { return false }
        let derived = key.withUnsafeBytes { Data($0) }
        return RequestSignature.constantTimeEquals(derived.base64EncodedString(), expected.base64EncodedString())
    }
}
