/**
 * `airlock-audit history …` (audit/history.ts), run as the command runs it (historyMain with argv
 * and captured stdout/stderr), on a records database seeded through the real writers
 * (inventory.ts snapshotItems + writeAccountSnapshot) with two audits of one account:
 *
 *   T1  alice (Admins, Developers), bob (Developers), carol, "=1+1" (a legal IAM name that a
 *       spreadsheet would run as a formula; its path carries `"><script>`), "@ops" (in the group
 *       "+Ops,Team", which has PowerUserAccess; no credential report row); the role deployer with
 *       the customer policy deploy (s3:*).
 *   T2  bob added to Admins; deploy's default version now allows "*" on "*"; carol gone.
 * and a second account (the same users) where carol is gone at T2 and back at T3 (restored).
 *
 * The same suite on SQLite (a file, --db relative to the command's cwd) and on a real PostgreSQL
 * (test/support/postgres.ts; the password from PGPASSWORD as a user gives it). The HTML is parsed
 * with parse5 (what a browser builds), every user row and cell asserted; the CSV is parsed back;
 * changes and admins asserted exactly, as text and JSON; every error path with its exit code and
 * message. The pure parts (dates, CSV cells, changed fields, the template's tags) are table-driven.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse } from "parse5";
import type { CliIo } from "../audit/cli";
import { DEFAULT_DB } from "../audit/args";
import { HISTORY_USAGE, REPORT_USAGE, historyMain, parseDateOption } from "../audit/history";
import type { CredentialReportRow, IamInventory, ManagedPolicy, PolicyVersion } from "../audit/iamInventory";
import { openRecords, Records } from "../audit/records/db";
import { CollectedInventory, snapshotItems, startRun, writeAccountSnapshot } from "../audit/records/inventory";
import { ACCESS_REVIEW_TEMPLATE, csvCell } from "../audit/report/accessReview";
import { changedFields, printable, textTable } from "../audit/report/changes";
import { Postgres, startPostgres } from "./support/postgres";

// ---------------------------------------------------------------------------------------------
// The account and its two audits

const ACCOUNT = "111122223333";
const T1 = new Date("2026-12-01T11:03:28.000Z");
const T2 = new Date("2026-12-08T09:00:00.000Z");
const AS_OF = "2026-12-31T00:00:00.000Z";
const FORMULA_USER = "=1+1";
const OPS_USER = "@ops";
const OPS_GROUP = "+Ops,Team";
const HOSTILE_PATH = `/"><script>alert(1)</script>/`;
const READ_POLICY = "+read,only";

const arn = (resource: string): string => `arn:aws:iam::${ACCOUNT}:${resource}`;
const ADMIN_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess";
const READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const POWER_USER = "arn:aws:iam::aws:policy/PowerUserAccess";
const s3Doc = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] };
const adminDoc = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] };
const readDoc = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }] };

type User = IamInventory["users"][number];

function customerPolicy(at: (resource: string) => string, name: string, version: PolicyVersion): ManagedPolicy {
    return { name, arn: at(`policy/${name}`), id: `ANPA${name.length}`, path: "/", defaultVersionId: version.versionId, versions: [version], defaultVersion: version, awsManaged: false };
}

/**
 * What the audit collected at T1 (`later`: false) or at T2 (true); carol is there at T1 only unless
 * `carol` says otherwise; `account` another account's (the same users).
 */
function collected(later: boolean, carol = !later, account = ACCOUNT): CollectedInventory {
    const at = (resource: string): string => `arn:aws:iam::${account}:${resource}`;
    const user = (name: string, groups: string[], extra: Partial<User> = {}): User => ({
        name,
        arn: at(`user/${name}`),
        id: `AIDA${name.length}`,
        path: "/",
        createDate: new Date("2025-01-01T00:00:00.000Z"),
        groups,
        attachedPolicies: [],
        inlinePolicies: [],
        ...extra,
    });
    const deployVersion: PolicyVersion = later ? { versionId: "v2", isDefault: true, document: adminDoc } : { versionId: "v1", isDefault: true, document: s3Doc };
    const iam: IamInventory = {
        accountId: account,
        entities: ["User", "Group", "Role", "LocalManagedPolicy"],
        users: [
            user("alice", ["Developers", "Admins"], { inlinePolicies: [{ name: "alice-notes", document: readDoc }] }),
            user("bob", later ? ["Developers", "Admins"] : ["Developers"], { path: "/engineering/", createDate: new Date("2025-03-15T10:20:00.000Z") }),
            ...(carol ? [user("carol", ["Developers"])] : []),
            user(FORMULA_USER, [], { path: HOSTILE_PATH, createDate: new Date("2026-06-01T00:00:00.000Z"), attachedPolicies: [{ name: READ_POLICY, arn: at(`policy/${READ_POLICY}`) }] }),
            user(OPS_USER, [OPS_GROUP]),
        ],
        groups: [
            { name: "Admins", arn: at("group/Admins"), id: "AGPA1", path: "/", attachedPolicies: [{ name: "AdministratorAccess", arn: ADMIN_ACCESS }], inlinePolicies: [] },
            {
                name: "Developers",
                arn: at("group/Developers"),
                id: "AGPA2",
                path: "/",
                attachedPolicies: [{ name: "ReadOnlyAccess", arn: READ_ONLY }],
                inlinePolicies: [{ name: "dev-extra", document: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "ec2:Describe*", Resource: "*" }] } }],
            },
            { name: OPS_GROUP, arn: at(`group/${OPS_GROUP}`), id: "AGPA3", path: "/", attachedPolicies: [{ name: "PowerUserAccess", arn: POWER_USER }], inlinePolicies: [] },
        ],
        roles: [
            {
                name: "deployer",
                arn: at("role/deployer"),
                id: "AROA1",
                path: "/",
                trustPolicy: { document: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }] } },
                attachedPolicies: [{ name: "deploy", arn: at("policy/deploy") }],
                inlinePolicies: [],
                instanceProfileArns: [],
            },
        ],
        policies: [customerPolicy(at, "deploy", deployVersion), customerPolicy(at, READ_POLICY, { versionId: "v1", isDefault: true, document: readDoc })],
        pages: 1,
        calls: {},
    };
    const row = (name: string, raw: Record<string, string>, keys: CredentialReportRow["accessKeys"]): CredentialReportRow => {
        const userArn = name === "<root_account>" ? `arn:aws:iam::${account}:root` : at(`user/${name}`);
        return {
            user: name,
            arn: userArn,
            isRoot: name === "<root_account>",
            mfaActive: raw["mfa_active"] === "true",
            passwordEnabled: raw["password_enabled"] === "true" ? true : raw["password_enabled"] === "false" ? false : undefined,
            accessKeys: keys,
            raw: { user: name, arn: userArn, ...raw },
        };
    };
    const credentialReport: CredentialReportRow[] = [
        row("<root_account>", { mfa_active: "true", password_enabled: "not_supported", password_last_used: "2026-06-01T00:00:00+00:00" }, []),
        row("alice", { mfa_active: "true", password_enabled: "true", password_last_used: "2026-11-30T08:00:00+00:00" }, [
            { slot: 1, active: true, lastRotated: new Date("2026-01-01T00:00:00.000Z"), lastUsed: new Date("2026-11-30T10:00:00.000Z"), lastUsedService: "s3", lastUsedRegion: "eu-west-1" },
        ]),
        row("bob", { mfa_active: "false", password_enabled: "false", password_last_used: "N/A" }, [
            { slot: 1, active: true, lastRotated: new Date("2025-06-01T00:00:00.000Z") },
            { slot: 2, active: false, lastRotated: new Date("2025-01-01T00:00:00.000Z") },
        ]),
        ...(carol ? [row("carol", { mfa_active: "false", password_enabled: "true", password_last_used: "no_information" }, [])] : []),
        row(FORMULA_USER, { mfa_active: "true", password_enabled: "false", password_last_used: "N/A" }, [
            { slot: 1, active: true, lastRotated: new Date("2026-06-01T00:00:00.000Z"), lastUsed: new Date("2026-12-07T12:00:00.000Z"), lastUsedService: "iam", lastUsedRegion: "us-east-1" },
        ]),
        // OPS_USER has no row (made after the report): its MFA and password are unknown.
    ];
    return { iam, credentialReport };
}

/** The other account: carol there at T1, gone at T2, back at T3 (restored). */
const OTHER = "444455556666";
const T3 = new Date("2026-12-15T09:00:00.000Z");

async function seed(records: Records): Promise<void> {
    for (const [at, later] of [
        [T1, false],
        [T2, true],
        [T3, true],
    ] as const) {
        const runId = `run-${at.toISOString()}`;
        await startRun(records.db, { id: runId, startedAt: at, toolVersion: "test" });
        if (at !== T3) await writeAccountSnapshot(records.db, { accountId: ACCOUNT, auditedAt: at, runId, ...snapshotItems(collected(later)) });
        await writeAccountSnapshot(records.db, { accountId: OTHER, auditedAt: at, runId, ...snapshotItems(collected(false, at !== T2, OTHER)) });
    }
}

// ---------------------------------------------------------------------------------------------
// Running the command

interface Run {
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
}

async function run(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, cwd: string, now = new Date("2027-01-04T10:00:00.000Z")): Promise<Run> {
    let stdout = "";
    let stderr = "";
    const io: CliIo = { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env, cwd };
    const code = await historyMain(argv, io, () => now);
    return { code, stdout, stderr };
}

// ---------------------------------------------------------------------------------------------
// parse5 helpers (default tree adapter), as in audit.report.test.ts

interface Node {
    nodeName: string;
    tagName?: string;
    attrs?: { name: string; value: string }[];
    childNodes?: Node[];
    content?: Node;
    value?: string;
}
function all(root: Node): Node[] {
    const out: Node[] = [];
    const walk = (n: Node): void => {
        out.push(n);
        for (const c of n.childNodes ?? []) walk(c);
        if (n.content) walk(n.content);
    };
    walk(root);
    return out;
}
const elements = (root: Node): Node[] => all(root).filter((n) => n.tagName !== undefined);
const attr = (n: Node, name: string): string | undefined => n.attrs?.find((a) => a.name === name)?.value;
const text = (n: Node): string =>
    all(n)
        .filter((x) => x.nodeName === "#text")
        .map((x) => x.value ?? "")
        .join("");
const squash = (s: string): string => s.replace(/\s+/g, " ").trim();

/** Each user row as { column: text }, list cells as their items' texts. */
function userRows(doc: Node): Record<string, string | string[]>[] {
    return elements(doc)
        .filter((n) => n.tagName === "tr" && attr(n, "data-user") !== undefined)
        .map((tr) => {
            const row: Record<string, string | string[]> = {};
            for (const cell of (tr.childNodes ?? []).filter((c) => c.tagName === "td" || c.tagName === "th")) {
                const items = elements(cell).filter((n) => n.tagName === "li");
                row[attr(cell, "data-col") ?? "?"] = items.length > 0 ? items.map((li) => squash(text(li))) : squash(text(cell));
            }
            return row;
        });
}

// ---------------------------------------------------------------------------------------------
// RFC 4180, read back

function parseCsv(textIn: string): string[][] {
    const rows: string[][] = [];
    let row: string[] = [];
    let cell = "";
    let i = 0;
    let quoted = false;
    while (i < textIn.length) {
        const c = textIn[i] as string;
        if (quoted) {
            if (c === '"' && textIn[i + 1] === '"') {
                cell += '"';
                i += 2;
            } else if (c === '"') {
                quoted = false;
                i++;
            } else {
                cell += c;
                i++;
            }
        } else if (c === '"') {
            if (cell !== "") throw new Error(`a quote inside an unquoted cell at ${i}`);
            quoted = true;
            i++;
        } else if (c === ",") {
            row.push(cell);
            cell = "";
            i++;
        } else if (c === "\r" && textIn[i + 1] === "\n") {
            row.push(cell);
            rows.push(row);
            row = [];
            cell = "";
            i += 2;
        } else if (c === "\r" || c === "\n") {
            throw new Error(`a bare line break at ${i}: RFC 4180 ends records with CRLF`);
        } else {
            cell += c;
            i++;
        }
    }
    if (quoted) throw new Error("an unterminated quoted cell");
    if (cell !== "" || row.length > 0) throw new Error("the last record has no CRLF");
    return rows;
}

// ---------------------------------------------------------------------------------------------
// Expected reports

const ADMINS_VIA = `group Admins: attached AdministratorAccess (${ADMIN_ACCESS})`;
const OPS_VIA = `group ${OPS_GROUP}: attached PowerUserAccess (${POWER_USER}), admin-equivalent: grants every action outside IAM, security groups included`;

const EXPECTED_ROWS = [
    {
        user: `${FORMULA_USER} ${arn(`user/${FORMULA_USER}`)}`,
        path: HOSTILE_PATH,
        created: "2026-06-01 00:00 UTC",
        groups: "none",
        managed: [`${READ_POLICY} (attached directly) ${arn(`policy/${READ_POLICY}`)}`],
        inline: "none",
        admin: "none",
        mfa: "yes",
        password: "disabled",
        "password-last-used": "",
        keys: ["key 1: active, 213 days old, last used 2026-12-07 12:00 UTC (iam)"],
        "last-audited": "2026-12-08 09:00 UTC",
        decision: "",
    },
    {
        user: `${OPS_USER} ${arn(`user/${OPS_USER}`)}`,
        path: "/",
        created: "2025-01-01 00:00 UTC",
        groups: [OPS_GROUP],
        managed: [`PowerUserAccess (group ${OPS_GROUP}) ${POWER_USER}`],
        inline: "none",
        admin: [OPS_VIA],
        mfa: "unknown",
        password: "unknown",
        "password-last-used": "",
        keys: "none",
        "last-audited": "2026-12-08 09:00 UTC",
        decision: "",
    },
    {
        user: `alice ${arn("user/alice")}`,
        path: "/",
        created: "2025-01-01 00:00 UTC",
        groups: ["Admins", "Developers"],
        managed: [`AdministratorAccess (group Admins) ${ADMIN_ACCESS}`, `ReadOnlyAccess (group Developers) ${READ_ONLY}`],
        inline: ["alice-notes (own)", "dev-extra (group Developers)"],
        admin: [ADMINS_VIA],
        mfa: "yes",
        password: "enabled",
        "password-last-used": "2026-11-30 08:00 UTC",
        keys: ["key 1: active, 364 days old, last used 2026-11-30 10:00 UTC (s3)"],
        "last-audited": "2026-12-08 09:00 UTC",
        decision: "",
    },
    {
        user: `bob ${arn("user/bob")}`,
        path: "/engineering/",
        created: "2025-03-15 10:20 UTC",
        groups: ["Admins", "Developers"],
        managed: [`AdministratorAccess (group Admins) ${ADMIN_ACCESS}`, `ReadOnlyAccess (group Developers) ${READ_ONLY}`],
        inline: ["dev-extra (group Developers)"],
        admin: [ADMINS_VIA],
        mfa: "no",
        password: "disabled",
        "password-last-used": "",
        keys: ["key 1: active, 578 days old, never used", "key 2: inactive, 729 days old, never used"],
        "last-audited": "2026-12-08 09:00 UTC",
        decision: "",
    },
];

const CSV_HEADER = [
    "User",
    "ARN",
    "Path",
    "Created",
    "Groups",
    "Managed policies",
    "Inline policies",
    "Admin rights",
    "MFA",
    "Password enabled",
    "Password last used",
    "Key 1 active",
    "Key 1 age (days)",
    "Key 1 last used",
    "Key 1 last used service",
    "Key 2 active",
    "Key 2 age (days)",
    "Key 2 last used",
    "Key 2 last used service",
    "Last audited",
    "Decision",
];
const LAST = T2.toISOString();
const EXPECTED_CSV = [
    CSV_HEADER,
    [`'${FORMULA_USER}`, arn(`user/${FORMULA_USER}`), HOSTILE_PATH, "2026-06-01T00:00:00.000Z", "", `'${READ_POLICY} (attached directly)`, "", "", "yes", "no", "", "yes", "213", "2026-12-07T12:00:00.000Z", "iam", "", "", "", "", LAST, ""],
    [`'${OPS_USER}`, arn(`user/${OPS_USER}`), "/", "2025-01-01T00:00:00.000Z", `'${OPS_GROUP}`, `PowerUserAccess (group ${OPS_GROUP})`, "", OPS_VIA, "unknown", "unknown", "", "", "", "", "", "", "", "", "", LAST, ""],
    [
        "alice",
        arn("user/alice"),
        "/",
        "2025-01-01T00:00:00.000Z",
        "Admins; Developers",
        "AdministratorAccess (group Admins); ReadOnlyAccess (group Developers)",
        "alice-notes (own); dev-extra (group Developers)",
        ADMINS_VIA,
        "yes",
        "yes",
        "2026-11-30T08:00:00.000Z",
        "yes",
        "364",
        "2026-11-30T10:00:00.000Z",
        "s3",
        "",
        "",
        "",
        "",
        LAST,
        "",
    ],
    [
        "bob",
        arn("user/bob"),
        "/engineering/",
        "2025-03-15T10:20:00.000Z",
        "Admins; Developers",
        "AdministratorAccess (group Admins); ReadOnlyAccess (group Developers)",
        "dev-extra (group Developers)",
        ADMINS_VIA,
        "no",
        "no",
        "",
        "yes",
        "578",
        "",
        "",
        "no",
        "729",
        "",
        "",
        LAST,
        "",
    ],
];

const policyState = (version: "v1" | "v2") => ({
    arn: arn("policy/deploy"),
    name: "deploy",
    id: "ANPA6",
    path: "/",
    isAttachable: null,
    defaultVersionId: version,
    document: version === "v1" ? s3Doc : adminDoc,
});

const CHANGES_TEXT = `Changes in account ${ACCOUNT} since 2026-12-02T00:00:00.000Z: 5

When                      Change   Kind                   Name                 Changed fields              Key
------------------------  -------  ---------------------  -------------------  --------------------------  -------------------------------------------------------------------------------
2026-12-08T09:00:00.000Z  removed  credential_report_row  carol                                            arn:aws:iam::111122223333:user/carol
2026-12-08T09:00:00.000Z  added    membership             bob in Admins                                    arn:aws:iam::111122223333:user/bob|arn:aws:iam::111122223333:group/Admins
2026-12-08T09:00:00.000Z  removed  membership             carol in Developers                              arn:aws:iam::111122223333:user/carol|arn:aws:iam::111122223333:group/Developers
2026-12-08T09:00:00.000Z  changed  policy                 deploy               defaultVersionId, document  arn:aws:iam::111122223333:policy/deploy
2026-12-08T09:00:00.000Z  removed  user                   carol                                            arn:aws:iam::111122223333:user/carol
`;

const CHANGES_JSON = {
    accountId: ACCOUNT,
    since: "2026-12-02T00:00:00.000Z",
    changes: [
        {
            at: LAST,
            change: "removed",
            kind: "credential_report_row",
            key: arn("user/carol"),
            name: "carol",
            changedFields: null,
            before: { user: "carol", arn: arn("user/carol"), mfa_active: "false", password_enabled: "true", password_last_used: "no_information" },
            after: null,
        },
        {
            at: LAST,
            change: "added",
            kind: "membership",
            key: `${arn("user/bob")}|${arn("group/Admins")}`,
            name: "bob in Admins",
            changedFields: null,
            before: null,
            after: { groupArn: arn("group/Admins"), groupName: "Admins", userArn: arn("user/bob"), userName: "bob" },
        },
        {
            at: LAST,
            change: "removed",
            kind: "membership",
            key: `${arn("user/carol")}|${arn("group/Developers")}`,
            name: "carol in Developers",
            changedFields: null,
            before: { groupArn: arn("group/Developers"), groupName: "Developers", userArn: arn("user/carol"), userName: "carol" },
            after: null,
        },
        { at: LAST, change: "changed", kind: "policy", key: arn("policy/deploy"), name: "deploy", changedFields: ["defaultVersionId", "document"], before: policyState("v1"), after: policyState("v2") },
        {
            at: LAST,
            change: "removed",
            kind: "user",
            key: arn("user/carol"),
            name: "carol",
            changedFields: null,
            before: { arn: arn("user/carol"), createDate: "2025-01-01T00:00:00.000Z", id: "AIDA5", name: "carol", path: "/", permissionsBoundaryArn: null },
            after: null,
        },
    ],
};

// ---------------------------------------------------------------------------------------------
// The two databases

interface Backend {
    /** The --db value. */
    readonly db: string;
    /** The command's environment (the PostgreSQL password, as a user gives it). */
    readonly env: Readonly<Record<string, string | undefined>>;
    /** What messages name the database as (describeDbSpec). */
    readonly described: string;
    /** The command's working directory. */
    readonly cwd: string;
    stop(): Promise<void>;
}

async function sqliteBackend(): Promise<Backend> {
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-history-"));
    const records = await openRecords({ kind: "sqlite", file: path.join(cwd, "records.sqlite") });
    try {
        await seed(records);
    } finally {
        await records.close();
    }
    return { db: "records.sqlite", env: {}, described: `sqlite:${path.join(cwd, "records.sqlite")}`, cwd, stop: async () => fs.rmSync(cwd, { recursive: true, force: true }) };
}

let postgres: Postgres | undefined;
async function postgresBackend(): Promise<Backend> {
    postgres = await startPostgres();
    const server = postgres;
    const url = await server.createDatabase("history_suite");
    const records = await openRecords({ kind: "postgres", connectionString: url, password: server.password });
    try {
        await seed(records);
    } finally {
        await records.close();
    }
    const cwd = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-history-pg-"));
    return {
        db: url,
        env: { PGPASSWORD: server.password },
        described: url,
        cwd,
        stop: async () => {
            await server.stop();
            fs.rmSync(cwd, { recursive: true, force: true });
        },
    };
}

describe.each([
    ["SQLite", sqliteBackend],
    ["PostgreSQL", postgresBackend],
])("airlock-audit history on %s", (_name, start) => {
    let backend: Backend;
    beforeAll(async () => {
        backend = await start();
    }, 60_000);
    afterAll(async () => {
        await backend?.stop();
    });
    const history = (argv: readonly string[], now?: Date): Promise<Run> => run([...argv, "--db", backend.db], backend.env, backend.cwd, now);

    describe("access-review", () => {
        let result: Run;
        let html: string;
        let csv: string;
        const out = "review";
        beforeAll(async () => {
            result = await history(["access-review", "--account", ACCOUNT, "--out", out, "--as-of", "2026-12-31"]);
            html = fs.readFileSync(path.join(backend.cwd, out, `access-review-${ACCOUNT}.html`), "utf8");
            csv = fs.readFileSync(path.join(backend.cwd, out, `access-review-${ACCOUNT}.csv`), "utf8");
        });

        it("writes the HTML and the CSV to --out and says where, on stdout only", () => {
            expect(result).toEqual({
                code: 0,
                stdout:
                    `airlock-audit history: access review of account ${ACCOUNT} as of ${AS_OF}: 4 user(s), 1 without MFA, 3 with admin rights.\n` +
                    `  report: ${path.join(backend.cwd, out, `access-review-${ACCOUNT}.html`)}\n` +
                    `  report: ${path.join(backend.cwd, out, `access-review-${ACCOUNT}.csv`)}\n`,
                stderr: "",
            });
        });

        it("HTML: the header says the account, the as-of time, the last audit and the counts", () => {
            const doc = parse(html) as unknown as Node;
            const facts = Object.fromEntries(
                elements(doc)
                    .filter((n) => attr(n, "data-fact") !== undefined)
                    .map((n) => [attr(n, "data-fact"), squash(text(n))]),
            );
            expect(facts).toEqual({
                account: ACCOUNT,
                "as-of": "2026-12-31 00:00 UTC",
                "last-audited": "2026-12-08 09:00 UTC",
                users: "4",
                "without-mfa": "1 (and 1 not in the credential report)",
                admins: "3",
            });
            expect(squash(text(elements(doc).find((n) => n.tagName === "title")!))).toBe(`Access review, account ${ACCOUNT}, as of 2026-12-31 00:00 UTC`);
            const times = elements(doc).filter((n) => n.tagName === "time").map((n) => attr(n, "datetime"));
            expect(times).toEqual([AS_OF, LAST, "2027-01-04T10:00:00.000Z"]);
        });

        it("HTML: every current user's row and cell (carol, removed, is not reviewed)", () => {
            const doc = parse(html) as unknown as Node;
            expect(userRows(doc)).toEqual(EXPECTED_ROWS);
        });

        it("HTML: hostile values are text, the page has no script and fetches nothing, and the sign-off is empty", () => {
            const doc = parse(html) as unknown as Node;
            const els = elements(doc);
            const tags = new Set(els.map((n) => n.tagName));
            for (const banned of ["script", "link", "img", "iframe", "object", "embed", "base", "form", "svg"]) expect(tags.has(banned)).toBe(false);
            for (const n of els) {
                for (const a of n.attrs ?? []) {
                    expect(a.name.startsWith("on")).toBe(false);
                    expect(["src", "href", "action", "srcset"]).not.toContain(a.name);
                }
            }
            // The path went through as text, escaped in the source (mustache escapes "/" and "=" too).
            expect(html).toContain("<code>&#x2F;&quot;&gt;&lt;script&gt;alert(1)&lt;&#x2F;script&gt;&#x2F;</code>");
            expect(html).not.toContain("<script");
            const csp = els.find((n) => n.tagName === "meta" && attr(n, "http-equiv") === "Content-Security-Policy");
            expect(attr(csp!, "content")).toBe("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'");
            const signoff = els.filter((n) => attr(n, "data-signoff") !== undefined);
            expect(signoff.map((n) => [attr(n, "data-signoff"), text(n)])).toEqual([
                ["approved-by", ""],
                ["date", ""],
                ["signature", ""],
            ]);
        });

        it("CSV: RFC 4180, one row per user, read back exactly; formula-like cells defused", () => {
            expect(csv.endsWith("\r\n")).toBe(true);
            const rows = parseCsv(csv);
            expect(rows).toEqual(EXPECTED_CSV);
            // No cell a spreadsheet would run.
            for (const cell of rows.flat()) expect(cell).not.toMatch(/^[=+\-@\t\r]/);
            // The quoting on the wire: the path has a quote, the group a comma.
            expect(csv).toContain(`,"/""><script>alert(1)</script>/",`);
            expect(csv).toContain(`,"'${OPS_GROUP}",`);
        });

        it("--format csv writes only the CSV; the default --out is ./audit-report", async () => {
            const r = await history(["access-review", "--account", ACCOUNT, "--format", "csv", "--as-of", "2026-12-31T00:00:00Z"]);
            const file = path.join(backend.cwd, "audit-report", `access-review-${ACCOUNT}.csv`);
            expect(r.code).toBe(0);
            expect(r.stdout.split("\n").filter((l) => l.startsWith("  report: "))).toEqual([`  report: ${file}`]);
            expect(fs.existsSync(path.join(backend.cwd, "audit-report", `access-review-${ACCOUNT}.html`))).toBe(false);
            expect(parseCsv(fs.readFileSync(file, "utf8"))).toEqual(EXPECTED_CSV);
        });

        it("without --as-of, ages are counted to now", async () => {
            const r = await history(["access-review", "--account", ACCOUNT, "--format", "csv", "--out", "now"], new Date("2027-01-01T00:00:00.000Z"));
            expect(r.stdout).toContain(`as of 2027-01-01T00:00:00.000Z: 4 user(s)`);
            const rows = parseCsv(fs.readFileSync(path.join(backend.cwd, "now", `access-review-${ACCOUNT}.csv`), "utf8"));
            expect(rows.map((r) => r[12])).toEqual(["Key 1 age (days)", "214", "", "365", "579"]);
        });

        it("a password with no recorded use (the report's no_information) says so; the restored carol is reviewed", async () => {
            const r = await history(["access-review", "--account", OTHER, "--out", "other", "--as-of", "2026-12-31"]);
            expect(r.code).toBe(0);
            const rows = parseCsv(fs.readFileSync(path.join(backend.cwd, "other", `access-review-${OTHER}.csv`), "utf8"));
            expect(rows.map((row) => [row[0], row[8], row[9], row[10]])).toEqual([
                ["User", "MFA", "Password enabled", "Password last used"],
                [`'${FORMULA_USER}`, "yes", "no", ""],
                [`'${OPS_USER}`, "unknown", "unknown", ""],
                ["alice", "yes", "yes", "2026-11-30T08:00:00.000Z"],
                ["bob", "no", "no", ""],
                ["carol", "no", "yes", "no use recorded"],
            ]);
            const doc = parse(fs.readFileSync(path.join(backend.cwd, "other", `access-review-${OTHER}.html`), "utf8")) as unknown as Node;
            const carol = userRows(doc)[4]!;
            expect([carol["user"], carol["password"], carol["password-last-used"], carol["last-audited"]]).toEqual([`carol arn:aws:iam::${OTHER}:user/carol`, "enabled", "no use recorded", "2026-12-15 09:00 UTC"]);
        });

        it("refuses an --as-of before the account's last audit", async () => {
            const r = await history(["access-review", "--account", ACCOUNT, "--as-of", "2026-12-05", "--out", "refused"]);
            expect(r).toEqual({
                code: 2,
                stdout: "",
                stderr:
                    `airlock-audit history access-review: --as-of 2026-12-05T00:00:00.000Z is before account ${ACCOUNT}'s last audit (${LAST}): the review shows the account as last audited, ` +
                    `so its ages are counted from then on. Give --as-of 2026-12-08 or later, or leave it out (now).\n`,
            });
            expect(fs.existsSync(path.join(backend.cwd, "refused"))).toBe(false);
        });
    });

    describe("changes", () => {
        it("prints what changed since a date as a table", async () => {
            expect(await history(["changes", "--account", ACCOUNT, "--since", "2026-12-02"])).toEqual({ code: 0, stdout: CHANGES_TEXT, stderr: "" });
        });

        it("--json gives the same changes with the states before and after", async () => {
            const r = await history(["changes", "--account", ACCOUNT, "--since", "2026-12-02", "--json"]);
            expect(r.code).toBe(0);
            expect(r.stderr).toBe("");
            expect(r.stdout.endsWith("}\n")).toBe(true);
            expect(JSON.parse(r.stdout)).toEqual(CHANGES_JSON);
        });

        it("since the first audit: every item added then, and the second audit's changes after", async () => {
            const r = await history(["changes", "--account", ACCOUNT, "--since", T1.toISOString(), "--json"]);
            const list = (JSON.parse(r.stdout) as typeof CHANGES_JSON).changes;
            expect(list.filter((c) => c.at === T1.toISOString()).map((c) => c.change)).toEqual(Array(list.length - 5).fill("added"));
            expect(list.filter((c) => c.at === T1.toISOString()).map((c) => c.name)).toContain(FORMULA_USER);
            expect(list.slice(-5)).toEqual(CHANGES_JSON.changes);
        });

        it("a user back after a removal is restored (the other account)", async () => {
            const other = (resource: string): string => `arn:aws:iam::${OTHER}:${resource}`;
            expect(await history(["changes", "--account", OTHER, "--since", "2026-12-09"])).toEqual({
                code: 0,
                stdout: `Changes in account ${OTHER} since 2026-12-09T00:00:00.000Z: 3

When                      Change    Kind                   Name                 Changed fields  Key
------------------------  --------  ---------------------  -------------------  --------------  -------------------------------------------------------------------------------
2026-12-15T09:00:00.000Z  restored  credential_report_row  carol                                ${other("user/carol")}
2026-12-15T09:00:00.000Z  restored  membership             carol in Developers                  ${other("user/carol")}|${other("group/Developers")}
2026-12-15T09:00:00.000Z  restored  user                   carol                                ${other("user/carol")}
`,
                stderr: "",
            });
            const json = JSON.parse((await history(["changes", "--account", OTHER, "--since", "2026-12-09", "--json"])).stdout) as typeof CHANGES_JSON;
            expect(json.changes.map((c) => [c.change, c.kind, c.before, c.changedFields])).toEqual([
                ["restored", "credential_report_row", null, null],
                ["restored", "membership", null, null],
                ["restored", "user", null, null],
            ]);
            expect(json.changes.find((c) => c.kind === "user")?.after).toEqual({ arn: other("user/carol"), createDate: "2025-01-01T00:00:00.000Z", id: "AIDA5", name: "carol", path: "/", permissionsBoundaryArn: null });
        });

        it("a time with an offset is the same moment in UTC; after the last audit, none", async () => {
            const r = await history(["changes", "--account", ACCOUNT, "--since", "2026-12-08T10:00:00.001+01:00"]);
            expect(r).toEqual({ code: 0, stdout: `Changes in account ${ACCOUNT} since 2026-12-08T09:00:00.001Z: none.\n`, stderr: "" });
            const atIt = await history(["changes", "--account", ACCOUNT, "--since", "2026-12-08T10:00:00+01:00", "--json"]);
            expect((JSON.parse(atIt.stdout) as typeof CHANGES_JSON).changes).toHaveLength(5);
        });
    });

    describe("admins", () => {
        it("before bob joined Admins and deploy became admin: alice only", async () => {
            expect(await history(["admins", "--account", ACCOUNT, "--on", "2026-12-05"])).toEqual({
                code: 0,
                stdout: `Admin rights in account ${ACCOUNT} on 2026-12-05T00:00:00.000Z: 1 principal(s)

Type  Name   Why                                                                                       ARN
----  -----  ----------------------------------------------------------------------------------------  ------------------------------------
user  alice  group Admins: attached AdministratorAccess (arn:aws:iam::aws:policy/AdministratorAccess)  arn:aws:iam::111122223333:user/alice
`,
                stderr: "",
            });
        });

        it("after: alice, bob through Admins, and the role deployer through its changed policy", async () => {
            const r = await history(["admins", "--account", ACCOUNT, "--on", T2.toISOString(), "--json"]);
            expect(r.code).toBe(0);
            expect(JSON.parse(r.stdout)).toEqual({
                accountId: ACCOUNT,
                on: LAST,
                admins: [
                    { type: "user", name: "alice", arn: arn("user/alice"), via: [ADMINS_VIA] },
                    { type: "user", name: "bob", arn: arn("user/bob"), via: [ADMINS_VIA] },
                    { type: "role", name: "deployer", arn: arn("role/deployer"), via: [`attached deploy (${arn("policy/deploy")})`] },
                ],
            });
            const text = await history(["admins", "--account", ACCOUNT, "--on", T2.toISOString()]);
            expect(text.stdout.split("\n").slice(0, 1)).toEqual([`Admin rights in account ${ACCOUNT} on ${LAST}: 3 principal(s)`]);
            expect(text.stdout.split("\n").slice(4, 7).map((l) => l.split(/\s{2,}/))).toEqual([
                ["user", "alice", ADMINS_VIA, arn("user/alice")],
                ["user", "bob", ADMINS_VIA, arn("user/bob")],
                ["role", "deployer", `attached deploy (${arn("policy/deploy")})`, arn("role/deployer")],
            ]);
        });

        it("one millisecond before the second audit, the first audit's answer", async () => {
            const r = await history(["admins", "--account", ACCOUNT, "--on", "2026-12-08T08:59:59.999Z", "--json"]);
            expect((JSON.parse(r.stdout) as { admins: { name: string }[] }).admins.map((a) => a.name)).toEqual(["alice"]);
        });

        it("before the first audit nothing is known: an error, not an empty list", async () => {
            expect(await history(["admins", "--account", ACCOUNT, "--on", "2026-11-30"])).toEqual({
                code: 2,
                stdout: "",
                stderr: `airlock-audit history admins: --on 2026-11-30T00:00:00.000Z is before the first audit of account ${ACCOUNT} (${T1.toISOString()}): nothing is recorded of it then. Give --on ${T1.toISOString()} or later.\n`,
            });
        });
    });

    it("an account with no records: exit 2, naming the accounts there are, and a near miss", async () => {
        expect(await history(["changes", "--account", "999999999999", "--since", "2026-12-01"])).toEqual({
            code: 2,
            stdout: "",
            stderr: `airlock-audit history changes: no records of account 999999999999 in ${backend.described} (accounts recorded: ${ACCOUNT}, ${OTHER}). Audit the account with --db to record it.\n`,
        });
        const typo = await history(["admins", "--account", "111122223334", "--on", "2026-12-01"]);
        expect(typo.code).toBe(2);
        expect(typo.stderr).toBe(
            `airlock-audit history admins: no records of account 111122223334 in ${backend.described} (accounts recorded: ${ACCOUNT}, ${OTHER}). Did you mean "${ACCOUNT}"? Audit the account with --db to record it.\n`,
        );
    });
});

// ---------------------------------------------------------------------------------------------
// Errors that need no seeded database

describe("airlock-audit history: usage and database errors", () => {
    let dir: string;
    beforeAll(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-history-usage-"));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    const cli = (argv: readonly string[], env: Record<string, string> = {}): Promise<Run> => run(argv, env, dir);

    it("--help: the command's and each report's, on stdout, exit 0", async () => {
        for (const argv of [["--help"], ["-h"], ["help"]]) expect(await cli(argv)).toEqual({ code: 0, stdout: HISTORY_USAGE, stderr: "" });
        for (const report of ["access-review", "changes", "admins"] as const) {
            expect(await cli([report, "--help"])).toEqual({ code: 0, stdout: REPORT_USAGE[report], stderr: "" });
            // Even beside other (wrong) options.
            expect(await cli([report, "--account", "x", "-h"])).toEqual({ code: 0, stdout: REPORT_USAGE[report], stderr: "" });
        }
        expect(HISTORY_USAGE).toContain("airlock-audit history changes --account 111122223333 --since 2026-10-01");
        expect(REPORT_USAGE["access-review"]).toContain(`(default: ${DEFAULT_DB};`);
    });

    it.each([
        [[], "airlock-audit history: name a report: access-review, changes, admins.\n\n"],
        [["acess-review"], 'airlock-audit history: unknown report "acess-review". Did you mean "access-review"? Name one of the reports: access-review, changes, admins.\n\n'],
        [["change"], 'airlock-audit history: unknown report "change". Did you mean "changes"? Name one of the reports: access-review, changes, admins.\n\n'],
        [["report"], 'airlock-audit history: unknown report "report". Name one of the reports: access-review, changes, admins.\n\n'],
        [["--account", ACCOUNT], 'airlock-audit history: name a report before the options ("--account" is an option): access-review, changes, admins.\n\n'],
    ])("%j: usage on stderr, exit 2", async (argv, message) => {
        expect(await cli(argv)).toEqual({ code: 2, stdout: "", stderr: message + HISTORY_USAGE });
    });

    it.each([
        [["changes", "--account", ACCOUNT], ["--since is required: YYYY-MM-DD (midnight UTC) or an ISO-8601 time with its zone, e.g. 2026-12-01T09:30:00Z or 2026-12-01T10:30:00+01:00."]],
        [
            ["changes", "--since", "2026-13-01"],
            [
                "--account is required: an AWS account id (12 digits), e.g. --account 111122223333.",
                '--since "2026-13-01" is not a day of the calendar: give YYYY-MM-DD (midnight UTC) or an ISO-8601 time with its zone, e.g. 2026-12-01T09:30:00Z or 2026-12-01T10:30:00+01:00.',
            ],
        ],
        [["admins", "--account", "1111-2222-3333", "--on", "yesterday"], ['--account needs an AWS account id, 12 digits, not "1111-2222-3333".', '--on "yesterday" is not a date: give YYYY-MM-DD (midnight UTC) or an ISO-8601 time with its zone, e.g. 2026-12-01T09:30:00Z or 2026-12-01T10:30:00+01:00.']],
        [["admins", "--account", ACCOUNT, "--on", "2026-12-01T10:00:00"], ['--on "2026-12-01T10:00:00" has no time zone (add Z for UTC, or an offset such as +01:00): give YYYY-MM-DD (midnight UTC) or an ISO-8601 time with its zone, e.g. 2026-12-01T09:30:00Z or 2026-12-01T10:30:00+01:00.']],
        [["changes", "--acount", ACCOUNT, "--since", "2026-12-01"], ['unknown option --acount. Did you mean "--account"?', "--account is required: an AWS account id (12 digits), e.g. --account 111122223333."]],
        [["changes", "--account", ACCOUNT, "--since", "2026-12-01", "--as-of", "2026-12-01"], ["unknown option --as-of."]],
        [["admins", "--account", ACCOUNT, "--account", "222233334444", "--on", "2026-12-01", "extra"], ['--account is given twice ("111122223333" and "222233334444"); give it once.', 'unexpected argument "extra": every input is given by an option.']],
        [["access-review", "--account", ACCOUNT, "--format", "html,pdf", "--json"], ['unknown option --json.', '--format "pdf" is not a format of the access review (html, csv).']],
        [["access-review", "--account", ACCOUNT, "--format", "htm"], ['--format "htm" is not a format of the access review (html, csv). Did you mean "html"?']],
        [["access-review", "--account", ACCOUNT, "--out"], ["--out needs a directory for the files, e.g. --out ./audit-report."]],
        [["changes", "--account", ACCOUNT, "--since", "2026-12-01", "--json=yes"], ["--json takes no value; write --json alone."]],
        [["admins", "--account", "--on", "2026-12-01"], ["--account needs an AWS account id (12 digits), e.g. --account 111122223333."]],
    ])("%j: every problem named, exit 2", async (argv, problems) => {
        const report = argv[0] as string;
        expect(await cli(argv)).toEqual({
            code: 2,
            stdout: "",
            stderr: problems.map((p) => `airlock-audit history ${report}: ${p}\n`).join("") + `Run \`airlock-audit history ${report} --help\` for its options.\n`,
        });
    });

    it("a SQLite file that is not there is not created (the default --db, and a given one)", async () => {
        const byDefault = await cli(["changes", "--account", ACCOUNT, "--since", "2026-12-01"]);
        const defaultFile = path.join(dir, "airlock-records.sqlite");
        expect(byDefault).toEqual({
            code: 2,
            stdout: "",
            stderr: `airlock-audit history changes: no records database at ${defaultFile}: run an audit first (airlock-audit --targets … --db ${defaultFile})\n`,
        });
        const given = await cli(["access-review", "--account", ACCOUNT, "--db", "sqlite:sub/records.sqlite"]);
        expect(given.code).toBe(2);
        expect(given.stderr).toBe(`airlock-audit history access-review: no records database at ${path.join(dir, "sub", "records.sqlite")}: run an audit first (airlock-audit --targets … --db ${path.join(dir, "sub", "records.sqlite")})\n`);
        expect(fs.readdirSync(dir)).toEqual([]);
    });

    it("an empty database (migrated, no account yet) says so", async () => {
        const file = path.join(dir, "empty.sqlite");
        await (await openRecords({ kind: "sqlite", file })).close();
        try {
            expect(await cli(["admins", "--account", ACCOUNT, "--on", "2026-12-01", "--db", "empty.sqlite"])).toEqual({
                code: 2,
                stdout: "",
                stderr: `airlock-audit history admins: no records of account ${ACCOUNT} in sqlite:${file} (it holds no account yet). Audit the account with --db to record it.\n`,
            });
        } finally {
            fs.rmSync(file);
        }
    });

    it("--db problems come as parseDbSpec words them, and a password is never printed", async () => {
        const withPassword = await cli(["changes", "--account", ACCOUNT, "--since", "2026-12-01", "--db", "postgres://auditor:Sup3rSecret@127.0.0.1:1/records"]);
        expect(withPassword.code).toBe(2);
        expect(withPassword.stderr).toMatch(/^airlock-audit history changes: `--db`: the PostgreSQL URL carries a password \(postgres:\/\/auditor:\*\*\*@127\.0\.0\.1:1\/records\)/);
        expect(withPassword.stderr).not.toContain("Sup3rSecret");
        const scheme = await cli(["changes", "--account", ACCOUNT, "--since", "2026-12-01", "--db", "mysql://db/records"]);
        expect(scheme.stderr).toMatch(/^airlock-audit history changes: `--db`: unknown scheme "mysql:"/);
        expect(scheme.code).toBe(2);
    });

    it("a database that cannot be opened: exit 2, the password from PGPASSWORD not echoed", async () => {
        const secret = "An0ther-Secret-value";
        // Nothing listens on port 1 of the loopback address.
        const r = await cli(["admins", "--account", ACCOUNT, "--on", "2026-12-01", "--db", "postgres://auditor@127.0.0.1:1/records"], { PGPASSWORD: secret });
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/^airlock-audit history admins: cannot open the records database postgres:\/\/auditor@127\.0\.0\.1:1\/records: .*ECONNREFUSED/);
        expect(r.stderr).not.toContain(secret);
    });
});

// ---------------------------------------------------------------------------------------------
// Pure parts

describe("DATE values", () => {
    it.each([
        ["2026-12-01", "2026-12-01T00:00:00.000Z"],
        ["2024-02-29", "2024-02-29T00:00:00.000Z"],
        ["2026-12-01T09:30Z", "2026-12-01T09:30:00.000Z"],
        ["2026-12-01T09:30:15Z", "2026-12-01T09:30:15.000Z"],
        ["2026-12-01t09:30:15.5z", "2026-12-01T09:30:15.500Z"],
        ["2026-12-01T09:30:15.123456Z", "2026-12-01T09:30:15.123Z"],
        ["2026-12-01T00:30:00+01:00", "2026-11-30T23:30:00.000Z"],
        ["2026-12-31T23:00:00-05:30", "2027-01-01T04:30:00.000Z"],
    ])("%s is %s", (value, iso) => {
        const problems: string[] = [];
        expect(parseDateOption("--since", value, problems)?.toISOString()).toBe(iso);
        expect(problems).toEqual([]);
    });

    it.each([
        ["2026-02-29", "is not a day of the calendar"],
        ["2026-04-31", "is not a day of the calendar"],
        ["2026-00-10", "is not a day of the calendar"],
        ["2026-12-01T24:00:00Z", "is not a time of day"],
        ["2026-12-01T10:60Z", "is not a time of day"],
        ["2026-12-01T10:00:00+24:00", "has an offset that is not one"],
        ["2026-12-01T10:00:00", "has no time zone (add Z for UTC, or an offset such as +01:00)"],
        ["2026-12-01 10:00:00Z", "is not a date"],
        ["01/12/2026", "is not a date"],
        ["2026-12-1", "is not a date"],
        ["1733000000", "is not a date"],
        ["now", "is not a date"],
    ])("%s %s", (value, why) => {
        const problems: string[] = [];
        expect(parseDateOption("--on", value, problems)).toBeUndefined();
        expect(problems).toEqual([`--on ${JSON.stringify(value)} ${why}: give YYYY-MM-DD (midnight UTC) or an ISO-8601 time with its zone, e.g. 2026-12-01T09:30:00Z or 2026-12-01T10:30:00+01:00.`]);
    });
});

describe("CSV cells", () => {
    it.each([
        ["alice", "alice"],
        ["=1+1", "'=1+1"],
        ["+cmd", "'+cmd"],
        ["-2+3", "'-2+3"],
        ["@SUM", "'@SUM"],
        ["\tx", "'\tx"],
        ["\r=1", "\"'\r=1\""],
        ["a,b", '"a,b"'],
        ['say "hi"', '"say ""hi"""'],
        ["line\nbreak", '"line\nbreak"'],
        ["+a,b", `"'+a,b"`],
        ["a=1", "a=1"],
        ["", ""],
        ["12", "12"],
    ])("%j is written %j", (value, written) => {
        expect(csvCell(value)).toBe(written);
    });
});

describe("changes: fields and text", () => {
    it.each([
        [{ a: 1, b: [1, 2] }, { a: 1, b: [1, 2] }, []],
        [{ a: 1, b: { x: 1, y: 2 } }, { b: { y: 2, x: 1 }, a: 1 }, []],
        [{ a: 1, b: 2 }, { a: 1, b: 3 }, ["b"]],
        [{ a: 1 }, { a: 1, c: null }, []],
        [{ a: 1 }, { b: 1 }, ["a", "b"]],
        [{ z: [1, 2], a: 1 }, { z: [2, 1], a: 2 }, ["a", "z"]],
        ["x", "y", ["(state)"]],
    ])("%j → %j: %j", (before, after, fields) => {
        expect(changedFields(before, after)).toEqual(fields);
    });

    it("a value cannot reach the terminal as a control sequence", () => {
        expect(printable("web\u001b[31m-1\u0007\n")).toBe("web\\u001b[31m-1\\u0007\\u000a");
        expect(textTable(["A", "B"], [["x\u001b]0;owned\u0007", "y"]])).toBe("A                      B\n---------------------  -\nx\\u001b]0;owned\\u0007  y\n");
    });
});

describe("the access review's template", () => {
    it("uses escaping tags only", () => {
        expect(ACCESS_REVIEW_TEMPLATE).not.toContain("{{{");
        expect(ACCESS_REVIEW_TEMPLATE).not.toMatch(/\{\{\s*&/);
        expect(ACCESS_REVIEW_TEMPLATE).not.toMatch(/\{\{\s*=/);
    });
});

afterAll(async () => {
    await postgres?.stop();
});
