/**
 * What the runner hands each check: the target, the account it resolved to, AWS clients built from
 * the target's credentials, and the run's options. A check returns findings (status pass, fail or
 * error) and throws only when the whole check could not run (the runner records that as an error
 * finding and the target as not fully audited). Checks make no assumption about concurrency: the
 * runner bounds it.
 */
import type { AwsCredentialIdentityProvider } from "@smithy/types";
import type { Finding } from "../findings";
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
    /** Days after which an unused password or access key is a finding. */
    readonly unusedDays: number;
    readonly now: () => Date;
}

export type Check = (ctx: CheckContext) => Promise<Finding[]>;
