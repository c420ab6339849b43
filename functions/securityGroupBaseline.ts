/**
 * What the security group healer compares: a group's declared baseline (published by the stack as
 * an SSM parameter) against the group's current rules, and which groups a CloudTrail event names.
 *
 * Pure: no AWS SDK, no I/O. The SecurityZones component imports it to publish baselines, the
 * healer (functions/securityGroupHealer.ts) to read them, so both sides normalise alike.
 *
 * Normalisation, so that one rule has one form whoever wrote it:
 *  - protocols: "-1" (all), "tcp", "udp", "icmp", "icmpv6", or another IANA number as a decimal
 *    string; "6"/"17"/"1"/"58" are the names (AWS takes either and answers names);
 *  - ports: kept for tcp/udp (the range) and icmp/icmpv6 (type/code, -1 = all); dropped for "-1"
 *    and other protocols, whose rules AWS applies to every port whatever ports were given;
 *  - CIDRs: the network address (AWS stores 100.68.0.18/18 as 100.68.0.0/18), IPv6 lower case and
 *    zero-compressed (RFC 5952);
 *  - descriptions are not part of a rule's identity (editing one is not drift).
 */
import * as ipaddr from "ipaddr.js";

export const BASELINE_PARAMETER_PREFIX = "/airlock/security-groups/";
/**
 * The baselines' path as SSM's GetParametersByPath takes it (the prefix without its trailing
 * slash): the sweep lists the groups that have a baseline there, whatever their tags.
 */
export const BASELINE_PARAMETER_PATH = BASELINE_PARAMETER_PREFIX.slice(0, -1);
export const BASELINE_VERSION = 1;

/** The CloudTrail events that add or change security group rules; the healer reacts to these only. */
export const HEALER_EVENT_NAMES = ["AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "ModifySecurityGroupRules"] as const;
export type HealerEventName = (typeof HEALER_EVENT_NAMES)[number];

/**
 * The EventBridge pattern that triggers the healer. Revoke* calls (the healer's own) are not in it,
 * so reverting never triggers the healer again: no event loop. Failed calls (errorCode set, e.g. a
 * duplicate rule or a dry run) change nothing and are filtered out here already; the handler
 * ignores them too.
 */
export const HEALER_EVENT_PATTERN = {
    source: ["aws.ec2"],
    "detail-type": ["AWS API Call via CloudTrail"],
    detail: {
        eventSource: ["ec2.amazonaws.com"],
        eventName: [...HEALER_EVENT_NAMES],
        errorCode: [{ exists: false }],
    },
} as const;

/**
 * The schedule of the healer's periodic sweep (an EventBridge schedule expression): events can be
 * lost (EventBridge gives up after its retries, CloudTrail's delivery to EventBridge is best effort,
 * a rule added while the trail was stopped makes no event), so every managed group is also healed
 * on this schedule, whatever happened to the events.
 */
export const HEALER_SWEEP_SCHEDULE = "rate(1 hour)";

/**
 * Whether an event is an EventBridge schedule's ("Scheduled Event" from aws.events): the healer
 * then sweeps every Airlock group of its region (tagged `airlock:managed=true` or named by a
 * baseline) instead of reading the event's call.
 */
export function isScheduledEvent(event: unknown): boolean {
    return field(event, "source") === "aws.events" && field(event, "detail-type") === "Scheduled Event";
}

/** The part of the managed groups one sweep heals (see sweepWindow). */
export interface SweepWindow {
    /** The groups to heal this run, at most `maxGroups`. */
    readonly groupIds: readonly string[];
    /** How many distinct groups there are in all. */
    readonly total: number;
    /** The index, in the sorted ids, of the first one healed this run. */
    readonly first: number;
}

/**
 * Which of the managed groups one sweep heals: all of them when they are at most `maxGroups`;
 * otherwise `maxGroups` consecutive ones (ids sorted, wrapping round), starting where the previous
 * hour's run stopped, so that hourly runs go through all of them in turn instead of healing the
 * same first ones forever. The hour comes from the scheduled event's `time` (hours since the epoch;
 * 0 when it is missing or not a date), so the choice needs no state and is the same on a retry.
 */
export function sweepWindow(groupIds: readonly string[], maxGroups: number, time?: string): SweepWindow {
    if (!Number.isInteger(maxGroups) || maxGroups < 1) {
        throw new RangeError(`sweepWindow: \`maxGroups\` must be a positive integer (got ${maxGroups}).`);
    }
    const ids = [...new Set(groupIds)].sort();
    const total = ids.length;
    if (total <= maxGroups) {
        return { groupIds: ids, total, first: 0 };
    }
    const millis = time === undefined ? Number.NaN : Date.parse(time);
    const hour = Number.isFinite(millis) ? Math.floor(millis / 3_600_000) : 0;
    const first = (((hour % total) * maxGroups) % total + total) % total;
    const selected = Array.from({ length: maxGroups }, (_, i) => ids[(first + i) % total] as string);
    return { groupIds: selected, total, first };
}

/** AWS's security group ids: sg- and 8 or 17 hexadecimal digits. */
const GROUP_ID = /^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;
const PREFIX_LIST_ID = /^pl-[0-9a-f]{8}(?:[0-9a-f]{9})?$/;

export function isSecurityGroupId(value: unknown): value is string {
    return typeof value === "string" && GROUP_ID.test(value);
}

/** The SSM parameter that holds a group's baseline: `/airlock/security-groups/<group id>`. */
export function baselineParameterName(groupId: string): string {
    if (!isSecurityGroupId(groupId)) {
        throw new BaselineError(`${JSON.stringify(groupId)} is not a security group id (sg- and 8 or 17 hexadecimal digits).`);
    }
    return `${BASELINE_PARAMETER_PREFIX}${groupId}`;
}

/**
 * The group a baseline parameter is for, read from the parameter's name
 * (`/airlock/security-groups/<group id>`); undefined for any other name (another path, a deeper
 * one, or a last part that is not a security group id), which the sweep then ignores.
 */
export function groupIdOfBaselineParameter(name: unknown): string | undefined {
    if (typeof name !== "string" || !name.startsWith(BASELINE_PARAMETER_PREFIX)) {
        return undefined;
    }
    const id = name.slice(BASELINE_PARAMETER_PREFIX.length);
    return isSecurityGroupId(id) ? id : undefined;
}

export class BaselineError extends Error {
    override readonly name = "BaselineError";
}

/** Exactly one peer per rule, as `aws.vpc.SecurityGroupIngressRule` takes it. */
export type BaselinePeer =
    | { readonly cidrIpv4: string }
    | { readonly cidrIpv6: string }
    | { readonly referencedSecurityGroupId: string }
    | { readonly prefixListId: string };

/** One normalised baseline rule (see the module comment). */
export type BaselineRule = {
    readonly ipProtocol: string;
    readonly fromPort?: number;
    readonly toPort?: number;
} & BaselinePeer;

export interface Baseline {
    readonly version: typeof BASELINE_VERSION;
    readonly groupId: string;
    readonly ingress: readonly BaselineRule[];
    readonly egress: readonly BaselineRule[];
}

/**
 * A rule as declared (the arguments of an `aws.vpc.SecurityGroup{Ingress,Egress}Rule`). Other
 * properties (description, tags, a resource's slug) are ignored.
 */
export interface DeclaredRule {
    readonly ipProtocol: string;
    readonly fromPort?: number;
    readonly toPort?: number;
    readonly cidrIpv4?: string;
    readonly cidrIpv6?: string;
    readonly referencedSecurityGroupId?: string;
    readonly prefixListId?: string;
}

/** The fields of EC2's `SecurityGroupRule` (DescribeSecurityGroupRules) that the comparison reads. */
export interface CurrentRule {
    readonly SecurityGroupRuleId?: string;
    readonly GroupId?: string;
    readonly IsEgress?: boolean;
    readonly IpProtocol?: string;
    readonly FromPort?: number;
    readonly ToPort?: number;
    readonly CidrIpv4?: string;
    readonly CidrIpv6?: string;
    readonly PrefixListId?: string;
    readonly ReferencedGroupInfo?: { readonly GroupId?: string; readonly UserId?: string };
    readonly Description?: string;
}

const PROTOCOL_NAMES: Readonly<Record<string, string>> = { "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6" };
const NAMED_PROTOCOLS = new Set(["tcp", "udp", "icmp", "icmpv6"]);

/** The normalised protocol, or undefined when `value` is none AWS accepts. */
export function normalizeProtocol(value: string | number): string | undefined {
    const text = String(value).trim().toLowerCase();
    if (text === "-1" || text === "all") {
        return "-1";
    }
    if (NAMED_PROTOCOLS.has(text)) {
        return text;
    }
    if (/^\d{1,3}$/.test(text) && Number(text) <= 255) {
        const number = String(Number(text));
        return PROTOCOL_NAMES[number] ?? number;
    }
    return undefined;
}

/** Whether the protocol's rules carry ports (a range for tcp/udp, type/code for icmp/icmpv6). */
function hasPorts(protocol: string): boolean {
    return NAMED_PROTOCOLS.has(protocol);
}

/** The canonical form of an IPv4 or IPv6 CIDR (network address, RFC 5952), or undefined. */
export function canonicalCidr(value: string, family: "ipv4" | "ipv6"): string | undefined {
    const text = value.trim();
    const slash = text.indexOf("/");
    if (slash < 0 || text.includes("%")) {
        return undefined;
    }
    const address = text.slice(0, slash);
    const mask = text.slice(slash + 1);
    const max = family === "ipv4" ? 32 : 128;
    if (!/^\d{1,3}$/.test(mask) || Number(mask) > max) {
        return undefined;
    }
    try {
        if (family === "ipv4") {
            if (!ipaddr.IPv4.isValidFourPartDecimal(address)) return undefined;
            return `${ipaddr.IPv4.networkAddressFromCIDR(`${address}/${Number(mask)}`).toString()}/${Number(mask)}`;
        }
        if (!ipaddr.IPv6.isValid(address)) return undefined;
        return `${ipaddr.IPv6.networkAddressFromCIDR(`${address}/${Number(mask)}`).toString()}/${Number(mask)}`;
    } catch {
        return undefined;
    }
}

interface RawRule {
    readonly ipProtocol: unknown;
    readonly fromPort?: unknown;
    readonly toPort?: unknown;
    readonly cidrIpv4?: unknown;
    readonly cidrIpv6?: unknown;
    readonly referencedSecurityGroupId?: unknown;
    readonly prefixListId?: unknown;
}

function isInteger(value: unknown, min: number, max: number): value is number {
    return typeof value === "number" && Number.isInteger(value) && value >= min && value <= max;
}

/**
 * One rule in normal form, or a message saying what is wrong with it. `strict` (reading a
 * published baseline) refuses ports where the normal form has none; declarations may carry them
 * (AWS ignores them there too).
 */
function normalizeRule(raw: RawRule, strict: boolean): BaselineRule | string {
    if (typeof raw.ipProtocol !== "string" && typeof raw.ipProtocol !== "number") {
        return "ipProtocol is missing";
    }
    const protocol = normalizeProtocol(raw.ipProtocol);
    if (protocol === undefined) {
        return `ipProtocol ${JSON.stringify(raw.ipProtocol)} is not "-1", tcp, udp, icmp, icmpv6 or a protocol number from 0 to 255`;
    }
    let ports: { fromPort: number; toPort: number } | undefined;
    if (hasPorts(protocol)) {
        const { fromPort, toPort } = raw;
        if (protocol === "tcp" || protocol === "udp") {
            if (!isInteger(fromPort, 0, 65535) || !isInteger(toPort, 0, 65535) || fromPort > toPort) {
                return `${protocol} needs fromPort ≤ toPort, both from 0 to 65535 (got ${String(fromPort)}–${String(toPort)})`;
            }
        } else if (!isInteger(fromPort, -1, 255) || !isInteger(toPort, -1, 255) || (fromPort === -1 && toPort !== -1)) {
            return `${protocol} needs fromPort (type) and toPort (code) from -1 to 255, and code -1 when type is -1 (got ${String(fromPort)}/${String(toPort)})`;
        }
        ports = { fromPort, toPort };
    } else if (strict && (raw.fromPort !== undefined || raw.toPort !== undefined)) {
        return `protocol ${protocol} has no ports, but the rule has fromPort/toPort`;
    }

    const peers = (["cidrIpv4", "cidrIpv6", "referencedSecurityGroupId", "prefixListId"] as const).filter((key) => raw[key] !== undefined);
    if (peers.length !== 1) {
        return `a rule needs exactly one of cidrIpv4, cidrIpv6, referencedSecurityGroupId and prefixListId (got ${peers.length === 0 ? "none" : peers.join(", ")})`;
    }
    const [kind] = peers as [(typeof peers)[number]];
    const value = raw[kind];
    if (typeof value !== "string") {
        return `${kind} must be a string`;
    }
    let peer: BaselinePeer;
    switch (kind) {
        case "cidrIpv4":
        case "cidrIpv6": {
            const cidr = canonicalCidr(value, kind === "cidrIpv4" ? "ipv4" : "ipv6");
            if (cidr === undefined) {
                return `${kind} ${JSON.stringify(value)} is not an ${kind === "cidrIpv4" ? "IPv4" : "IPv6"} CIDR block`;
            }
            peer = kind === "cidrIpv4" ? { cidrIpv4: cidr } : { cidrIpv6: cidr };
            break;
        }
        case "referencedSecurityGroupId":
            if (!isSecurityGroupId(value)) return `referencedSecurityGroupId ${JSON.stringify(value)} is not a security group id`;
            peer = { referencedSecurityGroupId: value };
            break;
        case "prefixListId":
            if (!PREFIX_LIST_ID.test(value)) return `prefixListId ${JSON.stringify(value)} is not a prefix list id`;
            peer = { prefixListId: value };
            break;
    }
    // Fixed key order: the serialised baseline is the same string for the same declaration.
    return { ipProtocol: protocol, ...ports, ...peer };
}

/** The identity of a normalised rule, within one direction. */
function ruleKey(rule: BaselineRule): string {
    const peer =
        "cidrIpv4" in rule
            ? `cidrIpv4=${rule.cidrIpv4}`
            : "cidrIpv6" in rule
              ? `cidrIpv6=${rule.cidrIpv6}`
              : "referencedSecurityGroupId" in rule
                ? `group=${rule.referencedSecurityGroupId}`
                : `prefixList=${rule.prefixListId}`;
    return `${rule.ipProtocol}|${rule.fromPort ?? ""}|${rule.toPort ?? ""}|${peer}`;
}

function normalizeList(direction: "ingress" | "egress", rules: readonly RawRule[], strict: boolean, what: string): BaselineRule[] {
    const byKey = new Map<string, BaselineRule>();
    rules.forEach((raw, i) => {
        if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
            throw new BaselineError(`${what}: \`${direction}[${i}]\` is not an object.`);
        }
        const rule = normalizeRule(raw, strict);
        if (typeof rule === "string") {
            throw new BaselineError(`${what}: \`${direction}[${i}]\`: ${rule}.`);
        }
        byKey.set(ruleKey(rule), rule);
    });
    return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, rule]) => rule);
}

/**
 * The baseline parameter's value for a group: canonical JSON (rules normalised, deduplicated and
 * sorted), so that the same declaration always gives the same string and Pulumi shows no spurious
 * diff. Throws a BaselineError naming the rule when a declared rule is not one AWS would accept.
 */
export function serializeBaseline(groupId: string, ingress: readonly DeclaredRule[], egress: readonly DeclaredRule[]): string {
    if (!isSecurityGroupId(groupId)) {
        throw new BaselineError(`The baseline's group id ${JSON.stringify(groupId)} is not a security group id.`);
    }
    const what = `Baseline of ${groupId}`;
    const baseline: Baseline = {
        version: BASELINE_VERSION,
        groupId,
        ingress: normalizeList("ingress", ingress, false, what),
        egress: normalizeList("egress", egress, false, what),
    };
    return JSON.stringify(baseline);
}

const BASELINE_KEYS = new Set(["version", "groupId", "ingress", "egress"]);
const RULE_KEYS = new Set(["ipProtocol", "fromPort", "toPort", "cidrIpv4", "cidrIpv6", "referencedSecurityGroupId", "prefixListId"]);

/**
 * Reads a published baseline strictly: anything unexpected is an error, never a guess, and the
 * healer then revokes nothing (fail safe).
 *
 * An empty baseline (`"ingress": []`, `"egress": []`) is well-formed and means "no rules": the
 * healer revokes every rule of its group. That is what SecurityZones publishes for a group that
 * declares no rules (a production zone without `productionIngress`/`productionEgress`), so it is
 * honoured, but only in this exact form: both lists must be present and be lists, the version
 * known and the group id the group's own; a missing, null or malformed list is an error, never
 * read as "no rules". Whoever may write `/airlock/security-groups/*` therefore decides what the
 * healer keeps, down to nothing, on any group of the region (a baseline alone makes a group
 * Airlock's): keep those writes to the deployers.
 */
export function parseBaseline(text: string): Baseline {
    let value: unknown;
    try {
        value = JSON.parse(text);
    } catch (error) {
        throw new BaselineError(`The baseline is not JSON: ${(error as Error).message}.`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw new BaselineError("The baseline is not a JSON object.");
    }
    const record = value as Record<string, unknown>;
    if (record.version !== BASELINE_VERSION) {
        throw new BaselineError(`Unknown baseline version ${JSON.stringify(record.version)}: this healer reads version ${BASELINE_VERSION}.`);
    }
    const unknownKeys = Object.keys(record).filter((key) => !BASELINE_KEYS.has(key));
    if (unknownKeys.length > 0) {
        throw new BaselineError(`The baseline has unknown field(s) ${unknownKeys.join(", ")}.`);
    }
    if (!isSecurityGroupId(record.groupId)) {
        throw new BaselineError(`The baseline's groupId ${JSON.stringify(record.groupId)} is not a security group id.`);
    }
    const what = `Baseline of ${record.groupId}`;
    const lists: Record<"ingress" | "egress", BaselineRule[]> = { ingress: [], egress: [] };
    for (const direction of ["ingress", "egress"] as const) {
        const list = record[direction];
        if (!Array.isArray(list)) {
            throw new BaselineError(`${what}: \`${direction}\` is missing or not a list.`);
        }
        list.forEach((rule: unknown, i) => {
            if (typeof rule === "object" && rule !== null && !Array.isArray(rule)) {
                const extra = Object.keys(rule).filter((key) => !RULE_KEYS.has(key));
                if (extra.length > 0) {
                    throw new BaselineError(`${what}: \`${direction}[${i}]\` has unknown field(s) ${extra.join(", ")}.`);
                }
            }
        });
        lists[direction] = normalizeList(direction, list as RawRule[], true, what);
    }
    return { version: BASELINE_VERSION, groupId: record.groupId, ingress: lists.ingress, egress: lists.egress };
}

/** A current rule in normal form, or undefined when it is nothing a baseline could declare. */
export function normalizeCurrentRule(rule: CurrentRule): BaselineRule | undefined {
    const normal = normalizeRule(
        {
            ipProtocol: rule.IpProtocol,
            fromPort: rule.FromPort,
            toPort: rule.ToPort,
            cidrIpv4: rule.CidrIpv4,
            cidrIpv6: rule.CidrIpv6,
            referencedSecurityGroupId: rule.ReferencedGroupInfo?.GroupId,
            prefixListId: rule.PrefixListId,
        },
        false,
    );
    return typeof normal === "string" ? undefined : normal;
}

/**
 * The current rules that match no baseline rule of their direction (IsEgress true: egress;
 * otherwise ingress), in the order given. A rule that cannot be normalised matches nothing.
 */
export function rulesToRevoke<R extends CurrentRule>(baseline: Baseline, currentRules: readonly R[]): R[] {
    const declared = {
        ingress: new Set(baseline.ingress.map(ruleKey)),
        egress: new Set(baseline.egress.map(ruleKey)),
    };
    return currentRules.filter((rule) => {
        const normal = normalizeCurrentRule(rule);
        return normal === undefined || !declared[rule.IsEgress === true ? "egress" : "ingress"].has(ruleKey(normal));
    });
}

/** What the healer needs from an EventBridge "AWS API Call via CloudTrail" event, read defensively. */
export interface HealerEventSummary {
    /** CloudTrail's eventID (the EventBridge event id when there is none). */
    readonly eventId?: string;
    readonly eventName?: string;
    /** userIdentity.arn; for calls by an AWS service, the service (invokedBy). */
    readonly principal?: string;
    /** The groups the call changed; empty when the event is ignored. */
    readonly groupIds: readonly string[];
    /**
     * The group the call changed, by name, when the event carries no id for it: a default-VPC call
     * by `groupName` whose record has no group id in its response. The healer resolves it
     * (DescribeSecurityGroups by GroupNames, which names default-VPC groups, as the call did).
     * Absent otherwise.
     */
    readonly groupNames?: readonly string[];
    /** Why the event is ignored, when it is. */
    readonly ignoredBecause?: string;
}

function field(value: unknown, key: string): unknown {
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>)[key] : undefined;
}

function text(value: unknown): string | undefined {
    return typeof value === "string" && value !== "" ? value : undefined;
}

/** Reads an event: who did what to which groups, or why it is none of the healer's business. */
export function summarizeEvent(event: unknown): HealerEventSummary {
    const detail = field(event, "detail");
    const identity = field(detail, "userIdentity");
    const eventName = text(field(detail, "eventName"));
    const base = {
        eventId: text(field(detail, "eventID")) ?? text(field(event, "id")),
        eventName,
        principal: text(field(identity, "arn")) ?? text(field(identity, "invokedBy")) ?? text(field(identity, "principalId")),
    };
    const ignore = (because: string): HealerEventSummary => ({ ...base, groupIds: [], ignoredBecause: because });

    if (field(event, "detail-type") !== "AWS API Call via CloudTrail" || field(detail, "eventSource") !== "ec2.amazonaws.com") {
        return ignore("not an EC2 API call recorded by CloudTrail");
    }
    if (!(HEALER_EVENT_NAMES as readonly string[]).includes(eventName ?? "")) {
        return ignore(`${eventName ?? "an unnamed call"} does not add or change security group rules`);
    }
    const errorCode = field(detail, "errorCode");
    if (errorCode !== undefined && errorCode !== null) {
        return ignore(`the call failed (${String(errorCode)}), so it changed nothing`);
    }

    const request = field(detail, "requestParameters");
    const named = eventName === "ModifySecurityGroupRules" ? field(field(request, "ModifySecurityGroupRulesRequest"), "GroupId") : field(request, "groupId");
    const ids = new Set<string>();
    if (isSecurityGroupId(named)) {
        ids.add(named);
    }
    // A call on a default-VPC group by name (groupName, no groupId): AWS's response lists the rules
    // it added with their group's id (securityGroupRuleSet), which identifies the group after all.
    const added = field(field(field(detail, "responseElements"), "securityGroupRuleSet"), "items");
    if (ids.size === 0 && Array.isArray(added)) {
        for (const item of added) {
            const id = field(item, "groupId");
            if (isSecurityGroupId(id)) ids.add(id);
        }
    }
    if (ids.size === 0) {
        // Only Authorize* take a group name (ModifySecurityGroupRules needs the id).
        const groupName = eventName === "ModifySecurityGroupRules" ? undefined : text(field(request, "groupName"));
        if (groupName === undefined) {
            return ignore("the event names no security group id");
        }
        // By name, default VPC, and CloudTrail's record has no group id: the healer looks the name up.
        return { ...base, groupIds: [], groupNames: [groupName] };
    }
    return { ...base, groupIds: [...ids].sort() };
}

/**
 * The security group ids an event's call changed: none for an event the healer ignores, nor for a
 * call that names its group by name only (see HealerEventSummary.groupNames).
 */
export function groupIdsOfEvent(event: unknown): string[] {
    return [...summarizeEvent(event).groupIds];
}
