import Foundation
import Hummingbird
import Prometheus

/// Version negotiation, health, metrics and the OpenAPI document (`HTTP/OpenAPI/openapi.yaml`, built in).
struct SystemRoutes {
    static let apiVersion = "v7.20230615"
    static let managerVersion = ManagerVersion.current

    let health: HealthCheck
    let metrics: PrometheusCollectorRegistry
    let poolGauges: PoolGauges
    let sessionGauges: SessionGauges
    /// When not empty, `/metrics` needs `Authorization: Bearer <token>`.
    var metricsToken = ""

    func register(on router: Router<ManagerRequestContext>) {
        router.get("/") { _, _ in
            try JSONResponse.make(["version": Self.apiVersion, "manager": Self.managerVersion])
        }
        router.get("/health") { _, _ in
            let report = await self.health.check()
            return try JSONResponse.make(report, status: report.isHealthy ? .ok : .serviceUnavailable)
        }
        router.get("/openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: PackageResources.openapi_yaml)))
        }
        router.get("/metrics") { request, _ in
            if !self.metricsToken.isEmpty {
                let presented = request.headers[.authorization] ?? ""
                guard RequestSignature.constantTimeEquals(presented, "Bearer \(self.metricsToken)") else {
                    var error = APIError.authFailed("/metrics needs 'Authorization: Bearer <auth.metrics_token>'.")
                    error.headers[.wwwAuthenticate] = "Bearer"
                    throw error
                }
            }
            await self.poolGauges.refresh()
            await self.sessionGauges.refresh()
            var buffer: [UInt8] = []
            self.metrics.emit(into: &buffer)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
    }
}

/// The daemon's version, shown at `GET /` and by `manager --version`.
public enum ManagerVersion {
    public static let current = "23.09.10-swift.1"
}
