import Crypto
import Foundation

/// What a storage URL lets its holder do: upload one file of a set size to one path of one folder, or download one
/// path (a file, or a directory as an archive), until it expires. Issued by `request-upload` / `request-download` to the folder's caller, checked by the
/// storage routes (which take no other credential). Signed with HMAC-SHA256 (swift-crypto) under
/// `storage.transfer_secret`, shared by the replicas, so any replica serves what another issued.
///
/// Wire form: `base64url(JSON claims) "." base64url(HMAC-SHA256(secret, first part))`.
struct TransferToken: Codable, Sendable, Equatable {
    enum Operation: String, Codable, Sendable {
        case upload, download
    }

    /// Identifies the upload (its part file) and makes every token unique.
    let id: String
    let operation: Operation
    let folder: UUID
    let host: String
    let path: String
    /// Upload: the file's exact size.
    let size: Int64?
    /// Unix seconds.
    let expires: Int64
    /// Download: the path is a directory, sent as a tar archive of what it holds.
    var archive: Bool? = nil

    enum CodingKeys: String, CodingKey {
        case id = "jti", operation = "op", folder = "vf", host, path, size, expires = "exp", archive
    }

    func encoded(secret: Data) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let claims = Self.base64URL((try? encoder.encode(self)) ?? Data())
        let mac = HMAC<SHA256>.authenticationCode(for: Data(claims.utf8), using: SymmetricKey(data: secret))
        return claims + "." + Self.base64URL(Data(mac))
    }

    enum Refusal: Error, Equatable, CustomStringConvertible {
        case malformed, badSignature, expired, wrongOperation

        var description: String {
            switch self {
            case .malformed: return "the token is malformed"
            case .badSignature: return "the token's signature does not match"
            case .expired: return "the token has expired; request a new URL"
            case .wrongOperation: return "the token is for another operation"
            }
        }
    }

    /// The claims of `text` if its signature holds, it has not expired and it is for `operation`.
    static func verify(_ text: String, secret: Data, operation: Operation, now: Date = Date()) -> Result<TransferToken, Refusal> {
        guard text.utf8.count <= 4096 else { return .failure(.malformed) }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let mac = Self.data(base64URL: String(parts[1])), let claims = Self.data(base64URL: String(parts[0])) else {
            return .failure(.malformed)
        }
        guard HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(parts[0].utf8), using: SymmetricKey(data: secret)) else {
            return .failure(.badSignature)
        }
        guard let token = try? JSONDecoder().decode(TransferToken.self, from: claims) else { return .failure(.malformed) }
        guard Double(token.expires) > now.timeIntervalSince1970 else { return .failure(.expired) }
        guard token.operation == operation else { return .failure(.wrongOperation) }
        return .success(token)
    }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func data(base64URL text: String) -> Data? {
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64.append("=") }
        return Data(base64Encoded: base64)
    }
}
