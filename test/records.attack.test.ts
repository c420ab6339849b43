/**
 * Hostile input against the records (issue 11 review): log files planted in a trail bucket by
 * anyone who can write to it, and the records file's permissions. Each case once failed: a crash
 * of the whole audit (heap exhausted, stack overflow) or a row that pollutes another account.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { parseTrailLog, TrailLogError } from "../audit/records/cloudtrail/events";
import { ingestTrail } from "../audit/records/cloudtrail/ingest";
import { openRecords } from "../audit/records/db";

const ACCOUNT = "123456789012";
const KEY = `AWSLogs/${ACCOUNT}/CloudTrail/eu-west-1/2026/12/01/${ACCOUNT}_CloudTrail_eu-west-1_20261201T1105Z_k3J9aQ2mX7bT1pLz.json.gz`;
const FROM = { bucket: "trail", key: KEY };
const gzip = (text: string): Buffer => zlib.gzipSync(Buffer.from(text, "utf8"));

function record(id: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { eventID: id, eventTime: "2026-12-01T11:00:00Z", eventSource: "s3.amazonaws.com", eventName: "GetObject", awsRegion: "eu-west-1", recipientAccountId: ACCOUNT, ...extra };
}
const log = (...records: unknown[]): Buffer => gzip(JSON.stringify({ Records: records }));

describe("parseTrailLog: planted files", () => {
    it("a value nested too deeply for JSON.stringify skips that record instead of throwing a RangeError out of the ingest", () => {
        const deep = "[".repeat(200_000) + "]".repeat(200_000);
        const body = gzip(`{"Records":[${JSON.stringify(record("good"))},{"eventID":"deep","eventTime":"2026-12-01T11:00:00Z","eventSource":"s3.amazonaws.com","eventName":"X","awsRegion":"eu-west-1","requestParameters":{"a":${deep}}}]}`);
        const parsed = parseTrailLog(body, FROM);
        expect(parsed.rows.map((r) => r.event_id)).toEqual(["good"]);
        expect(parsed.skipped).toHaveLength(1);
        expect(parsed.skipped[0]?.reason).toMatch(/deep/);
    });

    it("junk records by the million (a few hundred KB of gzip) keep a bounded list of reasons, and all are counted", () => {
        const body = gzip(`{"Records":[${"1,".repeat(500_000)}1]}`);
        const parsed = parseTrailLog(body, FROM);
        expect(parsed.skippedRecords).toBe(500_001);
        expect(parsed.skipped.length).toBeLessThanOrEqual(100);
    });

    it("a gzip bomb far beyond any log file's size is refused as a file", () => {
        const body = zlib.gzipSync(Buffer.alloc(200 * 1024 * 1024, 0x20));
        expect(() => parseTrailLog(body, FROM)).toThrow(TrailLogError);
        expect(() => parseTrailLog(body, FROM)).toThrow(/cannot be decompressed/);
    });

    it("identifying values longer than CloudTrail writes (PostgreSQL cannot index them: the insert would stop every run) skip the record", () => {
        const long = "x".repeat(5000);
        const parsed = parseTrailLog(log(record(long), record("b", { eventName: long }), record("c", { userIdentity: { type: "IAMUser", arn: `arn:aws:iam::${ACCOUNT}:user/${long}` } }), record("ok")), FROM);
        expect(parsed.rows.map((r) => r.event_id)).toEqual(["ok"]);
        expect(parsed.skippedRecords).toBe(3);
    });

    it("a record whose recipientAccountId is not the account of the folder it was found in is skipped (it could be attributed to another account)", () => {
        const parsed = parseTrailLog(log(record("mine"), record("other", { recipientAccountId: "210987654321" })), FROM);
        expect(parsed.rows.map((r) => r.event_id)).toEqual(["mine"]);
        expect(parsed.skipped[0]?.reason).toMatch(/210987654321/);
    });
});

/** Just enough of S3 for ingestTrail: one region folder holding the given objects. */
function fakeS3(objects: Record<string, { body: Uint8Array; size?: number }>): S3Client {
    const region = `AWSLogs/${ACCOUNT}/CloudTrail/eu-west-1/`;
    return {
        send: async (command: unknown) => {
            if (command instanceof ListObjectsV2Command) {
                const prefix = command.input.Prefix ?? "";
                if (command.input.Delimiter === "/") {
                    const next = prefix === "AWSLogs/" ? `AWSLogs/${ACCOUNT}/` : prefix === `AWSLogs/${ACCOUNT}/CloudTrail/` ? region : undefined;
                    return { CommonPrefixes: next === undefined ? [] : [{ Prefix: next }] };
                }
                return { Contents: Object.entries(objects).map(([Key, o]) => ({ Key, Size: o.size ?? o.body.length, ETag: '"e"' })) };
            }
            if (command instanceof GetObjectCommand) {
                const o = objects[command.input.Key ?? ""];
                if (o === undefined) throw new Error("no such key");
                return { ContentLength: o.size ?? o.body.length, Body: { transformToByteArray: async () => o.body } };
            }
            throw new Error("unexpected command");
        },
    } as unknown as S3Client;
}

describe("ingestTrail: planted files", () => {
    it("an object larger than a log file can be is reported failed without being read into memory; the other files go on", async () => {
        const records = await openRecords({ kind: "sqlite", file: ":memory:" });
        try {
            const huge = KEY.replace("k3J9aQ2mX7bT1pLz", "AAAAAAAAAAAAAAAA");
            const s3 = fakeS3({ [huge]: { body: new Uint8Array([0x1f, 0x8b]), size: 5 * 1024 * 1024 * 1024 }, [KEY]: { body: log(record("real")) } });
            const result = await ingestTrail(records.db, s3, { bucket: "trail" });
            expect(result.failed.map((f) => f.key)).toEqual([huge]);
            expect(result.failed[0]?.error).toMatch(/too large/);
            expect(result.inserted).toBe(1);
        } finally {
            await records.close();
        }
    });
});

describe("the SQLite records file", () => {
    it("is created readable by its owner only (it holds the account's IAM inventory)", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-records-perm-"));
        const file = path.join(dir, "records.sqlite");
        const old = process.umask(0o022);
        try {
            const records = await openRecords({ kind: "sqlite", file });
            await records.close();
            expect(fs.statSync(file).mode & 0o077).toBe(0);
        } finally {
            process.umask(old);
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
