/**
 * The scan-and-promote flow, written against two small ports (AWS and the scanner) so that the
 * same code runs in the dynamic provider (real SDK clients) and in tests (fakes with fault
 * injection). Nothing here imports an SDK.
 *
 * Rights are the role's phase (inline) policy plus the application's managed policies
 * (`managedPolicyArns`), which the promotion owns too: they are production rights, granted only
 * after a clean scan. Invariant, at every moment and after a crash between any two steps:
 *   - an instance is never in a production group while its role holds more than production rights
 *     (phase policy = production policy; the managed policies are part of production rights);
 *   - the role never holds the application's managed policies beside launch rights (or before the
 *     clean scan's production policy), so a quarantined instance holds at most launch rights, save
 *     for one step: between attaching the managed policies and the move to production, after a clean
 *     scan. A crash there leaves them attached in quarantine; the next run detaches them first thing.
 * Hence the order:
 *   promote  = role → production policy, THEN attach managed policies, THEN groups → production;
 *   demote   = groups → remediation, THEN detach managed policies, THEN the phase policy (launch, or
 *              production for a demoted production instance).
 * Policies the scanner itself needs in quarantine (Inspector: AmazonSSMManagedInstanceCore, attached
 * by the SecureInstance component when the scanner is inspector) belong to the component: the flow
 * never detaches them (scannerSupportPolicyArns).
 * Every path that does not promote demotes (a rescanned production instance included), so that
 * what the state records (remediation) is what AWS holds.
 * Every step is idempotent, so a rerun after a crash converges.
 */
import { BOOTSTRAP_REASON_TAG, BOOTSTRAP_STATUS_TAG } from "../policies/keyNaming";
import { PROMOTION_SEVERITIES, PromotionInputs, PromotionOutputs } from "./promotionInputs";
import { AirlockError, airlockError, errorMessage, hasErrorKind } from "./errors";
import { partitionOfRegion } from "./awsPort";
import { Backoff, Clock, formatDuration, pollUntil } from "./polling";
import { Finding, ScanContext, ScanResult, ScanTarget, Scanner, Severity, blockingFindings, countBySeverity, isScannerError, isSeverity } from "./scanners/types";


/**
 * The instance signals its bootstrap once, at first boot, so a failure stays until someone acts:
 * every retry would fail the same way. Say how out.
 */
export const BOOTSTRAP_FAILURE_WAY_OUT =
    "the instance reported this at first boot: fix the cause, then rerun its bootstrap on the instance (`sudo /usr/local/sbin/airlock-boot first-boot`; " +
    "it has its launch rights while quarantined) and run `pulumi up` again, or replace the instance (`pulumi up --replace <its aws:ec2/instance:Instance URN>`)";

/**
 * The reason tag is written by the instance, which is not trusted: keep what the boot script itself
 * writes (the same characters, at most 250), so a compromised instance cannot put control
 * characters, markup or pages of text into state and `pulumi up`'s output.
 */
export function sanitizeBootstrapReason(reason: string): string {
    return reason
        .replace(/[^A-Za-z0-9 _.:/=+@-]/g, " ")
        .slice(0, 250)
        .trim();
}

export interface InstanceState {
    readonly instanceId: string;
    readonly arn: string;
    readonly accountId: string;
    readonly privateIp: string;
    /** pending | running | stopping | stopped | shutting-down | terminated */
    readonly state: string;
    readonly securityGroupIds: readonly string[];
    readonly tags: Readonly<Record<string, string>>;
}

/** The AWS calls the flow makes. Implementations must be idempotent where the name says so. */
export interface AwsPort {
    /** undefined when the instance does not exist (any more). */
    describeInstance(instanceId: string): Promise<InstanceState | undefined>;
    /** Replaces the instance's security groups (primary network interface). Idempotent. */
    setSecurityGroups(instanceId: string, groupIds: readonly string[]): Promise<void>;
    /** The inline policy's JSON document, or undefined when the role has no such policy. */
    getRolePolicy(roleName: string, policyName: string): Promise<string | undefined>;
    /** Creates or replaces the inline policy. Idempotent. */
    putRolePolicy(roleName: string, policyName: string, document: string): Promise<void>;
    /** Removes the inline policy; no error when it (or the role) is already gone. */
    deleteRolePolicy(roleName: string, policyName: string): Promise<void>;
    /** ARNs of the managed policies attached to the role (every page); empty when the role is gone. */
    listAttachedRolePolicies(roleName: string): Promise<string[]>;
    /** Attaches a managed policy. Idempotent. */
    attachRolePolicy(roleName: string, policyArn: string): Promise<void>;
    /** Detaches a managed policy; no error when it is not attached (or the role is gone). */
    detachRolePolicy(roleName: string, policyArn: string): Promise<void>;
}

/** arn:<partition> of an IAM or EC2 ARN, "aws" when it cannot be read. */
function partitionOfArn(arn: string): string {
    return /^arn:([a-z-]+):/.exec(arn)?.[1] ?? "aws";
}

/**
 * Managed policies the scan itself needs while quarantined, which the SecureInstance component
 * attaches and owns: the promotion never detaches them. Inspector scans through the SSM agent,
 * which needs AmazonSSMManagedInstanceCore.
 */
export function scannerSupportPolicyArns(scannerKind: string, partition: string): string[] {
    return scannerKind === "inspector" ? [`arn:${partition}:iam::aws:policy/AmazonSSMManagedInstanceCore`] : [];
}

/** The application's managed policies, as given (none when left out). */
function managedPolicies(inputs: PromotionInputs): string[] {
    return [...new Set(inputs.managedPolicyArns ?? [])];
}

/**
 * Detaches every managed policy the promotion owns on the role: all attached ones except what the
 * scanner needs. Those are production rights, and the role holds them only in production.
 */
export async function detachApplicationPolicies(aws: AwsPort, inputs: Pick<PromotionInputs, "roleName" | "scanner">, partition: string, keep: readonly string[] = []): Promise<void> {
    const support = scannerSupportPolicyArns(inputs.scanner.kind, partition);
    for (const arn of await aws.listAttachedRolePolicies(inputs.roleName)) {
        if (!support.includes(arn) && !keep.includes(arn)) {
            await aws.detachRolePolicy(inputs.roleName, arn);
        }
    }
}

export interface FlowDependencies {
    readonly aws: AwsPort;
    readonly scanner: Scanner;
    readonly clock: Clock;
    readonly log: (line: string) => void;
    /** Polling of the bootstrap signal. @default 5 s growing to 30 s */
    readonly readinessBackoff?: Backoff;
}

/**
 * Thrown when the instance stays in quarantine: carries what the provider host records as partial
 * state. A plain Error with a kind (see errors.ts): tell it apart with isPromotionBlocked.
 */
export type PromotionBlocked = AirlockError<"promotion-blocked"> & { readonly outputs: PromotionOutputs; readonly reasons: readonly string[] };

export function promotionBlocked(message: string, outputs: PromotionOutputs, reasons: readonly string[]): PromotionBlocked {
    return airlockError("promotion-blocked", "PromotionBlocked", message, { outputs, reasons });
}

export function isPromotionBlocked(err: unknown): err is PromotionBlocked {
    return hasErrorKind(err, "promotion-blocked");
}

const READINESS_BACKOFF: Backoff = { initialMs: 5_000, maxMs: 30_000 };
const TOP_FINDINGS = 10;

function sameGroups(a: readonly string[], b: readonly string[]): boolean {
    return a.length === b.length && [...a].sort().join(",") === [...b].sort().join(",");
}

function samePolicy(a: string | undefined, b: string): boolean {
    if (a === undefined) {
        return false;
    }
    try {
        return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
    } catch {
        return false;
    }
}

/**
 * The outputs' copy of the inputs: everything diff, read and delete need, and nothing else — no
 * secret, and not the engine's `__provider` text (which the host adds back itself, and which would
 * make a partial-state error too large for gRPC metadata).
 */
export function publicInputs(inputs: PromotionInputs): Omit<PromotionInputs, "scanner"> & { scanner: Omit<PromotionInputs["scanner"], "accessKey" | "secretKey"> } {
    const { kind, url, templateUuid, policyId } = inputs.scanner;
    return {
        instanceName: inputs.instanceName,
        region: inputs.region,
        assumeRoleArn: inputs.assumeRoleArn,
        instanceId: inputs.instanceId,
        roleName: inputs.roleName,
        phasePolicyName: inputs.phasePolicyName,
        launchPolicy: inputs.launchPolicy,
        productionPolicy: inputs.productionPolicy,
        remediationSecurityGroupIds: inputs.remediationSecurityGroupIds,
        productionSecurityGroupIds: inputs.productionSecurityGroupIds,
        managedPolicyArns: managedPolicies(inputs),
        scanner: { kind, url, templateUuid, policyId },
        severityThreshold: inputs.severityThreshold,
        readinessTimeoutSeconds: inputs.readinessTimeoutSeconds,
        scanTimeoutSeconds: inputs.scanTimeoutSeconds,
        rescanTrigger: inputs.rescanTrigger,
    };
}

/** One line per finding for messages and outputs, at most 240 characters. */
export function describeFinding(f: Finding): string {
    const cves = f.cves.length > 0 ? ` (${f.cves.slice(0, 3).join(", ")}${f.cves.length > 3 ? ", ..." : ""})` : "";
    const title = f.title.length > 160 ? `${f.title.slice(0, 157)}...` : f.title;
    // A finding's severity may be one the flow does not know (a custom adapter, a bug): show it as it is.
    const raw: unknown = f.severity;
    const severity = typeof raw === "string" && raw !== "" ? raw.toUpperCase() : "UNKNOWN";
    return `${severity} ${f.id}: ${title}${cves}`;
}

/** Which phase the instance and role are in right now, read from AWS (never from state). */
export async function observePhase(aws: AwsPort, inputs: PromotionInputs): Promise<{ phase: PromotionOutputs["phase"]; instance: InstanceState | undefined }> {
    const instance = await aws.describeInstance(inputs.instanceId);
    if (instance === undefined) {
        return { phase: "remediation", instance };
    }
    const inProduction =
        instance.securityGroupIds.length > 0 && instance.securityGroupIds.every((g) => inputs.productionSecurityGroupIds.includes(g));
    const policy = await aws.getRolePolicy(inputs.roleName, inputs.phasePolicyName);
    return { phase: inProduction && samePolicy(policy, inputs.productionPolicy) ? "production" : "remediation", instance };
}

/**
 * Runs the whole flow for one instance. Resolves with outputs when the instance is in production;
 * throws a PromotionBlocked error (instance left in quarantine, outputs attached) or another error when
 * AWS itself failed. Safe to call again after any failure or crash.
 *
 * Every path that does not promote ends with the instance in the remediation groups only (a
 * production instance being rescanned is demoted): a blocked decision (findings, bootstrap failure
 * or silence, scanner error or time-out) demotes before it throws, and any other failure (AWS,
 * a bug) is followed by a best-effort demotion before the original error is rethrown. Only an
 * instance that is gone is left alone.
 */
export async function promote(inputs: PromotionInputs, deps: FlowDependencies): Promise<PromotionOutputs> {
    const seen: Observed = {};
    try {
        return await attempt(inputs, deps, seen);
    } catch (err) {
        if (seen.gone) {
            throw err;
        }
        if (isPromotionBlocked(err)) {
            // A failure to demote is itself the error to report: the next up retries.
            await demote(deps, inputs, seen);
            throw err;
        }
        try {
            await demote(deps, inputs, seen);
        } catch (demoteErr) {
            deps.log(`${inputs.instanceName}: could not move it back to the remediation group: ${errorMessage(demoteErr)}`);
        }
        throw err;
    }
}

/** What the flow learnt before it stopped, for the demotion that follows a failure. */
interface Observed {
    /** The instance was in a production group when the flow started (a rescan). Unknown when the first look failed. */
    wasInProduction?: boolean;
    /** The instance does not exist or is terminating: there is nothing to demote. */
    gone?: boolean;
    /** The instance's partition, once known (to tell the scanner's own policies apart). */
    partition?: string;
}

async function attempt(inputs: PromotionInputs, deps: FlowDependencies, seen: Observed): Promise<PromotionOutputs> {
    const { aws, clock, log } = deps;
    const name = inputs.instanceName;
    const t0 = clock.now();
    const startedAt = new Date(t0).toISOString();
    const durations = { readinessMs: 0, scanMs: 0, totalMs: 0 };
    const base = {
        ...publicInputs(inputs),
        scannerKind: inputs.scanner.kind,
        startedAt,
        findingCounts: countBySeverity([]),
        topFindings: [] as string[],
        warnings: [] as string[],
    };
    const blocked = (reasons: string[], extra: Partial<PromotionOutputs> = {}): PromotionBlocked => {
        const outputs: PromotionOutputs = { ...base, ...extra, phase: "remediation", reasons };
        const findings = (extra as { topFindings?: string[] }).topFindings ?? [];
        const message =
            `Instance ${name} stays in quarantine (remediation security group): ${reasons.join("; ")}` +
            (findings.length > 0 ? `\n  ${findings.join("\n  ")}` : "");
        return promotionBlocked(message, outputs, reasons);
    };

    const instance = await aws.describeInstance(inputs.instanceId);
    if (instance === undefined || instance.state === "terminated" || instance.state === "shutting-down") {
        seen.gone = true;
        throw new Error(`Instance ${name} (${inputs.instanceId}) does not exist or is terminating; it cannot be scanned or promoted.`);
    }

    // 1. Restore the invariant before anything else (a crash or a hand edit may have broken it).
    const wasInProduction = instance.securityGroupIds.some((g) => inputs.productionSecurityGroupIds.includes(g));
    seen.wasInProduction = wasInProduction;
    const bootstrapped = instance.tags[BOOTSTRAP_STATUS_TAG] === "success";
    const partition = partitionOfArn(instance.arn);
    seen.partition = partition;
    if (!wasInProduction) {
        // Application rights in quarantine (a crash between attach and move, a hand edit): gone
        // before anything else, and before launch rights are granted beside them.
        await detachApplicationPolicies(aws, inputs, partition);
    }
    if (wasInProduction) {
        await aws.putRolePolicy(inputs.roleName, inputs.phasePolicyName, inputs.productionPolicy);
    } else if (!bootstrapped) {
        log(`${name}: launch phase: granting bootstrap rights`);
        await aws.putRolePolicy(inputs.roleName, inputs.phasePolicyName, inputs.launchPolicy);
    }

    // 2. Wait for the bootstrap signal.
    if (!bootstrapped) {
        log(`${name}: waiting for bootstrap (up to ${formatDuration(inputs.readinessTimeoutSeconds * 1000)})`);
        const readinessStarted = clock.now();
        const readinessDeadline = readinessStarted + inputs.readinessTimeoutSeconds * 1000;
        const { value: status } = await pollUntil(clock, readinessDeadline, deps.readinessBackoff ?? READINESS_BACKOFF, async () => {
            const current = await aws.describeInstance(inputs.instanceId);
            const tag = current?.tags[BOOTSTRAP_STATUS_TAG];
            return tag === "success" || tag === "failure"
                ? { done: true, value: { tag, reason: current?.tags[BOOTSTRAP_REASON_TAG] ?? "" } }
                : { done: false };
        });
        durations.readinessMs = clock.now() - readinessStarted;
        if (status === undefined) {
            throw blocked([`no bootstrap signal within ${formatDuration(inputs.readinessTimeoutSeconds * 1000)}`]);
        }
        if (status.tag === "failure") {
            throw blocked([`bootstrap failed: ${sanitizeBootstrapReason(status.reason) || "no reason given"}`, BOOTSTRAP_FAILURE_WAY_OUT]);
        }
        log(`${name}: bootstrap succeeded`);
    }

    // 3. Scan. A production instance being rescanned keeps its groups and also gets the remediation
    //    groups, which are the only ones that admit the scanner.
    if (wasInProduction) {
        await aws.setSecurityGroups(inputs.instanceId, [...new Set([...inputs.productionSecurityGroupIds, ...inputs.remediationSecurityGroupIds])]);
    }
    const current = (await aws.describeInstance(inputs.instanceId)) ?? instance;
    const target: ScanTarget = {
        instanceId: inputs.instanceId,
        instanceArn: current.arn,
        privateIp: current.privateIp,
        region: inputs.region,
        accountId: current.accountId,
    };
    const context: ScanContext = {
        target,
        deadline: clock.now() + inputs.scanTimeoutSeconds * 1000,
        log: (line: string) => log(`${name}: ${line}`),
        sleep: (ms: number) => clock.sleep(ms),
        now: () => clock.now(),
        random: () => clock.random(),
    };
    log(`${name}: scanning with ${inputs.scanner.kind}`);
    let result: ScanResult;
    const scanStarted = clock.now();
    try {
        result = await deps.scanner.scan(context);
        durations.scanMs = clock.now() - scanStarted;
    } catch (err) {
        const reason = isScannerError(err) ? err.message : `scanner failed: ${errorMessage(err)}`;
        throw blocked([reason]);
    }

    // 4. Decide.
    const threshold = inputs.severityThreshold as Severity;
    const blocking = blockingFindings(result.findings, threshold);
    const scanned = {
        scanId: result.scanId,
        findingCounts: countBySeverity(result.findings),
        topFindings: blockingFindings(result.findings, "info").slice(0, TOP_FINDINGS).map(describeFinding),
        warnings: [...result.warnings],
        finishedAt: new Date(clock.now()).toISOString(),
    };
    if (!isSeverity(threshold)) {
        // check refuses this before create/update; should it get here anyway, nothing passes.
        throw blocked([`\`severityThreshold\` ${JSON.stringify(threshold)} is not one of ${PROMOTION_SEVERITIES.join(", ")}, so no scan result can be trusted to pass`], {
            ...scanned,
            topFindings: blocking.slice(0, TOP_FINDINGS).map(describeFinding),
        });
    }
    if (blocking.length > 0) {
        const countKey = (f: Finding) => (isSeverity(f.severity) ? f.severity : "unknown");
        const counts = Object.entries(scanned.findingCounts)
            .filter(([severity, n]) => n > 0 && blocking.some((f) => countKey(f) === severity))
            .map(([severity, n]) => `${n} ${severity}`)
            .reverse()
            .join(", ");
        throw blocked([`${blocking.length} finding(s) at or above ${threshold} (${counts}) in scan ${result.scanId}`], {
            ...scanned,
            topFindings: blocking.slice(0, TOP_FINDINGS).map(describeFinding),
        });
    }

    // 5. Promote: shrink the role first, then grant the application's managed policies (detaching
    //    those no longer listed), then move the instance.
    await aws.putRolePolicy(inputs.roleName, inputs.phasePolicyName, inputs.productionPolicy);
    const wanted = managedPolicies(inputs);
    await detachApplicationPolicies(aws, inputs, partition, wanted);
    const attached = await aws.listAttachedRolePolicies(inputs.roleName);
    for (const arn of wanted) {
        if (!attached.includes(arn)) {
            await aws.attachRolePolicy(inputs.roleName, arn);
        }
    }
    await aws.setSecurityGroups(inputs.instanceId, inputs.productionSecurityGroupIds);
    const promotedAt = new Date(clock.now()).toISOString();
    durations.totalMs = clock.now() - t0;
    log(`${name}: promoted to production`);
    return { ...base, ...scanned, durations, phase: "production", promotedAt, reasons: [] };
}

/**
 * Back to quarantine: only the remediation groups (leaving a production group never breaks the
 * invariant, so this goes first), then no application managed policies, then the phase policy.
 * Taking rights away never breaks the invariant either: when the groups cannot be changed, the
 * managed policies are still detached, and the groups' error is reported afterwards.
 */
async function demote(deps: FlowDependencies, inputs: PromotionInputs, seen: Observed): Promise<void> {
    const wasInProduction = seen.wasInProduction ?? false;
    let groupsError: { readonly error: unknown } | undefined;
    try {
        await deps.aws.setSecurityGroups(inputs.instanceId, inputs.remediationSecurityGroupIds);
    } catch (error) {
        groupsError = { error };
    }
    await detachApplicationPolicies(deps.aws, inputs, seen.partition ?? partitionOfRegion(inputs.region));
    if (groupsError !== undefined) {
        throw groupsError.error;
    }
    if (wasInProduction) {
        // A demoted production instance keeps production rights: less than launch rights.
        await deps.aws.putRolePolicy(inputs.roleName, inputs.phasePolicyName, inputs.productionPolicy);
        deps.log(`${inputs.instanceName}: demoted to the remediation group`);
    }
}
