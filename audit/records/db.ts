/**
 * Opening the records database: SQLite by default (one file, nothing to set up), PostgreSQL when a
 * team outgrows one file. One query layer (Kysely) and one set of migrations (migrations.ts) serve
 * both; `openRecords` migrates to the latest schema before handing the database over.
 *
 * `parseDbSpec` reads the audit's `--db` value:
 *   <path> or sqlite:<path>             SQLite in that file (created when missing)
 *   postgres://… or postgresql://…      PostgreSQL (libpq's URL form, as node-postgres reads it)
 * A PostgreSQL password never comes from the command line (it would be in the shell's history and
 * in every process listing): a URL carrying one is refused. It comes from, in this order:
 *   1. the file named by AIRLOCK_DB_PASSWORD_FILE (its first line), which must not be readable by
 *      group or others (libpq's rule for ~/.pgpass);
 *   2. PGPASSWORD;
 *   3. ~/.pgpass or the file named by PGPASSFILE, read by node-postgres itself as libpq does
 *      (pg 8 still does; it warns that pg 9 will not).
 * The password is handed to the driver as a value, never put into a URL, and errors raised while
 * opening are scrubbed of it (defence in depth: PostgreSQL's own messages do not carry it).
 *
 * Why Kysely: a typed query builder, not an ORM, that parameterises every value, speaks both
 * databases, and ships a migrator that locks (PostgreSQL: an advisory lock) so two processes opening
 * one database at once do not both migrate it. Why pg (node-postgres): the PostgreSQL driver Kysely's
 * PostgresDialect is built for, pure JavaScript. SQLite goes through Node's own node:sqlite
 * (sqlite.ts says why).
 */
import * as fs from "fs";
import { Kysely, PostgresDialect } from "kysely";
import { Client, ClientBase, ClientConfig, Pool } from "pg";
import { DatabaseKind, RecordsMigrationProvider } from "./migrations";
import type { RecordsSchema } from "./schema";
import { nodeSqliteDialect } from "./sqlite";
import { Migrator } from "./migrations";

export type DbSpec =
    | { readonly kind: "sqlite"; readonly file: string }
    | {
          readonly kind: "postgres";
          /** postgres://user@host:port/database?options — without a password. */
          readonly connectionString: string;
          /** When undefined, node-postgres looks for one itself (PGPASSWORD of the process, ~/.pgpass). */
          readonly password?: string;
      };

export interface Records {
    readonly db: Kysely<RecordsSchema>;
    readonly kind: DatabaseKind;
    /** The migrations this open ran (empty when the schema was already the latest). */
    readonly migrationsRun: readonly string[];
    /** Closes the connection (SQLite) or the pool (PostgreSQL). Idempotent. */
    close(): Promise<void>;
}

export interface OpenOptions {
    /** PostgreSQL: connections in the pool. @default 10 */
    readonly poolSize?: number;
}

/** What is wrong with a `--db` value or the password settings, and how to fix it. */
export class DbSpecError extends Error {
    override readonly name = "DbSpecError";
}

/** The environment variables parseDbSpec reads. */
export const DB_PASSWORD_FILE_ENV = "AIRLOCK_DB_PASSWORD_FILE";

const PASSWORD_SOURCES =
    `set PGPASSWORD, or ${DB_PASSWORD_FILE_ENV} to a file holding the password that only you can read (chmod 600), ` +
    "or put it in ~/.pgpass (or the file PGPASSFILE names)";

/**
 * A `--db` value as a database spec; `env` is where the password settings are read (the process
 * environment). Throws DbSpecError naming `--db` or the variable, and the fix.
 */
export function parseDbSpec(value: string, env: Readonly<Record<string, string | undefined>>): DbSpec {
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(value)?.[1]?.toLowerCase();
    if (scheme === "postgres" || scheme === "postgresql") {
        return { kind: "postgres", connectionString: checkedUrl(value), password: passwordFrom(env) };
    }
    if (scheme === "sqlite") {
        const file = value.slice("sqlite:".length);
        if (file === "") throw new DbSpecError("`--db sqlite:` names no file: give a path, e.g. `--db sqlite:./airlock-records.sqlite`.");
        return { kind: "sqlite", file };
    }
    if (scheme !== undefined && scheme.length > 1) {
        // (One letter is not a scheme here: no such URLs, and it keeps "C:" style names out of this branch.)
        throw new DbSpecError(
            `\`--db\`: unknown scheme "${scheme}:". Give a SQLite file (a path, or sqlite:<path>) or a PostgreSQL URL (postgres://user@host:5432/database); ` +
                `for a file whose name has a colon write ./${value} or sqlite:${value}.`,
        );
    }
    if (value.trim() === "") throw new DbSpecError("`--db` is empty: give a SQLite file (a path) or a PostgreSQL URL (postgres://user@host:5432/database).");
    return { kind: "sqlite", file: value };
}

/** The URL with any password masked, for messages and logs. */
export function describeDbSpec(spec: DbSpec): string {
    if (spec.kind === "sqlite") return `sqlite:${spec.file}`;
    return maskUrlPassword(spec.connectionString);
}

function maskUrlPassword(value: string): string {
    try {
        const url = new URL(value);
        if (url.password !== "") url.password = "***";
        if (url.searchParams.has("password")) url.searchParams.set("password", "***");
        return url.toString();
    } catch {
        return value.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@").replace(/([?&]password=)[^&]*/i, "$1***");
    }
}

function checkedUrl(value: string): string {
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        throw new DbSpecError(`\`--db\`: "${maskUrlPassword(value)}" is not a valid PostgreSQL URL: write postgres://user@host:5432/database.`);
    }
    if (url.password !== "" || url.searchParams.has("password")) {
        throw new DbSpecError(
            `\`--db\`: the PostgreSQL URL carries a password (${maskUrlPassword(value)}); credentials never go on the command line. ` +
                `Remove it from the URL and ${PASSWORD_SOURCES}.`,
        );
    }
    return value;
}

function passwordFrom(env: Readonly<Record<string, string | undefined>>): string | undefined {
    const file = env[DB_PASSWORD_FILE_ENV];
    if (file !== undefined && file !== "") return readPasswordFile(file);
    const fromEnv = env["PGPASSWORD"];
    return fromEnv === undefined || fromEnv === "" ? undefined : fromEnv;
}

/** The first line of a password file that only its owner can read (libpq's ~/.pgpass rule). */
export function readPasswordFile(file: string): string {
    let stat: fs.Stats;
    try {
        stat = fs.statSync(file);
    } catch (error) {
        throw new DbSpecError(`\`${DB_PASSWORD_FILE_ENV}\`: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): point it at the file holding the database password.`);
    }
    if (!stat.isFile()) throw new DbSpecError(`\`${DB_PASSWORD_FILE_ENV}\`: ${file} is not a regular file: point it at the file holding the database password.`);
    if ((stat.mode & 0o077) !== 0) {
        throw new DbSpecError(
            `\`${DB_PASSWORD_FILE_ENV}\`: ${file} can be read or written by group or others (mode ${(stat.mode & 0o777).toString(8).padStart(4, "0")}): ` +
                `run \`chmod 600 ${file}\` (the rule libpq applies to ~/.pgpass).`,
        );
    }
    const password = fs.readFileSync(file, "utf8").split(/\r?\n/)[0] ?? "";
    if (password === "") throw new DbSpecError(`\`${DB_PASSWORD_FILE_ENV}\`: ${file} is empty: its first line must be the database password.`);
    return password;
}

/**
 * Opens the database the spec names and migrates it to the latest schema (idempotent: a database
 * already there runs nothing). Throws when it cannot connect or migrate, with the password scrubbed.
 */
export async function openRecords(spec: DbSpec, options: OpenOptions = {}): Promise<Records> {
    let db: Kysely<RecordsSchema>;
    if (spec.kind === "sqlite") {
        db = new Kysely<RecordsSchema>({ dialect: nodeSqliteDialect(spec.file) });
    } else {
        checkedUrl(spec.connectionString);
        const pool = new Pool({
            connectionString: spec.connectionString,
            ...(spec.password === undefined ? {} : { Client: clientWithPassword(spec.password) }),
            max: options.poolSize ?? 10,
            application_name: "airlock-audit",
        });
        // An idle connection the server drops emits "error" on the pool: without a listener that
        // would end the process. The next query gets a fresh connection (or the error).
        pool.on("error", () => undefined);
        db = new Kysely<RecordsSchema>({ dialect: new PostgresDialect({ pool }) });
    }
    const password = spec.kind === "postgres" ? spec.password : undefined;
    let closed: Promise<void> | undefined;
    const close = (): Promise<void> => (closed ??= db.destroy());
    try {
        const { error, results } = await new Migrator({ db, provider: new RecordsMigrationProvider(spec.kind) }).migrateToLatest();
        if (error !== undefined) {
            const failed = results?.find((r) => r.status === "Error")?.migrationName;
            throw new Error(`${failed === undefined ? "" : `migration ${failed}: `}${error instanceof Error ? error.message : String(error)}`, { cause: error });
        }
        return { db, kind: spec.kind, migrationsRun: (results ?? []).map((r) => r.migrationName), close };
    } catch (error) {
        await close().catch(() => undefined);
        throw new Error(`cannot open the records database ${describeDbSpec(spec)}: ${scrub((error as Error).message ?? String(error), password)}`);
    }
}

/**
 * node-postgres' Client with a fixed password. pg lets the connection string's password, empty when
 * the URL has none, override a `password` given beside it (and then falls back to PGPASSWORD of the
 * process): so the password is set on each client after pg has read the URL.
 */
function clientWithPassword(password: string): new () => ClientBase {
    class PasswordClient extends Client {
        constructor(config?: ClientConfig) {
            super(config);
            this.password = password;
        }
    }
    return PasswordClient as unknown as new () => ClientBase;
}

function scrub(text: string, secret: string | undefined): string {
    return secret === undefined || secret === "" ? text : text.split(secret).join("***");
}
