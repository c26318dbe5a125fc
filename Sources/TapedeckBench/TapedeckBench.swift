import ArgumentParser

/// `tapedeck-bench`: the in-process measurements behind scripts/bench-simulator and scripts/bench-proxy.
/// Kept out of `tapedeck` so the product's command line holds only what users run.
@main
struct TapedeckBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tapedeck-bench",
        abstract: "In-process benchmarks of the lookup path and the cassette format (used by the scripts/bench-* scripts).",
        subcommands: [BenchLookup.self, BenchCassette.self, BenchKey.self]
    )
}
