/**
 * Inputs and outputs of the scan-and-promote resource, and the pure logic the provider runs
 * before touching AWS (check and diff). Everything here is plain data: it is serialized into the
 * dynamic provider and must import nothing at module load.
 */

export const PHASES = ["remediation", "production"] as const;
export type Phase = (typeof PHASES)[number];

/** Vulnerability severities, lowest first (the config schema re-exports these). */
export const PROMOTION_SEVERITIES = ["info", "low", "medium", "high", "critical"] as const;
export const PROMOTION_SCANNER_KINDS = ["tenable", "inspector", "none"] as const;

/** Name of the inline role policy the promotion resource owns (launch, then production rights). */
export const PHASE_POLICY_NAME = "airlock-phase";

/** IAM managed policy ARNs: AWS-managed (`iam::aws:`) or customer-managed (`iam::<account>:`). */
export const MANAGED_POLICY_ARN_PATTERN = /^arn:aws[a-z-]*:iam::(?:aws|\d{12}):policy\/[\w+=,.@/-]+$/;

/** AWS region names, including GovCloud and ISO partitions. */
export const REGION_PATTERN = /^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d$/;

/** Instance names: 1-32 lowercase letters, digits and single hyphens, starting with a letter. */
export const INSTANCE_NAME_PATTERN = /^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){0,31}$/;

/** The value Pulumi substitutes for inputs that are not known yet (during preview). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export interface ScannerInputs {
    readonly kind: string;
    readonly url?: string;
    /** Secret. */
    readonly accessKey?: string;
    /** Secret. */
    readonly secretKey?: string;
    readonly templateUuid?: string;
    readonly policyId?: number;
}

export interface PromotionInputs {
    /** Instance name from config: known at preview, used in every message. */
    readonly instanceName: string;
    readonly region: string;
    /** Optional role the provider assumes for its AWS calls (credentials otherwise come from the standard chain). */
    readonly assumeRoleArn?: string;
    readonly instanceId: string;
    readonly roleName: string;
    readonly phasePolicyName: string;
    /** JSON policy documents (the launch one is a strict superset of the production one). */
    readonly launchPolicy: string;
    readonly productionPolicy: string;
    readonly remediationSecurityGroupIds: readonly string[];
    readonly productionSecurityGroupIds: readonly string[];
    /**
     * The application's managed policies: attached only once a clean scan has shrunk the phase
     * policy to production rights, and detached on demotion (the promotion owns the role's
     * attachments, see promotionFlow.ts). @default none
     */
    readonly managedPolicyArns?: readonly string[];
    readonly scanner: ScannerInputs;
    readonly severityThreshold: string;
    readonly readinessTimeoutSeconds: number;
    readonly scanTimeoutSeconds: number;
    /** Change it to force a rescan of an instance that is otherwise unchanged. */
    readonly rescanTrigger?: string;
}

/** What the resource records. It repeats the non-secret inputs, which diff compares against. */
export interface PromotionOutputs extends Omit<PromotionInputs, "scanner"> {
    /** The scanner settings without its credentials. */
    readonly scanner: Omit<ScannerInputs, "accessKey" | "secretKey">;
    readonly phase: Phase;
    readonly findingCounts: Readonly<Record<string, number>>;
    /** The most severe findings, as "HIGH tenable-plugin-12345: title (CVE-...)". */
    readonly topFindings: readonly string[];
    readonly scanId?: string;
    readonly scannerKind: string;
    readonly startedAt?: string;
    readonly finishedAt?: string;
    readonly promotedAt?: string;
    /** Where the time went in the last promotion (milliseconds). */
    readonly durations?: { readonly readinessMs: number; readonly scanMs: number; readonly totalMs: number };
    /** Why the instance is not in production (empty once promoted). */
    readonly reasons: readonly string[];
    readonly warnings: readonly string[];
}

export interface Failure {
    readonly property: string;
    readonly reason: string;
}

function isUnknown(value: unknown): boolean {
    if (value === UNKNOWN) {
        return true;
    }
    if (Array.isArray(value)) {
        return value.some(isUnknown);
    }
    return false;
}

export interface CheckOptions {
    /**
     * "allow" (check, at preview): values still unknown are skipped, not failed; the engine calls
     * check again with the real values before create. "refuse" (create and update, which must
     * never act on a preview value): an unknown value is a failure naming the property.
     * @default "allow"
     */
    readonly unknowns?: "allow" | "refuse";
}

/** Validates the promotion inputs. Never echoes a scanner secret. */
export function checkPromotionInputs(news: Readonly<Record<string, unknown>>, options: CheckOptions = {}): Failure[] {
    const failures: Failure[] = [];
    const fail = (property: string, reason: string) => failures.push({ property, reason });
    /** True when the value is not known yet (skip its checks); a failure too when unknowns are refused. */
    const unknown = (property: string, value: unknown): boolean => {
        if (!isUnknown(value)) {
            return false;
        }
        if (options.unknowns === "refuse") {
            fail(property, `\`${property}\` is not known yet: the provider cannot act on a value from a preview.`);
        }
        return true;
    };
    const text = (property: string, pattern: RegExp, example: string, required = true) => {
        const value = news[property];
        if (unknown(property, value)) {
            return;
        }
        if (value === undefined || value === null || value === "") {
            if (required) {
                fail(property, `\`${property}\` is required.`);
            }
            return;
        }
        if (typeof value !== "string" || !pattern.test(value)) {
            fail(property, `\`${property}\` must look like ${example}, not ${JSON.stringify(value)}.`);
        }
    };

    text("instanceName", /^[a-z][a-z0-9-]{0,31}$/, '"web-1"');
    text("region", REGION_PATTERN, '"eu-west-1"');
    text("assumeRoleArn", /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/, '"arn:aws:iam::123456789012:role/deployer"', false);
    text("instanceId", /^i-[0-9a-f]{8}(?:[0-9a-f]{9})?$/, '"i-0123456789abcdef0"');
    text("roleName", /^[\w+=,.@-]{1,64}$/, "an IAM role name");
    text("phasePolicyName", /^[\w+=,.@-]{1,128}$/, "an IAM policy name");

    for (const property of ["launchPolicy", "productionPolicy"]) {
        const value = news[property];
        if (unknown(property, value)) {
            continue;
        }
        try {
            const document = JSON.parse(String(value)) as { Statement?: unknown };
            if (!Array.isArray(document.Statement) || document.Statement.length === 0) {
                fail(property, `\`${property}\` must be an IAM policy document with at least one statement.`);
            }
        } catch {
            fail(property, `\`${property}\` must be a JSON IAM policy document.`);
        }
    }

    const groups: Record<string, string[]> = {};
    for (const property of ["remediationSecurityGroupIds", "productionSecurityGroupIds"]) {
        const value = news[property];
        if (unknown(property, value)) {
            continue;
        }
        if (!Array.isArray(value) || value.length === 0) {
            fail(property, `\`${property}\` must list at least one security group id.`);
            continue;
        }
        const bad = value.filter((id) => typeof id !== "string" || !/^sg-[0-9a-f]{8}(?:[0-9a-f]{9})?$/.test(id));
        if (bad.length > 0) {
            fail(property, `\`${property}\` has entries that are not security group ids: ${JSON.stringify(bad)}.`);
            continue;
        }
        groups[property] = value as string[];
    }
    const managed = news.managedPolicyArns;
    if (!unknown("managedPolicyArns", managed) && managed !== undefined && managed !== null) {
        if (!Array.isArray(managed)) {
            fail("managedPolicyArns", "`managedPolicyArns` must be a list of IAM policy ARNs.");
        } else {
            const badArns = managed.filter((arn) => typeof arn !== "string" || !MANAGED_POLICY_ARN_PATTERN.test(arn));
            if (badArns.length > 0) {
                fail("managedPolicyArns", `\`managedPolicyArns\` has entries that are not IAM policy ARNs: ${JSON.stringify(badArns)}.`);
            }
        }
    }

    const overlap = (groups.remediationSecurityGroupIds ?? []).filter((id) => (groups.productionSecurityGroupIds ?? []).includes(id));
    if (overlap.length > 0) {
        fail("productionSecurityGroupIds", `A group cannot be both remediation and production: ${overlap.join(", ")}.`);
    }

    const threshold = news.severityThreshold;
    if (!unknown("severityThreshold", threshold) && !(PROMOTION_SEVERITIES as readonly unknown[]).includes(threshold)) {
        fail("severityThreshold", `\`severityThreshold\` must be one of ${PROMOTION_SEVERITIES.join(", ")}, not ${JSON.stringify(threshold)}.`);
    }

    const scanner = news.scanner;
    if (!unknown("scanner", scanner)) {
        if (typeof scanner !== "object" || scanner === null) {
            fail("scanner", "`scanner` is required.");
        } else {
            const s = scanner as Record<string, unknown>;
            if (!unknown("scanner.kind", s.kind) && !(PROMOTION_SCANNER_KINDS as readonly unknown[]).includes(s.kind)) {
                fail("scanner.kind", `\`scanner.kind\` must be one of ${PROMOTION_SCANNER_KINDS.join(", ")}, not ${JSON.stringify(s.kind)}.`);
            }
            if (s.kind === "tenable") {
                for (const field of ["url", "accessKey", "secretKey", "templateUuid"]) {
                    if (!unknown(`scanner.${field}`, s[field]) && (typeof s[field] !== "string" || s[field] === "")) {
                        // Never echo the value: two of these fields are secrets.
                        fail(`scanner.${field}`, `\`scanner.${field}\` is required for the tenable scanner.`);
                    }
                }
            }
        }
    }

    for (const property of ["readinessTimeoutSeconds", "scanTimeoutSeconds"]) {
        const value = news[property];
        if (!unknown(property, value) && (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 86400)) {
            fail(property, `\`${property}\` must be a whole number of seconds from 1 to 86400, not ${JSON.stringify(value)}.`);
        }
    }
    return failures;
}

/** Inputs whose change means a different instance: the promotion starts over on a new resource. */
export const REPLACE_ON = ["instanceId", "region"] as const;
/** Inputs whose change re-runs the flow in place (rescan, re-evaluate, move groups, rewrite policy). */
export const UPDATE_ON = [
    "instanceName",
    "assumeRoleArn",
    "roleName",
    "phasePolicyName",
    "launchPolicy",
    "productionPolicy",
    "remediationSecurityGroupIds",
    "productionSecurityGroupIds",
    "managedPolicyArns",
    "scanner",
    "severityThreshold",
    "readinessTimeoutSeconds",
    "scanTimeoutSeconds",
    "rescanTrigger",
] as const;

export interface PromotionDiff {
    readonly changes: boolean;
    readonly replaces: string[];
}

/** Scanner settings minus credentials: rotating API keys alone must not trigger a rescan. */
function scannerIdentity(value: unknown): unknown {
    if (typeof value !== "object" || value === null) {
        return value;
    }
    const { accessKey: _a, secretKey: _s, ...rest } = value as Record<string, unknown>;
    return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined && v !== null).sort(([a], [b]) => a.localeCompare(b)));
}

function sameValue(a: unknown, b: unknown): boolean {
    return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/**
 * Which inputs changed, and whether that replaces the resource. `__provider` (the serialized
 * provider code) is deliberately not compared: a new Airlock version alone must not rescan.
 *
 * An instance recorded in remediation (`olds` are the recorded outputs) always has changes, so
 * every `pulumi up` retries it. The engine retries a resource whose create or update failed on its
 * own, but only while it carries the failure: `pulumi refresh` clears that marker (the read
 * succeeds), and without this the quarantined instance would then never be retried.
 */
export function diffPromotion(olds: Readonly<Record<string, unknown>>, news: Readonly<Record<string, unknown>>): PromotionDiff {
    const replaces = REPLACE_ON.filter((k) => !sameValue(olds[k], news[k]));
    const updates = UPDATE_ON.filter((k) =>
        k === "scanner"
            ? !sameValue(scannerIdentity(olds[k]), scannerIdentity(news[k]))
            : k === "managedPolicyArns"
              ? // A state recorded before the promotion owned the attachments has none: the same as an empty list.
                !sameValue(olds[k] ?? [], news[k] ?? [])
              : !sameValue(olds[k], news[k]),
    );
    const quarantined = olds.phase !== undefined && olds.phase !== "production";
    return { changes: quarantined || replaces.length + updates.length > 0, replaces: [...replaces] };
}
