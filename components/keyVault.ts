import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { Partition, toJson } from "../policies/document";
import { keyBucketPolicy } from "../policies/keyBucket";
import { MANAGED_TAG } from "../policies/keyNaming";
import { vaultKeyPolicy } from "../policies/kmsKey";
import { VaultPrincipals, patternsOf, resolvePrincipal, vaultPrincipals } from "../policies/principals";

export interface KeyVaultArgs {
    /** The vault's region (the KMS key lets S3 in this region decrypt key objects). */
    readonly region: string;
    /**
     * IAM role or user ARNs that may change the vault: write, tag and delete objects, change the
     * bucket's settings and policy (an assumed-role session ARN stands for its role).
     * @default the identity `pulumi` runs as (its role, for an assumed-role session)
     */
    readonly deployers?: readonly string[];
    /** The role the promotion assumes; it deletes key objects, so it is a deployer too. @default none */
    readonly promotionRoleArn?: string;
    /** The one role besides an instance that may read keys (forensics). @default none */
    readonly breakGlassRoleArn?: string;
    /**
     * The identity `pulumi` runs as, when the program already looked it up: the vault's principals
     * are then checked before anything is declared (a refusal changes nothing).
     * @default looked up with aws.getCallerIdentity
     */
    readonly callerArn?: string;
    /**
     * Days AWS waits before deleting the KMS key once it is scheduled for deletion (7-30). Until
     * then the key can be recovered; afterwards every volume and object under it is unreadable.
     * @default 30
     */
    readonly keyDeletionWindowDays?: number;
    /** Tags for every resource. @default {} */
    readonly tags?: Readonly<Record<string, string>>;
}

/**
 * The S3 bucket that holds per-instance LUKS keys, and the KMS key that encrypts them (and the
 * instances' volumes).
 *  - customer-managed KMS key with yearly rotation; SSE-KMS by default, S3 Bucket Keys off so that
 *    every decrypt is bound to one object's ARN;
 *  - all public access blocked, ACLs disabled (bucket owner enforced), TLS only;
 *  - versioning deliberately never enabled (and denied by policy): deleting a key object destroys
 *    the key, which is what makes a deleted instance's backups unreadable;
 *  - a bucket policy of constant size that binds each key object to its own instance, lets nobody
 *    else read a key but the break-glass role, and nobody but the deployers change anything;
 *  - a KMS key policy that decrypts key objects only through S3 and only for those readers.
 */
export class KeyVault extends pulumi.ComponentResource {
    declare public readonly bucketName: pulumi.Output<string>;
    declare public readonly bucketArn: pulumi.Output<string>;
    declare public readonly kmsKeyArn: pulumi.Output<string>;
    /** The partition the vault lives in, looked up once for everything that builds ARNs beside it. */
    declare public readonly partition: pulumi.Output<Partition>;
    /** The bucket policy's JSON text, for audits and for the size benchmark. */
    declare public readonly bucketPolicyJson: pulumi.Output<string>;

    constructor(name: string, args: KeyVaultArgs, opts: pulumi.ComponentResourceOptions = {}) {
        // With the caller known, a refusal comes before anything is registered.
        const known = args.callerArn === undefined ? undefined : checkedPrincipals(name, args.callerArn, args, pulumi.runtime.isDryRun());
        super("airlock:storage:KeyVault", name, {}, opts);

        const keyDeletionWindowDays = args.keyDeletionWindowDays ?? 30;
        if (!Number.isInteger(keyDeletionWindowDays) || keyDeletionWindowDays < 7 || keyDeletionWindowDays > 30) {
            throw new Error(`KeyVault ${name}: \`keyDeletionWindowDays\` must be a whole number from 7 to 30, not ${keyDeletionWindowDays}.`);
        }
        if (!/^[a-z0-9][a-z0-9-]{0,40}$/.test(name)) {
            throw new Error(`KeyVault ${name}: the name becomes part of the bucket name; use up to 41 lowercase letters, digits and hyphens.`);
        }
        const tags = { ...args.tags, [MANAGED_TAG]: "true" };
        const child = { parent: this };
        const partition = aws.getPartitionOutput({}, child);
        // The account, from the caller the program already knows, or looked up.
        const caller = known === undefined ? aws.getCallerIdentityOutput({}, child) : undefined;
        const accountId = known === undefined ? caller!.accountId : pulumi.output(resolvePrincipal(args.callerArn!)!.accountId);

        const principals = caller === undefined ? pulumi.output(known!) : caller.arn.apply((callerArn) => checkedPrincipals(name, callerArn, args, pulumi.runtime.isDryRun()));

        // The bucket first: the key policy names it.
        const bucket = new aws.s3.Bucket(`${name}-keys`, { forceDestroy: false, tags }, child);
        const key = new aws.kms.Key(
            `${name}-key`,
            {
                description: `Airlock ${name}: per-instance LUKS keys and instance volumes`,
                enableKeyRotation: true,
                deletionWindowInDays: keyDeletionWindowDays,
                policy: pulumi
                    .all([partition.partition, partition.dnsSuffix, accountId, bucket.bucket, principals])
                    .apply(([p, dnsSuffix, accountId, bucketName, who]) =>
                        toJson(
                            vaultKeyPolicy({ partition: p, dnsSuffix, accountId, region: args.region, bucketName, deployers: patternsOf(who.deployers), breakGlass: patternsOf(who.breakGlass) }),
                        ),
                    ),
                tags,
            },
            child,
        );
        new aws.kms.Alias(`${name}-key-alias`, { namePrefix: `alias/airlock-${name}-`, targetKeyId: key.keyId }, child);

        const ownership = new aws.s3.BucketOwnershipControls(
            `${name}-keys-ownership`,
            { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } },
            child,
        );
        const publicAccess = new aws.s3.BucketPublicAccessBlock(
            `${name}-keys-public-access`,
            { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true },
            child,
        );
        const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(
            `${name}-keys-encryption`,
            {
                bucket: bucket.id,
                rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.arn }, bucketKeyEnabled: false }],
            },
            child,
        );
        const policyJson = pulumi
            .all([partition.partition, partition.dnsSuffix, bucket.bucket, key.arn, principals])
            .apply(([p, dnsSuffix, bucketName, kmsKeyArn, who]) =>
                toJson(keyBucketPolicy({ partition: p, dnsSuffix, bucketName, kmsKeyArn, deployers: patternsOf(who.deployers), breakGlass: patternsOf(who.breakGlass) })),
            );
        new aws.s3.BucketPolicy(
            `${name}-keys-policy`,
            { bucket: bucket.id, policy: policyJson },
            { parent: this, dependsOn: [publicAccess, ownership, encryption] },
        );

        this.bucketName = bucket.bucket;
        this.bucketArn = bucket.arn;
        this.kmsKeyArn = key.arn;
        this.bucketPolicyJson = policyJson;
        this.partition = pulumi.output({ partition: partition.partition, dnsSuffix: partition.dnsSuffix });
        this.registerOutputs({
            partition: this.partition,
            bucketName: this.bucketName,
            bucketArn: this.bucketArn,
            kmsKeyArn: this.kmsKeyArn,
            bucketPolicyJson: this.bucketPolicyJson,
        });
    }
}

/**
 * The vault's deployers and break-glass role, or a clear error. A `pulumi up` whose own identity is
 * not a deployer is refused before anything changes (the policy would lock that identity out of its
 * own vault); a preview only warns, so that a read-only pull-request role can still preview.
 */
export function checkedPrincipals(name: string, callerArn: string, args: Omit<KeyVaultArgs, "region">, preview: boolean): VaultPrincipals {
    const who = vaultPrincipals({ callerArn, deployers: args.deployers, promotionRoleArn: args.promotionRoleArn, breakGlassRoleArn: args.breakGlassRoleArn });
    if (who.problems.length > 0) {
        throw new pulumi.RunError(`KeyVault ${name}: ${who.problems.join(" ")}`);
    }
    if (!who.callerIsDeployer) {
        const message =
            `KeyVault ${name}: pulumi runs as ${callerArn}, which is not in \`airlock:deployers\`; ` +
            "the vault's policy would deny it every change to the vault (and the next `pulumi up` would fail). Add its role to airlock:deployers, or run as a deployer.";
        if (!preview) {
            throw new pulumi.RunError(message);
        }
        pulumi.log.warn(`${message} (A preview only warns; \`pulumi up\` refuses.)`);
    }
    return who;
}
