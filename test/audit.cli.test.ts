/**
 * The audit command end to end, spawned as users run it (`node audit/bin.js --targets ...`), with
 * AWS_ENDPOINT_URL pointing at moto through test/support/auditFront.ts, a small proxy that fixes
 * what moto 5.2.1 gets wrong for this path (see there):
 * - the credential report's root row: moto's report has none, so root-and-users would always end in
 *   an error finding (exit 2); the proxy adds AWS's root row (MFA on, no keys) to GetCredentialReport;
 * - bad credentials: moto accepts any key; the proxy answers requests signed with one chosen key id
 *   as AWS answers an unknown key (403 InvalidClientTokenId). That is how the "bad credentials"
 *   target is made real (not a closed port: that would be a network failure, not a credential one).
 * GetAccountAuthorizationDetails pagination (moto never truncates) does not matter here: each
 * account is a handful of entities, one page on AWS too; audit.iam.test.ts covers pages.
 *
 * Accounts (moto picks the account from a known access key, or from the role an AssumeRole named):
 * - 222222222222, reached with STATIC KEYS as CloudKestrel does: an access key of its user `auditor`
 *   is what TARGET1_AWS_ACCESS_KEY_ID/SECRET hold, and moto maps requests signed with it to that
 *   account. bob is in no group applying User_Source_IP_Restrictions.
 * - 333333333333, reached by ROLE ASSUMPTION (moto: AssumeRole into arn:aws:iam::333333333333:role/x
 *   makes the session that account's). frank is outside Force_MFA's group.
 */
import * as childProcess from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import Ajv2020 from "ajv/dist/2020";
import { parse } from "parse5";
import {
    AddUserToGroupCommand,
    AttachGroupPolicyCommand,
    CreateAccessKeyCommand,
    CreateGroupCommand,
    CreatePolicyCommand,
    CreateUserCommand,
    IAMClient,
} from "@aws-sdk/client-iam";
import schema from "../audit/report/schema.json";
import { checkRegistry } from "../audit/checks/index";
import { AuditResult, Finding, exitCodeOf } from "../audit/findings";
import { parseTargetsFile } from "../audit/targets";
import { runAudit } from "../audit/run";
import { forceMfaPolicy, sourceIpRestrictionPolicy } from "../policies/groupPolicies";
import { AuditFront, startAuditFront } from "./support/auditFront";
import { Moto, awsClientConfig, clientEnv, inMotoAccount, startMoto } from "./support/moto";

const ROOT = path.resolve(__dirname, "..");
const BIN = path.join(ROOT, "audit", "bin.js");
const NODE = process.execPath;
const CLOUDKESTREL = path.join(ROOT, "test", "fixtures", "audit", "cloudkestrel-targets.json");
const STATIC_ACCOUNT = "222222222222";
const ROLE_ACCOUNT = "333333333333";
const BAD_KEY = "AKIAIOSFODNN7BADKEY0";

interface Run {
    readonly code: number | null;
    readonly stdout: string;
    readonly stderr: string;
}

function runCli(args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Run> {
    return new Promise((resolve, reject) => {
        const child = childProcess.spawn(NODE, [BIN, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
        child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
        const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
        child.on("error", reject);
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code, stdout, stderr });
        });
    });
}

/** Every text node of an HTML document, joined by spaces (what a reader sees, whitespace collapsed). */
function htmlText(html: string): string {
    const out: string[] = [];
    const walk = (node: { nodeName: string; value?: string; childNodes?: unknown[]; content?: unknown }): void => {
        if (node.nodeName === "#text" && node.value !== undefined) out.push(node.value);
        if (node.nodeName === "style" || node.nodeName === "script") return;
        for (const child of (node.childNodes ?? []) as Array<typeof node>) walk(child);
    };
    walk(parse(html) as unknown as { nodeName: string });
    return out.join(" ").replace(/\s+/g, " ");
}

function accountClient(moto: Moto, accountId: string): IAMClient {
    return inMotoAccount(new IAMClient(awsClientConfig(moto)), accountId);
}

const brief = (f: Finding): [string, string, string, string] => [f.check, f.status, f.resource, f.title];

describe("airlock-audit, the command, against moto", () => {
    let moto: Moto;
    let front: AuditFront;
    let dir: string;
    let env: NodeJS.ProcessEnv;
    let staticKey: { id: string; secret: string };

    beforeAll(async () => {
        moto = await startMoto();
        front = await startAuditFront({ upstream: moto.endpoint, rejectAccessKeys: [BAD_KEY] });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-audit-cli-"));

        // The CIDRs the CloudKestrel example's target asks for, as the targets parser reads them.
        const ck = parseTargetsFile(fs.readFileSync(CLOUDKESTREL, "utf8"), { TARGET1_AWS_ACCESS_KEY_ID: "x", TARGET1_AWS_SECRET_ACCESS_KEY: "y" }, CLOUDKESTREL);
        const cidrs = ck[0]!.policies[0]!.sourceCidrs!;

        // Account 222222222222 (static keys): User_Source_IP_Restrictions as Airlock builds it, on DevOps; bob in no group.
        const b = accountClient(moto, STATIC_ACCOUNT);
        const sourceIp = (await b.send(new CreatePolicyCommand({ PolicyName: "User_Source_IP_Restrictions", PolicyDocument: JSON.stringify(sourceIpRestrictionPolicy({ cidrs, accountId: STATIC_ACCOUNT })) }))).Policy!.Arn!;
        await b.send(new CreateGroupCommand({ GroupName: "DevOps" }));
        await b.send(new AttachGroupPolicyCommand({ GroupName: "DevOps", PolicyArn: sourceIp }));
        for (const u of ["auditor", "alice", "bob"]) await b.send(new CreateUserCommand({ UserName: u }));
        for (const u of ["auditor", "alice"]) await b.send(new AddUserToGroupCommand({ GroupName: "DevOps", UserName: u }));
        const key = (await b.send(new CreateAccessKeyCommand({ UserName: "auditor" }))).AccessKey!;
        staticKey = { id: key.AccessKeyId!, secret: key.SecretAccessKey! };
        b.destroy();

        // Account 333333333333 (role assumption): Force_MFA as Airlock builds it, on MFA; frank outside it.
        const c = accountClient(moto, ROLE_ACCOUNT);
        const forceMfa = (await c.send(new CreatePolicyCommand({ PolicyName: "Force_MFA", PolicyDocument: JSON.stringify(forceMfaPolicy({ partition: "aws", dnsSuffix: "amazonaws.com" })) }))).Policy!.Arn!;
        await c.send(new CreateGroupCommand({ GroupName: "MFA" }));
        await c.send(new AttachGroupPolicyCommand({ GroupName: "MFA", PolicyArn: forceMfa }));
        for (const u of ["erin", "frank"]) await c.send(new CreateUserCommand({ UserName: u }));
        await c.send(new AddUserToGroupCommand({ GroupName: "MFA", UserName: "erin" }));
        c.destroy();

        env = { ...clientEnv(moto), AWS_ENDPOINT_URL: front.endpoint };
    }, 120_000);

    afterAll(async () => {
        await front?.stop();
        await moto?.stop();
        if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("CloudKestrel's example targets.json, unchanged, with its variables set to a key of account 222222222222: bob reported, exit 1, reports written", async () => {
        const out = path.join(dir, "ck");
        const run = await runCli(["--targets", CLOUDKESTREL, "--checks", "group-policies,root-and-users", "--format", "html,json,ocsf", "--out", out], { ...env, TARGET1_AWS_ACCESS_KEY_ID: staticKey.id, TARGET1_AWS_SECRET_ACCESS_KEY: staticKey.secret }, dir);
        expect(run.stderr).toBe(""); // not a terminal: no progress
        expect(run.code).toBe(1);
        expect(run.stdout).toContain(path.join(out, "audit-report.html"));
        const result = JSON.parse(fs.readFileSync(path.join(out, "audit-report.json"), "utf8")) as AuditResult;
        expect(result.targets).toEqual([{ target: "target1", accountId: STATIC_ACCOUNT, state: "audited", checks: ["group-policies", "root-and-users"], regions: ["eu-west-1"] }]);
        expect(result.findings.every((f) => f.target === "target1" && f.accountId === STATIC_ACCOUNT)).toBe(true);
        expect(result.findings.filter((f) => f.status !== "pass").map(brief)).toEqual([
            ["group-policies", "fail", `arn:aws:iam::${STATIC_ACCOUNT}:user/bob`, "User bob is in no group that applies User_Source_IP_Restrictions"],
        ]);
        // root-and-users ran to the end: root's row (added by the proxy) passes, no user errors.
        expect(result.findings.filter((f) => f.check === "root-and-users" && f.resource === `arn:aws:iam::${STATIC_ACCOUNT}:root`).map((f) => f.status)).toEqual(["pass", "pass"]);
        expect(fs.existsSync(path.join(out, "audit-report.ocsf.json"))).toBe(true);
        // STS first, then ONE IAM listing shared by both IAM checks, and one credential report.
        const mine = front.calls.filter((c) => c.accessKeyId === staticKey.id).map((c) => c.action);
        expect(mine[0]).toBe("GetCallerIdentity");
        expect(mine.filter((a) => a === "GetCallerIdentity")).toHaveLength(1);
        expect(mine.filter((a) => a === "GetAccountAuthorizationDetails")).toHaveLength(1);
    }, 120_000);

    it("CloudKestrel's example with every check it implies: every check is in this build and runs (the account's missing public access block; exit 1)", async () => {
        const registry = checkRegistry();
        expect((["group-policies", "root-and-users", "config-rules", "public-buckets", "unmanaged-instances"] as const).filter((c) => registry[c] === undefined)).toEqual([]);
        const out = path.join(dir, "ck-all");
        const run = await runCli(["--targets", CLOUDKESTREL, "--out", out], { ...env, TARGET1_AWS_ACCESS_KEY_ID: staticKey.id, TARGET1_AWS_SECRET_ACCESS_KEY: staticKey.secret }, dir);
        const result = JSON.parse(fs.readFileSync(path.join(out, "audit-report.json"), "utf8")) as AuditResult;
        expect(result.targets[0]!.checks).toEqual(["group-policies", "root-and-users", "public-buckets", "unmanaged-instances"]);
        // Account 222222222222 has no buckets and no instances, and no account-level public access
        // block (moto's default, and AWS's for an account that never set one): exactly that fails.
        expect(result.findings.filter((f) => f.check === "public-buckets" && f.status !== "pass").map(brief)).toEqual([
            ["public-buckets", "fail", STATIC_ACCOUNT, "Account public access block"],
        ]);
        expect(result.findings.filter((f) => f.check === "unmanaged-instances").map((f) => f.status)).toEqual(["pass"]);
        expect([run.code, run.stderr]).toEqual([1, expect.any(String)]);
    }, 120_000);

    it("Airlock's format: a role assumed into 333333333333 (frank outside Force_MFA) and a target with bad credentials; --json validates; HTML, JSON and OCSF show both; exit 2", async () => {
        const targetsFile = path.join(dir, "airlock.json");
        fs.writeFileSync(
            targetsFile,
            JSON.stringify({
                version: 1,
                targets: [
                    {
                        name: "assumed",
                        credentials: { assumeRole: { roleArn: `arn:aws:iam::${ROLE_ACCOUNT}:role/auditor`, externalId: "airlock-test", via: { env: { accessKeyId: "CALLER_KEY_ID", secretAccessKey: "CALLER_SECRET" } } } },
                        checks: ["group-policies", "root-and-users"],
                        policies: ["Force_MFA"],
                    },
                    { name: "broken", credentials: { env: { accessKeyId: "BROKEN_KEY_ID", secretAccessKey: "BROKEN_SECRET" } }, checks: ["group-policies", "root-and-users"], policies: ["Force_MFA"] },
                ],
            }),
        );
        const out = path.join(dir, "airlock");
        const run = await runCli(["--targets", targetsFile, "--json", "--format", "html,json,ocsf", "--out", out], { ...env, CALLER_KEY_ID: "testing", CALLER_SECRET: "testing", BROKEN_KEY_ID: BAD_KEY, BROKEN_SECRET: "wrong" }, dir);
        expect(run.code).toBe(2);
        const result = JSON.parse(run.stdout) as AuditResult;
        const ajv = new Ajv2020({ strict: true, allErrors: true, formats: { "date-time": true } });
        const validate = ajv.compile(schema);
        expect(validate(result) ? [] : validate.errors).toEqual([]);
        expect(fs.readFileSync(path.join(out, "audit-report.json"), "utf8").trim()).toBe(run.stdout.trim());
        expect(run.stderr).toContain("broken: not audited: the credentials could not be used (STS GetCallerIdentity): InvalidClientTokenId: The security token included in the request is invalid.");

        expect(result.targets).toEqual([
            { target: "assumed", accountId: ROLE_ACCOUNT, state: "audited", checks: ["group-policies", "root-and-users"], regions: ["eu-west-1"] },
            {
                target: "broken",
                state: "unaudited",
                reason: "the credentials could not be used (STS GetCallerIdentity): InvalidClientTokenId: The security token included in the request is invalid.",
                checks: ["group-policies", "root-and-users"],
                regions: ["eu-west-1"],
            },
        ]);
        const frank = "User frank is in no group that applies Force_MFA";
        expect(result.findings.filter((f) => f.status !== "pass").map(brief)).toEqual([["group-policies", "fail", `arn:aws:iam::${ROLE_ACCOUNT}:user/frank`, frank]]);
        expect(result.findings.every((f) => f.target === "assumed" && f.accountId === ROLE_ACCOUNT)).toBe(true);
        // The role really was assumed (moto: the session is account 333333333333's).
        expect(front.calls.some((c) => c.action === "AssumeRole" && c.accessKeyId === "testing")).toBe(true);

        const html = htmlText(fs.readFileSync(path.join(out, "audit-report.html"), "utf8"));
        expect(html).toContain(frank);
        expect(html).toContain("broken");
        expect(html).toContain("InvalidClientTokenId");
        const ocsf = JSON.parse(fs.readFileSync(path.join(out, "audit-report.ocsf.json"), "utf8")) as Array<{ finding_info: { title: string }; status_id?: number }>;
        expect(ocsf.some((e) => e.finding_info.title === frank)).toBe(true);
        expect(ocsf.filter((e) => JSON.stringify(e).includes("broken")).length).toBe(2); // one error event per requested check
    }, 120_000);

    it("runAudit in process: a check that throws is an error finding (target audited, exit 2 by exitCodeOf); no more than --concurrency units at once; progress counts targets × checks", async () => {
        const targets = parseTargetsFile(
            JSON.stringify({ version: 1, targets: ["a", "b", "c"].map((name) => ({ name, credentials: { env: { accessKeyId: "K", secretAccessKey: "S" } }, regions: ["eu-west-1", "us-east-1"], checks: ["root-and-users", "unmanaged-instances"] })) }),
            { K: "testing", S: "testing" },
            "inline.json",
        );
        let active = 0;
        let peak = 0;
        const slow = async (): Promise<Finding[]> => {
            active++;
            peak = Math.max(peak, active);
            await new Promise((r) => setTimeout(r, 30));
            active--;
            return [];
        };
        const progress: string[] = [];
        const result = await runAudit(targets, {
            concurrency: 2,
            endpoint: front.endpoint,
            registry: {
                "root-and-users": { run: async () => Promise.reject(new Error("boom")), perRegion: false },
                "unmanaged-instances": { run: slow, perRegion: true },
            },
            onProgress: (d, t) => progress.push(`${d}/${t}`),
        });
        expect(peak).toBe(2);
        expect(progress).toEqual(["1/6", "2/6", "3/6", "4/6", "5/6", "6/6"]);
        expect(result.targets.map((t) => [t.target, t.state, t.accountId])).toEqual([
            ["a", "audited", "123456789012"],
            ["b", "audited", "123456789012"],
            ["c", "audited", "123456789012"],
        ]);
        expect(result.findings.map((f) => [f.target, f.accountId, f.check, f.status, f.title])).toEqual(
            ["a", "b", "c"].map((t) => [t, "123456789012", "root-and-users", "error", "The root-and-users check could not run: boom"]),
        );
        expect(exitCodeOf(result)).toBe(2);
    }, 60_000);

    it("runAudit in process: a target whose checks --checks leaves out is not audited, with why (exit 2), never clean", async () => {
        const targets = parseTargetsFile(
            JSON.stringify({ version: 1, targets: [{ name: "only-iam", credentials: { env: { accessKeyId: "K", secretAccessKey: "S" } }, checks: ["root-and-users"] }] }),
            { K: "testing", S: "testing" },
            "inline.json",
        );
        const result = await runAudit(targets, { endpoint: front.endpoint, checks: ["public-buckets"] });
        expect(result.targets.map((t) => [t.target, t.state, t.reason])).toEqual([["only-iam", "unaudited", "no check to run: the target asks for root-and-users, --checks for public-buckets"]]);
        expect(exitCodeOf(result)).toBe(2);
    }, 60_000);

    it("keeps records: two audits into one SQLite file (a user added between them), then history reads them back without AWS", async () => {
        const work = path.join(dir, "records");
        fs.mkdirSync(work);
        const ckEnv = { ...env, TARGET1_AWS_ACCESS_KEY_ID: staticKey.id, TARGET1_AWS_SECRET_ACCESS_KEY: staticKey.secret };
        const audit = () => runCli(["--targets", CLOUDKESTREL, "--checks", "group-policies,root-and-users,public-buckets", "--out", "reports"], ckEnv, work);
        const first = await audit();
        expect(first.code).toBe(1);
        const db = path.join(work, "airlock-records.sqlite"); // the default, in the working directory
        expect(first.stdout).toContain(`records: sqlite:${db} (1 account(s) written)`);
        const between = new Date();
        const b = accountClient(moto, STATIC_ACCOUNT);
        await b.send(new CreateUserCommand({ UserName: "carol" }));
        await b.send(new AddUserToGroupCommand({ GroupName: "DevOps", UserName: "carol" }));
        b.destroy();
        expect((await audit()).code).toBe(1);

        const changes = await runCli(["history", "changes", "--account", STATIC_ACCOUNT, "--since", between.toISOString(), "--json"], {}, work);
        expect(changes.code).toBe(0);
        const listed = (JSON.parse(changes.stdout) as { changes: { change: string; kind: string; name: string | null }[] }).changes;
        expect(listed.filter((c) => c.change === "added").map((c) => `${c.kind} ${c.name ?? ""}`)).toEqual(expect.arrayContaining(["user carol"]));
        expect(listed.some((c) => c.kind === "membership" && c.change === "added")).toBe(true);
        expect(listed.filter((c) => c.change === "removed")).toEqual([]);

        const review = await runCli(["history", "access-review", "--account", STATIC_ACCOUNT, "--out", "review"], {}, work);
        expect(review.code).toBe(0);
        const csv = fs.readFileSync(path.join(work, "review", `access-review-${STATIC_ACCOUNT}.csv`), "utf8");
        for (const user of ["alice", "auditor", "bob", "carol"]) expect(csv).toContain(user);
        expect(htmlText(fs.readFileSync(path.join(work, "review", `access-review-${STATIC_ACCOUNT}.html`), "utf8"))).toContain("carol");
        // No secret of the audit's own key anywhere in the database.
        expect(fs.readFileSync(db).includes(Buffer.from(staticKey.secret))).toBe(false);
    }, 120_000);

    it("--no-db keeps nothing", async () => {
        const work = path.join(dir, "no-records");
        fs.mkdirSync(work);
        const run = await runCli(["--targets", CLOUDKESTREL, "--checks", "root-and-users", "--no-db", "--out", "reports"], { ...env, TARGET1_AWS_ACCESS_KEY_ID: staticKey.id, TARGET1_AWS_SECRET_ACCESS_KEY: staticKey.secret }, work);
        expect(run.code).toBe(0);
        expect(run.stdout).not.toContain("records:");
        expect(fs.readdirSync(work)).toEqual(["reports"]);
    }, 60_000);

    describe("bad inputs: the message on stderr, exit 2, nothing audited", () => {
        const cases: Array<[string, () => string[], () => NodeJS.ProcessEnv, RegExp]> = [
            ["an unknown option", () => ["--targets", CLOUDKESTREL, "--formt", "html"], () => env, /Unknown option --formt\. Did you mean "--format"\?/],
            ["a bad --format", () => ["--targets", CLOUDKESTREL, "--format", "pdf"], () => env, /--format "pdf" is not a report format \(html, json, ocsf\)/],
            ["no --targets", () => [], () => env, /--targets FILE is required/],
            ["a targets file that does not exist", () => ["--targets", path.join(dir, "nope.json")], () => env, /nope\.json: cannot be read \(no such file\)/],
            [
                "a malformed targets file",
                () => {
                    const f = path.join(dir, "malformed.json");
                    fs.writeFileSync(f, '{"Targets": [],}');
                    return ["--targets", f];
                },
                () => env,
                /malformed\.json: is not valid JSON: line 1, column 15: a comma before '}'/,
            ],
            [
                "a PostgreSQL URL carrying a password (credentials never on the command line)",
                () => ["--targets", CLOUDKESTREL, "--db", "postgres://audit:hunter2@127.0.0.1:1/airlock"],
                () => ({ ...env, TARGET1_AWS_ACCESS_KEY_ID: staticKey.id, TARGET1_AWS_SECRET_ACCESS_KEY: staticKey.secret }),
                /--db.*password/,
            ],
            ["a missing environment variable (CloudKestrel's example without its variables)", () => ["--targets", CLOUDKESTREL], () => env, /Target "target1": `Targets\[0\]\.target1\.Credentials\.AwsAccessKeyId` names the environment variable TARGET1_AWS_ACCESS_KEY_ID, which is not set/],
            [
                "a stack output file that does not exist",
                () => ["--targets", CLOUDKESTREL, "--stack-outputs", path.join(dir, "missing-stack.json")],
                () => ({ ...env, TARGET1_AWS_ACCESS_KEY_ID: staticKey.id, TARGET1_AWS_SECRET_ACCESS_KEY: staticKey.secret }),
                /missing-stack\.json: cannot be read \(no such file\)/,
            ],
        ];
        it.each(cases)("%s", async (_name, args, runEnv, message) => {
            const before = front.calls.length;
            const run = await runCli(args(), runEnv(), dir);
            expect(run.stderr).toMatch(message);
            expect(run.stderr).not.toContain("hunter2");
            expect(run.stdout).toBe("");
            expect(run.code).toBe(2);
            expect(front.calls.length).toBe(before); // no AWS call made
        }, 60_000);
    });
});
