/**
 * Writing what an audit collected into the records database, keeping history (issue 11,
 * "Inventory with history").
 *
 * - `snapshotItems` (pure) turns the audit's collected data (IAM inventory, credential report,
 *   buckets, instances) into items: a kind, a natural key, a display name and a plain-JSON state.
 *   Only metadata: no secret is ever part of a state (the credential report holds none; access keys
 *   are their report slots: active, rotated, last used).
 * - `writeAccountSnapshot` writes one account's snapshot in ONE transaction, matching items on
 *   (account, kind, key):
 *     new                      → item inserted (first_seen = last_changed = last_audited = the audit's
 *                                time) and its first version;
 *     unchanged (same state)   → only last_audited advances (one UPDATE for the whole account);
 *     changed                  → item updated, its open version closed (valid_to), a new version;
 *     gone (kind collected)    → removed_at set (the row stays), version closed, a removal version
 *                                (state null);
 *     back after removal       → removed_at cleared, removal version closed, a new version.
 *   Kinds not collected this time (a source that was not read) are left exactly as they are, so a
 *   partial audit never reads as "everything else was deleted". A crash or an error anywhere in the
 *   write rolls the whole account back: the previous complete state stays.
 *   On PostgreSQL a transaction-scoped advisory lock per account serialises two writers of the same
 *   account (SQLite's BEGIN IMMEDIATE serialises all writers). A snapshot older than what the
 *   database already holds for the account is refused (history would run backwards).
 * - `writeFindings` stores a run's findings with their OCSF uid; `startRun`/`finishRun` record the
 *   run they (and inventory versions) refer to.
 * Every value goes through Kysely's parameters; inserts are batched below both databases' limits on
 * parameters per statement (SQLite 32766, PostgreSQL 65535).
 */
import type { CollectedBucket, CollectedInstance } from "../checks/context";
import { createHash } from "crypto";
import { Kysely, PostgresAdapter, Transaction, sql } from "kysely";
import type { Finding } from "../findings";
import type { CredentialReportRow, IamInventory } from "../iamInventory";
import { canonicalJson } from "../policyEquivalence";
import { findingUid } from "../report/ocsf";
import { dbTime, NewInventoryItem, NewInventoryVersion, RecordsSchema } from "./schema";
import { SQLITE_MAX_VARIABLES } from "./sqlite";

export const ITEM_KINDS = [
    "user",
    "group",
    "role",
    "policy",
    "inline_policy",
    "membership",
    "attachment",
    "access_key",
    "credential_report_row",
    "bucket",
    "instance",
] as const;
export type ItemKind = (typeof ITEM_KINDS)[number];

/** One thing an account holds, as collected. */
export interface InventoryItem {
    readonly kind: ItemKind;
    /** Unique within the kind and account (an ARN, "<principal ARN>#<policy name>", a bucket name, …). */
    readonly key: string;
    readonly name?: string;
    /** Plain JSON (Dates become ISO text; undefined members are left out). */
    readonly state: unknown;
}

export interface AccountSnapshot {
    readonly accountId: string;
    readonly auditedAt: Date;
    /** The run (startRun) the new versions belong to. */
    readonly runId: string;
    /** The kinds collected this time: items of other kinds are left as they are. */
    readonly kinds: readonly ItemKind[];
    readonly items: readonly InventoryItem[];
    /**
     * Regional kinds (bucket, instance) collected in these regions only: recorded items of the kind
     * whose state's `region` is elsewhere are left as they are (neither removed nor audited). A kind
     * not named here was collected everywhere.
     */
    readonly regions?: Readonly<Partial<Record<ItemKind, readonly string[]>>>;
}

/** A bucket as the public-buckets check saw it (audit/checks/context.ts). */
export type BucketRecord = CollectedBucket;

/** An instance as the unmanaged-instances check saw it (audit/checks/context.ts). */
export type InstanceRecord = CollectedInstance;

/** What an audit collected of one account; a source left out was not collected. */
export interface CollectedInventory {
    readonly iam?: IamInventory;
    readonly credentialReport?: readonly CredentialReportRow[];
    readonly buckets?: readonly BucketRecord[];
    readonly instances?: readonly InstanceRecord[];
}

export interface SnapshotItems {
    readonly kinds: readonly ItemKind[];
    readonly items: readonly InventoryItem[];
}

const iso = (d: Date | undefined): string | null => (d === undefined ? null : d.toISOString());

/**
 * The items of what was collected, and the kinds they cover. IAM gives user, group, role, policy
 * (the account's own managed policies, with their default version's document; AWS managed ones
 * appear only as the policy ARN of attachments), inline_policy, membership and attachment; a kind
 * is claimed only when the listing covered it (GetAccountAuthorizationDetails' entity filters).
 * The credential report gives access_key and credential_report_row; buckets bucket; instances
 * instance.
 */
export function snapshotItems(collected: CollectedInventory): SnapshotItems {
    const kinds: ItemKind[] = [];
    const items: InventoryItem[] = [];
    const { iam, credentialReport, buckets, instances } = collected;
    if (iam !== undefined) {
        const listed = new Set(iam.entities);
        const principals = listed.has("User") && listed.has("Group") && listed.has("Role");
        if (listed.has("User")) kinds.push("user", "membership");
        if (listed.has("Group")) kinds.push("group");
        if (listed.has("Role")) kinds.push("role");
        if (listed.has("LocalManagedPolicy")) kinds.push("policy");
        if (principals) kinds.push("inline_policy", "attachment");

        const groupArnByName = new Map(iam.groups.map((g) => [g.name, g.arn]));
        const inlineAndAttached = (
            principalType: "user" | "group" | "role",
            principal: { arn: string; inlinePolicies: IamInventory["users"][number]["inlinePolicies"]; attachedPolicies: IamInventory["users"][number]["attachedPolicies"] },
        ): void => {
            if (!principals) return;
            for (const p of principal.inlinePolicies) {
                items.push({
                    kind: "inline_policy",
                    key: `${principal.arn}#${p.name}`,
                    name: p.name,
                    state: { principalArn: principal.arn, principalType, name: p.name, document: p.document ?? null, ...(p.error === undefined ? {} : { error: p.error }) },
                });
            }
            for (const a of principal.attachedPolicies) {
                items.push({
                    kind: "attachment",
                    key: `${principal.arn}|${a.arn}`,
                    name: a.name,
                    state: { principalArn: principal.arn, principalType, policyArn: a.arn, policyName: a.name },
                });
            }
        };
        if (listed.has("User")) {
            for (const u of iam.users) {
                items.push({
                    kind: "user",
                    key: u.arn,
                    name: u.name,
                    state: { arn: u.arn, name: u.name, id: u.id, path: u.path, createDate: iso(u.createDate), permissionsBoundaryArn: u.permissionsBoundaryArn ?? null },
                });
                for (const groupName of u.groups) {
                    const groupArn = groupArnByName.get(groupName) ?? sameAccountArn(u.arn, `group/${groupName}`);
                    items.push({
                        kind: "membership",
                        key: `${u.arn}|${groupArn}`,
                        name: `${u.name} in ${groupName}`,
                        state: { userArn: u.arn, userName: u.name, groupArn, groupName },
                    });
                }
                inlineAndAttached("user", u);
            }
        }
        if (listed.has("Group")) {
            for (const g of iam.groups) {
                items.push({ kind: "group", key: g.arn, name: g.name, state: { arn: g.arn, name: g.name, id: g.id, path: g.path, createDate: iso(g.createDate) } });
                inlineAndAttached("group", g);
            }
        }
        if (listed.has("Role")) {
            for (const r of iam.roles) {
                items.push({
                    kind: "role",
                    key: r.arn,
                    name: r.name,
                    state: {
                        arn: r.arn,
                        name: r.name,
                        id: r.id,
                        path: r.path,
                        createDate: iso(r.createDate),
                        trustPolicy: r.trustPolicy.document ?? null,
                        ...(r.trustPolicy.error === undefined ? {} : { trustPolicyError: r.trustPolicy.error }),
                        instanceProfileArns: [...r.instanceProfileArns].sort(),
                        permissionsBoundaryArn: r.permissionsBoundaryArn ?? null,
                    },
                });
                inlineAndAttached("role", r);
            }
        }
        if (listed.has("LocalManagedPolicy")) {
            for (const p of iam.policies) {
                if (p.awsManaged) continue;
                const version = p.defaultVersion;
                items.push({
                    kind: "policy",
                    key: p.arn,
                    name: p.name,
                    state: {
                        arn: p.arn,
                        name: p.name,
                        id: p.id ?? null,
                        path: p.path,
                        isAttachable: p.isAttachable ?? null,
                        defaultVersionId: version?.versionId ?? p.defaultVersionId ?? null,
                        document: version?.document ?? null,
                        ...(version?.error === undefined ? {} : { documentError: version.error }),
                    },
                });
            }
        }
    }
    if (credentialReport !== undefined) {
        kinds.push("access_key", "credential_report_row");
        for (const row of credentialReport) {
            items.push({ kind: "credential_report_row", key: row.arn, name: row.user, state: { ...row.raw } });
            for (const k of row.accessKeys) {
                items.push({
                    kind: "access_key",
                    key: `${row.arn}#${k.slot}`,
                    name: `${row.user} key ${k.slot}`,
                    state: {
                        userArn: row.arn,
                        user: row.user,
                        slot: k.slot,
                        active: k.active,
                        lastRotated: iso(k.lastRotated),
                        lastUsed: iso(k.lastUsed),
                        lastUsedRegion: k.lastUsedRegion ?? null,
                        lastUsedService: k.lastUsedService ?? null,
                    },
                });
            }
        }
    }
    if (buckets !== undefined) {
        kinds.push("bucket");
        for (const b of buckets) {
            items.push({
                kind: "bucket",
                key: b.name,
                name: b.name,
                state: {
                    name: b.name,
                    region: b.region,
                    accountBlock: b.accountBlock,
                    bucketBlock: b.bucketBlock,
                    policyPublic: b.policyPublic,
                    aclPublic: b.aclPublic,
                    policyStatusIsPublic: b.policyStatusIsPublic ?? null,
                },
            });
        }
    }
    if (instances !== undefined) {
        kinds.push("instance");
        for (const i of instances) {
            items.push({
                kind: "instance",
                key: i.instanceId,
                name: i.tags["Name"] ?? i.instanceId,
                state: {
                    instanceId: i.instanceId,
                    region: i.region,
                    state: i.state,
                    vpcId: i.vpcId ?? null,
                    subnetId: i.subnetId ?? null,
                    privateIps: [...i.privateIps],
                    publicIps: [...i.publicIps],
                    managed: i.managed,
                    phase: i.phase ?? null,
                    instanceProfileArn: i.instanceProfileArn ?? null,
                    tags: { ...i.tags },
                },
            });
        }
    }
    return { kinds, items };
}

/** arn:<partition>:iam::<account>:<resource>, in the account and partition of another IAM ARN. */
function sameAccountArn(arn: string, resource: string): string {
    const [, partition = "aws", , , account = ""] = arn.split(":");
    return `arn:${partition}:iam::${account}:${resource}`;
}

/** A state as stored: plain JSON (Dates as ISO text, undefined members left out), object keys sorted. */
export function canonicalState(state: unknown): string {
    const json = JSON.stringify(state === undefined ? null : state);
    return canonicalJson(JSON.parse(json) as unknown);
}

/** sha256 (hex) of a canonical state. */
export function stateHash(canonical: string): string {
    return createHash("sha256").update(canonical, "utf8").digest("hex");
}

export interface WriteCounts {
    readonly inserted: number;
    readonly changed: number;
    readonly unchanged: number;
    readonly removed: number;
    readonly restored: number;
    /** Rows inserted or updated, items and versions together. */
    readonly rowsWritten: number;
}

export interface WriteHooks {
    /**
     * Called after each statement of the transaction with the number run so far; what it throws
     * aborts the write (tests use it to crash mid-write).
     */
    readonly afterStatement?: (statements: number) => void | Promise<void>;
}

/** Parameters per statement: SQLite's limit, the lower of the two databases' (PostgreSQL: 65535). */
const MAX_PARAMETERS = SQLITE_MAX_VARIABLES;
/** Keys per `IN (…)` list. */
const KEYS_PER_STATEMENT = 5000;

function chunks<T>(list: readonly T[], size: number): T[][] {
    const out: T[][] = [];
    for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
    return out;
}

function rowsPerInsert(columns: number): number {
    return Math.max(1, Math.floor(MAX_PARAMETERS / columns));
}

interface Prepared {
    readonly kind: ItemKind;
    readonly key: string;
    readonly name: string | null;
    readonly state: string;
    readonly hash: string;
}

interface Existing {
    readonly kind: string;
    readonly item_key: string;
    readonly name: string | null;
    readonly state_hash: string;
    readonly removed_at: string | null;
    readonly last_audited: string;
}

const itemId = (kind: string, key: string): string => `${kind}\u0000${key}`;

/**
 * Writes one account's snapshot (see the module comment) in one transaction and returns what it
 * did. Throws (and writes nothing) on an item of a kind not in `kinds`, a key given twice, or a
 * snapshot older than what the database holds for the account.
 */
export async function writeAccountSnapshot(db: Kysely<RecordsSchema>, snapshot: AccountSnapshot, hooks: WriteHooks = {}, also: { readonly findings?: readonly Finding[] } = {}): Promise<WriteCounts> {
    const at = dbTime(snapshot.auditedAt);
    const account = snapshot.accountId;
    const kinds = [...new Set(snapshot.kinds)];
    const collected = new Set<string>(kinds);
    const present = new Map<string, Prepared>();
    for (const item of snapshot.items) {
        if (!collected.has(item.kind)) {
            throw new Error(`account ${account}: item ${item.kind} ${item.key} is of a kind not in the snapshot's kinds (${kinds.join(", ") || "none"})`);
        }
        const id = itemId(item.kind, item.key);
        if (present.has(id)) throw new Error(`account ${account}: ${item.kind} ${item.key} appears twice in the snapshot`);
        const state = canonicalState(item.state);
        present.set(id, { kind: item.kind, key: item.key, name: item.name ?? null, state, hash: stateHash(state) });
    }
    const postgres = db.getExecutor().adapter instanceof PostgresAdapter;

    return db.transaction().execute(async (trx) => {
        let statements = 0;
        let rowsWritten = 0;
        const step = async (affected: bigint | number | undefined): Promise<void> => {
            rowsWritten += Number(affected ?? 0);
            statements++;
            await hooks.afterStatement?.(statements);
        };
        if (postgres) {
            // Two writers of one account take turns (released at commit or rollback).
            await sql`select pg_advisory_xact_lock(hashtextextended(${`airlock:inventory:${account}`}, 0))`.execute(trx);
            await step(0);
        }

        const existing: Existing[] = [];
        const scoped = kinds.filter((k) => snapshot.regions?.[k] !== undefined);
        const everywhere = kinds.filter((k) => !scoped.includes(k));
        if (everywhere.length > 0) {
            existing.push(
                ...(await trx
                    .selectFrom("inventory_items")
                    .select(["kind", "item_key", "name", "state_hash", "removed_at", "last_audited"])
                    .where("account_id", "=", account)
                    .where("kind", "in", everywhere)
                    .execute()),
            );
            await step(0);
        }
        if (scoped.length > 0) {
            // Regional kinds: only the recorded items of the regions collected take part.
            const rows = await trx
                .selectFrom("inventory_items")
                .select(["kind", "item_key", "name", "state_hash", "removed_at", "last_audited", "state"])
                .where("account_id", "=", account)
                .where("kind", "in", scoped)
                .execute();
            await step(0);
            for (const { state, ...row } of rows) {
                const region = (JSON.parse(state) as { region?: unknown } | null)?.region;
                if (typeof region !== "string" || (snapshot.regions?.[row.kind as ItemKind] ?? []).includes(region)) existing.push(row);
            }
        }
        const newest = existing.reduce((m, e) => (e.last_audited > m ? e.last_audited : m), "");
        if (newest > at) {
            throw new Error(`account ${account}: the snapshot of ${at} is older than the recorded audit of ${newest}: refusing to write history backwards`);
        }

        const added: Prepared[] = [];
        const changed: Prepared[] = [];
        const restored: Prepared[] = [];
        const removed: Existing[] = [];
        let unchanged = 0;
        const seen = new Set<string>();
        for (const e of existing) {
            const id = itemId(e.kind, e.item_key);
            seen.add(id);
            const now = present.get(id);
            if (now === undefined) {
                if (e.removed_at === null) removed.push(e);
            } else if (e.removed_at !== null) {
                restored.push(now);
            } else if (e.state_hash !== now.hash || e.name !== now.name) {
                changed.push(now);
            } else {
                unchanged++;
            }
        }
        for (const [id, p] of present) if (!seen.has(id)) added.push(p);

        // New items.
        const newItems: NewInventoryItem[] = added.map((p) => ({
            account_id: account,
            kind: p.kind,
            item_key: p.key,
            name: p.name,
            state: p.state,
            state_hash: p.hash,
            first_seen: at,
            last_changed: at,
            last_audited: at,
            removed_at: null,
        }));
        for (const batch of chunks(newItems, rowsPerInsert(10))) {
            await trx.insertInto("inventory_items").values(batch).execute();
            await step(batch.length);
        }

        // Changed and restored items: their own state, one row each.
        for (const p of [...changed, ...restored]) {
            const result = await trx
                .updateTable("inventory_items")
                .set({ name: p.name, state: p.state, state_hash: p.hash, last_changed: at, last_audited: at, removed_at: null })
                .where("account_id", "=", account)
                .where("kind", "=", p.kind)
                .where("item_key", "=", p.key)
                .executeTakeFirst();
            await step(result.numUpdatedRows);
        }

        // Items gone: marked, never deleted.
        for (const [kind, keys] of byKind(removed.map((e) => ({ kind: e.kind, key: e.item_key })))) {
            for (const batch of chunks(keys, KEYS_PER_STATEMENT)) {
                const result = await trx
                    .updateTable("inventory_items")
                    .set({ removed_at: at, last_changed: at })
                    .where("account_id", "=", account)
                    .where("kind", "=", kind)
                    .where("item_key", "in", batch)
                    .executeTakeFirst();
                await step(result.numUpdatedRows);
            }
        }

        // Close the open version of everything that changed, came back or went.
        const closing = [...changed, ...restored].map((p) => ({ kind: p.kind as string, key: p.key })).concat(removed.map((e) => ({ kind: e.kind, key: e.item_key })));
        for (const [kind, keys] of byKind(closing)) {
            for (const batch of chunks(keys, KEYS_PER_STATEMENT)) {
                const result = await trx
                    .updateTable("inventory_versions")
                    .set({ valid_to: at })
                    .where("account_id", "=", account)
                    .where("kind", "=", kind)
                    .where("item_key", "in", batch)
                    .where("valid_to", "is", null)
                    .executeTakeFirst();
                await step(result.numUpdatedRows);
            }
        }

        // The new versions (a removal is a version without state).
        const version = (kind: string, key: string, name: string | null, state: string | null): NewInventoryVersion => ({
            account_id: account,
            kind,
            item_key: key,
            name,
            state,
            valid_from: at,
            valid_to: null,
            run_id: snapshot.runId,
        });
        const versions: NewInventoryVersion[] = [
            ...[...added, ...changed, ...restored].map((p) => version(p.kind, p.key, p.name, p.state)),
            ...removed.map((e) => version(e.kind, e.item_key, e.name, null)),
        ];
        for (const batch of chunks(versions, rowsPerInsert(8))) {
            await trx.insertInto("inventory_versions").values(batch).execute();
            await step(batch.length);
        }

        // Everything still present was audited now: one statement for the account (regional kinds:
        // by key, as other regions' items were not looked at).
        if (everywhere.length > 0) {
            const result = await trx
                .updateTable("inventory_items")
                .set({ last_audited: at })
                .where("account_id", "=", account)
                .where("kind", "in", everywhere)
                .where("removed_at", "is", null)
                .where("last_audited", "<", at)
                .executeTakeFirst();
            await step(result.numUpdatedRows);
        }
        const presentScoped = [...present.values()].filter((p) => scoped.includes(p.kind)).map((p) => ({ kind: p.kind as string, key: p.key }));
        for (const [kind, keys] of byKind(presentScoped)) {
            for (const batch of chunks(keys, KEYS_PER_STATEMENT)) {
                const result = await trx
                    .updateTable("inventory_items")
                    .set({ last_audited: at })
                    .where("account_id", "=", account)
                    .where("kind", "=", kind)
                    .where("item_key", "in", batch)
                    .where("removed_at", "is", null)
                    .where("last_audited", "<", at)
                    .executeTakeFirst();
                await step(result.numUpdatedRows);
            }
        }

        // The account's findings of this run, in the same transaction.
        if (also.findings !== undefined && also.findings.length > 0) {
            rowsWritten += await insertFindings(trx, snapshot.runId, also.findings);
            await step(0);
        }

        return { inserted: added.length, changed: changed.length, unchanged, removed: removed.length, restored: restored.length, rowsWritten };
    });
}

function byKind(list: readonly { kind: string; key: string }[]): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const { kind, key } of list) {
        const keys = out.get(kind);
        if (keys === undefined) out.set(kind, [key]);
        else keys.push(key);
    }
    return out;
}

/** Records the start of a run (inventory versions and findings refer to it). */
export async function startRun(db: Kysely<RecordsSchema> | Transaction<RecordsSchema>, run: { readonly id: string; readonly startedAt: Date; readonly toolVersion?: string }): Promise<void> {
    await db
        .insertInto("audit_runs")
        .values({ id: run.id, started_at: dbTime(run.startedAt), finished_at: null, tool_version: run.toolVersion ?? null })
        .execute();
}

/** Records the end of a run. */
export async function finishRun(db: Kysely<RecordsSchema>, id: string, finishedAt: Date): Promise<void> {
    const result = await db.updateTable("audit_runs").set({ finished_at: dbTime(finishedAt) }).where("id", "=", id).executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) throw new Error(`no audit run ${id} to finish (startRun first)`);
}

/** Stores a run's findings (one transaction); returns how many. */
export async function writeFindings(db: Kysely<RecordsSchema>, runId: string, findings: readonly Finding[]): Promise<number> {
    if (findings.length === 0) return 0;
    return db.transaction().execute((trx) => insertFindings(trx, runId, findings));
}

async function insertFindings(trx: Transaction<RecordsSchema>, runId: string, findings: readonly Finding[]): Promise<number> {
    const rows = findings.map((f) => ({
        run_id: runId,
        target: f.target,
        account_id: f.accountId ?? null,
        region: f.region,
        check_id: f.check,
        resource: f.resource,
        status: f.status,
        severity: f.severity,
        title: f.title,
        evidence: canonicalState(f.evidence ?? {}),
        uid: findingUid(f),
    }));
    for (const batch of chunks(rows, rowsPerInsert(11))) {
        await trx.insertInto("findings").values(batch).execute();
    }
    return rows.length;
}
