import Prometheus

/// Database pool gauges, refreshed when `/metrics` is scraped.
struct PoolGauges: Sendable {
    let pool: PostgresPool
    let inUse: Gauge
    let idle: Gauge
    let waiting: Gauge

    init(pool: PostgresPool, registry: PrometheusCollectorRegistry) {
        self.pool = pool
        self.inUse = registry.makeGauge(name: "manager_db_pool_connections", labels: [("state", "in_use")])
        self.idle = registry.makeGauge(name: "manager_db_pool_connections", labels: [("state", "idle")])
        self.waiting = registry.makeGauge(name: "manager_db_pool_waiting", help: "Callers waiting for a connection")
    }

    func refresh() async {
        let usage = await self.pool.usage()
        self.inUse.set(Double(usage.inUse))
        self.idle.set(Double(usage.idle))
        self.waiting.set(Double(usage.waiting))
    }
}
