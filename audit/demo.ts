/**
 * `npm run audit:demo` (issue 10, "Try it without an AWS account"): starts moto (the emulator from the
 * project's .venv, which `npm test` provisions) behind test/support/auditFront.ts (it adds AWS's
 * credential-report root row, which moto lacks), seeds one account with known problems, runs the
 * audit exactly as users run it (`node audit/bin.js --targets … --out …`, AWS_ENDPOINT_URL at the
 * front) and says where the reports are.
 *
 * The seeded account (DEMO_ACCOUNT, reached with static keys of its user `auditor`, from environment
 * variables the demo sets for the audit, as a user's targets file names them):
 * - Force_MFA, User_Source_IP_Restrictions and Config_Write created from policies/groupPolicies.ts as
 *   the guardrails stack creates them, groups DevOps and SecurityAudit as components/groupPolicies.ts
 *   makes them; then Force_MFA drifted: a new default version without its last statement.
 *   alice and auditor in DevOps; bob in SecurityAudit only (outside the MFA group); mallory in none.
 * - Buckets: demo-public-by-policy (a policy granting s3:GetObject to "*"), demo-public-by-acl
 *   (public-read ACL), demo-private.
 * - Instances: one tagged airlock:managed=true (managed), one without the tag (unmanaged).
 *
 * Exit codes: 0 = the demo worked as designed (the audit exited 1, "findings", and reported every
 * seeded problem of the checks this build has); 1 = it did not (the audit's exit code or a missing
 * finding is printed); 2 = the demo could not run (no .venv: run `npm test` once; moto failed).
 * moto and the front are stopped on every path (finally, SIGINT, SIGTERM).
 *
 *   npm run audit:demo                 reports in a new temporary directory
 *   npm run audit:demo -- --out DIR    reports in DIR
 */
import * as childProcess from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { CreateTagsCommand, EC2Client, RunInstancesCommand } from "@aws-sdk/client-ec2";
import {
    AddUserToGroupCommand,
    AttachGroupPolicyCommand,
    CreateAccessKeyCommand,
    CreateGroupCommand,
    CreatePolicyCommand,
    CreatePolicyVersionCommand,
    CreateUserCommand,
    IAMClient,
} from "@aws-sdk/client-iam";
import { CreateBucketCommand, PutBucketAclCommand, PutBucketPolicyCommand, S3Client } from "@aws-sdk/client-s3";
import { checkRegistry } from "./checks/index";
import type { AuditResult, CheckId } from "./findings";
import { GROUP_POLICY_NAMES, configWritePolicy, forceMfaPolicy, groupPolicyJson, sourceIpRestrictionPolicy } from "../policies/groupPolicies";
import { MANAGED_TAG } from "../policies/keyNaming";
import { AuditFront, startAuditFront } from "../test/support/auditFront";
import { Moto, VENV_BIN, inMotoAccount, startMoto } from "../test/support/moto";

export const DEMO_ACCOUNT = "210987654321";
export const DEMO_REGION = "eu-west-1";
export const DEMO_CIDRS = ["195.89.85.64/28"];
const KEY_VAR = "AIRLOCK_DEMO_ACCESS_KEY_ID";
const SECRET_VAR = "AIRLOCK_DEMO_SECRET_ACCESS_KEY";
const BIN = path.join(__dirname, "bin.js");

/** The checks the demo asks for, in the order the audit runs them. */
const DEMO_CHECKS: readonly CheckId[] = ["group-policies", "root-and-users", "public-buckets", "unmanaged-instances"];

export interface Expected {
    readonly check: CheckId;
    readonly resource: string;
    readonly title: string;
}

interface Seeded {
    readonly key: { readonly id: string; readonly secret: string };
    readonly unmanagedInstanceId: string;
    readonly managedInstanceId: string;
}

/** The seeded problems the audit must report (status fail), for the checks given. */
export function expectedFindings(seeded: Pick<Seeded, "unmanagedInstanceId">, checks: readonly CheckId[]): Expected[] {
    const user = (name: string): string => `arn:aws:iam::${DEMO_ACCOUNT}:user/${name}`;
    const all: Expected[] = [
        { check: "group-policies", resource: `arn:aws:iam::${DEMO_ACCOUNT}:policy/${GROUP_POLICY_NAMES.forceMfa}`, title: `Policy ${GROUP_POLICY_NAMES.forceMfa} (default version v2) differs from Airlock's reference` },
        { check: "group-policies", resource: user("bob"), title: `User bob is in no group that applies ${GROUP_POLICY_NAMES.forceMfa}` },
        { check: "group-policies", resource: user("mallory"), title: `User mallory is in no group that applies ${GROUP_POLICY_NAMES.forceMfa}` },
        { check: "group-policies", resource: user("mallory"), title: `User mallory is in no group that applies ${GROUP_POLICY_NAMES.sourceIp}` },
        { check: "public-buckets", resource: "arn:aws:s3:::demo-public-by-policy", title: "Bucket demo-public-by-policy policy" },
        { check: "public-buckets", resource: "arn:aws:s3:::demo-public-by-acl", title: "Bucket demo-public-by-acl ACL" },
        {
            check: "unmanaged-instances",
            resource: `arn:aws:ec2:${DEMO_REGION}:${DEMO_ACCOUNT}:instance/${seeded.unmanagedInstanceId}`,
            title: `Instance ${seeded.unmanagedInstanceId} is managed by no Airlock stack`,
        },
    ];
    return all.filter((e) => checks.includes(e.check));
}

/** The expected findings the report lacks (matched on check, title and status fail; resource too). */
export function missingFindings(result: AuditResult, expected: readonly Expected[]): Expected[] {
    return expected.filter((e) => !result.findings.some((f) => f.status === "fail" && f.check === e.check && f.title === e.title && f.resource === e.resource));
}

function iamFor(moto: Moto, accountId: string): IAMClient {
    return inMotoAccount(new IAMClient({ region: DEMO_REGION, endpoint: moto.endpoint, credentials: { accessKeyId: "testing", secretAccessKey: "testing" }, maxAttempts: 2 }), accountId);
}

/** Seeds the demo account; S3 and EC2 through the auditor's key (moto maps it to the account). */
async function seed(moto: Moto): Promise<Seeded> {
    const iam = iamFor(moto, DEMO_ACCOUNT);
    let key: Seeded["key"];
    try {
        const partition = { partition: "aws", dnsSuffix: "amazonaws.com" };
        const createPolicy = async (name: string, document: string): Promise<string> =>
            (await iam.send(new CreatePolicyCommand({ PolicyName: name, PolicyDocument: document, Tags: [{ Key: MANAGED_TAG, Value: "true" }] }))).Policy!.Arn!;
        const forceMfaDoc = forceMfaPolicy(partition);
        const forceMfa = await createPolicy(GROUP_POLICY_NAMES.forceMfa, groupPolicyJson(forceMfaDoc));
        const sourceIp = await createPolicy(GROUP_POLICY_NAMES.sourceIp, groupPolicyJson(sourceIpRestrictionPolicy({ cidrs: DEMO_CIDRS, accountId: DEMO_ACCOUNT })));
        const configWrite = await createPolicy(GROUP_POLICY_NAMES.configWrite, groupPolicyJson(configWritePolicy({ ...partition, accountId: DEMO_ACCOUNT })));
        // Drift: someone made a new default version of Force_MFA without its last statement.
        const drifted = { ...forceMfaDoc, Statement: forceMfaDoc.Statement.slice(0, -1) };
        await iam.send(new CreatePolicyVersionCommand({ PolicyArn: forceMfa, PolicyDocument: groupPolicyJson(drifted), SetAsDefault: true }));

        await iam.send(new CreateGroupCommand({ GroupName: "DevOps" }));
        await iam.send(new CreateGroupCommand({ GroupName: "SecurityAudit" }));
        for (const arn of [forceMfa, sourceIp]) await iam.send(new AttachGroupPolicyCommand({ GroupName: "DevOps", PolicyArn: arn }));
        for (const arn of [sourceIp, configWrite]) await iam.send(new AttachGroupPolicyCommand({ GroupName: "SecurityAudit", PolicyArn: arn }));
        for (const u of ["auditor", "alice", "bob", "mallory"]) await iam.send(new CreateUserCommand({ UserName: u }));
        for (const u of ["auditor", "alice"]) await iam.send(new AddUserToGroupCommand({ GroupName: "DevOps", UserName: u }));
        await iam.send(new AddUserToGroupCommand({ GroupName: "SecurityAudit", UserName: "bob" }));
        const k = (await iam.send(new CreateAccessKeyCommand({ UserName: "auditor" }))).AccessKey!;
        key = { id: k.AccessKeyId!, secret: k.SecretAccessKey! };
    } finally {
        iam.destroy();
    }

    const config = { region: DEMO_REGION, endpoint: moto.endpoint, credentials: { accessKeyId: key.id, secretAccessKey: key.secret }, maxAttempts: 2 };
    const s3 = new S3Client({ ...config, forcePathStyle: true });
    const ec2 = new EC2Client(config);
    try {
        for (const bucket of ["demo-public-by-policy", "demo-public-by-acl", "demo-private"]) {
            await s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: DEMO_REGION } }));
        }
        await s3.send(
            new PutBucketPolicyCommand({
                Bucket: "demo-public-by-policy",
                Policy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "PublicRead", Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: "arn:aws:s3:::demo-public-by-policy/*" }] }),
            }),
        );
        await s3.send(new PutBucketAclCommand({ Bucket: "demo-public-by-acl", ACL: "public-read" }));

        const run = async (tags: Record<string, string>): Promise<string> => {
            const out = await ec2.send(
                new RunInstancesCommand({
                    ImageId: "ami-12c6146b",
                    InstanceType: "t3.micro",
                    MinCount: 1,
                    MaxCount: 1,
                    TagSpecifications: [{ ResourceType: "instance", Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
                }),
            );
            return out.Instances![0]!.InstanceId!;
        };
        const managedInstanceId = await run({ Name: "web (launched through Airlock)", [MANAGED_TAG]: "true" });
        const unmanagedInstanceId = await run({ Name: "launched by hand" });
        await ec2.send(new CreateTagsCommand({ Resources: [unmanagedInstanceId], Tags: [{ Key: "owner", Value: "nobody-knows" }] }));
        return { key, managedInstanceId, unmanagedInstanceId };
    } finally {
        s3.destroy();
        ec2.destroy();
    }
}

function parseDemoArgs(argv: readonly string[]): { out?: string } {
    const out: { out?: string } = {};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i]!;
        if (a === "--out" && argv[i + 1] !== undefined) out.out = argv[++i];
        else if (a.startsWith("--out=")) out.out = a.slice("--out=".length);
        else throw new Error(`airlock-audit demo: unknown argument ${JSON.stringify(a)}; the only option is --out DIR.`);
    }
    return out;
}

export async function demo(argv: readonly string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }): Promise<number> {
    const say = (s: string): void => void io.stdout.write(`${s}\n`);
    let args: { out?: string };
    try {
        args = parseDemoArgs(argv);
    } catch (error) {
        io.stderr.write(`${(error as Error).message}\n`);
        return 2;
    }
    if (!fs.existsSync(path.join(VENV_BIN, "moto_server"))) {
        io.stderr.write(
            `airlock-audit demo: the emulator (moto) is not provisioned: ${path.join(VENV_BIN, "moto_server")} is missing.\n` +
                "Run `npm test` once (it provisions moto into the project's .venv first), or `bash test/setup/provision.sh`, then `npm run audit:demo` again.\n",
        );
        return 2;
    }

    let moto: Moto | undefined;
    let front: AuditFront | undefined;
    let child: childProcess.ChildProcess | undefined;
    let stopping: Promise<void> | undefined;
    const stopAll = (): Promise<void> =>
        (stopping ??= (async () => {
            if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
            await front?.stop().catch(() => undefined);
            await moto?.stop().catch(() => undefined);
        })());
    const onSignal = (signal: NodeJS.Signals): void => {
        io.stderr.write(`airlock-audit demo: ${signal}: stopping the emulator\n`);
        void stopAll().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
        say("airlock-audit demo: starting the emulator (moto) with a seeded account …");
        try {
            moto = await startMoto();
            front = await startAuditFront({ upstream: moto.endpoint });
        } catch (error) {
            io.stderr.write(`airlock-audit demo: the emulator did not start: ${(error as Error).message}\n`);
            return 2;
        }
        say(`Emulator: moto at ${moto.endpoint}, the audit's endpoint (AWS_ENDPOINT_URL) at ${front.endpoint}; both are stopped when the demo ends.`);
        const seeded = await seed(moto);

        const registry = checkRegistry();
        const checks = DEMO_CHECKS.filter((c) => registry[c] !== undefined);
        const skipped = DEMO_CHECKS.filter((c) => registry[c] === undefined);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-audit-demo-"));
        const outDir = path.resolve(args.out ?? path.join(dir, "report"));
        const targetsFile = path.join(dir, "targets.json");
        fs.writeFileSync(
            targetsFile,
            `${JSON.stringify(
                {
                    version: 1,
                    targets: [
                        {
                            name: "demo",
                            credentials: { env: { accessKeyId: KEY_VAR, secretAccessKey: SECRET_VAR } },
                            regions: [DEMO_REGION],
                            checks,
                            ...(checks.includes("group-policies") ? { policies: [GROUP_POLICY_NAMES.forceMfa, GROUP_POLICY_NAMES.sourceIp], sourceCidrs: DEMO_CIDRS } : {}),
                        },
                    ],
                },
                null,
                2,
            )}\n`,
        );
        say(`Seeded account ${DEMO_ACCOUNT} (${DEMO_REGION}): a drifted Force_MFA; bob outside the MFA group, mallory in no group; a bucket public by policy and one by ACL; instance ${seeded.unmanagedInstanceId} unmanaged beside managed ${seeded.managedInstanceId}.`);
        if (skipped.length > 0) say(`Not in this build of airlock-audit, so not run: ${skipped.join(", ")}.`);
        say(`Targets file: ${targetsFile}`);
        const dbFile = path.join(outDir, "airlock-records.sqlite");
        say(`Running: node audit/bin.js --targets ${targetsFile} --format html,json,ocsf --out ${outDir} --db ${dbFile}`);

        const env: NodeJS.ProcessEnv = {};
        for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("AWS_")) env[k] = v;
        Object.assign(env, {
            AWS_ENDPOINT_URL: front.endpoint,
            AWS_REGION: DEMO_REGION,
            AWS_EC2_METADATA_DISABLED: "true",
            [KEY_VAR]: seeded.key.id,
            [SECRET_VAR]: seeded.key.secret,
        });
        const code = await new Promise<number | null>((resolve, reject) => {
            child = childProcess.spawn(process.execPath, [BIN, "--targets", targetsFile, "--format", "html,json,ocsf", "--out", outDir, "--db", dbFile], { env, stdio: ["ignore", "inherit", "inherit"] });
            child.on("error", reject);
            child.on("close", (c) => resolve(c));
        });

        const html = path.join(outDir, "audit-report.html");
        const json = path.join(outDir, "audit-report.json");
        say("");
        say(`HTML report: ${html}`);
        say(`JSON report: ${json}`);
        say(`OCSF report: ${path.join(outDir, "audit-report.ocsf.json")}`);
        say(`Records:     ${dbFile} (try: npm run audit -- history access-review --account ${DEMO_ACCOUNT} --db ${dbFile} --out ${outDir})`);
        say(`The audit exited ${code} (0 = every target audited and clean, 1 = findings, 2 = something could not be audited).`);
        if (!fs.existsSync(json)) {
            say("The demo did NOT work as designed: the audit wrote no JSON report.");
            return 1;
        }
        const result = JSON.parse(fs.readFileSync(json, "utf8")) as AuditResult;
        const missing = missingFindings(result, expectedFindings(seeded, checks));
        const errors = result.findings.filter((f) => f.status === "error");
        if (code === 1 && errors.length === 0 && missing.length === 0) {
            say("The demo worked as designed: the audit reported every seeded problem (exit 1, findings). Open the HTML report in a browser.");
            return 0;
        }
        say("The demo did NOT work as designed:");
        if (code !== 1) say(`- the audit exited ${code}, not 1`);
        for (const e of errors) say(`- error: ${e.check}: ${e.title}`);
        for (const m of missing) say(`- not reported: ${m.check}: ${m.title} (${m.resource})`);
        return 1;
    } catch (error) {
        io.stderr.write(`airlock-audit demo: ${(error as Error).stack ?? String(error)}\n`);
        return 2;
    } finally {
        await stopAll();
        process.removeListener("SIGINT", onSignal);
        process.removeListener("SIGTERM", onSignal);
    }
}

if (require.main === module) {
    demo(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr }).then(
        (code) => {
            process.exitCode = code;
        },
        (error) => {
            process.stderr.write(`airlock-audit demo: ${(error as Error).stack ?? String(error)}\n`);
            process.exitCode = 2;
        },
    );
}
