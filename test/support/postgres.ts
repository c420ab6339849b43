/**
 * A real PostgreSQL server for tests, from Debian's `postgresql` package (test/setup/provision.sh
 * installs it): `startPostgres()` runs `initdb` in a fresh temporary directory and `postgres` on a
 * free 127.0.0.1 port (its Unix socket in that directory, not /var/run), and hands back how to
 * connect, `createDatabase()` (one per test file or suite) and `stop()`, which ends the server and
 * removes the directory. A forgotten stop() is made up for when the test process exits.
 *
 *   const pg = await startPostgres();
 *   try {
 *       const url = await pg.createDatabase("records_db_test");
 *       ... openRecords({ kind: "postgres", connectionString: url, password: pg.password }) ...
 *   } finally {
 *       await pg.stop();
 *   }
 *
 * Authentication: the superuser `airlock` with a random password; TCP connections (127.0.0.1
 * only) must give it (scram-sha-256), so the tests exercise the password path for real; the Unix
 * socket in the temporary directory trusts its owner.
 *
 * PostgreSQL refuses to run as root. When the tests run as root, initdb and postgres run as
 * `nobody:nogroup` through `setpriv` (util-linux, provisioned), and the temporary directory is
 * given to that user. Durability is off (fsync, synchronous_commit, full_page_writes): a test
 * server is thrown away, and it must be quick.
 */
import * as childProcess from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { Client } from "pg";
import { killGroup, onRealExit, watchChild } from "./processes";

/** What to do when PostgreSQL is missing. */
export const POSTGRES_HINT =
    "install Debian's `postgresql` package (as root: `apt-get install -y --no-install-recommends postgresql`), " +
    "or run `npm test` / `bash test/setup/provision.sh`, which installs it";

export const POSTGRES_USER = "airlock";

export interface Postgres {
    readonly host: "127.0.0.1";
    readonly port: number;
    readonly user: string;
    /** The superuser's password (random per server). */
    readonly password: string;
    /** postgres://airlock@127.0.0.1:<port>/<database>, without the password. */
    url(database: string): string;
    /** Creates a database (name: lower-case letters, digits, underscores) and returns its url(). */
    createDatabase(name: string): Promise<string>;
    /** Ends the server (fast shutdown, then SIGKILL) and removes its directory. Idempotent. */
    stop(): Promise<void>;
    /** What the server printed so far (the last 64 KiB). */
    output(): string;
    /** The postmaster's process id (also its process group id). */
    readonly pid: number;
    /** PostgreSQL's version string (e.g. "15.14"). */
    readonly version: string;
}

/** The directory holding initdb and postgres: Debian's /usr/lib/postgresql/<major>/bin (newest), else PATH. */
export function postgresBinDir(): string {
    const root = "/usr/lib/postgresql";
    const majors = fs.existsSync(root)
        ? fs
              .readdirSync(root)
              .filter((d) => /^\d+$/.test(d) && fs.existsSync(path.join(root, d, "bin", "initdb")))
              .sort((a, b) => Number(b) - Number(a))
        : [];
    if (majors[0] !== undefined) return path.join(root, majors[0], "bin");
    for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
        if (dir !== "" && fs.existsSync(path.join(dir, "initdb")) && fs.existsSync(path.join(dir, "postgres"))) return dir;
    }
    throw new Error(`PostgreSQL's initdb and postgres are not installed (looked in ${root}/*/bin and on PATH): ${POSTGRES_HINT}.`);
}

const OUTPUT_LIMIT = 64 * 1024;
const PORT_ATTEMPTS = 5;

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.unref();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => {
            const address = server.address();
            const port = typeof address === "object" && address !== null ? address.port : 0;
            server.close(() => (port > 0 ? resolve(port) : reject(new Error("postgres: could not read a free port"))));
        });
    });
}

/** How to run a PostgreSQL program: as nobody when we are root (PostgreSQL refuses root). */
interface RunAs {
    readonly prefix: readonly string[];
    readonly uid?: number;
    readonly gid?: number;
}

function runAs(): RunAs {
    if (process.getuid?.() !== 0) return { prefix: [] };
    const id = (flag: string, name: string): number => Number(childProcess.execFileSync("id", [flag, name], { encoding: "utf8" }).trim());
    return {
        prefix: ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"],
        uid: id("-u", "nobody"),
        gid: Number(childProcess.execFileSync("getent", ["group", "nogroup"], { encoding: "utf8" }).split(":")[2]),
    };
}

class PortInUse extends Error {}

/** Starts a PostgreSQL server on a free 127.0.0.1 port; retries with another port when the one picked was taken meanwhile. */
export async function startPostgres(options: { readonly readyTimeoutMs?: number } = {}): Promise<Postgres> {
    const bin = postgresBinDir();
    const as = runAs();
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-postgres-"));
    const removeDir = (): void => fs.rmSync(workDir, { recursive: true, force: true });
    // At exit (a forgotten stop(), a crash): the server first, then its directory.
    const server: { pid?: number } = {};
    const unregisterDir = onRealExit(() => {
        killGroup(server.pid, "SIGKILL");
        removeDir();
    });
    try {
        if (as.uid !== undefined && as.gid !== undefined) fs.chownSync(workDir, as.uid, as.gid);
        const password = crypto.randomBytes(18).toString("base64url");
        const pwfile = path.join(workDir, "pwfile");
        fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
        if (as.uid !== undefined && as.gid !== undefined) fs.chownSync(pwfile, as.uid, as.gid);
        const data = path.join(workDir, "data");
        const initdb = [
            ...as.prefix,
            path.join(bin, "initdb"),
            "-D",
            data,
            "-U",
            POSTGRES_USER,
            `--pwfile=${pwfile}`,
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ];
        const init = childProcess.spawnSync(initdb[0]!, initdb.slice(1), { cwd: workDir, encoding: "utf8" });
        fs.rmSync(pwfile, { force: true });
        if (init.status !== 0) {
            throw new Error(`postgres: initdb failed (${init.error?.message ?? `code ${init.status}`}):\n${init.stdout}${init.stderr}`);
        }
        const version = fs.readFileSync(path.join(data, "PG_VERSION"), "utf8").trim();
        let lastError: unknown;
        for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
            try {
                return await startServer({
                    bin,
                    as,
                    workDir,
                    data,
                    password,
                    version,
                    port: await freePort(),
                    readyTimeoutMs: options.readyTimeoutMs ?? 30_000,
                    removeDir,
                    unregisterDir,
                    onPid: (pid) => (server.pid = pid),
                });
            } catch (error) {
                if (!(error instanceof PortInUse)) throw error;
                lastError = error;
            }
        }
        throw new Error(`postgres: no free port after ${PORT_ATTEMPTS} attempts: ${(lastError as Error).message}`);
    } catch (error) {
        removeDir();
        unregisterDir();
        throw error;
    }
}

interface ServerArgs {
    readonly bin: string;
    readonly as: RunAs;
    readonly workDir: string;
    readonly data: string;
    readonly password: string;
    readonly version: string;
    readonly port: number;
    readonly readyTimeoutMs: number;
    readonly removeDir: () => void;
    readonly unregisterDir: () => void;
    readonly onPid: (pid: number) => void;
}

async function startServer(args: ServerArgs): Promise<Postgres> {
    const { bin, as, workDir, data, password, port } = args;
    const command = [
        ...as.prefix,
        path.join(bin, "postgres"),
        "-D",
        data,
        "-p",
        String(port),
        "-c",
        "listen_addresses=127.0.0.1",
        "-c",
        `unix_socket_directories=${workDir}`,
        "-c",
        "fsync=off",
        "-c",
        "synchronous_commit=off",
        "-c",
        "full_page_writes=off",
        "-c",
        "max_connections=50",
        // Shared memory in the data directory (removed with it), not /dev/shm, should it be killed.
        "-c",
        "dynamic_shared_memory_type=mmap",
    ];
    const child = childProcess.spawn(command[0]!, command.slice(1), {
        cwd: workDir,
        detached: true, // its own process group: stop() reaches every backend
        stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const append = (chunk: string): void => {
        output += chunk;
        if (output.length > OUTPUT_LIMIT * 2) output = output.slice(-OUTPUT_LIMIT);
    };
    child.stdout.setEncoding("utf8").on("data", append);
    child.stderr.setEncoding("utf8").on("data", append);
    const tail = (): string => (output.length > OUTPUT_LIMIT ? output.slice(-OUTPUT_LIMIT) : output).trim() || "(no output)";
    const { exited, exitInfo, spawnError } = watchChild(child);
    const pid = child.pid;
    if (pid === undefined) {
        const error = await spawnError;
        throw new Error(`postgres: could not start ${command.join(" ")}: ${error.message}`);
    }
    args.onPid(pid);
    child.unref();
    (child.stdout as { unref?: () => void }).unref?.();
    (child.stderr as { unref?: () => void }).unref?.();

    let stopping: Promise<void> | undefined;
    const halt = async (): Promise<void> => {
        if (exitInfo() === undefined) {
            killGroup(pid, "SIGINT"); // fast shutdown: ends sessions, no waiting for clients
            const timer = setTimeout(() => killGroup(pid, "SIGKILL"), 5000);
            await exited;
            clearTimeout(timer);
        }
        killGroup(pid, "SIGKILL");
    };
    const stop = (): Promise<void> => {
        stopping ??= (async () => {
            await halt();
            args.removeDir();
            args.unregisterDir();
        })();
        return stopping;
    };

    const connect = async (database: string): Promise<Client> => {
        const client = new Client({ host: "127.0.0.1", port, user: POSTGRES_USER, password, database, connectionTimeoutMillis: 2000 });
        client.on("error", () => undefined);
        await client.connect();
        return client;
    };

    const started = Date.now();
    for (;;) {
        if (exitInfo() !== undefined) {
            await halt();
            const text = tail();
            if (/could not bind|address already in use/i.test(text)) throw new PortInUse(`port ${port} was taken`);
            throw new Error(`postgres: the server exited before accepting connections (${exitInfo()}).\n--- postgres output ---\n${text}`);
        }
        try {
            const client = await connect("postgres");
            await client.end();
            break;
        } catch {
            // Not accepting connections yet.
        }
        if (Date.now() - started > args.readyTimeoutMs) {
            await halt();
            throw new Error(`postgres: no connection on 127.0.0.1:${port} within ${args.readyTimeoutMs} ms.\n--- postgres output ---\n${tail()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const url = (database: string): string => `postgres://${POSTGRES_USER}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
    return {
        host: "127.0.0.1",
        port,
        user: POSTGRES_USER,
        password,
        pid,
        version: args.version,
        url,
        output: tail,
        stop,
        createDatabase: async (name: string): Promise<string> => {
            if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`postgres: database name ${JSON.stringify(name)}: use lower-case letters, digits and underscores`);
            const client = await connect("postgres");
            try {
                // A name cannot be a parameter; it was checked above.
                await client.query(`CREATE DATABASE ${name}`);
            } finally {
                await client.end();
            }
            return url(name);
        },
    };
}
