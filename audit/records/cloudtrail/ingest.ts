/**
 * CloudTrail log files from a trail bucket into the records database (issue 11): incremental (each
 * file once, recorded in `cloudtrail_files`), resumable (an interruption anywhere loses nothing and
 * duplicates nothing), and bounded in memory (one file's events at a time, whatever the trail's size).
 *
 * Listing: the trail's layout is walked rather than the whole bucket listed —
 * `<prefix>/AWSLogs/` → accounts (an organization trail's `o-…/` level included) → `CloudTrail/` →
 * regions — each level with a delimiter (a few calls), then each region's files, paginated, starting
 * after the day folder of `since` (keys sort by date within a region, so S3's StartAfter skips the
 * older days without listing them). Digest and Insights folders are never entered; any other object
 * is counted and left alone. Per page of the listing, one query finds which files are already
 * ingested, and those are not read again.
 *
 * One file, one transaction: its events (INSERT … ON CONFLICT (event_id) DO NOTHING, in batches
 * within both databases' parameter limits) and its `cloudtrail_files` row commit together. A crash or
 * a thrown hook before the commit leaves nothing of the file, so the next run ingests it whole; after
 * the commit the file is skipped. An event CloudTrail delivered twice (in two files) is stored once.
 *
 * A file that cannot be read as a log (TrailLogError: not gzip, not JSON, no Records) is reported in
 * `failed` and not recorded, so every later run tries it again and reports it again; the other files
 * go on. Records skipped inside a readable file are counted (`badRecords`, with the first reasons);
 * see events.ts for why they do not fail the file. Errors of S3 or the database stop the run: they
 * are not about one file.
 *
 * `eventsForDetection` reads back only the events detect.ts can use, with coarse SQL filters, so
 * detection over millions of stored events does not load them all.
 */
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { sql, type Kysely } from "kysely";
import type { RecordsSchema } from "../schema";
import { SQLITE_MAX_VARIABLES } from "../sqlite";
import { ACCESS_DENIED_CODES, canonicalIp, DETECTION_EVENT_NAMES, type ActivityContext } from "./detect";
import { classifyTrailKey, MAX_UNCOMPRESSED_BYTES, parseTrailLog, TRAIL_EVENT_COLUMNS, TrailLogError, type TrailEventRow } from "./events";

export interface IngestOptions {
    /** The trail's bucket. */
    readonly bucket: string;
    /** The trail's S3 key prefix, if it has one (with or without a trailing "/"). */
    readonly prefix?: string;
    /** Only these accounts' folders. @default every account found */
    readonly accountIds?: readonly string[];
    /** Only these regions' folders. @default every region found */
    readonly regions?: readonly string[];
    /** Only files in day folders on or after this time's UTC day. @default every day */
    readonly since?: Date;
    /** Rows per INSERT (capped by the parameter limit). @default 500 (faster on SQLite than 100 or 1,000) */
    readonly batchSize?: number;
    /** How many reasons of skipped records the result lists. @default 20 */
    readonly sampleLimit?: number;
    /** The clock (`ingested_at`). @default () => new Date() */
    readonly now?: () => Date;
}

export interface IngestHooks {
    /** Before a file is read. Throwing stops the run; nothing of this file has been written. */
    beforeFile?(key: string): void | Promise<void>;
    /** After each batch of a file's events is written, inside the file's transaction (throwing rolls the whole file back). */
    afterBatch?(key: string, rowsWritten: number): void | Promise<void>;
    /** After a file is committed. */
    afterFile?(key: string, events: number): void | Promise<void>;
}

export interface FailedFile {
    readonly key: string;
    readonly error: string;
}

export interface IngestResult {
    /** Files ingested by this run. */
    readonly files: number;
    /** Events in those files (distinct per file). */
    readonly events: number;
    /** Of those, events not stored before (the rest came in another file too). */
    readonly inserted: number;
    /** Log files skipped because an earlier run ingested them. */
    readonly skipped: number;
    /** Digest and Insights files met (skipped; the walk does not enter their folders, so normally 0). */
    readonly digests: number;
    /** Objects under the trail's folders that are not log files (left alone). */
    readonly otherObjects: number;
    /** Records skipped inside readable files, and the first reasons (with their file). */
    readonly badRecords: number;
    readonly badRecordSamples: readonly string[];
    /** Files that could not be read as logs (not recorded: tried again next run). */
    readonly failed: readonly FailedFile[];
    /** The S3 listing calls made. */
    readonly listCalls: number;
}

/** Rows per INSERT within SQLite's limit on bound parameters (PostgreSQL allows 65,535). */
const MAX_BATCH = Math.floor(SQLITE_MAX_VARIABLES / TRAIL_EVENT_COLUMNS.length);

/** The largest object read: the uncompressed bound (gzip never grows a log), so a planted huge object is not downloaded. */
const MAX_OBJECT_BYTES = MAX_UNCOMPRESSED_BYTES;

function normalizedPrefix(prefix: string | undefined): string {
    const trimmed = (prefix ?? "").replace(/^\/+|\/+$/g, "");
    return trimmed === "" ? "" : `${trimmed}/`;
}

/** The folder names (CommonPrefixes, relative to `under`) one level below `under`. */
async function subfolders(s3: S3Client, bucket: string, under: string, count: () => void): Promise<string[]> {
    const names: string[] = [];
    let token: string | undefined;
    do {
        count();
        const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: under, Delimiter: "/", ContinuationToken: token }));
        for (const p of page.CommonPrefixes ?? []) {
            if (p.Prefix !== undefined) names.push(p.Prefix.slice(under.length).replace(/\/$/, ""));
        }
        token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return names;
}

function sinceFolder(since: Date | undefined): string | undefined {
    if (since === undefined) return undefined;
    if (Number.isNaN(since.getTime())) throw new RangeError("ingestTrail: `since` is an invalid Date");
    const iso = since.toISOString();
    return `${iso.slice(0, 4)}/${iso.slice(5, 7)}/${iso.slice(8, 10)}/`;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
    const out: T[][] = [];
    for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
    return out;
}

/** Ingests a trail bucket's new log files (see the header). */
export async function ingestTrail(db: Kysely<RecordsSchema>, s3: S3Client, options: IngestOptions, hooks: IngestHooks = {}): Promise<IngestResult> {
    const { bucket } = options;
    const root = `${normalizedPrefix(options.prefix)}AWSLogs/`;
    const batchSize = Math.max(1, Math.min(options.batchSize ?? 500, MAX_BATCH));
    const sampleLimit = options.sampleLimit ?? 20;
    const now = options.now ?? (() => new Date());
    const startDay = sinceFolder(options.since);
    const wantAccounts = options.accountIds === undefined ? undefined : new Set(options.accountIds);
    const wantRegions = options.regions === undefined ? undefined : new Set(options.regions);
    let listCalls = 0;
    const countCall = (): void => {
        listCalls++;
    };
    const result = { files: 0, events: 0, inserted: 0, skipped: 0, digests: 0, otherObjects: 0, badRecords: 0 };
    const badRecordSamples: string[] = [];
    const failed: FailedFile[] = [];

    // Accounts: AWSLogs/<account>/ or, for an organization trail, AWSLogs/<o-…>/<account>/.
    const accountFolders: string[] = [];
    for (const name of await subfolders(s3, bucket, root, countCall)) {
        if (/^o-[a-z0-9]{10,32}$/.test(name)) {
            for (const account of await subfolders(s3, bucket, `${root}${name}/`, countCall)) {
                if (/^\d{12}$/.test(account) && (wantAccounts === undefined || wantAccounts.has(account))) accountFolders.push(`${root}${name}/${account}/`);
            }
        } else if (/^\d{12}$/.test(name) && (wantAccounts === undefined || wantAccounts.has(name))) {
            accountFolders.push(`${root}${name}/`);
        }
    }

    for (const accountFolder of accountFolders) {
        const trailFolder = `${accountFolder}CloudTrail/`;
        const regions = (await subfolders(s3, bucket, trailFolder, countCall)).filter((r) => wantRegions === undefined || wantRegions.has(r));
        for (const region of regions) {
            const regionFolder = `${trailFolder}${region}/`;
            let token: string | undefined;
            do {
                countCall();
                const page = await s3.send(
                    new ListObjectsV2Command({
                        Bucket: bucket,
                        Prefix: regionFolder,
                        ContinuationToken: token,
                        ...(token === undefined && startDay !== undefined ? { StartAfter: `${regionFolder}${startDay}` } : {}),
                    }),
                );
                token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
                const logs: Array<{ key: string; etag: string | null }> = [];
                for (const object of page.Contents ?? []) {
                    const key = object.Key;
                    if (key === undefined) continue;
                    const info = classifyTrailKey(key);
                    if (info.kind === "log") logs.push({ key, etag: object.ETag?.replace(/"/g, "") ?? null });
                    else if (info.kind === "digest" || info.kind === "insight") result.digests++;
                    else result.otherObjects++;
                }
                const done = new Set<string>();
                for (const keys of chunks(
                    logs.map((l) => l.key),
                    500,
                )) {
                    const rows = await db.selectFrom("cloudtrail_files").select("object_key").where("bucket", "=", bucket).where("object_key", "in", keys).execute();
                    for (const r of rows) done.add(r.object_key);
                }
                for (const { key, etag } of logs) {
                    if (done.has(key)) {
                        result.skipped++;
                        continue;
                    }
                    await hooks.beforeFile?.(key);
                    const body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
                    if ((body.ContentLength ?? 0) > MAX_OBJECT_BYTES) {
                        // Not read into memory: a planted object of gigabytes would end the audit.
                        (body.Body as { destroy?: () => void } | undefined)?.destroy?.();
                        failed.push({ key, error: `CloudTrail log s3://${bucket}/${key} is too large to be a log file (${body.ContentLength} bytes; the limit is ${MAX_OBJECT_BYTES}).` });
                        continue;
                    }
                    const bytes = body.Body === undefined ? new Uint8Array() : await body.Body.transformToByteArray();
                    let parsed;
                    try {
                        parsed = parseTrailLog(bytes, { bucket, key });
                    } catch (e) {
                        if (!(e instanceof TrailLogError)) throw e;
                        failed.push({ key, error: e.message });
                        continue;
                    }
                    result.badRecords += parsed.skippedRecords;
                    for (const s of parsed.skipped) {
                        if (badRecordSamples.length < sampleLimit) badRecordSamples.push(`s3://${bucket}/${key}: ${s.reason}`);
                    }
                    const inserted = await writeFile(db, bucket, key, etag, parsed.rows, batchSize, now, hooks);
                    result.files++;
                    result.events += parsed.rows.length;
                    result.inserted += inserted;
                    await hooks.afterFile?.(key, parsed.rows.length);
                }
            } while (token !== undefined);
        }
    }
    return { ...result, badRecordSamples, failed, listCalls };
}

/** One file's events and its cloudtrail_files row, in one transaction; returns the rows newly inserted. */
async function writeFile(
    db: Kysely<RecordsSchema>,
    bucket: string,
    key: string,
    etag: string | null,
    rows: readonly TrailEventRow[],
    batchSize: number,
    now: () => Date,
    hooks: IngestHooks,
): Promise<number> {
    return db.transaction().execute(async (trx) => {
        let inserted = 0;
        let written = 0;
        for (const batch of chunks(rows, batchSize)) {
            const r = await trx
                .insertInto("cloudtrail_events")
                .values(batch)
                .onConflict((oc) => oc.column("event_id").doNothing())
                .executeTakeFirst();
            inserted += Number(r.numInsertedOrUpdatedRows ?? 0n);
            written += batch.length;
            await hooks.afterBatch?.(key, written);
        }
        await trx
            .insertInto("cloudtrail_files")
            .values({ bucket, object_key: key, etag, events: rows.length, ingested_at: now().toISOString() })
            .onConflict((oc) => oc.columns(["bucket", "object_key"]).doNothing())
            .execute();
        return inserted;
    });
}

export interface DetectionWindow {
    /** Only events delivered to this account (recipientAccountId). */
    readonly accountId?: string;
    /** From this time (inclusive). */
    readonly since: Date;
    /** To this time (exclusive). */
    readonly until: Date;
    /**
     * What the audit knows of instances and endpoints: an Airlock instance's calls from one of its own
     * addresses (as CloudTrail wrote it, exactly), not through another account's endpoint, are left in
     * the database. Anything not excluded here is still judged by detectActivity.
     */
    readonly context?: Pick<ActivityContext, "instances" | "vpcEndpointIds">;
}

/**
 * The stored events detectActivity can use, oldest first: Airlock instance-role sessions' calls
 * (less those plainly from the instance's own addresses), root's, console sign-ins, denied calls and
 * the change events of the vault and the security groups. A coarse filter: detectActivity decides.
 */
export async function eventsForDetection(db: Kysely<RecordsSchema>, window: DetectionWindow): Promise<TrailEventRow[]> {
    const pairs: string[] = [];
    for (const [instanceId, a] of Object.entries(window.context?.instances ?? {})) {
        for (const ip of [...(a.privateIps ?? []), ...(a.publicIps ?? []), ...(a.natGatewayIps ?? [])]) {
            for (const form of new Set([ip, canonicalIp(ip) ?? ip])) pairs.push(`${instanceId} ${form}`);
        }
    }
    const endpoints = [...(window.context?.vpcEndpointIds ?? [])];
    let query = db
        .selectFrom("cloudtrail_events")
        .selectAll()
        .where("event_time", ">=", window.since.toISOString())
        .where("event_time", "<", window.until.toISOString());
    if (window.accountId !== undefined) query = query.where("recipient_account_id", "=", window.accountId);
    const rows = await query
        .where((eb) => {
            const ownAddress =
                pairs.length === 0
                    ? undefined
                    : eb.and([
                          eb(sql<string>`coalesce(session_name, '') || ' ' || coalesce(source_ip, '')`, "in", pairs),
                          endpoints.length === 0 ? eb("vpc_endpoint_id", "is", null) : eb.or([eb("vpc_endpoint_id", "is", null), eb("vpc_endpoint_id", "in", endpoints)]),
                      ]);
            const airlockSession = eb.and([eb("session_issuer_arn", "like", "arn:%:iam::%:role/airlock/%"), eb("invoked_by", "is", null), ...(ownAddress === undefined ? [] : [eb.not(ownAddress)])]);
            return eb.or([airlockSession, eb("principal_type", "=", "Root"), eb("event_name", "in", [...DETECTION_EVENT_NAMES]), eb("error_code", "in", [...ACCESS_DENIED_CODES])]);
        })
        .orderBy("event_time")
        .orderBy("event_id")
        .execute();
    return rows;
}
