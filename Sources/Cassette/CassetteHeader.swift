/// The first record of every cassette: which format it is in and who wrote it.
public struct CassetteHeader: Codable, Sendable, Equatable {
    /// Format version; readers refuse newer versions and read older ones.
    public var tapedeck_cassette: Int
    public var created_at: String
    public var tool: String

    public static let currentVersion = 1
    public static let toolName = "tapedeck 0.1.0"

    public init(createdAt: String) {
        tapedeck_cassette = CassetteHeader.currentVersion
        created_at = createdAt
        tool = CassetteHeader.toolName
    }
}
