/**
 * `npm run bench -- --only records` (issue 11, "Benchmark"): the records database at scale, on
 * SQLite and on PostgreSQL side by side, in ONE run.
 *
 * 1. Inventory write. An account of 5,000 users, 20 groups, 2,000 roles and 1,000 customer managed
 *    policies, with the memberships, attachments, inline policies and credential-report rows (and
 *    access keys) such an account has, built in memory with audit/iamInventory.ts's types (no AWS).
 *    Written through the real path: startRun, then audit/records/inventory.ts snapshotItems +
 *    writeAccountSnapshot (timed together):
 *      (a) first audit write: each repetition on a fresh database (SQLite: a new file;
 *          PostgreSQL: a new database), median of REPS;
 *      (b) unchanged re-audit (same inventory an hour later: only last_audited moves), REPS times in
 *          a row on the last database of (a), median.
 *    Rows written = items + versions inserted or updated (WriteCounts.rowsWritten); database size
 *    after: SQLite's file plus its -wal (as left, no checkpoint forced), PostgreSQL's
 *    pg_database_size (which includes its ~7 MB of catalogue: the empty, migrated size is printed).
 * 2. CloudTrail ingestion of --events N (default 1,000,000) events: writeSyntheticTrail
 *    (test/support/cloudtrailLogs.ts) puts files of --per-file (default 2,000) events into moto's S3
 *    (test/support/moto.ts); then ingestTrail into SQLite and into PostgreSQL, each in a fresh child
 *    process (this file with --ingest-worker), so its memory baseline is its own: events and files
 *    per second, and process.memoryUsage() sampled every 100 ms (baseline just before ingesting,
 *    peak during). Then, in the same child, eventsForDetection over the stored events for one UTC
 *    day (the synthetic trail's whole span at 50 ms between events up to 1,728,000 events), both with the audit's
 *    knowledge of the 20 Airlock instances' NAT address (what the audit passes) and without.
 *
 * PostgreSQL: test/support/postgres.ts (a throwaway server on 127.0.0.1, durability off as for the
 * tests: fsync, synchronous_commit and full_page_writes off; note that when reading its times).
 * Everything started listens on 127.0.0.1 only and is stopped at the end, also on error or Ctrl-C;
 * the temporary directory is removed.
 *
 *   npm run bench -- --only records
 *   node -r ts-node/register/transpile-only bench/records.ts --events 100000 --reps 3
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseArgs } from "util";
import { CreateBucketCommand, S3Client } from "@aws-sdk/client-s3";
import { sql } from "kysely";
import type { CredentialReportKey, CredentialReportRow, IamGroup, IamInventory, IamRole, IamUser, ManagedPolicy } from "../audit/iamInventory";
import { openRecords, type DbSpec, type Records } from "../audit/records/db";
import { snapshotItems, startRun, writeAccountSnapshot, type WriteCounts } from "../audit/records/inventory";
import { eventsForDetection, ingestTrail } from "../audit/records/cloudtrail/ingest";
import { writeSyntheticTrail } from "../test/support/cloudtrailLogs";
import { awsClientConfig, startMoto, type Moto } from "../test/support/moto";
import { startPostgres, type Postgres } from "../test/support/postgres";
import { median } from "./stats";

const ACCOUNT = "123456789012";
const SIZE = { users: 5000, groups: 20, roles: 2000, policies: 1000 };
const BUCKET = "airlock-bench-trail";
const TRAIL_START = new Date("2026-12-01T00:00:00Z");

// The account ---------------------------------------------------------------------------------------

const arn = (resource: string): string => `arn:aws:iam::${ACCOUNT}:${resource}`;
const created = (n: number): Date => new Date(Date.UTC(2021, 0, 1) + n * 3_600_000);
const id = (prefix: string, n: number): string => `${prefix}${n.toString(36).toUpperCase().padStart(17, "Q")}`;
const SERVICES = ["s3", "ec2", "sqs", "sns", "dynamodb", "kms", "logs", "ssm", "secretsmanager", "lambda"];

function policyDocument(n: number): unknown {
    const statements = 3 + (n % 4);
    return {
        Version: "2012-10-17",
        Statement: Array.from({ length: statements }, (_, s) => {
            const service = SERVICES[(n + s) % SERVICES.length]!;
            return {
                Sid: `Stmt${n}x${s}`,
                Effect: s === statements - 1 && n % 5 === 0 ? "Deny" : "Allow",
                Action: [`${service}:Get*`, `${service}:List*`, `${service}:Describe*`, `${service}:Put${s}Item`].slice(0, 2 + (s % 3)),
                Resource: [`arn:aws:${service}:eu-west-1:${ACCOUNT}:app-${n % 97}/*`, `arn:aws:${service}:eu-west-1:${ACCOUNT}:shared-${s}`],
                ...(s % 2 === 0 ? { Condition: { StringEquals: { "aws:RequestedRegion": ["eu-west-1", "eu-central-1"] }, Bool: { "aws:SecureTransport": "true" } } } : {}),
            };
        }),
    };
}

function trustPolicy(n: number): unknown {
    const principal =
        n % 3 === 0 ? { Service: "ec2.amazonaws.com" } : n % 3 === 1 ? { Service: "lambda.amazonaws.com" } : { AWS: `arn:aws:iam::${String(210987654321 + (n % 7))}:root` };
    return {
        Version: "2012-10-17",
        Statement: [{ Effect: "Allow", Principal: principal, Action: "sts:AssumeRole", ...(n % 3 === 2 ? { Condition: { StringEquals: { "sts:ExternalId": `ext-${n}` } } } : {}) }],
    };
}

const AWS_MANAGED = ["ReadOnlyAccess", "SecurityAudit", "AmazonS3ReadOnlyAccess", "CloudWatchLogsFullAccess", "AmazonSSMManagedInstanceCore"].map((name) => ({ name, arn: `arn:aws:iam::aws:policy/${name}` }));

/** The account's IAM as fetchIamInventory would return it, and its credential report. */
export function syntheticAccount(): { iam: IamInventory; report: CredentialReportRow[] } {
    const policies: ManagedPolicy[] = Array.from({ length: SIZE.policies }, (_, n) => {
        const versions = Array.from({ length: 1 + (n % 3) }, (_, v) => ({ versionId: `v${v + 1}`, isDefault: v === n % 3, createDate: created(n + v), document: policyDocument(n + v) }));
        const name = `app-policy-${String(n).padStart(4, "0")}`;
        return {
            name,
            arn: arn(`policy/${n % 4 === 0 ? "platform/" : ""}${name}`),
            id: id("ANPA", n),
            path: n % 4 === 0 ? "/platform/" : "/",
            defaultVersionId: `v${(n % 3) + 1}`,
            attachmentCount: 0,
            isAttachable: true,
            versions,
            defaultVersion: versions[n % 3]!,
            awsManaged: false,
        };
    });
    const customer = (n: number): { name: string; arn: string } => {
        const p = policies[n % policies.length]!;
        return { name: p.name, arn: p.arn };
    };
    const inline = (owner: string, n: number) => ({ name: `${owner}-inline-${n}`, document: policyDocument(n * 7) });
    const groups: IamGroup[] = Array.from({ length: SIZE.groups }, (_, n) => ({
        name: `team-${n}`,
        arn: arn(`group/team-${n}`),
        id: id("AGPA", n),
        path: "/",
        createDate: created(n),
        attachedPolicies: [AWS_MANAGED[n % AWS_MANAGED.length]!, customer(n * 13)],
        inlinePolicies: [inline(`team-${n}`, n)],
    }));
    const users: IamUser[] = Array.from({ length: SIZE.users }, (_, n) => {
        const name = `user-${String(n).padStart(5, "0")}`;
        const userPath = n % 5 === 0 ? "/contractors/" : "/";
        return {
            name,
            arn: arn(`user${userPath}${name}`),
            id: id("AIDA", n),
            path: userPath,
            createDate: created(n),
            groups: Array.from({ length: 1 + (n % 3) }, (_, g) => `team-${(n + g * 7) % SIZE.groups}`),
            attachedPolicies: n % 3 === 0 ? [customer(n)] : [],
            inlinePolicies: n % 10 === 0 ? [inline(name, n)] : [],
            ...(n % 50 === 0 ? { permissionsBoundaryArn: customer(1).arn } : {}),
        };
    });
    const roles: IamRole[] = Array.from({ length: SIZE.roles }, (_, n) => {
        const name = `service-role-${String(n).padStart(4, "0")}`;
        const rolePath = n % 10 === 0 ? "/airlock/" : "/service-role/";
        return {
            name,
            arn: arn(`role${rolePath}${name}`),
            id: id("AROA", n),
            path: rolePath,
            createDate: created(n),
            trustPolicy: { document: trustPolicy(n) },
            attachedPolicies: [customer(n * 3 + 1), n % 2 === 0 ? AWS_MANAGED[n % AWS_MANAGED.length]! : customer(n * 3 + 2)],
            inlinePolicies: n % 2 === 0 ? [inline(name, n)] : [],
            instanceProfileArns: n % 5 === 0 ? [arn(`instance-profile/${name}`)] : [],
            ...(n % 40 === 0 ? { permissionsBoundaryArn: customer(2).arn } : {}),
        };
    });
    const iam: IamInventory = { accountId: ACCOUNT, entities: ["User", "Group", "Role", "LocalManagedPolicy"], users, groups, roles, policies, pages: 9, calls: { GetAccountAuthorizationDetails: 9 } };

    const iso = (d: Date | undefined): string => (d === undefined ? "N/A" : d.toISOString().replace(/\.\d{3}Z$/, "+00:00"));
    const rootRow: CredentialReportRow = {
        user: "<root_account>",
        arn: arn("root"),
        isRoot: true,
        userCreationTime: created(0),
        mfaActive: true,
        accessKeys: [],
        raw: rawRow("<root_account>", arn("root"), { created: iso(created(0)), passwordEnabled: "not_supported", passwordLastUsed: iso(created(900)), passwordLastChanged: "not_supported", mfa: "true" }),
    };
    const report: CredentialReportRow[] = [rootRow];
    for (const [n, u] of users.entries()) {
        const password = n % 4 !== 0;
        const keys: CredentialReportKey[] = [
            ...(n % 10 < 7 ? [{ slot: 1 as const, active: n % 17 !== 0, lastRotated: created(n + 100), ...(n % 6 === 0 ? {} : { lastUsed: created(n + 2000), lastUsedRegion: "eu-west-1", lastUsedService: SERVICES[n % SERVICES.length]! }) }] : []),
            ...(n % 5 === 0 ? [{ slot: 2 as const, active: true, lastRotated: created(n + 300) }] : []),
        ];
        const passwordLastUsed = password && n % 3 !== 0 ? created(n + 3000) : undefined;
        report.push({
            user: u.name,
            arn: u.arn,
            isRoot: false,
            userCreationTime: u.createDate,
            passwordEnabled: password,
            ...(passwordLastUsed === undefined ? {} : { passwordLastUsed }),
            ...(password ? { passwordLastChanged: created(n + 50) } : {}),
            mfaActive: password && n % 7 !== 0,
            accessKeys: keys,
            raw: rawRow(u.name, u.arn, {
                created: iso(u.createDate),
                passwordEnabled: String(password),
                passwordLastUsed: password ? (passwordLastUsed === undefined ? "no_information" : iso(passwordLastUsed)) : "N/A",
                passwordLastChanged: password ? iso(created(n + 50)) : "N/A",
                mfa: String(password && n % 7 !== 0),
                keys: keys.map((k) => ({ slot: k.slot, active: String(k.active), rotated: iso(k.lastRotated), used: iso(k.lastUsed), region: k.lastUsedRegion ?? "N/A", service: k.lastUsedService ?? "N/A" })),
            }),
        });
    }
    return { iam, report };
}

function rawRow(
    user: string,
    userArn: string,
    o: { created: string; passwordEnabled: string; passwordLastUsed: string; passwordLastChanged: string; mfa: string; keys?: { slot: number; active: string; rotated: string; used: string; region: string; service: string }[] },
): Record<string, string> {
    const row: Record<string, string> = {
        user,
        arn: userArn,
        user_creation_time: o.created,
        password_enabled: o.passwordEnabled,
        password_last_used: o.passwordLastUsed,
        password_last_changed: o.passwordLastChanged,
        password_next_rotation: "N/A",
        mfa_active: o.mfa,
    };
    for (const slot of [1, 2]) {
        const k = o.keys?.find((key) => key.slot === slot);
        row[`access_key_${slot}_active`] = k?.active ?? "false";
        row[`access_key_${slot}_last_rotated`] = k?.rotated ?? "N/A";
        row[`access_key_${slot}_last_used_date`] = k?.used ?? "N/A";
        row[`access_key_${slot}_last_used_region`] = k?.region ?? "N/A";
        row[`access_key_${slot}_last_used_service`] = k?.service ?? "N/A";
    }
    for (const slot of [1, 2]) {
        row[`cert_${slot}_active`] = "false";
        row[`cert_${slot}_last_rotated`] = "N/A";
    }
    return row;
}

// Helpers -----------------------------------------------------------------------------------------

type Backend = "sqlite" | "postgres";

function sqliteSize(file: string): number {
    return [file, `${file}-wal`].reduce((sum, f) => sum + (fs.existsSync(f) ? fs.statSync(f).size : 0), 0);
}

/** The database's size, as text: SQLite "total (file + wal)", PostgreSQL pg_database_size. */
async function dbSize(records: Records, file?: string): Promise<string> {
    if (records.kind === "sqlite") {
        const wal = fs.existsSync(`${file!}-wal`) ? fs.statSync(`${file!}-wal`).size : 0;
        return `${mb(sqliteSize(file!))} (file ${mb(fs.statSync(file!).size)} + wal ${mb(wal)})`;
    }
    const { rows } = await sql<{ size: string }>`select pg_database_size(current_database())::text as size`.execute(records.db);
    return mb(Number(rows[0]!.size));
}

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const secs = (ms: number): string => (ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(1)} s`);
const int = (n: number): string => Math.round(n).toLocaleString("en-US");

// 1. Inventory --------------------------------------------------------------------------------------

interface InventoryResult {
    readonly firstMs: number[];
    readonly firstRows: number;
    readonly firstSize: string;
    readonly reauditMs: number[];
    readonly reauditRows: number[];
    readonly reauditSize: string;
    readonly emptySize: string;
}

async function inventoryOn(backend: Backend, open: (name: string) => Promise<{ records: Records; file?: string }>, account: ReturnType<typeof syntheticAccount>, reps: number): Promise<InventoryResult> {
    const firstMs: number[] = [];
    let firstRows = 0;
    let last: { records: Records; file?: string } | undefined;
    let emptySize = "";
    let at = new Date("2026-12-01T09:00:00Z");
    const write = async (records: Records, runId: string): Promise<{ ms: number; counts: WriteCounts }> => {
        await startRun(records.db, { id: runId, startedAt: at, toolVersion: "bench" });
        const started = performance.now();
        const { kinds, items } = snapshotItems({ iam: account.iam, credentialReport: account.report });
        const counts = await writeAccountSnapshot(records.db, { accountId: ACCOUNT, auditedAt: at, runId, kinds, items });
        return { ms: performance.now() - started, counts };
    };
    try {
        for (let rep = 0; rep < reps; rep++) {
            if (last !== undefined) await last.records.close();
            last = await open(`inv_${backend}_${rep}`);
            emptySize = await dbSize(last.records, last.file);
            const { ms, counts } = await write(last.records, `first-${rep}`);
            if (counts.inserted === 0 || counts.unchanged !== 0) throw new Error(`${backend}: first write did not insert (${JSON.stringify(counts)})`);
            firstMs.push(ms);
            firstRows = counts.rowsWritten;
        }
        const firstSize = await dbSize(last!.records, last!.file);
        const reauditMs: number[] = [];
        const reauditRows: number[] = [];
        for (let rep = 0; rep < reps; rep++) {
            at = new Date(at.getTime() + 3_600_000);
            const { ms, counts } = await write(last!.records, `reaudit-${rep}`);
            if (counts.inserted + counts.changed + counts.removed + counts.restored !== 0) throw new Error(`${backend}: the re-audit changed something (${JSON.stringify(counts)})`);
            reauditMs.push(ms);
            reauditRows.push(counts.rowsWritten);
        }
        const reauditSize = await dbSize(last!.records, last!.file);
        return { firstMs, firstRows, firstSize, reauditMs, reauditRows, reauditSize, emptySize };
    } finally {
        await last?.records.close();
    }
}

// 2. CloudTrail: the worker (a child process per database) ----------------------------------------

interface MemorySample {
    readonly rss: number;
    readonly heapUsed: number;
}

function sampler(): { stop(): { baseline: MemorySample; peak: MemorySample } } {
    const now = (): MemorySample => {
        const m = process.memoryUsage();
        return { rss: m.rss, heapUsed: m.heapUsed };
    };
    const baseline = now();
    const peak = { ...baseline };
    const sample = (): void => {
        const m = now();
        peak.rss = Math.max(peak.rss, m.rss);
        peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    };
    const timer = setInterval(sample, 100);
    return {
        stop: () => {
            clearInterval(timer);
            sample();
            return { baseline, peak };
        },
    };
}

interface WorkerResult {
    readonly backend: Backend;
    readonly files: number;
    readonly events: number;
    readonly inserted: number;
    readonly failed: number;
    readonly listCalls: number;
    readonly ingestMs: number;
    readonly memory: { baseline: MemorySample; peak: MemorySample };
    readonly size: string;
    readonly detection: ReadonlyArray<{ readonly label: string; readonly ms: number; readonly rows: number; readonly peak: MemorySample; readonly baseline: MemorySample }>;
}

/** The 20 Airlock instances of syntheticRecords (test/support/cloudtrailLogs.ts) and their NAT address. */
function syntheticInstances(): Record<string, { natGatewayIps: string[] }> {
    const out: Record<string, { natGatewayIps: string[] }> = {};
    for (let i = 0; i < 20; i++) out[`i-0${(0x5e6f7080 + i).toString(16).padStart(16, "0")}`] = { natGatewayIps: ["203.0.113.77"] };
    return out;
}

async function ingestWorker(): Promise<void> {
    const backend = process.env["BENCH_BACKEND"] as Backend;
    const spec: DbSpec =
        backend === "sqlite"
            ? { kind: "sqlite", file: process.env["BENCH_SQLITE_FILE"]! }
            : { kind: "postgres", connectionString: process.env["BENCH_PG_URL"]!, password: process.env["BENCH_PG_PASSWORD"]! };
    const records = await openRecords(spec);
    try {
        const s3 = new S3Client({ region: "eu-west-1", endpoint: process.env["BENCH_S3_ENDPOINT"]!, credentials: { accessKeyId: "testing", secretAccessKey: "testing" }, forcePathStyle: true, maxAttempts: 1 });
        // Warm-up not counted: module loading and the first connection happened in openRecords.
        const memory = sampler();
        const started = performance.now();
        const result = await ingestTrail(records.db, s3, { bucket: BUCKET });
        const ingestMs = performance.now() - started;
        const held = memory.stop();
        const size = await dbSize(records, spec.kind === "sqlite" ? spec.file : undefined);
        const detection: Array<WorkerResult["detection"][number]> = [];
        const window = { accountId: ACCOUNT, since: TRAIL_START, until: new Date(TRAIL_START.getTime() + 86_400_000) };
        for (const [label, context] of [
            ["with the instances' NAT address known (as the audit calls it)", { instances: syntheticInstances(), vpcEndpointIds: [] as string[] }],
            ["without context (every Airlock-session event returned)", undefined],
        ] as const) {
            if (typeof global.gc === "function") global.gc();
            const mem = sampler();
            const t = performance.now();
            const rows = await eventsForDetection(records.db, { ...window, ...(context === undefined ? {} : { context }) });
            const ms = performance.now() - t;
            const m = mem.stop();
            detection.push({ label, ms, rows: rows.length, peak: m.peak, baseline: m.baseline });
        }
        const out: WorkerResult = {
            backend,
            files: result.files,
            events: result.events,
            inserted: result.inserted,
            failed: result.failed.length,
            listCalls: result.listCalls,
            ingestMs,
            memory: held,
            size,
            detection,
        };
        process.stdout.write(`${JSON.stringify(out)}\n`);
    } finally {
        await records.close();
    }
}

function runWorker(env: Record<string, string>): Promise<WorkerResult> {
    return new Promise((resolve, reject) => {
        execFile(
            process.execPath,
            ["--expose-gc", "-r", "ts-node/register/transpile-only", __filename, "--ingest-worker"],
            { cwd: path.resolve(__dirname, ".."), env: { ...process.env, ...env }, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 },
            (error, stdout, stderr) => {
                if (error !== null) return reject(new Error(`ingest worker (${env["BENCH_BACKEND"]}) failed: ${error.message}\n${stderr}`));
                try {
                    resolve(JSON.parse(stdout.trim().split("\n").pop() ?? "") as WorkerResult);
                } catch (e) {
                    reject(new Error(`ingest worker (${env["BENCH_BACKEND"]}): no result (${(e as Error).message}):\n${stdout}\n${stderr}`));
                }
            },
        );
    });
}

// Main ----------------------------------------------------------------------------------------------

async function recordsBench(options: { events: number; perFile: number; reps: number }): Promise<void> {
    const cleanups: Array<() => Promise<void> | void> = [];
    const cleanup = async (): Promise<void> => {
        while (cleanups.length > 0) {
            try {
                await cleanups.pop()!();
            } catch (error) {
                console.error(`cleanup: ${(error as Error).message}`);
            }
        }
    };
    const onSignal = (signal: NodeJS.Signals): void => {
        void cleanup().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    const benchStarted = performance.now();
    try {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-bench-records-"));
        cleanups.push(() => fs.rmSync(tmp, { recursive: true, force: true }));
        const pg: Postgres = await startPostgres();
        cleanups.push(() => pg.stop());

        console.log(`\n7. Records database (issue 11): SQLite (node:sqlite, SQLite ${sqliteVersion()}) and PostgreSQL ${pg.version} (throwaway server on 127.0.0.1, fsync/synchronous_commit/full_page_writes off)`);
        console.log(`   machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, ${mb(os.totalmem())} RAM, Node ${process.version}, temp dir ${os.tmpdir()}; load average at start ${os.loadavg().map((l) => l.toFixed(2)).join(" ")} (2 cores shared with other work)`);

        // 1. Inventory.
        const account = syntheticAccount();
        const t0 = performance.now();
        const snapshot = snapshotItems({ iam: account.iam, credentialReport: account.report });
        const snapshotMs = performance.now() - t0;
        const byKind = new Map<string, number>();
        for (const item of snapshot.items) byKind.set(item.kind, (byKind.get(item.kind) ?? 0) + 1);
        console.log(
            `\n7a. Inventory write: ${SIZE.users} users, ${SIZE.groups} groups, ${SIZE.roles} roles, ${SIZE.policies} customer policies → ${int(snapshot.items.length)} items ` +
                `(${[...byKind].map(([k, n]) => `${k} ${int(n)}`).join(", ")}); snapshotItems alone ${secs(snapshotMs)} (included in the times below).`,
        );
        console.log(`    Time: startRun excluded; snapshotItems + writeAccountSnapshot (one transaction), median of ${options.reps} (first write: a fresh database each time; re-audit: ${options.reps} in a row, each an hour later).`);
        const sqliteResult = await inventoryOn(
            "sqlite",
            async (name) => {
                const file = path.join(tmp, `${name}.sqlite`);
                return { records: await openRecords({ kind: "sqlite", file }), file };
            },
            account,
            options.reps,
        );
        const pgResult = await inventoryOn(
            "postgres",
            async (name) => ({ records: await openRecords({ kind: "postgres", connectionString: await pg.createDatabase(name), password: pg.password }) }),
            account,
            options.reps,
        );
        const range = (ms: number[]): string => `${secs(median(ms))} (${ms.map((m) => (m / 1000).toFixed(2)).join(", ")})`;
        console.log("\n| | SQLite | PostgreSQL |");
        console.log("| --- | --- | --- |");
        console.log(`| (a) first audit write: wall time, median (each run, s) | ${range(sqliteResult.firstMs)} | ${range(pgResult.firstMs)} |`);
        console.log(`| (a) rows written (items + versions) | ${int(sqliteResult.firstRows)} | ${int(pgResult.firstRows)} |`);
        console.log(`| (a) database size after (empty, migrated: SQLite ${sqliteResult.emptySize}, PostgreSQL ${pgResult.emptySize}) | ${sqliteResult.firstSize} | ${pgResult.firstSize} |`);
        console.log(`| (b) unchanged re-audit: wall time, median (each run, s) | ${range(sqliteResult.reauditMs)} | ${range(pgResult.reauditMs)} |`);
        console.log(`| (b) rows written (last_audited only) | ${sqliteResult.reauditRows.map(int).join(", ")} | ${pgResult.reauditRows.map(int).join(", ")} |`);
        console.log(`| (b) database size after ${options.reps} re-audits | ${sqliteResult.reauditSize} | ${pgResult.reauditSize} |`);
        console.log("    SQLite size = the file + its -wal as left (WAL mode, no checkpoint forced); PostgreSQL size = pg_database_size.");

        // 2. CloudTrail.
        console.log(`\n7b. CloudTrail ingestion: ${int(options.events)} synthetic events (writeSyntheticTrail, ${int(options.perFile)} per file, gzip level 1) in moto's S3`);
        const moto: Moto = await startMoto({ env: { MOTO_ENABLE_RECORDING: "False" } });
        cleanups.push(() => moto.stop());
        const s3 = new S3Client({ ...awsClientConfig(moto), forcePathStyle: true });
        cleanups.push(() => s3.destroy());
        await s3.send(new CreateBucketCommand({ Bucket: BUCKET, CreateBucketConfiguration: { LocationConstraint: "eu-west-1" } }));
        const w0 = performance.now();
        const trail = await writeSyntheticTrail(s3, BUCKET, { events: options.events, perFile: options.perFile, start: TRAIL_START, seed: 1 });
        const writeMs = performance.now() - w0;
        console.log(`    written: ${int(trail.events)} events in ${int(trail.keys.length)} log files (+ ${trail.digests.length} digest files) in ${secs(writeMs)} (generation + gzip + PutObject to moto; not part of the figures below)`);

        const results: WorkerResult[] = [];
        for (const backend of ["sqlite", "postgres"] as const) {
            const env: Record<string, string> = { BENCH_BACKEND: backend, BENCH_S3_ENDPOINT: moto.endpoint };
            if (backend === "sqlite") env["BENCH_SQLITE_FILE"] = path.join(tmp, "trail.sqlite");
            else {
                env["BENCH_PG_URL"] = await pg.createDatabase("trail");
                env["BENCH_PG_PASSWORD"] = pg.password;
            }
            results.push(await runWorker(env));
        }
        const [lite, post] = results as [WorkerResult, WorkerResult];
        const both = (f: (r: WorkerResult) => string): string => `| ${f(lite)} | ${f(post)} |`;
        console.log("\n| | SQLite | PostgreSQL |");
        console.log("| --- | --- | --- |");
        console.log(`| files / events ingested (inserted) ${both((r) => `${int(r.files)} / ${int(r.events)} (${int(r.inserted)})${r.failed > 0 ? `, ${r.failed} FAILED` : ""}`)}`);
        console.log(`| ingestion wall time ${both((r) => secs(r.ingestMs))}`);
        console.log(`| events per second ${both((r) => int(r.events / (r.ingestMs / 1000)))}`);
        console.log(`| files per second ${both((r) => (r.files / (r.ingestMs / 1000)).toFixed(1))}`);
        console.log(`| RSS: baseline → peak while ingesting ${both((r) => `${mb(r.memory.baseline.rss)} → ${mb(r.memory.peak.rss)}`)}`);
        console.log(`| heap used: baseline → peak while ingesting ${both((r) => `${mb(r.memory.baseline.heapUsed)} → ${mb(r.memory.peak.heapUsed)}`)}`);
        console.log(`| database size after ${both((r) => r.size)}`);
        for (let i = 0; i < lite.detection.length; i++) {
            const d = (r: WorkerResult) => r.detection[i]!;
            console.log(`| eventsForDetection, one day, ${d(lite).label}: time (rows) ${both((r) => `${secs(d(r).ms)} (${int(d(r).rows)})`)}`);
            console.log(`|   … its peak RSS / heap used (baseline before) ${both((r) => `${mb(d(r).peak.rss)} / ${mb(d(r).peak.heapUsed)} (${mb(d(r).baseline.rss)} / ${mb(d(r).baseline.heapUsed)})`)}`);
        }
        console.log(
            `    Each database ingested in a fresh Node process (memory sampled every 100 ms with process.memoryUsage(); baseline after opening the database, before ingestTrail). ` +
                `S3: moto ${moto.endpoint} (listing ${lite.listCalls} calls); PostgreSQL's own server memory is not in these figures.`,
        );
        console.log(`    Bench wall time ${secs(performance.now() - benchStarted)}.`);
    } finally {
        process.removeListener("SIGINT", onSignal);
        process.removeListener("SIGTERM", onSignal);
        await cleanup();
    }
}

function sqliteVersion(): string {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { DatabaseSync } = require("node:sqlite") as typeof import("node:sqlite");
    const db = new DatabaseSync(":memory:");
    try {
        return String((db.prepare("select sqlite_version() as v").get() as { v: string }).v);
    } finally {
        db.close();
    }
}

if (require.main === module) {
    const { values } = parseArgs({
        options: { events: { type: "string" }, "per-file": { type: "string" }, reps: { type: "string" }, "ingest-worker": { type: "boolean" } },
    });
    const main = values["ingest-worker"] === true
        ? ingestWorker()
        : recordsBench({ events: Number(values.events ?? 1_000_000), perFile: Number(values["per-file"] ?? 2000), reps: Number(values.reps ?? 3) });
    main.catch((error) => {
        console.error(error);
        process.exitCode = 1;
    });
}
