import { IdentityPolicyDocument, ResourcePolicyDocument } from "./document";
import { MANAGED_TAG } from "./keyNaming";

export interface HealerRolePolicyArgs {
    readonly partition: string;
    readonly region: string;
    readonly accountId: string;
    /** The function's own log group (`aws.cloudwatch.LogGroup.arn`, without a trailing `:*`). */
    readonly logGroupArn: string;
}

/**
 * What the security group healer may do, and nothing more: read security groups and their rules
 * (these two Describe actions support no resource-level permission, hence "*"), read and list the
 * published baselines (GetParameter on `/airlock/security-groups/*`, GetParametersByPath on that
 * path only: the sweep finds the groups that have a baseline), revoke rules on groups of this
 * region and account tagged `airlock:managed=true` only (the tag is checked by IAM too, not only
 * by the function), put that one tag, with that one value, back on a security group of this region
 * and account, and write its own log streams. It can authorize nothing: a bug in it can close a
 * group, never open one.
 *
 * Why tagging: a group is Airlock's when it has a baseline even if its tag was taken off (anyone
 * with ec2:DeleteTags could otherwise put it out of the healer's reach). Rather than revoke on
 * untagged groups, the function tags such a group `airlock:managed=true` again (logged, and in
 * CloudTrail) and then revokes under the tag condition. CreateTags is limited to exactly that tag
 * key and value (aws:RequestTag plus aws:TagKeys) on security groups: no other tag, no other
 * resource type, no untagging. In IAM terms a role that may tag any group and then revoke on
 * tagged ones may revoke on any group of the region; what keeps it to Airlock's groups is the
 * function, which tags only a group with a readable baseline, and the revocation stays a separate,
 * visible step after a tag that IAM checks.
 */
export function healerRolePolicy(args: HealerRolePolicyArgs): IdentityPolicyDocument {
    const { partition, region, accountId } = args;
    const logGroupArn = args.logGroupArn.replace(/:\*$/, "");
    if (!/^arn:[a-z-]+:logs:[a-z0-9-]+:\d{12}:log-group:[^:*]+$/.test(logGroupArn)) {
        throw new Error(`healerRolePolicy: \`logGroupArn\` ${JSON.stringify(args.logGroupArn)} is not a log group ARN (arn:<partition>:logs:<region>:<account>:log-group:<name>).`);
    }
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "ReadSecurityGroups",
                Effect: "Allow",
                Action: ["ec2:DescribeSecurityGroupRules", "ec2:DescribeSecurityGroups"],
                Resource: "*",
            },
            {
                Sid: "RevokeRulesOfManagedGroups",
                Effect: "Allow",
                Action: ["ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress"],
                Resource: `arn:${partition}:ec2:${region}:${accountId}:security-group/*`,
                Condition: { StringEquals: { [`aws:ResourceTag/${MANAGED_TAG}`]: "true" } },
            },
            {
                Sid: "TagManagedGroupsAgain",
                Effect: "Allow",
                Action: "ec2:CreateTags",
                Resource: `arn:${partition}:ec2:${region}:${accountId}:security-group/*`,
                Condition: {
                    StringEquals: { [`aws:RequestTag/${MANAGED_TAG}`]: "true" },
                    "ForAllValues:StringEquals": { "aws:TagKeys": [MANAGED_TAG] },
                },
            },
            {
                Sid: "ReadBaselines",
                Effect: "Allow",
                Action: "ssm:GetParameter",
                Resource: `arn:${partition}:ssm:${region}:${accountId}:parameter/airlock/security-groups/*`,
            },
            {
                Sid: "ListBaselines",
                Effect: "Allow",
                Action: "ssm:GetParametersByPath",
                Resource: [
                    `arn:${partition}:ssm:${region}:${accountId}:parameter/airlock/security-groups`,
                    `arn:${partition}:ssm:${region}:${accountId}:parameter/airlock/security-groups/*`,
                ],
            },
            {
                Sid: "WriteOwnLogs",
                Effect: "Allow",
                Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
                Resource: `${logGroupArn}:*`,
            },
        ],
    };
}

/**
 * The healer's execution role: assumed by Lambda for functions of this account only
 * (aws:SourceAccount, as in AWS's own sample trust policies for Lambda against the confused deputy).
 * Lambda's service principal is lambda.amazonaws.com in every partition.
 */
export function healerTrustPolicy(partition: string, accountId: string): ResourcePolicyDocument {
    if (!/^aws(-[a-z]+)*$/.test(partition)) {
        throw new Error(`healerTrustPolicy: \`partition\` ${JSON.stringify(partition)} is not an AWS partition (aws, aws-cn, aws-us-gov, ...).`);
    }
    if (!/^\d{12}$/.test(accountId)) {
        throw new Error(`healerTrustPolicy: \`accountId\` ${JSON.stringify(accountId)} is not a 12-digit account id.`);
    }
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "LambdaOfThisAccount",
                Effect: "Allow",
                Principal: { Service: "lambda.amazonaws.com" },
                Action: "sts:AssumeRole",
                Condition: { StringEquals: { "aws:SourceAccount": accountId } },
            },
        ],
    };
}
