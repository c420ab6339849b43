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
const ATTACKER = "999988887777";
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

describe("Force_MFA (AWS's documented pattern, closed against enrolment with access keys and against other users)", () => {
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

    it("without MFA, enabling an MFA device on another user is denied by it (explicitly, since review M1)", async () => {
        await expect(asAlice([policy], "iam:EnableMFADevice", OTHER_USER_ARN, noMfa, true)).resolves.toBe("ExplicitlyDenied");
    });

    // Review H2: a thief with only a long-term access key (no aws:MultiFactorAuthPresent at all) enrolled
    // its own virtual device on the user and then got an MFA session. Enrolment now needs a console session.
    it.each<[string, string, string]>([
        ["create a virtual MFA device", "iam:CreateVirtualMFADevice", `arn:aws:iam::${ACCOUNT}:mfa/alice`],
        ["enable an MFA device on its own user", "iam:EnableMFADevice", USER_ARN],
        ["resync an MFA device of its own user", "iam:ResyncMFADevice", USER_ARN],
    ])("with a long-term access key only, the user may not %s, even beside a policy that allows everything", async (_what, action, resource) => {
        await expect(asAlice([policy], action, resource, {})).resolves.toBe("ExplicitlyDenied");
    });

    // How CLI users get an MFA session with an enrolled device: GetSessionToken, signed with the long-term key, with a TokenCode.
    it("with a long-term access key, sts:GetSessionToken is still not denied (the CLI's way to an MFA session)", async () => {
        await expect(asAlice([policy], "sts:GetSessionToken", "*", {})).resolves.toBe("Allowed");
    });

    it("in a console session without MFA (the key present, false), the user may still enrol its own device beside a policy that allows everything", async () => {
        await expect(asAlice([policy], "iam:CreateVirtualMFADevice", `arn:aws:iam::${ACCOUNT}:mfa/alice`, noMfa)).resolves.toBe("Allowed");
        await expect(asAlice([policy], "iam:EnableMFADevice", USER_ARN, noMfa)).resolves.toBe("Allowed");
        await expect(asAlice([policy], "iam:ResyncMFADevice", USER_ARN, noMfa)).resolves.toBe("Allowed");
    });

    it("with MFA, the user may add further devices under any name (Force_MFA alone)", async () => {
        await expect(asAlice([policy], "iam:CreateVirtualMFADevice", `arn:aws:iam::${ACCOUNT}:mfa/alice-phone`, mfa, true)).resolves.toBe("Allowed");
        await expect(asAlice([policy], "iam:EnableMFADevice", USER_ARN, mfa, true)).resolves.toBe("Allowed");
    });

    // Review M1: the exemptions were not limited to the user's own user and device, so any broad Allow beside
    // Force_MFA let a session without MFA act on other users.
    const BOB_DEVICE = `arn:aws:iam::${ACCOUNT}:mfa/bob`;
    it.each<[string, string, string, Record<string, string>]>([
        ["enable an MFA device on another user", "iam:EnableMFADevice", OTHER_USER_ARN, noMfa],
        ["resync another user's MFA device", "iam:ResyncMFADevice", OTHER_USER_ARN, noMfa],
        ["read another user (enumeration)", "iam:GetUser", OTHER_USER_ARN, noMfa],
        ["read another user's MFA device", "iam:GetMFADevice", OTHER_USER_ARN, noMfa],
        ["list another user's MFA devices", "iam:ListMFADevices", OTHER_USER_ARN, noMfa],
        ["create a virtual MFA device named after another user", "iam:CreateVirtualMFADevice", BOB_DEVICE, noMfa],
        ["read another user, with a long-term key", "iam:GetUser", OTHER_USER_ARN, {}],
    ])("without MFA, beside a policy that allows everything, the user may not %s", async (_what, action, resource, context) => {
        await expect(asAlice([policy], action, resource, context)).resolves.toBe("ExplicitlyDenied");
    });

    it("without MFA, Force_MFA alone no longer lets the user squat another user's device name (mfa/*)", async () => {
        await expect(asAlice([policy], "iam:CreateVirtualMFADevice", BOB_DEVICE, noMfa, true)).resolves.toBe("ExplicitlyDenied");
    });

    it.each<[string, string, string]>([
        ["read its own user", "iam:GetUser", USER_ARN],
        ["read its own MFA device", "iam:GetMFADevice", USER_ARN],
        ["list its own MFA devices", "iam:ListMFADevices", USER_ARN],
        ["list the account's virtual MFA devices (resource *: the console's enrolment lists them)", "iam:ListVirtualMFADevices", "*"],
    ])("without MFA, beside a policy that allows everything, the user may still %s", async (_what, action, resource) => {
        await expect(asAlice([policy], action, resource, noMfa)).resolves.toBe("Allowed");
    });

    it("a user with an IAM path (user/engineering/alice) may still enrol its own device without MFA beside a broad policy, and still not touch others", async () => {
        const pathArn = `arn:aws:iam::${ACCOUNT}:user/engineering/alice`;
        const asPathAlice = (action: string, resource: string) =>
            simulate({
                identityPolicies: [ALLOW_ALL, policy],
                principal: pathArn,
                action,
                resource,
                resourceAccount: ACCOUNT,
                context: { "aws:username": USER, "aws:PrincipalArn": pathArn, ...noMfa },
            });
        await expect(asPathAlice("iam:EnableMFADevice", pathArn)).resolves.toBe("Allowed");
        await expect(asPathAlice("iam:EnableMFADevice", `arn:aws:iam::${ACCOUNT}:user/engineering/bob`)).resolves.toBe("ExplicitlyDenied");
    });

    it("with MFA, acting on other users' MFA is left to the other policies (Force_MFA does not deny it)", async () => {
        await expect(asAlice([policy], "iam:EnableMFADevice", OTHER_USER_ARN, mfa)).resolves.toBe("Allowed");
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

    // Review L4: IAM user names are unique ignoring case, so the configured spelling must not matter.
    it("ignored users are matched ignoring case (config SVC-BACKUP exempts the user svc-backup)", async () => {
        const ignoring = forceMfaPolicy({ ...AWS, ignoredUsers: ["SVC-BACKUP"] });
        const svc = `arn:aws:iam::${ACCOUNT}:user/svc-backup`;
        const asSvc = (action: string, resource: string, context: Record<string, string>) =>
            simulate({
                identityPolicies: [ALLOW_ALL, ignoring],
                principal: svc,
                action,
                resource,
                resourceAccount: ACCOUNT,
                context: { "aws:username": "svc-backup", "aws:PrincipalArn": svc, ...context },
            });
        await expect(asSvc("ec2:DescribeInstances", "*", {})).resolves.toBe("Allowed");
        // Force_MFA leaves an ignored user alone entirely: its enrolment and other-user denies do not apply either.
        await expect(asSvc("iam:EnableMFADevice", svc, {})).resolves.toBe("Allowed");
        await expect(asSvc("iam:GetUser", OTHER_USER_ARN, {})).resolves.toBe("Allowed");
        await expect(asAlice([ignoring], "ec2:DescribeInstances", "*", {})).resolves.toBe("ExplicitlyDenied");
    });

    it("the explicit option lets a user without MFA change its own password, and only that beyond enrolment", async () => {
        const withPasswords = forceMfaPolicy({ ...AWS, allowPasswordChangeWithoutMfa: true });
        await expect(asAlice([withPasswords], "iam:ChangePassword", USER_ARN, noMfa)).resolves.toBe("Allowed");
        await expect(asAlice([withPasswords], "iam:ChangePassword", OTHER_USER_ARN, noMfa, true)).resolves.toBe("ImplicitlyDenied");
        await expect(asAlice([withPasswords], "s3:ListAllMyBuckets", "*", noMfa)).resolves.toBe("ExplicitlyDenied");
    });
});

describe("User_Source_IP_Restrictions", () => {
    const policy = sourceIpRestrictionPolicy({ cidrs: ["195.89.85.64/28", "2001:db8:1234::/48"], accountId: ACCOUNT });
    const call = (context: Record<string, string>) => asAlice([policy], "ec2:DescribeInstances", "*", { "aws:MultiFactorAuthPresent": "true", ...context });

    it.each<[string, Record<string, string>, Decision]>([
        ["from outside the CIDRs", { "aws:SourceIp": "203.0.113.7", "aws:ViaAWSService": "false" }, "ExplicitlyDenied"],
        ["from inside the IPv4 range", { "aws:SourceIp": "195.89.85.67", "aws:ViaAWSService": "false" }, "Allowed"],
        ["from inside the IPv6 range", { "aws:SourceIp": "2001:db8:1234:5::1", "aws:ViaAWSService": "false" }, "Allowed"],
        ["from just outside the IPv4 range", { "aws:SourceIp": "195.89.85.80", "aws:ViaAWSService": "false" }, "ExplicitlyDenied"],
        // Through a VPC endpoint the request has no aws:SourceIp (aws:VpcSourceIp instead), and aws:VpceAccount
        // names the account that owns the endpoint (review H1: a thief's endpoint in their own account got through).
        ["through a VPC endpoint in this account", { "aws:VpcSourceIp": "10.0.1.5", "aws:SourceVpce": "vpce-0own0000000000001", "aws:VpceAccount": ACCOUNT, "aws:ViaAWSService": "false" }, "Allowed"],
        ["through a VPC endpoint in another account", { "aws:VpcSourceIp": "10.9.9.9", "aws:SourceVpce": "vpce-0attacker00000001", "aws:VpceAccount": ATTACKER, "aws:ViaAWSService": "false" }, "ExplicitlyDenied"],
        // Not locked out: an endpoint whose service does not report aws:VpceAccount cannot be told apart from this
        // account's own, and the issue asks that VPC-endpoint users keep working (README states the remaining route).
        ["through a VPC endpoint that reports no owning account", { "aws:VpcSourceIp": "10.0.1.5", "aws:SourceVpce": "vpce-0own0000000000001", "aws:ViaAWSService": "false" }, "Allowed"],
        ["by an AWS service on the user's behalf, with no aws:SourceIp", { "aws:ViaAWSService": "true" }, "Allowed"],
        ["by an AWS service on the user's behalf, from AWS's addresses", { "aws:SourceIp": "52.94.133.131", "aws:ViaAWSService": "true" }, "Allowed"],
    ])("a request %s → %s", async (_what, context, expected) => {
        await expect(call(context)).resolves.toBe(expected);
    });

    it("refuses an empty list of CIDRs (every request would be denied)", () => {
        expect(() => sourceIpRestrictionPolicy({ cidrs: [], accountId: ACCOUNT })).toThrow("at least one CIDR is required");
    });

    it("refuses an account id that is not one (own endpoints would be denied, or the Deny would not match)", () => {
        expect(() => sourceIpRestrictionPolicy({ cidrs: ["195.89.85.64/28"], accountId: "" })).toThrow('accountId must be a 12-digit AWS account id, not ""');
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

    // Review M2: Config_Write could rewrite Airlock's own rules (tagged airlock:managed=true) or their tag.
    const airlockRule = `arn:aws:config:eu-west-1:${ACCOUNT}:config-rule/config-rule-airlock1`;
    const airlocks = { "aws:ResourceTag/airlock:managed": "true" };
    it.each<[string, string, string, Record<string, string | string[]>, Decision]>([
        ["updating Airlock's own rule", "config:PutConfigRule", airlockRule, airlocks, "ExplicitlyDenied"],
        ["tagging Airlock's own rule (any tag)", "config:TagResource", airlockRule, { ...airlocks, "aws:TagKeys": ["team"], "aws:RequestTag/team": "x" }, "ExplicitlyDenied"],
        ["turning Airlock's tag off on its rule", "config:TagResource", airlockRule, { ...airlocks, "aws:TagKeys": ["airlock:managed"], "aws:RequestTag/airlock:managed": "false" }, "ExplicitlyDenied"],
        ["creating a rule tagged airlock:managed", "config:PutConfigRule", rule, { "aws:TagKeys": ["airlock:managed"], "aws:RequestTag/airlock:managed": "true" }, "ExplicitlyDenied"],
        ["tagging another rule airlock:managed", "config:TagResource", rule, { "aws:TagKeys": ["airlock:managed"], "aws:RequestTag/airlock:managed": "true" }, "ExplicitlyDenied"],
        ["tagging another rule Airlock:Managed (the key in other case)", "config:TagResource", rule, { "aws:TagKeys": ["Airlock:Managed"], "aws:RequestTag/Airlock:Managed": "true" }, "ExplicitlyDenied"],
        ["updating another rule (tagged otherwise)", "config:PutConfigRule", rule, { "aws:ResourceTag/team": "x" }, "Allowed"],
        ["creating a rule with other tags", "config:PutConfigRule", rule, { "aws:TagKeys": ["team"], "aws:RequestTag/team": "x" }, "Allowed"],
        ["tagging another rule with other tags", "config:TagResource", rule, { "aws:TagKeys": ["team"], "aws:RequestTag/team": "x" }, "Allowed"],
    ])("%s → %s", async (_what, action, resource, context, expected) => {
        await expect(asAlice([policy], action, resource, context, true)).resolves.toBe(expected);
    });

    // Config_Write does not allow UntagResource; its Deny still holds when another policy does.
    it.each<[string, string, Record<string, string | string[]>, Decision]>([
        ["any tag from Airlock's own rule", airlockRule, { ...airlocks, "aws:TagKeys": ["team"] }, "ExplicitlyDenied"],
        ["airlock:managed from another rule", rule, { "aws:TagKeys": ["airlock:managed"] }, "ExplicitlyDenied"],
        ["another tag from another rule", rule, { "aws:TagKeys": ["team"] }, "Allowed"],
    ])("beside a policy that allows everything, untagging %s (%s, %j) → %s", async (_what, resource, context, expected) => {
        await expect(asAlice([policy], "config:UntagResource", resource, context)).resolves.toBe(expected);
    });
});

describe("names", () => {
    it("are CloudKestrel's, which existing accounts and the audit look for", () => {
        expect(GROUP_POLICY_NAMES).toEqual({ forceMfa: "Force_MFA", sourceIp: "User_Source_IP_Restrictions", configWrite: "Config_Write" });
    });
});
