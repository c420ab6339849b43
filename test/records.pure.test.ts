/**
 * The records layer's pure parts: `--db` values and password settings (parseDbSpec), items from
 * what the audit collected (snapshotItems: kinds claimed only for what was collected, keys, no
 * secrets), canonical states, and the "*" on "*" test behind adminsOn.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { IamInventory } from "../audit/iamInventory";
import { parseCredentialReport } from "../audit/iamInventory";
import { DB_PASSWORD_FILE_ENV, DbSpecError, describeDbSpec, parseDbSpec } from "../audit/records/db";
import { canonicalState, snapshotItems, stateHash } from "../audit/records/inventory";
import { grantsFullAdmin, isAdministratorAccessArn } from "../audit/records/queries";

describe("parseDbSpec", () => {
    let dir: string;
    beforeAll(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-dbspec-"));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
    const passwordFile = (mode: number, text = "s3cret-from-file\n"): string => {
        const file = path.join(dir, `pw-${mode.toString(8)}-${Math.random()}`);
        fs.writeFileSync(file, text);
        fs.chmodSync(file, mode);
        return file;
    };

    it.each([
        ["records.sqlite", { kind: "sqlite", file: "records.sqlite" }],
        ["/var/lib/airlock/records.sqlite", { kind: "sqlite", file: "/var/lib/airlock/records.sqlite" }],
        ["sqlite:./a:b.sqlite", { kind: "sqlite", file: "./a:b.sqlite" }],
        ["./a:b.sqlite", { kind: "sqlite", file: "./a:b.sqlite" }],
        ["postgres://airlock@db.example:5432/records", { kind: "postgres", connectionString: "postgres://airlock@db.example:5432/records", password: undefined }],
        ["postgresql://airlock@db.example/records?sslmode=require", { kind: "postgres", connectionString: "postgresql://airlock@db.example/records?sslmode=require", password: undefined }],
    ])("%s", (value, spec) => {
        expect(parseDbSpec(value, {})).toEqual(spec);
    });

    it("takes PGPASSWORD, and a password file before it", () => {
        expect(parseDbSpec("postgres://a@h/d", { PGPASSWORD: "from-env" })).toMatchObject({ password: "from-env" });
        const file = passwordFile(0o600);
        expect(parseDbSpec("postgres://a@h/d", { PGPASSWORD: "from-env", [DB_PASSWORD_FILE_ENV]: file })).toMatchObject({ password: "s3cret-from-file" });
        expect(parseDbSpec("postgres://a@h/d", { [DB_PASSWORD_FILE_ENV]: passwordFile(0o400, "only-line\r\nsecond") })).toMatchObject({ password: "only-line" });
    });

    it.each([
        ["postgres://airlock:hunter2@db.example/records", "`--db`: the PostgreSQL URL carries a password (postgres://airlock:***@db.example/records); credentials never go on the command line."],
        ["postgresql://db.example/records?password=hunter2", "`--db`: the PostgreSQL URL carries a password (postgresql://db.example/records?password=***); credentials never go on the command line."],
    ])("refuses a password in the URL: %s", (value, message) => {
        const error = (() => {
            try {
                parseDbSpec(value, {});
            } catch (e) {
                return e as Error;
            }
            return undefined;
        })();
        expect(error).toBeInstanceOf(DbSpecError);
        expect(error?.message.startsWith(message)).toBe(true);
        expect(error?.message).toContain("PGPASSWORD");
        expect(error?.message).not.toContain("hunter2");
    });

    it.each([0o644, 0o640, 0o604, 0o660, 0o700 | 0o020])("refuses a password file with mode %o (group or others)", (mode) => {
        const file = passwordFile(mode);
        expect(() => parseDbSpec("postgres://a@h/d", { [DB_PASSWORD_FILE_ENV]: file })).toThrow(
            `\`${DB_PASSWORD_FILE_ENV}\`: ${file} can be read or written by group or others (mode ${(mode & 0o777).toString(8).padStart(4, "0")}): run \`chmod 600 ${file}\``,
        );
    });

    it("refuses a missing or empty password file", () => {
        const missing = path.join(dir, "nope");
        expect(() => parseDbSpec("postgres://a@h/d", { [DB_PASSWORD_FILE_ENV]: missing })).toThrow(`\`${DB_PASSWORD_FILE_ENV}\`: cannot read ${missing} (ENOENT)`);
        const empty = passwordFile(0o600, "\n");
        expect(() => parseDbSpec("postgres://a@h/d", { [DB_PASSWORD_FILE_ENV]: empty })).toThrow(`${empty} is empty`);
        expect(() => parseDbSpec("postgres://a@h/d", { [DB_PASSWORD_FILE_ENV]: dir })).toThrow(`${dir} is not a regular file`);
    });

    it.each([
        ["mysql://root@db/records", '`--db`: unknown scheme "mysql:".'],
        ["file:records.sqlite", '`--db`: unknown scheme "file:".'],
        ["sqlite:", "`--db sqlite:` names no file"],
        ["", "`--db` is empty"],
        ["postgres://[bad", "`--db`: \"postgres://[bad\" is not a valid PostgreSQL URL"],
    ])("refuses %j", (value, message) => {
        expect(() => parseDbSpec(value, {})).toThrow(message);
    });

    it("describes a spec without its password", () => {
        expect(describeDbSpec({ kind: "postgres", connectionString: "postgres://a@h:5432/d", password: "p4ss" })).toBe("postgres://a@h:5432/d");
        expect(describeDbSpec({ kind: "sqlite", file: "x.sqlite" })).toBe("sqlite:x.sqlite");
    });
});

describe("snapshotItems", () => {
    const ACCOUNT = "123456789012";
    const iam = (entities: IamInventory["entities"]): IamInventory => ({
        accountId: ACCOUNT,
        entities,
        users: [
            {
                name: "alice",
                arn: `arn:aws:iam::${ACCOUNT}:user/alice`,
                id: "AIDA1",
                path: "/",
                createDate: new Date("2025-01-01T00:00:00Z"),
                // A group the listing did not return: its ARN is made in the user's account.
                groups: ["Ghosts"],
                attachedPolicies: [{ name: "ReadOnlyAccess", arn: "arn:aws:iam::aws:policy/ReadOnlyAccess" }],
                inlinePolicies: [{ name: "broken", error: "not JSON: Unexpected token" }],
            },
        ],
        groups: [],
        roles: [],
        policies: [],
        pages: 1,
        calls: {},
    });

    it("claims only the kinds whose source was collected", () => {
        expect(snapshotItems({}).kinds).toEqual([]);
        expect(snapshotItems({ iam: iam(["User", "Group", "Role", "LocalManagedPolicy"]) }).kinds).toEqual(["user", "membership", "group", "role", "policy", "inline_policy", "attachment"]);
        // Without roles listed, nobody can say which inline policies and attachments are gone.
        expect(snapshotItems({ iam: iam(["User", "Group"]) }).kinds).toEqual(["user", "membership", "group"]);
        expect(snapshotItems({ credentialReport: [] }).kinds).toEqual(["access_key", "credential_report_row"]);
        expect(snapshotItems({ buckets: [], instances: [] }).kinds).toEqual(["bucket", "instance"]);
    });

    it("keys users, memberships, attachments and inline policies by ARN", () => {
        const { items } = snapshotItems({ iam: iam(["User", "Group", "Role", "LocalManagedPolicy"]) });
        expect(items.map((i) => [i.kind, i.key, i.name])).toEqual([
            ["user", `arn:aws:iam::${ACCOUNT}:user/alice`, "alice"],
            ["membership", `arn:aws:iam::${ACCOUNT}:user/alice|arn:aws:iam::${ACCOUNT}:group/Ghosts`, "alice in Ghosts"],
            ["inline_policy", `arn:aws:iam::${ACCOUNT}:user/alice#broken`, "broken"],
            ["attachment", `arn:aws:iam::${ACCOUNT}:user/alice|arn:aws:iam::aws:policy/ReadOnlyAccess`, "ReadOnlyAccess"],
        ]);
        expect(items[0]!.state).toEqual({ arn: `arn:aws:iam::${ACCOUNT}:user/alice`, name: "alice", id: "AIDA1", path: "/", createDate: "2025-01-01T00:00:00.000Z", permissionsBoundaryArn: null });
        expect(items[2]!.state).toEqual({ principalArn: `arn:aws:iam::${ACCOUNT}:user/alice`, principalType: "user", name: "broken", document: null, error: "not JSON: Unexpected token" });
    });

    it("turns credential report rows into rows and key metadata, nothing secret", () => {
        const csv =
            "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active," +
            "access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service," +
            "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service," +
            "cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n" +
            `carol,arn:aws:iam::${ACCOUNT}:user/carol,2025-01-01T00:00:00+00:00,false,N/A,N/A,N/A,false,` +
            "true,2025-02-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n";
        const { items } = snapshotItems({ credentialReport: parseCredentialReport(csv) });
        expect(items.map((i) => [i.kind, i.key])).toEqual([
            ["credential_report_row", `arn:aws:iam::${ACCOUNT}:user/carol`],
            ["access_key", `arn:aws:iam::${ACCOUNT}:user/carol#1`],
        ]);
        expect(items[1]!.state).toEqual({
            userArn: `arn:aws:iam::${ACCOUNT}:user/carol`,
            user: "carol",
            slot: 1,
            active: true,
            lastRotated: "2025-02-01T00:00:00.000Z",
            lastUsed: null,
            lastUsedRegion: null,
            lastUsedService: null,
        });
        expect((items[0]!.state as Record<string, string>)["access_key_1_last_rotated"]).toBe("2025-02-01T00:00:00+00:00");
    });
});

describe("canonicalState", () => {
    it("sorts keys at every depth, writes Dates as ISO text and leaves undefined out", () => {
        expect(canonicalState({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: new Date("2026-01-02T03:04:05Z") }, u: undefined })).toBe(
            '{"a":{"c":"2026-01-02T03:04:05.000Z","d":[3,{"y":2,"z":1}]},"b":1}',
        );
        expect(canonicalState(undefined)).toBe("null");
        expect(stateHash(canonicalState({ b: 1, a: 2 }))).toBe(stateHash('{"a":2,"b":1}'));
        expect(stateHash("{}")).toBe("44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
    });
});

describe("grantsFullAdmin", () => {
    it.each([
        [{ Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] }, true],
        [{ Statement: { Effect: "Allow", Action: ["s3:*", "*"], Resource: ["*"] } }, true],
        [{ Statement: [{ Effect: "Allow", Action: "*:*", Resource: "*", Condition: { Bool: { "aws:MultiFactorAuthPresent": "true" } } }] }, true],
        [{ Statement: [{ Effect: "Deny", Action: "*", Resource: "*" }] }, false],
        [{ Statement: [{ Effect: "Allow", Action: "iam:*", Resource: "*" }] }, false],
        [{ Statement: [{ Effect: "Allow", Action: "*", Resource: "arn:aws:s3:::b/*" }] }, false],
        [{ Statement: [{ Effect: "Allow", NotAction: "iam:*", Resource: "*" }] }, false],
        [{ Statement: [] }, false],
        [null, false],
        ["*", false],
    ])("%j → %s", (document, expected) => {
        expect(grantsFullAdmin(document)).toBe(expected);
    });

    it.each([
        ["arn:aws:iam::aws:policy/AdministratorAccess", true],
        ["arn:aws-us-gov:iam::aws:policy/AdministratorAccess", true],
        ["arn:aws:iam::123456789012:policy/AdministratorAccess", false],
        ["arn:aws:iam::aws:policy/AdministratorAccess-Amplify", false],
    ])("isAdministratorAccessArn(%s) → %s", (arn, expected) => {
        expect(isAdministratorAccessArn(arn)).toBe(expected);
    });
});
