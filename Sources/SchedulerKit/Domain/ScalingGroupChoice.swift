/// Picks the scaling group for a new session, with Backend.AI's rules and messages.
public enum ScalingGroupChoice {
    /// A group the caller may use, with its options.
    public struct Candidate: Sendable {
        public let name: String
        public let options: ScalingGroupOptions
        public init(name: String, options: ScalingGroupOptions) {
            self.name = name
            self.options = options
        }
    }

    /// Why no group fits; the message is Backend.AI's.
    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// With a requested name: that group if it accepts the type. Without: the first candidate that accepts it.
    /// A group that refuses the type never blocks sessions bound for other groups.
    public static func choose(requested: String?, type: SessionType, candidates: [Candidate]) -> Result<String, Refusal> {
        if let requested {
            guard let group = candidates.first(where: { $0.name == requested }) else {
                return .failure(Refusal(
                    description: "The scaling group '\(requested)' does not exist or you do not have access to the scaling group '\(requested)'."))
            }
            guard group.options.accepts(type) else {
                return .failure(Refusal(description: "The scaling group '\(requested)' does not accept the session type '\(type.rawValue)'."))
            }
            return .success(group.name)
        }
        guard let group = candidates.first(where: { $0.options.accepts(type) }) else {
            return .failure(Refusal(description: "No scaling groups accept the session type '\(type.rawValue)'."))
        }
        return .success(group.name)
    }
}
