/**
 * The security group healer's role (policies/securityGroupHealer.ts) in the IAM simulator: what the
 * function may do (read groups and rules, read and list baselines, revoke rules on Airlock-managed
 * groups, tag a group `airlock:managed=true` again, write its own logs) and, as much, what it may
 * not (revoke on other groups, authorize anything, any other tag or untagging, read or list other
 * parameters, write other logs).
 */
import { healerRolePolicy, healerTrustPolicy } from "../policies/securityGroupHealer";
import { simulate, type Decision } from "./support/iamSimulator";

const ACCOUNT = "111122223333";
const OTHER_ACCOUNT = "444455556666";
const REGION = "eu-west-1";
const LOG_GROUP = `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/airlock-guardrails-heal-security-groups`;
const SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/guardrails-healer-function/airlock-guardrails-heal-security-groups`;
const GROUP = `arn:aws:ec2:${REGION}:${ACCOUNT}:security-group/sg-0123456789abcdef0`;
const MANAGED = { "aws:ResourceTag/airlock:managed": "true" };
const INSTANCE = `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`;
const PARAMETER = (name: string): string => `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name}`;
/** The request of CreateTags with these tags (key → value). */
const tagging = (tags: Record<string, string>): Record<string, string | string[]> => ({
    ...Object.fromEntries(Object.entries(tags).map(([key, value]) => [`aws:RequestTag/${key}`, value])),
    "aws:TagKeys": Object.keys(tags),
});

const policy = healerRolePolicy({ partition: "aws", region: REGION, accountId: ACCOUNT, logGroupArn: LOG_GROUP });

function asHealer(action: string, resource: string, context: Record<string, string | string[]> = {}): Promise<Decision> {
    return simulate({ identityPolicies: [policy], principal: SESSION, action, resource, resourceAccount: resource === "*" ? ACCOUNT : undefined, context });
}

describe("the healer's role policy", () => {
    it("is exactly the six statements", () => {
        expect(policy).toEqual({
            Version: "2012-10-17",
            Statement: [
                { Sid: "ReadSecurityGroups", Effect: "Allow", Action: ["ec2:DescribeSecurityGroupRules", "ec2:DescribeSecurityGroups"], Resource: "*" },
                {
                    Sid: "RevokeRulesOfManagedGroups",
                    Effect: "Allow",
                    Action: ["ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress"],
                    Resource: `arn:aws:ec2:${REGION}:${ACCOUNT}:security-group/*`,
                    Condition: { StringEquals: { "aws:ResourceTag/airlock:managed": "true" } },
                },
                {
                    Sid: "TagManagedGroupsAgain",
                    Effect: "Allow",
                    Action: "ec2:CreateTags",
                    Resource: `arn:aws:ec2:${REGION}:${ACCOUNT}:security-group/*`,
                    Condition: {
                        StringEquals: { "aws:RequestTag/airlock:managed": "true" },
                        "ForAllValues:StringEquals": { "aws:TagKeys": ["airlock:managed"] },
                    },
                },
                { Sid: "ReadBaselines", Effect: "Allow", Action: "ssm:GetParameter", Resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/airlock/security-groups/*` },
                {
                    Sid: "ListBaselines",
                    Effect: "Allow",
                    Action: "ssm:GetParametersByPath",
                    Resource: [`arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/airlock/security-groups`, `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/airlock/security-groups/*`],
                },
                { Sid: "WriteOwnLogs", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `${LOG_GROUP}:*` },
            ],
        });
    });

    it.each<[string, string, string, Record<string, string | string[]>]>([
        ["describes security groups", "ec2:DescribeSecurityGroups", "*", {}],
        ["describes security group rules", "ec2:DescribeSecurityGroupRules", "*", {}],
        // The periodic sweep's listing (DescribeSecurityGroups filtered on tag:airlock:managed=true) needs
        // nothing more; its other calls are an event's (test/securityGroupHealer.test.ts checks the set).
        ["lists the groups tagged airlock:managed=true (the periodic sweep)", "ec2:DescribeSecurityGroups", "*", {}],
        ["revokes ingress on a managed group", "ec2:RevokeSecurityGroupIngress", GROUP, MANAGED],
        ["revokes egress on a managed group", "ec2:RevokeSecurityGroupEgress", GROUP, MANAGED],
        ["reads a group's baseline", "ssm:GetParameter", `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/airlock/security-groups/sg-0123456789abcdef0`, {}],
        // The sweep lists the baselines (GetParametersByPath on /airlock/security-groups) to find groups whose tag was removed.
        ["lists the baselines (the periodic sweep)", "ssm:GetParametersByPath", PARAMETER("/airlock/security-groups"), {}],
        ["lists the baselines by the path with its trailing slash", "ssm:GetParametersByPath", PARAMETER("/airlock/security-groups/"), {}],
        ["lists a path below the baselines'", "ssm:GetParametersByPath", PARAMETER("/airlock/security-groups/archive"), {}],
        // A group with a baseline whose tag was removed is tagged again, then healed under the tag condition.
        ["tags an untagged group airlock:managed=true again", "ec2:CreateTags", GROUP, tagging({ "airlock:managed": "true" })],
        ["tags a group airlock:managed=false back to true", "ec2:CreateTags", GROUP, { ...tagging({ "airlock:managed": "true" }), "aws:ResourceTag/airlock:managed": "false" }],
        ["revokes ingress on the group it has just tagged again", "ec2:RevokeSecurityGroupIngress", GROUP, MANAGED],
        ["creates its log stream", "logs:CreateLogStream", `${LOG_GROUP}:log-stream:2025/03/14/[$LATEST]0a1b2c3d`, {}],
        ["writes its log events", "logs:PutLogEvents", `${LOG_GROUP}:log-stream:2025/03/14/[$LATEST]0a1b2c3d`, {}],
    ])("%s", async (_what, action, resource, context) => {
        await expect(asHealer(action, resource, context)).resolves.toBe("Allowed");
    });

    it.each<[string, string, string, Record<string, string | string[]>]>([
        ["revoke ingress on an unmanaged group", "ec2:RevokeSecurityGroupIngress", GROUP, {}],
        ["revoke egress on a group tagged airlock:managed=false", "ec2:RevokeSecurityGroupEgress", GROUP, { "aws:ResourceTag/airlock:managed": "false" }],
        ["revoke on a managed group of another region", "ec2:RevokeSecurityGroupIngress", GROUP.replace(REGION, "us-east-1"), MANAGED],
        ["authorize ingress, even on a managed group", "ec2:AuthorizeSecurityGroupIngress", GROUP, MANAGED],
        ["authorize egress, even on a managed group", "ec2:AuthorizeSecurityGroupEgress", GROUP, MANAGED],
        ["modify rules, even on a managed group", "ec2:ModifySecurityGroupRules", GROUP, MANAGED],
        ["delete a managed group", "ec2:DeleteSecurityGroup", GROUP, MANAGED],
        ["tag a group without saying with what", "ec2:CreateTags", GROUP, {}],
        ["tag a group airlock:managed=false", "ec2:CreateTags", GROUP, tagging({ "airlock:managed": "false" })],
        ["tag a group airlock:managed=TRUE (the value is exact)", "ec2:CreateTags", GROUP, tagging({ "airlock:managed": "TRUE" })],
        ["tag a group with another key", "ec2:CreateTags", GROUP, tagging({ Name: "airlock-production" })],
        ["tag a group with another airlock: key", "ec2:CreateTags", GROUP, tagging({ "airlock:zone": "production" })],
        ["put another tag along with airlock:managed=true", "ec2:CreateTags", GROUP, tagging({ "airlock:managed": "true", Owner: "mallory" })],
        ["tag an instance airlock:managed=true", "ec2:CreateTags", INSTANCE, tagging({ "airlock:managed": "true" })],
        ["tag a group of another region airlock:managed=true", "ec2:CreateTags", GROUP.replace(REGION, "us-east-1"), tagging({ "airlock:managed": "true" })],
        ["tag a group of another account airlock:managed=true", "ec2:CreateTags", GROUP.replace(ACCOUNT, OTHER_ACCOUNT), tagging({ "airlock:managed": "true" })],
        ["untag a group", "ec2:DeleteTags", GROUP, { "aws:TagKeys": ["airlock:managed"] }],
        ["untag a group of another key", "ec2:DeleteTags", GROUP, { "aws:TagKeys": ["Name"] }],
        ["read another parameter", "ssm:GetParameter", `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/airlock/other/secret`, {}],
        ["read a parameter named like a baseline's prefix", "ssm:GetParameter", `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/airlock/security-groups-extra/x`, {}],
        ["write a baseline", "ssm:PutParameter", `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/airlock/security-groups/sg-0123456789abcdef0`, {}],
        ["read several baselines at once by name", "ssm:GetParameters", PARAMETER("/airlock/security-groups/sg-0123456789abcdef0"), {}],
        ["list the parameters above the baselines'", "ssm:GetParametersByPath", PARAMETER("/airlock"), {}],
        ["list another path", "ssm:GetParametersByPath", PARAMETER("/airlock/other"), {}],
        ["list a path named like the baselines' prefix", "ssm:GetParametersByPath", PARAMETER("/airlock/security-groups-extra"), {}],
        ["describe parameters", "ssm:DescribeParameters", "*", {}],
        ["delete a baseline", "ssm:DeleteParameter", PARAMETER("/airlock/security-groups/sg-0123456789abcdef0"), {}],
        ["write to another log group", "logs:PutLogEvents", `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/other:log-stream:x`, {}],
        ["write to a log group whose name extends its own", "logs:PutLogEvents", `${LOG_GROUP}-2:log-stream:x`, {}],
        ["create log groups", "logs:CreateLogGroup", LOG_GROUP, {}],
        ["delete its own log group", "logs:DeleteLogGroup", LOG_GROUP, {}],
    ])("may not %s", async (_what, action, resource, context) => {
        await expect(asHealer(action, resource, context)).resolves.toBe("ImplicitlyDenied");
    });

    it("uses the partition it is given", () => {
        const china = healerRolePolicy({ partition: "aws-cn", region: "cn-north-1", accountId: ACCOUNT, logGroupArn: `arn:aws-cn:logs:cn-north-1:${ACCOUNT}:log-group:x` });
        expect(JSON.stringify(china)).not.toContain("arn:aws:");
    });

    it("accepts a log group ARN with or without the trailing :* (both name the group)", () => {
        expect(healerRolePolicy({ partition: "aws", region: REGION, accountId: ACCOUNT, logGroupArn: `${LOG_GROUP}:*` })).toEqual(policy);
    });

    it("refuses what is not a log group ARN", () => {
        expect(() => healerRolePolicy({ partition: "aws", region: REGION, accountId: ACCOUNT, logGroupArn: "*" })).toThrow("`logGroupArn` \"*\" is not a log group ARN");
    });
});

describe("the healer's trust policy", () => {
    const trust = healerTrustPolicy("aws", ACCOUNT);
    const role = `arn:aws:iam::${ACCOUNT}:role/guardrails-healer-function`;
    const assume = (principal: string, context: Record<string, string>): Promise<Decision> =>
        simulate({ identityPolicies: [], resourcePolicy: trust, principal, action: "sts:AssumeRole", resource: role, context });

    it.each<[string, Decision, string, Record<string, string>]>([
        ["Lambda, for a function of this account", "Allowed", "lambda.amazonaws.com", { "aws:SourceAccount": ACCOUNT }],
        ["Lambda, for another account's function (confused deputy)", "ImplicitlyDenied", "lambda.amazonaws.com", { "aws:SourceAccount": OTHER_ACCOUNT }],
        ["another service", "ImplicitlyDenied", "ec2.amazonaws.com", { "aws:SourceAccount": ACCOUNT }],
        ["a user of this account", "ImplicitlyDenied", `arn:aws:iam::${ACCOUNT}:user/alice`, {}],
    ])("%s → %s", async (_what, expected, principal, context) => {
        await expect(assume(principal, context)).resolves.toBe(expected);
    });

    it.each<[string, string]>([
        ["partition", "arn:aws"],
        ["accountId", "123"],
    ])("refuses a malformed %s", (field, value) => {
        expect(() => (field === "partition" ? healerTrustPolicy(value, ACCOUNT) : healerTrustPolicy("aws", value))).toThrow(`\`${field}\``);
    });
});
