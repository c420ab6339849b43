/**
 * Tenable adapter: runs a one-off network scan of the instance's private IP through the REST API
 * that Nessus Manager and Tenable Vulnerability Management (formerly Tenable.io) share, and reads
 * the findings for that one host.
 *
 * Endpoints (the common subset of both products):
 *   POST /scans                      create   {uuid, settings:{name, text_targets, enabled, launch_now, policy_id?}} → {scan:{id}}
 *   POST /scans/{id}/launch          launch   {} → {scan_uuid}
 *   GET  /scans/{id}                 details  → {info:{status}, hosts:[{host_id, hostname, scanprogresscurrent, scanprogresstotal}]}
 *   GET  /scans/{id}/hosts/{host_id} host     → {vulnerabilities:[{plugin_id, plugin_name, severity, count}]}, read for
 *                                             every host record of the target (one target may have several)
 *
 * Where the two products differ (noted, not used):
 *   - Tenable VM recommends GET /scans/{id}/latest-status (and /progress) for polling; Nessus
 *     Manager has neither, so both are polled through GET /scans/{id}.
 *   - Tenable VM prefers the scan's schedule_uuid as path id; the numeric id works in both.
 *   - Tenable VM scans private addresses only through an internal scanner (settings.scanner_id);
 *     without one the cloud scanner cannot reach the target and the scan completes with no host
 *     for it, which this adapter reports as an error, never as a clean result.
 *   - Nessus Professional/Expert refuse scan creation and launch through the API with HTTP 412
 *     {"error":"API is not available"}.
 *
 * Runs inside the dynamic-provider process: it uses the global fetch, keeps no module state and
 * imports only the pure helpers beside it. The API keys never appear in a message, log line or
 * result: every text that leaves this module goes through `redact`.
 */
import type { Finding, ScanContext, ScanResult, Scanner } from "./types";
import { scanTimeoutError, scannerError, tenableSeverity } from "./types";
import type { Backoff } from "../polling";
import { backoffDelay, formatDuration, pollUntil } from "../polling";

export interface TenableSettings {
    /** Base URL of the API, e.g. https://nessus.example:8834 or https://cloud.tenable.com. */
    readonly url: string;
    /** Secret. */
    readonly accessKey: string;
    /** Secret. */
    readonly secretKey: string;
    /** Scan template uuid (or, with policyId, the uuid of the template the policy is based on). */
    readonly templateUuid: string;
    /** A saved scan policy to use instead of the template's defaults. */
    readonly policyId?: number;
    /** First wait between status polls. @default 5000 */
    readonly pollInitialMs?: number;
    /** Longest wait between status polls. @default 60000 */
    readonly pollMaxMs?: number;
    /** Longest wait for any single HTTP answer (also capped by the scan deadline). @default 30000 */
    readonly requestTimeoutMs?: number;
}

/** Consecutive transient failures (HTTP 429/5xx, network, per-request timeout) tolerated while reading results. */
const TRANSIENT_RETRIES = 3;
/** The shortest time a request is given even at the deadline (so the final look of pollUntil can land). */
const MIN_REQUEST_MS = 1000;

type Outcome =
    | { readonly ok: true; readonly value: unknown }
    /** deadline: the request was cut short by the scan deadline; transient: worth retrying while polling. */
    | { readonly ok: false; readonly kind: "deadline" | "transient" | "fatal"; readonly message: string };

interface Connection {
    readonly base: string;
    readonly origin: string;
    readonly headers: Readonly<Record<string, string>>;
    readonly requestTimeoutMs: number;
    readonly ctx: ScanContext;
    redact(text: string): string;
}

export function tenableScanner(settings: TenableSettings): Scanner {
    return {
        kind: "tenable",
        scan: (context: ScanContext) => scanWithTenable(settings, context),
    };
}

/** Replaces the keys (raw or URL-encoded) and anything shaped like `accessKey=…`/`secretKey=…`. */
function redactSecrets(text: string, secrets: readonly string[]): string {
    let out = text;
    for (const secret of secrets) {
        for (const form of new Set([secret, encodeURIComponent(secret)])) {
            out = out.split(form).join("[redacted]");
        }
    }
    return out.replace(/\b(accessKey|secretKey)(\s*[=:]\s*)[^;\s"'&,}\\]+/gi, "$1$2[redacted]");
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** A positive integer id given as a number or a string of digits. */
function asId(value: unknown): number | undefined {
    if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) {
        return value;
    }
    if (typeof value === "string" && /^\d{1,15}$/.test(value)) {
        return Number(value);
    }
    return undefined;
}

function finiteNumber(value: unknown): number | undefined {
    const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
    return typeof n === "number" && Number.isFinite(n) ? n : undefined;
}

/** An IPv4 or IPv6 address as Tenable writes a host it designates by address (not a DNS name). */
function isAddressLiteral(name: string): boolean {
    return /^\d{1,3}(?:\.\d{1,3}){3}$/.test(name) || (name.includes(":") && /^[0-9a-f:.]+$/i.test(name));
}

/** Scan progress in percent from the hosts' check counters (the target's, or all hosts'), if known. */
function progressPercent(hosts: readonly unknown[], ip: string): number | undefined {
    const records = hosts.map(asRecord).filter((h): h is Record<string, unknown> => h !== undefined);
    const target = records.filter((h) => h.hostname === ip);
    let current = 0;
    let total = 0;
    for (const host of target.length > 0 ? target : records) {
        const c = finiteNumber(host.scanprogresscurrent);
        const t = finiteNumber(host.scanprogresstotal);
        if (c !== undefined && t !== undefined && t > 0) {
            current += Math.min(Math.max(c, 0), t);
            total += t;
        }
    }
    return total > 0 ? Math.round((100 * current) / total) : undefined;
}

function excerpt(text: string, redact: (text: string) => string): string {
    const clean = redact(text).replace(/\s+/g, " ").trim();
    return clean === "" ? "(empty body)" : JSON.stringify(clean.slice(0, 200));
}

async function call(conn: Connection, method: "GET" | "POST", path: string, body?: unknown): Promise<Outcome> {
    const { ctx } = conn;
    const what = `${method} ${path}`;
    const remaining = ctx.deadline - ctx.now();
    // The deadline caps every request, so a silent server cannot hold the provider past it.
    const deadlineBound = remaining < conn.requestTimeoutMs;
    const timeoutMs = Math.max(Math.min(MIN_REQUEST_MS, conn.requestTimeoutMs), Math.min(conn.requestTimeoutMs, remaining));
    let status: number;
    let text: string;
    try {
        const response = await fetch(conn.base + path, {
            method,
            headers: conn.headers,
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(timeoutMs),
            // A redirect would carry X-ApiKeys to wherever it points: never follow one.
            redirect: "manual",
        });
        status = response.status;
        text = await response.text();
    } catch (error) {
        const name = (error as { name?: unknown } | null)?.name;
        if (name === "TimeoutError" || name === "AbortError") {
            return deadlineBound
                ? { ok: false, kind: "deadline", message: `Tenable did not answer ${what} before the scan deadline.` }
                : { ok: false, kind: "transient", message: `Tenable did not answer ${what} within ${timeoutMs / 1000} s.` };
        }
        const cause = (error as { cause?: { message?: unknown } } | null)?.cause?.message ?? (error as { message?: unknown } | null)?.message;
        const reason = typeof cause === "string" && cause !== "" ? cause : String(error);
        return { ok: false, kind: "transient", message: conn.redact(`Could not reach Tenable at ${conn.origin} (${what}): ${reason}.`) };
    }

    if (status >= 200 && status < 300) {
        try {
            return { ok: true, value: JSON.parse(text) as unknown };
        } catch {
            return { ok: false, kind: "fatal", message: `Tenable answered with an unexpected, non-JSON response to ${what}: ${excerpt(text, conn.redact)}.` };
        }
    }
    if (status === 401 || status === 403) {
        // Never the body: some servers echo the header they rejected.
        return { ok: false, kind: "fatal", message: `Tenable rejected the API keys (HTTP ${status}) on ${what}.` };
    }
    if (status === 412 && method === "POST") {
        return {
            ok: false,
            kind: "fatal",
            message:
                `Tenable refused ${what} with HTTP 412 (${excerpt(text, conn.redact)}): Nessus Professional and Nessus Expert ` +
                "do not allow creating or launching scans through the API. Use Nessus Manager or Tenable Vulnerability Management.",
        };
    }
    if (status >= 300 && status < 400) {
        return {
            ok: false,
            kind: "fatal",
            message: `Tenable answered HTTP ${status} (a redirect, not followed so the API keys go nowhere else) to ${what}: check the scanner URL.`,
        };
    }
    const kind = status === 429 || status >= 500 ? "transient" : "fatal";
    return { ok: false, kind, message: `Tenable answered HTTP ${status} to ${what}: ${excerpt(text, conn.redact)}.` };
}

async function scanWithTenable(settings: TenableSettings, ctx: ScanContext): Promise<ScanResult> {
    const secrets = [settings.accessKey, settings.secretKey].filter((s): s is string => typeof s === "string" && s !== "");
    const redact = (text: string) => redactSecrets(text, secrets);
    const fail = (message: string) => scannerError(redact(message));
    const log = (line: string) => ctx.log(redact(line));

    // Validate without ever echoing the keys.
    for (const field of ["accessKey", "secretKey", "templateUuid"] as const) {
        const value = settings[field];
        if (typeof value !== "string" || value === "") {
            throw fail(`The Tenable scanner needs \`scanner.${field}\`.`);
        }
        // A character that cannot go in the header would make fetch throw a message quoting the value.
        if (field !== "templateUuid" && !/^[\x21-\x3a\x3c-\x7e]+$/.test(value)) {
            throw fail(`\`scanner.${field}\` contains characters that cannot be sent in an HTTP header.`);
        }
    }
    if (settings.policyId !== undefined && (!Number.isSafeInteger(settings.policyId) || settings.policyId < 1)) {
        throw fail(`\`scanner.policyId\` must be a positive whole number, not ${JSON.stringify(settings.policyId)}.`);
    }
    let origin: string;
    try {
        const parsed = new URL(settings.url);
        if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
            throw new Error("not http(s)");
        }
        origin = parsed.origin;
    } catch {
        throw fail("`scanner.url` must be the http(s) URL of Nessus Manager or Tenable Vulnerability Management.");
    }

    const conn: Connection = {
        base: settings.url.replace(/\/+$/, ""),
        origin,
        headers: {
            "X-ApiKeys": `accessKey=${settings.accessKey}; secretKey=${settings.secretKey}`,
            "Content-Type": "application/json",
            Accept: "application/json",
        },
        requestTimeoutMs: settings.requestTimeoutMs ?? 30_000,
        ctx,
        redact,
    };
    const backoff: Backoff = { initialMs: settings.pollInitialMs ?? 5_000, maxMs: settings.pollMaxMs ?? 60_000 };
    const ip = ctx.target.privateIp;
    const startedAt = ctx.now();
    const elapsed = () => formatDuration(ctx.now() - startedAt);
    const unexpected = (what: string) => fail(`Tenable answered with an unexpected ${what}.`);

    // 1. Create: a new scan per promotion, so its status and hosts can only be this run's.
    const scanSettings: Record<string, unknown> = {
        name: `airlock ${ctx.target.instanceId} ${new Date(startedAt).toISOString()}`,
        text_targets: ip,
        enabled: false,
        launch_now: false,
    };
    if (settings.policyId !== undefined) {
        scanSettings.policy_id = settings.policyId;
    }
    const created = await call(conn, "POST", "/scans", { uuid: settings.templateUuid, settings: scanSettings });
    if (!created.ok) {
        if (created.kind === "deadline") {
            throw scanTimeoutError(redact(`Tenable did not create the scan of ${ip} before the deadline (after ${elapsed()}).`));
        }
        throw fail(`Could not create the Tenable scan of ${ip}: ${created.message}`);
    }
    const id = asId(asRecord(asRecord(created.value)?.scan)?.id);
    if (id === undefined) {
        throw unexpected("answer to POST /scans (no scan.id)");
    }
    const scanId = String(id);

    // 2. Launch. Neither creation nor launch is retried: a retried POST could start a second scan.
    const launched = await call(conn, "POST", `/scans/${scanId}/launch`, {});
    if (!launched.ok) {
        if (launched.kind === "deadline") {
            throw scanTimeoutError(redact(`Tenable scan ${scanId} of ${ip} was not launched before the deadline (after ${elapsed()}).`));
        }
        throw fail(`Could not launch Tenable scan ${scanId}: ${launched.message}`);
    }
    const scanUuid = asRecord(launched.value)?.scan_uuid;
    if (typeof scanUuid !== "string" || scanUuid === "") {
        throw unexpected(`answer to POST /scans/${scanId}/launch (no scan_uuid)`);
    }
    log(`tenable scan ${scanId}: launched against ${ip}`);

    // 3. Poll until completed, failed or out of time.
    let lastLine = "";
    let lastStatus = "launched";
    let failures = 0;
    const polled = await pollUntil<readonly unknown[]>(ctx, ctx.deadline, backoff, async () => {
        const answer = await call(conn, "GET", `/scans/${scanId}`);
        if (!answer.ok) {
            if (answer.kind === "deadline") {
                return { done: false };
            }
            if (answer.kind === "transient" && failures < TRANSIENT_RETRIES) {
                failures += 1;
                log(`tenable scan ${scanId}: ${answer.message} Retrying (${failures} of ${TRANSIENT_RETRIES}).`);
                return { done: false };
            }
            throw fail(`Could not follow Tenable scan ${scanId}: ${answer.message}`);
        }
        failures = 0;
        const details = asRecord(answer.value);
        const status = asRecord(details?.info)?.status;
        if (typeof status !== "string" || status === "") {
            throw unexpected(`answer to GET /scans/${scanId} (no info.status)`);
        }
        const rawHosts = details?.hosts;
        if (rawHosts !== undefined && rawHosts !== null && !Array.isArray(rawHosts)) {
            throw unexpected(`answer to GET /scans/${scanId} (hosts is not a list)`);
        }
        const hosts: readonly unknown[] = Array.isArray(rawHosts) ? rawHosts : [];
        lastStatus = status;
        const percent = progressPercent(hosts, ip);
        const line = `tenable scan ${scanId}: ${status}${percent === undefined ? "" : ` ${percent}%`}`;
        if (line !== lastLine) {
            lastLine = line;
            log(line);
        }
        switch (status) {
            case "completed":
                return { done: true, value: hosts };
            case "aborted":
            case "canceled":
            case "cancelled":
            case "stopped":
            case "imported":
                throw fail(
                    `Tenable scan ${scanId} of ${ip} ended with status "${status}" instead of completing, so it cannot vouch for the instance. ` +
                        "The scan's notes in Tenable give the cause.",
                );
            default:
                // empty, pending, initializing, running, processing, publishing, pausing, paused,
                // resuming, stopping, and any status Tenable adds later: keep waiting.
                return { done: false };
        }
    });
    if (polled.value === undefined) {
        throw scanTimeoutError(
            redact(`Tenable scan ${scanId} of ${ip} did not complete within ${elapsed()} (last status "${lastStatus}", ${polled.polls} polls).`),
        );
    }

    // 4. The target's own results. A scan that never reached it proves nothing. The target may
    //    appear in several host records (Tenable lists it once per way it reached it): all count.
    //    A record under a DNS name (the scan's "Designate hosts by their DNS name" report setting)
    //    may be the target or not: its findings cannot be ignored nor attributed, so fail closed.
    const dnsNamed = polled.value
        .map((h) => asRecord(h)?.hostname)
        .find((name): name is string => typeof name === "string" && name !== ip && !isAddressLiteral(name));
    if (dnsNamed !== undefined) {
        const shown = JSON.stringify(dnsNamed.length > 100 ? `${dnsNamed.slice(0, 97)}...` : dnsNamed);
        throw fail(
            `Tenable scan ${scanId} reported a host under the name ${shown} instead of its address, so Airlock cannot tell whether its results are ${ip}'s and cannot vouch for the instance. ` +
                `Turn off "Designate hosts by their DNS name" in the scan template's report settings, so that hosts are reported by IP address.`,
        );
    }
    const records = polled.value.map(asRecord).filter((h): h is Record<string, unknown> => h?.hostname === ip);
    if (records.length === 0) {
        throw fail(
            `Tenable scan ${scanId} completed, but the scan did not reach ${ip} (no host result for it), so it cannot vouch for the instance. ` +
                "Check that the scanner can route to the instance and that the remediation security group admits it.",
        );
    }
    const hostIds: number[] = [];
    for (const record of records) {
        const hostId = asId(record.host_id);
        if (hostId === undefined) {
            throw unexpected(`answer to GET /scans/${scanId} (no host_id for ${ip})`);
        }
        if (!hostIds.includes(hostId)) {
            hostIds.push(hostId);
        }
    }

    const readHost = async (hostId: number): Promise<{ path: string; details: unknown }> => {
        const hostPath = `/scans/${scanId}/hosts/${hostId}`;
        for (let attempt = 0; ; attempt++) {
            const answer = await call(conn, "GET", hostPath);
            if (answer.ok) {
                return { path: hostPath, details: answer.value };
            }
            const remaining = ctx.deadline - ctx.now();
            if (answer.kind === "deadline" || (answer.kind === "transient" && remaining <= 0)) {
                throw scanTimeoutError(redact(`Tenable scan ${scanId} completed, but its results for ${ip} could not be read within ${elapsed()}.`));
            }
            if (answer.kind !== "transient" || attempt >= TRANSIENT_RETRIES) {
                throw fail(`Could not read Tenable scan ${scanId}'s results for ${ip}: ${answer.message}`);
            }
            log(`tenable scan ${scanId}: ${answer.message} Retrying (${attempt + 1} of ${TRANSIENT_RETRIES}).`);
            await ctx.sleep(Math.min(remaining, backoffDelay(attempt, backoff, ctx.random())));
        }
    };

    const all: Finding[] = [];
    for (const hostId of hostIds) {
        const { path: hostPath, details } = await readHost(hostId);
        const vulnerabilities = asRecord(details)?.vulnerabilities;
        if (!Array.isArray(vulnerabilities)) {
            throw unexpected(`answer to GET ${hostPath} (no vulnerabilities list)`);
        }
        vulnerabilities.forEach((entry, index) => {
            const v = asRecord(entry);
            const pluginId = asId(v?.plugin_id);
            const title = v?.plugin_name;
            if (v === undefined || pluginId === undefined || typeof title !== "string" || title === "") {
                throw unexpected(`vulnerability entry #${index + 1} from GET ${hostPath} (no plugin_id or plugin_name)`);
            }
            // Host details carry no CVEs in either product; use them when an entry does have them.
            const rawCves = Array.isArray(v.cve) ? v.cve : typeof v.cve === "string" ? [v.cve] : [];
            const cves = rawCves.filter((c): c is string => typeof c === "string" && c !== "");
            all.push({ id: `tenable-plugin-${pluginId}`, title, severity: tenableSeverity(v.severity), cves });
        });
    }
    const list = mergeFindings(all);
    const recordsNote = hostIds.length > 1 ? ` (${hostIds.length} host records)` : "";
    log(`tenable scan ${scanId}: ${list.length} finding${list.length === 1 ? "" : "s"} on ${ip}${recordsNote}`);
    return { scanId, findings: list, warnings: [] };
}

/**
 * The findings of all the target's host records, in the order first seen. The same plugin at the
 * same severity on several records is one finding (with the CVEs of all, each once); the same
 * plugin at another severity is another finding, so the higher rating always counts.
 */
export function mergeFindings(findings: readonly Finding[]): Finding[] {
    const byKey = new Map<string, { id: string; title: string; severity: Finding["severity"]; cves: string[] }>();
    for (const finding of findings) {
        const key = JSON.stringify([finding.id, finding.severity]);
        const known = byKey.get(key);
        if (known === undefined) {
            byKey.set(key, { id: finding.id, title: finding.title, severity: finding.severity, cves: [...new Set(finding.cves)] });
            continue;
        }
        for (const cve of finding.cves) {
            if (!known.cves.includes(cve)) {
                known.cves.push(cve);
            }
        }
    }
    return [...byKey.values()];
}
