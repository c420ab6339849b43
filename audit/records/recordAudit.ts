/**
 * The audit's records (issue 11): what a run collected, per account, into the records database.
 *
 * `startRecording` records the run (audit_runs); its `onTargetAudited` is runAudit's hook: for each
 * audited target, the inventory its checks collected (run.ts CollectedData → inventory.ts
 * snapshotItems; regional kinds scoped to the regions listed) and its findings, in ONE transaction
 * per account (writeAccountSnapshot's, the findings inside it), so a crash mid-audit leaves each
 * account's previous complete state. A write that fails is kept as a problem (the target's audit
 * stands; the command reports the problem and exits 2), never thrown into the audit.
 * `finish` records the run's end.
 */
import { randomUUID } from "crypto";
import type { Kysely } from "kysely";
import type { AuditedTarget } from "../run";
import { AccountSnapshot, ItemKind, finishRun, snapshotItems, startRun, writeAccountSnapshot } from "./inventory";
import type { RecordsSchema } from "./schema";

export interface AuditRecording {
    readonly runId: string;
    /** runAudit's onTargetAudited. */
    onTargetAudited(audited: AuditedTarget): Promise<void>;
    /** Writes that failed: "<target> (<account>): <why>". */
    readonly problems: readonly string[];
    /** Accounts written, with what changed. */
    readonly written: readonly { readonly target: string; readonly accountId: string; readonly inserted: number; readonly changed: number; readonly removed: number }[];
    finish(at: Date): Promise<void>;
}

/** The snapshot of one audited target (pure). */
export function snapshotOf(audited: AuditedTarget, runId: string, auditedAt: Date): AccountSnapshot {
    const { collected } = audited;
    const instanceRegions = [...collected.instances.keys()].sort();
    const { kinds, items } = snapshotItems({
        ...(collected.iam === undefined ? {} : { iam: collected.iam }),
        ...(collected.credentialReport === undefined ? {} : { credentialReport: collected.credentialReport }),
        ...(collected.buckets === undefined ? {} : { buckets: collected.buckets.buckets }),
        ...(instanceRegions.length === 0 ? {} : { instances: instanceRegions.flatMap((r) => collected.instances.get(r) ?? []) }),
    });
    const regions: Partial<Record<ItemKind, readonly string[]>> = {};
    if (collected.buckets !== undefined) regions.bucket = collected.buckets.regions;
    if (instanceRegions.length > 0) regions.instance = instanceRegions;
    return { accountId: audited.accountId, auditedAt, runId, kinds, items, regions };
}

export async function startRecording(db: Kysely<RecordsSchema>, options: { readonly startedAt: Date; readonly now: () => Date; readonly toolVersion?: string }): Promise<AuditRecording> {
    const runId = randomUUID();
    await startRun(db, { id: runId, startedAt: options.startedAt, ...(options.toolVersion === undefined ? {} : { toolVersion: options.toolVersion }) });
    const problems: string[] = [];
    const written: { target: string; accountId: string; inserted: number; changed: number; removed: number }[] = [];
    return {
        runId,
        problems,
        written,
        onTargetAudited: async (audited) => {
            try {
                const counts = await writeAccountSnapshot(db, snapshotOf(audited, runId, options.now()), {}, { findings: audited.findings });
                written.push({ target: audited.target.name, accountId: audited.accountId, inserted: counts.inserted, changed: counts.changed + counts.restored, removed: counts.removed });
            } catch (error) {
                problems.push(`${audited.target.name} (${audited.accountId}): ${error instanceof Error ? error.message : String(error)}`);
            }
        },
        finish: (at) => finishRun(db, runId, at),
    };
}
