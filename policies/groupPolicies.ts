import type * as aws from "@pulumi/aws";
import { Conditions, GuardrailPolicyDocument, IdentityNotActionStatement, IdentityStatement, Partition } from "./document";
import { MANAGED_TAG } from "./keyNaming";

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

/** An identity-policy statement about every resource except some (a Deny outside the user's own). */
export interface IdentityNotResourceStatement extends Omit<IdentityStatement, "Resource"> {
    readonly NotResource: string | readonly string[];
    readonly Resource?: undefined;
}

/** The group policies' documents: guardrail documents that may also deny outside some resources. */
export interface GroupPolicyDocument {
    readonly Version: "2012-10-17";
    readonly Statement: ReadonlyArray<IdentityStatement | IdentityNotActionStatement | IdentityNotResourceStatement>;
}

/** The JSON text AWS stores (as `toJson` in document.ts, for documents with NotResource statements too). */
export function groupPolicyJson(document: GroupPolicyDocument | GuardrailPolicyDocument): string {
    return JSON.stringify(document);
}

// Compile-time proof that these documents are what @pulumi/aws accepts.
type Mutable<T> = T extends string ? T : T extends ReadonlyArray<infer U> ? Mutable<U>[] : { -readonly [K in keyof T]: Mutable<T[K]> };
const _groupPolicyIsAwsDocument = (d: Mutable<GroupPolicyDocument>): aws.iam.PolicyDocument => d;
void _groupPolicyIsAwsDocument;

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

/**
 * The enrolment actions that change something: with a long-term access key alone (a stolen one) they
 * would add the thief's own device to the user, and then an MFA session (review H2).
 */
const MFA_ENROLMENT_WRITES = ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:ResyncMFADevice"] as const;

/**
 * The exempted actions that name a user or an MFA device, limited without MFA to the user's own (review
 * M1). Not `iam:ListVirtualMFADevices` (its only resource is `*`: a NotResource Deny would refuse it to
 * everyone) nor `sts:GetSessionToken` (no resource).
 */
const OWN_MFA_ACTIONS = ["iam:CreateVirtualMFADevice", "iam:EnableMFADevice", "iam:GetUser", "iam:GetMFADevice", "iam:ListMFADevices", "iam:ResyncMFADevice"] as const;

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
     * service users with access keys that cannot use MFA). Matched by user name, ignoring case (IAM
     * user names are unique ignoring case). @default []
     */
    readonly ignoredUsers?: readonly string[];
}

/**
 * `Force_MFA`, AWS's documented pattern ("allows MFA-authenticated IAM users to manage their own
 * MFA device"): every action is denied unless the request was signed in with MFA, except what a
 * user needs to enrol its own virtual MFA device and get an MFA session; and the user may manage
 * its own MFA device (only its own: `${aws:username}`). `BoolIfExists` denies also when the key is
 * absent (long-term access keys carry none). Closed further than AWS's pattern:
 * - Enrolment (`CreateVirtualMFADevice`, `EnableMFADevice`, `ResyncMFADevice`) is denied to requests
 *   signed with a long-term access key (`aws:MultiFactorAuthPresent` absent: `Null`), so a stolen
 *   key cannot add the thief's own device (IAM allows up to 8 per user) and then get an MFA session.
 *   **Consequence:** a user enrols its first device from a console session, signed in with its
 *   password (there the key is present, `"false"`), or from an MFA session once it has a device; a
 *   user with access keys and no console password cannot enrol itself (an administrator with MFA
 *   enables its device), and a device out of sync is resynchronised in the console.
 *   `sts:GetSessionToken` is not denied: with the serial number and a code of an enrolled device it
 *   is how CLI users get an MFA session, and a Deny would not stop it anyway (IAM User Guide,
 *   "Permissions for GetSessionToken": policies have no effect on it). Without MFA its credentials
 *   cannot call IAM at all (STS API reference), so enrolment is where the hole is closed.
 * - Without MFA, the exempted actions that name a user or device work only on the user's own
 *   (`user/${aws:username}`, also under an IAM path, and `mfa/${aws:username}`), even when another
 *   policy beside Force_MFA allows more: no enabling or resyncing a device of another user, reading
 *   other users, or creating a device named after another user. So a device enrolled without MFA is
 *   named exactly as the user (the console's "Device name"); with MFA, further devices may have
 *   any name. `ListVirtualMFADevices` (resource `*`) stays allowed: it lists the account's virtual
 *   devices and the users they are assigned to.
 * Ignored users are left alone by all of it; they are compared ignoring case.
 */
export function forceMfaPolicy(o: ForceMfaOptions): GroupPolicyDocument {
    const passwords = o.allowPasswordChangeWithoutMfa === true;
    const ownUser = `arn:${o.partition}:iam::*:user/${USERNAME}`;
    const ownUserUnderAPath = `arn:${o.partition}:iam::*:user/*/${USERNAME}`;
    const ownDevice = `arn:${o.partition}:iam::*:mfa/${USERNAME}`;
    const ignored = o.ignoredUsers ?? [];
    const unlessIgnored: Conditions = ignored.length === 0 ? {} : { StringNotEqualsIgnoreCase: { "aws:username": [...ignored] } };
    const withoutMfa: Conditions = { BoolIfExists: { "aws:MultiFactorAuthPresent": "false" }, ...unlessIgnored };
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
                Condition: withoutMfa,
            },
            {
                Sid: "DenyMfaEnrolmentWithLongTermKeys",
                Effect: "Deny",
                Action: [...MFA_ENROLMENT_WRITES],
                Resource: "*",
                Condition: { Null: { "aws:MultiFactorAuthPresent": "true" }, ...unlessIgnored },
            },
            {
                Sid: "DenyOtherUsersMfaWithoutMfa",
                Effect: "Deny",
                Action: [...OWN_MFA_ACTIONS],
                NotResource: [ownUser, ownUserUnderAPath, ownDevice],
                Condition: withoutMfa,
            },
        ],
    };
}

export interface SourceIpOptions {
    /** Where users may call AWS from: IPv4 and IPv6 CIDRs. At least one. */
    readonly cidrs: readonly string[];
    /** This account: requests through its own VPC endpoints pass, through other accounts' endpoints not. */
    readonly accountId: string;
}

/**
 * `User_Source_IP_Restrictions`: deny every request from a public address outside `cidrs`, except
 * calls AWS services make on the user's behalf (`aws:ViaAWSService`: CloudFormation, Athena, ...,
 * which come from AWS's addresses). A request through a VPC endpoint carries no `aws:SourceIp`:
 * - through an endpoint of this account (`aws:VpceAccount` = `accountId`) it passes, so users in the
 *   account's private networks keep working;
 * - through an endpoint that says it belongs to another account (`aws:VpceAccount` present and not
 *   `accountId`) it is denied (review H1: a thief made an endpoint in their own account and came in
 *   with a stolen key from anywhere).
 * - through an endpoint whose service does not report `aws:VpceAccount` (AWS supports the key for a
 *   subset of services) it passes: the issue asks that users not be locked out through VPC
 *   endpoints, and such a request cannot be told apart from one through this account's own
 *   endpoint. For those services the H1 route stays open; README says so.
 * What it does not stop: a role assumed from inside the range and its credentials used elsewhere
 * (roles are not in the group), anything done through this account's own VPC endpoints, and the
 * route above for services without `aws:VpceAccount`.
 */
export function sourceIpRestrictionPolicy(o: SourceIpOptions): GuardrailPolicyDocument {
    if (o.cidrs.length === 0) {
        throw new Error("sourceIpRestrictionPolicy: at least one CIDR is required, or every request would be denied.");
    }
    if (!/^\d{12}$/.test(o.accountId)) {
        throw new Error(`sourceIpRestrictionPolicy: accountId must be a 12-digit AWS account id, not ${JSON.stringify(o.accountId)}.`);
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
            {
                Sid: "DenyThroughOtherAccountsVpcEndpoints",
                Effect: "Deny",
                Action: "*",
                Resource: "*",
                Condition: {
                    Null: { "aws:SourceIp": "true", "aws:VpceAccount": "false" },
                    StringNotEquals: { "aws:VpceAccount": o.accountId },
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
 * recorder, delivery channel, remediation or conformance pack. And not Airlock's own rules (review
 * M2): putting, tagging or untagging a rule tagged `airlock:managed=true` is denied, and so is any
 * request that sets or removes that tag (`aws:TagKeys`, compared ignoring case), whatever else
 * allows it (so whoever deploys Airlock's rules must not be in a group with this policy: the Deny
 * would stop the deployment).
 * **What IAM cannot stop:** a custom Lambda rule whose function is in another account (Config runs
 * cross-account rule functions and sends them configuration items): `PutConfigRule` has no condition
 * key for the rule's source or function (only `aws:RequestTag` and `aws:TagKeys`), so the audit has to
 * compare the account's rules with Airlock's catalogue.
 */
export function configWritePolicy(o: ConfigWriteOptions): GuardrailPolicyDocument {
    const rules = `arn:${o.partition}:config:*:${o.accountId}:config-rule/*`;
    const airlocksRuleActions = ["config:PutConfigRule", "config:TagResource", "config:UntagResource"];
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "PutConfigRules", Effect: "Allow", Action: ["config:PutConfigRule", "config:TagResource"], Resource: rules },
            { Sid: "ListConfigRules", Effect: "Allow", Action: "config:DescribeConfigRules", Resource: "*" },
            {
                Sid: "DenyChangingAirlocksRules",
                Effect: "Deny",
                Action: airlocksRuleActions,
                Resource: rules,
                Condition: { StringEquals: { [`aws:ResourceTag/${MANAGED_TAG}`]: "true" } },
            },
            {
                Sid: "DenySettingOrRemovingAirlocksTag",
                Effect: "Deny",
                Action: airlocksRuleActions,
                Resource: rules,
                Condition: { "ForAnyValue:StringEqualsIgnoreCase": { "aws:TagKeys": [MANAGED_TAG] } },
            },
        ],
    };
}
