import Cassette

/// The checks behind `tapedeck cassette verify` and `diff`, as data (the CLI only prints them).
public enum CassetteComparison {
    /// A record whose stored key is not what its request makes now (edited by hand, or an older matcher).
    public struct StaleKey: Sendable, Equatable {
        public var seq: Int
        public var differences: [String]
    }

    /// Every record decodes (or this throws, naming it) and its key is its request's key under the cassette's
    /// own ignore rules.
    public static func staleKeys(_ reader: CassetteReader) throws -> [StaleKey] {
        let config = MatchConfig(stored: reader.header.ignore ?? [:])
        var out: [StaleKey] = []
        for entry in reader.entries {
            let e = try reader.exchange(entry)
            let key = RequestKey.of(recorded: e.request, profile: MatchProfile.named(e.profile).map(config.applied(to:)), config: config)
                .key
            if key.string != e.key { out.append(StaleKey(seq: e.seq, differences: RequestKey(parsing: e.key).differences(from: key))) }
        }
        return out
    }

    public enum Difference: Sendable, Equatable, CustomStringConvertible {
        case onlyInFirst(key: String, file: String)
        case onlyInSecond(key: String, file: String)
        case answer(key: String, statuses: (Int, Int), sameBody: Bool)
        /// Matched only because these ignored parts are left out of the key.
        case ignoredParts(key: String, [String])
        case count(key: String, Int, Int)

        public static func == (a: Difference, b: Difference) -> Bool { a.description == b.description }

        public var description: String {
            switch self {
            case let .onlyInFirst(key, file): return "- only in \(file): \(key)"
            case let .onlyInSecond(key, file): return "+ only in \(file): \(key)"
            case let .answer(key, statuses, same):
                return "~ \(key): status \(statuses.0) vs \(statuses.1), body \(same ? "same" : "differs")"
            case let .ignoredParts(key, parts):
                return "~ \(key): ignored (not part of the match) but different: \(parts.joined(separator: "; "))"
            case let .count(key, a, b): return "~ \(key): recorded \(a) vs \(b) times"
            }
        }
    }

    /// `a` against `b` by match key, made with both cassettes' recorded ignore rules plus `extra`.
    public static func diff(_ a: CassetteReader, _ b: CassetteReader, extra: MatchConfig = MatchConfig()) throws -> [Difference] {
        let config = MatchConfig(stored: a.header.ignore ?? [:]).merging(MatchConfig(stored: b.header.ignore ?? [:])).merging(extra)
        func load(_ r: CassetteReader) throws -> [String: [(Exchange, MatchProfile)]] {
            var out: [String: [(Exchange, MatchProfile)]] = [:]
            for e in try r.allExchanges() {
                let profile = config.applied(to: MatchProfile.named(e.profile) ?? MatchProfile.detect(RequestKey.signable(e.request)))
                let key = config.isEmpty ? e.key : RequestKey.of(recorded: e.request, profile: profile).key.string
                out[key, default: []].append((e, profile))
            }
            return out
        }
        let x = try load(a), y = try load(b)
        var out: [Difference] = []
        for k in Set(x.keys).subtracting(y.keys).sorted() { out.append(.onlyInFirst(key: k, file: a.path)) }
        for k in Set(y.keys).subtracting(x.keys).sorted() { out.append(.onlyInSecond(key: k, file: b.path)) }
        for k in Set(x.keys).intersection(y.keys).sorted() {
            let xs = x[k] ?? [], ys = y[k] ?? []
            for ((ea, profile), (eb, _)) in zip(xs, ys) {
                if ea.response.status != eb.response.status || ea.response.body != eb.response.body {
                    out.append(
                        .answer(key: k, statuses: (ea.response.status, eb.response.status), sameBody: ea.response.body == eb.response.body))
                }
                let ignored = IgnoreRules.differences(
                    recorded: profile.ignored.values(in: RequestKey.signable(ea.request)),
                    live: profile.ignored.values(in: RequestKey.signable(eb.request)))
                if !ignored.isEmpty { out.append(.ignoredParts(key: k, ignored)) }
            }
            if xs.count != ys.count { out.append(.count(key: k, xs.count, ys.count)) }
        }
        return out
    }
}
