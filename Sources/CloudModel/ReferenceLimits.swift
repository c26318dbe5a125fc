/// Limits of the reference query that both the simulator (to answer) and the load generator (to know
/// the right answer) need.
public enum ReferenceLimits {
    /// Most referencing records one `DescribeSecurityGroupReferences` answer carries, as the real API documents.
    public static let aliyunRecordsPerAnswer = 100
}
