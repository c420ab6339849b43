import {
    ConfigRule,
    ConfigServiceClient,
    DescribeConfigurationRecorderStatusCommand,
    EvaluationResult,
    PutConfigRuleCommand,
    paginateDescribeConfigRules,
    paginateGetComplianceDetailsByConfigRule,
} from "@aws-sdk/client-config-service";
import { IAMClient, paginateListUsers } from "@aws-sdk/client-iam";
import { inputParameters } from "../../components/configRules";
import { ManagedRuleSpec, findManagedRule, ruleParameterValues } from "../../policies/configRules";
import { MANAGED_TAG } from "../../policies/keyNaming";
import type { Finding, Severity } from "../findings";
import type { ConfigRuleRule } from "../targets";
import type { Check, CheckContext } from "./context";
import { byName } from "./rootAndUsers";

/**
 * The Config-rules check (issue 10, "Config rules"; CloudKestrel's `Config` rules).
 *
 * Where each rule is looked for: a rule whose catalog scope is `regional` (policies/configRules.ts) in
 * every region of the target; a `global` rule (IAM users, the root user, account settings: what
 * Config evaluates from the IAM resource types it records in one region only) in the target's FIRST
 * region only. That is Airlock's decision, the same one the guardrails stack makes (global rules in
 * its one global region): list the region that records IAM first in the target's `regions`.
 *
 * Per region:
 * 1. DescribeConfigurationRecorderStatus. No recorder, or none recording: one `error` finding for the
 *    region ("Config is not recording in <region>: compliance cannot be read"); the rules are still
 *    looked for (and added with `--fix`), but no compliance is read there.
 * 2. DescribeConfigRules (every page). A required rule is found by `Source.SourceIdentifier` (owner
 *    AWS), never by its name. Several rules with the same identifier (Airlock's and a landing zone's)
 *    are all read, and a resource any of them reports is reported once.
 * 3. A missing rule: a `fail`, unless `--fix` (ctx.fix) and the rule's `addIfMissing`: then
 *    PutConfigRule exactly as the guardrails stack declares it (components/configRules.ts: Airlock's
 *    name, description, source, `inputParameters(ruleParameterValues(spec))`, frequency for periodic
 *    rules, `ComplianceResourceTypes` for change-triggered ones, the `airlock:managed` tag) and a
 *    `pass` titled "... added" with evidence `{added: true}`; a `fail` if adding failed (or if the
 *    name Airlock would give it is taken by a rule with another source: never overwritten).
 * 4. A present rule (recorder on): GetComplianceDetailsByConfigRule (every page, NON_COMPLIANT): one
 *    `fail` per noncompliant resource, naming its type and id (for IAM users also the user name);
 *    resources of ignored users are left out (listed in the rule's evidence); no noncompliant
 *    resource left: one `pass` for the rule. A rule that has not been evaluated yet has no
 *    noncompliant results either, and passes: Config's own view.
 *
 * Ignored users: Config names an `AWS::IAM::User` by its user id (AIDA…), targets by name. The user
 * ids come from one IAM ListUsers listing per target (every page), made only when some noncompliant
 * resource is an IAM user; a user id or name in `ignoreUsers` (ignoring case) matches.
 *
 * Findings: `resource` of a rule-level finding is the source identifier (stable whether the rule is
 * missing, added or present; the rules' ARNs and names are in the evidence); of a per-resource one,
 * the IAM user's ARN, else Config's resource id. Titles do not depend on the status (OCSF uids hash
 * the title): "Config rule X" for pass and missing, "Config rule X: <type> <id>" per resource.
 */

const CHECK = "config-rules" as const;
const IAM_USER = "AWS::IAM::User";

/** Of a missing rule; of a noncompliant resource it is the rule's (RULE_SEVERITY, else medium). */
const MISSING_SEVERITY: Severity = "high";
const RULE_SEVERITY: Readonly<Record<string, Severity>> = {
    ROOT_ACCOUNT_MFA_ENABLED: "critical",
    IAM_ROOT_ACCESS_KEY_CHECK: "critical",
    IAM_USER_MFA_ENABLED: "high",
    S3_BUCKET_PUBLIC_READ_PROHIBITED: "high",
    S3_BUCKET_PUBLIC_WRITE_PROHIBITED: "critical",
    RESTRICTED_INCOMING_TRAFFIC: "high",
    INCOMING_SSH_DISABLED: "high",
};

/** The region a rule is looked for in: global rules in the target's first region only. */
export function rulesForRegion(required: readonly ConfigRuleRule[], regions: readonly string[], region: string): ConfigRuleRule[] {
    return required.filter((r) => (findManagedRule(r.sourceIdentifier)?.scope ?? "regional") === "regional" || region === regions[0]);
}

/** The PutConfigRule request the guardrails stack's declaration amounts to (components/configRules.ts). */
export function declaredRule(spec: ManagedRuleSpec): ConfigRule {
    const parameters = inputParameters(ruleParameterValues(spec));
    return {
        ConfigRuleName: spec.ruleName,
        Description: spec.description,
        Source: { Owner: "AWS", SourceIdentifier: spec.sourceIdentifier },
        ...(parameters === undefined ? {} : { InputParameters: parameters }),
        ...(spec.trigger === "change" || spec.maximumExecutionFrequency === undefined ? {} : { MaximumExecutionFrequency: spec.maximumExecutionFrequency }),
        ...(spec.trigger !== "periodic" && spec.resourceTypes !== undefined ? { Scope: { ComplianceResourceTypes: [...spec.resourceTypes] } } : {}),
    };
}

interface IamUserRef {
    readonly name: string;
    readonly arn: string;
}

export const configRulesCheck: Check = async (ctx) => {
    const findings: Finding[] = [];
    const required = dedupe(ctx.target.configRules);
    let users: Promise<ReadonlyMap<string, IamUserRef>> | undefined;
    const usersById = (): Promise<ReadonlyMap<string, IamUserRef>> => (users ??= listUsers(ctx));
    for (const region of ctx.regions) {
        findings.push(...(await checkRegion(ctx, region, rulesForRegion(required, ctx.regions, region), usersById)));
    }
    return findings;
};

function dedupe(rules: readonly ConfigRuleRule[]): ConfigRuleRule[] {
    const out = new Map<string, ConfigRuleRule>();
    for (const r of rules) {
        const seen = out.get(r.sourceIdentifier);
        out.set(
            r.sourceIdentifier,
            seen === undefined ? r : { sourceIdentifier: r.sourceIdentifier, addIfMissing: seen.addIfMissing || r.addIfMissing, ignoreUsers: [...seen.ignoreUsers, ...r.ignoreUsers] },
        );
    }
    return [...out.values()];
}

async function listUsers(ctx: CheckContext): Promise<ReadonlyMap<string, IamUserRef>> {
    const iam = ctx.clients.make(IAMClient, ctx.regions[0] ?? "us-east-1");
    const byId = new Map<string, IamUserRef>();
    for await (const page of paginateListUsers({ client: iam, pageSize: 1000 }, {})) {
        for (const u of page.Users ?? []) {
            if (u.UserId !== undefined && u.UserName !== undefined) byId.set(u.UserId, { name: u.UserName, arn: u.Arn ?? "" });
        }
    }
    return byId;
}

async function checkRegion(
    ctx: CheckContext,
    region: string,
    required: readonly ConfigRuleRule[],
    usersById: () => Promise<ReadonlyMap<string, IamUserRef>>,
): Promise<Finding[]> {
    const findings: Finding[] = [];
    const finding = (f: Omit<Finding, "target" | "accountId" | "region" | "check">): void => {
        findings.push({ target: ctx.target.name, accountId: ctx.accountId, region, check: CHECK, ...f });
    };
    const config = ctx.clients.make(ConfigServiceClient, region);

    const status = await config.send(new DescribeConfigurationRecorderStatusCommand({}));
    const recorders = status.ConfigurationRecordersStatus ?? [];
    const recording = recorders.some((r) => r.recording === true);
    if (!recording) {
        finding({
            resource: `config-recorder/${region}`,
            status: "error",
            severity: "high",
            title: `Config is not recording in ${region}: compliance cannot be read`,
            evidence: { recorders: recorders.map((r) => ({ name: r.name ?? null, recording: r.recording ?? false, lastStatus: r.lastStatus ?? null })) },
        });
    }
    if (required.length === 0) {
        return findings;
    }

    const rules: ConfigRule[] = [];
    for await (const page of paginateDescribeConfigRules({ client: config }, {})) {
        rules.push(...(page.ConfigRules ?? []));
    }

    for (const want of required) {
        const id = want.sourceIdentifier;
        const title = `Config rule ${id}`;
        const severity = RULE_SEVERITY[id] ?? "medium";
        const present = rules.filter((r) => r.Source?.Owner === "AWS" && r.Source.SourceIdentifier === id && r.ConfigRuleState !== "DELETING");
        if (present.length === 0) {
            const spec = findManagedRule(id);
            const missing = { resource: id, severity: MISSING_SEVERITY, evidence: { sourceIdentifier: id, addIfMissing: want.addIfMissing, fix: ctx.fix } };
            if (!(ctx.fix && want.addIfMissing)) {
                const why = want.addIfMissing ? "run with --fix to add it" : "AddIfMissing is off for it";
                finding({ ...missing, status: "fail", title, evidence: { ...missing.evidence, missing: true, note: `No Config rule with source identifier ${id} in ${region}; ${why}.` } });
                continue;
            }
            if (spec === undefined) {
                finding({ ...missing, status: "fail", title, evidence: { ...missing.evidence, missing: true, error: `${id} is not in Airlock's catalog (policies/configRules.ts): Airlock does not know how to declare it.` } });
                continue;
            }
            const declared = declaredRule(spec);
            const nameTaken = rules.find((r) => r.ConfigRuleName === spec.ruleName);
            if (nameTaken !== undefined) {
                finding({
                    ...missing,
                    status: "fail",
                    title,
                    evidence: {
                        ...missing.evidence,
                        missing: true,
                        error: `The rule name ${spec.ruleName} is taken by a rule with source ${nameTaken.Source?.SourceIdentifier ?? "(none)"}: not overwritten.`,
                    },
                });
                continue;
            }
            try {
                await config.send(new PutConfigRuleCommand({ ConfigRule: declared, Tags: [{ Key: MANAGED_TAG, Value: "true" }] }));
                finding({
                    resource: id,
                    status: "pass",
                    severity: "informational",
                    title: `${title} added`,
                    evidence: { added: true, sourceIdentifier: id, ruleName: spec.ruleName, rule: declared as unknown as Record<string, unknown> },
                });
            } catch (error) {
                finding({
                    ...missing,
                    status: "fail",
                    title,
                    evidence: { ...missing.evidence, missing: true, added: false, ruleName: spec.ruleName, error: `${(error as Error).name}: ${(error as Error).message}` },
                });
            }
            continue;
        }
        const ruleRefs = present.map((r) => ({ name: r.ConfigRuleName ?? "", arn: r.ConfigRuleArn ?? "" }));
        if (!recording) {
            // The region's error finding says why; nothing to say per rule.
            continue;
        }
        const noncompliant = new Map<string, { type: string; id: string; rules: string[]; annotation?: string }>();
        for (const rule of present) {
            for await (const page of paginateGetComplianceDetailsByConfigRule({ client: config }, { ConfigRuleName: rule.ConfigRuleName, ComplianceTypes: ["NON_COMPLIANT"] })) {
                for (const result of page.EvaluationResults ?? []) {
                    const q = qualifier(result);
                    if (q === undefined || result.ComplianceType !== "NON_COMPLIANT") continue;
                    const key = `${q.type}\u0000${q.id}`;
                    const seen = noncompliant.get(key) ?? { type: q.type, id: q.id, rules: [], ...(result.Annotation === undefined ? {} : { annotation: result.Annotation }) };
                    if (!seen.rules.includes(rule.ConfigRuleName ?? "")) seen.rules.push(rule.ConfigRuleName ?? "");
                    noncompliant.set(key, seen);
                }
            }
        }
        const users = [...noncompliant.values()].some((r) => r.type === IAM_USER) ? await usersById() : new Map<string, IamUserRef>();
        const ignore = new Set([...want.ignoreUsers, ...ctx.target.ignoreUsers].map((u) => u.toLowerCase()));
        const ignored: string[] = [];
        const failures: Finding[] = [];
        for (const r of noncompliant.values()) {
            const user = r.type === IAM_USER ? users.get(r.id) : undefined;
            if (r.type === IAM_USER && (ignore.has(r.id.toLowerCase()) || (user !== undefined && ignore.has(user.name.toLowerCase())))) {
                ignored.push(user?.name ?? r.id);
                continue;
            }
            const named = user === undefined ? r.id : `${user.name} (${r.id})`;
            failures.push({
                target: ctx.target.name,
                accountId: ctx.accountId,
                region,
                check: CHECK,
                resource: user?.arn || r.id,
                status: "fail",
                severity,
                title: `${title}: ${r.type} ${named}`,
                evidence: {
                    sourceIdentifier: id,
                    rules: r.rules,
                    resourceType: r.type,
                    resourceId: r.id,
                    ...(user === undefined ? {} : { userName: user.name }),
                    ...(r.annotation === undefined ? {} : { annotation: r.annotation }),
                },
            });
        }
        failures.sort((a, b) => byName(a.title, b.title));
        findings.push(...failures);
        if (failures.length === 0) {
            finding({ resource: id, status: "pass", severity: "informational", title, evidence: { sourceIdentifier: id, rules: ruleRefs, noncompliantResources: 0, ignoredUsers: ignored.sort(byName) } });
        }
    }
    return findings;
}

function qualifier(result: EvaluationResult): { type: string; id: string } | undefined {
    const q = result.EvaluationResultIdentifier?.EvaluationResultQualifier;
    return q?.ResourceType === undefined || q.ResourceId === undefined ? undefined : { type: q.ResourceType, id: q.ResourceId };
}
