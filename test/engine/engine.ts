/**
 * The real Pulumi engine as a test layer: the Pulumi CLI built from Pulumi's Go modules
 * (build-pulumi.sh) drives the program the way a user's `pulumi preview` / `up` / `refresh` /
 * `destroy` does, with a local file backend, the passphrase secrets provider and a throwaway
 * stack, in a workspace of its own:
 *
 *   <tmp>/project   a copy of the program (Pulumi.yaml, index.ts, components/, …; node_modules is
 *                   a link to the repository's), so stack files never land in the checkout
 *   <tmp>/home      PULUMI_HOME: the plugin cache holds the test provider plugins
 *                   (pulumi-resource-aws, and -random while installed, at the lockfile's versions; plugins.ts)
 *   <tmp>/state     the file backend (`pulumi login file://<tmp>/state`)
 *   <tmp>/fake-state  AIRLOCK_FAKE_STATE_DIR: what the test plugin keeps where moto has no API
 *                   (fakeProvider.ts, FakeStore), across the CLI's plugin processes
 *   <tmp>/bin       first on PATH: `pulumi`, the Node language host (languageHost.ts) and
 *                   `pulumi-resource-pulumi-nodejs` (the dynamic-provider host, the same one-line
 *                   script Pulumi's distribution ships), then the project's Node 24
 *
 * Every command runs with `--non-interactive --color never`, the passphrase in
 * PULUMI_CONFIG_PASSPHRASE, no update check and no plugin downloads.
 */
import * as childProcess from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { killGroup, onRealExit } from "../support/processes";
import { installTestPlugins } from "./plugins";

export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
/** The project's own Node 24 (the `node` devDependency). */
export const NODE_BIN_DIR = path.join(PROJECT_ROOT, "node_modules", "node", "bin");
const TS_NODE_REGISTER = require.resolve("ts-node/register/transpile-only");

/** What a copy of the program needs: the files `pulumi` reads and the program's sources. */
const PROGRAM_FILES = ["Pulumi.yaml", "package.json", "tsconfig.json", "index.ts", "components", "config", "policies", "providers", "functions", "cloud-init"];

let cliPath: string | undefined;

/** The Pulumi CLI at @pulumi/pulumi's version; built (once per version, cached) when absent. */
export function pulumiCli(): string {
    if (cliPath === undefined) {
        const out = childProcess.execFileSync(path.join(__dirname, "build-pulumi.sh"), { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 30 * 60_000 });
        cliPath = out.trim().split("\n").pop() ?? "";
    }
    return cliPath;
}

export interface RunResult {
    readonly code: number;
    readonly stdout: string;
    readonly stderr: string;
    /** stdout + stderr, in that order. */
    readonly output: string;
}

export interface PulumiRunOptions {
    /** Resolve instead of throwing when the command fails. */
    readonly allowFailure?: boolean;
    readonly timeoutMs?: number;
    /** Extra environment for this command only. */
    readonly env?: Readonly<Record<string, string>>;
    /** Working directory (default: the workspace's project). */
    readonly cwd?: string;
    readonly stdin?: string;
}

export interface EngineWorkspace {
    readonly dir: string;
    readonly projectDir: string;
    readonly stateDir: string;
    readonly pulumiHome: string;
    /** The environment every command runs with. */
    readonly env: Readonly<Record<string, string>>;
    /** Runs `pulumi <args…> --non-interactive --color never`. */
    pulumi(args: readonly string[], opts?: PulumiRunOptions): Promise<RunResult>;
    /** Runs a shell command line (e.g. README's `npm run pulumi -- …`) in the project, with the workspace's environment. */
    shell(command: string, opts?: PulumiRunOptions): Promise<RunResult>;
    /** Every file of the file backend's state for the stack, concatenated (what `pulumi` stores). */
    stateFiles(): string;
    /** Removes the workspace (after killing anything still running). */
    cleanup(): Promise<void>;
}

export interface WorkspaceOptions {
    /** Added to the CLI's environment (AWS endpoint and credentials, poll tuning, CA bundle). */
    readonly env?: Readonly<Record<string, string>>;
    /** A program directory to copy instead of this project (e.g. a StackReference consumer). */
    readonly programFiles?: Readonly<Record<string, string>>;
    /** Copy this repository file into the project too (e.g. "Pulumi.dev.yaml"). */
    readonly extraFiles?: readonly string[];
    /** Log in to this workspace's backend, with its passphrase (a second program reading its stacks). */
    readonly shareBackendWith?: EngineWorkspace;
}

function writeScript(file: string, body: string): void {
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
}

/** A fresh workspace: project copy, PULUMI_HOME with the test plugins, file backend, logged in. */
export async function createWorkspace(opts: WorkspaceOptions = {}): Promise<EngineWorkspace> {
    const cli = pulumiCli();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-engine-"));
    const projectDir = path.join(dir, "project");
    const pulumiHome = path.join(dir, "home");
    const stateDir = opts.shareBackendWith?.stateDir ?? path.join(dir, "state");
    const binDir = path.join(dir, "bin");
    for (const d of [projectDir, pulumiHome, stateDir, binDir]) fs.mkdirSync(d, { recursive: true });

    if (opts.programFiles !== undefined) {
        for (const [name, text] of Object.entries(opts.programFiles)) {
            fs.mkdirSync(path.dirname(path.join(projectDir, name)), { recursive: true });
            fs.writeFileSync(path.join(projectDir, name), text);
        }
    } else {
        for (const name of [...PROGRAM_FILES, ...(opts.extraFiles ?? [])]) {
            fs.cpSync(path.join(PROJECT_ROOT, name), path.join(projectDir, name), { recursive: true });
        }
    }
    fs.symlinkSync(path.join(PROJECT_ROOT, "node_modules"), path.join(projectDir, "node_modules"));

    // A hard link, not a symlink: the CLI looks for its bundled plugins (the language host, the
    // dynamic-provider host) next to its own resolved path, and warns about ones found on PATH.
    try {
        fs.linkSync(cli, path.join(binDir, "pulumi"));
    } catch {
        fs.symlinkSync(cli, path.join(binDir, "pulumi"));
    }
    const node = path.join(NODE_BIN_DIR, "node");
    writeScript(path.join(binDir, "pulumi-language-nodejs"), `TS_NODE_PROJECT="${path.join(PROJECT_ROOT, "tsconfig.json")}" exec "${node}" -r "${TS_NODE_REGISTER}" "${path.join(__dirname, "languageHost.ts")}" "$@"`);
    // As in Pulumi's distribution: the dynamic-provider host, resolved from the program's directory.
    writeScript(path.join(binDir, "pulumi-resource-pulumi-nodejs"), `exec node ./node_modules/@pulumi/pulumi/cmd/dynamic-provider "$@"`);
    installTestPlugins(pulumiHome, { node });

    const inherited: Record<string, string> = {};
    for (const key of ["HOME", "TMPDIR", "LANG", "GOCACHE", "GOPATH"]) {
        const v = process.env[key];
        if (v !== undefined) inherited[key] = v;
    }
    const env: Record<string, string> = {
        ...inherited,
        PATH: [binDir, NODE_BIN_DIR, "/usr/local/bin", "/usr/bin", "/bin"].join(path.delimiter),
        PULUMI_HOME: pulumiHome,
        PULUMI_CONFIG_PASSPHRASE: opts.shareBackendWith?.env.PULUMI_CONFIG_PASSPHRASE ?? crypto.randomBytes(18).toString("base64url"),
        PULUMI_SKIP_UPDATE_CHECK: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK: "true",
        // What the test plugin keeps where moto has no API (fakeProvider.ts FakeStore), shared by workspaces sharing a backend.
        AIRLOCK_FAKE_STATE_DIR: opts.shareBackendWith?.env.AIRLOCK_FAKE_STATE_DIR ?? path.join(dir, "fake-state"),
        ...(opts.env ?? {}),
    };

    const running = new Set<number>();
    const unregister = onRealExit(() => {
        for (const pid of running) killGroup(pid, "SIGKILL");
    });

    const run = (file: string, args: readonly string[], what: string, runOpts: PulumiRunOptions): Promise<RunResult> =>
        new Promise((resolve, reject) => {
            const child = childProcess.spawn(file, args, {
                cwd: runOpts.cwd ?? projectDir,
                env: { ...env, ...(runOpts.env ?? {}) },
                detached: true,
                stdio: ["pipe", "pipe", "pipe"],
            });
            if (child.pid !== undefined) running.add(child.pid);
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
            child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
            child.stdin.end(runOpts.stdin ?? "");
            const timer = setTimeout(() => killGroup(child.pid, "SIGKILL"), runOpts.timeoutMs ?? 10 * 60_000);
            child.once("error", reject);
            // The plugins the CLI started are in its process group: none may outlive it (and one
            // that kept the output pipes open would otherwise hold "close" back).
            child.once("exit", () => killGroup(child.pid, "SIGKILL"));
            child.once("close", (code, signal) => {
                clearTimeout(timer);
                if (child.pid !== undefined) running.delete(child.pid);
                const result = { code: code ?? -1, stdout, stderr, output: `${stdout}${stderr}` };
                if ((code !== 0 || signal !== null) && runOpts.allowFailure !== true) {
                    reject(new Error(`${what} failed (code ${code}, signal ${signal}):\n${result.output}`));
                    return;
                }
                resolve(result);
            });
        });

    const ws: EngineWorkspace = {
        dir,
        projectDir,
        stateDir,
        pulumiHome,
        env,
        pulumi(args, runOpts = {}) {
            return run(path.join(binDir, "pulumi"), [...args, "--non-interactive", "--color", "never"], `pulumi ${args.join(" ")}`, runOpts);
        },
        shell(command, runOpts = {}) {
            return run("/bin/bash", ["-c", command], command, runOpts);
        },
        stateFiles() {
            const out: string[] = [];
            const walk = (d: string): void => {
                for (const e of fs.readdirSync(d, { withFileTypes: true })) {
                    const p = path.join(d, e.name);
                    if (e.isDirectory()) walk(p);
                    else out.push(fs.readFileSync(p, "utf8"));
                }
            };
            walk(stateDir);
            return out.join("\n");
        },
        async cleanup() {
            for (const pid of running) killGroup(pid, "SIGKILL");
            unregister();
            fs.rmSync(dir, { recursive: true, force: true });
            if (opts.shareBackendWith === undefined) fs.rmSync(stateDir, { recursive: true, force: true });
        },
    };
    await ws.pulumi(["login", `file://${stateDir}`]);
    return ws;
}

/** `pulumi stack output --json` of a stack. */
export async function stackOutputs(ws: EngineWorkspace, stack: string): Promise<Record<string, unknown>> {
    const r = await ws.pulumi(["stack", "output", "--json", "--stack", stack]);
    return JSON.parse(r.stdout) as Record<string, unknown>;
}

export interface StateResource {
    readonly urn: string;
    readonly type: string;
    readonly id?: string;
    readonly inputs?: Record<string, unknown>;
    readonly outputs?: Record<string, unknown>;
    readonly initErrors?: string[];
    readonly custom?: boolean;
}

/** `pulumi stack export` (secrets stay encrypted) → the deployment's resources. */
export async function exportedResources(ws: EngineWorkspace, stack: string): Promise<StateResource[]> {
    const r = await ws.pulumi(["stack", "export", "--stack", stack]);
    const doc = JSON.parse(r.stdout) as { deployment?: { resources?: StateResource[] } };
    return doc.deployment?.resources ?? [];
}

/**
 * Sets a structured (list or map) config value, as `pulumi config set-all --json` takes it (the
 * shape `pulumi config --json` prints); `pulumi config set` has no JSON form.
 */
export async function setStructuredConfig(ws: EngineWorkspace, stack: string, key: string, value: unknown): Promise<RunResult> {
    const doc = { [key]: { value: JSON.stringify(value), objectValue: value, secret: false } };
    return ws.pulumi(["config", "set-all", "--stack", stack, "--json", JSON.stringify(doc)]);
}

/** The command lines of a README block marked `<!-- <marker>: ... -->` (the tests run them as written). */
export function readmeCommands(marker: string): string[] {
    const readme = fs.readFileSync(path.join(PROJECT_ROOT, "README.md"), "utf8");
    const block = new RegExp(`<!-- ${marker}[^>]*-->\\s*\`\`\`sh\\n([\\s\\S]*?)\`\`\``).exec(readme)?.[1];
    if (block === undefined) throw new Error(`README.md has no ${marker} block`);
    return block
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "" && !l.startsWith("#"));
}

/** Fills README's `<placeholders>`, quoted for the shell; one the test does not know fails it. */
export function substitutePlaceholders(line: string, values: Readonly<Record<string, string>>): string {
    return line.replace(/<([a-z-]+)>/g, (_m, name: string) => {
        const value = values[name];
        if (value === undefined) throw new Error(`README command has a placeholder the test does not fill: <${name}> in ${line}`);
        return `'${value}'`;
    });
}
