import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { writeHealerBundle } from "../functions/bundle";
import { HEALER_EVENT_PATTERN, HEALER_SWEEP_SCHEDULE } from "../functions/securityGroupBaseline";
import { toJson } from "../policies/document";
import { MANAGED_TAG } from "../policies/keyNaming";
import { healerRolePolicy, healerTrustPolicy } from "../policies/securityGroupHealer";

export interface SecurityGroupHealerArgs {
    readonly region: string;
    readonly accountId: pulumi.Input<string>;
    /** How long the function's decisions are kept in CloudWatch Logs. @default 365 */
    readonly logRetentionDays?: number;
    /**
     * The trail that makes CloudTrail's API events reach EventBridge (EventBridge gets "AWS API Call
     * via CloudTrail" events only while a trail logs them). The rule is created after it.
     */
    readonly trail?: pulumi.Resource;
    readonly tags?: Readonly<Record<string, string>>;
}

/**
 * Self-healing for Airlock's security groups (the DevSecOps seed's idea, done safely): an
 * EventBridge rule on the CloudTrail events that add or change security group rules invokes a
 * function (functions/securityGroupHealer.ts, bundled here) that revokes, on Airlock's groups only
 * (tagged `airlock:managed=true` or with a published baseline; an untagged one is tagged again
 * first), every rule not in the baseline the instance stack published for that group
 * (`/airlock/security-groups/<id>`). Its own revocations do not match the rule: no loop. An
 * hourly schedule runs the same function over every managed group (the sweep), for lost events.
 */
export class SecurityGroupHealer extends pulumi.ComponentResource {
    declare public readonly functionName: pulumi.Output<string>;
    declare public readonly ruleArn: pulumi.Output<string>;
    declare public readonly logGroupName: pulumi.Output<string>;

    constructor(name: string, args: SecurityGroupHealerArgs, opts: pulumi.ComponentResourceOptions = {}) {
        super("airlock:guardrails:SecurityGroupHealer", name, {}, opts);
        const child = { parent: this };
        const tags = { ...args.tags, [MANAGED_TAG]: "true" };
        const partition = aws.getPartitionOutput({}, child);
        const functionName = `airlock-${name}-heal-security-groups`.slice(0, 64);

        // The function's log group, declared so that its retention is set and it goes with the stack.
        const logGroup = new aws.cloudwatch.LogGroup(`${name}-logs`, { name: `/aws/lambda/${functionName}`, retentionInDays: args.logRetentionDays ?? 365, tags }, child);
        const role = new aws.iam.Role(`${name}-function`, { assumeRolePolicy: pulumi.all([partition.partition, args.accountId]).apply(([p, accountId]) => toJson(healerTrustPolicy(p, accountId))), tags }, child);
        const permissions = new aws.iam.RolePolicy(
            `${name}-function`,
            {
                role: role.name,
                policy: pulumi
                    .all([partition.partition, args.accountId, logGroup.arn])
                    .apply(([p, accountId, logGroupArn]) => toJson(healerRolePolicy({ partition: p, region: args.region, accountId, logGroupArn }))),
            },
            child,
        );
        const bundle = writeHealerBundle();
        const fn = new aws.lambda.Function(
            `${name}-function`,
            {
                name: functionName,
                description: "Airlock: revokes security group rules not in the group's published baseline (Airlock's groups only)",
                role: role.arn,
                runtime: "nodejs22.x",
                handler: "index.handler",
                code: new pulumi.asset.AssetArchive({ "index.js": new pulumi.asset.FileAsset(bundle.file) }),
                // An hourly sweep heals up to 200 groups, two at a time.
                timeout: 300,
                memorySize: 256,
                // One event at a time per group is enough; a burst must not exhaust the account's concurrency.
                reservedConcurrentExecutions: 5,
                loggingConfig: { logFormat: "Text", logGroup: logGroup.name },
                tags,
            },
            { parent: this, dependsOn: [permissions, logGroup] },
        );
        const rule = new aws.cloudwatch.EventRule(
            `${name}-trigger`,
            {
                description: "Airlock: security group rules added or changed (CloudTrail)",
                eventPattern: JSON.stringify(HEALER_EVENT_PATTERN),
                tags,
            },
            { parent: this, dependsOn: args.trail === undefined ? [] : [args.trail] },
        );
        const invoke = new aws.lambda.Permission(
            `${name}-trigger`,
            { action: "lambda:InvokeFunction", function: fn.name, principal: "events.amazonaws.com", sourceArn: rule.arn, sourceAccount: args.accountId },
            child,
        );
        new aws.cloudwatch.EventTarget(
            `${name}-trigger`,
            { rule: rule.name, arn: fn.arn, retryPolicy: { maximumRetryAttempts: 4, maximumEventAgeInSeconds: 3600 } },
            { parent: this, dependsOn: [invoke] },
        );

        // Events can be lost (EventBridge gives up after its retries; CloudTrail delivery is best
        // effort; nothing is emitted while the trail is stopped): an hourly sweep heals every
        // managed group of the region through the same code.
        const schedule = new aws.cloudwatch.EventRule(
            `${name}-sweep`,
            { description: "Airlock: hourly sweep of the region's Airlock-managed security groups", scheduleExpression: HEALER_SWEEP_SCHEDULE, tags },
            child,
        );
        const invokeOnSchedule = new aws.lambda.Permission(
            `${name}-sweep`,
            { action: "lambda:InvokeFunction", function: fn.name, principal: "events.amazonaws.com", sourceArn: schedule.arn, sourceAccount: args.accountId },
            child,
        );
        new aws.cloudwatch.EventTarget(
            `${name}-sweep`,
            { rule: schedule.name, arn: fn.arn, retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 3600 } },
            { parent: this, dependsOn: [invokeOnSchedule] },
        );

        this.functionName = fn.name;
        this.ruleArn = rule.arn;
        this.logGroupName = logGroup.name;
        this.registerOutputs({ functionName: this.functionName, ruleArn: this.ruleArn, logGroupName: this.logGroupName });
    }
}
