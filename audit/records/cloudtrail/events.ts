/**
 * CloudTrail log files as the trail writes them to S3, read into rows of the records database's
 * `cloudtrail_events` table (issue 11, "CloudTrail activity and misuse findings"). Pure: bytes in,
 * rows out; no AWS, no database (ingest.ts does both).
 *
 * What a trail writes (CloudTrail User Guide, "Finding your CloudTrail log files" and "CloudTrail
 * record contents"):
 *   <prefix>/AWSLogs/[<org id>/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/
 *       <account>_CloudTrail_<region>_<yyyymmddThhmmZ>_<16 random characters>.json.gz
 * a gzip of one JSON object `{"Records": [ … ]}`, each record one API call or event. Beside them the
 * trail writes signed digest files (`CloudTrail-Digest/`, log-file validation) and, with Insights,
 * `CloudTrail-Insight/` files: neither is activity, both are skipped (classifyTrailKey).
 *
 * Only the fields an investigation needs become columns (who, from where, what, when, whether it
 * failed, through which endpoint); requestParameters, responseElements, additionalEventData and
 * resources are kept whole as JSON text, so nothing a later question needs is lost. Access key ids
 * are metadata (they name a key, they are not the secret) and are kept.
 *
 * Malformed input, and why it is handled this way:
 * - A file that is not gzip, not JSON, or has no `Records` array is refused as a whole with a
 *   TrailLogError naming the object: nothing in it can be trusted to be complete, and ingest.ts
 *   leaves it un-ingested (reported, retried on the next run) instead of recording it as done.
 * - One record that is not an object or lacks what identifies it (eventID, eventTime, eventSource,
 *   eventName, awsRegion; eventTime must be an ISO-8601 UTC time) is skipped and counted with its index and
 *   why (ParsedTrailLog.skipped), and the file's other records are kept. CloudTrail does not write
 *   such records, so one means a damaged or foreign file; failing the whole file over it would hide
 *   thousands of good events from detection, which is worse for the audit than one record the
 *   report names. The skip is never silent: ingest.ts returns the count and the first reasons.
 * - The same eventID twice in one file is kept once (CloudTrail delivers at least once; the table's
 *   key makes it once across files too).
 */
import * as zlib from "zlib";

/** One row of `cloudtrail_events`: every column text or null; times ISO-8601 UTC with milliseconds. */
export interface TrailEventRow {
    /** CloudTrail's eventID (primary key). */
    readonly event_id: string;
    /** eventTime as "2026-12-01T11:03:28.000Z", so text order is time order. */
    readonly event_time: string;
    /** e.g. "ec2.amazonaws.com". */
    readonly event_source: string;
    /** e.g. "AuthorizeSecurityGroupIngress". */
    readonly event_name: string;
    /** awsRegion (the region the call was made to; us-east-1 for most global services). */
    readonly aws_region: string;
    readonly recipient_account_id: string | null;
    /** AwsApiCall, AwsServiceEvent, AwsConsoleSignIn, AwsConsoleAction, … */
    readonly event_type: string | null;
    /** "true" / "false" (CloudTrail's readOnly), null when absent. */
    readonly read_only: string | null;
    /** userIdentity.type: IAMUser, AssumedRole, Root, AWSService, FederatedUser, AWSAccount, … */
    readonly principal_type: string | null;
    /** userIdentity.arn; for AssumedRole the session's ARN (arn:…:sts::…:assumed-role/<role>/<session>). */
    readonly principal_arn: string | null;
    readonly principal_account_id: string | null;
    /** userIdentity.accessKeyId: which key signed the call (an id, never a secret). */
    readonly access_key_id: string | null;
    /** userIdentity.sessionContext.sessionIssuer.arn: the role (with its path) behind a session. */
    readonly session_issuer_arn: string | null;
    /** The last segment of an assumed-role ARN (an Airlock instance's session name is its instance id). */
    readonly session_name: string | null;
    /** userIdentity.invokedBy: the AWS service that made the call on the principal's behalf. */
    readonly invoked_by: string | null;
    /** sessionContext.attributes.mfaAuthenticated: "true" / "false". */
    readonly mfa_authenticated: string | null;
    /** sourceIPAddress: an IPv4 or IPv6 address, or an AWS service name ("ec2.amazonaws.com", "AWS Internal"). */
    readonly source_ip: string | null;
    readonly user_agent: string | null;
    readonly error_code: string | null;
    readonly error_message: string | null;
    /** vpcEndpointId: the VPC endpoint the call came through, when it did. */
    readonly vpc_endpoint_id: string | null;
    /** JSON text of requestParameters, or null. */
    readonly request_parameters: string | null;
    /** JSON text of responseElements, or null. */
    readonly response_elements: string | null;
    /** JSON text of additionalEventData, or null. */
    readonly additional_event_data: string | null;
    /** JSON text of resources, or null. */
    readonly resources: string | null;
    /** Where the event was read from. */
    readonly file_bucket: string;
    readonly file_key: string;
}

/** The columns of TrailEventRow, in table order (for inserts). */
export const TRAIL_EVENT_COLUMNS = [
    "event_id",
    "event_time",
    "event_source",
    "event_name",
    "aws_region",
    "recipient_account_id",
    "event_type",
    "read_only",
    "principal_type",
    "principal_arn",
    "principal_account_id",
    "access_key_id",
    "session_issuer_arn",
    "session_name",
    "invoked_by",
    "mfa_authenticated",
    "source_ip",
    "user_agent",
    "error_code",
    "error_message",
    "vpc_endpoint_id",
    "request_parameters",
    "response_elements",
    "additional_event_data",
    "resources",
    "file_bucket",
    "file_key",
] as const satisfies readonly (keyof TrailEventRow)[];

/** An S3 object a log was read from. */
export interface TrailObjectRef {
    readonly bucket: string;
    readonly key: string;
    /** The account whose folder holds the object: records for any other account are skipped (parseTrailLog fills it from the key). */
    readonly accountId?: string;
}

/**
 * Longest eventID, eventSource, eventName, awsRegion (CloudTrail's are far shorter) and ARN (IAM's
 * limit) a record may have: these columns are indexed, and PostgreSQL refuses an index entry over
 * about 2.7 kB, which would stop every ingest run at the planted record.
 */
const MAX_ID_LENGTH = 256;
const MAX_ARN_LENGTH = 2048;

/** A log file that cannot be read at all; names the object and what is wrong. */
export class TrailLogError extends Error {
    constructor(
        readonly bucket: string,
        readonly objectKey: string,
        readonly problem: string,
    ) {
        super(`CloudTrail log s3://${bucket}/${objectKey} ${problem}`);
        this.name = "TrailLogError";
    }
}

/** A record left out of a file's rows, and why. */
export interface SkippedRecord {
    /** Its position in the file's Records array. */
    readonly index: number;
    readonly reason: string;
}

export interface ParsedTrailLog {
    /** One row per distinct eventID, in file order. */
    readonly rows: TrailEventRow[];
    /** How many records the file has. */
    readonly records: number;
    /** Records repeated in the file (same eventID), kept once. */
    readonly duplicates: number;
    /** The first skipped records (at most 100), and how many were skipped in all. */
    readonly skipped: readonly SkippedRecord[];
    readonly skippedRecords: number;
}

/** What an object key in a trail bucket is. */
export type TrailKeyInfo =
    | {
          readonly kind: "log" | "digest" | "insight";
          /** Everything before "AWSLogs/" ("" when the trail has no prefix; else ends with "/"). */
          readonly prefix: string;
          /** The organization id of an organization trail's layout (AWSLogs/<org>/<account>/…). */
          readonly organizationId?: string;
          readonly accountId: string;
          readonly region: string;
          /** yyyy-mm-dd of the folder. */
          readonly day: string;
      }
    | { readonly kind: "other" };

const KEY_LAYOUT =
    /^(.*?)AWSLogs\/(?:(o-[a-z0-9]{10,32})\/)?(\d{12})\/(CloudTrail|CloudTrail-Digest|CloudTrail-Insight)\/([a-z0-9-]+)\/(\d{4})\/(\d{2})\/(\d{2})\/([^/]+)$/;
const LOG_FILE = /^\d{12}_CloudTrail_[a-z0-9-]+_\d{8}T\d{4}Z_[A-Za-z0-9]+\.json\.gz$/;
const KINDS = { CloudTrail: "log", "CloudTrail-Digest": "digest", "CloudTrail-Insight": "insight" } as const;

/**
 * What a key of a trail bucket holds: a log file (the only kind ingested), a digest, an Insights
 * file, or something else (another tool's object, a folder marker, a log file renamed by hand).
 */
export function classifyTrailKey(key: string): TrailKeyInfo {
    const m = KEY_LAYOUT.exec(key);
    if (m === null) {
        return { kind: "other" };
    }
    const [, prefix = "", organizationId, accountId = "", folder = "", region = "", yyyy, mm, dd, file = ""] = m;
    const kind = KINDS[folder as keyof typeof KINDS];
    if (kind === "log" && !LOG_FILE.test(file)) {
        return { kind: "other" };
    }
    return { kind, prefix, ...(organizationId !== undefined ? { organizationId } : {}), accountId, region, day: `${yyyy}-${mm}-${dd}` };
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;

/** CloudTrail's eventTime ("2026-12-01T11:03:28Z") as "2026-12-01T11:03:28.000Z"; undefined when it is not an ISO-8601 UTC time. */
export function normalizeEventTime(value: unknown): string | undefined {
    if (typeof value !== "string" || !ISO_UTC.test(value)) {
        return undefined;
    }
    const time = new Date(value);
    return Number.isNaN(time.getTime()) ? undefined : time.toISOString();
}

function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | null {
    if (typeof value === "string") return value;
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    return null;
}

function json(value: unknown): string | null {
    if (value === undefined || value === null) return null;
    try {
        return JSON.stringify(value);
    } catch (e) {
        // A value nested deeper than the stack (CloudTrail does not write such): the record, not the run.
        if (e instanceof RangeError) throw new TrailRecordError(`has a value nested too deeply to keep`);
        throw e;
    }
}

const ASSUMED_ROLE_SESSION = /^arn:[^:]+:sts::\d{12}:assumed-role\/[^/]+\/(.+)$/;

/** A record that cannot become a row. */
export class TrailRecordError extends Error {
    override name = "TrailRecordError";
}

/** One CloudTrail record as a row; throws TrailRecordError when it lacks what identifies it. */
export function trailRowOf(record: unknown, from: TrailObjectRef): TrailEventRow {
    if (!isObject(record)) {
        throw new TrailRecordError(`is ${Array.isArray(record) ? "an array" : record === null ? "null" : `a ${typeof record}`}, not a record object`);
    }
    const eventId = record.eventID;
    if (typeof eventId !== "string" || eventId === "") {
        throw new TrailRecordError("has no eventID");
    }
    if (eventId.length > MAX_ID_LENGTH) {
        throw new TrailRecordError(`has an eventID of ${eventId.length} characters (CloudTrail's are 36)`);
    }
    const eventTime = normalizeEventTime(record.eventTime);
    if (eventTime === undefined) {
        throw new TrailRecordError(`(eventID ${eventId}) has ${record.eventTime === undefined ? "no eventTime" : `an eventTime that is not an ISO-8601 UTC time: ${JSON.stringify(record.eventTime)}`}`);
    }
    for (const field of ["eventSource", "eventName", "awsRegion"] as const) {
        if (typeof record[field] !== "string" || record[field] === "") {
            throw new TrailRecordError(`(eventID ${eventId}) has no ${field}`);
        }
        if ((record[field] as string).length > MAX_ID_LENGTH) {
            throw new TrailRecordError(`(eventID ${eventId}) has a ${field} of ${(record[field] as string).length} characters`);
        }
    }
    if (from.accountId !== undefined && record.recipientAccountId !== undefined && record.recipientAccountId !== from.accountId) {
        throw new TrailRecordError(`(eventID ${eventId}) is for account ${JSON.stringify(record.recipientAccountId)}, not ${from.accountId} whose folder it is in`);
    }
    const identity = isObject(record.userIdentity) ? record.userIdentity : {};
    const sessionContext = isObject(identity.sessionContext) ? identity.sessionContext : {};
    const issuer = isObject(sessionContext.sessionIssuer) ? sessionContext.sessionIssuer : {};
    const attributes = isObject(sessionContext.attributes) ? sessionContext.attributes : {};
    const principalArn = text(identity.arn);
    if (principalArn !== null && principalArn.length > MAX_ARN_LENGTH) {
        throw new TrailRecordError(`(eventID ${eventId}) has a userIdentity.arn of ${principalArn.length} characters`);
    }
    const session = principalArn === null ? null : ASSUMED_ROLE_SESSION.exec(principalArn);
    return {
        event_id: eventId,
        event_time: eventTime,
        event_source: record.eventSource as string,
        event_name: record.eventName as string,
        aws_region: record.awsRegion as string,
        recipient_account_id: text(record.recipientAccountId),
        event_type: text(record.eventType),
        read_only: text(record.readOnly),
        principal_type: text(identity.type),
        principal_arn: principalArn,
        principal_account_id: text(identity.accountId),
        access_key_id: text(identity.accessKeyId),
        session_issuer_arn: text(issuer.arn),
        session_name: session?.[1] ?? null,
        invoked_by: text(identity.invokedBy),
        mfa_authenticated: text(attributes.mfaAuthenticated),
        source_ip: text(record.sourceIPAddress),
        user_agent: text(record.userAgent),
        error_code: text(record.errorCode),
        error_message: text(record.errorMessage),
        vpc_endpoint_id: text(record.vpcEndpointId),
        request_parameters: json(record.requestParameters),
        response_elements: json(record.responseElements),
        additional_event_data: json(record.additionalEventData),
        resources: json(record.resources),
        file_bucket: from.bucket,
        file_key: from.key,
    };
}

/**
 * A log file is a few MB uncompressed; this bounds a hostile or damaged one (a gzip bomb). Parsed,
 * a file takes several times its size in memory: 512 MiB of small records exhausted Node's heap
 * and ended the whole audit, where 128 MiB stays well inside it.
 */
export const MAX_UNCOMPRESSED_BYTES = 128 * 1024 * 1024;
/** How many skipped records' reasons a parsed file keeps (all are counted): junk by the million stays small. */
const SKIPPED_SAMPLES = 100;

/**
 * The rows of one log file (the object's bytes, gzip as CloudTrail writes it). Throws TrailLogError
 * when the file as a whole cannot be read; skips and counts bad records (see the header).
 */
export function parseTrailLog(body: Uint8Array, from: TrailObjectRef): ParsedTrailLog {
    if (body.length < 2 || body[0] !== 0x1f || body[1] !== 0x8b) {
        throw new TrailLogError(from.bucket, from.key, `is not gzip (${body.length === 0 ? "it is empty" : "no gzip header"}); CloudTrail writes .json.gz files.`);
    }
    let textBody: string;
    try {
        textBody = zlib.gunzipSync(body, { maxOutputLength: MAX_UNCOMPRESSED_BYTES }).toString("utf8");
    } catch (e) {
        throw new TrailLogError(from.bucket, from.key, `cannot be decompressed: ${(e as Error).message}.`);
    }
    let doc: unknown;
    try {
        doc = JSON.parse(textBody);
    } catch (e) {
        throw new TrailLogError(from.bucket, from.key, `is not JSON: ${(e as Error).message}.`);
    }
    if (!isObject(doc) || !Array.isArray(doc.Records)) {
        throw new TrailLogError(from.bucket, from.key, `has no "Records" array (${isObject(doc) ? `its keys: ${Object.keys(doc).slice(0, 5).join(", ") || "none"}` : "it is not a JSON object"}).`);
    }
    const records: unknown[] = doc.Records;
    const rows: TrailEventRow[] = [];
    const skipped: SkippedRecord[] = [];
    let skippedRecords = 0;
    const seen = new Set<string>();
    let duplicates = 0;
    const keyInfo = classifyTrailKey(from.key);
    const folder = from.accountId === undefined && keyInfo.kind !== "other" ? { ...from, accountId: keyInfo.accountId } : from;
    records.forEach((record, index) => {
        try {
            const row = trailRowOf(record, folder);
            if (seen.has(row.event_id)) {
                duplicates++;
                return;
            }
            seen.add(row.event_id);
            rows.push(row);
        } catch (e) {
            if (!(e instanceof TrailRecordError)) throw e;
            skippedRecords++;
            if (skipped.length < SKIPPED_SAMPLES) skipped.push({ index, reason: `Record ${index} ${e.message}` });
        }
    });
    return { rows, records: records.length, duplicates, skipped, skippedRecords };
}
