import { Partition, ResourcePolicyDocument } from "./document";

export interface VaultKeyPolicyArgs extends Partition {
    readonly accountId: string;
}

/**
 * The vault's KMS key policy: the account administers the key through IAM (the AWS default), so
 * each instance role's own identity policy decides what it may decrypt, and only through S3.
 */
export function vaultKeyPolicy(a: VaultKeyPolicyArgs): ResourcePolicyDocument {
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
        ],
    };
}
