/// Named resource slots (`cpu`, `mem`, `cuda.device`, …) and their amounts; a missing slot is zero.
public struct ResourceSlots: Hashable, Sendable, CustomStringConvertible {
    public private(set) var amounts: [String: SlotAmount]

    public init(_ amounts: [String: SlotAmount] = [:]) {
        self.amounts = amounts.filter { $0.value != .zero }
    }

    public static let empty = ResourceSlots()

    public subscript(slot: String) -> SlotAmount {
        get { self.amounts[slot] ?? .zero }
        set { self.amounts[slot] = newValue == .zero ? nil : newValue }
    }

    /// Slot names in display order: `cpu`, `mem`, then the rest alphabetically.
    public var slotNames: [String] { Self.ordered(self.amounts.keys) }

    static func ordered(_ names: some Sequence<String>) -> [String] {
        names.sorted { lhs, rhs in
            let rank = { (name: String) in name == "cpu" ? 0 : name == "mem" ? 1 : 2 }
            return (rank(lhs), lhs) < (rank(rhs), rhs)
        }
    }

    public static func + (lhs: Self, rhs: Self) -> Self {
        var sum = lhs
        for (slot, amount) in rhs.amounts { sum[slot] = sum[slot] + amount }
        return sum
    }

    /// Subtraction that stops at zero, so a stale snapshot never shows negative usage.
    public static func - (lhs: Self, rhs: Self) -> Self {
        var difference = lhs
        for (slot, amount) in rhs.amounts { difference[slot] = max(.zero, difference[slot] - amount) }
        return difference
    }

    /// Slots for which `self` exceeds `capacity` (a slot `capacity` lacks counts as zero), in display order.
    public func exceeding(_ capacity: ResourceSlots) -> [String] {
        self.slotNames.filter { self[$0] > capacity[$0] }
    }

    /// Slots for which `self` exceeds `limits`, where only the slots `limits` names are limited.
    public func exceedingLimits(_ limits: ResourceSlots) -> [String] {
        self.slotNames.filter { limits.amounts[$0] != nil && self[$0] > limits[$0] }
    }

    /// Reads `{"cpu": "1", "mem": "1073741824"}` (strings or numbers); nil names the first bad slot.
    public static func parse(_ json: JSONValue) -> Result<ResourceSlots, ParseProblem> {
        guard case .object(let pairs) = json else { return .failure(.notAnObject) }
        var slots = ResourceSlots()
        for (slot, value) in pairs {
            let text: String
            switch value {
            case .string(let string): text = string
            case .number(let number): text = JSONValue.number(number).text
            case .null: continue
            default: return .failure(.badAmount(slot: slot))
            }
            guard let amount = SlotAmount(parsing: text) else { return .failure(.badAmount(slot: slot)) }
            slots[slot] = slots[slot] + amount
        }
        return .success(slots)
    }

    public enum ParseProblem: Error, Equatable, Sendable {
        case notAnObject
        case badAmount(slot: String)
    }

    /// `{"cpu": "1", "mem": "1073741824"}` in display order, amounts as decimal strings (Backend.AI's format).
    public var json: JSONValue {
        .object(self.slotNames.map { ($0, .string(self[$0].description)) })
    }

    public var description: String { self.json.text }
}
