/**
 * `npm run bench -- --only audit` (issue 10, "Benchmark"): the audit against one emulated account of
 * 5,000 users, 20 groups, 2,000 roles, 1,000 customer managed policies and 200 buckets, and Prowler
 * on the same account, both through the same call-counting proxy, in ONE run.
 *
 *   moto (test/support/moto.ts, project .venv)  ←  audit front (test/support/auditFront.ts: root row)
 *                                               ←  counter (here: every call by service:operation,
 *                                                  Query, JSON and S3 REST alike; the front only
 *                                                  names Query-protocol actions)
 *
 * 1. Seeding: bench/auditSeed.py, boto3 from .venv straight to moto, 8 threads, retrying moto's occasional HTTP 500 under concurrency (not counted).
 * 2. Airlock: runAudit in process, checks group-policies, root-and-users, public-buckets, region
 *    eu-west-1: wall time and calls by operation, against the minimum the APIs allow.
 * 3. Prowler (PROWLER_VERSION from PyPI, in a throwaway venv under the bench's temp dir
 *    $TMPDIR/airlock-bench-audit, reused between runs, never a project dependency): the equivalent
 *    IAM and S3 checks against the same moto through the same proxy (boto3 honours AWS_ENDPOINT_URL):
 *    wall time and calls by operation.
 * moto does not paginate GetAccountAuthorizationDetails (one answer for everything) nor IAM's List*
 * calls: "AWS-equivalent" counts replace what moto answered in one page by the pages real AWS needs
 * (GetAccountAuthorizationDetails with MaxItems 1000; List* at AWS's default of 100 items a page,
 * Prowler sets no MaxItems).
 *
 * Both tools get http://localhost:<port> (see viaName) and the same loopback name resolution for
 * <name>.localhost (dns.lookup here; sitecustomize.py in the throwaway venv for Prowler).
 */
import { execFile, execFileSync, spawn } from "child_process";
import { promisify } from "util";
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { runAudit } from "../audit/run";
import { parseTargetsFile } from "../audit/targets";
import { startAuditFront } from "../test/support/auditFront";
import { listenOnLoopback } from "../test/support/loopback";
import { MOTO_REGION, VENV_BIN, startMoto } from "../test/support/moto";

export const PROWLER_VERSION = "5.46.0";
const SIZE = { users: 5000, groups: 20, roles: 2000, policies: 1000, buckets: 200 };
const PUBLIC_POLICY_EVERY = 20; // keep in step with bench/auditSeed.py
const root = path.resolve(__dirname, "..");
const benchDir = path.join(os.tmpdir(), "airlock-bench-audit");

type Counts = Record<string, number>;

/** S3 REST operation from method, path and sub-resource. */
function s3Operation(method: string, url: URL): string {
    const q = [...url.searchParams.keys()];
    const has = (k: string): boolean => q.includes(k);
    if (url.pathname.startsWith("/v20180820/")) {
        const p = url.pathname.replace(/^\/v20180820\//, "");
        return p === "configuration/publicAccessBlock" ? `${method === "GET" ? "Get" : method}PublicAccessBlock` : p === "accesspoint" ? "ListAccessPoints" : p === "mrap/instances" ? "ListMultiRegionAccessPoints" : `${method} ${p}`;
    }
    const parts = url.pathname.split("/").filter((p) => p !== "");
    if (parts.length === 0) return method === "GET" ? (q.length > 0 ? "ListBuckets" : "ListBuckets(no parameters)") : `${method} /`;
    const sub = ["location", "publicAccessBlock", "policyStatus", "policy", "acl", "ownershipControls", "logging", "versioning", "encryption", "tagging", "lifecycle", "replication", "website", "cors", "notification", "object-lock", "accelerate", "requestPayment", "analytics", "intelligent-tiering", "inventory", "metrics"].find(has);
    const verb = method === "GET" ? "Get" : method === "PUT" ? "Put" : method === "DELETE" ? "Delete" : method;
    const names: Record<string, string> = {
        location: "GetBucketLocation",
        publicAccessBlock: `${verb}PublicAccessBlock`,
        policyStatus: "GetBucketPolicyStatus",
        ownershipControls: `${verb}BucketOwnershipControls`,
        "object-lock": `${verb}ObjectLockConfiguration`,
    };
    if (sub !== undefined) return names[sub] ?? `${verb}Bucket${sub[0]!.toUpperCase()}${sub.slice(1)}`;
    if (parts.length === 1) return method === "GET" ? "ListObjects" : method === "HEAD" ? "HeadBucket" : `${verb}Bucket`;
    return `${verb}Object`;
}

interface Counter {
    readonly endpoint: string;
    readonly counts: Counts;
    clear(): void;
    stop(): Promise<void>;
}

/** A loopback proxy in front of `upstream` counting every call as service:operation. */
async function startCounter(upstream: string): Promise<Counter> {
    const up = new URL(upstream);
    const counts: Counts = {};
    const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            const body = Buffer.concat(chunks);
            let url = new URL(req.url ?? "/", "http://x");
            const scoped = /Credential=[^/]+\/\d+\/[^/]+\/([^/]+)\//.exec(String(req.headers.authorization ?? ""))?.[1] ?? "?";
            const service = scoped === "s3" && url.pathname.startsWith("/v20180820/") ? "s3control" : scoped;
            // Virtual-hosted S3 (<bucket>.localhost:<port>) to path style, which moto understands.
            const bucketHost = /^(.+)\.localhost(?::\d+)?$/.exec(String(req.headers.host ?? ""))?.[1];
            if (service === "s3" && bucketHost !== undefined) {
                req.url = `/${bucketHost}${url.pathname === "/" ? "" : url.pathname}${url.search}`;
                url = new URL(req.url, "http://x");
            }
            const target = req.headers["x-amz-target"];
            const action =
                /(?:^|&)Action=([^&]+)/.exec(body.toString("utf8"))?.[1] ??
                url.searchParams.get("Action") ??
                (typeof target === "string" ? target.split(".").pop() : undefined) ??
                (service === "s3" || service === "s3control" ? s3Operation(req.method ?? "GET", url) : `${req.method} ${url.pathname}`);
            const key = `${service}:${decodeURIComponent(action)}`;
            counts[key] = (counts[key] ?? 0) + 1;
            const forward = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers: req.headers, agent }, (answer) => {
                res.writeHead(answer.statusCode ?? 502, answer.headers);
                answer.pipe(res);
            });
            forward.on("error", (e) => {
                res.writeHead(502, { "content-type": "text/plain" });
                res.end(`counter: upstream unreachable: ${e.message}`);
            });
            forward.end(body);
        });
    });
    const listening = await listenOnLoopback(server);
    return {
        endpoint: listening.endpoint,
        counts,
        clear: () => Object.keys(counts).forEach((k) => delete counts[k]),
        stop: async () => {
            agent.destroy();
            await listening.close();
        },
    };
}

/** localhost and <name>.localhost (virtual-hosted S3, S3 Control's <account>. host prefix) resolve to 127.0.0.1 (the counter listens on IPv4 only). */
function loopbackHostPrefixes(): void {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const dns = require("dns") as { lookup: (...a: unknown[]) => unknown };
    const original = dns.lookup;
    dns.lookup = function lookup(...args: unknown[]): unknown {
        const [name, ...rest] = args as [string, ...unknown[]];
        return original.call(dns, /(^|\.)localhost$/.test(name) ? "127.0.0.1" : name, ...rest);
    };
}

/**
 * http://localhost:<port>: S3 Control prefixes the host with the account id, which an IP address
 * cannot take (the SDK refuses http://123456789012.127.0.0.1:<port>/ as an invalid URL), so both
 * tools get a name; S3 then addresses buckets virtual-hosted, which the counter turns to path style.
 */
const viaName = (endpoint: string): string => endpoint.replace("127.0.0.1", "localhost");

const sum = (c: Counts, pred: (k: string) => boolean = () => true): number => Object.entries(c).reduce((n, [k, v]) => n + (pred(k) ? v : 0), 0);
const entities = SIZE.users + SIZE.groups + SIZE.roles + SIZE.policies;
const gaadPages = Math.ceil(entities / 1000);
const page100 = (n: number): number => Math.max(1, Math.ceil(n / 100));

/** The fewest calls the three checks can make against this account (see the printed notes). */
function minimum(): Counts {
    const policyBuckets = Math.ceil(SIZE.buckets / PUBLIC_POLICY_EVERY);
    return {
        "sts:GetCallerIdentity": 1,
        "iam:GetAccountAuthorizationDetails": gaadPages,
        "iam:GenerateCredentialReport": 1,
        "iam:GetCredentialReport": 1,
        "s3control:GetPublicAccessBlock": 1,
        "s3:ListBuckets": Math.ceil(SIZE.buckets / 1000),
        "s3:GetPublicAccessBlock": SIZE.buckets,
        "s3:GetBucketPolicy": SIZE.buckets,
        "s3:GetBucketAcl": SIZE.buckets,
        // corroboration only (evidence), for the buckets that have a policy
        "s3:GetBucketPolicyStatus": policyBuckets,
    };
}

/** What real AWS would be asked where moto answered in one page what AWS pages. */
function awsEquivalent(c: Counts, listPageSize: "aws-default" | "none"): Counts {
    const out = { ...c };
    if ((out["iam:GetAccountAuthorizationDetails"] ?? 0) > 0 && out["iam:GetAccountAuthorizationDetails"]! < gaadPages) out["iam:GetAccountAuthorizationDetails"] = gaadPages;
    // AWS's ListBuckets gives each bucket's BucketRegion when the request has a parameter (e.g.
    // max-buckets); moto 5.2.1 never does, so a client that asked with one would make no
    // GetBucketLocation on AWS.
    if ((out["s3:ListBuckets"] ?? 0) > 0 && (out["s3:ListBuckets(no parameters)"] ?? 0) === 0) delete out["s3:GetBucketLocation"];
    if (listPageSize === "aws-default") {
        const lists: Counts = { "iam:ListUsers": SIZE.users, "iam:ListRoles": SIZE.roles, "iam:ListGroups": SIZE.groups, "iam:ListPolicies": SIZE.policies };
        for (const [k, n] of Object.entries(lists)) {
            if ((out[k] ?? 0) > 0 && out[k]! < page100(n)) out[k] = page100(n);
        }
    }
    return out;
}

function prowlerVenv(): { bin: string; note: string } {
    const venv = path.join(benchDir, `prowler-${PROWLER_VERSION}`);
    const bin = path.join(venv, "bin", "prowler");
    let note = `reused ${venv}`;
    if (!fs.existsSync(bin)) {
        fs.mkdirSync(benchDir, { recursive: true });
        const started = Date.now();
        execFileSync("python3", ["-m", "venv", venv], { stdio: "inherit" });
        execFileSync(path.join(venv, "bin", "pip"), ["install", "-q", `prowler==${PROWLER_VERSION}`], { stdio: "inherit", timeout: 15 * 60_000 });
        note = `installed prowler==${PROWLER_VERSION} into ${venv} in ${((Date.now() - started) / 1000).toFixed(0)} s`;
    }
    // The same loopback name resolution as the Airlock side gets (loopbackHostPrefixes).
    const site = execFileSync(path.join(venv, "bin", "python"), ["-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], { encoding: "utf8" }).trim();
    fs.writeFileSync(
        path.join(site, "sitecustomize.py"),
        "import socket\n_orig = socket.getaddrinfo\ndef _gai(host, *a, **k):\n    if isinstance(host, str) and (host == 'localhost' or host.endswith('.localhost')):\n        host = '127.0.0.1'\n    return _orig(host, *a, **k)\nsocket.getaddrinfo = _gai\n",
    );
    return { bin, note };
}

/** Prowler's checks equivalent to group-policies, root-and-users and public-buckets. */
export const PROWLER_CHECKS = [
    // root-and-users
    "iam_no_root_access_key",
    "iam_root_mfa_enabled",
    "iam_root_hardware_mfa_enabled",
    "iam_user_mfa_enabled_console_access",
    "iam_user_accesskey_unused",
    "iam_user_console_access_unused",
    "iam_rotate_access_key_90_days",
    // group-policies (MFA and source restrictions applied through groups)
    "iam_policy_attached_only_to_group_or_roles",
    // public-buckets
    "s3_account_level_public_access_blocks",
    "s3_bucket_level_public_access_block",
    "s3_bucket_public_access",
    "s3_bucket_policy_public_write_access",
    "s3_bucket_public_list_acl",
    "s3_bucket_public_write_acl",
];

async function runProwler(bin: string, endpoint: string): Promise<{ ms: number; code: number | null; tail: string; checks: string[] }> {
    const listed = execFileSync(bin, ["aws", "--list-checks", "--no-banner"], { encoding: "utf8", env: { ...process.env, AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing" } });
    const checks = PROWLER_CHECKS.filter((c) => listed.includes(c));
    const out = fs.mkdtempSync(path.join(benchDir, "prowler-out-"));
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("AWS_")) env[k] = v;
    Object.assign(env, {
        AWS_ENDPOINT_URL: endpoint,
        AWS_ACCESS_KEY_ID: "testing",
        AWS_SECRET_ACCESS_KEY: "testing",
        AWS_DEFAULT_REGION: MOTO_REGION,
        AWS_REGION: MOTO_REGION,
        AWS_EC2_METADATA_DISABLED: "true",
    });
    const started = Date.now();
    let tail = "";
    const code = await new Promise<number | null>((resolve) => {
        const child = spawn(bin, ["aws", "--checks", ...checks, "-f", MOTO_REGION, "--output-formats", "csv", "-o", out, "--no-banner", "--ignore-exit-code-3"], { env, cwd: out });
        const keep = (d: Buffer): void => {
            tail = (tail + d.toString("utf8")).slice(-4000);
        };
        child.stdout.on("data", keep);
        child.stderr.on("data", keep);
        child.on("close", resolve);
    });
    return { ms: Date.now() - started, code, tail, checks };
}

export async function auditBench(): Promise<void> {
    console.log(`\n6. Audit at scale: ${SIZE.users} users, ${SIZE.groups} groups, ${SIZE.roles} roles, ${SIZE.policies} customer policies, ${SIZE.buckets} buckets (moto, one run)`);
    loopbackHostPrefixes();
    const moto = await startMoto({ env: { MOTO_ENABLE_RECORDING: "False" } });
    const front = await startAuditFront({ upstream: moto.endpoint });
    const counter = await startCounter(front.endpoint);
    try {
        // Asynchronously: moto logs every request to a pipe this process must keep draining.
        const { stdout: seeded } = await promisify(execFile)(path.join(VENV_BIN, "python"), [path.join(root, "bench", "auditSeed.py"), moto.endpoint, ...[SIZE.users, SIZE.groups, SIZE.roles, SIZE.policies, SIZE.buckets].map(String)], { encoding: "utf8" });
        console.log(`seeded (boto3 → moto directly, not counted): ${seeded.trim()}`);

        // --- Airlock
        const targets = parseTargetsFile(
            JSON.stringify({
                version: 1,
                targets: [{ name: "bench", credentials: { env: { accessKeyId: "K", secretAccessKey: "S" } }, regions: [MOTO_REGION], checks: ["group-policies", "root-and-users", "public-buckets"], policies: ["Force_MFA", "User_Source_IP_Restrictions"], sourceCidrs: ["195.89.85.64/28"] }],
            }),
            { K: "testing", S: "testing" },
            "bench.json",
        );
        counter.clear();
        front.calls.length = 0;
        const started = Date.now();
        const result = await runAudit(targets, { endpoint: viaName(counter.endpoint), regions: [MOTO_REGION] });
        const airlockMs = Date.now() - started;
        const airlock = { ...counter.counts };
        const airlockFront = front.calls.length;
        const byStatus: Counts = {};
        for (const f of result.findings) byStatus[`${f.check}/${f.status}`] = (byStatus[`${f.check}/${f.status}`] ?? 0) + 1;
        console.log(`Airlock: ${(airlockMs / 1000).toFixed(2)} s; targets ${result.targets.map((t) => `${t.target}=${t.state}`).join(", ")}; findings ${JSON.stringify(byStatus)}`);
        for (const f of result.findings.filter((x) => x.status === "error").slice(0, 5)) console.log(`  error finding: ${f.check} ${f.title}`);

        // --- Prowler
        let prowler: Counts | undefined;
        let prowlerMs: number | undefined;
        let prowlerFront = 0;
        try {
            const { bin, note } = prowlerVenv(); // synchronous, but nothing talks to moto meanwhile
            console.log(`Prowler ${PROWLER_VERSION}: ${note}`);
            counter.clear();
            front.calls.length = 0;
            const run = await runProwler(bin, viaName(counter.endpoint));
            prowlerMs = run.ms;
            prowler = { ...counter.counts };
            prowlerFront = front.calls.length;
            console.log(`Prowler: ${(run.ms / 1000).toFixed(2)} s, exit ${run.code}; checks run: ${run.checks.join(" ")}`);
            if (sum(prowler) === 0 || (run.code !== 0 && run.code !== 3)) console.log(`--- prowler output (tail) ---\n${run.tail}`);
            else console.log(`  prowler's last lines: ${run.tail.trim().split("\n").slice(-3).join(" | ")}`);
        } catch (error) {
            console.log(`Prowler could not run: ${(error as Error).message}`);
        }

        // --- Table
        const min = minimum();
        const airlockAws = awsEquivalent(airlock, "none");
        const prowlerAws = prowler === undefined ? undefined : awsEquivalent(prowler, "aws-default");
        const keys = [...new Set([...Object.keys(min), ...Object.keys(airlock), ...Object.keys(prowler ?? {})])].sort();
        const col = (v: number | undefined, w = 9): string => (v === undefined ? "-" : String(v)).padStart(w);
        console.log("\noperation                                  | minimum | Airlock moto | Airlock AWS-eq | Prowler moto | Prowler AWS-eq");
        for (const k of keys) {
            console.log(`${k.padEnd(42)} | ${col(min[k], 7)} | ${col(airlock[k], 12)} | ${col(airlockAws[k], 14)} | ${col(prowler?.[k], 12)} | ${col(prowlerAws?.[k], 14)}`);
        }
        const minTotal = sum(min);
        const minWithoutStatus = minTotal - (min["s3:GetBucketPolicyStatus"] ?? 0);
        console.log(
            `${"TOTAL".padEnd(42)} | ${col(minTotal, 7)} | ${col(sum(airlock), 12)} | ${col(sum(airlockAws), 14)} | ${col(prowler === undefined ? undefined : sum(prowler), 12)} | ${col(prowlerAws === undefined ? undefined : sum(prowlerAws), 14)}`,
        );
        console.log(`(front saw ${airlockFront} Airlock calls and ${prowlerFront} Prowler calls: the counter's totals must match)`);
        const r = (a: number, b: number): string => `${(a / b).toFixed(3)}×`;
        console.log(`\nAirlock calls / minimum: ${r(sum(airlockAws), minTotal)} (AWS-equivalent; ${r(sum(airlockAws), minWithoutStatus)} against the minimum without the corroborating GetBucketPolicyStatus). Goal ≤ 1.2×.`);
        console.log(`  IAM only: ${sum(airlockAws, (k) => k.startsWith("iam:"))} calls vs minimum ${sum(min, (k) => k.startsWith("iam:"))}; S3 only: ${sum(airlockAws, (k) => k.startsWith("s3"))} vs ${sum(min, (k) => k.startsWith("s3"))}.`);
        if (prowler !== undefined && prowlerAws !== undefined && prowlerMs !== undefined) {
            console.log(`Prowler calls / minimum: ${r(sum(prowlerAws), minTotal)} (AWS-equivalent); Prowler/Airlock calls: ${r(sum(prowlerAws), sum(airlockAws))} (moto: ${r(sum(prowler), sum(airlock))}).`);
            console.log(`Wall time: Airlock ${(airlockMs / 1000).toFixed(2)} s, Prowler ${(prowlerMs / 1000).toFixed(2)} s: Prowler/Airlock ${r(prowlerMs, airlockMs)}. Goal ≥ 5×.`);
        }
        console.log(
            `Minimum: GetAccountAuthorizationDetails ceil((${SIZE.users}+${SIZE.groups}+${SIZE.roles}+${SIZE.policies})/1000) = ${gaadPages} pages (moto answers in 1); ` +
                `credential report 2 (Generate + Get; Airlock makes 1 when a fresh report exists, 4 when none does: Get finds none, Generate, Generate polled to COMPLETE, Get); S3: account block 1, ListBuckets 1 page (BucketRegion given), ` +
                `then 3 per bucket (GetPublicAccessBlock, GetBucketPolicy, GetBucketAcl; no GetBucketLocation when ListBuckets gives BucketRegion), plus GetBucketPolicyStatus for the ${Math.ceil(SIZE.buckets / PUBLIC_POLICY_EVERY)} buckets with a policy.`,
        );
    } finally {
        await counter.stop();
        await front.stop();
        await moto.stop();
    }
}

if (require.main === module) {
    auditBench().catch((error) => {
        console.error(error);
        process.exit(1);
    });
}
