/**
 * The audit's Organization mode (issue 10, "Inputs": every account of an AWS Organization, the
 * accounts listed, a named role assumed in each), against moto 5.2.1 through runAudit, in process.
 *
 * What moto really does here (read in its source, proved by the assertions below):
 * - Organizations: CreateOrganization makes the caller's account (123456789012 for the key
 *   "testing") the management account; CreateAccount makes a member with a fresh id at once
 *   (state SUCCEEDED); CloseAccount makes it SUSPENDED (Status and State), and ListAccounts keeps
 *   listing it: the ACTIVE filter is tested for real, not with a fake.
 * - ListAccounts pages (NextToken) only past MaxResults, default 100, and the audit sends no
 *   MaxResults (AWS pages at 20 by itself). The proxy below adds MaxResults: 2 to each ListAccounts
 *   request before moto reads it, so moto's own paginator serves 3 real pages for 5 accounts.
 * - STS AssumeRole into arn:aws:iam::<member>:role/OrganizationAccountAccessRole works WITHOUT the
 *   role existing (moto documents it: "the role does not need to exist") and the session is that
 *   account's: GetCallerIdentity answers the member's id. So moto never refuses AssumeRole; the
 *   proxy refuses it for one chosen role ARN as AWS does (HTTP 403, STS Query XML, AccessDenied,
 *   "User: ... is not authorized to perform: sts:AssumeRole on resource: ..."), and refuses
 *   ListAccounts for a chosen key as Organizations does (HTTP 400, JSON 1.1, AccessDeniedException).
 * - A member account's ListAccounts in moto answers an empty list (its own backend has no accounts)
 *   where AWS answers AccessDeniedException, or the whole organization to a delegated administrator.
 *   For the delegated-administrator case the proxy serves Organizations requests as the management
 *   account's (moto's x-moto-account-id header); STS and IAM still go by the caller's real session.
 * Everything else passes to moto unchanged.
 */
import * as http from "http";
import { AddUserToGroupCommand, AttachGroupPolicyCommand, CreateGroupCommand, CreatePolicyCommand, CreateUserCommand, IAMClient } from "@aws-sdk/client-iam";
import { CloseAccountCommand, CreateAccountCommand, CreateOrganizationCommand, ListAccountsCommand, OrganizationsClient } from "@aws-sdk/client-organizations";
import { AuditResult, Finding, exitCodeOf } from "../audit/findings";
import { runAudit } from "../audit/run";
import { Target, parseTargetsFile } from "../audit/targets";
import { forceMfaPolicy } from "../policies/groupPolicies";
import { listenOnLoopback } from "./support/loopback";
import { MOTO_ACCOUNT_ID, Moto, awsClientConfig, inMotoAccount, startMoto } from "./support/moto";

const ROLE = "OrganizationAccountAccessRole";
const DENIED_KEY = "AKIAIOSFODNN7NOORGS00";

interface Call {
    readonly action: string;
    readonly accessKeyId: string;
    readonly roleArn?: string;
    readonly nextToken?: string;
    readonly refused: boolean;
}

interface OrgFront {
    readonly endpoint: string;
    readonly calls: Call[];
    /** Role ARNs whose AssumeRole is refused (AccessDenied). */
    readonly refuseRoles: Set<string>;
    /** Access key ids whose ListAccounts is refused (AccessDeniedException). */
    readonly denyListing: Set<string>;
    /** When set, Organizations requests are served as this account's (a delegated administrator's view). */
    organizationsAs?: string;
    stop(): Promise<void>;
}

function assumeRoleDenied(callerArn: string, roleArn: string): string {
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code>' +
        `<Message>User: ${callerArn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}</Message></Error>` +
        "<RequestId>9a1c1d1e-0000-4000-8000-000000000403</RequestId></ErrorResponse>"
    );
}

async function startOrgFront(upstream: string): Promise<OrgFront> {
    const up = new URL(upstream);
    const calls: Call[] = [];
    const refuseRoles = new Set<string>();
    const denyListing = new Set<string>();
    const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            let body = Buffer.concat(chunks);
            const target = String(req.headers["x-amz-target"] ?? "");
            const form = new URLSearchParams(body.toString("utf8"));
            const action = target !== "" ? target.split(".").pop()! : (form.get("Action") ?? "");
            const accessKeyId = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ""))?.[1] ?? "";
            const roleArn = action === "AssumeRole" ? (form.get("RoleArn") ?? undefined) : undefined;
            let nextToken: string | undefined;
            const headers: http.OutgoingHttpHeaders = { ...req.headers, host: up.host };
            if (action === "ListAccounts") {
                const input = JSON.parse(body.toString("utf8") || "{}") as { MaxResults?: number; NextToken?: string };
                nextToken = input.NextToken;
                body = Buffer.from(JSON.stringify({ MaxResults: 2, ...input }));
                headers["content-length"] = String(body.length);
            }
            if (target.startsWith("AWSOrganizations") && front.organizationsAs !== undefined) {
                headers["x-moto-account-id"] = front.organizationsAs;
            }
            const refused = (roleArn !== undefined && refuseRoles.has(roleArn)) || (action === "ListAccounts" && denyListing.has(accessKeyId));
            calls.push({ action, accessKeyId, ...(roleArn === undefined ? {} : { roleArn }), ...(nextToken === undefined ? {} : { nextToken }), refused });
            if (refused && roleArn !== undefined) {
                const xml = assumeRoleDenied(`arn:aws:iam::${MOTO_ACCOUNT_ID}:user/auditor`, roleArn);
                res.writeHead(403, { "content-type": "text/xml", "content-length": Buffer.byteLength(xml), "x-amzn-requestid": "9a1c1d1e-0000-4000-8000-000000000403" });
                res.end(xml);
                return;
            }
            if (refused) {
                const json = JSON.stringify({ __type: "AccessDeniedException", Message: "You don't have permissions to access this resource." });
                res.writeHead(400, { "content-type": "application/x-amz-json-1.1", "content-length": Buffer.byteLength(json), "x-amzn-requestid": "9a1c1d1e-0000-4000-8000-000000000400" });
                res.end(json);
                return;
            }
            const forward = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers }, (answer) => {
                res.writeHead(answer.statusCode ?? 502, answer.headers);
                answer.pipe(res);
            });
            forward.on("error", (e) => {
                res.writeHead(502, { "content-type": "text/plain" });
                res.end(`org front: moto unreachable: ${e.message}`);
            });
            forward.end(body);
        });
    });
    const listening = await listenOnLoopback(server);
    const front: OrgFront = { endpoint: listening.endpoint, calls, refuseRoles, denyListing, stop: () => listening.close() };
    return front;
}

function accountClient(moto: Moto, accountId: string): IAMClient {
    return inMotoAccount(new IAMClient(awsClientConfig(moto)), accountId);
}

/** Force_MFA as Airlock builds it, on group MFA, with `inGroup` in it and `outside` in no group. */
async function seedAccount(moto: Moto, accountId: string, inGroup: string, outside?: string): Promise<void> {
    const iam = accountClient(moto, accountId);
    try {
        const arn = (await iam.send(new CreatePolicyCommand({ PolicyName: "Force_MFA", PolicyDocument: JSON.stringify(forceMfaPolicy({ partition: "aws", dnsSuffix: "amazonaws.com" })) }))).Policy!.Arn!;
        await iam.send(new CreateGroupCommand({ GroupName: "MFA" }));
        await iam.send(new AttachGroupPolicyCommand({ GroupName: "MFA", PolicyArn: arn }));
        await iam.send(new CreateUserCommand({ UserName: inGroup }));
        await iam.send(new AddUserToGroupCommand({ GroupName: "MFA", UserName: inGroup }));
        if (outside !== undefined) await iam.send(new CreateUserCommand({ UserName: outside }));
    } finally {
        iam.destroy();
    }
}

function orgTargets(keyId: string): Target[] {
    return parseTargetsFile(
        JSON.stringify({
            version: 1,
            targets: [{ name: "org", credentials: { organization: { roleName: ROLE, via: { env: { accessKeyId: "K", secretAccessKey: "S" } } } }, regions: ["eu-west-1"], checks: ["group-policies"], policies: ["Force_MFA"] }],
        }),
        { K: keyId, S: "testing" },
        "org.json",
    );
}

const notPass = (r: AuditResult): Array<[string, string | undefined, string, string, string]> => r.findings.filter((f) => f.status !== "pass").map((f: Finding) => [f.target, f.accountId, f.status, f.resource, f.title]);

describe("airlock-audit's Organization mode against moto", () => {
    let moto: Moto;
    let front: OrgFront;
    /** Every account ListAccounts gives, in its order (management included, suspended included). */
    let listed: string[];
    let members: { clean1: string; problem: string; clean2: string; suspended: string };
    const roleArn = (id: string): string => `arn:aws:iam::${id}:role/${ROLE}`;

    beforeAll(async () => {
        moto = await startMoto();
        front = await startOrgFront(moto.endpoint);
        const org = new OrganizationsClient({ ...awsClientConfig(moto), region: "us-east-1" });
        try {
            await org.send(new CreateOrganizationCommand({ FeatureSet: "ALL" }));
            const create = async (name: string): Promise<string> => (await org.send(new CreateAccountCommand({ AccountName: name, Email: `${name}@example.com` }))).CreateAccountStatus!.AccountId!;
            members = { clean1: await create("clean1"), problem: await create("problem"), clean2: await create("clean2"), suspended: await create("gone") };
            await org.send(new CloseAccountCommand({ AccountId: members.suspended }));
            const all = (await org.send(new ListAccountsCommand({}))).Accounts!;
            listed = all.map((a) => a.Id!);
            expect(all.find((a) => a.Id === members.suspended)?.Status).toBe("SUSPENDED"); // moto really suspends
        } finally {
            org.destroy();
        }
        expect(new Set(listed)).toEqual(new Set([MOTO_ACCOUNT_ID, members.clean1, members.problem, members.clean2, members.suspended]));
        await seedAccount(moto, MOTO_ACCOUNT_ID, "admin");
        await seedAccount(moto, members.clean1, "ann");
        await seedAccount(moto, members.problem, "pat", "mallory");
        await seedAccount(moto, members.clean2, "cid");
    }, 120_000);

    afterAll(async () => {
        await front?.stop();
        await moto?.stop();
    });

    beforeEach(() => {
        front.calls.length = 0;
        front.refuseRoles.clear();
        front.denyListing.clear();
        front.organizationsAs = undefined;
    });

    it("one target per ACTIVE account, named org/<id>, in the order listed (3 real pages of ListAccounts); the management account with the caller's own credentials; findings attributed to the right account; exit 1", async () => {
        const result = await runAudit(orgTargets("testing"), { endpoint: front.endpoint, maxAttempts: 2 });
        const active = listed.filter((id) => id !== members.suspended);
        expect(result.targets).toEqual(active.map((id) => ({ target: `org/${id}`, accountId: id, state: "audited", checks: ["group-policies"], regions: ["eu-west-1"] })));
        expect(notPass(result)).toEqual([[`org/${members.problem}`, members.problem, "fail", `arn:aws:iam::${members.problem}:user/mallory`, "User mallory is in no group that applies Force_MFA"]]);
        // Every finding carries the target and account it came from (no cross-talk between sessions).
        for (const f of result.findings) expect(f.target).toBe(`org/${f.accountId}`);
        expect(new Set(result.findings.map((f) => f.accountId))).toEqual(new Set(active));
        expect(exitCodeOf(result)).toBe(1);

        // ListAccounts: every page, following NextToken (5 accounts, 2 a page: 3 pages).
        const pages = front.calls.filter((c) => c.action === "ListAccounts");
        expect(pages).toHaveLength(3);
        expect(pages[0]!.nextToken).toBeUndefined();
        expect(pages.slice(1).every((p) => typeof p.nextToken === "string" && p.nextToken !== "")).toBe(true);
        // The role assumed in each active member, never in the management account (the caller's own: AWS
        // creates OrganizationAccountAccessRole only in members) nor in the suspended one.
        const assumed = front.calls.filter((c) => c.action === "AssumeRole").map((c) => c.roleArn);
        expect([...new Set(assumed)].sort()).toEqual([members.clean1, members.problem, members.clean2].map(roleArn).sort());
        expect(assumed).toHaveLength(3); // one AssumeRole per member (memoized provider)
    }, 120_000);

    it("a member whose role cannot be assumed (AccessDenied from STS) is unaudited with the reason; the other accounts are audited; exit 2", async () => {
        front.refuseRoles.add(roleArn(members.clean2));
        const result = await runAudit(orgTargets("testing"), { endpoint: front.endpoint, maxAttempts: 2 });
        const byName = new Map(result.targets.map((t) => [t.target, t]));
        expect(result.targets.map((t) => t.target)).toEqual(listed.filter((id) => id !== members.suspended).map((id) => `org/${id}`));
        expect(byName.get(`org/${members.clean2}`)).toEqual({
            target: `org/${members.clean2}`,
            state: "unaudited",
            reason: `the credentials could not be used (STS GetCallerIdentity): AccessDenied: User: arn:aws:iam::${MOTO_ACCOUNT_ID}:user/auditor is not authorized to perform: sts:AssumeRole on resource: ${roleArn(members.clean2)}`,
            checks: ["group-policies"],
            regions: ["eu-west-1"],
        });
        for (const id of [MOTO_ACCOUNT_ID, members.clean1, members.problem]) {
            expect(byName.get(`org/${id}`)).toMatchObject({ state: "audited", accountId: id });
        }
        expect(result.findings.some((f) => f.accountId === members.clean2 || f.target === `org/${members.clean2}`)).toBe(false);
        expect(notPass(result)).toEqual([[`org/${members.problem}`, members.problem, "fail", `arn:aws:iam::${members.problem}:user/mallory`, "User mallory is in no group that applies Force_MFA"]]);
        expect(front.calls.filter((c) => c.refused).map((c) => c.roleArn)).toEqual([roleArn(members.clean2)]); // AccessDenied is not retried
        expect(exitCodeOf(result)).toBe(2);
    }, 120_000);

    it("listing the organization denied (AccessDeniedException on ListAccounts): the organization target itself is unaudited with the reason, nothing else is called; exit 2", async () => {
        front.denyListing.add(DENIED_KEY);
        const result = await runAudit(orgTargets(DENIED_KEY), { endpoint: front.endpoint, maxAttempts: 2 });
        expect(result.targets).toEqual([
            {
                target: "org",
                state: "unaudited",
                reason: "could not list the organization's accounts: AccessDeniedException: You don't have permissions to access this resource.",
                checks: ["group-policies"],
                regions: ["eu-west-1"],
            },
        ]);
        expect(result.findings).toEqual([]);
        expect(front.calls.map((c) => [c.action, c.refused])).toEqual([
            ["DescribeOrganization", false],
            ["ListAccounts", true],
        ]);
        expect(exitCodeOf(result)).toBe(2);
    }, 60_000);

    it("a caller whose account is in no organization (moto's AWSOrganizationsNotInUseException, unchanged): the organization target is unaudited with the reason; exit 2", async () => {
        const targets = parseTargetsFile(
            JSON.stringify({
                version: 1,
                targets: [
                    {
                        name: "loner",
                        credentials: { organization: { roleName: ROLE, via: { assumeRole: { roleArn: "arn:aws:iam::444455556666:role/auditor", via: { env: { accessKeyId: "K", secretAccessKey: "S" } } } } } },
                        regions: ["eu-west-1"],
                        checks: ["group-policies"],
                        policies: ["Force_MFA"],
                    },
                ],
            }),
            { K: "testing", S: "testing" },
            "loner.json",
        );
        const result = await runAudit(targets, { endpoint: front.endpoint, maxAttempts: 2 });
        expect(result.targets).toHaveLength(1);
        expect(result.targets[0]).toMatchObject({ target: "loner", state: "unaudited" });
        expect(result.targets[0]!.reason).toMatch(/^could not list the organization's accounts: AWSOrganizationsNotInUseException: /);
        expect(exitCodeOf(result)).toBe(2);
    }, 60_000);

    it("a caller that is not the management account (a delegated administrator in a member): the management account is reached through the role like any member, never skipped", async () => {
        front.organizationsAs = MOTO_ACCOUNT_ID;
        const targets = parseTargetsFile(
            JSON.stringify({
                version: 1,
                targets: [
                    {
                        name: "org",
                        credentials: { organization: { roleName: ROLE, via: { assumeRole: { roleArn: `arn:aws:iam::${members.clean1}:role/delegated-admin`, via: { env: { accessKeyId: "K", secretAccessKey: "S" } } } } } },
                        regions: ["eu-west-1"],
                        checks: ["group-policies"],
                        policies: ["Force_MFA"],
                    },
                ],
            }),
            { K: "testing", S: "testing" },
            "delegated.json",
        );
        const result = await runAudit(targets, { endpoint: front.endpoint, maxAttempts: 2 });
        const active = listed.filter((id) => id !== members.suspended);
        expect(result.targets.map((t) => [t.target, t.state, t.accountId])).toEqual(active.map((id) => [`org/${id}`, "audited", id]));
        expect(notPass(result)).toEqual([[`org/${members.problem}`, members.problem, "fail", `arn:aws:iam::${members.problem}:user/mallory`, "User mallory is in no group that applies Force_MFA"]]);
        const assumed = new Set(front.calls.filter((c) => c.action === "AssumeRole").map((c) => c.roleArn));
        // The caller's own role, then OrganizationAccountAccessRole in EVERY active account, the management one included.
        expect(assumed).toEqual(new Set([`arn:aws:iam::${members.clean1}:role/delegated-admin`, ...active.map(roleArn)]));
        expect(exitCodeOf(result)).toBe(1);
    }, 120_000);
});
