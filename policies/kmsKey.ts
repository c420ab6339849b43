import { Partition, ResourcePolicyDocument } from "./document";
import { ROLE_PATH, bucketArn } from "./keyNaming";

export interface VaultKeyPolicyArgs extends Partition {
    readonly accountId: string;
    readonly region: string;
    readonly bucketName: string;
    /** `aws:PrincipalArn` patterns of the break-glass role (policies/principals.ts). @default [] */
    readonly breakGlass?: readonly string[];
}

/** What reads an S3 object's data key back out of KMS (ReEncryptFrom would hand it to another key). */
const DECRYPTING = ["kms:Decrypt", "kms:ReEncryptFrom"] as const;

/**
 * The vault's KMS key policy.
 *  - The account administers the key through IAM (the AWS default): EBS volumes, grants and key
 *    administration keep working, and the account root keeps its recovery path.
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
