/**
 * The guardrails' AWS Config catalog (issue 9, "ConfigRules" and "Automatic remediation"): the 19 AWS
 * managed rules Airlock declares, their parameters with Airlock's values, and for the rules that can
 * be fixed safely the AWS-owned SSM automation runbook, what it is passed, and exactly the IAM actions
 * its steps call. Pure data and policy builders: components/configRules.ts turns them into resources.
 *
 * Sources: each rule's page in the AWS Config developer guide and each runbook's page in the "AWS
 * Systems Manager Automation runbook reference" (cited above every entry). Where a page could not be
 * confirmed or is known to be wrong, a `// Source:` comment says so.
 */
import { didYouMean } from "../config/suggest";
import { IdentityPolicyDocument, IdentityStatement, ResourcePolicyDocument, denyPlainHttp } from "./document";
import { bucketArn } from "./keyNaming";

// ---------------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------------

/** Config's `MaximumExecutionFrequency` values. */
export type ExecutionFrequency = "One_Hour" | "Three_Hours" | "Six_Hours" | "Twelve_Hours" | "TwentyFour_Hours";

/** A value of a rule parameter as the stack writes it (YAML/JSON scalars). */
export type RuleParameterValue = string | number | boolean;

/** The parameter types AWS's managed-rule pages use. `csv` is one string of comma-separated items. */
export type RuleParameterType = "int" | "boolean" | "string" | "csv";

/** A parameter of a managed rule that Airlock always sends, with the value it sends unless overridden. */
export interface RuleParameterSpec {
    /** Exactly as AWS spells it (case matters: `maxCredentialUsageAge`, `MinimumPasswordLength`). */
    readonly name: string;
    readonly type: RuleParameterType;
    /** Airlock's value. */
    readonly default: RuleParameterValue;
    /** Inclusive bounds for `int`, where AWS documents them (or Airlock's floor, said in `description`). */
    readonly min?: number;
    readonly max?: number;
    /** For `string` parameters AWS restricts to a set (`readWriteType`). */
    readonly allowedValues?: readonly string[];
    /** For messages: "days", "characters", ... */
    readonly unit?: string;
    readonly description: string;
}

/** A documented optional parameter Airlock leaves unset (no sensible default); a stack may set it. */
export type OptionalRuleParameterSpec = Omit<RuleParameterSpec, "default">;

/** Where a remediation runs and what it may be handed. */
export interface RemediationContext {
    readonly partition: string;
    /** The region whose rules this role serves (its EC2 and CloudTrail ARNs name it); "*" for a role shared by regions. */
    readonly region: string;
    readonly accountId: string;
    /** The guardrails trail's KMS key ARN: the only key the CloudTrail encryption runbook may be handed. */
    readonly trailKmsKeyArn?: string;
}

/** An AWS-owned SSM automation runbook wired to a rule through Config's remediation configuration. */
export interface RemediationSpec {
    /** The runbook's exact name (Config's `TargetId`, type SSM_DOCUMENT). */
    readonly documentName: string;
    /** The runbook's page in the Automation runbook reference. */
    readonly documentation: string;
    /** Whether Airlock runs it automatically unless the stack says otherwise (`detectOnly` overrides). */
    readonly automaticByDefault: boolean;
    /** The runbook parameter that receives the noncompliant resource's id (Config's RESOURCE_ID). */
    readonly resourceIdParameter?: string;
    /**
     * The runbook needs `RemediationContext.trailKmsKeyArn`: without the guardrails trail's key it
     * cannot be enabled (`remediationUnavailable` says so; `staticParameters` and `permissions` throw).
     */
    readonly needsTrailKey?: boolean;
    /**
     * Everything else the runbook is passed, as Config static values. `AutomationAssumeRole`
     * (`AUTOMATION_ASSUME_ROLE_PARAMETER`) is not among them: the component passes its role's ARN.
     */
    staticParameters(ruleParams: Readonly<Record<string, RuleParameterValue>>, ctx: RemediationContext): Record<string, string | string[]>;
    /** Exactly what the runbook's steps call, on the narrowest resources the actions allow. */
    permissions(ctx: RemediationContext): IdentityStatement[];
    /** Why it is (not) automatic, what it changes, what to know before turning it on. */
    readonly why?: string;
}

export interface ManagedRuleSpec {
    /** AWS's identifier (Config's `Source.SourceIdentifier`), also the key a stack names the rule by. */
    readonly sourceIdentifier: string;
    /** The Config rule Airlock creates: `airlock-` + AWS's rule name (≤ 128 characters). */
    readonly ruleName: string;
    /** What it checks, one sentence (README). */
    readonly description: string;
    /** The rule's page in the AWS Config developer guide. */
    readonly documentation: string;
    /**
     * global: evaluates account-wide things (IAM users and policies, the root user, account settings,
     * "is there a multi-region trail"): declared only in the stack's one global region, so each
     * evaluation (billed) happens once. regional: evaluates resources of the region it is declared in.
     */
    readonly scope: "global" | "regional";
    /** change: on configuration changes of `resourceTypes`; periodic: every `maximumExecutionFrequency`; both. */
    readonly trigger: "change" | "periodic" | "both";
    /**
     * The resource types AWS's page lists. For change-triggered rules this is Config's scope
     * (`ComplianceResourceTypes`); for periodic ones it is what the rule reports on (absent for
     * account-level rules, whose page lists none).
     */
    readonly resourceTypes?: readonly string[];
    /** For periodic and both: how often Config runs it. */
    readonly maximumExecutionFrequency?: ExecutionFrequency;
    /** Parameters Airlock always sends, with Airlock's values. */
    readonly parameters: readonly RuleParameterSpec[];
    /** Documented parameters Airlock leaves unset; a stack may set them. */
    readonly optionalParameters?: readonly OptionalRuleParameterSpec[];
    readonly remediation?: RemediationSpec;
    /** Why the rule has no remediation (required when `remediation` is absent), or a note on its scope. */
    readonly why?: string;
}

/** The runbook parameter every remediation configuration sets to the automation role's ARN. */
export const AUTOMATION_ASSUME_ROLE_PARAMETER = "AutomationAssumeRole";

// ---------------------------------------------------------------------------------------------------
// ARNs
// ---------------------------------------------------------------------------------------------------

const CONFIG_GUIDE = "https://docs.aws.amazon.com/config/latest/developerguide";
const RUNBOOK_GUIDE = "https://docs.aws.amazon.com/systems-manager-automation-runbooks/latest/userguide";

const iamArn = (ctx: RemediationContext, resource: string): string => `arn:${ctx.partition}:iam::${ctx.accountId}:${resource}`;
const regionalArn = (ctx: RemediationContext, service: string, resource: string): string => `arn:${ctx.partition}:${service}:${ctx.region}:${ctx.accountId}:${resource}`;

/** Why `remediation` cannot run in `ctx`, or undefined when it can. */
export function remediationUnavailable(remediation: Pick<RemediationSpec, "documentName" | "needsTrailKey">, ctx: RemediationContext): string | undefined {
    if (remediation.needsTrailKey === true) {
        if (ctx.trailKmsKeyArn === undefined || ctx.trailKmsKeyArn === "") {
            return `${remediation.documentName} encrypts trails with the guardrails trail's KMS key, and none is available here (no trail in this stack). Turn the trail on, or leave the remediation off.`;
        }
        if (!/^arn:[a-z-]+:kms:[a-z0-9-]+:\d{12}:key\/[A-Za-z0-9-]+$/.test(ctx.trailKmsKeyArn)) {
            return `${remediation.documentName} needs the trail key's ARN (arn:<partition>:kms:<region>:<account>:key/<id>), not "${ctx.trailKmsKeyArn}": an alias or a bare key id cannot scope kms:DescribeKey.`;
        }
    }
    return undefined;
}

/** The trail key's ARN, or an error saying why the runbook cannot have it. */
function trailKey(runbook: Pick<RemediationSpec, "documentName" | "needsTrailKey">, ctx: RemediationContext): string {
    const problem = remediationUnavailable(runbook, ctx);
    if (problem !== undefined) {
        throw new Error(problem);
    }
    return ctx.trailKmsKeyArn as string;
}

// ---------------------------------------------------------------------------------------------------
// Runbooks: name, page, and exactly what their steps call
// ---------------------------------------------------------------------------------------------------
//
// Every runbook page lists ssm:StartAutomationExecution and ssm:GetAutomationExecution among "Required
// IAM permissions". That is boilerplate for whoever *starts* the runbook (here Config's remediation
// service-linked role, not the automation role). None of the runbooks below has an
// aws:executeAutomation step that would start a child automation, so the automation role gets neither.

interface Runbook {
    readonly documentName: string;
    readonly documentation: string;
    /** Sid prefix: every statement of this runbook's permissions starts with it. */
    readonly sid: string;
    readonly needsTrailKey?: boolean;
    permissions(ctx: RemediationContext): IdentityStatement[];
}

// https://docs.aws.amazon.com/systems-manager-automation-runbooks/latest/userguide/automation-aws-set-iam-policy.html
// Required IAM permissions: iam:GetAccountPasswordPolicy, iam:UpdateAccountPasswordPolicy (neither has a resource type).
const SET_IAM_PASSWORD_POLICY: Runbook = {
    documentName: "AWSConfigRemediation-SetIAMPasswordPolicy",
    documentation: `${RUNBOOK_GUIDE}/automation-aws-set-iam-policy.html`,
    sid: "SetIAMPasswordPolicy",
    permissions: () => [{ Sid: "SetIAMPasswordPolicy", Effect: "Allow", Action: ["iam:GetAccountPasswordPolicy", "iam:UpdateAccountPasswordPolicy"], Resource: "*" }],
};

// https://docs.aws.amazon.com/systems-manager-automation-runbooks/latest/userguide/automation-aws-revoke-iam-user.html
// Required IAM permissions: config:ListDiscoveredResources (finds the user by its resource id),
// iam:DeleteAccessKey, iam:DeleteLoginProfile, iam:GetAccessKeyLastUsed, iam:GetLoginProfile, iam:GetUser,
// iam:ListAccessKeys, iam:UpdateAccessKey. The page lists iam:DeleteAccessKey although its step only
// "deactivates" keys; granted as documented so the runbook cannot fail half-way.
const REVOKE_UNUSED_IAM_USER_CREDENTIALS: Runbook = {
    documentName: "AWSConfigRemediation-RevokeUnusedIAMUserCredentials",
    documentation: `${RUNBOOK_GUIDE}/automation-aws-revoke-iam-user.html`,
    sid: "RevokeUnusedIAMUserCredentials",
    permissions: (ctx) => [
        { Sid: "RevokeUnusedIAMUserCredentialsFindsTheUser", Effect: "Allow", Action: "config:ListDiscoveredResources", Resource: "*" },
        {
            Sid: "RevokeUnusedIAMUserCredentialsOfUsers",
            Effect: "Allow",
            Action: [
                "iam:GetUser",
                "iam:ListAccessKeys",
                "iam:GetAccessKeyLastUsed",
                "iam:UpdateAccessKey",
                "iam:DeleteAccessKey",
                "iam:GetLoginProfile",
                "iam:DeleteLoginProfile",
            ],
            Resource: iamArn(ctx, "user/*"),
        },
    ],
};

// https://docs.aws.amazon.com/systems-manager-automation-runbooks/latest/userguide/automation-aws-block-public-s3-bucket.html
// Steps: aws:executeAwsApi PutPublicAccessBlock on the bucket, aws:executeScript reading it back.
// Source: the page's "Required IAM permissions" lists s3:GetAccountPublicAccessBlock and
// s3:PutAccountPublicAccessBlock, copied from the account-level runbook (automation-aws-block-public-s3):
// the steps call the *bucket* APIs, which IAM authorizes as s3:PutBucketPublicAccessBlock and
// s3:GetBucketPublicAccessBlock on the bucket. Airlock grants those, and never the account-level ones.
const CONFIGURE_S3_BUCKET_PUBLIC_ACCESS_BLOCK: Runbook = {
    documentName: "AWSConfigRemediation-ConfigureS3BucketPublicAccessBlock",
    documentation: `${RUNBOOK_GUIDE}/automation-aws-block-public-s3-bucket.html`,
    sid: "ConfigureS3BucketPublicAccessBlock",
    permissions: (ctx) => [
        {
            Sid: "ConfigureS3BucketPublicAccessBlock",
            Effect: "Allow",
            Action: ["s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"],
            // Bucket ARNs carry no account: s3:ResourceAccount keeps it to this account's buckets.
            Resource: bucketArn(ctx.partition, "*"),
            Condition: { StringEquals: { "s3:ResourceAccount": ctx.accountId } },
        },
    ],
};

// https://docs.aws.amazon.com/systems-manager-automation-runbooks/latest/userguide/automation-aws-enforce-ec2-imdsv2.html
// Required IAM permissions: ec2:DescribeInstances (no resource type), ec2:ModifyInstanceMetadataOptions.
const ENFORCE_EC2_INSTANCE_IMDSV2: Runbook = {
    documentName: "AWSConfigRemediation-EnforceEC2InstanceIMDSv2",
    documentation: `${RUNBOOK_GUIDE}/automation-aws-enforce-ec2-imdsv2.html`,
    sid: "EnforceEC2InstanceIMDSv2",
    permissions: (ctx) => [
        { Sid: "EnforceEC2InstanceIMDSv2Describes", Effect: "Allow", Action: "ec2:DescribeInstances", Resource: "*" },
        { Sid: "EnforceEC2InstanceIMDSv2Requires", Effect: "Allow", Action: "ec2:ModifyInstanceMetadataOptions", Resource: regionalArn(ctx, "ec2", "instance/*") },
    ],
};

// https://docs.aws.amazon.com/systems-manager-automation-runbooks/latest/userguide/automation-aws-enable-ctrail-log-validation.html
// Required IAM permissions: cloudtrail:DescribeTrails (no resource type), cloudtrail:UpdateTrail.
// Chosen over AWS-EnableCloudTrailLogFileValidation (enable-cloudtrail-log-validation.html): that one
// takes a list of trail names and has no verification step; this one takes Config's one trail and
// asserts the result (aws:assertAwsResourceProperty).
const ENABLE_CLOUDTRAIL_LOG_FILE_VALIDATION: Runbook = {
    documentName: "AWSConfigRemediation-EnableCloudTrailLogFileValidation",
    documentation: `${RUNBOOK_GUIDE}/automation-aws-enable-ctrail-log-validation.html`,
    sid: "EnableCloudTrailLogFileValidation",
    permissions: (ctx) => [
        { Sid: "EnableCloudTrailLogFileValidationDescribes", Effect: "Allow", Action: "cloudtrail:DescribeTrails", Resource: "*" },
        { Sid: "EnableCloudTrailLogFileValidationUpdates", Effect: "Allow", Action: "cloudtrail:UpdateTrail", Resource: regionalArn(ctx, "cloudtrail", "trail/*") },
    ],
};

// https://docs.aws.amazon.com/systems-manager-automation-runbooks/latest/userguide/automation-aws-ctrail-kms.html
// Required IAM permissions: cloudtrail:GetTrail, cloudtrail:UpdateTrail.
// Source: the page's second step "gathers the ARN for the customer managed key you specify in KMSKeyId"
// (an aws:executeAwsApi call, which can only be KMS DescribeKey) yet the permissions list omits
// kms:DescribeKey. Not verified against the document's source: Airlock grants kms:DescribeKey on the
// one trail key only (metadata, no cryptographic use), so the step cannot fail for want of it.
const ENABLE_CLOUDTRAIL_ENCRYPTION_WITH_KMS: Runbook = {
    documentName: "AWSConfigRemediation-EnableCloudTrailEncryptionWithKMS",
    documentation: `${RUNBOOK_GUIDE}/automation-aws-ctrail-kms.html`,
    sid: "EnableCloudTrailEncryptionWithKMS",
    needsTrailKey: true,
    permissions: (ctx) => {
        const key = trailKey({ documentName: "AWSConfigRemediation-EnableCloudTrailEncryptionWithKMS", needsTrailKey: true }, ctx);
        return [
            { Sid: "EnableCloudTrailEncryptionWithKMSUpdates", Effect: "Allow", Action: ["cloudtrail:GetTrail", "cloudtrail:UpdateTrail"], Resource: regionalArn(ctx, "cloudtrail", "trail/*") },
            { Sid: "EnableCloudTrailEncryptionWithKMSReadsTheKey", Effect: "Allow", Action: "kms:DescribeKey", Resource: key },
        ];
    },
};

// https://docs.aws.amazon.com/systems-manager-automation-runbooks/latest/userguide/automation-aws-detach-iam-policy.html
// Required IAM permissions: config:GetResourceConfigHistory, config:ListDiscoveredResources (find the
// policy by its resource id), iam:DetachGroupPolicy, iam:DetachRolePolicy, iam:DetachUserPolicy,
// iam:GetPolicy, iam:ListEntitiesForPolicy. The rule evaluates customer managed policies only, so the
// detaching is limited (iam:PolicyARN) to this account's policies: never an AWS managed one.
const DETACH_IAM_POLICY: Runbook = {
    documentName: "AWSConfigRemediation-DetachIAMPolicy",
    documentation: `${RUNBOOK_GUIDE}/automation-aws-detach-iam-policy.html`,
    sid: "DetachIAMPolicy",
    permissions: (ctx) => [
        { Sid: "DetachIAMPolicyFindsThePolicy", Effect: "Allow", Action: ["config:GetResourceConfigHistory", "config:ListDiscoveredResources"], Resource: "*" },
        { Sid: "DetachIAMPolicyReadsThePolicy", Effect: "Allow", Action: ["iam:GetPolicy", "iam:ListEntitiesForPolicy"], Resource: iamArn(ctx, "policy/*") },
        {
            Sid: "DetachIAMPolicyDetachesThisAccountsPolicies",
            Effect: "Allow",
            Action: ["iam:DetachGroupPolicy", "iam:DetachRolePolicy", "iam:DetachUserPolicy"],
            Resource: [iamArn(ctx, "group/*"), iamArn(ctx, "role/*"), iamArn(ctx, "user/*")],
            Condition: { ArnLike: { "iam:PolicyARN": iamArn(ctx, "policy/*") } },
        },
    ],
};

// https://docs.aws.amazon.com/systems-manager-automation-runbooks/latest/userguide/automation-aws-remove-user-policies.html
// Required IAM permissions: iam:DeleteUserPolicy, iam:DetachUserPolicy, iam:ListAttachedUserPolicies,
// iam:ListUserPolicies, iam:ListUsers (finds the user by its id; no resource type).
const REMOVE_USER_POLICIES: Runbook = {
    documentName: "AWSConfigRemediation-RemoveUserPolicies",
    documentation: `${RUNBOOK_GUIDE}/automation-aws-remove-user-policies.html`,
    sid: "RemoveUserPolicies",
    permissions: (ctx) => [
        { Sid: "RemoveUserPoliciesFindsTheUser", Effect: "Allow", Action: "iam:ListUsers", Resource: "*" },
        {
            Sid: "RemoveUserPoliciesOfUsers",
            Effect: "Allow",
            Action: ["iam:ListUserPolicies", "iam:ListAttachedUserPolicies", "iam:DeleteUserPolicy", "iam:DetachUserPolicy"],
            Resource: iamArn(ctx, "user/*"),
        },
    ],
};

/** Every runbook the catalog uses, by document name (tests and README). */
export const RUNBOOKS: ReadonlyMap<string, { readonly documentation: string; readonly sid: string }> = new Map(
    [
        SET_IAM_PASSWORD_POLICY,
        REVOKE_UNUSED_IAM_USER_CREDENTIALS,
        CONFIGURE_S3_BUCKET_PUBLIC_ACCESS_BLOCK,
        ENFORCE_EC2_INSTANCE_IMDSV2,
        ENABLE_CLOUDTRAIL_LOG_FILE_VALIDATION,
        ENABLE_CLOUDTRAIL_ENCRYPTION_WITH_KMS,
        DETACH_IAM_POLICY,
        REMOVE_USER_POLICIES,
    ].map((r) => [r.documentName, { documentation: r.documentation, sid: r.sid }]),
);

/** A rule's value for `name`: the stack's (already validated) or Airlock's. */
function param(ruleParams: Readonly<Record<string, RuleParameterValue>>, defaults: readonly RuleParameterSpec[], name: string): string {
    const value = ruleParams[name] ?? defaults.find((p) => p.name === name)?.default;
    if (value === undefined) {
        throw new Error(`No value for the rule parameter \`${name}\`.`);
    }
    return String(value);
}

function remediation(
    runbook: Runbook,
    spec: Omit<RemediationSpec, "documentName" | "documentation" | "permissions" | "needsTrailKey" | "staticParameters"> & {
        staticParameters?: RemediationSpec["staticParameters"];
    },
): RemediationSpec {
    return {
        documentName: runbook.documentName,
        documentation: runbook.documentation,
        ...(runbook.needsTrailKey === true ? { needsTrailKey: true } : {}),
        ...spec,
        staticParameters: spec.staticParameters ?? (() => ({})),
        permissions: (ctx) => runbook.permissions(ctx),
    };
}

// ---------------------------------------------------------------------------------------------------
// The catalog
// ---------------------------------------------------------------------------------------------------

// Periodic evaluations run once a day: what they check drifts slowly (credential ages, account
// settings), change-triggered rules catch configuration changes as they happen, and Config bills every
// evaluation.
const DAILY: ExecutionFrequency = "TwentyFour_Hours";

const PASSWORD_POLICY_PARAMETERS: readonly RuleParameterSpec[] = [
    { name: "RequireUppercaseCharacters", type: "boolean", default: true, description: "At least one uppercase letter (A-Z)." },
    { name: "RequireLowercaseCharacters", type: "boolean", default: true, description: "At least one lowercase letter (a-z)." },
    { name: "RequireSymbols", type: "boolean", default: true, description: "At least one non-alphanumeric character." },
    { name: "RequireNumbers", type: "boolean", default: true, description: "At least one digit." },
    // Bounds: IAM UpdateAccountPasswordPolicy (MinimumPasswordLength 6-128, PasswordReusePrevention 1-24, MaxPasswordAge 1-1095).
    { name: "MinimumPasswordLength", type: "int", default: 14, min: 6, max: 128, unit: "characters", description: "Minimum length (CIS: 14)." },
    { name: "PasswordReusePrevention", type: "int", default: 24, min: 1, max: 24, unit: "passwords", description: "Previous passwords that cannot be reused (IAM's maximum)." },
    { name: "MaxPasswordAge", type: "int", default: 90, min: 1, max: 1095, unit: "days", description: "Days before a password expires." },
];

// AWS's default is 90; CIS AWS Foundations (v3 and later) asks for 45. AWS documents no bounds: 1 is Airlock's floor.
const UNUSED_CREDENTIALS_PARAMETERS: readonly RuleParameterSpec[] = [
    { name: "maxCredentialUsageAge", type: "int", default: 45, min: 1, unit: "days", description: "Days a credential may go unused (CIS: 45)." },
];

// AWS's default and CIS's. AWS documents no bounds: 1 is Airlock's floor.
const ACCESS_KEY_AGE_PARAMETERS: readonly RuleParameterSpec[] = [
    { name: "maxAccessKeyAge", type: "int", default: 90, min: 1, unit: "days", description: "Days before an active key must be rotated." },
];

// All four settings on, passed explicitly rather than trusting the runbook's defaults.
const BLOCK_ALL_PUBLIC_ACCESS: Readonly<Record<string, string>> = { BlockPublicAcls: "true", IgnorePublicAcls: "true", BlockPublicPolicy: "true", RestrictPublicBuckets: "true" };

// Airlock's choice, not AWS's defaults (20, 21, 3389, 3306, 4333: FTP and mSQL): the admin and data
// ports most often found open to the world today. SSH (22) is INCOMING_SSH_DISABLED's; more ports go in
// the optional `blockedPorts` list.
const BLOCKED_PORTS: ReadonlyArray<readonly [number, string]> = [
    [3389, "RDP"],
    [3306, "MySQL/MariaDB"],
    [5432, "PostgreSQL"],
    [6379, "Redis"],
    [27017, "MongoDB"],
];

const UNRESTRICTED_INGRESS_WHY =
    "No remediation: AWS's runbook for open security groups, AWSConfigRemediation-RemoveUnrestrictedSourceIngressRules, removes every rule open to 0.0.0.0/0 or ::/0 in the group, world-open 443 and 80 included, breaking public services (the DevSecOps seed's mistake); AWS-DisablePublicAccessForSecurityGroup revokes SSH and RDP together and can cut a bastion off. Detect only: Airlock's own groups are put back to their declared baseline by the security-group healer.";

/** The 19 managed rules, in the issue's order. */
export const MANAGED_RULES: readonly ManagedRuleSpec[] = [
    // https://docs.aws.amazon.com/config/latest/developerguide/iam-root-access-key-check.html
    {
        sourceIdentifier: "IAM_ROOT_ACCESS_KEY_CHECK",
        ruleName: "airlock-iam-root-access-key-check",
        description: "The root user has no access keys.",
        documentation: `${CONFIG_GUIDE}/iam-root-access-key-check.html`,
        scope: "global",
        trigger: "periodic",
        maximumExecutionFrequency: DAILY,
        parameters: [],
        why: "No remediation: only the root user can delete its own access keys (sign in as root, Security credentials); no role can act as root.",
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/iam-user-mfa-enabled.html
    {
        sourceIdentifier: "IAM_USER_MFA_ENABLED",
        ruleName: "airlock-iam-user-mfa-enabled",
        description: "Every IAM user has an MFA device enabled.",
        documentation: `${CONFIG_GUIDE}/iam-user-mfa-enabled.html`,
        scope: "global",
        trigger: "periodic",
        resourceTypes: ["AWS::IAM::User"],
        maximumExecutionFrequency: DAILY,
        parameters: [],
        why: "No remediation: a user enrols MFA with their own device, which no automation can do; meanwhile Force_MFA denies them everything but enrolling.",
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/iam-user-unused-credentials-check.html
    {
        sourceIdentifier: "IAM_USER_UNUSED_CREDENTIALS_CHECK",
        ruleName: "airlock-iam-user-unused-credentials-check",
        description: "No IAM user has a password or an active access key unused for longer than maxCredentialUsageAge days.",
        documentation: `${CONFIG_GUIDE}/iam-user-unused-credentials-check.html`,
        scope: "global",
        trigger: "periodic",
        resourceTypes: ["AWS::IAM::User"],
        maximumExecutionFrequency: DAILY,
        parameters: UNUSED_CREDENTIALS_PARAMETERS,
        remediation: remediation(REVOKE_UNUSED_IAM_USER_CREDENTIALS, {
            automaticByDefault: true,
            resourceIdParameter: "IAMResourceId",
            staticParameters: (ruleParams) => ({ MaxCredentialUsageAge: param(ruleParams, UNUSED_CREDENTIALS_PARAMETERS, "maxCredentialUsageAge") }),
            why: "Deactivates the user's access keys and deletes their console password when unused for the rule's age (the same number, passed explicitly); the user keeps everything else and an administrator can issue new credentials.",
        }),
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/iam-user-no-policies-check.html
    {
        sourceIdentifier: "IAM_USER_NO_POLICIES_CHECK",
        ruleName: "airlock-iam-user-no-policies-check",
        description: "No IAM user has policies attached directly: permissions come from groups or roles.",
        documentation: `${CONFIG_GUIDE}/iam-user-no-policies-check.html`,
        scope: "global",
        trigger: "change",
        resourceTypes: ["AWS::IAM::User"],
        parameters: [],
        remediation: remediation(REMOVE_USER_POLICIES, {
            automaticByDefault: false,
            resourceIdParameter: "IAMUserID",
            // The rule flags inline and managed policies alike.
            staticParameters: () => ({ PolicyType: "All" }),
            why: "Off by default: the runbook deletes every inline policy of the user and detaches every managed one, so whatever the user does with them stops until it is granted through a group.",
        }),
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/iam-policy-no-statements-with-admin-access.html
    {
        sourceIdentifier: "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS",
        ruleName: "airlock-iam-policy-no-statements-with-admin-access",
        description: 'No customer managed IAM policy allows "Action": "*" on "Resource": "*".',
        documentation: `${CONFIG_GUIDE}/iam-policy-no-statements-with-admin-access.html`,
        scope: "global",
        trigger: "change",
        resourceTypes: ["AWS::IAM::Policy"],
        parameters: [
            { name: "excludePermissionBoundaryPolicy", type: "boolean", default: false, description: "Skip policies used as permissions boundaries (AWS's default: false, every policy is checked)." },
        ],
        remediation: remediation(DETACH_IAM_POLICY, {
            automaticByDefault: false,
            resourceIdParameter: "IAMResourceId",
            why: "Off by default: the runbook detaches the policy from every user, group and role that has it, administrators and automation included.",
        }),
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/iam-user-group-membership-check.html
    {
        sourceIdentifier: "IAM_USER_GROUP_MEMBERSHIP_CHECK",
        ruleName: "airlock-iam-user-group-membership-check",
        description: "Every IAM user is a member of at least one of the groups in groupNames.",
        documentation: `${CONFIG_GUIDE}/iam-user-group-membership-check.html`,
        scope: "global",
        trigger: "change",
        resourceTypes: ["AWS::IAM::User"],
        parameters: [
            // CloudKestrel's two groups, which the GroupPolicies component creates. AWS: no commas inside group names.
            { name: "groupNames", type: "csv", default: "DevOps,SecurityAudit", description: "Comma-separated group names a user must belong to (at least one)." },
        ],
        why: "No remediation: which group a user belongs in decides their permissions; memberships are declared in the stack (devOpsUsers, securityAuditUsers), not guessed by a runbook.",
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/s3-bucket-public-read-prohibited.html
    {
        sourceIdentifier: "S3_BUCKET_PUBLIC_READ_PROHIBITED",
        ruleName: "airlock-s3-bucket-public-read-prohibited",
        description: "No S3 bucket allows public read access through its Block Public Access settings, policy or ACL.",
        documentation: `${CONFIG_GUIDE}/s3-bucket-public-read-prohibited.html`,
        scope: "regional",
        trigger: "both",
        resourceTypes: ["AWS::S3::Bucket"],
        maximumExecutionFrequency: DAILY,
        parameters: [],
        remediation: remediation(CONFIGURE_S3_BUCKET_PUBLIC_ACCESS_BLOCK, {
            automaticByDefault: true,
            resourceIdParameter: "BucketName",
            staticParameters: () => ({ ...BLOCK_ALL_PUBLIC_ACCESS }),
            why: "Turns on all four Block Public Access settings of the bucket (passed explicitly); its policy and ACLs stay as they are but no longer grant the public anything. A bucket meant to be public (a website) needs `remediate: false`.",
        }),
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/s3-bucket-public-write-prohibited.html
    {
        sourceIdentifier: "S3_BUCKET_PUBLIC_WRITE_PROHIBITED",
        ruleName: "airlock-s3-bucket-public-write-prohibited",
        description: "No S3 bucket allows public write access through its Block Public Access settings, policy or ACL.",
        documentation: `${CONFIG_GUIDE}/s3-bucket-public-write-prohibited.html`,
        scope: "regional",
        trigger: "both",
        resourceTypes: ["AWS::S3::Bucket"],
        maximumExecutionFrequency: DAILY,
        parameters: [],
        remediation: remediation(CONFIGURE_S3_BUCKET_PUBLIC_ACCESS_BLOCK, {
            automaticByDefault: true,
            resourceIdParameter: "BucketName",
            staticParameters: () => ({ ...BLOCK_ALL_PUBLIC_ACCESS }),
            why: "Turns on all four Block Public Access settings of the bucket (passed explicitly); nobody outside the account can write to it any more.",
        }),
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/ec2-imdsv2-check.html
    {
        sourceIdentifier: "EC2_IMDSV2_CHECK",
        ruleName: "airlock-ec2-imdsv2-check",
        description: "Every EC2 instance requires IMDSv2 (HttpTokens required).",
        documentation: `${CONFIG_GUIDE}/ec2-imdsv2-check.html`,
        scope: "regional",
        trigger: "change",
        resourceTypes: ["AWS::EC2::Instance"],
        parameters: [],
        remediation: remediation(ENFORCE_EC2_INSTANCE_IMDSV2, {
            automaticByDefault: true,
            resourceIdParameter: "InstanceId",
            why: "Sets HttpTokens to required on the instance (no restart); its hop limit is left as it is. Software still using IMDSv1 on it loses instance metadata and role credentials.",
        }),
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/encrypted-volumes.html
    {
        sourceIdentifier: "ENCRYPTED_VOLUMES",
        ruleName: "airlock-encrypted-volumes",
        description: "Every attached EBS volume is encrypted (with kmsId's key when set).",
        documentation: `${CONFIG_GUIDE}/encrypted-volumes.html`,
        scope: "regional",
        trigger: "change",
        resourceTypes: ["AWS::EC2::Volume"],
        parameters: [],
        optionalParameters: [{ name: "kmsId", type: "string", description: "ID or ARN of the KMS key the volumes must be encrypted with." }],
        why: "No remediation: an EBS volume cannot be encrypted in place; it takes a snapshot, an encrypted copy, a new volume and stopping the instance to swap it. Airlock's own volumes are created encrypted.",
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/restricted-ssh.html
    {
        sourceIdentifier: "INCOMING_SSH_DISABLED",
        ruleName: "airlock-restricted-ssh",
        description: "No security group admits SSH (TCP 22) from 0.0.0.0/0 or ::/0.",
        documentation: `${CONFIG_GUIDE}/restricted-ssh.html`,
        scope: "regional",
        trigger: "both",
        resourceTypes: ["AWS::EC2::SecurityGroup"],
        maximumExecutionFrequency: DAILY,
        parameters: [],
        why: UNRESTRICTED_INGRESS_WHY,
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/restricted-common-ports.html
    {
        sourceIdentifier: "RESTRICTED_INCOMING_TRAFFIC",
        ruleName: "airlock-restricted-common-ports",
        description: "No security group admits TCP from 0.0.0.0/0 or ::/0 to the blocked admin and database ports.",
        documentation: `${CONFIG_GUIDE}/restricted-common-ports.html`,
        scope: "regional",
        trigger: "both",
        resourceTypes: ["AWS::EC2::SecurityGroup"],
        maximumExecutionFrequency: DAILY,
        parameters: BLOCKED_PORTS.map(([port, service], i) => ({
            name: `blockedPort${i + 1}`,
            type: "int" as const,
            default: port,
            min: 0,
            max: 65535,
            description: `Blocked TCP port (Airlock: ${port}, ${service}).`,
        })),
        optionalParameters: [{ name: "blockedPorts", type: "csv", description: "More blocked TCP ports, comma-separated (e.g. 1433,9200)." }],
        why: UNRESTRICTED_INGRESS_WHY,
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/ec2-instance-no-public-ip.html
    {
        sourceIdentifier: "EC2_INSTANCE_NO_PUBLIC_IP",
        ruleName: "airlock-ec2-instance-no-public-ip",
        description: "No EC2 instance has a public IPv4 address.",
        documentation: `${CONFIG_GUIDE}/ec2-instance-no-public-ip.html`,
        scope: "regional",
        trigger: "change",
        resourceTypes: ["AWS::EC2::Instance"],
        parameters: [],
        why: "No remediation: an auto-assigned public IPv4 address cannot be removed from a running instance (only by relaunching it), and detaching an Elastic IP cuts whatever reaches it. Airlock's instances launch without one.",
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/multi-region-cloudtrail-enabled.html
    {
        sourceIdentifier: "MULTI_REGION_CLOUD_TRAIL_ENABLED",
        ruleName: "airlock-multi-region-cloudtrail-enabled",
        description: "The account has at least one multi-region CloudTrail trail recording all management events.",
        documentation: `${CONFIG_GUIDE}/multi-region-cloudtrail-enabled.html`,
        // Account-level and periodic (AWS's page lists no resource type): a multi-region trail is seen
        // from every region, so evaluating it in each region would pay for the same answer N times.
        scope: "global",
        trigger: "periodic",
        maximumExecutionFrequency: DAILY,
        parameters: [
            { name: "includeManagementEvents", type: "boolean", default: true, description: "The trail must record management events." },
            { name: "readWriteType", type: "string", default: "ALL", allowedValues: ["ReadOnly", "WriteOnly", "ALL"], description: "Which events the trail must record (ALL: reads and writes)." },
        ],
        optionalParameters: [
            { name: "s3BucketName", type: "string", description: "The bucket the trail must deliver to." },
            { name: "snsTopicArn", type: "string", description: "The SNS topic the trail must notify." },
            { name: "cloudWatchLogsLogGroupArn", type: "string", description: "The log group the trail must send to." },
        ],
        why: "No remediation: a trail needs a bucket and a key with correct policies; the stack's AuditTrail declares one, a runbook would improvise it.",
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/cloud-trail-log-file-validation-enabled.html
    {
        sourceIdentifier: "CLOUD_TRAIL_LOG_FILE_VALIDATION_ENABLED",
        ruleName: "airlock-cloud-trail-log-file-validation-enabled",
        description: "Every CloudTrail trail has log file validation (signed digest files) enabled.",
        documentation: `${CONFIG_GUIDE}/cloud-trail-log-file-validation-enabled.html`,
        // Trails are regional resources (a single-region trail lives in one region), and UpdateTrail
        // must be called in the trail's home region, where the rule and its remediation then run.
        scope: "regional",
        trigger: "periodic",
        resourceTypes: ["AWS::CloudTrail::Trail"],
        maximumExecutionFrequency: DAILY,
        parameters: [],
        remediation: remediation(ENABLE_CLOUDTRAIL_LOG_FILE_VALIDATION, {
            automaticByDefault: true,
            resourceIdParameter: "TrailName",
            why: "Turns log file validation on for the trail (UpdateTrail); nothing else about the trail changes, and digest files start from the next hour.",
        }),
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/cloud-trail-encryption-enabled.html
    {
        sourceIdentifier: "CLOUD_TRAIL_ENCRYPTION_ENABLED",
        ruleName: "airlock-cloud-trail-encryption-enabled",
        description: "Every CloudTrail trail encrypts its log files with a KMS key (SSE-KMS).",
        documentation: `${CONFIG_GUIDE}/cloud-trail-encryption-enabled.html`,
        scope: "regional",
        trigger: "periodic",
        resourceTypes: ["AWS::CloudTrail::Trail"],
        maximumExecutionFrequency: DAILY,
        parameters: [],
        remediation: remediation(ENABLE_CLOUDTRAIL_ENCRYPTION_WITH_KMS, {
            automaticByDefault: false,
            resourceIdParameter: "TrailName",
            staticParameters: (_ruleParams, ctx) => ({ KMSKeyId: trailKey(ENABLE_CLOUDTRAIL_ENCRYPTION_WITH_KMS, ctx) }),
            why: "Off by default: the only key Airlock can hand the runbook is the guardrails trail's, which is created encrypted, and that key's policy lets CloudTrail use it for that trail alone, so encrypting any other trail with it fails; widen the key policy first if it should encrypt other trails (whoever reads their logs then needs the key).",
        }),
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/root-account-mfa-enabled.html
    {
        sourceIdentifier: "ROOT_ACCOUNT_MFA_ENABLED",
        ruleName: "airlock-root-account-mfa-enabled",
        description: "The root user signs in with MFA.",
        documentation: `${CONFIG_GUIDE}/root-account-mfa-enabled.html`,
        scope: "global",
        trigger: "periodic",
        maximumExecutionFrequency: DAILY,
        parameters: [],
        why: "No remediation: only the root user can enrol its own MFA device.",
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/iam-password-policy.html
    {
        sourceIdentifier: "IAM_PASSWORD_POLICY",
        ruleName: "airlock-iam-password-policy",
        description: "The account's IAM password policy meets the rule's parameters (Airlock: at least 14 characters, all four character classes, none of the last 24 reused, expiry after 90 days).",
        documentation: `${CONFIG_GUIDE}/iam-password-policy.html`,
        scope: "global",
        trigger: "periodic",
        maximumExecutionFrequency: DAILY,
        parameters: PASSWORD_POLICY_PARAMETERS,
        remediation: remediation(SET_IAM_PASSWORD_POLICY, {
            automaticByDefault: true,
            staticParameters: (ruleParams) => ({
                // Every value the rule checks, passed explicitly: the runbook's own defaults (length 6,
                // no reuse prevention, no expiry, no character classes) would write a weak policy.
                ...Object.fromEntries(PASSWORD_POLICY_PARAMETERS.map((p) => [p.name, param(ruleParams, PASSWORD_POLICY_PARAMETERS, p.name)])),
                // Not rule parameters: users may change their own password (so expiry and rotation
                // after a leak work), and an expired password can still be changed at sign-in rather
                // than locking the user out until an administrator resets it.
                AllowUsersToChangePassword: "true",
                HardExpiry: "false",
            }),
            why: "Replaces the account's password policy with the rule's values (passed explicitly), users allowed to change their own passwords and no hard expiry.",
        }),
    },
    // https://docs.aws.amazon.com/config/latest/developerguide/access-keys-rotated.html
    {
        sourceIdentifier: "ACCESS_KEYS_ROTATED",
        ruleName: "airlock-access-keys-rotated",
        description: "No active IAM access key is older than maxAccessKeyAge days.",
        documentation: `${CONFIG_GUIDE}/access-keys-rotated.html`,
        scope: "global",
        trigger: "periodic",
        resourceTypes: ["AWS::IAM::User"],
        maximumExecutionFrequency: DAILY,
        parameters: ACCESS_KEY_AGE_PARAMETERS,
        // AWS's runbook page pairs RevokeUnusedIAMUserCredentials with this rule (MaxCredentialUsageAge = maxAccessKeyAge).
        remediation: remediation(REVOKE_UNUSED_IAM_USER_CREDENTIALS, {
            automaticByDefault: false,
            resourceIdParameter: "IAMResourceId",
            staticParameters: (ruleParams) => ({ MaxCredentialUsageAge: param(ruleParams, ACCESS_KEY_AGE_PARAMETERS, "maxAccessKeyAge") }),
            why: "Off by default: rotating means issuing a new key to whatever uses the old one, which no runbook can do. AWS's pairing, RevokeUnusedIAMUserCredentials with the rule's age, deactivates keys (and deletes passwords) unused for that long and leaves an old key that is still in use alone, so it revokes what someone may still need without fixing what the rule reports.",
        }),
    },
];

/** The catalog entry for a source identifier, or undefined. */
export function findManagedRule(sourceIdentifier: string): ManagedRuleSpec | undefined {
    return MANAGED_RULES.find((r) => r.sourceIdentifier === sourceIdentifier);
}

/** A rule's parameter values as sent: Airlock's defaults, then the stack's (validated) overrides. */
export function ruleParameterValues(rule: ManagedRuleSpec, overrides: Readonly<Record<string, RuleParameterValue | undefined>> = {}): Record<string, RuleParameterValue> {
    const values: Record<string, RuleParameterValue> = Object.fromEntries(rule.parameters.map((p) => [p.name, p.default]));
    for (const [name, value] of Object.entries(overrides)) {
        if (value !== undefined) {
            values[name] = value;
        }
    }
    return values;
}

// ---------------------------------------------------------------------------------------------------
// Remediation settings and the automation role
// ---------------------------------------------------------------------------------------------------

/**
 * Config's remediation controls, the same for every rule. A runbook that fails (a missing permission,
 * a resource gone) is tried 3 times within 5 minutes (past IAM's eventual consistency and API
 * throttling), then Config records a remediation exception to look at rather than retrying forever
 * (Config allows 1-25 attempts within 1-2,678,000 seconds). At most 10 % of the noncompliant resources
 * are remediated at once, and the run stops when more than 10 % fail: a runbook that misbehaves cannot
 * sweep the account before anyone sees it (Config allows 1-100 % for both).
 */
export const REMEDIATION_DEFAULTS = {
    maximumAutomaticAttempts: 3,
    retryAttemptSeconds: 300,
    concurrentExecutionRatePercentage: 10,
    errorPercentage: 10,
} as const;

/** Whether any of these rules has a remediation, i.e. whether an automation role is needed at all. */
export function remediationRoleNeeded(specs: readonly { readonly rule: ManagedRuleSpec }[]): boolean {
    return specs.some(({ rule }) => rule.remediation !== undefined);
}

/**
 * The automation role's permissions: the union of the given rules' runbooks' permissions, each
 * runbook once (its statements' Sids start with its name), nothing else. Pass only the rules whose
 * remediation is enabled; rules without a remediation add nothing. Throws when a remediation cannot run
 * here (see `remediationUnavailable`) and when there is no remediation at all: then create no role
 * (`remediationRoleNeeded`).
 */
export function remediationRolePolicy(specs: readonly { readonly rule: ManagedRuleSpec }[], ctx: RemediationContext): IdentityPolicyDocument {
    const runbooks = new Map<string, RemediationSpec>();
    for (const { rule } of specs) {
        const remediation = rule.remediation;
        if (remediation === undefined) {
            continue;
        }
        const problem = remediationUnavailable(remediation, ctx);
        if (problem !== undefined) {
            throw new Error(`${rule.sourceIdentifier}: ${problem}`);
        }
        if (!runbooks.has(remediation.documentName)) {
            runbooks.set(remediation.documentName, remediation);
        }
    }
    if (runbooks.size === 0) {
        throw new Error("No remediation is enabled, so no automation role is needed: create none (see remediationRoleNeeded).");
    }
    const statements = [...runbooks.values()].flatMap((r) => r.permissions(ctx));
    const sids = statements.map((s) => s.Sid);
    const repeated = sids.find((sid, i) => sids.indexOf(sid) !== i);
    if (repeated !== undefined) {
        throw new Error(`Two statements of the automation role share the Sid ${repeated}.`);
    }
    return { Version: "2012-10-17", Statement: statements };
}

/**
 * Who may assume the automation role: Systems Manager Automation running in this account, as SSM's
 * cross-service confused-deputy page documents (aws:SourceAccount, and aws:SourceArn matching this
 * account's automation executions in any region).
 * https://docs.aws.amazon.com/systems-manager/latest/userguide/cross-service-confused-deputy-prevention.html
 */
export function remediationTrustPolicy(ctx: RemediationContext): ResourcePolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "SsmAutomationOfThisAccount",
                Effect: "Allow",
                // SSM's service principal is ssm.amazonaws.com in every partition.
                Principal: { Service: "ssm.amazonaws.com" },
                Action: "sts:AssumeRole",
                Condition: {
                    StringEquals: { "aws:SourceAccount": ctx.accountId },
                    ArnLike: { "aws:SourceArn": `arn:${ctx.partition}:ssm:*:${ctx.accountId}:automation-execution/*` },
                },
            },
        ],
    };
}

// ---------------------------------------------------------------------------------------------------
// The delivery channel's bucket
// ---------------------------------------------------------------------------------------------------

/**
 * The Config delivery bucket's policy, AWS's documented one ("Permissions for the Amazon S3 bucket for
 * the AWS Config delivery channel"): Config checks the bucket's ACL and existence and writes snapshots
 * and history under `[prefix/]AWSLogs/<account>/Config/` with the owner in full control, each only for
 * this account (aws:SourceAccount, against the confused deputy); nobody uses plain HTTP.
 * https://docs.aws.amazon.com/config/latest/developerguide/s3-bucket-policy.html
 */
export function configDeliveryBucketPolicy(g: {
    readonly partition: string;
    readonly bucketName: string;
    readonly accountId: string;
    /** The delivery channel's `s3KeyPrefix`, if any. */
    readonly keyPrefix?: string;
    /** @default "amazonaws.com" (China: "amazonaws.com.cn") */
    readonly dnsSuffix?: string;
}): ResourcePolicyDocument {
    const bucket = bucketArn(g.partition, g.bucketName);
    const config = { Service: `config.${g.dnsSuffix ?? "amazonaws.com"}` };
    const thisAccount = { "aws:SourceAccount": g.accountId };
    const prefix = (g.keyPrefix ?? "").replace(/^\/+|\/+$/g, "");
    const logs = `${bucket}/${prefix === "" ? "" : `${prefix}/`}AWSLogs/${g.accountId}/Config/*`;
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "AWSConfigBucketPermissionsCheck", Effect: "Allow", Principal: config, Action: "s3:GetBucketAcl", Resource: bucket, Condition: { StringEquals: thisAccount } },
            { Sid: "AWSConfigBucketExistenceCheck", Effect: "Allow", Principal: config, Action: "s3:ListBucket", Resource: bucket, Condition: { StringEquals: thisAccount } },
            {
                Sid: "AWSConfigBucketDelivery",
                Effect: "Allow",
                Principal: config,
                Action: "s3:PutObject",
                Resource: logs,
                Condition: { StringEquals: { ...thisAccount, "s3:x-amz-acl": "bucket-owner-full-control" } },
            },
            denyPlainHttp(bucket),
        ],
    };
}

// ---------------------------------------------------------------------------------------------------
// Validating a stack's parameter overrides
// ---------------------------------------------------------------------------------------------------

function describe(value: unknown): string {
    if (value === null) {
        return "null";
    }
    if (Array.isArray(value)) {
        return `the list ${JSON.stringify(value)}`;
    }
    if (typeof value === "object") {
        return "a map";
    }
    return `the ${typeof value} ${JSON.stringify(value)}`;
}

function problemOf(rule: ManagedRuleSpec, p: OptionalRuleParameterSpec, value: unknown): string | undefined {
    const name = `\`${p.name}\``;
    const example = "default" in p ? (p as RuleParameterSpec).default : undefined;
    switch (p.type) {
        case "int": {
            if (typeof value === "string" && /^\s*-?\d+\s*$/.test(value)) {
                return `${name} must be a number, not the string ${JSON.stringify(value)}. Write it without quotes: ${value.trim()}.`;
            }
            if (typeof value !== "number") {
                return `${name} must be a whole number${example === undefined ? "" : ` such as ${String(example)}`}, not ${describe(value)}.`;
            }
            if (!Number.isInteger(value)) {
                return `${name} must be a whole number, not ${value}.`;
            }
            const unit = p.unit === undefined ? "" : ` ${p.unit}`;
            if ((p.min !== undefined && value < p.min) || (p.max !== undefined && value > p.max)) {
                const range = p.max === undefined ? `at least ${p.min}${unit}` : p.min === undefined ? `at most ${p.max}${unit}` : `between ${p.min} and ${p.max}${unit}`;
                return `${name} must be ${range}, not ${value}.`;
            }
            return undefined;
        }
        case "boolean":
            if (typeof value === "string" && /^(true|false)$/i.test(value.trim())) {
                return `${name} must be true or false, not the string ${JSON.stringify(value)}. Write it without quotes: ${value.trim().toLowerCase()}.`;
            }
            return typeof value === "boolean" ? undefined : `${name} must be true or false, not ${describe(value)}.`;
        case "string":
            if (typeof value === "number" || typeof value === "boolean") {
                return `${name} must be a string, not ${describe(value)}. Quote it: "${String(value)}".`;
            }
            if (typeof value !== "string" || value.trim() === "") {
                return `${name} must be a non-empty string, not ${describe(value)}.`;
            }
            if (p.allowedValues !== undefined && !p.allowedValues.includes(value)) {
                return `${name} must be one of ${p.allowedValues.join(", ")}, not ${JSON.stringify(value)}.${didYouMean(value, p.allowedValues)}`;
            }
            return undefined;
        case "csv": {
            if (Array.isArray(value) && value.every((v) => typeof v === "string" || typeof v === "number")) {
                return `${name} must be one comma-separated string, not a list. Write it as ${JSON.stringify(value.join(","))}.`;
            }
            if (typeof value === "number") {
                return `${name} must be a comma-separated string, not ${describe(value)}. Quote it: "${value}".`;
            }
            if (typeof value !== "string" || value.trim() === "") {
                return `${name} must be a non-empty comma-separated string${example === undefined ? "" : ` such as ${JSON.stringify(example)}`}, not ${describe(value)}.`;
            }
            if (value.split(",").some((item) => item.trim() === "")) {
                return `${name} has an empty item in ${JSON.stringify(value)}; remove the extra comma.`;
            }
            if (rule.sourceIdentifier === "RESTRICTED_INCOMING_TRAFFIC" && value.split(",").some((item) => !/^\d+$/.test(item.trim()) || Number(item) > 65535)) {
                return `${name} must list TCP ports (0-65535), not ${JSON.stringify(value)}.`;
            }
            return undefined;
        }
    }
}

/**
 * What is wrong with a stack's parameter overrides for the rule `sourceIdentifier`: one message per
 * problem, naming the parameter and the fix (unknown name with a suggestion, wrong type, out of range).
 * [] when they are fine.
 */
export function ruleParameterProblems(sourceIdentifier: string, params: Record<string, unknown>): string[] {
    const rule = findManagedRule(sourceIdentifier);
    if (rule === undefined) {
        const known = MANAGED_RULES.map((r) => r.sourceIdentifier);
        return [`Unknown rule \`${sourceIdentifier}\`: rules are named by their AWS source identifier.${didYouMean(sourceIdentifier.toUpperCase(), known, "`")}`];
    }
    const specs: readonly OptionalRuleParameterSpec[] = [...rule.parameters, ...(rule.optionalParameters ?? [])];
    const names = specs.map((p) => p.name);
    const problems: string[] = [];
    for (const [name, value] of Object.entries(params)) {
        const spec = specs.find((p) => p.name === name);
        if (spec === undefined) {
            const sameButCase = names.find((n) => n.toLowerCase() === name.toLowerCase());
            if (names.length === 0) {
                problems.push(`${rule.sourceIdentifier} takes no parameters; remove \`${name}\`.`);
            } else if (sameButCase !== undefined) {
                problems.push(`\`${name}\` is not a parameter of ${rule.sourceIdentifier}: AWS's names are case-sensitive. Write \`${sameButCase}\`.`);
            } else {
                problems.push(`\`${name}\` is not a parameter of ${rule.sourceIdentifier}.${didYouMean(name, names, "`")} Its parameters: ${names.join(", ")}.`);
            }
            continue;
        }
        if (value === null || value === undefined) {
            problems.push(`\`${name}\` has no value; give one, or remove it to keep ${"default" in spec ? `Airlock's ${String((spec as RuleParameterSpec).default)}` : "it unset"}.`);
            continue;
        }
        const problem = problemOf(rule, spec, value);
        if (problem !== undefined) {
            problems.push(problem);
        }
    }
    return problems;
}
