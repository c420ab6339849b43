import * as pulumi from "@pulumi/pulumi";
import { createAwsPort, partitionOfRegion } from "./awsPort";
import { errorMessage } from "./errors";
import { detachApplicationPolicies, isPromotionBlocked, observePhase, promote, publicInputs } from "./promotionFlow";
import { PromotionInputs, PromotionOutputs, checkPromotionInputs, diffPromotion } from "./promotionInputs";
import { systemClock } from "./polling";
import { createScanner } from "./scanners";

/**
 * Scan-and-promote: waits for the instance's bootstrap signal, scans it, and only when the scan is
 * clean shrinks its role to production rights, attaches the application's managed policies and moves it to the production group (see
 * promotionFlow.ts for the flow and its invariant). It owns three things and nothing else may manage
 * them: the instance's security groups after launch, the role's phase (inline) policy, and the
 * role's managed-policy attachments (save the scanner's own, which the component attaches).
 *
 * When the instance stays in quarantine, create/update throw an error carrying `id`, `properties`
 * and `reasons`: Pulumi's provider host records that as an "initialization failed" resource with
 * `phase: remediation`, `pulumi up` fails with the summary, and the next `pulumi up` retries
 * through update.
 */

/**
 * What the provider host needs to record partial state; plain JSON only. The properties become the
 * resource's outputs in the engine's state, and Pulumi's host loads the provider for Read and
 * Delete from the outputs' `__provider` (which it copies into the outputs of successful calls
 * only): without it, `pulumi refresh` and `pulumi destroy` of a quarantined instance fail ("code
 * must be a string, not undefined").
 *
 * The partial state travels in the `grpc-status-details-bin` trailer of the failed call. The
 * engine's client (grpc-go) accepts up to 16 MiB there, but a Node.js client (nghttp2) refuses any
 * header field over 64 KB, and the whole serialized provider is about 85 KB. So the partial state
 * carries the recovery provider instead (check, diff, read, delete: about 17 KB, no scanner code),
 * serialized by the program and passed as the input `__recoveryProvider`; the next `up` loads the
 * full provider from its new inputs, and a successful update records the full one again.
 */
function partialStateError(message: string, inputs: PromotionInputs, outputs: PromotionOutputs, reasons: readonly string[]): Error {
    const given = inputs as { __provider?: unknown; [RECOVERY_KEY]?: unknown };
    const provider = typeof given[RECOVERY_KEY] === "string" ? given[RECOVERY_KEY] : given.__provider;
    const properties = { ...(JSON.parse(JSON.stringify(outputs)) as object), ...(typeof provider === "string" ? { __provider: provider } : {}) };
    return Object.assign(new Error(message), { id: inputs.instanceId, properties, reasons: failureLines(message, reasons) });
}

/**
 * What `pulumi up` shows for a resource that failed to initialise is its `reasons`, one bullet each,
 * and not the error's message: so the reasons carry the whole summary (the headline, then one line
 * per blocking finding), followed by any reason the summary does not already say.
 */
export function failureLines(message: string, reasons: readonly string[]): string[] {
    const lines = message
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "");
    return [...lines, ...reasons.filter((r) => !lines.some((l) => l.includes(r)))];
}

/**
 * Poll intervals. AIRLOCK_POLL_INITIAL_MS (in the environment of `pulumi up`, which the provider
 * process inherits) shortens every wait's first interval, for tests and emulators; the longest
 * interval is six times that for readiness and twelve times for scans.
 */
function pollTuning(): { readiness?: { initialMs: number; maxMs: number }; scan: { pollInitialMs?: number; pollMaxMs?: number } } {
    const initial = Number(process.env.AIRLOCK_POLL_INITIAL_MS);
    if (!Number.isInteger(initial) || initial <= 0) {
        return { scan: {} };
    }
    return { readiness: { initialMs: initial, maxMs: initial * 6 }, scan: { pollInitialMs: initial, pollMaxMs: initial * 12 } };
}

async function runPromotion(inputs: PromotionInputs): Promise<PromotionOutputs> {
    const tuning = pollTuning();
    const deps = {
        aws: createAwsPort({ region: inputs.region, assumeRoleArn: inputs.assumeRoleArn }),
        scanner: createScanner(inputs, tuning.scan),
        clock: systemClock,
        log: (line: string) => console.log(`airlock: ${line}`),
        readinessBackoff: tuning.readiness,
    };
    try {
        return JSON.parse(JSON.stringify(await promote(inputs, deps))) as PromotionOutputs;
    } catch (err) {
        if (isPromotionBlocked(err)) {
            throw partialStateError(err.message, inputs, err.outputs, err.reasons);
        }
        const message = errorMessage(err);
        if (/does not exist or is terminating/.test(message)) {
            throw err;
        }
        // AWS failed part-way. Every step is ordered so that the instance is still in quarantine
        // (or still correctly in production); record it as not promoted, the next up converges.
        const reason = `promotion interrupted: ${(err as { name?: string }).name ?? "Error"}: ${message}`;
        const outputs: PromotionOutputs = {
            ...publicInputs(inputs),
            phase: "remediation",
            scannerKind: inputs.scanner.kind,
            findingCounts: {},
            topFindings: [],
            reasons: [reason],
            warnings: [],
        };
        throw partialStateError(`Instance ${inputs.instanceName} was not promoted: ${reason}`, inputs, outputs, [reason]);
    }
}

/**
 * Create and update do not trust that check ran (an engine or tool may call them without it):
 * inputs check would refuse, or values still unknown, are refused here before any AWS call. A
 * plain error, not partial state: nothing was done, so nothing is recorded (update keeps the old
 * state). Names every field at fault, never a scanner secret's value.
 */
function refuseInvalidInputs(inputs: PromotionInputs): void {
    const failures = checkPromotionInputs(inputs as unknown as Record<string, unknown>, { unknowns: "refuse" });
    if (failures.length === 0) {
        return;
    }
    const who = failures.some((f) => f.property === "instanceName") ? "This instance" : `Instance ${inputs.instanceName}`;
    throw new Error(`${who}: the promotion's inputs are invalid, so nothing was done: ${failures.map((f) => f.reason).join(" ")}`);
}

async function checkPromotion(_olds: PromotionInputs, news: PromotionInputs): Promise<pulumi.dynamic.CheckResult<PromotionInputs>> {
    const failures = checkPromotionInputs(news as unknown as Record<string, unknown>);
    return failures.length > 0 ? { inputs: news, failures } : { inputs: news };
}

async function diffPromotionResource(_id: string, olds: PromotionOutputs, news: PromotionInputs): Promise<pulumi.dynamic.DiffResult> {
    const d = diffPromotion(olds as unknown as Record<string, unknown>, news as unknown as Record<string, unknown>);
    return { changes: d.changes, replaces: d.replaces, deleteBeforeReplace: true };
}

async function readPromotion(id: string, props?: PromotionOutputs): Promise<pulumi.dynamic.ReadResult<PromotionOutputs>> {
    if (props === undefined) {
        return { id, props };
    }
    const inputs = props as unknown as PromotionInputs;
    const aws = createAwsPort({ region: inputs.region, assumeRoleArn: inputs.assumeRoleArn });
    const { phase, instance } = await observePhase(aws, inputs);
    if (instance === undefined || instance.state === "terminated") {
        // The instance is gone: so is what this resource managed.
        return {};
    }
    if (props.phase !== "production") {
        // Only a clean scan promotes: an instance recorded in remediation stays there whatever AWS
        // says (moved in by hand, or a rescan that failed before it could demote), so the next up
        // still rescans it rather than taking it for promoted.
        return { id, props: { ...props, phase: "remediation" } };
    }
    const reasons = phase === "production" ? [] : ["found out of production on refresh (groups or role policy changed outside Airlock)"];
    return { id, props: { ...props, phase, reasons } };
}

async function deletePromotion(_id: string, props: PromotionOutputs): Promise<void> {
    // Detach the application's managed policies, then remove the phase policy (in that order, as a
    // demotion does), so the role can be deleted; the instance may already be gone. The scanner's
    // own policy is the component's, which deletes it.
    const aws = createAwsPort({ region: props.region, assumeRoleArn: props.assumeRoleArn });
    await detachApplicationPolicies(aws, props, partitionOfRegion(props.region));
    await aws.deleteRolePolicy(props.roleName, props.phasePolicyName);
}

export const scanAndPromoteProvider: pulumi.dynamic.ResourceProvider<PromotionInputs, PromotionOutputs> = {
    check: checkPromotion,
    diff: diffPromotionResource,

    async create(inputs: PromotionInputs): Promise<pulumi.dynamic.CreateResult<PromotionOutputs>> {
        refuseInvalidInputs(inputs);
        return { id: inputs.instanceId, outs: await runPromotion(inputs) };
    },

    async update(_id: string, _olds: PromotionOutputs, news: PromotionInputs): Promise<pulumi.dynamic.UpdateResult<PromotionOutputs>> {
        refuseInvalidInputs(news);
        return { outs: await runPromotion(news) };
    },

    read: readPromotion,
    delete: deletePromotion,
};

/** The input that carries the serialized recovery provider (see partialStateError). */
export const RECOVERY_KEY = "__recoveryProvider";

/**
 * What Pulumi's host needs for a promotion recorded by a failed create or update: refresh, destroy,
 * and the diff and check of the next `up` (which loads the full provider from its new inputs).
 * It cannot create or update: it never promotes anything.
 */
export const recoveryProvider: pulumi.dynamic.ResourceProvider<PromotionInputs, PromotionOutputs> = {
    async create(): Promise<never> {
        throw new Error("Airlock's recovery provider only reads and deletes a promotion; run `pulumi up` with the program to promote.");
    },
    check: checkPromotion,
    diff: diffPromotionResource,
    read: readPromotion,
    delete: deletePromotion,
};

let recoveryText: Promise<string> | undefined;

/** The recovery provider as Pulumi's host loads it, serialized once per program run. */
export function serializedRecoveryProvider(): Promise<string> {
    recoveryText ??= pulumi.runtime.serializeFunction(() => recoveryProvider).then((s) => s.text);
    return recoveryText;
}

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
    declare public readonly topFindings: pulumi.Output<string[]>;
    declare public readonly finishedAt: pulumi.Output<string | undefined>;
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
                [RECOVERY_KEY]: serializedRecoveryProvider(),
                phase: undefined,
                findingCounts: undefined,
                topFindings: undefined,
                finishedAt: undefined,
                durations: undefined,
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
