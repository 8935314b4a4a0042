import Testing
@testable import SchedulerKit

@Suite struct DependencyGraphTests {
    /// A diamond of `layers` layers: node "L.i" depends on both nodes of layer L+1.
    static func diamond(layers: Int) -> [String: [String]] {
        var edges: [String: [String]] = ["root": ["0.0", "0.1"]]
        for layer in 0..<layers {
            for side in 0..<2 {
                edges["\(layer).\(side)"] = layer + 1 < layers ? ["\(layer + 1).0", "\(layer + 1).1"] : []
            }
        }
        return edges
    }

    static func count(_ node: DependencyGraph<String>.Node) -> Int {
        var total = 0
        var pending = [node]
        while let next = pending.popLast() {
            total += 1
            pending += next.dependsOn
        }
        return total
    }

    static func depth(_ node: DependencyGraph<String>.Node) -> Int {
        var deepest = 0
        var pending = [(node, 1)]
        while let (next, level) = pending.popLast() {
            deepest = max(deepest, level)
            pending += next.dependsOn.map { ($0, level + 1) }
        }
        return deepest
    }

    @Test("a 26-layer diamond is shown with each session expanded once: linear, not 2^26")
    func diamondIsLinear() throws {
        let edges = Self.diamond(layers: 26)
        let tree = try #require(DependencyGraph<String>().tree(root: "root", dependencies: { edges[$0] ?? [] }, exists: { edges[$0] != nil }))
        // 53 sessions; each expanded once, each later occurrence a leaf: nodes shown = 1 + edges walked from expanded ones.
        let shown = Self.count(tree)
        #expect(shown <= 1 + 2 + 26 * 2 * 2)
        var ids = Set<String>()
        var pending = [tree]
        while let node = pending.popLast() {
            ids.insert(node.id)
            pending += node.dependsOn
        }
        #expect(ids.count == 53)
        #expect(!tree.truncated)
    }

    @Test("a chain deeper than the bound is cut, and the cut node says so")
    func deepChainIsCut() throws {
        let graph = DependencyGraph<String>(maxNodes: 10_000, maxDepth: 50)
        let tree = try #require(graph.tree(root: "0", dependencies: { Int($0).map { $0 < 5000 ? ["\($0 + 1)"] : [] } ?? [] }, exists: { _ in true }))
        #expect(Self.depth(tree) == 50)
        var node = tree
        while let next = node.dependsOn.first { node = next }
        #expect(node.truncated)
    }

    @Test("a wide graph stops at the node budget and marks where it stopped")
    func wideGraphIsBounded() throws {
        let graph = DependencyGraph<String>(maxNodes: 100, maxDepth: 100)
        let tree = try #require(graph.tree(
            root: "root", dependencies: { $0 == "root" ? (0..<64).map { "a\($0)" } : $0.hasPrefix("a") ? (0..<64).map { "\($0)-b\($0)" } : [] },
            exists: { _ in true }))
        #expect(Self.count(tree) <= 100 + 64 * 64)
        var truncated = tree.truncated
        var pending = [tree]
        while let node = pending.popLast() {
            truncated = truncated || node.truncated
            pending += node.dependsOn
        }
        #expect(truncated)
    }

    @Test("a cycle in bad data ends; missing records are left out; the order of dependencies is kept")
    func cyclesAndMissing() throws {
        let edges = ["a": ["b", "ghost", "c"], "b": ["a"], "c": []]
        let tree = try #require(DependencyGraph<String>().tree(root: "a", dependencies: { edges[$0] ?? [] }, exists: { edges[$0] != nil }))
        #expect(tree.dependsOn.map(\.id) == ["b", "c"])
        #expect(tree.dependsOn[0].dependsOn.map(\.id) == ["a"])
        #expect(tree.dependsOn[0].dependsOn[0].dependsOn.isEmpty)
        #expect(DependencyGraph<String>().tree(root: "nope", dependencies: { _ in [] }, exists: { _ in false }) == nil)
    }
}
