/**
 * The account-guardrails stack run the way its users run it: the real Pulumi CLI drives the program
 * (Pulumi.guardrails.yaml's settings) against the test provider plugin over moto
 * (test/engine/fakeProvider.ts). One stack's life: preview (nothing created) → up (group policies,
 * memberships, Config recorder and rules, remediation, trail, healer, claim; each checked in moto)
 * → a second up changes nothing → a second guardrails stack in the same region and account is
 * refused at preview, naming the first → a stack with both halves off is refused → destroy (the
 * trail's bucket and key stay: evidence).
 */
import { DescribeConfigRulesCommand, ConfigServiceClient } from "@aws-sdk/client-config-service";
import { CreateUserCommand, GetGroupCommand, GetPolicyCommand, GetPolicyVersionCommand, IAMClient, ListAttachedGroupPoliciesCommand, ListPoliciesCommand } from "@aws-sdk/client-iam";
import { ListBucketsCommand, S3Client } from "@aws-sdk/client-s3";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { EngineWorkspace, RunResult, createWorkspace, exportedResources, readmeCommands, setStructuredConfig, stackOutputs, substitutePlaceholders } from "./engine/engine";
import { MOTO_ACCOUNT_ID, Moto, awsClientConfig, startMoto } from "./support/moto";
import { CLAIM_PARAMETER, OWNER_TAG, claimValue } from "../components/accountGuardrails";
import { TRAIL_NAME } from "../components/auditTrail";
import { MANAGED_RULES } from "../policies/configRules";
import { forceMfaPolicy, sourceIpRestrictionPolicy } from "../policies/groupPolicies";

const STACK = "guardrails";
const OTHER = "guardrails-again";
const STEP_TIMEOUT = 8 * 60_000;

jest.setTimeout(STEP_TIMEOUT);

let moto: Moto;
let ws: EngineWorkspace;
let iam: IAMClient;

const SETTINGS = {
    sourceCidrs: ["195.89.85.64/28"],
    devOpsUsers: ["alice"],
    securityAuditUsers: ["auditor"],
    ignoredUsers: ["svc-backup"],
    configRecorder: true,
    trailCloudWatchLogsRetentionDays: 30,
};

async function pulumi(args: readonly string[], opts: { allowFailure?: boolean } = {}): Promise<RunResult> {
    return ws.pulumi(args, { allowFailure: opts.allowFailure });
}

/**
 * README's guardrails commands up to `preview`, as written; then the rest of SETTINGS as structured
 * config; then README's `preview` (its result returned). README's `up` is kept for later.
 */
async function initGuardrailsStack(stack: string): Promise<RunResult> {
    const values = { stack, "secrets-provider": "passphrase", region: "eu-west-1", "office-cidr": SETTINGS.sourceCidrs[0]!, "iam-user": SETTINGS.devOpsUsers[0]! };
    const lines = readmeCommands("guardrails-commands");
    expect(lines.slice(-2)).toEqual(["npm run pulumi -- preview --stack <stack>", "npm run pulumi -- up --stack <stack>"]);
    for (const line of lines.slice(0, -2)) {
        await ws.shell(substitutePlaceholders(line, values));
    }
    await setStructuredConfig(ws, stack, "airlock:guardrails", SETTINGS);
    upCommand = substitutePlaceholders(lines.at(-1)!, values);
    return ws.shell(substitutePlaceholders(lines.at(-2)!, values), { allowFailure: true });
}

/** README's `up` line for the first stack. */
let upCommand = "";

async function documentOf(policyArn: string): Promise<unknown> {
    const policy = await iam.send(new GetPolicyCommand({ PolicyArn: policyArn }));
    const version = await iam.send(new GetPolicyVersionCommand({ PolicyArn: policyArn, VersionId: policy.Policy?.DefaultVersionId }));
    return JSON.parse(decodeURIComponent(version.PolicyVersion?.Document ?? ""));
}

async function policyArnsNamed(): Promise<Map<string, string>> {
    const out = await iam.send(new ListPoliciesCommand({ Scope: "Local" }));
    return new Map((out.Policies ?? []).map((p) => [p.PolicyName ?? "", p.Arn ?? ""]));
}

beforeAll(async () => {
    // The AWS managed policies the groups and the recorder attach (SecurityAudit, AWS_ConfigRole).
    moto = await startMoto({ env: { MOTO_IAM_LOAD_MANAGED_POLICIES: "true" } });
    iam = new IAMClient(awsClientConfig(moto));
    for (const user of ["alice", "auditor", "svc-backup"]) {
        await iam.send(new CreateUserCommand({ UserName: user }));
    }
    ws = await createWorkspace({ env: { ...moto.env } });
}, STEP_TIMEOUT);

afterAll(async () => {
    await ws?.cleanup();
    await moto?.stop();
});

describe("the guardrails stack through the Pulumi CLI", () => {
    test("README's guardrails commands, run as written, configure the stack and preview it: nothing is created", async () => {
        const r = await initGuardrailsStack(STACK);
        expect([r.code, r.output]).toEqual([0, expect.any(String)]);
        expect(r.output).toMatch(/\+\s+\d+ to create/);
        for (const name of ["Force_MFA", "airlock-iam-password-policy", "airlock-trail", "airlock-function"]) {
            expect(r.output).toContain(name);
        }
        expect(await exportedResources(ws, STACK)).toEqual([]);
        expect((await policyArnsNamed()).size).toBe(0);
    });

    test("up declares the group policies, memberships, rules, remediation, trail, healer and the claim", async () => {
        // README's `up`; it asks for confirmation, which PULUMI_SKIP_CONFIRMATIONS answers as a user would.
        await ws.shell(upCommand, { env: { PULUMI_SKIP_CONFIRMATIONS: "true" } });
        const arns = await policyArnsNamed();
        expect([...arns.keys()].sort()).toEqual(["Config_Write", "Force_MFA", "User_Source_IP_Restrictions"]);
        expect(await documentOf(arns.get("Force_MFA")!)).toEqual(
            JSON.parse(JSON.stringify(forceMfaPolicy({ partition: "aws", dnsSuffix: "amazonaws.com", ignoredUsers: ["svc-backup"] }))),
        );
        expect(await documentOf(arns.get("User_Source_IP_Restrictions")!)).toEqual(JSON.parse(JSON.stringify(sourceIpRestrictionPolicy({ cidrs: SETTINGS.sourceCidrs, accountId: MOTO_ACCOUNT_ID }))));
        const policy = await iam.send(new GetPolicyCommand({ PolicyArn: arns.get("Force_MFA") }));
        expect(policy.Policy?.Tags).toEqual(expect.arrayContaining([{ Key: OWNER_TAG, Value: `organization/airlock/${STACK}` }]));

        const devOps = await iam.send(new GetGroupCommand({ GroupName: "DevOps" }));
        expect((devOps.Users ?? []).map((u) => u.UserName)).toEqual(["alice"]);
        const attached = await iam.send(new ListAttachedGroupPoliciesCommand({ GroupName: "SecurityAudit" }));
        expect((attached.AttachedPolicies ?? []).map((p) => p.PolicyName).sort()).toEqual(["Config_Write", "SecurityAudit", "User_Source_IP_Restrictions"]);

        const config = new ConfigServiceClient(awsClientConfig(moto));
        const rules = (await config.send(new DescribeConfigRulesCommand({}))).ConfigRules ?? [];
        expect(rules.map((r) => r.Source?.SourceIdentifier).sort()).toEqual(MANAGED_RULES.map((r) => r.sourceIdentifier).sort());
        config.destroy();

        const ssm = new SSMClient(awsClientConfig(moto));
        const claim = await ssm.send(new GetParameterCommand({ Name: CLAIM_PARAMETER }));
        expect(claim.Parameter?.Value).toBe(claimValue(`organization/airlock/${STACK}`, "eu-west-1"));
        ssm.destroy();

        const resources = await exportedResources(ws, STACK);
        const types = new Set(resources.map((r) => r.type));
        for (const type of [
            "aws:cfg/recorder:Recorder",
            "aws:cfg/deliveryChannel:DeliveryChannel",
            "aws:cfg/recorderStatus:RecorderStatus",
            "aws:cfg/remediationConfiguration:RemediationConfiguration",
            "aws:cloudtrail/trail:Trail",
            "aws:lambda/function:Function",
            "aws:cloudwatch/eventRule:EventRule",
            "aws:cloudwatch/eventTarget:EventTarget",
            "aws:lambda/permission:Permission",
        ]) {
            expect([type, types.has(type)]).toEqual([type, true]);
        }
        const trail = resources.find((r) => r.type === "aws:cloudtrail/trail:Trail");
        expect(trail?.outputs).toMatchObject({ name: TRAIL_NAME, isMultiRegionTrail: true, enableLogFileValidation: true });
        // The healer's code is a file asset: its path and hash in state, not a megabyte of bundled SDK.
        const exported = (await ws.pulumi(["stack", "export", "--stack", STACK])).stdout;
        const fn = resources.find((r) => r.type === "aws:lambda/function:Function");
        expect(JSON.stringify(fn?.inputs?.["code"])).toContain(".airlock-build/healer/index.js");
        expect(exported).not.toContain("DescribeSecurityGroupRulesCommand");

        const outputs = await stackOutputs(ws, STACK);
        expect(outputs["guardrails"]).toMatchObject({ globalRegion: "eu-west-1", detectOnly: false, trailArn: expect.stringContaining(TRAIL_NAME) });
    });

    test("a second up changes nothing", async () => {
        const r = await pulumi(["preview", "--stack", STACK, "--diff", "--expect-no-changes"], { allowFailure: true });
        expect([r.code, r.output]).toEqual([0, expect.stringContaining("unchanged")]);
    });

    test("a second guardrails stack in the same account and region is refused at preview, naming the first", async () => {
        const r = await initGuardrailsStack(OTHER);
        expect(r.code).not.toBe(0);
        expect(r.output).toContain(`The account guardrails of eu-west-1 are already declared by the stack "organization/airlock/${STACK}"`);
        expect(r.output).toContain(`The account's group policies are already declared by the stack "organization/airlock/${STACK}"`);
    });

    test("a stack with both halves off is refused with the fix", async () => {
        await pulumi(["config", "set", "--stack", OTHER, "airlock:accountGuardrails", "false"]);
        await pulumi(["config", "rm", "--stack", OTHER, "airlock:guardrails"]);
        const r = await pulumi(["preview", "--stack", OTHER], { allowFailure: true });
        expect(r.code).not.toBe(0);
        expect(r.output).toContain("`airlock:secureInstances` and `airlock:accountGuardrails` are both false: this stack would declare nothing.");
        await pulumi(["stack", "rm", OTHER, "--yes"]);
    });

    test("destroy removes the guardrails and the claim, and keeps the trail's bucket and key (evidence)", async () => {
        await pulumi(["destroy", "--yes", "--skip-preview", "--stack", STACK]);
        expect(await exportedResources(ws, STACK)).toEqual([]);
        expect((await policyArnsNamed()).size).toBe(0);
        const ssm = new SSMClient(awsClientConfig(moto));
        await expect(ssm.send(new GetParameterCommand({ Name: CLAIM_PARAMETER }))).rejects.toMatchObject({ name: "ParameterNotFound" });
        ssm.destroy();
        // Retained: the trail's bucket (with its key) and the Config delivery bucket.
        const s3 = new S3Client({ ...awsClientConfig(moto), forcePathStyle: true });
        const buckets = ((await s3.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name ?? "");
        s3.destroy();
        expect(buckets.filter((b) => b.startsWith("airlock-logs-"))).toHaveLength(1);
        expect(buckets.filter((b) => b.startsWith("airlock-delivery-"))).toHaveLength(1);
    });
});
