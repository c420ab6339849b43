/**
 * The node:sqlite adapter (audit/records/sqlite.ts) directly: the better-sqlite3-shaped interface
 * Kysely's SqliteDriver calls (prepare → reader/all/run/iterate with the parameters as one array),
 * value binding (booleans as 1/0; undefined and Dates refused), the pragmas, transactions through
 * Kysely (BEGIN IMMEDIATE, rollback, concurrent transactions taking turns), and two processes
 * opening one new file at once (each migration runs once).
 */
import * as childProcess from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { Kysely, sql } from "kysely";
import { openRecords } from "../audit/records/db";
import { NodeSqliteDatabase, bindable, nodeSqliteDialect } from "../audit/records/sqlite";

let dir: string;
beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-sqlite-"));
});
afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
});

describe("NodeSqliteDatabase", () => {
    let db: NodeSqliteDatabase;
    beforeEach(() => {
        db = new NodeSqliteDatabase(path.join(dir, `adapter-${Date.now()}-${Math.random()}.sqlite`));
    });
    afterEach(() => db.close());

    it("turns on foreign keys, write-ahead logging and the busy timeout", () => {
        const one = (q: string): unknown => Object.values(db.prepare(q).all([])[0] as object)[0];
        expect([one("PRAGMA foreign_keys"), one("PRAGMA journal_mode"), one("PRAGMA busy_timeout")]).toEqual([1, "wal", 10000]);
    });

    it("tells readers from writers, binds parameters given as one array, and reports changes and rowids", () => {
        const create = db.prepare("create table t (id integer primary key autoincrement, name text, flag integer, big integer)");
        expect(create.reader).toBe(false);
        expect(create.run([])).toEqual({ changes: 0, lastInsertRowid: 0 });
        const insert = db.prepare("insert into t (name, flag, big) values (?, ?, ?)");
        expect(insert.reader).toBe(false);
        expect(insert.run(["o'brien; DROP TABLE t;--", true, 9007199254740993n])).toEqual({ changes: 1, lastInsertRowid: 1 });
        expect(insert.run(["b", false, 2])).toEqual({ changes: 1, lastInsertRowid: 2 });
        const returning = db.prepare("insert into t (name, flag, big) values (?, ?, ?) returning id, name");
        expect(returning.reader).toBe(true);
        expect(returning.all(["c", null, null]).map((r) => ({ ...(r as object) }))).toEqual([{ id: 3, name: "c" }]);

        const select = db.prepare("select name, flag from t where id <= ? order by id");
        expect(select.reader).toBe(true);
        expect(select.all([2]).map((r) => ({ ...(r as object) }))).toEqual([
            { name: "o'brien; DROP TABLE t;--", flag: 1 },
            { name: "b", flag: 0 },
        ]);
        expect([...select.iterate([3])].map((r) => (r as { name: string }).name)).toEqual(["o'brien; DROP TABLE t;--", "b", "c"]);
        expect(db.prepare("update t set flag = ? where flag is not null").run([1])).toEqual({ changes: 2, lastInsertRowid: 3 });
        // The same SQL is prepared once and reused.
        expect(db.prepare("select name, flag from t where id <= ? order by id")).toBe(select);
    });

    it("refuses values SQLite cannot store as given", () => {
        const statement = db.prepare("select ? as v");
        expect(() => statement.all([undefined])).toThrow("SQLite parameter 1 is undefined");
        expect(() => statement.all([1, new Date(0)].slice(1))).toThrow("SQLite parameter 1 is a Date (store times as ISO-8601 text)");
        expect(() => bindable({ a: 1 }, 2)).toThrow("SQLite parameter 3 is object");
        expect([bindable(true, 0), bindable(false, 0), bindable(null, 0), bindable(2n, 0), bindable("x", 0)]).toEqual([1, 0, null, 2n, "x"]);
        const bytes = new Uint8Array([1, 2]);
        expect(bindable(bytes, 0)).toBe(bytes);
    });

    it("enforces foreign keys", () => {
        db.prepare("create table p (id text primary key)").run([]);
        db.prepare("create table c (p text references p(id))").run([]);
        expect(() => db.prepare("insert into c (p) values (?)").run(["missing"])).toThrow(/FOREIGN KEY constraint failed/);
    });
});

describe("Kysely over node:sqlite", () => {
    interface Schema {
        t: { id: string; n: number };
    }
    let db: Kysely<Schema>;
    let file: string;
    beforeAll(async () => {
        file = path.join(dir, "kysely.sqlite");
        db = new Kysely<Schema>({ dialect: nodeSqliteDialect(file) });
        await db.schema.createTable("t").addColumn("id", "text", (c) => c.primaryKey()).addColumn("n", "integer", (c) => c.notNull()).execute();
    });
    afterAll(async () => {
        await db.destroy();
    });

    it("rolls a failed transaction back", async () => {
        await expect(
            db.transaction().execute(async (trx) => {
                await trx.insertInto("t").values({ id: "a", n: 1 }).execute();
                throw new Error("boom");
            }),
        ).rejects.toThrow("boom");
        expect(await db.selectFrom("t").selectAll().execute()).toEqual([]);
    });

    it("runs concurrent transactions one after the other on its one connection", async () => {
        const order: string[] = [];
        const tx = (id: string): Promise<void> =>
            db.transaction().execute(async (trx) => {
                order.push(`begin ${id}`);
                await trx.insertInto("t").values({ id, n: 1 }).execute();
                await new Promise((resolve) => setTimeout(resolve, 20));
                await trx.updateTable("t").set({ n: 2 }).where("id", "=", id).execute();
                order.push(`end ${id}`);
            });
        await Promise.all([tx("x"), tx("y")]);
        expect(order).toEqual(["begin x", "end x", "begin y", "end y"]);
        expect((await db.selectFrom("t").selectAll().where("id", "in", ["x", "y"]).orderBy("id").execute()).map((r) => ({ ...r }))).toEqual([
            { id: "x", n: 2 },
            { id: "y", n: 2 },
        ]);
    });

    it("takes the write lock when a transaction begins (BEGIN IMMEDIATE): another connection waits, then fails after its busy timeout", async () => {
        const other = new NodeSqliteDatabase(file, { busyTimeoutMs: 100 });
        try {
            await db.transaction().execute(async (trx) => {
                // Nothing written yet in this transaction, and still the other connection cannot write.
                await sql`select 1`.execute(trx);
                const started = Date.now();
                expect(() => other.prepare("insert into t (id, n) values (?, ?)").run(["z", 1])).toThrow(/database is locked/);
                expect(Date.now() - started).toBeGreaterThanOrEqual(90);
            });
            expect(other.prepare("insert into t (id, n) values (?, ?)").run(["z", 1]).changes).toBe(1);
        } finally {
            other.close();
        }
    });
});

describe("two processes opening one new SQLite file at once", () => {
    it("migrate it once; both open it", async () => {
        const file = path.join(dir, "shared.sqlite");
        const script = path.join(dir, "open.ts");
        fs.writeFileSync(
            script,
            `import { openRecords } from ${JSON.stringify(path.resolve(__dirname, "../audit/records/db"))};\n` +
                // Every process waits for the same moment, so that their migrations overlap.
                `const go = Number(process.argv[2]);\n` +
                `setTimeout(() => openRecords({ kind: "sqlite", file: ${JSON.stringify(file)} }).then(async (r) => { process.stdout.write(JSON.stringify(r.migrationsRun)); await r.close(); }, (e) => { process.stderr.write(String(e)); process.exit(1); }), Math.max(0, go - Date.now()));\n`,
        );
        const go = Date.now() + 4000; // after ts-node has started in each
        const run = (): Promise<string> =>
            new Promise((resolve, reject) => {
                childProcess.execFile(
                    process.execPath,
                    ["-r", "ts-node/register/transpile-only", script, String(go)],
                    { cwd: path.resolve(__dirname, ".."), env: { ...process.env, TS_NODE_PROJECT: path.resolve(__dirname, "../tsconfig.json") } },
                    (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
                );
            });
        const outputs = await Promise.all([run(), run(), run()]);
        expect(outputs.map((o) => JSON.parse(o) as string[]).sort((a, b) => b.length - a.length)).toEqual([["0001_initial"], [], []]);
        const records = await openRecords({ kind: "sqlite", file });
        try {
            expect(records.migrationsRun).toEqual([]);
            const executed = await sql<{ name: string }>`select name from kysely_migration`.execute(records.db);
            expect(executed.rows.map((r) => r.name)).toEqual(["0001_initial"]);
        } finally {
            await records.close();
        }
    });
});
