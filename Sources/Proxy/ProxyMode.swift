/// What the proxy does with each request.
public enum ProxyMode: String, Sendable, CaseIterable, Codable {
    /// Forward every request upstream and append every exchange to the cassette.
    case record
    /// Answer from the cassette only; never open a connection upstream.
    case replay
    /// Answer from the cassette when a recording matches; forward and record the rest.
    case auto
    /// Forward every request; record nothing.
    case passthrough
}
