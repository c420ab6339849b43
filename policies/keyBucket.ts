import { Conditions, Partition, ResourcePolicyDocument, denyPlainHttp } from "./document";
import { INSTANCE_ARN_TAG, KEY_PREFIX, bucketArn } from "./keyNaming";

const SSE = "s3:x-amz-server-side-encryption";
const SSE_KEY = "s3:x-amz-server-side-encryption-aws-kms-key-id";
/** IAM policy variable (a plain string, not a template literal): the calling instance's ARN. */
const SOURCE_INSTANCE = "${ec2:SourceInstanceARN}";

/**
 * Reading an object's content or anything derived from it (S3 Select, HeadObject and CopyObject's
 * source are authorised as s3:GetObject; attributes carry checksums; torrents are their own action).
 */
export const KEY_READ_ACTIONS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes", "s3:GetObjectVersionAttributes", "s3:GetObjectTorrent"] as const;

/**
 * What anyone but a deployer (or an instance, bound separately) may still do: read-only calls. Every
 * other S3 action — writing, tagging, deleting, ACLs, retention, restores, replication, encryption
 * changes, every bucket setting, and actions AWS adds later — is a change, denied by `NotAction`, so
 * the list fails closed.
 */
export const READ_ONLY_ACTIONS = ["s3:Get*", "s3:List*"] as const;

/** What binds a key to an instance: writing and (re-)tagging an object under keys/. */
const KEY_BINDING_ACTIONS = ["s3:PutObject", "s3:PutObjectTagging", "s3:DeleteObjectTagging", "s3:PutObjectVersionTagging", "s3:DeleteObjectVersionTagging"] as const;

export interface KeyBucketPolicyArgs extends Partition {
    readonly bucketName: string;
    readonly kmsKeyArn: string;
    /**
     * `aws:PrincipalArn` patterns of the deploying principals (policies/principals.ts): the only
     * ones that may tag, delete or overwrite objects and change the bucket's settings or policy.
     * At least one.
     */
    readonly deployers: readonly string[];
    /** `aws:PrincipalArn` patterns of the break-glass role, the one exception to "only its instance reads a key". @default [] */
    readonly breakGlass?: readonly string[];
}

/**
 * The key bucket's policy. Its size does not depend on the number of instances (DESIGN §4): an
 * instance is bound to its key object by the object's name, `keys/<instance ARN>`, and by the
 * object's `airlock:instance-arn` tag, both compared with the caller's `ec2:SourceInstanceARN`
 * through a policy variable. Deny statements only; what a caller may do is then what its own
 * identity policy allows, minus these:
 *  - no plain HTTP, for anyone;
 *  - uploads only with SSE-KMS under the vault key (headerless uploads get the bucket default);
 *  - reading any object: only instance credentials (bound below) and the break-glass role;
 *  - an instance (instance-profile credentials) touches nothing but `keys/<its own ARN>`, and
 *    that only to read it (when tagged with its ARN) and to write it once (If-None-Match: *,
 *    tagged with its ARN): no overwrite, no delete, no re-tag to another instance, no list;
 *  - nobody but the instance itself writes or tags an object under keys/: not even a deployer can
 *    plant a key before an instance's first boot, or re-bind one;
 *  - every other change (delete, bucket settings and policy, ...) by anyone else: deployers only.
 *    A deployer that runs on an EC2 instance profile is a deployer, not an instance, for those
 *    changes, and like any instance it reads and writes no key but its own (none);
 *  - no SSE-C uploads (a key the vault's KMS key does not protect);
 *  - nobody turns on versioning: deleting a key object must destroy it (crypto-shredding), and
 *    without versioning there is no replication or object lock to keep copies either.
 * The account root is not exempt; its recovery path is S3's own rule that the bucket owner's root
 * user can always replace or delete the bucket policy.
 */
export function keyBucketPolicy(a: KeyBucketPolicyArgs): ResourcePolicyDocument {
    if (a.deployers.length === 0) {
        throw new Error("keyBucketPolicy: at least one deploying principal is required, or nobody could manage the vault.");
    }
    const bucket = bucketArn(a.partition, a.bucketName);
    const objects = `${bucket}/*`;
    const ownKey = `${bucket}/${KEY_PREFIX}${SOURCE_INSTANCE}`;
    const keyObjects = `${bucket}/${KEY_PREFIX}*`;
    const breakGlass = a.breakGlass ?? [];
    const fromAnInstance = { "ec2:SourceInstanceARN": "false" };
    const notFromAnInstance = { "ec2:SourceInstanceARN": "true" };
    const notA = (patterns: readonly string[]): Conditions => (patterns.length === 0 ? {} : { ArnNotLike: { "aws:PrincipalArn": patterns } });
    const instanceNotDeployer: Conditions = { Null: fromAnInstance, ...notA(a.deployers) };
    return {
        Version: "2012-10-17",
        Statement: [
            denyPlainHttp(bucket),
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
                // SSE-C: the uploader's own key, which the vault's KMS key neither protects nor shreds.
                Sid: "DenyCustomerKeyUploads",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:PutObject",
                Resource: objects,
                Condition: { Null: { "s3:x-amz-server-side-encryption-customer-algorithm": "false" } },
            },
            {
                // Deployers, administrators, the root user, other services' roles: nobody reads a key
                // but an instance (bound below) and the break-glass role.
                Sid: "DenyReadingToAllButInstancesAndBreakGlass",
                Effect: "Deny",
                Principal: "*",
                Action: [...KEY_READ_ACTIONS],
                Resource: objects,
                Condition: { Null: notFromAnInstance, ...notA(breakGlass) },
            },
            {
                Sid: "DenyInstancesAnythingButTheirOwnKey",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:*",
                NotResource: ownKey,
                Condition: instanceNotDeployer,
            },
            {
                // No deployer exemption: a deployer on an instance profile reads and binds no key.
                Sid: "DenyInstancesKeysButTheirOwn",
                Effect: "Deny",
                Principal: "*",
                Action: [...KEY_READ_ACTIONS, ...KEY_BINDING_ACTIONS],
                NotResource: ownKey,
                Condition: { Null: fromAnInstance },
            },
            {
                // Deployers included: a key is generated and bound by its instance, never planted.
                Sid: "DenyKeyWritesButByTheirInstance",
                Effect: "Deny",
                Principal: "*",
                Action: [...KEY_BINDING_ACTIONS],
                Resource: keyObjects,
                Condition: { Null: notFromAnInstance },
            },
            {
                Sid: "DenyInstancesAnythingButReadingAndWritingOnce",
                Effect: "Deny",
                Principal: "*",
                NotAction: ["s3:GetObject", "s3:PutObject", "s3:PutObjectTagging"],
                Resource: [bucket, objects],
                Condition: instanceNotDeployer,
            },
            {
                // Deployers on an instance profile included: they read no key.
                Sid: "DenyInstancesKeysNotTaggedForThem",
                Effect: "Deny",
                Principal: "*",
                Action: [...KEY_READ_ACTIONS],
                Resource: objects,
                Condition: {
                    Null: fromAnInstance,
                    StringNotEquals: { [`s3:ExistingObjectTag/${INSTANCE_ARN_TAG}`]: SOURCE_INSTANCE },
                },
            },
            {
                // Writing or tagging binds the key to the writer: the tag must name the calling
                // instance (a missing tag is refused too), so no key can be re-bound to another.
                Sid: "DenyInstancesTaggingForAnother",
                Effect: "Deny",
                Principal: "*",
                Action: ["s3:PutObject", "s3:PutObjectTagging"],
                Resource: objects,
                Condition: { ...instanceNotDeployer, StringNotEquals: { [`s3:RequestObjectTag/${INSTANCE_ARN_TAG}`]: SOURCE_INSTANCE } },
            },
            {
                // Write-once: a key object is never overwritten by an instance (If-None-Match: *).
                Sid: "DenyInstancesOverwriting",
                Effect: "Deny",
                Principal: "*",
                Action: "s3:PutObject",
                Resource: objects,
                Condition: { ...instanceNotDeployer, StringNotEquals: { "s3:if-none-match": "*" } },
            },
            {
                Sid: "DenyChangesToAllButDeployers",
                Effect: "Deny",
                Principal: "*",
                NotAction: [...READ_ONLY_ACTIONS],
                Resource: [bucket, objects],
                Condition: { Null: notFromAnInstance, ...notA(a.deployers) },
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
