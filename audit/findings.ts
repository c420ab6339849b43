/**
 * The audit's result model, shared by every check, the reports (HTML, JSON, OCSF) and the exit code.
 * Pure types and functions: no AWS, no I/O. The JSON report is this model as written here (README
 * "Audit", JSON schema), so renaming a field is a breaking change of a documented format.
 */

/** The checks the audit runs, by the id the command line and the reports use. */
export const CHECK_IDS = ["group-policies", "config-rules", "root-and-users", "public-buckets", "unmanaged-instances", "cloudtrail-activity"] as const;
export type CheckId = (typeof CHECK_IDS)[number];

/**
 * What a target runs when it names no checks: every check but cloudtrail-activity, which needs a
 * trail bucket to read (an Airlock target's `cloudTrail`) and the records database to keep it in.
 */
export const DEFAULT_CHECK_IDS: readonly CheckId[] = CHECK_IDS.filter((c) => c !== "cloudtrail-activity");

/** pass: checked and fine; fail: checked and found wanting; error: could not be checked (never a pass). */
export type Status = "pass" | "fail" | "error";

/** Lowest first. */
export const SEVERITIES = ["informational", "low", "medium", "high", "critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

/** One thing the audit looked at, and what it found. */
export interface Finding {
    /** The target's name, as in the targets file. */
    readonly target: string;
    /** The account audited (undefined when the target could not be reached at all). */
    readonly accountId?: string;
    /** The region checked, or "global" for IAM and other account-wide things. */
    readonly region: string;
    readonly check: CheckId;
    /** What the finding is about: an ARN where there is one, else an id or name ("root", a bucket name). */
    readonly resource: string;
    readonly status: Status;
    readonly severity: Severity;
    /** One line a person reads first, e.g. "User alice is in no group that applies Force_MFA". */
    readonly title: string;
    /** The facts behind it (documents, values, dates), plain JSON; never secrets or key material. */
    readonly evidence: Readonly<Record<string, unknown>>;
}

/** Whether a target was audited at all, and why not. */
export interface TargetOutcome {
    readonly target: string;
    readonly accountId?: string;
    /** audited: every requested check ran (its findings may still be failures or errors). */
    readonly state: "audited" | "unaudited";
    /** Why it was not audited (credentials, access denied, throttled past retries), when unaudited. */
    readonly reason?: string;
    readonly checks: readonly CheckId[];
    readonly regions: readonly string[];
}

export interface AuditResult {
    /** The schema version of this document (the JSON report). */
    readonly schemaVersion: 1;
    readonly startedAt: string;
    readonly finishedAt: string;
    readonly targets: readonly TargetOutcome[];
    readonly findings: readonly Finding[];
}

/** Exit codes (README): 0 clean, 1 findings, 2 some target or check could not be audited. */
export const EXIT_CLEAN = 0;
export const EXIT_FINDINGS = 1;
export const EXIT_UNAUDITED = 2;

/** The command's exit code for a result: an unaudited target or an errored check wins over failures. */
export function exitCodeOf(result: Pick<AuditResult, "targets" | "findings">): number {
    if (result.targets.some((t) => t.state === "unaudited") || result.findings.some((f) => f.status === "error")) {
        return EXIT_UNAUDITED;
    }
    return result.findings.some((f) => f.status === "fail") ? EXIT_FINDINGS : EXIT_CLEAN;
}

/** Red/amber/green of one target × check, for the summary: red = a high or critical failure or an error. */
export type Rag = "red" | "amber" | "green";

export function ragOf(findings: readonly Finding[], outcome?: TargetOutcome): Rag {
    if (outcome?.state === "unaudited" || findings.some((f) => f.status === "error")) {
        return "red";
    }
    const failures = findings.filter((f) => f.status === "fail");
    if (failures.some((f) => f.severity === "high" || f.severity === "critical")) {
        return "red";
    }
    return failures.length > 0 ? "amber" : "green";
}
