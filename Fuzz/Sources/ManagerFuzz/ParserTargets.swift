import Foundation
import GraphQL
import HTTPTypes
import NIOCore
@testable import ManagerCore
import SchedulerKit

/// One function per parser of outside bytes. Each must return (never trap) for any input, and keeps a property
/// where there is one to check.
enum ParserTargets {
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    static func httpDate(_ bytes: [UInt8]) {
        let text = Self.text(bytes)
        _ = HTTPDate.parse(text)
        _ = Timestamp.writtenDay(text)
        if let date = Timestamp.parse(text) {
            _ = Timestamp.utcDay(date)
            _ = Timestamp.pythonStr(date)
            let again = Timestamp.parse(Timestamp.iso8601(date))
            require(again.map { abs($0.timeIntervalSince(date)) < 0.001 } == true, "ISO text does not parse back: \(text.prefix(80))")
        }
        let signature = RequestSignature(
            method: "GET", pathAndQuery: "/", date: text, host: "h", contentType: "application/json", apiVersion: "v7.20230615")
        _ = signature.verify("00", secretKey: "s")
    }

    static func authorization(_ bytes: [UInt8]) {
        let text = Self.text(bytes)
        if let header = AuthorizationHeader(text) {
            require(!header.accessKey.isEmpty && !header.signature.isEmpty, "an empty credential was accepted")
            let signature = RequestSignature(
                method: header.signMethod, pathAndQuery: header.accessKey, date: "20261122T095219Z", host: header.signature,
                contentType: text, apiVersion: "v7.20230615")
            _ = signature.verify(header.signature, secretKey: header.accessKey)
        }
        _ = RequestSignature.constantTimeEquals(text, String(text.reversed()))
        // The web view's credential: a Cookie header (any text) gives a well-formed token or none.
        var fields = HTTPFields()
        fields.append(HTTPField(name: .cookie, value: text))
        if let cookie = WebCookie.find(in: fields) {
            require(cookie.token.utf8.count == WebCookie.tokenLength && cookie.token.utf8.allSatisfy(WebCookie.isTokenByte),
                    "a malformed cookie token was accepted: \(text.prefix(80))")
        }
    }

    /// Folder paths, transfer tokens and byte ranges: what the file routes and the storage endpoint read.
    static func paths(_ bytes: [UInt8]) {
        let text = Self.text(bytes)
        if case .success(let path) = FolderPath.parse(text) {
            require(path.components.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." && !$0.utf8.contains(UInt8(ascii: "/")) && !$0.utf8.contains(0) },
                    "a path component that could leave the folder: \(text.prefix(80))")
            require((try? FolderPath.parse(path.description).get()) == path, "a path does not parse back")
        }
        if case .success(let name) = FolderPath.name(text) {
            require(!name.utf8.contains(UInt8(ascii: "/")) && name != "." && name != "..", "a name with a separator: \(text.prefix(80))")
        }
        _ = TransferToken.verify(text, secret: Self.transferKey, operation: .upload)
        for size: Int64 in [0, 1, 10, Int64.max] {
            if let range = StorageRoutes.byteRange(text, size: size) {
                require(range.start >= 0 && range.start <= range.end && range.end < size, "a range outside the file: \(text.prefix(80))")
            }
        }
    }

    static let transferKey = Data("fuzz-transfer-secret".utf8)

    /// A session upload's form: the first line the Content-Type, the rest the body. Whatever it holds, the parts
    /// that come out are within the upload's bounds, and a path from a session request stays in /home/work; the
    /// tar headers built from any name are whole blocks.
    static func multipart(_ bytes: [UInt8]) {
        let split = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
        let contentType = Self.text(Array(bytes[..<split]))
        let body = ByteBuffer(bytes: bytes[min(split + 1, bytes.endIndex)...])
        if let boundary = SessionFileRoutes.boundary(contentType), let uploads = try? SessionFileRoutes.parts(body, boundary: boundary) {
            require(uploads.count <= SessionFiles.maxUploadFiles, "more files than an upload holds")
            require(uploads.allSatisfy { !$0.name.isEmpty && $0.data.count <= SessionFiles.maxUploadFileBytes }, "an upload part out of bounds")
        }
        _ = SessionFileRoutes.dispositionParameters(contentType)
        if case .success(let path) = FolderPath.inWorkFolder(contentType) {
            require(path.components.allSatisfy { !$0.isEmpty && $0 != ".." && !$0.utf8.contains(UInt8(ascii: "/")) }, "a work path that leaves /home/work")
        }
        for kind in [TarFormat.Kind.file, .directory] {
            let header = TarFormat.header(.init(name: contentType, kind: kind, size: Int64(bytes.count) << 30, mode: 0o644, modified: 0))
            require(header.count % TarFormat.block == 0 && !header.isEmpty, "a tar header that is not whole blocks")
        }
    }

    static func json(_ bytes: [UInt8]) {
        _ = JSONDuplicateKeys.first(in: bytes)
        guard let text = String(validating: bytes, as: UTF8.self) else { return }
        guard let value = try? JSONValue.parse(text) else { return }
        let again = try? JSONValue.parse(value.text)
        require(again == value, "JSON text does not parse back to the same value")
        _ = value.firstPath { $0.utf8.contains(0) }
    }

    static let admin = Identity(accessKey: AccessKey("AKIAFUZZADMIN"), userID: UUID(), email: "admin@fuzz", domainName: "default", isAdmin: true)
    static let user = Identity(accessKey: AccessKey("AKIAFUZZUSER"), userID: UUID(), email: "user@fuzz", domainName: "default", isAdmin: false)

    static func sessionCreate(_ bytes: [UInt8]) {
        guard let text = String(validating: bytes, as: UTF8.self), let body = try? JSONValue.parse(text) else { return }
        for identity in [Self.admin, Self.user] {
            do {
                let (creation, _) = try SessionCreateRequest.parse(body, identity: identity)
                // What enqueue accepts, an agent can run: every environ value is a string without NUL.
                if case .object(let pairs) = creation.environ {
                    for (name, value) in pairs {
                        guard case .string(let text) = value else { require(false, "a non-string environ value was accepted"); return }
                        require(!name.isEmpty && !name.contains("=") && !text.utf8.contains(0), "an environ entry an agent cannot pass")
                    }
                } else {
                    require(false, "environ is not an object")
                }
                require(creation.dependencies.count <= SessionCreateRequest.maxDependencies, "too many dependencies accepted")
                require(creation.mounts.count <= 64, "too many mounts accepted")
                // What enqueue accepts, an agent can mount: every alias is a MountPath, none over a system folder.
                for mount in creation.mounts {
                    let path = try? MountPath(alias: mount.alias)
                    require(path != nil, "a mount alias the agent refuses was accepted: \(mount.alias)")
                    if let path { require(!MountPath.systemFolders.contains { path.path.hasPrefix($0 + "/") || path.path == $0 }, "a mount over a system folder") }
                }
                if let image = ImageReference(creation.image) {
                    require(!image.storeFolder.contains("/") && !image.tag.isEmpty, "an image reference that leaves the store")
                }
            } catch let error as APIError {
                require((400..<500).contains(error.status.code), "a refusal that is not a 4xx: \(error)")
            } catch {
                require(false, "an error that is not an APIError: \(error)")
            }
        }
    }

    static func agentProtocol(_ bytes: [UInt8]) {
        let data = Data(bytes)
        if let request = try? JSONDecoder().decode(AgentProtocol.SyncRequest.self, from: data) {
            do {
                try AgentRoutes.validate(request)
            } catch let error as APIError {
                require(error.status.code == 400, "a sync refusal that is not a 400")
            } catch {
                require(false, "an error that is not an APIError: \(error)")
            }
            _ = AgentState.environmentProblem(request.agent.availableSlots)
        }
        if let response = try? JSONDecoder().decode(AgentProtocol.SyncResponse.self, from: data) {
            for command in response.commands where command.problem == nil && command.kind == .start {
                _ = command.spec.map { AgentState.environmentProblem($0.environ) }
                _ = command.spec?.mounts?.map(\.path)
                _ = command.spec?.image.map(ImageReference.init)
            }
        }
    }

    static let schema: GraphQLSchema = {
        do { return try ManagerGraphQLSchema.make() } catch { fatalError("the schema does not build: \(error)") }
    }()

    static func graphql(_ bytes: [UInt8]) {
        let text = Self.text(bytes)
        let limits = GraphQLLimits()
        do {
            try limits.scan(text)
        } catch {
            return
        }
        guard let document = try? parse(source: Source(body: text, name: "fuzz")) else { return }
        // As the route does: what GraphQLSwift's validation cannot survive is refused before it.
        guard (try? GraphQLDocumentGuard.check(document)) != nil,
            (try? limits.check(document, schema: Self.schema, operationName: nil, variables: ["limit": .int(100)])) != nil
        else { return }
        guard validate(schema: Self.schema, ast: document).isEmpty else { return }
        _ = try? limits.check(document, schema: Self.schema, operationName: nil, variables: ["limit": .int(100)])
    }

    static func toml(_ bytes: [UInt8]) {
        let text = Self.text(bytes)
        _ = try? ConfigLoader(environment: [:]).parse(text, source: "fuzz")
    }

    static func amounts(_ bytes: [UInt8]) {
        Self.executionOutput(bytes)
        let text = Self.text(bytes)
        if let amount = SlotAmount(parsing: text) {
            require(amount.milli >= 0, "a negative amount was accepted")
            require(SlotAmount(parsing: amount.description) == amount, "an amount does not print back: \(text.prefix(40))")
            _ = amount + amount
            _ = amount.share(of: amount)
        }
        if case .success(let seconds) = TimeDuration.seconds(parsing: text) {
            require(seconds.isFinite && seconds >= 0 && seconds <= TimeDuration.maxSeconds, "a duration out of range")
        }
        if let seconds = RelativeTime.seconds(parsing: text) {
            require(seconds.isFinite && abs(seconds) <= TimeDuration.maxSeconds, "a relative time out of range")
        }
        // The list filter and order languages, and their SQL for each list: only whitelisted fields compile.
        let filter = try? ListFilter.parse(text).get()
        let orders = try? ListOrder.parse(text).get()
        for list in [ListFilterSQL.sessions, .users, .keypairs] {
            if let filter, (try? list.condition(filter)) != nil {
                require(filter.fields.allSatisfy { list.fields[$0] != nil }, "a filter on a field outside the whitelist compiled")
            }
            if let orders, (try? list.orderBy(orders)) != nil {
                require(orders.allSatisfy { list.fields[$0.field] != nil }, "an order on a field outside the whitelist compiled")
            }
        }
        if let json = try? JSONValue.parse(text) {
            _ = ResourceSlots.parse(json)
            _ = ScalingGroupOptions.parse(json)
        }
        // The UUID text reader reads what Foundation reads from a canonical text, and nothing else (Foundation's
        // sscanf also takes `-8B5…` as `F8B5…`), and writes back what it read.
        let id = UUIDText.parse(text)
        let foundation = UUID(uuidString: text)
        if let id {
            require(id == foundation, "UUIDText.parse disagrees with UUID(uuidString:): \(text.prefix(40))")
            require(UUIDText.lowercase(id) == text.lowercased(), "UUIDText does not write back what it read")
        } else if let foundation {
            require(foundation.uuidString.lowercased() != text.lowercased(), "UUIDText.parse refused a canonical UUID")
        }
    }

    /// An execution's output read in two pieces cut anywhere reads as it does whole (valid UTF-8: invalid bytes
    /// only have to be read without a trap), markers included.
    static func executionOutput(_ bytes: [UInt8]) {
        func joined(_ pieces: [ExecutionOutputScanner.Piece]) -> String {
            pieces.map { piece in
                switch piece {
                case .text(let text): text
                case .waitingInput(let secret): secret ? "\u{0}S" : "\u{0}I"
                }
            }.joined()
        }
        var whole = ExecutionOutputScanner()
        let expected = joined(whole.feed(bytes) + whole.finish())
        let cut = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
        var split = ExecutionOutputScanner()
        let pieces = split.feed(bytes[..<cut]) + split.feed(bytes[cut...]) + split.finish()
        if String(bytes: bytes, encoding: .utf8) != nil {
            require(joined(pieces) == expected, "execution output cut at \(cut) reads differently")
        }
    }
}
