/**
 * Misuse findings from CloudTrail events (issue 11, "CloudTrail activity and misuse findings"). Pure:
 * rows of `cloudtrail_events` (events.ts) and what Airlock knows of the account (ActivityContext,
 * filled by the audit from its inventory and the stacks' outputs) in, findings out. Each finding's
 * evidence names the events behind it (ids, times, names, source addresses, user agents), the first
 * `evidenceLimit` of them and how many there are. Titles never carry counts or times that move from
 * one run to the next unless they identify the finding (a burst's start): the OCSF uid comes from
 * the title. Findings are failures only; the caller adds a pass when there are none.
 *
 * 1. Instance credentials used outside their instance (GuardDuty's InstanceCredentialExfiltration,
 *    made precise by what Airlock knows): a session of a role under /airlock/ (Airlock's instance
 *    roles) whose session name is an instance id (EC2 names instance-profile sessions so), calling
 *    - through a VPC endpoint that is not one of the account's: critical (the source address is then
 *      a private address of someone else's network, so it proves nothing even when it matches);
 *      when the context does not know the account's endpoints (undefined), by the address alone;
 *    - otherwise from an address that is not one of the instance's (private, public, or its VPC's NAT
 *      gateways' public addresses): critical — through the account's own endpoint too, where it
 *      means another host of the VPC holds the instance's credentials;
 *    - for an instance the inventory does not know: high, "unknown to the inventory" (never a pass:
 *      the addresses cannot be checked).
 *    Calls an AWS service makes on the instance's behalf (invokedBy, or a service name such as
 *    "ec2.amazonaws.com" or "AWS Internal" as the source) are not the instance's and never raise it.
 *    A session of an /airlock/ role not named after an instance (the roles trust EC2 alone) is high.
 * 2. Root account use: userIdentity.type Root, except what AWS records for root without root acting
 *    (eventType AwsServiceEvent, or invokedBy an AWS service). Critical for a successful console
 *    sign-in or CreateAccessKey, high for anything else (failed attempts included).
 * 3. Console sign-in without MFA: a successful ConsoleLogin with MFAUsed "No" by an IAM user or root.
 *    Federated and SSO sessions (AssumedRole, …) are left out: their identity provider does MFA.
 * 4. Bursts of access denied: at least `threshold` denied calls (AccessDenied, AccessDeniedException,
 *    UnauthorizedOperation, Client.UnauthorizedOperation, …) by one principal within `windowMinutes`;
 *    overlapping windows merge into one burst, one finding per principal per burst. AWS services'
 *    own principals (userIdentity.type AWSService) are left out.
 * 5. Changes to Airlock's own vault outside a `pulumi up`: successful calls that change the vault
 *    bucket's policy, ACL, public access block, ownership, encryption, versioning, replication,
 *    lifecycle or the bucket itself; the vault key's policy, state, rotation, grants or replicas;
 *    Airlock's security groups' rules — made by anyone but a deployer through the Pulumi AWS provider
 *    (and, for revocations, the security-group healer). High.
 *    Which events count, and why: the key's CreateGrant is included (a grant gives a principal use
 *    of the key without any policy change, the quiet way around the key policy) except when an AWS
 *    service asks for it on someone's behalf (invokedBy: EBS attaching an encrypted volume does this
 *    routinely); CancelKeyDeletion, EnableKey and the like only restore and are left out.
 *    The Pulumi AWS provider is recognised by its user agent: pulumi-aws patches the Terraform
 *    provider's APN product to "APN/1.0 Pulumi/1.0 Pulumi-Aws/<version> (+https://pulumi.com)"
 *    (pulumi/pulumi-aws PR #1604, patch "update-apn-info"), and since PR #5910 (2025) also appends
 *    Pulumi's APN 1.1 marketplace id "APN/1.1 (c7qiae2l6usvzoynupds6v7hf)"; either marks a call.
 *    A user agent is whatever the client sends: a deployer's credentials with a forged agent pass.
 *    What this catches is out-of-band changes by everyone else, and by deployers through any other
 *    tool (console, CLI, SDK).
 */
import * as ipaddr from "ipaddr.js";
import type { CheckId, Finding, Severity } from "../../findings";
import { isAmong, resolvePrincipal, type ResolvedPrincipal } from "../../../policies/principals";
import type { TrailEventRow } from "./events";

export const CLOUDTRAIL_ACTIVITY_CHECK: CheckId = "cloudtrail-activity";

/** What Airlock knows of one instance's addresses (from the inventory: DescribeInstances, NAT gateways). */
export interface InstanceAddresses {
    /** Private IPv4 (and IPv6) addresses of every network interface. */
    readonly privateIps?: readonly string[];
    /** Public IPv4 addresses (Elastic IPs included) and global IPv6 addresses. */
    readonly publicIps?: readonly string[];
    /** Public addresses of the NAT gateways of the instance's VPC. */
    readonly natGatewayIps?: readonly string[];
}

/** What the audit knows of the account, for detectActivity. Every list may be empty; none is guessed. */
export interface ActivityContext {
    /** The target's name (the findings' `target`). */
    readonly target: string;
    /** The account audited (the findings' `accountId`). */
    readonly accountId?: string;
    /** Instance id → its addresses. An Airlock session for an instance absent here is reported as unknown. */
    readonly instances?: Readonly<Record<string, InstanceAddresses>>;
    /**
     * The account's own VPC endpoint ids (vpce-…): a call through any other endpoint is critical.
     * Leave it undefined only when the endpoints are not known: calls through an endpoint are then
     * judged by their source address alone ([] means "the account has none").
     */
    readonly vpcEndpointIds?: readonly string[];
    /** The vault buckets' names (KeyVault's `bucketName`). */
    readonly vaultBucketNames?: readonly string[];
    /** The vault keys: key ARNs (KeyVault's `kmsKeyArn`) or key ids. */
    readonly vaultKeys?: readonly string[];
    /** Airlock's security groups (remediation and production). */
    readonly securityGroupIds?: readonly string[];
    /** The deployers' role or user ARNs (`airlock:deployers`, the promotion role); any path. */
    readonly deployerArns?: readonly string[];
    /** The security-group healer function's role ARN(s): its revocations are expected. */
    readonly healerRoleArns?: readonly string[];
    /** Burst detection. @default { threshold: 10, windowMinutes: 5 } */
    readonly accessDenied?: { readonly threshold?: number; readonly windowMinutes?: number };
    /** How many events a finding's evidence lists. @default 20 */
    readonly evidenceLimit?: number;
}

/** The denial error codes CloudTrail records (EC2's Query API prefixes "Client."). */
export const ACCESS_DENIED_CODES: readonly string[] = [
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "UnauthorizedException",
    "AuthorizationError",
    "AuthorizationErrorException",
    "Forbidden",
    "ForbiddenException",
].flatMap((code) => [code, `Client.${code}`]);
const ACCESS_DENIED = new Set(ACCESS_DENIED_CODES);

/** S3 calls that change a vault bucket (CloudTrail's event names; both spellings of the public access block). */
export const VAULT_BUCKET_CHANGES: readonly string[] = [
    "PutBucketPolicy",
    "DeleteBucketPolicy",
    "PutBucketAcl",
    "PutBucketPublicAccessBlock",
    "DeleteBucketPublicAccessBlock",
    "PutPublicAccessBlock",
    "DeletePublicAccessBlock",
    "PutBucketOwnershipControls",
    "DeleteBucketOwnershipControls",
    "PutBucketEncryption",
    "DeleteBucketEncryption",
    "PutBucketVersioning",
    "PutBucketReplication",
    "DeleteBucketReplication",
    "PutBucketLifecycle",
    "DeleteBucketLifecycle",
    "DeleteBucket",
];
/** KMS calls that change a vault key (see the header for CreateGrant). */
export const VAULT_KEY_CHANGES: readonly string[] = ["PutKeyPolicy", "ScheduleKeyDeletion", "DisableKey", "DisableKeyRotation", "CreateGrant", "ReplicateKey", "DeleteImportedKeyMaterial"];
/** EC2 calls that change Airlock's security groups. */
export const SECURITY_GROUP_CHANGES: readonly string[] = [
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "DeleteSecurityGroup",
];
const BUCKET_CHANGES = new Set(VAULT_BUCKET_CHANGES);
const KEY_CHANGES = new Set(VAULT_KEY_CHANGES);
const GROUP_CHANGES = new Set(SECURITY_GROUP_CHANGES);

/** Every event name detection looks at by name (ingest.ts's coarse SQL filter uses it). */
export const DETECTION_EVENT_NAMES: readonly string[] = ["ConsoleLogin", ...VAULT_BUCKET_CHANGES, ...VAULT_KEY_CHANGES, ...SECURITY_GROUP_CHANGES];

/** Airlock's instance roles: ROLE_PATH "/airlock/" (policies/keyNaming.ts). */
const AIRLOCK_ROLE = /^arn:aws[a-z-]*:iam::\d{12}:role\/airlock\//;
/** EC2 instance ids, as EC2 names an instance profile's session. */
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;

/** Tokens of the Pulumi AWS provider's user agent (see the header). */
export const PULUMI_AWS_AGENT_TOKENS: readonly RegExp[] = [/(?:^|[\s[(])Pulumi-Aws\/\S/i, /APN\/1\.1 \(c7qiae2l6usvzoynupds6v7hf\)/];

/** Whether a user agent is the Pulumi AWS provider's (client-set: see the header). */
export function isPulumiAwsAgent(userAgent: string | null): boolean {
    return userAgent !== null && PULUMI_AWS_AGENT_TOKENS.some((token) => token.test(userAgent));
}

/** An IPv4 or IPv6 address in one canonical text (IPv4-mapped IPv6 as IPv4); undefined for anything else. */
export function canonicalIp(value: string): string | undefined {
    const trimmed = value.trim();
    if (ipaddr.IPv4.isValidFourPartDecimal(trimmed) || ipaddr.IPv6.isValid(trimmed)) {
        return ipaddr.process(trimmed).toString();
    }
    return undefined;
}

/** A source that is an AWS service, not an address: "ec2.amazonaws.com", "AWS Internal". */
function isServiceSource(source: string): boolean {
    return source === "AWS Internal" || /^[a-z0-9.-]+\.amazonaws\.com(?:\.cn)?$/i.test(source);
}

/** Whether an AWS service made the call (on someone's behalf), rather than the principal itself. */
function isByAwsService(event: TrailEventRow): boolean {
    if (event.invoked_by !== null && event.invoked_by !== "") return true;
    return event.source_ip !== null && canonicalIp(event.source_ip) === undefined && isServiceSource(event.source_ip);
}

function parseJson(textValue: string | null): unknown {
    if (textValue === null) return undefined;
    try {
        return JSON.parse(textValue);
    } catch {
        return undefined;
    }
}

function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

function field(value: unknown, name: string): unknown {
    return isObject(value) ? value[name] : undefined;
}

/** What a finding's evidence says of one event. */
export interface EventSummary {
    readonly eventId: string;
    readonly time: string;
    readonly name: string;
    readonly source: string;
    readonly region: string | null;
    readonly principal: string | null;
    readonly sourceIp: string | null;
    readonly userAgent: string | null;
    readonly errorCode?: string;
    readonly vpcEndpointId?: string;
}

function summary(event: TrailEventRow): EventSummary {
    return {
        eventId: event.event_id,
        time: event.event_time,
        name: event.event_name,
        source: event.event_source,
        region: event.aws_region,
        principal: event.principal_arn,
        sourceIp: event.source_ip,
        userAgent: event.user_agent,
        ...(event.error_code !== null ? { errorCode: event.error_code } : {}),
        ...(event.vpc_endpoint_id !== null ? { vpcEndpointId: event.vpc_endpoint_id } : {}),
    };
}

function byTime(a: TrailEventRow, b: TrailEventRow): number {
    return a.event_time < b.event_time ? -1 : a.event_time > b.event_time ? 1 : a.event_id < b.event_id ? -1 : a.event_id > b.event_id ? 1 : 0;
}

/** The events behind a finding: how many, the first and last times, the first `limit` of them. */
function eventEvidence(events: readonly TrailEventRow[], limit: number): Record<string, unknown> {
    const sorted = [...events].sort(byTime);
    return {
        eventCount: sorted.length,
        firstSeen: sorted[0]?.event_time,
        lastSeen: sorted[sorted.length - 1]?.event_time,
        events: sorted.slice(0, limit).map(summary),
        ...(sorted.length > limit ? { eventsNotListed: sorted.length - limit } : {}),
    };
}

/** Groups events by a key, keeping the first-seen order of keys. */
function groupBy<K>(events: Iterable<TrailEventRow>, keyOf: (e: TrailEventRow) => K | undefined): Map<K, TrailEventRow[]> {
    const groups = new Map<K, TrailEventRow[]>();
    for (const event of events) {
        const key = keyOf(event);
        if (key === undefined) continue;
        const list = groups.get(key);
        if (list === undefined) groups.set(key, [event]);
        else list.push(event);
    }
    return groups;
}

interface Draft {
    readonly resource: string;
    readonly severity: Severity;
    readonly title: string;
    readonly evidence: Record<string, unknown>;
    readonly events: readonly TrailEventRow[];
}

/** The misuse findings of a set of events (see the header). */
export function detectActivity(events: readonly TrailEventRow[], context: ActivityContext): Finding[] {
    const limit = Math.max(1, context.evidenceLimit ?? 20);
    const drafts: Draft[] = [
        ...instanceCredentialDrafts(events, context),
        ...rootDrafts(events),
        ...consoleWithoutMfaDrafts(events),
        ...accessDeniedDrafts(events, context),
        ...vaultChangeDrafts(events, context),
    ];
    return drafts.map((d) => ({
        target: context.target,
        ...(context.accountId !== undefined ? { accountId: context.accountId } : {}),
        region: "global",
        check: CLOUDTRAIL_ACTIVITY_CHECK,
        resource: d.resource,
        status: "fail",
        severity: d.severity,
        title: d.title,
        evidence: { ...d.evidence, ...eventEvidence(d.events, limit) },
    }));
}

// 1. Instance credentials used outside their instance ---------------------------------------------

function instanceCredentialDrafts(events: readonly TrailEventRow[], context: ActivityContext): Draft[] {
    const endpointsKnown = context.vpcEndpointIds !== undefined;
    const endpoints = new Set(context.vpcEndpointIds ?? []);
    const known = new Map<string, Set<string>>();
    for (const [id, addresses] of Object.entries(context.instances ?? {})) {
        const all = [...(addresses.privateIps ?? []), ...(addresses.publicIps ?? []), ...(addresses.natGatewayIps ?? [])];
        known.set(id, new Set(all.map((a) => canonicalIp(a)).filter((a): a is string => a !== undefined)));
    }
    type Kind = "outside" | "foreign-endpoint" | "unknown-instance" | "not-an-instance";
    const groups = new Map<string, { kind: Kind; role: string; session: string; where: string; events: TrailEventRow[] }>();
    for (const event of events) {
        const role = event.session_issuer_arn;
        if (event.principal_type !== "AssumedRole" || role === null || !AIRLOCK_ROLE.test(role) || isByAwsService(event)) continue;
        const session = event.session_name ?? "";
        const source = event.source_ip === null ? "(no source address)" : (canonicalIp(event.source_ip) ?? event.source_ip);
        let kind: Kind | undefined;
        let where = source;
        if (!INSTANCE_ID.test(session)) {
            kind = "not-an-instance";
        } else if (endpointsKnown && event.vpc_endpoint_id !== null && event.vpc_endpoint_id !== "" && !endpoints.has(event.vpc_endpoint_id)) {
            kind = "foreign-endpoint";
            where = event.vpc_endpoint_id;
        } else {
            const addresses = known.get(session);
            if (addresses === undefined) kind = "unknown-instance";
            else if (!addresses.has(source)) kind = "outside";
        }
        if (kind === undefined) continue;
        const key = `${kind}\u0000${role}\u0000${session}\u0000${where}`;
        const group = groups.get(key);
        if (group === undefined) groups.set(key, { kind, role, session, where, events: [event] });
        else group.events.push(event);
    }
    return [...groups.values()].map(({ kind, role, session, where, events: list }) => {
        const base = { role, session, ...(INSTANCE_ID.test(session) ? { instanceId: session } : {}) };
        switch (kind) {
            case "outside":
                return {
                    resource: role,
                    severity: "critical" as const,
                    title: `Credentials of instance ${session} used from ${where}, not one of its addresses`,
                    evidence: { ...base, sourceIp: where, instanceAddresses: [...(known.get(session) ?? [])] },
                    events: list,
                };
            case "foreign-endpoint":
                return {
                    resource: role,
                    severity: "critical" as const,
                    title: `Credentials of instance ${session} used through VPC endpoint ${where}, not one of the account's`,
                    evidence: { ...base, vpcEndpointId: where, accountVpcEndpoints: [...endpoints] },
                    events: list,
                };
            case "unknown-instance":
                return {
                    resource: role,
                    severity: "high" as const,
                    title: `Credentials of instance ${session}, unknown to the inventory, used from ${where}: its addresses could not be checked`,
                    evidence: { ...base, sourceIp: where },
                    events: list,
                };
            case "not-an-instance":
                return {
                    resource: role,
                    severity: "high" as const,
                    title: `Airlock instance role ${role} used by session ${session || "(unnamed)"}, which is not an instance's`,
                    evidence: base,
                    events: list,
                };
        }
    });
}

// 2. Root account use ------------------------------------------------------------------------------

function consoleLoginResult(event: TrailEventRow): unknown {
    return field(parseJson(event.response_elements), "ConsoleLogin");
}

function rootDrafts(events: readonly TrailEventRow[]): Draft[] {
    const rootEvents = events.filter((e) => e.principal_type === "Root" && e.event_type !== "AwsServiceEvent" && !isByAwsService(e));
    const drafts: Draft[] = [];
    for (const [arn, list] of groupBy(rootEvents, (e) => e.principal_arn ?? `root of ${e.principal_account_id ?? e.recipient_account_id ?? "an unknown account"}`)) {
        const signIns = list.filter((e) => e.event_name === "ConsoleLogin" && e.error_code === null && consoleLoginResult(e) === "Success");
        const keys = list.filter((e) => e.event_name === "CreateAccessKey" && e.error_code === null);
        const rest = list.filter((e) => !signIns.includes(e) && !keys.includes(e));
        const evidence = { principal: arn };
        if (signIns.length > 0) drafts.push({ resource: arn, severity: "critical", title: "Root signed in to the console", evidence, events: signIns });
        if (keys.length > 0) drafts.push({ resource: arn, severity: "critical", title: "Root created an access key", evidence, events: keys });
        if (rest.length > 0) {
            drafts.push({ resource: arn, severity: "high", title: "The root user was used", evidence: { ...evidence, eventNames: [...new Set(rest.map((e) => e.event_name))].sort() }, events: rest });
        }
    }
    return drafts;
}

// 3. Console sign-in without MFA -------------------------------------------------------------------

function consoleWithoutMfaDrafts(events: readonly TrailEventRow[]): Draft[] {
    const matching = events.filter(
        (e) =>
            e.event_name === "ConsoleLogin" &&
            (e.principal_type === "IAMUser" || e.principal_type === "Root") &&
            e.error_code === null &&
            consoleLoginResult(e) === "Success" &&
            field(parseJson(e.additional_event_data), "MFAUsed") === "No",
    );
    return [...groupBy(matching, (e) => e.principal_arn ?? undefined)].map(([arn, list]) => {
        const first = list[0];
        const who = first?.principal_type === "Root" ? "Root" : `IAM user ${arn.replace(/^.*:user\/(?:.*\/)?/, "")}`;
        return { resource: arn, severity: "high" as const, title: `${who} signed in to the console without MFA`, evidence: { principal: arn, principalType: first?.principal_type }, events: list };
    });
}

// 4. Bursts of access denied -----------------------------------------------------------------------

function principalKey(e: TrailEventRow): string {
    return e.principal_arn ?? (e.access_key_id !== null ? `access key ${e.access_key_id}` : `${e.principal_type ?? "unknown principal"} of ${e.principal_account_id ?? "an unknown account"}`);
}

/**
 * The bursts in one principal's denials (sorted by time): every run of `threshold` denials within
 * `windowMs` marks its events; runs sharing an event merge. Returns index ranges [first, last].
 */
export function burstsOf(times: readonly number[], threshold: number, windowMs: number): Array<[number, number]> {
    const bursts: Array<[number, number]> = [];
    for (let i = 0; i + threshold - 1 < times.length; i++) {
        const last = i + threshold - 1;
        if ((times[last] ?? Infinity) - (times[i] ?? 0) > windowMs) continue;
        const open = bursts[bursts.length - 1];
        if (open !== undefined && i <= open[1]) open[1] = last;
        else bursts.push([i, last]);
    }
    return bursts;
}

function accessDeniedDrafts(events: readonly TrailEventRow[], context: ActivityContext): Draft[] {
    const threshold = Math.max(1, Math.floor(context.accessDenied?.threshold ?? 10));
    const windowMinutes = context.accessDenied?.windowMinutes ?? 5;
    const denied = events.filter((e) => e.error_code !== null && ACCESS_DENIED.has(e.error_code) && e.principal_type !== "AWSService");
    const drafts: Draft[] = [];
    for (const [principal, list] of groupBy(denied, principalKey)) {
        const sorted = [...list].sort(byTime);
        const times = sorted.map((e) => Date.parse(e.event_time));
        for (const [first, last] of burstsOf(times, threshold, windowMinutes * 60_000)) {
            const burst = sorted.slice(first, last + 1);
            const start = burst[0]?.event_time ?? "";
            drafts.push({
                resource: principal,
                severity: "medium",
                title: `${threshold} or more access denied within ${windowMinutes} minutes for ${principal}, from ${start}`,
                evidence: {
                    principal,
                    threshold,
                    windowMinutes,
                    errorCodes: [...new Set(burst.map((e) => e.error_code))].sort(),
                    eventNames: [...new Set(burst.map((e) => `${e.event_source.replace(/\.amazonaws\.com$/, "")}:${e.event_name}`))].sort(),
                    sourceIps: [...new Set(burst.map((e) => e.source_ip))],
                },
                events: burst,
            });
        }
    }
    return drafts;
}

// 5. Changes to Airlock's vault outside a pulumi up -------------------------------------------------

function keyIdOf(value: string): string {
    return /:key\/([^/]+)$/.exec(value)?.[1] ?? value;
}

/** The security group ids a change event names (request, ModifySecurityGroupRules' wrapper, or the response's rules). */
function groupIdsOf(event: TrailEventRow): string[] {
    const request = parseJson(event.request_parameters);
    const ids = [field(request, "groupId"), field(field(request, "ModifySecurityGroupRulesRequest"), "GroupId")];
    const items = field(field(parseJson(event.response_elements), "securityGroupRuleSet"), "items");
    if (Array.isArray(items)) ids.push(...items.map((item) => field(item, "groupId")));
    return [...new Set(ids.filter((id): id is string => typeof id === "string"))];
}

/** The key ids a KMS event names (requestParameters.keyId, or the key ARNs CloudTrail lists in resources). */
function keyIdsOf(event: TrailEventRow): string[] {
    const ids: unknown[] = [field(parseJson(event.request_parameters), "keyId")];
    const resources = parseJson(event.resources);
    if (Array.isArray(resources)) ids.push(...resources.map((r) => field(r, "ARN")));
    return [...new Set(ids.filter((id): id is string => typeof id === "string").map(keyIdOf))];
}

function vaultChangeDrafts(events: readonly TrailEventRow[], context: ActivityContext): Draft[] {
    const buckets = new Set(context.vaultBucketNames ?? []);
    const keyArns = new Map((context.vaultKeys ?? []).map((k) => [keyIdOf(k), k]));
    const groupIds = new Set(context.securityGroupIds ?? []);
    const resolveAll = (arns: readonly string[]): ResolvedPrincipal[] => arns.map(resolvePrincipal).filter((p): p is ResolvedPrincipal => p !== undefined);
    const deployers = resolveAll(context.deployerArns ?? []);
    const healers = resolveAll(context.healerRoleArns ?? []);
    if (buckets.size + keyArns.size + groupIds.size === 0) return [];

    const changes: Array<{ what: string; resource: string; event: TrailEventRow }> = [];
    for (const e of events) {
        if (e.error_code !== null) continue; // a failed call changed nothing
        const principal = e.principal_arn;
        if (principal !== null && deployers.length > 0 && isAmong(principal, deployers) && isPulumiAwsAgent(e.user_agent)) continue;
        if (e.event_source === "s3.amazonaws.com" && BUCKET_CHANGES.has(e.event_name)) {
            const bucket = field(parseJson(e.request_parameters), "bucketName");
            if (typeof bucket === "string" && buckets.has(bucket)) changes.push({ what: `Vault bucket ${bucket}`, resource: bucket, event: e });
        } else if (e.event_source === "kms.amazonaws.com" && KEY_CHANGES.has(e.event_name)) {
            if (e.event_name === "CreateGrant" && isByAwsService(e)) continue;
            const id = keyIdsOf(e).find((k) => keyArns.has(k));
            if (id !== undefined) changes.push({ what: `Vault key ${id}`, resource: keyArns.get(id) ?? id, event: e });
        } else if (e.event_source === "ec2.amazonaws.com" && GROUP_CHANGES.has(e.event_name)) {
            if (e.event_name.startsWith("Revoke") && principal !== null && healers.length > 0 && isAmong(principal, healers)) continue;
            for (const id of groupIdsOf(e).filter((g) => groupIds.has(g))) changes.push({ what: `Airlock security group ${id}`, resource: id, event: e });
        }
    }
    const groups = new Map<string, { what: string; resource: string; by: string; events: TrailEventRow[] }>();
    for (const { what, resource, event } of changes) {
        const by = event.principal_arn === null ? (event.principal_type ?? "an unknown principal") : (resolvePrincipal(event.principal_arn)?.display ?? event.principal_arn);
        const key = `${resource}\u0000${by}`;
        const group = groups.get(key);
        if (group === undefined) groups.set(key, { what, resource, by, events: [event] });
        else group.events.push(event);
    }
    return [...groups.values()].map(({ what, resource, by, events: list }) => ({
        resource,
        severity: "high" as const,
        title: `${what} changed outside a pulumi up by ${by}`,
        evidence: {
            changedBy: by,
            eventNames: [...new Set(list.map((e) => e.event_name))].sort(),
            userAgents: [...new Set(list.map((e) => e.user_agent))],
            isDeployer: list.some((e) => e.principal_arn !== null && isAmong(e.principal_arn, deployers)),
            note: "A deployer's change counts as a pulumi up only with the Pulumi AWS provider's user agent, which the client sets: this finds changes made any other way.",
        },
        events: list,
    }));
}
