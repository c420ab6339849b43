import { Partition, ResourcePolicyDocument } from "./document";
import { INSTANCE_ARN_TAG, KEY_PREFIX, bucketArn } from "./keyNaming";

const SSE = "s3:x-amz-server-side-encryption";
const SSE_KEY = "s3:x-amz-server-side-encryption-aws-kms-key-id";

export interface KeyBucketPolicyArgs extends Partition {
    readonly bucketName: string;
    readonly kmsKeyArn: string;
}

/**
 * The key bucket's policy. Its size does not depend on the number of instances: a key object is
 * bound to its instance by the object's `airlock:instance-arn` tag, compared with the caller's
 * `ec2:SourceInstanceARN` through a policy variable (DESIGN §4). Statements:
 *  - no plain HTTP, for anyone;
 *  - uploads only with SSE-KMS under the vault key (headerless uploads get the bucket default);
 *    an upload that names another algorithm or key, or aws:kms without the vault key, is denied;
 *  - any EC2 instance credential reads only the key object tagged with its own instance ARN;
 *  - EC2 instance credentials can do nothing else in this bucket (no list, write, delete, tagging);
 *  - nobody turns on versioning: deleting a key object must destroy it (crypto-shredding), and
 *    without versioning there is no replication or object lock to keep copies either.
 */
export function keyBucketPolicy(a: KeyBucketPolicyArgs): ResourcePolicyDocument {
    const bucket = bucketArn(a.partition, a.bucketName);
    const objects = `${bucket}/*`;
    const keyObjects = `${bucket}/${KEY_PREFIX}*`;
    const fromAnInstance = { Null: { "ec2:SourceInstanceARN": "false" } };
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "DenyPlainHttp",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                Resource: [bucket, objects],
                Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
            {
                // A header naming another algorithm (AES256, aws:kms:dsse). No header: the bucket default applies.
                Sid: "DenyUploadsNotEncryptedWithKms",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:PutObject",
                Resource: objects,
                Condition: { Null: { [SSE]: "false" }, StringNotEquals: { [SSE]: "aws:kms" } },
            },
            {
                Sid: "DenyUploadsUnderAnotherKmsKey",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:PutObject",
                Resource: objects,
                Condition: { Null: { [SSE_KEY]: "false" }, StringNotEquals: { [SSE_KEY]: a.kmsKeyArn } },
            },
            {
                // aws:kms without a key id would encrypt under the AWS-managed aws/s3 key, not the vault's.
                Sid: "DenyKmsUploadsWithoutTheVaultKey",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:PutObject",
                Resource: objects,
                Condition: { StringEquals: { [SSE]: "aws:kms" }, Null: { [SSE_KEY]: "true" } },
            },
            {
                Sid: "DenyInstancesOtherInstancesKeys",
                Effect: "Deny",
                Principal: "*",
                Action: ["s3:GetObject", "s3:GetObjectVersion"],
                Resource: keyObjects,
                Condition: {
                    ...fromAnInstance,
                    StringNotEquals: { [`s3:ExistingObjectTag/${INSTANCE_ARN_TAG}`]: "${ec2:SourceInstanceARN}" },
                },
            },
            {
                Sid: "DenyInstancesAnythingButReading",
                Effect: "Deny",
                Principal: "*",
                NotAction: "s3:GetObject",
                Resource: [bucket, objects],
                Condition: fromAnInstance,
            },
            {
                Sid: "DenyVersioning",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:PutBucketVersioning",
                Resource: bucket,
            },
        ],
    };
}
