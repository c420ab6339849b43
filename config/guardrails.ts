/**
 * `airlock:guardrails`: the settings of the account guardrails (README "Account guardrails"). Read
 * only when `airlock:accountGuardrails` is true; every problem names its field and the fix.
 */
import { MANAGED_RULES, ManagedRuleSpec, ruleParameterProblems, ruleParameterValues } from "../policies/configRules";
import { GROUP_POLICY_NAMES, forceMfaPolicy, groupPolicyJson, sourceIpRestrictionPolicy } from "../policies/groupPolicies";
import { Json, Reader, cidrEntries, describeKind, isObject, unknownFields } from "./reader";
import { didYouMean } from "./suggest";

/** One managed Config rule as this stack declares it. */
export interface RuleSetting {
    readonly spec: ManagedRuleSpec;
    /** The rule's parameters: Airlock's defaults with the stack's overrides. */
    readonly parameters: Readonly<Record<string, string | number | boolean>>;
    /** Whether its AWS runbook runs automatically on noncompliant resources. */
    readonly remediate: boolean;
}

export interface GroupPolicySettings {
    readonly sourceCidrs: readonly string[];
    readonly devOpsUsers: readonly string[];
    readonly securityAuditUsers: readonly string[];
    readonly ignoredUsers: readonly string[];
    readonly allowPasswordChangeWithoutMfa: boolean;
}

export interface GuardrailsConfig {
    /** The region whose stack declares the account-wide parts (IAM, global Config rules, the trail). */
    readonly globalRegion: string;
    /** This stack's region is the global region. */
    readonly declaresGlobal: boolean;
    /** undefined: no group policies in this account's guardrails (`groupPolicies: false`). */
    readonly groupPolicies?: GroupPolicySettings;
    /** Create the configuration recorder and delivery channel (an account has one per region). */
    readonly configRecorder: boolean;
    /** Stack-wide: no remediation runs, whatever the rules say. */
    readonly detectOnly: boolean;
    /** The rules this stack declares (global ones only in the global region). */
    readonly rules: readonly RuleSetting[];
    /** undefined: no trail (`trail: false`). */
    readonly trail?: { readonly cloudWatchLogsRetentionDays?: number };
    readonly selfHealing: boolean;
}

export const GUARDRAIL_FIELDS = [
    "globalRegion",
    "groupPolicies",
    "sourceCidrs",
    "devOpsUsers",
    "securityAuditUsers",
    "ignoredUsers",
    "allowPasswordChangeWithoutMfa",
    "configRecorder",
    "detectOnly",
    "rules",
    "trail",
    "trailCloudWatchLogsRetentionDays",
    "selfHealing",
] as const;

const RULE_FIELDS = ["enabled", "remediate", "parameters"] as const;

/** CloudWatch Logs' allowed retention periods, in days. */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

const USER_NAME = /^[\w+=,.@-]{1,64}$/;
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d$/;

function booleanField(r: Reader, path: string, value: Json | undefined, fallback: boolean): boolean {
    if (value === undefined) {
        return fallback;
    }
    if (typeof value !== "boolean") {
        const quoted = value === "true" || value === "false" ? ` Write it without quotes: ${value}.` : "";
        r.fail(`\`${path}\` must be true or false, not ${r.isSecret(path) ? "another kind of value" : describeKind(value)}.${quoted}`);
        return fallback;
    }
    return value;
}

function userList(r: Reader, path: string, value: Json | undefined): string[] {
    if (value === undefined || value === null) {
        return [];
    }
    if (!Array.isArray(value)) {
        r.fail(`\`${path}\` must be a list of IAM user names, e.g. [alice, bob]${r.not(path, value)}.`);
        return [];
    }
    const users: string[] = [];
    value.forEach((item, i) => {
        if (typeof item !== "string" || !USER_NAME.test(item)) {
            r.fail(`\`${path}[${i}]\` must be an IAM user name (1-64 of letters, digits and +=,.@_-)${r.not(`${path}[${i}]`, item)}.`);
        } else if (users.includes(item)) {
            r.fail(`\`${path}[${i}]\` repeats ${r.isSecret(path) ? "a user" : JSON.stringify(item)}; remove one.`);
        } else {
            users.push(item);
        }
    });
    return users;
}

function parseGroupPolicies(r: Reader, path: string, value: { [key: string]: Json }): GroupPolicySettings | undefined {
    const field = (name: string) => `${path}.${name}`;
    if (!booleanField(r, field("groupPolicies"), value.groupPolicies, true)) {
        for (const only of ["sourceCidrs", "devOpsUsers", "securityAuditUsers", "ignoredUsers", "allowPasswordChangeWithoutMfa"]) {
            if (value[only] !== undefined) {
                r.fail(`\`${field(only)}\` only applies to the group policies, but \`${field("groupPolicies")}\` is false. Remove it, or set groupPolicies to true.`);
            }
        }
        return undefined;
    }
    if (value.sourceCidrs === undefined || (Array.isArray(value.sourceCidrs) && value.sourceCidrs.length === 0)) {
        r.fail(
            `\`${field("sourceCidrs")}\` is required with the group policies: the CIDRs users call AWS from (CloudKestrel's Source_IPs), e.g. ["195.89.85.64/28"]. User_Source_IP_Restrictions denies every other address. Or set \`${field("groupPolicies")}\` to false.`,
        );
    }
    const entries = cidrEntries(r, field("sourceCidrs"), value.sourceCidrs, "any");
    for (const { index, cidr } of entries) {
        if (cidr.endsWith("/0")) {
            r.fail(
                `\`${field("sourceCidrs")}[${index}]\` admits every ${cidr.includes(":") ? "IPv6" : "IPv4"} address, so User_Source_IP_Restrictions would restrict nothing. Name the ranges users work from, or set \`${field("groupPolicies")}\` to false.`,
            );
        }
    }
    const sourceCidrs = entries.map((e) => e.cidr);
    const devOpsUsers = userList(r, field("devOpsUsers"), value.devOpsUsers);
    const securityAuditUsers = userList(r, field("securityAuditUsers"), value.securityAuditUsers);
    const ignoredUsers = userList(r, field("ignoredUsers"), value.ignoredUsers);
    const allowPasswordChangeWithoutMfa = booleanField(r, field("allowPasswordChangeWithoutMfa"), value.allowPasswordChangeWithoutMfa, false);
    // IAM refuses a managed policy over 6,144 characters (whitespace not counted), at `up`: say so at preview.
    const sizes: Array<[string, string, number]> = [];
    if (sourceCidrs.length > 0) {
        sizes.push([GROUP_POLICY_NAMES.sourceIp, "sourceCidrs", groupPolicyJson(sourceIpRestrictionPolicy({ cidrs: sourceCidrs, accountId: "123456789012" })).length]);
    }
    const mfa = forceMfaPolicy({ partition: "aws-iso-b", dnsSuffix: "sc2s.sgov.gov", ignoredUsers, allowPasswordChangeWithoutMfa });
    sizes.push([GROUP_POLICY_NAMES.forceMfa, "ignoredUsers", groupPolicyJson(mfa).length]);
    for (const [policy, cause, size] of sizes) {
        if (size > IAM_POLICY_MAX_CHARACTERS) {
            r.fail(`\`${field(cause)}\` makes ${policy} ${size} characters long; IAM allows ${IAM_POLICY_MAX_CHARACTERS}. Use fewer, wider entries.`);
        }
    }
    return { sourceCidrs, devOpsUsers, securityAuditUsers, ignoredUsers, allowPasswordChangeWithoutMfa };
}

/** IAM's limit on a managed policy document, in characters without whitespace. */
export const IAM_POLICY_MAX_CHARACTERS = 6144;

/** The stack's rule settings, merged with the catalog: every rule is on unless switched off. */
function parseRules(r: Reader, path: string, value: Json | undefined, opts: { detectOnly: boolean; declaresGlobal: boolean; trail: boolean }): RuleSetting[] {
    const overrides: { [key: string]: Json } = {};
    if (value !== undefined && value !== null) {
        if (!isObject(value)) {
            r.fail(`\`${path}\` must be a map from a rule's source identifier to its settings, e.g. {IAM_PASSWORD_POLICY: {enabled: false}}${r.not(path, value)}.`);
        } else {
            const known = MANAGED_RULES.map((rule) => rule.sourceIdentifier);
            for (const [id, setting] of Object.entries(value)) {
                if (!known.includes(id)) {
                    const hint = r.isSecret(path) ? "" : didYouMean(id.toUpperCase(), known, "`");
                    r.fail(`Unknown rule \`${r.isSecret(path) ? "(secret)" : id}\` in \`${path}\`: rules are named by their AWS source identifier.${hint} Known: ${known.join(", ")}.`);
                    continue;
                }
                overrides[id] = setting;
            }
        }
    }
    const settings: RuleSetting[] = [];
    for (const spec of MANAGED_RULES) {
        const rulePath = `${path}.${spec.sourceIdentifier}`;
        const raw = overrides[spec.sourceIdentifier];
        let setting: { [key: string]: Json } = {};
        if (raw !== undefined) {
            if (!isObject(raw)) {
                r.fail(`\`${rulePath}\` must be a map such as {enabled: false} or {remediate: true, parameters: {...}}${r.not(rulePath, raw)}.`);
                continue;
            }
            unknownFields(r, rulePath, raw, RULE_FIELDS);
            setting = raw;
        }
        const enabled = booleanField(r, `${rulePath}.enabled`, setting.enabled, true);
        const remediateAsked = setting.remediate === undefined ? undefined : booleanField(r, `${rulePath}.remediate`, setting.remediate, false);
        const given = setting.parameters ?? {};
        if (!isObject(given)) {
            r.fail(`\`${rulePath}.parameters\` must be a map of the rule's parameters${r.not(`${rulePath}.parameters`, given)}.`);
            continue;
        }
        for (const problem of ruleParameterProblems(spec.sourceIdentifier, given)) {
            r.fail(`\`${rulePath}.parameters\`: ${problem}`);
        }
        if (remediateAsked === true && spec.remediation === undefined) {
            r.fail(`\`${rulePath}.remediate\` is true, but ${spec.sourceIdentifier} has no safe AWS runbook in Airlock (${spec.why ?? "see README"}). Remove it: the rule reports only.`);
        }
        if (remediateAsked === true && spec.remediation?.needsTrailKey === true && !opts.trail) {
            r.fail(`\`${rulePath}.remediate\` is true, but its runbook encrypts trails with the guardrails trail's KMS key, and this stack declares no trail. Turn \`trail\` on, or remove remediate.`);
        }
        if (!enabled || (spec.scope === "global" && !opts.declaresGlobal)) {
            continue;
        }
        const parameters = ruleParameterValues(spec, given as Record<string, string | number | boolean>);
        const available = spec.remediation !== undefined && (spec.remediation.needsTrailKey !== true || opts.trail);
        const remediate = !opts.detectOnly && available && (remediateAsked ?? spec.remediation?.automaticByDefault ?? false);
        settings.push({ spec, parameters, remediate });
    }
    return settings;
}

/**
 * `airlock:guardrails` as written in the stack (undefined: every default). `region` is the stack's
 * `aws:region`; the global parts are declared only where it equals `globalRegion`.
 */
export function parseGuardrails(r: Reader, path: string, value: Json | undefined, region: string): GuardrailsConfig | undefined {
    const settings = value ?? {};
    if (!isObject(settings)) {
        r.fail(`\`${path}\` must be a map of settings such as {sourceCidrs: ["10.0.0.0/8"], devOpsUsers: [alice]}${r.not(path, settings)}.`);
        return undefined;
    }
    const problemsBefore = r.problems.length;
    unknownFields(r, path, settings, GUARDRAIL_FIELDS);
    const field = (name: string) => `${path}.${name}`;
    let globalRegion = region;
    if (settings.globalRegion !== undefined) {
        if (typeof settings.globalRegion !== "string" || !REGION.test(settings.globalRegion)) {
            r.fail(`\`${field("globalRegion")}\` must be an AWS region such as "us-east-1"${r.not(field("globalRegion"), settings.globalRegion)}.`);
        } else {
            globalRegion = settings.globalRegion;
        }
    }
    const declaresGlobal = globalRegion === region;
    const groupPolicies = parseGroupPolicies(r, path, settings);
    const trailOn = booleanField(r, field("trail"), settings.trail, true);
    let cloudWatchLogsRetentionDays: number | undefined;
    const retention = settings.trailCloudWatchLogsRetentionDays;
    if (retention !== undefined) {
        if (!trailOn) {
            r.fail(`\`${field("trailCloudWatchLogsRetentionDays")}\` only applies to the trail, but \`${field("trail")}\` is false. Remove it, or turn the trail on.`);
        } else if (typeof retention !== "number" || !(LOG_RETENTION_DAYS as readonly number[]).includes(retention)) {
            r.fail(`\`${field("trailCloudWatchLogsRetentionDays")}\` must be one of CloudWatch Logs' retention periods: ${LOG_RETENTION_DAYS.join(", ")}${r.not(field("trailCloudWatchLogsRetentionDays"), retention)}.`);
        } else {
            cloudWatchLogsRetentionDays = retention;
        }
    }
    const detectOnly = booleanField(r, field("detectOnly"), settings.detectOnly, false);
    const trail = trailOn && declaresGlobal ? { cloudWatchLogsRetentionDays } : undefined;
    const rules = parseRules(r, field("rules"), settings.rules, { detectOnly, declaresGlobal, trail: trail !== undefined });
    const config: GuardrailsConfig = {
        globalRegion,
        declaresGlobal,
        groupPolicies: declaresGlobal ? groupPolicies : undefined,
        configRecorder: booleanField(r, field("configRecorder"), settings.configRecorder, false),
        detectOnly,
        rules,
        trail,
        selfHealing: booleanField(r, field("selfHealing"), settings.selfHealing, true),
    };
    return r.problems.length > problemsBefore ? undefined : config;
}
