/**
 * CloudTrail log files as a trail writes them, for the tests and the benchmark of issue 11's
 * CloudTrail ingestion (audit/records/cloudtrail/). moto does not run CloudTrail's delivery, so
 * these are written here and put into a moto bucket at the keys a trail would use.
 *
 * Written after (not copied from) the CloudTrail User Guide's "CloudTrail record contents for
 * management events", "CloudTrail userIdentity element" (IAMUser, AssumedRole with sessionContext,
 * Root, AWSService with invokedBy), "AWS console sign-in events" (ConsoleLogin's
 * responseElements.ConsoleLogin and additionalEventData.MFAUsed), "Finding your CloudTrail log
 * files" (key layout, file names) and test/fixtures/cloudtrail/ (records as EventBridge carries
 * them). Records carry eventVersion 1.10 (1.09 for console sign-ins, as AWS still writes them),
 * managementEvent, eventCategory, recipientAccountId, tlsDetails for calls over TLS to an endpoint,
 * ec2RoleDelivery for instance-profile sessions, vpcEndpointId/vpcEndpointAccountId through an
 * endpoint, and fields in the order AWS writes them.
 *
 *   const key = trailLogKey({ accountId, region: "eu-west-1", time });
 *   await putTrailLog(s3, bucket, key, [apiCall({...}), consoleLogin({...})]);
 *   await writeSyntheticTrail(s3, bucket, { events: 1_000_000, perFile: 2000 });   // the benchmark
 */
import * as zlib from "zlib";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";

export type TrailRecord = Record<string, unknown>;

/** A deterministic generator (mulberry32), so generated trails are the same from run to run. */
export function seededRandom(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}

const HEX = "0123456789abcdef";
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

function pick(random: () => number, alphabet: string, n: number): string {
    let out = "";
    for (let i = 0; i < n; i++) out += alphabet[Math.floor(random() * alphabet.length)];
    return out;
}

let fallbackRandom = seededRandom(20261201);

/** A v4-shaped UUID (CloudTrail's eventID and requestID look like this). */
export function uuid(random: () => number = fallbackRandom): string {
    const h = pick(random, HEX, 32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${"89ab"[Math.floor(random() * 4)]}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Resets the module's default generator (tests that compare two generated trails). */
export function resetRandom(seed = 20261201): void {
    fallbackRandom = seededRandom(seed);
}

/** A small string hash (FNV-1a), to seed ids that must stay the same for the same name. */
function hashOf(text: string): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
    return h;
}

function principalIdSuffix(random: () => number): string {
    return pick(random, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17);
}

// userIdentity variants ---------------------------------------------------------------------------

export function iamUser(accountId: string, userName: string, options: { accessKeyId?: string; mfa?: boolean; path?: string } = {}): TrailRecord {
    return {
        type: "IAMUser",
        principalId: `AIDA${principalIdSuffix(seededRandom(hashOf(`${accountId}/${userName}`)))}`,
        arn: `arn:aws:iam::${accountId}:user${options.path ?? "/"}${userName}`,
        accountId,
        ...(options.accessKeyId !== undefined ? { accessKeyId: options.accessKeyId } : {}),
        userName,
        ...(options.mfa !== undefined
            ? { sessionContext: { sessionIssuer: {}, webIdFederationData: {}, attributes: { creationDate: "2026-12-01T08:00:00Z", mfaAuthenticated: String(options.mfa) } } }
            : {}),
    };
}

export interface AssumedRoleOptions {
    readonly accountId: string;
    readonly roleName: string;
    /** The role's path, e.g. "/airlock/" for Airlock's instance roles. @default "/" */
    readonly path?: string;
    readonly sessionName: string;
    readonly accessKeyId?: string;
    readonly mfa?: boolean;
    /** An instance-profile session (EC2 delivers the credentials): adds ec2RoleDelivery "2.0" (IMDSv2). */
    readonly instanceProfile?: boolean;
    /** Set for a call an AWS service makes with the session. */
    readonly invokedBy?: string;
}

export function assumedRole(o: AssumedRoleOptions): TrailRecord {
    const roleId = `AROA${principalIdSuffix(seededRandom(hashOf(`${o.accountId}/${o.roleName}`)))}`;
    return {
        type: "AssumedRole",
        principalId: `${roleId}:${o.sessionName}`,
        arn: `arn:aws:sts::${o.accountId}:assumed-role/${o.roleName}/${o.sessionName}`,
        accountId: o.accountId,
        accessKeyId: o.accessKeyId ?? `ASIA${principalIdSuffix(seededRandom(hashOf(`${o.accountId}/${o.roleName}/${o.sessionName}`))).slice(0, 16)}`,
        sessionContext: {
            sessionIssuer: { type: "Role", principalId: roleId, arn: `arn:aws:iam::${o.accountId}:role${o.path ?? "/"}${o.roleName}`, accountId: o.accountId, userName: o.roleName },
            webIdFederationData: {},
            attributes: { creationDate: "2026-12-01T08:00:00Z", mfaAuthenticated: String(o.mfa ?? false) },
            ...(o.instanceProfile === true ? { ec2RoleDelivery: "2.0" } : {}),
        },
        ...(o.invokedBy !== undefined ? { invokedBy: o.invokedBy } : {}),
    };
}

/** An Airlock instance's session: role under /airlock/, session name = instance id, credentials from IMDSv2. */
export function airlockInstance(accountId: string, instanceId: string, roleName = "airlock-web-1"): TrailRecord {
    return assumedRole({ accountId, roleName, path: "/airlock/", sessionName: instanceId, instanceProfile: true });
}

export function root(accountId: string, options: { accessKeyId?: string; invokedBy?: string } = {}): TrailRecord {
    return {
        type: "Root",
        principalId: accountId,
        arn: `arn:aws:iam::${accountId}:root`,
        accountId,
        ...(options.accessKeyId !== undefined ? { accessKeyId: options.accessKeyId } : {}),
        ...(options.invokedBy !== undefined ? { invokedBy: options.invokedBy } : {}),
    };
}

export function awsService(invokedBy: string): TrailRecord {
    return { type: "AWSService", invokedBy };
}

// Records -----------------------------------------------------------------------------------------

export interface ApiCallInput {
    readonly identity: TrailRecord;
    readonly eventName: string;
    /** e.g. "ec2.amazonaws.com". */
    readonly eventSource: string;
    readonly time: Date | string;
    readonly region?: string;
    /** The account the event is delivered to. @default the identity's accountId */
    readonly recipientAccountId?: string;
    readonly sourceIp?: string;
    readonly userAgent?: string;
    readonly requestParameters?: unknown;
    readonly responseElements?: unknown;
    readonly additionalEventData?: unknown;
    readonly errorCode?: string;
    readonly errorMessage?: string;
    readonly readOnly?: boolean;
    readonly resources?: unknown[];
    readonly eventType?: string;
    readonly vpcEndpointId?: string;
    readonly vpcEndpointAccountId?: string;
    readonly eventId?: string;
    readonly eventVersion?: string;
    readonly random?: () => number;
}

const SDK_AGENT = "aws-cli/2.27.49 md/awscrt#0.26.1 ua/2.1 os/linux#6.1.0-37-amd64 md/arch#x86_64 lang/python#3.13.4 md/pyimpl#CPython m/E,b,Z cfg/retry-mode#standard md/installer#exe md/distrib#debian.12 md/prompt#off md/command#ec2.describe-instances";

function isoTime(time: Date | string): string {
    return typeof time === "string" ? time : time.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** One management-event record, fields in the order CloudTrail writes them. */
export function apiCall(input: ApiCallInput): TrailRecord {
    const random = input.random ?? fallbackRandom;
    const region = input.region ?? "eu-west-1";
    const requestId = uuid(random);
    const service = input.eventSource.replace(/\.amazonaws\.com$/, "");
    const byService = input.identity.type === "AWSService";
    const record: TrailRecord = {
        eventVersion: input.eventVersion ?? "1.10",
        userIdentity: input.identity,
        eventTime: isoTime(input.time),
        eventSource: input.eventSource,
        eventName: input.eventName,
        awsRegion: region,
        sourceIPAddress: input.sourceIp ?? (byService ? String(input.identity.invokedBy) : "203.0.113.10"),
        userAgent: input.userAgent ?? (byService ? String(input.identity.invokedBy) : SDK_AGENT),
    };
    if (input.errorCode !== undefined) {
        record.errorCode = input.errorCode;
        record.errorMessage = input.errorMessage ?? `User is not authorized to perform: ${service}:${input.eventName}`;
    }
    record.requestParameters = input.requestParameters ?? null;
    record.responseElements = input.errorCode !== undefined ? null : (input.responseElements ?? null);
    if (input.additionalEventData !== undefined) record.additionalEventData = input.additionalEventData;
    record.requestID = requestId;
    record.eventID = input.eventId ?? uuid(random);
    record.readOnly = input.readOnly ?? /^(Describe|Get|List|Head|Lookup)/.test(input.eventName);
    if (input.resources !== undefined) record.resources = input.resources;
    record.eventType = input.eventType ?? "AwsApiCall";
    record.managementEvent = true;
    record.recipientAccountId = input.recipientAccountId ?? String(input.identity.accountId ?? "123456789012");
    if (input.vpcEndpointId !== undefined) {
        record.vpcEndpointId = input.vpcEndpointId;
        record.vpcEndpointAccountId = input.vpcEndpointAccountId ?? record.recipientAccountId;
    }
    record.eventCategory = "Management";
    if (!byService) {
        record.tlsDetails = { tlsVersion: "TLSv1.3", cipherSuite: "TLS_AES_128_GCM_SHA256", clientProvidedHostHeader: `${service}.${region}.amazonaws.com` };
    }
    return record;
}

export interface ConsoleLoginInput {
    readonly identity: TrailRecord;
    readonly time: Date | string;
    readonly success?: boolean;
    readonly mfaUsed?: boolean;
    readonly sourceIp?: string;
    readonly eventId?: string;
}

/** A ConsoleLogin record (signin.amazonaws.com, eventType AwsConsoleSignIn). */
export function consoleLogin(input: ConsoleLoginInput): TrailRecord {
    const success = input.success ?? true;
    const accountId = String(input.identity.accountId ?? input.identity.principalId ?? "123456789012");
    return {
        eventVersion: "1.09",
        userIdentity: input.identity,
        eventTime: isoTime(input.time),
        eventSource: "signin.amazonaws.com",
        eventName: "ConsoleLogin",
        awsRegion: "us-east-1",
        sourceIPAddress: input.sourceIp ?? "198.51.100.44",
        userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
        ...(success ? {} : { errorMessage: "Failed authentication" }),
        requestParameters: null,
        responseElements: { ConsoleLogin: success ? "Success" : "Failure" },
        additionalEventData: {
            LoginTo: "https://console.aws.amazon.com/console/home?hashArgs=%23&isauthcode=true&state=hashArgsFromTB_us-east-1_4f9b2c",
            MobileVersion: "No",
            MFAUsed: input.mfaUsed === true ? "Yes" : "No",
            ...(input.mfaUsed === true ? { MFAIdentifier: `arn:aws:iam::${accountId}:mfa/${String(input.identity.userName ?? "root-account-mfa-device")}` } : {}),
        },
        eventID: input.eventId ?? uuid(),
        readOnly: false,
        eventType: "AwsConsoleSignIn",
        managementEvent: true,
        recipientAccountId: accountId,
        eventCategory: "Management",
        tlsDetails: { tlsVersion: "TLSv1.3", cipherSuite: "TLS_AES_128_GCM_SHA256", clientProvidedHostHeader: "signin.aws.amazon.com" },
    };
}

// Files and keys ----------------------------------------------------------------------------------

function compact(time: Date): string {
    return time.toISOString().replace(/[-:]/g, "").replace(/\d{2}\.\d{3}Z$/, "Z"); // yyyymmddThhmmZ
}

/** The key a trail writes a log file at: [<prefix>/]AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<account>_CloudTrail_<region>_<yyyymmddThhmmZ>_<random>.json.gz */
export function trailLogKey(o: { accountId: string; region: string; time: Date; prefix?: string; random?: () => number }): string {
    const day = o.time.toISOString().slice(0, 10).replace(/-/g, "/");
    const name = `${o.accountId}_CloudTrail_${o.region}_${compact(o.time)}_${pick(o.random ?? fallbackRandom, ALNUM, 16)}.json.gz`;
    return `${o.prefix !== undefined && o.prefix !== "" ? `${o.prefix.replace(/\/$/, "")}/` : ""}AWSLogs/${o.accountId}/CloudTrail/${o.region}/${day}/${name}`;
}

/** The key of a digest file (log-file validation), which ingestion must skip. */
export function trailDigestKey(o: { accountId: string; region: string; time: Date; trailName?: string; prefix?: string }): string {
    const day = o.time.toISOString().slice(0, 10).replace(/-/g, "/");
    const stamp = o.time.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
    const name = `${o.accountId}_CloudTrail-Digest_${o.region}_${o.trailName ?? "airlock-trail"}_us-east-1_${stamp}.json.gz`;
    return `${o.prefix !== undefined && o.prefix !== "" ? `${o.prefix.replace(/\/$/, "")}/` : ""}AWSLogs/${o.accountId}/CloudTrail-Digest/${o.region}/${day}/${name}`;
}

/** A log file's bytes: gzip of {"Records": [...]} as CloudTrail writes it. */
export function gzipTrailLog(records: readonly TrailRecord[], level = 6): Buffer {
    return zlib.gzipSync(JSON.stringify({ Records: records }), { level });
}

/** A digest file's bytes (the shape of CloudTrail's digest; its signature is not real). */
export function gzipDigest(o: { accountId: string; time: Date; logFiles: readonly string[]; bucket: string }): Buffer {
    return zlib.gzipSync(
        JSON.stringify({
            awsAccountId: o.accountId,
            digestStartTime: new Date(o.time.getTime() - 3_600_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
            digestEndTime: o.time.toISOString().replace(/\.\d{3}Z$/, "Z"),
            digestS3Bucket: o.bucket,
            digestSignatureAlgorithm: "SHA256withRSA",
            logFiles: o.logFiles.map((key) => ({ s3Bucket: o.bucket, s3Object: key, hashValue: "0".repeat(64), hashAlgorithm: "SHA-256" })),
        }),
    );
}

/** Puts one log file (gzip bytes, or records to gzip) into a bucket. */
export async function putTrailLog(s3: S3Client, bucket: string, key: string, content: readonly TrailRecord[] | Buffer): Promise<void> {
    const body = Buffer.isBuffer(content) ? content : gzipTrailLog(content);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: "application/json", ContentEncoding: undefined }));
}

// Synthetic trails (the benchmark) ----------------------------------------------------------------

export interface SyntheticOptions {
    readonly accountId?: string;
    readonly regions?: readonly string[];
    /** The first event's time. @default 2026-12-01T00:00:00Z */
    readonly start?: Date;
    /** Time between two events. @default 50 ms */
    readonly stepMs?: number;
    readonly seed?: number;
}

const READS: ReadonlyArray<[string, string]> = [
    ["ec2.amazonaws.com", "DescribeInstances"],
    ["ec2.amazonaws.com", "DescribeSecurityGroups"],
    ["s3.amazonaws.com", "ListBuckets"],
    ["s3.amazonaws.com", "GetBucketPolicy"],
    ["iam.amazonaws.com", "GetRole"],
    ["iam.amazonaws.com", "ListRoles"],
    ["kms.amazonaws.com", "DescribeKey"],
    ["sts.amazonaws.com", "GetCallerIdentity"],
    ["ssm.amazonaws.com", "GetParameter"],
    ["logs.amazonaws.com", "DescribeLogGroups"],
];

/**
 * `count` plausible records, in time order: instance-profile sessions of Airlock instances calling
 * from their NAT address (most of a quiet account's traffic), IAM users and CI roles reading with the
 * CLI and SDKs, AWS services assuming roles, and a few denied calls. Deterministic for a seed.
 */
export function* syntheticRecords(count: number, options: SyntheticOptions = {}): Generator<TrailRecord> {
    const accountId = options.accountId ?? "123456789012";
    const regions = options.regions ?? ["eu-west-1"];
    const random = seededRandom(options.seed ?? 1);
    const start = (options.start ?? new Date("2026-12-01T00:00:00Z")).getTime();
    const step = options.stepMs ?? 50;
    const instances = Array.from({ length: 20 }, (_, i) => airlockInstance(accountId, `i-0${(0x5e6f7080 + i).toString(16).padStart(16, "0")}`, `airlock-app-${i}`));
    const users = ["alice", "bob", "carol", "dave"].map((u) => iamUser(accountId, u, { accessKeyId: `AKIA${pick(random, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)}` }));
    const ci = assumedRole({ accountId, roleName: "ci-deployer", sessionName: "github-actions", accessKeyId: "ASIACIEXAMPLE0000001" });
    for (let n = 0; n < count; n++) {
        const time = new Date(start + n * step);
        const region = regions[n % regions.length] ?? "eu-west-1";
        const roll = random();
        const [source, name] = READS[Math.floor(random() * READS.length)] ?? READS[0]!;
        if (roll < 0.55) {
            yield apiCall({ identity: instances[n % instances.length]!, eventSource: source, eventName: name, time, region, sourceIp: "203.0.113.77", userAgent: "aws-sdk-go-v2/1.36.3 ua/2.1 os/linux lang/go#1.24.2 md/GOOS#linux md/GOARCH#amd64 api/s3#1.79.2", random });
        } else if (roll < 0.8) {
            const denied = random() < 0.02;
            yield apiCall({
                identity: users[n % users.length]!,
                eventSource: source,
                eventName: name,
                time,
                region,
                sourceIp: `198.51.100.${1 + (n % 200)}`,
                ...(denied ? { errorCode: source === "ec2.amazonaws.com" ? "Client.UnauthorizedOperation" : "AccessDenied" } : {}),
                random,
            });
        } else if (roll < 0.92) {
            yield apiCall({ identity: ci, eventSource: source, eventName: name, time, region, sourceIp: "192.0.2.15", userAgent: "APN/1.0 Pulumi/1.0 Pulumi-Aws/7.48.0 (+https://pulumi.com) aws-sdk-go-v2/1.36.3 ua/2.1 os/linux lang/go#1.24.2 APN/1.1 (c7qiae2l6usvzoynupds6v7hf)", random });
        } else {
            yield apiCall({
                identity: awsService("ec2.amazonaws.com"),
                eventSource: "sts.amazonaws.com",
                eventName: "AssumeRole",
                time,
                region,
                recipientAccountId: accountId,
                requestParameters: { roleArn: `arn:aws:iam::${accountId}:role/airlock/airlock-app-${n % 20}`, roleSessionName: `i-0${n.toString(16).padStart(16, "0")}` },
                resources: [{ accountId, type: "AWS::IAM::Role", ARN: `arn:aws:iam::${accountId}:role/airlock/airlock-app-${n % 20}` }],
                random,
            });
        }
    }
}

/**
 * Writes `events` synthetic records as log files of about `perFile` records each (one file per
 * region per batch, keys as a trail writes them) into `bucket`; a digest file per hour beside them.
 * Streams: one file's records at a time. Returns the keys written (digests apart).
 */
export async function writeSyntheticTrail(
    s3: S3Client,
    bucket: string,
    o: SyntheticOptions & { events: number; perFile?: number; prefix?: string; gzipLevel?: number; concurrency?: number },
): Promise<{ keys: string[]; digests: string[]; events: number }> {
    const accountId = o.accountId ?? "123456789012";
    const perFile = o.perFile ?? 2000;
    const keyRandom = seededRandom((o.seed ?? 1) + 7);
    const keys: string[] = [];
    const digests: string[] = [];
    const inFlight = new Set<Promise<void>>();
    const concurrency = o.concurrency ?? 4;
    const put = async (key: string, body: Buffer): Promise<void> => {
        const p = s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body })).then(() => undefined);
        inFlight.add(p);
        p.finally(() => inFlight.delete(p)).catch(() => undefined);
        if (inFlight.size >= concurrency) await Promise.race(inFlight);
    };
    const batches = new Map<string, TrailRecord[]>();
    let written = 0;
    const lastDigestHour = new Map<string, number>();
    const flush = async (region: string): Promise<void> => {
        const batch = batches.get(region) ?? [];
        batches.delete(region);
        if (batch.length === 0) return;
        const time = new Date(String(batch[0]!.eventTime));
        const key = trailLogKey({ accountId, region, time, ...(o.prefix !== undefined ? { prefix: o.prefix } : {}), random: keyRandom });
        keys.push(key);
        await put(key, gzipTrailLog(batch, o.gzipLevel ?? 1));
        written += batch.length;
        const hour = Math.floor(time.getTime() / 3_600_000);
        if (lastDigestHour.get(region) !== hour) {
            lastDigestHour.set(region, hour);
            const digestKey = trailDigestKey({ accountId, region, time, ...(o.prefix !== undefined ? { prefix: o.prefix } : {}) });
            digests.push(digestKey);
            await put(digestKey, gzipDigest({ accountId, time, bucket, logFiles: [key] }));
        }
    };
    for (const record of syntheticRecords(o.events, o)) {
        const region = String(record.awsRegion);
        const batch = batches.get(region);
        if (batch === undefined) batches.set(region, [record]);
        else batch.push(record);
        if ((batch?.length ?? 1) >= perFile) await flush(region);
    }
    for (const region of [...batches.keys()]) await flush(region);
    await Promise.all(inFlight);
    return { keys, digests, events: written };
}
