/// A scaling group's `scheduler_opts`, validated as Backend.AI's `ScalingGroupOpts` does.
///
/// Unknown keys are kept and written back unchanged. `pending_timeout` is stored as seconds.
public struct ScalingGroupOptions: Sendable, Hashable {
    /// How agents are chosen for a session.
    public enum AgentSelectionStrategy: String, Sendable, Hashable, CaseIterable {
        case dispersed, concentrated, roundrobin
    }

    /// Types of sessions this group accepts; never empty.
    public var allowedSessionTypes: [SessionType]
    /// Seconds a session may stay PENDING before it is cancelled; 0 means forever.
    public var pendingTimeout: Double
    public var agentSelectionStrategy: AgentSelectionStrategy
    /// Scheduler plugin settings (`num_retries_to_skip`…).
    public var config: JSONValue
    /// Keys we do not interpret, kept as given.
    public var extra: [(key: String, value: JSONValue)]

    public static let defaultSessionTypes: [SessionType] = [.interactive, .batch]

    public init(
        allowedSessionTypes: [SessionType] = ScalingGroupOptions.defaultSessionTypes, pendingTimeout: Double = 0,
        agentSelectionStrategy: AgentSelectionStrategy = .dispersed, config: JSONValue = .object([]),
        extra: [(key: String, value: JSONValue)] = []
    ) {
        self.allowedSessionTypes = allowedSessionTypes
        self.pendingTimeout = pendingTimeout
        self.agentSelectionStrategy = agentSelectionStrategy
        self.config = config
        self.extra = extra
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.json == rhs.json }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.json) }

    /// Why a `scheduler_opts` value is refused; the text names the key.
    public struct Problem: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Validates a JSON value; nothing partial is ever returned.
    public static func parse(_ json: JSONValue) -> Result<ScalingGroupOptions, Problem> {
        guard case .object(let pairs) = json else {
            return .failure(Problem(description: "scheduler_opts must be a JSON object"))
        }
        var options = ScalingGroupOptions()
        for (key, value) in pairs {
            switch key {
            case "allowed_session_types":
                guard case .array(let items) = value else {
                    return .failure(Problem(description: "allowed_session_types must be a list of session types"))
                }
                var types: [SessionType] = []
                for item in items {
                    guard case .string(let name) = item, let type = SessionType(rawValue: name), type != .system else {
                        return .failure(Problem(
                            description: "allowed_session_types: \(Self.show(item)) is not one of interactive, batch, inference"))
                    }
                    if !types.contains(type) { types.append(type) }
                }
                guard !types.isEmpty else {
                    return .failure(Problem(description: "allowed_session_types must not be empty"))
                }
                options.allowedSessionTypes = types
            case "pending_timeout":
                let seconds: Result<Double, TimeDuration.Problem>
                switch value {
                case .number(let number): seconds = TimeDuration.seconds(from: number)
                case .string(let text): seconds = TimeDuration.seconds(parsing: text)
                case .null: seconds = .success(0)
                default: return .failure(Problem(description: "pending_timeout must be seconds or a string like \"30m\""))
                }
                switch seconds {
                case .success(let value): options.pendingTimeout = value
                case .failure(let problem): return .failure(Problem(description: "pending_timeout: \(problem)"))
                }
            case "agent_selection_strategy":
                guard case .string(let name) = value, let strategy = AgentSelectionStrategy(rawValue: name) else {
                    return .failure(Problem(
                        description: "agent_selection_strategy: \(Self.show(value)) is not one of dispersed, concentrated, roundrobin"))
                }
                options.agentSelectionStrategy = strategy
            case "config":
                guard case .object = value else { return .failure(Problem(description: "config must be a JSON object")) }
                options.config = value
            default:
                options.extra.append((key, value))
            }
        }
        return .success(options)
    }

    /// The stored and returned form: every known key, then the extra ones.
    public var json: JSONValue {
        .object(
            [
                ("allowed_session_types", .array(self.allowedSessionTypes.map { .string($0.rawValue) })),
                ("pending_timeout", .number(self.pendingTimeout)),
                ("config", self.config),
                ("agent_selection_strategy", .string(self.agentSelectionStrategy.rawValue)),
            ] + self.extra)
    }

    /// True when sessions of `type` may be enqueued here.
    public func accepts(_ type: SessionType) -> Bool { self.allowedSessionTypes.contains(type) }

    private static func show(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): return "'\(text)'"
        case .number(let number): return "\(number)"
        case .bool(let flag): return "\(flag)"
        case .null: return "null"
        case .array: return "a list"
        case .object: return "an object"
        }
    }
}
