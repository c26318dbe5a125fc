import ArgumentParser

@main
struct Tapedeck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tapedeck",
        abstract: "Record, replay and measure cloud-API traffic.",
        discussion: """
        tapedeck demo       simulate, record, replay offline and load-test on built-in data
        tapedeck simulate   a local Alibaba Cloud ECS + Huawei Cloud VPC v3 security-group API
        tapedeck proxy      record exchanges into a gzip cassette, replay them offline
        tapedeck load       open- or closed-loop reference-query load with HdrHistogram latency
        tapedeck report     merge load reports of many workers
        tapedeck cassette   list, show, verify, diff, repair, scan, export and import cassettes
        """,
        version: "0.1.0",
        subcommands: [DemoCommand.self, Simulate.self, ProxyCommand.self, Load.self, Report.self, CassetteCommand.self, BenchLookup.self, BenchCassette.self]
    )
}
