import { BOOTSTRAP_REASON_TAG, BOOTSTRAP_STATUS_TAG, DATA_VOLUME_TAG, GUARDRAILS_OWNER_TAG, INSTANCE_NAME_TAG, MANAGED_TAG } from "../policies/keyNaming";

/** AWS limits on one tag (EC2, IAM, S3, KMS agree on these). */
export const TAG_KEY_MAX_LENGTH = 128;
export const TAG_VALUE_MAX_LENGTH = 256;

/** One kind of resource Airlock tags: the service's limit and the tags Airlock itself puts on it. */
export interface TaggedResourceKind {
    /** What the limit applies to, in the service's words ("instance", "object"). */
    readonly what: string;
    /** The resources of this kind, in messages ("key objects"). */
    readonly label: string;
    readonly service: "EC2" | "IAM" | "KMS" | "S3" | "SSM" | "Config" | "CloudTrail" | "Lambda" | "CloudWatch Logs" | "EventBridge";
    /** The Pulumi resource types of this kind (test/program.test.ts checks the table against them). */
    readonly resourceTypes: readonly string[];
    /** Most tags AWS accepts on one resource of this kind. */
    readonly limit: number;
    /** Tags Airlock adds, including any the instance writes on itself at first boot. */
    readonly airlockTags: readonly string[];
    /** Whether the stack's `airlock:tags` go on it too (the aws provider's `aws:defaultTags` go on every kind). */
    readonly carriesStackTags: boolean;
}

export const TAGGED_RESOURCES: readonly TaggedResourceKind[] = [
    {
        what: "instance",
        label: "instances",
        service: "EC2",
        resourceTypes: ["aws:ec2/instance:Instance"],
        limit: 50,
        // The data volume's id (a tag resource of its own); the last two are written by the instance
        // itself as its bootstrap signal.
        airlockTags: [MANAGED_TAG, INSTANCE_NAME_TAG, "Name", DATA_VOLUME_TAG, BOOTSTRAP_STATUS_TAG, BOOTSTRAP_REASON_TAG],
        carriesStackTags: true,
    },
    { what: "volume", label: "volumes", service: "EC2", resourceTypes: ["aws:ebs/volume:Volume"], limit: 50, airlockTags: [MANAGED_TAG, INSTANCE_NAME_TAG, "Name"], carriesStackTags: true },
    {
        what: "security group",
        label: "security groups",
        service: "EC2",
        resourceTypes: ["aws:ec2/securityGroup:SecurityGroup"],
        limit: 50,
        airlockTags: [MANAGED_TAG, "Name", "airlock:zone"],
        carriesStackTags: true,
    },
    {
        what: "security group rule",
        label: "security group rules",
        service: "EC2",
        resourceTypes: ["aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"],
        limit: 50,
        airlockTags: [MANAGED_TAG],
        carriesStackTags: true,
    },
    {
        what: "role",
        label: "roles and instance profiles",
        service: "IAM",
        resourceTypes: ["aws:iam/role:Role", "aws:iam/instanceProfile:InstanceProfile"],
        limit: 50,
        airlockTags: [MANAGED_TAG, INSTANCE_NAME_TAG],
        carriesStackTags: true,
    },
    { what: "key", label: "KMS keys", service: "KMS", resourceTypes: ["aws:kms/key:Key"], limit: 50, airlockTags: [MANAGED_TAG], carriesStackTags: true },
    { what: "bucket", label: "buckets", service: "S3", resourceTypes: ["aws:s3/bucket:Bucket"], limit: 50, airlockTags: [MANAGED_TAG], carriesStackTags: true },
    // Each security group's published baseline, and the guardrails' claim.
    { what: "parameter", label: "SSM parameters", service: "SSM", resourceTypes: ["aws:ssm/parameter:Parameter"], limit: 50, airlockTags: [MANAGED_TAG], carriesStackTags: true },
    // The guardrails stack: its group policies also name the stack that owns them.
    {
        what: "managed policy",
        label: "IAM managed policies",
        service: "IAM",
        resourceTypes: ["aws:iam/policy:Policy"],
        limit: 50,
        airlockTags: [MANAGED_TAG, GUARDRAILS_OWNER_TAG],
        carriesStackTags: true,
    },
    { what: "Config rule", label: "Config rules", service: "Config", resourceTypes: ["aws:cfg/rule:Rule"], limit: 50, airlockTags: [MANAGED_TAG], carriesStackTags: true },
    { what: "trail", label: "trails", service: "CloudTrail", resourceTypes: ["aws:cloudtrail/trail:Trail"], limit: 50, airlockTags: [MANAGED_TAG], carriesStackTags: true },
    { what: "function", label: "Lambda functions", service: "Lambda", resourceTypes: ["aws:lambda/function:Function"], limit: 50, airlockTags: [MANAGED_TAG], carriesStackTags: true },
    { what: "log group", label: "log groups", service: "CloudWatch Logs", resourceTypes: ["aws:cloudwatch/logGroup:LogGroup"], limit: 50, airlockTags: [MANAGED_TAG], carriesStackTags: true },
    { what: "event rule", label: "EventBridge rules", service: "EventBridge", resourceTypes: ["aws:cloudwatch/eventRule:EventRule"], limit: 50, airlockTags: [MANAGED_TAG], carriesStackTags: true },
];

/** How many stack tags fit on every resource that carries them (44: an instance's 50 less Airlock's 6). */
export const MAX_STACK_TAGS = Math.min(...TAGGED_RESOURCES.filter((k) => k.carriesStackTags).map((k) => k.limit - k.airlockTags.length));

/**
 * How many default tags of the aws provider fit on every resource it manages (44: an instance's 50
 * less Airlock's 6). Key objects are not among them: the instance writes its own, with one tag.
 */
export const MAX_DEFAULT_TAGS = Math.min(...TAGGED_RESOURCES.map((k) => k.limit - k.airlockTags.length));

/** Every tag name Airlock puts on some resource (including those the instance writes at first boot). */
export const AIRLOCK_TAG_NAMES: readonly string[] = [...new Set(TAGGED_RESOURCES.flatMap((k) => k.airlockTags))];

/** The tags of one config key, as written: `airlock:tags`, or the aws provider's `aws:defaultTags`. */
export interface TagSource {
    readonly key: string;
    readonly names: readonly string[];
    /** Set with `--secret`: messages name the key but never a tag name. */
    readonly secret: boolean;
}

/** "a", "a and b", "a, b and c". */
function listOf(items: readonly string[]): string {
    return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

/** The kind of resource furthest over its limit with these tags on it, or undefined when all fit. */
function worstKind(kinds: readonly TaggedResourceKind[], names: (kind: TaggedResourceKind) => readonly string[]): { kind: TaggedResourceKind; excess: number } | undefined {
    let worst: { kind: TaggedResourceKind; excess: number } | undefined;
    for (const kind of kinds) {
        const excess = new Set([...names(kind), ...kind.airlockTags]).size - kind.limit;
        if (excess > 0 && (worst === undefined || excess > worst.excess)) {
            worst = { kind, excess };
        }
    }
    return worst;
}

const own = (kind: TaggedResourceKind) =>
    `${kind.service} allows ${kind.limit} tags per ${kind.what} and Airlock adds ${kind.airlockTags.length} of its own (${kind.airlockTags.join(", ")})`;

/**
 * Problems with the number and case of the tag names of the stack (`airlock:tags`, on every resource
 * but the key objects) and of the aws provider's default tags (`aws:defaultTags`, which the provider
 * adds to every resource it manages, key objects included). Each name and value is checked on its
 * own elsewhere.
 */
export function tagLimitProblems(stack: TagSource, defaults: TagSource): string[] {
    const problems: string[] = [];
    // Resources that carry the default tags but not the stack's: the key objects.
    const defaultsOnly = worstKind(
        TAGGED_RESOURCES.filter((k) => !k.carriesStackTags),
        () => defaults.names,
    );
    if (defaultsOnly !== undefined) {
        const { kind, excess } = defaultsOnly;
        problems.push(
            `\`${defaults.key}\` has ${defaults.names.length} tags, ${excess} too many: the aws provider puts them on every resource it manages, ${kind.label} included, and ` +
                `${own(kind)}. Keep at most ${defaults.names.length - excess}.`,
        );
    }
    const both = worstKind(
        TAGGED_RESOURCES.filter((k) => k.carriesStackTags),
        () => [...stack.names, ...defaults.names],
    );
    if (both !== undefined) {
        const { kind, excess } = both;
        if (defaults.names.length === 0) {
            problems.push(`\`${stack.key}\` has ${stack.names.length} tags, ${excess} too many: ${own(kind)}. Keep at most ${stack.names.length - excess}.`);
        } else if (stack.names.length === 0) {
            if (defaultsOnly === undefined) {
                problems.push(
                    `\`${defaults.key}\` has ${defaults.names.length} tags, ${excess} too many: the aws provider puts them on every resource it manages, and ${own(kind)}. ` +
                        `Keep at most ${defaults.names.length - excess}.`,
                );
            }
        } else {
            const inBoth = stack.names.filter((name) => defaults.names.includes(name)).length;
            problems.push(
                `\`${defaults.key}\` has ${defaults.names.length} tags and \`${stack.key}\` ${stack.names.length}, ${excess} too many together: ${own(kind)}. ` +
                    `Keep at most ${stack.names.length + defaults.names.length - excess} in the two together${inBoth > 0 ? " (a name in both counts once)" : ""}.`,
            );
        }
    }
    // A default tag Airlock sets itself: the resource's value would replace it on some resources only.
    for (const name of defaults.names) {
        const kinds = TAGGED_RESOURCES.filter((k) => k.airlockTags.includes(name));
        if (kinds.length > 0) {
            problems.push(
                defaults.secret
                    ? `\`${defaults.key}\` has a tag Airlock sets itself (its name is secret and not shown). Remove it from \`${defaults.key}\`.`
                    : `\`${defaults.key}\` has ${JSON.stringify(name)}, a tag Airlock sets itself (on ${listOf(kinds.map((k) => k.label))}). Remove it from \`${defaults.key}\`.`,
            );
        }
    }
    // IAM compares the tag keys of roles without regard to case; EC2 and S3 do not. Roles carry both
    // the default tags and the stack's; a name in both with the same spelling is one tag.
    const seen = new Map<string, { source: TagSource; name: string }>();
    for (const source of [defaults, stack]) {
        for (const name of source.names) {
            const earlier = seen.get(name.toLowerCase());
            if (earlier === undefined) {
                seen.set(name.toLowerCase(), { source, name });
            } else if (earlier.name !== name) {
                problems.push(caseCollision(earlier, { source, name }));
            }
        }
    }
    return problems;
}

function caseCollision(first: { source: TagSource; name: string }, second: { source: TagSource; name: string }): string {
    const iam = "IAM role tags ignore case, so AWS refuses both on a role";
    if (first.source === second.source) {
        const key = first.source.key;
        return first.source.secret
            ? `\`${key}\` has two tag names that differ only in case (its value is secret and not shown): ${iam}. Keep one.`
            : `\`${key}\` has ${JSON.stringify(first.name)} and ${JSON.stringify(second.name)}: ${iam}. Keep one.`;
    }
    const secret = first.source.secret || second.source.secret;
    return secret
        ? `\`${first.source.key}\` and \`${second.source.key}\` have tag names that differ only in case (not shown: a value is secret): ${iam} (the aws provider adds default tags to it). Use one spelling.`
        : `\`${first.source.key}\` has ${JSON.stringify(first.name)} and \`${second.source.key}\` has ${JSON.stringify(second.name)}: ${iam} (the aws provider adds default tags to it). Use one spelling.`;
}
