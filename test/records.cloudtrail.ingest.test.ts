/**
 * CloudTrail ingestion for real (audit/records/cloudtrail/ingest.ts): log files written in
 * CloudTrail's format (test/support/cloudtrailLogs.ts) into a moto S3 bucket at a trail's keys,
 * ingested into the records database — the same suite on SQLite (a temporary file, in process) and
 * PostgreSQL (test/support/postgres.ts, its own server on 127.0.0.1, stopped after the suite).
 *
 * Ingested twice (no duplicate event, the second run reads no file); resumed after an interruption
 * between files and mid-file (the final state equals an uninterrupted ingest's); files whose events
 * overlap (CloudTrail delivers at least once: stored once); digests and foreign objects left alone;
 * an organization trail's layout under a prefix, filtered by account, region and day; pagination
 * (ListObjectsV2 answered 3 keys a page by moto); a malformed file reported, not recorded, retried;
 * eventsForDetection loses no finding while loading a fraction of the events.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { openRecords, type Records } from "../audit/records/db";
import { detectActivity, type ActivityContext } from "../audit/records/cloudtrail/detect";
import { eventsForDetection, ingestTrail, type IngestHooks } from "../audit/records/cloudtrail/ingest";
import { awsClientConfig, startMoto, type Moto } from "./support/moto";
import { startPostgres, type Postgres } from "./support/postgres";
import {
    airlockInstance,
    apiCall,
    assumedRole,
    consoleLogin,
    gzipDigest,
    iamUser,
    putTrailLog,
    root,
    trailDigestKey,
    trailLogKey,
    writeSyntheticTrail,
    type TrailRecord,
} from "./support/cloudtrailLogs";

const ACCOUNT = "123456789012";

interface Backend {
    open(name: string): Promise<Records>;
    stop(): Promise<void>;
}

async function sqliteBackend(): Promise<Backend> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-cloudtrail-"));
    return {
        open: (name) => openRecords({ kind: "sqlite", file: path.join(dir, `${name}.sqlite`) }),
        stop: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
}

async function postgresBackend(): Promise<Backend> {
    const server: Postgres = await startPostgres();
    return {
        open: async (name) => {
            await server.createDatabase(name);
            return openRecords({ kind: "postgres", connectionString: server.url(name), password: server.password });
        },
        stop: () => server.stop(),
    };
}

let moto: Moto;
let s3: S3Client;
/** S3 commands sent, by name (GetObjectCommand, ListObjectsV2Command). */
const sent = new Map<string, number>();
let buckets = 0;

beforeAll(async () => {
    moto = await startMoto();
    s3 = new S3Client({ ...awsClientConfig(moto), forcePathStyle: true });
    s3.middlewareStack.add(
        (next, context) => async (args) => {
            sent.set(context.commandName ?? "?", (sent.get(context.commandName ?? "?") ?? 0) + 1);
            return next(args);
        },
        { step: "initialize", name: "countCommands" },
    );
}, 60_000);

afterAll(async () => {
    s3?.destroy();
    await moto?.stop();
});

async function newBucket(): Promise<string> {
    const bucket = `airlock-trail-${++buckets}-${process.pid}`;
    await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: "eu-west-1" } }));
    return bucket;
}

const gets = (): number => sent.get("GetObjectCommand") ?? 0;

/** Everything an ingest leaves, comparable across databases and runs (ingested_at apart). */
async function stateOf(records: Records, bucket: string): Promise<{ events: unknown[]; files: unknown[] }> {
    const events = await records.db.selectFrom("cloudtrail_events").selectAll().where("file_bucket", "=", bucket).orderBy("event_id").execute();
    const files = await records.db.selectFrom("cloudtrail_files").select(["bucket", "object_key", "etag", "events"]).where("bucket", "=", bucket).orderBy("object_key").execute();
    return { events, files: files.map((f) => ({ ...f, events: Number(f.events) })) };
}

async function eventCount(records: Records, bucket: string): Promise<number> {
    const row = await records.db.selectFrom("cloudtrail_events").select((eb) => eb.fn.countAll<string | number>().as("n")).where("file_bucket", "=", bucket).executeTakeFirstOrThrow();
    return Number(row.n);
}

describe.each([
    ["SQLite", sqliteBackend],
    ["PostgreSQL", postgresBackend],
])("CloudTrail ingestion on %s", (_name, start) => {
    let backend: Backend;
    let databases = 0;
    const opened: Records[] = [];
    const newDb = async (): Promise<Records> => {
        const records = await backend.open(`cloudtrail_${++databases}`);
        opened.push(records);
        return records;
    };

    beforeAll(async () => {
        backend = await start();
    }, 60_000);
    afterAll(async () => {
        for (const r of opened) await r.close();
        await backend?.stop();
    });

    it("ingested twice: every event once, digests and foreign objects left alone, the second run reads no file", async () => {
        const bucket = await newBucket();
        const trail = await writeSyntheticTrail(s3, bucket, { events: 3000, perFile: 400, regions: ["eu-west-1", "us-east-1"], seed: 11 });
        expect(trail.digests.length).toBeGreaterThan(0);
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "AWSLogs/123456789012/CloudTrail/eu-west-1/2026/12/01/README.txt", Body: "not a log" }));
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "AWSLogs/123456789012/CloudTrail/eu-west-1/2026/12/01/", Body: Buffer.alloc(0) }));
        const records = await newDb();

        const before = gets();
        const first = await ingestTrail(records.db, s3, { bucket });
        expect(first).toMatchObject({ files: trail.keys.length, events: 3000, inserted: 3000, skipped: 0, otherObjects: 2, badRecords: 0, failed: [] });
        expect(gets() - before).toBe(trail.keys.length); // digests never read
        const state = await stateOf(records, bucket);
        expect(state.events).toHaveLength(3000);
        expect(state.files.map((f) => (f as { object_key: string }).object_key)).toEqual([...trail.keys].sort());
        expect(state.files.every((f) => (f as { events: number }).events > 0)).toBe(true);

        const again = gets();
        const second = await ingestTrail(records.db, s3, { bucket });
        expect(second).toMatchObject({ files: 0, events: 0, inserted: 0, skipped: trail.keys.length, failed: [] });
        expect(gets() - again).toBe(0);
        expect(await stateOf(records, bucket)).toEqual(state);
    });

    it.each<[string, (failAt: { file: number; batch?: number }) => IngestHooks]>([
        [
            "between files (before the 3rd file is read)",
            (at) => {
                let files = 0;
                return { beforeFile: () => { if (++files === at.file) throw new Error("interrupted"); } };
            },
        ],
        [
            "mid-file (after the 2nd batch of the 3rd file, inside its transaction)",
            (at) => {
                let files = 0;
                return {
                    beforeFile: () => void files++,
                    afterBatch: (_key, written) => {
                        if (files === at.file && written >= 2 * 50) throw new Error("interrupted");
                    },
                };
            },
        ],
        [
            "right after a file commits",
            (at) => {
                let files = 0;
                return { afterFile: () => { if (++files === at.file) throw new Error("interrupted"); } };
            },
        ],
    ])("resumed after an interruption %s: the final state equals an uninterrupted ingest's", async (_, hooks) => {
        const bucket = await newBucket();
        const trail = await writeSyntheticTrail(s3, bucket, { events: 1500, perFile: 300, seed: 12 });
        const reference = await newDb();
        await ingestTrail(reference.db, s3, { bucket, batchSize: 50 });

        const records = await newDb();
        await expect(ingestTrail(records.db, s3, { bucket, batchSize: 50 }, hooks({ file: 3 }))).rejects.toThrow("interrupted");
        const partial = await stateOf(records, bucket);
        const committed = partial.files.reduce<number>((n, f) => n + (f as { events: number }).events, 0);
        expect(partial.events).toHaveLength(committed); // nothing of an uncommitted file
        expect(partial.files.length).toBeLessThan(trail.keys.length);

        const resumed = await ingestTrail(records.db, s3, { bucket, batchSize: 50 });
        expect(resumed.skipped).toBe(partial.files.length);
        expect(resumed.files).toBe(trail.keys.length - partial.files.length);
        expect(await stateOf(records, bucket)).toEqual(await stateOf(reference, bucket));
        expect(await eventCount(records, bucket)).toBe(1500);
    });

    it("a file whose events overlap another's (CloudTrail delivered them twice): each event stored once", async () => {
        const bucket = await newBucket();
        const user = iamUser(ACCOUNT, "alice");
        const events: TrailRecord[] = Array.from({ length: 150 }, (_, i) =>
            apiCall({ identity: user, eventSource: "ec2.amazonaws.com", eventName: "DescribeInstances", time: new Date(Date.parse("2026-12-01T10:00:00Z") + i * 1000) }),
        );
        const keyA = trailLogKey({ accountId: ACCOUNT, region: "eu-west-1", time: new Date("2026-12-01T10:05:00Z") });
        const keyB = trailLogKey({ accountId: ACCOUNT, region: "eu-west-1", time: new Date("2026-12-01T10:10:00Z") });
        await putTrailLog(s3, bucket, keyA, events.slice(0, 100));
        await putTrailLog(s3, bucket, keyB, events.slice(50));
        const records = await newDb();
        const result = await ingestTrail(records.db, s3, { bucket });
        expect(result).toMatchObject({ files: 2, events: 200, inserted: 150 });
        expect(await eventCount(records, bucket)).toBe(150);
        const files = (await stateOf(records, bucket)).files;
        expect(files.map((f) => (f as { events: number }).events)).toEqual([100, 100]);
    });

    it("an organization trail under a prefix: filtered by account, region and day; pages of 3 keys", async () => {
        const bucket = await newBucket();
        const prefix = "org-trail/";
        const org = "o-a1b2c3d4e5";
        const put = async (account: string, region: string, time: string): Promise<string> => {
            const key = trailLogKey({ accountId: account, region, time: new Date(time) }).replace("AWSLogs/", `${prefix}AWSLogs/${org}/`);
            await putTrailLog(s3, bucket, key, [apiCall({ identity: iamUser(account, "ops"), eventSource: "sts.amazonaws.com", eventName: "GetCallerIdentity", time, region })]);
            return key;
        };
        const wanted = [
            await put("111122223333", "eu-west-1", "2026-12-01T00:05:00Z"),
            await put("111122223333", "eu-west-1", "2026-12-01T08:05:00Z"),
            await put("111122223333", "eu-west-1", "2026-12-02T08:05:00Z"),
            await put("111122223333", "eu-west-1", "2026-12-03T08:05:00Z"),
            await put("111122223333", "eu-west-1", "2026-12-03T09:05:00Z"),
        ];
        await put("111122223333", "eu-west-1", "2026-11-30T23:55:00Z"); // the day before `since`
        await put("111122223333", "us-east-1", "2026-12-01T08:05:00Z"); // another region
        await put("444455556666", "eu-west-1", "2026-12-01T08:05:00Z"); // another account
        const digest = trailDigestKey({ accountId: "111122223333", region: "eu-west-1", time: new Date("2026-12-01T09:00:00Z") }).replace("AWSLogs/", `${prefix}AWSLogs/${org}/`);
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: digest, Body: gzipDigest({ accountId: "111122223333", time: new Date(), bucket, logFiles: wanted }) }));

        const small = new S3Client({ ...awsClientConfig(moto), forcePathStyle: true });
        small.middlewareStack.add(
            (next, context) => async (args) => {
                if (context.commandName === "ListObjectsV2Command") (args.input as { MaxKeys?: number }).MaxKeys = 3;
                return next(args);
            },
            { step: "initialize", name: "smallPages" },
        );
        try {
            const records = await newDb();
            const result = await ingestTrail(records.db, small, { bucket, prefix: "org-trail", accountIds: ["111122223333"], regions: ["eu-west-1"], since: new Date("2026-12-01T12:00:00Z") });
            expect(result).toMatchObject({ files: 5, events: 5, failed: [] });
            // AWSLogs/ (1) + o-…/ (1) + CloudTrail/ (1) + eu-west-1's 5 files in pages of 3 (2)
            expect(result.listCalls).toBe(5);
            const files = (await stateOf(records, bucket)).files.map((f) => (f as { object_key: string }).object_key);
            expect(files).toEqual([...wanted].sort());
        } finally {
            small.destroy();
        }
    });

    it("a malformed file is reported and not recorded (tried again next run); a bad record is counted, its file kept", async () => {
        const bucket = await newBucket();
        const good = trailLogKey({ accountId: ACCOUNT, region: "eu-west-1", time: new Date("2026-12-01T10:05:00Z") });
        const broken = trailLogKey({ accountId: ACCOUNT, region: "eu-west-1", time: new Date("2026-12-01T10:10:00Z") });
        const oneBad = trailLogKey({ accountId: ACCOUNT, region: "eu-west-1", time: new Date("2026-12-01T10:15:00Z") });
        const user = iamUser(ACCOUNT, "alice");
        await putTrailLog(s3, bucket, good, [apiCall({ identity: user, eventSource: "ec2.amazonaws.com", eventName: "DescribeVpcs", time: "2026-12-01T10:01:00Z" })]);
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: broken, Body: '{"Records": []}' }));
        const { eventID: _omit, ...noId } = apiCall({ identity: user, eventSource: "ec2.amazonaws.com", eventName: "DescribeVpcs", time: "2026-12-01T10:11:00Z" });
        await putTrailLog(s3, bucket, oneBad, [noId, apiCall({ identity: user, eventSource: "ec2.amazonaws.com", eventName: "DescribeSubnets", time: "2026-12-01T10:12:00Z" })]);
        const records = await newDb();

        const first = await ingestTrail(records.db, s3, { bucket });
        expect(first).toMatchObject({ files: 2, events: 2, badRecords: 1, badRecordSamples: [`s3://${bucket}/${oneBad}: Record 0 has no eventID`] });
        expect(first.failed).toEqual([{ key: broken, error: `CloudTrail log s3://${bucket}/${broken} is not gzip (no gzip header); CloudTrail writes .json.gz files.` }]);
        const second = await ingestTrail(records.db, s3, { bucket });
        expect(second).toMatchObject({ files: 0, skipped: 2 });
        expect(second.failed.map((f) => f.key)).toEqual([broken]);
    });

    it("eventsForDetection loads a fraction of the events and loses no finding", async () => {
        const bucket = await newBucket();
        const instanceId = "i-0a1b2c3d4e5f60718";
        const context: ActivityContext = {
            target: "production",
            accountId: ACCOUNT,
            instances: {
                [instanceId]: { privateIps: ["10.30.1.25"], natGatewayIps: ["203.0.113.77"] },
                // the synthetic trail's 20 instances, calling from their NAT gateway
                ...Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`i-0${(0x5e6f7080 + i).toString(16).padStart(16, "0")}`, { natGatewayIps: ["203.0.113.77"] }])),
            },
            vpcEndpointIds: ["vpce-0a1b2c3d4e5f60718"],
            vaultBucketNames: ["airlock-vault-keys-5d1f0a2"],
            deployerArns: [`arn:aws:iam::${ACCOUNT}:role/ci-deployer`],
        };
        await writeSyntheticTrail(s3, bucket, { events: 2000, perFile: 500, seed: 13 });
        const at = (minute: number) => `2026-12-01T00:${String(minute).padStart(2, "0")}:30Z`;
        const instance = airlockInstance(ACCOUNT, instanceId);
        const interesting: TrailRecord[] = [
            ...Array.from({ length: 40 }, (_, i) => apiCall({ identity: instance, eventSource: "s3.amazonaws.com", eventName: "GetObject", time: at(1), sourceIp: i % 2 === 0 ? "203.0.113.77" : "10.30.1.25", ...(i % 2 === 1 ? { vpcEndpointId: "vpce-0a1b2c3d4e5f60718" } : {}) })),
            apiCall({ identity: instance, eventSource: "sts.amazonaws.com", eventName: "GetCallerIdentity", time: at(2), sourceIp: "198.51.100.200" }),
            consoleLogin({ identity: root(ACCOUNT), time: at(3), mfaUsed: false }),
            consoleLogin({ identity: iamUser(ACCOUNT, "bob"), time: at(4), mfaUsed: false }),
            apiCall({ identity: assumedRole({ accountId: ACCOUNT, roleName: "Operator", sessionName: "alice" }), eventSource: "s3.amazonaws.com", eventName: "PutBucketPolicy", time: at(5), requestParameters: { bucketName: "airlock-vault-keys-5d1f0a2" } }),
            ...Array.from({ length: 12 }, (_, i) => apiCall({ identity: iamUser(ACCOUNT, "mallory"), eventSource: "iam.amazonaws.com", eventName: "ListUsers", time: `2026-12-01T00:06:${String(i * 2).padStart(2, "0")}Z`, errorCode: "AccessDenied" })),
        ];
        await putTrailLog(s3, bucket, trailLogKey({ accountId: ACCOUNT, region: "eu-west-1", time: new Date("2026-12-01T00:10:00Z") }), interesting);
        const records = await newDb();
        await ingestTrail(records.db, s3, { bucket });
        const window = { accountId: ACCOUNT, since: new Date("2026-12-01T00:00:00Z"), until: new Date("2026-12-02T00:00:00Z") };

        const all = await records.db.selectFrom("cloudtrail_events").selectAll().where("file_bucket", "=", bucket).orderBy("event_time").orderBy("event_id").execute();
        const candidates = await eventsForDetection(records.db, { ...window, context });
        expect(all.length).toBe(2000 + interesting.length);
        expect(candidates.length).toBeLessThan(all.length / 10);
        const expected = detectActivity(all, context);
        expect(expected.map((f) => f.title)).toEqual([
            `Credentials of instance ${instanceId} used from 198.51.100.200, not one of its addresses`,
            "Root signed in to the console",
            "Root signed in to the console without MFA",
            "IAM user bob signed in to the console without MFA",
            `10 or more access denied within 5 minutes for arn:aws:iam::${ACCOUNT}:user/mallory, from 2026-12-01T00:06:00.000Z`,
            `Vault bucket airlock-vault-keys-5d1f0a2 changed outside a pulumi up by arn:aws:iam::${ACCOUNT}:role/Operator`,
        ]);
        expect(detectActivity(candidates, context)).toEqual(expected);
        // Without the context the instance's own calls are loaded too (and judged by detectActivity).
        expect((await eventsForDetection(records.db, window)).length).toBeGreaterThan(candidates.length + 40);
        // The window and the account bound what is read.
        expect(await eventsForDetection(records.db, { ...window, since: new Date("2026-12-02T00:00:00Z"), until: new Date("2026-12-03T00:00:00Z") })).toEqual([]);
        expect(await eventsForDetection(records.db, { ...window, accountId: "999988887777" })).toEqual([]);
    });
});
