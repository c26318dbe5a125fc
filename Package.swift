// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "tapedeck",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tapedeck", targets: ["TapedeckCLI"]),
        .executable(name: "tapedeck-bench", targets: ["TapedeckBench"]),
        .library(name: "CloudSigning", targets: ["CloudSigning"]),
        .library(name: "CloudModel", targets: ["CloudModel"]),
        .library(name: "CloudSim", targets: ["CloudSim"]),
        .library(name: "TapedeckTesting", targets: ["TapedeckTesting"]),
        .library(name: "Cassette", targets: ["Cassette"]),
        .library(name: "Matching", targets: ["Matching"]),
        .library(name: "Proxy", targets: ["Proxy"]),
        .library(name: "LoadGen", targets: ["LoadGen"]),
    ],
    // Exact versions: a fresh clone builds what was tested. (Package.resolved is not tracked: the package
    // mirror these builds use has its own commit ids, which a resolved file would pin and GitHub would refuse.)
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", exact: "1.35.2"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", exact: "1.5.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", exact: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", exact: "1.7.4"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", exact: "0.2.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", exact: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", exact: "2.13.0"),
    ],
    targets: [
        // Signature schemes of both clouds and the query/percent-encoding they stand on. No networking.
        .target(
            name: "CloudSigning",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        // The one HTTP/1.1 layer under all three parts: request targets, the server connection (limits,
        // 100-continue, HEAD, pipelining, timeouts, lingering error answers, backpressure) and the fast lane
        // before NIO's decoder for plain requests, strict response parsing,
        // request writing, bounded content decoding, the clouds' error documents, and `withRunning`.
        .target(
            name: "TapedeckHTTP",
            dependencies: [
                "CZlib",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The data model both clouds share, with no networking: groups and rules, the copy-on-write snapshot
        // store with its reference index, mutations, the id bijection, the synthetic data set and fixtures.
        .target(name: "CloudModel"),
        // The simulator: the two clouds' API front ends over CloudModel, and its NIO server.
        .target(
            name: "CloudSim",
            dependencies: [
                "CloudModel", "CloudSigning", "TapedeckHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The cassette format: gzip JSON Lines, crash-safe appends, redaction, HAR. No networking.
        .target(
            name: "Cassette",
            dependencies: [
                "CloudSigning", "CZlib",
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The system zlib's own API (its CRC-32), beside compress-nio's streams over the same library.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // Canonical request keys and the per-cloud matching profiles; replay lookup over a cassette.
        .target(
            name: "Matching",
            dependencies: ["Cassette", "CloudSigning", "TapedeckHTTP", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // The recording/replaying HTTP proxy (reverse and forward with CONNECT interception).
        .target(
            name: "Proxy",
            dependencies: [
                "Cassette", "Matching", "CloudSigning", "TapedeckHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The load generator: open/closed loop over NIO connections, HdrHistogram latency, reports.
        .target(
            name: "LoadGen",
            dependencies: [
                "CloudModel", "CloudSigning", "Cassette", "TapedeckHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // `tapedeck demo`: the product end to end on built-in data.
        .target(
            name: "TapedeckDemo",
            dependencies: [
                "CloudModel", "CloudSim", "CloudSigning", "Cassette", "Proxy", "LoadGen", "TapedeckHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // In-process helpers for tests: start a simulator on 127.0.0.1:0 and get its URL.
        .target(
            name: "TapedeckTesting",
            dependencies: [
                "CloudModel", "CloudSim", "CloudSigning", "Cassette", "Matching", "Proxy", "TapedeckHTTP",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The thin `tapedeck` executable: argument parsing and wiring only.
        .executableTarget(
            name: "TapedeckCLI",
            dependencies: [
                "CloudModel", "CloudSim", "CloudSigning", "Cassette", "Matching", "Proxy", "LoadGen", "TapedeckDemo", "TapedeckHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // In-process benchmarks (`tapedeck-bench`), run by scripts/bench-simulator and scripts/bench-proxy.
        .executableTarget(
            name: "TapedeckBench",
            dependencies: [
                "CloudModel", "CloudSim", "CloudSigning", "Cassette", "Matching",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "TapedeckHTTPTests",
            dependencies: [
                "TapedeckHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ]
        ),
        .testTarget(
            name: "FuzzTests",
            dependencies: [
                "Cassette", "TapedeckHTTP",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "CloudSigningTests", dependencies: ["CloudSigning"]),
        .testTarget(name: "CloudModelTests", dependencies: ["CloudModel", "TapedeckTesting"]),
        .testTarget(
            name: "CassetteTests",
            dependencies: [
                "Cassette", .product(name: "NIOCore", package: "swift-nio"), .product(name: "CompressNIO", package: "compress-nio"),
            ]),
        .testTarget(name: "MatchingTests", dependencies: ["Matching", "Cassette", "CloudSigning"]),
        .testTarget(
            name: "LoadGenTests",
            dependencies: [
                "LoadGen", "Cassette", "CloudModel", "CloudSim", "Proxy", "TapedeckTesting", "TapedeckHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]),
        .testTarget(name: "DemoTests", dependencies: ["TapedeckDemo"]),
        .testTarget(
            name: "ProxyTests",
            dependencies: [
                "Proxy", "Cassette", "Matching", "CloudModel", "CloudSim", "CloudSigning", "LoadGen", "TapedeckTesting", "TapedeckHTTP",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "CloudSimTests",
            dependencies: [
                "CloudModel", "CloudSim", "CloudSigning", "TapedeckTesting", "TapedeckHTTP",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
