import GraphQL
import OrderedCollections
import Synchronization

/// Compiled plans by operation name and document text, least recently used dropped first. A document no plan
/// covers is remembered too (as nil), so it is looked at once. Filled only with documents the
/// `ValidatedDocumentCache` accepted, so it is bounded the same way.
final class CompiledPlanCache: Sendable {
    private struct Key: Hashable {
        let operationName: String?
        let text: String
    }

    let capacity: Int
    /// An operation name is part of the key; a longer one is not cached (nor compiled), so a client cannot fill the
    /// cache with big keys (GraphQLSwift answers it, as it answers an unknown name).
    static let maxOperationNameLength = 256
    private let entries = Mutex(OrderedDictionary<Key, CompiledSessionList?>())

    init(capacity: Int = 128) { self.capacity = capacity }

    func plan(for text: String, operationName: String?, document: Document) -> CompiledSessionList? {
        guard (operationName?.utf8.count ?? 0) <= Self.maxOperationNameLength else { return nil }
        let key = Key(operationName: operationName, text: text)
        if let cached = self.entries.withLock({ entries -> CompiledSessionList?? in
            guard let index = entries.index(forKey: key) else { return nil }
            let (key, plan) = entries.remove(at: index)
            entries[key] = plan
            return .some(plan)
        }) {
            return cached
        }
        let plan = CompiledSessionList.compile(document, operationName: operationName)
        self.entries.withLock { entries in
            entries[key] = .some(plan)
            if entries.count > self.capacity { entries.removeFirst() }
        }
        return plan
    }

    var count: Int { self.entries.withLock { $0.count } }
}
