import * as pulumi from "@pulumi/pulumi";
import { PromotionInputs, PromotionOutputs, checkPromotionInputs, diffPromotion } from "./promotionInputs";

/**
 * Scan-and-promote: waits for the instance's bootstrap signal, scans it, and only when the scan is
 * clean shrinks its role to production rights and moves it to the production group.
 *
 * This version validates its inputs (check) and computes diffs, but cannot promote yet: create and
 * update fail with a clear message, so the instance stays in the remediation group and `pulumi up`
 * reports it instead of pretending. Nothing is created in AWS by this resource, so delete has nothing
 * to undo.
 */
export const scanAndPromoteProvider: pulumi.dynamic.ResourceProvider<PromotionInputs, PromotionOutputs> = {
    async check(_olds: PromotionInputs, news: PromotionInputs): Promise<pulumi.dynamic.CheckResult<PromotionInputs>> {
        const failures = checkPromotionInputs(news as unknown as Record<string, unknown>);
        return failures.length > 0 ? { inputs: news, failures } : { inputs: news };
    },

    async diff(_id: string, olds: PromotionOutputs, news: PromotionInputs): Promise<pulumi.dynamic.DiffResult> {
        const d = diffPromotion(olds as unknown as Record<string, unknown>, news as unknown as Record<string, unknown>);
        return { changes: d.changes, replaces: d.replaces, deleteBeforeReplace: true };
    },

    async create(inputs: PromotionInputs): Promise<pulumi.dynamic.CreateResult<PromotionOutputs>> {
        throw new Error(
            `Cannot promote instance ${inputs.instanceName}: scan-and-promote is not implemented in this Airlock version yet. ` +
                "The instance stays in the remediation security group with its launch role; nothing was changed.",
        );
    },

    async update(_id: string, _olds: PromotionOutputs, news: PromotionInputs): Promise<pulumi.dynamic.UpdateResult<PromotionOutputs>> {
        throw new Error(
            `Cannot promote instance ${news.instanceName}: scan-and-promote is not implemented in this Airlock version yet. ` +
                "The instance stays where it is; nothing was changed.",
        );
    },

    async read(id: string, props?: PromotionOutputs): Promise<pulumi.dynamic.ReadResult<PromotionOutputs>> {
        return { id, props };
    },

    async delete(): Promise<void> {
        // create never succeeds in this version, so there is no phase policy or group move to undo.
    },
};

/** A value, or any part of it, may still be an Output when a program passes it. */
type DeepInput<T> = T extends string | number | boolean | undefined
    ? pulumi.Input<T>
    : T extends ReadonlyArray<infer U>
      ? pulumi.Input<ReadonlyArray<DeepInput<U>>>
      : pulumi.Input<{ readonly [K in keyof T]: DeepInput<T[K]> }>;

/** Inputs as a program passes them. */
export type ScanAndPromoteArgs = { readonly [K in keyof PromotionInputs]: DeepInput<PromotionInputs[K]> };

export class ScanAndPromote extends pulumi.dynamic.Resource {
    declare public readonly phase: pulumi.Output<PromotionOutputs["phase"]>;
    declare public readonly findingCounts: pulumi.Output<PromotionOutputs["findingCounts"]>;
    declare public readonly scanId: pulumi.Output<string | undefined>;
    declare public readonly scannerKind: pulumi.Output<string>;
    declare public readonly startedAt: pulumi.Output<string | undefined>;
    declare public readonly promotedAt: pulumi.Output<string | undefined>;
    declare public readonly reasons: pulumi.Output<string[]>;
    declare public readonly warnings: pulumi.Output<string[]>;

    constructor(name: string, args: ScanAndPromoteArgs, opts: pulumi.CustomResourceOptions = {}) {
        super(
            scanAndPromoteProvider,
            name,
            {
                ...args,
                phase: undefined,
                findingCounts: undefined,
                scanId: undefined,
                scannerKind: undefined,
                startedAt: undefined,
                promotedAt: undefined,
                reasons: undefined,
                warnings: undefined,
            },
            opts,
            "airlock",
            "ScanAndPromote",
        );
    }
}
