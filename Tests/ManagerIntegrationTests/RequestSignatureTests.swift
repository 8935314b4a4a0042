import Foundation
import Testing
@testable import ManagerCore

@Suite struct RequestSignatureTests {
    static let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    static let date = "2024-05-01T12:34:56.789012+00:00"
    static let host = "127.0.0.1:8091"

    @Test(
        "signs as the official client does (test vectors from the reference)",
        arguments: [
            ("GET", "/session/pipe-top/dependency-graph", "text/plain",
             "c49148c51ea5cdf7385d58f7158126a68e70e2e1024d43872e9b4e9f7ceb29a4"),
            ("POST", "/admin/gql", "application/json", "7ffe5980202254eade5f3dbde364316a85e815224002588f1dff2c94389a39c0"),
            ("DELETE", "/session/pipe-base?recursive=true", "text/plain",
             "b6c16ed838410c39765703e90a45a4578d13c01e06213bea85ae9488b71982a6"),
            ("GET", "/events/background-task?task_id=7446368c-a56f-4d92-b8ca-14bf6f92511a", "application/octet-stream",
             "68eaa3ee2cc65591251222bfe8ba7ed7db1b44a114aec531025ab0089a1a49a1"),
        ])
    func vectors(method: String, path: String, contentType: String, expected: String) {
        let signature = RequestSignature(
            method: method, pathAndQuery: path, date: Self.date, host: Self.host, contentType: contentType,
            apiVersion: "v7.20230615")
        #expect(signature.signature(secretKey: Self.secret, day: "20240501") == expected)
        #expect(signature.verify(expected, secretKey: Self.secret))
        #expect(!signature.verify(expected, secretKey: Self.secret + "x"))
        #expect(!signature.verify(String(expected.dropLast()) + "0", secretKey: Self.secret) || expected.hasSuffix("0"))
    }

    @Test("the allocation-light check agrees with the reference signature on every input shape")
    func verifyAgreesWithReference() {
        for index in 0..<200 {
            let signature = RequestSignature(
                method: ["GET", "post", "DELETE"][index % 3], pathAndQuery: "/p/\(index)?q=\(UUID())", date: Self.date,
                host: "host-\(index % 7):80\(index % 10)", contentType: index % 2 == 0 ? "Application/JSON" : "text/plain",
                apiVersion: "v7.20230615")
            let secret = "secret-\(index)-\(UUID())"
            let good = signature.signature(secretKey: secret, day: "20240501")
            #expect(signature.verify(good, secretKey: secret))
            #expect(signature.verify(good.uppercased(), secretKey: secret), "hex in either case, as before")
            var flipped = Array(good.utf8)
            flipped[index % 64] = flipped[index % 64] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
            #expect(!signature.verify(String(decoding: flipped, as: UTF8.self), secretKey: secret))
            #expect(!signature.verify(String(good.dropLast(2)), secretKey: secret))
            #expect(!signature.verify(good + "00", secretKey: secret))
            #expect(!signature.verify(String(good.dropLast()) + "g", secretKey: secret))
            #expect(!signature.verify("", secretKey: secret))
        }
    }

    @Test("a signature for another host, path or version does not verify")
    func tamperedFieldsFail() {
        let base = RequestSignature(
            method: "GET", pathAndQuery: "/session/pipe-top/dependency-graph", date: Self.date, host: Self.host,
            contentType: "text/plain", apiVersion: "v7.20230615")
        let good = "c49148c51ea5cdf7385d58f7158126a68e70e2e1024d43872e9b4e9f7ceb29a4"
        var otherHost = base
        otherHost.host = "127.0.0.1:9999"
        var otherPath = base
        otherPath.pathAndQuery = "/session/pipe-top"
        var otherVersion = base
        otherVersion.apiVersion = "v6.20220615"
        for changed in [otherHost, otherPath, otherVersion] {
            #expect(!changed.verify(good, secretKey: Self.secret))
        }
    }

    @Test(
        "parses the Authorization header like the manager, refusing garbled ones",
        arguments: [
            ("BackendAI signMethod=HMAC-SHA256, credential=AKIA:abc", "AKIA"),
            ("BackendAI signMethod=HMAC-SHA256,credential=AK2:ff", "AK2"),
            ("Bearer token", nil),
            ("BackendAI signMethod=HMAC-SHA256", nil),
            ("BackendAI signMethod=HMAC-SHA256, credential=nocolon", nil),
            ("BackendAI signMethod=HMAC-SHA256, credential=:sig", nil),
            ("", nil),
        ] as [(String, String?)])
    func authorizationHeader(text: String, accessKey: String?) {
        #expect(AuthorizationHeader(text)?.accessKey == accessKey)
    }

    @Test("constant-time comparison is exact")
    func constantTime() {
        #expect(RequestSignature.constantTimeEquals("abc", "abc"))
        #expect(!RequestSignature.constantTimeEquals("abc", "abd"))
        #expect(!RequestSignature.constantTimeEquals("abc", "abcd"))
        #expect(!RequestSignature.constantTimeEquals("", "a"))
    }

    @Test(
        "parses the timestamps clients and PostgreSQL write",
        arguments: [
            ("2024-05-01T12:34:56.789012+00:00", 1_714_566_896.789012),
            ("2024-05-01 12:34:56.789012+00", 1_714_566_896.789012),
            ("2024-05-01T14:34:56+02:00", 1_714_566_896.0),
            ("2024-05-01T12:34:56Z", 1_714_566_896.0),
            ("1970-01-01T00:00:00Z", 0.0),
        ])
    func timestamps(text: String, epoch: Double) throws {
        let date = try #require(Timestamp.parse(text))
        #expect(abs(date.timeIntervalSince1970 - epoch) < 0.000_001)
    }

    @Test("rejects malformed timestamps", arguments: ["2024-13-01T00:00:00Z", "yesterday", "2024-05-01T12:34", "2024-05-01T12:34:56+0x:00"])
    func badTimestamps(text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    @Test("formats timestamps as Python does")
    func formatting() {
        let date = Date(timeIntervalSince1970: 1_714_566_896.812325)
        #expect(Timestamp.pythonStr(date) == "2024-05-01 12:34:56.812325+00:00")
        #expect(Timestamp.pythonISO(date) == "2024-05-01T12:34:56.812325+00:00")
        #expect(Timestamp.iso8601(date) == "2024-05-01T12:34:56.812325Z")
    }
}
