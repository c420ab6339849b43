import * as fs from "fs";
import * as path from "path";
import * as util from "util";
import { CHECK_IDS, DEFAULT_CHECK_IDS } from "../audit/findings";
import { parseTargetsFile, regionProblem, staticCredentialValues, Target, TargetsError } from "../audit/targets";
import { MANAGED_RULES } from "../policies/configRules";

const FIXTURES = path.join(__dirname, "fixtures", "audit");
const fixture = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), "utf8");

// Distinctive values, so that a test can assert no message, JSON or inspection ever shows them.
const KEY_ID = "AKIAZZTESTKEYID00001";
const SECRET = "s3cr3t/Secret+Value/do-not-print0000000";
const TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE-session-token";
const SECRETS = [KEY_ID, SECRET, TOKEN];

const ENV = {
    TARGET1_AWS_ACCESS_KEY_ID: KEY_ID,
    TARGET1_AWS_SECRET_ACCESS_KEY: SECRET,
    TARGET2_AWS_ACCESS_KEY_ID: KEY_ID,
    TARGET2_AWS_SECRET_ACCESS_KEY: SECRET,
    TARGET2_AWS_SESSION_TOKEN: TOKEN,
    SANDBOX_AWS_ACCESS_KEY_ID: KEY_ID,
    SANDBOX_AWS_SECRET_ACCESS_KEY: SECRET,
    SANDBOX_AWS_SESSION_TOKEN: TOKEN,
};

/** The problems parseTargetsFile reports, asserting that it throws TargetsError and shows no secret. */
function problems(text: string, env: Readonly<Record<string, string | undefined>> = ENV): readonly string[] {
    try {
        parseTargetsFile(text, env, "targets.json");
    } catch (e) {
        if (!(e instanceof TargetsError)) {
            throw e;
        }
        for (const secret of SECRETS) {
            expect(e.message).not.toContain(secret);
        }
        expect(e.exitCode).toBe(2);
        return e.problems;
    }
    throw new Error("expected a TargetsError");
}

const CK_CREDENTIALS = { AwsAccessKeyId: "TARGET1_AWS_ACCESS_KEY_ID", AwsSecretAccessKey: "TARGET1_AWS_SECRET_ACCESS_KEY" };
/** A CloudKestrel file with one target1 and these rules (and credentials). */
const ck = (rules: unknown, credentials: unknown = CK_CREDENTIALS): string => JSON.stringify({ Targets: [{ target1: { Credentials: credentials, Rules: rules } }] });
/** An Airlock file with these targets. */
const airlock = (...targets: unknown[]): string => JSON.stringify({ version: 1, targets });
const T1 = 'Target "target1": ';

describe("CloudKestrel's format, unchanged", () => {
    it("reads CloudKestrel's own targets.json example (its README, byte for byte) into the expected target", () => {
        const targets = parseTargetsFile(fixture("cloudkestrel-targets.json"), ENV, "targets.json");
        expect(JSON.parse(JSON.stringify(targets))).toEqual([
            {
                name: "target1",
                format: "cloudkestrel",
                credentials: { kind: "static", accessKeyIdVar: "TARGET1_AWS_ACCESS_KEY_ID", secretAccessKeyVar: "TARGET1_AWS_SECRET_ACCESS_KEY" },
                regions: ["us-east-1"],
                checks: ["group-policies", "root-and-users", "public-buckets", "unmanaged-instances"],
                // CloudKestrel's Source_IPs are bare addresses: the address alone, as IAM reads it.
                policies: [{ name: "User_Source_IP_Restrictions", sourceCidrs: ["195.89.85.67/32"], ignoreUsers: [] }],
                configRules: [],
                ignoreUsers: [],
                stackOutputs: [],
            },
        ]);
        const [target] = targets as [Target];
        expect(target.credentials.kind).toBe("static");
        if (target.credentials.kind === "static") {
            expect(staticCredentialValues(target.credentials)).toEqual({ accessKeyId: KEY_ID, secretAccessKey: SECRET });
        }
    });

    it("reads every rule CloudKestrel's README documents, Source_IPs, IgnoreUsers, AddIfMissing, a session token and AWS's rule names", () => {
        const [t1, t2] = parseTargetsFile(fixture("cloudkestrel-all-rules.json"), ENV, "targets.json") as [Target, Target];
        // Every check but cloudtrail-activity (a CloudKestrel target names no trail).
        expect(t1.checks).toEqual([...DEFAULT_CHECK_IDS]);
        expect(t1.policies).toEqual([
            { name: "User_Source_IP_Restrictions", sourceCidrs: ["195.89.85.67/32"], ignoreUsers: [] },
            { name: "Force_MFA", ignoreUsers: ["SecurityReader"] },
        ]);
        expect(t1.configRules).toEqual([
            { sourceIdentifier: "IAM_ROOT_ACCESS_KEY_CHECK", addIfMissing: true, ignoreUsers: [] },
            { sourceIdentifier: "IAM_USER_MFA_ENABLED", addIfMissing: true, ignoreUsers: ["SecurityReader"] },
            { sourceIdentifier: "IAM_USER_UNUSED_CREDENTIALS_CHECK", addIfMissing: true, ignoreUsers: [] },
            { sourceIdentifier: "IAM_USER_NO_POLICIES_CHECK", addIfMissing: true, ignoreUsers: [] },
            { sourceIdentifier: "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS", addIfMissing: true, ignoreUsers: [] },
            { sourceIdentifier: "IAM_USER_GROUP_MEMBERSHIP_CHECK", addIfMissing: true, ignoreUsers: [] },
            { sourceIdentifier: "S3_BUCKET_PUBLIC_READ_PROHIBITED", addIfMissing: true, ignoreUsers: [] },
            { sourceIdentifier: "S3_BUCKET_PUBLIC_WRITE_PROHIBITED", addIfMissing: true, ignoreUsers: [] },
        ]);
        // AWS's rule name (iam-user-mfa-enabled) maps to the source identifier; AddIfMissing defaults to false.
        expect(t2.configRules).toEqual([{ sourceIdentifier: "IAM_USER_MFA_ENABLED", addIfMissing: false, ignoreUsers: [] }]);
        expect(t2.checks).toEqual(["config-rules", "root-and-users", "public-buckets", "unmanaged-instances"]);
        expect(t2.credentials).toEqual({ kind: "static", accessKeyIdVar: "TARGET2_AWS_ACCESS_KEY_ID", secretAccessKeyVar: "TARGET2_AWS_SECRET_ACCESS_KEY", sessionTokenVar: "TARGET2_AWS_SESSION_TOKEN" });
        if (t2.credentials.kind === "static") {
            expect(staticCredentialValues(t2.credentials)).toEqual({ accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: TOKEN });
        }
    });

    it("maps every managed rule by source identifier, AWS's rule name and Airlock's rule name", () => {
        for (const rule of MANAGED_RULES) {
            for (const name of [rule.sourceIdentifier, rule.ruleName.replace(/^airlock-/, ""), rule.ruleName]) {
                const [target] = parseTargetsFile(ck([{ Config: { Name: name } }]), ENV, "targets.json") as [Target];
                expect(target.configRules.map((r) => r.sourceIdentifier)).toEqual([rule.sourceIdentifier]);
            }
        }
    });

    it("takes the source addresses as Params[].PARAM_1_SOURCE_IP or Source_IPs, IPv6 too, normalised and de-duplicated", () => {
        const read = (policy: unknown) => (parseTargetsFile(ck([{ Policy: policy }]), ENV, "t.json")[0] as Target).policies[0]?.sourceCidrs;
        expect(read({ Name: "User_Source_IP_Restrictions", Params: [{ PARAM_1_SOURCE_IP: ["195.89.85.67", "10.1.0.0/16"] }] })).toEqual(["195.89.85.67/32", "10.1.0.0/16"]);
        expect(read({ Name: "User_Source_IP_Restrictions", Source_IPs: ["2001:DB8::1", "195.89.85.67/32", "195.89.85.67"] })).toEqual(["2001:db8::1/128", "195.89.85.67/32"]);
    });

    it("uses AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1", () => {
        const regions = (env: Record<string, string>) => (parseTargetsFile(fixture("cloudkestrel-targets.json"), { ...ENV, ...env }, "t.json")[0] as Target).regions;
        expect(regions({})).toEqual(["us-east-1"]);
        expect(regions({ AWS_DEFAULT_REGION: "eu-west-2" })).toEqual(["eu-west-2"]);
        expect(regions({ AWS_DEFAULT_REGION: "eu-west-2", AWS_REGION: "ap-south-1" })).toEqual(["ap-south-1"]);
        expect(problems(fixture("cloudkestrel-targets.json"), { ...ENV, AWS_REGION: "us-east-1a" })).toEqual([
            'The environment variable AWS_REGION is "us-east-1a", which is an availability zone; its region is "us-east-1". Targets that name no regions are audited in the region AWS_REGION names; set it to a region.',
        ]);
    });
});

describe("malformed files", () => {
    it("names the line and column of a JSON syntax error", () => {
        expect(problems('{\n  "Targets": [\n    {"target1": {"Credentials": {}}\n  ]\n}')).toEqual([
            "is not valid JSON: line 4, column 3: expected ',' or '}' after the value of \"target1\", found ']'.",
        ]);
        expect(problems('{"Targets": [\n  {"a": 1},\n]}')).toEqual(["is not valid JSON: line 2, column 11: a comma before ']': JSON allows no trailing comma; remove it."]);
        expect(problems('{\n  // targets\n  "Targets": []\n}')).toEqual(["is not valid JSON: line 2, column 3: JSON has no comments; remove it."]);
        expect(problems("{'Targets': []}")).toEqual(["is not valid JSON: line 1, column 2: expected a property name in double quotes, found '''."]);
        expect(problems('{"Targets": [{"target1\n": {}}]}')).toEqual(["is not valid JSON: line 1, column 23: a line break inside a string: its closing '\"' is missing."]);
        expect(problems('{"Targets')).toEqual(["is not valid JSON: line 1, column 2: a string that never ends: its closing '\"' is missing."]);
        expect(problems('{"Targets": []} x')).toEqual(["is not valid JSON: line 1, column 17: unexpected 'x' after the end of the JSON document."]);
        expect(problems("")).toEqual(['is not valid JSON: line 1, column 1: the file is empty; expected a JSON object, {"version": 1, "targets": [...]} or CloudKestrel\'s {"Targets": [...]}.']);
        expect(problems('{"path": "C:\\x"}')).toEqual([
            "is not valid JSON: line 1, column 13: an invalid escape in a string; JSON knows \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX (a Windows path needs \\\\ or /).",
        ]);
    });

    it("puts the file name first in the error's message, and every problem on its own line", () => {
        try {
            parseTargetsFile('{"Targets": [], "Extra": 1}', ENV, "conf/targets.json");
            throw new Error("no error");
        } catch (e) {
            expect(e).toBeInstanceOf(TargetsError);
            expect((e as TargetsError).fileName).toBe("conf/targets.json");
            expect((e as TargetsError).message).toBe(
                "conf/targets.json: 2 problems:\n" +
                    "  - `Extra` is not a field of CloudKestrel's targets file (Targets). Remove it or correct its name.\n" +
                    '  - `Targets` is empty: there is nothing to audit. Add a target, e.g. {"target1": {"Credentials": {"AwsAccessKeyId": "TARGET1_AWS_ACCESS_KEY_ID", "AwsSecretAccessKey": "TARGET1_AWS_SECRET_ACCESS_KEY"}, "Rules": []}}.',
            );
        }
    });

    it("refuses a key given twice, which JSON.parse would drop silently", () => {
        const text = '{"Targets": [{\n  "target1": {"Credentials": {"AwsAccessKeyId": "TARGET1_AWS_ACCESS_KEY_ID", "AwsSecretAccessKey": "TARGET1_AWS_SECRET_ACCESS_KEY"}},\n  "target1": {"Credentials": {"AwsAccessKeyId": "TARGET1_AWS_ACCESS_KEY_ID", "AwsSecretAccessKey": "TARGET1_AWS_SECRET_ACCESS_KEY"}}\n}]}';
        expect(problems(text)).toEqual(['`Targets[0]` has the key "target1" twice (again at line 3, column 3); JSON would silently keep only the last. Remove or rename one.']);
    });

    it("refuses a file that is neither format, an empty Targets and duplicate target names", () => {
        expect(problems('{"targts": []}')).toEqual([`is neither Airlock's targets format ({"version": 1, "targets": [...]}) nor CloudKestrel's ({"Targets": [...]}). It has "targts". Did you mean "Targets"?`]);
        expect(problems("[]")).toEqual([`must be a JSON object, {"version": 1, "targets": [...]} (Airlock's format) or {"Targets": [...]} (CloudKestrel's); it is a list.`]);
        expect(problems('{"Targets": {}}')).toEqual(['`Targets` must be a list of targets, [{"target1": {"Credentials": {...}, "Rules": [...]}}]; it is an object.']);
        expect(problems('{"Targets": [{}, "x"]}')).toEqual([
            '`Targets[0]` is an empty object; name a target in it, {"target1": {"Credentials": {...}, "Rules": [...]}}.',
            '`Targets[1]` must be an object naming a target, {"target1": {"Credentials": {...}, "Rules": [...]}}; it is a string.',
        ]);
        const one = (name: string) => ({ [name]: { Credentials: CK_CREDENTIALS } });
        expect(problems(JSON.stringify({ Targets: [one("prod"), one("Prod")] }))).toEqual([
            'Target "Prod": `Targets[1].Prod` has the same name as `Targets[0].prod` ("prod"; names are compared ignoring case). Target names appear in reports and must be unique; rename one.',
        ]);
        expect(problems(airlock({ name: "a", credentials: { profile: "a" }, checks: ["public-buckets"] }, { name: "a", credentials: { profile: "b" }, checks: ["public-buckets"] }))).toEqual([
            'Target "a": `targets[1]` has the same name as `targets[0]`. Target names appear in reports and must be unique; rename one.',
        ]);
    });
});

describe("credentials from the environment", () => {
    it("names the target, the field and the variable when a variable is not set, is empty or has spaces (never its value)", () => {
        expect(problems(ck([]), {})).toEqual([
            `${T1}\`Targets[0].target1.Credentials.AwsAccessKeyId\` names the environment variable TARGET1_AWS_ACCESS_KEY_ID, which is not set. Export it before running the audit: export TARGET1_AWS_ACCESS_KEY_ID=<access key id>.`,
            `${T1}\`Targets[0].target1.Credentials.AwsSecretAccessKey\` names the environment variable TARGET1_AWS_SECRET_ACCESS_KEY, which is not set. Export it before running the audit: export TARGET1_AWS_SECRET_ACCESS_KEY=<secret access key>.`,
        ]);
        expect(problems(ck([]), { TARGET1_AWS_ACCESS_KEY_ID: "", TARGET1_AWS_SECRET_ACCESS_KEY: `${SECRET}\n` })).toEqual([
            `${T1}\`Targets[0].target1.Credentials.AwsAccessKeyId\` names the environment variable TARGET1_AWS_ACCESS_KEY_ID, which is set but empty. Export the access key id in it.`,
            `${T1}\`Targets[0].target1.Credentials.AwsSecretAccessKey\` names the environment variable TARGET1_AWS_SECRET_ACCESS_KEY, whose value (not shown) starts or ends with whitespace. Export it without.`,
        ]);
    });

    it("does not echo a key written where a variable's name belongs", () => {
        const secretKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        const found = problems(ck([], { AwsAccessKeyId: "AKIAIOSFODNN7EXAMPLE", AwsSecretAccessKey: secretKey }));
        expect(found).toEqual([
            `${T1}\`Targets[0].target1.Credentials.AwsAccessKeyId\` looks like an access key id itself (not shown), not the name of an environment variable that holds it. Put the key in a variable, e.g. export TARGET1_AWS_ACCESS_KEY_ID=..., and write "TARGET1_AWS_ACCESS_KEY_ID" here.`,
            `${T1}\`Targets[0].target1.Credentials.AwsSecretAccessKey\` must be the name of an environment variable (letters, digits and _) that holds the secret access key, e.g. "TARGET1_AWS_SECRET_ACCESS_KEY", not the secret access key itself; what is written there is not shown.`,
        ]);
        expect(found.join("\n")).not.toContain("AKIAIOSFODNN7EXAMPLE");
        expect(found.join("\n")).not.toContain(secretKey);
    });

    it("refuses missing Credentials, unknown fields and one variable for two keys", () => {
        expect(problems(JSON.stringify({ Targets: [{ "prod-eu": { Rules: [] } }] }))).toEqual([
            'Target "prod-eu": `Targets[0]["prod-eu"].Credentials` is missing: the environment variables that hold the keys, {"AwsAccessKeyId": "PROD_EU_AWS_ACCESS_KEY_ID", "AwsSecretAccessKey": "PROD_EU_AWS_SECRET_ACCESS_KEY"}.',
        ]);
        expect(problems(ck([], { ...CK_CREDENTIALS, AwsSessionTokn: "X" }))).toEqual([
            `${T1}\`Targets[0].target1.Credentials.AwsSessionTokn\` is not a field of CloudKestrel's Credentials (AwsAccessKeyId, AwsSecretAccessKey, AwsSessionToken). Did you mean "AwsSessionToken"? Remove it or correct its name.`,
        ]);
        expect(problems(ck([], { AwsAccessKeyId: "TARGET1_AWS_ACCESS_KEY_ID", AwsSecretAccessKey: "TARGET1_AWS_ACCESS_KEY_ID" }))).toEqual([
            `${T1}\`Targets[0].target1.Credentials.AwsSecretAccessKey\` names the same environment variable as another credential field; the access key id, the secret access key and the session token are each in their own variable.`,
        ]);
    });
});

describe("rules", () => {
    it("refuses unknown rules with a did-you-mean, and a policy written as a Config rule or the reverse", () => {
        expect(problems(ck([{ Policy: { Name: "Force_MFAA" } }, { Config: { Name: "IAM_USER_MFA_ENABLE" } }, { Policy: { Name: "IAM_USER_MFA_ENABLED" } }, { Config: { Name: "Force_MFA" } }, { Polcy: {} }]))).toEqual([
            `${T1}\`Targets[0].target1.Rules[0].Policy.Name\` is "Force_MFAA", which is not a group policy the audit checks. Did you mean "Force_MFA"? The policies are Force_MFA, User_Source_IP_Restrictions, Config_Write.`,
            `${T1}\`Targets[0].target1.Rules[1].Config.Name\` is "IAM_USER_MFA_ENABLE", which is not an AWS managed Config rule the audit knows. Did you mean "IAM_USER_MFA_ENABLED"? Give the rule's source identifier (e.g. IAM_USER_MFA_ENABLED) or AWS's rule name (iam-user-mfa-enabled); README "Audit" lists the 19 rules.`,
            `${T1}\`Targets[0].target1.Rules[2].Policy.Name\` is "IAM_USER_MFA_ENABLED", an AWS Config rule, not a group policy. Write it as {"Config": {"Name": "IAM_USER_MFA_ENABLED"}}.`,
            `${T1}\`Targets[0].target1.Rules[3].Config.Name\` is "Force_MFA", a group policy, not an AWS Config rule. Write it as {"Policy": {"Name": "Force_MFA"}}.`,
            `${T1}\`Targets[0].target1.Rules[4].Polcy\` is not a kind of rule (Policy, Config). Did you mean "Policy"?`,
        ]);
    });

    it("refuses wrong types, naming the field and the fix", () => {
        expect(
            problems(
                ck([
                    { Policy: { Name: "User_Source_IP_Restrictions", Source_IPs: "195.89.85.67, 10.0.0.0/8" } },
                    { Config: { Name: "IAM_USER_MFA_ENABLED", AddIfMissing: "true", IgnoreUsers: "bob" } },
                    { Config: { Name: 5 } },
                    { Config: { Name: "S3_BUCKET_PUBLIC_READ_PROHIBITED", IgnoreUsers: ["x"] } },
                    { Policy: { Name: "Force_MFA" }, Config: { Name: "IAM_USER_MFA_ENABLED" } },
                ]),
            ),
        ).toEqual([
            `${T1}\`Targets[0].target1.Rules[0].Policy.Source_IPs\` must be a list of CIDR blocks; it is "195.89.85.67, 10.0.0.0/8". Write it as a list: ["195.89.85.67","10.0.0.0/8"].`,
            `${T1}\`Targets[0].target1.Rules[1].Config.AddIfMissing\` must be true or false; it is "true". Write true without quotes.`,
            `${T1}\`Targets[0].target1.Rules[1].Config.IgnoreUsers\` must be a list of IAM user names; it is "bob". Write it as a list: ["bob"].`,
            `${T1}\`Targets[0].target1.Rules[2].Config.Name\` must be the Config rule's name, e.g. "IAM_USER_MFA_ENABLED"; it is a number (5).`,
            `${T1}\`Targets[0].target1.Rules[3].Config.IgnoreUsers\` only applies to Config rules about IAM users; S3_BUCKET_PUBLIC_READ_PROHIBITED reports on AWS::S3::Bucket. Remove it.`,
            `${T1}\`Targets[0].target1.Rules[4]\` has Policy and Config; put each rule in its own element of Rules.`,
        ]);
        expect(problems(ck([{ Policy: { IgnoreUsers: ["bob"] } }, { Config: { Name: "" } }]))).toEqual([
            `${T1}\`Targets[0].target1.Rules[0].Policy.Name\` is missing: the policy's name (Force_MFA, User_Source_IP_Restrictions, Config_Write).`,
            `${T1}\`Targets[0].target1.Rules[1].Config.Name\` must be the Config rule's name, e.g. "IAM_USER_MFA_ENABLED"; it is empty.`,
        ]);
        expect(problems(ck({ Policy: { Name: "Force_MFA" } }))).toEqual([
            `${T1}\`Targets[0].target1.Rules\` must be a list of rules, [{"Policy": {"Name": "Force_MFA"}}, {"Config": {"Name": "IAM_USER_MFA_ENABLED"}}]; it is an object.`,
        ]);
    });

    it("refuses bad or missing source addresses and repeated rules", () => {
        expect(problems(ck([{ Policy: { Name: "User_Source_IP_Restrictions", Source_IPs: ["195.89.85.67/24", "0.0.0.0/0", "nope", 3] } }]))).toEqual([
            `${T1}\`Targets[0].target1.Rules[0].Policy.Source_IPs[0]\` is "195.89.85.67/24": host bits are set. Did you mean "195.89.85.0/24"?`,
            `${T1}\`Targets[0].target1.Rules[0].Policy.Source_IPs[1]\` is "0.0.0.0/0", every IPv4 address: User_Source_IP_Restrictions would restrict nothing. Name the ranges users work from.`,
            `${T1}\`Targets[0].target1.Rules[0].Policy.Source_IPs[2]\` is "nope": not a CIDR block. Write it as address/mask, e.g. "195.89.85.64/28".`,
            `${T1}\`Targets[0].target1.Rules[0].Policy.Source_IPs[3]\` must be a string (CIDR blocks); it is a number (3).`,
        ]);
        expect(
            problems(
                ck([
                    { Policy: { Name: "User_Source_IP_Restrictions" } },
                    { Policy: { Name: "Force_MFA", Source_IPs: ["1.2.3.4"] } },
                    { Policy: { Name: "Force_MFA" } },
                    { Config: { Name: "IAM_USER_MFA_ENABLED" } },
                    { Config: { Name: "iam-user-mfa-enabled" } },
                ]),
            ),
        ).toEqual([
            `${T1}\`Targets[0].target1.Rules[0].Policy.Source_IPs\` is missing: User_Source_IP_Restrictions is checked against a reference document built from the addresses users may call AWS from, e.g. "Source_IPs": ["195.89.85.67"].`,
            `${T1}\`Targets[0].target1.Rules[1].Policy.Source_IPs\` only applies to User_Source_IP_Restrictions, not Force_MFA. Remove it.`,
            `${T1}\`Targets[0].target1.Rules[2].Policy\` repeats the rule Force_MFA (also at \`Targets[0].target1.Rules[1].Policy\`); merge them into one.`,
            `${T1}\`Targets[0].target1.Rules[4].Config\` repeats the rule IAM_USER_MFA_ENABLED (also at \`Targets[0].target1.Rules[3].Config\`); merge them into one.`,
        ]);
        expect(problems(ck([{ Policy: { Name: "User_Source_IP_Restrictions", Source_IPs: ["1.2.3.4"], Params: [{ PARAM_1_SOURCE_IP: ["1.2.3.4"], PARAM_2: 1 }] } }]))).toEqual([
            `${T1}\`Targets[0].target1.Rules[0].Policy.Params[0].PARAM_2\` is not a field of CloudKestrel's Params (PARAM_1_SOURCE_IP). Remove it or correct its name.`,
            `${T1}\`Targets[0].target1.Rules[0].Policy.Params[0].PARAM_1_SOURCE_IP\` gives the source addresses a second time (also at \`Targets[0].target1.Rules[0].Policy.Source_IPs\`); keep one of Source_IPs and Params.`,
        ]);
    });

    it("reports every problem of every target at once", () => {
        const text = JSON.stringify({ Targets: [{ a: { Credentials: CK_CREDENTIALS, Rules: [{ Policy: { Name: "x" } }] } }, { b: { Credentials: { AwsAccessKeyId: "B_ID", AwsSecretAccessKey: "B_SECRET" } } }] });
        expect(problems(text).map((p) => p.slice(0, 40))).toEqual(['Target "a": `Targets[0].a.Rules[0].Polic', 'Target "b": `Targets[1].b.Credentials.Aw', 'Target "b": `Targets[1].b.Credentials.Aw']);
    });
});

describe("Airlock's format", () => {
    const read = (env: Record<string, string | undefined> = ENV) => parseTargetsFile(fixture("airlock-targets.json"), env, "conf/targets.json");

    it("reads a role to assume (external id, via a profile), with regions, source CIDRs, addIfMissing by name and stack outputs", () => {
        const production = read()[0] as Target;
        expect(JSON.parse(JSON.stringify(production))).toEqual({
            name: "production",
            format: "airlock",
            credentials: { kind: "assumeRole", roleArn: "arn:aws:iam::111122223333:role/airlock-audit", externalId: "airlock-7f3c", sessionName: "airlock-audit", via: { kind: "profile", profile: "security-hub" } },
            regions: ["eu-west-1", "us-east-1"],
            checks: [...DEFAULT_CHECK_IDS],
            policies: [
                { name: "Force_MFA", ignoreUsers: ["SecurityReader"] },
                { name: "User_Source_IP_Restrictions", sourceCidrs: ["195.89.85.64/28", "2001:db8::/48"], ignoreUsers: ["SecurityReader"] },
                { name: "Config_Write", ignoreUsers: ["SecurityReader"] },
            ],
            configRules: MANAGED_RULES.map((r) => ({
                sourceIdentifier: r.sourceIdentifier,
                addIfMissing: r.sourceIdentifier === "IAM_USER_MFA_ENABLED" || r.sourceIdentifier === "IAM_ROOT_ACCESS_KEY_CHECK",
                ignoreUsers: r.resourceTypes?.includes("AWS::IAM::User") ? ["SecurityReader"] : [],
            })),
            ignoreUsers: ["SecurityReader"],
            // Relative to the targets file's folder.
            stackOutputs: [path.join("conf", "stacks", "web.json")],
        });
    });

    it("reads a profile with chosen checks, policies and Config rules, addIfMissing for all", () => {
        expect(JSON.parse(JSON.stringify(read()[1]))).toEqual({
            name: "staging",
            format: "airlock",
            credentials: { kind: "profile", profile: "staging" },
            regions: ["us-east-1"],
            checks: ["group-policies", "config-rules"],
            policies: [
                { name: "Force_MFA", ignoreUsers: [] },
                { name: "Config_Write", ignoreUsers: [] },
            ],
            configRules: [
                { sourceIdentifier: "IAM_ROOT_ACCESS_KEY_CHECK", addIfMissing: true, ignoreUsers: [] },
                { sourceIdentifier: "S3_BUCKET_PUBLIC_READ_PROHIBITED", addIfMissing: true, ignoreUsers: [] },
            ],
            ignoreUsers: [],
            stackOutputs: [],
        });
    });

    it("reads keys from environment variables, with a session token", () => {
        const sandbox = read({ ...ENV, AWS_DEFAULT_REGION: "eu-central-1" })[2] as Target;
        expect(sandbox.credentials).toEqual({ kind: "static", accessKeyIdVar: "SANDBOX_AWS_ACCESS_KEY_ID", secretAccessKeyVar: "SANDBOX_AWS_SECRET_ACCESS_KEY", sessionTokenVar: "SANDBOX_AWS_SESSION_TOKEN" });
        expect(sandbox.regions).toEqual(["eu-central-1"]);
        expect(sandbox.checks).toEqual(["root-and-users", "public-buckets"]);
        expect(sandbox.policies).toEqual([]);
        expect(sandbox.configRules).toEqual([]);
        if (sandbox.credentials.kind === "static") {
            expect(staticCredentialValues(sandbox.credentials)).toEqual({ accessKeyId: KEY_ID, secretAccessKey: SECRET, sessionToken: TOKEN });
        }
    });

    it("keeps an Organization as its own kind of target, its caller's credentials defaulting to the SDK's chain", () => {
        expect(read()[3]?.credentials).toEqual({ kind: "organization", roleName: "OrganizationAccountAccessRole", sessionName: "airlock-audit", via: { kind: "profile", profile: "management" } });
        const [target] = parseTargetsFile(airlock({ name: "org", credentials: { organization: { roleName: "AuditRole", externalId: "x-123", sessionName: "nightly" } }, checks: ["public-buckets"] }), {}, "t.json") as [Target];
        expect(target.credentials).toEqual({ kind: "organization", roleName: "AuditRole", externalId: "x-123", sessionName: "nightly", via: { kind: "default" } });
    });

    it("chains roles: a role assumed via a role assumed via environment keys", () => {
        const [target] = parseTargetsFile(
            airlock({
                name: "chained",
                credentials: {
                    assumeRole: {
                        roleArn: "arn:aws:iam::222233334444:role/audit/airlock-audit",
                        via: { assumeRole: { roleArn: "arn:aws-us-gov:iam::111122223333:role/hub", via: { env: { accessKeyId: "TARGET1_AWS_ACCESS_KEY_ID", secretAccessKey: "TARGET1_AWS_SECRET_ACCESS_KEY" } } } },
                    },
                },
                checks: ["public-buckets"],
            }),
            ENV,
            "t.json",
        ) as [Target];
        const outer = target.credentials;
        expect(outer.kind === "assumeRole" && outer.via.kind === "assumeRole" && outer.via.via.kind === "static" && staticCredentialValues(outer.via.via).secretAccessKey).toBe(SECRET);
    });

    it("refuses bad credentials, names, regions and checks, naming each field", () => {
        const text = JSON.stringify({
            version: 2,
            targets: [
                { name: "a", credentials: { profile: "x", env: {} }, checks: ["public-buckets"] },
                { credentials: { assumeRole: { roleArn: "arn:aws:iam::1:role/x", externalId: "a b" } }, checks: ["public-buckets"] },
                { name: "c", credentials: { organization: { roleName: "arn:aws:iam::111122223333:role/OrgRole", via: { organization: {} } } }, regions: ["us-east-1a", "EU-WEST-1"], checks: ["group-policy"], sourceCidrs: ["1.2.3.4/32"] },
                { name: " d", credentials: { sso: {} }, regon: [], checks: ["public-buckets"] },
            ],
        });
        expect(problems(text)).toEqual([
            '`version` is a number (2); this Airlock reads version 1. Write "version": 1 (README "Audit" describes version 1).',
            'Target "a": `targets[0].credentials` has profile and env; give exactly one of profile, env, assumeRole, organization (a role\'s caller goes in its "via").',
            '`targets[1].name` is missing: the target\'s name in reports, e.g. "production".',
            '`targets[1].credentials.assumeRole.roleArn` is "arn:aws:iam::1:role/x": it must be the ARN of the role to assume, e.g. "arn:aws:iam::111122223333:role/airlock-audit".',
            "`targets[1].credentials.assumeRole.externalId` must be the external id the role's trust policy requires: 2-1224 of letters, digits and +=,.@:/_-; what is written there is not shown.",
            'Target "c": `targets[2].credentials.organization.roleName` is "arn:aws:iam::111122223333:role/OrgRole": it must be the name of the role to assume in each account (1-64 of letters, digits and +=,.@_-), e.g. "OrganizationAccountAccessRole". It is an ARN; give only the role\'s name, "OrgRole": it is assumed in every account.',
            'Target "c": `targets[2].credentials.organization.via.organization` cannot be the caller of a role; an organization expands into many accounts. Use profile, env or assumeRole here.',
            'Target "c": `targets[2].regions[0]` is "us-east-1a", which is an availability zone; its region is "us-east-1".',
            'Target "c": `targets[2].regions[1]` is "EU-WEST-1", which is not a region name as AWS writes it; write "eu-west-1".',
            'Target "c": `targets[2].checks[0]` is "group-policy", which is not a check. Did you mean "group-policies"? The checks are group-policies, config-rules, root-and-users, public-buckets, unmanaged-instances, cloudtrail-activity.',
            '`targets[3].name` names a target " d" with leading or trailing spaces; remove them.',
            '`targets[3].regon` is not a field of an Airlock target (name, credentials, regions, checks, policies, sourceCidrs, configRules, addIfMissing, ignoreUsers, stackOutputs, cloudTrail). Did you mean "regions"? Remove it or correct its name.',
            '`targets[3].credentials.sso` is not a kind of credentials (profile, env, assumeRole, organization).',
        ]);
    });

    it("requires sourceCidrs for User_Source_IP_Restrictions, and refuses fields for checks a target leaves out", () => {
        expect(problems(airlock({ name: "a", credentials: { profile: "x" } }))).toEqual([
            'Target "a": `targets[0].sourceCidrs` is required by the group-policies check: User_Source_IP_Restrictions is compared with a reference document built from the CIDRs users call AWS from (CloudKestrel\'s Source_IPs), e.g. ["195.89.85.64/28"]. Or list the other policies in `targets[0].policies`.',
        ]);
        expect(problems(airlock({ name: "a", credentials: { profile: "x" }, checks: ["root-and-users"], sourceCidrs: ["1.2.3.4/32"], addIfMissing: true, stackOutputs: ["x"] }))).toEqual([
            'Target "a": `targets[0].sourceCidrs` only applies to the group-policies check, which `targets[0].checks` leaves out. Remove it, or add "group-policies" to checks.',
            'Target "a": `targets[0].addIfMissing` only applies to the config-rules check, which `targets[0].checks` leaves out. Remove it, or add "config-rules" to checks.',
            'Target "a": `targets[0].stackOutputs` only applies to the unmanaged-instances and cloudtrail-activity checks, which `targets[0].checks` leaves out. Remove it, or add one of them to checks.',
        ]);
        expect(problems(airlock({ name: "a", credentials: { profile: "x" }, checks: ["group-policies", "config-rules"], policies: ["Force_MFA"], sourceCidrs: ["10.0.0.1/8"], configRules: ["IAM_USER_MFA_ENABLED"], addIfMissing: ["S3_BUCKET_PUBLIC_READ_PROHIBITED"] }))).toEqual([
            'Target "a": `targets[0].sourceCidrs[0]` is "10.0.0.1/8": host bits are set. Did you mean "10.0.0.0/8"?',
            'Target "a": `targets[0].sourceCidrs` only applies to User_Source_IP_Restrictions, which `targets[0].policies` leaves out. Remove it, or add the policy.',
            'Target "a": `targets[0].addIfMissing[0]` is "S3_BUCKET_PUBLIC_READ_PROHIBITED", which `targets[0].configRules` does not check. Add it there, or remove it here.',
        ]);
        // A bare address is a mistake in Airlock's own format (CloudKestrel's is read as IAM reads it).
        expect(problems(airlock({ name: "a", credentials: { profile: "x" }, checks: ["group-policies"], sourceCidrs: ["195.89.85.67"] }))).toEqual([
            'Target "a": `targets[0].sourceCidrs[0]` is "195.89.85.67": CIDR mask is missing. Did you mean "195.89.85.67/32"?',
        ]);
    });

    it("cloudTrail: read with its defaults, and it adds cloudtrail-activity to the default checks", () => {
        const parse = (body: Record<string, unknown>) => parseTargetsFile(airlock({ name: "a", credentials: { profile: "x" }, checks: ["cloudtrail-activity"], ...body }), ENV, "conf/targets.json")[0] as Target;
        expect(parse({ cloudTrail: { bucket: "acme-trail" } }).cloudTrail).toEqual({ bucket: "acme-trail", lookbackDays: 7, deployers: [], healerRoleArns: [] });
        const full = parse({
            cloudTrail: { bucket: "acme-trail", prefix: "org", region: "eu-west-1", lookbackDays: 30, deployers: ["arn:aws:iam::111122223333:role/ci/deployer"], healerRoleArns: ["arn:aws:iam::111122223333:role/healer"] },
            stackOutputs: ["stacks/web.json"],
        });
        expect(full.cloudTrail).toEqual({ bucket: "acme-trail", prefix: "org", region: "eu-west-1", lookbackDays: 30, deployers: ["arn:aws:iam::111122223333:role/ci/deployer"], healerRoleArns: ["arn:aws:iam::111122223333:role/healer"] });
        expect(full.stackOutputs).toEqual([path.join("conf", "stacks", "web.json")]);
        expect(Object.isFrozen(full.cloudTrail?.deployers)).toBe(true);
        // No checks named: every check, cloudtrail-activity only with a cloudTrail.
        const noChecks = (body: Record<string, unknown>) => (parseTargetsFile(airlock({ name: "a", credentials: { profile: "x" }, sourceCidrs: ["10.0.0.0/8"], ...body }), ENV, "t.json")[0] as Target).checks;
        expect(noChecks({})).toEqual([...DEFAULT_CHECK_IDS]);
        expect(noChecks({ cloudTrail: { bucket: "acme-trail" } })).toEqual([...CHECK_IDS]);
    });

    it("cloudTrail: each mistake named, with the fix", () => {
        const base = { name: "a", credentials: { profile: "x" } };
        expect(problems(airlock({ ...base, checks: ["cloudtrail-activity"] }))).toEqual([
            'Target "a": `targets[0].cloudTrail` is required by the cloudtrail-activity check: the bucket the account\'s trail writes to, e.g. {"bucket": "acme-trail-logs"} (the guardrails stack\'s output guardrails.trailBucketName). Or leave "cloudtrail-activity" out of checks.',
        ]);
        expect(problems(airlock({ ...base, checks: ["root-and-users"], cloudTrail: { bucket: "acme-trail" } }))).toEqual([
            'Target "a": `targets[0].cloudTrail` only applies to the cloudtrail-activity check, which `targets[0].checks` leaves out. Remove it, or add "cloudtrail-activity" to checks.',
        ]);
        expect(
            problems(
                airlock({
                    ...base,
                    checks: ["cloudtrail-activity"],
                    cloudTrail: { bucket: "arn:aws:s3:::acme", prefix: "/AWSLogs", region: "mars-1", lookbackDays: 0, deployers: ["deployer"], healerRoleArns: "arn:aws:iam::111122223333:role/h", extra: 1 },
                }),
            ),
        ).toEqual([
            'Target "a": `targets[0].cloudTrail.extra` is not a field of cloudTrail (bucket, prefix, region, lookbackDays, deployers, healerRoleArns). Remove it or correct its name.',
            'Target "a": `targets[0].cloudTrail.bucket` is "arn:aws:s3:::acme", not an S3 bucket name (3-63 of a-z, 0-9, \'.\' and \'-\'); give the name, not an ARN or URL.',
            'Target "a": `targets[0].cloudTrail.prefix` is "/AWSLogs": give the trail\'s own prefix (the part before AWSLogs/), without a leading "/".',
            expect.stringMatching(/^Target "a": `targets\[0\]\.cloudTrail\.region` is "mars-1", which /),
            'Target "a": `targets[0].cloudTrail.lookbackDays` must be a whole number of days from 1 to 400; it is a number (0).',
            'Target "a": `targets[0].cloudTrail.deployers[0]` is "deployer", not an IAM role or user ARN (arn:aws:iam::<account>:role/<name>).',
            expect.stringMatching(/^Target "a": `targets\[0\]\.cloudTrail\.healerRoleArns` must be a list of role ARNs; it is /),
        ]);
        expect(problems(airlock({ ...base, checks: ["cloudtrail-activity"], cloudTrail: "acme-trail" }))).toEqual([
            'Target "a": `targets[0].cloudTrail` must be an object naming the trail\'s bucket, e.g. {"bucket": "acme-trail-logs"}; it is "acme-trail".',
        ]);
    });

    it("refuses an empty or missing targets list and a missing version", () => {
        expect(problems('{"version": 1, "targets": []}')).toEqual(['`targets` is empty: there is nothing to audit. Add a target, e.g. {"name": "production", "credentials": {"profile": "production"}}.']);
        expect(problems('{"version": 1}')).toEqual(['`targets` is missing: the accounts to audit, [{"name": "production", "credentials": {"profile": "production"}}].']);
        expect(problems('{"targets": [{"name": "a", "credentials": {"profile": "a"}, "checks": ["public-buckets"]}]}')).toEqual([
            '`version` is missing: Airlock\'s targets file starts {"version": 1, "targets": [...]}.',
        ]);
    });
});

describe("secrets are never shown", () => {
    it("JSON.stringify, util.inspect (hidden properties too) and String() of targets show no key, secret or token", () => {
        const targets = [...parseTargetsFile(fixture("cloudkestrel-all-rules.json"), ENV, "t.json"), ...parseTargetsFile(fixture("airlock-targets.json"), ENV, "t.json")];
        const views = [JSON.stringify(targets), util.inspect(targets, { depth: null, showHidden: true }), util.format("%o", targets), String(targets), `${JSON.stringify(Object.getOwnPropertyDescriptors(targets[1]?.credentials))}`];
        for (const view of views) {
            for (const secret of SECRETS) {
                expect(view).not.toContain(secret);
            }
        }
        expect(views[0]).toContain("TARGET2_AWS_SESSION_TOKEN");
    });

    it("a copy of static credentials carries no keys, and the targets are frozen", () => {
        const [target] = parseTargetsFile(fixture("cloudkestrel-targets.json"), ENV, "t.json") as [Target];
        const credentials = target.credentials;
        if (credentials.kind !== "static") {
            throw new Error("expected static credentials");
        }
        expect(() => staticCredentialValues({ ...credentials })).toThrow("No key values for the static credentials in TARGET1_AWS_ACCESS_KEY_ID/TARGET1_AWS_SECRET_ACCESS_KEY: use the spec object parseTargetsFile returned, not a copy.");
        expect(Object.isFrozen(target) && Object.isFrozen(target.credentials) && Object.isFrozen(target.policies[0])).toBe(true);
    });
});

describe("regionProblem", () => {
    it("accepts AWS's region names and explains the usual mistakes", () => {
        for (const region of ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1", "ap-southeast-3", "us-isob-east-1"]) {
            expect(regionProblem(region)).toBeUndefined();
        }
        expect(regionProblem("eu-west-1b")).toBe('is an availability zone; its region is "eu-west-1"');
        expect(regionProblem("Ireland")).toBe('is not an AWS region name such as "us-east-1" or "eu-west-2"');
    });
});
