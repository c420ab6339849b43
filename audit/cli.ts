/**
 * `airlock-audit` (issue 10): parse the arguments, read the targets file, run the audit, write the
 * reports to --out (audit-report.html, audit-report.json, audit-report.ocsf.json, per --format) and
 * say where; with --json the JSON report also goes to stdout (and nothing else does). Progress
 * ("targets × checks done") goes to stderr only when stderr is a terminal.
 *
 * Exit codes (findings.ts exitCodeOf): 0 every target audited and clean; 1 findings; 2 some target
 * or check could not be audited. A usage mistake (ArgsError), a targets file that cannot be used
 * (TargetsError), a stack output file that cannot be used (StackOutputsError), or a report that
 * cannot be written: the message on stderr and exit 2 (nothing, or not everything, was audited).
 */
import * as fs from "fs";
import * as path from "path";
import { ArgsError, AuditOptions, ReportFormat, parseArgs } from "./args";
import { checkRegistry } from "./checks/index";
import { AuditResult, EXIT_UNAUDITED, exitCodeOf } from "./findings";
import { renderHtml } from "./report/html";
import { renderJson } from "./report/json";
import { renderOcsf } from "./report/ocsf";
import { runAudit } from "./run";
import { historyMain } from "./history";
import { DbSpecError, Records, describeDbSpec, openRecords, parseDbSpec } from "./records/db";
import { AuditRecording, startRecording } from "./records/recordAudit";
import { StackFacts, StackOutputsError, stackFactsFrom } from "./stackOutputs";
import { Target, TargetsError, parseTargetsFile } from "./targets";

export interface CliIo {
    readonly stdout: { write(text: string): unknown };
    readonly stderr: { write(text: string): unknown; readonly isTTY?: boolean };
    readonly env: Readonly<Record<string, string | undefined>>;
    readonly cwd?: string;
}

/** The report files, by format. */
export const REPORT_FILES: Readonly<Record<ReportFormat, string>> = {
    html: "audit-report.html",
    json: "audit-report.json",
    ocsf: "audit-report.ocsf.json",
};

function productVersion(): string | undefined {
    try {
        return (JSON.parse(fs.readFileSync(path.join(__dirname, "..", "package.json"), "utf8")) as { version?: string }).version;
    } catch {
        return undefined;
    }
}

/** Writes the requested reports; returns the files written. */
export function writeReports(result: AuditResult, options: Pick<AuditOptions, "formats" | "outDir">, cwd: string): string[] {
    const dir = path.resolve(cwd, options.outDir);
    fs.mkdirSync(dir, { recursive: true });
    const written: string[] = [];
    for (const format of options.formats) {
        const file = path.join(dir, REPORT_FILES[format]);
        const version = productVersion();
        const text = format === "html" ? renderHtml(result) : format === "json" ? renderJson(result) : renderOcsf(result, version === undefined ? {} : { productVersion: version });
        fs.writeFileSync(file, text.endsWith("\n") ? text : `${text}\n`);
        written.push(file);
    }
    return written;
}

/** The command; resolves to its exit code (never throws). */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
    if (argv[0] === "history") {
        return historyMain(argv.slice(1), io);
    }
    const cwd = io.cwd ?? process.cwd();
    let records: Records | undefined;
    try {
        const parsed = parseArgs(argv);
        if ("help" in parsed) {
            io.stdout.write(parsed.help);
            return 0;
        }
        const options = parsed;
        const targetsFile = path.resolve(cwd, options.targetsFile);
        let text: string;
        try {
            text = fs.readFileSync(targetsFile, "utf8");
        } catch (e) {
            const err = e as NodeJS.ErrnoException;
            const why = err.code === "ENOENT" ? "no such file" : err.code === "EISDIR" ? "it is a directory" : err.code === "EACCES" ? "permission denied" : err.message;
            throw new TargetsError(options.targetsFile, [`cannot be read (${why}); --targets names the file of accounts to audit.`]);
        }
        const targets = parseTargetsFile(text, io.env, options.targetsFile);

        // Stack outputs read up front: a file that cannot be used stops the command before any call.
        const common = stackFactsFrom(options.stackOutputs.map((f) => path.resolve(cwd, f)));
        const perTarget = new Map<string, StackFacts>();
        for (const t of targets) {
            perTarget.set(t.name, t.stackOutputs.length === 0 ? common : mergeFacts(common, stackFactsFrom(t.stackOutputs.map((f) => path.resolve(cwd, f)))));
        }

        // The records database, opened (and migrated) before any AWS call: a database that cannot
        // be used stops the command here.
        let recording: AuditRecording | undefined;
        let dbName: string | undefined;
        if (options.db !== undefined) {
            const parsed = parseDbSpec(options.db, io.env);
            const spec = parsed.kind === "sqlite" ? { ...parsed, file: path.resolve(cwd, parsed.file) } : parsed;
            dbName = describeDbSpec(spec);
            records = await openRecords(spec);
            const startedAt = new Date();
            const version = productVersion();
            recording = await startRecording(records.db, { startedAt, now: () => new Date(), ...(version === undefined ? {} : { toolVersion: version }) });
        }

        const progress = io.stderr.isTTY === true;
        const result = await runAudit(targets, {
            ...(options.checks === undefined ? {} : { checks: options.checks }),
            ...(options.regions === undefined ? {} : { regions: options.regions }),
            concurrency: options.concurrency,
            fix: options.fix,
            ...(options.quarantine === undefined ? {} : { quarantine: options.quarantine }),
            managedInstanceIds: (t: Target) => (perTarget.get(t.name) ?? common).instanceIds,
            vaults: (t: Target) => perTarget.get(t.name) ?? common,
            ...(records === undefined ? {} : { records: records.db }),
            ...(recording === undefined ? {} : { onTargetAudited: recording.onTargetAudited }),
            registry: checkRegistry({ credentialReportMaxAgeMinutes: options.credentialReportMaxAgeMinutes }),
            ...(progress ? { onProgress: (done: number, total: number) => io.stderr.write(`\rairlock-audit: ${done}/${total} targets × checks done${done === total ? "\n" : ""}`) } : {}),
        });

        await recording?.finish(new Date());
        const written = writeReports(result, options, cwd);
        if (options.json) {
            io.stdout.write(`${renderJson(result).trimEnd()}\n`);
        }
        const where = options.json ? io.stderr : io.stdout;
        const unaudited = result.targets.filter((t) => t.state === "unaudited");
        const failed = result.findings.filter((f) => f.status === "fail").length;
        const errors = result.findings.filter((f) => f.status === "error").length;
        where.write(
            `airlock-audit: ${result.targets.length} target(s), ${unaudited.length} not audited, ${failed} finding(s), ${errors} check error(s).\n` +
                unaudited.map((t) => `  ${t.target}: not audited: ${t.reason ?? "unknown reason"}\n`).join("") +
                written.map((f) => `  report: ${f}\n`).join("") +
                (recording === undefined ? "" : `  records: ${dbName} (${recording.written.length} account(s) written)\n`),
        );
        if (recording !== undefined && recording.problems.length > 0) {
            io.stderr.write(recording.problems.map((p) => `airlock-audit: records not written for ${p}\n`).join(""));
            return EXIT_UNAUDITED;
        }
        return exitCodeOf(result);
    } catch (error) {
        if (error instanceof ArgsError) {
            io.stderr.write(`airlock-audit: ${error.problems.join("\nairlock-audit: ")}\n`);
            return error.exitCode;
        }
        if (error instanceof DbSpecError) {
            io.stderr.write(`airlock-audit: ${error.message}\n`);
            return EXIT_UNAUDITED;
        }
        if (error instanceof TargetsError || error instanceof StackOutputsError) {
            io.stderr.write(`airlock-audit: ${error.message}\n`);
            return error.exitCode;
        }
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
        io.stderr.write(`airlock-audit: could not complete the audit: ${message}\n`);
        return EXIT_UNAUDITED;
    } finally {
        await records?.close();
    }
}

function mergeFacts(a: StackFacts, b: StackFacts): StackFacts {
    return {
        instanceIds: new Set([...a.instanceIds, ...b.instanceIds]),
        vaultBucketNames: new Set([...a.vaultBucketNames, ...b.vaultBucketNames]),
        vaultKeys: new Set([...a.vaultKeys, ...b.vaultKeys]),
        securityGroupIds: new Set([...a.securityGroupIds, ...b.securityGroupIds]),
    };
}

if (require.main === module) {
    void main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then((code) => {
        process.exitCode = code;
    });
}
