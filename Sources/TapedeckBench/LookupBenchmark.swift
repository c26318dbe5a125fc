import CloudModel
import CloudSim
import NIOCore
import NIOHTTP1

/// Measures the reference-lookup path in-process, one thread, no network: what `scripts/bench-simulator`
/// reports as lookups per second. Ids are drawn Zipf-like from the data set before timing starts.
public enum LookupBenchmark {
    public struct Result: Sendable, CustomStringConvertible {
        public var groups: Int
        public var lookups: Int
        public var seconds: Double
        /// Referencing records returned in total (so the work cannot be optimised away, and to show it is real).
        public var records: Int
        public var perSecond: Double { Double(lookups) / seconds }
        public var nanosPerLookup: Double { seconds * 1e9 / Double(lookups) }
        public var description: String {
            "{\"groups\":\(groups),\"lookups\":\(lookups),\"seconds\":\(seconds),\"records\":\(records),\"lookups_per_s\":\(Int(perSecond)),\"ns_per_lookup\":\(Int(nanosPerLookup))}"
        }
    }

    /// - Parameter render: also build the complete JSON response through the ECS front end (parameter
    ///   parsing included), not just resolve ids and read the index.
    public static func run(
        simulator: Simulator, dataSet: SyntheticDataSet, idsPerLookup: Int = 10, seconds: Double,
        render: Bool
    ) -> Result {
        let store = simulator.aliyun.store
        var rng = SplitMix64(seed: dataSet.seed ^ 0xBE7C)
        let batches = 4096
        let ids: [[String]] = (0..<batches).map { _ in (0..<idsPerLookup).map { _ in store.generatedID(of: dataSet.zipfHandle(&rng)) } }
        // The same ids packed back to back, as a request's bytes would be: the loop reads them without
        // touching a String object per id.
        let idLength = store.codec.idLength
        let packed: [UInt8] = ids.flatMap { $0.flatMap { Array($0.utf8) } }
        var snap = store.snapshot()
        let region = snap.partitionIndex(SyntheticDataSet.aliyunRegion)!
        let requests: [String] = ids.map { batch in
            "/?Action=DescribeSecurityGroupReferences&RegionId=cn-hangzhou&Format=JSON"
                + batch.enumerated().map { "&SecurityGroupId.\($0.offset + 1)=\($0.element)" }.joined()
        }
        let allocator = ByteBufferAllocator()
        var cache = simulator.makeReaderCache()
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start.advanced(by: .milliseconds(Int(seconds * 1000)))
        var lookups = 0, records = 0
        while clock.now < deadline {
            for i in 0..<1024 {
                let n = (lookups + i) & (batches - 1)
                if render {
                    let r = simulator.respond(
                        method: .GET, uri: requests[n], headers: HTTPHeaders(), body: nil, cache: &cache, allocator: allocator)
                    records &+= r.body.readableBytes
                } else {
                    store.refresh(&snap)
                    var budget = AliyunAPI.maxReferenceRecords
                    packed.withUnsafeBufferPointer { all in
                        for k in 0..<idsPerLookup {
                            let at = (n * idsPerLookup + k) * idLength
                            let id = UnsafeBufferPointer(rebasing: all[at..<(at + idLength)])
                            guard let key = store.codec.parse(utf8: id, kind: .group), key < UInt64(snap.handleCount),
                                let (partition, refs) = snap.lookup(UInt32(key)), partition == region
                            else { continue }
                            let take = min(budget, refs.count)
                            budget -= take
                            records &+= take
                        }
                    }
                }
            }
            lookups += 1024
        }
        let elapsed = clock.now - start
        let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Result(groups: dataSet.groups, lookups: lookups, seconds: secs, records: records)
    }
}
