import Prometheus
import SchedulerKit
import Synchronization

/// Sessions per status and the pending queue per scaling group. Counted at most once per `maxAge` however often
/// `/metrics` is scraped (one scrape counts; the others meanwhile serve the last figures), so a scrape flood
/// costs the database nothing more.
final class SessionGauges: Sendable {
    let pool: PostgresPool
    let registry: PrometheusCollectorRegistry
    let maxAge: Duration
    private let lastCount = Mutex<ContinuousClock.Instant?>(nil)

    init(pool: PostgresPool, registry: PrometheusCollectorRegistry, maxAge: Duration = .seconds(15)) {
        self.pool = pool
        self.registry = registry
        self.maxAge = maxAge
    }

    static var sessions: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "manager", metricName: "sessions", unitName: "", helpText: "Sessions per status")
    }
    static var pending: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "manager", subsystem: "scheduler", metricName: "pending_sessions", unitName: "",
            helpText: "PENDING sessions per scaling group")
    }

    func refresh() async {
        let now = ContinuousClock.now
        let due = self.lastCount.withLock { last -> Bool in
            if let last, now - last < self.maxAge { return false }
            last = now
            return true
        }
        guard due else { return }
        guard let counts = try? await PostgresSessionCounts(pool: self.pool).read() else { return }
        for status in SessionStatus.allCases {
            self.registry.makeGauge(descriptor: Self.sessions, labels: [("status", status.rawValue)])
                .set(Double(counts.byStatus[status] ?? 0))
        }
        for (group, count) in counts.pendingByGroup {
            self.registry.makeGauge(descriptor: Self.pending, labels: [("scaling_group", group)]).set(Double(count))
        }
    }
}
