/**
 * A fake Nessus Manager / Tenable Vulnerability Management API on 127.0.0.1 for the Tenable
 * adapter's tests. It serves exactly the endpoints the adapter uses, checks the X-ApiKeys header,
 * records every request, and misbehaves on cue (see TenableBehaviour).
 *
 *   POST /scans                      → {scan:{id, uuid, name}}
 *   POST /scans/{id}/launch          → {scan_uuid}
 *   GET  /scans/{id}                 → {info:{status, ...}, hosts:[{host_id, hostname, scanprogresscurrent, scanprogresstotal}, ...], vulnerabilities:[]}
 *   GET  /scans/{id}/hosts/{host_id} → {info:{host-ip}, vulnerabilities:[{plugin_id, plugin_name, severity, count, ...}]}
 *
 * The host reported for a scan is whatever the scan was created with in text_targets.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";

/** The keys the fake accepts unless told otherwise. */
export const FAKE_KEYS: FakeKeys = { accessKey: "ak-FAKE-5c1e0f3a7b", secretKey: "sk-FAKE-9d2b74e6c1" };

export interface FakeKeys {
    readonly accessKey: string;
    readonly secretKey: string;
}

export type FakeEndpoint = "create" | "launch" | "details" | "host";

export interface FakeVulnerability {
    readonly plugin_id: number;
    readonly plugin_name: string;
    /** 0-4, or anything else to test bad data. */
    readonly severity: unknown;
    readonly cve?: readonly string[];
}

export type TenableBehaviour =
    /** The scan completes at the first poll with no vulnerabilities on the target (the default). */
    | { readonly kind: "clean" }
    /** The scan completes with these vulnerabilities on the target. */
    | { readonly kind: "findings"; readonly vulnerabilities: readonly FakeVulnerability[] }
    /**
     * The first `polls` GET /scans/{id} answer in progress, then the scan ends. `progress[k]` is the
     * percentage of poll k, or null for "pending" with no hosts yet; by default poll 0 is pending
     * and the others rise evenly.
     */
    | { readonly kind: "running-for"; readonly polls: number; readonly progress?: readonly (number | null)[] }
    /** The scan ends "aborted" instead of "completed". */
    | { readonly kind: "aborted" }
    /** HTTP 500 on one endpoint, the first `times` calls (every call when omitted). The body echoes X-ApiKeys, like a leaky proxy. */
    | { readonly kind: "http500"; readonly endpoint: FakeEndpoint; readonly times?: number }
    /** HTTP 200 with a truncated JSON body on one endpoint. */
    | { readonly kind: "malformed-json"; readonly endpoint: FakeEndpoint }
    /** Every answer is delayed by `delayMs`. */
    | { readonly kind: "slow"; readonly delayMs: number }
    /** Every request gets 401, whatever the keys. */
    | { readonly kind: "unauthorized" }
    /** Nessus Professional: POST /scans and POST /scans/{id}/launch get 412 "API is not available". */
    | { readonly kind: "professional" }
    /** The scan completes, but its only host is another address than the target. */
    | { readonly kind: "no-host" }
    /**
     * The scan completes with several host records (Tenable lists a target once per way it reached
     * it, e.g. two text_targets entries or names resolving to one address). Record k has host_id
     * FAKE_HOST_ID + k unless `hostId` says otherwise (null: no host_id at all), the target as
     * hostname unless `hostname` says otherwise, and its own vulnerabilities.
     */
    | { readonly kind: "host-records"; readonly records: readonly FakeHostRecord[] };

export interface FakeHostRecord {
    readonly hostname?: string;
    readonly hostId?: number | null;
    readonly vulnerabilities: readonly FakeVulnerability[];
}

export type TenableScript = TenableBehaviour | readonly TenableBehaviour[];

export interface RecordedRequest {
    readonly method: string;
    readonly path: string;
    readonly endpoint: FakeEndpoint | "unknown";
    /** Parsed JSON body, or undefined when there was none or it was not JSON. */
    readonly body: unknown;
    readonly rawBody: string;
    readonly headers: { readonly apiKeys?: string; readonly contentType?: string; readonly accept?: string };
}

export interface TenableFake {
    /** Base URL, e.g. http://127.0.0.1:43121 (no trailing slash). */
    readonly url: string;
    /** Every request in arrival order (cleared by setScript). */
    readonly requests: RecordedRequest[];
    /** Requests that reached one endpoint. */
    requestsTo(endpoint: FakeEndpoint): RecordedRequest[];
    /** Replaces the behaviour and keys, and forgets scans, counters and recorded requests. */
    setScript(script: TenableScript, keys?: FakeKeys): void;
    /** Closes the server and every open socket, and cancels delayed answers. */
    stop(): Promise<void>;
}

/** The host_id the fake gives the target (the first host record when there are several). */
export const FAKE_HOST_ID = 2;
const OTHER_HOST = "10.255.255.254";

interface Plan {
    vulnerabilities: readonly FakeVulnerability[];
    runningPolls: number;
    progress: readonly (number | null)[] | undefined;
    endStatus: "completed" | "aborted";
    http500: Map<FakeEndpoint, number>;
    malformed: Set<FakeEndpoint>;
    delayMs: number;
    unauthorized: boolean;
    professional: boolean;
    noHost: boolean;
    /** Several host records instead of the one target host. */
    records: readonly FakeHostRecord[] | undefined;
}

interface FakeScan {
    readonly id: number;
    readonly targets: string;
    readonly name: string;
    launched: boolean;
    polls: number;
}

function planOf(script: TenableScript): Plan {
    const plan: Plan = {
        vulnerabilities: [],
        runningPolls: 0,
        progress: undefined,
        endStatus: "completed",
        http500: new Map(),
        malformed: new Set(),
        delayMs: 0,
        unauthorized: false,
        professional: false,
        noHost: false,
        records: undefined,
    };
    const behaviours: readonly TenableBehaviour[] = Array.isArray(script) ? script : [script as TenableBehaviour];
    for (const b of behaviours) {
        switch (b.kind) {
            case "clean":
                break;
            case "findings":
                plan.vulnerabilities = b.vulnerabilities;
                break;
            case "running-for":
                plan.runningPolls = b.polls;
                plan.progress = b.progress;
                break;
            case "aborted":
                plan.endStatus = "aborted";
                break;
            case "http500":
                plan.http500.set(b.endpoint, b.times ?? Number.POSITIVE_INFINITY);
                break;
            case "malformed-json":
                plan.malformed.add(b.endpoint);
                break;
            case "slow":
                plan.delayMs = b.delayMs;
                break;
            case "unauthorized":
                plan.unauthorized = true;
                break;
            case "professional":
                plan.professional = true;
                break;
            case "no-host":
                plan.noHost = true;
                break;
            case "host-records":
                plan.records = b.records;
                break;
        }
    }
    return plan;
}

function route(method: string, path: string): { endpoint: FakeEndpoint | "unknown"; scanId?: number; hostId?: number } {
    let m: RegExpMatchArray | null;
    if (method === "POST" && path === "/scans") {
        return { endpoint: "create" };
    }
    if (method === "POST" && (m = path.match(/^\/scans\/(\d+)\/launch$/))) {
        return { endpoint: "launch", scanId: Number(m[1]) };
    }
    if (method === "GET" && (m = path.match(/^\/scans\/(\d+)$/))) {
        return { endpoint: "details", scanId: Number(m[1]) };
    }
    if (method === "GET" && (m = path.match(/^\/scans\/(\d+)\/hosts\/(\d+)$/))) {
        return { endpoint: "host", scanId: Number(m[1]), hostId: Number(m[2]) };
    }
    return { endpoint: "unknown" };
}

/** Parses `accessKey=…; secretKey=…` (with or without a trailing semicolon). */
function keysOf(header: string | undefined): Partial<FakeKeys> {
    const keys: Record<string, string> = {};
    for (const part of (header ?? "").split(";")) {
        const at = part.indexOf("=");
        if (at > 0) {
            keys[part.slice(0, at).trim()] = part.slice(at + 1).trim();
        }
    }
    return keys;
}

export async function startTenableFake(script: TenableScript = { kind: "clean" }, keys: FakeKeys = FAKE_KEYS): Promise<TenableFake> {
    let plan = planOf(script);
    let expected = keys;
    let scans = new Map<number, FakeScan>();
    let nextId = 101;
    let calls = new Map<FakeEndpoint, number>();
    const requests: RecordedRequest[] = [];
    const timers = new Set<NodeJS.Timeout>();

    /** The scan's host records: the scripted ones, or the one target host. */
    const hostRecords = (target: string): Array<{ hostname: string; hostId: number | null; vulnerabilities: readonly FakeVulnerability[] }> =>
        plan.records === undefined
            ? [{ hostname: target, hostId: FAKE_HOST_ID, vulnerabilities: plan.vulnerabilities }]
            : plan.records.map((r, k) => ({ hostname: r.hostname ?? target, hostId: r.hostId === undefined ? FAKE_HOST_ID + k : r.hostId, vulnerabilities: r.vulnerabilities }));

    const answer = (method: string, path: string, rawBody: string, apiKeys: string | undefined): { status: number; body: string } => {
        const json = (status: number, value: unknown) => ({ status, body: JSON.stringify(value) });
        const { endpoint, scanId, hostId } = route(method, path);
        const given = keysOf(apiKeys);
        if (plan.unauthorized || given.accessKey !== expected.accessKey || given.secretKey !== expected.secretKey) {
            return json(401, { statusCode: 401, error: "Unauthorized", message: "Invalid credentials" });
        }
        if (endpoint === "unknown") {
            return json(404, { error: "The requested file was not found." });
        }
        const count = calls.get(endpoint) ?? 0;
        calls.set(endpoint, count + 1);
        if (plan.professional && (endpoint === "create" || endpoint === "launch")) {
            return json(412, { error: "API is not available" });
        }
        if (count < (plan.http500.get(endpoint) ?? 0)) {
            return json(500, { statusCode: 500, error: "Internal Server Error", message: `upstream failed; request header was X-ApiKeys: ${apiKeys}` });
        }
        if (plan.malformed.has(endpoint)) {
            return { status: 200, body: '{"info": {"status": "runn' };
        }

        if (endpoint === "create") {
            let body: { uuid?: unknown; settings?: { name?: unknown; text_targets?: unknown } };
            try {
                body = JSON.parse(rawBody) as typeof body;
            } catch {
                return json(400, { error: "Invalid JSON body" });
            }
            if (typeof body.uuid !== "string" || typeof body.settings?.text_targets !== "string" || typeof body.settings.name !== "string") {
                return json(400, { error: "uuid, settings.name and settings.text_targets are required" });
            }
            const scan: FakeScan = { id: nextId++, targets: body.settings.text_targets, name: body.settings.name, launched: false, polls: 0 };
            scans.set(scan.id, scan);
            return json(200, { scan: { id: scan.id, uuid: `template-${body.uuid}`, name: scan.name, enabled: false } });
        }

        const scan = scanId === undefined ? undefined : scans.get(scanId);
        if (scan === undefined) {
            return json(404, { error: "The requested file was not found." });
        }
        if (endpoint === "launch") {
            scan.launched = true;
            return json(200, { scan_uuid: `00000000-0000-4000-8000-${String(scan.id).padStart(12, "0")}` });
        }

        const hostname = plan.noHost ? OTHER_HOST : scan.targets;
        if (endpoint === "details") {
            if (!scan.launched) {
                return json(200, { info: { status: "empty", name: scan.name, object_id: scan.id }, hosts: [], vulnerabilities: [] });
            }
            const k = scan.polls++;
            let status: string;
            let percent: number | null;
            if (k < plan.runningPolls) {
                const scripted = plan.progress?.[k];
                percent = scripted !== undefined ? scripted : k === 0 ? null : Math.round((100 * k) / plan.runningPolls);
                status = percent === null ? "pending" : "running";
            } else {
                status = plan.endStatus;
                percent = 100;
            }
            const hosts =
                percent === null
                    ? []
                    : hostRecords(hostname).map((record, index) => ({
                          ...(record.hostId === null ? {} : { host_id: record.hostId }),
                          host_index: index,
                          hostname: record.hostname,
                          progress: `${percent}-100/${percent}-100`,
                          scanprogresscurrent: percent,
                          scanprogresstotal: 100,
                          critical: 0,
                          high: 0,
                          medium: 0,
                          low: 0,
                          info: 0,
                      }));
            return json(200, { info: { status, name: scan.name, object_id: scan.id, targets: scan.targets }, hosts, vulnerabilities: [] });
        }

        // endpoint === "host"
        const record = hostRecords(hostname).find((r) => r.hostId !== null && r.hostId === hostId);
        if (record === undefined) {
            return json(404, { error: "Host not found" });
        }
        return json(200, {
            info: { "host-ip": record.hostname, host_start: "Fri Dec 7 21:46:59 2018", host_end: "Fri Dec 7 21:56:59 2018" },
            vulnerabilities: record.vulnerabilities.map((v, index) => ({
                count: 1,
                host_id: hostId,
                hostname: record.hostname,
                plugin_family: "General",
                plugin_id: v.plugin_id,
                plugin_name: v.plugin_name,
                severity: v.severity,
                severity_index: index,
                vuln_index: index,
                ...(v.cve === undefined ? {} : { cve: v.cve }),
            })),
            compliance: [],
        });
    };

    const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (chunk: Buffer) => chunks.push(chunk));
        req.on("end", () => {
            const rawBody = Buffer.concat(chunks).toString("utf8");
            const method = req.method ?? "";
            const path = new URL(req.url ?? "/", "http://fake").pathname;
            const header = (name: string) => {
                const value = req.headers[name];
                return Array.isArray(value) ? value.join(", ") : value;
            };
            let body: unknown;
            try {
                body = rawBody === "" ? undefined : (JSON.parse(rawBody) as unknown);
            } catch {
                body = undefined;
            }
            requests.push({
                method,
                path,
                endpoint: route(method, path).endpoint,
                body,
                rawBody,
                headers: { apiKeys: header("x-apikeys"), contentType: header("content-type"), accept: header("accept") },
            });
            const reply = answer(method, path, rawBody, header("x-apikeys"));
            const send = () => {
                if (res.destroyed || res.writableEnded) {
                    return; // the client gave up while we were "slow"
                }
                res.writeHead(reply.status, { "Content-Type": "application/json" });
                res.end(reply.body);
            };
            if (plan.delayMs > 0) {
                const timer = setTimeout(() => {
                    timers.delete(timer);
                    send();
                }, plan.delayMs);
                timers.add(timer);
            } else {
                send();
            }
        });
    });

    await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve());
    });
    const { port } = server.address() as AddressInfo;

    return {
        url: `http://127.0.0.1:${port}`,
        requests,
        requestsTo: (endpoint) => requests.filter((r) => r.endpoint === endpoint),
        setScript(next, nextKeys = FAKE_KEYS) {
            plan = planOf(next);
            expected = nextKeys;
            scans = new Map();
            calls = new Map();
            nextId = 101;
            requests.length = 0;
        },
        stop() {
            for (const timer of timers) {
                clearTimeout(timer);
            }
            timers.clear();
            return new Promise<void>((resolve, reject) => {
                server.close((error) => (error ? reject(error) : resolve()));
                server.closeAllConnections();
            });
        },
    };
}
