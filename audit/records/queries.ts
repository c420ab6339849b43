/**
 * Reading the records back, without AWS (issue 11, "Reports from the database"):
 * - `changesSince`: what changed in an account from a date on (added, changed, removed, restored),
 *   each with the state before and after;
 * - `stateOn`: the items as they were at a moment (the versions valid then);
 * - `adminsOn`: who held admin rights at a moment (see `adminsOn`);
 * - `accessReviewData`: the quarterly access review's data per current user (rendered as HTML and
 *   CSV elsewhere).
 * History semantics (inventory.ts): a version is valid on [valid_from, valid_to); a removal is a
 * version without state. Times are compared as ISO text, which orders them.
 */
import type { Kysely } from "kysely";
import type { ItemKind } from "./inventory";
import { dbTime, RecordsSchema } from "./schema";

export type ChangeKind = "added" | "changed" | "removed" | "restored";

export interface Change {
    readonly kind: ItemKind;
    readonly key: string;
    readonly name: string | null;
    readonly change: ChangeKind;
    readonly at: Date;
    /** The state before (null when added, or restored from a removal). */
    readonly before: unknown;
    /** The state after (null when removed). */
    readonly after: unknown;
}

const parse = (text: string | null): unknown => (text === null ? null : (JSON.parse(text) as unknown));

/** Every change in the account at or after `since`, oldest first (then by kind and key). */
export async function changesSince(db: Kysely<RecordsSchema>, accountId: string, since: Date): Promise<Change[]> {
    const rows = await db
        .selectFrom("inventory_versions as v")
        // The version before: the one closed when this one opened.
        .leftJoin("inventory_versions as p", (join) =>
            join.onRef("p.account_id", "=", "v.account_id").onRef("p.kind", "=", "v.kind").onRef("p.item_key", "=", "v.item_key").onRef("p.valid_to", "=", "v.valid_from").onRef("p.id", "<>", "v.id"),
        )
        .select(["v.kind", "v.item_key", "v.name", "v.state", "v.valid_from", "p.id as before_id", "p.state as before_state"])
        .where("v.account_id", "=", accountId)
        .where("v.valid_from", ">=", dbTime(since))
        .orderBy("v.valid_from")
        .orderBy("v.kind")
        .orderBy("v.item_key")
        .orderBy("v.id")
        .execute();
    return rows.map((r) => {
        const change: ChangeKind = r.before_id === null ? "added" : r.state === null ? "removed" : r.before_state === null ? "restored" : "changed";
        return {
            kind: r.kind as ItemKind,
            key: r.item_key,
            name: r.name,
            change,
            at: new Date(r.valid_from),
            before: parse(r.before_state),
            after: parse(r.state),
        };
    });
}

export interface ItemState {
    readonly kind: ItemKind;
    readonly key: string;
    readonly name: string | null;
    readonly state: unknown;
    /** Since when the item had this state. */
    readonly since: Date;
}

/** The account's items as they were at `at` (present then), by kind and key; only `kinds` when given. */
export async function stateOn(db: Kysely<RecordsSchema>, accountId: string, at: Date, kinds?: readonly ItemKind[]): Promise<ItemState[]> {
    if (kinds !== undefined && kinds.length === 0) return [];
    const moment = dbTime(at);
    let query = db
        .selectFrom("inventory_versions")
        .select(["kind", "item_key", "name", "state", "valid_from"])
        .where("account_id", "=", accountId)
        .where("valid_from", "<=", moment)
        .where((eb) => eb.or([eb("valid_to", "is", null), eb("valid_to", ">", moment)]))
        .where("state", "is not", null);
    if (kinds !== undefined) query = query.where("kind", "in", [...kinds]);
    const rows = await query.orderBy("kind").orderBy("item_key").execute();
    return rows.map((r) => ({ kind: r.kind as ItemKind, key: r.item_key, name: r.name, state: parse(r.state), since: new Date(r.valid_from) }));
}

// ---------------------------------------------------------------------------------------------
// Admin rights

/** AWS's AdministratorAccess managed policy, in any partition. */
export function isAdministratorAccessArn(arn: string): boolean {
    return /^arn:aws[a-z-]*:iam::aws:policy\/AdministratorAccess$/.test(arn);
}

const asList = (value: unknown): unknown[] => (Array.isArray(value) ? value : value === undefined ? [] : [value]);

/**
 * A policy document with a statement that allows every action ("*") on every resource ("*"):
 * what AWS Config's IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS looks for. Conditions do not make it
 * less so (an admin who must use MFA is still an admin). NotAction and NotResource statements are
 * not counted: they grant much, but not "*" on "*".
 */
export function grantsFullAdmin(document: unknown): boolean {
    if (typeof document !== "object" || document === null) return false;
    return asList((document as { Statement?: unknown }).Statement).some((s) => {
        if (typeof s !== "object" || s === null) return false;
        const st = s as Record<string, unknown>;
        return st["Effect"] === "Allow" && asList(st["Action"]).some((a) => a === "*" || a === "*:*") && asList(st["Resource"]).includes("*");
    });
}

export interface AdminPrincipal {
    readonly arn: string;
    readonly type: "user" | "role";
    readonly name: string | null;
    /** Why, e.g. "attached AdministratorAccess (arn:…)", "inline policy Everything", "group Admins: attached …". */
    readonly via: readonly string[];
}

interface AttachmentState {
    readonly principalArn: string;
    readonly principalType: string;
    readonly policyArn: string;
    readonly policyName: string;
}
interface InlineState {
    readonly principalArn: string;
    readonly principalType: string;
    readonly name: string;
    readonly document: unknown;
}
interface MembershipState {
    readonly userArn: string;
    readonly groupArn: string;
    readonly groupName: string;
}

/**
 * The users and roles that held admin rights at `at`: AdministratorAccess or a policy allowing "*"
 * on "*" (grantsFullAdmin: the account's managed policies by their default version then, inline
 * policies by their document), attached to them directly or to a group they were in. Permission
 * boundaries, SCPs and explicit denies are not weighed: this lists who was granted admin, for a
 * person to review. Sorted by type, then ARN.
 */
export async function adminsOn(db: Kysely<RecordsSchema>, accountId: string, at: Date): Promise<AdminPrincipal[]> {
    const items = await stateOn(db, accountId, at, ["user", "role", "group", "policy", "inline_policy", "attachment", "membership"]);
    const of = <T>(kind: ItemKind): { key: string; name: string | null; state: T }[] =>
        items.filter((i) => i.kind === kind).map((i) => ({ key: i.key, name: i.name, state: i.state as T }));
    const documents = new Map(of<{ arn: string; document: unknown }>("policy").map((p) => [p.key, p.state.document]));
    const grants = new Map<string, string[]>();
    const grant = (principal: string, why: string): void => {
        const list = grants.get(principal);
        if (list === undefined) grants.set(principal, [why]);
        else list.push(why);
    };
    for (const { state } of of<AttachmentState>("attachment")) {
        if (isAdministratorAccessArn(state.policyArn) || grantsFullAdmin(documents.get(state.policyArn))) {
            grant(state.principalArn, `attached ${state.policyName} (${state.policyArn})`);
        }
    }
    for (const { state } of of<InlineState>("inline_policy")) {
        if (grantsFullAdmin(state.document)) grant(state.principalArn, `inline policy ${state.name}`);
    }
    for (const { state } of of<MembershipState>("membership")) {
        for (const why of grants.get(state.groupArn) ?? []) grant(state.userArn, `group ${state.groupName}: ${why}`);
    }
    const out: AdminPrincipal[] = [];
    for (const type of ["role", "user"] as const) {
        for (const p of of<unknown>(type)) {
            const via = grants.get(p.key);
            if (via !== undefined) out.push({ arn: p.key, type, name: p.name, via: [...via].sort() });
        }
    }
    return out.sort((a, b) => (a.type === b.type ? (a.arn < b.arn ? -1 : a.arn > b.arn ? 1 : 0) : a.type === "user" ? -1 : 1));
}

// ---------------------------------------------------------------------------------------------
// Access review

export interface ReviewPolicy {
    readonly name: string;
    readonly arn: string;
    /** "direct", or "group <name>" for each group that brings it. */
    readonly via: readonly string[];
}

export interface ReviewInlinePolicy {
    readonly name: string;
    /** "user" (the user's own), or "group <name>". */
    readonly via: string;
}

export interface ReviewAccessKey {
    readonly slot: number;
    readonly active: boolean;
    /** Created or last rotated (ISO), when the report says. */
    readonly lastRotated: string | null;
    /** Whole days from lastRotated to the review's time. */
    readonly ageDays: number | null;
    /** Last use (ISO); null when never used. */
    readonly lastUsed: string | null;
    readonly lastUsedService: string | null;
}

export interface AccessReviewUser {
    readonly arn: string;
    readonly name: string | null;
    readonly path: string | null;
    readonly createDate: string | null;
    readonly groups: readonly { readonly name: string; readonly arn: string }[];
    /** Managed policies in effect: attached to the user or to one of its groups. */
    readonly managedPolicies: readonly ReviewPolicy[];
    readonly inlinePolicies: readonly ReviewInlinePolicy[];
    /** From the credential report; null when the account's report has no row for the user. */
    readonly mfaActive: boolean | null;
    readonly passwordEnabled: boolean | null;
    /** ISO; null when never used, unknown or no password (the report's "N/A", "no_information"). */
    readonly passwordLastUsed: string | null;
    readonly accessKeys: readonly ReviewAccessKey[];
    /** When an audit last saw the user. */
    readonly lastAudited: string;
}

export interface AccessReview {
    readonly accountId: string;
    /** The time ages are counted to. */
    readonly asOf: string;
    /** The most recent audit of the account's users (null when none was recorded). */
    readonly lastAudited: string | null;
    /** The current users, by name. */
    readonly users: readonly AccessReviewUser[];
}

const DAY_MS = 24 * 60 * 60 * 1000;
const isoDate = (value: string | undefined): string | null => (value !== undefined && /^\d{4}-\d{2}-\d{2}T/.test(value) && !Number.isNaN(Date.parse(value)) ? new Date(value).toISOString() : null);
const reportBoolean = (value: string | undefined): boolean | null => (value === "true" ? true : value === "false" ? false : null);

/**
 * The access review's data: every user the account has now (not removed), with its groups, the
 * managed policies in effect (its own and its groups', by name and ARN, with where each comes
 * from), inline policies (its own and its groups'), MFA and password use (credential report), and
 * its access keys with their age in days at `options.now` (default: now) and last use.
 */
export async function accessReviewData(db: Kysely<RecordsSchema>, accountId: string, options: { readonly now?: Date } = {}): Promise<AccessReview> {
    const now = options.now ?? new Date();
    const rows = await db
        .selectFrom("inventory_items")
        .select(["kind", "item_key", "name", "state", "last_audited"])
        .where("account_id", "=", accountId)
        .where("removed_at", "is", null)
        .where("kind", "in", ["user", "group", "membership", "attachment", "inline_policy", "credential_report_row", "access_key"])
        .orderBy("kind")
        .orderBy("item_key")
        .execute();
    const of = <T>(kind: ItemKind): { key: string; name: string | null; state: T; lastAudited: string }[] =>
        rows.filter((r) => r.kind === kind).map((r) => ({ key: r.item_key, name: r.name, state: JSON.parse(r.state) as T, lastAudited: r.last_audited }));

    const groupsOfUser = new Map<string, { name: string; arn: string }[]>();
    for (const { state } of of<MembershipState>("membership")) {
        const list = groupsOfUser.get(state.userArn) ?? [];
        list.push({ name: state.groupName, arn: state.groupArn });
        groupsOfUser.set(state.userArn, list);
    }
    const attachments = new Map<string, AttachmentState[]>();
    for (const { state } of of<AttachmentState>("attachment")) attachments.set(state.principalArn, [...(attachments.get(state.principalArn) ?? []), state]);
    const inlines = new Map<string, InlineState[]>();
    for (const { state } of of<InlineState>("inline_policy")) inlines.set(state.principalArn, [...(inlines.get(state.principalArn) ?? []), state]);
    const reportRows = new Map(of<Record<string, string>>("credential_report_row").map((r) => [r.key, r.state]));
    const keys = new Map<string, ReviewAccessKey[]>();
    for (const { state } of of<{ userArn: string; slot: number; active: boolean; lastRotated: string | null; lastUsed: string | null; lastUsedService: string | null }>("access_key")) {
        const ageDays = state.lastRotated === null ? null : Math.floor((now.getTime() - Date.parse(state.lastRotated)) / DAY_MS);
        keys.set(state.userArn, [
            ...(keys.get(state.userArn) ?? []),
            { slot: state.slot, active: state.active, lastRotated: state.lastRotated, ageDays, lastUsed: state.lastUsed, lastUsedService: state.lastUsedService },
        ]);
    }

    const users = of<{ arn: string; name: string; path?: string; createDate?: string | null }>("user").map((u): AccessReviewUser => {
        const groups = [...(groupsOfUser.get(u.key) ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        const managed = new Map<string, { name: string; arn: string; via: string[] }>();
        const addManaged = (a: AttachmentState, via: string): void => {
            const entry = managed.get(a.policyArn) ?? { name: a.policyName, arn: a.policyArn, via: [] };
            entry.via.push(via);
            managed.set(a.policyArn, entry);
        };
        for (const a of attachments.get(u.key) ?? []) addManaged(a, "direct");
        const inlinePolicies: ReviewInlinePolicy[] = (inlines.get(u.key) ?? []).map((p) => ({ name: p.name, via: "user" }));
        for (const g of groups) {
            for (const a of attachments.get(g.arn) ?? []) addManaged(a, `group ${g.name}`);
            for (const p of inlines.get(g.arn) ?? []) inlinePolicies.push({ name: p.name, via: `group ${g.name}` });
        }
        const report = reportRows.get(u.key);
        return {
            arn: u.key,
            name: u.name,
            path: u.state.path ?? null,
            createDate: u.state.createDate ?? null,
            groups,
            managedPolicies: [...managed.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
            inlinePolicies,
            mfaActive: report === undefined ? null : reportBoolean(report["mfa_active"]),
            passwordEnabled: report === undefined ? null : reportBoolean(report["password_enabled"]),
            passwordLastUsed: isoDate(report?.["password_last_used"]),
            accessKeys: [...(keys.get(u.key) ?? [])].sort((a, b) => a.slot - b.slot),
            lastAudited: u.lastAudited,
        };
    });
    users.sort((a, b) => ((a.name ?? a.arn) < (b.name ?? b.arn) ? -1 : (a.name ?? a.arn) > (b.name ?? b.arn) ? 1 : 0));
    const lastAudited = users.reduce<string | null>((m, u) => (m === null || u.lastAudited > m ? u.lastAudited : m), null);
    return { accountId, asOf: now.toISOString(), lastAudited, users };
}
