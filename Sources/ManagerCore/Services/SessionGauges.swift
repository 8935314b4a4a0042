import Prometheus
import SchedulerKit

/// Sessions per status and the pending queue per scaling group, counted when `/metrics` is scraped.
struct SessionGauges: Sendable {
    let pool: PostgresPool
    let registry: PrometheusCollectorRegistry
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
