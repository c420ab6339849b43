import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface PrivateBucketArgs {
    /** SSE-KMS key for objects; undefined: SSE-S3 (what AWS Config's delivery channel writes by default). */
    readonly kmsKeyArn?: pulumi.Input<string>;
    /** The bucket policy, built from the bucket's name. */
    readonly policy: (bucketName: pulumi.Output<string>) => pulumi.Input<string>;
    readonly tags: Readonly<Record<string, string>>;
    /** Keep the bucket (and its objects) when the stack is destroyed: logs are evidence. */
    readonly retainOnDelete?: boolean;
}

/**
 * A bucket that is never public, owner-enforced (no ACLs), encrypted by default, with a policy
 * applied after those settings. Declared as children of `parent` (a guardrail component), so it adds
 * no component of its own to the resource tree.
 */
export function privateBucket(name: string, args: PrivateBucketArgs, parent: pulumi.Resource): { bucket: aws.s3.Bucket; policy: aws.s3.BucketPolicy } {
    const retain = { parent, retainOnDelete: args.retainOnDelete };
    const bucket = new aws.s3.Bucket(name, { forceDestroy: false, tags: args.tags }, retain);
    const child = { parent };
    const ownership = new aws.s3.BucketOwnershipControls(`${name}-ownership`, { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } }, child);
    const publicAccess = new aws.s3.BucketPublicAccessBlock(
        `${name}-public-access`,
        { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
        child,
    );
    const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(
        `${name}-encryption`,
        {
            bucket: bucket.id,
            rules: [
                args.kmsKeyArn === undefined
                    ? { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }
                    : { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: args.kmsKeyArn }, bucketKeyEnabled: true },
            ],
        },
        child,
    );
    const policy = new aws.s3.BucketPolicy(`${name}-policy`, { bucket: bucket.id, policy: args.policy(bucket.bucket) }, { parent, dependsOn: [publicAccess, ownership, encryption] });
    return { bucket, policy };
}
