import { INSTANCE_NAME_PATTERN, PROMOTION_SCANNER_KINDS, PROMOTION_SEVERITIES, REGION_PATTERN } from "../providers/promotionInputs";
import { awsProviderProblems } from "./awsProvider";
import {
    everyPortMessage,
    everyPortOf,
    portExposureMessage,
    PortProtocol,
    publicCidrs,
    scannerExcessMessage,
    scannerSourceExcess,
    SensitivePort,
    sensitivePortExposures,
} from "./exposure";
import { describePeer, describeTraffic, findRuleCollisions, RuleCollision, scannerIngressRules } from "./ruleCollisions";
import { checkMountPoint } from "./mountPoint";
import { didYouMean } from "./suggest";
import { adminPolicyProblems } from "./adminPolicies";
import { tagLimitProblems, TAG_KEY_MAX_LENGTH, TAG_VALUE_MAX_LENGTH } from "./tags";
import { resolvePrincipal } from "../policies/principals";
import { GuardrailsConfig, parseGuardrails } from "./guardrails";
import {
    Json,
    Reader,
    cidrEntries,
    describeKind,
    isObject,
    notAListMessage,
    oneOf,
    optionalId,
    optionalOneOf,
    stringField,
    unknownFields,
} from "./reader";

export const NAMESPACE = "airlock";

/** Vulnerability severities, lowest first. A threshold blocks promotion at its level and above. */
export const SEVERITIES = PROMOTION_SEVERITIES;
export type Severity = (typeof SEVERITIES)[number];

export const SCANNER_KINDS = PROMOTION_SCANNER_KINDS;
export type ScannerKind = (typeof SCANNER_KINDS)[number];

/** Operating systems whose first boot Airlock knows; the AMI is looked up per OS unless pinned. */
export const OPERATING_SYSTEMS = ["al2023", "debian12", "ubuntu2204", "ubuntu2404"] as const;
export type OperatingSystem = (typeof OPERATING_SYSTEMS)[number];

export const PROTOCOLS = ["tcp", "udp", "icmp", "all"] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** gp3 volume size limits in GiB (EBS). */
export const DATA_VOLUME_MIN_GIB = 1;
export const DATA_VOLUME_MAX_GIB = 16384;

/** One security group rule. Exactly one kind of source/destination: CIDRs, a security group or a prefix list. */
export interface NetworkRule {
    readonly description: string;
    readonly protocol: Protocol;
    /** Inclusive port range; both are -1 for `all` and `icmp` (all types). */
    readonly fromPort: number;
    readonly toPort: number;
    readonly cidrs: readonly string[];
    readonly ipv6Cidrs: readonly string[];
    readonly securityGroupId?: string;
    readonly prefixListId?: string;
}

export interface InstanceSpec {
    /** Lowercase letters, digits and single hyphens; used in every AWS name derived for the instance. */
    readonly name: string;
    readonly instanceType: string;
    readonly subnetId: string;
    readonly os: OperatingSystem;
    /** Pinned AMI; when absent the OS's latest public AMI is looked up. */
    readonly ami?: string;
    readonly dataVolumeGiB: number;
    readonly rootVolumeGiB?: number;
    readonly mountPoint: string;
    readonly associatePublicIp: boolean;
    readonly managedPolicyArns: readonly string[];
    /** Change it to rescan this instance on the next up. */
    readonly rescanTrigger?: string;
    /** sshd with keys only, or no sshd at all (reach the instance with SSM Session Manager). */
    readonly ssh: SshAccess;
}

export const SSH_ACCESS = ["key-only", "disabled"] as const;
export type SshAccess = (typeof SSH_ACCESS)[number];

export interface ScannerSettings {
    readonly kind: ScannerKind;
    readonly url?: string;
    readonly templateUuid?: string;
    readonly policyId?: number;
    readonly sourceCidrs: readonly string[];
    readonly securityGroupId?: string;
    /** True when the access/secret key pair is configured (values are read as secrets, never here). */
    readonly hasApiKeys: boolean;
    readonly readinessTimeoutMinutes: number;
    readonly scanTimeoutMinutes: number;
    /** Role the promotion provider assumes (undefined: the credentials pulumi runs with). */
    readonly promotionRoleArn?: string;
}

export interface AirlockConfig {
    readonly region: string;
    /** The secure-instance half: key vault, security zones, instances. */
    readonly secureInstances: boolean;
    /** The account-guardrails half; undefined when `airlock:accountGuardrails` is false. */
    readonly guardrails?: GuardrailsConfig;
    /** Empty when secureInstances is false. */
    readonly vpcId: string;
    readonly instances: readonly InstanceSpec[];
    readonly allowPublicIp: boolean;
    /** Opt-in for production ingress rules that admit every port (or protocol) from public addresses. */
    readonly allowPublicAllPorts: boolean;
    /** Ports guarded in addition to the built-in list (config/exposure.ts). */
    readonly sensitivePorts: readonly SensitivePort[];
    readonly remediationEgress: readonly NetworkRule[];
    readonly productionIngress: readonly NetworkRule[];
    readonly productionEgress: readonly NetworkRule[];
    readonly scanner: ScannerSettings;
    readonly severityThreshold: Severity;
    /** Change it to rescan every instance on the next up. */
    readonly rescanTrigger?: string;
    readonly keyDeletionWindowDays: number;
    /** IAM role or user ARNs allowed to change the key vault (undefined: the identity pulumi runs as). */
    readonly deployers?: readonly string[];
    /** The one role besides an instance that may read keys (forensics); undefined: none. */
    readonly breakGlassRoleArn?: string;
    readonly tags: Readonly<Record<string, string>>;
}

/** What Pulumi.yaml can declare: its schema knows these four types; objects are documented there in comments. */
export type ConfigKeyType = "string" | "integer" | "boolean" | "array" | "object";

export interface ConfigKeySpec {
    readonly key: string;
    readonly type: ConfigKeyType;
    readonly description: string;
    /**
     * Every stack must set it. Pulumi.yaml declares it without a default, which makes the Pulumi CLI
     * refuse a stack that lacks it (and makes the key required for every stack, whatever else it sets).
     */
    readonly required?: boolean;
    /**
     * Declared in Pulumi.yaml with this default; the CLI hands it to the program when the stack
     * leaves the key out. Keys neither required nor defaulted are not declared there (the CLI would
     * make them required): they are optional, checked here, and documented in Pulumi.yaml comments.
     */
    readonly default?: string | number | boolean | readonly unknown[];
    readonly secret?: boolean;
    /** Item type for arrays. */
    readonly items?: "string" | "object";
}

const HTTPS_EGRESS: NetworkRule = {
    description: "HTTPS to package repositories and AWS endpoints",
    protocol: "tcp",
    fromPort: 443,
    toPort: 443,
    cidrs: ["0.0.0.0/0"],
    ipv6Cidrs: [],
};

/**
 * Every `airlock:` key. Pulumi.yaml declares the required and defaulted ones and documents the others
 * in comments (a test keeps the two in step), and the README's config reference is written from it.
 */
export const CONFIG_KEYS: readonly ConfigKeySpec[] = [
    {
        key: "secureInstances",
        type: "boolean",
        default: true,
        description: "This stack launches instances through the airlock (the key vault, security zones and airlock:instances). Off for a guardrails-only stack.",
    },
    {
        key: "accountGuardrails",
        type: "boolean",
        default: false,
        description: "This stack declares the account guardrails (group policies, Config rules, remediation, trail, self-healing); one stack per account and region.",
    },
    { key: "guardrails", type: "object", description: "Settings of the account guardrails (see README, 'Account guardrails'). Only with accountGuardrails: true." },
    { key: "vpcId", type: "string", description: "VPC that holds the remediation and production security groups (vpc-...). Required when secureInstances is true." },
    { key: "subnetId", type: "string", description: "Default private subnet for instances that do not name their own (subnet-...)." },
    { key: "instances", type: "object", description: "Instances to launch through the airlock: a list of objects (see README, 'instances')." },
    { key: "allowPublicIp", type: "boolean", default: false, description: "Opt-in that lets an instance set associatePublicIp: true. Off: no instance gets a public IP." },
    { key: "remediationEgress", type: "object", description: "Egress rules of the remediation (quarantine) group: what updates need. Default: TCP 443 anywhere." },
    { key: "productionIngress", type: "object", description: "Ingress rules of the production group, exactly as declared. Default: none." },
    {
        key: "allowPublicAllPorts",
        type: "boolean",
        default: false,
        description: "Opt-in that lets a productionIngress rule admit every port or protocol from public addresses. Off: such rules are refused.",
    },
    {
        key: "allowAdminPolicies",
        type: "boolean",
        default: false,
        description: "Opt-in that lets an instance's managedPolicyArns name admin-equivalent policies (config/adminPolicies.ts). Off: they are refused.",
    },
    { key: "sensitivePorts", type: "array", description: "Ports added to the built-in list of admin and data ports that no rule may open to more than a small public range." },
    { key: "productionEgress", type: "object", description: "Egress rules of the production group. Default: TCP 443 anywhere." },
    { key: "scannerKind", type: "string", default: "inspector", description: "Vulnerability scanner: tenable, inspector or none (none promotes unscanned; throwaway environments only)." },
    { key: "scannerUrl", type: "string", description: "Tenable: base URL of Nessus Manager or Tenable Vulnerability Management (https://...)." },
    { key: "scannerAccessKey", type: "string", secret: true, description: "Tenable: API access key (set with --secret)." },
    { key: "scannerSecretKey", type: "string", secret: true, description: "Tenable: API secret key (set with --secret)." },
    { key: "scannerTemplateUuid", type: "string", description: "Tenable: scan template UUID used to create each instance's scan." },
    { key: "scannerPolicyId", type: "integer", description: "Tenable: optional scan policy id applied with the template." },
    { key: "scannerSourceCidrs", type: "array", items: "string", description: "CIDRs the scanner connects from; the only sources the remediation group admits." },
    { key: "scannerSecurityGroupId", type: "string", description: "Security group of the scanner; admitted by the remediation group in addition to scannerSourceCidrs." },
    { key: "promotionRoleArn", type: "string", description: "Role the scan-and-promote provider assumes for its AWS calls (default: the credentials pulumi runs with)." },
    { key: "readinessTimeoutMinutes", type: "integer", default: 20, description: "How long promotion waits for the instance's bootstrap signal." },
    { key: "scanTimeoutMinutes", type: "integer", default: 60, description: "How long promotion waits for a scan to finish." },
    { key: "rescanTrigger", type: "string", description: "Change this value (e.g. to today's date) to rescan every instance on the next up; an instance's own rescanTrigger adds to it." },
    { key: "severityThreshold", type: "string", default: "medium", description: "Lowest finding severity that blocks promotion: info, low, medium, high or critical." },
    { key: "keyDeletionWindowDays", type: "integer", default: 30, description: "Waiting period (7-30 days) before the vault's KMS key is deleted after the stack is destroyed." },
    {
        key: "deployers",
        type: "array",
        items: "string",
        description: "IAM role or user ARNs that may change the key vault (write, tag, delete objects; bucket settings and policy). Default: the identity pulumi runs as.",
    },
    { key: "breakGlassRoleArn", type: "string", description: "IAM role that may read every key besides its own instance (forensics). Default: none." },
    { key: "tags", type: "object", description: "Tags added to every resource Airlock creates (string to string)." },
];

const INSTANCE_FIELDS = [
    "name",
    "instanceType",
    "subnetId",
    "os",
    "ami",
    "dataVolumeGiB",
    "rootVolumeGiB",
    "mountPoint",
    "associatePublicIp",
    "managedPolicyArns",
    "rescanTrigger",
    "ssh",
] as const;

const RULE_FIELDS = ["description", "protocol", "fromPort", "toPort", "port", "cidrs", "ipv6Cidrs", "securityGroupId", "prefixListId"] as const;

const INSTANCE_NAME = INSTANCE_NAME_PATTERN;
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9]+$/;
const VPC_ID = /^vpc-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
const SUBNET_ID = /^subnet-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
const SECURITY_GROUP_ID = /^sg-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
const PREFIX_LIST_ID = /^pl-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
const AMI_ID = /^ami-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;
const REGION = REGION_PATTERN;
const POLICY_ARN = /^arn:aws[a-z-]*:iam::(?:aws|\d{12}):policy\/[\w+=,.@/-]+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12,}$/i;
/** Characters EC2, IAM and S3 all accept in tags (IAM and S3 are the strict ones). */
const TAG_CHARACTERS = /^[\p{L}\p{N} _.:/=+\-@]*$/u;

/** Config keys that hold credentials: always secret, whatever the stack says. */
export const SECRET_CONFIG_KEYS: readonly string[] = CONFIG_KEYS.filter((k) => k.secret === true).map((k) => `${NAMESPACE}:${k.key}`);

/** Thrown for invalid configuration; lists every problem at once so a user fixes them in one pass. */
export class ConfigError extends Error {
    constructor(public readonly problems: readonly string[]) {
        super(
            `Airlock configuration is invalid (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
                problems.map((p) => `  - ${p}`).join("\n"),
        );
        this.name = "ConfigError";
    }
}

function port(r: Reader, path: string, value: Json | undefined): number | undefined {
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 65535) {
        r.fail(`\`${path}\` must be a port number from 0 to 65535${r.not(path, value)}.`);
        return undefined;
    }
    return value;
}

function parseRule(r: Reader, path: string, value: Json, direction: "ingress" | "egress"): NetworkRule | undefined {
    if (!isObject(value)) {
        r.fail(`\`${path}\` must be an object such as {protocol: tcp, port: 443, cidrs: ["10.0.0.0/16"], description: "..."}.`);
        return undefined;
    }
    unknownFields(r, path, value, RULE_FIELDS);
    const before = r.problems.length;
    const protocol = optionalOneOf(r, `${path}.protocol`, value.protocol, "tcp", PROTOCOLS, "protocol");
    const descriptionText = stringField(r, `${path}.description`, value.description ?? undefined, "", 'Quote it in the stack file, e.g. description: "HTTPS from the load balancer".');
    const description = descriptionText?.trim() ?? "";
    if (descriptionText === undefined) {
        // Reported as not a string.
    } else if (description === "") {
        r.fail(`\`${path}.description\` is required: say why this rule exists (it is shown in the AWS console and audits).`);
    } else if (!/^[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]{1,255}$/.test(description)) {
        r.fail(`\`${path}.description\` may use letters, digits, spaces and ._-:/()#,@[]+=&;{}!$* only (AWS limit), up to 255 characters.`);
    }
    let fromPort = -1;
    let toPort = -1;
    if (protocol === "tcp" || protocol === "udp") {
        if (value.port !== undefined && (value.fromPort !== undefined || value.toPort !== undefined)) {
            r.fail(`\`${path}\` sets both \`port\` and \`fromPort\`/\`toPort\`. Use \`port\` for one port, or \`fromPort\` and \`toPort\` for a range.`);
        } else if (value.port !== undefined) {
            fromPort = toPort = port(r, `${path}.port`, value.port) ?? -1;
        } else if (value.fromPort === undefined && value.toPort === undefined) {
            r.fail(`\`${path}\` needs \`port\` (one port) or \`fromPort\` and \`toPort\` (a range) for ${r.isSecret(path) ? "TCP and UDP" : `protocol ${protocol}`}.`);
        } else {
            fromPort = port(r, `${path}.fromPort`, value.fromPort) ?? -1;
            toPort = port(r, `${path}.toPort`, value.toPort) ?? -1;
            if (fromPort > toPort && toPort >= 0) {
                r.fail(
                    r.isSecret(path)
                        ? `\`${path}\` has fromPort above toPort (its value is secret and not shown). Swap them.`
                        : `\`${path}\` has fromPort ${fromPort} above toPort ${toPort}. Swap them.`,
                );
            }
        }
    } else if (protocol !== undefined && (value.port !== undefined || value.fromPort !== undefined || value.toPort !== undefined)) {
        const which = r.isSecret(path) ? "a protocol that has no ports (its value is secret and not shown)" : `protocol ${protocol}, which has no ports`;
        r.fail(`\`${path}\` uses ${which}. Remove \`port\`/\`fromPort\`/\`toPort\`.`);
    }
    const cidrs = cidrEntries(r, `${path}.cidrs`, value.cidrs, "ipv4").map((e) => e.cidr);
    const ipv6Cidrs = cidrEntries(r, `${path}.ipv6Cidrs`, value.ipv6Cidrs, "ipv6").map((e) => e.cidr);
    const securityGroupId = optionalId(r, `${path}.securityGroupId`, value.securityGroupId, SECURITY_GROUP_ID, "sg-0123456789abcdef0");
    const prefixListId = optionalId(r, `${path}.prefixListId`, value.prefixListId, PREFIX_LIST_ID, "pl-0123456789abcdef0");
    const peers = [cidrs.length + ipv6Cidrs.length > 0, securityGroupId !== undefined, prefixListId !== undefined].filter(Boolean).length;
    const side = direction === "ingress" ? "source" : "destination";
    if (peers === 0 && r.problems.length === before) {
        r.fail(`\`${path}\` has no ${side}: set \`cidrs\`, \`ipv6Cidrs\`, \`securityGroupId\` or \`prefixListId\`.`);
    } else if (peers > 1) {
        r.fail(`\`${path}\` mixes kinds of ${side}. Use CIDRs, or one security group, or one prefix list per rule; split it into several rules.`);
    }
    if (r.problems.length > before || protocol === undefined) {
        return undefined;
    }
    return { description, protocol, fromPort, toPort, cidrs, ipv6Cidrs, securityGroupId, prefixListId };
}

/** Where a collision's peer was written: the rule (`key[1]`), or the item within one rule (`key[0].cidrs[2]`). */
function collisionPaths(key: string, ruleIndexes: readonly number[], collision: RuleCollision): { first: string; repeated: string } {
    const { first, repeated } = collision;
    const firstRule = `${key}[${ruleIndexes[first.rule] ?? first.rule}]`;
    const repeatedRule = `${key}[${ruleIndexes[repeated.rule] ?? repeated.rule}]`;
    if (first.rule !== repeated.rule) {
        return { first: firstRule, repeated: repeatedRule };
    }
    return { first: `${firstRule}.${first.field}[${first.index}]`, repeated: `${repeatedRule}.${repeated.field}[${repeated.index}]` };
}

/**
 * Rules of one group and direction that the SecurityZones component would declare under one name
 * (findRuleCollisions uses its naming), reported by key and index before anything is declared.
 */
function checkRuleCollisions(r: Reader, key: string, rules: readonly NetworkRule[], ruleIndexes: readonly number[], direction: "ingress" | "egress"): void {
    for (const collision of findRuleCollisions(rules)) {
        const paths = collisionPaths(key, ruleIndexes, collision);
        const what = r.isSecret(key)
            ? "a rule"
            : `${describeTraffic(collision.rule)} ${direction === "ingress" ? "from" : "to"} ${describePeer(collision.peer)}`;
        r.fail(`\`${paths.repeated}\` repeats ${what} already in \`${paths.first}\`; remove one.`);
    }
}

/** The valid rules of a key, each with its index in the list as written (for messages). */
interface ParsedRules {
    readonly rules: NetworkRule[];
    readonly indexes: number[];
}

function parseRules(r: Reader, key: string, fallback: readonly NetworkRule[], direction: "ingress" | "egress"): ParsedRules {
    const value = r.list(key, "rules");
    if (value === undefined) {
        return r.has(key) ? { rules: [], indexes: [] } : { rules: [...fallback], indexes: fallback.map((_, i) => i) };
    }
    const rules: NetworkRule[] = [];
    const indexes: number[] = [];
    value.forEach((item, i) => {
        const rule = parseRule(r, `${key}[${i}]`, item, direction);
        if (rule !== undefined) {
            rules.push(rule);
            indexes.push(i);
        }
    });
    checkRuleCollisions(r, key, rules, indexes, direction);
    return { rules, indexes };
}

/**
 * True when a URL carries user information (`user:password@host`, `user@host`): anything before an
 * `@` in the authority, with or without a scheme. Such a URL is never echoed in a message.
 */
export function hasUserInfo(url: string): boolean {
    const afterScheme = url.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, "");
    return /^[^/?#]*@/.test(afterScheme);
}

const DEPLOYER_FORM =
    'must be an IAM role or user ARN such as "arn:aws:iam::123456789012:role/airlock-deployer" (an assumed-role session ARN is read as its role; no wildcards)';

/** Deployers the vault policy can name and stay well below S3's 20 KB policy limit. */
export const MAX_DEPLOYERS = 10;

/** `airlock:deployers`: who may change the vault. Absent: the identity pulumi runs as (components/keyVault.ts). */
function parseDeployers(r: Reader, key: string): string[] | undefined {
    const value = r.list(key, "principals");
    if (value === undefined) {
        return undefined;
    }
    const arns: string[] = [];
    value.forEach((item, i) => {
        const path = `${key}[${i}]`;
        const resolved = typeof item === "string" ? resolvePrincipal(item.trim()) : undefined;
        if (typeof item !== "string" || resolved === undefined || item.includes(":root") || item.includes("federated-user")) {
            r.fail(`\`${path}\` ${DEPLOYER_FORM}${r.not(path, item)}.`);
            return;
        }
        arns.push(item.trim());
    });
    if (value.length > MAX_DEPLOYERS) {
        r.fail(`\`${key}\` names ${value.length} principals; at most ${MAX_DEPLOYERS} (the bucket policy names each, and S3 caps a policy at 20 KB). Let several people deploy through one role.`);
    }
    if (value.length === 0) {
        r.fail(`\`${key}\` is an empty list: nobody could change the key vault, not even pulumi. Name at least the role pulumi runs as, or remove the key to use that identity.`);
    }
    const accounts = new Set(arns.map((arn) => resolvePrincipal(arn)?.accountId));
    if (accounts.size > 1) {
        r.fail(`\`${key}\` names principals of ${accounts.size} accounts; the vault belongs to one account, and only its principals can deploy it.`);
    }
    return arns;
}

/** `airlock:breakGlassRoleArn`: a role (sessions are audited by role), never a user. */
function parseBreakGlassRole(r: Reader, key: string): string | undefined {
    const arn = r.string(key);
    if (arn === undefined) {
        return undefined;
    }
    if (!/^arn:aws[a-z-]*:iam::\d{12}:role\//.test(arn) || resolvePrincipal(arn) === undefined) {
        r.fail(`\`${key}\` must be an IAM role ARN such as "arn:aws:iam::123456789012:role/airlock-break-glass" (a role, so that every use is an audited AssumeRole)${r.not(key, arn)}.`);
        return undefined;
    }
    return arn;
}

const SENSITIVE_PORT_FORM = "must be a port (8443), a range (8000-8100) or either with /tcp or /udp (8443/tcp)";

/** `airlock:sensitivePorts`: ports and ranges, each for TCP and UDP unless it names one. */
function parseSensitivePorts(r: Reader, key: string): SensitivePort[] {
    const value = r.list(key, "ports");
    const ports: SensitivePort[] = [];
    (value ?? []).forEach((item, i) => {
        const path = `${key}[${i}]`;
        const text = typeof item === "number" && Number.isInteger(item) ? String(item) : typeof item === "string" ? item.trim() : undefined;
        const match = text === undefined ? null : /^(\d{1,5})(?:-(\d{1,5}))?(?:\/(tcp|udp))?$/i.exec(text);
        const from = Number(match?.[1]);
        const to = match?.[2] === undefined ? from : Number(match[2]);
        if (match === null || from > to || to > 65535) {
            r.fail(`\`${path}\` ${SENSITIVE_PORT_FORM}${r.not(path, item)}.`);
            return;
        }
        const protocol = match[3]?.toLowerCase() as PortProtocol | undefined;
        ports.push({ from, to, protocols: protocol === undefined ? ["tcp", "udp"] : [protocol] });
    });
    return ports;
}

/**
 * Production ingress: guarded ports open to more than a small public range (all rules for a port
 * together), and every-port rules from public space without `airlock:allowPublicAllPorts`.
 */
function checkIngressExposure(
    r: Reader,
    key: string,
    ingress: ParsedRules,
    sensitivePortsKey: string,
    sensitivePorts: readonly SensitivePort[],
    allowPublicAllPorts: boolean,
): void {
    const show = !r.isSecret(key);
    // Which ports a secret `sensitivePorts` lists is not shown, even when a plain rule opens them.
    const hiddenPorts = r.isSecret(sensitivePortsKey) ? `listed in \`${sensitivePortsKey}\` (its value is secret and not shown)` : undefined;
    const path = (i: number) => `${key}[${ingress.indexes[i] ?? i}]`;
    for (const exposure of sensitivePortExposures(ingress.rules, sensitivePorts)) {
        r.fail(portExposureMessage(exposure, path, show, hiddenPorts));
    }
    if (!allowPublicAllPorts) {
        ingress.rules.forEach((rule, i) => {
            const what = everyPortOf(rule);
            const cidrs = what === undefined ? [] : publicCidrs(rule);
            if (what !== undefined && cidrs.length > 0) {
                r.fail(everyPortMessage(path(i), what, cidrs, show));
            }
        });
    }
}

/** Instance names in use, so that a suggested name is never one another instance has or was offered. */
class NameRegistry {
    private readonly taken: Set<string>;

    constructor(names: readonly string[]) {
        this.taken = new Set(names.filter((n) => INSTANCE_NAME.test(n)));
    }

    /** `base` if free, else `base-2`, `base-3`, ... (within the 32-character limit); reserved once offered. */
    offer(base: string): string | undefined {
        for (let n = 1; n < 100; n++) {
            const suffix = n === 1 ? "" : `-${n}`;
            const candidate = `${base.slice(0, 32 - suffix.length).replace(/-+$/, "")}${suffix}`;
            if (INSTANCE_NAME.test(candidate) && !this.taken.has(candidate)) {
                this.taken.add(candidate);
                return candidate;
            }
        }
        return undefined;
    }
}

const NAME_RULE = "Use 1-32 lowercase letters, digits and single hyphens, starting with a letter.";

function parseInstanceName(r: Reader, path: string, value: Json | undefined, names: NameRegistry): string {
    if (value !== undefined && value !== null && typeof value !== "string") {
        if (r.isSecret(path)) {
            r.fail(`\`${path}\` must be a string (its value is secret and not shown). Quote it in the stack file. ${NAME_RULE}`);
        } else if (typeof value === "number" || typeof value === "boolean") {
            const quoted = String(value);
            const offered = INSTANCE_NAME.test(quoted) ? names.offer(quoted) : undefined;
            if (offered === quoted) {
                r.fail(`\`${path}\` must be a string, not ${describeKind(value)}. Quote it in the stack file: name: "${quoted}".`);
            } else {
                const example = names.offer(`vm-${quoted.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`);
                r.fail(
                    `\`${path}\` must be a string, not ${describeKind(value)}. Quote it in the stack file and start it with a letter` +
                        (example === undefined ? `. ${NAME_RULE}` : `, e.g. name: "${example}".`),
                );
            }
        } else {
            r.fail(`\`${path}\` must be a string such as "web-1", not ${describeKind(value)}. ${NAME_RULE}`);
        }
        return "";
    }
    const name = value ?? "";
    if (!INSTANCE_NAME.test(name)) {
        if (name === "") {
            r.fail(`\`${path}\`: It is required. ${NAME_RULE}`);
        } else if (r.isSecret(path)) {
            r.fail(`\`${path}\` is not usable in AWS names (its value is secret and not shown). ${NAME_RULE}`);
        } else {
            const lower = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^[^a-z]+|-+$/g, "").slice(0, 32).replace(/-+$/, "");
            const offered = lower === "" ? undefined : names.offer(lower);
            const suggestion = offered === undefined ? "" : ` Did you mean "${offered}"?`;
            r.fail(`\`${path}\`: ${JSON.stringify(name)} is not usable in AWS names. ${NAME_RULE}${suggestion}`);
        }
    }
    return name;
}

/** Reports a mount point the data volume may not use (see config/mountPoint.ts), with the fix. */
function checkMountPointField(r: Reader, field: string, mountPoint: string): void {
    const check = checkMountPoint(mountPoint);
    if (check.ok) {
        return;
    }
    const fix = "Mount the data volume on a directory of its own, such as /data or /srv/app.";
    if (check.denied === true) {
        r.fail(
            r.isSecret(field)
                ? `\`${field}\` is a system directory or a pseudo-filesystem (its value is secret and not shown). ${fix}`
                : `\`${field}\` (${JSON.stringify(mountPoint)}) ${check.problem}. ${fix}`,
        );
        return;
    }
    const suggestion = check.suggestion === undefined ? "" : r.suggest(field, ` Did you mean "${check.suggestion}"?`);
    r.fail(`\`${field}\` ${check.problem}${r.not(field, mountPoint)}.${suggestion}`);
}

function parseInstance(
    r: Reader,
    path: string,
    value: Json,
    defaultSubnetId: string | undefined,
    allowPublicIp: boolean,
    names: NameRegistry,
): InstanceSpec | undefined {
    if (!isObject(value)) {
        r.fail(`\`${path}\` must be an object such as {name: web-1, instanceType: t3.small, dataVolumeGiB: 20}.`);
        return undefined;
    }
    unknownFields(r, path, value, INSTANCE_FIELDS);
    const before = r.problems.length;
    const name = parseInstanceName(r, `${path}.name`, value.name, names);
    const instanceType = typeof value.instanceType === "string" ? value.instanceType : "";
    if (!INSTANCE_TYPE.test(instanceType)) {
        r.fail(`\`${path}.instanceType\` must be an EC2 instance type such as "t3.small"${r.not(path, value.instanceType ?? null)}.`);
    }
    const subnetId = value.subnetId === undefined ? defaultSubnetId : optionalId(r, `${path}.subnetId`, value.subnetId, SUBNET_ID, "subnet-0123456789abcdef0");
    if (subnetId === undefined && value.subnetId === undefined) {
        r.fail(`\`${path}.subnetId\` is not set and there is no default. Set \`airlock:subnetId\` or give the instance its own subnetId.`);
    }
    const os = optionalOneOf(r, `${path}.os`, value.os, "al2023", OPERATING_SYSTEMS, "operating system");
    const ami = optionalId(r, `${path}.ami`, value.ami, AMI_ID, "ami-0123456789abcdef0");
    const dataVolumeGiB = value.dataVolumeGiB ?? 20;
    if (typeof dataVolumeGiB !== "number" || !Number.isInteger(dataVolumeGiB) || dataVolumeGiB < DATA_VOLUME_MIN_GIB || dataVolumeGiB > DATA_VOLUME_MAX_GIB) {
        r.fail(
            `\`${path}.dataVolumeGiB\` must be a whole number of GiB from ${DATA_VOLUME_MIN_GIB} to ${DATA_VOLUME_MAX_GIB} (gp3 limits)${r.not(path, dataVolumeGiB)}.`,
        );
    }
    const rootVolumeGiB = value.rootVolumeGiB;
    if (rootVolumeGiB !== undefined && (typeof rootVolumeGiB !== "number" || !Number.isInteger(rootVolumeGiB) || rootVolumeGiB < 8 || rootVolumeGiB > DATA_VOLUME_MAX_GIB)) {
        r.fail(`\`${path}.rootVolumeGiB\` must be a whole number of GiB from 8 to ${DATA_VOLUME_MAX_GIB}${r.not(path, rootVolumeGiB)}.`);
    }
    const mountPoint = value.mountPoint ?? "/data";
    if (typeof mountPoint !== "string") {
        r.fail(`\`${path}.mountPoint\` must be an absolute path such as "/data"${r.not(path, mountPoint)}.`);
    } else {
        checkMountPointField(r, `${path}.mountPoint`, mountPoint);
    }
    const associatePublicIp = value.associatePublicIp ?? false;
    if (typeof associatePublicIp !== "boolean") {
        r.fail(`\`${path}.associatePublicIp\` must be true or false.`);
    } else if (associatePublicIp && !allowPublicIp) {
        r.fail(
            `\`${path}.associatePublicIp\` asks for a public IP, but public IPs are off. If this instance really must be reachable from the internet, set \`airlock:allowPublicIp\` to true as well.`,
        );
    }
    const managedPolicyArns: string[] = [];
    if (value.managedPolicyArns !== undefined && value.managedPolicyArns !== null) {
        if (typeof value.managedPolicyArns === "string") {
            r.fail(notAListMessage(r, `${path}.managedPolicyArns`, "managedPolicyArns:", value.managedPolicyArns));
        } else if (!Array.isArray(value.managedPolicyArns)) {
            r.fail(`\`${path}.managedPolicyArns\` must be a list of IAM policy ARNs, e.g. ["arn:aws:iam::aws:policy/ReadOnlyAccess"].`);
        } else {
            value.managedPolicyArns.forEach((arn, i) => {
                if (typeof arn !== "string" || !POLICY_ARN.test(arn)) {
                    r.fail(`\`${path}.managedPolicyArns[${i}]\` must be an IAM policy ARN such as "arn:aws:iam::aws:policy/ReadOnlyAccess"${r.not(path, arn)}.`);
                } else {
                    managedPolicyArns.push(arn);
                }
            });
        }
    }
    const ssh = optionalOneOf(r, `${path}.ssh`, value.ssh, "key-only", SSH_ACCESS, "ssh access");
    const rescanTrigger = value.rescanTrigger;
    if (rescanTrigger !== undefined && (typeof rescanTrigger !== "string" || rescanTrigger.length > 256)) {
        r.fail(`\`${path}.rescanTrigger\` must be a string of at most 256 characters, such as a date. Quote it in the stack file.`);
    }
    if (r.problems.length > before || os === undefined || subnetId === undefined || ssh === undefined) {
        return undefined;
    }
    return {
        name,
        instanceType,
        subnetId,
        os,
        ami,
        dataVolumeGiB: dataVolumeGiB as number,
        rootVolumeGiB: rootVolumeGiB as number | undefined,
        mountPoint: mountPoint as string,
        associatePublicIp: associatePublicIp as boolean,
        managedPolicyArns,
        rescanTrigger: rescanTrigger as string | undefined,
        ssh,
    };
}

/** "1st", "2nd", "3rd", "4th", ... "11th", "21st". */
function ordinal(n: number): string {
    const tens = n % 100;
    const suffix = tens >= 11 && tens <= 13 ? "th" : (["th", "st", "nd", "rd"][n % 10] ?? "th");
    return `${n}${suffix}`;
}

/** Tag names AWS allows on an instance whose tags are in its metadata (no spaces, no "/", not "." or ".."). */
const INSTANCE_METADATA_TAG_NAME = /^(?!\.{1,2}$)[^\s/]+$/;

/**
 * The tags of one map (`airlock:tags`, or `aws:defaultTags.tags`): each name and value checked against
 * what EC2, IAM and S3 all accept. `key` is the config key (which decides secrecy), `path` the map's
 * path. When the key is secret a tag is named by its position, never by its name.
 */
function parseTagMap(r: Reader, key: string, path: string, value: Json | undefined): { tags: Record<string, string>; names: string[] } {
    if (value === undefined || value === null) {
        return { tags: {}, names: [] };
    }
    if (!isObject(value)) {
        r.fail(`\`${path}\` must be a map of tag names to values, such as {team: platform, cost-center: "4711"}.`);
        return { tags: {}, names: [] };
    }
    const secret = r.isSecret(key);
    const hidden = "(names and values are secret and not shown)";
    const tags: Record<string, string> = {};
    Object.entries(value).forEach(([name, tagValue], i) => {
        const tag = `the ${ordinal(i + 1)} tag of \`${path}\``;
        const Tag = `The ${ordinal(i + 1)} tag of \`${path}\``;
        const tagPath = `${path}.${name}`;
        const nameLength = [...name].length;
        if (nameLength === 0 || !TAG_CHARACTERS.test(name) || /^(aws|airlock):/i.test(name)) {
            r.fail(
                secret
                    ? `The name of ${tag} is not allowed ${hidden}: 1-128 characters, not starting with aws: or airlock: (reserved).`
                    : `Tag name ${JSON.stringify(name)} in \`${path}\` is not allowed: 1-128 characters, not starting with aws: or airlock: (reserved).`,
            );
        } else if (nameLength > TAG_KEY_MAX_LENGTH) {
            r.fail(
                secret
                    ? `The name of ${tag} is ${nameLength} characters long ${hidden}; AWS allows ${TAG_KEY_MAX_LENGTH}.`
                    : `Tag name ${JSON.stringify(name)} in \`${path}\` is ${nameLength} characters long; AWS allows ${TAG_KEY_MAX_LENGTH}.`,
            );
        } else if (!INSTANCE_METADATA_TAG_NAME.test(name)) {
            r.fail(
                (secret ? `The name of ${tag} is not allowed ${hidden}` : `Tag name ${JSON.stringify(name)} in \`${path}\` is not allowed`) +
                    `: Airlock's instances expose their tags to their metadata service (the first boot reads its data volume's id there), and AWS then allows no spaces or "/" in tag names${secret || !/[\s/]/.test(name) ? "" : `. Use "-" or "." instead (${JSON.stringify(name.replace(/[\s/]+/g, "-"))})`}.`,
            );
        } else if (tagValue === null) {
            r.fail(
                secret
                    ? `${Tag} has no value ${hidden}. Write "" for an empty tag value, or remove it.`
                    : `\`${tagPath}\` has no value. Write ${name}: "" for an empty tag value, or remove it.`,
            );
        } else if (typeof tagValue === "number" || typeof tagValue === "boolean") {
            r.fail(
                secret
                    ? `${Tag} must be a string, not a ${typeof tagValue} ${hidden}. Quote it in the stack file.`
                    : `\`${tagPath}\` must be a string, not ${describeKind(tagValue)}. Quote it in the stack file: ${name}: "${String(tagValue)}".`,
            );
        } else if (typeof tagValue === "string" && [...tagValue].length > TAG_VALUE_MAX_LENGTH) {
            r.fail(
                secret
                    ? `${Tag} has a value ${[...tagValue].length} characters long ${hidden}; AWS allows ${TAG_VALUE_MAX_LENGTH} per tag value.`
                    : `\`${tagPath}\` is ${[...tagValue].length} characters long; AWS allows ${TAG_VALUE_MAX_LENGTH} per tag value.`,
            );
        } else if (typeof tagValue !== "string" || !TAG_CHARACTERS.test(tagValue)) {
            r.fail(
                secret
                    ? `${Tag} must be a string of at most 256 characters (letters, digits, spaces and _.:/=+-@) ${hidden}.`
                    : `\`${tagPath}\` must be a string of at most 256 characters (letters, digits, spaces and _.:/=+-@).`,
            );
        } else {
            tags[name] = tagValue;
        }
    });
    return { tags, names: Object.keys(value) };
}

/** `aws:defaultTags`, which the aws provider adds to every resource it manages: `{tags: {name: value}}`. */
function parseDefaultTags(r: Reader): string[] {
    const key = "aws:defaultTags";
    const value = r.json(key);
    if (value === undefined || value === null) {
        return [];
    }
    if (!isObject(value)) {
        r.fail(`\`${key}\` must be a map with the tags under \`tags\`, such as {tags: {team: platform}}.`);
        return [];
    }
    unknownFields(r, key, value, ["tags"]);
    return parseTagMap(r, key, `${key}.tags`, value.tags).names;
}

/**
 * Validates the whole stack configuration and returns it typed, with defaults applied.
 * `raw` is the flat map Pulumi hands a program (`namespace:key` → string; structured values as JSON).
 * `secretKeys` are the keys the stack holds encrypted (set with `--secret`): their values never
 * appear in messages, and the Tenable API keys must be among them. Left out, nothing is known to be
 * encrypted: only the API keys are treated as secret, and their encryption is not checked.
 * Throws a ConfigError naming every bad key and its fix.
 */
export function parseAirlockConfig(raw: Readonly<Record<string, string>>, secretKeys?: readonly string[]): AirlockConfig {
    const key = (name: string) => `${NAMESPACE}:${name}`;
    const r = new Reader(raw, new Set([...(secretKeys ?? []), ...SECRET_CONFIG_KEYS]));

    const known = CONFIG_KEYS.map((spec) => spec.key);
    for (const fullKey of Object.keys(raw)) {
        if (fullKey.startsWith(`${NAMESPACE}:`)) {
            const name = fullKey.slice(NAMESPACE.length + 1);
            if (!known.includes(name)) {
                r.fail(`Unknown config key \`${fullKey}\`.${didYouMean(name, known, "`")} Known keys are listed in Pulumi.yaml.`);
            }
        }
    }
    for (const problem of awsProviderProblems(raw, (fullKey) => r.isSecret(fullKey))) {
        r.fail(problem);
    }
    if (secretKeys !== undefined) {
        for (const secretKey of SECRET_CONFIG_KEYS) {
            if (r.has(secretKey) && !secretKeys.includes(secretKey)) {
                r.fail(`\`${secretKey}\` is stored in plaintext in the stack file. Set it encrypted: \`pulumi config set --secret ${secretKey} <value>\`.`);
            }
        }
    }

    const region = r.string("aws:region") ?? "";
    if (!REGION.test(region)) {
        r.fail(
            region === ""
                ? "`aws:region` is not set. Run `pulumi config set aws:region <region>`, e.g. eu-west-1."
                : `\`aws:region\` must be an AWS region such as "eu-west-1"${r.not("aws:region", region)}.`,
        );
    }

    // The two halves: a stack declares the secure instances, the account guardrails, or both.
    const secureInstances = r.boolean(key("secureInstances"), true);
    const accountGuardrails = r.boolean(key("accountGuardrails"), false);
    if (!secureInstances && !accountGuardrails) {
        r.fail(
            "`airlock:secureInstances` and `airlock:accountGuardrails` are both false: this stack would declare nothing. Set `airlock:secureInstances` to true for instances, or `airlock:accountGuardrails` to true for the account's guardrails stack.",
        );
    }
    if (!secureInstances) {
        for (const instanceOnly of ["vpcId", "subnetId", "instances", "productionIngress", "productionEgress", "remediationEgress", "scannerSourceCidrs", "deployers", "breakGlassRoleArn"]) {
            if (r.has(key(instanceOnly))) {
                r.fail(`\`airlock:${instanceOnly}\` only applies to the secure instances, but \`airlock:secureInstances\` is false. Remove it, or set secureInstances to true.`);
            }
        }
    }
    const guardrailsValue = r.json(key("guardrails"));
    if (!accountGuardrails && guardrailsValue !== undefined) {
        r.fail("`airlock:guardrails` is set, but `airlock:accountGuardrails` is false, so nothing would read it. Set `airlock:accountGuardrails` to true, or remove `airlock:guardrails`.");
    }
    const guardrails = accountGuardrails && REGION.test(region) ? parseGuardrails(r, key("guardrails"), guardrailsValue, region) : undefined;

    const vpcId = secureInstances ? r.string(key("vpcId")) : "";
    if (vpcId === undefined) {
        r.fail("`airlock:vpcId` is not set. Run `pulumi config set airlock:vpcId vpc-...` with the VPC the instances live in (or set `airlock:secureInstances` to false for a guardrails-only stack).");
    } else if (secureInstances) {
        optionalId(r, key("vpcId"), vpcId, VPC_ID, "vpc-0123456789abcdef0");
    }
    const defaultSubnetId = optionalId(r, key("subnetId"), r.string(key("subnetId")), SUBNET_ID, "subnet-0123456789abcdef0");
    const allowPublicIp = r.boolean(key("allowPublicIp"), false);

    const instances: InstanceSpec[] = [];
    const instancesValue = r.list(key("instances"), "instances");
    if (instancesValue !== undefined) {
        const names = new NameRegistry(instancesValue.flatMap((item) => (isObject(item) && typeof item.name === "string" ? [item.name] : [])));
        const seen = new Map<string, number>();
        instancesValue.forEach((item, i) => {
            const spec = parseInstance(r, `${key("instances")}[${i}]`, item, defaultSubnetId, allowPublicIp, names);
            const name = isObject(item) && typeof item.name === "string" ? item.name : undefined;
            if (name !== undefined) {
                const first = seen.get(name.toLowerCase());
                if (first !== undefined) {
                    const shown = r.isSecret(key("instances")) ? "" : ` ${JSON.stringify(name)}`;
                    r.fail(`Duplicate instance name${shown} in \`airlock:instances[${i}]\` (first used by \`airlock:instances[${first}]\`). Instance names must be unique.`);
                } else {
                    seen.set(name.toLowerCase(), i);
                }
            }
            if (spec !== undefined) {
                instances.push(spec);
            }
        });
    }
    adminPolicyProblems(instancesValue ?? [], r.boolean(key("allowAdminPolicies"), false), key("instances")).forEach((problem) => r.fail(problem));

    const remediationEgress = parseRules(r, key("remediationEgress"), [HTTPS_EGRESS], "egress").rules;
    const ingress = parseRules(r, key("productionIngress"), [], "ingress");
    const productionIngress = ingress.rules;
    const productionEgress = parseRules(r, key("productionEgress"), [HTTPS_EGRESS], "egress").rules;
    const allowPublicAllPorts = r.boolean(key("allowPublicAllPorts"), false);
    const sensitivePorts = parseSensitivePorts(r, key("sensitivePorts"));
    checkIngressExposure(r, key("productionIngress"), ingress, key("sensitivePorts"), sensitivePorts, allowPublicAllPorts);

    const kindText = r.string(key("scannerKind")) ?? "inspector";
    const kind = oneOf(r, key("scannerKind"), kindText, SCANNER_KINDS, "scanner kind");
    const url = r.string(key("scannerUrl"));
    const urlHasCredentials = url !== undefined && hasUserInfo(url);
    if (urlHasCredentials) {
        r.fail(
            "`airlock:scannerUrl` has credentials in it (user:password@ or user@ before the host); they would be kept in plain config and state and shown by `pulumi up`. Remove them from the URL (the value is not shown here), set the API keys with `pulumi config set --secret airlock:scannerAccessKey` and `airlock:scannerSecretKey`, and rotate the credentials the URL held.",
        );
    }
    const templateUuid = r.string(key("scannerTemplateUuid"));
    const policyIdText = r.string(key("scannerPolicyId"));
    const policyId = policyIdText === undefined ? undefined : r.integer(key("scannerPolicyId"), 0, 1, 2 ** 31 - 1);
    const sourceCidrsValue = r.list(key("scannerSourceCidrs"), "cidrs");
    const sourceCidrEntries = cidrEntries(r, key("scannerSourceCidrs"), sourceCidrsValue, "any");
    const sourceCidrs = sourceCidrEntries.map((e) => e.cidr);
    for (const collision of findRuleCollisions(scannerIngressRules(sourceCidrs))) {
        const first = `${key("scannerSourceCidrs")}[${sourceCidrEntries[collision.first.rule]?.index}]`;
        const repeated = `${key("scannerSourceCidrs")}[${sourceCidrEntries[collision.repeated.rule]?.index}]`;
        const what = r.isSecret(key("scannerSourceCidrs")) ? "a CIDR" : describePeer(collision.peer);
        r.fail(`\`${repeated}\` repeats ${what} already in \`${first}\`; remove one.`);
    }
    const scannerSecurityGroupId = optionalId(r, key("scannerSecurityGroupId"), r.string(key("scannerSecurityGroupId")), SECURITY_GROUP_ID, "sg-0123456789abcdef0");
    // The remediation group admits every port from these: a host or a few, not a network.
    const scannerExcess = scannerSourceExcess(sourceCidrs);
    const scannerPath = (i: number) => `${key("scannerSourceCidrs")}[${sourceCidrEntries[i]?.index ?? i}]`;
    for (const kind of ["public", "private"] as const) {
        const found = scannerExcess[kind];
        if (found !== undefined) {
            r.fail(scannerExcessMessage(found, kind, scannerPath, !r.isSecret(key("scannerSourceCidrs"))));
        }
    }
    const hasApiKeys = r.has(key("scannerAccessKey")) && r.has(key("scannerSecretKey"));
    if (kind === "tenable") {
        if (url === undefined) {
            r.fail("`airlock:scannerUrl` is required for the tenable scanner, e.g. https://nessus.example.internal:8834.");
        } else if (urlHasCredentials) {
            // Reported above, without the value.
        } else if (/[@?#]/.test(url)) {
            r.fail(
                "`airlock:scannerUrl` must be an https:// base URL without a query string, fragment or @, such as https://nessus.example.internal:8834 (the value is not shown: it may hold credentials).",
            );
        } else if (!/^https:\/\/[^\s/?#@]+(?:\/[^\s?#@]*)?$/.test(url)) {
            r.fail(`\`airlock:scannerUrl\` must be an https:// URL (the API keys travel in its headers)${r.not(key("scannerUrl"), url)}.`);
        }
        for (const secretKey of ["scannerAccessKey", "scannerSecretKey"]) {
            if (!r.has(key(secretKey))) {
                r.fail(`\`airlock:${secretKey}\` is required for the tenable scanner. Run \`pulumi config set --secret airlock:${secretKey} <value>\`.`);
            }
        }
        if (templateUuid === undefined) {
            r.fail("`airlock:scannerTemplateUuid` is required for the tenable scanner: the UUID of the scan template to use.");
        } else if (!UUID.test(templateUuid)) {
            r.fail(`\`airlock:scannerTemplateUuid\` must be a template UUID${r.not(key("scannerTemplateUuid"), templateUuid)}.`);
        }
        if (sourceCidrs.length === 0 && scannerSecurityGroupId === undefined && !r.has(key("scannerSourceCidrs"))) {
            r.fail("The tenable scanner scans over the network: set `airlock:scannerSourceCidrs` or `airlock:scannerSecurityGroupId` so the remediation group admits it.");
        }
    } else if (kind !== undefined) {
        for (const tenableOnly of ["scannerUrl", "scannerAccessKey", "scannerSecretKey", "scannerTemplateUuid", "scannerPolicyId"]) {
            if (r.has(key(tenableOnly))) {
                const scanner = r.isSecret(key("scannerKind")) ? "not tenable (its value is secret and not shown)" : kind;
                r.fail(`\`airlock:${tenableOnly}\` only applies to the tenable scanner, but \`airlock:scannerKind\` is ${scanner}. Remove it or set scannerKind to tenable.`);
            }
        }
    }

    const severityText = r.string(key("severityThreshold")) ?? "medium";
    const severityThreshold = oneOf(r, key("severityThreshold"), severityText.toLowerCase(), SEVERITIES, "severity");
    const promotionRoleArn = r.string(key("promotionRoleArn"));
    if (promotionRoleArn !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(promotionRoleArn)) {
        r.fail(`\`airlock:promotionRoleArn\` must be an IAM role ARN such as "arn:aws:iam::123456789012:role/airlock-promoter"${r.not(key("promotionRoleArn"), promotionRoleArn)}.`);
    }
    const readinessTimeoutMinutes = r.integer(key("readinessTimeoutMinutes"), 20, 1, 24 * 60);
    const scanTimeoutMinutes = r.integer(key("scanTimeoutMinutes"), 60, 1, 24 * 60);
    const keyDeletionWindowDays = r.integer(key("keyDeletionWindowDays"), 30, 7, 30);
    const deployers = parseDeployers(r, key("deployers"));
    const breakGlassRoleArn = parseBreakGlassRole(r, key("breakGlassRoleArn"));
    const stackTags = parseTagMap(r, key("tags"), key("tags"), r.json(key("tags")));
    const defaultTagNames = parseDefaultTags(r);
    const tagSource = (fullKey: string, names: readonly string[]) => ({ key: fullKey, names, secret: r.isSecret(fullKey) });
    for (const problem of tagLimitProblems(tagSource(key("tags"), stackTags.names), tagSource("aws:defaultTags", defaultTagNames))) {
        r.fail(problem);
    }
    const tags = stackTags.tags;

    if (r.problems.length > 0 || kind === undefined || severityThreshold === undefined || vpcId === undefined) {
        throw new ConfigError(r.problems);
    }
    return {
        region,
        secureInstances,
        guardrails,
        vpcId,
        instances,
        allowPublicIp,
        allowPublicAllPorts,
        sensitivePorts,
        remediationEgress,
        productionIngress,
        productionEgress,
        scanner: {
            kind,
            url,
            templateUuid,
            policyId,
            sourceCidrs,
            securityGroupId: scannerSecurityGroupId,
            hasApiKeys,
            readinessTimeoutMinutes,
            scanTimeoutMinutes,
            promotionRoleArn,
        },
        severityThreshold,
        rescanTrigger: r.string(key("rescanTrigger")),
        keyDeletionWindowDays,
        deployers,
        breakGlassRoleArn,
        tags,
    };
}
