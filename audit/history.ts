/**
 * `airlock-audit history <report> …` (issue 11, "Reports from the database"): reports read from the
 * records database that the audit keeps, without calling AWS.
 *
 *   access-review  the quarterly access review of an account's users: HTML and CSV files
 *   changes        what changed in an account since a date: a text table, or JSON
 *   admins         who held admin rights in an account on a date, and why: a text table, or JSON
 *
 * Exit codes: 0 the report was written or printed; 2 a usage mistake (the message names the
 * option and the fix), or the database cannot be used: not there (a SQLite file is never created
 * by a history command), cannot be opened, or holds no records of the account (or none of the
 * date asked). A database password is never printed: parseDbSpec refuses one in a URL, openRecords
 * scrubs its errors, and every message here is scrubbed again.
 */
import * as fs from "fs";
import * as path from "path";
import { didYouMean } from "../config/suggest";
import { DEFAULT_DB, DEFAULT_OUT_DIR } from "./args";
import type { CliIo } from "./cli";
import { DbSpec, DbSpecError, describeDbSpec, openRecords, parseDbSpec, Records } from "./records/db";
import { AdminPrincipal, accessReviewData, adminsOn, changesSince } from "./records/queries";
import { AccessReviewReport, accessReviewCounts, adminRightsOf, renderAccessReviewCsv, renderAccessReviewHtml } from "./report/accessReview";
import { renderChangesJson, renderChangesText, textTable } from "./report/changes";

export const HISTORY_REPORTS = ["access-review", "changes", "admins"] as const;
export type HistoryReport = (typeof HISTORY_REPORTS)[number];

export const ACCESS_REVIEW_FORMATS = ["html", "csv"] as const;
export type AccessReviewFormat = (typeof ACCESS_REVIEW_FORMATS)[number];

/** The access review's files in --out, per format. */
export function accessReviewFile(accountId: string, format: AccessReviewFormat): string {
    return `access-review-${accountId}.${format}`;
}

export const EXIT_OK = 0;
export const EXIT_USAGE = 2;

const DATE_FORM = "YYYY-MM-DD (midnight UTC) or an ISO-8601 time with its zone, e.g. 2026-12-01T09:30:00Z or 2026-12-01T10:30:00+01:00";

export const HISTORY_USAGE = `Usage: airlock-audit history <report> [options]

Reports from the records database that airlock-audit keeps (--db), without calling AWS.

Reports:
  access-review   the quarterly access review of an account's users, as HTML and CSV files
  changes         what changed in an account since a date
  admins          who held admin rights in an account on a date, and why

Examples:
  airlock-audit history access-review --account 111122223333
  airlock-audit history changes --account 111122223333 --since 2026-10-01
  airlock-audit history admins --account 111122223333 --on 2026-12-31T23:59:59Z --json

Run \`airlock-audit history <report> --help\` for a report's options.
Dates: ${DATE_FORM}.
Exit codes: 0 the report was written or printed; 2 a usage mistake, or the database is missing,
cannot be opened, or holds no records of the account.
`;

const DB_HELP = `  --db FILE|postgres://…   the records database (default: ${DEFAULT_DB}; a PostgreSQL password
                           from PGPASSWORD, AIRLOCK_DB_PASSWORD_FILE or ~/.pgpass, never in the URL)`;

export const REPORT_USAGE: Readonly<Record<HistoryReport, string>> = {
    "access-review": `Usage: airlock-audit history access-review --account ID [options]

The quarterly access review of an account: every current user with its groups, the managed
policies in effect (and where each comes from), inline policies, admin rights, MFA, password and
last use, each access key's age and last use, and when it was last audited; a header with the
counts and an empty sign-off area for the owner. Writes access-review-<account>.html and .csv.

  --account ID             the AWS account (12 digits; required)
${DB_HELP}
  --format html,csv        the files to write; repeat or comma-separate (default: html,csv)
  --out DIR                where the files go (default: ${DEFAULT_OUT_DIR})
  --as-of DATE             the time ages are counted to (default: now); not before the account's
                           last audit (the review shows the account as last audited)
  -h, --help               this help

Example:
  airlock-audit history access-review --account 111122223333 --out ./review --as-of 2026-12-31

Dates: ${DATE_FORM}.
`,
    changes: `Usage: airlock-audit history changes --account ID --since DATE [options]

What changed in an account at or after a date, oldest first: items added, changed, removed or
restored (users, groups, roles, policies, memberships, attachments, keys, buckets, instances),
and for a change the top-level fields of its state that differ.

  --account ID             the AWS account (12 digits; required)
  --since DATE             from this time on (required)
${DB_HELP}
  --json                   JSON on stdout instead of the table, with each state before and after
  -h, --help               this help

Example:
  airlock-audit history changes --account 111122223333 --since 2026-10-01

Dates: ${DATE_FORM}.
`,
    admins: `Usage: airlock-audit history admins --account ID --on DATE [options]

Who held admin rights in an account at a time, as recorded by the audits: the users and roles
with AdministratorAccess or a policy allowing "*" on "*" (the account's managed policies as they
were then, inline policies), attached directly or through a group; each with why. Permission
boundaries, SCPs and explicit denies are not weighed: this lists who was granted admin.

  --account ID             the AWS account (12 digits; required)
  --on DATE                the time (required)
${DB_HELP}
  --json                   JSON on stdout instead of the table
  -h, --help               this help

Example:
  airlock-audit history admins --account 111122223333 --on 2026-12-31T23:59:59Z

Dates: ${DATE_FORM}.
`,
};

/** A problem the command reports as it is (message) and exits 2 for. */
class HistoryError extends Error {
    override readonly name = "HistoryError";
}

// ---------------------------------------------------------------------------------------------
// Arguments

type OptionKind = "flag" | "value" | "repeatable";
interface OptionSpec {
    readonly kind: OptionKind;
    /** What a value option needs, for "--x needs …". */
    readonly needs?: string;
}

const ACCOUNT: OptionSpec = { kind: "value", needs: "an AWS account id (12 digits), e.g. --account 111122223333" };
const DB: OptionSpec = { kind: "value", needs: `a SQLite file or a postgres:// URL, e.g. --db ${DEFAULT_DB}` };
const DATE = (option: string): OptionSpec => ({ kind: "value", needs: `a date, ${DATE_FORM} (e.g. ${option} 2026-10-01)` });

const OPTIONS: Readonly<Record<HistoryReport, Readonly<Record<string, OptionSpec>>>> = {
    "access-review": {
        "--account": ACCOUNT,
        "--db": DB,
        "--format": { kind: "repeatable", needs: `a format (${ACCESS_REVIEW_FORMATS.join(", ")})` },
        "--out": { kind: "value", needs: `a directory for the files, e.g. --out ${DEFAULT_OUT_DIR}` },
        "--as-of": DATE("--as-of"),
    },
    changes: { "--account": ACCOUNT, "--since": DATE("--since"), "--db": DB, "--json": { kind: "flag" } },
    admins: { "--account": ACCOUNT, "--on": DATE("--on"), "--db": DB, "--json": { kind: "flag" } },
};

interface ParsedOptions {
    readonly values: ReadonlyMap<string, readonly string[]>;
    readonly flags: ReadonlySet<string>;
    readonly problems: string[];
}

/** `--x value`, `--x=value` and flags, as audit/args.ts reads them; every problem collected. */
function parseOptions(argv: readonly string[], options: Readonly<Record<string, OptionSpec>>): ParsedOptions {
    const problems: string[] = [];
    const values = new Map<string, string[]>();
    const flags = new Set<string>();
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i] as string;
        if (!arg.startsWith("-") || arg === "-" || arg === "--") {
            problems.push(`unexpected argument ${JSON.stringify(arg)}: every input is given by an option.`);
            continue;
        }
        const eq = arg.indexOf("=");
        const option = eq < 0 ? arg : arg.slice(0, eq);
        const spec = options[option];
        if (spec === undefined) {
            problems.push(`unknown option ${option}.${didYouMean(option, [...Object.keys(options), "--help"])}`);
            if (eq < 0 && argv[i + 1] !== undefined && !(argv[i + 1] as string).startsWith("-")) i++; // its value, most likely
            continue;
        }
        if (spec.kind === "flag") {
            if (eq >= 0) problems.push(`${option} takes no value; write ${option} alone.`);
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
            problems.push(`${option} needs ${spec.needs ?? "a value"}.`);
            continue;
        }
        const earlier = values.get(option);
        if (earlier !== undefined && spec.kind === "value") {
            problems.push(`${option} is given twice (${JSON.stringify(earlier[0])} and ${JSON.stringify(value)}); give it once.`);
            continue;
        }
        values.set(option, [...(earlier ?? []), value]);
    }
    return { values, flags, problems };
}

/**
 * A DATE option's value: `YYYY-MM-DD` is that day's midnight UTC; a time is ISO-8601 with its zone
 * (Z or ±hh:mm; a time without one would be read in the machine's zone). Undefined (and a problem
 * naming the option) for anything else, including days that do not exist (2026-02-30).
 */
export function parseDateOption(option: string, value: string, problems: string[]): Date | undefined {
    const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?$/i.exec(value);
    const fail = (why: string): undefined => {
        problems.push(`${option} ${JSON.stringify(value)} ${why}: give ${DATE_FORM}.`);
        return undefined;
    };
    if (m === null) return fail("is not a date");
    const [, y, mo, d, h, mi, s, frac, zone] = m;
    const year = Number(y);
    const month = Number(mo);
    const day = Number(d);
    const midnight = new Date(Date.UTC(year, month - 1, day));
    midnight.setUTCFullYear(year); // years 0-99 are not 1900-1999
    if (month < 1 || month > 12 || midnight.getUTCMonth() !== month - 1 || midnight.getUTCDate() !== day) return fail("is not a day of the calendar");
    if (h === undefined) return midnight;
    if (zone === undefined) return fail("has no time zone (add Z for UTC, or an offset such as +01:00)");
    const [hour, minute, second] = [Number(h), Number(mi), Number(s ?? "0")];
    if (hour > 23 || minute > 59 || second > 59) return fail("is not a time of day");
    let offsetMinutes = 0;
    if (zone.toUpperCase() !== "Z") {
        const [oh, om] = [Number(zone.slice(1, 3)), Number(zone.slice(4, 6))];
        if (oh > 23 || om > 59) return fail("has an offset that is not one");
        offsetMinutes = (zone.startsWith("-") ? -1 : 1) * (oh * 60 + om);
    }
    const ms = Number((frac ?? "").padEnd(3, "0").slice(0, 3));
    return new Date(midnight.getTime() + ((hour * 60 + minute - offsetMinutes) * 60 + second) * 1000 + ms);
}

interface Common {
    readonly account: string;
    readonly db: string;
}

function common(parsed: ParsedOptions): Partial<Common> {
    const account = parsed.values.get("--account")?.[0];
    if (account === undefined) {
        if (!parsed.problems.some((p) => p.startsWith("--account "))) parsed.problems.push(`--account is required: ${ACCOUNT.needs}.`);
    } else if (!/^\d{12}$/.test(account)) {
        parsed.problems.push(`--account needs an AWS account id, 12 digits, not ${JSON.stringify(account)}.`);
    }
    return { account, db: parsed.values.get("--db")?.[0] ?? DEFAULT_DB };
}

function requiredDate(parsed: ParsedOptions, option: string): Date | undefined {
    const value = parsed.values.get(option)?.[0];
    if (value === undefined) {
        if (!parsed.problems.some((p) => p.startsWith(`${option} `))) parsed.problems.push(`${option} is required: ${DATE_FORM}.`);
        return undefined;
    }
    return parseDateOption(option, value, parsed.problems);
}

// ---------------------------------------------------------------------------------------------
// The database

/** What every report needs: where to write, the clock, and the secrets no message may carry. */
interface Context {
    readonly io: CliIo;
    readonly cwd: string;
    readonly now: () => Date;
    readonly secrets: string[];
}

interface Opened {
    readonly records: Records;
    readonly spec: DbSpec;
    /** The account's first audit and latest audit (ISO). */
    readonly firstAudit: string;
    readonly lastAudit: string;
}

/**
 * Opens the database --db names (relative paths against `cwd`) and checks that it holds records of
 * the account. A SQLite file that is not there is not created.
 */
async function openFor(account: string, dbValue: string, ctx: Context): Promise<Opened> {
    const parsed = parseDbSpec(dbValue, ctx.io.env);
    if (parsed.kind === "postgres" && parsed.password !== undefined) ctx.secrets.push(parsed.password);
    let spec: DbSpec = parsed;
    if (parsed.kind === "sqlite") {
        const file = path.resolve(ctx.cwd, parsed.file);
        // openRecords would create a missing file (and migrate it): a report must not.
        if (!fs.existsSync(file)) throw new HistoryError(`no records database at ${file}: run an audit first (airlock-audit --targets … --db ${file})`);
        spec = { kind: "sqlite", file };
    }
    const records = await openRecords(spec, { poolSize: 2 });
    try {
        const row = await records.db
            .selectFrom("inventory_items")
            .select((eb) => [eb.fn.countAll<number | string | bigint>().as("items"), eb.fn.min("first_seen").as("first"), eb.fn.max("last_audited").as("last")])
            .where("account_id", "=", account)
            .executeTakeFirstOrThrow();
        if (Number(row.items) === 0 || row.first === null || row.last === null) {
            const known = (await records.db.selectFrom("inventory_items").select("account_id").distinct().orderBy("account_id").limit(11).execute()).map((r) => r.account_id);
            const list = known.length === 0 ? "it holds no account yet" : `accounts recorded: ${known.slice(0, 10).join(", ")}${known.length > 10 ? ", …" : ""}`;
            throw new HistoryError(
                `no records of account ${account} in ${describeDbSpec(spec)} (${list}).${didYouMean(account, known)} Audit the account with --db to record it.`,
            );
        }
        return { records, spec, firstAudit: String(row.first), lastAudit: String(row.last) };
    } catch (error) {
        await records.close();
        throw error;
    }
}

// ---------------------------------------------------------------------------------------------
// The reports

async function accessReview(parsed: ParsedOptions, ctx: Context): Promise<number> {
    const { io, cwd, now } = ctx;
    const { account, db } = common(parsed);
    const formats: AccessReviewFormat[] = [];
    for (const f of (parsed.values.get("--format") ?? []).flatMap((v) => v.split(",")).map((v) => v.trim())) {
        if (!(ACCESS_REVIEW_FORMATS as readonly string[]).includes(f)) {
            parsed.problems.push(`--format ${JSON.stringify(f)} is not a format of the access review (${ACCESS_REVIEW_FORMATS.join(", ")}).${didYouMean(f, ACCESS_REVIEW_FORMATS)}`);
        } else if (!formats.includes(f as AccessReviewFormat)) {
            formats.push(f as AccessReviewFormat);
        }
    }
    const asOfValue = parsed.values.get("--as-of")?.[0];
    const asOfGiven = asOfValue === undefined ? undefined : parseDateOption("--as-of", asOfValue, parsed.problems);
    if (parsed.problems.length > 0 || account === undefined || db === undefined) return usageProblems("access-review", parsed.problems, io);

    const opened = await openFor(account, db, ctx);
    try {
        if (asOfGiven !== undefined && asOfGiven.toISOString() < opened.lastAudit) {
            throw new HistoryError(
                `--as-of ${asOfGiven.toISOString()} is before account ${account}'s last audit (${opened.lastAudit}): the review shows the account as last audited, ` +
                    `so its ages are counted from then on. Give --as-of ${opened.lastAudit.slice(0, 10)} or later, or leave it out (now).`,
            );
        }
        const asOf = asOfGiven ?? now();
        const review = await accessReviewData(opened.records.db, account, { now: asOf });
        const admins = await adminsOn(opened.records.db, account, asOf);
        const report: AccessReviewReport = { review, adminRights: adminRightsOf(review, admins), generatedAt: now() };

        const dir = path.resolve(cwd, parsed.values.get("--out")?.[0] ?? DEFAULT_OUT_DIR);
        const written: string[] = [];
        try {
            fs.mkdirSync(dir, { recursive: true });
            for (const format of formats.length === 0 ? ACCESS_REVIEW_FORMATS : formats) {
                const file = path.join(dir, accessReviewFile(account, format));
                fs.writeFileSync(file, format === "html" ? renderAccessReviewHtml(report) : renderAccessReviewCsv(report));
                written.push(file);
            }
        } catch (error) {
            const e = error as NodeJS.ErrnoException;
            throw new HistoryError(`cannot write the access review in ${dir}: ${e.code ?? e.message}${written.length > 0 ? ` (written: ${written.join(", ")})` : ""}`);
        }
        const counts = accessReviewCounts(report);
        io.stdout.write(
            `airlock-audit history: access review of account ${account} as of ${review.asOf}: ${counts.users} user(s), ${counts.withoutMfa} without MFA, ${counts.withAdminRights} with admin rights.\n` +
                written.map((f) => `  report: ${f}\n`).join(""),
        );
        return EXIT_OK;
    } finally {
        await opened.records.close();
    }
}

async function changes(parsed: ParsedOptions, ctx: Context): Promise<number> {
    const { io } = ctx;
    const { account, db } = common(parsed);
    const since = requiredDate(parsed, "--since");
    if (parsed.problems.length > 0 || account === undefined || db === undefined || since === undefined) return usageProblems("changes", parsed.problems, io);
    const opened = await openFor(account, db, ctx);
    try {
        const list = await changesSince(opened.records.db, account, since);
        io.stdout.write(parsed.flags.has("--json") ? renderChangesJson(account, since, list) : renderChangesText(account, since, list));
        return EXIT_OK;
    } finally {
        await opened.records.close();
    }
}

/** Who held admin rights, as a text table (or "none"). */
export function renderAdminsText(accountId: string, on: Date, admins: readonly AdminPrincipal[]): string {
    const title = `Admin rights in account ${accountId} on ${on.toISOString()}`;
    if (admins.length === 0) return `${title}: no user or role.\n`;
    const rows = admins.map((a) => [a.type, a.name ?? "", a.via.join("; "), a.arn]);
    return `${title}: ${admins.length} principal(s)\n\n${textTable(["Type", "Name", "Why", "ARN"], rows)}`;
}

/** Who held admin rights, as JSON: { accountId, on, admins: [{ type, name, arn, via }] }. */
export function renderAdminsJson(accountId: string, on: Date, admins: readonly AdminPrincipal[]): string {
    return `${JSON.stringify({ accountId, on: on.toISOString(), admins: admins.map((a) => ({ type: a.type, name: a.name, arn: a.arn, via: [...a.via] })) }, null, 2)}\n`;
}

async function admins(parsed: ParsedOptions, ctx: Context): Promise<number> {
    const { io } = ctx;
    const { account, db } = common(parsed);
    const on = requiredDate(parsed, "--on");
    if (parsed.problems.length > 0 || account === undefined || db === undefined || on === undefined) return usageProblems("admins", parsed.problems, io);
    const opened = await openFor(account, db, ctx);
    try {
        // Before the first audit nothing is known: "nobody" would be a false answer.
        if (on.toISOString() < opened.firstAudit) {
            throw new HistoryError(`--on ${on.toISOString()} is before the first audit of account ${account} (${opened.firstAudit}): nothing is recorded of it then. Give --on ${opened.firstAudit} or later.`);
        }
        const list = await adminsOn(opened.records.db, account, on);
        io.stdout.write(parsed.flags.has("--json") ? renderAdminsJson(account, on, list) : renderAdminsText(account, on, list));
        return EXIT_OK;
    } finally {
        await opened.records.close();
    }
}

function usageProblems(report: HistoryReport, problems: readonly string[], io: CliIo): number {
    io.stderr.write(problems.map((p) => `airlock-audit history ${report}: ${p}\n`).join("") + `Run \`airlock-audit history ${report} --help\` for its options.\n`);
    return EXIT_USAGE;
}

// ---------------------------------------------------------------------------------------------
// The command

/**
 * `airlock-audit history …`: `argv` is what follows `history`. Resolves to the exit code (never
 * throws). `now` is the clock (the access review's default as-of time and its "made at").
 */
export async function historyMain(argv: readonly string[], io: CliIo, now: () => Date = () => new Date()): Promise<number> {
    const cwd = io.cwd ?? process.cwd();
    const [report, ...rest] = argv;
    if (report === "-h" || report === "--help" || report === "help") {
        io.stdout.write(HISTORY_USAGE);
        return EXIT_OK;
    }
    if (report === undefined || !(HISTORY_REPORTS as readonly string[]).includes(report)) {
        const why =
            report === undefined
                ? "name a report"
                : report.startsWith("-")
                  ? `name a report before the options (${JSON.stringify(report)} is an option)`
                  : `unknown report ${JSON.stringify(report)}.${didYouMean(report, HISTORY_REPORTS)} Name one of the reports`;
        io.stderr.write(`airlock-audit history: ${why}: ${HISTORY_REPORTS.join(", ")}.\n\n${HISTORY_USAGE}`);
        return EXIT_USAGE;
    }
    const name = report as HistoryReport;
    if (rest.includes("-h") || rest.includes("--help")) {
        io.stdout.write(REPORT_USAGE[name]);
        return EXIT_OK;
    }
    const ctx: Context = { io, cwd, now, secrets: [] };
    try {
        const parsed = parseOptions(rest, OPTIONS[name]);
        switch (name) {
            case "access-review":
                return await accessReview(parsed, ctx);
            case "changes":
                return await changes(parsed, ctx);
            case "admins":
                return await admins(parsed, ctx);
        }
    } catch (error) {
        const message = error instanceof HistoryError || error instanceof DbSpecError ? error.message : error instanceof Error ? error.message : String(error);
        io.stderr.write(`airlock-audit history ${name}: ${ctx.secrets.reduce(scrub, message)}\n`);
        return EXIT_USAGE;
    }
}

/** Defence in depth: openRecords already scrubs its errors of the password. */
function scrub(text: string, secret: string): string {
    return secret === "" ? text : text.split(secret).join("***");
}
