import { IdentityPolicyDocument, IdentityStatement, Partition, ResourcePolicyDocument } from "./document";
import { BOOTSTRAP_REASON_TAG, BOOTSTRAP_STATUS_TAG, objectArn } from "./keyNaming";

/** What an instance's role is bound to: its one key object, in the vault, under the vault's KMS key. */
export interface InstanceKeyGrant extends Partition {
    readonly region: string;
    readonly bucketName: string;
    readonly keyObjectKey: string;
    readonly kmsKeyArn: string;
}

/** The role trusts only EC2, so only an instance profile can hand out its credentials. */
export function instanceTrustPolicy(p: Partition): ResourcePolicyDocument {
    return {
        Version: "2012-10-17",
        Statement: [
            {
                Sid: "Ec2AssumesInstanceRole",
                Effect: "Allow",
                Principal: { Service: `ec2.${p.dnsSuffix}` },
                Action: "sts:AssumeRole",
            },
        ],
    };
}

function readOwnKey(g: InstanceKeyGrant): IdentityStatement[] {
    const keyArn = objectArn(g.partition, g.bucketName, g.keyObjectKey);
    return [
        {
            Sid: "ReadOwnKeyObject",
            Effect: "Allow",
            Action: "s3:GetObject",
            Resource: keyArn,
        },
        {
            // SSE-KMS: S3 decrypts on the caller's behalf. Allowed only through S3 in this region and
            // only for this object (S3 Bucket Keys are off, so the context is the object's ARN).
            Sid: "DecryptOwnKeyThroughS3",
            Effect: "Allow",
            Action: "kms:Decrypt",
            Resource: g.kmsKeyArn,
            Condition: {
                StringEquals: {
                    "kms:ViaService": `s3.${g.region}.${g.dnsSuffix}`,
                    "kms:EncryptionContext:aws:s3:arn": keyArn,
                },
            },
        },
    ];
}

/** Production phase: read the instance's own key, nothing else. */
export function productionPolicy(g: InstanceKeyGrant): IdentityPolicyDocument {
    return { Version: "2012-10-17", Statement: readOwnKey(g) };
}

/**
 * Launch phase: production rights plus the readiness signal. The bootstrap reports its result by
 * tagging its own instance, and only with the two bootstrap tags. IAM accepts a policy variable
 * only after an ARN's fifth colon, so the binding to "its own instance" is a condition: the
 * caller's instance ARN must be the ARN of the instance being tagged. Promotion removes this.
 */
export function launchPolicy(g: InstanceKeyGrant): IdentityPolicyDocument {
    const instances = `arn:${g.partition}:ec2:${g.region}:*:instance/`;
    return {
        Version: "2012-10-17",
        Statement: [
            ...readOwnKey(g),
            {
                Sid: "SignalBootstrapOnOwnInstance",
                Effect: "Allow",
                Action: "ec2:CreateTags",
                Resource: `${instances}*`,
                Condition: {
                    // Policy variables (plain strings, not template literals): IAM substitutes the
                    // id of the instance being tagged.
                    ArnLike: { "ec2:SourceInstanceARN": instances + "${ec2:InstanceID}" },
                    "ForAllValues:StringEquals": { "aws:TagKeys": [BOOTSTRAP_STATUS_TAG, BOOTSTRAP_REASON_TAG] },
                    Null: { "aws:TagKeys": "false" },
                },
            },
        ],
    };
}
