/**
 * A Node.js language host for the Pulumi CLI, for the engine tests only.
 *
 * Why it exists: Pulumi's own `pulumi-language-nodejs` lives in a Go module of its own
 * (`github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3`) that the Go module proxy
 * this project can reach does not serve (`403 Forbidden: This module version is not available`
 * for every version and for `@latest`); the last `sdk/v3` release that still contained it is
 * more than 200 releases older than the engine. The CLI itself (`pkg/v3/cmd/pulumi`) is built
 * from Pulumi's published modules (see tools/). This host speaks the same LanguageRuntime gRPC
 * protocol and starts the program exactly as Pulumi's host does: it runs
 * `@pulumi/pulumi/cmd/run` (the SDK's own entry point, the part that evaluates the program and
 * talks to the engine) with Node from PATH, the same flags, and the same environment
 * (PULUMI_CONFIG, PULUMI_CONFIG_SECRET_KEYS, PULUMI_NODEJS_TYPESCRIPT, …). What the program does
 * after that, every resource registration, invoke and stack output, is between the SDK and the
 * real engine.
 *
 * Run by the CLI as a plugin: `pulumi-language-nodejs <engine address>` (a wrapper script written
 * by engine.ts); prints the port it serves on as its first stdout line.
 */
import * as childProcess from "child_process";
import * as fs from "fs";
import * as path from "path";

const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const grpc: typeof import("@grpc/grpc-js") = require(require.resolve("@grpc/grpc-js", { paths: [pulumiDir] }));
const langrpc = require("@pulumi/pulumi/proto/language_grpc_pb");
const langproto = require("@pulumi/pulumi/proto/language_pb");
const plugproto = require("@pulumi/pulumi/proto/plugin_pb");
const emptyproto = require("google-protobuf/google/protobuf/empty_pb");

/** Exit code with which the SDK says "the user already saw an actionable message" (Pulumi's host: bail). */
const EXIT_AFTER_USER_ACTIONABLE_MESSAGE = 32;

type Callback = (err: unknown, value?: unknown) => void;
interface Call<T> {
    readonly request: T;
}

export interface PluginDependency {
    readonly name: string;
    readonly version: string;
    readonly server?: string;
}

/**
 * The resource plugins a program needs, as Pulumi's host finds them: every package under
 * node_modules whose package.json says `"pulumi": { "resource": true }` (name and version from
 * that section when given, else from the package; "@pulumi/" dropped from the name).
 */
export function requiredPlugins(programDirectory: string): PluginDependency[] {
    const found = new Map<string, PluginDependency>();
    const visit = (dir: string, depth: number): void => {
        if (depth > 6) return;
        let entries: fs.Dirent[];
        try {
            entries = fs.readdirSync(dir, { withFileTypes: true });
        } catch {
            return;
        }
        for (const entry of entries) {
            if (!entry.isDirectory() && !entry.isSymbolicLink()) continue;
            const pkgDir = path.join(dir, entry.name);
            if (entry.name.startsWith("@")) {
                visit(pkgDir, depth);
                continue;
            }
            const manifest = path.join(pkgDir, "package.json");
            if (fs.existsSync(manifest)) {
                const info = JSON.parse(fs.readFileSync(manifest, "utf8")) as {
                    name?: string;
                    version?: string;
                    pulumi?: { resource?: boolean; name?: string; version?: string; server?: string };
                };
                if (info.pulumi?.resource === true && info.name !== undefined) {
                    const name = info.pulumi.name ?? info.name.replace(/^@pulumi\//, "").replace(/^@/, "");
                    const raw = info.pulumi.version ?? info.version ?? "";
                    const version = raw.startsWith("v") ? raw : `v${raw}`;
                    found.set(`${name}@${version}`, { name, version, server: info.pulumi.server });
                }
            }
            visit(path.join(pkgDir, "node_modules"), depth + 1);
        }
    };
    visit(path.join(programDirectory, "node_modules"), 0);
    return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** The command line Pulumi's host gives `@pulumi/pulumi/cmd/run`. */
export function runArguments(
    runPath: string,
    req: {
        monitor: string;
        engine: string;
        organization: string;
        project: string;
        rootDirectory: string;
        stack: string;
        pwd: string;
        dryRun: boolean;
        parallel: number;
        entryPoint: string;
        args: readonly string[];
    },
): string[] {
    const out = [runPath];
    const flag = (name: string, value: string): void => {
        if (value !== "") out.push(`--${name}`, value);
    };
    flag("monitor", req.monitor);
    flag("engine", req.engine);
    flag("organization", req.organization);
    flag("project", req.project);
    flag("root-directory", req.rootDirectory);
    flag("stack", req.stack);
    flag("pwd", req.pwd);
    if (req.dryRun) out.push("--dry-run");
    flag("parallel", String(req.parallel));
    out.push(req.entryPoint === "" ? "." : req.entryPoint, ...req.args);
    return out;
}

/** Fills a PluginDependency or PackageDependency message (the same four fields). */
function dependency<T extends { setName(v: string): void; setKind(v: string): void; setVersion(v: string): void; setServer(v: string): void }>(message: T, p: PluginDependency): T {
    message.setName(p.name);
    message.setKind("resource");
    message.setVersion(p.version);
    if (p.server !== undefined) message.setServer(p.server);
    return message;
}

function unimplemented(name: string) {
    return (_call: unknown, callback: Callback): void => callback({ code: grpc.status.UNIMPLEMENTED, details: `${name} is not implemented by the test language host` });
}

function main(argv: string[]): void {
    const engineAddress = argv.find((a) => !a.startsWith("-")) ?? "";
    const runPath = require.resolve("@pulumi/pulumi/cmd/run");
    const node = process.env.AIRLOCK_ENGINE_NODE ?? "node";

    const service = {
        handshake(_call: Call<unknown>, callback: Callback): void {
            callback(null, new langproto.LanguageHandshakeResponse());
        },
        getPluginInfo(_call: Call<unknown>, callback: Callback): void {
            const info = new plugproto.PluginInfo();
            info.setVersion(require("@pulumi/pulumi/package.json").version);
            callback(null, info);
        },
        getRequiredPlugins(call: Call<any>, callback: Callback): void {
            const dir = call.request.getInfo()?.getProgramDirectory() || call.request.getProgram() || process.cwd();
            const resp = new langproto.GetRequiredPluginsResponse();
            resp.setPluginsList(requiredPlugins(dir).map((p) => dependency(new plugproto.PluginDependency(), p)));
            callback(null, resp);
        },
        getRequiredPackages(call: Call<any>, callback: Callback): void {
            const dir = call.request.getInfo()?.getProgramDirectory() || process.cwd();
            const resp = new langproto.GetRequiredPackagesResponse();
            resp.setPackagesList(requiredPlugins(dir).map((p) => dependency(new plugproto.PackageDependency(), p)));
            callback(null, resp);
        },
        run(call: Call<any>, callback: Callback): void {
            const req = call.request;
            const info = req.getInfo();
            const options = info?.getOptions()?.toJavaScript() ?? {};
            const programDirectory: string = info?.getProgramDirectory() || req.getPwd() || process.cwd();
            const config: Record<string, string> = {};
            req.getConfigMap().forEach((value: string, key: string) => {
                config[key] = value;
            });
            // TS_NODE_PROJECT is how this host's own wrapper loads it: the program must not inherit it.
            const { TS_NODE_PROJECT: _ownTsConfig, ...inherited } = process.env;
            const env: NodeJS.ProcessEnv = {
                ...inherited,
                PULUMI_CONFIG: JSON.stringify(config),
                PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(req.getConfigsecretkeysList()),
            };
            if (options.typescript !== false) env.PULUMI_NODEJS_TYPESCRIPT = "true";
            if (typeof options.tsconfig === "string") env.PULUMI_NODEJS_TSCONFIG_PATH = options.tsconfig;
            const args = runArguments(runPath, {
                monitor: req.getMonitorAddress(),
                engine: engineAddress,
                organization: req.getOrganization(),
                project: req.getProject(),
                rootDirectory: info?.getRootDirectory() ?? "",
                stack: req.getStack(),
                pwd: programDirectory,
                dryRun: req.getDryrun(),
                parallel: req.getParallel(),
                entryPoint: info?.getEntryPoint() || req.getProgram() || ".",
                args: req.getArgsList(),
            });
            const nodeArgs = typeof options.nodeargs === "string" && options.nodeargs !== "" ? options.nodeargs.split(/\s+/) : [];
            const started = process.hrtime.bigint();
            const child = childProcess.spawn(node, [...nodeArgs, ...args], { cwd: programDirectory, env, stdio: ["ignore", "inherit", "inherit"] });
            const resp = new langproto.RunResponse();
            child.once("error", (err) => {
                resp.setError(`Problem executing program (could not run language executor): ${err.message}`);
                callback(null, resp);
            });
            child.once("exit", (code, signal) => {
                // For the benchmark: how long the program ran (its evaluation, registrations included).
                const timings = process.env.AIRLOCK_ENGINE_TIMINGS;
                if (timings !== undefined && timings !== "") {
                    const ms = Number(process.hrtime.bigint() - started) / 1e6;
                    fs.appendFileSync(timings, `${JSON.stringify({ dryRun: req.getDryrun(), programMs: Math.round(ms) })}\n`);
                }
                if (code === EXIT_AFTER_USER_ACTIONABLE_MESSAGE) {
                    resp.setBail(true);
                } else if (code !== 0) {
                    resp.setError(code === null ? `Program exited unexpectedly: signal ${signal}` : `Program exited with non-zero exit code: ${code}`);
                }
                callback(null, resp);
            });
        },
        installDependencies: unimplemented("InstallDependencies"),
        runtimeOptionsPrompts(_call: Call<unknown>, callback: Callback): void {
            callback(null, new langproto.RuntimeOptionsResponse());
        },
        about(_call: Call<unknown>, callback: Callback): void {
            const resp = new langproto.AboutResponse();
            resp.setExecutable(node);
            resp.setVersion(process.version);
            callback(null, resp);
        },
        getProgramDependencies(_call: Call<unknown>, callback: Callback): void {
            callback(null, new langproto.GetProgramDependenciesResponse());
        },
        template: unimplemented("Template"),
        runPlugin: unimplemented("RunPlugin"),
        generateProgram: unimplemented("GenerateProgram"),
        generateProject: unimplemented("GenerateProject"),
        generatePackage: unimplemented("GeneratePackage"),
        pack: unimplemented("Pack"),
        link: unimplemented("Link"),
        cancel(_call: Call<unknown>, callback: Callback): void {
            callback(null, new emptyproto.Empty());
        },
    };

    const server = new grpc.Server({ "grpc.max_receive_message_length": 400 * 1024 * 1024 });
    server.addService(langrpc.LanguageRuntimeService, service as never);
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
        if (err !== null) {
            console.error(`could not start the language host: ${err.message}`);
            process.exit(1);
        }
        process.stdout.write(`${port}\n`);
    });
}

if (require.main === module) {
    main(process.argv.slice(2));
}
