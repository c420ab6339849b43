import {
    CredentialReportExpiredException,
    CredentialReportNotPresentException,
    CredentialReportNotReadyException,
    GenerateCredentialReportCommand,
    GetAccountAuthorizationDetailsCommand,
    GetAccountAuthorizationDetailsCommandOutput,
    GetCredentialReportCommand,
    GetCredentialReportCommandOutput,
    IAMClient,
    ReportGenerationLimitExceededException,
} from "@aws-sdk/client-iam";

/**
 * What the audit reads of an account's IAM, with as few calls as the APIs allow:
 * - `fetchIamInventory`: ONE paginated listing, `GetAccountAuthorizationDetails` (pages of up to
 *   1,000 items, counting users, groups, roles and policies together), instead of List/Get calls per
 *   user, group, role or policy. Policy documents arrive URL-encoded (RFC 3986) and are decoded here.
 *   AWS managed policies are not listed by default: the audit refers to AWS's `SecurityAudit` only by
 *   its ARN (which appears in the attachments of groups and users), never by its document, and AWS
 *   managed policies are over a thousand with all their versions: several pages for nothing.
 * - `fetchCredentialReport`: the credential report, reused while younger than `maxAgeMinutes`,
 *   otherwise generated once and polled with backoff until COMPLETE.
 *
 * Every call made is counted by operation name (`calls`), for the benchmark's comparison against
 * the minimum. Calls for an account with U users, G groups, R roles and P customer managed policies:
 *   GetAccountAuthorizationDetails: max(1, ceil((U + G + R + P) / 1000)) (AWS may cut a page short
 *     of MaxItems: then more, and the count shows it);
 *   credential report: 1 (a fresh report exists: GetCredentialReport), otherwise
 *     3 + k (GetCredentialReport, GenerateCredentialReport, k more GenerateCredentialReport polls
 *     until COMPLETE, GetCredentialReport), k = 0 when AWS already has a report under 4 hours old;
 *     2 + k with maxAgeMinutes <= 0 (no reuse: the first GetCredentialReport is skipped).
 */

/** API calls made, by operation name (e.g. { GetAccountAuthorizationDetails: 3 }). */
export type ApiCalls = Record<string, number>;

/** GetAccountAuthorizationDetails' entity filters. */
export type InventoryEntity = "User" | "Group" | "Role" | "LocalManagedPolicy" | "AWSManagedPolicy";

/** What the audit lists by default (AWSManagedPolicy only on request: see above). */
export const DEFAULT_INVENTORY_ENTITIES: readonly InventoryEntity[] = ["User", "Group", "Role", "LocalManagedPolicy"];

/** The page size asked for: GetAccountAuthorizationDetails' maximum. */
export const IAM_PAGE_SIZE = 1000;

/** A policy document as stored: decoded and parsed, or why it could not be. */
export interface PolicyText {
    /** The parsed JSON document, when it parsed. */
    readonly document?: unknown;
    /** Why the text could not be decoded or parsed. */
    readonly error?: string;
}

export interface InlinePolicy extends PolicyText {
    readonly name: string;
}

export interface AttachedPolicy {
    readonly name: string;
    readonly arn: string;
}

export interface IamUser {
    readonly name: string;
    readonly arn: string;
    readonly id: string;
    readonly path: string;
    readonly createDate?: Date;
    /** Names of the groups the user is in. */
    readonly groups: readonly string[];
    readonly attachedPolicies: readonly AttachedPolicy[];
    readonly inlinePolicies: readonly InlinePolicy[];
    readonly permissionsBoundaryArn?: string;
}

export interface IamGroup {
    readonly name: string;
    readonly arn: string;
    readonly id: string;
    readonly path: string;
    readonly createDate?: Date;
    readonly attachedPolicies: readonly AttachedPolicy[];
    readonly inlinePolicies: readonly InlinePolicy[];
}

export interface IamRole {
    readonly name: string;
    readonly arn: string;
    readonly id: string;
    readonly path: string;
    readonly createDate?: Date;
    readonly trustPolicy: PolicyText;
    readonly attachedPolicies: readonly AttachedPolicy[];
    readonly inlinePolicies: readonly InlinePolicy[];
    readonly instanceProfileArns: readonly string[];
    readonly permissionsBoundaryArn?: string;
}

export interface PolicyVersion extends PolicyText {
    readonly versionId: string;
    readonly isDefault: boolean;
    readonly createDate?: Date;
}

export interface ManagedPolicy {
    readonly name: string;
    readonly arn: string;
    readonly id?: string;
    readonly path: string;
    readonly defaultVersionId?: string;
    readonly attachmentCount?: number;
    readonly isAttachable?: boolean;
    /** Every stored version (GetAccountAuthorizationDetails lists them all). */
    readonly versions: readonly PolicyVersion[];
    /** The default version (the one IAM enforces), when the listing has it. */
    readonly defaultVersion?: PolicyVersion;
    /** AWS managed (arn:…:iam::aws:policy/…) rather than the account's own. */
    readonly awsManaged: boolean;
}

export interface IamInventory {
    /** The account, from the listed ARNs (undefined when nothing was listed). */
    readonly accountId?: string;
    /** What was listed: a check must not read "no users" into an inventory that did not list users. */
    readonly entities: readonly InventoryEntity[];
    readonly users: readonly IamUser[];
    readonly groups: readonly IamGroup[];
    readonly roles: readonly IamRole[];
    readonly policies: readonly ManagedPolicy[];
    /** GetAccountAuthorizationDetails pages read. */
    readonly pages: number;
    readonly calls: ApiCalls;
}

export interface InventoryOptions {
    /** @default DEFAULT_INVENTORY_ENTITIES */
    readonly entities?: readonly InventoryEntity[];
    /** @default IAM_PAGE_SIZE (1000, the maximum) */
    readonly pageSize?: number;
}

/**
 * The account's IAM in one paginated GetAccountAuthorizationDetails listing. Throws on any failed
 * call (access denied, throttled past the SDK's retries), and when a page says it is truncated
 * without a marker, or repeats a marker (a listing that would never end).
 */
export async function fetchIamInventory(client: IAMClient, options: InventoryOptions = {}): Promise<IamInventory> {
    const entities = [...(options.entities ?? DEFAULT_INVENTORY_ENTITIES)];
    const calls: ApiCalls = {};
    const users: IamUser[] = [];
    const groups: IamGroup[] = [];
    const roles: IamRole[] = [];
    const policies: ManagedPolicy[] = [];
    const markers = new Set<string>();
    let marker: string | undefined;
    let pages = 0;
    for (;;) {
        count(calls, "GetAccountAuthorizationDetails");
        const page: GetAccountAuthorizationDetailsCommandOutput = await client.send(
            new GetAccountAuthorizationDetailsCommand({ Filter: entities, MaxItems: options.pageSize ?? IAM_PAGE_SIZE, Marker: marker }),
        );
        pages++;
        for (const u of page.UserDetailList ?? []) {
            users.push({
                name: u.UserName ?? nameFromArn(u.Arn),
                arn: u.Arn ?? "",
                id: u.UserId ?? "",
                path: u.Path ?? "/",
                createDate: u.CreateDate,
                groups: [...(u.GroupList ?? [])],
                attachedPolicies: attached(u.AttachedManagedPolicies),
                inlinePolicies: inline(u.UserPolicyList),
                permissionsBoundaryArn: u.PermissionsBoundary?.PermissionsBoundaryArn,
            });
        }
        for (const g of page.GroupDetailList ?? []) {
            groups.push({
                name: g.GroupName ?? nameFromArn(g.Arn),
                arn: g.Arn ?? "",
                id: g.GroupId ?? "",
                path: g.Path ?? "/",
                createDate: g.CreateDate,
                attachedPolicies: attached(g.AttachedManagedPolicies),
                inlinePolicies: inline(g.GroupPolicyList),
            });
        }
        for (const r of page.RoleDetailList ?? []) {
            roles.push({
                name: r.RoleName ?? nameFromArn(r.Arn),
                arn: r.Arn ?? "",
                id: r.RoleId ?? "",
                path: r.Path ?? "/",
                createDate: r.CreateDate,
                trustPolicy: decodePolicyDocument(r.AssumeRolePolicyDocument),
                attachedPolicies: attached(r.AttachedManagedPolicies),
                inlinePolicies: inline(r.RolePolicyList),
                instanceProfileArns: (r.InstanceProfileList ?? []).map((p) => p.Arn ?? "").filter((a) => a !== ""),
                permissionsBoundaryArn: r.PermissionsBoundary?.PermissionsBoundaryArn,
            });
        }
        for (const p of page.Policies ?? []) {
            const arn = p.Arn ?? "";
            const versions: PolicyVersion[] = (p.PolicyVersionList ?? []).map((v) => ({
                versionId: v.VersionId ?? "",
                isDefault: v.IsDefaultVersion === true,
                createDate: v.CreateDate,
                ...decodePolicyDocument(v.Document),
            }));
            policies.push({
                // moto 5.2.1 leaves out PolicyName and PolicyId here: the name is the ARN's last segment.
                name: p.PolicyName ?? nameFromArn(arn),
                arn,
                id: p.PolicyId,
                path: p.Path ?? "/",
                defaultVersionId: p.DefaultVersionId,
                attachmentCount: p.AttachmentCount,
                isAttachable: p.IsAttachable,
                versions,
                defaultVersion: versions.find((v) => v.isDefault) ?? versions.find((v) => v.versionId === p.DefaultVersionId),
                awsManaged: /^arn:[^:]+:iam::aws:policy\//.test(arn),
            });
        }
        if (page.IsTruncated !== true) break;
        if (page.Marker === undefined || page.Marker === "") {
            throw new Error(`GetAccountAuthorizationDetails: page ${pages} is truncated but has no Marker`);
        }
        if (markers.has(page.Marker)) {
            throw new Error(`GetAccountAuthorizationDetails: page ${pages} repeats an earlier Marker (the listing would never end)`);
        }
        markers.add(page.Marker);
        marker = page.Marker;
    }
    const anyArn = [...users, ...groups, ...roles].map((e) => e.arn).find((a) => a !== "") ?? policies.find((p) => !p.awsManaged)?.arn;
    return { accountId: anyArn === undefined ? undefined : accountOfArn(anyArn), entities, users, groups, roles, policies, pages, calls };
}

/**
 * A policy document as GetAccountAuthorizationDetails returns it: URL-encoded JSON (RFC 3986, so
 * decodeURIComponent; "+" is a literal plus). JSON text that is not encoded (it starts with "{",
 * which an encoded document never does: moto returns trust policies so) is parsed as it is.
 */
export function decodePolicyDocument(text: string | undefined): PolicyText {
    if (text === undefined) return { error: "no document in the listing" };
    let json = text;
    if (!text.trimStart().startsWith("{")) {
        try {
            json = decodeURIComponent(text);
        } catch (error) {
            return { error: `not URL-encoded JSON: ${(error as Error).message}` };
        }
    }
    try {
        return { document: JSON.parse(json) as unknown };
    } catch (error) {
        return { error: `not JSON: ${(error as Error).message}` };
    }
}

function attached(list: readonly { PolicyName?: string; PolicyArn?: string }[] | undefined): AttachedPolicy[] {
    return (list ?? []).map((p) => ({ name: p.PolicyName ?? nameFromArn(p.PolicyArn), arn: p.PolicyArn ?? "" }));
}

function inline(list: readonly { PolicyName?: string; PolicyDocument?: string }[] | undefined): InlinePolicy[] {
    return (list ?? []).map((p) => ({ name: p.PolicyName ?? "", ...decodePolicyDocument(p.PolicyDocument) }));
}

function nameFromArn(arn: string | undefined): string {
    return (arn ?? "").slice((arn ?? "").lastIndexOf("/") + 1);
}

function accountOfArn(arn: string): string | undefined {
    const account = arn.split(":")[4];
    return account !== undefined && /^\d{12}$/.test(account) ? account : undefined;
}

function count(calls: ApiCalls, operation: string): void {
    calls[operation] = (calls[operation] ?? 0) + 1;
}

// ---------------------------------------------------------------------------------------------
// The credential report

/** The name of the root user's row in the credential report. */
export const ROOT_ROW_USER = "<root_account>";

/** One access key slot of a credential report row (a user has at most two keys). */
export interface CredentialReportKey {
    readonly slot: 1 | 2;
    readonly active: boolean;
    /** When the key was created or last rotated (undefined: no key in this slot). */
    readonly lastRotated?: Date;
    /** Last use; undefined when never used (the report's "N/A"). */
    readonly lastUsed?: Date;
    readonly lastUsedRegion?: string;
    readonly lastUsedService?: string;
}

/** One row of the credential report, parsed. The root user's row has isRoot and is never a user. */
export interface CredentialReportRow {
    readonly user: string;
    readonly arn: string;
    readonly isRoot: boolean;
    readonly userCreationTime?: Date;
    /** undefined for root ("not_supported": root always has a password). */
    readonly passwordEnabled?: boolean;
    /** undefined when never used, unknown ("no_information") or no password ("N/A"). */
    readonly passwordLastUsed?: Date;
    readonly passwordLastChanged?: Date;
    readonly mfaActive: boolean;
    /** The slots that hold a key (active or not): a slot with neither a date nor "true" is empty. */
    readonly accessKeys: readonly CredentialReportKey[];
    /** The row's columns as in the report (no secrets: the report holds none). */
    readonly raw: Readonly<Record<string, string>>;
}

export interface CredentialReport {
    readonly rows: readonly CredentialReportRow[];
    readonly generatedTime?: Date;
    /** A report younger than maxAgeMinutes was there and used without generating one. */
    readonly reused: boolean;
    readonly calls: ApiCalls;
}

export interface CredentialReportOptions {
    /** Use a report younger than this without generating; <= 0: always ask for a new one. */
    readonly maxAgeMinutes: number;
    /** The first wait between polls; doubled after each, up to maxPollMs. */
    readonly pollMs: number;
    /** Give up (throw) when the report is not COMPLETE after this long. */
    readonly timeoutMs: number;
    /** The clock. @default () => new Date() */
    readonly now?: () => Date;
    /** @default 20 * pollMs, at most 30 s */
    readonly maxPollMs?: number;
    /** @default setTimeout */
    readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * IAM makes a new report only when the last one is older than four hours (IAM User Guide, "Getting
 * credential reports"): a GenerateCredentialReport answered COMPLETE at once while the report in
 * hand is younger than that means the report in hand is the account's current one.
 */
const IAM_REGENERATION_AGE_MS = 4 * 60 * 60 * 1000;

/**
 * The credential report: the account's current one when it is younger than maxAgeMinutes
 * (GetCredentialReport's GeneratedTime), otherwise GenerateCredentialReport, polled with backoff
 * until COMPLETE (ReportGenerationLimitExceeded counts as "still in progress"), then read.
 */
export async function fetchCredentialReport(client: IAMClient, options: CredentialReportOptions): Promise<CredentialReport> {
    const now = options.now ?? (() => new Date());
    const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    const maxPollMs = options.maxPollMs ?? Math.min(20 * options.pollMs, 30_000);
    const calls: ApiCalls = {};
    const start = now().getTime();
    let slept = 0;
    // Time passed: by the clock, or by the waits alone when the clock given does not move.
    const elapsed = (): number => Math.max(now().getTime() - start, slept);

    const read = async (): Promise<{ rows: CredentialReportRow[]; generatedTime?: Date }> => {
        count(calls, "GetCredentialReport");
        const out: GetCredentialReportCommandOutput = await client.send(new GetCredentialReportCommand({}));
        return { rows: parseCredentialReport(new TextDecoder("utf-8").decode(out.Content ?? new Uint8Array())), generatedTime: out.GeneratedTime };
    };
    const ageMs = (t: Date | undefined): number => (t === undefined ? Infinity : now().getTime() - t.getTime());

    let held: { rows: CredentialReportRow[]; generatedTime?: Date } | undefined;
    if (options.maxAgeMinutes > 0) {
        try {
            held = await read();
            if (ageMs(held.generatedTime) < options.maxAgeMinutes * 60_000) {
                return { ...held, reused: true, calls };
            }
        } catch (error) {
            if (!(error instanceof CredentialReportNotPresentException || error instanceof CredentialReportExpiredException)) throw error;
        }
    }

    let wait = options.pollMs;
    let firstAnswer = true;
    for (;;) {
        let state: string;
        try {
            count(calls, "GenerateCredentialReport");
            state = (await client.send(new GenerateCredentialReportCommand({}))).State ?? "UNKNOWN";
        } catch (error) {
            if (!(error instanceof ReportGenerationLimitExceededException)) throw error;
            state = "INPROGRESS";
        }
        if (state === "COMPLETE") {
            if (firstAnswer && held !== undefined && ageMs(held.generatedTime) < IAM_REGENERATION_AGE_MS) {
                return { ...held, reused: true, calls };
            }
            try {
                return { ...(await read()), reused: false, calls };
            } catch (error) {
                if (!(error instanceof CredentialReportNotReadyException)) throw error;
                state = "INPROGRESS";
            }
        }
        firstAnswer = false;
        if (elapsed() + wait > options.timeoutMs) {
            throw new Error(`the credential report is still ${state} after ${options.timeoutMs} ms (GenerateCredentialReport polled ${calls["GenerateCredentialReport"]} times)`);
        }
        await sleep(wait);
        slept += wait;
        wait = Math.min(wait * 2, maxPollMs);
    }
}

/**
 * The credential report's CSV (RFC 4180: quoted fields are understood), by column name. The row
 * `<root_account>` is the root user (isRoot), never a user.
 */
export function parseCredentialReport(csv: string): CredentialReportRow[] {
    const records = parseCsv(csv).filter((r) => !(r.length === 1 && r[0] === ""));
    const header = records.shift();
    if (header === undefined) return [];
    if (!header.includes("user") || !header.includes("arn")) {
        throw new Error(`the credential report has no user and arn columns (header: ${header.join(",").slice(0, 200)})`);
    }
    return records.map((fields) => {
        const raw: Record<string, string> = {};
        header.forEach((name, i) => (raw[name] = fields[i] ?? ""));
        const key = (slot: 1 | 2): CredentialReportKey | undefined => {
            const p = `access_key_${slot}_`;
            const active = raw[`${p}active`] === "true";
            const lastRotated = date(raw[`${p}last_rotated`]);
            if (!active && lastRotated === undefined) return undefined;
            return {
                slot,
                active,
                lastRotated,
                lastUsed: date(raw[`${p}last_used_date`]),
                lastUsedRegion: text(raw[`${p}last_used_region`]),
                lastUsedService: text(raw[`${p}last_used_service`]),
            };
        };
        const passwordEnabled = raw["password_enabled"];
        return {
            user: raw["user"] ?? "",
            arn: raw["arn"] ?? "",
            isRoot: raw["user"] === ROOT_ROW_USER,
            userCreationTime: date(raw["user_creation_time"]),
            passwordEnabled: passwordEnabled === "true" ? true : passwordEnabled === "false" ? false : undefined,
            passwordLastUsed: date(raw["password_last_used"]),
            passwordLastChanged: date(raw["password_last_changed"]),
            mfaActive: raw["mfa_active"] === "true",
            accessKeys: [key(1), key(2)].filter((k): k is CredentialReportKey => k !== undefined),
            raw,
        };
    });
}

/** A date column: undefined for "N/A", "not_supported", "no_information" and anything unparseable. */
function date(value: string | undefined): Date | undefined {
    if (value === undefined || !/^\d{4}-\d{2}-\d{2}T/.test(value)) return undefined;
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? undefined : d;
}

function text(value: string | undefined): string | undefined {
    return value === undefined || value === "" || value === "N/A" || value === "not_supported" ? undefined : value;
}

function parseCsv(csv: string): string[][] {
    const rows: string[][] = [];
    let row: string[] = [];
    let field = "";
    let quoted = false;
    for (let i = 0; i < csv.length; i++) {
        const c = csv[i]!;
        if (quoted) {
            if (c === '"') {
                if (csv[i + 1] === '"') {
                    field += '"';
                    i++;
                } else {
                    quoted = false;
                }
            } else {
                field += c;
            }
        } else if (c === '"') {
            quoted = true;
        } else if (c === ",") {
            row.push(field);
            field = "";
        } else if (c === "\n" || c === "\r") {
            if (c === "\r" && csv[i + 1] === "\n") i++;
            row.push(field);
            rows.push(row);
            row = [];
            field = "";
        } else {
            field += c;
        }
    }
    if (field !== "" || row.length > 0) {
        row.push(field);
        rows.push(row);
    }
    return rows;
}
