/**
 * The records database for real, the SAME suite on both databases (issue 11, "Verification"):
 * SQLite in a temporary file (node:sqlite, in process) and PostgreSQL from Debian's packages
 * (test/support/postgres.ts: its own server on a free 127.0.0.1 port, stopped after the suite).
 *
 * Each test writes its own account(s), so tests do not depend on one another: migrations from
 * empty; an audit written (exact items and versions); an unchanged re-audit (only last_audited
 * moves); a changed account (history kept; changesSince, stateOn, adminsOn before and after); a
 * removed user (marked, memberships too; restored when it returns); kinds not collected left alone;
 * two accounts written concurrently; a crash injected after every statement of a write in turn
 * (the previous complete state intact every time); values with quotes and semicolons round-trip;
 * findings; the access review's data. PostgreSQL only: the password path (file, wrong password
 * not echoed).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createHash } from "crypto";
import type { Finding } from "../audit/findings";
import type { CredentialReportRow, IamInventory, PolicyVersion } from "../audit/iamInventory";
import { findingUid } from "../audit/report/ocsf";
import { DB_PASSWORD_FILE_ENV, openRecords, parseDbSpec, Records } from "../audit/records/db";
import {
    AccountSnapshot,
    BucketRecord,
    CollectedInventory,
    InstanceRecord,
    WriteHooks,
    finishRun,
    snapshotItems,
    startRun,
    writeAccountSnapshot,
    writeFindings,
} from "../audit/records/inventory";
import { RECORDS_TABLES } from "../audit/records/migrations";
import { accessReviewData, adminsOn, changesSince, stateOn } from "../audit/records/queries";
import type { InventoryItemRow, InventoryVersionRow } from "../audit/records/schema";
import { Postgres, startPostgres } from "./support/postgres";

// ---------------------------------------------------------------------------------------------
// The account, as the audit would have collected it

const T1 = new Date("2026-12-01T11:03:28.000Z");
const T2 = new Date("2026-12-08T09:00:00.000Z");
const T3 = new Date("2026-12-15T09:00:00.000Z");
const T4 = new Date("2026-12-22T09:00:00.000Z");
const ODD = "o'brien; DROP TABLE users;--";

interface Variant {
    /** deploy's default version allows "*" on "*" (v2) instead of s3:* (v1). */
    readonly deployIsAdmin?: boolean;
    /** bob is added to Admins. */
    readonly bobInAdmins?: boolean;
    /** bob is gone (user, memberships, report row, keys). */
    readonly withoutBob?: boolean;
    /** A user whose name has quotes and semicolons. */
    readonly oddUser?: boolean;
    /** The bucket has become public. */
    readonly bucketPublic?: boolean;
}

const arnOf = (account: string, resource: string): string => `arn:aws:iam::${account}:${resource}`;
const ADMIN_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess";
const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const s3Doc = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] };
const adminDoc = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] };

function collected(account: string, v: Variant = {}): CollectedInventory {
    const user = (name: string, groups: string[], extra: Partial<IamInventory["users"][number]> = {}): IamInventory["users"][number] => ({
        name,
        arn: arnOf(account, `user/${name}`),
        id: `AIDA${name.length}`,
        path: "/",
        createDate: new Date("2025-01-01T00:00:00.000Z"),
        groups,
        attachedPolicies: [],
        inlinePolicies: [],
        ...extra,
    });
    const users = [
        user("alice", ["Developers", "Admins"], { inlinePolicies: [{ name: "alice-notes", document: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::notes/*" }] } }] }),
        ...(v.withoutBob ? [] : [user("bob", v.bobInAdmins ? ["Developers", "Admins"] : ["Developers"])]),
        ...(v.oddUser ? [user(ODD, [])] : []),
    ];
    const version: PolicyVersion = { versionId: v.deployIsAdmin ? "v2" : "v1", isDefault: true, document: v.deployIsAdmin ? adminDoc : s3Doc };
    const iam: IamInventory = {
        accountId: account,
        entities: ["User", "Group", "Role", "LocalManagedPolicy"],
        users,
        groups: [
            { name: "Admins", arn: arnOf(account, "group/Admins"), id: "AGPA1", path: "/", attachedPolicies: [{ name: "AdministratorAccess", arn: ADMIN_ACCESS }], inlinePolicies: [] },
            {
                name: "Developers",
                arn: arnOf(account, "group/Developers"),
                id: "AGPA2",
                path: "/",
                attachedPolicies: [{ name: "ReadOnlyAccess", arn: READ_ONLY }],
                inlinePolicies: [{ name: "dev-extra", document: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "ec2:Describe*", Resource: "*" }] } }],
            },
        ],
        roles: [
            {
                name: "deployer",
                arn: arnOf(account, "role/deployer"),
                id: "AROA1",
                path: "/",
                trustPolicy: { document: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }] } },
                attachedPolicies: [{ name: "deploy", arn: arnOf(account, "policy/deploy") }],
                inlinePolicies: [],
                instanceProfileArns: [],
            },
        ],
        policies: [
            { name: "deploy", arn: arnOf(account, "policy/deploy"), id: "ANPA1", path: "/", defaultVersionId: version.versionId, versions: [version], defaultVersion: version, awsManaged: false },
            // AWS managed policies are never items (only referenced by attachments).
            { name: "ReadOnlyAccess", arn: READ_ONLY, path: "/", versions: [], awsManaged: true },
        ],
        pages: 1,
        calls: {},
    };
    const row = (name: string, arn: string, raw: Record<string, string>, keys: CredentialReportRow["accessKeys"]): CredentialReportRow => ({
        user: name,
        arn,
        isRoot: name === "<root_account>",
        mfaActive: raw["mfa_active"] === "true",
        passwordEnabled: raw["password_enabled"] === "true" ? true : raw["password_enabled"] === "false" ? false : undefined,
        accessKeys: keys,
        raw: { user: name, arn, ...raw },
    });
    const credentialReport: CredentialReportRow[] = [
        row("<root_account>", `arn:aws:iam::${account}:root`, { mfa_active: "true", password_enabled: "not_supported", password_last_used: "2026-06-01T00:00:00+00:00" }, []),
        row("alice", arnOf(account, "user/alice"), { mfa_active: "true", password_enabled: "true", password_last_used: "2026-11-30T08:00:00+00:00" }, [
            { slot: 1, active: true, lastRotated: new Date("2026-01-01T00:00:00.000Z"), lastUsed: new Date("2026-11-30T10:00:00.000Z"), lastUsedService: "s3", lastUsedRegion: "eu-west-1" },
        ]),
        ...(v.withoutBob
            ? []
            : [
                  row("bob", arnOf(account, "user/bob"), { mfa_active: "false", password_enabled: "false", password_last_used: "N/A" }, [
                      { slot: 1, active: true, lastRotated: new Date("2025-06-01T00:00:00.000Z") },
                      { slot: 2, active: false, lastRotated: new Date("2025-01-01T00:00:00.000Z") },
                  ]),
              ]),
    ];
    const bucket: BucketRecord = {
        name: "logs-bucket",
        region: "eu-west-1",
        accountBlock: null,
        bucketBlock: { BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: !v.bucketPublic, RestrictPublicBuckets: !v.bucketPublic },
        policyPublic: v.bucketPublic === true,
        aclPublic: false,
        policyStatusIsPublic: null,
    };
    const instance: InstanceRecord = {
        instanceId: "i-0123456789abcdef0",
        region: "eu-west-1",
        state: "running",
        vpcId: "vpc-1",
        subnetId: "subnet-1",
        privateIps: ["10.0.1.5"],
        publicIps: [],
        managed: true,
        phase: "production",
        tags: { Name: "web-1", "airlock:managed": "true" },
    };
    return { iam, credentialReport, buckets: [bucket], instances: [instance] };
}

/** [kind, key, name] of every item of the base account (22). */
function baseItems(account: string): [string, string, string][] {
    const a = (r: string): string => arnOf(account, r);
    return [
        ["access_key", `${a("user/alice")}#1`, "alice key 1"],
        ["access_key", `${a("user/bob")}#1`, "bob key 1"],
        ["access_key", `${a("user/bob")}#2`, "bob key 2"],
        ["attachment", `${a("group/Admins")}|${ADMIN_ACCESS}`, "AdministratorAccess"],
        ["attachment", `${a("group/Developers")}|${READ_ONLY}`, "ReadOnlyAccess"],
        ["attachment", `${a("role/deployer")}|${a("policy/deploy")}`, "deploy"],
        ["bucket", "logs-bucket", "logs-bucket"],
        ["credential_report_row", `arn:aws:iam::${account}:root`, "<root_account>"],
        ["credential_report_row", a("user/alice"), "alice"],
        ["credential_report_row", a("user/bob"), "bob"],
        ["group", a("group/Admins"), "Admins"],
        ["group", a("group/Developers"), "Developers"],
        ["inline_policy", `${a("group/Developers")}#dev-extra`, "dev-extra"],
        ["inline_policy", `${a("user/alice")}#alice-notes`, "alice-notes"],
        ["instance", "i-0123456789abcdef0", "web-1"],
        ["membership", `${a("user/alice")}|${a("group/Admins")}`, "alice in Admins"],
        ["membership", `${a("user/alice")}|${a("group/Developers")}`, "alice in Developers"],
        ["membership", `${a("user/bob")}|${a("group/Developers")}`, "bob in Developers"],
        ["policy", a("policy/deploy"), "deploy"],
        ["role", a("role/deployer"), "deployer"],
        ["user", a("user/alice"), "alice"],
        ["user", a("user/bob"), "bob"],
    ];
}

const sha256 = (text: string): string => createHash("sha256").update(text).digest("hex");
const byItem = (a: { kind: string; item_key: string }, b: { kind: string; item_key: string }): number =>
    a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.item_key < b.item_key ? -1 : a.item_key > b.item_key ? 1 : 0;

// ---------------------------------------------------------------------------------------------
// The two databases

interface Backend {
    /** Opens a database (a new one per name) and migrates it. */
    open(name: string): Promise<Records>;
    stop(): Promise<void>;
}

async function sqliteBackend(): Promise<Backend> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-records-"));
    return {
        open: (name) => openRecords({ kind: "sqlite", file: path.join(dir, `${name}.sqlite`) }),
        stop: async () => fs.rmSync(dir, { recursive: true, force: true }),
    };
}

let postgres: Postgres | undefined;
async function postgresBackend(): Promise<Backend> {
    postgres = await startPostgres();
    const server = postgres;
    const created = new Set<string>();
    return {
        open: async (name) => {
            if (!created.has(name)) {
                await server.createDatabase(name);
                created.add(name);
            }
            return openRecords({ kind: "postgres", connectionString: server.url(name), password: server.password });
        },
        stop: () => server.stop(),
    };
}

describe.each([
    ["SQLite", sqliteBackend],
    ["PostgreSQL", postgresBackend],
])("records on %s", (_name, start) => {
    let backend: Backend;
    let records: Records;
    let accounts = 0;
    /** A new account id per test: tests never see each other's rows. */
    const newAccount = (): string => String(100000000000 + ++accounts);

    beforeAll(async () => {
        backend = await start();
        records = await backend.open("records_suite");
    }, 60_000);
    afterAll(async () => {
        await records?.close();
        await backend?.stop();
    });

    const runs = new Set<string>();
    async function write(account: string, at: Date, data: CollectedInventory, hooks?: WriteHooks): Promise<Awaited<ReturnType<typeof writeAccountSnapshot>>> {
        const runId = `run-${at.toISOString()}`;
        if (!runs.has(runId)) {
            runs.add(runId);
            await startRun(records.db, { id: runId, startedAt: at, toolVersion: "test" });
        }
        const snapshot: AccountSnapshot = { accountId: account, auditedAt: at, runId, ...snapshotItems(data) };
        return writeAccountSnapshot(records.db, snapshot, hooks);
    }
    const items = async (account: string): Promise<InventoryItemRow[]> =>
        (await records.db.selectFrom("inventory_items").selectAll().where("account_id", "=", account).execute()).map((r) => ({ ...r })).sort(byItem);
    const versions = async (account: string): Promise<InventoryVersionRow[]> =>
        (await records.db.selectFrom("inventory_versions").selectAll().where("account_id", "=", account).orderBy("id").execute()).map((r) => ({ ...r }));

    it("migrates an empty database to the latest schema, and a second open runs nothing", async () => {
        const fresh = await backend.open("records_fresh");
        try {
            expect(fresh.migrationsRun).toEqual(["0001_initial"]);
            const tables = (await fresh.db.introspection.getTables()).map((t) => t.name).sort();
            expect(tables).toEqual([...RECORDS_TABLES].sort());
            for (const table of RECORDS_TABLES) {
                expect(await fresh.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow()).toEqual({ n: expect.anything() });
            }
            const versionsColumns = (await fresh.db.introspection.getTables()).find((t) => t.name === "inventory_versions")!.columns.map((c) => c.name);
            expect(versionsColumns).toEqual(["id", "account_id", "kind", "item_key", "name", "state", "valid_from", "valid_to", "run_id"]);
        } finally {
            await fresh.close();
        }
        const again = await backend.open("records_fresh");
        try {
            expect(again.migrationsRun).toEqual([]);
        } finally {
            await again.close();
        }
    });

    it("writes an audit: every item once, with its first version", async () => {
        const account = newAccount();
        const counts = await write(account, T1, collected(account));
        expect(counts).toEqual({ inserted: 22, changed: 0, unchanged: 0, removed: 0, restored: 0, rowsWritten: 44 });

        const rows = await items(account);
        expect(rows.map((r) => [r.kind, r.item_key, r.name])).toEqual(baseItems(account));
        const at = T1.toISOString();
        for (const r of rows) {
            expect(r).toEqual({ ...r, account_id: account, first_seen: at, last_changed: at, last_audited: at, removed_at: null, state_hash: sha256(r.state) });
        }
        // States are canonical JSON (keys sorted), exactly:
        const bobKey2 = rows.find((r) => r.kind === "access_key" && r.item_key.endsWith("user/bob#2"))!;
        expect(bobKey2.state).toBe(
            `{"active":false,"lastRotated":"2025-01-01T00:00:00.000Z","lastUsed":null,"lastUsedRegion":null,"lastUsedService":null,"slot":2,"user":"bob","userArn":"arn:aws:iam::${account}:user/bob"}`,
        );
        const policy = rows.find((r) => r.kind === "policy")!;
        expect(JSON.parse(policy.state)).toEqual({ arn: arnOf(account, "policy/deploy"), name: "deploy", id: "ANPA1", path: "/", isAttachable: null, defaultVersionId: "v1", document: s3Doc });

        const vs = await versions(account);
        expect(vs.map((v) => [v.kind, v.item_key, v.name, v.state, v.valid_from, v.valid_to, v.run_id]).sort((a, b) => byItem({ kind: a[0]!, item_key: a[1]! }, { kind: b[0]!, item_key: b[1]! }))).toEqual(
            rows.map((r) => [r.kind, r.item_key, r.name, r.state, at, null, `run-${at}`]),
        );
    });

    it("an unchanged re-audit only moves last_audited", async () => {
        const account = newAccount();
        await write(account, T1, collected(account));
        const before = await items(account);
        const versionsBefore = await versions(account);

        const counts = await write(account, T2, collected(account));
        expect(counts).toEqual({ inserted: 0, changed: 0, unchanged: 22, removed: 0, restored: 0, rowsWritten: 22 });
        const after = await items(account);
        expect(after).toEqual(before.map((r) => ({ ...r, last_audited: T2.toISOString() })));
        expect(await versions(account)).toEqual(versionsBefore);
    });

    it("a changed account keeps its history: changesSince, stateOn and adminsOn answer before and after", async () => {
        const account = newAccount();
        await write(account, T1, collected(account));
        const counts = await write(account, T2, collected(account, { deployIsAdmin: true, bobInAdmins: true }));
        expect(counts).toEqual({ inserted: 1, changed: 1, unchanged: 21, removed: 0, restored: 0, rowsWritten: 1 + 1 + 1 + 2 + 21 });

        const policyArn = arnOf(account, "policy/deploy");
        const policyVersions = (await versions(account)).filter((v) => v.item_key === policyArn);
        expect(policyVersions.map((v) => [v.valid_from, v.valid_to, JSON.parse(v.state!).defaultVersionId])).toEqual([
            [T1.toISOString(), T2.toISOString(), "v1"],
            [T2.toISOString(), null, "v2"],
        ]);
        const policyRow = (await items(account)).find((r) => r.item_key === policyArn)!;
        expect([policyRow.first_seen, policyRow.last_changed, policyRow.last_audited]).toEqual([T1.toISOString(), T2.toISOString(), T2.toISOString()]);

        const bobAdmins = `${arnOf(account, "user/bob")}|${arnOf(account, "group/Admins")}`;
        expect(await changesSince(records.db, account, new Date(T1.getTime() + 1))).toEqual([
            {
                kind: "membership",
                key: bobAdmins,
                name: "bob in Admins",
                change: "added",
                at: T2,
                before: null,
                after: { userArn: arnOf(account, "user/bob"), userName: "bob", groupArn: arnOf(account, "group/Admins"), groupName: "Admins" },
            },
            {
                kind: "policy",
                key: policyArn,
                name: "deploy",
                change: "changed",
                at: T2,
                before: { arn: policyArn, name: "deploy", id: "ANPA1", path: "/", isAttachable: null, defaultVersionId: "v1", document: s3Doc },
                after: { arn: policyArn, name: "deploy", id: "ANPA1", path: "/", isAttachable: null, defaultVersionId: "v2", document: adminDoc },
            },
        ]);
        const sinceT1 = await changesSince(records.db, account, T1);
        expect(sinceT1).toHaveLength(24);
        expect(sinceT1.filter((c) => c.at.getTime() === T1.getTime()).every((c) => c.change === "added")).toBe(true);
        expect(await changesSince(records.db, account, new Date(T2.getTime() + 1))).toEqual([]);

        const policyOn = async (at: Date): Promise<unknown> => (await stateOn(records.db, account, at, ["policy"])).map((i) => (i.state as { document: unknown }).document);
        expect(await policyOn(new Date(T1.getTime() - 1))).toEqual([]);
        expect(await policyOn(T1)).toEqual([s3Doc]);
        expect(await policyOn(new Date(T2.getTime() - 1))).toEqual([s3Doc]);
        expect(await policyOn(T2)).toEqual([adminDoc]);
        const memberships = async (at: Date): Promise<string[]> => (await stateOn(records.db, account, at, ["membership"])).map((i) => i.name ?? "");
        expect(await memberships(T1)).toEqual(["alice in Admins", "alice in Developers", "bob in Developers"]);
        expect(await memberships(T2)).toEqual(["alice in Admins", "alice in Developers", "bob in Admins", "bob in Developers"]);
        expect((await stateOn(records.db, account, T1)).length).toBe(22);

        expect(await adminsOn(records.db, account, T1)).toEqual([
            { arn: arnOf(account, "user/alice"), type: "user", name: "alice", via: [`group Admins: attached AdministratorAccess (${ADMIN_ACCESS})`] },
        ]);
        expect(await adminsOn(records.db, account, T2)).toEqual([
            { arn: arnOf(account, "user/alice"), type: "user", name: "alice", via: [`group Admins: attached AdministratorAccess (${ADMIN_ACCESS})`] },
            { arn: arnOf(account, "user/bob"), type: "user", name: "bob", via: [`group Admins: attached AdministratorAccess (${ADMIN_ACCESS})`] },
            { arn: arnOf(account, "role/deployer"), type: "role", name: "deployer", via: [`attached deploy (${policyArn})`] },
        ]);
        expect(await adminsOn(records.db, account, new Date(T1.getTime() - 1))).toEqual([]);
    });

    it("a removed user is marked, not deleted, with its memberships and keys; it is restored when it returns", async () => {
        const account = newAccount();
        const bob = arnOf(account, "user/bob");
        const bobRows = (rows: InventoryItemRow[]): InventoryItemRow[] => rows.filter((r) => r.item_key.startsWith(bob));
        await write(account, T1, collected(account));
        const counts = await write(account, T3, collected(account, { withoutBob: true }));
        // bob's user, membership, report row and two keys.
        expect(counts).toEqual({ inserted: 0, changed: 0, unchanged: 17, removed: 5, restored: 0, rowsWritten: 5 + 5 + 5 + 17 });

        const rows = await items(account);
        expect(rows).toHaveLength(22);
        expect(bobRows(rows).map((r) => [r.kind, r.removed_at, r.last_changed, r.last_audited])).toEqual([
            ["access_key", T3.toISOString(), T3.toISOString(), T1.toISOString()],
            ["access_key", T3.toISOString(), T3.toISOString(), T1.toISOString()],
            ["credential_report_row", T3.toISOString(), T3.toISOString(), T1.toISOString()],
            ["membership", T3.toISOString(), T3.toISOString(), T1.toISOString()],
            ["user", T3.toISOString(), T3.toISOString(), T1.toISOString()],
        ]);
        expect(rows.filter((r) => !r.item_key.startsWith(bob)).every((r) => r.removed_at === null && r.last_audited === T3.toISOString())).toBe(true);
        const bobUserVersions = (await versions(account)).filter((v) => v.kind === "user" && v.item_key === bob);
        expect(bobUserVersions.map((v) => [v.valid_from, v.valid_to, v.state === null])).toEqual([
            [T1.toISOString(), T3.toISOString(), false],
            [T3.toISOString(), null, true],
        ]);
        const removedChanges = await changesSince(records.db, account, T3);
        expect(removedChanges.map((c) => [c.kind, c.key, c.change, c.after])).toEqual([
            ["access_key", `${bob}#1`, "removed", null],
            ["access_key", `${bob}#2`, "removed", null],
            ["credential_report_row", bob, "removed", null],
            ["membership", `${bob}|${arnOf(account, "group/Developers")}`, "removed", null],
            ["user", bob, "removed", null],
        ]);
        expect(removedChanges.find((c) => c.kind === "user")!.before).toMatchObject({ arn: bob, name: "bob" });
        expect((await stateOn(records.db, account, T3, ["user"])).map((i) => i.name)).toEqual(["alice"]);
        expect((await stateOn(records.db, account, T2, ["user"])).map((i) => i.name)).toEqual(["alice", "bob"]);

        // bob comes back (unchanged): restored, not added.
        const back = await write(account, T4, collected(account));
        expect(back).toEqual({ inserted: 0, changed: 0, unchanged: 17, removed: 0, restored: 5, rowsWritten: 5 + 5 + 5 + 17 });
        const restoredRows = bobRows(await items(account));
        expect(restoredRows.map((r) => [r.removed_at, r.first_seen, r.last_changed, r.last_audited])).toEqual(
            Array(5).fill([null, T1.toISOString(), T4.toISOString(), T4.toISOString()]),
        );
        expect((await changesSince(records.db, account, T4)).map((c) => [c.kind, c.change, c.before === null])).toEqual([
            ["access_key", "restored", true],
            ["access_key", "restored", true],
            ["credential_report_row", "restored", true],
            ["membership", "restored", true],
            ["user", "restored", true],
        ]);
        expect((await stateOn(records.db, account, T4, ["user"])).map((i) => i.name)).toEqual(["alice", "bob"]);
    });

    it("kinds not collected are left exactly as they are", async () => {
        const account = newAccount();
        await write(account, T1, collected(account));
        const before = await items(account);
        const versionsBefore = await versions(account);
        // Only the buckets were collected this time, and the bucket changed; everything else is absent.
        const counts = await write(account, T2, { buckets: collected(account, { bucketPublic: true }).buckets });
        expect(counts).toEqual({ inserted: 0, changed: 1, unchanged: 0, removed: 0, restored: 0, rowsWritten: 3 });
        const after = await items(account);
        expect(after.filter((r) => r.kind !== "bucket")).toEqual(before.filter((r) => r.kind !== "bucket"));
        expect(after.find((r) => r.kind === "bucket")).toMatchObject({ last_changed: T2.toISOString(), removed_at: null });
        expect((await versions(account)).filter((v) => v.kind !== "bucket")).toEqual(versionsBefore.filter((v) => v.kind !== "bucket"));
    });

    it("regional kinds collected in some regions leave the other regions' items as they are", async () => {
        const account = newAccount();
        const bucket = (name: string, region: string, policyPublic = false): BucketRecord => ({ name, region, accountBlock: null, bucketBlock: null, policyPublic, aclPublic: false, policyStatusIsPublic: null });
        await write(account, T1, { buckets: [bucket("eu-logs", "eu-west-1"), bucket("eu-gone", "eu-west-1"), bucket("us-data", "us-east-1")] });
        const us = (await items(account)).find((r) => r.item_key === "us-data");
        // Audited in eu-west-1 only: eu-gone is gone, eu-logs changed, us-data untouched.
        const snapshot: AccountSnapshot = { accountId: account, auditedAt: T2, runId: `run-${T2.toISOString()}`, ...snapshotItems({ buckets: [bucket("eu-logs", "eu-west-1", true)] }), regions: { bucket: ["eu-west-1"] } };
        if (!runs.has(snapshot.runId)) {
            runs.add(snapshot.runId);
            await startRun(records.db, { id: snapshot.runId, startedAt: T2 });
        }
        expect(await writeAccountSnapshot(records.db, snapshot)).toMatchObject({ inserted: 0, changed: 1, unchanged: 0, removed: 1, restored: 0 });
        const after = await items(account);
        expect(after.find((r) => r.item_key === "us-data")).toEqual(us);
        expect(after.find((r) => r.item_key === "eu-gone")).toMatchObject({ removed_at: T2.toISOString() });
        expect(after.find((r) => r.item_key === "eu-logs")).toMatchObject({ last_changed: T2.toISOString(), last_audited: T2.toISOString(), removed_at: null });
        // An unchanged eu-west-1 re-audit moves only eu-west-1's last_audited.
        const later = new Date(T2.getTime() + 3_600_000);
        await startRun(records.db, { id: `run-regional-${account}`, startedAt: later });
        expect(await writeAccountSnapshot(records.db, { ...snapshot, auditedAt: later, runId: `run-regional-${account}` })).toMatchObject({ unchanged: 1, changed: 0, removed: 0 });
        const last = await items(account);
        expect(last.find((r) => r.item_key === "eu-logs")?.last_audited).toBe(later.toISOString());
        expect(last.find((r) => r.item_key === "us-data")).toEqual(us);
    });

    it("writes two accounts concurrently, both complete and correct", async () => {
        const [a, b] = [newAccount(), newAccount()];
        await write(a, T1, collected(a));
        await write(b, T1, collected(b));
        const [ca, cb] = await Promise.all([write(a, T2, collected(a, { withoutBob: true })), write(b, T2, collected(b, { deployIsAdmin: true, bobInAdmins: true, oddUser: true }))]);
        expect(ca).toMatchObject({ inserted: 0, changed: 0, removed: 5, unchanged: 17 });
        expect(cb).toMatchObject({ inserted: 2, changed: 1, removed: 0, unchanged: 21 });
        expect((await items(a)).filter((r) => r.removed_at !== null).map((r) => r.kind)).toEqual(["access_key", "access_key", "credential_report_row", "membership", "user"]);
        expect((await items(b)).filter((r) => r.last_changed === T2.toISOString()).map((r) => [r.kind, r.name])).toEqual([
            ["membership", "bob in Admins"],
            ["policy", "deploy"],
            ["user", ODD],
        ]);
        // Each account's rows name only itself.
        expect((await items(a)).every((r) => !r.state.includes(b))).toBe(true);
        expect((await items(b)).every((r) => !r.state.includes(a))).toBe(true);
    });

    it("a crash after any statement of a write leaves the previous complete state", async () => {
        const account = newAccount();
        const change: Variant = { deployIsAdmin: true, bobInAdmins: true, withoutBob: false, bucketPublic: true };
        // How many statements the write takes: the same write on a twin account.
        const twin = newAccount();
        await write(twin, T1, collected(twin));
        let total = 0;
        await write(twin, T2, { ...collected(twin, change) }, { afterStatement: (n) => void (total = n) });
        expect(total).toBeGreaterThanOrEqual(6);

        await write(account, T1, collected(account));
        const before = await items(account);
        const versionsBefore = await versions(account);
        for (let n = 1; n <= total; n++) {
            const crash = new Error(`crash after statement ${n}`);
            await expect(
                write(account, T2, collected(account, change), {
                    afterStatement: (done) => {
                        if (done === n) throw crash;
                    },
                }),
            ).rejects.toBe(crash);
            expect(await items(account)).toEqual(before);
            expect(await versions(account)).toEqual(versionsBefore);
        }
        // Nothing half-written stands in the way of the next write.
        expect(await write(account, T2, collected(account, change))).toMatchObject({ inserted: 1, changed: 2, unchanged: 20 });
    });

    it("refuses a snapshot older than the recorded state, writing nothing", async () => {
        const account = newAccount();
        await write(account, T2, collected(account));
        const before = await items(account);
        await expect(write(account, T1, collected(account, { withoutBob: true }))).rejects.toThrow(/older than the recorded audit of 2026-12-08T09:00:00.000Z/);
        expect(await items(account)).toEqual(before);
    });

    it("values with quotes and semicolons are data, not SQL", async () => {
        const account = newAccount();
        await write(account, T1, collected(account, { oddUser: true }));
        const odd = arnOf(account, `user/${ODD}`);
        const row = await records.db.selectFrom("inventory_items").selectAll().where("item_key", "=", odd).executeTakeFirstOrThrow();
        expect([row.name, JSON.parse(row.state).name]).toEqual([ODD, ODD]);
        expect((await stateOn(records.db, account, T1, ["user"])).map((i) => i.name)).toEqual(["alice", "bob", ODD]);
        // An account id with a quote finds nothing (and breaks nothing).
        expect(await changesSince(records.db, `${account}' OR '1'='1`, T1)).toEqual([]);
        expect((await records.db.introspection.getTables()).map((t) => t.name)).toEqual(expect.arrayContaining([...RECORDS_TABLES]));
    });

    it("stores a run's findings with their OCSF uid", async () => {
        const account = newAccount();
        const runId = `findings-${account}`;
        await startRun(records.db, { id: runId, startedAt: T1, toolVersion: "0.1.0" });
        const findings: Finding[] = [
            {
                target: "prod",
                accountId: account,
                region: "global",
                check: "root-and-users",
                resource: arnOf(account, "user/bob"),
                status: "fail",
                severity: "high",
                title: `User ${ODD} has no MFA`,
                evidence: { z: 1, a: { y: [2, 1], b: null } },
            },
            { target: "prod", region: "eu-west-1", check: "public-buckets", resource: "logs-bucket", status: "pass", severity: "informational", title: "Bucket logs-bucket ACL", evidence: {} },
        ];
        expect(await writeFindings(records.db, runId, findings)).toBe(2);
        await finishRun(records.db, runId, T2);
        const rows = await records.db.selectFrom("findings").select(["run_id", "target", "account_id", "region", "check_id", "resource", "status", "severity", "title", "evidence", "uid"]).where("run_id", "=", runId).orderBy("id").execute();
        expect(rows.map((r) => ({ ...r }))).toEqual([
            {
                run_id: runId,
                target: "prod",
                account_id: account,
                region: "global",
                check_id: "root-and-users",
                resource: arnOf(account, "user/bob"),
                status: "fail",
                severity: "high",
                title: `User ${ODD} has no MFA`,
                evidence: '{"a":{"b":null,"y":[2,1]},"z":1}',
                uid: findingUid(findings[0]!),
            },
            {
                run_id: runId,
                target: "prod",
                account_id: null,
                region: "eu-west-1",
                check_id: "public-buckets",
                resource: "logs-bucket",
                status: "pass",
                severity: "informational",
                title: "Bucket logs-bucket ACL",
                evidence: "{}",
                uid: findingUid(findings[1]!),
            },
        ]);
        expect({ ...(await records.db.selectFrom("audit_runs").selectAll().where("id", "=", runId).executeTakeFirstOrThrow()) }).toEqual({
            id: runId,
            started_at: T1.toISOString(),
            finished_at: T2.toISOString(),
            tool_version: "0.1.0",
        });
        // A finding of a run that was never started is refused (foreign key).
        await expect(writeFindings(records.db, "no-such-run", findings)).rejects.toThrow();
    });

    it("gives the access review's data per current user", async () => {
        const account = newAccount();
        await write(account, T1, collected(account));
        const review = await accessReviewData(records.db, account, { now: new Date("2026-12-31T00:00:00.000Z") });
        expect(review).toEqual({
            accountId: account,
            asOf: "2026-12-31T00:00:00.000Z",
            lastAudited: T1.toISOString(),
            users: [
                {
                    arn: arnOf(account, "user/alice"),
                    name: "alice",
                    path: "/",
                    createDate: "2025-01-01T00:00:00.000Z",
                    groups: [
                        { name: "Admins", arn: arnOf(account, "group/Admins") },
                        { name: "Developers", arn: arnOf(account, "group/Developers") },
                    ],
                    managedPolicies: [
                        { name: "AdministratorAccess", arn: ADMIN_ACCESS, via: ["group Admins"] },
                        { name: "ReadOnlyAccess", arn: READ_ONLY, via: ["group Developers"] },
                    ],
                    inlinePolicies: [
                        { name: "alice-notes", via: "user" },
                        { name: "dev-extra", via: "group Developers" },
                    ],
                    mfaActive: true,
                    passwordEnabled: true,
                    passwordLastUsed: "2026-11-30T08:00:00.000Z",
                    accessKeys: [{ slot: 1, active: true, lastRotated: "2026-01-01T00:00:00.000Z", ageDays: 364, lastUsed: "2026-11-30T10:00:00.000Z", lastUsedService: "s3" }],
                    lastAudited: T1.toISOString(),
                },
                {
                    arn: arnOf(account, "user/bob"),
                    name: "bob",
                    path: "/",
                    createDate: "2025-01-01T00:00:00.000Z",
                    groups: [{ name: "Developers", arn: arnOf(account, "group/Developers") }],
                    managedPolicies: [{ name: "ReadOnlyAccess", arn: READ_ONLY, via: ["group Developers"] }],
                    inlinePolicies: [{ name: "dev-extra", via: "group Developers" }],
                    mfaActive: false,
                    passwordEnabled: false,
                    passwordLastUsed: null,
                    accessKeys: [
                        { slot: 1, active: true, lastRotated: "2025-06-01T00:00:00.000Z", ageDays: 578, lastUsed: null, lastUsedService: null },
                        { slot: 2, active: false, lastRotated: "2025-01-01T00:00:00.000Z", ageDays: 729, lastUsed: null, lastUsedService: null },
                    ],
                    lastAudited: T1.toISOString(),
                },
            ],
        });
        // A removed user is not reviewed.
        await write(account, T2, collected(account, { withoutBob: true }));
        expect((await accessReviewData(records.db, account)).users.map((u) => u.name)).toEqual(["alice"]);
    });

    it("writes 10,000 items in one transaction, in batches", async () => {
        const account = newAccount();
        const users = Array.from({ length: 10_000 }, (_, i) => ({ kind: "user" as const, key: arnOf(account, `user/u${i}`), name: `u${i}`, state: { i } }));
        await startRun(records.db, { id: `bulk-${account}`, startedAt: T1 });
        const started = Date.now();
        const first = await writeAccountSnapshot(records.db, { accountId: account, auditedAt: T1, runId: `bulk-${account}`, kinds: ["user"], items: users });
        const firstMs = Date.now() - started;
        expect(first).toEqual({ inserted: 10_000, changed: 0, unchanged: 0, removed: 0, restored: 0, rowsWritten: 20_000 });
        const again = await writeAccountSnapshot(records.db, { accountId: account, auditedAt: T2, runId: `bulk-${account}`, kinds: ["user"], items: users });
        expect(again).toEqual({ inserted: 0, changed: 0, unchanged: 10_000, removed: 0, restored: 0, rowsWritten: 10_000 });
        expect(firstMs).toBeLessThan(30_000);
    });
});

describe("PostgreSQL credentials", () => {
    let server: Postgres;
    let dir: string;
    beforeAll(async () => {
        server = await startPostgres();
        await server.createDatabase("records_credentials");
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-records-pw-"));
    }, 60_000);
    afterAll(async () => {
        await server?.stop();
        if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("takes the password from AIRLOCK_DB_PASSWORD_FILE through parseDbSpec, and opens", async () => {
        const file = path.join(dir, "password");
        fs.writeFileSync(file, `${server.password}\n`, { mode: 0o600 });
        const spec = parseDbSpec(server.url("records_credentials"), { [DB_PASSWORD_FILE_ENV]: file });
        const records = await openRecords(spec);
        try {
            expect(records.kind).toBe("postgres");
            expect(records.migrationsRun).toEqual(["0001_initial"]);
        } finally {
            await records.close();
        }
    });

    it("without a password setting, node-postgres reads the file PGPASSFILE names (libpq's .pgpass)", async () => {
        const file = path.join(dir, "pgpass");
        fs.writeFileSync(file, `# host:port:database:user:password\n127.0.0.1:${server.port}:records_credentials:${server.user}:${server.password}\n`, { mode: 0o600 });
        const saved = { PGPASSFILE: process.env.PGPASSFILE, PGPASSWORD: process.env.PGPASSWORD };
        process.env.PGPASSFILE = file;
        delete process.env.PGPASSWORD;
        try {
            const spec = parseDbSpec(server.url("records_credentials"), {});
            expect(spec).toEqual({ kind: "postgres", connectionString: server.url("records_credentials"), password: undefined });
            const records = await openRecords(spec);
            await records.close();
            // The same file with a wrong password: refused by the server, so the file was what was used.
            fs.writeFileSync(file, `127.0.0.1:${server.port}:records_credentials:${server.user}:not-it\n`, { mode: 0o600 });
            await expect(openRecords(spec)).rejects.toThrow('password authentication failed for user "airlock"');
        } finally {
            for (const [k, v] of Object.entries(saved)) {
                if (v === undefined) delete process.env[k];
                else process.env[k] = v;
            }
        }
    });

    it("a wrong password fails with PostgreSQL's message, which does not carry the password", async () => {
        const wrong = "Wr0ng-S3cret-value";
        const spec = parseDbSpec(server.url("records_credentials"), { PGPASSWORD: wrong });
        const error = await openRecords(spec).then(
            () => undefined,
            (e: Error) => e,
        );
        expect(error?.message).toMatch(/^cannot open the records database postgres:\/\/airlock@127\.0\.0\.1:\d+\/records_credentials: password authentication failed for user "airlock"$/);
        expect(error?.message).not.toContain(wrong);
    });
});

afterAll(async () => {
    await postgres?.stop();
});
