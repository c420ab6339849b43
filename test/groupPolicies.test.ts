/**
 * The guardrails' group policies (policies/groupPolicies.ts) in the IAM simulator, from the user's
 * side: Force_MFA, User_Source_IP_Restrictions and Config_Write, each beside an identity policy
 * that would otherwise allow everything (so a denial is the guardrail's, not a missing allow).
 */
import { GROUP_POLICY_NAMES, configWritePolicy, forceMfaPolicy, sourceIpRestrictionPolicy } from "../policies/groupPolicies";
import { simulate, type Decision } from "./support/iamSimulator";

const ACCOUNT = "111122223333";
const USER = "alice";
const USER_ARN = `arn:aws:iam::${ACCOUNT}:user/${USER}`;
const OTHER_USER_ARN = `arn:aws:iam::${ACCOUNT}:user/bob`;
const ALLOW_ALL = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] };
const AWS = { partition: "aws", dnsSuffix: "amazonaws.com" };
const INSTANCES = `arn:aws:ec2:eu-west-1:${ACCOUNT}:instance/i-0aaaaaaaaaaaaaaaa`;

/** A request by alice with `policies` (and, unless `alone`, an allow-everything policy beside them). */
function asAlice(policies: object[], action: string, resource: string, context: Record<string, string | string[]> = {}, alone = false): Promise<Decision> {
    return simulate({
        identityPolicies: alone ? policies : [ALLOW_ALL, ...policies],
        principal: USER_ARN,
        action,
        resource,
        resourceAccount: ACCOUNT,
        context: { "aws:username": USER, "aws:PrincipalArn": USER_ARN, ...context },
    });
}

describe("Force_MFA (AWS's documented pattern)", () => {
    const policy = forceMfaPolicy(AWS);
    const noMfa = { "aws:MultiFactorAuthPresent": "false" };
    const mfa = { "aws:MultiFactorAuthPresent": "true" };

    it.each<[string, string, string]>([
        ["s3:ListAllMyBuckets", "s3:ListAllMyBuckets", "*"],
        ["ec2:DescribeInstances", "ec2:DescribeInstances", "*"],
        ["ec2:TerminateInstances", "ec2:TerminateInstances", INSTANCES],
        ["iam:ChangePassword (not in AWS's pattern)", "iam:ChangePassword", USER_ARN],
    ])("without MFA, %s is denied", async (_what, action, resource) => {
        await expect(asAlice([policy], action, resource, noMfa)).resolves.toBe("ExplicitlyDenied");
    });

    it("with long-term access keys (no aws:MultiFactorAuthPresent at all), everything is denied too", async () => {
        await expect(asAlice([policy], "ec2:DescribeInstances", "*", {})).resolves.toBe("ExplicitlyDenied");
    });

    it.each<[string, string, string]>([
        ["create a virtual MFA device", "iam:CreateVirtualMFADevice", `arn:aws:iam::${ACCOUNT}:mfa/alice`],
        ["enable it on its own user", "iam:EnableMFADevice", USER_ARN],
        ["list its MFA devices", "iam:ListMFADevices", USER_ARN],
    ])("without MFA, the user may still %s (with this policy alone)", async (_what, action, resource) => {
        await expect(asAlice([policy], action, resource, noMfa, true)).resolves.toBe("Allowed");
    });

    // GetSessionToken needs no permission in AWS (STS API reference); Force_MFA must just not deny it.
    it("without MFA, getting an MFA session (sts:GetSessionToken) is not denied", async () => {
        await expect(asAlice([policy], "sts:GetSessionToken", "*", noMfa)).resolves.toBe("Allowed");
    });

    it("without MFA, enabling an MFA device on another user is not allowed by it", async () => {
        await expect(asAlice([policy], "iam:EnableMFADevice", OTHER_USER_ARN, noMfa, true)).resolves.toBe("ImplicitlyDenied");
    });

    it.each<[string, string]>([
        ["s3:ListAllMyBuckets", "*"],
        ["ec2:DescribeInstances", "*"],
    ])("with MFA, %s is not denied by Force_MFA", async (action, resource) => {
        await expect(asAlice([policy], action, resource, mfa)).resolves.toBe("Allowed");
    });

    it("an ignored user (CloudKestrel's IgnoreUsers) is left alone, everyone else is not", async () => {
        const ignoring = forceMfaPolicy({ ...AWS, ignoredUsers: [USER, "svc-backup"] });
        await expect(asAlice([ignoring], "ec2:DescribeInstances", "*", noMfa)).resolves.toBe("Allowed");
        await expect(
            simulate({
                identityPolicies: [ALLOW_ALL, ignoring],
                principal: OTHER_USER_ARN,
                action: "ec2:DescribeInstances",
                resource: "*",
                resourceAccount: ACCOUNT,
                context: { "aws:username": "bob", "aws:PrincipalArn": OTHER_USER_ARN, ...noMfa },
            }),
        ).resolves.toBe("ExplicitlyDenied");
    });

    it("the explicit option lets a user without MFA change its own password, and only that beyond enrolment", async () => {
        const withPasswords = forceMfaPolicy({ ...AWS, allowPasswordChangeWithoutMfa: true });
        await expect(asAlice([withPasswords], "iam:ChangePassword", USER_ARN, noMfa)).resolves.toBe("Allowed");
        await expect(asAlice([withPasswords], "iam:ChangePassword", OTHER_USER_ARN, noMfa, true)).resolves.toBe("ImplicitlyDenied");
        await expect(asAlice([withPasswords], "s3:ListAllMyBuckets", "*", noMfa)).resolves.toBe("ExplicitlyDenied");
    });
});

describe("User_Source_IP_Restrictions", () => {
    const policy = sourceIpRestrictionPolicy({ cidrs: ["195.89.85.64/28", "2001:db8:1234::/48"] });
    const call = (context: Record<string, string>) => asAlice([policy], "ec2:DescribeInstances", "*", { "aws:MultiFactorAuthPresent": "true", ...context });

    it.each<[string, Record<string, string>, Decision]>([
        ["from outside the CIDRs", { "aws:SourceIp": "203.0.113.7", "aws:ViaAWSService": "false" }, "ExplicitlyDenied"],
        ["from inside the IPv4 range", { "aws:SourceIp": "195.89.85.67", "aws:ViaAWSService": "false" }, "Allowed"],
        ["from inside the IPv6 range", { "aws:SourceIp": "2001:db8:1234:5::1", "aws:ViaAWSService": "false" }, "Allowed"],
        ["from just outside the IPv4 range", { "aws:SourceIp": "195.89.85.80", "aws:ViaAWSService": "false" }, "ExplicitlyDenied"],
        // Through a VPC endpoint the request has no aws:SourceIp (aws:VpcSourceIp instead).
        ["through a VPC endpoint (no aws:SourceIp)", { "aws:VpcSourceIp": "10.0.1.5", "aws:ViaAWSService": "false" }, "Allowed"],
        ["by an AWS service on the user's behalf, from AWS's addresses", { "aws:SourceIp": "52.94.133.131", "aws:ViaAWSService": "true" }, "Allowed"],
    ])("a request %s → %s", async (_what, context, expected) => {
        await expect(call(context)).resolves.toBe(expected);
    });

    it("refuses an empty list of CIDRs (every request would be denied)", () => {
        expect(() => sourceIpRestrictionPolicy({ cidrs: [] })).toThrow("at least one CIDR is required");
    });
});

describe("Config_Write: adding and updating Config rules, nothing else", () => {
    const policy = configWritePolicy({ ...AWS, accountId: ACCOUNT });
    const rule = `arn:aws:config:eu-west-1:${ACCOUNT}:config-rule/config-rule-abc123`;

    it.each<[string, string, string, Decision]>([
        ["adding or updating a rule", "config:PutConfigRule", rule, "Allowed"],
        ["listing the rules", "config:DescribeConfigRules", "*", "Allowed"],
        ["tagging a rule", "config:TagResource", rule, "Allowed"],
        ["adding a rule in another account", "config:PutConfigRule", "arn:aws:config:eu-west-1:444455556666:config-rule/config-rule-x", "ImplicitlyDenied"],
        ["deleting a rule", "config:DeleteConfigRule", rule, "ImplicitlyDenied"],
        ["changing the recorder", "config:PutConfigurationRecorder", `arn:aws:config:eu-west-1:${ACCOUNT}:configuration-recorder/default/abc`, "ImplicitlyDenied"],
        ["stopping the recorder", "config:StopConfigurationRecorder", `arn:aws:config:eu-west-1:${ACCOUNT}:configuration-recorder/default/abc`, "ImplicitlyDenied"],
        ["passing a role", "iam:PassRole", `arn:aws:iam::${ACCOUNT}:role/anything`, "ImplicitlyDenied"],
    ])("%s → %s", async (_what, action, resource, expected) => {
        await expect(asAlice([policy], action, resource, {}, true)).resolves.toBe(expected);
    });
});

describe("names", () => {
    it("are CloudKestrel's, which existing accounts and the audit look for", () => {
        expect(GROUP_POLICY_NAMES).toEqual({ forceMfa: "Force_MFA", sourceIp: "User_Source_IP_Restrictions", configWrite: "Config_Write" });
    });
});
