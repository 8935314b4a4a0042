// manager-load: a native load generator for the manager's API, so benchmarks measure the daemon rather than a
// Python client on the same two cores. Requests are signed exactly as the Backend.AI client signs them
// (HMAC-SHA256 over method, path, date, host, content type, API version and the hash of an empty body — the
// client's quirk —, keyed by the secret key, the date and the host). Open loop with --rate (request i is due at start + i/rate and its latency counts
// from then, so a slow server cannot hide its queueing: no coordinated omission), closed loop without; at most
// --concurrency requests in flight on as many keep-alive connections. Latencies go into an HDR histogram (µs,
// 3 significant digits). Prints one line and writes --json; reports its own CPU (user + system per wall second).
//
// usage: manager-load --endpoint http://127.0.0.1:8091 --access-key AK --secret-key SK --scenario enqueue|list
//            [--count 20000] [--concurrency 32] [--rate 0] [--json out.json]
import AsyncHTTPClient
import Crypto
import Foundation
import Histogram
import NIOCore
import NIOHTTP1
import Synchronization

struct Options {
    var endpoint = ""
    var accessKey = ""
    var secretKey = ""
    var scenario = "enqueue"
    var count = 20_000
    var concurrency = 32
    var rate = 0.0
    var json: String?

    static func parse(_ arguments: [String]) -> Options? {
        var options = Options()
        var index = 0
        while index + 1 < arguments.count {
            let value = arguments[index + 1]
            switch arguments[index] {
            case "--endpoint": options.endpoint = value
            case "--access-key": options.accessKey = value
            case "--secret-key": options.secretKey = value
            case "--scenario": options.scenario = value
            case "--count": options.count = Int(value) ?? -1
            case "--concurrency": options.concurrency = Int(value) ?? -1
            case "--rate": options.rate = Double(value) ?? -1
            case "--json": options.json = value
            default: return nil
            }
            index += 2
        }
        guard index == arguments.count, !options.endpoint.isEmpty, !options.accessKey.isEmpty, !options.secretKey.isEmpty,
            ["enqueue", "list"].contains(options.scenario), options.count > 0, options.concurrency > 0, options.rate >= 0
        else { return nil }
        return options
    }
}

/// The Backend.AI client's request signature (`ai/backend/client/auth.py`).
struct Signer {
    static let version = "v7.20230615"
    static let emptyBodyHash = SHA256.hash(data: Data()).map { String(format: "%02x", $0) }.joined()
    let accessKey: String
    let secretKey: String
    let host: String

    func headers(method: String, path: String, body: [UInt8], micros: Int64) -> HTTPHeaders {
        let date = Self.isoDate(micros: micros)
        // The client hashes an empty body whatever it sends (`auth.py`: `hashlib.new(hash_type, b"")`).
        let bodyHash = Self.emptyBodyHash
        let text = "\(method)\n\(path)\n\(date)\nhost:\(self.host)\ncontent-type:application/json\nx-backendai-version:\(Self.version)\n\(bodyHash)"
        let day = String(date.prefix(10)).replacingOccurrences(of: "-", with: "")
        let dayKey = HMAC<SHA256>.authenticationCode(for: Data(day.utf8), using: SymmetricKey(data: Data(self.secretKey.utf8)))
        let hostKey = HMAC<SHA256>.authenticationCode(for: Data(self.host.utf8), using: SymmetricKey(data: Data(dayKey)))
        let signature = HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: Data(hostKey)))
            .map { String(format: "%02x", $0) }.joined()
        return [
            "Date": date, "X-BackendAI-Version": Self.version, "Content-Type": "application/json",
            "Authorization": "BackendAI signMethod=HMAC-SHA256, credential=\(self.accessKey):\(signature)",
        ]
    }

    /// `datetime.now(timezone.utc).isoformat()`: `2026-12-02T03:04:05.123456+00:00`.
    static func isoDate(micros: Int64) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        let date = Date(timeIntervalSince1970: Double(micros / 1_000_000))
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func pad(_ value: Int?, _ width: Int) -> String {
            let text = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.year, 4))-\(pad(parts.month, 2))-\(pad(parts.day, 2))T\(pad(parts.hour, 2)):\(pad(parts.minute, 2)):"
            + "\(pad(parts.second, 2)).\(pad(Int(micros % 1_000_000), 6))+00:00"
    }
}

func request(_ options: Options, index: Int, prefix: String) -> (method: HTTPMethod, path: String, body: [UInt8]) {
    switch options.scenario {
    case "list":
        let body = #"{"query": "query($limit:Int!, $offset:Int!, $status: String) { compute_session_list(limit:$limit, offset:$offset, status:$status) { items { name access_key id group_name main_kernel_id image type status status_info status_changed result } total_count } }", "variables": {"limit": 100, "offset": 0, "status": "PENDING,SCHEDULED,PREPARING,RUNNING,TERMINATING,ERROR"}}"#
        return (.POST, "/admin/gql", Array(body.utf8))
    default:
        let body = #"{"name": "load-\#(prefix)-\#(index)", "type": "batch", "image": "img:latest", "enqueueOnly": true, "startupCommand": "true", "config": {"resources": {"cpu": "1", "mem": "1g"}}}"#
        return (.POST, "/session", Array(body.utf8))
    }
}

final class Counters: Sendable {
    let next = Atomic<Int>(0)
    /// The last `Date` header's microsecond: each request gets a later one. The client's signature does not cover
    /// the body, so two requests signed in the same microsecond carry the same signature and the server's replay
    /// refusal rightly turns the second away (16 of 20,000 at 1,300/s before this).
    let lastMicros = Atomic<Int64>(0)
    let errors = Atomic<Int>(0)
    /// What the failures were: an HTTP status or a transport error, with how many of each.
    let failures = Mutex<[String: Int]>([:])

    func fail(_ what: String) {
        self.errors.add(1, ordering: .relaxed)
        self.failures.withLock { $0[what, default: 0] += 1 }
    }
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

@main
struct LoadGenerator {
    static func main() async throws {
        guard let options = Options.parse(Array(CommandLine.arguments.dropFirst())), let url = URL(string: options.endpoint),
            let host = url.host
        else {
            FileHandle.standardError.write(Data("usage: manager-load --endpoint URL --access-key AK --secret-key SK --scenario enqueue|list [--count N] [--concurrency C] [--rate R] [--json FILE]\n".utf8))
            exit(2)
        }
        let signer = Signer(accessKey: options.accessKey, secretKey: options.secretKey, host: url.port.map { "\(host):\($0)" } ?? host)
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: options.concurrency)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let prefix = String(UUID().uuidString.prefix(8)).lowercased()
        let counters = Counters()
        let cpuBefore = cpuSeconds()
        let start = ContinuousClock.now
        let histograms = try await withThrowingTaskGroup(of: Histogram<UInt64>.self) { group in
            for _ in 0..<options.concurrency {
                group.addTask {
                    var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
                    while true {
                        let index = counters.next.add(1, ordering: .relaxed).oldValue
                        guard index < options.count else { break }
                        var due = ContinuousClock.now
                        if options.rate > 0 {
                            due = start + .nanoseconds(Int64(Double(index) / options.rate * 1e9))
                            if due > ContinuousClock.now { try await Task.sleep(until: due) }
                        }
                        let (method, path, body) = request(options, index: index, prefix: prefix)
                        var outgoing = HTTPClientRequest(url: options.endpoint + path)
                        outgoing.method = method
                        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
                        var last = counters.lastMicros.load(ordering: .relaxed)
                        while true {
                            let (exchanged, seen) = counters.lastMicros.compareExchange(
                                expected: last, desired: max(now, last + 1), ordering: .relaxed)
                            if exchanged { break }
                            last = seen
                        }
                        outgoing.headers = signer.headers(method: method.rawValue, path: path, body: body, micros: max(now, last + 1))
                        outgoing.body = .bytes(ByteBuffer(bytes: body))
                        do {
                            let response = try await client.execute(outgoing, timeout: .seconds(60))
                            _ = try await response.body.collect(upTo: 64 << 20)
                            if response.status.code >= 300 { counters.fail("HTTP \(response.status.code)") }
                        } catch {
                            counters.fail("\(error)")
                        }
                        let micros = (ContinuousClock.now - due).components
                        _ = histogram.record(UInt64(max(0, micros.seconds * 1_000_000 + micros.attoseconds / 1_000_000_000_000)))
                    }
                    return histogram
                }
            }
            var all: [Histogram<UInt64>] = []
            for try await histogram in group { all.append(histogram) }
            return all
        }
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let cpu = cpuSeconds() - cpuBefore
        try await client.shutdown()
        var merged = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        for histogram in histograms { merged.add(histogram) }
        func ms(_ percentile: Double) -> Double { (Double(merged.valueAtPercentile(percentile)) / 10).rounded() / 100 }
        let result: [String: Any] = [
            "scenario": options.scenario, "count": options.count, "errors": counters.errors.load(ordering: .relaxed),
            "seconds": (seconds * 1000).rounded() / 1000, "per_second": (Double(options.count) / seconds * 10).rounded() / 10,
            "p50_ms": ms(50), "p90_ms": ms(90), "p99_ms": ms(99), "p999_ms": ms(99.9), "max_ms": ms(100),
            "generator_cpu_cores": (cpu / seconds * 1000).rounded() / 1000,
            "failures": counters.failures.withLock { $0 },
            "conditions": ["concurrency": options.concurrency, "rate": options.rate, "endpoint": options.endpoint, "generator": "manager-load"],
        ]
        print("\(options.scenario): \(options.count) requests, \(result["errors"] ?? 0) errors, \(result["per_second"] ?? 0) req/s, "
              + "p50 \(ms(50)) ms, p99 \(ms(99)) ms, p99.9 \(ms(99.9)) ms (concurrency \(options.concurrency), rate \(options.rate == 0 ? "closed loop" : "\(options.rate)/s"); "
              + "generator CPU \(result["generator_cpu_cores"] ?? 0) cores")
        for (what, count) in counters.failures.withLock({ $0 }).sorted(by: { $0.value > $1.value }) {
            print("  failed: \(count) × \(what)")
        }
        if let path = options.json {
            // The shape Benchmarks/api_latency.py writes, so the scripts read either.
            try JSONSerialization.data(
                withJSONObject: [options.scenario: result, "conditions": result["conditions"] ?? [:]], options: [.prettyPrinted, .sortedKeys])
                .write(to: URL(fileURLWithPath: path))
        }
        exit(counters.errors.load(ordering: .relaxed) > 0 ? 1 : 0)
    }
}
