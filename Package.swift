// swift-tools-version:6.1
import Foundation
import PackageDescription

/// `MANAGER_FUZZ=1 swift build --product manager-fuzz` builds the fuzz targets for libFuzzer: our own modules get
/// coverage and AddressSanitizer instrumentation, the dependencies are reused as built (see Fuzz/README.md).
let fuzzing = ProcessInfo.processInfo.environment["MANAGER_FUZZ"] == "1"
let fuzzFlags: [SwiftSetting] = fuzzing ? [.unsafeFlags(["-sanitize=fuzzer,address"]), .define("FUZZING")] : []

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
] + fuzzFlags

let package = Package(
    name: "session-manager",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "manager", targets: ["Manager"]),
        .library(name: "SchedulerKit", targets: ["SchedulerKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/GraphQLSwift/GraphQL.git", from: "4.3.0"),
        .package(url: "https://github.com/vapor/multipart-kit.git", from: "4.7.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CPostgres",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        .target(name: "CFileCopy"),
        .target(name: "CProcess"),
        .target(
            name: "SchedulerKit",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ManagerCore",
            dependencies: [
                "SchedulerKit",
                "CPostgres",
                "CHiredis",
                "CFileCopy",
                "CProcess",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GraphQL", package: "GraphQL"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "MultipartKit", package: "multipart-kit"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            ],
            resources: [.embedInCode("HTTP/OpenAPI/openapi.yaml")],
            swiftSettings: swiftSettings,
            linkerSettings: [.linkedLibrary("hiredis")]
        ),
        .executableTarget(
            name: "Manager",
            dependencies: ["ManagerCore"],
            swiftSettings: swiftSettings
        ),
        // Fuzz targets for every parser of outside bytes (see Fuzz/README.md). `swift build` makes a replayer of
        // their corpora; built with `-sanitize=fuzzer,address -DFUZZING` it is a libFuzzer binary.
        .executableTarget(
            name: "manager-fuzz",
            dependencies: [
                "ManagerCore",
                "SchedulerKit",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "GraphQL", package: "GraphQL"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Fuzz/Sources/ManagerFuzz",
            swiftSettings: swiftSettings,
            linkerSettings: fuzzing ? [.unsafeFlags(["-sanitize=fuzzer,address"])] : []
        ),
        // The native load generator of the benchmarks (Benchmarks/LoadGenerator; see BENCHMARKS.md).
        .executableTarget(
            name: "manager-load",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Benchmarks/LoadGenerator",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SchedulerKitTests",
            dependencies: ["SchedulerKit"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ManagerIntegrationTests",
            dependencies: [
                "ManagerCore",
                "SchedulerKit",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            exclude: [
                "Support/webhook_receiver.py", "Support/schemathesis_hooks.py", "Support/raw_request.py", "Support/cli_documents.py",
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
