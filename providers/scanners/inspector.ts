/**
 * Amazon Inspector (v2) adapter: Inspector scans EC2 instances continuously by itself (through the
 * SSM agent, or agentless from EBS snapshots), so this adapter starts nothing. It waits until
 * Inspector has really scanned the instance, then reads that instance's active findings.
 *
 * API calls (Amazon Inspector v2, REST-JSON, via @aws-sdk/client-inspector2):
 *   ListCoverage           POST /coverage/list  {filterCriteria:{resourceId:[EQUALS id], resourceType:[EQUALS AWS_EC2_INSTANCE]}, maxResults, nextToken}
 *                          → {coveredResources:[{resourceId, resourceType, scanType, scanStatus:{statusCode, reason}, lastScannedAt}], nextToken}
 *   ListFindings           POST /findings/list  {filterCriteria:{resourceId:[EQUALS id], findingStatus:[EQUALS ACTIVE]}, maxResults, nextToken}
 *                          → {findings:[{findingArn, title, severity, status, resources:[{id}], packageVulnerabilityDetails:{vulnerabilityId}}], nextToken}
 *   BatchGetAccountStatus  POST /status/batch/get {accountIds:[account]} → only to explain a timeout with no coverage at all (best effort)
 *
 * When is a scan trustworthy ("covered")? A coverage entry of the instance itself (resourceId ===
 * instance id, type AWS_EC2_INSTANCE, scanType PACKAGE; NETWORK entries do not count) with
 * scanStatus.statusCode ACTIVE and a lastScannedAt. EC2 instance ids are never reused, so any
 * lastScannedAt recorded for this id is a scan of this very instance after its launch: by default
 * that is enough. With `maxCoverageAgeMinutes` the scan must also be at most that old when looked
 * at (for re-scans of long-lived instances). Until then the adapter polls (exponential backoff with
 * jitter, ctx's clock) up to ctx.deadline, then throws a scan time-out "Amazon Inspector has not
 * scanned <id> yet" with the last coverage state (INACTIVE reason codes are explained). Coverage
 * that can never become ACTIVE (UNSUPPORTED_OS, EXCLUDED_BY_TAG, RESOURCE_TERMINATED) fails at
 * once. Zero findings are only believed after that.
 *
 * Findings are filtered twice: by the API (resourceId, findingStatus) and again here (a resource
 * of the finding is the instance, by id or ARN; status ACTIVE when given), so neither a filter bug
 * nor an emulator that ignores filters can let another resource's findings decide. Findings that
 * cannot be attributed (no resources, no ARN) or have an unknown severity are errors, never skipped.
 *
 * Runs inside the dynamic-provider process: the SDKs are `require`d inside the scan (only types
 * are imported here); it keeps no module state. Credentials: the SDK's default chain, or
 * fromTemporaryCredentials(assumeRoleArn). Endpoints: the SDK's own resolution, so
 * AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_INSPECTOR2 (and AWS_ENDPOINT_URL_STS) redirect it; retries:
 * the SDK's (AWS_MAX_ATTEMPTS, default 3), after which any AWS error is a scanner error naming it.
 */
import type * as Inspector2 from "@aws-sdk/client-inspector2";
import type * as CredentialProviders from "@aws-sdk/credential-providers";
import type { Finding, ScanContext, ScanResult, Scanner } from "./types";
import type { ScannerError } from "./types";
import { isScannerError, scanTimeoutError, scannerError, inspectorSeverity } from "./types";
import type { Backoff } from "../polling";
import { formatDuration, pollUntil } from "../polling";

export interface InspectorSettings {
    /** Region whose Inspector covers the instance (the instance's region). */
    readonly region: string;
    /** Role to assume (sts:AssumeRole) for the Inspector calls, e.g. in a delegated-administrator account. */
    readonly assumeRoleArn?: string;
    /** First wait between coverage polls. @default 15000 */
    readonly pollInitialMs?: number;
    /** Longest wait between coverage polls. @default 120000 */
    readonly pollMaxMs?: number;
    /** When set, the instance's last Inspector scan must be at most this old. @default any scan of the instance */
    readonly maxCoverageAgeMinutes?: number;
}

/** Coverage reasons that will not change by waiting: fail at once instead of at the deadline. */
const HOPELESS_REASONS: Readonly<Record<string, string>> = {
    UNSUPPORTED_OS: "Amazon Inspector does not support the instance's operating system or architecture",
    EXCLUDED_BY_TAG: "the instance is excluded from Inspector scanning by a tag (InspectorEc2Exclusion)",
    RESOURCE_TERMINATED: "the instance has been terminated",
};

/** What the common waiting reasons mean for the person reading the error. */
const REASON_HINTS: Readonly<Record<string, string>> = {
    UNMANAGED_EC2_INSTANCE:
        "the instance is not managed by AWS Systems Manager: the SSM agent must be running, the instance profile must allow it " +
        "(AmazonSSMManagedInstanceCore) and the instance must reach the SSM endpoints, or agentless (hybrid) scanning must be on",
    PENDING_INITIAL_SCAN: "Inspector has not finished its first scan of the instance yet; allow more time for the scan",
    SCAN_IN_PROGRESS: "a scan is in progress; allow more time for the scan",
    NO_INVENTORY:
        "Inspector found no software inventory: check the SSM association InspectorInventoryCollection-do-not-delete for the instance",
    STALE_INVENTORY: "the instance's SSM inventory is out of date: check the Inspector SSM associations for the instance",
    DEEP_INSPECTION_NO_INVENTORY: "the Inspector plugin has not collected a package inventory yet",
    EC2_INSTANCE_STOPPED: "the instance is stopped, so Inspector pauses scanning it",
    INTERNAL_ERROR: "Inspector reports an internal error for the instance",
    ACCESS_DENIED: "Inspector is not allowed to access the resource",
    ...HOPELESS_REASONS,
};

const MAX_PAGES = 1000;
const MAX_AWS_TEXT = 300;

export function inspectorScanner(settings: InspectorSettings): Scanner {
    return {
        kind: "inspector",
        scan: (context: ScanContext) => scanWithInspector(settings, context),
    };
}

interface AwsErrorShape {
    readonly name?: unknown;
    readonly message?: unknown;
    readonly $fault?: unknown;
    readonly $metadata?: { readonly httpStatusCode?: unknown; readonly attempts?: unknown };
}

function clip(text: string): string {
    const clean = text.replace(/\s+/g, " ").trim();
    return clean.length > MAX_AWS_TEXT ? `${clean.slice(0, MAX_AWS_TEXT)}…` : clean;
}

/** "Name: message (HTTP n, after k attempts)" of an AWS SDK error, and its name. */
function describeAwsError(error: unknown): { readonly name: string; readonly text: string; readonly status?: number } {
    const e = (typeof error === "object" && error !== null ? error : {}) as AwsErrorShape;
    const name = typeof e.name === "string" && e.name !== "" ? e.name : "Error";
    const message = typeof e.message === "string" ? clip(e.message) : clip(String(error));
    const status = typeof e.$metadata?.httpStatusCode === "number" ? e.$metadata.httpStatusCode : undefined;
    const attempts = typeof e.$metadata?.attempts === "number" ? e.$metadata.attempts : undefined;
    const details = [status === undefined ? undefined : `HTTP ${status}`, attempts === undefined || attempts <= 1 ? undefined : `after ${attempts} attempts`]
        .filter((d) => d !== undefined)
        .join(", ");
    return { name, status, text: `${name}: ${message.replace(/[.\s]+$/, "")}${details === "" ? "" : ` (${details})`}` };
}

/** An AWS SDK error as a scanner error that names the AWS error, its message, HTTP status and attempts. */
function awsError(operation: string, error: unknown): ScannerError {
    if (isScannerError(error)) {
        return error;
    }
    const { name, text, status } = describeAwsError(error);
    if (name === "SyntaxError" || /Deserialization error/i.test(text)) {
        return scannerError(
            `Amazon Inspector ${operation} failed: the endpoint answered${status === undefined ? "" : ` HTTP ${status}`} with something that is ` +
                "not an Amazon Inspector API response (an emulator without this API, or a proxy?).",
        );
    }
    if (name === "AccessDeniedException" || name === "AccessDenied" || name === "UnrecognizedClientException") {
        return scannerError(
            `Amazon Inspector refused ${operation}: ${text}. The identity the provider runs with ` +
                "(or scanner.assumeRoleArn) needs inspector2:ListCoverage and inspector2:ListFindings.",
        );
    }
    return scannerError(`Amazon Inspector ${operation} failed: ${text}.`);
}

function isoOf(date: Date): string {
    return date.toISOString();
}

function validDate(value: unknown): Date | undefined {
    return value instanceof Date && Number.isFinite(value.getTime()) ? value : undefined;
}

type CoverageState =
    | { readonly kind: "scanned"; readonly lastScannedAt: Date }
    | { readonly kind: "waiting"; readonly text: string; readonly hint?: string; readonly covered: boolean };

async function scanWithInspector(settings: InspectorSettings, ctx: ScanContext): Promise<ScanResult> {
    const instanceId = ctx.target.instanceId;
    const instanceArn = ctx.target.instanceArn;
    if (typeof settings.region !== "string" || settings.region === "") {
        throw scannerError("The Inspector scanner needs `scanner.region`.");
    }
    if (typeof instanceId !== "string" || !/^i-[0-9a-z]{8,17}$/.test(instanceId)) {
        throw scannerError(`The Inspector scanner needs an EC2 instance id, not ${JSON.stringify(instanceId)}.`);
    }
    const maxAgeMinutes = settings.maxCoverageAgeMinutes;
    if (maxAgeMinutes !== undefined && !(typeof maxAgeMinutes === "number" && Number.isFinite(maxAgeMinutes) && maxAgeMinutes > 0)) {
        throw scannerError(`\`scanner.maxCoverageAgeMinutes\` must be a positive number, not ${JSON.stringify(maxAgeMinutes)}.`);
    }
    const roleArn = settings.assumeRoleArn;
    if (roleArn !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:role\/.+$/.test(roleArn)) {
        throw scannerError(`\`scanner.assumeRoleArn\` must be an IAM role ARN, not ${JSON.stringify(roleArn)}.`);
    }

    // Loaded here, not at module level: this function is serialized into the dynamic-provider process.
    const sdk = require("@aws-sdk/client-inspector2") as typeof Inspector2;
    const config: Inspector2.Inspector2ClientConfig = {
        region: settings.region,
        // The SDK has no request timeout by default: a silent endpoint must not hold the provider forever.
        requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000 },
    };
    if (roleArn !== undefined) {
        const { fromTemporaryCredentials } = require("@aws-sdk/credential-providers") as typeof CredentialProviders;
        config.credentials = fromTemporaryCredentials({
            params: { RoleArn: roleArn, RoleSessionName: `airlock-inspector-${instanceId}`.slice(0, 64) },
            clientConfig: { region: settings.region },
        });
    }
    const client = new sdk.Inspector2Client(config);
    try {
        // Credentials first, so a failed AssumeRole or a missing identity is not blamed on Inspector.
        try {
            await client.config.credentials();
        } catch (error) {
            const { text } = describeAwsError(error);
            throw scannerError(
                roleArn === undefined ? `No AWS credentials for Amazon Inspector: ${text}.` : `Could not assume ${roleArn} for Amazon Inspector: ${text}.`,
            );
        }
        return await scanWith(sdk, client, settings, ctx, instanceId, instanceArn);
    } finally {
        client.destroy();
    }
}

async function scanWith(
    sdk: typeof Inspector2,
    client: Inspector2.Inspector2Client,
    settings: InspectorSettings,
    ctx: ScanContext,
    instanceId: string,
    instanceArn: string,
): Promise<ScanResult> {
    const backoff: Backoff = { initialMs: settings.pollInitialMs ?? 15_000, maxMs: settings.pollMaxMs ?? 120_000 };
    const maxAgeMinutes = settings.maxCoverageAgeMinutes;
    const startedAt = ctx.now();
    const elapsed = () => formatDuration(ctx.now() - startedAt);

    // 1. Coverage: has Inspector scanned this instance (recently enough)?
    const coverageState = async (): Promise<CoverageState> => {
        const entries: Inspector2.CoveredResource[] = [];
        let nextToken: string | undefined;
        for (let page = 0; ; page++) {
            if (page >= MAX_PAGES) {
                throw scannerError(`Amazon Inspector ListCoverage kept paging (over ${MAX_PAGES} pages) for ${instanceId}.`);
            }
            const answer = await client
                .send(
                    new sdk.ListCoverageCommand({
                        filterCriteria: {
                            resourceId: [{ comparison: "EQUALS", value: instanceId }],
                            resourceType: [{ comparison: "EQUALS", value: "AWS_EC2_INSTANCE" }],
                        },
                        maxResults: 200,
                        nextToken,
                    }),
                )
                .catch((error: unknown) => {
                    throw awsError("ListCoverage", error);
                });
            entries.push(...(answer.coveredResources ?? []));
            const token = answer.nextToken;
            if (token === undefined || token === null || token === "" || token === nextToken) break;
            nextToken = token;
        }
        // The instance's own package-scan coverage only, whatever the filter let through.
        const mine = entries.filter(
            (entry) =>
                entry.resourceId === instanceId &&
                (entry.resourceType === undefined || entry.resourceType === "AWS_EC2_INSTANCE") &&
                (entry.scanType === undefined || entry.scanType === "PACKAGE"),
        );
        if (mine.length === 0) {
            return { kind: "waiting", text: "not covered by Amazon Inspector yet", covered: false };
        }
        // Several entries (should not happen): the freshest ACTIVE scan wins.
        let waiting: CoverageState | undefined;
        let best: Date | undefined;
        for (const entry of mine) {
            const code = entry.scanStatus?.statusCode;
            const reason = entry.scanStatus?.reason;
            const lastScannedAt = validDate(entry.lastScannedAt);
            if (code === "INACTIVE" && reason !== undefined && HOPELESS_REASONS[reason] !== undefined) {
                throw scannerError(
                    `Amazon Inspector will not scan ${instanceId}: its coverage is INACTIVE (${reason}): ${HOPELESS_REASONS[reason]}. ` +
                        "Without a scan the instance cannot be vouched for.",
                );
            }
            if (code === "ACTIVE" && lastScannedAt !== undefined) {
                if (maxAgeMinutes !== undefined && lastScannedAt.getTime() < ctx.now() - maxAgeMinutes * 60_000) {
                    waiting ??= {
                        kind: "waiting",
                        text: `last scanned at ${isoOf(lastScannedAt)}, more than ${maxAgeMinutes} minutes ago (scanner.maxCoverageAgeMinutes)`,
                        covered: true,
                    };
                    continue;
                }
                if (best === undefined || lastScannedAt > best) best = lastScannedAt;
                continue;
            }
            const status = `coverage ${code ?? "without a status"}${reason === undefined ? "" : ` (${reason})`}`;
            waiting = {
                kind: "waiting",
                text: code === "ACTIVE" ? `${status}, no scan finished yet` : status,
                hint: reason === undefined ? undefined : REASON_HINTS[reason],
                covered: true,
            };
        }
        if (best !== undefined) return { kind: "scanned", lastScannedAt: best };
        return waiting ?? { kind: "waiting", text: "coverage without a scan yet", covered: true };
    };

    let last: CoverageState | undefined;
    let everCovered = false;
    const polled = await pollUntil<Date>(ctx, ctx.deadline, backoff, async () => {
        const state = await coverageState();
        if (state.kind === "scanned") {
            return { done: true, value: state.lastScannedAt };
        }
        everCovered ||= state.covered;
        if (last === undefined || last.kind !== "waiting" || last.text !== state.text) {
            ctx.log(`inspector: waiting for coverage of ${instanceId}: ${state.text}`);
        }
        last = state;
        return { done: false };
    });
    if (polled.value === undefined) {
        const state = last !== undefined && last.kind === "waiting" ? last : undefined;
        let hint = state?.hint;
        if (!everCovered) {
            hint = await accountHint(sdk, client, ctx);
        }
        throw scanTimeoutError(
            `Amazon Inspector has not scanned ${instanceId} yet (waited ${elapsed()}, ${polled.polls} polls): ` +
                `${state?.text ?? "no answer"}${hint === undefined ? "" : `: ${hint}`}.`,
        );
    }
    const lastScannedAt = polled.value;
    ctx.log(`inspector: scanned at ${isoOf(lastScannedAt)} (${instanceId})`);

    // 2. The instance's active findings.
    const findings: Finding[] = [];
    const seen = new Set<string>();
    let foreign = 0;
    let inactive = 0;
    let nextToken: string | undefined;
    for (let page = 0; ; page++) {
        if (page >= MAX_PAGES) {
            throw scannerError(`Amazon Inspector ListFindings kept paging (over ${MAX_PAGES} pages) for ${instanceId}.`);
        }
        const answer = await client
            .send(
                new sdk.ListFindingsCommand({
                    filterCriteria: {
                        resourceId: [{ comparison: "EQUALS", value: instanceId }],
                        findingStatus: [{ comparison: "EQUALS", value: "ACTIVE" }],
                    },
                    maxResults: 100,
                    nextToken,
                }),
            )
            .catch((error: unknown) => {
                throw awsError("ListFindings", error);
            });
        for (const [index, finding] of (answer.findings ?? []).entries()) {
            const where = `finding #${index + 1} of page ${page + 1}`;
            const arn = finding.findingArn;
            if (typeof arn !== "string" || arn === "") {
                throw scannerError(`Amazon Inspector ListFindings returned ${where} without a findingArn.`);
            }
            const resources = finding.resources;
            if (!Array.isArray(resources) || resources.length === 0) {
                throw scannerError(`Amazon Inspector ListFindings returned ${arn} without resources, so it cannot be attributed to ${instanceId}.`);
            }
            if (!resources.some((resource) => resource?.id === instanceId || resource?.id === instanceArn)) {
                foreign += 1;
                continue;
            }
            if (finding.status !== undefined && finding.status !== "ACTIVE") {
                inactive += 1;
                continue;
            }
            if (seen.has(arn)) continue;
            seen.add(arn);
            let severity: Finding["severity"];
            try {
                severity = inspectorSeverity(finding.severity);
            } catch (error) {
                throw scannerError(`${(error as Error).message} (${arn})`);
            }
            const vulnerabilityId = finding.packageVulnerabilityDetails?.vulnerabilityId;
            const cves = typeof vulnerabilityId === "string" && /^CVE-/i.test(vulnerabilityId) ? [vulnerabilityId.toUpperCase()] : [];
            const title = [finding.title, vulnerabilityId, finding.description, arn].find((t): t is string => typeof t === "string" && t.trim() !== "")!;
            findings.push({ id: arn, title: clip(title), severity, cves });
        }
        const token = answer.nextToken;
        if (token === undefined || token === null || token === "") break;
        if (token === nextToken) {
            throw scannerError(`Amazon Inspector ListFindings returned the same nextToken twice for ${instanceId}.`);
        }
        nextToken = token;
    }

    const warnings: string[] = [];
    if (foreign > 0) {
        const text = `Amazon Inspector returned ${foreign} finding${foreign === 1 ? "" : "s"} of other resources despite the filter on ${instanceId}; ignored.`;
        warnings.push(text);
        ctx.log(`inspector: ${text}`);
    }
    if (inactive > 0) {
        ctx.log(`inspector: ignored ${inactive} finding${inactive === 1 ? "" : "s"} of ${instanceId} that are not ACTIVE (suppressed or closed)`);
    }
    ctx.log(`inspector: ${findings.length} active finding${findings.length === 1 ? "" : "s"} on ${instanceId}`);
    return { scanId: `inspector:${instanceId}@${isoOf(lastScannedAt)}`, findings, warnings };
}

/** Why there is no coverage at all, if the account status says so (best effort: never fails the scan on its own). */
async function accountHint(sdk: typeof Inspector2, client: Inspector2.Inspector2Client, ctx: ScanContext): Promise<string> {
    const { accountId, region } = ctx.target;
    const fallback = `is Amazon Inspector EC2 scanning activated for account ${accountId} in ${region}?`;
    try {
        const answer = await client.send(new sdk.BatchGetAccountStatusCommand({ accountIds: [accountId] }));
        const account = answer.accounts?.find((a) => a.accountId === accountId);
        const ec2 = account?.resourceState?.ec2?.status;
        if (account === undefined) {
            const failed = answer.failedAccounts?.find((a) => a.accountId === accountId);
            return failed?.errorMessage
                ? `Amazon Inspector reports no status for account ${accountId} (${clip(failed.errorMessage)}); ${fallback}`
                : `Amazon Inspector is not activated for account ${accountId} in ${region}`;
        }
        if (ec2 !== undefined && ec2 !== "ENABLED") {
            return `Amazon Inspector EC2 scanning is ${ec2} for account ${accountId} in ${region}`;
        }
        return `Amazon Inspector EC2 scanning is enabled for account ${accountId}, but it does not list the instance yet`;
    } catch {
        return fallback;
    }
}
