/// The first record of every cassette: which format it is in and who wrote it.
public struct CassetteHeader: Codable, Sendable, Equatable {
    /// Format version; readers refuse newer versions and read older ones.
    public var tapedeck_cassette: Int
    public var created_at: String
    public var tool: String
    /// Ignore rules the keys were made with (`--ignore`, match config): `"*"` for every profile, else a
    /// profile's name → rule specs. Replay applies them too, so a cassette replays as it was recorded.
    public var ignore: [String: [String]]?
    /// What the recorder knew to be wrong with the recordings (e.g. signatures broken by a rewritten `Host`).
    public var warnings: [String]?

    /// 1: one record per gzip member. 2: a member may hold several consecutive records (a group commit's
    /// batch, compressed as one stream); version-1 readers would misread those, so they refuse version 2.
    public static let currentVersion = 2
    public static let toolName = "tapedeck 0.1.0"

    public init(createdAt: String, ignore: [String: [String]]? = nil, warnings: [String]? = nil, version: Int = CassetteHeader.currentVersion) {
        tapedeck_cassette = version
        created_at = createdAt
        tool = CassetteHeader.toolName
        self.ignore = ignore.flatMap { $0.isEmpty ? nil : $0 }
        self.warnings = warnings.flatMap { $0.isEmpty ? nil : $0 }
    }
}
