/**
 * One measurement, in its own process: evaluate a program under the mock engine and print JSON
 * { mode, instances, fleet, preview, memo, ms, resources, bucketPolicyBytes, invokes }. `ms` covers
 * declaring every resource until the last registration settles, not module loading; `invokes`
 * counts the program's read-only AWS calls (provider functions) per token.
 *   node -r ts-node/register/transpile-only bench/evaluate.ts <airlock|raw> <instances>
 *        [--preview] [--fleet uniform|mixed] [--no-memo]
 *
 *   --fleet uniform  every instance t3.small, al2023, on the default subnet (the default)
 *   --fleet mixed    instances cycle through 3 subnets × 2 architectures × 2 OSes (12 combinations)
 *   --no-memo        airlock only: every look-up through a fresh Lookups, i.e. no look-up is shared
 *                    between instances, as before the per-stack memo
 */
import { parseArgs } from "util";
import { installMocks } from "../test/support/mocks";
import { devConfigWith, runProgram, waitForRegistrations } from "../test/support/program";

type Fleet = "uniform" | "mixed";

const MIXED_SUBNETS = ["subnet-0a1b2c3d4e5f60711", "subnet-0a1b2c3d4e5f60712", "subnet-0a1b2c3d4e5f60713"];

/** The instance specs of a fleet; `mixed` covers all 12 subnet/architecture/OS combinations from 12 instances on. */
function fleetSpecs(fleet: Fleet, instances: number): Array<Record<string, unknown>> {
    return Array.from({ length: instances }, (_, i) => {
        const spec: Record<string, unknown> = { name: `app-${i + 1}`, instanceType: "t3.small", dataVolumeGiB: 20 };
        if (fleet === "mixed") {
            spec.subnetId = MIXED_SUBNETS[i % 3];
            spec.instanceType = Math.floor(i / 3) % 2 === 0 ? "t3.small" : "t4g.small";
            spec.os = Math.floor(i / 6) % 2 === 0 ? "al2023" : "debian12";
        }
        return spec;
    });
}

/** Turns the memo off: each look-up goes through its own, fresh Lookups (same invoke options). */
async function disableMemo(): Promise<void> {
    const { Lookups } = await import("../components/lookups");
    const proto = Lookups.prototype as unknown as Record<string, (...args: unknown[]) => unknown>;
    for (const method of ["subnet", "amiFromParameter", "partition"]) {
        const original = proto[method]!;
        proto[method] = function (...args: unknown[]) {
            return original.apply(new Lookups(), args);
        };
    }
}

async function main(): Promise<void> {
    const { values, positionals } = parseArgs({
        allowPositionals: true,
        options: { preview: { type: "boolean", default: false }, fleet: { type: "string", default: "uniform" }, "no-memo": { type: "boolean", default: false } },
    });
    const [mode = "airlock", countText = "10"] = positionals;
    const instances = Number(countText);
    const fleet = values.fleet;
    if (fleet !== "uniform" && fleet !== "mixed") {
        throw new Error(`--fleet ${fleet}: use uniform or mixed`);
    }
    const memo = !values["no-memo"];
    const config = devConfigWith({ "airlock:instances": fleetSpecs(fleet, instances) });
    const engine = installMocks({ preview: values.preview });
    // Load every module first so that both modes time evaluation only.
    await import("../index");
    const { declareRaw } = await import("./raw");
    if (!memo) {
        if (mode !== "airlock") {
            throw new Error("--no-memo applies to the airlock mode only");
        }
        await disableMemo();
    }
    const started = process.hrtime.bigint();
    if (mode === "airlock") {
        await runProgram(config, { engine });
    } else if (mode === "raw") {
        declareRaw(config.values);
        await waitForRegistrations();
    } else {
        throw new Error(`unknown mode ${mode}; use airlock or raw`);
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    // Unknown at preview (it names the bucket and key): null then.
    const policy: unknown = engine.ofType("aws:s3/bucketPolicy:BucketPolicy")[0]?.inputs.policy;
    const invokes: Record<string, number> = {};
    for (const call of engine.calls) {
        invokes[call.token] = (invokes[call.token] ?? 0) + 1;
    }
    process.stdout.write(
        JSON.stringify({
            mode,
            instances,
            fleet,
            preview: values.preview,
            memo,
            ms,
            resources: engine.resources.length,
            bucketPolicyBytes: typeof policy === "string" ? Buffer.byteLength(policy) : null,
            invokes,
        }) + "\n",
    );
}

main().catch((err: unknown) => {
    process.stderr.write(`${String(err instanceof Error ? err.stack : err)}\n`);
    process.exit(1);
});
