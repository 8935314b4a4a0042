import Foundation
import SchedulerKit

/// A session's measured use in Backend.AI's stat shape, as `live_stat` / `last_stat` show it: each metric an
/// object with `current` (a decimal string), `capacity`, `pct` and `unit_hint`.
enum SessionStatJSON {
    static func backendAI(_ stats: AgentProtocol.SessionStats) -> JSONValue {
        var fields: [(String, JSONValue)] = []
        if let cpu = stats.cpuUsedMilliseconds {
            fields.append(("cpu_used", .object([
                ("current", .string(String(cpu))), ("capacity", .null), ("pct", .null), ("unit_hint", .string("msec")),
            ])))
        }
        if let memory = stats.memoryBytes {
            var pct: JSONValue = .null
            if let limit = stats.memoryLimitBytes, limit > 0, limit < Int64(1) << 62 {
                pct = .string(String(format: "%.2f", Double(memory) * 100 / Double(limit)))
            }
            var mem: [(String, JSONValue)] = [
                ("current", .string(String(memory))),
                ("capacity", stats.memoryLimitBytes.flatMap { $0 < Int64(1) << 62 ? .string(String($0)) : nil } ?? .null),
                ("pct", pct), ("unit_hint", .string("bytes")),
            ]
            if let peak = stats.memoryPeakBytes { mem.append(("stats.max", .string(String(peak)))) }
            fields.append(("mem", .object(mem)))
        }
        if let processes = stats.processes {
            fields.append(("processes", .object([
                ("current", .string(String(processes))), ("capacity", .null), ("pct", .null), ("unit_hint", .string("count")),
            ])))
        }
        return .object(fields)
    }
}
