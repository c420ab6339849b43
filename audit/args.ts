/**
 * The audit command's arguments (issue 10, "Inputs"): `airlock-audit --targets FILE [options]`.
 * Pure: argv in, options (or the help text) out. A usage mistake throws ArgsError, whose every
 * problem the command prints before exiting with 2 (the same code as "could not audit": nothing
 * was audited). Both `--flag value` and `--flag=value` are accepted.
 */
import { didYouMean } from "../config/suggest";
import { CHECK_IDS, CheckId, EXIT_UNAUDITED } from "./findings";
import { regionProblem } from "./targets";

export const REPORT_FORMATS = ["html", "json", "ocsf"] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface AuditOptions {
    /** --targets FILE: CloudKestrel's targets.json or Airlock's format (audit/targets.ts). */
    readonly targetsFile: string;
    /** --format (repeatable, or comma-separated): the report files written to `outDir`. @default ["html", "json"] */
    readonly formats: readonly ReportFormat[];
    /** --out DIR. @default "./audit-report" */
    readonly outDir: string;
    /** --json: the JSON report on stdout as well (for pipelines); progress stays on stderr. */
    readonly json: boolean;
    /** --fix: add the missing Config rules whose targets say addIfMissing (reported as added). */
    readonly fix: boolean;
    /** --quarantine GROUP_ID: move unmanaged instances to this security group; a dry run unless `apply` (--yes). */
    readonly quarantine?: { readonly groupId: string; readonly apply: boolean };
    /** --concurrency N: targets × regions audited at once, 1-32. @default 4 */
    readonly concurrency: number;
    /** --checks a,b: only these checks (CHECK_IDS order), on top of each target's own; undefined = the targets'. */
    readonly checks?: readonly CheckId[];
    /** --regions a,b: these regions instead of each target's; undefined = the targets'. */
    readonly regions?: readonly string[];
    /** --stack-outputs FILE (repeatable): `pulumi stack output --json` files, for every target's unmanaged-instances check. */
    readonly stackOutputs: readonly string[];
    /** --credential-report-max-age MINUTES: reuse an IAM credential report younger than this, 1-1440. @default 240 */
    readonly credentialReportMaxAgeMinutes: number;
    /**
     * --db SPEC: the records database (a SQLite file, or postgres://… without a password); --no-db:
     * none (undefined). @default DEFAULT_DB
     */
    readonly db?: string;
}

export const DEFAULT_FORMATS: readonly ReportFormat[] = ["html", "json"];
export const DEFAULT_OUT_DIR = "./audit-report";
/** The records database when --db is not given: a SQLite file in the current directory. */
export const DEFAULT_DB = "./airlock-records.sqlite";
export const DEFAULT_CONCURRENCY = 4;
export const MAX_CONCURRENCY = 32;
/** IAM generates a new credential report only when the last one is over 4 hours old. */
export const DEFAULT_CREDENTIAL_REPORT_MAX_AGE_MINUTES = 240;
export const MAX_CREDENTIAL_REPORT_MAX_AGE_MINUTES = 1440;

export const USAGE = `Usage: airlock-audit --targets FILE [options]

Audits AWS accounts: group policies, Config rules, root and users, public buckets, unmanaged instances,
CloudTrail activity; keeps what it saw in the records database.
       airlock-audit history --help   reports from the records database, without calling AWS

  --targets FILE                 the accounts to audit: CloudKestrel's targets.json or Airlock's format (required)
  --format html|json|ocsf        report files to write; repeat or comma-separate (default: html,json)
  --out DIR                      where the reports go (default: ${DEFAULT_OUT_DIR})
  --json                         also write the JSON report to stdout, for pipelines
  --checks a,b                   only these checks: ${CHECK_IDS.join(", ")}
  --regions a,b                  audit these regions instead of each target's
  --stack-outputs FILE           a \`pulumi stack output --json\` file of an instance stack (repeatable)
  --concurrency N                targets and regions audited at once, 1-${MAX_CONCURRENCY} (default: ${DEFAULT_CONCURRENCY})
  --credential-report-max-age M  reuse an IAM credential report younger than M minutes, 1-${MAX_CREDENTIAL_REPORT_MAX_AGE_MINUTES} (default: ${DEFAULT_CREDENTIAL_REPORT_MAX_AGE_MINUTES})
  --db FILE|postgres://…         the records database: inventory with history, findings, CloudTrail events
                                 (default: ${DEFAULT_DB}; a PostgreSQL password from PGPASSWORD or
                                 AIRLOCK_DB_PASSWORD_FILE, never in the URL)
  --no-db                        keep no records (the cloudtrail-activity check then cannot run)
  --fix                          add missing Config rules that a target marks addIfMissing
  --quarantine GROUP_ID          move unmanaged instances to this security group (a dry run without --yes)
  --yes                          with --quarantine: really move them
  -h, --help                     this help

Exit codes: 0 every target audited and clean; 1 findings; 2 some target could not be audited, or a usage error.
`;

/** A usage mistake: the command prints `message` (every problem, one a line) and exits with `exitCode`. */
export class ArgsError extends Error {
    readonly exitCode = EXIT_UNAUDITED;

    constructor(readonly problems: readonly string[]) {
        super(problems.join("\n"));
        this.name = "ArgsError";
    }
}

type Kind = "flag" | "value" | "repeatable";
const OPTIONS: Readonly<Record<string, Kind>> = {
    "--targets": "value",
    "--format": "repeatable",
    "--out": "value",
    "--json": "flag",
    "--fix": "flag",
    "--quarantine": "value",
    "--yes": "flag",
    "--concurrency": "value",
    "--checks": "repeatable",
    "--regions": "repeatable",
    "--stack-outputs": "repeatable",
    "--credential-report-max-age": "value",
    "--db": "value",
    "--no-db": "flag",
};

/** What each value-taking option expects, for "--x needs ..." messages. */
const NEEDS: Readonly<Record<string, string>> = {
    "--targets": "a file: the targets to audit, e.g. --targets targets.json",
    "--format": `a report format (${REPORT_FORMATS.join(", ")})`,
    "--out": "a directory for the reports, e.g. --out ./audit-report",
    "--quarantine": "the id of the quarantine security group, e.g. --quarantine sg-0123456789abcdef0",
    "--concurrency": `a number from 1 to ${MAX_CONCURRENCY}`,
    "--checks": `a comma-separated list of checks (${CHECK_IDS.join(", ")})`,
    "--regions": "a comma-separated list of regions, e.g. --regions us-east-1,eu-west-1",
    "--stack-outputs": "a file written by `pulumi stack output --json`",
    "--credential-report-max-age": `a number of minutes from 1 to ${MAX_CREDENTIAL_REPORT_MAX_AGE_MINUTES}`,
    "--db": "a SQLite file or a postgres:// URL, e.g. --db ./airlock-records.sqlite",
};

const SECURITY_GROUP_ID = /^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

function listItems(values: readonly string[]): string[] {
    return values.flatMap((v) => v.split(",")).map((v) => v.trim());
}

function integer(problems: string[], option: string, value: string | undefined, fallback: number, max: number): number {
    if (value === undefined) {
        return fallback;
    }
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
        problems.push(`${option} must be a whole number from 1 to ${max}, not ${JSON.stringify(value)}.`);
        return fallback;
    }
    return Number(value);
}

/**
 * The command's options from its arguments (process.argv.slice(2)), or `{ help }` when -h/--help is
 * among them. Throws ArgsError listing every problem.
 */
export function parseArgs(argv: readonly string[]): AuditOptions | { help: string } {
    if (argv.includes("-h") || argv.includes("--help")) {
        return { help: USAGE };
    }
    const problems: string[] = [];
    const values = new Map<string, string[]>();
    const flags = new Set<string>();
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i] as string;
        if (!arg.startsWith("-") || arg === "-" || arg === "--") {
            const hint = /\.json$/i.test(arg) && !values.has("--targets") ? ` Did you mean --targets ${arg}?` : "";
            problems.push(`Unexpected argument ${JSON.stringify(arg)}: every input is given by an option.${hint}`);
            continue;
        }
        const eq = arg.indexOf("=");
        const option = eq < 0 ? arg : arg.slice(0, eq);
        const kind = OPTIONS[option];
        if (kind === undefined) {
            problems.push(`Unknown option ${option}.${didYouMean(option, Object.keys(OPTIONS).concat("--help"))} Run with --help for the options.`);
            if (eq < 0 && argv[i + 1] !== undefined && !(argv[i + 1] as string).startsWith("-")) {
                i++; // its value, most likely: not also "unexpected"
            }
            continue;
        }
        if (kind === "flag") {
            if (eq >= 0) {
                problems.push(`${option} takes no value; write ${option} alone.`);
            }
            flags.add(option);
            continue;
        }
        let value: string | undefined;
        if (eq >= 0) {
            value = arg.slice(eq + 1);
        } else {
            const next = argv[i + 1];
            if (next !== undefined && !next.startsWith("--")) {
                value = next;
                i++;
            }
        }
        if (value === undefined || value === "") {
            problems.push(`${option} needs ${NEEDS[option]}.`);
            continue;
        }
        const earlier = values.get(option);
        if (earlier !== undefined && kind === "value") {
            problems.push(`${option} is given twice (${JSON.stringify(earlier[0])} and ${JSON.stringify(value)}); give it once.`);
            continue;
        }
        values.set(option, [...(earlier ?? []), value]);
    }
    const one = (option: string): string | undefined => values.get(option)?.[0];

    const targetsFile = one("--targets");
    // Not when a problem already points at --targets (a typo of it, a file given without it).
    if (targetsFile === undefined && !problems.some((p) => p.startsWith("--targets ") || p.includes("--targets"))) {
        problems.push("--targets FILE is required: the accounts to audit (CloudKestrel's targets.json or Airlock's format). Run with --help for the options.");
    }

    const formats: ReportFormat[] = [];
    for (const f of listItems(values.get("--format") ?? [])) {
        if (!(REPORT_FORMATS as readonly string[]).includes(f)) {
            problems.push(`--format ${JSON.stringify(f)} is not a report format (${REPORT_FORMATS.join(", ")}).${didYouMean(f, REPORT_FORMATS)}`);
        } else if (!formats.includes(f as ReportFormat)) {
            formats.push(f as ReportFormat);
        }
    }

    let checks: CheckId[] | undefined;
    if (values.has("--checks")) {
        const given = listItems(values.get("--checks") ?? []);
        for (const c of given) {
            if (!(CHECK_IDS as readonly string[]).includes(c)) {
                problems.push(`--checks ${JSON.stringify(c)} is not a check (${CHECK_IDS.join(", ")}).${didYouMean(c, CHECK_IDS)}`);
            }
        }
        checks = CHECK_IDS.filter((c) => given.includes(c));
    }

    let regions: string[] | undefined;
    if (values.has("--regions")) {
        regions = [];
        for (const r of listItems(values.get("--regions") ?? [])) {
            const problem = regionProblem(r);
            if (problem !== undefined) {
                problems.push(`--regions ${JSON.stringify(r)} ${problem}.`);
            } else if (!regions.includes(r)) {
                regions.push(r);
            }
        }
    }

    const concurrency = integer(problems, "--concurrency", one("--concurrency"), DEFAULT_CONCURRENCY, MAX_CONCURRENCY);
    const maxAge = integer(problems, "--credential-report-max-age", one("--credential-report-max-age"), DEFAULT_CREDENTIAL_REPORT_MAX_AGE_MINUTES, MAX_CREDENTIAL_REPORT_MAX_AGE_MINUTES);

    const groupId = one("--quarantine");
    if (groupId !== undefined && !SECURITY_GROUP_ID.test(groupId)) {
        problems.push(`--quarantine needs a security group id such as sg-0123456789abcdef0, not ${JSON.stringify(groupId)}${groupId.startsWith("sg-") ? "" : " (a group's id, not its name)"}.`);
    }
    if (flags.has("--yes") && !values.has("--quarantine") && !problems.some((p) => p.startsWith("--quarantine "))) {
        problems.push("--yes confirms --quarantine (moving instances), but --quarantine is not given; remove --yes, or add --quarantine GROUP_ID.");
    }
    const requires = (option: string, check: CheckId, what: string): void => {
        if (checks !== undefined && !checks.includes(check)) {
            problems.push(`${option} ${what} the ${check} check, which --checks leaves out; add it to --checks or remove ${option}.`);
        }
    };
    if (values.has("--quarantine")) {
        requires("--quarantine", "unmanaged-instances", "moves the instances found by");
    }
    if (flags.has("--fix")) {
        requires("--fix", "config-rules", "adds the rules found missing by");
    }
    if (values.has("--stack-outputs") && checks !== undefined && !checks.includes("unmanaged-instances") && !checks.includes("cloudtrail-activity")) {
        problems.push("--stack-outputs is read by the unmanaged-instances and cloudtrail-activity checks, which --checks leaves out; add one to --checks or remove --stack-outputs.");
    }
    if (values.has("--db") && flags.has("--no-db")) {
        problems.push("--db and --no-db contradict each other; give one.");
    }
    if (flags.has("--no-db") && checks?.includes("cloudtrail-activity") === true) {
        problems.push("--no-db leaves the cloudtrail-activity check nowhere to keep the trail's events; remove --no-db, or leave cloudtrail-activity out of --checks.");
    }

    if (problems.length > 0) {
        throw new ArgsError(problems);
    }
    return {
        targetsFile: targetsFile as string,
        formats: formats.length === 0 ? [...DEFAULT_FORMATS] : formats,
        outDir: one("--out") ?? DEFAULT_OUT_DIR,
        json: flags.has("--json"),
        fix: flags.has("--fix"),
        ...(groupId === undefined ? {} : { quarantine: { groupId, apply: flags.has("--yes") } }),
        concurrency,
        ...(checks === undefined ? {} : { checks }),
        ...(regions === undefined ? {} : { regions }),
        stackOutputs: values.get("--stack-outputs") ?? [],
        credentialReportMaxAgeMinutes: maxAge,
        ...(flags.has("--no-db") ? {} : { db: one("--db") ?? DEFAULT_DB }),
    };
}
