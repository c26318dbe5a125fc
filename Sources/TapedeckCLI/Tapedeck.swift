import ArgumentParser

@main
struct Tapedeck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tapedeck",
        abstract: "Record, replay and measure cloud-API traffic.",
        discussion: "Start with `tapedeck demo`: it runs all three parts on built-in data, no cloud account needed.",
        version: "0.1.0",
        subcommands: [
            DemoCommand.self, Simulate.self, ProxyCommand.self, Load.self, Report.self, CassetteCommand.self,
        ]
    )
}
