import Cassette
import CloudSigning
import Matching

/// The proxy's decision for one request, without sockets (go-vcr's recorder, over `CassetteSession`, its
/// cassette): answer from a recording, forward (and record), or fail — from the mode, the cassette's replay
/// index and where the request would go. `ProxyEngine` carries the decision out.
struct Recorder: Sendable {
    /// What the engine knows of a request when it asks.
    struct Request {
        /// Nil in passthrough, which neither matches nor records (keying costs a tenth of forwarding).
        var key: RequestKey?
        /// The request as sent (for showing which ignored parts differ from a recording).
        var signable: SignableRequest
        var profile: MatchProfile
        /// Where it would be forwarded, if anywhere.
        var upstream: UpstreamTarget?
        var uri: String
    }

    enum Decision: Equatable {
        case replay(CassetteReader.Entry)
        case forward(record: Bool)
        case fail(ProxyFailure)
    }

    let session: CassetteSession
    /// Whether a target is this proxy itself (asked only when forwarding, never on the replay path).
    var isSelf: @Sendable (UpstreamTarget) -> Bool = { _ in false }
    /// This proxy's name in `Via` (RFC 9110 §7.6.3): a request that names it came round a loop of proxies.
    var viaToken = ""

    /// Decides; advances the replay cursor of the key when it answers from the cassette. With `explainMisses`
    /// false a miss comes without its nearest recorded key (`explainMiss` finds it, off the event loop: it
    /// reads every recorded key).
    func decide(_ request: Request, mode: ProxyMode, explainMisses: Bool = true) -> Decision {
        if mode == .replay || mode == .auto, let key = request.key {
            switch session.replay.next(key, findNearest: explainMisses && mode == .replay) {
            case .hit(let entry):
                return .replay(entry)
            case .miss(let nearest) where mode == .replay:
                return .fail(explanation(request, key: key, nearest: nearest))
            case .exhausted(let recorded) where mode == .replay:
                return .fail(.exhausted(cassette: session.path, key: key.string, recorded: recorded))
            case .miss, .exhausted:
                break  // auto: forward and record
            }
        }
        guard let upstream = request.upstream else { return .fail(.noUpstream(uri: request.uri)) }
        guard !isSelf(upstream) else { return .fail(.loopRefused(target: "\(upstream)")) }
        if !viaToken.isEmpty,
            request.signable.headers.contains(where: { ASCIICase.equalIgnoringCase($0.name, "via") && $0.value.contains(viaToken) })
        {
            return .fail(.loopThrough(target: "\(upstream)"))
        }
        return .forward(record: mode == .record || mode == .auto)
    }

    /// The miss of `request` in full: its nearest recorded key and how they differ.
    func explainMiss(_ request: Request) -> ProxyFailure {
        guard let key = request.key else { return .noUpstream(uri: request.uri) }
        return explanation(request, key: key, nearest: session.replay.nearest(to: key))
    }

    private func explanation(_ request: Request, key: RequestKey, nearest: RequestKey?) -> ProxyFailure {
        .noMatch(
            cassette: session.path, key: key.string, nearest: nearest?.string,
            differences: nearest?.differences(from: key) ?? [],
            ignoredDifferences: nearest.map { ignoredDifferences(request, recorded: $0) } ?? [])
    }

    /// What the user told matching to ignore is not in the keys: compared from the stored request.
    private func ignoredDifferences(_ request: Request, recorded key: RequestKey) -> [String] {
        let rules = request.profile.ignored
        guard !rules.isEmpty, let entry = session.replay.first(key), let recorded = try? session.recordedRequest(entry) else { return [] }
        return IgnoreRules.differences(recorded: rules.values(in: RequestKey.signable(recorded)), live: rules.values(in: request.signable))
    }
}
