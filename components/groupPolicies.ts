import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { checkCidr } from "../config/cidr";
import { GROUP_POLICY_NAMES, configWritePolicy, forceMfaPolicy, groupPolicyJson, sourceIpRestrictionPolicy } from "../policies/groupPolicies";
import { MANAGED_TAG } from "../policies/keyNaming";

/** CloudKestrel's groups and the policies each carries. */
export const GROUPS = {
    devOps: "DevOps",
    securityAudit: "SecurityAudit",
} as const;

export interface GroupPoliciesArgs {
    /** Where users may call AWS from (IPv4 and IPv6 CIDRs). At least one. */
    readonly sourceCidrs: readonly string[];
    /** Existing IAM users to put in DevOps (Force_MFA + source IP). @default [] */
    readonly devOpsUsers?: readonly string[];
    /** Existing IAM users to put in SecurityAudit (source IP + AWS SecurityAudit + Config_Write). @default [] */
    readonly securityAuditUsers?: readonly string[];
    /** Users Force_MFA leaves alone (CloudKestrel's IgnoreUsers). @default [] */
    readonly ignoredUsers?: readonly string[];
    /** Let users without MFA change their own password (first sign-in). @default false */
    readonly allowPasswordChangeWithoutMfa?: boolean;
    /** Tags for the policies and groups' policies. @default {} */
    readonly tags?: Readonly<Record<string, string>>;
}

const USER_NAME = /^[\w+=,.@-]{1,64}$/;

/**
 * The account's IAM group guardrails, as in CloudKestrel's table: managed policies `Force_MFA`,
 * `User_Source_IP_Restrictions` and `Config_Write` (documents from policies/groupPolicies.ts), the
 * groups `DevOps` (Force_MFA + source IP) and `SecurityAudit` (source IP + AWS `SecurityAudit` +
 * Config_Write), and memberships of existing users. Memberships are added per user
 * (`UserGroupMembership`, not the exclusive `GroupMembership`), so members added outside this stack
 * are never removed by it.
 */
export class GroupPolicies extends pulumi.ComponentResource {
    declare public readonly policyArns: pulumi.Output<{ forceMfa: string; sourceIp: string; configWrite: string }>;
    declare public readonly groupNames: pulumi.Output<string[]>;

    constructor(name: string, args: GroupPoliciesArgs, opts: pulumi.ComponentResourceOptions = {}) {
        const problems = groupPoliciesProblems(name, args);
        if (problems.length > 0) {
            throw new Error(problems.join(" "));
        }
        super("airlock:guardrails:GroupPolicies", name, {}, opts);
        const child = { parent: this };
        const tags = { ...args.tags, [MANAGED_TAG]: "true" };
        const partition = aws.getPartitionOutput({}, child);
        const caller = aws.getCallerIdentityOutput({}, child);

        const policy = (key: keyof typeof GROUP_POLICY_NAMES, description: string, document: pulumi.Input<string>): aws.iam.Policy =>
            new aws.iam.Policy(`${name}-${GROUP_POLICY_NAMES[key]}`, { name: GROUP_POLICY_NAMES[key], description, policy: document, tags }, child);
        const forceMfa = policy(
            "forceMfa",
            "Airlock guardrail: deny everything but MFA self-enrolment unless signed in with MFA",
            partition.apply((p) =>
                groupPolicyJson(forceMfaPolicy({ partition: p.partition, dnsSuffix: p.dnsSuffix, ignoredUsers: args.ignoredUsers, allowPasswordChangeWithoutMfa: args.allowPasswordChangeWithoutMfa })),
            ),
        );
        const sourceIp = policy(
            "sourceIp",
            "Airlock guardrail: deny requests from outside the allowed addresses",
            caller.accountId.apply((accountId) => groupPolicyJson(sourceIpRestrictionPolicy({ cidrs: args.sourceCidrs, accountId }))),
        );
        const configWrite = policy(
            "configWrite",
            "Airlock guardrail: add and update AWS Config rules",
            pulumi.all([partition, caller.accountId]).apply(([p, accountId]) => groupPolicyJson(configWritePolicy({ partition: p.partition, dnsSuffix: p.dnsSuffix, accountId }))),
        );
        const securityAuditArn = partition.partition.apply((p) => `arn:${p}:iam::aws:policy/SecurityAudit`);

        const groups: Record<keyof typeof GROUPS, { group: aws.iam.Group; policies: pulumi.Input<string>[]; users: readonly string[] }> = {
            devOps: { group: new aws.iam.Group(`${name}-${GROUPS.devOps}`, { name: GROUPS.devOps }, child), policies: [forceMfa.arn, sourceIp.arn], users: args.devOpsUsers ?? [] },
            securityAudit: {
                group: new aws.iam.Group(`${name}-${GROUPS.securityAudit}`, { name: GROUPS.securityAudit }, child),
                policies: [sourceIp.arn, securityAuditArn, configWrite.arn],
                users: args.securityAuditUsers ?? [],
            },
        };
        for (const [key, { group, policies, users }] of Object.entries(groups)) {
            policies.forEach((policyArn, i) => new aws.iam.GroupPolicyAttachment(`${name}-${key}-${i}`, { group: group.name, policyArn }, child));
            for (const user of users) {
                new aws.iam.UserGroupMembership(`${name}-${key}-${user}`, { user, groups: [group.name] }, child);
            }
        }

        this.policyArns = pulumi.output({ forceMfa: forceMfa.arn, sourceIp: sourceIp.arn, configWrite: configWrite.arn });
        this.groupNames = pulumi.output([groups.devOps.group.name, groups.securityAudit.group.name]);
        this.registerOutputs({ policyArns: this.policyArns, groupNames: this.groupNames });
    }
}

/** What is wrong with the arguments, each naming the field and the fix. */
export function groupPoliciesProblems(name: string, args: GroupPoliciesArgs): string[] {
    const problems: string[] = [];
    if (args.sourceCidrs.length === 0) {
        problems.push(`GroupPolicies ${name}: \`sourceCidrs\` is empty; User_Source_IP_Restrictions would deny every request. Name the ranges users work from.`);
    }
    args.sourceCidrs.forEach((cidr, i) => {
        const check = checkCidr(cidr);
        if (!check.ok) {
            const fix = check.suggestion === undefined ? "" : ` Did you mean ${JSON.stringify(check.suggestion)}?`;
            problems.push(`GroupPolicies ${name}: \`sourceCidrs[${i}]\` ${JSON.stringify(cidr)}: ${check.problem}.${fix}`);
        }
    });
    for (const field of ["devOpsUsers", "securityAuditUsers", "ignoredUsers"] as const) {
        (args[field] ?? []).forEach((user, i) => {
            if (!USER_NAME.test(user)) {
                problems.push(`GroupPolicies ${name}: \`${field}[${i}]\` must be an IAM user name (1-64 of letters, digits and +=,.@_-), not ${JSON.stringify(user)}.`);
            }
        });
        const list = args[field] ?? [];
        const repeated = list.filter((u, i) => list.indexOf(u) !== i);
        if (repeated.length > 0) {
            problems.push(`GroupPolicies ${name}: \`${field}\` names ${repeated.map((u) => JSON.stringify(u)).join(", ")} twice.`);
        }
    }
    return problems;
}
