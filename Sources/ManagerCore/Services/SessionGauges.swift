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
        guard let byStatus = try? await self.pool.query("SELECT status, count(*) AS n FROM sessions GROUP BY status"),
            let pending = try? await self.pool.query(
                """
                SELECT g.name, count(s.id) AS n FROM scaling_groups g
                LEFT JOIN sessions s ON s.scaling_group_name = g.name AND s.status = 'PENDING' GROUP BY g.name
                """)
        else { return }
        var counts: [String: Int] = [:]
        for row in byStatus {
            if let status: String = try? row.decode("status"), let count: Int = try? row.decode("n") { counts[status] = count }
        }
        for status in SessionStatus.allCases {
            self.registry.makeGauge(descriptor: Self.sessions, labels: [("status", status.rawValue)])
                .set(Double(counts[status.rawValue] ?? 0))
        }
        for row in pending {
            guard let group: String = try? row.decode("name"), let count: Int = try? row.decode("n") else { continue }
            self.registry.makeGauge(descriptor: Self.pending, labels: [("scaling_group", group)])
                .set(Double(count))
        }
    }
}
