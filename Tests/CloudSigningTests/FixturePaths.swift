import Foundation

/// `Tests/Fixtures`, found from this file's path (no bundle resources needed).
let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")
