/**
 * A loopback HTTP front for moto's S3 that authorizes object requests the way S3 does, bucket
 * policy conditions included.
 *
 * Why: moto enforces a bucket policy on object requests (moto/s3/responses.py `_key_response`,
 * `bucket.get_permission`) without evaluating any condition, so every Deny statement whose Action
 * and Resource match denies, whoever asks. With the key vault's policy (Deny statements guarded by
 * conditions on aws:PrincipalArn, ec2:SourceInstanceARN, tags, If-None-Match, …) that is every
 * GET, PUT and DELETE of an object. Everything that talks to the vault in a test (the test
 * provider plugin, the InstanceKey dynamic provider in Pulumi's own host, a test playing an
 * instance) points its S3 endpoint here (AWS_ENDPOINT_URL_S3, path-style) instead.
 *
 * For an object request (`/<bucket>/<key…>`) the front, serialized per bucket:
 *  1. reads the bucket policy from moto and, if there is one, lifts it (DeleteBucketPolicy);
 *  2. builds the request context S3 would (aws:SecureTransport true, as over S3's HTTPS;
 *     aws:PrincipalArn; ec2:SourceInstanceARN for an instance's credentials; for a PutObject its
 *     SSE headers, `s3:if-none-match`, and `s3:RequestObjectTag/<k>` / `s3:RequestObjectTagKeys`
 *     from x-amz-tagging; `s3:ExistingObjectTag/<k>` from the object's current tags in moto for the
 *     reads and tagging actions that have it);
 *  3. evaluates it with @cloud-copilot/iam-simulate (./iamSimulator.ts) against the caller's
 *     identity policies and the bucket policy. A PutObject carrying x-amz-tagging is also evaluated
 *     as s3:PutObjectTagging with the same request tags, as S3 authorizes it;
 *  4. answers 403 AccessDenied (S3's XML and message) when that is denied, explicitly or
 *     implicitly; otherwise forwards the request to moto unchanged (test headers removed);
 *  5. puts the policy back (in `finally`, whatever happened).
 * Requests to a bucket's `?policy` and DeleteBucket wait in the same per-bucket queue, so that
 * nobody going through the front sees the gap or has a policy change undone by step 5. Every other
 * request (ListObjectsV2, bucket settings, ListBuckets) is forwarded verbatim: moto does not enforce
 * bucket policies on them, and neither does the front (DeleteObjects, a bucket-level POST, is not
 * judged either).
 *
 * Who is calling: SigV4 does not tell (moto maps every access key to one user), so
 *  - by default the deployer: the identity moto's STS reports for the front's credentials
 *    (`arn:aws:sts::<acct>:user/moto`, which AWS spells `arn:aws:iam::<acct>:user/moto` for a
 *    user; see callerIamArn), with an identity policy allowing everything;
 *  - with the test-only headers `x-airlock-test-instance-arn: <instance ARN>` and
 *    `x-airlock-test-role-name: <role name>`, that instance's role session
 *    (`arn:aws:sts::<acct>:assumed-role/<role>/<instance id>`, aws:PrincipalArn the role's ARN with
 *    its path, ec2:SourceInstanceARN the instance), whose identity policies are the role's real
 *    inline and attached managed policies, read from moto IAM at each request (phase policies
 *    change during a run). Both headers are removed before forwarding.
 * Not modelled: KMS (S3 calling kms:GenerateDataKey / kms:Decrypt for SSE-KMS), x-amz-copy-source
 * (the source's s3:GetObject), presigned URLs, S3 Block Public Access.
 *
 * Responses to judged object requests carry `x-airlock-s3-policy-front: judged`, so a client can
 * tell that its object requests went through a front (the test plugin refuses them otherwise).
 */
import * as http from "http";
import type * as iamsdk from "@aws-sdk/client-iam";
import type * as s3sdk from "@aws-sdk/client-s3";
import type * as stssdk from "@aws-sdk/client-sts";
import type * as simulator from "./iamSimulator";
import { listenOnLoopback } from "./loopback";
import type { Decision } from "./iamSimulator";

// Loaded when used: the test provider plugin imports this module's small helpers at every start.
const S3 = (): typeof s3sdk => require("@aws-sdk/client-s3") as typeof s3sdk;
const IAM = (): typeof iamsdk => require("@aws-sdk/client-iam") as typeof iamsdk;
const STS = (): typeof stssdk => require("@aws-sdk/client-sts") as typeof stssdk;
const SIMULATOR = (): typeof simulator => require("./iamSimulator") as typeof simulator;

/** Test-only request header: the request comes from this instance (its instance-profile credentials)… */
export const INSTANCE_ARN_HEADER = "x-airlock-test-instance-arn";
/** …whose role is this one (by name). */
export const ROLE_NAME_HEADER = "x-airlock-test-role-name";
/** Set on the answer to every object request the front judged. */
export const FRONT_MARKER_HEADER = "x-airlock-s3-policy-front";

/**
 * The ARN AWS gives an IAM user: moto's STS answers `arn:aws:sts::<acct>:user/<name>` for one,
 * real STS (and IAM, and aws:PrincipalArn) `arn:aws:iam::<acct>:user/<name>`. Anything else is
 * returned unchanged.
 */
export function callerIamArn(arn: string): string {
    return arn.replace(/^arn:([^:]+):sts::(\d{12}):user\//, "arn:$1:iam::$2:user/");
}

// ---------------------------------------------------------------------------------------------
// What S3 authorizes for an object request (pure)
// ---------------------------------------------------------------------------------------------

/** The IAM action S3 authorizes for an object request, from its method and subresources. */
export function s3ObjectAction(method: string, query: Readonly<Record<string, string>> = {}): string {
    const m = method.toUpperCase();
    const version = "versionId" in query;
    if ("tagging" in query) {
        const verb = m === "GET" ? "Get" : m === "PUT" ? "Put" : "Delete";
        return `s3:${verb}Object${version ? "Version" : ""}Tagging`;
    }
    if ("acl" in query) return m === "GET" ? `s3:GetObject${version ? "Version" : ""}Acl` : `s3:PutObject${version ? "Version" : ""}Acl`;
    if ("retention" in query) return m === "GET" ? "s3:GetObjectRetention" : "s3:PutObjectRetention";
    if ("legal-hold" in query) return m === "GET" ? "s3:GetObjectLegalHold" : "s3:PutObjectLegalHold";
    if ("attributes" in query) return version ? "s3:GetObjectVersionAttributes" : "s3:GetObjectAttributes";
    if ("torrent" in query) return "s3:GetObjectTorrent";
    if ("uploadId" in query) return m === "GET" ? "s3:ListMultipartUploadParts" : m === "DELETE" ? "s3:AbortMultipartUpload" : "s3:PutObject";
    if (m === "POST") return "restore" in query ? "s3:RestoreObject" : "select" in query ? "s3:GetObject" : "s3:PutObject";
    if (m === "PUT") return "s3:PutObject";
    if (m === "DELETE") return version ? "s3:DeleteObjectVersion" : "s3:DeleteObject";
    return version ? "s3:GetObjectVersion" : "s3:GetObject";
}

/** Actions whose request context has `s3:ExistingObjectTag/<key>` (the object's current tags). */
const EXISTING_TAG_ACTIONS = new Set([
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
    "s3:GetObjectVersionTagging",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging",
    "s3:GetObjectAcl",
    "s3:GetObjectVersionAcl",
    "s3:PutObjectAcl",
    "s3:PutObjectVersionAcl",
]);

export function needsExistingTags(action: string): boolean {
    return EXISTING_TAG_ACTIONS.has(action);
}

export interface ObjectRequest {
    readonly method: string;
    readonly query?: Readonly<Record<string, string>>;
    /** Any case. */
    readonly headers?: Readonly<Record<string, string>>;
    readonly body?: Uint8Array | string;
}

export type S3Tags = Readonly<Record<string, string>>;

/** Tags in an `x-amz-tagging` header: a URL-encoded query string (`k1=v1&k2=v2`). */
export function parseTaggingHeader(value: string): Record<string, string> {
    const tags: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(value)) tags[k] = v;
    return tags;
}

/** XML text with its entities decoded (S3's answers). */
export function xmlUnescape(text: string): string {
    return text
        .replace(/&lt;/g, "<")
        .replace(/&gt;/g, ">")
        .replace(/&quot;/g, '"')
        .replace(/&apos;/g, "'")
        .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
        .replace(/&amp;/g, "&");
}

/** Tags in a `<Tagging><TagSet><Tag><Key/><Value/></Tag>…` document. */
export function parseTagSetXml(xml: string): Record<string, string> {
    const tags: Record<string, string> = {};
    for (const m of xml.matchAll(/<Tag>([\s\S]*?)<\/Tag>/g)) {
        const inner = m[1] ?? "";
        const key = /<Key>([\s\S]*?)<\/Key>/.exec(inner)?.[1];
        if (key !== undefined) tags[xmlUnescape(key.trim())] = xmlUnescape((/<Value>([\s\S]*?)<\/Value>/.exec(inner)?.[1] ?? "").trim());
    }
    return tags;
}

function lowerCaseHeaders(headers: Readonly<Record<string, string>> | undefined): Record<string, string> {
    return Object.fromEntries(Object.entries(headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
}

function tagContext(prefix: "RequestObjectTag" | "ExistingObjectTag", tags: S3Tags): Record<string, string | string[]> {
    const context: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(tags)) context[`s3:${prefix}/${k}`] = v;
    if (prefix === "RequestObjectTag" && Object.keys(tags).length > 0) context["s3:RequestObjectTagKeys"] = Object.keys(tags);
    return context;
}

export interface AuthorizationCheck {
    readonly action: string;
    /** The request's own S3 condition keys (the caller's are added by the front). */
    readonly context: Record<string, string | string[]>;
}

/**
 * The authorizations S3 makes for one object request, each with the S3 condition keys it carries:
 * one action, plus s3:PutObjectTagging for a PutObject with x-amz-tagging. `existingTags` are the
 * object's current tags (undefined: it does not exist), used where the action has
 * s3:ExistingObjectTag.
 */
export function s3AuthorizationChecks(req: ObjectRequest, existingTags?: S3Tags): AuthorizationCheck[] {
    const query = req.query ?? {};
    const headers = lowerCaseHeaders(req.headers);
    const action = s3ObjectAction(req.method, query);
    const existing = needsExistingTags(action) && existingTags !== undefined ? tagContext("ExistingObjectTag", existingTags) : {};
    // A PutObject, or the CreateMultipartUpload that starts one: the headers the object is stored with.
    const method = req.method.toUpperCase();
    if (action === "s3:PutObject" && ((method === "PUT" && !("uploadId" in query)) || (method === "POST" && "uploads" in query))) {
        const context: Record<string, string | string[]> = {};
        for (const key of ["x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id", "if-none-match", "if-match"]) {
            const v = headers[key];
            if (v !== undefined) context[`s3:${key}`] = v;
        }
        const tagging = headers["x-amz-tagging"];
        if (tagging === undefined) return [{ action, context }];
        const requestTags = tagContext("RequestObjectTag", parseTaggingHeader(tagging));
        return [
            { action, context: { ...context, ...requestTags } },
            { action: "s3:PutObjectTagging", context: requestTags },
        ];
    }
    if (action === "s3:PutObjectTagging" || action === "s3:PutObjectVersionTagging") {
        const body = typeof req.body === "string" ? req.body : Buffer.from(req.body ?? new Uint8Array()).toString("utf8");
        return [{ action, context: { ...existing, ...tagContext("RequestObjectTag", parseTagSetXml(body)) } }];
    }
    return [{ action, context: existing }];
}

/** The worst of several decisions: any explicit deny, else any implicit one, else allowed. */
export function combineDecisions(decisions: readonly Decision[]): Decision {
    if (decisions.includes("ExplicitlyDenied")) return "ExplicitlyDenied";
    if (decisions.includes("ImplicitlyDenied")) return "ImplicitlyDenied";
    return "Allowed";
}

/** S3's AccessDenied message for a denied action (the detailed form S3 answers since 2024). */
export function accessDeniedMessage(principal: string, action: string, resource: string, decision: Exclude<Decision, "Allowed">): string {
    const why = decision === "ExplicitlyDenied" ? "with an explicit deny in a resource-based policy" : `because no identity-based policy allows the ${action} action`;
    return `User: ${principal} is not authorized to perform: ${action} on resource: "${resource}" ${why}`;
}

// ---------------------------------------------------------------------------------------------
// Callers
// ---------------------------------------------------------------------------------------------

export interface Caller {
    /** As the request is signed: an IAM user, or an assumed-role session. */
    readonly principal: string;
    /** aws:PrincipalArn: the user, or the role (with its path), never a session. */
    readonly principalArn: string;
    readonly sourceInstanceArn?: string;
    readonly identityPolicies: readonly object[];
}

const ALLOW_EVERYTHING = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] };

function decodePolicy(document: string | undefined): object {
    return JSON.parse(decodeURIComponent(document ?? "{}")) as object;
}

/** The identity policies of a role as IAM holds them: every inline policy and every attached managed policy's default version. */
async function rolePolicies(iam: iamsdk.IAMClient, roleName: string): Promise<object[]> {
    const sdk = IAM();
    const policies: object[] = [];
    let marker: string | undefined;
    do {
        const page: iamsdk.ListRolePoliciesCommandOutput = await iam.send(new sdk.ListRolePoliciesCommand({ RoleName: roleName, Marker: marker }));
        for (const name of page.PolicyNames ?? []) {
            policies.push(decodePolicy((await iam.send(new sdk.GetRolePolicyCommand({ RoleName: roleName, PolicyName: name }))).PolicyDocument));
        }
        marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker !== undefined);
    do {
        const page: iamsdk.ListAttachedRolePoliciesCommandOutput = await iam.send(new sdk.ListAttachedRolePoliciesCommand({ RoleName: roleName, Marker: marker }));
        for (const attached of page.AttachedPolicies ?? []) {
            const policy = (await iam.send(new sdk.GetPolicyCommand({ PolicyArn: attached.PolicyArn }))).Policy;
            const version = await iam.send(new sdk.GetPolicyVersionCommand({ PolicyArn: attached.PolicyArn, VersionId: policy?.DefaultVersionId }));
            policies.push(decodePolicy(version.PolicyVersion?.Document));
        }
        marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker !== undefined);
    return policies;
}

// ---------------------------------------------------------------------------------------------
// The front
// ---------------------------------------------------------------------------------------------

export interface FrontDecision {
    readonly method: string;
    readonly bucket: string;
    readonly key: string;
    /** The actions evaluated (two for a PutObject with tags). */
    readonly actions: readonly string[];
    /** aws:PrincipalArn of the caller. */
    readonly principalArn: string;
    readonly sourceInstanceArn?: string;
    readonly decision: Decision;
    /** Whether the bucket had a policy (else only identity policies decided). */
    readonly bucketPolicy: boolean;
}

export interface S3PolicyFront {
    /** http://127.0.0.1:<port>: use as AWS_ENDPOINT_URL_S3 (path-style). */
    readonly endpoint: string;
    /** Every object request judged, oldest first (never bodies or header values beyond these). */
    readonly decisions: FrontDecision[];
    /** Problems the front met (failed forwards, failed restores), for a test to show. */
    readonly problems: string[];
    stop(): Promise<void>;
}

export interface S3PolicyFrontOptions {
    /** moto's endpoint (http://127.0.0.1:<port>): where requests are forwarded, and where the front reads policies, tags and IAM. */
    readonly upstream: string;
    readonly region: string;
    /** The front's own credentials for its calls to moto; also decide who the default caller (the deployer) is. */
    readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

/** The options for a front in front of a moto from ./moto.ts. */
export function frontOptionsFor(moto: { endpoint: string; env: Readonly<Record<string, string>> }): S3PolicyFrontOptions {
    return {
        upstream: moto.endpoint,
        region: moto.env.AWS_REGION ?? "eu-west-1",
        credentials: { accessKeyId: moto.env.AWS_ACCESS_KEY_ID ?? "testing", secretAccessKey: moto.env.AWS_SECRET_ACCESS_KEY ?? "testing" },
    };
}

export interface FrontClientOptions {
    readonly region: string;
    readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
    /** Call as this instance (its role session); default: the deployer. */
    readonly instance?: { readonly arn: string; readonly roleName: string };
}

/**
 * An S3 client that talks to a front, path-style, as the deployer or as an instance. The instance
 * headers are added after signing (they are not part of any real request), once per attempt.
 */
export function s3ClientFor(front: Pick<S3PolicyFront, "endpoint">, options: FrontClientOptions): s3sdk.S3Client {
    const client = new (S3().S3Client)({ region: options.region, endpoint: front.endpoint, credentials: options.credentials, forcePathStyle: true, maxAttempts: 1 });
    const instance = options.instance;
    if (instance !== undefined) {
        client.middlewareStack.add(
            (next) => async (args) => {
                const request = args.request as { headers?: Record<string, string> };
                if (request.headers !== undefined) {
                    request.headers[INSTANCE_ARN_HEADER] = instance.arn;
                    request.headers[ROLE_NAME_HEADER] = instance.roleName;
                }
                return next(args);
            },
            { step: "deserialize", name: "airlockTestInstanceCaller", priority: "low" },
        );
    }
    return client;
}

interface Target {
    readonly bucket?: string;
    readonly key?: string;
    readonly query: Record<string, string>;
}

function targetOf(url: string): Target {
    const parsed = new URL(url, "http://front.invalid");
    const query: Record<string, string> = {};
    for (const [k, v] of parsed.searchParams) query[k] = v;
    const path = parsed.pathname.replace(/^\//, "");
    if (path === "") return { query };
    const slash = path.indexOf("/");
    // S3 decodes the path's percent-encoding ('+' stays a plus).
    if (slash < 0) return { bucket: decodeURIComponent(path), query };
    const key = decodeURIComponent(path.slice(slash + 1));
    return { bucket: decodeURIComponent(path.slice(0, slash)), key: key === "" ? undefined : key, query };
}

function errorName(err: unknown): string {
    return (err as { name?: string; Code?: string }).name ?? (err as { Code?: string }).Code ?? "";
}

export async function startS3PolicyFront(options: S3PolicyFrontOptions): Promise<S3PolicyFront> {
    const upstream = new URL(options.upstream);
    const [s3sdk, iamsdk, stssdk] = [S3(), IAM(), STS()];
    const clientConfig = { region: options.region, endpoint: options.upstream, credentials: options.credentials, maxAttempts: 1 };
    const s3 = new s3sdk.S3Client({ ...clientConfig, forcePathStyle: true });
    const iam = new iamsdk.IAMClient(clientConfig);
    const sts = new stssdk.STSClient(clientConfig);
    const decisions: FrontDecision[] = [];
    const problems: string[] = [];
    const queues = new Map<string, Promise<unknown>>();

    let me: Promise<{ account: string; arn: string }> | undefined;
    const deployer = (): Promise<{ account: string; arn: string }> => {
        me ??= sts.send(new stssdk.GetCallerIdentityCommand({})).then((r) => {
            if (!r.Account || !r.Arn) throw new Error("s3PolicyFront: STS GetCallerIdentity answered no account or ARN");
            return { account: r.Account, arn: callerIamArn(r.Arn) };
        });
        me.catch(() => (me = undefined));
        return me;
    };

    const callerOf = async (headers: http.IncomingHttpHeaders): Promise<Caller> => {
        const { account, arn } = await deployer();
        const instanceArn = headerValue(headers[INSTANCE_ARN_HEADER]);
        const roleName = headerValue(headers[ROLE_NAME_HEADER]);
        if (instanceArn === undefined && roleName === undefined) return { principal: arn, principalArn: arn, identityPolicies: [ALLOW_EVERYTHING] };
        if (instanceArn === undefined || roleName === undefined) throw new FrontError(400, "InvalidRequest", `s3PolicyFront: ${INSTANCE_ARN_HEADER} and ${ROLE_NAME_HEADER} go together`);
        const instanceId = /:instance\/(i-[0-9a-f]+)$/.exec(instanceArn)?.[1];
        if (instanceId === undefined) throw new FrontError(400, "InvalidRequest", `s3PolicyFront: ${INSTANCE_ARN_HEADER} is not an instance ARN: ${instanceArn}`);
        const role = (await iam.send(new iamsdk.GetRoleCommand({ RoleName: roleName }))).Role;
        if (role?.Arn === undefined) throw new FrontError(400, "InvalidRequest", `s3PolicyFront: moto has no role ${roleName}`);
        return {
            principal: `arn:${role.Arn.split(":")[1] ?? "aws"}:sts::${account}:assumed-role/${roleName}/${instanceId}`,
            principalArn: role.Arn,
            sourceInstanceArn: instanceArn,
            identityPolicies: await rolePolicies(iam, roleName),
        };
    };

    const serialized = <T>(bucket: string, run: () => Promise<T>): Promise<T> => {
        const previous = queues.get(bucket) ?? Promise.resolve();
        const next = previous.then(run, run);
        const settled = next.then(
            () => undefined,
            () => undefined,
        );
        queues.set(bucket, settled);
        void settled.then(() => {
            if (queues.get(bucket) === settled) queues.delete(bucket);
        });
        return next;
    };

    const bucketPolicy = async (bucket: string): Promise<string | undefined | null> => {
        try {
            const out = await s3.send(new s3sdk.GetBucketPolicyCommand({ Bucket: bucket }));
            return out.Policy === undefined || out.Policy.trim() === "" ? undefined : out.Policy;
        } catch (err) {
            if (errorName(err) === "NoSuchBucketPolicy") return undefined;
            if (errorName(err) === "NoSuchBucket") return null;
            throw err;
        }
    };

    const objectTags = async (bucket: string, key: string, versionId: string | undefined): Promise<S3Tags | undefined> => {
        try {
            return Object.fromEntries(
                ((await s3.send(new s3sdk.GetObjectTaggingCommand({ Bucket: bucket, Key: key, VersionId: versionId }))).TagSet ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]),
            );
        } catch (err) {
            if (["NoSuchKey", "NotFound", "NoSuchVersion"].includes(errorName(err))) return undefined;
            throw err;
        }
    };

    /** The answer to an object request, complete before the policy is back (and sent only after). */
    const judgeAndForward = async (req: http.IncomingMessage, body: Buffer, target: Required<Pick<Target, "bucket" | "key">> & Target): Promise<Reply> => {
        const { bucket, key, query } = target;
        const policy = await bucketPolicy(bucket);
        if (policy === null) {
            // No such bucket: moto answers NoSuchBucket, as S3 would.
            return judged(await forward(req, body, upstream));
        }
        if (policy !== undefined) await s3.send(new s3sdk.DeleteBucketPolicyCommand({ Bucket: bucket }));
        try {
            const headers = Object.fromEntries(Object.entries(req.headers).flatMap(([k, v]) => (v === undefined ? [] : [[k, Array.isArray(v) ? v.join(",") : v]])));
            const request: ObjectRequest = { method: req.method ?? "GET", query, headers, body };
            const action = s3ObjectAction(request.method, query);
            const existing = needsExistingTags(action) ? await objectTags(bucket, key, query.versionId) : undefined;
            const checks = s3AuthorizationChecks(request, existing);
            const caller = await callerOf(req.headers);
            const { account } = await deployer();
            const { simulate } = SIMULATOR();
            const partition = caller.principalArn.split(":")[1] ?? "aws";
            const resource = `arn:${partition}:s3:::${bucket}/${key}`;
            const results: Decision[] = [];
            for (const check of checks) {
                results.push(
                    await simulate({
                        identityPolicies: [...caller.identityPolicies],
                        ...(policy === undefined ? {} : { resourcePolicy: JSON.parse(policy) as object }),
                        principal: caller.principal,
                        action: check.action,
                        resource,
                        resourceAccount: account,
                        context: {
                            "aws:SecureTransport": "true",
                            "aws:PrincipalArn": caller.principalArn,
                            ...(caller.sourceInstanceArn === undefined ? {} : { "ec2:SourceInstanceARN": caller.sourceInstanceArn }),
                            ...check.context,
                        },
                    }),
                );
            }
            const decision = combineDecisions(results);
            decisions.push({
                method: request.method,
                bucket,
                key,
                actions: checks.map((c) => c.action),
                principalArn: caller.principalArn,
                ...(caller.sourceInstanceArn === undefined ? {} : { sourceInstanceArn: caller.sourceInstanceArn }),
                decision,
                bucketPolicy: policy !== undefined,
            });
            if (decision !== "Allowed") {
                const denied = checks[results.findIndex((r) => r === decision)]?.action ?? action;
                return errorReply(request.method, 403, "AccessDenied", accessDeniedMessage(caller.principal, denied, resource, decision));
            }
            return judged(await forward(req, body, upstream));
        } finally {
            if (policy !== undefined) {
                try {
                    await s3.send(new s3sdk.PutBucketPolicyCommand({ Bucket: bucket, Policy: policy }));
                } catch (err) {
                    problems.push(`could not restore the policy of ${bucket}: ${errorName(err)} ${(err as Error).message}`);
                    throw err;
                }
            }
        }
    };

    const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
        const body = await readBody(req);
        const target = targetOf(req.url ?? "/");
        const { bucket, key } = target;
        let reply: Reply;
        if (bucket !== undefined && key !== undefined) {
            reply = await serialized(bucket, () => judgeAndForward(req, body, { ...target, bucket, key }));
        } else if (bucket !== undefined && ("policy" in target.query || (req.method === "DELETE" && Object.keys(target.query).length === 0))) {
            reply = await serialized(bucket, () => forward(req, body, upstream));
        } else {
            reply = await forward(req, body, upstream);
        }
        send(res, reply);
    };

    const server = http.createServer((req, res) => {
        handle(req, res).catch((err: unknown) => {
            const status = err instanceof FrontError ? err.status : 502;
            const code = err instanceof FrontError ? err.code : "InternalError";
            const message = err instanceof FrontError ? err.message : `s3PolicyFront: ${errorName(err)} ${(err as Error)?.message ?? String(err)}`;
            if (!(err instanceof FrontError)) problems.push(message);
            if (!res.headersSent) send(res, errorReply(req.method ?? "GET", status, code, message));
            else res.destroy();
        });
    });
    const listening = await listenOnLoopback(server);
    let stopping: Promise<void> | undefined;
    return {
        endpoint: listening.endpoint,
        decisions,
        problems,
        stop() {
            stopping ??= (async () => {
                await Promise.allSettled([...queues.values()]);
                await listening.close();
                s3.destroy();
                iam.destroy();
                sts.destroy();
            })();
            return stopping;
        },
    };
}

class FrontError extends Error {
    constructor(
        readonly status: number,
        readonly code: string,
        message: string,
    ) {
        super(message);
    }
}

function headerValue(v: string | string[] | undefined): string | undefined {
    return Array.isArray(v) ? v[0] : v;
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.once("end", () => resolve(Buffer.concat(chunks)));
        req.once("error", reject);
    });
}

function xmlEscape(text: string): string {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

interface Reply {
    readonly status: number;
    readonly headers: http.OutgoingHttpHeaders;
    readonly body: Buffer;
}

function judged(reply: Reply): Reply {
    return { ...reply, headers: { ...reply.headers, [FRONT_MARKER_HEADER]: "judged" } };
}

/** An S3 error answer (no body for HEAD, as S3). */
function errorReply(method: string, status: number, code: string, message: string): Reply {
    const body = method === "HEAD" ? "" : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message><RequestId>s3-policy-front</RequestId></Error>`;
    return { status, headers: { "content-type": "application/xml", "x-amz-request-id": "s3-policy-front", [FRONT_MARKER_HEADER]: "judged" }, body: Buffer.from(body) };
}

function send(res: http.ServerResponse, reply: Reply): void {
    const headers = { ...reply.headers };
    delete headers["transfer-encoding"];
    // A HEAD answer keeps moto's content-length (the object's size) and has no body.
    if (headers["content-length"] === undefined || reply.body.length > 0) headers["content-length"] = String(reply.body.length);
    res.writeHead(reply.status, headers);
    res.end(reply.body.length > 0 ? reply.body : undefined);
}

/** Sends the request on to moto as it came (test headers removed) and reads its whole answer. */
function forward(req: http.IncomingMessage, body: Buffer, upstream: URL): Promise<Reply> {
    return new Promise((resolve, reject) => {
        const headers: http.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(req.headers)) {
            if (k === INSTANCE_ARN_HEADER || k === ROLE_NAME_HEADER || v === undefined) continue;
            headers[k] = v;
        }
        if (headers["transfer-encoding"] !== undefined) {
            delete headers["transfer-encoding"];
            headers["content-length"] = String(body.length);
        }
        const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
            const chunks: Buffer[] = [];
            answer.on("data", (c: Buffer) => chunks.push(c));
            answer.once("end", () => resolve({ status: answer.statusCode ?? 502, headers: { ...answer.headers }, body: Buffer.concat(chunks) }));
            answer.once("error", reject);
        });
        out.once("error", reject);
        out.end(body);
    });
}
