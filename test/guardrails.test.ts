/**
 * The guardrails' components under the mock engine: the exact resources and policy documents they
 * declare (the documents' semantics are in test/groupPolicies.test.ts, in the IAM simulator).
 */
import * as fs from "fs";
import * as path from "path";
import type { RuleSetting } from "../config/guardrails";
import { ACCOUNT_ID, MockEngine, installMocks, valueOf } from "./support/mocks";
import { waitForRegistrations } from "./support/program";

const engine: MockEngine = installMocks();
/* eslint-disable @typescript-eslint/no-require-imports */
const { GroupPolicies, groupPoliciesProblems } = require("../components/groupPolicies") as typeof import("../components/groupPolicies");
const { configWritePolicy, forceMfaPolicy, sourceIpRestrictionPolicy } = require("../policies/groupPolicies") as typeof import("../policies/groupPolicies");
/* eslint-enable @typescript-eslint/no-require-imports */

beforeEach(() => engine.reset());

async function declare<T>(build: () => T): Promise<T> {
    const result = build();
    await waitForRegistrations();
    return result;
}

const AWS = { partition: "aws", dnsSuffix: "amazonaws.com" };

describe("GroupPolicies", () => {
    const args = {
        sourceCidrs: ["195.89.85.64/28"],
        devOpsUsers: ["alice", "bob"],
        securityAuditUsers: ["cloudkestrel"],
        ignoredUsers: ["svc-backup"],
        tags: { team: "security" },
    };
    const build = () => declare(() => new GroupPolicies("guardrails", args));

    it("declares CloudKestrel's three managed policies, by their names, with the documents policies/ builds", async () => {
        await build();
        const policies = Object.fromEntries(engine.ofType("aws:iam/policy:Policy").map((p) => [p.inputs.name, JSON.parse(p.inputs.policy)]));
        expect(policies).toEqual({
            Force_MFA: JSON.parse(JSON.stringify(forceMfaPolicy({ ...AWS, ignoredUsers: ["svc-backup"] }))),
            User_Source_IP_Restrictions: JSON.parse(JSON.stringify(sourceIpRestrictionPolicy({ cidrs: ["195.89.85.64/28"], accountId: ACCOUNT_ID }))),
            Config_Write: JSON.parse(JSON.stringify(configWritePolicy({ ...AWS, accountId: ACCOUNT_ID }))),
        });
        for (const policy of engine.ofType("aws:iam/policy:Policy")) {
            expect(policy.inputs.tags).toEqual({ team: "security", "airlock:managed": "true" });
        }
    });

    it("wires the groups as in CloudKestrel's table: DevOps = Force_MFA + source IP; SecurityAudit = source IP + SecurityAudit + Config_Write", async () => {
        await build();
        const policyName = (arn: string) => arn.split("/").pop();
        const attached = (group: string) =>
            engine
                .ofType("aws:iam/groupPolicyAttachment:GroupPolicyAttachment")
                .filter((a) => a.inputs.group === group)
                .map((a) => policyName(a.inputs.policyArn))
                .sort();
        expect(engine.ofType("aws:iam/group:Group").map((g) => g.inputs.name)).toEqual(["DevOps", "SecurityAudit"]);
        expect(attached("DevOps")).toEqual(["Force_MFA", "User_Source_IP_Restrictions"]);
        expect(attached("SecurityAudit")).toEqual(["Config_Write", "SecurityAudit", "User_Source_IP_Restrictions"]);
        expect(engine.ofType("aws:iam/groupPolicyAttachment:GroupPolicyAttachment").find((a) => policyName(a.inputs.policyArn) === "SecurityAudit")?.inputs.policyArn).toBe(
            "arn:aws:iam::aws:policy/SecurityAudit",
        );
    });

    it("adds members per user (never the exclusive GroupMembership, which would remove members added elsewhere)", async () => {
        const component = await build();
        expect(engine.ofType("aws:iam/groupMembership:GroupMembership")).toEqual([]);
        const memberships = engine.ofType("aws:iam/userGroupMembership:UserGroupMembership").map((m) => [m.inputs.user, m.inputs.groups]);
        expect(memberships).toEqual([
            ["alice", ["DevOps"]],
            ["bob", ["DevOps"]],
            ["cloudkestrel", ["SecurityAudit"]],
        ]);
        expect(await valueOf(component.groupNames)).toEqual(["DevOps", "SecurityAudit"]);
    });

    it.each<[string, Partial<Parameters<typeof groupPoliciesProblems>[1]>, string]>([
        ["no CIDRs", { sourceCidrs: [] }, "GroupPolicies g: `sourceCidrs` is empty; User_Source_IP_Restrictions would deny every request. Name the ranges users work from."],
        ["a CIDR without a mask", { sourceCidrs: ["195.89.85.67"] }, 'GroupPolicies g: `sourceCidrs[0]` "195.89.85.67": CIDR mask is missing. Did you mean "195.89.85.67/32"?'],
        ["a user name AWS refuses", { devOpsUsers: ["alice smith"] }, 'GroupPolicies g: `devOpsUsers[0]` must be an IAM user name (1-64 of letters, digits and +=,.@_-), not "alice smith".'],
        ["a user named twice", { securityAuditUsers: ["ck", "ck"] }, 'GroupPolicies g: `securityAuditUsers` names "ck" twice.'],
    ])("refuses %s, naming the field", (_what, change, message) => {
        expect(groupPoliciesProblems("g", { sourceCidrs: ["10.0.0.0/8"], ...change })).toEqual([message]);
        expect(() => new GroupPolicies("g", { sourceCidrs: ["10.0.0.0/8"], ...change })).toThrow(message);
    });
});

// ---------------------------------------------------------------------------------------------
// The other guardrail components
// ---------------------------------------------------------------------------------------------

/* eslint-disable @typescript-eslint/no-require-imports */
const { AuditTrail, TRAIL_NAME } = require("../components/auditTrail") as typeof import("../components/auditTrail");
const { ConfigRules, inputParameters } = require("../components/configRules") as typeof import("../components/configRules");
const { SecurityGroupHealer } = require("../components/securityGroupHealer") as typeof import("../components/securityGroupHealer");
const { SecurityZones } = require("../components/securityZones") as typeof import("../components/securityZones");
const { AccountGuardrails, CLAIM_PARAMETER, OWNER_TAG, claimConflicts, claimValue, findClaims, forceMfaPolicyArn, isNotFound } = require("../components/accountGuardrails") as typeof import("../components/accountGuardrails");
const { trailBucketPolicy, trailKeyPolicy, trailLogsRolePolicy, trailLogsTrustPolicy } = require("../policies/auditTrail") as typeof import("../policies/auditTrail");
const { MANAGED_RULES, REMEDIATION_DEFAULTS, configDeliveryBucketPolicy, remediationRolePolicy, remediationTrustPolicy, ruleParameterValues } =
    require("../policies/configRules") as typeof import("../policies/configRules");
const { configRecorderDeliveryPolicy, configRecorderTrustPolicy } = require("../policies/configRecorder") as typeof import("../policies/configRecorder");
const { healerRolePolicy, healerTrustPolicy } = require("../policies/securityGroupHealer") as typeof import("../policies/securityGroupHealer");
const { HEALER_EVENT_PATTERN, HEALER_SWEEP_SCHEDULE, parseBaseline } = require("../functions/securityGroupBaseline") as typeof import("../functions/securityGroupBaseline");
/* eslint-enable @typescript-eslint/no-require-imports */

const json = (text: string) => JSON.parse(text) as unknown;
const plain = (document: unknown) => JSON.parse(JSON.stringify(document)) as unknown;
const CTX = { partition: "aws", region: "eu-west-1", accountId: ACCOUNT_ID };

describe("AuditTrail", () => {
    it("is a multi-region trail with log-file validation and global events, encrypted with its own key, under AWS's documented policies", async () => {
        await declare(() => new AuditTrail("guardrails", { region: "eu-west-1", accountId: ACCOUNT_ID }));
        const [trail] = engine.ofType("aws:cloudtrail/trail:Trail");
        expect(trail?.inputs).toMatchObject({ name: TRAIL_NAME, isMultiRegionTrail: true, includeGlobalServiceEvents: true, enableLogFileValidation: true, enableLogging: true });
        const [key] = engine.ofType("aws:kms/key:Key");
        expect(trail?.inputs.kmsKeyId).toBe(key?.state.arn);
        const [bucket] = engine.ofType("aws:s3/bucket:Bucket");
        expect(trail?.inputs.s3BucketName).toBe(bucket?.state.bucket);
        const grant = { ...AWS, accountId: ACCOUNT_ID, region: "eu-west-1", trailName: TRAIL_NAME, bucketName: bucket?.state.bucket as string };
        expect(json(engine.ofType("aws:s3/bucketPolicy:BucketPolicy")[0]!.inputs.policy)).toEqual(plain(trailBucketPolicy(grant)));
        expect(json(key!.inputs.policy)).toEqual(plain(trailKeyPolicy(grant)));
        expect(engine.ofType("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[0]?.inputs).toMatchObject({
            blockPublicAcls: true,
            blockPublicPolicy: true,
            ignorePublicAcls: true,
            restrictPublicBuckets: true,
        });
        expect(engine.ofType("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")[0]?.inputs.rules).toEqual([
            { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key?.state.arn }, bucketKeyEnabled: true },
        ]);
        expect(engine.ofType("aws:cloudwatch/logGroup:LogGroup")).toEqual([]);
    });

    it("delivers to CloudWatch Logs only when asked, through a role that writes that group only", async () => {
        await declare(() => new AuditTrail("guardrails", { region: "eu-west-1", accountId: ACCOUNT_ID, cloudWatchLogsRetentionDays: 365 }));
        const [group] = engine.ofType("aws:cloudwatch/logGroup:LogGroup");
        expect(group?.inputs.retentionInDays).toBe(365);
        const [trail] = engine.ofType("aws:cloudtrail/trail:Trail");
        expect(trail?.inputs.cloudWatchLogsGroupArn).toBe(`${group?.state.arn}:*`);
        const [role] = engine.ofType("aws:iam/role:Role");
        expect(trail?.inputs.cloudWatchLogsRoleArn).toBe(role?.state.arn);
        const grant = { ...AWS, accountId: ACCOUNT_ID, region: "eu-west-1", trailName: TRAIL_NAME, bucketName: "" };
        expect(json(role!.inputs.assumeRolePolicy)).toEqual(plain(trailLogsTrustPolicy(grant)));
        expect(json(engine.ofType("aws:iam/rolePolicy:RolePolicy")[0]!.inputs.policy)).toEqual(plain(trailLogsRolePolicy(group?.state.arn as string)));
    });

    it("refuses a retention CloudWatch Logs does not offer, naming the field", () => {
        expect(() => new AuditTrail("t", { region: "eu-west-1", accountId: ACCOUNT_ID, cloudWatchLogsRetentionDays: 100 })).toThrow(
            "AuditTrail t: `cloudWatchLogsRetentionDays` must be one of 1, 3, 5,",
        );
    });
});

/** Every catalog rule as a stack with no overrides would declare it in the global region. */
function settings(change: (spec: (typeof MANAGED_RULES)[number]) => Partial<RuleSetting> = () => ({})): RuleSetting[] {
    return MANAGED_RULES.map((spec) => ({ spec, parameters: ruleParameterValues(spec), remediate: spec.remediation?.automaticByDefault === true, ...change(spec) }));
}

describe("ConfigRules", () => {
    it("declares each rule by its AWS source identifier, with its parameters as Config takes them and its scope or frequency", async () => {
        await declare(() => new ConfigRules("guardrails", { region: "eu-west-1", accountId: ACCOUNT_ID, rules: settings(), trailKmsKeyArn: "arn:aws:kms:eu-west-1:111122223333:key/k" }));
        const rules = engine.ofType("aws:cfg/rule:Rule");
        const bySource = (a: { sourceIdentifier: string }, b: { sourceIdentifier: string }) => a.sourceIdentifier.localeCompare(b.sourceIdentifier);
        expect(rules.map((r) => r.inputs.source).sort(bySource)).toEqual(MANAGED_RULES.map((spec) => ({ owner: "AWS", sourceIdentifier: spec.sourceIdentifier })).sort(bySource));
        for (const spec of MANAGED_RULES) {
            const rule = rules.find((r) => r.inputs.source.sourceIdentifier === spec.sourceIdentifier)!;
            expect(rule.inputs.name).toBe(spec.ruleName);
            expect(rule.inputs.inputParameters).toBe(inputParameters(ruleParameterValues(spec)));
            expect(rule.inputs.maximumExecutionFrequency).toBe(spec.trigger === "change" ? undefined : spec.maximumExecutionFrequency);
            expect(rule.inputs.scope?.complianceResourceTypes).toEqual(spec.trigger !== "periodic" ? spec.resourceTypes : undefined);
        }
        const unused = rules.find((r) => r.inputs.source.sourceIdentifier === "IAM_USER_UNUSED_CREDENTIALS_CHECK");
        expect(json(unused!.inputs.inputParameters)).toEqual({ maxCredentialUsageAge: "45" });
    });

    it("creates no recorder unless asked (an account has one per region), and with one: recorder, channel, private bucket, recording on", async () => {
        await declare(() => new ConfigRules("guardrails", { region: "eu-west-1", accountId: ACCOUNT_ID, rules: settings().slice(0, 1) }));
        expect(engine.ofType("aws:cfg/recorder:Recorder")).toEqual([]);
        expect(engine.ofType("aws:s3/bucket:Bucket")).toEqual([]);
        engine.reset();
        await declare(() => new ConfigRules("guardrails", { region: "eu-west-1", accountId: ACCOUNT_ID, rules: settings().slice(0, 1), recorder: true, recordGlobalResources: true }));
        const [recorder] = engine.ofType("aws:cfg/recorder:Recorder");
        expect(recorder?.inputs).toMatchObject({ name: "airlock", recordingGroup: { allSupported: true, includeGlobalResourceTypes: true } });
        const [role] = engine.ofType("aws:iam/role:Role");
        expect(recorder?.inputs.roleArn).toBe(role?.state.arn);
        expect(json(role!.inputs.assumeRolePolicy)).toEqual(plain(configRecorderTrustPolicy({ ...AWS, accountId: ACCOUNT_ID })));
        expect(engine.ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment").map((a) => a.inputs.policyArn)).toEqual(["arn:aws:iam::aws:policy/service-role/AWS_ConfigRole"]);
        const [bucket] = engine.ofType("aws:s3/bucket:Bucket");
        expect(json(engine.ofType("aws:iam/rolePolicy:RolePolicy")[0]!.inputs.policy)).toEqual(
            plain(configRecorderDeliveryPolicy({ partition: "aws", accountId: ACCOUNT_ID, bucketName: bucket?.state.bucket as string })),
        );
        expect(json(engine.ofType("aws:s3/bucketPolicy:BucketPolicy")[0]!.inputs.policy)).toEqual(
            plain(configDeliveryBucketPolicy({ partition: "aws", accountId: ACCOUNT_ID, bucketName: bucket?.state.bucket as string })),
        );
        expect(engine.ofType("aws:cfg/deliveryChannel:DeliveryChannel")[0]?.inputs).toMatchObject({ name: "airlock", s3BucketName: bucket?.state.bucket });
        expect(engine.ofType("aws:cfg/recorderStatus:RecorderStatus")[0]?.inputs).toEqual({ name: "airlock", isEnabled: true });
    });

    it("wires each remediating rule to its AWS runbook with the automation role, the noncompliant resource and the rule's own values", async () => {
        await declare(() => new ConfigRules("guardrails", { region: "eu-west-1", accountId: ACCOUNT_ID, rules: settings() }));
        const [role] = engine.ofType("aws:iam/role:Role");
        const remediations = engine.ofType("aws:cfg/remediationConfiguration:RemediationConfiguration");
        const remediating = MANAGED_RULES.filter((spec) => spec.remediation?.automaticByDefault === true);
        expect(remediations.map((r) => r.inputs.configRuleName).sort()).toEqual(remediating.map((spec) => spec.ruleName).sort());
        for (const spec of remediating) {
            const remediation = remediations.find((r) => r.inputs.configRuleName === spec.ruleName)!;
            // Sorted by name, as the provider stores them (another order would be a diff on every preview).
            const expected = [
                { name: "AutomationAssumeRole", staticValue: role?.state.arn },
                ...(spec.remediation!.resourceIdParameter === undefined ? [] : [{ name: spec.remediation!.resourceIdParameter, resourceValue: "RESOURCE_ID" }]),
                ...Object.entries(spec.remediation!.staticParameters(ruleParameterValues(spec), CTX)).map(([name, value]) =>
                    Array.isArray(value) ? { name, staticValues: value } : { name, staticValue: value },
                ),
            ].sort((a, b) => (a.name < b.name ? -1 : 1));
            expect(remediation.inputs).toEqual({
                configRuleName: spec.ruleName,
                targetType: "SSM_DOCUMENT",
                targetId: spec.remediation!.documentName,
                parameters: expected,
                automatic: true,
                maximumAutomaticAttempts: REMEDIATION_DEFAULTS.maximumAutomaticAttempts,
                retryAttemptSeconds: REMEDIATION_DEFAULTS.retryAttemptSeconds,
                executionControls: { ssmControls: { concurrentExecutionRatePercentage: REMEDIATION_DEFAULTS.concurrentExecutionRatePercentage, errorPercentage: REMEDIATION_DEFAULTS.errorPercentage } },
            });
        }
        expect(json(role!.inputs.assumeRolePolicy)).toEqual(plain(remediationTrustPolicy(CTX)));
        expect(json(engine.ofType("aws:iam/rolePolicy:RolePolicy")[0]!.inputs.policy)).toEqual(plain(remediationRolePolicy(remediating.map((rule) => ({ rule })), CTX)));
        // The password policy runbook gets every value of the rule, never its own weak defaults.
        const password = remediations.find((r) => r.inputs.targetId === "AWSConfigRemediation-SetIAMPasswordPolicy")!;
        const passed = Object.fromEntries((password.inputs.parameters as Array<{ name: string; staticValue?: string }>).map((p) => [p.name, p.staticValue]));
        expect(passed).toMatchObject({ MinimumPasswordLength: "14", PasswordReusePrevention: "24", MaxPasswordAge: "90" });
    });

    it("declares no automation role and no remediation when nothing remediates (detect-only)", async () => {
        await declare(() => new ConfigRules("guardrails", { region: "eu-west-1", accountId: ACCOUNT_ID, rules: settings(() => ({ remediate: false })) }));
        expect(engine.ofType("aws:cfg/remediationConfiguration:RemediationConfiguration")).toEqual([]);
        expect(engine.ofType("aws:iam/role:Role")).toEqual([]);
        expect(engine.ofType("aws:cfg/rule:Rule")).toHaveLength(MANAGED_RULES.length);
    });

    it("never wires AWS's unrestricted-ingress runbook (it also removes world-open 443)", async () => {
        await declare(() => new ConfigRules("guardrails", { region: "eu-west-1", accountId: ACCOUNT_ID, rules: settings(() => ({ remediate: true })).filter((s) => s.spec.remediation !== undefined && s.spec.remediation.needsTrailKey !== true) }));
        const targets = engine.ofType("aws:cfg/remediationConfiguration:RemediationConfiguration").map((r) => r.inputs.targetId);
        expect(targets).not.toContain("AWSConfigRemediation-RemoveUnrestrictedSourceIngressRules");
        expect(targets.length).toBeGreaterThan(0);
    });

    it("refuses the CloudTrail encryption remediation without the trail's key, naming the argument", () => {
        const encryption = settings((spec) => ({ remediate: spec.sourceIdentifier === "CLOUD_TRAIL_ENCRYPTION_ENABLED" })).filter((s) => s.remediate);
        expect(() => new ConfigRules("c", { region: "eu-west-1", accountId: ACCOUNT_ID, rules: encryption })).toThrow(
            "ConfigRules c: CLOUD_TRAIL_ENCRYPTION_ENABLED remediates with a trail KMS key; pass `trailKmsKeyArn`.",
        );
    });
});

describe("SecurityGroupHealer", () => {
    it("runs the bundled function on the CloudTrail events that add or change rules, with exactly its policy", async () => {
        await declare(() => new SecurityGroupHealer("guardrails", { region: "eu-west-1", accountId: ACCOUNT_ID }));
        const [fn] = engine.ofType("aws:lambda/function:Function");
        expect(fn?.inputs).toMatchObject({ runtime: "nodejs22.x", handler: "index.handler", timeout: 300, reservedConcurrentExecutions: 5 });
        const rules = engine.ofType("aws:cloudwatch/eventRule:EventRule");
        const rule = rules.find((r) => r.inputs.eventPattern !== undefined);
        expect(json(rule!.inputs.eventPattern)).toEqual(plain(HEALER_EVENT_PATTERN));
        const schedule = rules.find((r) => r.inputs.scheduleExpression !== undefined);
        expect(schedule?.inputs.scheduleExpression).toBe(HEALER_SWEEP_SCHEDULE);
        expect(rules).toHaveLength(2);
        // Each rule may invoke the function, and only through its own permission.
        for (const trigger of [rule, schedule]) {
            const permissions = engine.ofType("aws:lambda/permission:Permission").filter((p) => p.inputs.sourceArn === trigger?.state.arn);
            expect(permissions.map((p) => p.inputs)).toEqual([expect.objectContaining({ action: "lambda:InvokeFunction", principal: "events.amazonaws.com", sourceAccount: ACCOUNT_ID })]);
            expect(engine.ofType("aws:cloudwatch/eventTarget:EventTarget").filter((t) => t.inputs.rule === trigger?.state.name).map((t) => t.inputs.arn)).toEqual([fn?.state.arn]);
        }
        const [group] = engine.ofType("aws:cloudwatch/logGroup:LogGroup");
        expect(group?.inputs.name).toBe(`/aws/lambda/${fn?.inputs.name}`);
        const [role] = engine.ofType("aws:iam/role:Role");
        expect(json(role!.inputs.assumeRolePolicy)).toEqual(plain(healerTrustPolicy("aws", ACCOUNT_ID)));
        expect(json(engine.ofType("aws:iam/rolePolicy:RolePolicy")[0]!.inputs.policy)).toEqual(
            plain(healerRolePolicy({ partition: "aws", region: "eu-west-1", accountId: ACCOUNT_ID, logGroupArn: group?.state.arn as string })),
        );
    });

    it("ships the bundle as a file asset (its path and hash in state, not a megabyte of code)", async () => {
        await declare(() => new SecurityGroupHealer("guardrails", { region: "eu-west-1", accountId: ACCOUNT_ID }));
        const file = path.join(process.cwd(), ".airlock-build", "healer", "index.js");
        expect(fs.readFileSync(file, "utf8")).toContain("airlock:managed");
    });
});

describe("SecurityZones publishes each group's baseline before its rules", () => {
    it("one parameter per group, holding exactly the rules declared for it", async () => {
        await declare(
            () =>
                new SecurityZones("airlock", {
                    vpcId: "vpc-0a1b2c3d4e5f60718",
                    scannerSourceCidrs: ["10.30.5.10/32"],
                    scannerSecurityGroupId: "sg-0a1b2c3d4e5f60719",
                    remediationEgress: [{ description: "HTTPS", protocol: "tcp", fromPort: 443, toPort: 443, cidrs: ["0.0.0.0/0"], ipv6Cidrs: [] }],
                    productionIngress: [{ description: "HTTPS", protocol: "tcp", fromPort: 443, toPort: 443, cidrs: ["10.20.0.0/24", "10.20.1.0/24"], ipv6Cidrs: [] }],
                }),
        );
        const groups = engine.ofType("aws:ec2/securityGroup:SecurityGroup");
        const parameters = engine.ofType("aws:ssm/parameter:Parameter");
        expect(parameters.map((p) => p.inputs.name).sort()).toEqual(groups.map((g) => `/airlock/security-groups/${g.id}`).sort());
        for (const group of groups) {
            const baseline = parseBaseline(parameters.find((p) => p.inputs.name === `/airlock/security-groups/${group.id}`)!.inputs.insecureValue);
            const rulesOf = (type: string) =>
                engine
                    .ofType(type)
                    .filter((r) => r.inputs.securityGroupId === group.id)
                    .map((r) => r.inputs);
            expect(baseline.ingress).toHaveLength(rulesOf("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule").length);
            expect(baseline.egress).toHaveLength(rulesOf("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule").length);
            for (const rule of rulesOf("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")) {
                expect(baseline.ingress).toContainEqual(
                    expect.objectContaining({ ipProtocol: rule.ipProtocol, ...(rule.cidrIpv4 ? { cidrIpv4: rule.cidrIpv4 } : { referencedSecurityGroupId: rule.referencedSecurityGroupId }) }),
                );
            }
        }
    });
});

describe("AccountGuardrails", () => {
    const STACK = "acme/airlock/guardrails";
    const base = {
        globalRegion: "eu-west-1",
        declaresGlobal: true,
        groupPolicies: { sourceCidrs: ["195.89.85.64/28"], devOpsUsers: ["alice"], securityAuditUsers: [], ignoredUsers: [], allowPasswordChangeWithoutMfa: false },
        configRecorder: false,
        detectOnly: false,
        rules: settings(),
        trail: {},
        selfHealing: true,
    };

    it("in the global region: claim, group policies (tagged with their stack), trail, every rule, healer", async () => {
        await declare(() => new AccountGuardrails("airlock", { region: "eu-west-1", accountId: ACCOUNT_ID, stack: STACK, config: base }));
        const [claim] = engine.ofType("aws:ssm/parameter:Parameter");
        expect(claim?.inputs).toMatchObject({ name: CLAIM_PARAMETER, type: "String", insecureValue: claimValue(STACK, "eu-west-1") });
        expect(engine.ofType("aws:iam/policy:Policy").map((p) => p.inputs.tags[OWNER_TAG])).toEqual([STACK, STACK, STACK]);
        expect(engine.ofType("aws:cloudtrail/trail:Trail")).toHaveLength(1);
        expect(engine.ofType("aws:cfg/rule:Rule")).toHaveLength(MANAGED_RULES.length);
        expect(engine.ofType("aws:lambda/function:Function")).toHaveLength(1);
        // The CloudTrail encryption runbook gets the trail's own key.
        expect(engine.ofType("aws:cfg/remediationConfiguration:RemediationConfiguration").length).toBeGreaterThan(0);
    });

    it("in another region: the claim, regional rules and the healer only", async () => {
        const regional = { ...base, globalRegion: "us-east-1", declaresGlobal: false, groupPolicies: undefined, trail: undefined, rules: settings().filter((s) => s.spec.scope === "regional") };
        await declare(() => new AccountGuardrails("airlock", { region: "eu-west-1", accountId: ACCOUNT_ID, stack: STACK, config: regional }));
        expect(engine.ofType("aws:iam/policy:Policy")).toEqual([]);
        expect(engine.ofType("aws:cloudtrail/trail:Trail")).toEqual([]);
        expect(engine.ofType("aws:cfg/rule:Rule").map((r) => r.inputs.source.sourceIdentifier).sort()).toEqual(MANAGED_RULES.filter((r) => r.scope === "regional").map((r) => r.sourceIdentifier).sort());
        expect(engine.ofType("aws:ssm/parameter:Parameter")).toHaveLength(1);
    });

    describe("finding the claims", () => {
        it.each<[string, string, boolean]>([
            ["getPolicy by name, none", "invocation of aws:iam/getPolicy:getPolicy returned an error: no matching IAM Policy found", true],
            ["getParameter, none", "invocation of aws:ssm/getParameter:getParameter returned an error: reading SSM Parameter (/airlock/guardrails/owner): couldn't find resource", true],
            ["access denied", "reading SSM Parameter (/airlock/guardrails/owner): operation error SSM: GetParameter, https response error StatusCode: 400, AccessDeniedException: not authorized", false],
            ["throttling", "operation error IAM: ListPolicies, exceeded maximum number of attempts, 3, ThrottlingException: Rate exceeded", false],
            ["a network failure", "dial tcp 10.0.0.1:443: i/o timeout", false],
        ])("%s → not found: %s", (_what, message, notFound) => {
            expect(isNotFound(new Error(message))).toBe(notFound);
        });

        it("finds this stack's and other stacks' claims through the provider, and nothing in a fresh account", async () => {
            const config = { declaresGlobal: true, groupPolicies: base.groupPolicies };
            const arn = forceMfaPolicyArn("aws", ACCOUNT_ID);
            await expect(findClaims(config, arn)).resolves.toEqual({ regionClaim: undefined, forceMfaTags: undefined });
            engine.seedParameter(CLAIM_PARAMETER, claimValue("acme/airlock/other", "eu-west-1"));
            engine.seedPolicy("Force_MFA", { tags: { [OWNER_TAG]: "acme/airlock/other" } });
            await expect(findClaims(config, arn)).resolves.toEqual({ regionClaim: claimValue("acme/airlock/other", "eu-west-1"), forceMfaTags: { [OWNER_TAG]: "acme/airlock/other" } });
            // The account's IAM is not asked about when this stack declares no group policies.
            const calls = engine.calls.length;
            await findClaims({ declaresGlobal: true, groupPolicies: undefined }, arn);
            expect(engine.calls.slice(calls).map((c) => c.token)).toEqual(["aws:ssm/getParameter:getParameter"]);
        });
    });

    describe("claimConflicts", () => {
        const conflicts = (found: Parameters<typeof claimConflicts>[3], config: Parameters<typeof claimConflicts>[2] = base) => claimConflicts(STACK, "eu-west-1", config, found);
        it("finds none in a fresh account, or when the claims are this stack's own", () => {
            expect(conflicts({})).toEqual([]);
            expect(conflicts({ regionClaim: claimValue(STACK, "eu-west-1"), forceMfaTags: { [OWNER_TAG]: STACK } })).toEqual([]);
        });
        it("refuses a second stack in a region another stack has claimed, naming that stack", () => {
            expect(conflicts({ regionClaim: claimValue("acme/airlock/other", "eu-west-1") })).toEqual([
                `The account guardrails of eu-west-1 are already declared by the stack "acme/airlock/other" (SSM parameter ${CLAIM_PARAMETER}). An account has one recorder and one set of Config rules per region: set airlock:accountGuardrails to false in this stack, or destroy the guardrails of that stack first.`,
            ]);
        });
        it("refuses group policies another stack owns, or that exist outside Airlock", () => {
            expect(conflicts({ forceMfaTags: { [OWNER_TAG]: "acme/airlock/us" } })[0]).toContain('already declared by the stack "acme/airlock/us"');
            expect(conflicts({ forceMfaTags: {} })[0]).toContain("The IAM policy Force_MFA already exists and no Airlock guardrails stack owns it");
            expect(conflicts({ forceMfaTags: {} }, { ...base, groupPolicies: undefined })).toEqual([]);
        });
        it("treats an unreadable claim as another stack's", () => {
            expect(conflicts({ regionClaim: "not json" })[0]).toContain("(unreadable claim)");
        });
    });
});
