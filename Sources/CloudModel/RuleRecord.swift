/// One security-group rule, cloud-neutral and compact (no per-rule heap allocation for the common case):
/// the simulator keeps millions of them. Cloud front ends render it in their own vocabulary.
public struct RuleRecord: Sendable, Equatable {
    public enum Direction: UInt8, Sendable { case ingress, egress }
    public enum Policy: UInt8, Sendable { case accept, drop }
    public enum EtherType: UInt8, Sendable { case ipv4, ipv6 }
    public enum Peer: Sendable, Equatable {
        case any
        case group(UInt32)
        case cidr(String)
        case addressGroup(String)
    }

    /// Unique within its group for the group's lifetime; the rule's id is derived from (group, serial).
    public var serial: UInt32
    public var direction: Direction
    /// Lower-case protocol name as the API spells it: `tcp`, `udp`, `icmp`, `gre`, `all` (Alibaba) or empty (any).
    public var ipProtocol: String
    /// `-1/-1` style ranges: `portFrom == -1` means all ports.
    public var portFrom: Int32
    public var portTo: Int32
    public var peer: Peer
    public var policy: Policy
    public var priority: UInt8
    public var etherType: EtherType
    public var description: String
    public var createdAt: Int64

    public init(
        serial: UInt32 = 0, direction: Direction, ipProtocol: String, portFrom: Int32 = -1, portTo: Int32 = -1,
        peer: Peer, policy: Policy = .accept, priority: UInt8 = 1, etherType: EtherType = .ipv4,
        description: String = "", createdAt: Int64 = 0
    ) {
        self.serial = serial
        self.direction = direction
        self.ipProtocol = ipProtocol
        self.portFrom = portFrom
        self.portTo = portTo
        self.peer = peer
        self.policy = policy
        self.priority = priority
        self.etherType = etherType
        self.description = description
        self.createdAt = createdAt
    }

    /// The group this rule references, if any.
    @inline(__always)
    public var referencedGroup: UInt32? {
        if case .group(let g) = peer { return g }
        return nil
    }

    /// Same rule content, ignoring identity and timestamps (for duplicate detection and revoke matching).
    public func sameContent(as other: RuleRecord) -> Bool {
        direction == other.direction && ipProtocol == other.ipProtocol && portFrom == other.portFrom
            && portTo == other.portTo && peer == other.peer && policy == other.policy && etherType == other.etherType
    }
}

/// One security group. `rules` holds both directions.
public struct GroupRecord: Sendable {
    public var handle: UInt32
    /// Index into the store's partition table: the Alibaba region or the Huawei project.
    public var partition: UInt16
    public var name: String
    public var description: String
    /// An id given by a fixture file instead of the generated one.
    public var customID: String?
    public var vpcID: String
    public var createdAt: Int64
    public var updatedAt: Int64
    public var tags: [Tag]
    public var rules: [RuleRecord]
    public var nextRuleSerial: UInt32

    public struct Tag: Sendable, Equatable, Codable {
        public var key: String
        public var value: String
        public init(key: String, value: String) { self.key = key; self.value = value }
    }

    public init(
        handle: UInt32, partition: UInt16, name: String, description: String = "", customID: String? = nil,
        vpcID: String = "", createdAt: Int64, tags: [Tag] = [], rules: [RuleRecord] = []
    ) {
        self.handle = handle
        self.partition = partition
        self.name = name
        self.description = description
        self.customID = customID
        self.vpcID = vpcID
        self.createdAt = createdAt
        self.updatedAt = createdAt
        self.tags = tags
        self.rules = rules
        self.nextRuleSerial = UInt32(rules.count)
    }
}

/// A reverse-index entry: `group` has `count` rules that reference the indexed group.
public struct RefEntry: Sendable, Equatable {
    public var group: UInt32
    public var count: UInt32
}
