/**
 * The AWS Config catalog and its remediation policies (policies/configRules.ts): the catalog against
 * AWS's pages (written down here as the source of truth), the particular demands, the
 * parameter validation's messages, and in the IAM simulator the automation role (each runbook's calls
 * allowed on the right resources, nothing beyond), its trust policy and the delivery bucket's policy.
 */
import {
    AUTOMATION_ASSUME_ROLE_PARAMETER,
    MANAGED_RULES,
    REMEDIATION_DEFAULTS,
    RUNBOOKS,
    configDeliveryBucketPolicy,
    findManagedRule,
    remediationRoleNeeded,
    remediationRolePolicy,
    remediationTrustPolicy,
    remediationUnavailable,
    ruleParameterProblems,
    ruleParameterValues,
    type ManagedRuleSpec,
    type RemediationContext,
    type RemediationSpec,
} from "../policies/configRules";
import type { IdentityPolicyDocument } from "../policies/document";
import { simulate, type Decision } from "./support/iamSimulator";

const ACCOUNT = "111122223333";
const OTHER_ACCOUNT = "444455556666";
const REGION = "eu-west-1";
const TRAIL_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0b7c5e2a-4d1f-4c3e-9a8b-6f2d1e0c9b7a`;
const OTHER_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/9f8e7d6c-5b4a-4321-8fed-cba987654321`;
const CTX: RemediationContext = { partition: "aws", region: REGION, accountId: ACCOUNT, trailKmsKeyArn: TRAIL_KEY };
const NO_KEY: RemediationContext = { partition: "aws", region: REGION, accountId: ACCOUNT };

function rule(sourceIdentifier: string): ManagedRuleSpec {
    const found = findManagedRule(sourceIdentifier);
    if (found === undefined) {
        throw new Error(`no rule ${sourceIdentifier}`);
    }
    return found;
}

function remediationOf(sourceIdentifier: string): RemediationSpec {
    const found = rule(sourceIdentifier).remediation;
    if (found === undefined) {
        throw new Error(`${sourceIdentifier} has no remediation`);
    }
    return found;
}

const actionsOf = (document: IdentityPolicyDocument): string[] => [...new Set(document.Statement.flatMap((s) => [s.Action].flat()))].sort();

// ---------------------------------------------------------------------------------------------------
// AWS's pages, written down: the source of truth the catalog is checked against
// ---------------------------------------------------------------------------------------------------

const CONFIG_GUIDE = "https://docs.aws.amazon.com/config/latest/developerguide";

/** Each rule's page: its name (slug), trigger, resource types and parameters (as of the pages read for issue 9). */
const RULE_PAGES: Record<string, { page: string; trigger: ManagedRuleSpec["trigger"]; resourceTypes?: string[]; parameters: string[] }> = {
    IAM_ROOT_ACCESS_KEY_CHECK: { page: "iam-root-access-key-check", trigger: "periodic", parameters: [] },
    IAM_USER_MFA_ENABLED: { page: "iam-user-mfa-enabled", trigger: "periodic", resourceTypes: ["AWS::IAM::User"], parameters: [] },
    IAM_USER_UNUSED_CREDENTIALS_CHECK: { page: "iam-user-unused-credentials-check", trigger: "periodic", resourceTypes: ["AWS::IAM::User"], parameters: ["maxCredentialUsageAge"] },
    IAM_USER_NO_POLICIES_CHECK: { page: "iam-user-no-policies-check", trigger: "change", resourceTypes: ["AWS::IAM::User"], parameters: [] },
    IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS: { page: "iam-policy-no-statements-with-admin-access", trigger: "change", resourceTypes: ["AWS::IAM::Policy"], parameters: ["excludePermissionBoundaryPolicy"] },
    IAM_USER_GROUP_MEMBERSHIP_CHECK: { page: "iam-user-group-membership-check", trigger: "change", resourceTypes: ["AWS::IAM::User"], parameters: ["groupNames"] },
    S3_BUCKET_PUBLIC_READ_PROHIBITED: { page: "s3-bucket-public-read-prohibited", trigger: "both", resourceTypes: ["AWS::S3::Bucket"], parameters: [] },
    S3_BUCKET_PUBLIC_WRITE_PROHIBITED: { page: "s3-bucket-public-write-prohibited", trigger: "both", resourceTypes: ["AWS::S3::Bucket"], parameters: [] },
    EC2_IMDSV2_CHECK: { page: "ec2-imdsv2-check", trigger: "change", resourceTypes: ["AWS::EC2::Instance"], parameters: [] },
    ENCRYPTED_VOLUMES: { page: "encrypted-volumes", trigger: "change", resourceTypes: ["AWS::EC2::Volume"], parameters: ["kmsId"] },
    INCOMING_SSH_DISABLED: { page: "restricted-ssh", trigger: "both", resourceTypes: ["AWS::EC2::SecurityGroup"], parameters: [] },
    RESTRICTED_INCOMING_TRAFFIC: {
        page: "restricted-common-ports",
        trigger: "both",
        resourceTypes: ["AWS::EC2::SecurityGroup"],
        parameters: ["blockedPort1", "blockedPort2", "blockedPort3", "blockedPort4", "blockedPort5", "blockedPorts"],
    },
    EC2_INSTANCE_NO_PUBLIC_IP: { page: "ec2-instance-no-public-ip", trigger: "change", resourceTypes: ["AWS::EC2::Instance"], parameters: [] },
    MULTI_REGION_CLOUD_TRAIL_ENABLED: {
        page: "multi-region-cloudtrail-enabled",
        trigger: "periodic",
        parameters: ["s3BucketName", "snsTopicArn", "cloudWatchLogsLogGroupArn", "includeManagementEvents", "readWriteType"],
    },
    CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED: { page: "cloud-trail-log-file-validation-enabled", trigger: "periodic", resourceTypes: ["AWS::CloudTrail::Trail"], parameters: [] },
    CLOUD_TRAIL_ENCRYPTION_ENABLED: { page: "cloud-trail-encryption-enabled", trigger: "periodic", resourceTypes: ["AWS::CloudTrail::Trail"], parameters: [] },
    ROOT_ACCOUNT_MFA_ENABLED: { page: "root-account-mfa-enabled", trigger: "periodic", parameters: [] },
    IAM_PASSWORD_POLICY: {
        page: "iam-password-policy",
        trigger: "periodic",
        parameters: ["RequireUppercaseCharacters", "RequireLowercaseCharacters", "RequireSymbols", "RequireNumbers", "MinimumPasswordLength", "PasswordReusePrevention", "MaxPasswordAge"],
    },
    ACCESS_KEYS_ROTATED: { page: "access-keys-rotated", trigger: "periodic", resourceTypes: ["AWS::IAM::User"], parameters: ["maxAccessKeyAge"] },
};

const RUNBOOK_GUIDE = "https://docs.aws.amazon.com/systems-manager-automation-runbooks/latest/userguide";
const SSM_BOILERPLATE = ["ssm:GetAutomationExecution", "ssm:StartAutomationExecution"];

/**
 * Each runbook's page: its parameters (required, optional) and "Required IAM permissions", as listed,
 * and where Airlock deliberately differs from the list (`grantedInstead`), with the reason.
 */
const RUNBOOK_PAGES: Record<
    string,
    { page: string; required: string[]; optional: string[]; documentedPermissions: string[]; grantedInstead?: { actions: string[]; because: string } }
> = {
    // automation-aws-set-iam-policy.html
    "AWSConfigRemediation-SetIAMPasswordPolicy": {
        page: "automation-aws-set-iam-policy",
        required: ["AutomationAssumeRole"],
        optional: [
            "AllowUsersToChangePassword",
            "HardExpiry",
            "MaxPasswordAge",
            "MinimumPasswordLength",
            "PasswordReusePrevention",
            "RequireLowercaseCharacters",
            "RequireNumbers",
            "RequireSymbols",
            "RequireUppercaseCharacters",
        ],
        documentedPermissions: ["ssm:StartAutomationExecution", "ssm:GetAutomationExecution", "iam:GetAccountPasswordPolicy", "iam:UpdateAccountPasswordPolicy"],
    },
    // automation-aws-revoke-iam-user.html
    "AWSConfigRemediation-RevokeUnusedIAMUserCredentials": {
        page: "automation-aws-revoke-iam-user",
        required: ["AutomationAssumeRole", "IAMResourceId", "MaxCredentialUsageAge"],
        optional: [],
        documentedPermissions: [
            "ssm:StartAutomationExecution",
            "ssm:GetAutomationExecution",
            "config:ListDiscoveredResources",
            "iam:DeleteAccessKey",
            "iam:DeleteLoginProfile",
            "iam:GetAccessKeyLastUsed",
            "iam:GetLoginProfile",
            "iam:GetUser",
            "iam:ListAccessKeys",
            "iam:UpdateAccessKey",
        ],
    },
    // automation-aws-block-public-s3-bucket.html
    "AWSConfigRemediation-ConfigureS3BucketPublicAccessBlock": {
        page: "automation-aws-block-public-s3-bucket",
        required: ["AutomationAssumeRole", "BucketName"],
        optional: ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"],
        documentedPermissions: ["ssm:StartAutomationExecution", "ssm:GetAutomationExecution", "s3:GetAccountPublicAccessBlock", "s3:PutAccountPublicAccessBlock"],
        grantedInstead: {
            actions: ["s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"],
            because: "the page copies the account-level runbook's list; the steps call the bucket's PutPublicAccessBlock/GetPublicAccessBlock",
        },
    },
    // automation-aws-enforce-ec2-imdsv2.html (later document versions add an optional HttpPutResponseHopLimit)
    "AWSConfigRemediation-EnforceEC2InstanceIMDSv2": {
        page: "automation-aws-enforce-ec2-imdsv2",
        required: ["AutomationAssumeRole", "InstanceId"],
        optional: ["HttpPutResponseHopLimit"],
        documentedPermissions: ["ssm:StartAutomationExecution", "ssm:GetAutomationExecution", "ec2:DescribeInstances", "ec2:ModifyInstanceMetadataOptions"],
    },
    // automation-aws-enable-ctrail-log-validation.html
    "AWSConfigRemediation-EnableCloudTrailLogFileValidation": {
        page: "automation-aws-enable-ctrail-log-validation",
        required: ["AutomationAssumeRole", "TrailName"],
        optional: [],
        documentedPermissions: ["ssm:StartAutomationExecution", "ssm:GetAutomationExecution", "cloudtrail:DescribeTrails", "cloudtrail:UpdateTrail"],
    },
    // automation-aws-ctrail-kms.html
    "AWSConfigRemediation-EnableCloudTrailEncryptionWithKMS": {
        page: "automation-aws-ctrail-kms",
        required: ["AutomationAssumeRole", "KMSKeyId", "TrailName"],
        optional: [],
        documentedPermissions: ["ssm:StartAutomationExecution", "ssm:GetAutomationExecution", "cloudtrail:GetTrail", "cloudtrail:UpdateTrail"],
        grantedInstead: {
            actions: ["cloudtrail:GetTrail", "cloudtrail:UpdateTrail", "kms:DescribeKey"],
            because: 'its step "gathers the ARN for the customer managed key" (KMS DescribeKey), which the list omits',
        },
    },
    // automation-aws-detach-iam-policy.html
    "AWSConfigRemediation-DetachIAMPolicy": {
        page: "automation-aws-detach-iam-policy",
        required: ["AutomationAssumeRole", "IAMResourceId"],
        optional: [],
        documentedPermissions: [
            "ssm:StartAutomationExecution",
            "ssm:GetAutomationExecution",
            "config:GetResourceConfigHistory",
            "config:ListDiscoveredResources",
            "iam:DetachGroupPolicy",
            "iam:DetachRolePolicy",
            "iam:DetachUserPolicy",
            "iam:GetPolicy",
            "iam:ListEntitiesForPolicy",
        ],
    },
    // automation-aws-remove-user-policies.html (PolicyType: "Required", default All)
    "AWSConfigRemediation-RemoveUserPolicies": {
        page: "automation-aws-remove-user-policies",
        required: ["AutomationAssumeRole", "IAMUserID", "PolicyType"],
        optional: [],
        documentedPermissions: [
            "ssm:StartAutomationExecution",
            "ssm:GetAutomationExecution",
            "iam:DeleteUserPolicy",
            "iam:DetachUserPolicy",
            "iam:ListAttachedUserPolicies",
            "iam:ListUserPolicies",
            "iam:ListUsers",
        ],
    },
};

const EXPECTED: Record<string, { scope: ManagedRuleSpec["scope"]; runbook?: string; automatic?: boolean }> = {
    IAM_ROOT_ACCESS_KEY_CHECK: { scope: "global" },
    IAM_USER_MFA_ENABLED: { scope: "global" },
    IAM_USER_UNUSED_CREDENTIALS_CHECK: { scope: "global", runbook: "AWSConfigRemediation-RevokeUnusedIAMUserCredentials", automatic: true },
    IAM_USER_NO_POLICIES_CHECK: { scope: "global", runbook: "AWSConfigRemediation-RemoveUserPolicies", automatic: false },
    IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS: { scope: "global", runbook: "AWSConfigRemediation-DetachIAMPolicy", automatic: false },
    IAM_USER_GROUP_MEMBERSHIP_CHECK: { scope: "global" },
    S3_BUCKET_PUBLIC_READ_PROHIBITED: { scope: "regional", runbook: "AWSConfigRemediation-ConfigureS3BucketPublicAccessBlock", automatic: true },
    S3_BUCKET_PUBLIC_WRITE_PROHIBITED: { scope: "regional", runbook: "AWSConfigRemediation-ConfigureS3BucketPublicAccessBlock", automatic: true },
    EC2_IMDSV2_CHECK: { scope: "regional", runbook: "AWSConfigRemediation-EnforceEC2InstanceIMDSv2", automatic: true },
    ENCRYPTED_VOLUMES: { scope: "regional" },
    INCOMING_SSH_DISABLED: { scope: "regional" },
    RESTRICTED_INCOMING_TRAFFIC: { scope: "regional" },
    EC2_INSTANCE_NO_PUBLIC_IP: { scope: "regional" },
    MULTI_REGION_CLOUD_TRAIL_ENABLED: { scope: "global" },
    CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED: { scope: "regional", runbook: "AWSConfigRemediation-EnableCloudTrailLogFileValidation", automatic: true },
    CLOUD_TRAIL_ENCRYPTION_ENABLED: { scope: "regional", runbook: "AWSConfigRemediation-EnableCloudTrailEncryptionWithKMS", automatic: false },
    ROOT_ACCOUNT_MFA_ENABLED: { scope: "global" },
    IAM_PASSWORD_POLICY: { scope: "global", runbook: "AWSConfigRemediation-SetIAMPasswordPolicy", automatic: true },
    ACCESS_KEYS_ROTATED: { scope: "global", runbook: "AWSConfigRemediation-RevokeUnusedIAMUserCredentials", automatic: false },
};

// ---------------------------------------------------------------------------------------------------
// The catalog
// ---------------------------------------------------------------------------------------------------

describe("the managed-rule catalog", () => {
    it("holds exactly the issue's 19 rules, each once, each with its own rule name", () => {
        const ids = MANAGED_RULES.map((r) => r.sourceIdentifier);
        expect(ids).toHaveLength(19);
        expect(new Set(ids).size).toBe(19);
        expect([...ids].sort()).toEqual(Object.keys(EXPECTED).sort());
        expect(new Set(MANAGED_RULES.map((r) => r.ruleName)).size).toBe(19);
    });

    it.each(MANAGED_RULES.map((r) => [r.sourceIdentifier, r] as const))("%s matches AWS's page", (id, spec) => {
        const page = RULE_PAGES[id]!;
        expect(spec.documentation).toBe(`${CONFIG_GUIDE}/${page.page}.html`);
        expect(spec.ruleName).toBe(`airlock-${page.page}`);
        expect(spec.ruleName.length).toBeLessThanOrEqual(128);
        expect(spec.trigger).toBe(page.trigger);
        expect(spec.resourceTypes).toEqual(page.resourceTypes);
        const names = [...spec.parameters, ...(spec.optionalParameters ?? [])].map((p) => p.name);
        expect([...names].sort()).toEqual([...page.parameters].sort());
        expect(spec.scope).toBe(EXPECTED[id]!.scope);
        expect(spec.description).toMatch(/^[A-Z].*\.$/);
    });

    it.each(MANAGED_RULES.map((r) => [r.sourceIdentifier, r] as const))("%s: runs periodically exactly when its trigger says so", (_id, spec) => {
        if (spec.trigger === "change") {
            expect(spec.maximumExecutionFrequency).toBeUndefined();
            expect(spec.resourceTypes?.length).toBeGreaterThan(0);
        } else {
            expect(spec.maximumExecutionFrequency).toBe("TwentyFour_Hours");
        }
    });

    it.each(MANAGED_RULES.flatMap((r) => r.parameters.map((p) => [`${r.sourceIdentifier}.${p.name}`, r, p] as const)))(
        "%s: Airlock's value has the parameter's type, lies in its documented range and passes validation",
        (_name, spec, p) => {
            const jsType = { int: "number", boolean: "boolean", string: "string", csv: "string" }[p.type];
            expect(typeof p.default).toBe(jsType);
            if (p.type === "int") {
                expect(Number.isInteger(p.default)).toBe(true);
                expect(p.default as number).toBeGreaterThanOrEqual(p.min ?? -Infinity);
                expect(p.default as number).toBeLessThanOrEqual(p.max ?? Infinity);
            }
            if (p.allowedValues !== undefined) {
                expect(p.allowedValues).toContain(p.default);
            }
            expect(ruleParameterProblems(spec.sourceIdentifier, { [p.name]: p.default })).toEqual([]);
        },
    );

    it("sends strong values: password length 14, reuse 24, expiry 90 days and every character class; 45 days unused; keys 90 days", () => {
        expect(ruleParameterValues(rule("IAM_PASSWORD_POLICY"))).toEqual({
            RequireUppercaseCharacters: true,
            RequireLowercaseCharacters: true,
            RequireSymbols: true,
            RequireNumbers: true,
            MinimumPasswordLength: 14,
            PasswordReusePrevention: 24,
            MaxPasswordAge: 90,
        });
        expect(ruleParameterValues(rule("IAM_USER_UNUSED_CREDENTIALS_CHECK"))).toEqual({ maxCredentialUsageAge: 45 });
        expect(ruleParameterValues(rule("ACCESS_KEYS_ROTATED"))).toEqual({ maxAccessKeyAge: 90 });
        expect(ruleParameterValues(rule("IAM_USER_GROUP_MEMBERSHIP_CHECK"))).toEqual({ groupNames: "DevOps,SecurityAudit" });
        expect(ruleParameterValues(rule("MULTI_REGION_CLOUD_TRAIL_ENABLED"))).toEqual({ includeManagementEvents: true, readWriteType: "ALL" });
    });

    it("blocks Airlock's admin and database ports, not AWS's FTP/mSQL defaults (SSH is INCOMING_SSH_DISABLED's)", () => {
        expect(ruleParameterValues(rule("RESTRICTED_INCOMING_TRAFFIC"))).toEqual({ blockedPort1: 3389, blockedPort2: 3306, blockedPort3: 5432, blockedPort4: 6379, blockedPort5: 27017 });
    });

    it("lets a stack's overrides replace Airlock's values and add documented optional parameters", () => {
        expect(ruleParameterValues(rule("IAM_USER_UNUSED_CREDENTIALS_CHECK"), { maxCredentialUsageAge: 30 })).toEqual({ maxCredentialUsageAge: 30 });
        expect(ruleParameterValues(rule("ENCRYPTED_VOLUMES"), { kmsId: "alias/ebs" })).toEqual({ kmsId: "alias/ebs" });
    });

    it("says why for every rule without a remediation and every remediation that is not automatic", () => {
        for (const spec of MANAGED_RULES) {
            if (spec.remediation === undefined) {
                expect([spec.sourceIdentifier, spec.why?.startsWith("No remediation")]).toEqual([spec.sourceIdentifier, true]);
            } else {
                expect([spec.sourceIdentifier, (spec.remediation.why ?? "").length > 40]).toEqual([spec.sourceIdentifier, true]);
            }
        }
    });
});

// ---------------------------------------------------------------------------------------------------
// Remediations against the runbooks' pages
// ---------------------------------------------------------------------------------------------------

const REMEDIATED = MANAGED_RULES.filter((r) => r.remediation !== undefined);

describe("remediations", () => {
    it.each(Object.entries(EXPECTED).map(([id, e]) => [id, e] as const))("%s: runbook and automatic-by-default as the issue says", (id, expected) => {
        const spec = rule(id);
        expect(spec.remediation?.documentName).toBe(expected.runbook);
        expect(spec.remediation?.automaticByDefault).toBe(expected.automatic);
    });

    it("uses only runbooks whose pages are written down here, and cites each page", () => {
        for (const spec of REMEDIATED) {
            const page = RUNBOOK_PAGES[spec.remediation!.documentName];
            expect([spec.sourceIdentifier, page !== undefined]).toEqual([spec.sourceIdentifier, true]);
            expect(spec.remediation!.documentation).toBe(`${RUNBOOK_GUIDE}/${page!.page}.html`);
        }
        expect([...RUNBOOKS.keys()].sort()).toEqual(Object.keys(RUNBOOK_PAGES).sort());
    });

    it.each(REMEDIATED.map((r) => [r.sourceIdentifier, r.remediation!] as const))(
        "%s: the role, the resource id and the static values cover the runbook's required parameters, and name only documented ones",
        (_id, remediation) => {
            const page = RUNBOOK_PAGES[remediation.documentName]!;
            const statics = Object.keys(remediation.staticParameters({}, CTX));
            const given = [AUTOMATION_ASSUME_ROLE_PARAMETER, ...(remediation.resourceIdParameter === undefined ? [] : [remediation.resourceIdParameter]), ...statics];
            expect(new Set(given).size).toBe(given.length);
            for (const required of page.required) {
                expect(given).toContain(required);
            }
            for (const name of given) {
                expect([...page.required, ...page.optional]).toContain(name);
            }
            for (const value of Object.values(remediation.staticParameters({}, CTX))) {
                expect([value].flat().every((v) => typeof v === "string" && v !== "")).toBe(true);
            }
        },
    );

    it.each(Object.entries(RUNBOOK_PAGES).map(([name, page]) => [name, page] as const))(
        "%s: the role is granted its documented permissions (less SSM's start/get boilerplate), or the documented deviation",
        (documentName, page) => {
            const spec = REMEDIATED.find((r) => r.remediation!.documentName === documentName)!;
            const granted = actionsOf(remediationRolePolicy([{ rule: spec }], CTX));
            const expected = page.grantedInstead?.actions ?? page.documentedPermissions.filter((a) => !SSM_BOILERPLATE.includes(a));
            expect(granted).toEqual([...expected].sort());
            expect(granted.some((a) => a.startsWith("ssm:"))).toBe(false);
        },
    );

    it("passes SetIAMPasswordPolicy every value of the rule explicitly, the stack's overrides included", () => {
        const remediation = remediationOf("IAM_PASSWORD_POLICY");
        const defaults = ruleParameterValues(rule("IAM_PASSWORD_POLICY"));
        expect(remediation.staticParameters(defaults, CTX)).toEqual({
            RequireUppercaseCharacters: "true",
            RequireLowercaseCharacters: "true",
            RequireSymbols: "true",
            RequireNumbers: "true",
            MinimumPasswordLength: "14",
            PasswordReusePrevention: "24",
            MaxPasswordAge: "90",
            AllowUsersToChangePassword: "true",
            HardExpiry: "false",
        });
        const overridden = ruleParameterValues(rule("IAM_PASSWORD_POLICY"), { MinimumPasswordLength: 20, RequireSymbols: false, MaxPasswordAge: 365 });
        expect(remediation.staticParameters(overridden, CTX)).toMatchObject({ MinimumPasswordLength: "20", RequireSymbols: "false", MaxPasswordAge: "365", PasswordReusePrevention: "24" });
        // Every parameter the rule checks reaches the runbook.
        for (const p of rule("IAM_PASSWORD_POLICY").parameters) {
            expect(Object.keys(remediation.staticParameters(defaults, CTX))).toContain(p.name);
        }
    });

    it("passes RevokeUnusedIAMUserCredentials the rule's own age", () => {
        const unused = remediationOf("IAM_USER_UNUSED_CREDENTIALS_CHECK");
        expect(unused.staticParameters(ruleParameterValues(rule("IAM_USER_UNUSED_CREDENTIALS_CHECK")), CTX)).toEqual({ MaxCredentialUsageAge: "45" });
        expect(unused.staticParameters(ruleParameterValues(rule("IAM_USER_UNUSED_CREDENTIALS_CHECK"), { maxCredentialUsageAge: 30 }), CTX)).toEqual({ MaxCredentialUsageAge: "30" });
        const keys = remediationOf("ACCESS_KEYS_ROTATED");
        expect(keys.staticParameters(ruleParameterValues(rule("ACCESS_KEYS_ROTATED"), { maxAccessKeyAge: 60 }), CTX)).toEqual({ MaxCredentialUsageAge: "60" });
    });

    it("turns on all four Block Public Access settings explicitly for public buckets", () => {
        for (const id of ["S3_BUCKET_PUBLIC_READ_PROHIBITED", "S3_BUCKET_PUBLIC_WRITE_PROHIBITED"]) {
            expect(remediationOf(id).staticParameters({}, CTX)).toEqual({ BlockPublicAcls: "true", IgnorePublicAcls: "true", BlockPublicPolicy: "true", RestrictPublicBuckets: "true" });
        }
    });

    it("never uses AWSConfigRemediation-RemoveUnrestrictedSourceIngressRules: unrestricted ingress is detect-only, and says why", () => {
        expect(MANAGED_RULES.map((r) => r.remediation?.documentName ?? "")).not.toContain("AWSConfigRemediation-RemoveUnrestrictedSourceIngressRules");
        expect(JSON.stringify(remediationRolePolicy(REMEDIATED.map((r) => ({ rule: r })), CTX))).not.toMatch(/RevokeSecurityGroupIngress|ec2:\*/);
        for (const id of ["INCOMING_SSH_DISABLED", "RESTRICTED_INCOMING_TRAFFIC"]) {
            expect(rule(id).remediation).toBeUndefined();
            expect(rule(id).why).toContain("RemoveUnrestrictedSourceIngressRules");
            expect(rule(id).why).toContain("443");
        }
    });

    it("keeps the runbooks that detach or revoke what people depend on off by default", () => {
        for (const id of ["IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS", "IAM_USER_NO_POLICIES_CHECK", "ACCESS_KEYS_ROTATED"]) {
            expect(remediationOf(id).automaticByDefault).toBe(false);
        }
    });

    it("makes the CloudTrail encryption runbook's need for the trail key explicit and checkable", () => {
        const encryption = remediationOf("CLOUD_TRAIL_ENCRYPTION_ENABLED");
        expect(encryption.needsTrailKey).toBe(true);
        expect(REMEDIATED.filter((r) => r.remediation!.needsTrailKey === true).map((r) => r.sourceIdentifier)).toEqual(["CLOUD_TRAIL_ENCRYPTION_ENABLED"]);
        expect(remediationUnavailable(encryption, CTX)).toBeUndefined();
        expect(remediationUnavailable(encryption, NO_KEY)).toContain("no trail in this stack");
        expect(remediationUnavailable(encryption, { ...CTX, trailKmsKeyArn: "alias/airlock-trail" })).toContain("needs the trail key's ARN");
        expect(encryption.staticParameters({}, CTX)).toEqual({ KMSKeyId: TRAIL_KEY });
        expect(() => encryption.staticParameters({}, NO_KEY)).toThrow("no trail in this stack");
        expect(() => remediationRolePolicy([{ rule: rule("CLOUD_TRAIL_ENCRYPTION_ENABLED") }], NO_KEY)).toThrow(/^CLOUD_TRAIL_ENCRYPTION_ENABLED: /);
        for (const spec of REMEDIATED.filter((r) => r.remediation!.needsTrailKey !== true)) {
            expect([spec.sourceIdentifier, remediationUnavailable(spec.remediation!, NO_KEY)]).toEqual([spec.sourceIdentifier, undefined]);
        }
    });

    it("sets retries and concurrency deliberately, within Config's limits", () => {
        expect(REMEDIATION_DEFAULTS).toEqual({ maximumAutomaticAttempts: 3, retryAttemptSeconds: 300, concurrentExecutionRatePercentage: 10, errorPercentage: 10 });
        expect(REMEDIATION_DEFAULTS.maximumAutomaticAttempts).toBeGreaterThanOrEqual(1);
        expect(REMEDIATION_DEFAULTS.maximumAutomaticAttempts).toBeLessThanOrEqual(25);
        expect(REMEDIATION_DEFAULTS.retryAttemptSeconds).toBeLessThanOrEqual(2678000);
    });
});

describe("the automation role's policy", () => {
    const all = remediationRolePolicy(REMEDIATED.map((r) => ({ rule: r })), CTX);

    it("is an identity policy: every statement has a Resource and no Principal, and starts its Sid with its runbook's", () => {
        const prefixes = [...RUNBOOKS.values()].map((r) => r.sid);
        for (const statement of all.Statement) {
            expect(statement.Resource).toBeDefined();
            expect("Principal" in statement).toBe(false);
            expect(statement.Effect).toBe("Allow");
            expect(prefixes.filter((p) => statement.Sid.startsWith(p))).toHaveLength(1);
        }
        expect(new Set(all.Statement.map((s) => s.Sid)).size).toBe(all.Statement.length);
        // Every runbook present, each once.
        expect(new Set(all.Statement.map((s) => prefixes.find((p) => s.Sid.startsWith(p)))).size).toBe(RUNBOOKS.size);
    });

    it("holds a runbook shared by two rules once", () => {
        const s3 = remediationRolePolicy([{ rule: rule("S3_BUCKET_PUBLIC_READ_PROHIBITED") }, { rule: rule("S3_BUCKET_PUBLIC_WRITE_PROHIBITED") }], CTX);
        expect(s3.Statement.map((s) => s.Sid)).toEqual(["ConfigureS3BucketPublicAccessBlock"]);
    });

    it("ignores rules without a remediation, and refuses to be built for none: then no role is created", () => {
        const withDetectOnly = remediationRolePolicy([{ rule: rule("INCOMING_SSH_DISABLED") }, { rule: rule("EC2_IMDSV2_CHECK") }], CTX);
        expect(actionsOf(withDetectOnly)).toEqual(["ec2:DescribeInstances", "ec2:ModifyInstanceMetadataOptions"]);
        expect(remediationRoleNeeded([])).toBe(false);
        expect(remediationRoleNeeded([{ rule: rule("ROOT_ACCOUNT_MFA_ENABLED") }])).toBe(false);
        expect(remediationRoleNeeded([{ rule: rule("IAM_PASSWORD_POLICY") }])).toBe(true);
        expect(() => remediationRolePolicy([], CTX)).toThrow("create none");
        expect(() => remediationRolePolicy([{ rule: rule("ROOT_ACCOUNT_MFA_ENABLED") }], CTX)).toThrow("create none");
    });

    it("uses the partition, account and region it is given", () => {
        const cn = JSON.stringify(remediationRolePolicy(REMEDIATED.map((r) => ({ rule: r })), { ...CTX, partition: "aws-cn", region: "cn-north-1", trailKmsKeyArn: `arn:aws-cn:kms:cn-north-1:${ACCOUNT}:key/abc` }));
        expect(cn).not.toContain("arn:aws:");
        expect(cn).toContain(`arn:aws-cn:ec2:cn-north-1:${ACCOUNT}:instance/*`);
    });
});

// ---------------------------------------------------------------------------------------------------
// Validating a stack's overrides
// ---------------------------------------------------------------------------------------------------

describe("ruleParameterProblems", () => {
    it.each<[string, string, Record<string, unknown>, string]>([
        ["an unknown parameter, with the rule's parameters", "IAM_PASSWORD_POLICY", { MinimumLength: 14 }, "`MinimumLength` is not a parameter of IAM_PASSWORD_POLICY. Its parameters: RequireUppercaseCharacters"],
        ["a typo, with a suggestion", "IAM_USER_UNUSED_CREDENTIALS_CHECK", { maxCredentialUseAge: 30 }, "`maxCredentialUseAge` is not a parameter of IAM_USER_UNUSED_CREDENTIALS_CHECK. Did you mean `maxCredentialUsageAge`?"],
        ["the right name in the wrong case", "IAM_PASSWORD_POLICY", { minimumPasswordLength: 14 }, "`minimumPasswordLength` is not a parameter of IAM_PASSWORD_POLICY: AWS's names are case-sensitive. Write `MinimumPasswordLength`."],
        ["a parameter for a rule that takes none", "ROOT_ACCOUNT_MFA_ENABLED", { enabled: true }, "ROOT_ACCOUNT_MFA_ENABLED takes no parameters; remove `enabled`."],
        ["a quoted number", "IAM_USER_UNUSED_CREDENTIALS_CHECK", { maxCredentialUsageAge: "30" }, '`maxCredentialUsageAge` must be a number, not the string "30". Write it without quotes: 30.'],
        ["a fraction", "ACCESS_KEYS_ROTATED", { maxAccessKeyAge: 90.5 }, "`maxAccessKeyAge` must be a whole number, not 90.5."],
        ["a word for a number", "ACCESS_KEYS_ROTATED", { maxAccessKeyAge: "ninety" }, '`maxAccessKeyAge` must be a whole number such as 90, not the string "ninety".'],
        ["a length below IAM's minimum", "IAM_PASSWORD_POLICY", { MinimumPasswordLength: 4 }, "`MinimumPasswordLength` must be between 6 and 128 characters, not 4."],
        ["a reuse count above IAM's maximum", "IAM_PASSWORD_POLICY", { PasswordReusePrevention: 30 }, "`PasswordReusePrevention` must be between 1 and 24 passwords, not 30."],
        ["an age of zero days", "IAM_USER_UNUSED_CREDENTIALS_CHECK", { maxCredentialUsageAge: 0 }, "`maxCredentialUsageAge` must be at least 1 days, not 0."],
        ["a port beyond TCP's", "RESTRICTED_INCOMING_TRAFFIC", { blockedPort1: 70000 }, "`blockedPort1` must be between 0 and 65535, not 70000."],
        ["a quoted boolean", "IAM_PASSWORD_POLICY", { RequireSymbols: "True" }, '`RequireSymbols` must be true or false, not the string "True". Write it without quotes: true.'],
        ["a number for a boolean", "IAM_PASSWORD_POLICY", { RequireSymbols: 1 }, "`RequireSymbols` must be true or false, not the number 1."],
        ["a number for a string", "ENCRYPTED_VOLUMES", { kmsId: 1234 }, '`kmsId` must be a string, not the number 1234. Quote it: "1234".'],
        ["a value outside the allowed set", "MULTI_REGION_CLOUD_TRAIL_ENABLED", { readWriteType: "All" }, '`readWriteType` must be one of ReadOnly, WriteOnly, ALL, not "All". Did you mean "ALL"?'],
        ["a list for a CSV", "IAM_USER_GROUP_MEMBERSHIP_CHECK", { groupNames: ["DevOps", "Admins"] }, '`groupNames` must be one comma-separated string, not a list. Write it as "DevOps,Admins".'],
        ["an empty CSV item", "IAM_USER_GROUP_MEMBERSHIP_CHECK", { groupNames: "DevOps,,Admins" }, '`groupNames` has an empty item in "DevOps,,Admins"; remove the extra comma.'],
        ["a port list with a name in it", "RESTRICTED_INCOMING_TRAFFIC", { blockedPorts: "1433,mongo" }, '`blockedPorts` must list TCP ports (0-65535), not "1433,mongo".'],
        ["no value", "ACCESS_KEYS_ROTATED", { maxAccessKeyAge: null }, "`maxAccessKeyAge` has no value; give one, or remove it to keep Airlock's 90."],
        ["an unknown rule", "IAM_PASWORD_POLICY", {}, "Unknown rule `IAM_PASWORD_POLICY`: rules are named by their AWS source identifier. Did you mean `IAM_PASSWORD_POLICY`?"],
    ])("names %s and the fix", (_what, id, params, message) => {
        const problems = ruleParameterProblems(id, params);
        expect(problems).toHaveLength(1);
        expect(problems[0]).toContain(message);
    });

    it("reports every problem, not only the first", () => {
        expect(ruleParameterProblems("IAM_PASSWORD_POLICY", { MinimumPasswordLength: 4, RequireSymbols: "yes", Foo: 1 })).toHaveLength(3);
    });

    it("accepts valid overrides, optional parameters included", () => {
        expect(ruleParameterProblems("IAM_PASSWORD_POLICY", { MinimumPasswordLength: 20, RequireSymbols: false })).toEqual([]);
        expect(ruleParameterProblems("RESTRICTED_INCOMING_TRAFFIC", { blockedPort1: 22, blockedPorts: "1433, 9200" })).toEqual([]);
        expect(ruleParameterProblems("MULTI_REGION_CLOUD_TRAIL_ENABLED", { s3BucketName: "airlock-trail-abc", readWriteType: "WriteOnly" })).toEqual([]);
        expect(ruleParameterProblems("ENCRYPTED_VOLUMES", {})).toEqual([]);
    });
});

// ---------------------------------------------------------------------------------------------------
// The automation role in the IAM simulator
// ---------------------------------------------------------------------------------------------------

const ROLE_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/airlock-remediation/Automation`;
const USER = `arn:aws:iam::${ACCOUNT}:user/alice`;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/app`;
const GROUP = `arn:aws:iam::${ACCOUNT}:group/DevOps`;
const CUSTOMER_POLICY = `arn:aws:iam::${ACCOUNT}:policy/everything`;
const AWS_MANAGED_POLICY = "arn:aws:iam::aws:policy/AdministratorAccess";
const INSTANCE = `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0aaaaaaaaaaaaaaaa`;
const INSTANCE_ELSEWHERE = `arn:aws:ec2:us-east-1:${ACCOUNT}:instance/i-0bbbbbbbbbbbbbbbb`;
const BUCKET = "arn:aws:s3:::public-by-mistake";
const TRAIL = `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/someones-trail`;
const TRAIL_ELSEWHERE = `arn:aws:cloudtrail:us-east-1:${ACCOUNT}:trail/someones-trail`;

type Cell = [string, string, string, Record<string, string>, Decision];

/** KMS needs a key policy: AWS's default one, which leaves the decision to the account's IAM policies. */
const DEFAULT_KEY_POLICY = {
    Version: "2012-10-17",
    Statement: [{ Sid: "EnableIamUserPermissions", Effect: "Allow", Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: "kms:*", Resource: "*" }],
};

function asAutomation(policy: IdentityPolicyDocument, action: string, resource: string, context: Record<string, string> = {}, resourceAccount = ACCOUNT): Promise<Decision> {
    const keyPolicy = action.startsWith("kms:") ? { resourcePolicy: DEFAULT_KEY_POLICY } : {};
    return simulate({ identityPolicies: [policy], principal: ROLE_SESSION, action, resource, resourceAccount, context, ...keyPolicy });
}

describe("the automation role in the IAM simulator (every remediation enabled)", () => {
    const policy = remediationRolePolicy(REMEDIATED.map((r) => ({ rule: r })), CTX);

    it.each<Cell>([
        // SetIAMPasswordPolicy
        ["reads the password policy", "iam:GetAccountPasswordPolicy", "*", {}, "Allowed"],
        ["sets the password policy", "iam:UpdateAccountPasswordPolicy", "*", {}, "Allowed"],
        // RevokeUnusedIAMUserCredentials
        ["finds a user by resource id", "config:ListDiscoveredResources", "*", {}, "Allowed"],
        ["reads a user", "iam:GetUser", USER, {}, "Allowed"],
        ["lists a user's keys", "iam:ListAccessKeys", USER, {}, "Allowed"],
        ["reads a key's last use", "iam:GetAccessKeyLastUsed", USER, {}, "Allowed"],
        ["deactivates a user's key", "iam:UpdateAccessKey", USER, {}, "Allowed"],
        ["reads a login profile", "iam:GetLoginProfile", USER, {}, "Allowed"],
        ["deletes an unused password", "iam:DeleteLoginProfile", USER, {}, "Allowed"],
        // RemoveUserPolicies
        ["lists users", "iam:ListUsers", "*", {}, "Allowed"],
        ["deletes a user's inline policy", "iam:DeleteUserPolicy", USER, {}, "Allowed"],
        ["lists a user's managed policies", "iam:ListAttachedUserPolicies", USER, {}, "Allowed"],
        // DetachIAMPolicy
        ["reads a customer policy's history", "config:GetResourceConfigHistory", "*", {}, "Allowed"],
        ["lists who has a customer policy", "iam:ListEntitiesForPolicy", CUSTOMER_POLICY, {}, "Allowed"],
        ["detaches a customer policy from a role", "iam:DetachRolePolicy", ROLE, { "iam:PolicyARN": CUSTOMER_POLICY }, "Allowed"],
        ["detaches a customer policy from a group", "iam:DetachGroupPolicy", GROUP, { "iam:PolicyARN": CUSTOMER_POLICY }, "Allowed"],
        // ConfigureS3BucketPublicAccessBlock
        ["reads a bucket's public access block", "s3:GetBucketPublicAccessBlock", BUCKET, { "s3:ResourceAccount": ACCOUNT }, "Allowed"],
        ["sets a bucket's public access block", "s3:PutBucketPublicAccessBlock", BUCKET, { "s3:ResourceAccount": ACCOUNT }, "Allowed"],
        // EnforceEC2InstanceIMDSv2
        ["describes instances", "ec2:DescribeInstances", "*", {}, "Allowed"],
        ["requires IMDSv2 on an instance of its region", "ec2:ModifyInstanceMetadataOptions", INSTANCE, {}, "Allowed"],
        // EnableCloudTrailLogFileValidation, EnableCloudTrailEncryptionWithKMS
        ["describes trails", "cloudtrail:DescribeTrails", "*", {}, "Allowed"],
        ["reads a trail", "cloudtrail:GetTrail", TRAIL, {}, "Allowed"],
        ["updates a trail of its region", "cloudtrail:UpdateTrail", TRAIL, {}, "Allowed"],
        ["describes the trail key", "kms:DescribeKey", TRAIL_KEY, {}, "Allowed"],
    ])("may %s (%s)", async (_what, action, resource, context, expected) => {
        await expect(asAutomation(policy, action, resource, context)).resolves.toBe(expected);
    });

    it.each<Cell>([
        ["delete a user", "iam:DeleteUser", USER, {}, "ImplicitlyDenied"],
        ["attach a policy to a user", "iam:AttachUserPolicy", USER, { "iam:PolicyARN": AWS_MANAGED_POLICY }, "ImplicitlyDenied"],
        ["write a user's inline policy", "iam:PutUserPolicy", USER, {}, "ImplicitlyDenied"],
        ["create an access key", "iam:CreateAccessKey", USER, {}, "ImplicitlyDenied"],
        ["set someone's password", "iam:UpdateLoginProfile", USER, {}, "ImplicitlyDenied"],
        ["give someone a password", "iam:CreateLoginProfile", USER, {}, "ImplicitlyDenied"],
        ["pass a role", "iam:PassRole", ROLE, {}, "ImplicitlyDenied"],
        ["detach an AWS managed policy from a role", "iam:DetachRolePolicy", ROLE, { "iam:PolicyARN": AWS_MANAGED_POLICY }, "ImplicitlyDenied"],
        ["detach an AWS managed policy from a group", "iam:DetachGroupPolicy", GROUP, { "iam:PolicyARN": AWS_MANAGED_POLICY }, "ImplicitlyDenied"],
        ["delete a policy", "iam:DeletePolicy", CUSTOMER_POLICY, {}, "ImplicitlyDenied"],
        ["terminate an instance", "ec2:TerminateInstances", INSTANCE, {}, "ImplicitlyDenied"],
        ["change an instance's metadata options in another region", "ec2:ModifyInstanceMetadataOptions", INSTANCE_ELSEWHERE, {}, "ImplicitlyDenied"],
        ["open a security group", "ec2:AuthorizeSecurityGroupIngress", `arn:aws:ec2:${REGION}:${ACCOUNT}:security-group/sg-0aaaaaaaaaaaaaaaa`, {}, "ImplicitlyDenied"],
        ["revoke a security group rule", "ec2:RevokeSecurityGroupIngress", `arn:aws:ec2:${REGION}:${ACCOUNT}:security-group/sg-0aaaaaaaaaaaaaaaa`, {}, "ImplicitlyDenied"],
        ["rewrite a bucket policy", "s3:PutBucketPolicy", BUCKET, { "s3:ResourceAccount": ACCOUNT }, "ImplicitlyDenied"],
        ["delete a bucket", "s3:DeleteBucket", BUCKET, { "s3:ResourceAccount": ACCOUNT }, "ImplicitlyDenied"],
        ["read an object", "s3:GetObject", `${BUCKET}/data.csv`, { "s3:ResourceAccount": ACCOUNT }, "ImplicitlyDenied"],
        ["change the account's public access block", "s3:PutAccountPublicAccessBlock", "*", {}, "ImplicitlyDenied"],
        ["delete a trail", "cloudtrail:DeleteTrail", TRAIL, {}, "ImplicitlyDenied"],
        ["stop logging", "cloudtrail:StopLogging", TRAIL, {}, "ImplicitlyDenied"],
        ["update a trail homed in another region", "cloudtrail:UpdateTrail", TRAIL_ELSEWHERE, {}, "ImplicitlyDenied"],
        ["decrypt with the trail key", "kms:Decrypt", TRAIL_KEY, {}, "ImplicitlyDenied"],
        ["describe another key", "kms:DescribeKey", OTHER_KEY, {}, "ImplicitlyDenied"],
        ["decrypt with another key", "kms:Decrypt", OTHER_KEY, {}, "ImplicitlyDenied"],
        ["start an automation itself", "ssm:StartAutomationExecution", `arn:aws:ssm:${REGION}:${ACCOUNT}:automation-definition/AWS-RunShellScript:$DEFAULT`, {}, "ImplicitlyDenied"],
        ["change a Config rule", "config:PutConfigRule", `arn:aws:config:${REGION}:${ACCOUNT}:config-rule/config-rule-abc123`, {}, "ImplicitlyDenied"],
    ])("may not %s (%s)", async (_what, action, resource, context, expected) => {
        await expect(asAutomation(policy, action, resource, context)).resolves.toBe(expected);
    });

    it("may not set the public access block of another account's bucket, even where that bucket's policy would let it", async () => {
        const theirPolicy = {
            Version: "2012-10-17",
            Statement: [{ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/airlock-remediation` }, Action: "s3:PutBucketPublicAccessBlock", Resource: BUCKET }],
        };
        const request = { identityPolicies: [policy], resourcePolicy: theirPolicy, principal: ROLE_SESSION, action: "s3:PutBucketPublicAccessBlock", resource: BUCKET, resourceAccount: OTHER_ACCOUNT };
        await expect(simulate({ ...request, context: { "s3:ResourceAccount": OTHER_ACCOUNT, "aws:PrincipalArn": `arn:aws:iam::${ACCOUNT}:role/airlock-remediation` } })).resolves.toBe("ImplicitlyDenied");
        // Control: the same bucket policy with this account's ownership passes, so the condition is what denies.
        await expect(simulate({ ...request, resourceAccount: ACCOUNT, context: { "s3:ResourceAccount": ACCOUNT, "aws:PrincipalArn": `arn:aws:iam::${ACCOUNT}:role/airlock-remediation` } })).resolves.toBe("Allowed");
    });
});

describe("the automation role holds only the enabled runbooks' permissions", () => {
    it.each<[string, string, string, string, Record<string, string>]>([
        ["IAM_PASSWORD_POLICY", "deactivate a key", "iam:UpdateAccessKey", USER, {}],
        ["IAM_PASSWORD_POLICY", "require IMDSv2", "ec2:ModifyInstanceMetadataOptions", INSTANCE, {}],
        ["EC2_IMDSV2_CHECK", "set the password policy", "iam:UpdateAccountPasswordPolicy", "*", {}],
        ["IAM_USER_NO_POLICIES_CHECK", "detach a customer policy from a role", "iam:DetachRolePolicy", ROLE, { "iam:PolicyARN": CUSTOMER_POLICY }],
        ["IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS", "detach an AWS managed policy from a user", "iam:DetachUserPolicy", USER, { "iam:PolicyARN": AWS_MANAGED_POLICY }],
        ["IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS", "delete a user's inline policy", "iam:DeleteUserPolicy", USER, {}],
        ["CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED", "describe the trail key", "kms:DescribeKey", TRAIL_KEY, {}],
        ["S3_BUCKET_PUBLIC_READ_PROHIBITED", "update a trail", "cloudtrail:UpdateTrail", TRAIL, {}],
    ])("with only %s enabled, it may not %s", async (id, _what, action, resource, context) => {
        await expect(asAutomation(remediationRolePolicy([{ rule: rule(id) }], CTX), action, resource, context)).resolves.toBe("ImplicitlyDenied");
    });

    it("with only IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS enabled, it detaches this account's policy from a user", async () => {
        await expect(asAutomation(remediationRolePolicy([{ rule: rule("IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS") }], CTX), "iam:DetachUserPolicy", USER, { "iam:PolicyARN": CUSTOMER_POLICY })).resolves.toBe(
            "Allowed",
        );
    });
});

describe("the automation role's trust policy", () => {
    const trust = remediationTrustPolicy(CTX);
    const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/airlock-remediation`;
    const assume = (principal: string, context: Record<string, string>): Promise<Decision> =>
        simulate({ identityPolicies: [], resourcePolicy: trust, principal, action: "sts:AssumeRole", resource: ROLE_ARN, context });

    it.each<[string, string, Record<string, string>, Decision]>([
        ["SSM Automation of this account", "ssm.amazonaws.com", { "aws:SourceAccount": ACCOUNT, "aws:SourceArn": `arn:aws:ssm:${REGION}:${ACCOUNT}:automation-execution/0123abcd` }, "Allowed"],
        [
            "SSM Automation of another account (confused deputy)",
            "ssm.amazonaws.com",
            { "aws:SourceAccount": OTHER_ACCOUNT, "aws:SourceArn": `arn:aws:ssm:${REGION}:${OTHER_ACCOUNT}:automation-execution/0123abcd` },
            "ImplicitlyDenied",
        ],
        ["SSM acting for something other than an automation", "ssm.amazonaws.com", { "aws:SourceAccount": ACCOUNT, "aws:SourceArn": `arn:aws:ssm:${REGION}:${ACCOUNT}:document/x` }, "ImplicitlyDenied"],
        ["another service", "lambda.amazonaws.com", { "aws:SourceAccount": ACCOUNT, "aws:SourceArn": `arn:aws:ssm:${REGION}:${ACCOUNT}:automation-execution/0123abcd` }, "ImplicitlyDenied"],
    ])("%s → %s", async (_what, principal, context, expected) => {
        await expect(assume(principal, context)).resolves.toBe(expected);
    });

    it("is SSM's documented confused-deputy statement, exactly", () => {
        expect(trust.Statement).toEqual([
            {
                Sid: "SsmAutomationOfThisAccount",
                Effect: "Allow",
                Principal: { Service: "ssm.amazonaws.com" },
                Action: "sts:AssumeRole",
                Condition: { StringEquals: { "aws:SourceAccount": ACCOUNT }, ArnLike: { "aws:SourceArn": `arn:aws:ssm:*:${ACCOUNT}:automation-execution/*` } },
            },
        ]);
    });
});

// ---------------------------------------------------------------------------------------------------
// The delivery channel's bucket policy
// ---------------------------------------------------------------------------------------------------

describe("the Config delivery bucket's policy", () => {
    const BUCKET_NAME = "airlock-config-abc1234";
    const DELIVERY_BUCKET = `arn:aws:s3:::${BUCKET_NAME}`;
    const SNAPSHOT = `${DELIVERY_BUCKET}/AWSLogs/${ACCOUNT}/Config/${REGION}/2026/12/1/ConfigSnapshot/x.json.gz`;
    const policy = configDeliveryBucketPolicy({ partition: "aws", bucketName: BUCKET_NAME, accountId: ACCOUNT });
    const asConfig = (action: string, resource: string, context: Record<string, string>, principal = "config.amazonaws.com", p: object = policy): Promise<Decision> =>
        simulate({ identityPolicies: [], resourcePolicy: p, principal, action, resource, resourceAccount: ACCOUNT, context: { "aws:SecureTransport": "true", ...context } });
    const mine = { "aws:SourceAccount": ACCOUNT };
    const owner = { "s3:x-amz-acl": "bucket-owner-full-control" };

    it.each<[string, string, string, Record<string, string>, Decision]>([
        ["checks the bucket's ACL for this account", "s3:GetBucketAcl", DELIVERY_BUCKET, mine, "Allowed"],
        ["checks the bucket exists for this account", "s3:ListBucket", DELIVERY_BUCKET, mine, "Allowed"],
        ["writes this account's snapshot with the owner in full control", "s3:PutObject", SNAPSHOT, { ...mine, ...owner }, "Allowed"],
        ["does not write without the owner in full control", "s3:PutObject", SNAPSHOT, { ...mine, "s3:x-amz-acl": "private" }, "ImplicitlyDenied"],
        ["does not write outside AWSLogs/<account>/Config/", "s3:PutObject", `${DELIVERY_BUCKET}/AWSLogs/${ACCOUNT}/CloudTrail/x`, { ...mine, ...owner }, "ImplicitlyDenied"],
        ["does not write under another account's prefix", "s3:PutObject", `${DELIVERY_BUCKET}/AWSLogs/${OTHER_ACCOUNT}/Config/x`, { "aws:SourceAccount": OTHER_ACCOUNT, ...owner }, "ImplicitlyDenied"],
        // Confused deputy: another account's Config pointed at this bucket.
        ["does not write for another account's Config", "s3:PutObject", SNAPSHOT, { "aws:SourceAccount": OTHER_ACCOUNT, ...owner }, "ImplicitlyDenied"],
        ["does not read the ACL for another account's Config", "s3:GetBucketAcl", DELIVERY_BUCKET, { "aws:SourceAccount": OTHER_ACCOUNT }, "ImplicitlyDenied"],
        ["does not read snapshots", "s3:GetObject", SNAPSHOT, mine, "ImplicitlyDenied"],
        ["does not delete snapshots", "s3:DeleteObject", SNAPSHOT, mine, "ImplicitlyDenied"],
    ])("Config %s → %s", async (_what, action, resource, context, expected) => {
        await expect(asConfig(action, resource, context)).resolves.toBe(expected);
    });

    it("denies plain HTTP even to Config", async () => {
        await expect(asConfig("s3:PutObject", SNAPSHOT, { ...mine, ...owner, "aws:SecureTransport": "false" })).resolves.toBe("ExplicitlyDenied");
    });

    it("grants nothing to another service", async () => {
        await expect(asConfig("s3:PutObject", SNAPSHOT, { ...mine, ...owner }, "cloudtrail.amazonaws.com")).resolves.toBe("ImplicitlyDenied");
    });

    it("writes under the delivery channel's key prefix when it has one", async () => {
        const prefixed = configDeliveryBucketPolicy({ partition: "aws", bucketName: BUCKET_NAME, accountId: ACCOUNT, keyPrefix: "/config/" });
        await expect(asConfig("s3:PutObject", `${DELIVERY_BUCKET}/config/AWSLogs/${ACCOUNT}/Config/x`, { ...mine, ...owner }, "config.amazonaws.com", prefixed)).resolves.toBe("Allowed");
        await expect(asConfig("s3:PutObject", SNAPSHOT, { ...mine, ...owner }, "config.amazonaws.com", prefixed)).resolves.toBe("ImplicitlyDenied");
    });

    it("is AWS's documented statements, with the partition's ARNs and the China DNS suffix when asked", () => {
        expect(policy.Statement.map((s) => s.Sid)).toEqual(["AWSConfigBucketPermissionsCheck", "AWSConfigBucketExistenceCheck", "AWSConfigBucketDelivery", "DenyPlainHttp"]);
        const cn = configDeliveryBucketPolicy({ partition: "aws-cn", bucketName: BUCKET_NAME, accountId: ACCOUNT, dnsSuffix: "amazonaws.com.cn" });
        expect(JSON.stringify(cn)).not.toContain("arn:aws:");
        expect(cn.Statement[0]!.Principal).toEqual({ Service: "config.amazonaws.com.cn" });
    });
});
