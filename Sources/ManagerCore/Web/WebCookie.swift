import Crypto
import Foundation
import HTTPTypes

/// The web view's sign-in cookie: a random token the browser holds (HttpOnly: the page's script cannot read it) and
/// the daemon knows only by its SHA-256.
struct WebCookie: Sendable, Equatable {
    static let name = "bai_ui"
    /// 32 random bytes, base64url without padding.
    static let tokenLength = 43

    let token: String

    /// A new random token.
    static func random() -> WebCookie { WebCookie(token: Self.randomToken()) }

    /// 32 random bytes, base64url without padding (also the CSRF token's form).
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// What the database stores: the token's SHA-256 in hex.
    var hash: String { SHA256.hash(data: Data(self.token.utf8)).map { String(format: "%02x", $0) }.joined() }

    /// The cookie in a request's `Cookie` headers, if one holds a well-formed token. Total: any header text gives
    /// an answer, nothing is trusted beyond the token's fixed alphabet and length.
    static func find(in headers: HTTPFields) -> WebCookie? {
        for header in headers[values: .cookie] {
            for pair in header.utf8.split(separator: UInt8(ascii: ";")) {
                let text = pair.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
                guard let equals = text.firstIndex(of: UInt8(ascii: "=")),
                    text[text.startIndex..<equals].elementsEqual(Self.name.utf8)
                else { continue }
                let value = text[text.index(after: equals)...]
                if value.count == Self.tokenLength, value.allSatisfy(Self.isTokenByte) {
                    return WebCookie(token: String(decoding: value, as: UTF8.self))
                }
            }
        }
        return nil
    }

    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }

    /// `Set-Cookie` for this token: scoped to `/ui`, HttpOnly, SameSite=Strict, and Secure when asked.
    func setCookie(maxAge: Duration, secure: Bool) -> String {
        "\(Self.name)=\(self.token); Path=/ui; Max-Age=\(maxAge.components.seconds); HttpOnly; SameSite=Strict"
            + (secure ? "; Secure" : "")
    }

    /// `Set-Cookie` that removes the cookie (sign-out).
    static func clearing(secure: Bool) -> String {
        "\(Self.name)=; Path=/ui; Max-Age=0; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }
}
