/**
 * `pulumi preview` through the real engine (the CLI built from Pulumi's Go modules, the test
 * provider plugins over moto; see test/engine/engine.ts), for 1 and 100 instances: wall time of
 * the whole command, and how much of it the program itself ran (the language host times the
 * Node.js process that evaluates the program, its registrations with the engine included).
 * Twice per size: as users run it (ts-node type-checks the program) and with
 * PULUMI_NODEJS_TRANSPILE_ONLY=true.
 *
 *   node -r ts-node/register/transpile-only bench/enginePreview.ts [runs]
 */
import { CreateSubnetCommand, CreateVpcCommand, EC2Client } from "@aws-sdk/client-ec2";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { createWorkspace, setStructuredConfig } from "../test/engine/engine";
import { awsClientConfig, startMoto } from "../test/support/moto";
import { median } from "./stats";

async function main(): Promise<void> {
    const runs = Number(process.argv[2] ?? 3);
    const moto = await startMoto();
    const timings = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "airlock-bench-")), "timings.jsonl");
    const ws = await createWorkspace({ env: { ...moto.env, AIRLOCK_ENGINE_TIMINGS: timings } });
    try {
        const ec2 = new EC2Client(awsClientConfig(moto));
        const vpcId = (await ec2.send(new CreateVpcCommand({ CidrBlock: "10.60.0.0/16" }))).Vpc?.VpcId ?? "";
        const subnetId = (await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: "10.60.0.0/20" }))).Subnet?.SubnetId ?? "";
        console.log("instances | mode           | preview wall ms (median) | program ms (median) | program share | resources planned");
        for (const instances of [1, 100]) {
            const stack = `bench-${instances}`;
            await ws.pulumi(["stack", "init", stack, "--secrets-provider", "passphrase"]);
            await ws.pulumi(["config", "set", "aws:region", "eu-west-1", "--stack", stack]);
            await ws.pulumi(["config", "set", "airlock:vpcId", vpcId, "--stack", stack]);
            await ws.pulumi(["config", "set", "airlock:subnetId", subnetId, "--stack", stack]);
            const fleet = Array.from({ length: instances }, (_, i) => ({ name: `app-${i + 1}`, instanceType: "t3.small" }));
            await setStructuredConfig(ws, stack, "airlock:instances", fleet);
            for (const [mode, env] of [
                ["type-checked", {}],
                ["transpile-only", { PULUMI_NODEJS_TRANSPILE_ONLY: "true" }],
            ] as const) {
                const wall: number[] = [];
                const program: number[] = [];
                let planned = "";
                for (let run = 0; run < runs; run++) {
                    fs.rmSync(timings, { force: true });
                    const started = process.hrtime.bigint();
                    const r = await ws.pulumi(["preview", "--stack", stack], { env });
                    wall.push(Number(process.hrtime.bigint() - started) / 1e6);
                    const lines = fs.readFileSync(timings, "utf8").trim().split("\n");
                    program.push((JSON.parse(lines[lines.length - 1]!) as { programMs: number }).programMs);
                    planned = /\+ (\d+) to create/.exec(r.output)?.[1] ?? "?";
                }
                const w = median(wall);
                const p = median(program);
                console.log(
                    `${String(instances).padStart(9)} | ${mode.padEnd(14)} | ${w.toFixed(0).padStart(24)} | ${p.toFixed(0).padStart(19)} | ${((100 * p) / w).toFixed(0).padStart(12)}% | ${planned}`,
                );
            }
        }
    } finally {
        await ws.cleanup();
        await moto.stop();
    }
}

main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
});
