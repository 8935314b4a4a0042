/// Backend.AI's session types (wire names).
public enum SessionType: String, Sendable, Hashable, CaseIterable, Codable {
    case interactive, batch, inference, system
}
