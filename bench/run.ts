/**
 * `npm run bench`: performance goals, measured (never asserted in tests).
 *  1. Program evaluation under the mock engine, Airlock vs. the same raw resources declared flat
 *     (bench/raw.ts), for 10, 100 and 500 instances; runs alternate A B A B so drift hits both.
 *     Goal: airlock/raw ≤ 1.10 at 500.
 *  2. Key bucket policy size for 1, 100 and 1,000 instances. Goal: constant, far below S3's 20 KB.
 *  3. Scan-and-promote: AWS calls per promotion, polls per 10-minute scan, overhead beyond the
 *     scan itself, and 50 concurrent promotions against one (bench/promotion.ts).
 *  4. Read-only AWS look-ups at preview (subnet, AMI parameter, partition, caller identity) for 1,
 *     100 and 500 instances, with the per-stack memo and without it. Goal: the count follows
 *     distinct subnets and OS/architecture pairs, not instances.
 *  5. `pulumi preview` through the real engine (Pulumi's CLI, the test provider plugins over moto)
 *     for 1 and 100 instances: wall time and the share the program's own evaluation takes
 *     (bench/enginePreview.ts).
 *  6. The audit at scale (issue 10): 5,000 users, 2,000 roles, 1,000 customer policies and 200
 *     buckets in moto; Airlock's runAudit and Prowler (throwaway venv) through one call-counting
 *     proxy: wall time, calls by operation against the API minimum (bench/audit.ts).
 *     Goals: calls ≤ 1.2× the minimum; ≥ 5× faster than Prowler.
 *  7. The records database (issue 11): the same account's inventory written to SQLite and PostgreSQL
 *     (first write, unchanged re-audit) and CloudTrail ingestion of 1M events and memory held
 *     (bench/records.ts; `--events N` scales the CloudTrail part).
 *
 *   npm run bench                                  every section
 *   npm run bench -- --only lookups --only policy  some sections (evaluation, policy, promotion, lookups, engine, audit, records)
 */
import { execFileSync } from "child_process";
import * as path from "path";
import { parseArgs } from "util";
import { median } from "./stats";

interface Measurement {
    readonly mode: string;
    readonly instances: number;
    readonly ms: number;
    readonly resources: number;
    readonly bucketPolicyBytes: number | null;
    /** Read-only AWS calls (provider functions) per token. */
    readonly invokes: Record<string, number>;
}

const root = path.resolve(__dirname, "..");

function measure(mode: "airlock" | "raw", instances: number, flags: string[] = []): Measurement {
    const out = execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join("bench", "evaluate.ts"), mode, String(instances), ...flags], {
        cwd: root,
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
    });
    return JSON.parse(out.trim().split("\n").pop() ?? "{}") as Measurement;
}

const SECTIONS = ["evaluation", "policy", "promotion", "lookups", "engine", "audit", "records"] as const;
const { values: options } = parseArgs({ options: { only: { type: "string", multiple: true }, events: { type: "string" } } });
const unknown = (options.only ?? []).filter((s) => !(SECTIONS as readonly string[]).includes(s));
if (unknown.length > 0) {
    console.error(`--only ${unknown.join(", ")}: use one of ${SECTIONS.join(", ")} (repeat --only for several).`);
    process.exit(2);
}
const runs = (section: (typeof SECTIONS)[number]) => options.only === undefined || options.only.includes(section);

const S3_POLICY_LIMIT = 20 * 1024;
const runsFor: Record<number, number> = { 10: 5, 100: 3, 500: 3 };

function evaluation(): void {
    console.log("\n1. Program evaluation under the mock engine (median of alternating runs)");
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
}

function policy(): void {
    console.log("\n2. Key bucket policy size");
    console.log("instances | bytes | share of S3's 20 KB limit");
    for (const instances of [1, 100, 1000]) {
        const m = measure("airlock", instances);
        const bytes = m.bucketPolicyBytes ?? 0;
        console.log(`${String(instances).padStart(9)} | ${String(bytes).padStart(5)} | ${((100 * bytes) / S3_POLICY_LIMIT).toFixed(1)}%`);
    }
}

function promotion(): void {
    console.log("\n3. Scan-and-promote (moto, a scripted Tenable, Pulumi's provider host)");
    execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join("bench", "promotion.ts")], { cwd: root, stdio: "inherit" });
}

const LOOKUP_TOKENS: ReadonlyArray<[string, string]> = [
    ["aws:ec2/getSubnet:getSubnet", "subnet"],
    ["aws:ssm/getParameter:getParameter", "AMI param"],
    ["aws:index/getPartition:getPartition", "partition"],
    ["aws:index/getCallerIdentity:getCallerIdentity", "caller id"],
];

function lookups(): void {
    console.log("\n4. Read-only AWS look-ups at preview (invokes the mock engine received; before → after)");
    console.log("   before: the same program with the memo disabled (every look-up through a fresh Lookups),");
    console.log("           measured, not computed; it matches the program before the memo (subnet and AMI per instance).");
    console.log("   after:  one Lookups per stack (index.ts). Fleets: uniform = all t3.small/al2023 on one subnet;");
    console.log("           mixed = cycling 3 subnets × 2 architectures × 2 OSes (at most 3 subnets, 4 AMI parameters).");
    console.log(`instances | fleet   | ${LOOKUP_TOKENS.map(([, label]) => label.padStart(11)).join(" | ")} | ${"all".padStart(11)}`);
    const cell = (before: number, after: number) => `${before} → ${after}`.padStart(11);
    for (const instances of [1, 100, 500]) {
        for (const fleet of ["uniform", "mixed"]) {
            const flags = ["--preview", "--fleet", fleet];
            const before = measure("airlock", instances, [...flags, "--no-memo"]).invokes;
            const after = measure("airlock", instances, flags).invokes;
            const total = (counts: Record<string, number>) => Object.values(counts).reduce((a, b) => a + b, 0);
            const cells = LOOKUP_TOKENS.map(([token]) => cell(before[token] ?? 0, after[token] ?? 0));
            console.log(`${String(instances).padStart(9)} | ${fleet.padEnd(7)} | ${cells.join(" | ")} | ${cell(total(before), total(after))}`);
            const other = Object.keys({ ...before, ...after }).filter((token) => !LOOKUP_TOKENS.some(([known]) => known === token));
            if (other.length > 0) {
                console.log(`          (also counted in "all": ${other.join(", ")})`);
            }
        }
    }
}

function engine(): void {
    console.log("\n5. `pulumi preview` through the real engine (median of 3 runs each)");
    execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join("bench", "enginePreview.ts"), "3"], { cwd: root, stdio: "inherit" });
}

function audit(): void {
    execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join("bench", "audit.ts")], { cwd: root, stdio: "inherit" });
}

function records(): void {
    execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join("bench", "records.ts"), ...(options.events === undefined ? [] : ["--events", options.events])], { cwd: root, stdio: "inherit" });
}

console.log(`Node ${process.version}; each measurement is a fresh process; times exclude module loading.`);
if (runs("evaluation")) evaluation();
if (runs("policy")) policy();
if (runs("promotion")) promotion();
if (runs("lookups")) lookups();
if (runs("engine")) engine();
if (runs("audit")) audit();
if (runs("records")) records();
