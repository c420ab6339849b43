/**
 * What the runner hands each check: the target, the account it resolved to, AWS clients built from
 * the target's credentials, and the run's options. A check returns findings (status pass, fail or
 * error) and throws only when the whole check could not run (the runner records that as an error
 * finding and the target as not fully audited). Checks make no assumption about concurrency: the
 * runner bounds it.
 */
import type { AwsCredentialIdentityProvider } from "@smithy/types";
import type { Kysely } from "kysely";
import type { RecordsSchema } from "../records/schema";
import type { Finding } from "../findings";
import type { CredentialReportRow, IamInventory } from "../iamInventory";
import type { Target } from "../targets";

/** Builds SDK clients for one target: same credentials, the given region, SDK retries with backoff. */
export interface ClientFactory {
    /** e.g. `clients.make(EC2Client, "eu-west-1")`; cached per class and region. */
    make<C>(ctor: new (config: ClientSettings) => C, region: string): C;
}

/** The settings every client of a target gets (tests point endpoint at moto or a proxy). */
export interface ClientSettings {
    readonly region: string;
    readonly credentials: AwsCredentialIdentityProvider;
    readonly endpoint?: string;
    readonly maxAttempts: number;
    readonly retryMode: "adaptive" | "standard";
}

export interface CheckContext {
    readonly target: Target;
    /** The account the target's credentials belong to (STS GetCallerIdentity). */
    readonly accountId: string;
    readonly partition: string;
    /** The regions to check (regional checks run once per region; IAM checks once, region "global"). */
    readonly regions: readonly string[];
    readonly clients: ClientFactory;
    /** `--fix`: add missing Config rules. */
    readonly fix: boolean;
    /** `--quarantine`: the security group to move unmanaged instances to; apply only with `--yes`. */
    readonly quarantine?: { readonly groupId: string; readonly apply: boolean };
    /** Instance ids that Airlock stacks manage, from `pulumi stack output --json` files. */
    readonly managedInstanceIds: ReadonlySet<string>;
    /** The vaults and zones those files name (cloudtrail-activity). @default none */
    readonly vaults?: VaultFacts;
    /** The records database (--db), for the checks that keep what they read there. @default none */
    readonly records?: Kysely<RecordsSchema>;
    /** Days after which an unused password or access key is a finding. */
    readonly unusedDays: number;
    readonly now: () => Date;
    /** Where checks leave what they fetched, for the records database (--db). @default none */
    readonly collect?: Collector;
}

/** Airlock's vaults and zones in the account, from stack outputs (audit/stackOutputs.ts). */
export interface VaultFacts {
    readonly vaultBucketNames: ReadonlySet<string>;
    readonly vaultKeys: ReadonlySet<string>;
    readonly securityGroupIds: ReadonlySet<string>;
}

/** Four public access block settings, each on or off. */
export type BlockSettings = Readonly<Record<"BlockPublicAcls" | "IgnorePublicAcls" | "BlockPublicPolicy" | "RestrictPublicBuckets", boolean>>;

/** A bucket as the public-buckets check saw it (null: that part could not be read). */
export interface CollectedBucket {
    readonly name: string;
    readonly region: string;
    readonly accountBlock: BlockSettings | null;
    readonly bucketBlock: BlockSettings | null;
    /** A public grant in its policy that S3 does not neutralise (null: unreadable). */
    readonly policyPublic: boolean | null;
    /** A public ACL grant that S3 does not ignore (null: unreadable). */
    readonly aclPublic: boolean | null;
    /** S3's own verdict on the policy, where it gave one. */
    readonly policyStatusIsPublic: boolean | null;
}

/** An instance as the unmanaged-instances check saw it. */
export interface CollectedInstance {
    readonly instanceId: string;
    readonly region: string;
    readonly state: string;
    readonly vpcId?: string;
    readonly subnetId?: string;
    readonly privateIps: readonly string[];
    readonly publicIps: readonly string[];
    /** Tagged airlock:managed=true (and listed by the stack outputs given, when given). */
    readonly managed: boolean;
    /** The Airlock phase its security groups say (production, remediation), when it is Airlock's. */
    readonly phase?: string;
    readonly instanceProfileArn?: string;
    readonly tags: Readonly<Record<string, string>>;
}

/**
 * What a check fetched, complete for what it names: a kind reported here was listed in full (for
 * those regions), so that what is missing from it is gone from the account. A check that could not
 * list something completely reports nothing for it.
 */
export interface Collector {
    iam(inventory: IamInventory): void;
    credentialReport(rows: readonly CredentialReportRow[]): void;
    /** Every bucket of these regions. */
    buckets(buckets: readonly CollectedBucket[], regions: readonly string[]): void;
    /** Every listed instance of this region (pending, running, stopping, stopped). */
    instances(instances: readonly CollectedInstance[], region: string): void;
}

export type Check = (ctx: CheckContext) => Promise<Finding[]>;
