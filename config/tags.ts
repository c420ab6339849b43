import { BOOTSTRAP_REASON_TAG, BOOTSTRAP_STATUS_TAG, INSTANCE_ARN_TAG, INSTANCE_NAME_TAG, MANAGED_TAG } from "../policies/keyNaming";

/** AWS limits on one tag (EC2, IAM, S3, KMS agree on these). */
export const TAG_KEY_MAX_LENGTH = 128;
export const TAG_VALUE_MAX_LENGTH = 256;

/** One kind of resource Airlock tags: the service's limit and the tags Airlock itself puts on it. */
export interface TaggedResourceKind {
    /** What the limit applies to, in the service's words ("instance", "object"). */
    readonly what: string;
    readonly service: "EC2" | "IAM" | "KMS" | "S3";
    /** The Pulumi resource types of this kind (test/program.test.ts checks the table against them). */
    readonly resourceTypes: readonly string[];
    /** Most tags AWS accepts on one resource of this kind. */
    readonly limit: number;
    /** Tags Airlock adds, including any the instance writes on itself at first boot. */
    readonly airlockTags: readonly string[];
    /** Whether the stack's `airlock:tags` go on it too. */
    readonly carriesStackTags: boolean;
}

export const TAGGED_RESOURCES: readonly TaggedResourceKind[] = [
    {
        what: "instance",
        service: "EC2",
        resourceTypes: ["aws:ec2/instance:Instance"],
        limit: 50,
        // The last two are written by the instance itself as its bootstrap signal.
        airlockTags: [MANAGED_TAG, INSTANCE_NAME_TAG, "Name", BOOTSTRAP_STATUS_TAG, BOOTSTRAP_REASON_TAG],
        carriesStackTags: true,
    },
    { what: "volume", service: "EC2", resourceTypes: ["aws:ebs/volume:Volume"], limit: 50, airlockTags: [MANAGED_TAG, INSTANCE_NAME_TAG, "Name"], carriesStackTags: true },
    {
        what: "security group",
        service: "EC2",
        resourceTypes: ["aws:ec2/securityGroup:SecurityGroup"],
        limit: 50,
        airlockTags: [MANAGED_TAG, "Name", "airlock:zone"],
        carriesStackTags: true,
    },
    {
        what: "security group rule",
        service: "EC2",
        resourceTypes: ["aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"],
        limit: 50,
        airlockTags: [MANAGED_TAG],
        carriesStackTags: true,
    },
    {
        what: "role",
        service: "IAM",
        resourceTypes: ["aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile"],
        limit: 50,
        airlockTags: [MANAGED_TAG, INSTANCE_NAME_TAG],
        carriesStackTags: true,
    },
    { what: "key", service: "KMS", resourceTypes: ["aws:kms/key:Key"], limit: 50, airlockTags: [MANAGED_TAG], carriesStackTags: true },
    { what: "bucket", service: "S3", resourceTypes: ["aws:s3/bucket:Bucket"], limit: 50, airlockTags: [MANAGED_TAG], carriesStackTags: true },
    {
        // S3 allows only 10 tags per object: key objects carry Airlock's tags and no stack tags.
        what: "object",
        service: "S3",
        resourceTypes: ["aws:s3/bucketObjectv2:BucketObjectv2"],
        limit: 10,
        airlockTags: [MANAGED_TAG, INSTANCE_NAME_TAG, INSTANCE_ARN_TAG],
        carriesStackTags: false,
    },
];

/** How many stack tags fit on every resource that carries them (45: an instance's 50 less Airlock's 5). */
export const MAX_STACK_TAGS = Math.min(...TAGGED_RESOURCES.filter((k) => k.carriesStackTags).map((k) => k.limit - k.airlockTags.length));

/**
 * Problems with the number and case of the stack's tag names (each name and value is checked on its
 * own elsewhere). `tagNames` are the names as written under `airlock:tags`.
 */
export function stackTagProblems(key: string, tagNames: readonly string[]): string[] {
    const problems: string[] = [];
    let worst: { kind: TaggedResourceKind; total: number } | undefined;
    for (const kind of TAGGED_RESOURCES.filter((k) => k.carriesStackTags)) {
        const total = new Set([...tagNames, ...kind.airlockTags]).size;
        if (total > kind.limit && (worst === undefined || total - kind.limit > worst.total - worst.kind.limit)) {
            worst = { kind, total };
        }
    }
    if (worst !== undefined) {
        const { kind, total } = worst;
        const excess = total - kind.limit;
        problems.push(
            `\`${key}\` has ${tagNames.length} tags, ${excess} too many: ${kind.service} allows ${kind.limit} tags per ${kind.what} and Airlock adds ` +
                `${kind.airlockTags.length} of its own (${kind.airlockTags.join(", ")}). Keep at most ${tagNames.length - excess}.`,
        );
    }
    // IAM compares the tag keys of roles without regard to case; EC2 and S3 do not.
    const byLowerCase = new Map<string, string>();
    for (const name of tagNames) {
        const earlier = byLowerCase.get(name.toLowerCase());
        if (earlier !== undefined) {
            problems.push(
                `\`${key}\` has ${JSON.stringify(earlier)} and ${JSON.stringify(name)}: IAM role tags ignore case, so AWS refuses both on a role. Keep one.`,
            );
        } else {
            byLowerCase.set(name.toLowerCase(), name);
        }
    }
    return problems;
}
