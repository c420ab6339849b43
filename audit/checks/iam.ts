/**
 * The IAM checks as runner Checks: `group-policies` and `root-and-users` over ONE IAM inventory per
 * target (fetchIamInventory: one GetAccountAuthorizationDetails listing), shared by both checks
 * even when they run at the same time (the fetch is cached per target's ClientFactory, as a promise),
 * and one credential report per target. The checks themselves are pure (groupPolicies.ts,
 * rootAndUsers.ts); IAM is global, so the findings' region is "global" and one IAM client (the
 * target's first region) is used.
 */
import { IAMClient } from "@aws-sdk/client-iam";
import { GROUP_POLICY_NAMES } from "../../policies/groupPolicies";
import { DEFAULT_CREDENTIAL_REPORT_MAX_AGE_MINUTES } from "../args";
import { CredentialReport, IamInventory, fetchCredentialReport, fetchIamInventory } from "../iamInventory";
import type { Check, CheckContext, ClientFactory } from "./context";
import { checkGroupPolicies } from "./groupPolicies";
import { checkRootAndUsers } from "./rootAndUsers";

export interface IamCheckOptions {
    /** Reuse a credential report younger than this. @default DEFAULT_CREDENTIAL_REPORT_MAX_AGE_MINUTES */
    readonly credentialReportMaxAgeMinutes?: number;
    /** First wait between GenerateCredentialReport polls. @default 2000 */
    readonly pollMs?: number;
    /** Give up on the credential report after this long. @default 300000 */
    readonly timeoutMs?: number;
}

/** The source identifier whose IgnoreUsers say who needs no MFA (CloudKestrel's IAM_USER_MFA_ENABLED). */
const MFA_RULE = "IAM_USER_MFA_ENABLED";

function iamClient(ctx: CheckContext): IAMClient {
    // IAM is global: any region of the partition reaches it; the target's first one.
    return ctx.clients.make(IAMClient, ctx.regions[0] ?? "us-east-1");
}

/** Both IAM checks, sharing one inventory and one credential report per target (per ClientFactory). */
export function iamChecks(options: IamCheckOptions = {}): { readonly groupPolicies: Check; readonly rootAndUsers: Check } {
    const inventories = new WeakMap<ClientFactory, Promise<IamInventory>>();
    const reports = new WeakMap<ClientFactory, Promise<CredentialReport>>();
    const inventoryOf = (ctx: CheckContext): Promise<IamInventory> => {
        let held = inventories.get(ctx.clients);
        if (held === undefined) {
            held = fetchIamInventory(iamClient(ctx));
            inventories.set(ctx.clients, held);
            // For the records database, once per target; a failed listing collects nothing (the
            // checks report the failure).
            held.then((inv) => ctx.collect?.iam(inv), () => undefined);
        }
        return held;
    };
    const reportOf = (ctx: CheckContext): Promise<CredentialReport> => {
        let held = reports.get(ctx.clients);
        if (held === undefined) {
            held = fetchCredentialReport(iamClient(ctx), {
                maxAgeMinutes: options.credentialReportMaxAgeMinutes ?? DEFAULT_CREDENTIAL_REPORT_MAX_AGE_MINUTES,
                pollMs: options.pollMs ?? 2000,
                timeoutMs: options.timeoutMs ?? 300_000,
                now: ctx.now,
            });
            reports.set(ctx.clients, held);
            held.then((report) => ctx.collect?.credentialReport(report.rows), () => undefined);
        }
        return held;
    };

    const groupPolicies: Check = async (ctx) => {
        const inv = await inventoryOf(ctx);
        const t = ctx.target;
        const ignoreUsers: Record<string, readonly string[]> = {};
        for (const p of t.policies) {
            ignoreUsers[p.name] = [...new Set([...t.ignoreUsers, ...p.ignoreUsers])];
        }
        const sourceCidrs = t.policies.find((p) => p.name === GROUP_POLICY_NAMES.sourceIp)?.sourceCidrs;
        return checkGroupPolicies(inv, {
            name: t.name,
            accountId: ctx.accountId,
            partition: ctx.partition,
            ...(sourceCidrs === undefined ? {} : { sourceCidrs }),
            ignoreUsers,
            policies: t.policies.map((p) => p.name),
        });
    };

    const rootAndUsers: Check = async (ctx) => {
        const [inv, report] = await Promise.all([inventoryOf(ctx), reportOf(ctx)]);
        const t = ctx.target;
        const mfaIgnore = t.configRules.find((r) => r.sourceIdentifier === MFA_RULE)?.ignoreUsers ?? [];
        return checkRootAndUsers(report.rows, inv, {
            target: t.name,
            accountId: ctx.accountId,
            unusedDays: ctx.unusedDays,
            now: ctx.now(),
            mfaIgnoreUsers: [...new Set([...t.ignoreUsers, ...mfaIgnore])],
            ...(report.generatedTime === undefined ? {} : { reportGeneratedAt: report.generatedTime }),
        });
    };
    return { groupPolicies, rootAndUsers };
}

const DEFAULT_IAM_CHECKS = iamChecks();

/** group-policies with the default options (one inventory per target, shared with rootAndUsersCheck). */
export const groupPoliciesCheck: Check = DEFAULT_IAM_CHECKS.groupPolicies;
/** root-and-users with the default options (one inventory per target, shared with groupPoliciesCheck). */
export const rootAndUsersCheck: Check = DEFAULT_IAM_CHECKS.rootAndUsers;
