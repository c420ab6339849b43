/**
 * What every scanner adapter implements, and the pure severity logic the promotion decision rests
 * on. Adapters run inside the dynamic-provider process: they import SDKs inside their methods and
 * capture nothing that cannot be serialized.
 */
import { AirlockError, airlockError, hasErrorKind } from "../errors";
import { PROMOTION_SEVERITIES } from "../promotionInputs";

export type Severity = (typeof PROMOTION_SEVERITIES)[number];

export interface Finding {
    /** Scanner's identifier: Tenable plugin id, Inspector finding ARN. */
    readonly id: string;
    readonly title: string;
    readonly severity: Severity;
    /** CVE ids when the scanner knows them. */
    readonly cves: readonly string[];
}

export interface ScanTarget {
    readonly instanceId: string;
    readonly instanceArn: string;
    readonly privateIp: string;
    readonly region: string;
    readonly accountId: string;
}

/** Everything a scan may use from its surroundings; injected so tests control time. */
export interface ScanContext {
    readonly target: ScanTarget;
    /** Epoch milliseconds after which the scan must give up (throw scanTimeoutError(...)). */
    readonly deadline: number;
    /** One progress line for `pulumi up`'s output (never a secret). */
    log(line: string): void;
    sleep(ms: number): Promise<void>;
    now(): number;
    /** Uniform in [0, 1): jitter source. */
    random(): number;
}

export interface ScanResult {
    readonly scanId: string;
    readonly findings: readonly Finding[];
    /** Things a user should know even when the scan is clean (e.g. "no scan was run"). */
    readonly warnings: readonly string[];
}

export interface Scanner {
    readonly kind: string;
    /** Runs (or reads) a scan of the target. Throws scannerError / scanTimeoutError; never returns a partial result. */
    scan(context: ScanContext): Promise<ScanResult>;
}

/**
 * The scanner failed or answered something unusable (kind "scanner"), or ran out of time (kind
 * "scan-timeout"). The message is safe to show (no secrets). A plain Error told apart by its
 * `airlockKind`, never by `instanceof`: see ../errors.ts.
 */
export type ScannerError = AirlockError<"scanner" | "scan-timeout">;

export function scannerError(message: string): ScannerError {
    return airlockError("scanner", "ScannerError", message);
}

export function scanTimeoutError(message: string): ScannerError {
    return airlockError("scan-timeout", "ScanTimeoutError", message);
}

/** A scanner failure of either kind (a time-out included). */
export function isScannerError(err: unknown): err is ScannerError {
    return hasErrorKind(err, "scanner", "scan-timeout");
}

export function isScanTimeout(err: unknown): err is ScannerError {
    return hasErrorKind(err, "scan-timeout");
}

const RANK: Readonly<Record<Severity, number>> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
/** Where an unknown severity sorts: above critical, so that it is shown first. */
const UNKNOWN_RANK = 5;

/** True for the five severities the flow knows (lowercase, exactly). */
export function isSeverity(value: unknown): value is Severity {
    return typeof value === "string" && Object.prototype.hasOwnProperty.call(RANK, value);
}

function rankOf(severity: unknown): number {
    return isSeverity(severity) ? RANK[severity] : UNKNOWN_RANK;
}

/**
 * True when a finding of `severity` blocks promotion under `threshold` (at the threshold and
 * above). Fails closed: a severity or a threshold the flow does not know (e.g. "CRITICAL",
 * "urgent") always blocks.
 */
export function blocks(severity: Severity, threshold: Severity): boolean {
    if (!isSeverity(severity) || !isSeverity(threshold)) {
        return true;
    }
    return RANK[severity] >= RANK[threshold];
}

/** Tenable/Nessus severity 0-4 (info, low, medium, high, critical). Anything else is an error. */
export function tenableSeverity(value: unknown): Severity {
    const index = typeof value === "string" && /^[0-4]$/.test(value) ? Number(value) : value;
    if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index > 4) {
        throw scannerError(`Tenable returned an unknown severity ${JSON.stringify(value)}.`);
    }
    return PROMOTION_SEVERITIES[index]!;
}

/**
 * Amazon Inspector severity. UNTRIAGED means Inspector has not rated it yet: treated as critical,
 * so an unrated finding can never let an instance through.
 */
export function inspectorSeverity(value: unknown): Severity {
    switch (value) {
        case "INFORMATIONAL":
            return "info";
        case "LOW":
            return "low";
        case "MEDIUM":
            return "medium";
        case "HIGH":
            return "high";
        case "CRITICAL":
        case "UNTRIAGED":
            return "critical";
        default:
            throw scannerError(`Amazon Inspector returned an unknown severity ${JSON.stringify(value)}.`);
    }
}

/** Findings per severity (all five keys), plus `unknown` when a finding's severity is not one of them. */
export function countBySeverity(findings: readonly Finding[]): Record<string, number> {
    const counts: Record<string, number> = { info: 0, low: 0, medium: 0, high: 0, critical: 0 };
    for (const finding of findings) {
        const key = isSeverity(finding.severity) ? finding.severity : "unknown";
        counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
}

/** The findings that block, most severe first, unknown severities before all (stable within a severity). */
export function blockingFindings(findings: readonly Finding[], threshold: Severity): Finding[] {
    return findings
        .map((finding, index) => ({ finding, index }))
        .filter(({ finding }) => blocks(finding.severity, threshold))
        .sort((a, b) => rankOf(b.finding.severity) - rankOf(a.finding.severity) || a.index - b.index)
        .map(({ finding }) => finding);
}
