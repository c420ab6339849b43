/**
 * The audit's findings as OCSF events, for SIEMs (--format ocsf).
 *
 * One OCSF 1.3.0 "Compliance Finding" (class_uid 2003, category "Findings" 2) per finding: 1.3.0 is the
 * first version whose Compliance Finding carries `resources` (an array); the events use nothing removed or
 * changed since, up to 1.8.0. Each event:
 * - activity_id 1 (Create) and status_id 1 (New): every run reports each finding afresh, as CSPM tools do;
 *   `finding_info.uid` is stable across runs so that a SIEM de-duplicates and tracks the same finding;
 * - `finding_info.uid` = "airlock:" + SHA-256 of (target, region, check, resource, title): the same thing
 *   found again in a later run gets the same uid; the region is part of it so that the same resource name
 *   checked in two regions (a Config rule, an account-level setting) gives two findings, not one; titles
 *   therefore name thresholds, never counts or ages that move from run to run (those are in the evidence);
 * - `compliance.status_id`/`status`/`status_code`: pass → 1 "Pass", fail → 3 "Fail", error → 99 "Error"
 *   (OCSF's "Other", named by the source: the check could not run; never a pass);
 * - `severity_id`: informational 1, low 2, medium 3, high 4, critical 5;
 * - `time`: when the run finished, in milliseconds since the epoch (timezone_offset 0);
 * - `cloud` {provider "AWS", account {uid, type "AWS Account"}, region} (the account is per event, as
 *   OCSF's resource_details has no `cloud` of its own), `resources` [{uid, name, type, region, cloud_partition}];
 * - `unmapped.airlock`: the finding as in the JSON report (target, check, region, status, evidence).
 *
 * A target that could not be audited also gives events: one per check it asked for and has no finding
 * for, with compliance status "Error" and severity high ("Target … could not be audited"; the reason in
 * `compliance.status_detail`), so that a SIEM sees the gap rather than silence.
 *
 * Output: a JSON array (pretty-printed) by default; NDJSON (one compact event per line) with `ndjson: true`,
 * for log shippers that read one event per line.
 */
import { createHash } from "node:crypto";
import type { AuditResult, CheckId, Finding, Severity, Status } from "../findings";
import { sortedKeys } from "./json";

export const OCSF_VERSION = "1.3.0";
export const COMPLIANCE_FINDING_CLASS_UID = 2003;
export const FINDINGS_CATEGORY_UID = 2;
const ACTIVITY_CREATE = 1;
const FINDING_STATUS_NEW = 1;
const AWS_ACCOUNT_TYPE_ID = 10;
/** The standard named in compliance.standards: Airlock's own checks (README "Audit"). */
export const AIRLOCK_STANDARD = "Airlock guardrails";

export const OCSF_SEVERITY: Readonly<Record<Severity, { readonly id: number; readonly caption: string }>> = {
    informational: { id: 1, caption: "Informational" },
    low: { id: 2, caption: "Low" },
    medium: { id: 3, caption: "Medium" },
    high: { id: 4, caption: "High" },
    critical: { id: 5, caption: "Critical" },
};

export const OCSF_COMPLIANCE_STATUS: Readonly<Record<Status, { readonly id: number; readonly caption: string }>> = {
    pass: { id: 1, caption: "Pass" },
    fail: { id: 3, caption: "Fail" },
    error: { id: 99, caption: "Error" },
};

export interface OcsfOptions {
    /** One compact event per line instead of a JSON array. */
    readonly ndjson?: boolean;
    /** metadata.product.version, e.g. the package's version. */
    readonly productVersion?: string;
}

export interface OcsfResource {
    readonly uid: string;
    readonly name: string;
    readonly type?: string;
    readonly region?: string;
    readonly cloud_partition?: string;
}

export interface OcsfComplianceFinding {
    readonly class_uid: 2003;
    readonly class_name: "Compliance Finding";
    readonly category_uid: 2;
    readonly category_name: "Findings";
    readonly activity_id: 1;
    readonly activity_name: "Create";
    readonly type_uid: 200301;
    readonly type_name: "Compliance Finding: Create";
    readonly severity_id: number;
    readonly severity: string;
    readonly status_id: 1;
    readonly status: "New";
    readonly time: number;
    readonly timezone_offset: 0;
    readonly message: string;
    readonly metadata: {
        readonly version: string;
        readonly product: { readonly name: "Airlock"; readonly vendor_name: "Airlock"; readonly version?: string };
        readonly profiles: readonly ["cloud"];
    };
    readonly cloud: {
        readonly provider: "AWS";
        readonly account?: { readonly uid: string; readonly type: "AWS Account"; readonly type_id: 10 };
        readonly region?: string;
    };
    readonly finding_info: {
        readonly uid: string;
        readonly title: string;
        readonly desc: string;
        readonly types: readonly string[];
    };
    readonly compliance: {
        readonly standards: readonly string[];
        readonly control: string;
        readonly status_id: number;
        readonly status: string;
        readonly status_code: Status;
        readonly status_detail?: string;
    };
    readonly resources: readonly OcsfResource[];
    readonly unmapped: {
        readonly airlock: {
            readonly target: string;
            readonly check: string;
            readonly region: string;
            readonly status: Status;
            readonly evidence: unknown;
        };
    };
}

/** Renders every finding as an OCSF Compliance Finding: a JSON array, or NDJSON with `ndjson: true`. */
export function renderOcsf(result: AuditResult, options: OcsfOptions = {}): string {
    const events = toOcsf(result, options);
    if (options.ndjson) {
        return events.map((e) => `${JSON.stringify(e)}\n`).join("");
    }
    return `${JSON.stringify(events, null, 2)}\n`;
}

/** The events renderOcsf writes, as values. */
export function toOcsf(result: AuditResult, options: Pick<OcsfOptions, "productVersion"> = {}): OcsfComplianceFinding[] {
    const time = Date.parse(result.finishedAt);
    if (!Number.isFinite(time)) {
        throw new Error(`OCSF needs the run's finish time: finishedAt ${JSON.stringify(result.finishedAt)} is not a date`);
    }
    const events = result.findings.map((f) => toEvent(f, time, options.productVersion));
    for (const t of result.targets) {
        if (t.state !== "unaudited") continue;
        for (const check of t.checks) {
            if (result.findings.some((f) => f.target === t.target && f.check === check)) continue;
            const gap: Finding = {
                target: t.target,
                ...(t.accountId === undefined ? {} : { accountId: t.accountId }),
                region: "global",
                check,
                resource: t.accountId ?? t.target,
                status: "error",
                severity: "high",
                title: `Target ${t.target} could not be audited`,
                evidence: { reason: t.reason ?? "no reason given" },
            };
            events.push(toEvent(gap, time, options.productVersion, t.reason ?? "no reason given"));
        }
    }
    return events;
}

/** The stable id of a finding across runs: "airlock:" + hex SHA-256 of (target, region, check, resource, title). */
export function findingUid(f: Pick<Finding, "target" | "region" | "check" | "resource" | "title">): string {
    const digest = createHash("sha256")
        .update(JSON.stringify([f.target, f.region, f.check, f.resource, f.title]))
        .digest("hex");
    return `airlock:${digest}`;
}

function toEvent(f: Finding, time: number, productVersion: string | undefined, statusDetail?: string): OcsfComplianceFinding {
    const severity = OCSF_SEVERITY[f.severity];
    const compliance = OCSF_COMPLIANCE_STATUS[f.status];
    const region = f.region === "global" ? undefined : f.region;
    return {
        class_uid: 2003,
        class_name: "Compliance Finding",
        category_uid: 2,
        category_name: "Findings",
        activity_id: ACTIVITY_CREATE,
        activity_name: "Create",
        type_uid: 200301,
        type_name: "Compliance Finding: Create",
        severity_id: severity.id,
        severity: severity.caption,
        status_id: FINDING_STATUS_NEW,
        status: "New",
        time,
        timezone_offset: 0,
        message: f.title,
        metadata: {
            version: OCSF_VERSION,
            product: { name: "Airlock", vendor_name: "Airlock", ...(productVersion ? { version: productVersion } : {}) },
            profiles: ["cloud"],
        },
        cloud: {
            provider: "AWS",
            ...(f.accountId ? { account: { uid: f.accountId, type: "AWS Account" as const, type_id: AWS_ACCOUNT_TYPE_ID } } : {}),
            ...(region ? { region } : {}),
        },
        finding_info: {
            uid: findingUid(f),
            title: f.title,
            desc:
                `${f.title}. Check ${f.check} on target ${f.target}` +
                `${f.accountId ? ` (account ${f.accountId})` : ""}, region ${f.region}, resource ${f.resource}: ${f.status}.`,
            types: [f.check],
        },
        compliance: {
            standards: [AIRLOCK_STANDARD],
            control: f.check,
            status_id: compliance.id,
            status: compliance.caption,
            status_code: f.status,
            ...(statusDetail ? { status_detail: statusDetail } : {}),
        },
        resources: [resourceOf(f, region)],
        unmapped: {
            airlock: { target: f.target, check: f.check, region: f.region, status: f.status, evidence: sortedKeys(f.evidence ?? {}) },
        },
    };
}

/** AWS resource types (as CloudFormation names them) for the ARNs the checks report. */
const ARN_TYPES: Readonly<Record<string, string>> = {
    "iam:user": "AWS::IAM::User",
    "iam:group": "AWS::IAM::Group",
    "iam:role": "AWS::IAM::Role",
    "iam:policy": "AWS::IAM::Policy",
    "iam:root": "AWS::Account",
    "s3:": "AWS::S3::Bucket",
    "ec2:instance": "AWS::EC2::Instance",
    "ec2:security-group": "AWS::EC2::SecurityGroup",
    "config:config-rule": "AWS::Config::ConfigRule",
};

/** For resources named without an ARN: what each check reports by name. */
const NAME_TYPES: Partial<Readonly<Record<CheckId, string>>> = {
    "public-buckets": "AWS::S3::Bucket",
    "unmanaged-instances": "AWS::EC2::Instance",
    "config-rules": "AWS::Config::ConfigRule",
};

function resourceOf(f: Finding, region: string | undefined): OcsfResource {
    const arn = /^arn:([^:]+):([^:]*):[^:]*:[^:]*:(.*)$/.exec(f.resource);
    let type: string | undefined;
    let name = f.resource;
    let partition: string | undefined;
    if (arn) {
        const [, arnPartition = "", service = "", rest = ""] = arn;
        partition = arnPartition;
        // "user/path/alice", "instance/i-…", "config-rule/config-rule-…", "root", or a bare bucket name (S3).
        const kind = service === "s3" ? "" : (rest.split(/[/:]/)[0] ?? "");
        type = ARN_TYPES[`${service}:${kind}`] ?? `${service}:${kind}`;
        name = service === "s3" ? rest.split("/")[0] ?? rest : rest.split(/[/:]/).pop() || rest;
    } else if (f.resource === "root" || /^[0-9]{12}$/.test(f.resource)) {
        type = "AWS::Account";
    } else {
        type = NAME_TYPES[f.check];
    }
    return {
        uid: f.resource,
        name,
        ...(type ? { type } : {}),
        ...(region ? { region } : {}),
        ...(partition ? { cloud_partition: partition } : {}),
    };
}
