import Crypto
import Foundation

/// How receivers verify a delivery: `X-Webhook-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
/// with `X-Webhook-Timestamp: <unix seconds>`. Receivers recompute it over the raw body and refuse old
/// timestamps (replays); `X-Webhook-Id` (the delivery id) makes a repeated delivery recognisable.
enum WebhookSignature {
    static let idHeader = "X-Webhook-Id"
    static let eventHeader = "X-Webhook-Event"
    static let timestampHeader = "X-Webhook-Timestamp"
    static let signatureHeader = "X-Webhook-Signature"

    static func sign(body: Data, timestamp: Int, secret: String) -> String {
        var message = Data("\(timestamp).".utf8)
        message.append(body)
        let code = HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + code.map { String(format: "%02x", $0) }.joined()
    }
}
