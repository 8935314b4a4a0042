/// The dependency graph of one session as a tree the Backend.AI CLI can read, built from the graph's edges in
/// linear time.
///
/// The edges form a DAG in which a session may be reached along many paths (a diamond of 26 layers has 2^26
/// paths). Backend.AI's format is a nested tree; here each session is expanded once, at its first place in a
/// depth-first walk from the root (dependencies oldest first), and shown again elsewhere as a leaf. The tree is
/// bounded: at most `maxNodes` expanded sessions and `maxDepth` levels; a node whose dependencies were cut off
/// says so (`truncated`).
public struct DependencyGraph<ID: Hashable & Sendable>: Sendable {
    public struct Node: Sendable, Equatable {
        public let id: ID
        public var dependsOn: [Node]
        /// True when this node has dependencies that are not shown (a bound was reached).
        public var truncated: Bool
    }

    private struct Frame {
        var node: Node
        var pending: [ID]
        var next: Int
    }

    public static var defaultMaxNodes: Int { 2000 }
    public static var defaultMaxDepth: Int { 100 }

    public let maxNodes: Int
    public let maxDepth: Int

    public init(maxNodes: Int = Self.defaultMaxNodes, maxDepth: Int = Self.defaultMaxDepth) {
        self.maxNodes = max(1, maxNodes)
        self.maxDepth = max(2, maxDepth)
    }

    /// The tree from `root`. `dependencies(of:)` lists a node's dependencies in the order to show them; nodes
    /// whose record is missing (`exists` false) are left out.
    public func tree(root: ID, dependencies: (ID) -> [ID], exists: (ID) -> Bool) -> Node? {
        guard exists(root) else { return nil }
        var expanded: Set<ID> = [root]
        var budget = self.maxNodes - 1
        // Explicit stack of frames (node, its dependencies, how many were visited): no recursion.
        var stack = [Frame(node: Node(id: root, dependsOn: [], truncated: false), pending: dependencies(root), next: 0)]
        while var top = stack.popLast() {
            if top.next == top.pending.count {
                guard !stack.isEmpty else { return top.node }
                stack[stack.count - 1].node.dependsOn.append(top.node)
                continue
            }
            let child = top.pending[top.next]
            top.next += 1
            guard exists(child) else {
                stack.append(top)
                continue
            }
            if expanded.contains(child) {
                // Already expanded elsewhere (or an ancestor: a cycle in bad data): shown as a leaf.
                top.node.dependsOn.append(Node(id: child, dependsOn: [], truncated: false))
                stack.append(top)
                continue
            }
            let grandchildren = dependencies(child)
            // The child would sit at depth stack.count + 2 (the popped frame is at stack.count + 1).
            if stack.count + 2 >= self.maxDepth || budget == 0 {
                top.node.dependsOn.append(Node(id: child, dependsOn: [], truncated: !grandchildren.isEmpty))
                if budget == 0 { top.node.truncated = true }
                stack.append(top)
                continue
            }
            budget -= 1
            expanded.insert(child)
            stack.append(top)
            stack.append(Frame(node: Node(id: child, dependsOn: [], truncated: false), pending: grandchildren, next: 0))
        }
        return nil
    }
}
