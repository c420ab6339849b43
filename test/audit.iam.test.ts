/**
 * The IAM side of the audit: fetchIamInventory and fetchCredentialReport (audit/iamInventory.ts),
 * checkGroupPolicies and checkRootAndUsers (audit/checks/), on
 * 1. hand-built inventories and credential reports (pure functions);
 * 2. a fake IAM endpoint inside the SDK client (its requestHandler: no network) that answers with
 *    AWS's documented XML shapes, for what moto 5.2.1 does not do as AWS does:
 *    - GetAccountAuthorizationDetails pagination: moto ignores MaxItems and Marker and always answers
 *      IsTruncated=false with everything;
 *    - the credential report: moto's has no `<root_account>` row, its GeneratedTime is always
 *      2015-02-02T20:02:02Z (so never fresh), and it is never in progress;
 * 3. moto itself (test/support/moto.ts), two accounts (the second through moto's x-moto-account-id
 *    header), seeded through the SDK: the whole path from the API to exact findings.
 * Other moto deviations met here: GetAccountAuthorizationDetails' Policies entries have no
 * PolicyName or PolicyId (the fetcher takes the name from the ARN), and trust policies come back
 * as plain JSON, not URL-encoded (the fetcher takes both).
 */
import { Readable } from "stream";
import {
    AddUserToGroupCommand,
    AttachGroupPolicyCommand,
    AttachUserPolicyCommand,
    CreateAccessKeyCommand,
    CreateGroupCommand,
    CreateLoginProfileCommand,
    CreatePolicyCommand,
    CreatePolicyVersionCommand,
    CreateRoleCommand,
    CreateUserCommand,
    CreateVirtualMFADeviceCommand,
    EnableMFADeviceCommand,
    GetAccountAuthorizationDetailsCommand,
    GetUserCommand,
    IAMClient,
} from "@aws-sdk/client-iam";
import type { Finding } from "../audit/findings";
import {
    CredentialReportRow,
    IamInventory,
    IamUser,
    ManagedPolicy,
    PolicyVersion,
    ROOT_ROW_USER,
    decodePolicyDocument,
    fetchCredentialReport,
    fetchIamInventory,
    parseCredentialReport,
} from "../audit/iamInventory";
import { checkGroupPolicies, GroupPoliciesTarget } from "../audit/checks/groupPolicies";
import { checkRootAndUsers } from "../audit/checks/rootAndUsers";
import { findingUid } from "../audit/report/ocsf";
import { normalizePolicy } from "../audit/policyEquivalence";
import { configWritePolicy, forceMfaPolicy, sourceIpRestrictionPolicy } from "../policies/groupPolicies";
import { MOTO_ACCOUNT_ID, Moto, awsClientConfig, inMotoAccount, startMoto } from "./support/moto";

const AWS = { partition: "aws", dnsSuffix: "amazonaws.com" };
const ACCOUNT = "123456789012";
const CIDRS = ["195.89.85.67/32"];
const DAY = 24 * 60 * 60 * 1000;

type Doc = { Version?: string; Statement: Record<string, unknown>[] };
const clone = (d: unknown): Doc => JSON.parse(JSON.stringify(d)) as Doc;

/** Force_MFA with the same meaning, written differently: statements and lists reversed, no Sids, actions upper-cased. */
function reorderedForceMfa(ignoredUsers: string[]): Doc {
    const d = clone(forceMfaPolicy({ ...AWS, ignoredUsers }));
    d.Statement.reverse();
    for (const s of d.Statement) {
        delete s["Sid"];
        for (const key of ["Action", "NotAction", "NotResource"]) {
            if (Array.isArray(s[key])) s[key] = [...(s[key] as string[])].reverse().map((a) => (key.endsWith("Action") ? a.toUpperCase() : a));
        }
    }
    return d;
}

/** Force_MFA with sts:GetSessionToken no longer exempted from the Deny. */
function driftedForceMfa(ignoredUsers: string[]): Doc {
    const d = clone(forceMfaPolicy({ ...AWS, ignoredUsers }));
    const deny = d.Statement.find((s) => s["Sid"] === "DenyAllExceptMfaEnrolmentWithoutMfa")!;
    deny["NotAction"] = (deny["NotAction"] as string[]).filter((a) => a !== "sts:GetSessionToken");
    return d;
}

const policyArn = (name: string, account = ACCOUNT) => `arn:aws:iam::${account}:policy/${name}`;
const userArn = (name: string, account = ACCOUNT) => `arn:aws:iam::${account}:user/${name}`;

// ---------------------------------------------------------------------------------------------
// Hand-built inventories

function user(name: string, groups: string[] = [], attached: string[] = []): IamUser {
    return { name, arn: userArn(name), id: `AIDA${name.toUpperCase()}`, path: "/", groups, attachedPolicies: attached.map((p) => ({ name: p, arn: policyArn(p) })), inlinePolicies: [] };
}

function managed(name: string, versions: { id: string; document: unknown; isDefault?: boolean }[]): ManagedPolicy {
    const vs: PolicyVersion[] = versions.map((v) => ({ versionId: v.id, isDefault: v.isDefault ?? false, document: v.document }));
    const def = vs.find((v) => v.isDefault);
    return { name, arn: policyArn(name), path: "/", defaultVersionId: def?.versionId, versions: vs, defaultVersion: def, awsManaged: false };
}

function inventory(parts: Partial<IamInventory>): IamInventory {
    return { accountId: ACCOUNT, entities: ["User", "Group", "Role", "LocalManagedPolicy"], users: [], groups: [], roles: [], policies: [], pages: 1, calls: {}, ...parts };
}

function group(name: string, attached: string[]) {
    return {
        name,
        arn: `arn:aws:iam::${ACCOUNT}:group/${name}`,
        id: `AGPA${name.toUpperCase()}`,
        path: "/",
        attachedPolicies: attached.map((p) => (p === "SecurityAudit" ? { name: p, arn: "arn:aws:iam::aws:policy/SecurityAudit" } : { name: p, arn: policyArn(p) })),
        inlinePolicies: [],
    };
}

const TARGET: GroupPoliciesTarget = {
    name: "target1",
    accountId: ACCOUNT,
    partition: "aws",
    sourceCidrs: CIDRS,
    ignoreUsers: { Force_MFA: ["SecurityReader"] },
    policies: ["Force_MFA", "User_Source_IP_Restrictions", "Config_Write", "SecurityAudit"],
};

const base = { target: "target1", accountId: ACCOUNT, region: "global" };
const gp = { ...base, check: "group-policies" as const };

describe("checkGroupPolicies over hand-built inventories", () => {
    const reference = {
        forceMfa: forceMfaPolicy({ ...AWS, ignoredUsers: ["SecurityReader"] }),
        sourceIp: sourceIpRestrictionPolicy({ cidrs: CIDRS, accountId: ACCOUNT }),
        configWrite: configWritePolicy({ ...AWS, accountId: ACCOUNT }),
    };
    const healthy = (): IamInventory =>
        inventory({
            users: [user("alice", ["DevOps"]), user("SecurityReader", ["SecurityAudit"]), user("carol", ["SecurityAudit"], ["Force_MFA"])],
            groups: [group("DevOps", ["Force_MFA", "User_Source_IP_Restrictions"]), group("SecurityAudit", ["User_Source_IP_Restrictions", "SecurityAudit", "Config_Write"])],
            policies: [
                // The default version is the one compared: v1 (drifted) is not.
                managed("Force_MFA", [
                    { id: "v1", document: driftedForceMfa(["SecurityReader"]) },
                    { id: "v2", document: reorderedForceMfa(["SecurityReader"]), isDefault: true },
                ]),
                managed("User_Source_IP_Restrictions", [{ id: "v1", document: reference.sourceIp, isDefault: true }]),
                managed("Config_Write", [{ id: "v1", document: reference.configWrite, isDefault: true }]),
            ],
        });

    it("a healthy account: one pass per policy and sub-check, nothing else", () => {
        expect(checkGroupPolicies(healthy(), TARGET)).toEqual<Finding[]>([
            { ...gp, resource: policyArn("Force_MFA"), status: "pass", severity: "informational", title: "Policy Force_MFA (default version v2) matches Airlock's reference", evidence: { policy: "Force_MFA", defaultVersionId: "v2" } },
            {
                ...gp,
                resource: policyArn("Force_MFA"),
                status: "pass",
                severity: "informational",
                title: "Force_MFA applies to every user",
                evidence: { policy: "Force_MFA", policyArn: policyArn("Force_MFA"), users: 2, ignoredUsers: ["SecurityReader"], groupsWithPolicy: ["DevOps"] },
            },
            {
                ...gp,
                resource: policyArn("User_Source_IP_Restrictions"),
                status: "pass",
                severity: "informational",
                title: "Policy User_Source_IP_Restrictions (default version v1) matches Airlock's reference",
                evidence: { policy: "User_Source_IP_Restrictions", defaultVersionId: "v1" },
            },
            {
                ...gp,
                resource: policyArn("User_Source_IP_Restrictions"),
                status: "pass",
                severity: "informational",
                title: "User_Source_IP_Restrictions applies to every user",
                evidence: { policy: "User_Source_IP_Restrictions", policyArn: policyArn("User_Source_IP_Restrictions"), users: 3, ignoredUsers: [], groupsWithPolicy: ["DevOps", "SecurityAudit"] },
            },
            { ...gp, resource: policyArn("Config_Write"), status: "pass", severity: "informational", title: "Policy Config_Write (default version v1) matches Airlock's reference", evidence: { policy: "Config_Write", defaultVersionId: "v1" } },
            {
                ...gp,
                resource: "arn:aws:iam::aws:policy/SecurityAudit",
                status: "pass",
                severity: "informational",
                title: "AWS managed policy SecurityAudit is attached",
                evidence: { policy: "SecurityAudit", policyArn: "arn:aws:iam::aws:policy/SecurityAudit", groups: ["SecurityAudit"], users: [] },
            },
        ]);
    });

    it("a user outside the MFA group: a failure naming the user and the policy; the ignored user is not one", () => {
        const inv = healthy();
        const withBob = { ...inv, users: [...inv.users, user("bob", ["Developers"])], groups: [...inv.groups, group("Developers", [])] };
        const findings = checkGroupPolicies(withBob, { ...TARGET, policies: ["Force_MFA"] });
        expect(findings).toEqual([
            expect.objectContaining({ status: "pass", title: "Policy Force_MFA (default version v2) matches Airlock's reference" }),
            {
                ...gp,
                resource: userArn("bob"),
                status: "fail",
                severity: "high",
                title: "User bob is in no group that applies Force_MFA",
                evidence: { user: "bob", policy: "Force_MFA", policyArn: policyArn("Force_MFA"), userGroups: ["Developers"], groupsWithPolicy: ["DevOps"], attachedDirectly: false },
            },
        ]);
    });

    it("ignored users: names ignore case; a list applies to every policy, a map to its policy only", () => {
        const inv = inventory({ ...healthy(), users: [user("alice", ["DevOps"]), user("securityreader", [])] });
        const titles = (t: GroupPoliciesTarget) => checkGroupPolicies(inv, t).filter((f) => f.status === "fail").map((f) => f.title);
        expect(titles({ ...TARGET, ignoreUsers: { FORCE_MFA: ["SECURITYREADER"] } })).toEqual(["User securityreader is in no group that applies User_Source_IP_Restrictions"]);
        // A list is also Force_MFA's ignored users in its reference document: the deployed one carries
        // SecurityReader, so the list must too.
        expect(titles({ ...TARGET, ignoreUsers: ["SecurityReader"] })).toEqual([]);
        expect(titles({ ...TARGET, ignoreUsers: {} })).toEqual([
            "Policy Force_MFA (default version v2) differs from Airlock's reference",
            "User securityreader is in no group that applies Force_MFA",
            "User securityreader is in no group that applies User_Source_IP_Restrictions",
        ]);
    });

    it("a drifted default version: a failure with the missing and extra statements, in canonical form", () => {
        const inv = healthy();
        const drifted = { ...inv, policies: [managed("Force_MFA", [{ id: "v3", document: driftedForceMfa(["SecurityReader"]), isDefault: true }]), ...inv.policies.slice(1)] };
        const [doc] = checkGroupPolicies(drifted, { ...TARGET, policies: ["Force_MFA"] });
        const canonical = normalizePolicy(reference.forceMfa).Statement;
        const expectedMissing = canonical.filter((s) => (s.NotAction ?? []).includes("sts:getsessiontoken"));
        expect(doc).toEqual({
            ...gp,
            resource: policyArn("Force_MFA"),
            status: "fail",
            severity: "high",
            title: "Policy Force_MFA (default version v3) differs from Airlock's reference",
            evidence: {
                policy: "Force_MFA",
                defaultVersionId: "v3",
                missing: expectedMissing,
                extra: [{ ...expectedMissing[0]!, NotAction: expectedMissing[0]!.NotAction!.filter((a) => a !== "sts:getsessiontoken") }],
            },
        });
    });

    it("a missing policy: one failure saying how many users it leaves uncovered (no per-user findings)", () => {
        const inv = healthy();
        const without = { ...inv, policies: inv.policies.filter((p) => p.name !== "User_Source_IP_Restrictions") };
        expect(checkGroupPolicies(without, { ...TARGET, policies: ["User_Source_IP_Restrictions", "Config_Write"] })).toEqual([
            {
                ...gp,
                resource: policyArn("User_Source_IP_Restrictions"),
                status: "fail",
                severity: "high",
                title: "Policy User_Source_IP_Restrictions does not exist",
                evidence: { policy: "User_Source_IP_Restrictions", expectedArn: policyArn("User_Source_IP_Restrictions"), usersNotCovered: 3 },
            },
            expect.objectContaining({ status: "pass", resource: policyArn("Config_Write") }),
        ]);
        const noConfigWrite = { ...inv, policies: inv.policies.filter((p) => p.name !== "Config_Write") };
        expect(checkGroupPolicies(noConfigWrite, { ...TARGET, policies: ["Config_Write"] })).toEqual([
            { ...gp, resource: policyArn("Config_Write"), status: "fail", severity: "medium", title: "Policy Config_Write does not exist", evidence: { policy: "Config_Write", expectedArn: policyArn("Config_Write") } },
        ]);
    });

    it("a policy attached directly to a user covers that user", () => {
        const inv = inventory({ ...healthy(), users: [user("dave", [], ["Force_MFA"])] });
        expect(checkGroupPolicies(inv, { ...TARGET, policies: ["Force_MFA"] }).map((f) => [f.status, f.title])).toEqual([
            ["pass", "Policy Force_MFA (default version v2) matches Airlock's reference"],
            ["pass", "Force_MFA applies to every user"],
        ]);
    });

    it("the policy is found by name ignoring case; duplicates in the required list count once", () => {
        const inv = healthy();
        const lower = { ...inv, policies: inv.policies.map((p) => (p.name === "Config_Write" ? { ...p, name: "config_write" } : p)) };
        expect(checkGroupPolicies(lower, { ...TARGET, policies: ["Config_Write", "config_write"] }).map((f) => [f.status, f.title])).toEqual([
            ["pass", "Policy config_write (default version v1) matches Airlock's reference"],
        ]);
    });

    it("errors, never passes: no source CIDRs, an unknown policy, an inventory that did not list users", () => {
        const inv = healthy();
        expect(checkGroupPolicies(inv, { ...TARGET, sourceCidrs: undefined, policies: ["User_Source_IP_Restrictions"] })[0]).toEqual({
            ...gp,
            resource: policyArn("User_Source_IP_Restrictions"),
            status: "error",
            severity: "high",
            title: "No reference for User_Source_IP_Restrictions: the target gives no source CIDRs (Source_IPs)",
            evidence: { policy: "User_Source_IP_Restrictions", error: "the target gives no source CIDRs (Source_IPs)" },
        });
        expect(checkGroupPolicies(inv, { ...TARGET, policies: ["Admin_Stuff"] })).toEqual([
            {
                ...gp,
                resource: policyArn("Admin_Stuff"),
                status: "error",
                severity: "medium",
                title: "No reference document for policy Admin_Stuff",
                evidence: { policy: "Admin_Stuff", known: ["Force_MFA", "User_Source_IP_Restrictions", "Config_Write", "SecurityAudit"] },
            },
        ]);
        expect(checkGroupPolicies({ ...inv, entities: ["Role", "LocalManagedPolicy"] }, { ...TARGET, policies: ["Force_MFA"] })).toEqual([
            {
                ...gp,
                resource: policyArn("Force_MFA"),
                status: "error",
                severity: "medium",
                title: "Policy Force_MFA not checked: the IAM inventory did not list User, Group",
                evidence: { policy: "Force_MFA", listed: ["Role", "LocalManagedPolicy"], needed: ["User", "Group", "LocalManagedPolicy"] },
            },
        ]);
    });

    it("an unreadable default version is a failure; a default version absent from the listing is an error", () => {
        const inv = healthy();
        const broken = { ...inv, policies: [{ ...managed("Force_MFA", []), versions: [{ versionId: "v1", isDefault: true, error: "not JSON: Unexpected token" }], defaultVersion: { versionId: "v1", isDefault: true, error: "not JSON: Unexpected token" } }] };
        expect(checkGroupPolicies(broken, { ...TARGET, policies: ["Force_MFA"] })[0]).toEqual(
            expect.objectContaining({ status: "error", title: "Policy Force_MFA's default version v1 is not a readable policy document", evidence: { policy: "Force_MFA", defaultVersionId: "v1", error: "not JSON: Unexpected token" } }),
        );
        const notAPolicy = { ...inv, policies: [managed("Force_MFA", [{ id: "v1", document: { Version: "2012-10-17" }, isDefault: true }])] };
        expect(checkGroupPolicies(notAPolicy, { ...TARGET, policies: ["Force_MFA"] })[0]).toEqual(expect.objectContaining({ status: "error", evidence: { policy: "Force_MFA", defaultVersionId: "v1", error: "the document has no Statement" } }));
        const noDefault = { ...inv, policies: [{ ...managed("Force_MFA", [{ id: "v1", document: reference.forceMfa }]), defaultVersionId: "v9" }] };
        expect(checkGroupPolicies(noDefault, { ...TARGET, policies: ["Force_MFA"] })[0]).toEqual(
            expect.objectContaining({ status: "error", title: "Policy Force_MFA's default version is not in the listing", evidence: { policy: "Force_MFA", defaultVersionId: "v9", versions: ["v1"] } }),
        );
    });

    it("SecurityAudit attached nowhere is a (low) failure; its ARN follows the partition", () => {
        const inv = inventory({ users: [user("alice")], groups: [group("DevOps", [])] });
        expect(checkGroupPolicies(inv, { ...TARGET, policies: ["SecurityAudit"] })).toEqual([
            {
                ...gp,
                resource: "arn:aws:iam::aws:policy/SecurityAudit",
                status: "fail",
                severity: "low",
                title: "AWS managed policy SecurityAudit is attached to no group or user",
                evidence: { policy: "SecurityAudit", policyArn: "arn:aws:iam::aws:policy/SecurityAudit", groups: [], users: [] },
            },
        ]);
        expect(checkGroupPolicies(inv, { ...TARGET, partition: "aws-cn", policies: ["SecurityAudit"] })[0]!.resource).toBe("arn:aws-cn:iam::aws:policy/SecurityAudit");
    });
});

// ---------------------------------------------------------------------------------------------
// Credential reports

const REPORT_HEADER =
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active," +
    "access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service," +
    "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service," +
    "cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

/** A credential report as AWS writes it (IAM User Guide, "Getting credential reports": columns, N/A, not_supported, no_information). */
function awsReport(rows: string[]): string {
    return [REPORT_HEADER, ...rows].join("\n");
}

const NOW = new Date("2026-06-01T12:00:00Z");
const daysAgo = (n: number) => new Date(NOW.getTime() - n * DAY).toISOString().replace(".000Z", "+00:00");
const ROOT_OK = `<root_account>,arn:aws:iam::${ACCOUNT}:root,2014-09-01T22:28:48+00:00,not_supported,${daysAgo(400)},not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A`;
const ROOT_BAD = `<root_account>,arn:aws:iam::${ACCOUNT}:root,2014-09-01T22:28:48+00:00,not_supported,${daysAgo(1)},not_supported,not_supported,false,true,${daysAgo(900)},${daysAgo(3)},us-east-1,s3,false,${daysAgo(800)},N/A,N/A,N/A,false,N/A,false,N/A`;
const userRow = (name: string, o: { created?: number; password?: boolean; passwordUsed?: number; passwordChanged?: number; mfa?: boolean; key1?: [boolean, number, number?]; key2?: [boolean, number, number?] }) => {
    const created = daysAgo(o.created ?? 500);
    const key = (k: [boolean, number, number?] | undefined) =>
        k === undefined ? ["false", "N/A", "N/A", "N/A", "N/A"] : [String(k[0]), daysAgo(k[1]), k[2] === undefined ? "N/A" : daysAgo(k[2]), k[2] === undefined ? "N/A" : "eu-west-1", k[2] === undefined ? "N/A" : "iam"];
    return [
        name,
        userArn(name),
        created,
        o.password === true ? "true" : "false",
        o.password !== true ? "N/A" : o.passwordUsed === undefined ? "no_information" : daysAgo(o.passwordUsed),
        o.password === true ? daysAgo(o.passwordChanged ?? o.created ?? 500) : "N/A",
        "N/A",
        String(o.mfa === true),
        ...key(o.key1),
        ...key(o.key2),
        "false",
        "N/A",
        "false",
        "N/A",
    ].join(",");
};

describe("parseCredentialReport", () => {
    it("reads AWS's columns by name; <root_account> is root, never a user; N/A, not_supported and no_information are no date", () => {
        const rows = parseCredentialReport(awsReport([ROOT_BAD, userRow("alice", { password: true, mfa: true, key1: [true, 30, 2] })]));
        expect(rows).toHaveLength(2);
        const [root, alice] = rows as [CredentialReportRow, CredentialReportRow];
        expect(root).toEqual(
            expect.objectContaining({ user: ROOT_ROW_USER, isRoot: true, passwordEnabled: undefined, passwordLastChanged: undefined, mfaActive: false }),
        );
        expect(root.accessKeys).toEqual([
            { slot: 1, active: true, lastRotated: new Date(daysAgo(900)), lastUsed: new Date(daysAgo(3)), lastUsedRegion: "us-east-1", lastUsedService: "s3" },
            { slot: 2, active: false, lastRotated: new Date(daysAgo(800)), lastUsed: undefined, lastUsedRegion: undefined, lastUsedService: undefined },
        ]);
        expect(alice).toEqual(
            expect.objectContaining({ user: "alice", arn: userArn("alice"), isRoot: false, passwordEnabled: true, passwordLastUsed: undefined, mfaActive: true, userCreationTime: new Date(daysAgo(500)) }),
        );
        expect(alice.accessKeys).toEqual([{ slot: 1, active: true, lastRotated: new Date(daysAgo(30)), lastUsed: new Date(daysAgo(2)), lastUsedRegion: "eu-west-1", lastUsedService: "iam" }]);
        expect(alice.raw["password_last_used"]).toBe("no_information");
    });

    it("understands quoted fields (IAM user names may contain commas) and CRLF line ends; empty text is no rows", () => {
        const rows = parseCredentialReport(`${REPORT_HEADER}\r\n"a,b","arn:aws:iam::${ACCOUNT}:user/a,b",2020-01-01T00:00:00+00:00,false\r\n`);
        expect(rows.map((r) => [r.user, r.passwordEnabled])).toEqual([["a,b", false]]);
        expect(parseCredentialReport("")).toEqual([]);
        expect(() => parseCredentialReport("name,x\nfoo,bar")).toThrow(/no user and arn columns/);
    });
});

const ru = { ...base, check: "root-and-users" as const };

describe("checkRootAndUsers over AWS-shaped credential reports", () => {
    const inv = (names: string[]) => inventory({ users: names.map((n) => user(n)) });

    it("exact findings: root's key and MFA, a console user without MFA, unused passwords and keys (never used counts from creation)", () => {
        const report = parseCredentialReport(
            awsReport([
                ROOT_BAD,
                userRow("alice", { password: true, passwordUsed: 3, mfa: true, key1: [true, 200, 1] }), // fine
                userRow("bob", { password: true, passwordUsed: 50, mfa: false }), // no MFA, password unused 50 days
                userRow("carol", { password: true, passwordChanged: 46, mfa: true }), // password never used, set 46 days ago
                userRow("dave", { password: true, passwordChanged: 10, mfa: true }), // never used, set 10 days ago: fine
                userRow("svc", { key1: [true, 100, 60], key2: [true, 50] }), // keys only: no MFA needed; key 1 unused 60 days, key 2 never used (50 days)
                userRow("old", { key1: [false, 900] }), // an inactive key is not a finding
            ]),
        );
        const findings = checkRootAndUsers(report, inv(["alice", "bob", "carol", "dave", "svc", "old"]), { target: "target1", accountId: ACCOUNT, unusedDays: 45, now: NOW });
        const rootArn = `arn:aws:iam::${ACCOUNT}:root`;
        expect(findings).toEqual<Finding[]>([
            {
                ...ru,
                resource: rootArn,
                status: "fail",
                severity: "critical",
                title: "Root has an active access key",
                evidence: {
                    accessKeys: [
                        { slot: 1, active: true, lastRotated: new Date(daysAgo(900)).toISOString(), lastUsed: new Date(daysAgo(3)).toISOString() },
                        { slot: 2, active: false, lastRotated: new Date(daysAgo(800)).toISOString(), lastUsed: null },
                    ],
                },
            },
            { ...ru, resource: rootArn, status: "fail", severity: "critical", title: "Root has no MFA", evidence: { mfaActive: false, passwordLastUsed: new Date(daysAgo(1)).toISOString() } },
            { ...ru, resource: userArn("bob"), status: "fail", severity: "high", title: "User bob has a console password and no MFA", evidence: { user: "bob", passwordEnabled: true, mfaActive: false, passwordLastUsed: new Date(daysAgo(50)).toISOString() } },
            {
                ...ru,
                resource: userArn("bob"),
                status: "fail",
                severity: "medium",
                title: "User bob's password has not been used for 45 days or more",
                evidence: { user: "bob", credential: "password", lastUsed: new Date(daysAgo(50)).toISOString(), since: new Date(daysAgo(50)).toISOString(), days: 50, unusedDays: 45 },
            },
            {
                ...ru,
                resource: userArn("carol"),
                status: "fail",
                severity: "medium",
                title: "User carol's password has never been used, and was set 45 days or more ago",
                evidence: { user: "carol", credential: "password", lastUsed: null, since: new Date(daysAgo(46)).toISOString(), days: 46, unusedDays: 45 },
            },
            {
                ...ru,
                resource: userArn("svc"),
                status: "fail",
                severity: "medium",
                title: "User svc's access key 1 has not been used for 45 days or more",
                evidence: { user: "svc", credential: "access_key_1", lastUsed: new Date(daysAgo(60)).toISOString(), since: new Date(daysAgo(60)).toISOString(), days: 60, unusedDays: 45 },
            },
            {
                ...ru,
                resource: userArn("svc"),
                status: "fail",
                severity: "medium",
                title: "User svc's access key 2 has never been used, and was created 45 days or more ago",
                evidence: { user: "svc", credential: "access_key_2", lastUsed: null, since: new Date(daysAgo(50)).toISOString(), days: 50, unusedDays: 45 },
            },
        ]);
    });

    it("a clean account: four passes; ignored users need no MFA; the root row is never a user", () => {
        const report = parseCredentialReport(awsReport([ROOT_OK, userRow("alice", { password: true, passwordUsed: 1, mfa: true }), userRow("SecurityReader", { password: true, passwordUsed: 1 })]));
        expect(checkRootAndUsers(report, inv(["alice", "SecurityReader"]), { target: "target1", accountId: ACCOUNT, unusedDays: 45, now: NOW, mfaIgnoreUsers: ["securityreader"] })).toEqual<Finding[]>([
            { ...ru, resource: `arn:aws:iam::${ACCOUNT}:root`, status: "pass", severity: "informational", title: "Root has no access keys", evidence: { accessKeys: [] } },
            { ...ru, resource: `arn:aws:iam::${ACCOUNT}:root`, status: "pass", severity: "informational", title: "Root has MFA", evidence: { mfaActive: true, passwordLastUsed: new Date(daysAgo(400)).toISOString() } },
            { ...ru, resource: "users", status: "pass", severity: "informational", title: "Every console user has MFA", evidence: { consoleUsers: 2, ignoredUsers: ["SecurityReader"] } },
            { ...ru, resource: "users", status: "pass", severity: "informational", title: "No password or access key unused for 45 days or more", evidence: { users: 2, unusedDays: 45 } },
        ]);
    });

    it("the same account a week later gives the same findings, by title and OCSF uid: ages move only in the evidence", () => {
        const report = parseCredentialReport(
            awsReport([
                ROOT_BAD,
                userRow("bob", { password: true, passwordUsed: 50, mfa: false }),
                userRow("carol", { password: true, passwordChanged: 46, mfa: true }),
                userRow("svc", { key1: [true, 100, 60], key2: [true, 50] }),
            ]),
        );
        const at = (now: Date) => checkRootAndUsers(report, inv(["bob", "carol", "svc"]), { target: "target1", accountId: ACCOUNT, unusedDays: 45, now });
        const today = at(NOW);
        const nextWeek = at(new Date(NOW.getTime() + 7 * 24 * 3_600_000));
        expect(nextWeek.map(findingUid)).toEqual(today.map(findingUid));
        expect(today.filter((f) => f.evidence["days"] !== undefined).map((f) => [f.title, f.evidence["days"]])).toEqual([
            ["User bob's password has not been used for 45 days or more", 50],
            ["User carol's password has never been used, and was set 45 days or more ago", 46],
            ["User svc's access key 1 has not been used for 45 days or more", 60],
            ["User svc's access key 2 has never been used, and was created 45 days or more ago", 50],
        ]);
        expect(nextWeek.filter((f) => f.evidence["days"] !== undefined).map((f) => f.evidence["days"])).toEqual([57, 53, 67, 57]);
    });

    it("root with only an inactive key: a medium failure (delete it)", () => {
        const inactive = ROOT_OK.replace("true,false,N/A,N/A,N/A,N/A,false", `true,false,${daysAgo(700)},N/A,N/A,N/A,false`);
        const [keys] = checkRootAndUsers(parseCredentialReport(awsReport([inactive])), inv([]), { target: "target1", accountId: ACCOUNT, unusedDays: 45, now: NOW });
        expect(keys).toEqual(expect.objectContaining({ status: "fail", severity: "medium", title: "Root has an inactive access key: delete it" }));
    });

    it("no root row is an error; a user IAM has and the report lacks is an error; a report user gone from IAM is skipped", () => {
        const generated = new Date(NOW.getTime() - 3_600_000);
        const report = parseCredentialReport(awsReport([userRow("alice", { password: true, passwordUsed: 1, mfa: true }), userRow("gone", { password: true, passwordUsed: 100 })]));
        const findings = checkRootAndUsers(report, inventory({ users: [user("alice"), { ...user("newbie"), createDate: new Date(NOW.getTime() - 60_000) }] }), {
            target: "target1",
            accountId: ACCOUNT,
            unusedDays: 45,
            now: NOW,
            reportGeneratedAt: generated,
        });
        expect(findings).toEqual<Finding[]>([
            {
                ...ru,
                resource: "root",
                status: "error",
                severity: "critical",
                title: "The credential report has no root row: root's access keys and MFA were not checked",
                evidence: { rows: 2, reportGeneratedAt: generated.toISOString() },
            },
            {
                ...ru,
                resource: userArn("newbie"),
                status: "error",
                severity: "medium",
                title: "User newbie is not in the credential report: MFA and credential age not checked",
                evidence: { user: "newbie", userCreated: new Date(NOW.getTime() - 60_000).toISOString(), reportGeneratedAt: generated.toISOString() },
            },
            { ...ru, resource: "users", status: "pass", severity: "informational", title: "Every console user has MFA", evidence: { consoleUsers: 1, ignoredUsers: [] } },
            { ...ru, resource: "users", status: "pass", severity: "informational", title: "No password or access key unused for 45 days or more", evidence: { users: 1, unusedDays: 45, notInIamAnyMore: ["gone"] } },
        ]);
        // An inventory that did not list users skips nothing and misses nothing.
        const unlisted = checkRootAndUsers(report, inventory({ entities: ["LocalManagedPolicy"] }), { target: "target1", accountId: ACCOUNT, unusedDays: 45, now: NOW });
        expect(unlisted.map((f) => f.title)).toContain("User gone's password has not been used for 45 days or more");
    });
});

// ---------------------------------------------------------------------------------------------
// A fake IAM endpoint: the SDK client's requestHandler answers with AWS's XML (Query protocol).

interface FakeRequest {
    readonly action: string;
    readonly params: URLSearchParams;
}
type FakeAnswer = { status?: number; xml: string };

function escapeXml(s: string): string {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** AWS Query XML: arrays as <member> lists, Dates as ISO 8601 seconds, objects as nested elements. */
function el(tag: string, value: unknown): string {
    if (value === undefined) return "";
    if (Array.isArray(value)) return value.length === 0 ? `<${tag}/>` : `<${tag}>${value.map((v) => el("member", v)).join("")}</${tag}>`;
    if (value instanceof Date) return `<${tag}>${value.toISOString().replace(/\.\d{3}Z$/, "Z")}</${tag}>`;
    if (typeof value === "object" && value !== null) return `<${tag}>${Object.entries(value).map(([k, v]) => el(k, v)).join("")}</${tag}>`;
    return `<${tag}>${escapeXml(String(value))}</${tag}>`;
}

const NS = "https://iam.amazonaws.com/doc/2010-05-08/";
let requestIds = 0;
const ok = (action: string, result: Record<string, unknown>): FakeAnswer => ({
    xml: `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${NS}">${el(`${action}Result`, result)}<ResponseMetadata><RequestId>${++requestIds}-fake</RequestId></ResponseMetadata></${action}Response>`,
});
const awsError = (status: number, code: string, message: string): FakeAnswer => ({
    status,
    xml: `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns="${NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error><RequestId>${++requestIds}-fake</RequestId></ErrorResponse>`,
});

function fakeIam(answer: (r: FakeRequest) => FakeAnswer): { client: IAMClient; requests: FakeRequest[] } {
    const requests: FakeRequest[] = [];
    const handler = {
        handle: async (request: { body?: unknown }) => {
            const body = typeof request.body === "string" ? request.body : Buffer.from((request.body as Uint8Array | undefined) ?? new Uint8Array()).toString("utf8");
            const params = new URLSearchParams(body);
            const r = { action: params.get("Action") ?? "", params };
            requests.push(r);
            const a = answer(r);
            return { response: { statusCode: a.status ?? 200, headers: { "content-type": "text/xml" }, body: Readable.from([Buffer.from(a.xml, "utf8")]) } };
        },
        updateHttpClientConfig: () => undefined,
        httpHandlerConfigs: () => ({}),
    };
    const client = new IAMClient({ region: "us-east-1", credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" }, maxAttempts: 1, requestHandler: handler as never });
    return { client, requests };
}

/** GetAccountAuthorizationDetails over a fixed account, paginated as AWS does: MaxItems across all lists, an opaque Marker. */
function authorizationDetailsServer(account: { users: object[]; groups: object[]; roles: object[]; policies: object[] }, o: { shortPages?: number } = {}) {
    return (r: FakeRequest): FakeAnswer => {
        if (r.action !== "GetAccountAuthorizationDetails") return awsError(400, "InvalidAction", r.action);
        const filters = [...r.params.entries()].filter(([k]) => k.startsWith("Filter.member.")).map(([, v]) => v);
        const all = filters.length === 0 || undefined;
        const items: [string, object][] = [
            ...(all || filters.includes("User") ? account.users.map((u): [string, object] => ["UserDetailList", u]) : []),
            ...(all || filters.includes("Group") ? account.groups.map((g): [string, object] => ["GroupDetailList", g]) : []),
            ...(all || filters.includes("Role") ? account.roles.map((x): [string, object] => ["RoleDetailList", x]) : []),
            ...(all || filters.includes("LocalManagedPolicy") ? account.policies.map((p): [string, object] => ["Policies", p]) : []),
        ];
        const start = r.params.has("Marker") ? Number(Buffer.from(r.params.get("Marker")!, "base64").toString("utf8").replace("offset:", "")) : 0;
        const size = Math.min(Number(r.params.get("MaxItems") ?? "100"), o.shortPages ?? Infinity);
        const page = items.slice(start, start + size);
        const truncated = start + size < items.length;
        const list = (name: string) => page.filter(([k]) => k === name).map(([, v]) => v);
        return ok("GetAccountAuthorizationDetails", {
            UserDetailList: list("UserDetailList"),
            GroupDetailList: list("GroupDetailList"),
            RoleDetailList: list("RoleDetailList"),
            Policies: list("Policies"),
            IsTruncated: truncated,
            ...(truncated ? { Marker: Buffer.from(`offset:${start + size}`).toString("base64") } : {}),
        });
    };
}

const encode = (doc: unknown) => encodeURIComponent(JSON.stringify(doc));
const CREATED = new Date("2024-03-01T10:00:00Z");
const xmlUser = (i: number, groups: string[] = []) => ({
    Path: "/",
    UserName: `user${i}`,
    UserId: `AIDA${String(i).padStart(16, "0")}`,
    Arn: userArn(`user${i}`),
    CreateDate: CREATED,
    UserPolicyList: [],
    GroupList: groups,
    AttachedManagedPolicies: [],
});
const xmlPolicy = (name: string, versions: { id: string; doc: unknown; isDefault: boolean }[]) => ({
    PolicyName: name,
    PolicyId: `ANPA${name.toUpperCase().replace(/[^A-Z]/g, "")}`,
    Arn: policyArn(name),
    Path: "/",
    DefaultVersionId: versions.find((v) => v.isDefault)!.id,
    AttachmentCount: 1,
    PermissionsBoundaryUsageCount: 0,
    IsAttachable: true,
    CreateDate: CREATED,
    UpdateDate: CREATED,
    PolicyVersionList: versions.map((v) => ({ Document: encode(v.doc), VersionId: v.id, IsDefaultVersion: v.isDefault, CreateDate: CREATED })),
});

describe("fetchIamInventory (fake IAM endpoint, AWS's XML; moto does not paginate this call)", () => {
    const tricky = { Version: "2012-10-17", Statement: [{ Sid: "x", Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/a+b c%20&é/*" }] };
    const account = {
        users: Array.from({ length: 2345 }, (_, i) => xmlUser(i, i % 2 === 0 ? ["DevOps"] : [])),
        groups: [
            {
                Path: "/",
                GroupName: "DevOps",
                GroupId: "AGPADEVOPS",
                Arn: `arn:aws:iam::${ACCOUNT}:group/DevOps`,
                CreateDate: CREATED,
                GroupPolicyList: [{ PolicyName: "inline", PolicyDocument: encode(tricky) }],
                AttachedManagedPolicies: [{ PolicyName: "Force_MFA", PolicyArn: policyArn("Force_MFA") }],
            },
        ],
        roles: [
            {
                Path: "/airlock/",
                RoleName: "scanner",
                RoleId: "AROASCANNER",
                Arn: `arn:aws:iam::${ACCOUNT}:role/airlock/scanner`,
                CreateDate: CREATED,
                AssumeRolePolicyDocument: encode({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }] }),
                InstanceProfileList: [{ Path: "/airlock/", InstanceProfileName: "scanner", InstanceProfileId: "AIPASCANNER", Arn: `arn:aws:iam::${ACCOUNT}:instance-profile/airlock/scanner`, CreateDate: CREATED, Roles: [] }],
                RolePolicyList: [],
                AttachedManagedPolicies: [],
                Tags: [],
                RoleLastUsed: {},
            },
        ],
        policies: [
            xmlPolicy("Force_MFA", [
                { id: "v1", doc: driftedForceMfa([]), isDefault: false },
                { id: "v2", doc: forceMfaPolicy({ ...AWS }), isDefault: true },
            ]),
            ...Array.from({ length: 1000 }, (_, i) => xmlPolicy(`app-${i}`, [{ id: "v1", doc: tricky, isDefault: true }])),
        ],
    };
    // 2,345 users + 1 group + 1 role + 1,001 policies = 3,348 items: 4 pages of 1,000.

    it("reads every page (Marker after Marker, MaxItems 1000, the four filters) and decodes every document", async () => {
        const { client, requests } = fakeIam(authorizationDetailsServer(account));
        const inv = await fetchIamInventory(client);
        client.destroy();
        expect(inv.pages).toBe(4);
        expect(inv.calls).toEqual({ GetAccountAuthorizationDetails: 4 });
        expect(requests).toHaveLength(4);
        for (const [i, r] of requests.entries()) {
            expect(r.action).toBe("GetAccountAuthorizationDetails");
            expect(r.params.get("MaxItems")).toBe("1000");
            expect([1, 2, 3, 4, 5].map((n) => r.params.get(`Filter.member.${n}`))).toEqual(["User", "Group", "Role", "LocalManagedPolicy", null]);
            expect(r.params.get("Marker")).toBe(i === 0 ? null : Buffer.from(`offset:${i * 1000}`).toString("base64"));
        }
        expect(inv.users).toHaveLength(2345);
        expect(new Set(inv.users.map((u) => u.name)).size).toBe(2345);
        expect(inv.users[2]).toEqual({ name: "user2", arn: userArn("user2"), id: "AIDA0000000000000002", path: "/", createDate: CREATED, groups: ["DevOps"], attachedPolicies: [], inlinePolicies: [], permissionsBoundaryArn: undefined });
        expect(inv.groups).toEqual([
            { name: "DevOps", arn: `arn:aws:iam::${ACCOUNT}:group/DevOps`, id: "AGPADEVOPS", path: "/", createDate: CREATED, attachedPolicies: [{ name: "Force_MFA", arn: policyArn("Force_MFA") }], inlinePolicies: [{ name: "inline", document: tricky }] },
        ]);
        expect(inv.roles[0]!.trustPolicy.document).toEqual({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }] });
        expect(inv.roles[0]!.instanceProfileArns).toEqual([`arn:aws:iam::${ACCOUNT}:instance-profile/airlock/scanner`]);
        expect(inv.policies).toHaveLength(1001);
        const mfa = inv.policies[0]!;
        expect(mfa.name).toBe("Force_MFA");
        expect(mfa.defaultVersion?.versionId).toBe("v2");
        expect(mfa.defaultVersion?.document).toEqual(forceMfaPolicy({ ...AWS }));
        expect(mfa.versions.map((v) => [v.versionId, v.isDefault])).toEqual([["v1", false], ["v2", true]]);
        expect(inv.policies[1000]!.defaultVersion?.document).toEqual(tricky); // +, %20, & and é survive decoding
        expect(inv.accountId).toBe(ACCOUNT);
        expect(inv.entities).toEqual(["User", "Group", "Role", "LocalManagedPolicy"]);
    });

    it("follows pages AWS cuts short of MaxItems; the entity filter can be narrowed", async () => {
        const { client, requests } = fakeIam(authorizationDetailsServer(account, { shortPages: 700 }));
        const inv = await fetchIamInventory(client, { entities: ["User", "Group", "LocalManagedPolicy"] });
        client.destroy();
        // 2,345 + 1 + 1,001 = 3,347 items in pages of 700: 5 pages.
        expect(inv.calls).toEqual({ GetAccountAuthorizationDetails: 5 });
        expect(requests.map((r) => r.params.get("Filter.member.3"))).toEqual(Array(5).fill("LocalManagedPolicy"));
        expect([inv.users.length, inv.groups.length, inv.roles.length, inv.policies.length]).toEqual([2345, 1, 0, 1001]);
    });

    it("a page truncated without a Marker, or one repeating a Marker, is an error, not an endless listing", async () => {
        const noMarker = fakeIam(() => ok("GetAccountAuthorizationDetails", { UserDetailList: [xmlUser(1)], GroupDetailList: [], RoleDetailList: [], Policies: [], IsTruncated: true }));
        await expect(fetchIamInventory(noMarker.client)).rejects.toThrow("GetAccountAuthorizationDetails: page 1 is truncated but has no Marker");
        noMarker.client.destroy();
        const loop = fakeIam(() => ok("GetAccountAuthorizationDetails", { UserDetailList: [xmlUser(1)], GroupDetailList: [], RoleDetailList: [], Policies: [], IsTruncated: true, Marker: "same" }));
        await expect(fetchIamInventory(loop.client)).rejects.toThrow("GetAccountAuthorizationDetails: page 2 repeats an earlier Marker (the listing would never end)");
        expect(loop.requests).toHaveLength(2);
        loop.client.destroy();
    });

    it("access denied is thrown to the caller (the target is then unaudited, never a pass)", async () => {
        const denied = fakeIam(() =>
            awsError(403, "AccessDenied", `User: arn:aws:iam::${ACCOUNT}:user/x is not authorized to perform: iam:GetAccountAuthorizationDetails on resource: *`),
        );
        await expect(fetchIamInventory(denied.client)).rejects.toMatchObject({ name: "AccessDenied" });
        denied.client.destroy();
    });

    it("decodePolicyDocument: URL-encoded or plain JSON; errors are said, not thrown", () => {
        expect(decodePolicyDocument(encode(tricky)).document).toEqual(tricky);
        expect(decodePolicyDocument(JSON.stringify(tricky)).document).toEqual(tricky);
        expect(decodePolicyDocument("%E0%A4%A").error).toMatch(/^not URL-encoded JSON/);
        expect(decodePolicyDocument("%7Bnope").error).toMatch(/^not JSON/);
        expect(decodePolicyDocument(undefined)).toEqual({ error: "no document in the listing" });
    });
});

describe("fetchCredentialReport (fake IAM endpoint with AWS's report states; moto's report is never fresh nor in progress)", () => {
    /**
     * IAM's documented behaviour: GenerateCredentialReport answers COMPLETE when a report under 4
     * hours old exists, otherwise STARTED and then INPROGRESS until done; GetCredentialReport
     * answers ReportNotPresent (410) when there is none, ReportInProgress (404) while the first
     * one is generated, otherwise the report (base64 CSV, GeneratedTime).
     */
    function reportServer(o: { generatedAt?: Date; pollsToFinish: number; clock: { t: number }; limitExceededOnce?: boolean }) {
        let generatedAt = o.generatedAt;
        let remaining: number | undefined;
        let limitOnce = o.limitExceededOnce ?? false;
        const csv = awsReport([ROOT_OK, userRow("alice", { password: true, passwordUsed: 1, mfa: true })]);
        return (r: FakeRequest): FakeAnswer => {
            if (r.action === "GenerateCredentialReport") {
                if (limitOnce && remaining !== undefined) {
                    limitOnce = false;
                    return awsError(409, "ReportGenerationLimitExceeded", "Credential report generation limit exceeded");
                }
                if (remaining === undefined && generatedAt !== undefined && o.clock.t - generatedAt.getTime() < 4 * 3_600_000) return ok("GenerateCredentialReport", { State: "COMPLETE" });
                if (remaining === undefined) {
                    remaining = o.pollsToFinish;
                    return ok("GenerateCredentialReport", { State: "STARTED", Description: "No report exists. Starting a new report generation task" });
                }
                if (remaining > 0) {
                    remaining--;
                    if (remaining > 0) return ok("GenerateCredentialReport", { State: "INPROGRESS" });
                }
                generatedAt = new Date(o.clock.t);
                remaining = undefined;
                return ok("GenerateCredentialReport", { State: "COMPLETE" });
            }
            if (r.action === "GetCredentialReport") {
                if (generatedAt === undefined) return remaining === undefined ? awsError(410, "ReportNotPresent", "Credential report not present") : awsError(404, "ReportInProgress", "Report in progress");
                return ok("GetCredentialReport", { Content: Buffer.from(csv).toString("base64"), ReportFormat: "text/csv", GeneratedTime: generatedAt });
            }
            return awsError(400, "InvalidAction", r.action);
        };
    }
    const clockFor = (clock: { t: number }, sleeps: number[]) => ({
        now: () => new Date(clock.t),
        sleep: async (ms: number) => {
            sleeps.push(ms);
            clock.t += ms;
        },
    });

    it("a report younger than maxAge: one call, reused, no generation", async () => {
        const clock = { t: NOW.getTime() };
        const sleeps: number[] = [];
        const { client, requests } = fakeIam(reportServer({ generatedAt: new Date(NOW.getTime() - 10 * 60_000), pollsToFinish: 3, clock }));
        const report = await fetchCredentialReport(client, { maxAgeMinutes: 60, pollMs: 100, timeoutMs: 10_000, ...clockFor(clock, sleeps) });
        client.destroy();
        expect(report.calls).toEqual({ GetCredentialReport: 1 });
        expect(requests.map((r) => r.action)).toEqual(["GetCredentialReport"]);
        expect(report.reused).toBe(true);
        expect(report.generatedTime).toEqual(new Date(NOW.getTime() - 10 * 60_000));
        expect(report.rows.map((r) => [r.user, r.isRoot])).toEqual([[ROOT_ROW_USER, true], ["alice", false]]);
        expect(sleeps).toEqual([]);
    });

    it("no report yet: generated once, polled with doubling waits until COMPLETE, then read (calls: 3 + polls)", async () => {
        const clock = { t: NOW.getTime() };
        const sleeps: number[] = [];
        const { client, requests } = fakeIam(reportServer({ pollsToFinish: 3, clock }));
        const report = await fetchCredentialReport(client, { maxAgeMinutes: 60, pollMs: 1000, timeoutMs: 60_000, ...clockFor(clock, sleeps) });
        client.destroy();
        expect(requests.map((r) => r.action)).toEqual([
            "GetCredentialReport", // ReportNotPresent
            "GenerateCredentialReport", // STARTED
            "GenerateCredentialReport", // INPROGRESS
            "GenerateCredentialReport", // INPROGRESS
            "GenerateCredentialReport", // COMPLETE
            "GetCredentialReport",
        ]);
        expect(sleeps).toEqual([1000, 2000, 4000]);
        expect(report.calls).toEqual({ GetCredentialReport: 2, GenerateCredentialReport: 4 });
        expect(report.reused).toBe(false);
        expect(report.generatedTime).toEqual(new Date(NOW.getTime() + 7000)); // AWS's timestamps have whole seconds
        expect(report.generatedTime).toBeInstanceOf(Date);
        expect(report.rows.filter((r) => r.isRoot)).toHaveLength(1);
    });

    it("older than maxAge but under IAM's 4 hours: IAM would not make a new one, so the one in hand is kept (2 calls)", async () => {
        const clock = { t: NOW.getTime() };
        const { client, requests } = fakeIam(reportServer({ generatedAt: new Date(NOW.getTime() - 2 * 3_600_000), pollsToFinish: 3, clock }));
        const report = await fetchCredentialReport(client, { maxAgeMinutes: 60, pollMs: 100, timeoutMs: 10_000, ...clockFor(clock, []) });
        client.destroy();
        expect(requests.map((r) => r.action)).toEqual(["GetCredentialReport", "GenerateCredentialReport"]);
        expect(report).toEqual(expect.objectContaining({ reused: true, generatedTime: new Date(NOW.getTime() - 2 * 3_600_000) }));
    });

    it("older than 4 hours: a new one is generated and read", async () => {
        const clock = { t: NOW.getTime() };
        const { client, requests } = fakeIam(reportServer({ generatedAt: new Date(NOW.getTime() - 5 * 3_600_000), pollsToFinish: 1, clock }));
        const report = await fetchCredentialReport(client, { maxAgeMinutes: 60, pollMs: 1000, timeoutMs: 60_000, ...clockFor(clock, []) });
        client.destroy();
        expect(requests.map((r) => r.action)).toEqual(["GetCredentialReport", "GenerateCredentialReport", "GenerateCredentialReport", "GetCredentialReport"]);
        expect(report).toEqual(expect.objectContaining({ reused: false, generatedTime: new Date(NOW.getTime() + 1000) }));
    });

    it("maxAgeMinutes 0: no reuse, so no first read; ReportGenerationLimitExceeded is waited out like INPROGRESS", async () => {
        const clock = { t: NOW.getTime() };
        const sleeps: number[] = [];
        const { client, requests } = fakeIam(reportServer({ pollsToFinish: 2, clock, limitExceededOnce: true }));
        const report = await fetchCredentialReport(client, { maxAgeMinutes: 0, pollMs: 50, timeoutMs: 10_000, ...clockFor(clock, sleeps) });
        client.destroy();
        expect(requests.map((r) => r.action)).toEqual(["GenerateCredentialReport", "GenerateCredentialReport", "GenerateCredentialReport", "GenerateCredentialReport", "GetCredentialReport"]);
        expect(sleeps).toEqual([50, 100, 200]);
        expect(report.calls).toEqual({ GenerateCredentialReport: 4, GetCredentialReport: 1 });
    });

    it("gives up after timeoutMs, saying how long and how many polls; waits are capped at maxPollMs", async () => {
        const clock = { t: NOW.getTime() };
        const sleeps: number[] = [];
        const { client } = fakeIam(reportServer({ pollsToFinish: 1_000, clock }));
        await expect(fetchCredentialReport(client, { maxAgeMinutes: 60, pollMs: 100, maxPollMs: 400, timeoutMs: 2_000, ...clockFor(clock, sleeps) })).rejects.toThrow(
            "the credential report is still INPROGRESS after 2000 ms (GenerateCredentialReport polled 7 times)",
        );
        client.destroy();
        expect(sleeps).toEqual([100, 200, 400, 400, 400, 400]);
    });

    it("a clock that does not move still times out (the waits are counted)", async () => {
        const sleeps: number[] = [];
        const { client } = fakeIam(reportServer({ pollsToFinish: 1_000, clock: { t: NOW.getTime() } }));
        await expect(
            fetchCredentialReport(client, { maxAgeMinutes: 60, pollMs: 100, maxPollMs: 100, timeoutMs: 500, now: () => NOW, sleep: async (ms) => void sleeps.push(ms) }),
        ).rejects.toThrow(/still INPROGRESS after 500 ms/);
        client.destroy();
        expect(sleeps).toEqual([100, 100, 100, 100, 100]);
    });

    it("access denied on the first read is thrown, not mistaken for 'no report'", async () => {
        const { client, requests } = fakeIam(() => awsError(403, "AccessDenied", "not authorized to perform: iam:GetCredentialReport"));
        await expect(fetchCredentialReport(client, { maxAgeMinutes: 60, pollMs: 100, timeoutMs: 1000 })).rejects.toMatchObject({ name: "AccessDenied" });
        expect(requests).toHaveLength(1);
        client.destroy();
    });
});

// ---------------------------------------------------------------------------------------------
// moto: the whole path, from seeded accounts through the SDK to exact findings.

describe("against moto: fetchIamInventory + fetchCredentialReport + the checks", () => {
    const OTHER_ACCOUNT = "111111111111";
    let moto: Moto;
    let iam: IAMClient;
    let other: IAMClient;

    /** A client for another moto account: moto picks the account from the x-moto-account-id header. */
    function accountClient(accountId: string): IAMClient {
        return inMotoAccount(new IAMClient(awsClientConfig(moto)), accountId);
    }

    async function createPolicy(client: IAMClient, name: string, versions: unknown[]): Promise<string> {
        const arn = (await client.send(new CreatePolicyCommand({ PolicyName: name, PolicyDocument: JSON.stringify(versions[0]) }))).Policy!.Arn!;
        for (const doc of versions.slice(1)) {
            await client.send(new CreatePolicyVersionCommand({ PolicyArn: arn, PolicyDocument: JSON.stringify(doc), SetAsDefault: true }));
        }
        return arn;
    }

    beforeAll(async () => {
        // AWS managed policies loaded, so the SecurityAudit group can carry arn:aws:iam::aws:policy/SecurityAudit.
        moto = await startMoto({ env: { MOTO_IAM_LOAD_MANAGED_POLICIES: "true" } });
        iam = new IAMClient(awsClientConfig(moto));
        other = accountClient(OTHER_ACCOUNT);

        // Account A (moto's default): a reordered-but-equal Force_MFA as the default version (over a
        // drifted v1), the other policies as Airlock builds them, CloudKestrel's two groups; bob is
        // in no group; SecurityReader (ignored for Force_MFA) only in SecurityAudit.
        const forceMfa = await createPolicy(iam, "Force_MFA", [driftedForceMfa(["SecurityReader"]), reorderedForceMfa(["SecurityReader"])]);
        const sourceIp = await createPolicy(iam, "User_Source_IP_Restrictions", [
            { ...sourceIpRestrictionPolicy({ cidrs: CIDRS, accountId: MOTO_ACCOUNT_ID }), Statement: [...sourceIpRestrictionPolicy({ cidrs: CIDRS, accountId: MOTO_ACCOUNT_ID }).Statement].reverse() },
        ]);
        const configWrite = await createPolicy(iam, "Config_Write", [configWritePolicy({ ...AWS, accountId: MOTO_ACCOUNT_ID })]);
        await iam.send(new CreateGroupCommand({ GroupName: "DevOps" }));
        await iam.send(new CreateGroupCommand({ GroupName: "SecurityAudit" }));
        for (const arn of [forceMfa, sourceIp]) await iam.send(new AttachGroupPolicyCommand({ GroupName: "DevOps", PolicyArn: arn }));
        for (const arn of [sourceIp, "arn:aws:iam::aws:policy/SecurityAudit", configWrite]) await iam.send(new AttachGroupPolicyCommand({ GroupName: "SecurityAudit", PolicyArn: arn }));
        for (const name of ["alice", "bob", "SecurityReader", "carol"]) await iam.send(new CreateUserCommand({ UserName: name }));
        await iam.send(new AddUserToGroupCommand({ GroupName: "DevOps", UserName: "alice" }));
        await iam.send(new AddUserToGroupCommand({ GroupName: "SecurityAudit", UserName: "SecurityReader" }));
        await iam.send(new AddUserToGroupCommand({ GroupName: "SecurityAudit", UserName: "carol" }));
        await iam.send(new AttachUserPolicyCommand({ UserName: "carol", PolicyArn: forceMfa }));
        for (const name of ["alice", "bob"]) await iam.send(new CreateLoginProfileCommand({ UserName: name, Password: "Correct-Horse-9-Battery" }));
        const device = await iam.send(new CreateVirtualMFADeviceCommand({ VirtualMFADeviceName: "alice" }));
        await iam.send(new EnableMFADeviceCommand({ UserName: "alice", SerialNumber: device.VirtualMFADevice!.SerialNumber!, AuthenticationCode1: "123456", AuthenticationCode2: "654321" }));
        // SecurityReader's key is used once (moto records the use); carol's is never used.
        const readerKey = (await iam.send(new CreateAccessKeyCommand({ UserName: "SecurityReader" }))).AccessKey!;
        const reader = new IAMClient({ ...awsClientConfig(moto), credentials: { accessKeyId: readerKey.AccessKeyId!, secretAccessKey: readerKey.SecretAccessKey! } });
        await reader.send(new GetUserCommand({}));
        reader.destroy();
        await iam.send(new CreateAccessKeyCommand({ UserName: "carol" }));
        await iam.send(new CreateRoleCommand({ RoleName: "scanner", Path: "/airlock/", AssumeRolePolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }] }) }));

        // Account B: a drifted Force_MFA (default version), no User_Source_IP_Restrictions; dave in DevOps.
        const driftedArn = await createPolicy(other, "Force_MFA", [forceMfaPolicy({ ...AWS }), driftedForceMfa([])]);
        await other.send(new CreateGroupCommand({ GroupName: "DevOps" }));
        await other.send(new AttachGroupPolicyCommand({ GroupName: "DevOps", PolicyArn: driftedArn }));
        await other.send(new CreateUserCommand({ UserName: "dave" }));
        await other.send(new AddUserToGroupCommand({ GroupName: "DevOps", UserName: "dave" }));
    }, 120_000);

    afterAll(async () => {
        iam?.destroy();
        other?.destroy();
        await moto?.stop();
    });

    it("account A: one listing call; the reordered-but-equal Force_MFA passes, bob is reported for both policies", async () => {
        const inv = await fetchIamInventory(iam);
        expect(inv.calls).toEqual({ GetAccountAuthorizationDetails: 1 });
        expect(inv.accountId).toBe(MOTO_ACCOUNT_ID);
        expect(inv.users.map((u) => u.name).sort()).toEqual(["SecurityReader", "alice", "bob", "carol"]);
        expect(inv.roles.map((r) => r.name)).toEqual(["scanner"]);
        // moto: trust policies not URL-encoded, managed policies without PolicyName: both read.
        expect(inv.roles[0]!.trustPolicy.document).toEqual(expect.objectContaining({ Version: "2012-10-17" }));
        expect(inv.policies.map((p) => p.name).sort()).toEqual(["Config_Write", "Force_MFA", "User_Source_IP_Restrictions"]);
        expect(inv.policies.every((p) => !p.awsManaged)).toBe(true); // AWSManagedPolicy not asked for

        const findings = checkGroupPolicies(inv, { ...TARGET, accountId: MOTO_ACCOUNT_ID });
        const bobGroups = { user: "bob", userGroups: [], attachedDirectly: false };
        expect(findings).toEqual<Finding[]>([
            { ...gp, accountId: MOTO_ACCOUNT_ID, resource: policyArn("Force_MFA", MOTO_ACCOUNT_ID), status: "pass", severity: "informational", title: "Policy Force_MFA (default version v2) matches Airlock's reference", evidence: { policy: "Force_MFA", defaultVersionId: "v2" } },
            {
                ...gp,
                accountId: MOTO_ACCOUNT_ID,
                resource: userArn("bob", MOTO_ACCOUNT_ID),
                status: "fail",
                severity: "high",
                title: "User bob is in no group that applies Force_MFA",
                evidence: { ...bobGroups, policy: "Force_MFA", policyArn: policyArn("Force_MFA", MOTO_ACCOUNT_ID), groupsWithPolicy: ["DevOps"] },
            },
            {
                ...gp,
                accountId: MOTO_ACCOUNT_ID,
                resource: policyArn("User_Source_IP_Restrictions", MOTO_ACCOUNT_ID),
                status: "pass",
                severity: "informational",
                title: "Policy User_Source_IP_Restrictions (default version v1) matches Airlock's reference",
                evidence: { policy: "User_Source_IP_Restrictions", defaultVersionId: "v1" },
            },
            {
                ...gp,
                accountId: MOTO_ACCOUNT_ID,
                resource: userArn("bob", MOTO_ACCOUNT_ID),
                status: "fail",
                severity: "high",
                title: "User bob is in no group that applies User_Source_IP_Restrictions",
                evidence: { ...bobGroups, policy: "User_Source_IP_Restrictions", policyArn: policyArn("User_Source_IP_Restrictions", MOTO_ACCOUNT_ID), groupsWithPolicy: ["DevOps", "SecurityAudit"] },
            },
            { ...gp, accountId: MOTO_ACCOUNT_ID, resource: policyArn("Config_Write", MOTO_ACCOUNT_ID), status: "pass", severity: "informational", title: "Policy Config_Write (default version v1) matches Airlock's reference", evidence: { policy: "Config_Write", defaultVersionId: "v1" } },
            {
                ...gp,
                accountId: MOTO_ACCOUNT_ID,
                resource: "arn:aws:iam::aws:policy/SecurityAudit",
                status: "pass",
                severity: "informational",
                title: "AWS managed policy SecurityAudit is attached",
                evidence: { policy: "SecurityAudit", policyArn: "arn:aws:iam::aws:policy/SecurityAudit", groups: ["SecurityAudit"], users: [] },
            },
        ]);
    });

    it("moto deviation, kept in view: GetAccountAuthorizationDetails ignores MaxItems and never truncates (hence the fake endpoint above)", async () => {
        const page = await iam.send(new GetAccountAuthorizationDetailsCommand({ MaxItems: 1, Filter: ["User", "Group"] }));
        expect(page.IsTruncated).toBe(false);
        expect(page.Marker).toBeUndefined();
        expect((page.UserDetailList ?? []).length + (page.GroupDetailList ?? []).length).toBe(6); // 4 users + 2 groups on a "page" of 1
        // moto's Policies entries have no PolicyName (the fetcher takes the name from the ARN).
        const policies = await iam.send(new GetAccountAuthorizationDetailsCommand({ Filter: ["LocalManagedPolicy"] }));
        expect(policies.Policies?.[0]?.PolicyName).toBeUndefined();
        const inv = await fetchIamInventory(iam, { pageSize: 1 });
        expect(inv.calls).toEqual({ GetAccountAuthorizationDetails: 1 });
    });

    it("account B: the drifted Force_MFA fails with its missing and extra statement; the missing policy fails", async () => {
        const inv = await fetchIamInventory(other);
        expect(inv.accountId).toBe(OTHER_ACCOUNT);
        const findings = checkGroupPolicies(inv, { name: "target2", accountId: OTHER_ACCOUNT, partition: "aws", sourceCidrs: CIDRS, ignoreUsers: [], policies: ["Force_MFA", "User_Source_IP_Restrictions"] });
        const canonical = normalizePolicy(forceMfaPolicy({ ...AWS })).Statement;
        const missing = canonical.filter((s) => (s.NotAction ?? []).includes("sts:getsessiontoken"));
        const t2 = { target: "target2", accountId: OTHER_ACCOUNT, region: "global", check: "group-policies" as const };
        expect(findings).toEqual<Finding[]>([
            {
                ...t2,
                resource: policyArn("Force_MFA", OTHER_ACCOUNT),
                status: "fail",
                severity: "high",
                title: "Policy Force_MFA (default version v2) differs from Airlock's reference",
                evidence: { policy: "Force_MFA", defaultVersionId: "v2", missing, extra: [{ ...missing[0]!, NotAction: missing[0]!.NotAction!.filter((a) => a !== "sts:getsessiontoken") }] },
            },
            {
                ...t2,
                resource: policyArn("Force_MFA", OTHER_ACCOUNT),
                status: "pass",
                severity: "informational",
                title: "Force_MFA applies to every user",
                evidence: { policy: "Force_MFA", policyArn: policyArn("Force_MFA", OTHER_ACCOUNT), users: 1, ignoredUsers: [], groupsWithPolicy: ["DevOps"] },
            },
            {
                ...t2,
                resource: policyArn("User_Source_IP_Restrictions", OTHER_ACCOUNT),
                status: "fail",
                severity: "high",
                title: "Policy User_Source_IP_Restrictions does not exist",
                evidence: { policy: "User_Source_IP_Restrictions", expectedArn: policyArn("User_Source_IP_Restrictions", OTHER_ACCOUNT), usersNotCovered: 1 },
            },
        ]);
    });

    it("account A's credential report: generated, polled, read; moto's has no root row (an error), bob has no MFA, and 100 days on everything is unused", async () => {
        const report = await fetchCredentialReport(iam, { maxAgeMinutes: 60, pollMs: 10, timeoutMs: 10_000 });
        // moto: GetCredentialReport → ReportNotPresent, GenerateCredentialReport → STARTED, then COMPLETE.
        expect(report.calls).toEqual({ GetCredentialReport: 2, GenerateCredentialReport: 2 });
        expect(report.generatedTime).toEqual(new Date("2015-02-02T20:02:02Z")); // moto's fixed GeneratedTime
        expect(report.rows.some((r) => r.isRoot)).toBe(false); // moto's deviation: no <root_account> row
        const inv = await fetchIamInventory(iam);
        const now = new Date();
        const today = checkRootAndUsers(report.rows, inv, { target: "target1", accountId: MOTO_ACCOUNT_ID, unusedDays: 45, now, mfaIgnoreUsers: ["SecurityReader"] });
        expect(today.map((f) => [f.status, f.resource, f.title])).toEqual([
            ["error", "root", "The credential report has no root row: root's access keys and MFA were not checked"],
            ["fail", userArn("bob", MOTO_ACCOUNT_ID), "User bob has a console password and no MFA"],
            ["pass", "users", "No password or access key unused for 45 days or more"],
        ]);

        const later = new Date(now.getTime() + 100 * DAY);
        const findings = checkRootAndUsers(report.rows, inv, { target: "target1", accountId: MOTO_ACCOUNT_ID, unusedDays: 45, now: later });
        expect(findings.filter((f) => f.status === "fail").map((f) => f.title)).toEqual([
            "User bob has a console password and no MFA",
            // moto: a password never used is "no_information", set when the user was created.
            "User alice's password has never been used, and was set 45 days or more ago",
            "User bob's password has never been used, and was set 45 days or more ago",
            "User carol's access key 1 has never been used, and was created 45 days or more ago",
            "User SecurityReader's access key 1 has not been used for 45 days or more",
        ]);
        expect(findings.find((f) => f.title.startsWith("User SecurityReader's"))!.evidence).toEqual(
            expect.objectContaining({ credential: "access_key_1", lastUsed: expect.stringMatching(/^\d{4}-/), days: 100 }),
        );

        // A second fetch: moto's report is "old" (2015), Generate says COMPLETE at once, and since the
        // one in hand is over 4 hours old it is read again: 3 calls.
        const again = await fetchCredentialReport(iam, { maxAgeMinutes: 60, pollMs: 10, timeoutMs: 10_000 });
        expect(again.calls).toEqual({ GetCredentialReport: 2, GenerateCredentialReport: 1 });
    });
});
