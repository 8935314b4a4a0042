extension JSONValue {
    /// The path (`config.environ.A`, `dependencies[2]`) of the first key or string, in text order, for which
    /// `matches` holds; nil when none does. Walks with its own stack, so no depth of nesting can overflow it.
    public func firstPath(whereText matches: (String) -> Bool) -> String? {
        var pending: [(value: JSONValue, path: String)] = [(self, "")]
        while let (value, path) = pending.popLast() {
            switch value {
            case .string(let text):
                if matches(text) { return path.isEmpty ? "the body" : path }
            case .array(let values):
                for (index, child) in values.enumerated().reversed() { pending.append((child, "\(path)[\(index)]")) }
            case .object(let pairs):
                for pair in pairs {
                    if matches(pair.key) { return path.isEmpty ? pair.key : "\(path).\(pair.key.prefix(64))" }
                }
                for pair in pairs.reversed() {
                    pending.append((pair.value, path.isEmpty ? String(pair.key.prefix(64)) : "\(path).\(pair.key.prefix(64))"))
                }
            case .null, .bool, .number:
                continue
            }
        }
        return nil
    }
}
