/**
 * One measurement, in its own process: evaluate a program under the mock engine and print JSON
 * { mode, instances, ms, resources, bucketPolicyBytes }. `ms` covers declaring every resource until
 * the last registration settles, not module loading.
 *   node -r ts-node/register/transpile-only bench/evaluate.ts <airlock|raw> <instances>
 */
import { installMocks } from "../test/support/mocks";
import { devConfigWith, runProgram, waitForRegistrations } from "../test/support/program";

async function main(): Promise<void> {
    const [mode = "airlock", countText = "10"] = process.argv.slice(2);
    const instances = Number(countText);
    const config = devConfigWith({
        "airlock:instances": Array.from({ length: instances }, (_, i) => ({ name: `app-${i + 1}`, instanceType: "t3.small", dataVolumeGiB: 20 })),
    });
    const engine = installMocks();
    // Load every module first so that both modes time evaluation only.
    await import("../index");
    const { declareRaw } = await import("./raw");
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
    const policy = engine.ofType("aws:s3/bucketPolicy:BucketPolicy")[0]?.inputs.policy as string | undefined;
    process.stdout.write(
        JSON.stringify({ mode, instances, ms, resources: engine.resources.length, bucketPolicyBytes: policy === undefined ? null : Buffer.byteLength(policy) }) + "\n",
    );
}

main().catch((err: unknown) => {
    process.stderr.write(`${String(err instanceof Error ? err.stack : err)}\n`);
    process.exit(1);
});
