import { GuardrailPolicyDocument, IdentityStatement, Partition } from "./document";

/**
 * The managed policies of CloudKestrel's groups (issue 9, `GroupPolicies`): `Force_MFA`,
 * `User_Source_IP_Restrictions` and `Config_Write`. Built here, in one place, so that the
 * guardrails stack declares them and the audit compares accounts against exactly these documents.
 */

/** The names the policies have in IAM (CloudKestrel's, which existing accounts and the audit use). */
export const GROUP_POLICY_NAMES = {
    forceMfa: "Force_MFA",
    sourceIp: "User_Source_IP_Restrictions",
    configWrite: "Config_Write",
} as const;

/** IAM policy variable (a plain string): the calling user's name. */
const USERNAME = "${aws:username}";

/** What a user signed in without MFA may still do: see and enrol its own MFA device, and get an MFA session. */
const MFA_ENROLMENT_ACTIONS = [
    "iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:GetUser",
    "iam:GetMFADevice",
    "iam:ListMFADevices",
    "iam:ListVirtualMFADevices",
    "iam:ResyncMFADevice",
    "sts:GetSessionToken",
] as const;

/** With the option: changing one's own password without MFA (first sign-in, an expired password). */
const PASSWORD_CHANGE_ACTIONS = ["iam:ChangePassword", "iam:GetAccountPasswordPolicy"] as const;

export interface ForceMfaOptions extends Partition {
    /**
     * Let a user without MFA change its own password. Not in AWS's documented pattern: a console
     * user whose password must be changed at first sign-in (or has expired) cannot sign in to
     * enrol MFA otherwise. Off by default.
     * @default false
     */
    readonly allowPasswordChangeWithoutMfa?: boolean;
    /**
     * Users Force_MFA leaves alone even when they are in the group (CloudKestrel's `IgnoreUsers`:
     * service users with access keys that cannot use MFA). Matched by user name. @default []
     */
    readonly ignoredUsers?: readonly string[];
}

/**
 * `Force_MFA`, AWS's documented pattern ("allows MFA-authenticated IAM users to manage their own
 * MFA device"): every action is denied unless the request was signed in with MFA, except what a
 * user needs to enrol its own virtual MFA device and get an MFA session; and the user may manage
 * its own MFA device (only its own: `${aws:username}`). `BoolIfExists` denies also when the key is
 * absent (long-term access keys carry none).
 */
export function forceMfaPolicy(o: ForceMfaOptions): GuardrailPolicyDocument {
    const passwords = o.allowPasswordChangeWithoutMfa === true;
    const ownUser = `arn:${o.partition}:iam::*:user/${USERNAME}`;
    const statements: IdentityStatement[] = [
        { Sid: "AllowListingVirtualMfaDevices", Effect: "Allow", Action: "iam:ListVirtualMFADevices", Resource: "*" },
        { Sid: "AllowCreatingOwnVirtualMfaDevice", Effect: "Allow", Action: "iam:CreateVirtualMFADevice", Resource: `arn:${o.partition}:iam::*:mfa/*` },
        {
            Sid: "AllowManagingOwnMfa",
            Effect: "Allow",
            Action: ["iam:DeactivateMFADevice", "iam:EnableMFADevice", "iam:GetUser", "iam:GetMFADevice", "iam:ListMFADevices", "iam:ResyncMFADevice"],
            Resource: ownUser,
        },
        ...(passwords
            ? [
                  { Sid: "AllowChangingOwnPassword", Effect: "Allow" as const, Action: "iam:ChangePassword", Resource: ownUser },
                  { Sid: "AllowReadingThePasswordPolicy", Effect: "Allow" as const, Action: "iam:GetAccountPasswordPolicy", Resource: "*" },
              ]
            : []),
    ];
    return {
        Version: "2012-10-17",
        Statement: [
            ...statements,
            {
                Sid: "DenyAllExceptMfaEnrolmentWithoutMfa",
                Effect: "Deny",
                NotAction: [...MFA_ENROLMENT_ACTIONS, ...(passwords ? PASSWORD_CHANGE_ACTIONS : [])],
                Resource: "*",
                Condition: {
                    BoolIfExists: { "aws:MultiFactorAuthPresent": "false" },
                    ...((o.ignoredUsers ?? []).length === 0 ? {} : { StringNotEquals: { "aws:username": [...(o.ignoredUsers ?? [])] } }),
                },
            },
        ],
    };
}

export interface SourceIpOptions {
    /** Where users may call AWS from: IPv4 and IPv6 CIDRs. At least one. */
    readonly cidrs: readonly string[];
}

/**
 * `User_Source_IP_Restrictions`: deny every request from a public address outside `cidrs`, except
 * - calls AWS services make on the user's behalf (`aws:ViaAWSService`: CloudFormation, Athena, ...,
 *   which come from AWS's addresses), and
 * - requests through a VPC endpoint, which carry no `aws:SourceIp` (`Null` … `"false"`): denying
 *   them would lock users out of private networks. (What it does not stop: a role assumed from
 *   inside the range and its credentials used elsewhere — roles are not in the group.)
 */
export function sourceIpRestrictionPolicy(o: SourceIpOptions): GuardrailPolicyDocument {
    if (o.cidrs.length === 0) {
        throw new Error("sourceIpRestrictionPolicy: at least one CIDR is required, or every request would be denied.");
    }
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "DenyFromOutsideTheAllowedAddresses",
                Effect: "Deny",
                Action: "*",
                Resource: "*",
                Condition: {
                    NotIpAddress: { "aws:SourceIp": [...o.cidrs] },
                    Null: { "aws:SourceIp": "false" },
                    BoolIfExists: { "aws:ViaAWSService": "false" },
                },
            },
        ],
    };
}

export interface ConfigWriteOptions extends Partition {
    readonly accountId: string;
}

/**
 * `Config_Write`: what adding and updating AWS Config rules needs, and nothing else: put a rule
 * (and tag it) in this account, and list the rules to see what is missing. No deletion, no
 * recorder, delivery channel, remediation or conformance pack.
 */
export function configWritePolicy(o: ConfigWriteOptions): GuardrailPolicyDocument {
    const rules = `arn:${o.partition}:config:*:${o.accountId}:config-rule/*`;
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "PutConfigRules", Effect: "Allow", Action: ["config:PutConfigRule", "config:TagResource"], Resource: rules },
            { Sid: "ListConfigRules", Effect: "Allow", Action: "config:DescribeConfigRules", Resource: "*" },
        ],
    };
}
