/**
 * The Config-rules check (audit/checks/configRules.ts) against moto 5.2.1 (test/support/moto.ts).
 *
 * moto implements the recorder (PutConfigurationRecorder, PutDeliveryChannel, Start…, Describe…Status),
 * PutConfigRule and DescribeConfigRules, but NOT the compliance reads: GetComplianceDetailsByConfigRule
 * is answered by `fakeCompliance`, a middleware on each Config client (step deserialize, priority low: after
 * signing, inside the SDK's deserializer, so the request is the one AWS would get and the SDK parses the answer) that recognises the command by its
 * X-Amz-Target header, answers it with an HTTP 200 whose body is AWS's JSON 1.1 response shape
 * (EvaluationResults[].EvaluationResultIdentifier.EvaluationResultQualifier, epoch-second times,
 * NextToken pages), and never lets it reach moto; the SDK's own deserializer parses that body.
 * Every other Config call, and IAM ListUsers (user ids), goes to moto.
 */
import { Readable } from "stream";
import {
    ConfigServiceClient,
    DescribeConfigRulesCommand,
    PutConfigRuleCommand,
    PutConfigurationRecorderCommand,
    PutDeliveryChannelCommand,
    StartConfigurationRecorderCommand,
} from "@aws-sdk/client-config-service";
import { CreateUserCommand, IAMClient } from "@aws-sdk/client-iam";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { configRulesCheck, declaredRule } from "../audit/checks/configRules";
import type { CheckContext, ClientFactory, ClientSettings } from "../audit/checks/context";
import type { Finding } from "../audit/findings";
import type { ConfigRuleRule, Target } from "../audit/targets";
import { inputParameters } from "../components/configRules";
import { findManagedRule, ruleParameterValues } from "../policies/configRules";
import { MOTO_ACCOUNT_ID, Moto, awsClientConfig, inMotoAccount, startMoto } from "./support/moto";

const R1 = "eu-west-1";
const R2 = "us-east-1";

/** Noncompliant results per rule name, as GetComplianceDetailsByConfigRule pages (AWS's shape). */
type ComplianceData = Record<string, { type: string; id: string; annotation?: string }[][]>;

interface ComplianceCall {
    readonly region: string;
    readonly body: Record<string, unknown>;
}

/** Regions where PutConfigRule is refused as AWS refuses it without a recorder. */
const refusePut = new Set<string>();

/** Answers GetComplianceDetailsByConfigRule from `data` inside the SDK client (and refuses PutConfigRule in `refusePut`); everything else goes on to moto. */
function fakeCompliance(client: ConfigServiceClient, region: string, data: ComplianceData, calls: ComplianceCall[]): void {
    client.middlewareStack.add(
        (next) => async (args) => {
            const request = args.request as { headers: Record<string, string>; body?: unknown };
            if (request.headers["x-amz-target"] === "StarlingDoveService.PutConfigRule" && refusePut.has(region)) {
                // AWS's answer without a recorder (moto adds the rule regardless).
                const text = JSON.stringify({ __type: "NoAvailableConfigurationRecorderException", message: "Configuration recorder is not available to put config rule." });
                return { response: { statusCode: 400, headers: { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": "fake-refusal" }, body: Readable.from([Buffer.from(text)]) } } as never;
            }
            if (request.headers["x-amz-target"] !== "StarlingDoveService.GetComplianceDetailsByConfigRule") {
                return next(args);
            }
            const body = JSON.parse(typeof request.body === "string" ? request.body : Buffer.from((request.body as Uint8Array).buffer, (request.body as Uint8Array).byteOffset, (request.body as Uint8Array).byteLength).toString("utf8")) as { ConfigRuleName: string; ComplianceTypes?: string[]; NextToken?: string };
            calls.push({ region, body });
            const pages = data[body.ConfigRuleName] ?? [[]];
            const index = body.NextToken === undefined ? 0 : Number(body.NextToken.replace("page-", ""));
            const page = pages[index] ?? [];
            const t = 1_764_000_000.123;
            const json = {
                EvaluationResults: page.map((r) => ({
                    EvaluationResultIdentifier: {
                        EvaluationResultQualifier: { ConfigRuleName: body.ConfigRuleName, ResourceType: r.type, ResourceId: r.id, EvaluationMode: "DETECTIVE" },
                        OrderingTimestamp: t,
                    },
                    ComplianceType: "NON_COMPLIANT",
                    ResultRecordedTime: t,
                    ConfigRuleInvokedTime: t,
                    ...(r.annotation === undefined ? {} : { Annotation: r.annotation }),
                })),
                ...(index + 1 < pages.length ? { NextToken: `page-${index + 1}` } : {}),
            };
            const text = JSON.stringify(json);
            return {
                response: {
                    statusCode: 200,
                    headers: { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": "fake-compliance", "content-length": String(Buffer.byteLength(text)) },
                    body: Readable.from([Buffer.from(text)]),
                },
                output: undefined as never,
            } as never;
        },
        { step: "deserialize", name: "fakeCompliance", priority: "low" },
    );
}

const motoAccount = inMotoAccount;

describe("configRulesCheck against moto (compliance reads faked in the SDK client)", () => {
    let moto: Moto;
    const ids: Record<string, string> = {};
    let compliance: ComplianceData = {};
    let calls: ComplianceCall[] = [];
    let made: { ctor: string; region: string }[] = [];

    function factory(accountId?: string): ClientFactory {
        const cache = new Map<string, unknown>();
        return {
            make<C>(ctor: new (config: ClientSettings) => C, region: string): C {
                const key = `${ctor.name}/${region}`;
                if (!cache.has(key)) {
                    made.push({ ctor: ctor.name, region });
                    const base = awsClientConfig(moto);
                    const settings: ClientSettings = { ...base, region, retryMode: "standard", credentials: async () => base.credentials };
                    const client = motoAccount(new ctor(settings) as never, accountId) as C;
                    if (client instanceof ConfigServiceClient) fakeCompliance(client, region, compliance, calls);
                    cache.set(key, client);
                }
                return cache.get(key) as C;
            },
        };
    }

    function context(configRules: ConfigRuleRule[], options: { fix?: boolean; accountId?: string; regions?: string[]; ignoreUsers?: string[] } = {}): CheckContext {
        const target: Target = {
            name: "acme",
            format: "airlock",
            credentials: { kind: "profile", profile: "acme" },
            regions: options.regions ?? [R1, R2],
            checks: ["config-rules"],
            policies: [],
            configRules,
            ignoreUsers: options.ignoreUsers ?? [],
            stackOutputs: [],
        };
        return {
            target,
            accountId: options.accountId ?? MOTO_ACCOUNT_ID,
            partition: "aws",
            regions: target.regions,
            clients: factory(options.accountId),
            fix: options.fix ?? false,
            managedInstanceIds: new Set(),
            unusedDays: 90,
            now: () => new Date("2026-01-01T00:00:00Z"),
        };
    }

    function client(region: string, accountId?: string): ConfigServiceClient {
        return motoAccount(new ConfigServiceClient({ ...awsClientConfig(moto), region }), accountId);
    }

    async function ruleList(region: string, accountId?: string) {
        const c = client(region, accountId);
        const out = (await c.send(new DescribeConfigRulesCommand({}))).ConfigRules ?? [];
        c.destroy();
        return out;
    }

    async function record(region: string, accountId?: string): Promise<void> {
        const c = client(region, accountId);
        const s3 = motoAccount(new S3Client({ ...awsClientConfig(moto), region }), accountId);
        const bucket = `config-delivery-${region}-${accountId ?? MOTO_ACCOUNT_ID}`;
        await s3.send(new CreateBucketCommand({ Bucket: bucket, ...(region === "us-east-1" ? {} : { CreateBucketConfiguration: { LocationConstraint: region as never } }) }));
        await c.send(new PutConfigurationRecorderCommand({ ConfigurationRecorder: { name: "default", roleARN: `arn:aws:iam::${accountId ?? MOTO_ACCOUNT_ID}:role/config`, recordingGroup: { allSupported: true, includeGlobalResourceTypes: true } } }));
        await c.send(new PutDeliveryChannelCommand({ DeliveryChannel: { name: "default", s3BucketName: bucket } }));
        await c.send(new StartConfigurationRecorderCommand({ ConfigurationRecorderName: "default" }));
        c.destroy();
        s3.destroy();
    }

    async function putRule(region: string, name: string, sourceIdentifier: string, extra: Record<string, unknown> = {}): Promise<void> {
        const c = client(region);
        await c.send(new PutConfigRuleCommand({ ConfigRule: { ConfigRuleName: name, Source: { Owner: "AWS", SourceIdentifier: sourceIdentifier }, ...extra } }));
        c.destroy();
    }

    beforeAll(async () => {
        moto = await startMoto();
        const iam = new IAMClient(awsClientConfig(moto));
        for (const name of ["alice", "bob", "SecurityReader"]) {
            ids[name] = (await iam.send(new CreateUserCommand({ UserName: name }))).User!.UserId!;
        }
        iam.destroy();
        // eu-west-1 records; us-east-1 has no recorder at all.
        await record(R1);
        // A landing zone's MFA rule under its own name (found by source identifier), Airlock's public-read rule.
        await putRule(R1, "landing-zone-iam-user-mfa", "IAM_USER_MFA_ENABLED", { MaximumExecutionFrequency: "TwentyFour_Hours" });
        await putRule(R1, "airlock-s3-bucket-public-read-prohibited", "S3_BUCKET_PUBLIC_READ_PROHIBITED", { Scope: { ComplianceResourceTypes: ["AWS::S3::Bucket"] } });
    }, 120_000);

    afterAll(async () => {
        await moto?.stop();
    });

    beforeEach(() => {
        calls = [];
        made = [];
        compliance = {
            // Two pages: alice and the ignored SecurityReader, then bob (ignored by user id).
            "landing-zone-iam-user-mfa": [
                [
                    { type: "AWS::IAM::User", id: ids.alice!, annotation: "No MFA device." },
                    { type: "AWS::IAM::User", id: ids.SecurityReader! },
                ],
                [{ type: "AWS::IAM::User", id: ids.bob! }],
            ],
            "airlock-s3-bucket-public-read-prohibited": [[]],
        };
    });

    const base = { target: "acme", accountId: MOTO_ACCOUNT_ID, check: "config-rules" as const };
    const REQUIRED: ConfigRuleRule[] = [
        { sourceIdentifier: "IAM_USER_MFA_ENABLED", addIfMissing: false, ignoreUsers: ["securityreader"] },
        { sourceIdentifier: "S3_BUCKET_PUBLIC_READ_PROHIBITED", addIfMissing: false, ignoreUsers: [] },
        { sourceIdentifier: "IAM_PASSWORD_POLICY", addIfMissing: true, ignoreUsers: [] },
        { sourceIdentifier: "S3_BUCKET_PUBLIC_WRITE_PROHIBITED", addIfMissing: true, ignoreUsers: [] },
        { sourceIdentifier: "EC2_IMDSV2_CHECK", addIfMissing: false, ignoreUsers: [] },
    ];
    const noRecorder: Finding = {
        ...base,
        region: R2,
        resource: `config-recorder/${R2}`,
        status: "error",
        severity: "high",
        title: `Config is not recording in ${R2}: compliance cannot be read`,
        evidence: { recorders: [] },
    };
    const missing = (region: string, id: string, addIfMissing: boolean, fix: boolean): Finding => ({
        ...base,
        region,
        resource: id,
        status: "fail",
        severity: "high",
        title: `Config rule ${id}`,
        evidence: {
            sourceIdentifier: id,
            addIfMissing,
            fix,
            missing: true,
            note: `No Config rule with source identifier ${id} in ${region}; ${addIfMissing ? "run with --fix to add it" : "AddIfMissing is off for it"}.`,
        },
    });

    it("without --fix: found by source identifier, noncompliant users named (ignored ones left out), missing rules failed, nothing added; global rules only in the first region", async () => {
        const before = { r1: await ruleList(R1), r2: await ruleList(R2) };
        const findings = await configRulesCheck(context(REQUIRED, { ignoreUsers: [ids.bob!] }));
        expect(findings).toEqual<Finding[]>([
            {
                ...base,
                region: R1,
                resource: `arn:aws:iam::${MOTO_ACCOUNT_ID}:user/alice`,
                status: "fail",
                severity: "high",
                title: `Config rule IAM_USER_MFA_ENABLED: AWS::IAM::User alice (${ids.alice})`,
                evidence: { sourceIdentifier: "IAM_USER_MFA_ENABLED", rules: ["landing-zone-iam-user-mfa"], resourceType: "AWS::IAM::User", resourceId: ids.alice, userName: "alice", annotation: "No MFA device." },
            },
            {
                ...base,
                region: R1,
                resource: "S3_BUCKET_PUBLIC_READ_PROHIBITED",
                status: "pass",
                severity: "informational",
                title: "Config rule S3_BUCKET_PUBLIC_READ_PROHIBITED",
                evidence: {
                    sourceIdentifier: "S3_BUCKET_PUBLIC_READ_PROHIBITED",
                    rules: [{ name: "airlock-s3-bucket-public-read-prohibited", arn: expect.stringMatching(/^arn:aws:config:eu-west-1:123456789012:config-rule\/config-rule-/) }],
                    noncompliantResources: 0,
                    ignoredUsers: [],
                },
            },
            missing(R1, "IAM_PASSWORD_POLICY", true, false),
            missing(R1, "S3_BUCKET_PUBLIC_WRITE_PROHIBITED", true, false),
            missing(R1, "EC2_IMDSV2_CHECK", false, false),
            noRecorder,
            missing(R2, "S3_BUCKET_PUBLIC_READ_PROHIBITED", false, false),
            missing(R2, "S3_BUCKET_PUBLIC_WRITE_PROHIBITED", true, false),
            missing(R2, "EC2_IMDSV2_CHECK", false, false),
        ]);
        // Compliance read only where Config records, per present rule, NON_COMPLIANT only, every page.
        expect(calls).toEqual([
            { region: R1, body: { ConfigRuleName: "landing-zone-iam-user-mfa", ComplianceTypes: ["NON_COMPLIANT"] } },
            { region: R1, body: { ConfigRuleName: "landing-zone-iam-user-mfa", ComplianceTypes: ["NON_COMPLIANT"], NextToken: "page-1" } },
            { region: R1, body: { ConfigRuleName: "airlock-s3-bucket-public-read-prohibited", ComplianceTypes: ["NON_COMPLIANT"] } },
        ]);
        // One IAM client (ListUsers), made once.
        expect(made.filter((m) => m.ctor === "IAMClient")).toEqual([{ ctor: "IAMClient", region: R1 }]);
        expect({ r1: await ruleList(R1), r2: await ruleList(R2) }).toEqual(before);
    });

    it("the same rule IAM_USER_MFA_ENABLED passes when its only noncompliant users are ignored, with the same title", async () => {
        const findings = await configRulesCheck(context([REQUIRED[0]!], { regions: [R1], ignoreUsers: [ids.bob!, "ALICE"] }));
        expect(findings).toEqual<Finding[]>([
            {
                ...base,
                region: R1,
                resource: "IAM_USER_MFA_ENABLED",
                status: "pass",
                severity: "informational",
                title: "Config rule IAM_USER_MFA_ENABLED",
                evidence: {
                    sourceIdentifier: "IAM_USER_MFA_ENABLED",
                    rules: [{ name: "landing-zone-iam-user-mfa", arn: expect.any(String) }],
                    noncompliantResources: 0,
                    ignoredUsers: ["alice", "bob", "SecurityReader"],
                },
            },
        ]);
    });

    it("global rules are looked for only in the target's first region", async () => {
        const findings = await configRulesCheck(context([REQUIRED[2]!], { regions: [R2, R1] }));
        expect(findings.map((f) => [f.region, f.status, f.title])).toEqual([
            [R2, "error", `Config is not recording in ${R2}: compliance cannot be read`],
            [R2, "fail", "Config rule IAM_PASSWORD_POLICY"],
        ]);
    });

    it("a second account (x-moto-account-id) with no recorder and no rules: one error per region, every required rule missing", async () => {
        const other = "222222222222";
        const findings = await configRulesCheck(context([REQUIRED[0]!, REQUIRED[1]!], { accountId: other }));
        expect(findings.map((f) => [f.accountId, f.region, f.status, f.title])).toEqual([
            [other, R1, "error", `Config is not recording in ${R1}: compliance cannot be read`],
            [other, R1, "fail", "Config rule IAM_USER_MFA_ENABLED"],
            [other, R1, "fail", "Config rule S3_BUCKET_PUBLIC_READ_PROHIBITED"],
            [other, R2, "error", `Config is not recording in ${R2}: compliance cannot be read`],
            [other, R2, "fail", "Config rule S3_BUCKET_PUBLIC_READ_PROHIBITED"],
        ]);
        expect(calls).toEqual([]);
    });

    it("with --fix: exactly the missing rules with AddIfMissing are added, as the stack declares them; a second run finds them", async () => {
        const before = { r1: await ruleList(R1), r2: await ruleList(R2) };
        const findings = await configRulesCheck(context(REQUIRED, { fix: true, ignoreUsers: [ids.bob!] }));
        const added = (region: string, id: string): Finding => {
            const spec = findManagedRule(id)!;
            return {
                ...base,
                region,
                resource: id,
                status: "pass",
                severity: "informational",
                title: `Config rule ${id} added`,
                evidence: { added: true, sourceIdentifier: id, ruleName: spec.ruleName, rule: declaredRule(spec) },
            };
        };
        const summary = findings.map((f) => [f.region, f.status, f.title]);
        expect(summary).toEqual([
            [R1, "fail", `Config rule IAM_USER_MFA_ENABLED: AWS::IAM::User alice (${ids.alice})`],
            [R1, "pass", "Config rule S3_BUCKET_PUBLIC_READ_PROHIBITED"],
            [R1, "pass", "Config rule IAM_PASSWORD_POLICY added"],
            [R1, "pass", "Config rule S3_BUCKET_PUBLIC_WRITE_PROHIBITED added"],
            [R1, "fail", "Config rule EC2_IMDSV2_CHECK"],
            [R2, "error", `Config is not recording in ${R2}: compliance cannot be read`],
            [R2, "fail", "Config rule S3_BUCKET_PUBLIC_READ_PROHIBITED"],
            [R2, "pass", "Config rule S3_BUCKET_PUBLIC_WRITE_PROHIBITED added"],
            [R2, "fail", "Config rule EC2_IMDSV2_CHECK"],
        ]);
        expect(findings[2]).toEqual(added(R1, "IAM_PASSWORD_POLICY"));
        expect(findings[3]).toEqual(added(R1, "S3_BUCKET_PUBLIC_WRITE_PROHIBITED"));
        expect(findings[4]).toEqual(missing(R1, "EC2_IMDSV2_CHECK", false, true));

        // What moto now holds in eu-west-1: the two added rules, exactly as declared, and nothing else new.
        const after = await ruleList(R1);
        const newRules = after.filter((r) => !before.r1.some((b) => b.ConfigRuleName === r.ConfigRuleName));
        expect(newRules.map((r) => r.ConfigRuleName).sort()).toEqual(["airlock-iam-password-policy", "airlock-s3-bucket-public-write-prohibited"]);
        const password = newRules.find((r) => r.ConfigRuleName === "airlock-iam-password-policy")!;
        const spec = findManagedRule("IAM_PASSWORD_POLICY")!;
        expect(password.Source).toMatchObject({ Owner: "AWS", SourceIdentifier: "IAM_PASSWORD_POLICY" });
        expect(password.InputParameters).toBe(inputParameters(ruleParameterValues(spec)));
        expect(password.MaximumExecutionFrequency).toBe("TwentyFour_Hours");
        expect(password.Description).toBe(spec.description);
        const write = newRules.find((r) => r.ConfigRuleName === "airlock-s3-bucket-public-write-prohibited")!;
        expect(write.Scope?.ComplianceResourceTypes).toEqual(["AWS::S3::Bucket"]);
        expect(write.MaximumExecutionFrequency).toBe("TwentyFour_Hours");

        // us-east-1 has no recorder: moto adds the rule anyway (AWS refuses with
        // NoAvailableConfigurationRecorderException: see the next test), and the finding says it was added.
        expect(findings[7]).toEqual(added(R2, "S3_BUCKET_PUBLIC_WRITE_PROHIBITED"));
        expect((await ruleList(R2)).map((r) => r.ConfigRuleName)).toEqual(["airlock-s3-bucket-public-write-prohibited"]);

        // A second --fix run adds nothing more: the added rules are found (by source identifier) and read.
        const again = await configRulesCheck(context(REQUIRED, { fix: true, regions: [R1], ignoreUsers: [ids.bob!] }));
        expect(again.filter((f) => f.title.endsWith(" added"))).toEqual([]);
        expect(again.map((f) => [f.status, f.title])).toEqual([
            ["fail", `Config rule IAM_USER_MFA_ENABLED: AWS::IAM::User alice (${ids.alice})`],
            ["pass", "Config rule S3_BUCKET_PUBLIC_READ_PROHIBITED"],
            ["pass", "Config rule IAM_PASSWORD_POLICY"],
            ["pass", "Config rule S3_BUCKET_PUBLIC_WRITE_PROHIBITED"],
            ["fail", "Config rule EC2_IMDSV2_CHECK"],
        ]);
        expect((await ruleList(R1)).length).toBe(after.length);
    });

    it("--fix never overwrites a rule that holds Airlock's name with another source", async () => {
        await putRule(R1, "airlock-ec2-imdsv2-check", "EC2_INSTANCE_NO_PUBLIC_IP");
        const findings = await configRulesCheck(context([{ sourceIdentifier: "EC2_IMDSV2_CHECK", addIfMissing: true, ignoreUsers: [] }], { fix: true, regions: [R1] }));
        expect(findings).toEqual([
            expect.objectContaining({
                status: "fail",
                title: "Config rule EC2_IMDSV2_CHECK",
                evidence: expect.objectContaining({ error: "The rule name airlock-ec2-imdsv2-check is taken by a rule with source EC2_INSTANCE_NO_PUBLIC_IP: not overwritten." }),
            }),
        ]);
        const held = (await ruleList(R1)).find((r) => r.ConfigRuleName === "airlock-ec2-imdsv2-check")!;
        expect(held.Source?.SourceIdentifier).toBe("EC2_INSTANCE_NO_PUBLIC_IP");
    });

    it("--fix: a rule AWS refuses to add (no recorder) is a fail saying why", async () => {
        refusePut.add("ap-southeast-2");
        try {
            const findings = await configRulesCheck(context([{ sourceIdentifier: "S3_BUCKET_PUBLIC_WRITE_PROHIBITED", addIfMissing: true, ignoreUsers: [] }], { fix: true, regions: ["ap-southeast-2"] }));
            expect(findings).toEqual<Finding[]>([
                { ...noRecorder, region: "ap-southeast-2", resource: "config-recorder/ap-southeast-2", title: "Config is not recording in ap-southeast-2: compliance cannot be read" },
                {
                    ...base,
                    region: "ap-southeast-2",
                    resource: "S3_BUCKET_PUBLIC_WRITE_PROHIBITED",
                    status: "fail",
                    severity: "high",
                    title: "Config rule S3_BUCKET_PUBLIC_WRITE_PROHIBITED",
                    evidence: {
                        sourceIdentifier: "S3_BUCKET_PUBLIC_WRITE_PROHIBITED",
                        addIfMissing: true,
                        fix: true,
                        missing: true,
                        added: false,
                        ruleName: "airlock-s3-bucket-public-write-prohibited",
                        error: "NoAvailableConfigurationRecorderException: Configuration recorder is not available to put config rule.",
                    },
                },
            ]);
            expect(await ruleList("ap-southeast-2")).toEqual([]);
        } finally {
            refusePut.clear();
        }
    });
});
