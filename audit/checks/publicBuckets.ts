import {
    GetBucketAclCommand,
    GetBucketLocationCommand,
    GetBucketPolicyCommand,
    GetBucketPolicyStatusCommand,
    GetPublicAccessBlockCommand,
    Grant,
    PublicAccessBlockConfiguration,
    S3Client,
    paginateListBuckets,
} from "@aws-sdk/client-s3";
import { GetPublicAccessBlockCommand as GetAccountPublicAccessBlockCommand, S3ControlClient } from "@aws-sdk/client-s3-control";
import { BucketPolicyError, PublicGrant, publicGrants } from "../bucketPolicy";
import type { Finding, Severity } from "../findings";
import type { Check, CheckContext, CollectedBucket } from "./context";
import { byName } from "./rootAndUsers";

/**
 * The public-buckets check (issue 10, "Public buckets").
 *
 * 1. The account's public access block (S3 Control GetPublicAccessBlock, asked in the target's first
 *    region): one finding, region "global", resource the account id, title "Account public access
 *    block": pass when all four settings are on, else fail (medium; evidence: the settings).
 * 2. ListBuckets (every page); each bucket's region from ListBuckets' BucketRegion where S3 gives it,
 *    else GetBucketLocation (empty = us-east-1, "EU" = eu-west-1). Only buckets in ctx.regions.
 * 3. Per bucket (at most BUCKET_CONCURRENCY at once), with the effective block = account OR bucket
 *    setting by setting (S3 applies the most restrictive combination):
 *    - "Bucket <name> public access block": pass when the four settings are effectively on, else fail
 *      (low: defence in depth; what is actually public is reported by the next two).
 *    - "Bucket <name> policy": GetBucketPolicy evaluated by Airlock (audit/bucketPolicy.ts
 *      publicGrants). Public grants fail, high for read and critical for write, unless
 *      RestrictPublicBuckets is effectively on: then S3 limits the policy to the owner's account and
 *      AWS services, so the grants are not in effect and the finding is a pass whose evidence lists
 *      them and what neutralises them. BlockPublicPolicy does NOT neutralise a policy already in
 *      place (S3: "Enabling this setting doesn't affect existing bucket policies"): it only refuses
 *      new public ones, so a public policy with only BlockPublicPolicy on still fails (evidence says so).
 *      S3's own verdict (GetBucketPolicyStatus IsPublic) is evidence only (corroboration), never the
 *      verdict; where S3 gives none it says "unknown".
 *    - "Bucket <name> ACL": GetBucketAcl grants to the AllUsers or AuthenticatedUsers groups (any AWS
 *      account is the public too). WRITE, WRITE_ACP, FULL_CONTROL fail critical; READ, READ_ACP high.
 *      IgnorePublicAcls (effective) neutralises them: a pass with the grants in evidence.
 *      (BlockPublicAcls, like BlockPublicPolicy, only refuses new public ACLs.)
 *    A call that fails (access denied, throttled past retries) gives an error finding under the same
 *    title, never a pass.
 */

const CHECK = "public-buckets" as const;
export const BUCKET_CONCURRENCY = 8;

const ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers";
const AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
const BLOCK_SETTINGS = ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"] as const;
type BlockSetting = (typeof BLOCK_SETTINGS)[number];
type Block = Record<BlockSetting, boolean>;

const NO_BLOCK: Block = { BlockPublicAcls: false, IgnorePublicAcls: false, BlockPublicPolicy: false, RestrictPublicBuckets: false };

function blockOf(c: PublicAccessBlockConfiguration | undefined): Block {
    return Object.fromEntries(BLOCK_SETTINGS.map((k) => [k, c?.[k] === true])) as Block;
}

const errorText = (error: unknown): string => `${(error as Error).name}: ${(error as Error).message}`;
const isNamed = (error: unknown, ...names: string[]): boolean => names.includes((error as { name?: string }).name ?? "") || names.includes((error as { Code?: string }).Code ?? "");

/** The region S3's GetBucketLocation answer means. */
export function regionOfLocation(constraint: string | undefined): string {
    if (constraint === undefined || constraint === "" || constraint === null) return "us-east-1";
    if (constraint === "EU") return "eu-west-1";
    return constraint;
}

export interface AclGrant {
    readonly grantee: "AllUsers" | "AuthenticatedUsers";
    readonly permission: string;
}

/** The ACL grants to everyone (AllUsers) or any AWS account (AuthenticatedUsers). */
export function publicAclGrants(grants: readonly Grant[]): AclGrant[] {
    const out: AclGrant[] = [];
    for (const g of grants) {
        const uri = g.Grantee?.URI;
        const grantee = uri === ALL_USERS ? "AllUsers" : uri === AUTHENTICATED_USERS ? "AuthenticatedUsers" : undefined;
        if (grantee !== undefined && g.Permission !== undefined) out.push({ grantee, permission: g.Permission });
    }
    return out;
}

const WRITE_PERMISSIONS = new Set(["WRITE", "WRITE_ACP", "FULL_CONTROL"]);

export const publicBucketsCheck: Check = async (ctx) => {
    const findings: Finding[] = [];
    const home = ctx.regions[0] ?? "us-east-1";
    const base = { target: ctx.target.name, accountId: ctx.accountId, check: CHECK };

    // 1. The account's block.
    let account: Block = NO_BLOCK;
    let accountKnown = true;
    try {
        const control = emulatorFriendly(ctx.clients.make(S3ControlClient, home));
        const answer = await control.send(new GetAccountPublicAccessBlockCommand({ AccountId: ctx.accountId }));
        account = blockOf(answer.PublicAccessBlockConfiguration);
    } catch (error) {
        if (!isNamed(error, "NoSuchPublicAccessBlockConfiguration")) {
            accountKnown = false;
            findings.push({ ...base, region: "global", resource: ctx.accountId, status: "error", severity: "medium", title: "Account public access block", evidence: { error: errorText(error) } });
        }
    }
    if (accountKnown) {
        const off = BLOCK_SETTINGS.filter((k) => !account[k]);
        findings.push({
            ...base,
            region: "global",
            resource: ctx.accountId,
            status: off.length === 0 ? "pass" : "fail",
            severity: off.length === 0 ? "informational" : "medium",
            title: "Account public access block",
            evidence: { ...account, ...(off.length === 0 ? {} : { off }) },
        });
    }

    // 2. The buckets and their regions.
    const s3 = ctx.clients.make(S3Client, home);
    const buckets: { name: string; region: string }[] = [];
    for await (const page of paginateListBuckets({ client: s3, pageSize: 1000 }, {})) {
        for (const b of page.Buckets ?? []) {
            if (b.Name === undefined) continue;
            const region = b.BucketRegion ?? regionOfLocation((await s3.send(new GetBucketLocationCommand({ Bucket: b.Name }))).LocationConstraint);
            if (ctx.regions.includes(region)) buckets.push({ name: b.Name, region });
        }
    }
    buckets.sort((a, b) => (a.region === b.region ? byName(a.name, b.name) : a.region < b.region ? -1 : 1));

    // 3. Each bucket.
    const perBucket: { findings: Finding[]; record: CollectedBucket }[] = new Array(buckets.length);
    let next = 0;
    const worker = async (): Promise<void> => {
        while (next < buckets.length) {
            const i = next++;
            perBucket[i] = await checkBucket(ctx, buckets[i]!, account, accountKnown);
        }
    };
    await Promise.all(Array.from({ length: Math.min(BUCKET_CONCURRENCY, buckets.length) }, worker));
    for (const b of perBucket) findings.push(...b.findings);
    ctx.collect?.buckets(
        perBucket.map((b) => b.record),
        ctx.regions,
    );
    return findings;
};

async function checkBucket(ctx: CheckContext, bucket: { name: string; region: string }, account: Block, accountKnown: boolean): Promise<{ findings: Finding[]; record: CollectedBucket }> {
    const s3 = ctx.clients.make(S3Client, bucket.region);
    const resource = `arn:${ctx.partition}:s3:::${bucket.name}`;
    const base = { target: ctx.target.name, accountId: ctx.accountId, region: bucket.region, check: CHECK, resource };
    const findings: Finding[] = [];
    const titles = { block: `Bucket ${bucket.name} public access block`, policy: `Bucket ${bucket.name} policy`, acl: `Bucket ${bucket.name} ACL` };

    // The bucket's block, and the effective one.
    let own: Block | undefined;
    try {
        own = blockOf((await s3.send(new GetPublicAccessBlockCommand({ Bucket: bucket.name }))).PublicAccessBlockConfiguration);
    } catch (error) {
        if (isNamed(error, "NoSuchPublicAccessBlockConfiguration")) {
            own = NO_BLOCK;
        } else {
            findings.push({ ...base, status: "error", severity: "low", title: titles.block, evidence: { error: errorText(error) } });
        }
    }
    const bucketBlock = own ?? NO_BLOCK;
    // What the records database keeps (null: could not be read).
    let policyPublic: boolean | null = null;
    let policyStatusIsPublic: boolean | null = null;
    let aclPublic: boolean | null = null;
    const effective = Object.fromEntries(BLOCK_SETTINGS.map((k) => [k, account[k] || bucketBlock[k]])) as Block;
    const from = (k: BlockSetting): string => (account[k] ? "account" : "bucket");
    if (own !== undefined) {
        const off = BLOCK_SETTINGS.filter((k) => !effective[k]);
        findings.push({
            ...base,
            status: off.length === 0 ? "pass" : "fail",
            severity: off.length === 0 ? "informational" : "low",
            title: titles.block,
            evidence: { bucket: own, account: accountKnown ? account : null, effective, ...(off.length === 0 ? {} : { off }) },
        });
    }

    // The policy, evaluated by Airlock; S3's verdict as corroboration.
    try {
        let text: string | undefined;
        try {
            text = (await s3.send(new GetBucketPolicyCommand({ Bucket: bucket.name }))).Policy;
        } catch (error) {
            if (!isNamed(error, "NoSuchBucketPolicy")) throw error;
        }
        if (text === undefined || text === "") {
            policyPublic = false;
            findings.push({ ...base, status: "pass", severity: "informational", title: titles.policy, evidence: { policy: null, publicGrants: [] } });
        } else {
            let grants: PublicGrant[];
            try {
                grants = publicGrants(text);
            } catch (error) {
                if (!(error instanceof BucketPolicyError)) throw error;
                findings.push({ ...base, status: "error", severity: "medium", title: titles.policy, evidence: { error: error.message } });
                grants = [];
                text = undefined;
            }
            if (text !== undefined) {
                const s3Says = await policyStatus(s3, bucket.name);
                policyStatusIsPublic = s3Says === "unknown" ? null : s3Says;
                policyPublic = grants.length > 0 && !effective.RestrictPublicBuckets;
                const write = grants.some((g) => g.access.includes("write"));
                const evidence: Record<string, unknown> = { publicGrants: grants, s3PolicyStatusIsPublic: s3Says };
                if (grants.length === 0) {
                    findings.push({ ...base, status: "pass", severity: "informational", title: titles.policy, evidence });
                } else if (effective.RestrictPublicBuckets) {
                    findings.push({
                        ...base,
                        status: "pass",
                        severity: "informational",
                        title: titles.policy,
                        evidence: { ...evidence, neutralisedBy: `RestrictPublicBuckets (${from("RestrictPublicBuckets")})`, note: "S3 limits this public policy to the bucket owner's account and AWS services while RestrictPublicBuckets is on." },
                    });
                } else {
                    findings.push({
                        ...base,
                        status: "fail",
                        severity: write ? "critical" : "high",
                        title: titles.policy,
                        evidence: {
                            ...evidence,
                            ...(effective.BlockPublicPolicy
                                ? { note: `BlockPublicPolicy (${from("BlockPublicPolicy")}) is on, but it only refuses new public policies: this one stays in effect until RestrictPublicBuckets is on or the policy changes.` }
                                : {}),
                        },
                    });
                }
            }
        }
    } catch (error) {
        findings.push({ ...base, status: "error", severity: "high", title: titles.policy, evidence: { error: errorText(error) } });
    }

    // The ACL.
    try {
        const acl = await s3.send(new GetBucketAclCommand({ Bucket: bucket.name }));
        const grants = publicAclGrants(acl.Grants ?? []);
        const write = grants.some((g) => WRITE_PERMISSIONS.has(g.permission));
        const severity: Severity = grants.length === 0 ? "informational" : write ? "critical" : "high";
        aclPublic = grants.length > 0 && !effective.IgnorePublicAcls;
        if (grants.length === 0) {
            findings.push({ ...base, status: "pass", severity, title: titles.acl, evidence: { publicGrants: [] } });
        } else if (effective.IgnorePublicAcls) {
            findings.push({
                ...base,
                status: "pass",
                severity: "informational",
                title: titles.acl,
                evidence: { publicGrants: grants, neutralisedBy: `IgnorePublicAcls (${from("IgnorePublicAcls")})`, note: "S3 ignores these grants while IgnorePublicAcls is on." },
            });
        } else {
            findings.push({ ...base, status: "fail", severity, title: titles.acl, evidence: { publicGrants: grants } });
        }
    } catch (error) {
        findings.push({ ...base, status: "error", severity: "high", title: titles.acl, evidence: { error: errorText(error) } });
    }
    const record: CollectedBucket = {
        name: bucket.name,
        region: bucket.region,
        accountBlock: accountKnown ? account : null,
        bucketBlock: own ?? null,
        policyPublic,
        aclPublic,
        policyStatusIsPublic,
    };
    return { findings, record };
}

/** S3's own verdict, or "unknown" when it gives none (or the call is refused): corroboration only. */
async function policyStatus(s3: S3Client, bucket: string): Promise<boolean | "unknown"> {
    try {
        const status = await s3.send(new GetBucketPolicyStatusCommand({ Bucket: bucket }));
        return typeof status.PolicyStatus?.IsPublic === "boolean" ? status.PolicyStatus.IsPublic : "unknown";
    } catch {
        return "unknown";
    }
}

const EMULATOR_HOST = /^(?:localhost|\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-f:]+\])$/i;

/**
 * S3 Control's endpoint rules put the account id in front of the endpoint's host
 * (`<account>.s3-control.<region>…`). Against an emulator reached by IP address or `localhost`
 * (AWS_ENDPOINT_URL for moto or LocalStack, as in `npm run audit:demo` and the tests) that is no
 * valid host at all (`222222222222.127.0.0.1` parses as a bad IPv4 address), so there, and only
 * there, the client is sent to the endpoint as given; the account still travels in the
 * `x-amz-account-id` header. Real AWS endpoints are untouched.
 */
export function emulatorFriendly(client: S3ControlClient, env: NodeJS.ProcessEnv = process.env): S3ControlClient {
    const given = env["AWS_ENDPOINT_URL_S3_CONTROL"] ?? env["AWS_ENDPOINT_URL"];
    if (given === undefined || given === "") return client;
    let url: URL;
    try {
        url = new URL(given);
    } catch {
        return client;
    }
    if (EMULATOR_HOST.test(url.hostname)) {
        (client.config as unknown as { endpointProvider: () => { url: URL } }).endpointProvider = () => ({ url: new URL(url.href) });
    }
    return client;
}
