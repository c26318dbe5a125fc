import CloudSigning
import Foundation

/// Request parts a user declares volatile (`--ignore NAME`, or a match config file): left out of match
/// keys, and shown when they differed, so a replay that matched "anyway" is never a surprise.
///
/// Spelling of one rule:
/// - `NAME`: the query or form parameter `NAME`, the header `NAME` (any case) and the JSON field `NAME` at
///   any depth;
/// - `param:NAME` (or `query:`, `form:`): only the parameter; `header:NAME`: only the header;
/// - `json:NAME`: the JSON field at any depth; `json:a.b.c`: the field at that path from the body's root
///   (arrays along the way apply the rest of the path to each element).
public struct IgnoreRules: Sendable, Hashable {
    public private(set) var specs: [String] = []
    public private(set) var parameters: Set<String> = []
    /// Lower-case.
    public private(set) var headers: Set<String> = []
    /// JSON field names removed wherever they occur.
    public private(set) var jsonAnywhere: Set<String> = []
    /// JSON paths (two or more components) from the body's root.
    public private(set) var jsonPaths: [[String]] = []

    public struct SpecError: Error, CustomStringConvertible, Equatable {
        public let spec: String
        public let why: String
        public var description: String {
            "cannot use '\(spec)' as an ignore rule: \(why). Write NAME (parameter, header or JSON field), param:NAME, header:NAME, json:NAME or json:a.b.c"
        }
    }

    public init() {}

    public init(_ specs: [String]) throws(SpecError) {
        for s in specs { try add(s) }
    }

    public var isEmpty: Bool { specs.isEmpty }

    public mutating func add(_ spec: String) throws(SpecError) {
        let trimmed = spec.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw SpecError(spec: spec, why: "it is empty") }
        guard !specs.contains(trimmed) else { return }
        var kind = ""
        var name = Substring(trimmed)
        if let colon = trimmed.firstIndex(of: ":") {
            kind = trimmed[..<colon].lowercased()
            name = trimmed[trimmed.index(after: colon)...]
        }
        guard !name.isEmpty else { throw SpecError(spec: spec, why: "the name after '\(kind):' is empty") }
        guard !name.contains(where: { $0 == " " || $0 == "\t" }) else { throw SpecError(spec: spec, why: "names have no spaces") }
        switch kind {
        case "":
            parameters.insert(String(name))
            headers.insert(name.lowercased())
            jsonAnywhere.insert(String(name))
        case "param", "query", "form": parameters.insert(String(name))
        case "header": headers.insert(name.lowercased())
        case "json":
            let path = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !path.contains(where: \.isEmpty) else { throw SpecError(spec: spec, why: "a JSON path has an empty component") }
            if path.count == 1 { jsonAnywhere.insert(path[0]) } else { jsonPaths.append(path) }
        default: throw SpecError(spec: spec, why: "'\(kind):' is not a kind of request part")
        }
        specs.append(trimmed)
    }

    public func union(_ other: IgnoreRules) -> IgnoreRules {
        var out = self
        for s in other.specs { try? out.add(s) }  // already validated
        return out
    }

    public var touchesJSON: Bool { !jsonAnywhere.isEmpty || !jsonPaths.isEmpty }

    /// `json` without the ignored fields (dictionaries and arrays as `JSONSerialization` makes them).
    func strip(_ json: Any) -> Any { Self.strip(json, paths: jsonPaths, anywhere: jsonAnywhere) }

    private static func strip(_ value: Any, paths: [[String]], anywhere: Set<String>) -> Any {
        if let object = value as? [String: Any] {
            var out: [String: Any] = [:]
            for (name, child) in object where !anywhere.contains(name) {
                let below = paths.filter { $0.first == name }
                if below.contains(where: { $0.count == 1 }) { continue }
                out[name] = strip(child, paths: below.map { Array($0.dropFirst()) }, anywhere: anywhere)
            }
            return out
        }
        if let array = value as? [Any] { return array.map { strip($0, paths: paths, anywhere: anywhere) } }
        return value
    }

    /// The ignored parts present in `request`, by a readable label (`ClientToken`, `header x-foo`,
    /// `json a.b`), credential-named ones as `REDACTED`, so two requests' ignored parts can be compared.
    public func values(in request: SignableRequest) -> [String: String] {
        guard !isEmpty else { return [:] }
        var out: [String: String] = [:]
        for name in parameters {
            if let v = request.query[name] ?? request.form[name] { out[name] = SecretNames.isSecret(name) ? "REDACTED" : v }
        }
        for h in request.headers where headers.contains(h.name.lowercased()) {
            out["header " + h.name.lowercased()] = SecretNames.isSecret(h.name) ? "REDACTED" : h.value
        }
        if touchesJSON, request.form.isEmpty, let first = request.body.first(where: { $0 > 0x20 }),
            first == UInt8(ascii: "{") || first == UInt8(ascii: "["),
            let json = try? JSONSerialization.jsonObject(with: Data(request.body), options: [.fragmentsAllowed])
        {
            collect(json, path: [], paths: jsonPaths, into: &out)
        }
        return out
    }

    private func collect(_ value: Any, path: [String], paths: [[String]], into out: inout [String: String]) {
        if let object = value as? [String: Any] {
            for (name, child) in object.sorted(by: { $0.key < $1.key }) {
                let here = path + [name]
                let below = paths.filter { $0.first == name }
                if jsonAnywhere.contains(name) || below.contains(where: { $0.count == 1 }) {
                    let label = "json " + here.joined(separator: ".")
                    out[label] = SecretNames.isSecret(name) ? "REDACTED" : Self.render(child)
                    continue
                }
                collect(child, path: here, paths: below.map { Array($0.dropFirst()) }, into: &out)
            }
        } else if let array = value as? [Any] {
            for (i, element) in array.enumerated() {
                var indexed = path
                if let last = indexed.popLast() { indexed.append("\(last)[\(i)]") } else { indexed.append("[\(i)]") }
                collect(element, path: indexed, paths: paths, into: &out)
            }
        }
    }

    private static func render(_ value: Any) -> String {
        if let s = value as? String { return s }
        guard
            let data = try? JSONSerialization.data(
                withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])
        else {
            return "\(value)"
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// The ignored parts that differ between a recorded and a live request, as `name: recorded ≠ live`
    /// (missing shown as ∅).
    public static func differences(recorded: [String: String], live: [String: String]) -> [String] {
        Set(recorded.keys).union(live.keys).sorted().compactMap { k in
            recorded[k] == live[k] ? nil : "\(k): \(recorded[k] ?? "∅") ≠ \(live[k] ?? "∅")"
        }
    }
}

/// Ignore rules for every API and per matching profile, from `--ignore` and a config file:
///
/// ```json
/// { "ignore": ["ClientToken", "header:x-request-trace"],
///   "profiles": { "huawei": { "ignore": ["json:security_group.description"] } } }
/// ```
public struct MatchConfig: Sendable, Equatable {
    public var all = IgnoreRules()
    public var byProfile: [String: IgnoreRules] = [:]

    public init(all: IgnoreRules = IgnoreRules(), byProfile: [String: IgnoreRules] = [:]) {
        self.all = all
        self.byProfile = byProfile
    }

    public var isEmpty: Bool { all.isEmpty && byProfile.values.allSatisfy(\.isEmpty) }

    public struct FileError: Error, CustomStringConvertible {
        public let path: String
        public let why: String
        public var description: String { "match config \(path): \(why)" }
    }

    /// A config file's contents (JSON, as above; the CLI reads the file). Unknown keys and profiles are errors,
    /// so a typo is not a silently ignored rule.
    public static func parse(_ data: Data, path: String) throws -> MatchConfig {
        let top: Any
        do { top = try JSONSerialization.jsonObject(with: data) } catch {
            throw FileError(path: path, why: "not JSON (\((error as NSError).localizedDescription)); expected {\"ignore\": [\"NAME\", …]}")
        }
        guard let object = top as? [String: Any] else {
            throw FileError(path: path, why: "expected a JSON object like {\"ignore\": [\"NAME\", …]}")
        }
        func rules(_ value: Any?, at place: String) throws -> IgnoreRules {
            guard let value else { return IgnoreRules() }
            guard let list = value as? [String] else { throw FileError(path: path, why: "\(place) must be a list of strings") }
            do { return try IgnoreRules(list) } catch { throw FileError(path: path, why: "\(place): \(error)") }
        }
        for key in object.keys where key != "ignore" && key != "profiles" {
            throw FileError(path: path, why: "unknown key \"\(key)\" (known: ignore, profiles)")
        }
        var config = MatchConfig(all: try rules(object["ignore"], at: "\"ignore\""))
        if let profiles = object["profiles"] {
            guard let map = profiles as? [String: Any] else {
                throw FileError(path: path, why: "\"profiles\" must be an object of profile name → {\"ignore\": […]}")
            }
            for (name, value) in map {
                guard MatchProfile.named(name) != nil else {
                    throw FileError(
                        path: path, why: "unknown profile \"\(name)\" (known: \(MatchProfile.builtIn.map(\.name).joined(separator: ", ")))")
                }
                guard let entry = value as? [String: Any] else {
                    throw FileError(path: path, why: "profiles.\(name) must be {\"ignore\": […]}")
                }
                for key in entry.keys where key != "ignore" {
                    throw FileError(path: path, why: "unknown key \"\(key)\" in profiles.\(name) (known: ignore)")
                }
                config.byProfile[name] = try rules(entry["ignore"], at: "profiles.\(name).ignore")
            }
        }
        return config
    }

    public func merging(_ other: MatchConfig) -> MatchConfig {
        var out = self
        out.all = all.union(other.all)
        for (name, r) in other.byProfile { out.byProfile[name] = (out.byProfile[name] ?? IgnoreRules()).union(r) }
        return out
    }

    public func rules(for profile: String) -> IgnoreRules {
        guard let extra = byProfile[profile] else { return all }
        return all.union(extra)
    }

    /// `profile` with these rules folded in.
    public func applied(to profile: MatchProfile) -> MatchProfile {
        let r = rules(for: profile.name)
        guard !r.isEmpty else { return profile }
        var p = profile
        p.ignored = p.ignored.union(r)
        p.volatileParameters.formUnion(r.parameters)
        p.keyHeaders.removeAll { r.headers.contains($0) }
        return p
    }

    /// The built-in profiles with these rules folded in, by name (computed once, not per request).
    public var appliedProfiles: [String: MatchProfile] {
        Dictionary(uniqueKeysWithValues: MatchProfile.builtIn.map { ($0.name, applied(to: $0)) })
    }

    /// The form stored in a cassette header: `"*"` for every profile, else the profile's name.
    public var stored: [String: [String]] {
        var out: [String: [String]] = [:]
        if !all.isEmpty { out["*"] = all.specs }
        for (name, r) in byProfile where !r.isEmpty { out[name] = r.specs }
        return out
    }

    public init(stored: [String: [String]]) {
        for (name, specs) in stored {
            guard let r = try? IgnoreRules(specs) else { continue }
            if name == "*" { all = all.union(r) } else if MatchProfile.named(name) != nil { byProfile[name] = r }
        }
    }
}
