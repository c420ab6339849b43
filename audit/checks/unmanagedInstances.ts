/**
 * The unmanaged-instances check (issue 10, "Unmanaged instances"; Cloudefigo's management script:
 * find the instances nobody manages), and `--quarantine`.
 *
 * What is listed: per region, DescribeInstances (every page, MaxResults 1000) filtered on the states
 * pending, running, stopping and stopped. A stopped instance counts: it keeps its groups, role and
 * disks and one StartInstances call brings it back as it was. shutting-down and terminated ones are
 * on their way out or gone and are not listed.
 *
 * What counts as managed (`airlock:managed` is MANAGED_TAG, value exactly "true" as Airlock writes it):
 * - no stack outputs given (`ctx.managedInstanceIds` empty): the tag alone;
 * - stack outputs given: the tag AND the instance id listed in them.
 * Each other instance is one fail finding, of one of three kinds:
 * - **unmanaged** (no tag, not listed): medium, "Instance <id> is managed by no Airlock stack";
 *   the only kind `--quarantine` moves;
 * - **claims management** (tagged, outputs given, not listed): high — the tag is spoofed (an instance
 *   hiding from this audit) or the stack's outputs given are stale or incomplete. Not moved by
 *   `--quarantine`: the audit cannot tell the two apart, and moving a real Airlock instance because
 *   an outputs file was old would take production down; the finding says so;
 * - **tag missing** (listed, no tag): low — an Airlock instance whose tag was removed (the next
 *   `pulumi up` puts it back). Never moved: a stack output naming it is proof that a stack manages it.
 * One pass per region summarises the managed instances (ids, how they were matched).
 * Evidence of an instance: id, type, state, launch time, tags, security groups (every network
 * interface's), VPC and subnet, IAM instance profile.
 *
 * `--quarantine GROUP` (`ctx.quarantine`), unmanaged instances only, managed ones never touched:
 * - The group must exist in the region (DescribeSecurityGroups) and be in the instance's VPC, as must
 *   every network interface of the instance (multi-VPC attachments exist): else an error finding for
 *   the instance and nothing of it is changed. Checked in dry runs too (it is read-only), so a dry
 *   run says whether `--yes` would work.
 * - Dry run (`apply: false`, no `--yes`): no write call at all; the finding's evidence says what
 *   would be done (`quarantine: "dry-run"`, the interfaces' moves and the tags).
 * - `apply: true`: every network interface of the instance gets Groups=[GROUP] through
 *   ModifyNetworkInterfaceAttribute — primary included, because ModifyInstanceAttribute Groups is
 *   refused by EC2 for an instance with several interfaces, and an instance reachable through a
 *   secondary interface is not quarantined. Before moving, CreateTags records on the instance
 *   `airlock:quarantined-by=airlock-audit`, `airlock:quarantined-at=<ISO time>`,
 *   `airlock:quarantine-reason=<why>` and the groups to restore: `airlock:previous-security-groups`
 *   (the primary interface's group ids, sorted, space separated) and, per other interface,
 *   `airlock:previous-security-groups:<eni-id>` — tags first, so an interrupted run still leaves what
 *   undoing needs. A list longer than a tag value (256 characters) is refused (error, nothing moved).
 *   Each move is in the finding's evidence (`quarantine: "moved"`, `moves`).
 * - Idempotent: an instance whose every interface is already in GROUP alone is left as it is
 *   (`quarantine: "already-quarantined"`); after a partial run only the interfaces not yet moved are
 *   moved and tagged (the tags of moved ones, holding their original groups, are not overwritten).
 * - A failure while moving is an error finding naming what was and was not done.
 */
import {
    CreateTagsCommand,
    DescribeSecurityGroupsCommand,
    EC2Client,
    Instance,
    InstanceStateName,
    ModifyNetworkInterfaceAttributeCommand,
    paginateDescribeInstances,
} from "@aws-sdk/client-ec2";
import { MANAGED_TAG } from "../../policies/keyNaming";
import type { Finding } from "../findings";
import type { Check, CheckContext, CollectedInstance } from "./context";

/** The instance states listed (see the header). */
export const LISTED_STATES: readonly InstanceStateName[] = ["pending", "running", "stopping", "stopped"];

/** Tags put on a quarantined instance. */
export const QUARANTINED_BY_TAG = "airlock:quarantined-by";
export const QUARANTINED_AT_TAG = "airlock:quarantined-at";
export const QUARANTINE_REASON_TAG = "airlock:quarantine-reason";
export const PREVIOUS_GROUPS_TAG = "airlock:previous-security-groups";
export const QUARANTINED_BY = "airlock-audit";

/** Longest EC2 tag value. */
const TAG_VALUE_MAX = 256;

export interface UnmanagedInstancesOptions {
    /** DescribeInstances MaxResults (5 to 1000). @default 1000 */
    readonly pageSize?: number;
}

type Kind = "managed" | "unmanaged" | "claims-management" | "tag-missing";

interface InterfaceGroups {
    readonly networkInterfaceId: string;
    readonly deviceIndex: number;
    readonly vpcId?: string;
    readonly groupIds: readonly string[];
}

function tagsOf(instance: Instance): Record<string, string> {
    const tags: Record<string, string> = {};
    for (const t of instance.Tags ?? []) {
        if (t.Key !== undefined) tags[t.Key] = t.Value ?? "";
    }
    return tags;
}

function interfacesOf(instance: Instance): InterfaceGroups[] {
    return (instance.NetworkInterfaces ?? [])
        .filter((n) => n.NetworkInterfaceId !== undefined)
        .map((n) => ({
            networkInterfaceId: n.NetworkInterfaceId!,
            deviceIndex: n.Attachment?.DeviceIndex ?? 0,
            vpcId: n.VpcId ?? instance.VpcId,
            groupIds: (n.Groups ?? []).map((g) => g.GroupId ?? "").filter((g) => g !== "").sort(),
        }))
        .sort((a, b) => a.deviceIndex - b.deviceIndex || a.networkInterfaceId.localeCompare(b.networkInterfaceId));
}

function instanceEvidence(instance: Instance, tags: Record<string, string>): Record<string, unknown> {
    const groups = new Map<string, string | null>();
    for (const g of instance.SecurityGroups ?? []) {
        if (g.GroupId !== undefined) groups.set(g.GroupId, g.GroupName ?? null);
    }
    for (const n of instance.NetworkInterfaces ?? []) {
        for (const g of n.Groups ?? []) {
            if (g.GroupId !== undefined && !groups.has(g.GroupId)) groups.set(g.GroupId, g.GroupName ?? null);
        }
    }
    return {
        instanceId: instance.InstanceId ?? null,
        instanceType: instance.InstanceType ?? null,
        state: instance.State?.Name ?? null,
        launchTime: instance.LaunchTime?.toISOString() ?? null,
        tags,
        securityGroups: [...groups].map(([id, name]) => ({ id, name })),
        networkInterfaces: interfacesOf(instance).map((n) => ({ id: n.networkInterfaceId, deviceIndex: n.deviceIndex, securityGroups: n.groupIds })),
        vpcId: instance.VpcId ?? null,
        subnetId: instance.SubnetId ?? null,
        iamInstanceProfile: instance.IamInstanceProfile?.Arn ?? null,
    };
}

/**
 * The instance for the records database. Its phase is read from its security groups' names, as
 * Airlock's zones name them (`<zones>-production…`, `<zones>-remediation…`): only for managed ones
 * (listed by the stack outputs given, with or without the tag; without outputs, tagged).
 */
function collectedInstance(instance: Instance, region: string, tags: Record<string, string>, listed: ReadonlySet<string>): CollectedInstance {
    const id = instance.InstanceId ?? "";
    // Managed by a stack: listed by the stack outputs given (tag or not), else tagged.
    const managed = listed.size > 0 ? listed.has(id) : tags[MANAGED_TAG] === "true";
    const names = [...(instance.SecurityGroups ?? []), ...(instance.NetworkInterfaces ?? []).flatMap((n) => n.Groups ?? [])].map((g) => g.GroupName ?? "");
    const phase = !managed ? undefined : names.some((n) => /-remediation(?:-|$)/.test(n)) ? "remediation" : names.some((n) => /-production(?:-|$)/.test(n)) ? "production" : undefined;
    const interfaces = instance.NetworkInterfaces ?? [];
    const privateIps = [...new Set([instance.PrivateIpAddress, ...interfaces.flatMap((n) => (n.PrivateIpAddresses ?? []).map((a) => a.PrivateIpAddress))].filter((a): a is string => a !== undefined))].sort();
    const publicIps = [
        ...new Set([instance.PublicIpAddress, ...interfaces.flatMap((n) => [n.Association?.PublicIp, ...(n.PrivateIpAddresses ?? []).map((a) => a.Association?.PublicIp)])].filter((a): a is string => a !== undefined)),
    ].sort();
    const ipv6 = interfaces.flatMap((n) => (n.Ipv6Addresses ?? []).map((a) => a.Ipv6Address)).filter((a): a is string => a !== undefined);
    return {
        instanceId: id,
        region,
        state: instance.State?.Name ?? "unknown",
        ...(instance.VpcId === undefined ? {} : { vpcId: instance.VpcId }),
        ...(instance.SubnetId === undefined ? {} : { subnetId: instance.SubnetId }),
        privateIps,
        // IPv6 addresses are public (globally routable) ones.
        publicIps: [...publicIps, ...[...new Set(ipv6)].sort()],
        managed,
        ...(phase === undefined ? {} : { phase }),
        ...(instance.IamInstanceProfile?.Arn === undefined ? {} : { instanceProfileArn: instance.IamInstanceProfile.Arn }),
        tags,
    };
}

function errorName(e: unknown): string {
    const err = e as { name?: string; Code?: string };
    return err.name ?? err.Code ?? "Error";
}

function errorText(e: unknown): string {
    return `${errorName(e)}: ${(e as Error).message ?? String(e)}`;
}

/** What the audit knows about the quarantine group in one region. */
type GroupLookup = { readonly found: true; readonly vpcId?: string; readonly name?: string } | { readonly found: false; readonly why: string };

async function lookUpGroup(ec2: EC2Client, groupId: string): Promise<GroupLookup> {
    try {
        const answer = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
        const group = answer.SecurityGroups?.find((g) => g.GroupId === groupId);
        return group === undefined ? { found: false, why: `security group ${groupId} does not exist in this region` } : { found: true, vpcId: group.VpcId, name: group.GroupName };
    } catch (e) {
        if (/InvalidGroup\.?NotFound|InvalidGroupId\.Malformed/.test(errorName(e)) || /InvalidGroup\.?NotFound/.test(String((e as Error).message))) {
            return { found: false, why: `security group ${groupId} does not exist in this region (${errorName(e)})` };
        }
        throw e;
    }
}

/** The reason written on a quarantined instance (EC2 tag characters only). */
function reasonFor(outputsGiven: boolean): string {
    return outputsGiven
        ? `not tagged ${MANAGED_TAG}=true and in no given Airlock stack output: managed by no Airlock stack`
        : `not tagged ${MANAGED_TAG}=true: managed by no Airlock stack`;
}

export function makeUnmanagedInstancesCheck(options: UnmanagedInstancesOptions = {}): Check {
    const pageSize = options.pageSize ?? 1000;
    return async (ctx: CheckContext): Promise<Finding[]> => {
        const findings: Finding[] = [];
        for (const region of ctx.regions) {
            findings.push(...(await checkRegion(ctx, region, pageSize)));
        }
        return findings;
    };
}

/** The check with its defaults (the runner's). */
export const unmanagedInstancesCheck: Check = makeUnmanagedInstancesCheck();

async function checkRegion(ctx: CheckContext, region: string, pageSize: number): Promise<Finding[]> {
    const findings: Finding[] = [];
    const arnPrefix = `arn:${ctx.partition}:ec2:${region}:${ctx.accountId}:instance/`;
    const finding = (f: Omit<Finding, "target" | "accountId" | "region" | "check">): void => {
        findings.push({ target: ctx.target.name, accountId: ctx.accountId, region, check: "unmanaged-instances", ...f });
    };
    const ec2 = ctx.clients.make(EC2Client, region);
    const outputsGiven = ctx.managedInstanceIds.size > 0;

    const instances: Instance[] = [];
    try {
        const pages = paginateDescribeInstances(
            { client: ec2, pageSize },
            { Filters: [{ Name: "instance-state-name", Values: [...LISTED_STATES] }], MaxResults: pageSize },
        );
        for await (const page of pages) {
            for (const r of page.Reservations ?? []) instances.push(...(r.Instances ?? []));
        }
    } catch (e) {
        finding({
            resource: `${arnPrefix}*`,
            status: "error",
            severity: "medium",
            title: `The instances in ${region} could not be listed`,
            evidence: { call: "ec2:DescribeInstances", error: errorText(e) },
        });
        return findings;
    }
    instances.sort((a, b) => (a.InstanceId ?? "").localeCompare(b.InstanceId ?? ""));
    ctx.collect?.instances(
        instances.map((i) => collectedInstance(i, region, tagsOf(i), ctx.managedInstanceIds)),
        region,
    );

    const managed: string[] = [];
    const unmanaged: { instance: Instance; tags: Record<string, string> }[] = [];
    for (const instance of instances) {
        const id = instance.InstanceId ?? "";
        const tags = tagsOf(instance);
        const tagged = tags[MANAGED_TAG] === "true";
        const listed = ctx.managedInstanceIds.has(id);
        const kind: Kind = tagged ? (!outputsGiven || listed ? "managed" : "claims-management") : listed ? "tag-missing" : "unmanaged";
        const evidence = instanceEvidence(instance, tags);
        switch (kind) {
            case "managed":
                managed.push(id);
                break;
            case "claims-management":
                finding({
                    resource: arnPrefix + id,
                    status: "fail",
                    severity: "high",
                    title: `Instance ${id} is tagged ${MANAGED_TAG} but no given Airlock stack output lists it`,
                    evidence: {
                        ...evidence,
                        why: "the tag is spoofed, or the stack outputs given are stale or incomplete",
                        ...(ctx.quarantine === undefined
                            ? {}
                            : { quarantine: "not-moved", quarantineGroupId: ctx.quarantine.groupId, quarantineNote: "--quarantine moves only instances with no sign of management; check this one by hand" }),
                    },
                });
                break;
            case "tag-missing":
                finding({
                    resource: arnPrefix + id,
                    status: "fail",
                    severity: "low",
                    title: `Instance ${id} is in a given Airlock stack output but lacks the ${MANAGED_TAG} tag`,
                    evidence: { ...evidence, why: "the tag was removed or changed outside Pulumi; the next pulumi up restores it" },
                });
                break;
            case "unmanaged":
                unmanaged.push({ instance, tags });
                break;
        }
    }

    let group: GroupLookup | undefined;
    for (const { instance, tags } of unmanaged) {
        const id = instance.InstanceId ?? "";
        const resource = arnPrefix + id;
        const evidence: Record<string, unknown> = { ...instanceEvidence(instance, tags), matchedBy: outputsGiven ? "tag and stack outputs" : "tag" };
        const quarantine = ctx.quarantine;
        if (quarantine === undefined) {
            finding({ resource, status: "fail", severity: "medium", title: `Instance ${id} is managed by no Airlock stack`, evidence });
            continue;
        }
        const groupId = quarantine.groupId;
        const refuse = (why: string, extra: Record<string, unknown> = {}): void => {
            finding({ resource, status: "fail", severity: "medium", title: `Instance ${id} is managed by no Airlock stack`, evidence: { ...evidence, quarantine: "refused", quarantineGroupId: groupId } });
            finding({
                resource,
                status: "error",
                severity: "medium",
                title: `Instance ${id} could not be quarantined`,
                evidence: { instanceId: id, quarantineGroupId: groupId, why, changed: false, ...extra },
            });
        };
        if (group === undefined) {
            try {
                group = await lookUpGroup(ec2, groupId);
            } catch (e) {
                group = { found: false, why: `security group ${groupId} could not be looked up (${errorText(e)})` };
            }
        }
        if (!group.found) {
            refuse(group.why);
            continue;
        }
        const interfaces = interfacesOf(instance);
        if (interfaces.length === 0) {
            refuse("the instance has no network interface to move");
            continue;
        }
        const groupVpc = group.vpcId;
        const vpcs = [...new Set([instance.VpcId, ...interfaces.map((n) => n.vpcId)])];
        if (vpcs.some((v) => v !== groupVpc)) {
            const where = vpcs.length === 1 ? `the instance in ${vpcs[0] ?? "no VPC"}` : `the instance's interfaces in ${vpcs.map((v) => v ?? "no VPC").join(", ")}`;
            refuse(`security group ${groupId} is in ${groupVpc ?? "no VPC"}, ${where}`);
            continue;
        }
        const toMove = interfaces.filter((n) => !(n.groupIds.length === 1 && n.groupIds[0] === groupId));
        if (toMove.length === 0) {
            finding({
                resource,
                status: "fail",
                severity: "medium",
                title: `Instance ${id} is managed by no Airlock stack`,
                evidence: { ...evidence, quarantine: "already-quarantined", quarantineGroupId: groupId },
            });
            continue;
        }
        const newTags: Record<string, string> = {
            [QUARANTINED_BY_TAG]: QUARANTINED_BY,
            [QUARANTINED_AT_TAG]: ctx.now().toISOString(),
            [QUARANTINE_REASON_TAG]: reasonFor(outputsGiven),
        };
        for (const n of toMove) {
            const key = n.deviceIndex === 0 ? PREVIOUS_GROUPS_TAG : `${PREVIOUS_GROUPS_TAG}:${n.networkInterfaceId}`;
            newTags[key] = n.groupIds.join(" ");
        }
        const tooLong = Object.entries(newTags).filter(([, v]) => v.length > TAG_VALUE_MAX);
        if (tooLong.length > 0) {
            refuse(`the groups to restore do not fit in a tag value (${TAG_VALUE_MAX} characters): ${tooLong.map(([k]) => k).join(", ")}`);
            continue;
        }
        const moves = toMove.map((n) => ({ networkInterfaceId: n.networkInterfaceId, deviceIndex: n.deviceIndex, from: n.groupIds, to: [groupId] }));
        if (!quarantine.apply) {
            finding({
                resource,
                status: "fail",
                severity: "medium",
                title: `Instance ${id} is managed by no Airlock stack`,
                evidence: { ...evidence, quarantine: "dry-run", quarantineGroupId: groupId, wouldMove: moves, wouldTag: newTags },
            });
            continue;
        }
        // Tags first: an interrupted run still leaves the groups to restore on the instance.
        try {
            await ec2.send(new CreateTagsCommand({ Resources: [id], Tags: Object.entries(newTags).map(([Key, Value]) => ({ Key, Value })) }));
        } catch (e) {
            refuse(`tagging the instance failed before anything was moved (${errorText(e)})`);
            continue;
        }
        const done: typeof moves = [];
        let failure: { networkInterfaceId: string; error: string } | undefined;
        for (const move of moves) {
            try {
                await ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: move.networkInterfaceId, Groups: [groupId] }));
                done.push(move);
            } catch (e) {
                failure = { networkInterfaceId: move.networkInterfaceId, error: errorText(e) };
                break;
            }
        }
        finding({
            resource,
            status: "fail",
            severity: "medium",
            title: `Instance ${id} is managed by no Airlock stack`,
            evidence: { ...evidence, quarantine: failure === undefined ? "moved" : "partly-moved", quarantineGroupId: groupId, moves: done, tagged: newTags },
        });
        if (failure !== undefined) {
            finding({
                resource,
                status: "error",
                severity: "medium",
                title: `Instance ${id} could not be quarantined`,
                evidence: {
                    instanceId: id,
                    quarantineGroupId: groupId,
                    why: `moving network interface ${failure.networkInterfaceId} failed (${failure.error})`,
                    changed: true,
                    tagged: newTags,
                    moved: done,
                    notMoved: moves.filter((m) => !done.includes(m)).map((m) => m.networkInterfaceId),
                },
            });
        }
    }

    finding({
        resource: `${arnPrefix}*`,
        status: "pass",
        severity: "informational",
        title: `Instances managed by Airlock in ${region}`,
        evidence: {
            managed,
            count: managed.length,
            listed: instances.length,
            states: [...LISTED_STATES],
            matchedBy: outputsGiven ? `tag ${MANAGED_TAG}=true and stack outputs` : `tag ${MANAGED_TAG}=true`,
        },
    });
    return findings;
}
