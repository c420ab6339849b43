import { IdentityPolicyDocument, Partition, ResourcePolicyDocument } from "./document";
import { bucketArn } from "./keyNaming";

/** The configuration recorder's role: assumed by AWS Config for this account only. */
export function configRecorderTrustPolicy(g: Partition & { readonly accountId: string }): ResourcePolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "ConfigOfThisAccount",
                Effect: "Allow",
                Principal: { Service: `config.${g.dnsSuffix}` },
                Action: "sts:AssumeRole",
                Condition: { StringEquals: { "aws:SourceAccount": g.accountId } },
            },
        ],
    };
}

/**
 * What the recorder's role needs beyond AWS's `AWS_ConfigRole` (which reads resource configurations):
 * delivering snapshots and history to its bucket, under this account's Config prefix only, with the
 * bucket owner in full control (AWS's documented "Permissions for the Amazon S3 bucket").
 */
export function configRecorderDeliveryPolicy(g: { readonly partition: string; readonly accountId: string; readonly bucketName: string }): IdentityPolicyDocument {
    const bucket = bucketArn(g.partition, g.bucketName);
    return {
        Version: "2012-10-17",
        Statement: [
            { Sid: "CheckTheBucket", Effect: "Allow", Action: "s3:GetBucketAcl", Resource: bucket },
            {
                Sid: "DeliverThisAccountsConfig",
                Effect: "Allow",
                Action: "s3:PutObject",
                Resource: `${bucket}/AWSLogs/${g.accountId}/Config/*`,
                Condition: { StringLike: { "s3:x-amz-acl": "bucket-owner-full-control" } },
            },
        ],
    };
}
