/**
 * Admin-equivalent managed policies in an instance's `managedPolicyArns`. An instance that holds one
 * can undo the airlock from inside: change its own (or any) security groups, grant itself or
 * another principal more rights, or read the vault through a new role. So they are refused unless
 * the stack opts in with `airlock:allowAdminPolicies: true`.
 *
 * Matched by name among AWS-managed policies (`arn:<partition>:iam::aws:policy/...`, in any
 * partition, names compared case-insensitively as IAM does). A customer-managed policy is the
 * account's own and cannot be judged from its ARN; it is not refused here.
 * Pure functions: the config schema calls adminPolicyProblems once.
 */

/** The AWS-managed policies refused without the opt-in, with what makes each admin-equivalent. */
export const ADMIN_EQUIVALENT_POLICIES: ReadonlyArray<{ readonly name: string; readonly why: string }> = [
    { name: "AdministratorAccess", why: "grants every action on every resource" },
    { name: "AdministratorAccess-Amplify", why: "creates and passes IAM roles" },
    { name: "AdministratorAccess-AWSElasticBeanstalk", why: "passes IAM roles and changes security groups" },
    { name: "PowerUserAccess", why: "grants every action outside IAM, security groups included" },
    { name: "IAMFullAccess", why: "grants iam:*" },
    { name: "AmazonEC2FullAccess", why: "grants ec2:*, security groups included" },
    { name: "AmazonVPCFullAccess", why: "creates, changes and assigns security groups" },
    { name: "job-function/NetworkAdministrator", why: "changes security groups and network ACLs" },
    { name: "job-function/SystemAdministrator", why: "changes security groups and passes IAM roles" },
];

/** The config key that lets an instance hold one of them anyway. */
export const ALLOW_ADMIN_POLICIES_KEY = "airlock:allowAdminPolicies";

const AWS_MANAGED = /^arn:aws[a-z-]*:iam::aws:policy\/(.+)$/;

/** The admin-equivalent policy an ARN names, or undefined. */
export function adminEquivalentPolicy(arn: string): { readonly name: string; readonly why: string } | undefined {
    const name = AWS_MANAGED.exec(arn)?.[1]?.toLowerCase();
    if (name === undefined) {
        return undefined;
    }
    // An AWS-managed policy's path is part of its name here (job-function/...); one given without it is the same policy.
    return ADMIN_EQUIVALENT_POLICIES.find((p) => p.name.toLowerCase() === name || p.name.toLowerCase().endsWith(`/${name}`));
}

/**
 * One message per admin-equivalent ARN in the instances' `managedPolicyArns`, naming the instance
 * index, the ARN and the opt-in; none when `allowed`. `instances` are the raw config items (anything
 * malformed is the schema's to report, and skipped here). The ARNs named are AWS-managed policies,
 * public names that hold no secret, so they are shown even when the instance list is a secret.
 */
export function adminPolicyProblems(instances: readonly unknown[], allowed: boolean, instancesKey = "airlock:instances"): string[] {
    if (allowed) {
        return [];
    }
    const problems: string[] = [];
    instances.forEach((item, i) => {
        const arns = typeof item === "object" && item !== null ? (item as { managedPolicyArns?: unknown }).managedPolicyArns : undefined;
        if (!Array.isArray(arns)) {
            return;
        }
        arns.forEach((arn: unknown, j) => {
            const policy = typeof arn === "string" ? adminEquivalentPolicy(arn) : undefined;
            if (policy !== undefined) {
                problems.push(
                    `\`${instancesKey}[${i}].managedPolicyArns[${j}]\` is ${JSON.stringify(arn)}, an admin-equivalent policy (it ${policy.why}): ` +
                        `the instance could move itself out of the airlock or grant itself more. Grant the application narrower rights, ` +
                        `or set \`${ALLOW_ADMIN_POLICIES_KEY}\` to true if this instance really must be an administrator.`,
                );
            }
        });
    });
    return problems;
}
