import { IdentityPolicyDocument, Partition, ResourcePolicyDocument, denyPlainHttp } from "./document";
import { bucketArn } from "./keyNaming";

/** What the trail's policies are bound to: this account's one trail, its bucket, its home region. */
export interface TrailGrant extends Partition {
    readonly accountId: string;
    /** The trail's home region (a multi-region trail's ARN names it). */
    readonly region: string;
    readonly trailName: string;
    readonly bucketName: string;
}

export function trailArn(g: TrailGrant): string {
    return `arn:${g.partition}:cloudtrail:${g.region}:${g.accountId}:trail/${g.trailName}`;
}

/**
 * The trail bucket's policy, AWS's documented one with its confused-deputy conditions: CloudTrail
 * may read the bucket's ACL and write log files under `AWSLogs/<account>/`, with the bucket owner in
 * full control, and only for this trail (`aws:SourceArn`); nobody else writes, overwrites or
 * deletes log files, administrators included; nobody uses plain HTTP. Validation (digest files)
 * shows any change that gets past this.
 */
export function trailBucketPolicy(g: TrailGrant): ResourcePolicyDocument {
    const bucket = bucketArn(g.partition, g.bucketName);
    const cloudtrail = { Service: `cloudtrail.${g.dnsSuffix}` };
    const thisTrail = { "aws:SourceArn": trailArn(g) };
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "CloudTrailReadsTheAcl", Effect: "Allow", Principal: cloudtrail, Action: "s3:GetBucketAcl", Resource: bucket, Condition: { StringEquals: thisTrail } },
            {
                Sid: "CloudTrailWritesThisAccountsLogs",
                Effect: "Allow",
                Principal: cloudtrail,
                Action: "s3:PutObject",
                Resource: `${bucket}/AWSLogs/${g.accountId}/*`,
                Condition: { StringEquals: { ...thisTrail, "s3:x-amz-acl": "bucket-owner-full-control" } },
            },
            {
                // Log files are evidence: nobody but this trail writes, overwrites or deletes an
                // object, account administrators included (a change of this policy to lift it is
                // itself a logged PutBucketPolicy). Expiry belongs in a lifecycle rule.
                Sid: "OnlyThisTrailWritesObjects",
                Effect: "Deny",
                Principal: "*",
                Action: ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectAcl", "s3:PutObjectRetention", "s3:PutObjectLegalHold"],
                Resource: `${bucket}/*`,
                Condition: { StringNotEquals: thisTrail },
            },
            denyPlainHttp(bucket),
        ],
    };
}

/**
 * The trail's KMS key policy (AWS's documented one): the account administers the key through IAM;
 * CloudTrail encrypts log files for this trail only; principals of this account decrypt them (for
 * reading logs) with the CloudTrail encryption context, nobody else.
 */
export function trailKeyPolicy(g: TrailGrant): ResourcePolicyDocument {
    const cloudtrail = { Service: `cloudtrail.${g.dnsSuffix}` };
    const trailsOfThisAccount = { "kms:EncryptionContext:aws:cloudtrail:arn": `arn:${g.partition}:cloudtrail:*:${g.accountId}:trail/*` };
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "AccountAdministersKeyThroughIam", Effect: "Allow", Principal: { AWS: `arn:${g.partition}:iam::${g.accountId}:root` }, Action: "kms:*", Resource: "*" },
            {
                Sid: "CloudTrailEncryptsThisTrailsLogs",
                Effect: "Allow",
                Principal: cloudtrail,
                Action: "kms:GenerateDataKey*",
                Resource: "*",
                Condition: { StringLike: trailsOfThisAccount, StringEquals: { "aws:SourceArn": trailArn(g) } },
            },
            { Sid: "CloudTrailDescribesTheKey", Effect: "Allow", Principal: cloudtrail, Action: "kms:DescribeKey", Resource: "*", Condition: { StringEquals: { "aws:SourceArn": trailArn(g) } } },
            {
                Sid: "AccountReadsTheLogs",
                Effect: "Allow",
                Principal: { AWS: "*" },
                Action: ["kms:Decrypt", "kms:ReEncryptFrom"],
                Resource: "*",
                Condition: { StringEquals: { "kms:CallerAccount": g.accountId }, StringLike: trailsOfThisAccount },
            },
        ],
    };
}

/** The role CloudTrail assumes to deliver to CloudWatch Logs: for this trail only (AWS's confused-deputy conditions). */
export function trailLogsTrustPolicy(g: TrailGrant): ResourcePolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "CloudTrailOfThisTrail",
                Effect: "Allow",
                Principal: { Service: `cloudtrail.${g.dnsSuffix}` },
                Action: "sts:AssumeRole",
                Condition: { StringEquals: { "aws:SourceArn": trailArn(g), "aws:SourceAccount": g.accountId } },
            },
        ],
    };
}

/** What CloudTrail needs to write the trail's events into one log group: streams and events there, nothing else. */
export function trailLogsRolePolicy(logGroupArn: string): IdentityPolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [{ Sid: "WriteTheTrailsLogGroup", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: `${logGroupArn}:log-stream:*` }],
    };
}
