/**
 * `airlock:secureInstances`, `airlock:accountGuardrails` and `airlock:guardrails` (config/guardrails.ts):
 * the switch between the two halves, and every guardrails setting with its message.
 */
import * as path from "path";
import { GUARDRAIL_FIELDS } from "../config/guardrails";
import { ConfigError, parseAirlockConfig } from "../config/schema";
import { MANAGED_RULES } from "../policies/configRules";
import { PROJECT_ROOT, readStackConfig } from "./support/program";

const GUARDRAILS_STACK = readStackConfig(path.join(PROJECT_ROOT, "Pulumi.guardrails.yaml"));

/** The guardrails example stack with changes (undefined removes a key; objects are written as JSON). */
function stack(changes: Record<string, unknown> = {}): Record<string, string> {
    const values = { ...GUARDRAILS_STACK.values };
    for (const [key, value] of Object.entries(changes)) {
        if (value === undefined) delete values[key];
        else values[key] = typeof value === "string" ? value : JSON.stringify(value);
    }
    return values;
}

const guardrails = (settings: Record<string, unknown>) => ({ "airlock:guardrails": { sourceCidrs: ["10.0.0.0/8"], ...settings } });

function problems(values: Record<string, string>, secretKeys: string[] = []): string[] {
    try {
        parseAirlockConfig(values, secretKeys);
        return [];
    } catch (err) {
        if (err instanceof ConfigError) return [...err.problems];
        throw err;
    }
}

const parsed = (values: Record<string, string>) => parseAirlockConfig(values, []).guardrails!;

describe("the two halves", () => {
    it("the example guardrails stack (Pulumi.guardrails.yaml) is valid and declares no instance", () => {
        const config = parseAirlockConfig(GUARDRAILS_STACK.values, GUARDRAILS_STACK.secretKeys);
        expect(config.secureInstances).toBe(false);
        expect(config.instances).toEqual([]);
        expect(config.guardrails).toMatchObject({ globalRegion: "eu-west-1", declaresGlobal: true, configRecorder: true, detectOnly: false, selfHealing: true });
        expect(config.guardrails?.groupPolicies).toEqual({
            sourceCidrs: ["195.89.85.64/28", "2001:db8:1200::/48"],
            devOpsUsers: ["alice", "bob"],
            securityAuditUsers: ["cloudkestrel"],
            ignoredUsers: ["svc-backup"],
            allowPasswordChangeWithoutMfa: false,
        });
        expect(config.guardrails?.trail).toEqual({ cloudWatchLogsRetentionDays: 365 });
    });

    it("the dev stack (instances only) has no guardrails", () => {
        const config = parseAirlockConfig(readStackConfig().values, readStackConfig().secretKeys);
        expect(config.secureInstances).toBe(true);
        expect(config.guardrails).toBeUndefined();
    });

    it("refuses a stack with both halves off, saying how to turn one on", () => {
        expect(problems(stack({ "airlock:accountGuardrails": "false", "airlock:guardrails": undefined }))).toEqual([
            "`airlock:secureInstances` and `airlock:accountGuardrails` are both false: this stack would declare nothing. Set `airlock:secureInstances` to true for instances, or `airlock:accountGuardrails` to true for the account's guardrails stack.",
        ]);
    });

    it("refuses guardrails settings in a stack that does not declare the guardrails", () => {
        expect(problems(stack({ "airlock:secureInstances": "true", "airlock:vpcId": "vpc-0a1b2c3d4e5f60718", "airlock:accountGuardrails": "false" }))).toEqual([
            "`airlock:guardrails` is set, but `airlock:accountGuardrails` is false, so nothing would read it. Set `airlock:accountGuardrails` to true, or remove `airlock:guardrails`.",
        ]);
    });

    it.each(["vpcId", "instances", "deployers"])("refuses the instance setting %s in a guardrails-only stack", (key) => {
        const value = { vpcId: "vpc-0a1b2c3d4e5f60718", instances: [{ name: "web-1", instanceType: "t3.small" }], deployers: ["arn:aws:iam::111122223333:role/deployer"] }[key];
        expect(problems(stack({ [`airlock:${key}`]: value }))).toContain(
            `\`airlock:${key}\` only applies to the secure instances, but \`airlock:secureInstances\` is false. Remove it, or set secureInstances to true.`,
        );
    });

    it("lets one stack declare both halves", () => {
        const config = parseAirlockConfig({ ...readStackConfig().values, "airlock:accountGuardrails": "true", ...stringify(guardrails({})) }, readStackConfig().secretKeys);
        expect(config.secureInstances).toBe(true);
        expect(config.instances.length).toBeGreaterThan(0);
        expect(config.guardrails?.declaresGlobal).toBe(true);
    });
});

function stringify(values: Record<string, unknown>): Record<string, string> {
    return Object.fromEntries(Object.entries(values).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
}

describe("airlock:guardrails", () => {
    it("declares the global parts only in the global region; elsewhere the regional rules, recorder and healer", () => {
        const here = parsed(stack(guardrails({ globalRegion: "us-east-1" })));
        expect(here).toMatchObject({ globalRegion: "us-east-1", declaresGlobal: false, groupPolicies: undefined, trail: undefined });
        expect(here.rules.map((r) => r.spec.scope)).not.toContain("global");
        expect(here.rules.length).toBe(MANAGED_RULES.filter((r) => r.scope === "regional").length);
        const global = parsed(stack(guardrails({})));
        expect(global.rules.length).toBe(MANAGED_RULES.length);
    });

    it("turns every rule on with Airlock's parameters, and lets a stack override them", () => {
        const config = parsed(stack(guardrails({ rules: { IAM_USER_UNUSED_CREDENTIALS_CHECK: { parameters: { maxCredentialUsageAge: 30 } }, ENCRYPTED_VOLUMES: { enabled: false } } })));
        const rule = config.rules.find((r) => r.spec.sourceIdentifier === "IAM_USER_UNUSED_CREDENTIALS_CHECK");
        expect(rule?.parameters).toMatchObject({ maxCredentialUsageAge: 30 });
        expect(config.rules.map((r) => r.spec.sourceIdentifier)).not.toContain("ENCRYPTED_VOLUMES");
    });

    it("remediates by default only where the catalog says so, and never with detectOnly", () => {
        const config = parsed(stack(guardrails({})));
        for (const rule of config.rules) {
            expect([rule.spec.sourceIdentifier, rule.remediate]).toEqual([rule.spec.sourceIdentifier, rule.spec.remediation?.automaticByDefault === true]);
        }
        const detectOnly = parsed(stack(guardrails({ detectOnly: true, rules: { IAM_USER_NO_POLICIES_CHECK: { remediate: true } } })));
        expect(detectOnly.rules.filter((r) => r.remediate)).toEqual([]);
    });

    it("lets a stack turn a detect-only-by-default remediation on, and an automatic one off", () => {
        const optional = MANAGED_RULES.find((r) => r.remediation !== undefined && !r.remediation.automaticByDefault && r.remediation.needsTrailKey !== true);
        const automatic = MANAGED_RULES.find((r) => r.remediation?.automaticByDefault === true);
        expect(optional).toBeDefined();
        expect(automatic).toBeDefined();
        const config = parsed(stack(guardrails({ rules: { [optional!.sourceIdentifier]: { remediate: true }, [automatic!.sourceIdentifier]: { remediate: false } } })));
        expect(config.rules.find((r) => r.spec === optional)?.remediate).toBe(true);
        expect(config.rules.find((r) => r.spec === automatic)?.remediate).toBe(false);
    });

    it.each<[string, Record<string, unknown>, string]>([
        ["an unknown setting", { sourceCidr: ["10.0.0.0/8"] }, "Unknown setting `airlock:guardrails.sourceCidr`. Known settings: "],
        ["no CIDRs with the group policies", { sourceCidrs: [] }, "`airlock:guardrails.sourceCidrs` is required with the group policies"],
        ["a CIDR without a mask", { sourceCidrs: ["195.89.85.67"] }, 'CIDR mask is missing in `airlock:guardrails.sourceCidrs[0]`: "195.89.85.67". Did you mean "195.89.85.67/32"?'],
        ["the whole internet as the users' range", { sourceCidrs: ["10.0.0.0/8", "0.0.0.0/0"] }, "`airlock:guardrails.sourceCidrs[1]` admits every IPv4 address, so User_Source_IP_Restrictions would restrict nothing."],
        ["the whole IPv6 internet as the users' range", { sourceCidrs: ["::/0"] }, "`airlock:guardrails.sourceCidrs[0]` admits every IPv6 address"],
        [
            "more CIDRs than fit in an IAM policy",
            { sourceCidrs: Array.from({ length: 400 }, (_, i) => `10.${Math.floor(i / 250)}.${i % 250}.0/24`) },
            "`airlock:guardrails.sourceCidrs` makes User_Source_IP_Restrictions",
        ],
        ["more ignored users than fit in an IAM policy", { ignoredUsers: Array.from({ length: 400 }, (_, i) => `service-user-${i}`) }, "`airlock:guardrails.ignoredUsers` makes Force_MFA"],
        ["a user name IAM refuses", { devOpsUsers: ["alice smith"] }, '`airlock:guardrails.devOpsUsers[0]` must be an IAM user name (1-64 of letters, digits and +=,.@_-), not "alice smith".'],
        ["a user named twice", { ignoredUsers: ["svc", "svc"] }, '`airlock:guardrails.ignoredUsers[1]` repeats "svc"; remove one.'],
        ["a quoted boolean", { detectOnly: "true" }, '`airlock:guardrails.detectOnly` must be true or false, not the string true. Write it without quotes: true.'],
        ["a region that is not one", { globalRegion: "Ireland" }, '`airlock:guardrails.globalRegion` must be an AWS region such as "us-east-1", not "Ireland".'],
        ["a retention CloudWatch does not offer", { trailCloudWatchLogsRetentionDays: 100 }, "`airlock:guardrails.trailCloudWatchLogsRetentionDays` must be one of CloudWatch Logs' retention periods: 1, 3, 5"],
        ["a retention without a trail", { trail: false, trailCloudWatchLogsRetentionDays: 90 }, "`airlock:guardrails.trailCloudWatchLogsRetentionDays` only applies to the trail, but `airlock:guardrails.trail` is false."],
        ["group settings without group policies", { groupPolicies: false, sourceCidrs: undefined, devOpsUsers: ["alice"] }, "`airlock:guardrails.devOpsUsers` only applies to the group policies, but `airlock:guardrails.groupPolicies` is false."],
        ["a rule by a guessed name", { rules: { "iam-password-policy": { enabled: false } } }, "Unknown rule `iam-password-policy` in `airlock:guardrails.rules`: rules are named by their AWS source identifier. Did you mean `IAM_PASSWORD_POLICY`?"],
        ["an unknown rule setting", { rules: { IAM_PASSWORD_POLICY: { enable: false } } }, "Unknown setting `airlock:guardrails.rules.IAM_PASSWORD_POLICY.enable`."],
        ["a remediation the rule does not have", { rules: { INCOMING_SSH_DISABLED: { remediate: true } } }, "`airlock:guardrails.rules.INCOMING_SSH_DISABLED.remediate` is true, but INCOMING_SSH_DISABLED has no safe AWS runbook in Airlock"],
        ["a parameter the rule does not take", { rules: { IAM_PASSWORD_POLICY: { parameters: { MinimumLength: 14 } } } }, "`airlock:guardrails.rules.IAM_PASSWORD_POLICY.parameters`: "],
    ])("refuses %s, naming the field", (_what, settings, message) => {
        const found = problems(stack({ "airlock:guardrails": { sourceCidrs: ["10.0.0.0/8"], ...settings } }));
        expect(found).toHaveLength(1);
        expect(found[0]).toContain(message);
    });

    it("refuses a map where a list of users belongs, and a list where the settings map belongs", () => {
        expect(problems(stack(guardrails({ devOpsUsers: "alice" })))).toEqual(['`airlock:guardrails.devOpsUsers` must be a list of IAM user names, e.g. [alice, bob], not "alice".']);
        expect(problems(stack({ "airlock:guardrails": ["sourceCidrs"] }))[0]).toContain("`airlock:guardrails` must be a map of settings");
    });

    it("shows no value of a guardrails setting the stack holds as a secret", () => {
        const values = stack({ "airlock:guardrails": { sourceCidrs: ["195.89.85.67"], devOpsUsers: ["secret user"], rules: { "secret-rule": {} } } });
        const found = problems(values, ["airlock:guardrails"]).join("\n");
        expect(found).not.toContain("195.89.85.67");
        expect(found).not.toContain("secret user");
        expect(found).not.toContain("secret-rule");
    });
});

describe("README's Account guardrails section", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const readme = (require("fs") as typeof import("fs")).readFileSync(path.join(PROJECT_ROOT, "README.md"), "utf8");
    const section = readme.slice(readme.indexOf("## Account guardrails"), readme.indexOf("## Security model"));

    it.each(MANAGED_RULES.map((rule) => [rule.sourceIdentifier, rule] as const))("documents %s: scope, its runbook or none, and what the runbook changes", (id, rule) => {
        const row = section.split("\n").find((line) => line.startsWith(`| \`${id}\` |`));
        expect(row).toBeDefined();
        expect(row).toContain(`| ${rule.scope} |`);
        if (rule.remediation === undefined) {
            expect(row).toContain("none (detect-only)");
        } else {
            expect(row).toContain(`\`${rule.remediation.documentName}\``);
            expect(row).toContain(rule.remediation.automaticByDefault ? "automatic" : "off unless `remediate: true`");
            expect(section).toContain(`- \`${id}\` → \`${rule.remediation.documentName}\`:`);
        }
    });

    it.each([...GUARDRAIL_FIELDS])(
        "documents the setting %s",
        (field) => {
            expect(section).toMatch(new RegExp(`^\\| (?:\`\\w+\`, )?\`${field}\`[^|]*\\|`, "m"));
        },
    );
});
