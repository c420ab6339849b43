/**
 * The audit's JSON report: exactly the AuditResult model (audit/findings.ts), described by
 * audit/report/schema.json (JSON Schema draft 2020-12; README "Audit").
 *
 * Stable output, so that two runs over the same account diff cleanly:
 * - keys in a fixed order (the order of the model's declaration), at every level of the model;
 * - inside `evidence`, object keys sorted by code unit (arrays keep their order; integer-like keys come first,
 *   in numeric order, as JavaScript orders them);
 * - properties that are undefined are left out; properties the model does not declare are not written;
 * - targets and findings in the order of the result (the producer's order), 2-space indent, final newline.
 */
import type { AuditResult, Finding, TargetOutcome } from "../findings";

/** Renders the result as the JSON report (see schema.json). */
export function renderJson(result: AuditResult): string {
    return `${JSON.stringify(toJsonReport(result), null, 2)}\n`;
}

/** The JSON report as a value: the model, in the documented key order, nothing else. */
export function toJsonReport(result: AuditResult): AuditResult {
    return {
        schemaVersion: result.schemaVersion,
        startedAt: result.startedAt,
        finishedAt: result.finishedAt,
        targets: result.targets.map(targetJson),
        findings: result.findings.map(findingJson),
    };
}

function targetJson(t: TargetOutcome): TargetOutcome {
    return dropUndefined({
        target: t.target,
        accountId: t.accountId,
        state: t.state,
        reason: t.reason,
        checks: [...t.checks],
        regions: [...t.regions],
    });
}

function findingJson(f: Finding): Finding {
    return dropUndefined({
        target: f.target,
        accountId: f.accountId,
        region: f.region,
        check: f.check,
        resource: f.resource,
        status: f.status,
        severity: f.severity,
        title: f.title,
        evidence: sortedKeys(f.evidence ?? {}) as Finding["evidence"],
    });
}

function dropUndefined<T extends object>(value: T): T {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** A copy with every object's keys sorted; arrays keep their order; toJSON honoured as JSON.stringify would. */
export function sortedKeys(value: unknown): unknown {
    if (value !== null && typeof value === "object" && typeof (value as { toJSON?: unknown }).toJSON === "function") {
        return sortedKeys((value as { toJSON: () => unknown }).toJSON());
    }
    if (Array.isArray(value)) {
        return value.map(sortedKeys);
    }
    if (value !== null && typeof value === "object") {
        const entries = Object.keys(value)
            .sort()
            .map((k) => [k, sortedKeys((value as Record<string, unknown>)[k])] as const);
        return Object.fromEntries(entries);
    }
    return value;
}
