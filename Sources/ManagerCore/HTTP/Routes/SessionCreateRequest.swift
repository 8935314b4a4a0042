import Foundation
import SchedulerKit

/// Reads `POST /session`'s body (the official client's shape, with Backend.AI's aliases) into a
/// `SessionCreation`, refusing bad input with a 400 that names the field.
enum SessionCreateRequest {
    /// Dependencies one session may name; the graph of a session is bounded by this and by
    /// `DependencyGraph.maxNodes`.
    static let maxDependencies = 64
    static let maxEnvironEntries = 256
    static let maxEnvironBytes = 256 << 10

    /// `config.environ`: names to string values, as an agent passes them to a process (`NAME=value`). Anything
    /// else is refused here, so whatever enqueue accepts an agent can run.
    static func environ(_ config: JSONValue) throws -> JSONValue {
        switch config["environ"] {
        case nil, .null?: return .object([])
        case .object(let pairs)?:
            guard pairs.count <= Self.maxEnvironEntries else {
                throw APIError.invalidAPIParams("'config.environ' may hold at most \(Self.maxEnvironEntries) variables.")
            }
            var total = 0
            for (name, value) in pairs {
                let field = "'config.environ.\(name.prefix(64))'"
                guard !name.isEmpty, name.utf8.count <= 256,
                    !name.utf8.contains(where: { $0 == UInt8(ascii: "=") || $0 == 0 })
                else {
                    throw APIError.invalidAPIParams("\(field): a variable name must be 1-256 bytes without '=' or NUL.")
                }
                guard case .string(let text) = value else {
                    throw APIError.invalidAPIParams("\(field) must be a string (environment values are text).")
                }
                guard !text.utf8.contains(0) else { throw APIError.invalidAPIParams("\(field) contains a NUL character.") }
                total += name.utf8.count + text.utf8.count + 2
                guard total <= Self.maxEnvironBytes else {
                    throw APIError.invalidAPIParams("'config.environ' holds more than \(Self.maxEnvironBytes) bytes.")
                }
            }
            return .object(pairs)
        default:
            throw APIError.invalidAPIParams("'config.environ' must be an object of variable names to strings.")
        }
    }

    /// How long `POST /session` without `enqueueOnly` waits for the session to start: `maxWaitSeconds`, where 0
    /// (the client's default) means Backend.AI's "until it starts", bounded here by `SessionService.maxCreateWait`.
    static func maxWait(_ body: JSONValue) throws -> Duration {
        switch body["maxWaitSeconds"] ?? body["max_wait_seconds"] {
        case nil, .null?: return SessionService.maxCreateWait
        case .number(let number)?:
            guard let seconds = Int(exactly: number), seconds >= 0 else {
                throw APIError.invalidAPIParams("'maxWaitSeconds' must be a whole number of seconds, 0 or more.")
            }
            return seconds == 0 ? SessionService.maxCreateWait : min(.seconds(seconds), SessionService.maxCreateWait)
        default: throw APIError.invalidAPIParams("'maxWaitSeconds' must be a whole number of seconds, 0 or more.")
        }
    }

    static func parse(_ body: JSONValue, identity: Identity) throws -> (creation: SessionCreation, enqueueOnly: Bool) {
        guard case .object = body else { throw APIError.invalidAPIParams("The request body must be a JSON object.") }
        func string(_ keys: String...) throws -> String? {
            for key in keys {
                switch body[key] {
                case nil, .null?: continue
                case .string(let value)?: return value
                default: throw APIError.invalidAPIParams("'\(key)' must be a string.")
                }
            }
            return nil
        }
        func bool(_ key: String) throws -> Bool {
            switch body[key] {
            case nil, .null?: return false
            case .bool(let value)?: return value
            case .string(let text)?: return ["true", "1", "yes"].contains(text.lowercased())
            default: throw APIError.invalidAPIParams("'\(key)' must be a boolean.")
            }
        }
        let config: JSONValue = body["config"] ?? .object([])
        guard case .object = config else { throw APIError.invalidAPIParams("'config' must be an object.") }
        func configString(_ keys: String...) throws -> String? {
            for key in keys {
                switch config[key] {
                case nil, .null?: continue
                case .string(let value)?: return value
                default: throw APIError.invalidAPIParams("'config.\(key)' must be a string.")
                }
            }
            return nil
        }

        let name = try string("name", "clientSessionToken", "sessionName") ?? "session-\(UUID().uuidString.prefix(8).lowercased())"
        if let problem = SessionName.problem(with: name) { throw APIError.invalidAPIParams("'name': \(problem)") }
        let typeName = try string("type", "sessionType") ?? "interactive"
        guard let type = SessionType(rawValue: typeName.lowercased()), type != .system else {
            throw APIError.invalidAPIParams("'type': '\(typeName.prefix(32))' is not one of interactive, batch, inference.")
        }
        guard let image = try string("image", "lang"), !image.isEmpty, image.count <= 512 else {
            throw APIError.invalidAPIParams("'image' is required.")
        }
        if type == .batch, (try string("startupCommand", "startup_command"))?.isEmpty ?? true {
            throw APIError.invalidAPIParams("'startupCommand' is required for batch sessions.")
        }

        var slots: [(key: String, value: JSONValue)] = []
        switch config["resources"] {
        case nil, .null?: break
        case .object(let pairs)?:
            for (slot, value) in pairs {
                guard slot.count <= 64, slot.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_") }) else {
                    throw APIError.invalidAPIParams("'config.resources': '\(slot.prefix(64))' is not a resource slot name.")
                }
                let text: String
                switch value {
                case .string(let s): text = s
                case .number(let n): text = JSONValue.number(n).text
                default: throw APIError.invalidAPIParams("'config.resources.\(slot)' must be a number or a string like \"1g\".")
                }
                guard let amount = SlotAmount(parsing: text) else {
                    throw APIError.invalidAPIParams("'config.resources.\(slot)': '\(text.prefix(32))' is not a non-negative amount.")
                }
                slots.append((slot, .string(amount.description)))
            }
        default: throw APIError.invalidAPIParams("'config.resources' must be an object.")
        }

        var dependencies: [String] = []
        switch body["dependencies"] {
        case nil, .null?: break
        case .array(let items)?:
            guard items.count <= Self.maxDependencies else {
                throw APIError.invalidAPIParams("'dependencies' may name at most \(Self.maxDependencies) sessions.")
            }
            for item in items {
                guard case .string(let reference) = item, !reference.isEmpty, reference.count <= 64 else {
                    throw APIError.invalidAPIParams("'dependencies' must be a list of session names or ids.")
                }
                dependencies.append(reference)
            }
        default: throw APIError.invalidAPIParams("'dependencies' must be a list of session names or ids.")
        }

        let mounts = try Self.mounts(config)
        var startsAt: Date?
        if let text = try string("starts_at", "startsAt") {
            // An ISO 8601 date, or a time from now as Backend.AI takes it (`10s`, `5m`, `1h30m`, `1d`).
            if let date = Timestamp.parse(text) {
                startsAt = date
            } else if let seconds = RelativeTime.seconds(parsing: text) {
                startsAt = Date(timeIntervalSinceNow: seconds)
            } else {
                throw APIError.invalidAPIParams(
                    "'starts_at': '\(text.prefix(40))' is neither an ISO 8601 date nor a time from now such as 10s, 5m, 1h or 1d.")
            }
        }
        let callback = try string("callback_url", "callbackUrl", "callbackURL")
        if let callback, !(callback.hasPrefix("http://") || callback.hasPrefix("https://")) || callback.count > 2048 {
            throw APIError.invalidAPIParams("'callback_url' must be an http or https URL.")
        }

        var owner = identity.accessKey
        if let requested = try string("owner_access_key"), requested != identity.accessKey.rawValue {
            guard identity.isAdmin else { throw APIError.forbidden("Only an admin may create sessions for another access key.") }
            owner = AccessKey(requested)
        }

        var clusterSize = 1
        switch body["cluster_size"] ?? body["clusterSize"] {
        case nil, .null?: break
        case .number(let number)?:
            guard let size = Int(exactly: number), (1...1024).contains(size) else {
                throw APIError.invalidAPIParams("'clusterSize' must be an integer from 1 to 1024.")
            }
            clusterSize = size
        default: throw APIError.invalidAPIParams("'clusterSize' must be an integer from 1 to 1024.")
        }

        var creation = SessionCreation(
            name: name, type: type, image: image, architecture: try string("architecture") ?? "x86_64",
            requestedScalingGroup: try configString("scalingGroup", "scaling_group"), requestedSlots: .object(slots),
            resourceOpts: config["resource_opts"].flatMap { if case .object = $0 { return $0 } else { return nil } } ?? .object([]),
            dependencies: dependencies, startupCommand: try string("startupCommand", "startup_command"),
            bootstrapScript: try string("bootstrap_script", "bootstrapScript"), startsAt: startsAt, callbackURL: callback,
            environ: try Self.environ(config),
            mounts: mounts,
            tag: try string("tag"), reuseIfExists: try bool("reuseIfExists"), owner: owner,
            groupName: try string("group", "groupName") ?? "default", isAdminRequest: identity.isAdmin)
        creation.clusterSize = clusterSize
        creation.designatedAgents = try Self.agentList(config, identity: identity)
        if let secret = try string("callback_secret", "callbackSecret") {
            guard callback != nil else { throw APIError.invalidAPIParams("'callback_secret' needs a 'callback_url'.") }
            guard (16...256).contains(secret.utf8.count), secret.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
                throw APIError.invalidAPIParams("'callback_secret' must be 16 to 256 printable ASCII characters.")
            }
            creation.callbackSecret = secret
        }
        return (creation, try bool("enqueueOnly"))
    }

    /// `config.agentList` (`--assign-agent`): at most 32 agent ids, admins only (Backend.AI lets superadmins choose).
    static func agentList(_ config: JSONValue, identity: Identity) throws -> [String] {
        switch config["agentList"] ?? config["agent_list"] {
        case nil, .null?: return []
        case .array(let items)?:
            guard !items.isEmpty else { return [] }
            guard identity.isAdmin else { throw APIError.forbidden("'config.agentList': only an admin may choose the agents of a session.") }
            guard items.count <= 32 else { throw APIError.invalidAPIParams("'config.agentList' names at most 32 agents.") }
            var agents: [String] = []
            for item in items {
                guard case .string(let id) = item, (1...64).contains(id.utf8.count), !id.utf8.contains(where: { $0 < 0x20 }) else {
                    throw APIError.invalidAPIParams("'config.agentList': each entry must be an agent id of 1 to 64 characters.")
                }
                if !agents.contains(id) { agents.append(id) }
            }
            return agents
        default: throw APIError.invalidAPIParams("'config.agentList' must be a list of agent ids.")
        }
    }

    /// `config.mounts` (folder names) with `config.mount_map` (name → path inside the session), validated as
    /// Backend.AI does: aliases lose a leading `/home/work/`, must not be empty, reserved, another folder's name, a
    /// duplicate, or climb out of the working folder.
    static func mounts(_ config: JSONValue) throws -> [MountRequest] {
        var names: [String] = []
        switch config["mounts"] {
        case nil, .null?: break
        case .array(let items)?:
            for item in items {
                guard case .string(let name) = item, !name.isEmpty, name.unicodeScalars.count <= 64 else {
                    throw APIError.invalidAPIParams("'config.mounts' must be a list of vfolder names.")
                }
                if !names.contains(name) { names.append(name) }
            }
        default: throw APIError.invalidAPIParams("'config.mounts' must be a list of vfolder names.")
        }
        guard names.count <= 64 else { throw APIError.invalidAPIParams("'config.mounts' may name at most 64 folders.") }
        var aliases: [String: String] = [:]
        switch config["mount_map"] {
        case nil, .null?: break
        case .object(let pairs)?:
            // The cap comes before the checks below, which compare every pair with every other.
            guard pairs.count <= 64 else { throw APIError.invalidAPIParams("'config.mount_map' may map at most 64 folders.") }
            for (source, target) in pairs {
                guard case .string(let alias) = target, alias.unicodeScalars.count <= 255 else {
                    throw APIError.invalidAPIParams("'config.mount_map.\(source.prefix(64))' must be a path string.")
                }
                let path: MountPath
                do {
                    path = try MountPath(alias: alias)
                } catch .notNormal {
                    throw APIError.invalidAPIParams(
                        "'config.mount_map.\(source.prefix(64))': the mount path '\(alias.prefix(64))' must be a plain path (no '.', '..', empty parts or control characters).")
                } catch {
                    throw APIError.invalidAPIParams("'config.mount_map.\(source.prefix(64))': \(error)")
                }
                let normalized = path.alias
                if !normalized.hasPrefix("/"), VFolderName.isReservedDotfile(String(normalized.split(separator: "/").first ?? "")) {
                    throw APIError.invalidAPIParams("'config.mount_map.\(source.prefix(64))': \(normalized.prefix(64)) is reserved for internal path.")
                }
                if pairs.contains(where: { $0.key == normalized }) && normalized != source {
                    throw APIError.invalidAPIParams(
                        "'config.mount_map.\(source.prefix(64))': Alias name cannot be set to an existing folder name: \(normalized.prefix(64))")
                }
                aliases[source] = normalized
                if !names.contains(source) { names.append(source) }
            }
        default: throw APIError.invalidAPIParams("'config.mount_map' must be an object of folder names to paths.")
        }
        guard names.count <= 64 else { throw APIError.invalidAPIParams("'config.mounts' may name at most 64 folders.") }
        let requests = names.map { MountRequest(name: $0, alias: aliases[$0] ?? $0) }
        if Set(requests.map(\.alias)).count != requests.count {
            throw APIError.invalidAPIParams("'config.mount_map': Duplicate alias folder name exists.")
        }
        // A folder name without a mount_map entry is mounted at /home/work/<name>; names are checked elsewhere,
        // but a name such as `.ssh` is still refused here.
        var paths: [MountPath] = []
        for request in requests {
            guard let path = try? MountPath(alias: request.alias) else {
                throw APIError.invalidAPIParams("'config.mounts': '\(request.name.prefix(64))' cannot be mounted at \(request.alias.prefix(64)).")
            }
            paths.append(path)
        }
        for (i, outer) in paths.enumerated() {
            for inner in paths[(i + 1)...] where outer.overlaps(inner) {
                let (short, long) = outer.path.count <= inner.path.count ? (outer, inner) : (inner, outer)
                throw APIError.invalidAPIParams("'config.mount_map': VFolder mount path \(short.alias) overlaps with \(long.alias)")
            }
        }
        return requests
    }
}
