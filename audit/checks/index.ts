/**
 * The checks the runner knows, by CheckId (every one of CHECK_IDS). Should an id lack an entry, the
 * runner reports it as an error finding for every target that asks for it (exit 2), never as a pass.
 *
 * `perRegion`: the runner calls the check once per region (ctx.regions holds that one region), so
 * that --concurrency bounds targets × regions; otherwise once per target with all its regions:
 * IAM is global; config-rules needs the whole list (its global rules are looked for in the
 * target's FIRST region only, and it lists IAM users once for every region).
 */
import type { CheckId } from "../findings";
import type { Check } from "./context";
import { cloudTrailActivityCheck } from "./cloudtrailActivity";
import { configRulesCheck } from "./configRules";
import { IamCheckOptions, iamChecks } from "./iam";
import { publicBucketsCheck } from "./publicBuckets";
import { unmanagedInstancesCheck } from "./unmanagedInstances";

export interface RegisteredCheck {
    readonly run: Check;
    readonly perRegion: boolean;
}

export type CheckRegistry = Readonly<Partial<Record<CheckId, RegisteredCheck>>>;

export type RegistryOptions = IamCheckOptions;

/** A registry with its own IAM inventory cache (one per run). */
export function checkRegistry(options: RegistryOptions = {}): CheckRegistry {
    const iam = iamChecks(options);
    return {
        "group-policies": { run: iam.groupPolicies, perRegion: false },
        "root-and-users": { run: iam.rootAndUsers, perRegion: false },
        "config-rules": { run: configRulesCheck, perRegion: false },
        "unmanaged-instances": { run: unmanagedInstancesCheck, perRegion: true },
        // Once per target: the account's public access block is read once, and buckets are listed
        // once and placed in their regions (only the target's regions are checked).
        "public-buckets": { run: publicBucketsCheck, perRegion: false },
        // Once per target: one trail bucket, one account's folders; every region's instances and
        // endpoints are read for the findings.
        "cloudtrail-activity": { run: cloudTrailActivityCheck, perRegion: false },
    };
}
