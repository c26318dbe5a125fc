import ArgumentParser
import Cassette
import CloudSigning
import Foundation
import Logging
import Matching
import NIOCore
import Proxy
import ServiceLifecycle
import TapedeckHTTP

struct ProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Record cloud-API exchanges into a gzip cassette, or replay them offline.",
        discussion: """
            Reverse proxy: point a client at the proxy and pass --upstream. Forward proxy: set HTTPS_PROXY or HTTP_PROXY \
            to the proxy; CONNECT tunnels are intercepted with a CA created in --ca-dir (trust DIR/ca.pem).

            Control API (loopback only, POSTs with Content-Type: application/json): GET /__tapedeck/status, \
            POST /__tapedeck/mode|cassette|flush|rewind.

            SIGTERM or SIGINT: stop accepting, finish and record every exchange in flight, flush, exit 0.

            Prints `listening on http://HOST:PORT` once ready.
            """
    )

    @OptionGroup var server: ServerOptions
    @Option(parsing: .unconditional, help: "Port to bind (0 picks a free one).") var port = 8081
    @Option(help: "The cassette file (gzip JSON Lines).") var cassette: String
    @Option(help: "record | replay | auto | passthrough.") var mode: ProxyMode = .auto
    @Option(help: "Upstream for origin-form requests, e.g. https://ecs.aliyuncs.com.") var upstream: String?
    @Option(help: "When a request's recordings are used up: error | last | cycle.") var onExhausted: ExhaustedPolicy = .error
    @Option(help: "Matching profile for every request (aliyun-rpc, aliyun-acs3, huawei, generic); default: per request.") var profile:
        String?
    @Option(help: "Also redact this header, parameter or JSON field (repeatable).") var redact: [String] = []
    @OptionGroup var matching: MatchingOptions
    @Option(
        help: ArgumentHelp(
            "Reverse mode: re-sign forwarded requests whose signature covers Host (ACS3, Huawei) with this key, for the upstream.",
            discussion:
                "The key stays in memory; recordings never carry it. Prefer --resign-env: a command line is visible to other users.",
            valueName: "ID:SECRET")) var resign: String?
    @Option(help: ArgumentHelp("Like --resign, reading ID:SECRET from this environment variable.", valueName: "VAR")) var resignEnv: String?
    @Option(help: "Let the control API switch only to cassettes under this directory.") var cassetteDir: String?
    @Option(help: "Directory of the TLS interception CA.") var caDir = defaultCADirectory
    @Option(help: "PEM file of extra CAs to trust for upstream TLS.") var upstreamCa: String?
    @Option(parsing: .unconditional, help: "Upstream answer timeout in seconds.") var upstreamTimeout: Double = 30
    @Option(parsing: .unconditional, help: "Close client connections idle (or stalled mid-request) this many seconds.") var idleTimeout: Double = 60

    func validate() throws {
        if let p = profile, MatchProfile.named(p) == nil {
            throw ValidationError("unknown --profile \(p); known: \(MatchProfile.builtIn.map(\.name).joined(separator: ", "))")
        }
        if let u = upstream, UpstreamTarget(url: u) == nil {
            throw ValidationError(
                "--upstream must be http://host[:port] or https://host[:port] (a host without spaces or control characters, a port in 1-65535), got \(u.debugDescription)"
            )
        }
        if let u = upstream, let schemeEnd = u.range(of: "://"), u[schemeEnd.upperBound...].prefix(while: { $0 != "/" && $0 != "?" }).contains("@") {
            throw ValidationError(
                "--upstream takes no user:password@ (it would not be sent, and would be printed in the log): the clouds' requests carry their own signatures; for re-signing use --resign-env"
            )
        }
        if let u = upstream, let t = RequestTarget(u), let origin = UpstreamTarget(url: u), !(t.path.isEmpty || t.path == "/") || t.query != nil {
            throw ValidationError(
                "--upstream names an origin only: each request goes upstream with its own path and query, so the '\(t.path)\(t.query.map { "?" + $0 } ?? "")' of \(u) would be dropped; use --upstream \(origin.origin)"
            )
        }
        try validatePort(port)
        if redact.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw ValidationError("--redact needs a header, parameter or JSON field name, got an empty one")
        }
        if let dir = cassetteDir {
            var st = stat()
            guard stat(dir, &st) == 0 else {
                if errno != ENOENT { throw ValidationError("--cassette-dir \(dir): \(String(cString: strerror(errno))); pick another folder") }
                throw ValidationError("--cassette-dir \(dir) does not exist; create it (mkdir -p \(dir)) or pick another folder")
            }
            guard st.st_mode & S_IFMT == S_IFDIR else {
                throw ValidationError("--cassette-dir \(dir) is not a folder (it is a file, a FIFO or a device); name a folder")
            }
        }
        _ = try resigner()
        _ = try matching.config()
        if (resign != nil || resignEnv != nil) && upstream == nil {
            throw ValidationError(
                "--resign only applies to reverse mode: add --upstream URL (forward-mode clients sign the real Host already)")
        }
        try validateSeconds(idleTimeout, "--idle-timeout")
        try validateSeconds(upstreamTimeout, "--upstream-timeout")
        // A --ca-dir given on purpose that cannot hold a CA is an error now, not a warning at the first CONNECT
        // (the default folder only warns: a reverse proxy needs no CA, and HOME may be read-only).
        if caDir != defaultCADirectory {
            do { _ = try CertificateAuthority(directory: caDir) } catch {
                throw ValidationError("--ca-dir \(caDir): \(error); fix that, or leave --ca-dir out for the default \(defaultCADirectory)")
            }
        }
    }

    func run() async throws {
        let logger = bootstrapLogging(level: server.logLevel, label: "tapedeck.proxy")
        var conf = ProxyConfiguration(cassettePath: cassette, caDirectory: caDir)
        conf.host = server.host
        conf.port = port
        conf.mode = mode
        conf.upstream = upstream
        conf.onExhausted = onExhausted
        conf.profile = profile.flatMap(MatchProfile.named)
        for r in redact { conf.redactor.add(r) }
        conf.matchConfig = try matching.config()
        conf.resigner = try resigner()
        conf.upstreamCAFile = upstreamCa
        conf.cassetteDirectory = cassetteDir
        conf.upstreamTimeout = .milliseconds(Int64(upstreamTimeout * 1000))
        conf.threads = server.threads
        conf.limits.idleTimeout = .nanoseconds(Int64(idleTimeout * 1e9))
        raiseFileLimit()
        let proxy = ProxyServer(configuration: conf, logger: logger) { address in printListening(address.urlString) }
        let group = ServiceGroup(configuration: .init(services: [proxy], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await runServer(group, logger: logger)
    }
}

extension ProxyCommand {
    func resigner() throws -> Resigner? {
        if resign != nil && resignEnv != nil { throw ValidationError("give --resign or --resign-env, not both") }
        if let resign {
            guard let r = Resigner(pair: resign) else {
                throw ValidationError(
                    "--resign must be ID:SECRET (an access key id of printable ASCII without spaces, a colon, its secret)")
            }
            return r
        }
        if let resignEnv {
            guard let value = ProcessInfo.processInfo.environment[resignEnv], !value.isEmpty else {
                throw ValidationError("--resign-env \(resignEnv): the environment variable is not set or empty")
            }
            guard let r = Resigner(pair: value) else {
                throw ValidationError(
                    "--resign-env \(resignEnv): the value must be ID:SECRET (an access key id of printable ASCII without spaces, a colon, its secret)"
                )
            }
            return r
        }
        return nil
    }
}

/// `--ignore` and `--match-config`, for the proxy and the cassette commands that compare keys.
struct MatchingOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Leave this request part out of match keys (repeatable): NAME (a query/form parameter, header or JSON field), param:NAME, header:NAME, json:NAME or json:a.b.c.",
            valueName: "NAME")) var ignore: [String] = []
    @Option(
        help: ArgumentHelp(
            "JSON file of ignore rules: {\"ignore\": [NAME, …], \"profiles\": {\"huawei\": {\"ignore\": […]}}}.", valueName: "FILE"))
    var matchConfig: String?

    func config() throws -> MatchConfig {
        var config = MatchConfig()
        if let matchConfig {
            // Read by the CLI's one input reader: a folder, a FIFO, a device or a symlink loop is named as such.
            let data = try readInputFile(matchConfig, "a JSON match config to --match-config")
            do { config = try MatchConfig.parse(data, path: matchConfig) } catch { throw ValidationError("--match-config: \(error)") }
        }
        do { config = config.merging(MatchConfig(all: try IgnoreRules(ignore))) } catch { throw ValidationError("--ignore: \(error)") }
        return config
    }
}

extension SocketAddress {
    var urlString: String {
        let host = ipAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "localhost"
        return "http://\(host):\(port ?? 0)"
    }
}

/// `$HOME/.tapedeck/ca` (the environment's home, as shells mean `~`; `/etc/passwd`'s only without `$HOME`).
let defaultCADirectory: String = {
    let home = ProcessInfo.processInfo.environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
    return home + "/.tapedeck/ca"
}()
