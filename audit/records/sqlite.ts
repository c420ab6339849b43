/**
 * SQLite for the records database through Node's built-in `node:sqlite` (`DatabaseSync`), bridged
 * to Kysely's own SQLite dialect.
 *
 * Why node:sqlite and not better-sqlite3 (Kysely's usual SQLite driver): nothing native to compile
 * at `npm install` and no prebuilt binary to download: the SQLite that Node ships is the one used.
 *
 * Kysely's SqliteDriver expects better-sqlite3's shape: `prepare(sql)` returning a statement with
 * `reader` (does it return rows), `all(params)`, `run(params)` (→ `{ changes, lastInsertRowid }`)
 * and `iterate(params)`, each taking the parameters as ONE array; and `close()`. node:sqlite's
 * statements take the parameters spread (`all(...params)`), so `NodeSqliteDatabase` adapts exactly
 * that. Values are bound as node:sqlite binds them (null, number, bigint, string, Uint8Array),
 * except booleans, bound as 1/0 (better-sqlite3 refuses them; SQLite has no boolean), and
 * `undefined` or objects (a Date, a plain object), refused with an error naming the parameter:
 * the records layer stores times as ISO-8601 text and JSON as text, never as objects.
 *
 * The dialect (`nodeSqliteDialect`) is Kysely's SQLite dialect with two changes:
 * - transactions begin with `BEGIN IMMEDIATE`: the write lock is taken at the start, so two
 *   processes writing the same file wait for each other (the busy timeout) instead of failing with
 *   SQLITE_BUSY when a read transaction tries to become a write one;
 * - migrations run in a transaction (SQLite's DDL is transactional; Kysely's adapter says it is
 *   not): with BEGIN IMMEDIATE that transaction is also the cross-process migration lock, which
 *   Kysely's SQLite adapter leaves out ("one connection"), so two processes opening a new file at
 *   once run each migration once.
 * Within one process, Kysely serialises everything on the single connection (a mutex held for the
 * whole of a transaction), so concurrent writers take turns.
 */
import * as fs from "fs";
import { DatabaseSync, StatementSync } from "node:sqlite";
import {
    DatabaseConnection,
    DatabaseIntrospector,
    Dialect,
    DialectAdapter,
    Driver,
    Kysely,
    QueryCompiler,
    SqliteAdapter,
    SqliteDatabase,
    SqliteDriver,
    SqliteIntrospector,
    SqliteQueryCompiler,
    SqliteStatement,
    CompiledQuery,
} from "kysely";

/** How long a statement waits for another process's lock on the file before failing (SQLITE_BUSY). */
export const SQLITE_BUSY_TIMEOUT_MS = 10_000;

/** SQLite's limit on the variables of one statement (SQLITE_MAX_VARIABLE_NUMBER since 3.32). */
export const SQLITE_MAX_VARIABLES = 32766;

/** Statements kept prepared, by SQL text (Kysely prepares every query it runs). */
const STATEMENT_CACHE_SIZE = 100;

type Bindable = null | number | bigint | string | Uint8Array;

/** One value as node:sqlite binds it; throws for what it must not be given. */
export function bindable(value: unknown, index: number): Bindable {
    if (value === null || typeof value === "number" || typeof value === "bigint" || typeof value === "string") return value;
    if (typeof value === "boolean") return value ? 1 : 0;
    if (value instanceof Uint8Array) return value;
    const what = value === undefined ? "undefined" : value instanceof Date ? "a Date (store times as ISO-8601 text)" : typeof value;
    throw new TypeError(`SQLite parameter ${index + 1} is ${what}: only null, numbers, bigints, strings, booleans and bytes can be bound`);
}

function bindAll(parameters: ReadonlyArray<unknown>): Bindable[] {
    return parameters.map(bindable);
}

/** better-sqlite3's statement, as Kysely uses it, over a node:sqlite statement. */
class NodeSqliteStatement implements SqliteStatement {
    readonly reader: boolean;
    constructor(private readonly statement: StatementSync) {
        // A statement that returns rows (SELECT, … RETURNING, some PRAGMAs) has result columns.
        this.reader = statement.columns().length > 0;
    }
    all(parameters: ReadonlyArray<unknown>): unknown[] {
        return this.statement.all(...bindAll(parameters));
    }
    run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
        const { changes, lastInsertRowid } = this.statement.run(...bindAll(parameters));
        return { changes, lastInsertRowid };
    }
    iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
        return this.statement.iterate(...bindAll(parameters)) as IterableIterator<unknown>;
    }
}

export interface NodeSqliteOptions {
    /** @default SQLITE_BUSY_TIMEOUT_MS */
    readonly busyTimeoutMs?: number;
}

/**
 * A node:sqlite database with better-sqlite3's interface (what Kysely's SqliteDialect takes).
 * Opening it turns on foreign keys, write-ahead logging (readers do not block the writer) and the
 * busy timeout.
 */
export class NodeSqliteDatabase implements SqliteDatabase {
    readonly database: DatabaseSync;
    private readonly statements = new Map<string, NodeSqliteStatement>();

    constructor(file: string, options: NodeSqliteOptions = {}) {
        if (file !== ":memory:" && !file.startsWith("file:")) {
            // The file holds the account's IAM inventory: created readable by its owner only (SQLite
            // would create it, and its -wal and -shm beside it, with the process's umask, often 0644).
            try {
                fs.closeSync(fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600));
            } catch (error) {
                if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
            }
        }
        this.database = new DatabaseSync(file, { enableForeignKeyConstraints: true });
        try {
            this.database.exec(`PRAGMA busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? SQLITE_BUSY_TIMEOUT_MS)}`);
            this.database.exec("PRAGMA foreign_keys = ON");
            if (file !== ":memory:") this.database.exec("PRAGMA journal_mode = WAL");
        } catch (error) {
            this.database.close();
            throw error;
        }
    }

    prepare(sql: string): SqliteStatement {
        let statement = this.statements.get(sql);
        if (statement === undefined) {
            statement = new NodeSqliteStatement(this.database.prepare(sql));
            if (this.statements.size >= STATEMENT_CACHE_SIZE) {
                // The oldest entry (Map keeps insertion order).
                this.statements.delete(this.statements.keys().next().value as string);
            }
            this.statements.set(sql, statement);
        }
        return statement;
    }

    close(): void {
        this.statements.clear();
        if (this.database.isOpen) this.database.close();
    }
}

/** Kysely's SqliteDriver, beginning transactions with BEGIN IMMEDIATE (see the module comment). */
class ImmediateSqliteDriver extends SqliteDriver {
    override async beginTransaction(connection: DatabaseConnection): Promise<void> {
        await connection.executeQuery(CompiledQuery.raw("begin immediate"));
    }
}

/** Kysely's SqliteAdapter, with migrations in a transaction (SQLite's DDL is transactional). */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
    override get supportsTransactionalDdl(): boolean {
        return true;
    }
}

/** Kysely's SQLite dialect over node:sqlite (see the module comment). */
export function nodeSqliteDialect(file: string, options: NodeSqliteOptions = {}): Dialect {
    return {
        createDriver: (): Driver => new ImmediateSqliteDriver({ database: async () => new NodeSqliteDatabase(file, options) }),
        createQueryCompiler: (): QueryCompiler => new SqliteQueryCompiler(),
        createAdapter: (): DialectAdapter => new TransactionalDdlSqliteAdapter(),
        createIntrospector: (db: Kysely<unknown>): DatabaseIntrospector => new SqliteIntrospector(db),
    };
}
