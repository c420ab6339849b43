/**
 * `npm run bench`: performance goals, measured (never asserted in tests).
 *  1. Program evaluation under the mock engine, Airlock vs. the same raw resources declared flat
 *     (bench/raw.ts), for 10, 100 and 500 instances; runs alternate A B A B so drift hits both.
 *     Goal: airlock/raw ≤ 1.10 at 500.
 *  2. Key bucket policy size for 1, 100 and 1,000 instances. Goal: constant, far below S3's 20 KB.
 *  3. Scan-and-promote: AWS calls per promotion, polls per 10-minute scan, overhead beyond the
 *     scan itself, and 50 concurrent promotions against one (bench/promotion.ts).
 */
import { execFileSync } from "child_process";
import * as path from "path";

interface Measurement {
    readonly mode: string;
    readonly instances: number;
    readonly ms: number;
    readonly resources: number;
    readonly bucketPolicyBytes: number | null;
}

const root = path.resolve(__dirname, "..");

function measure(mode: "airlock" | "raw", instances: number): Measurement {
    const out = execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join("bench", "evaluate.ts"), mode, String(instances)], {
        cwd: root,
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
    });
    return JSON.parse(out.trim().split("\n").pop() ?? "{}") as Measurement;
}

function median(values: number[]): number {
    const sorted = [...values].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const S3_POLICY_LIMIT = 20 * 1024;
const runsFor: Record<number, number> = { 10: 5, 100: 3, 500: 3 };

console.log(`Node ${process.version}; each measurement is a fresh process; times exclude module loading.\n`);
console.log("1. Program evaluation under the mock engine (median of alternating runs)");
console.log("instances | airlock ms | raw ms | airlock/raw (median of pair ratios) | resources airlock/raw");
for (const instances of [10, 100, 500]) {
    const airlock: Measurement[] = [];
    const raw: Measurement[] = [];
    for (let run = 0; run < runsFor[instances]!; run++) {
        airlock.push(measure("airlock", instances));
        raw.push(measure("raw", instances));
    }
    const ratios = airlock.map((a, i) => a.ms / raw[i]!.ms);
    console.log(
        `${String(instances).padStart(9)} | ${median(airlock.map((m) => m.ms)).toFixed(0).padStart(10)} | ${median(raw.map((m) => m.ms)).toFixed(0).padStart(6)} | ` +
            `${median(ratios).toFixed(3)} (min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}) | ${airlock[0]!.resources}/${raw[0]!.resources}`,
    );
}

console.log("\n2. Key bucket policy size");
console.log("instances | bytes | share of S3's 20 KB limit");
for (const instances of [1, 100, 1000]) {
    const m = measure("airlock", instances);
    const bytes = m.bucketPolicyBytes ?? 0;
    console.log(`${String(instances).padStart(9)} | ${String(bytes).padStart(5)} | ${((100 * bytes) / S3_POLICY_LIMIT).toFixed(1)}%`);
}

console.log("\n3. Scan-and-promote (moto, a scripted Tenable, Pulumi's provider host)");
execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join("bench", "promotion.ts")], { cwd: root, stdio: "inherit" });
