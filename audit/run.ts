/**
 * The audit's runner (issue 10): targets in, an AuditResult out.
 *
 * 1. Organization targets are expanded into one target per account (credentials.ts); an
 *    organization that cannot be listed is one unaudited target, with why.
 * 2. Per target, STS GetCallerIdentity first: when it fails (bad or expired credentials, a role that
 *    cannot be assumed, access denied, throttled past retries) the target is UNAUDITED with the
 *    reason and none of its checks run. It still appears in the result (never a pass: exit 2).
 * 3. Each requested check runs: per region for regional checks, once for the others (checks/index.ts).
 *    A check that throws gives one error finding for that check (and region): the target was
 *    audited, but the result's exit code is 2. A requested check this build does not have gives an
 *    error finding too. Every finding's target and accountId are the runner's.
 * Concurrency: at most `concurrency` units (a target's identity call, a check on a target, or a
 * regional check in one region) at once, across all targets (a semaphore). Every SDK client retries
 * with backoff (`maxAttempts`, adaptive retry mode: throttling slows the client down).
 */
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { DEFAULT_CONCURRENCY } from "./args";
import type { Kysely } from "kysely";
import type { Check, CheckContext, ClientFactory, ClientSettings, CollectedBucket, CollectedInstance, Collector, VaultFacts } from "./checks/context";
import { CheckRegistry, checkRegistry } from "./checks/index";
import { CredentialSettings, ResolvedTarget, UnresolvedTarget, reasonOf, resolveTargets } from "./credentials";
import { AuditResult, CHECK_IDS, CheckId, Finding, TargetOutcome } from "./findings";
import type { CredentialReportRow, IamInventory } from "./iamInventory";
import type { RecordsSchema } from "./records/schema";
import type { Target } from "./targets";

/** CIS AWS Foundations Benchmark 1.12: credentials unused for 45 days or more. */
export const DEFAULT_UNUSED_DAYS = 45;
/** SDK attempts per call (first try included), with adaptive backoff on throttling. */
export const DEFAULT_MAX_ATTEMPTS = 8;

export interface RunOptions {
    /** Only these checks, on top of each target's own (--checks). */
    readonly checks?: readonly CheckId[];
    /** These regions instead of each target's (--regions). */
    readonly regions?: readonly string[];
    /** @default DEFAULT_CONCURRENCY */
    readonly concurrency?: number;
    readonly fix?: boolean;
    readonly quarantine?: { readonly groupId: string; readonly apply: boolean };
    /** The managed instance ids for a target (from --stack-outputs and the target's stackOutputs). @default none */
    readonly managedInstanceIds?: (target: Target) => ReadonlySet<string>;
    /** The vaults and zones for a target (from its stack outputs). @default none */
    readonly vaults?: (target: Target) => VaultFacts;
    /** The records database, for the checks that keep what they read (cloudtrail-activity). @default none */
    readonly records?: Kysely<RecordsSchema>;
    /** @default DEFAULT_UNUSED_DAYS */
    readonly unusedDays?: number;
    /** @default checkRegistry() (a fresh IAM cache per run) */
    readonly registry?: CheckRegistry;
    /** An endpoint for every client (tests); undefined: the SDK's (AWS_ENDPOINT_URL honoured). */
    readonly endpoint?: string;
    /** @default DEFAULT_MAX_ATTEMPTS */
    readonly maxAttempts?: number;
    readonly now?: () => Date;
    /** After each target × check is finished (or skipped with its target). */
    readonly onProgress?: (done: number, total: number) => void;
    /**
     * After each audited target's checks, with what they fetched (the records database writes it
     * here). Awaited before the target counts as done; what it throws is the caller's to report.
     */
    readonly onTargetAudited?: (audited: AuditedTarget) => Promise<void>;
}

/** What the checks of one audited target fetched, each part complete (see Collector). */
export interface CollectedData {
    iam?: IamInventory;
    credentialReport?: readonly CredentialReportRow[];
    buckets?: { readonly buckets: readonly CollectedBucket[]; readonly regions: readonly string[] };
    /** Per region listed in full. */
    readonly instances: Map<string, readonly CollectedInstance[]>;
}

export interface AuditedTarget {
    readonly target: Target;
    readonly accountId: string;
    readonly partition: string;
    readonly regions: readonly string[];
    readonly findings: readonly Finding[];
    readonly collected: CollectedData;
}

/** A Collector that keeps what the checks report in `data`. */
export function collectorInto(data: CollectedData): Collector {
    return {
        iam: (inventory) => {
            data.iam = inventory;
        },
        credentialReport: (rows) => {
            data.credentialReport = rows;
        },
        buckets: (buckets, regions) => {
            data.buckets = { buckets, regions };
        },
        instances: (instances, region) => {
            data.instances.set(region, instances);
        },
    };
}

/** A counting semaphore: at most `limit` holders. */
export class Semaphore {
    private active = 0;
    private readonly waiting: Array<() => void> = [];

    constructor(private readonly limit: number) {
        if (!Number.isInteger(limit) || limit < 1) throw new Error(`Semaphore: limit must be a positive integer, not ${limit}`);
    }

    async run<T>(work: () => Promise<T>): Promise<T> {
        if (this.active >= this.limit) {
            await new Promise<void>((resolve) => this.waiting.push(resolve));
        } else {
            this.active++;
        }
        try {
            return await work();
        } finally {
            const next = this.waiting.shift();
            if (next !== undefined) {
                next(); // the slot passes straight to the next waiter
            } else {
                this.active--;
            }
        }
    }
}

/** Clients for one target, cached per class and region; destroy() closes their sockets. */
export class TargetClients implements ClientFactory {
    private readonly cache = new Map<unknown, Map<string, unknown>>();

    constructor(private readonly base: Omit<ClientSettings, "region">) {}

    make<C>(ctor: new (config: ClientSettings) => C, region: string): C {
        let byRegion = this.cache.get(ctor);
        if (byRegion === undefined) {
            byRegion = new Map();
            this.cache.set(ctor, byRegion);
        }
        let client = byRegion.get(region) as C | undefined;
        if (client === undefined) {
            client = new ctor({ ...this.base, region });
            byRegion.set(region, client);
        }
        return client;
    }

    destroy(): void {
        for (const byRegion of this.cache.values()) {
            for (const client of byRegion.values()) {
                (client as { destroy?: () => void }).destroy?.();
            }
        }
        this.cache.clear();
    }
}

/** The checks a target runs: its own, narrowed by --checks, in CHECK_IDS order. */
export function checksOf(target: Target, only?: readonly CheckId[]): CheckId[] {
    return CHECK_IDS.filter((c) => target.checks.includes(c) && (only === undefined || only.includes(c)));
}

function errorFinding(target: string, accountId: string | undefined, region: string, check: CheckId, resource: string, title: string, evidence: Record<string, unknown>): Finding {
    return { target, ...(accountId === undefined ? {} : { accountId }), region, check, resource, status: "error", severity: "high", title, evidence };
}

export async function runAudit(targets: readonly Target[], options: RunOptions = {}): Promise<AuditResult> {
    const now = options.now ?? (() => new Date());
    const startedAt = now().toISOString();
    const registry = options.registry ?? checkRegistry();
    const semaphore = new Semaphore(options.concurrency ?? DEFAULT_CONCURRENCY);
    const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
    const regionsOf = (t: Target): readonly string[] => options.regions ?? t.regions;
    const settingsFor = (t: Target): CredentialSettings => ({ region: regionsOf(t)[0] ?? "us-east-1", ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }), maxAttempts });

    // Organization targets listed one after the other (each is a few calls), the rest as they are.
    const resolved: Array<ResolvedTarget | UnresolvedTarget> = [];
    for (const t of targets) {
        resolved.push(...(await resolveTargets([t], settingsFor(t))));
    }

    const total = resolved.reduce((n, r) => n + checksOf(r.target, options.checks).length, 0);
    let done = 0;
    const progress = (n: number): void => {
        done += n;
        options.onProgress?.(done, total);
    };

    const perTarget = await Promise.all(
        resolved.map(async (r): Promise<{ outcome: TargetOutcome; findings: Finding[] }> => {
            const checks = checksOf(r.target, options.checks);
            const regions = regionsOf(r.target);
            const base = { target: r.target.name, checks, regions };
            if ("reason" in r) {
                progress(checks.length);
                return { outcome: { ...base, state: "unaudited", reason: r.reason }, findings: [] };
            }
            if (checks.length === 0) {
                // --checks and the target's own checks do not meet: nothing would be looked at, and
                // "nothing found" must not read as clean.
                const reason = `no check to run: the target asks for ${r.target.checks.join(", ") || "none"}, --checks for ${(options.checks ?? []).join(", ") || "none"}`;
                return { outcome: { ...base, state: "unaudited", reason }, findings: [] };
            }
            const clients = new TargetClients({
                credentials: r.credentials,
                ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
                maxAttempts,
                retryMode: "adaptive",
            });
            try {
                return await auditTarget(r, checks, regions, clients);
            } finally {
                clients.destroy();
            }
        }),
    );

    async function auditTarget(r: ResolvedTarget, checks: CheckId[], regions: readonly string[], clients: TargetClients): Promise<{ outcome: TargetOutcome; findings: Finding[] }> {
        const name = r.target.name;
        const base = { target: name, checks, regions };
        let identity: { accountId: string; partition: string };
        try {
            identity = await semaphore.run(() => callerIdentity(clients, regions[0] ?? "us-east-1"));
        } catch (error) {
            progress(checks.length);
            return { outcome: { ...base, state: "unaudited", reason: `the credentials could not be used (STS GetCallerIdentity): ${reasonOf(error)}` }, findings: [] };
        }
        if (r.expectedAccountId !== undefined && r.expectedAccountId !== identity.accountId) {
            progress(checks.length);
            return {
                outcome: { ...base, accountId: identity.accountId, state: "unaudited", reason: `the credentials belong to account ${identity.accountId}, not to ${r.expectedAccountId} as the organization lists` },
                findings: [],
            };
        }
        const { accountId, partition } = identity;
        const collected: CollectedData = { instances: new Map() };
        const collect = options.onTargetAudited === undefined ? undefined : collectorInto(collected);
        const context = (checkRegions: readonly string[]): CheckContext => ({
            target: r.target,
            accountId,
            partition,
            regions: checkRegions,
            clients,
            fix: options.fix ?? false,
            ...(options.quarantine === undefined ? {} : { quarantine: options.quarantine }),
            managedInstanceIds: options.managedInstanceIds?.(r.target) ?? new Set<string>(),
            ...(options.vaults === undefined ? {} : { vaults: options.vaults(r.target) }),
            ...(options.records === undefined ? {} : { records: options.records }),
            unusedDays: options.unusedDays ?? DEFAULT_UNUSED_DAYS,
            now,
            ...(collect === undefined ? {} : { collect }),
        });
        const stamp = (f: Finding): Finding => ({ ...f, target: name, accountId });
        const runOne = async (check: CheckId, run: Check, checkRegions: readonly string[], region: string): Promise<Finding[]> => {
            try {
                return (await semaphore.run(() => run(context(checkRegions)))).map(stamp);
            } catch (error) {
                return [
                    errorFinding(name, accountId, region, check, accountId, `The ${check} check could not run${region === "global" ? "" : ` in ${region}`}: ${reasonOf(error)}`, {
                        error: error instanceof Error ? error.name : typeof error,
                        message: reasonOf(error),
                    }),
                ];
            }
        };
        const byCheck = await Promise.all(
            checks.map(async (check): Promise<Finding[]> => {
                const registered = registry[check];
                let findings: Finding[];
                if (registered === undefined) {
                    findings = [errorFinding(name, accountId, "global", check, accountId, `The ${check} check is not available in this build of airlock-audit: not checked`, { check })];
                } else if (registered.perRegion) {
                    findings = (await Promise.all(regions.map((region) => runOne(check, registered.run, [region], region)))).flat();
                } else {
                    findings = await runOne(check, registered.run, regions, "global");
                }
                progress(1);
                return findings;
            }),
        );
        const findings = byCheck.flat();
        await options.onTargetAudited?.({ target: r.target, accountId, partition, regions, findings, collected });
        return { outcome: { ...base, accountId, state: "audited" }, findings };
    }

    return {
        schemaVersion: 1,
        startedAt,
        finishedAt: now().toISOString(),
        targets: perTarget.map((p) => p.outcome),
        findings: perTarget.flatMap((p) => p.findings),
    };
}

async function callerIdentity(clients: ClientFactory, region: string): Promise<{ accountId: string; partition: string }> {
    const out = await clients.make(STSClient, region).send(new GetCallerIdentityCommand({}));
    if (out.Account === undefined || !/^\d{12}$/.test(out.Account)) {
        throw new Error(`GetCallerIdentity answered no account id (${JSON.stringify(out.Account ?? null)})`);
    }
    return { accountId: out.Account, partition: /^arn:([^:]+):/.exec(out.Arn ?? "")?.[1] ?? "aws" };
}

