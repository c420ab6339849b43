import { IdentityPolicyDocument, IdentityStatement, Partition, ResourcePolicyDocument } from "./document";
import { BOOTSTRAP_REASON_TAG, BOOTSTRAP_STATUS_TAG, INSTANCE_ARN_TAG, keyObjectKey, objectArn } from "./keyNaming";

/** What an instance's role is bound to: its one key object (named after the instance), in the vault, under the vault's KMS key. */
export interface InstanceKeyGrant extends Partition {
    readonly region: string;
    readonly bucketName: string;
    readonly kmsKeyArn: string;
    /** The instance's ARN: its key object is `keys/<instance ARN>`. */
    readonly instanceArn: string;
}

function ownKeyArn(g: InstanceKeyGrant): string {
    return objectArn(g.partition, g.bucketName, keyObjectKey(g.instanceArn));
}

function throughS3ForOwnKey(g: InstanceKeyGrant): IdentityStatement["Condition"] {
    // SSE-KMS: S3 calls KMS on the caller's behalf. Only through S3 in this region and only for
    // this object (S3 Bucket Keys are off, so the context is the object's ARN).
    return { StringEquals: { "kms:ViaService": `s3.${g.region}.${g.dnsSuffix}`, "kms:EncryptionContext:aws:s3:arn": ownKeyArn(g) } };
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
    return [
        { Sid: "ReadOwnKeyObject", Effect: "Allow", Action: "s3:GetObject", Resource: ownKeyArn(g) },
        { Sid: "DecryptOwnKeyThroughS3", Effect: "Allow", Action: "kms:Decrypt", Resource: g.kmsKeyArn, Condition: throughS3ForOwnKey(g) },
    ];
}

/**
 * The first boot stores the key it generated: once (If-None-Match: *), tagged with the instance's
 * ARN (which also needs s3:PutObjectTagging), encrypted under the vault key through S3. The bucket
 * policy enforces the same from the bucket's side.
 */
function writeOwnKeyOnce(g: InstanceKeyGrant): IdentityStatement[] {
    const ownTag = { [`s3:RequestObjectTag/${INSTANCE_ARN_TAG}`]: g.instanceArn };
    return [
        {
            Sid: "WriteOwnKeyObjectOnce",
            Effect: "Allow",
            Action: "s3:PutObject",
            Resource: ownKeyArn(g),
            Condition: { StringEquals: { ...ownTag, "s3:if-none-match": "*" } },
        },
        { Sid: "TagOwnKeyObjectWithItsInstance", Effect: "Allow", Action: "s3:PutObjectTagging", Resource: ownKeyArn(g), Condition: { StringEquals: ownTag } },
        { Sid: "EncryptOwnKeyThroughS3", Effect: "Allow", Action: "kms:GenerateDataKey", Resource: g.kmsKeyArn, Condition: throughS3ForOwnKey(g) },
    ];
}

/** Production phase: read the instance's own key, nothing else. */
export function productionPolicy(g: InstanceKeyGrant): IdentityPolicyDocument {
    return { Version: "2012-10-17", Statement: readOwnKey(g) };
}

/**
 * Launch phase: production rights, storing the key the first boot generates (once), and the
 * readiness signal. The bootstrap reports its result by
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
            ...writeOwnKeyOnce(g),
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
