import Logging
import Synchronization

/// Bootstraps swift-log once per process with the configured format and level.
public enum LoggingSetup {
    private static let done = Mutex(false)

    /// Installs the handler; later calls only return the logger.
    public static func bootstrap(_ config: ManagerConfig.Logging) -> Logger {
        let shouldBootstrap = Self.done.withLock { done in
            defer { done = true }
            return !done
        }
        if shouldBootstrap {
            let level = config.level
            if config.format == "json" {
                LoggingSystem.bootstrap { label in
                    var handler = JSONLogHandler(label: label)
                    handler.logLevel = level
                    return handler
                }
            } else {
                LoggingSystem.bootstrap { label in
                    var handler = StreamLogHandler.standardError(label: label)
                    handler.logLevel = level
                    return handler
                }
            }
        }
        var logger = Logger(label: "manager")
        logger.logLevel = config.level
        return logger
    }
}
