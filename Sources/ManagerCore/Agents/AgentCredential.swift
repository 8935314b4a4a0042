import Crypto
import Foundation

/// How an agent proves who it is on `POST /agent-rpc/sync` (`Authorization: Bearer <credential>`).
///
/// - **Per-agent tokens** (`manager agent-token create --id ID`): the manager keeps only the token's SHA-256; a
///   sync with a token must announce exactly its agent id and scaling group. The embedded agent gets one too,
///   fresh at every start.
/// - **The shared secret** (`agent.secret`): an explicit opt-in for trusted networks; whoever holds it may announce
///   any id (the epoch fence still keeps two live processes from sharing one).
enum AgentCredential: Sendable, Equatable {
    /// The shared secret: any id.
    case shared
    /// A token issued to exactly this agent.
    case agent(id: String, scalingGroup: String)

    /// 32 random bytes, hex: what `agent-token create` prints once.
    static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// The stored form of a token.
    static func digest(_ token: String) -> String {
        SHA256.hash(data: Data(token.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Compares digests, so the time taken does not depend on where two secrets differ.
    static func sameSecret(_ given: String, _ expected: String) -> Bool {
        SHA256.hash(data: Data(given.utf8)) == SHA256.hash(data: Data(expected.utf8))
    }
}
