import ArgumentParser
import CloudModel
import CloudSim

/// `tapedeck-bench lookup`: the in-process lookup measurement used by scripts/bench-simulator.
struct BenchLookup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lookup",
        abstract: "Measure in-process DescribeSecurityGroupReferences lookups on one core (used by scripts/bench-simulator).",
    )

    @Option(help: "Synthetic groups per cloud.") var groups = 1_000_000
    @Option(help: "Seed.") var seed: UInt64 = 1
    @Option(help: "Ids per lookup.") var ids = 10
    @Option(help: "Seconds to measure.") var seconds = 3.0
    @Flag(help: "Render the complete JSON response through the ECS front end.") var render = false

    func run() async throws {
        let data = SyntheticDataSet(groups: groups, seed: seed)
        let started = ContinuousClock.now
        let simulator = await Simulator.synthetic(data, clock: SimulatorClock(fixedTime: SyntheticDataSet.epoch, seed: seed))
        let built = ContinuousClock.now - started
        let result = LookupBenchmark.run(simulator: simulator, dataSet: data, idsPerLookup: ids, seconds: seconds, render: render)
        print(
            "{\"build_seconds\":\(Double(built.components.seconds) + Double(built.components.attoseconds) / 1e18),\"render\":\(render),\"result\":\(result)}"
        )
    }
}
