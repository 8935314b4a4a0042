import Foundation
import Testing
@testable import ManagerCore

/// The in-memory pieces of the trust boundary, without a daemon.
@Suite struct TenancyUnitTests {
    @Test("a stream's slot comes back when its ticket is gone, whatever ended the stream")
    func streamQuota() throws {
        let quota = StreamQuota(maxPerKeypair: 2)
        let key = AccessKey("AKIATEST")
        var first: StreamQuota.Ticket? = try quota.acquire(key)
        let second = try quota.acquire(key)
        #expect(throws: APIError.self) { try quota.acquire(key) }
        #expect(quota.count(key) == 2)
        _ = try quota.acquire(AccessKey("AKIAOTHER"))  // others are counted apart (and released at once)
        first = nil
        #expect(quota.count(key) == 1)
        let third = try quota.acquire(key)
        #expect(quota.count(key) == 2)
        withExtendedLifetime((first, second, third)) {}
    }

    @Test("the keypair cache keeps known and unknown keys for its TTL, forgets on demand, and stays bounded")
    func keypairCache() async throws {
        let cache = KeypairCache(ttl: .milliseconds(200), capacity: 10)
        let key = AccessKey("AKIAKNOWN")
        #expect(cache.lookup(key) == nil)
        cache.store(key, nil)
        #expect(cache.lookup(key) == .some(nil))
        cache.forget(key)
        #expect(cache.lookup(key) == nil)
        cache.store(key, nil)
        try await Task.sleep(for: .milliseconds(300))
        #expect(cache.lookup(key) == nil)
        for index in 0..<25 { cache.store(AccessKey("AKIA\(index)"), nil) }
        let kept = (0..<25).filter { cache.lookup(AccessKey("AKIA\($0)")) != nil }.count
        #expect(kept <= 10 && kept > 0)
        #expect(KeypairCache(ttl: .zero).lookup(key) == nil)
    }

    @Test("the address budget allows a burst, then refills at its rate, per address")
    func addressBudget() async throws {
        let budget = AddressBudget(burst: 3, perSecond: 10)
        #expect((0..<3).allSatisfy { _ in budget.take("10.0.0.1") })
        #expect(!budget.take("10.0.0.1"))
        #expect(budget.take("10.0.0.2"))
        try await Task.sleep(for: .milliseconds(250))
        #expect(budget.take("10.0.0.1"))
        let never = AddressBudget(burst: 1, perSecond: 0)
        #expect(never.take("a") && !never.take("a"))
    }
}
