/**
 * The cloudtrail-activity check (issue 11, "CloudTrail activity and misuse findings").
 *
 * 1. Ingest: the target's trail bucket (`cloudTrail` in its targets entry), this account's folders
 *    only, day folders from `lookbackDays` before the audit on, into the records database
 *    (records/cloudtrail/ingest.ts: each log file once, one transaction per file, so an interrupted
 *    run resumes where it stopped). A log file that cannot be read is an error finding (its events
 *    are not there to judge), never skipped silently.
 * 2. What Airlock knows of the account, for the findings (records/cloudtrail/detect.ts):
 *    - every instance of the target's regions (all states) with its private and public addresses,
 *      and the public addresses of its VPC's NAT gateways (DescribeInstances, DescribeNatGateways);
 *      instances no longer there keep the addresses earlier audits recorded (inventory history);
 *    - the account's VPC endpoints (DescribeVpcEndpoints);
 *    - the vaults' buckets and keys and the zones' security groups from the stack outputs given,
 *      plus every security group tagged airlock:managed=true;
 *    - the deployers and the healer's role from the target's `cloudTrail`.
 *    A listing that fails stops the check (an error finding): judging without the instances' NAT
 *    addresses or the account's endpoints would raise critical findings that are not true.
 * 3. Findings over the stored events of the window (eventsForDetection narrows them in SQL, then
 *    detectActivity judges). No misuse gives one pass finding, with what was read.
 */
import { EC2Client, Instance, paginateDescribeInstances, paginateDescribeNatGateways, paginateDescribeSecurityGroups, paginateDescribeVpcEndpoints } from "@aws-sdk/client-ec2";
import { S3Client } from "@aws-sdk/client-s3";
import type { Kysely } from "kysely";
import type { Finding } from "../findings";
import { ActivityContext, CLOUDTRAIL_ACTIVITY_CHECK, InstanceAddresses, detectActivity } from "../records/cloudtrail/detect";
import { eventsForDetection, ingestTrail } from "../records/cloudtrail/ingest";
import type { RecordsSchema } from "../records/schema";
import type { Check, CheckContext } from "./context";
import { MANAGED_TAG } from "../../policies/keyNaming";

const DAY_MS = 24 * 60 * 60 * 1000;

/** Addresses per instance: union of what is known. */
type AddressBook = Map<string, { privateIps: Set<string>; publicIps: Set<string>; natGatewayIps: Set<string> }>;

function entry(book: AddressBook, id: string): { privateIps: Set<string>; publicIps: Set<string>; natGatewayIps: Set<string> } {
    let found = book.get(id);
    if (found === undefined) {
        found = { privateIps: new Set(), publicIps: new Set(), natGatewayIps: new Set() };
        book.set(id, found);
    }
    return found;
}

function addressesOf(instance: Instance): { privateIps: string[]; publicIps: string[] } {
    const interfaces = instance.NetworkInterfaces ?? [];
    const privateIps = [instance.PrivateIpAddress, ...interfaces.flatMap((n) => (n.PrivateIpAddresses ?? []).map((a) => a.PrivateIpAddress))];
    const publicIps = [
        instance.PublicIpAddress,
        ...interfaces.flatMap((n) => [n.Association?.PublicIp, ...(n.PrivateIpAddresses ?? []).map((a) => a.Association?.PublicIp), ...(n.Ipv6Addresses ?? []).map((a) => a.Ipv6Address)]),
    ];
    const present = (xs: (string | undefined)[]): string[] => xs.filter((x): x is string => x !== undefined && x !== "");
    return { privateIps: present(privateIps), publicIps: present(publicIps) };
}

/** The account's instances, NAT gateways, endpoints and Airlock-tagged groups in one region. */
async function regionFacts(ctx: CheckContext, region: string, book: AddressBook, endpoints: Set<string>, groups: Set<string>): Promise<void> {
    const ec2 = ctx.clients.make(EC2Client, region);
    const natByVpc = new Map<string, string[]>();
    for await (const page of paginateDescribeNatGateways({ client: ec2, pageSize: 1000 }, {})) {
        for (const gateway of page.NatGateways ?? []) {
            if (gateway.VpcId === undefined) continue;
            const ips = (gateway.NatGatewayAddresses ?? []).map((a) => a.PublicIp).filter((ip): ip is string => ip !== undefined);
            natByVpc.set(gateway.VpcId, [...(natByVpc.get(gateway.VpcId) ?? []), ...ips]);
        }
    }
    for await (const page of paginateDescribeInstances({ client: ec2, pageSize: 1000 }, {})) {
        for (const instance of (page.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
            if (instance.InstanceId === undefined) continue;
            const known = entry(book, instance.InstanceId);
            const { privateIps, publicIps } = addressesOf(instance);
            privateIps.forEach((ip) => known.privateIps.add(ip));
            publicIps.forEach((ip) => known.publicIps.add(ip));
            for (const ip of instance.VpcId === undefined ? [] : (natByVpc.get(instance.VpcId) ?? [])) known.natGatewayIps.add(ip);
        }
    }
    for await (const page of paginateDescribeVpcEndpoints({ client: ec2, pageSize: 1000 }, {})) {
        for (const e of page.VpcEndpoints ?? []) {
            if (e.VpcEndpointId !== undefined) endpoints.add(e.VpcEndpointId);
        }
    }
    for await (const page of paginateDescribeSecurityGroups({ client: ec2, pageSize: 1000 }, { Filters: [{ Name: `tag:${MANAGED_TAG}`, Values: ["true"] }] })) {
        for (const g of page.SecurityGroups ?? []) {
            if (g.GroupId !== undefined) groups.add(g.GroupId);
        }
    }
}

/** Addresses earlier audits recorded for instances (their inventory history), for those gone since. */
async function recordedAddresses(db: Kysely<RecordsSchema>, accountId: string, book: AddressBook): Promise<void> {
    const versions = await db.selectFrom("inventory_versions").select(["item_key", "state"]).where("account_id", "=", accountId).where("kind", "=", "instance").execute();
    for (const v of versions) {
        if (v.state === null) continue;
        let state: { privateIps?: unknown; publicIps?: unknown };
        try {
            state = JSON.parse(v.state) as typeof state;
        } catch {
            continue;
        }
        const known = entry(book, v.item_key);
        for (const ip of Array.isArray(state.privateIps) ? state.privateIps : []) if (typeof ip === "string") known.privateIps.add(ip);
        for (const ip of Array.isArray(state.publicIps) ? state.publicIps : []) if (typeof ip === "string") known.publicIps.add(ip);
    }
}

export const cloudTrailActivityCheck: Check = async (ctx) => {
    const spec = ctx.target.cloudTrail;
    if (spec === undefined) {
        throw new Error(`the target has no cloudTrail (the bucket its trail writes to): add "cloudTrail": {"bucket": "…"} to it in the targets file`);
    }
    const db = ctx.records;
    if (db === undefined) {
        throw new Error("the records database is off (--no-db): the trail's events have nowhere to be kept; run without --no-db");
    }
    const now = ctx.now();
    const since = new Date(now.getTime() - spec.lookbackDays * DAY_MS);
    const base = { target: ctx.target.name, accountId: ctx.accountId, region: "global", check: CLOUDTRAIL_ACTIVITY_CHECK };
    const findings: Finding[] = [];

    // 1. New log files of this account, from the window's first day on.
    const s3 = ctx.clients.make(S3Client, spec.region ?? ctx.regions[0] ?? "us-east-1");
    const ingested = await ingestTrail(db, s3, { bucket: spec.bucket, ...(spec.prefix === undefined ? {} : { prefix: spec.prefix }), accountIds: [ctx.accountId], since, now: () => now });
    for (const failed of ingested.failed) {
        findings.push({
            ...base,
            resource: `arn:${ctx.partition}:s3:::${spec.bucket}/${failed.key}`,
            status: "error",
            severity: "high",
            title: `CloudTrail log file ${failed.key} could not be read: its events were not checked`,
            evidence: { bucket: spec.bucket, key: failed.key, error: failed.error },
        });
    }

    // 2. What Airlock knows of the account.
    const book: AddressBook = new Map();
    const endpoints = new Set<string>();
    const groups = new Set<string>(ctx.vaults?.securityGroupIds ?? []);
    await recordedAddresses(db, ctx.accountId, book);
    for (const region of ctx.regions) {
        await regionFacts(ctx, region, book, endpoints, groups);
    }
    const instances: Record<string, InstanceAddresses> = {};
    for (const [id, a] of book) {
        instances[id] = { privateIps: [...a.privateIps].sort(), publicIps: [...a.publicIps].sort(), natGatewayIps: [...a.natGatewayIps].sort() };
    }
    const context: ActivityContext = {
        target: ctx.target.name,
        accountId: ctx.accountId,
        instances,
        vpcEndpointIds: [...endpoints].sort(),
        vaultBucketNames: [...(ctx.vaults?.vaultBucketNames ?? [])].sort(),
        vaultKeys: [...(ctx.vaults?.vaultKeys ?? [])].sort(),
        securityGroupIds: [...groups].sort(),
        deployerArns: spec.deployers,
        healerRoleArns: spec.healerRoleArns,
    };

    // 3. The window's events, judged.
    const events = await eventsForDetection(db, { accountId: ctx.accountId, since, until: now, context });
    const found = detectActivity(events, context).map((f) => ({ ...f, target: ctx.target.name, accountId: ctx.accountId }));
    findings.push(...found);
    if (found.length === 0 && ingested.failed.length === 0) {
        findings.push({
            ...base,
            resource: `arn:${ctx.partition}:s3:::${spec.bucket}`,
            status: "pass",
            severity: "informational",
            title: `No misuse found in the account's CloudTrail events of the last ${spec.lookbackDays} days`,
            evidence: {
                since: since.toISOString(),
                until: now.toISOString(),
                filesIngested: ingested.files,
                filesAlreadyIngested: ingested.skipped,
                eventsIngested: ingested.inserted,
                candidateEvents: events.length,
                instancesKnown: book.size,
                vpcEndpoints: endpoints.size,
            },
        });
    }
    return findings;
};
