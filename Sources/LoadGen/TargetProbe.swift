import Foundation
import NIOCore
import NIOSSL
import TapedeckHTTP

/// Asks a target what it is before a `--verify` run: `GET /__tapedeck/status`, which `tapedeck simulate`
/// answers with its data set and `tapedeck proxy` with its mode. Anything else (a real cloud, another
/// server, no answer within two seconds) is `nil`: then nothing can be checked in advance.
public enum TargetProbe {
    public struct Identity: Sendable, Equatable {
        /// "simulator" or "proxy".
        public var role: String
        /// The simulator's synthetic data set, if it serves one.
        public var groups: Int?
        public var seed: UInt64?
        /// The proxy's mode and exhaustion policy.
        public var mode: String?
        public var onExhausted: String?

        public init(role: String, groups: Int? = nil, seed: UInt64? = nil, mode: String? = nil, onExhausted: String? = nil) {
            self.role = role
            self.groups = groups
            self.seed = seed
            self.mode = mode
            self.onExhausted = onExhausted
        }
    }

    public static func identify(_ configuration: LoadConfiguration) async -> Identity? {
        let target = configuration.target
        let tls: NIOSSLContext?
        if target.tls {
            guard let context = try? LoadRunner.tlsContext(configuration) else { return nil }
            tls = context
        } else {
            tls = nil
        }
        let request = HTTPRequestWriter.bytes(
            method: "GET", target: "/__tapedeck/status", host: target.authority, headers: [("Accept", "application/json")])
        guard let response = try? await RawHTTPClient.send(request, host: target.host, port: target.port, tls: tls, timeout: .seconds(2)),
            response.status == 200
        else { return nil }
        return parse(response.body)
    }

    /// The identity in a status document's JSON body, if it is a tapedeck one.
    static func parse(_ body: [UInt8]) -> Identity? {
        guard let doc = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], let role = doc["role"] as? String else {
            return nil
        }
        var id = Identity(role: role)
        if let ds = doc["data_set"] as? [String: Any] {
            id.groups = (ds["groups"] as? NSNumber)?.intValue
            id.seed = (ds["seed"] as? NSNumber)?.uint64Value
        }
        id.mode = doc["mode"] as? String
        id.onExhausted = doc["on_exhausted"] as? String
        return id
    }
}

extension TargetProbe {
    /// Where a run's requests come from, as far as checking the target is concerned.
    public enum Source: Sendable {
        case synthetic(groups: Int, seed: UInt64)
        case cassette(path: String)
        case plain
    }

    /// What `--verify` can know before the run: a simulator serving another data set is an error naming the
    /// flags to change; otherwise notes for the report (how answers will be compared, what will run out).
    public static func check(_ identity: Identity?, source: Source, target: String) throws(LoadError) -> [String] {
        switch (source, identity?.role) {
        case (.synthetic(let groups, let seed), "simulator"):
            guard let g = identity?.groups, let s = identity?.seed else {
                throw LoadError(
                    "--synthetic --verify: the simulator at \(target) serves a fixture, not a synthetic data set, so the expected answers "
                        + "cannot be computed; start it without --fixture, or drop --verify")
            }
            if g != groups || s != seed {
                var fix: [String] = []
                if g != groups { fix.append("--groups \(g)") }
                if s != seed { fix.append("--seed \(s)") }
                throw LoadError(
                    "--synthetic --verify: the simulator at \(target) serves --groups \(g) --seed \(s), this run would expect "
                        + "--groups \(groups) --seed \(seed), and every answer would mismatch. Pass \(fix.joined(separator: " ")) to tapedeck load "
                        + "(or restart the simulator with --groups \(groups) --seed \(seed))")
            }
            return ["the simulator serves the same data set (--groups \(g) --seed \(s)): answers are checked against its ground truth"]
        case (.synthetic, "proxy"):
            return [
                "the target is a tapedeck proxy (mode \(identity?.mode ?? "?")): its data set cannot be checked; --verify assumes --groups/--seed match the simulator behind it"
            ]
        case (.synthetic, _):
            return ["the target did not say what data set it serves (not a tapedeck simulator?): --verify assumes --groups/--seed match it"]
        case (.cassette(let path), "simulator"):
            return [
                "the target is a live simulator: answers are compared with the recording on what the cloud keeps stable (request ids are left out). "
                    + "Calls that change state (creates, deletes, rule changes) answer from the simulator's current state; for byte-exact replay "
                    + "put `tapedeck proxy --mode replay --cassette \(path)` in front and load that"
            ]
        case (.cassette, "proxy"):
            var notes = ["the target is a tapedeck proxy in \(identity?.mode ?? "?") mode"]
            if identity?.mode == "replay" && identity?.onExhausted == "error" {
                notes.append(
                    "it replays with --on-exhausted error: once each recording has been used, requests get Tapedeck.ExchangesExhausted; "
                        + "for load runs start it with --on-exhausted cycle")
            }
            return notes
        default:
            return []
        }
    }
}
