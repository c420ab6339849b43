import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { LOG_RETENTION_DAYS } from "../config/guardrails";
import { TrailGrant, trailBucketPolicy, trailKeyPolicy, trailLogsRolePolicy, trailLogsTrustPolicy } from "../policies/auditTrail";
import { toJson } from "../policies/document";
import { MANAGED_TAG } from "../policies/keyNaming";
import { privateBucket } from "./privateBucket";

/** The account's one Airlock trail. A fixed name: its bucket and key policies name the trail before it exists. */
export const TRAIL_NAME = "airlock-guardrails";

export interface AuditTrailArgs {
    /** The trail's home region (the stack's). */
    readonly region: string;
    readonly accountId: pulumi.Input<string>;
    /** Also deliver the events to a CloudWatch Logs group kept this many days. @default undefined (S3 only) */
    readonly cloudWatchLogsRetentionDays?: number;
    readonly tags?: Readonly<Record<string, string>>;
}

/**
 * A multi-region CloudTrail trail with log-file validation (digest files), global service events
 * (IAM, STS) and SSE-KMS under its own key; the bucket and key policies are AWS's documented ones with
 * `aws:SourceArn` (policies/auditTrail.ts). The bucket and the key are kept when the stack is
 * destroyed: log files are evidence, and without the key they could not be read.
 */
export class AuditTrail extends pulumi.ComponentResource {
    declare public readonly trailArn: pulumi.Output<string>;
    declare public readonly bucketName: pulumi.Output<string>;
    declare public readonly kmsKeyArn: pulumi.Output<string>;
    declare public readonly logGroupName: pulumi.Output<string | undefined>;

    constructor(name: string, args: AuditTrailArgs, opts: pulumi.ComponentResourceOptions = {}) {
        const retention = args.cloudWatchLogsRetentionDays;
        if (retention !== undefined && !(LOG_RETENTION_DAYS as readonly number[]).includes(retention)) {
            throw new Error(`AuditTrail ${name}: \`cloudWatchLogsRetentionDays\` must be one of ${LOG_RETENTION_DAYS.join(", ")}, not ${retention}.`);
        }
        super("airlock:guardrails:AuditTrail", name, {}, opts);
        const child = { parent: this };
        const tags = { ...args.tags, [MANAGED_TAG]: "true" };
        const partition = aws.getPartitionOutput({}, child);
        const grant = (bucketName: pulumi.Input<string>): pulumi.Output<TrailGrant> =>
            pulumi.all([partition.partition, partition.dnsSuffix, args.accountId, bucketName]).apply(([p, dnsSuffix, accountId, bucket]) => ({
                partition: p,
                dnsSuffix,
                accountId,
                region: args.region,
                trailName: TRAIL_NAME,
                bucketName: bucket,
            }));

        const key = new aws.kms.Key(
            `${name}-key`,
            {
                description: "Airlock audit trail: CloudTrail log files",
                enableKeyRotation: true,
                deletionWindowInDays: 30,
                policy: grant("").apply((g) => toJson(trailKeyPolicy(g))),
                tags,
            },
            { parent: this, retainOnDelete: true },
        );
        const { bucket, policy } = privateBucket(
            `${name}-logs`,
            { kmsKeyArn: key.arn, policy: (bucketName) => grant(bucketName).apply((g) => toJson(trailBucketPolicy(g))), tags, retainOnDelete: true },
            this,
        );

        let cloudWatch: { cloudWatchLogsGroupArn: pulumi.Output<string>; cloudWatchLogsRoleArn: pulumi.Output<string> } | undefined;
        let logGroup: aws.cloudwatch.LogGroup | undefined;
        if (retention !== undefined) {
            logGroup = new aws.cloudwatch.LogGroup(`${name}-events`, { namePrefix: `/airlock/cloudtrail/${TRAIL_NAME}-`, retentionInDays: retention, tags }, child);
            const role = new aws.iam.Role(`${name}-to-logs`, { assumeRolePolicy: grant("").apply((g) => toJson(trailLogsTrustPolicy(g))), tags }, child);
            const rolePolicy = new aws.iam.RolePolicy(
                `${name}-to-logs`,
                { role: role.name, policy: logGroup.arn.apply((arn) => toJson(trailLogsRolePolicy(arn))) },
                child,
            );
            cloudWatch = {
                // CloudTrail wants the group's ARN with the stream wildcard.
                cloudWatchLogsGroupArn: logGroup.arn.apply((arn) => `${arn}:*`),
                cloudWatchLogsRoleArn: pulumi.all([role.arn, rolePolicy.id]).apply(([arn]) => arn),
            };
        }

        const trail = new aws.cloudtrail.Trail(
            `${name}-trail`,
            {
                name: TRAIL_NAME,
                s3BucketName: bucket.bucket,
                isMultiRegionTrail: true,
                includeGlobalServiceEvents: true,
                enableLogFileValidation: true,
                enableLogging: true,
                kmsKeyId: key.arn,
                ...cloudWatch,
                tags,
            },
            { parent: this, dependsOn: [policy] },
        );

        this.trailArn = trail.arn;
        this.bucketName = bucket.bucket;
        this.kmsKeyArn = key.arn;
        this.logGroupName = logGroup === undefined ? pulumi.output(undefined) : logGroup.name;
        this.registerOutputs({ trailArn: this.trailArn, bucketName: this.bucketName, kmsKeyArn: this.kmsKeyArn, logGroupName: this.logGroupName });
    }
}
