import type { Finding, Severity } from "../findings";
import type { IamInventory, IamUser, InventoryEntity, ManagedPolicy } from "../iamInventory";
import { PolicyDocumentError, policyDifference } from "../policyEquivalence";
import { byName } from "./rootAndUsers";
import { GROUP_POLICY_NAMES, configWritePolicy, forceMfaPolicy, sourceIpRestrictionPolicy } from "../../policies/groupPolicies";

/**
 * The group-policy check (issue 10, "Group policies"; CloudKestrel's `Policy` rules), over an
 * inventory from fetchIamInventory: no AWS calls here.
 *
 * For each required policy:
 * 1. it exists (a customer managed policy of that name; IAM names ignore case);
 * 2. its default version is semantically equal to the document `policies/groupPolicies.ts` builds
 *    for this target (policyEquivalence.ts: order, single string vs list, Sids do not matter; an
 *    extra or missing statement does) — evidence: the missing and extra statements;
 * 3. for `Force_MFA` and `User_Source_IP_Restrictions` (CloudKestrel: "all users have this policy
 *    attached"): it applies to every user, through a group or attached directly, except the users
 *    ignored for that policy — a failure per user not covered, naming the policy.
 *    `Config_Write` is the audit group's, not everyone's: existence and document only.
 *    AWS's `SecurityAudit` (no reference document: AWS maintains it) is checked by ARN only: attached
 *    to at least one group or user.
 * What is fine gives a pass finding (one per policy and sub-check, not one per user), so the report
 * shows green. When a policy is missing, its coverage is not reported user by user (nobody is
 * covered): the one failure says how many users that leaves uncovered.
 */

export interface GroupPoliciesTarget {
    /** The target's name, as in the targets file. */
    readonly name: string;
    readonly accountId: string;
    /** aws, aws-cn, aws-us-gov, … */
    readonly partition: string;
    /** The partition's DNS suffix. @default from the partition (amazonaws.com, amazonaws.com.cn, …) */
    readonly dnsSuffix?: string;
    /** CloudKestrel's Source_IPs: needed when User_Source_IP_Restrictions is required. */
    readonly sourceCidrs?: readonly string[];
    /**
     * Users a policy need not apply to (CloudKestrel's IgnoreUsers), compared ignoring case (IAM
     * user names do). A list applies to every policy; a map gives each policy its own list (by
     * policy name), as CloudKestrel's targets do (IgnoreUsers sits on the Force_MFA rule). The
     * Force_MFA reference document carries Force_MFA's ignored users, as the guardrails stack
     * deploys it (`ignoredUsers`).
     */
    readonly ignoreUsers: readonly string[] | Readonly<Record<string, readonly string[]>>;
    /** The required policies, by IAM name: Force_MFA, User_Source_IP_Restrictions, Config_Write, SecurityAudit. */
    readonly policies: readonly string[];
    /** As the guardrails stack's `allowPasswordChangeWithoutMfa` (part of Force_MFA's document). @default false */
    readonly allowPasswordChangeWithoutMfa?: boolean;
}

/** What the check reads: without any of these in the inventory, it cannot tell "none" from "not listed". */
const NEEDED_ENTITIES: readonly InventoryEntity[] = ["User", "Group", "LocalManagedPolicy"];

/** AWS's managed policy the audit group carries: referred to by ARN only. */
export const SECURITY_AUDIT_POLICY_NAME = "SecurityAudit";

const DNS_SUFFIXES: Readonly<Record<string, string>> = {
    aws: "amazonaws.com",
    "aws-cn": "amazonaws.com.cn",
    "aws-us-gov": "amazonaws.com",
    "aws-iso": "c2s.ic.gov",
    "aws-iso-b": "sc2s.sgov.gov",
    "aws-iso-e": "cloud.adc-e.uk",
    "aws-iso-f": "csp.hci.ic.gov",
    "aws-eusc": "amazonaws.eu",
};

interface Requirement {
    /** Builds the reference document; throws when the target lacks what it needs. */
    readonly reference: (t: GroupPoliciesTarget, ignored: readonly string[]) => unknown;
    /** Must apply to every user (but the ignored ones). */
    readonly everyUser: boolean;
    /** Of a failure (missing, drifted, a user not covered). */
    readonly severity: Severity;
}

const REQUIREMENTS: Readonly<Record<string, Requirement>> = {
    [GROUP_POLICY_NAMES.forceMfa]: {
        reference: (t, ignored) =>
            forceMfaPolicy({
                partition: t.partition,
                dnsSuffix: dnsSuffixOf(t),
                ignoredUsers: ignored,
                allowPasswordChangeWithoutMfa: t.allowPasswordChangeWithoutMfa ?? false,
            }),
        everyUser: true,
        severity: "high",
    },
    [GROUP_POLICY_NAMES.sourceIp]: {
        reference: (t) => {
            if (t.sourceCidrs === undefined || t.sourceCidrs.length === 0) {
                throw new Error("the target gives no source CIDRs (Source_IPs)");
            }
            return sourceIpRestrictionPolicy({ cidrs: t.sourceCidrs, accountId: t.accountId });
        },
        everyUser: true,
        severity: "high",
    },
    [GROUP_POLICY_NAMES.configWrite]: {
        reference: (t) => configWritePolicy({ partition: t.partition, dnsSuffix: dnsSuffixOf(t), accountId: t.accountId }),
        everyUser: false,
        severity: "medium",
    },
};

export function checkGroupPolicies(inv: IamInventory, target: GroupPoliciesTarget): Finding[] {
    const findings: Finding[] = [];
    const finding = (f: Omit<Finding, "target" | "accountId" | "region" | "check">): void => {
        findings.push({ target: target.name, accountId: target.accountId, region: "global", check: "group-policies", ...f });
    };
    const unlisted = NEEDED_ENTITIES.filter((e) => !inv.entities.includes(e));
    const seen = new Set<string>();
    for (const policyName of target.policies) {
        if (seen.has(policyName.toLowerCase())) continue;
        seen.add(policyName.toLowerCase());
        const ignored = ignoredFor(target, policyName);
        const expectedArn = `arn:${target.partition}:iam::${target.accountId}:policy/${policyName}`;
        if (unlisted.length > 0) {
            finding({
                resource: expectedArn,
                status: "error",
                severity: "medium",
                title: `Policy ${policyName} not checked: the IAM inventory did not list ${unlisted.join(", ")}`,
                evidence: { policy: policyName, listed: [...inv.entities], needed: [...NEEDED_ENTITIES] },
            });
            continue;
        }

        if (policyName.toLowerCase() === SECURITY_AUDIT_POLICY_NAME.toLowerCase()) {
            const arn = `arn:${target.partition}:iam::aws:policy/${SECURITY_AUDIT_POLICY_NAME}`;
            const groups = inv.groups.filter((g) => g.attachedPolicies.some((p) => p.arn === arn)).map((g) => g.name);
            const users = inv.users.filter((u) => u.attachedPolicies.some((p) => p.arn === arn)).map((u) => u.name);
            const attached = groups.length + users.length > 0;
            finding({
                resource: arn,
                status: attached ? "pass" : "fail",
                severity: attached ? "informational" : "low",
                title: attached ? `AWS managed policy ${SECURITY_AUDIT_POLICY_NAME} is attached` : `AWS managed policy ${SECURITY_AUDIT_POLICY_NAME} is attached to no group or user`,
                evidence: { policy: SECURITY_AUDIT_POLICY_NAME, policyArn: arn, groups, users },
            });
            continue;
        }

        const requirement = Object.entries(REQUIREMENTS).find(([name]) => name.toLowerCase() === policyName.toLowerCase())?.[1];
        if (requirement === undefined) {
            finding({
                resource: expectedArn,
                status: "error",
                severity: "medium",
                title: `No reference document for policy ${policyName}`,
                evidence: { policy: policyName, known: [...Object.keys(REQUIREMENTS), SECURITY_AUDIT_POLICY_NAME] },
            });
            continue;
        }

        const policy = findPolicy(inv, policyName);
        const usersToCover = requirement.everyUser ? inv.users.filter((u) => !isIgnored(u.name, ignored)) : [];
        if (policy === undefined) {
            finding({
                resource: expectedArn,
                status: "fail",
                severity: requirement.severity,
                title: `Policy ${policyName} does not exist`,
                evidence: requirement.everyUser
                    ? { policy: policyName, expectedArn, usersNotCovered: usersToCover.length }
                    : { policy: policyName, expectedArn },
            });
            continue;
        }

        findings.push(...documentFindings(target, policyName, policy, requirement, ignored));

        if (requirement.everyUser) {
            const groupsWithPolicy = inv.groups.filter((g) => g.attachedPolicies.some((p) => p.arn === policy.arn)).map((g) => g.name);
            const withPolicy = new Set(groupsWithPolicy);
            const uncovered = usersToCover
                .filter((u) => !covers(u, policy.arn, withPolicy))
                .sort((a, b) => byName(a.name, b.name));
            for (const user of uncovered) {
                finding({
                    resource: user.arn,
                    status: "fail",
                    severity: requirement.severity,
                    title: `User ${user.name} is in no group that applies ${policy.name}`,
                    evidence: {
                        user: user.name,
                        policy: policy.name,
                        policyArn: policy.arn,
                        userGroups: [...user.groups],
                        groupsWithPolicy,
                        attachedDirectly: false,
                    },
                });
            }
            if (uncovered.length === 0) {
                const ignoredPresent = inv.users.filter((u) => isIgnored(u.name, ignored)).map((u) => u.name);
                finding({
                    resource: policy.arn,
                    status: "pass",
                    severity: "informational",
                    title: `${policy.name} applies to every user`,
                    evidence: { policy: policy.name, policyArn: policy.arn, users: usersToCover.length, ignoredUsers: ignoredPresent, groupsWithPolicy },
                });
            }
        }
    }
    return findings;
}

function documentFindings(target: GroupPoliciesTarget, policyName: string, policy: ManagedPolicy, requirement: Requirement, ignored: readonly string[]): Finding[] {
    const base = { target: target.name, accountId: target.accountId, region: "global", check: "group-policies" as const, resource: policy.arn };
    let reference: unknown;
    try {
        reference = requirement.reference(target, ignored);
    } catch (error) {
        return [
            {
                ...base,
                status: "error",
                severity: requirement.severity,
                title: `No reference for ${policyName}: ${(error as Error).message}`,
                evidence: { policy: policy.name, error: (error as Error).message },
            },
        ];
    }
    const version = policy.defaultVersion;
    if (version === undefined) {
        return [
            {
                ...base,
                status: "error",
                severity: requirement.severity,
                title: `Policy ${policy.name}'s default version is not in the listing`,
                evidence: { policy: policy.name, defaultVersionId: policy.defaultVersionId ?? null, versions: policy.versions.map((v) => v.versionId) },
            },
        ];
    }
    // IAM stores only valid JSON: a document the audit cannot read means it could not check it.
    const unreadable = (why: string): Finding => ({
        ...base,
        status: "error",
        severity: requirement.severity,
        title: `Policy ${policy.name}'s default version ${version.versionId} is not a readable policy document`,
        evidence: { policy: policy.name, defaultVersionId: version.versionId, error: why },
    });
    if (version.error !== undefined) return [unreadable(version.error)];
    let difference;
    try {
        difference = policyDifference(reference, version.document);
    } catch (error) {
        if (error instanceof PolicyDocumentError) return [unreadable(error.message)];
        throw error;
    }
    const equal = difference.missing.length === 0 && difference.extra.length === 0 && difference.version === undefined;
    return [
        {
            ...base,
            status: equal ? "pass" : "fail",
            severity: equal ? "informational" : requirement.severity,
            title: equal
                ? `Policy ${policy.name} (default version ${version.versionId}) matches Airlock's reference`
                : `Policy ${policy.name} (default version ${version.versionId}) differs from Airlock's reference`,
            evidence: {
                policy: policy.name,
                defaultVersionId: version.versionId,
                ...(equal ? {} : { missing: difference.missing, extra: difference.extra }),
                ...(difference.version === undefined ? {} : { version: difference.version }),
            },
        },
    ];
}

/** The account's own managed policy of that name (IAM names ignore case; an exact match first). */
function findPolicy(inv: IamInventory, name: string): ManagedPolicy | undefined {
    const own = inv.policies.filter((p) => !p.awsManaged);
    return own.find((p) => p.name === name) ?? own.find((p) => p.name.toLowerCase() === name.toLowerCase());
}

function covers(user: IamUser, policyArn: string, groupsWithPolicy: ReadonlySet<string>): boolean {
    return user.attachedPolicies.some((p) => p.arn === policyArn) || user.groups.some((g) => groupsWithPolicy.has(g));
}

function ignoredFor(target: GroupPoliciesTarget, policyName: string): readonly string[] {
    const ignore = target.ignoreUsers;
    if (Array.isArray(ignore)) return ignore as readonly string[];
    const map = ignore as Readonly<Record<string, readonly string[]>>;
    return Object.entries(map).find(([name]) => name.toLowerCase() === policyName.toLowerCase())?.[1] ?? [];
}

function isIgnored(user: string, ignored: readonly string[]): boolean {
    return ignored.some((i) => i.toLowerCase() === user.toLowerCase());
}

function dnsSuffixOf(t: GroupPoliciesTarget): string {
    return t.dnsSuffix ?? DNS_SUFFIXES[t.partition] ?? "amazonaws.com";
}
