import { Partition, ResourcePolicyDocument } from "./document";
import { ROLE_PATH, bucketArn } from "./keyNaming";

export interface VaultKeyPolicyArgs extends Partition {
    readonly accountId: string;
    readonly region: string;
    readonly bucketName: string;
    /** `aws:PrincipalArn` patterns of the deploying principals: the only ones (with root) that administer the key. */
    readonly deployers: readonly string[];
    /** `aws:PrincipalArn` patterns of the break-glass role (policies/principals.ts). @default [] */
    readonly breakGlass?: readonly string[];
}

/** What reads an S3 object's data key back out of KMS (ReEncryptFrom would hand it to another key). */
const DECRYPTING = ["kms:Decrypt", "kms:ReEncryptFrom"] as const;

/**
 * What changes who may use the key or ends it: replacing the policy (and with it these denies),
 * disabling or scheduling deletion (which would shred every key object and brick every volume),
 * importing or deleting key material, replicating it elsewhere.
 */
export const KEY_ADMIN_ACTIONS = ["kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:Disable*", "kms:Delete*", "kms:ImportKeyMaterial", "kms:ReplicateKey", "kms:UpdatePrimaryRegion"] as const;

/**
 * The vault's KMS key policy.
 *  - The account administers the key through IAM (the AWS default), except that changing its policy,
 *    disabling or deleting it, and creating grants other than those AWS services create for their
 *    resources (EBS) are denied to everyone but the deployers and the account root (which keeps
 *    its recovery path, and satisfies KMS's lockout check).
 *  - The data keys of this bucket's objects (encryption context `aws:s3:arn` = the bucket or one of
 *    its objects) are decrypted only through S3 in the vault's region, and only for Airlock's
 *    instance roles (path /airlock/) and the break-glass role: exactly the principals the bucket
 *    policy lets read a key. Which instance reads which key is the bucket policy's binding (object
 *    name and tag against `ec2:SourceInstanceARN`); this policy keeps everyone else from using the
 *    key as a way around it. EBS contexts (`aws:ebs:id`) carry no `aws:s3:arn`, so they are untouched.
 */
export function vaultKeyPolicy(a: VaultKeyPolicyArgs): ResourcePolicyDocument {
    const bucket = bucketArn(a.partition, a.bucketName);
    const vaultObjects = { "kms:EncryptionContext:aws:s3:arn": [bucket, `${bucket}/*`] };
    const readers = [`arn:${a.partition}:iam::${a.accountId}:role${ROLE_PATH}*`, ...(a.breakGlass ?? [])];
    const administrators = [...a.deployers, `arn:${a.partition}:iam::${a.accountId}:root`];
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "AccountAdministersKeyThroughIam",
                Effect: "Allow",
                Principal: { AWS: `arn:${a.partition}:iam::${a.accountId}:root` },
                Action: "kms:*",
                Resource: "*",
            },
            {
                Sid: "DenyKeyAdministrationToAllButDeployers",
                Effect: "Deny",
                Principal: "*",
                Action: [...KEY_ADMIN_ACTIONS],
                Resource: "*",
                Condition: { ArnNotLike: { "aws:PrincipalArn": administrators } },
            },
            {
                // EC2 creates grants for EBS on the caller's behalf (kms:GrantIsForAWSResource true).
                Sid: "DenyOwnGrantsToAllButDeployers",
                Effect: "Deny",
                Principal: "*",
                Action: "kms:CreateGrant",
                Resource: "*",
                Condition: { ArnNotLike: { "aws:PrincipalArn": administrators }, BoolIfExists: { "kms:GrantIsForAWSResource": "false" } },
            },
            {
                Sid: "DenyVaultObjectKeysOutsideS3",
                Effect: "Deny",
                Principal: "*",
                Action: [...DECRYPTING],
                Resource: "*",
                Condition: {
                    StringLike: vaultObjects,
                    StringNotEquals: { "kms:ViaService": `s3.${a.region}.${a.dnsSuffix}` },
                },
            },
            {
                Sid: "DenyVaultObjectKeysToAllButInstancesAndBreakGlass",
                Effect: "Deny",
                Principal: "*",
                Action: [...DECRYPTING],
                Resource: "*",
                Condition: {
                    StringLike: vaultObjects,
                    ArnNotLike: { "aws:PrincipalArn": readers },
                },
            },
        ],
    };
}
