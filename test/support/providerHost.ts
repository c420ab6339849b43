/**
 * A test harness that drives Pulumi's REAL Node.js dynamic-provider host
 * (`@pulumi/pulumi/cmd/dynamic-provider/index.js`) over gRPC the way the Pulumi engine does, so tests catch
 * serialization and protocol bugs that in-process calls and mocks cannot.
 *
 * What the engine does, and so what this harness does (checked against @pulumi/pulumi 3.270.0's host and the
 * engine's sdk/go/common/resource/plugin/provider_plugin.go + rpc.go):
 *
 * - Process: `node <host> <engine address>` with cwd = project root. The host only checks that an argument is
 *   present and never connects to it (no logging client, nothing else), so the dummy `127.0.0.1:1` is safe. It
 *   binds `127.0.0.1:0` itself and prints the port as its first stdout line. The engine adds
 *   PULUMI_NODEJS_PROJECT / PULUMI_PROJECT (and PULUMI_CONFIG) to the environment; so do we.
 * - Handshake: the host answers UNIMPLEMENTED; the engine then falls back to the Configure response.
 * - Configure: the engine sends `acceptSecrets: true, acceptResources: true, sendsOldInputs(ToDelete): true`,
 *   `variables` = {"pulumi-nodejs:config:<key>": string} and `args` = a Struct of the WHOLE stack config with
 *   namespaced keys ("airlock:foo"), secret values wrapped. The host MUST get `args`: without them its async
 *   handler throws and the call never completes. The host keeps `args` (secrets unwrapped at top level) and
 *   hands them to `provider.configure({ config })` on first use of each serialized provider.
 *   The host answers `acceptSecrets: false` and `supportsPreview: false`. Consequences, mirrored here:
 *     * secrets: the engine strips secret wrappers before every Check/Diff/Create/Read/Update/Delete (the provider
 *       sees plain values) and re-marks results: any output/checked input whose key held a secret in the request
 *       becomes secret again (`annotateSecrets`, recursing only where both sides are plain objects). Wrapped
 *       secrets would otherwise reach the provider as raw `{4dabf…: "1b47…", value}` objects: the host never
 *       unwraps them (only Configure args are unwrapped).
 *     * preview: Create/Update with `preview: true` never reach the host; the engine returns the inputs as state.
 * - `__provider`: every CRUD request carries the serialized provider (`serializeFunction(() => provider).text`)
 *   as the input/output property `__provider`; the host `require`s it from a string (module paths resolved from
 *   its cwd) and caches it per string. Check/Diff load it from `news` unless news' `__provider` is unknown (then
 *   `olds`); Create from `properties`; Read from `properties` (falling back to `inputs` when empty); Update from
 *   `news`; Delete from `properties`. The host copies `__provider` into every output map.
 * - Unknowns: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" (and the typed sentinels in rpc.go) only appear in
 *   Check/Diff and preview requests. Outputs of non-preview Create/Update and of Read are rejected by the engine
 *   if they contain one; the harness throws in the same cases.
 * - Errors: a throw from create/update becomes status UNKNOWN with the error's message. If the thrown object has
 *   an `id`, the host packs a `pulumirpc.ErrorResourceInitFailed{id, properties, reasons}` in a
 *   google.rpc.Status in the `grpc-status-details-bin` trailer (partial state: the resource exists). Errors from
 *   check/diff/read/delete are plain UNKNOWN errors. `create`/`update` return `{ ok: false, ... }` for UNKNOWN
 *   statuses; every other failure (and any failure of the other calls) throws a ProviderCallError.
 * - Serialization in the host (google-protobuf `Struct.fromJavaScript`), verified: an `undefined` anywhere in
 *   outputs fails the call with "Unexpected struct type." (so does a bigint); a Date or Map becomes `{}`; a
 *   thrown non-Error gives the message "undefined". An `undefined` in a partial error's `properties` is worse:
 *   the host throws while building the error reply and NEVER answers (the engine would wait forever; here the
 *   call fails with DEADLINE_EXCEEDED after `callTimeoutMs`, the host's stderr shows the error).
 * - Output: the provider's console.log/console.error reach the host's stdout/stderr (pipes: written
 *   synchronously before the reply); each call lets pending reads land before resolving, so `output()` already
 *   holds what the provider printed during that call. `pulumi.log.*` in the host prints to the console too
 *   ("info: [runtime] …"): the host has no engine connection.
 *
 * Pitfalls with jest + ts-jest (found while writing this harness, each reproduced):
 * - Inside jest, the global `process` is a copy whose `on("exit")` listeners never fire. The exit-time cleanup
 *   therefore registers on the real process (processes.ts, `onRealExit`).
 * - The provider is serialized from the jest module registry. What the closure serializer does with what a
 *   ts-jest-compiled provider captures:
 *     * `import * as fs from "fs"` / `import { x } from "fs"` (builtins) → `require("fs")`: fine.
 *     * packages in node_modules → `require("<package>/<main file>")` (e.g. "fastest-levenshtein/mod.js"),
 *       resolved from the host's cwd (jest's `require.cache` proxy is what lets the serializer see them): fine.
 *     * local modules (`import { f } from "./promotionInputs"`) are captured BY VALUE (their code is inlined),
 *       which is what makes providers/*.ts usable in the host, which cannot `require` .ts files.
 *     * `@pulumi/pulumi` used at run time (e.g. `pulumi.log`) → `require("@pulumi/pulumi/log/index.js")`: fine.
 *     * whatever the provider's functions reference is captured transitively and BY VALUE, as it is when
 *       `serializeProvider` runs: module-level state is a snapshot, mutations in the host never come back. Keep
 *       jest out of provider code: `expect` is taken for a global and is a ReferenceError in the host
 *       ("expect is not defined"); `jest` is captured as a broken object (`jest.fn` becomes a non-function).
 *       Observe the provider through its outputs, its output() lines or the filesystem.
 *     * `jest --coverage` instruments providers/*.ts (not test files): their serialized code then carries the
 *       istanbul counters and coverage map (checkPromotionInputs alone: 6 KB → 155 KB of `__provider`), it
 *       still works, and what runs in the host is NOT counted in the coverage report.
 *   See providerHost.test.ts for the cases exercised.
 */
import * as childProcess from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { onRealExit } from "./processes";
import * as pulumi from "@pulumi/pulumi";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import * as plugproto from "@pulumi/pulumi/proto/plugin_pb";
import * as statusproto from "@pulumi/pulumi/proto/status_pb";
import type { ResourceProviderClient as ResourceProviderClientType } from "@pulumi/pulumi/proto/provider_grpc_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import * as emptyproto from "google-protobuf/google/protobuf/empty_pb";

type Grpc = typeof import("@grpc/grpc-js");
type ServiceError = import("@grpc/grpc-js").ServiceError;

// The generated client requires "@grpc/grpc-js" from @pulumi/pulumi's location: use that exact module instance.
const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const grpc: Grpc = require(require.resolve("@grpc/grpc-js", { paths: [pulumiDir] }));
const { ResourceProviderClient } = require("@pulumi/pulumi/proto/provider_grpc_pb") as {
    ResourceProviderClient: typeof ResourceProviderClientType;
};

/** The host's entry point, run exactly as the engine runs the `pulumi-resource-pulumi-nodejs` plugin. */
export const HOST_SCRIPT = path.join(pulumiDir, "cmd", "dynamic-provider", "index.js");
/** Project root (holds Pulumi.yaml and node_modules); the host's cwd by default. */
export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
/** The engine address the host is given; the host never connects to it. */
export const DUMMY_ENGINE_ADDRESS = "127.0.0.1:1";

import { SECRET_SIG, SIG_KEY, UNKNOWN_SENTINELS } from "./wire";
export { SECRET_SIG, SIG_KEY, UNKNOWN, UNKNOWN_SENTINELS } from "./wire";

/** A secret as it travels on the wire: `{"4dabf…": "1b47…", value}`. */
export interface Secret<T = unknown> {
    readonly [SIG_KEY]: typeof SECRET_SIG;
    readonly value: T;
}

/** Wraps a value the way the engine marshals a secret. */
export function secret<T>(value: T): Secret<T> {
    return { [SIG_KEY]: SECRET_SIG, value };
}

export function isSecret(value: unknown): value is Secret {
    return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** Removes every secret wrapper, deeply (what the engine does for a provider that does not accept secrets). */
export function revealSecrets(value: unknown): unknown {
    if (isSecret(value)) return revealSecrets(value.value);
    if (Array.isArray(value)) return value.map(revealSecrets);
    if (isPlainObject(value)) {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revealSecrets(v)]));
    }
    return value;
}

/** urn:pulumi:<stack>::<project>::<type>::<name>. `type` defaults to the SDK's `pulumi.dynamic.Resource` type. */
export function dynamicUrn(name: string, type = "pulumi-nodejs:dynamic:Resource", stack = "test", project = "airlock"): string {
    return `urn:pulumi:${stack}::${project}::${type}::${name}`;
}

/** `pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true }).text`, as `pulumi.dynamic.Resource` does. */
export async function serializeProvider(provider: object): Promise<string> {
    const serialized = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
    return serialized.text;
}

export type Properties = Record<string, unknown>;

export interface CheckOutcome {
    inputs: Properties;
    failures: Array<{ property: string; reason: string }>;
}

export interface DiffOutcome {
    changes: "DIFF_UNKNOWN" | "DIFF_NONE" | "DIFF_SOME";
    replaces: string[];
    stables: string[];
    deleteBeforeReplace: boolean;
    diffs: string[];
}

/** State the provider reported although the operation failed (ErrorResourceInitFailed). */
export interface PartialState {
    id: string;
    properties: Properties;
    reasons: string[];
}

export type CreateOutcome =
    | { ok: true; id: string; properties: Properties }
    | { ok: false; message: string; partial?: PartialState };

export type UpdateOutcome = { ok: true; properties: Properties } | { ok: false; message: string; partial?: PartialState };

export interface ReadOutcome {
    id: string;
    properties: Properties;
    /** Only present when the provider's read returned `inputs` (the engine then keeps the old inputs). */
    inputs?: Properties;
}

export interface MutateOptions {
    timeoutSeconds?: number;
    /** Preview: like the engine, the host is not called (it reports supportsPreview: false); inputs are echoed. */
    preview?: boolean;
}

export interface ProviderHost {
    readonly port: number;
    readonly pid: number;
    /**
     * Configure, as the engine does before anything else (it is done implicitly, with the start options' config,
     * if a CRUD call comes first). Keys are full config keys ("airlock:scannerKind"); values may be `secret(...)`.
     * A host can only be configured once, like a real plugin.
     */
    configure(config?: Record<string, string | Secret<string>>): Promise<void>;
    check(urn: string, olds: Properties, news: Properties): Promise<CheckOutcome>;
    /** `olds` are the old OUTPUTS (what the engine passes as `olds`); `oldInputs` default to `olds`. */
    diff(urn: string, id: string, olds: Properties, news: Properties, opts?: { oldInputs?: Properties }): Promise<DiffOutcome>;
    create(urn: string, properties: Properties, opts?: MutateOptions): Promise<CreateOutcome>;
    /** `properties` are the current state (outputs); `inputs` the last inputs. */
    read(urn: string, id: string, properties: Properties, inputs?: Properties): Promise<ReadOutcome>;
    update(urn: string, id: string, olds: Properties, news: Properties, opts?: MutateOptions & { oldInputs?: Properties }): Promise<UpdateOutcome>;
    /** `properties` are the resource's outputs (they carry `__provider`). */
    delete(urn: string, id: string, properties: Properties, opts?: { timeoutSeconds?: number; oldInputs?: Properties }): Promise<void>;
    /** Everything the host process printed so far, stdout and stderr interleaved in arrival order. */
    output(): string;
    /** Kills the process and closes the client; idempotent. */
    stop(): Promise<void>;
}

export interface StartOptions {
    /** Extra environment, merged over process.env (e.g. AWS_ENDPOINT_URL). */
    env?: Record<string, string>;
    /** The host's cwd; serialized providers resolve `require(...)` from here. Defaults to the project root. */
    cwd?: string;
    /** Stack config for Configure and PULUMI_CONFIG, full keys ("airlock:scannerKind"). */
    config?: Record<string, string | Secret<string>>;
    /** Project name for PULUMI_NODEJS_PROJECT / PULUMI_PROJECT; defaults to Pulumi.yaml's name. */
    project?: string;
    /** How long to wait for the host to print its port. Default 20 s. */
    readyTimeoutMs?: number;
    /** gRPC deadline of each call. Default 30 s. */
    callTimeoutMs?: number;
}

/** A failed RPC (other than a create/update failure reported by the provider): gRPC code, details, host output. */
export class ProviderCallError extends Error {
    constructor(
        readonly method: string,
        readonly code: number,
        readonly details: string,
        hostOutput: string,
    ) {
        super(`${method} failed: ${grpc.status[code] ?? code}: ${details}\n--- provider host output (tail) ---\n${tail(hostOutput)}`);
        this.name = "ProviderCallError";
    }
}

function tail(text: string, max = 4000): string {
    return text.length <= max ? text : `…${text.slice(-max)}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
    const proto: unknown = Object.getPrototypeOf(value);
    return proto === Object.prototype || proto === null;
}

/** Where (JSON path) a value holds an unknown sentinel, or undefined. */
function findUnknown(value: unknown, at: string): string | undefined {
    if (typeof value === "string") return UNKNOWN_SENTINELS.has(value) ? at : undefined;
    if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
            const found = findUnknown(value[i], `${at}[${i}]`);
            if (found) return found;
        }
        return undefined;
    }
    if (typeof value === "object" && value !== null) {
        for (const [k, v] of Object.entries(value)) {
            const found = findUnknown(v, `${at}.${k}`);
            if (found) return found;
        }
    }
    return undefined;
}

function containsSecrets(value: unknown): boolean {
    if (isSecret(value)) return true;
    if (Array.isArray(value)) return value.some(containsSecrets);
    if (isPlainObject(value)) return Object.values(value).some(containsSecrets);
    return false;
}

/** The engine's annotateSecrets(outs, ins): re-mark outputs whose same-named input held a secret. */
function annotateSecrets(outs: Properties, ins: Properties): Properties {
    const result: Properties = { ...outs };
    for (const [key, inValue] of Object.entries(ins)) {
        if (!(key in result)) continue;
        const outValue = result[key];
        if (isPlainObject(outValue) && !isSecret(outValue) && isPlainObject(inValue) && !isSecret(inValue)) {
            result[key] = annotateSecrets(outValue, inValue);
        } else if (!isSecret(outValue) && containsSecrets(inValue)) {
            result[key] = secret(outValue);
        }
    }
    return result;
}

/**
 * What the engine can put in a Struct: JSON values. `undefined` object members are dropped and `undefined`
 * array elements become null (as the SDK serializes inputs); anything else non-JSON is a test bug.
 */
function toWireValue(value: unknown, at: string): unknown {
    if (value === null || typeof value === "string" || typeof value === "boolean" || typeof value === "number") return value;
    if (Array.isArray(value)) return value.map((v, i) => (v === undefined ? null : toWireValue(v, `${at}[${i}]`)));
    if (isPlainObject(value)) {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value)) {
            if (v !== undefined) out[k] = toWireValue(v, `${at}.${k}`);
        }
        return out;
    }
    throw new Error(`providerHost: ${at} is not a JSON value (${Object.prototype.toString.call(value)}); the engine only sends JSON values`);
}

function toStruct(props: Properties, label: string): structproto.Struct {
    return structproto.Struct.fromJavaScript(toWireValue(props, label) as Record<string, structproto.JavaScriptValue>);
}

function fromStruct(struct: structproto.Struct | undefined): Properties {
    return struct ? (struct.toJavaScript() as Properties) : {};
}

function parseUrn(urn: string): { name: string; type: string } {
    const parts = urn.split("::");
    const name = parts[parts.length - 1] ?? "";
    const qualifiedType = parts[parts.length - 2] ?? "";
    const type = qualifiedType.split("$").pop() ?? qualifiedType;
    return { name, type };
}

function readProjectName(cwd: string): string {
    try {
        const text = fs.readFileSync(path.join(cwd, "Pulumi.yaml"), "utf8");
        const match = /^name:\s*["']?([^"'\s#]+)/m.exec(text);
        if (match?.[1]) return match[1];
    } catch {
        // fall through
    }
    return "airlock";
}

/** Decodes the ErrorResourceInitFailed the host packs in `grpc-status-details-bin`. */
/**
 * The message of a failed call as the engine reads it: grpc-go builds the status from
 * `grpc-status-details-bin` when present (its message survives newlines, which grpc-message may
 * not), else from the grpc-message header.
 */
function statusMessage(err: ServiceError): string {
    for (const value of err.metadata?.get("grpc-status-details-bin") ?? []) {
        const bytes = typeof value === "string" ? Buffer.from(value, "base64") : value;
        const message = statusproto.Status.deserializeBinary(new Uint8Array(bytes)).getMessage();
        if (message !== "") return message;
    }
    return err.details;
}

function decodePartialState(err: ServiceError): PartialState | undefined {
    const raw = err.metadata?.get("grpc-status-details-bin") ?? [];
    for (const value of raw) {
        const bytes = typeof value === "string" ? Buffer.from(value, "base64") : value;
        const status = statusproto.Status.deserializeBinary(new Uint8Array(bytes));
        for (const detail of status.getDetailsList()) {
            if (detail.getTypeName() !== "pulumirpc.ErrorResourceInitFailed") continue;
            const failed = provproto.ErrorResourceInitFailed.deserializeBinary(detail.getValue_asU8());
            return { id: failed.getId(), properties: fromStruct(failed.getProperties()), reasons: failed.getReasonsList() };
        }
    }
    return undefined;
}

function isServiceError(err: unknown): err is ServiceError {
    return err instanceof Error && typeof (err as Partial<ServiceError>).code === "number";
}


/** Starts the dynamic-provider host and connects to it (the caller must `stop()` it; process exit also kills it). */
export async function startProviderHost(options: StartOptions = {}): Promise<ProviderHost> {
    const cwd = options.cwd ?? PROJECT_ROOT;
    const project = options.project ?? readProjectName(cwd);
    const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;
    const callTimeoutMs = options.callTimeoutMs ?? 30_000;
    const stackConfig = options.config ?? {};

    // The engine runs plugins with its own environment, which has none of the language host's PULUMI_NODEJS_*
    // settings (a test process may have them from mocks) and its own PULUMI_CONFIG.
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) {
        if (v !== undefined && !k.startsWith("PULUMI_NODEJS_") && k !== "PULUMI_CONFIG" && k !== "PULUMI_CONFIG_SECRET_KEYS") env[k] = v;
    }
    env["PULUMI_NODEJS_PROJECT"] = project;
    env["PULUMI_PROJECT"] = project;
    if (Object.keys(stackConfig).length > 0) {
        env["PULUMI_CONFIG"] = JSON.stringify(revealSecrets(stackConfig));
        const secretKeys = Object.keys(stackConfig).filter((k) => isSecret(stackConfig[k]));
        if (secretKeys.length > 0) env["PULUMI_CONFIG_SECRET_KEYS"] = JSON.stringify(secretKeys);
    }
    Object.assign(env, options.env ?? {});

    const child = childProcess.spawn(process.execPath, [HOST_SCRIPT, DUMMY_ENGINE_ADDRESS], {
        cwd,
        env,
        stdio: ["ignore", "pipe", "pipe"],
    });
    const pid = child.pid;
    let printed = "";
    let stderr = "";
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const unregister = onRealExit(() => {
        child.kill("SIGKILL");
    });
    // A forgotten stop() must not keep jest alive: the exit listener cleans up.
    child.unref();

    const port = await new Promise<number>((resolve, reject) => {
        let stdoutLine = "";
        let settled = false;
        const fail = (why: string): void => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            child.kill("SIGKILL");
            unregister();
            reject(new Error(`providerHost: ${why}\n--- host stderr ---\n${tail(stderr)}\n--- host output ---\n${tail(printed)}`));
        };
        const timer = setTimeout(() => fail(`the host did not print its port within ${readyTimeoutMs} ms`), readyTimeoutMs);
        child.stdout.setEncoding("utf8");
        child.stderr.setEncoding("utf8");
        child.stdout.on("data", (chunk: string) => {
            printed += chunk;
            if (settled) return;
            stdoutLine += chunk;
            const newline = stdoutLine.indexOf("\n");
            if (newline < 0) return;
            const first = stdoutLine.slice(0, newline).trim();
            if (!/^\d+$/.test(first)) {
                fail(`expected the port on the host's first stdout line, got ${JSON.stringify(first)}`);
                return;
            }
            settled = true;
            clearTimeout(timer);
            resolve(Number(first));
        });
        child.stderr.on("data", (chunk: string) => {
            printed += chunk;
            stderr += chunk;
        });
        child.once("error", (err) => fail(`could not start ${process.execPath}: ${err.message}`));
        // "close" (not "exit"): by then everything the host wrote to stderr has been read.
        child.once("close", (code, signal) => fail(`the host exited before printing its port (code ${code}, signal ${signal})`));
    });
    (child.stdout as { unref?: () => void }).unref?.();
    (child.stderr as { unref?: () => void }).unref?.();

    const client = new ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
        "grpc.max_receive_message_length": 1024 * 1024 * 400,
        "grpc.max_send_message_length": 1024 * 1024 * 400,
    });

    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> => {
        stopping ??= (async () => {
            client.close();
            if (child.exitCode === null && child.signalCode === null) {
                child.kill("SIGTERM");
                const killTimer = setTimeout(() => child.kill("SIGKILL"), 3000);
                await exited;
                clearTimeout(killTimer);
            }
            unregister();
        })();
        return stopping;
    };

    // Unary call with a deadline; rejects with the ServiceError as is.
    const rawCall = <Req, Res>(method: string, request: Req): Promise<Res> =>
        new Promise<Res>((resolve, reject) => {
            if (stopping) {
                reject(new Error(`providerHost: ${method} called after stop()`));
                return;
            }
            const fn = (client as unknown as Record<string, Function>)[method];
            if (typeof fn !== "function") throw new Error(`providerHost: no RPC ${method}`);
            const deadline = new Date(Date.now() + callTimeoutMs);
            fn.call(client, request, new grpc.Metadata(), { deadline }, (err: ServiceError | null, res: Res) => {
                // The provider's console output was written (synchronously, to pipes) before the host answered,
                // but it may be read after the answer: let pending stdout/stderr reads land first.
                setImmediate(() => setImmediate(() => (err ? reject(err) : resolve(res))));
            });
        });
    const call = async <Req, Res>(method: string, request: Req): Promise<Res> => {
        try {
            return await rawCall<Req, Res>(method, request);
        } catch (err) {
            if (isServiceError(err)) throw new ProviderCallError(method, err.code, err.details, printed);
            throw err;
        }
    };
    const isUnimplemented = (err: unknown): boolean => isServiceError(err) && err.code === grpc.status.UNIMPLEMENTED;

    try {
        // What the engine does after loading a plugin: Handshake (UNIMPLEMENTED here), then GetPluginInfo.
        let handshake: provproto.ProviderHandshakeResponse | undefined;
        try {
            const req = new provproto.ProviderHandshakeRequest();
            req.setEngineAddress(DUMMY_ENGINE_ADDRESS);
            req.setRootDirectory(cwd);
            req.setProgramDirectory(cwd);
            req.setConfigureWithUrn(true);
            req.setSupportsViews(true);
            req.setSupportsRefreshBeforeUpdate(true);
            handshake = await rawCall<provproto.ProviderHandshakeRequest, provproto.ProviderHandshakeResponse>("handshake", req);
        } catch (err) {
            if (!isUnimplemented(err)) throw isServiceError(err) ? new ProviderCallError("handshake", err.code, err.details, printed) : err;
        }
        await call<emptyproto.Empty, plugproto.PluginInfo>("getPluginInfo", new emptyproto.Empty());

        // The protocol the engine uses for marshaling: from the handshake if any, else from Configure.
        let protocol: { acceptSecrets: boolean; supportsPreview: boolean } | undefined = handshake
            ? { acceptSecrets: handshake.getAcceptSecrets(), supportsPreview: true }
            : undefined;
        let configured: Promise<void> | undefined;

        const configure = (config: Record<string, string | Secret<string>> = stackConfig): Promise<void> => {
            if (configured) return Promise.reject(new Error("providerHost: configure() was already called (a plugin is configured once)"));
            configured = (async () => {
                const variables: Record<string, string> = {};
                for (const [k, v] of Object.entries(config)) variables[`pulumi-nodejs:config:${k}`] = isSecret(v) ? v.value : v;
                const req = new provproto.ConfigureRequest();
                for (const [k, v] of Object.entries(variables)) req.getVariablesMap().set(k, v);
                req.setArgs(toStruct(config, "config"));
                req.setAcceptsecrets(true);
                req.setAcceptresources(true);
                req.setSendsOldInputs(true);
                req.setSendsOldInputsToDelete(true);
                req.setUrn(`urn:pulumi:test::${project}::pulumi:providers:pulumi-nodejs::default`);
                req.setName("default");
                req.setType("pulumi:providers:pulumi-nodejs");
                req.setId(crypto.randomUUID());
                const res = await call<provproto.ConfigureRequest, provproto.ConfigureResponse>("configure", req);
                protocol ??= { acceptSecrets: res.getAcceptsecrets(), supportsPreview: res.getSupportspreview() };
            })();
            return configured;
        };
        const ensureConfigured = async (): Promise<{ acceptSecrets: boolean; supportsPreview: boolean }> => {
            await (configured ?? configure());
            if (!protocol) throw new Error("providerHost: no protocol after Configure");
            return protocol;
        };

        /** Engine-side marshaling of a property map for one request. */
        const marshal = (props: Properties, label: string, acceptSecrets: boolean, keepUnknowns: boolean): structproto.Struct => {
            if (!keepUnknowns) {
                const at = findUnknown(props, label);
                if (at) throw new Error(`providerHost: unknown value at ${at}: the engine only sends unknowns in Check, Diff and previews`);
            }
            return toStruct((acceptSecrets ? props : revealSecrets(props)) as Properties, label);
        };
        /** Engine-side unmarshaling of a property map from a response. */
        const unmarshal = (
            struct: structproto.Struct | undefined,
            label: string,
            requestProps: Properties | undefined,
            acceptSecrets: boolean,
            rejectUnknowns: boolean,
        ): Properties => {
            let props = fromStruct(struct);
            if (rejectUnknowns) {
                const at = findUnknown(props, label);
                if (at) throw new Error(`providerHost: the provider returned an unknown value at ${at}; the engine fails with "unexpected unknown property value"`);
            }
            if (!acceptSecrets && requestProps) props = annotateSecrets(props, requestProps);
            return props;
        };

        const host: ProviderHost = {
            port,
            pid: pid ?? -1,
            configure,
            output: () => printed,
            stop,

            async check(urn, olds, news) {
                const proto = await ensureConfigured();
                const { name, type } = parseUrn(urn);
                const req = new provproto.CheckRequest();
                req.setUrn(urn);
                req.setName(name);
                req.setType(type);
                req.setOlds(marshal(olds, "olds", proto.acceptSecrets, true));
                req.setNews(marshal(news, "news", proto.acceptSecrets, true));
                req.setRandomseed(new Uint8Array(crypto.randomBytes(32)));
                const res = await call<provproto.CheckRequest, provproto.CheckResponse>("check", req);
                return {
                    inputs: unmarshal(res.getInputs(), "inputs", news, proto.acceptSecrets, false),
                    failures: res.getFailuresList().map((f) => ({ property: f.getProperty(), reason: f.getReason() })),
                };
            },

            async diff(urn, id, olds, news, opts = {}) {
                const proto = await ensureConfigured();
                const { name, type } = parseUrn(urn);
                const req = new provproto.DiffRequest();
                req.setId(id);
                req.setUrn(urn);
                req.setName(name);
                req.setType(type);
                req.setOlds(marshal(olds, "olds", proto.acceptSecrets, true));
                req.setOldInputs(marshal(opts.oldInputs ?? olds, "oldInputs", proto.acceptSecrets, true));
                req.setNews(marshal(news, "news", proto.acceptSecrets, true));
                const res = await call<provproto.DiffRequest, provproto.DiffResponse>("diff", req);
                const changes = res.getChanges();
                const C = provproto.DiffResponse.DiffChanges;
                return {
                    changes: changes === C.DIFF_SOME ? "DIFF_SOME" : changes === C.DIFF_NONE ? "DIFF_NONE" : "DIFF_UNKNOWN",
                    replaces: res.getReplacesList(),
                    stables: res.getStablesList(),
                    deleteBeforeReplace: res.getDeletebeforereplace(),
                    diffs: res.getDiffsList(),
                };
            },

            async create(urn, properties, opts = {}) {
                const proto = await ensureConfigured();
                const preview = opts.preview ?? false;
                if (preview && !proto.supportsPreview) return { ok: true, id: "", properties };
                const { name, type } = parseUrn(urn);
                const req = new provproto.CreateRequest();
                req.setUrn(urn);
                req.setName(name);
                req.setType(type);
                req.setProperties(marshal(properties, "properties", proto.acceptSecrets, preview));
                req.setTimeout(opts.timeoutSeconds ?? 0);
                req.setPreview(preview);
                try {
                    const res = await rawCall<provproto.CreateRequest, provproto.CreateResponse>("create", req);
                    if (!res.getId() && !preview) {
                        throw new Error(`providerHost: the host returned an empty id from create; the engine fails the step`);
                    }
                    return {
                        ok: true,
                        id: res.getId(),
                        properties: unmarshal(res.getProperties(), "properties", properties, proto.acceptSecrets, !preview),
                    };
                } catch (err) {
                    if (!isServiceError(err) || err.code !== grpc.status.UNKNOWN) {
                        throw isServiceError(err) ? new ProviderCallError("create", err.code, err.details, printed) : err;
                    }
                    const partial = decodePartialState(err);
                    return partial
                        ? {
                              ok: false,
                              message: statusMessage(err),
                              partial: { ...partial, properties: proto.acceptSecrets ? partial.properties : annotateSecrets(partial.properties, properties) },
                          }
                        : { ok: false, message: statusMessage(err) };
                }
            },

            async read(urn, id, properties, inputs) {
                const proto = await ensureConfigured();
                const { name, type } = parseUrn(urn);
                const req = new provproto.ReadRequest();
                req.setId(id);
                req.setUrn(urn);
                req.setName(name);
                req.setType(type);
                req.setProperties(marshal(properties, "properties", proto.acceptSecrets, false));
                if (inputs) req.setInputs(marshal(inputs, "inputs", proto.acceptSecrets, false));
                const res = await call<provproto.ReadRequest, provproto.ReadResponse>("read", req);
                const result: ReadOutcome = {
                    id: res.getId(),
                    properties: unmarshal(res.getProperties(), "properties", properties, proto.acceptSecrets, true),
                };
                if (res.hasInputs()) result.inputs = unmarshal(res.getInputs(), "inputs", inputs ?? {}, proto.acceptSecrets, true);
                return result;
            },

            async update(urn, id, olds, news, opts = {}) {
                const proto = await ensureConfigured();
                const preview = opts.preview ?? false;
                if (preview && !proto.supportsPreview) return { ok: true, properties: news };
                const { name, type } = parseUrn(urn);
                const req = new provproto.UpdateRequest();
                req.setId(id);
                req.setUrn(urn);
                req.setName(name);
                req.setType(type);
                req.setOlds(marshal(olds, "olds", proto.acceptSecrets, false));
                req.setOldInputs(marshal(opts.oldInputs ?? olds, "oldInputs", proto.acceptSecrets, false));
                req.setNews(marshal(news, "news", proto.acceptSecrets, preview));
                req.setTimeout(opts.timeoutSeconds ?? 0);
                req.setPreview(preview);
                try {
                    const res = await rawCall<provproto.UpdateRequest, provproto.UpdateResponse>("update", req);
                    return { ok: true, properties: unmarshal(res.getProperties(), "properties", news, proto.acceptSecrets, !preview) };
                } catch (err) {
                    if (!isServiceError(err) || err.code !== grpc.status.UNKNOWN) {
                        throw isServiceError(err) ? new ProviderCallError("update", err.code, err.details, printed) : err;
                    }
                    const partial = decodePartialState(err);
                    return partial
                        ? {
                              ok: false,
                              message: statusMessage(err),
                              partial: { ...partial, properties: proto.acceptSecrets ? partial.properties : annotateSecrets(partial.properties, news) },
                          }
                        : { ok: false, message: statusMessage(err) };
                }
            },

            async delete(urn, id, properties, opts = {}) {
                const proto = await ensureConfigured();
                const { name, type } = parseUrn(urn);
                const req = new provproto.DeleteRequest();
                req.setId(id);
                req.setUrn(urn);
                req.setName(name);
                req.setType(type);
                req.setProperties(marshal(properties, "properties", proto.acceptSecrets, false));
                req.setOldInputs(marshal(opts.oldInputs ?? properties, "oldInputs", proto.acceptSecrets, false));
                req.setTimeout(opts.timeoutSeconds ?? 0);
                await call<provproto.DeleteRequest, emptyproto.Empty>("delete", req);
            },
        };
        return host;
    } catch (err) {
        await stop();
        throw err;
    }
}
