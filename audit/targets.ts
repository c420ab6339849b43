/**
 * The audit's targets file (issue 10, "Inputs"): CloudKestrel's `targets.json` read unchanged, and
 * Airlock's own versioned format. Pure apart from the environment, which is passed in as a map: no
 * file or network I/O here. Every problem in a file is reported at once (`TargetsError.problems`),
 * each naming the target, the field's path and the fix; no message ever shows a credential value.
 *
 * CloudKestrel's format (its README, kept as test/fixtures/audit/cloudkestrel-targets.json):
 *   {"Targets": [{"<name>": {"Credentials": {"AwsAccessKeyId": "<ENV>", "AwsSecretAccessKey": "<ENV>"},
 *                            "Rules": [{"Policy": {...}}, {"Config": {...}}]}}]}
 * - `Credentials` name environment variables; their values are read here. `AwsSessionToken` (the
 *   name of a variable holding a session token) is Airlock's addition: CloudKestrel documents none.
 * - `Policy` rules: `Name` is one of GROUP_POLICY_NAMES. `User_Source_IP_Restrictions` takes its
 *   addresses as `Source_IPs` (README's rule table) or as `Params: [{"PARAM_1_SOURCE_IP": [...]}]`
 *   (README's targets example); a bare address means that address alone (/32 or /128), as IAM reads
 *   it. `IgnoreUsers` (documented for Force_MFA) is accepted on every policy.
 * - `Config` rules: `Name` is the rule's source identifier (`IAM_USER_MFA_ENABLED`, what CloudKestrel
 *   writes), or AWS's rule name (`iam-user-mfa-enabled`), or Airlock's (`airlock-iam-user-mfa-enabled`);
 *   all map to the source identifier, by which the audit finds the rule (never by a guessed name).
 *   `AddIfMissing` (default false); `IgnoreUsers` only on rules about IAM users.
 * - Checks: every check, except that `group-policies` runs only when there is a Policy rule and
 *   `config-rules` only when there is a Config rule. Regions: the default (see `defaultRegions`).
 *
 * Airlock's format (README "Audit"): {"version": 1, "targets": [{"name": ..., "credentials": ...}]}
 * with, per target, `credentials` (one of profile, env, assumeRole, organization), `regions`,
 * `checks`, `policies`, `sourceCidrs`, `configRules`, `addIfMissing`, `ignoreUsers`, `stackOutputs`.
 * See `parseAirlockTarget` for each field's default.
 */
import * as path from "path";
import { didYouMean } from "../config/suggest";
import { checkCidr } from "../config/cidr";
import { MANAGED_RULES, ManagedRuleSpec } from "../policies/configRules";
import { GROUP_POLICY_NAMES } from "../policies/groupPolicies";
import { CHECK_IDS, CheckId, DEFAULT_CHECK_IDS } from "./findings";

// ---------------------------------------------------------------------------------------------
// The model

/** Static keys read from the environment variables the file names. The values are not on this object. */
export interface StaticCredentials {
    readonly kind: "static";
    readonly accessKeyIdVar: string;
    readonly secretAccessKeyVar: string;
    readonly sessionTokenVar?: string;
}

/** A named profile of the shared AWS config and credentials files. */
export interface ProfileCredentials {
    readonly kind: "profile";
    readonly profile: string;
}

/** The SDK's default credential chain (environment, SSO, instance or task role...): only as `via`. */
export interface DefaultCredentials {
    readonly kind: "default";
}

/** A role assumed with the credentials of `via`. */
export interface AssumeRoleCredentials {
    readonly kind: "assumeRole";
    readonly roleArn: string;
    readonly externalId?: string;
    /** @default "airlock-audit" */
    readonly sessionName: string;
    readonly via: CallerCredentials;
}

/**
 * Every active account of the AWS Organization that `via` can list (organizations:ListAccounts):
 * `roleName` is assumed in each. Expanded into one target per account when the audit runs.
 */
export interface OrganizationCredentials {
    readonly kind: "organization";
    readonly roleName: string;
    readonly externalId?: string;
    /** @default "airlock-audit" */
    readonly sessionName: string;
    readonly via: CallerCredentials;
}

/** What may call STS on a target's behalf. */
export type CallerCredentials = StaticCredentials | ProfileCredentials | AssumeRoleCredentials | DefaultCredentials;

/** How the audit reaches a target's account(s). */
export type CredentialSpec = StaticCredentials | ProfileCredentials | AssumeRoleCredentials | OrganizationCredentials;

export type GroupPolicyName = (typeof GROUP_POLICY_NAMES)[keyof typeof GROUP_POLICY_NAMES];
export const POLICY_NAMES: readonly GroupPolicyName[] = [GROUP_POLICY_NAMES.forceMfa, GROUP_POLICY_NAMES.sourceIp, GROUP_POLICY_NAMES.configWrite];

/** A group policy to check: present, equal to policies/'s reference document, applied to every user. */
export interface PolicyRule {
    readonly name: GroupPolicyName;
    /** User_Source_IP_Restrictions only: the CIDRs of its reference document (normalised). */
    readonly sourceCidrs?: readonly string[];
    /** Users the policy need not apply to: the target's `ignoreUsers` and the rule's own. */
    readonly ignoreUsers: readonly string[];
}

/** A Config rule to check, found by its source identifier. */
export interface ConfigRuleRule {
    /** policies/configRules.ts MANAGED_RULES' `sourceIdentifier`. */
    readonly sourceIdentifier: string;
    /** Added (with `--fix` only) when the account has no rule with this source identifier. */
    readonly addIfMissing: boolean;
    /** Non-compliant users not reported (rules about IAM users only; else empty). */
    readonly ignoreUsers: readonly string[];
}

export interface Target {
    /** Unique in the file (ignoring case). */
    readonly name: string;
    readonly format: "cloudkestrel" | "airlock";
    readonly credentials: CredentialSpec;
    readonly regions: readonly string[];
    /** In CHECK_IDS order. */
    readonly checks: readonly CheckId[];
    /** Empty unless `checks` has group-policies. */
    readonly policies: readonly PolicyRule[];
    /** Empty unless `checks` has config-rules. */
    readonly configRules: readonly ConfigRuleRule[];
    /** Users every check about users leaves alone (also merged into each rule's `ignoreUsers`). */
    readonly ignoreUsers: readonly string[];
    /** Paths of `pulumi stack output --json` files (relative ones resolved against the targets file's folder). */
    readonly stackOutputs: readonly string[];
    /** Where the cloudtrail-activity check reads the account's trail (Airlock's format only). */
    readonly cloudTrail?: CloudTrailSpec;
}

/** An Airlock target's `cloudTrail`: the trail's bucket and what the activity findings need to know. */
export interface CloudTrailSpec {
    /** The bucket the trail writes to (the guardrails stack's `guardrails.trailBucketName`). */
    readonly bucket: string;
    /** The trail's key prefix (before `AWSLogs/`), if it has one. @default none */
    readonly prefix?: string;
    /** The bucket's region. @default the target's first region */
    readonly region?: string;
    /** Findings look at events of this many days before the audit. @default DEFAULT_LOOKBACK_DAYS */
    readonly lookbackDays: number;
    /** Who may change the vault through `pulumi up` (airlock:deployers, the promotion role): role or user ARNs. */
    readonly deployers: readonly string[];
    /** The security-group healer's role ARNs: its revocations are expected. */
    readonly healerRoleArns: readonly string[];
}

/** cloudTrail.lookbackDays when not given. */
export const DEFAULT_LOOKBACK_DAYS = 7;
/** CloudTrail keeps 90 days of management events in its own history; a trail bucket keeps more, but reading years back is a mistake. */
export const MAX_LOOKBACK_DAYS = 400;

export interface StaticCredentialValues {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
}

/**
 * The values of static credentials, kept off the spec objects (so JSON.stringify, util.inspect and
 * logs of a Target never show them), keyed by the frozen spec `parseTargetsFile` returned.
 */
const SECRETS = new WeakMap<StaticCredentials, StaticCredentialValues>();

/** The keys of static credentials `parseTargetsFile` read from the environment. A copy of the spec has none. */
export function staticCredentialValues(spec: StaticCredentials): StaticCredentialValues {
    const values = SECRETS.get(spec);
    if (values === undefined) {
        throw new Error(`No key values for the static credentials in ${spec.accessKeyIdVar}/${spec.secretAccessKeyVar}: use the spec object parseTargetsFile returned, not a copy.`);
    }
    return values;
}

/** Exit code 2 (findings.ts EXIT_UNAUDITED): the file could not be read, so no target was audited. */
export class TargetsError extends Error {
    readonly exitCode = 2;

    constructor(
        readonly fileName: string,
        readonly problems: readonly string[],
    ) {
        super(problems.length === 1 ? `${fileName}: ${problems[0]}` : `${fileName}: ${problems.length} problems:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "TargetsError";
    }
}

export const DEFAULT_SESSION_NAME = "airlock-audit";

/** AWS's region names: us-east-1, eu-central-2, us-gov-west-1, cn-north-1, us-isob-east-1... */
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/** Why `value` is not a region name, or undefined when it is one. */
export function regionProblem(value: string): string | undefined {
    if (REGION.test(value)) {
        return undefined;
    }
    if (/^[a-z]{2}(-[a-z]+)+-\d{1,2}[a-z]$/.test(value)) {
        return `is an availability zone; its region is "${value.slice(0, -1)}"`;
    }
    const lower = value.trim().toLowerCase();
    if (lower !== value && REGION.test(lower)) {
        return `is not a region name as AWS writes it; write "${lower}"`;
    }
    return 'is not an AWS region name such as "us-east-1" or "eu-west-2"';
}

/**
 * The regions of a target that names none: AWS_REGION, else AWS_DEFAULT_REGION (the SDK's and the
 * CLI's variables, what CloudKestrel's boto3 used), else us-east-1.
 */
export function defaultRegions(env: Readonly<Record<string, string | undefined>>): { readonly regions: string[]; readonly from: string } {
    for (const name of ["AWS_REGION", "AWS_DEFAULT_REGION"]) {
        const value = env[name];
        if (value !== undefined && value !== "") {
            return { regions: [value], from: name };
        }
    }
    return { regions: ["us-east-1"], from: "default" };
}

// ---------------------------------------------------------------------------------------------
// JSON with positions: line and column of a syntax error, and keys given twice (JSON.parse keeps the
// last one silently, which would drop a target or a credential without a word).

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
type Segment = string | number;

interface DuplicateKey {
    readonly at: readonly Segment[];
    readonly key: string;
    readonly line: number;
    readonly column: number;
}

class JsonSyntaxError extends Error {}

class JsonParser {
    private pos = 0;
    readonly duplicates: DuplicateKey[] = [];

    constructor(private readonly text: string) {
        if (text.charCodeAt(0) === 0xfeff) {
            this.pos = 1; // a byte-order mark (Windows editors): not part of the document
        }
    }

    document(): Json {
        this.ws();
        if (this.pos >= this.text.length) {
            this.fail('the file is empty; expected a JSON object, {"version": 1, "targets": [...]} or CloudKestrel\'s {"Targets": [...]}.');
        }
        const value = this.value([], 0);
        this.ws();
        if (this.pos < this.text.length) {
            this.fail(`unexpected ${this.found()} after the end of the JSON document.`);
        }
        return value;
    }

    private location(at: number): { line: number; column: number } {
        let line = 1;
        let lineStart = this.text.charCodeAt(0) === 0xfeff ? 1 : 0;
        for (let i = 0; i < at; i++) {
            if (this.text[i] === "\n") {
                line++;
                lineStart = i + 1;
            }
        }
        return { line, column: at - lineStart + 1 };
    }

    private fail(message: string, at = this.pos): never {
        const { line, column } = this.location(at);
        throw new JsonSyntaxError(`line ${line}, column ${column}: ${message}`);
    }

    private found(): string {
        if (this.pos >= this.text.length) {
            return "the end of the file";
        }
        const c = this.text[this.pos] as string;
        const code = c.charCodeAt(0);
        return code < 0x20 || code === 0x7f ? `the control character U+${code.toString(16).toUpperCase().padStart(4, "0")}` : `'${c}'`;
    }

    private ws(): void {
        while (this.pos < this.text.length && " \t\n\r".includes(this.text[this.pos] as string)) {
            this.pos++;
        }
    }

    private value(at: Segment[], depth: number): Json {
        if (depth > 64) {
            this.fail("nested more than 64 levels deep; a targets file needs a handful.");
        }
        const c = this.text[this.pos];
        if (c === "{") {
            return this.object(at, depth);
        }
        if (c === "[") {
            return this.array(at, depth);
        }
        if (c === '"') {
            return this.string();
        }
        if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) {
            return this.number();
        }
        for (const [word, literal] of [
            ["true", true],
            ["false", false],
            ["null", null],
        ] as const) {
            if (this.text.startsWith(word, this.pos)) {
                this.pos += word.length;
                return literal;
            }
        }
        if (c === "/") {
            this.fail("JSON has no comments; remove it.");
        }
        if (c === "'") {
            this.fail("JSON strings are in double quotes, not single quotes.");
        }
        this.fail(`expected a value (a string in double quotes, a number, true, false, null, a list or an object), found ${this.found()}.`);
    }

    private object(at: Segment[], depth: number): JsonObject {
        const out: JsonObject = {};
        this.pos++;
        this.ws();
        if (this.text[this.pos] === "}") {
            this.pos++;
            return out;
        }
        for (;;) {
            if (this.text[this.pos] !== '"') {
                this.fail(
                    this.text[this.pos] === "/"
                        ? "JSON has no comments; remove it."
                        : `expected a property name in double quotes, found ${this.found()}.`,
                );
            }
            const keyAt = this.pos;
            const key = this.string();
            this.ws();
            if (this.text[this.pos] !== ":") {
                this.fail(`expected ':' after the property name ${JSON.stringify(key)}, found ${this.found()}.`);
            }
            this.pos++;
            this.ws();
            const value = this.value([...at, key], depth + 1);
            if (Object.hasOwn(out, key)) {
                this.duplicates.push({ at, key, ...this.location(keyAt) });
            }
            // defineProperty: a key "__proto__" is data here, not the object's prototype.
            Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
            this.ws();
            if (this.text[this.pos] === ",") {
                const commaAt = this.pos;
                this.pos++;
                this.ws();
                if (this.text[this.pos] === "}") {
                    this.fail("a comma before '}': JSON allows no trailing comma; remove it.", commaAt);
                }
                continue;
            }
            if (this.text[this.pos] === "}") {
                this.pos++;
                return out;
            }
            this.fail(`expected ',' or '}' after the value of ${JSON.stringify(key)}, found ${this.found()}.`);
        }
    }

    private array(at: Segment[], depth: number): Json[] {
        const out: Json[] = [];
        this.pos++;
        this.ws();
        if (this.text[this.pos] === "]") {
            this.pos++;
            return out;
        }
        for (;;) {
            out.push(this.value([...at, out.length], depth + 1));
            this.ws();
            if (this.text[this.pos] === ",") {
                const commaAt = this.pos;
                this.pos++;
                this.ws();
                if (this.text[this.pos] === "]") {
                    this.fail("a comma before ']': JSON allows no trailing comma; remove it.", commaAt);
                }
                continue;
            }
            if (this.text[this.pos] === "]") {
                this.pos++;
                return out;
            }
            this.fail(`expected ',' or ']' after an item of the list, found ${this.found()}.`);
        }
    }

    private string(): string {
        const start = this.pos;
        this.pos++;
        let out = "";
        for (;;) {
            if (this.pos >= this.text.length) {
                this.fail("a string that never ends: its closing '\"' is missing.", start);
            }
            const c = this.text[this.pos] as string;
            if (c === '"') {
                this.pos++;
                return out;
            }
            if (c === "\n" || c === "\r") {
                this.fail("a line break inside a string: its closing '\"' is missing.");
            }
            if (c.charCodeAt(0) < 0x20) {
                this.fail(`${this.found()} inside a string; write it escaped (\\t for a tab).`);
            }
            if (c === "\\") {
                const e = this.text[this.pos + 1];
                const simple: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
                if (e !== undefined && Object.hasOwn(simple, e)) {
                    out += simple[e];
                    this.pos += 2;
                    continue;
                }
                const hex = this.text.slice(this.pos + 2, this.pos + 6);
                if (e === "u" && /^[0-9a-fA-F]{4}$/.test(hex)) {
                    out += String.fromCharCode(parseInt(hex, 16));
                    this.pos += 6;
                    continue;
                }
                this.fail("an invalid escape in a string; JSON knows \\\" \\\\ \\/ \\b \\f \\n \\r \\t and \\uXXXX (a Windows path needs \\\\ or /).");
            }
            out += c;
            this.pos++;
        }
    }

    private number(): number {
        const re = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
        re.lastIndex = this.pos;
        const match = re.exec(this.text);
        if (match === null) {
            this.fail(`expected a number, found ${this.found()}.`);
        }
        this.pos += match[0].length;
        return Number(match[0]);
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the parsed document

function isObject(value: Json | undefined): value is JsonObject {
    return value !== null && typeof value === "object" && !Array.isArray(value);
}

function pathOf(at: readonly Segment[]): string {
    let out = "";
    for (const s of at) {
        if (typeof s === "number") {
            out += `[${s}]`;
        } else if (/^[A-Za-z_$][\w$]*$/.test(s)) {
            out += out === "" ? s : `.${s}`;
        } else {
            out += `[${JSON.stringify(s)}]`;
        }
    }
    return out;
}

/** What a value is, for "must be X; it is Y" (values shown only where they cannot be secrets). */
function kindOf(value: Json): string {
    if (value === null) {
        return "null";
    }
    if (Array.isArray(value)) {
        return "a list";
    }
    switch (typeof value) {
        case "object":
            return "an object";
        case "string":
            return "a string";
        case "number":
            return "a number";
        default:
            return "a boolean";
    }
}

/** kindOf and, for short scalars, the value itself. Never used on credential fields. */
function shown(value: Json): string {
    if (typeof value === "string") {
        return `${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)}`;
    }
    if (typeof value === "number" || typeof value === "boolean") {
        return `${kindOf(value)} (${String(value)})`;
    }
    return kindOf(value);
}

const IAM_USER_NAME = /^[\w+=,.@-]{1,64}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const LOOKS_LIKE_KEY_ID = /^(AKIA|ASIA|AIDA|AROA|ABIA|ACCA)[A-Z0-9]{12,}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
const ROLE_NAME = /^[\w+=,.@-]{1,64}$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;

const AWS_RULE_PREFIX = "airlock-";
/** AWS's name of a managed rule (its developer-guide page): Airlock's rule name without "airlock-". */
function awsRuleName(rule: ManagedRuleSpec): string {
    return rule.ruleName.startsWith(AWS_RULE_PREFIX) ? rule.ruleName.slice(AWS_RULE_PREFIX.length) : rule.ruleName;
}

/** A Config rule by its source identifier, AWS's rule name or Airlock's rule name. */
function findRule(name: string): ManagedRuleSpec | undefined {
    return MANAGED_RULES.find((r) => r.sourceIdentifier === name || awsRuleName(r) === name || r.ruleName === name);
}

function aboutUsers(rule: ManagedRuleSpec): boolean {
    return rule.resourceTypes?.includes("AWS::IAM::User") ?? false;
}

type Env = Readonly<Record<string, string | undefined>>;

/** Problems of one file, each prefixed with the target it is about. */
class Problems {
    readonly list: string[] = [];

    add(target: string | undefined, message: string): void {
        const full = target === undefined ? message : `Target ${JSON.stringify(target)}: ${message}`;
        if (!this.list.includes(full)) {
            this.list.push(full);
        }
    }
}

/** Reads one target's fields: `t.fail(path, "must ...")` → `Target "x": \`path\` must ...`. */
class TargetReader {
    constructor(
        readonly problems: Problems,
        readonly name: string | undefined,
        readonly env: Env,
        readonly fileName: string,
    ) {}

    fail(at: readonly Segment[], message: string): void {
        this.problems.add(this.name, `\`${pathOf(at)}\` ${message}`);
    }

    /** Unknown keys (typos) are errors: a misspelt field would otherwise be silently ignored. */
    keys(at: readonly Segment[], value: JsonObject, allowed: readonly string[], hint: string): void {
        for (const key of Object.keys(value)) {
            if (!allowed.includes(key)) {
                this.fail([...at, key], `is not a field ${hint} (${allowed.join(", ")}).${didYouMean(key, allowed)} Remove it or correct its name.`);
            }
        }
    }

    /** An environment variable's value, by the name at `at`. Never shows the value, nor what was written in its place. */
    envVar(at: readonly Segment[], value: Json | undefined, what: string, example: string): string | undefined {
        if (value === undefined) {
            this.fail(at, `is missing: the name of the environment variable that holds ${what}, e.g. "${example}".`);
            return undefined;
        }
        if (typeof value !== "string" || !ENV_NAME.test(value)) {
            this.fail(
                at,
                `must be the name of an environment variable (letters, digits and _) that holds ${what}, e.g. "${example}", not the ${what.replace(/^the /, "")} itself; what is written there is not shown.`,
            );
            return undefined;
        }
        if (LOOKS_LIKE_KEY_ID.test(value)) {
            this.fail(at, `looks like an access key id itself (not shown), not the name of an environment variable that holds it. Put the key in a variable, e.g. export ${example}=..., and write "${example}" here.`);
            return undefined;
        }
        const found = this.env[value];
        if (found === undefined) {
            this.fail(at, `names the environment variable ${value}, which is not set. Export it before running the audit: export ${value}=<${what.replace(/^the /, "")}>.`);
            return undefined;
        }
        if (found === "") {
            this.fail(at, `names the environment variable ${value}, which is set but empty. Export ${what} in it.`);
            return undefined;
        }
        if (found.trim() !== found) {
            this.fail(at, `names the environment variable ${value}, whose value (not shown) starts or ends with whitespace. Export it without.`);
            return undefined;
        }
        return found;
    }

    string(at: readonly Segment[], value: Json | undefined, what: string): string | undefined {
        if (value === undefined) {
            this.fail(at, `is missing: ${what}.`);
            return undefined;
        }
        if (typeof value !== "string" || value === "") {
            this.fail(at, `must be ${what}; it is ${value === "" ? "empty" : shown(value)}.`);
            return undefined;
        }
        return value;
    }

    boolean(at: readonly Segment[], value: Json | undefined, fallback: boolean): boolean {
        if (value === undefined) {
            return fallback;
        }
        if (typeof value !== "boolean") {
            const fix = value === "true" || value === "false" ? ` Write ${value} without quotes.` : "";
            this.fail(at, `must be true or false; it is ${shown(value)}.${fix}`);
            return fallback;
        }
        return value;
    }

    /** A list of strings, each checked by `item` (undefined = fine, else the problem). Duplicates refused. */
    list(at: readonly Segment[], value: Json | undefined, what: string, example: string, item: (s: string, i: number) => string | undefined, caseInsensitive = false): string[] | undefined {
        if (value === undefined) {
            return undefined;
        }
        if (!Array.isArray(value)) {
            const fix = typeof value === "string" ? ` Write it as a list: ${JSON.stringify(value.split(/[\s,]+/).filter((s) => s !== ""))}.` : ` E.g. ${example}.`;
            this.fail(at, `must be a list of ${what}; it is ${shown(value)}.${fix}`);
            return undefined;
        }
        const out: string[] = [];
        const seen = new Map<string, number>();
        value.forEach((v, i) => {
            if (typeof v !== "string") {
                this.fail([...at, i], `must be a string (${what}); it is ${shown(v)}.`);
                return;
            }
            const problem = item(v, i);
            if (problem !== undefined) {
                this.fail([...at, i], problem);
                return;
            }
            const key = caseInsensitive ? v.toLowerCase() : v;
            const first = seen.get(key);
            if (first !== undefined) {
                this.fail([...at, i], `repeats ${JSON.stringify(v)} (also at \`${pathOf([...at, first])}\`); remove one.`);
                return;
            }
            seen.set(key, i);
            out.push(v);
        });
        return out;
    }

    users(at: readonly Segment[], value: Json | undefined): string[] {
        return (
            this.list(at, value, "IAM user names", '["SecurityReader"]', (s) => (IAM_USER_NAME.test(s) ? undefined : `is ${JSON.stringify(s)}, not an IAM user name (1-64 of letters, digits and +=,.@_-).`), true) ?? []
        );
    }

    /**
     * CIDRs for User_Source_IP_Restrictions, normalised. `bareAddresses`: an address without a mask is
     * that address alone (CloudKestrel's Source_IPs are bare addresses, and IAM reads them so).
     */
    cidrs(at: readonly Segment[], value: Json | undefined, bareAddresses: boolean): string[] | undefined {
        const items = this.list(at, value, "CIDR blocks", '["195.89.85.64/28"]', (s) => {
            const check = checkCidr(bareAddresses && !s.includes("/") ? `${s}/${s.includes(":") ? 128 : 32}` : s);
            if (!check.ok) {
                const fix = check.suggestion === undefined ? ' Write it as address/mask, e.g. "195.89.85.64/28".' : ` Did you mean "${check.suggestion}"?`;
                return `is ${JSON.stringify(s)}: ${check.problem}.${fix}`;
            }
            if (check.prefixLength === 0) {
                return `is ${JSON.stringify(s)}, every ${check.family === "ipv4" ? "IPv4" : "IPv6"} address: User_Source_IP_Restrictions would restrict nothing. Name the ranges users work from.`;
            }
            return undefined;
        });
        if (items === undefined) {
            return undefined;
        }
        const normalised: string[] = [];
        for (const s of items) {
            const check = checkCidr(bareAddresses && !s.includes("/") ? `${s}/${s.includes(":") ? 128 : 32}` : s);
            if (check.ok && !normalised.includes(check.cidr)) {
                normalised.push(check.cidr);
            }
        }
        return normalised;
    }

    /** `at` undefined: the format has no regions field (CloudKestrel's), the default applies. */
    regions(at: readonly Segment[] | undefined, value: Json | undefined): string[] {
        if (at === undefined || value === undefined) {
            const { regions, from } = defaultRegions(this.env);
            const problem = regionProblem(regions[0] as string);
            if (problem !== undefined) {
                const or = at === undefined ? "" : `, or give each target its \`regions\``;
                this.problems.add(undefined, `The environment variable ${from} is ${JSON.stringify(regions[0])}, which ${problem}. Targets that name no regions are audited in the region ${from} names; set it to a region${or}.`);
            }
            return regions;
        }
        const regions = this.list(at, value, "AWS region names", '["us-east-1", "eu-west-1"]', (s) => {
            const problem = regionProblem(s);
            return problem === undefined ? undefined : `is ${JSON.stringify(s)}, which ${problem}.`;
        });
        if (regions !== undefined && regions.length === 0 && Array.isArray(value) && value.length === 0) {
            this.fail(at, `is empty; name at least one region, e.g. ["us-east-1"], or leave it out for the default (AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1).`);
        }
        return regions ?? [];
    }
}

/** Reads static credentials into a frozen spec, the values kept in SECRETS. */
function staticCredentials(t: TargetReader, vars: { idAt: readonly Segment[]; id: Json | undefined; secretAt: readonly Segment[]; secret: Json | undefined; tokenAt: readonly Segment[]; token: Json | undefined }, prefix: string): StaticCredentials | undefined {
    const accessKeyId = t.envVar(vars.idAt, vars.id, "the access key id", `${prefix}_AWS_ACCESS_KEY_ID`);
    const secretAccessKey = t.envVar(vars.secretAt, vars.secret, "the secret access key", `${prefix}_AWS_SECRET_ACCESS_KEY`);
    const sessionToken = vars.token === undefined ? undefined : t.envVar(vars.tokenAt, vars.token, "the session token", `${prefix}_AWS_SESSION_TOKEN`);
    const sameAt = vars.secret === vars.id ? vars.secretAt : vars.token !== undefined && (vars.token === vars.id || vars.token === vars.secret) ? vars.tokenAt : undefined;
    if (sameAt !== undefined && accessKeyId !== undefined && secretAccessKey !== undefined) {
        t.fail(sameAt, `names the same environment variable as another credential field; the access key id, the secret access key and the session token are each in their own variable.`);
        return undefined;
    }
    if (accessKeyId === undefined || secretAccessKey === undefined || (vars.token !== undefined && sessionToken === undefined)) {
        return undefined;
    }
    const spec: StaticCredentials = Object.freeze({
        kind: "static" as const,
        accessKeyIdVar: vars.id as string,
        secretAccessKeyVar: vars.secret as string,
        ...(vars.token === undefined ? {} : { sessionTokenVar: vars.token as string }),
    });
    SECRETS.set(spec, Object.freeze(sessionToken === undefined ? { accessKeyId, secretAccessKey } : { accessKeyId, secretAccessKey, sessionToken }));
    return spec;
}

/** "target1" → "TARGET1", for example variable names in messages. */
function envPrefix(name: string | undefined): string {
    const p = (name ?? "target").toUpperCase().replace(/[^A-Z0-9]+/g, "_").replace(/^_+|_+$/g, "");
    return p === "" || /^\d/.test(p) ? `TARGET_${p}` : p;
}

function freezeTarget(t: Target): Target {
    return Object.freeze({
        ...t,
        regions: Object.freeze([...t.regions]),
        checks: Object.freeze([...t.checks]),
        policies: Object.freeze(t.policies.map((p) => Object.freeze({ ...p, ...(p.sourceCidrs === undefined ? {} : { sourceCidrs: Object.freeze([...p.sourceCidrs]) }), ignoreUsers: Object.freeze([...p.ignoreUsers]) }))),
        configRules: Object.freeze(t.configRules.map((r) => Object.freeze({ ...r, ignoreUsers: Object.freeze([...r.ignoreUsers]) }))),
        ignoreUsers: Object.freeze([...t.ignoreUsers]),
        stackOutputs: Object.freeze([...t.stackOutputs]),
        ...(t.cloudTrail === undefined ? {} : { cloudTrail: Object.freeze({ ...t.cloudTrail, deployers: Object.freeze([...t.cloudTrail.deployers]), healerRoleArns: Object.freeze([...t.cloudTrail.healerRoleArns]) }) }),
    });
}

function ruleNameProblem(kind: "Policy" | "Config", name: string): string {
    if (kind === "Policy") {
        const rule = findRule(name);
        if (rule !== undefined) {
            return `is ${JSON.stringify(name)}, an AWS Config rule, not a group policy. Write it as {"Config": {"Name": "${rule.sourceIdentifier}"}}.`;
        }
        return `is ${JSON.stringify(name)}, which is not a group policy the audit checks.${didYouMean(name, POLICY_NAMES)} The policies are ${POLICY_NAMES.join(", ")}.`;
    }
    if ((POLICY_NAMES as readonly string[]).includes(name)) {
        return `is ${JSON.stringify(name)}, a group policy, not an AWS Config rule. Write it as {"Policy": {"Name": "${name}"}}.`;
    }
    const candidates = MANAGED_RULES.flatMap((r) => [r.sourceIdentifier, awsRuleName(r)]);
    return `is ${JSON.stringify(name)}, which is not an AWS managed Config rule the audit knows.${didYouMean(name, candidates)} Give the rule's source identifier (e.g. IAM_USER_MFA_ENABLED) or AWS's rule name (iam-user-mfa-enabled); README "Audit" lists the ${MANAGED_RULES.length} rules.`;
}

// ---------------------------------------------------------------------------------------------
// CloudKestrel's format

function parseCloudKestrel(root: JsonObject, env: Env, fileName: string, problems: Problems): Target[] {
    const top = new TargetReader(problems, undefined, env, fileName);
    top.keys([], root, ["Targets"], "of CloudKestrel's targets file");
    const list = root.Targets;
    if (!Array.isArray(list)) {
        top.fail(["Targets"], `must be a list of targets, [{"target1": {"Credentials": {...}, "Rules": [...]}}]; it is ${kindOf(list as Json)}.`);
        return [];
    }
    if (list.length === 0) {
        top.fail(["Targets"], 'is empty: there is nothing to audit. Add a target, e.g. {"target1": {"Credentials": {"AwsAccessKeyId": "TARGET1_AWS_ACCESS_KEY_ID", "AwsSecretAccessKey": "TARGET1_AWS_SECRET_ACCESS_KEY"}, "Rules": []}}.');
        return [];
    }
    const targets: Target[] = [];
    const named: Array<{ name: string; at: readonly Segment[] }> = [];
    list.forEach((element, i) => {
        if (!isObject(element)) {
            top.fail(["Targets", i], `must be an object naming a target, {"target1": {"Credentials": {...}, "Rules": [...]}}; it is ${kindOf(element)}.`);
            return;
        }
        if (Object.keys(element).length === 0) {
            top.fail(["Targets", i], 'is an empty object; name a target in it, {"target1": {"Credentials": {...}, "Rules": [...]}}.');
            return;
        }
        for (const [name, body] of Object.entries(element)) {
            const at: Segment[] = ["Targets", i, name];
            named.push({ name, at });
            const target = parseCloudKestrelTarget(new TargetReader(problems, name, env, fileName), at, body);
            if (target !== undefined) {
                targets.push(target);
            }
        }
    });
    uniqueNames(problems, named);
    return targets;
}

function parseCloudKestrelTarget(t: TargetReader, at: readonly Segment[], body: Json): Target | undefined {
    const name = t.name as string;
    const before = t.problems.list.length;
    const nameProblem = targetNameProblem(name);
    if (nameProblem !== undefined) {
        t.fail(at, nameProblem);
    }
    if (!isObject(body)) {
        t.fail(at, `must be an object, {"Credentials": {...}, "Rules": [...]}; it is ${kindOf(body)}.`);
        return undefined;
    }
    t.keys(at, body, ["Credentials", "Rules"], "of a CloudKestrel target; for regions, checks and Airlock's other settings write the file in Airlock's format (README \"Audit\")");
    const credAt = [...at, "Credentials"];
    const prefix = envPrefix(name);
    let credentials: StaticCredentials | undefined;
    if (!isObject(body.Credentials)) {
        t.fail(credAt, `${body.Credentials === undefined ? "is missing" : `must be an object; it is ${kindOf(body.Credentials)}`}: the environment variables that hold the keys, {"AwsAccessKeyId": "${prefix}_AWS_ACCESS_KEY_ID", "AwsSecretAccessKey": "${prefix}_AWS_SECRET_ACCESS_KEY"}.`);
    } else {
        const c = body.Credentials;
        t.keys(credAt, c, ["AwsAccessKeyId", "AwsSecretAccessKey", "AwsSessionToken"], "of CloudKestrel's Credentials");
        credentials = staticCredentials(
            t,
            {
                idAt: [...credAt, "AwsAccessKeyId"],
                id: c.AwsAccessKeyId,
                secretAt: [...credAt, "AwsSecretAccessKey"],
                secret: c.AwsSecretAccessKey,
                tokenAt: [...credAt, "AwsSessionToken"],
                token: c.AwsSessionToken,
            },
            prefix,
        );
    }

    const policies: PolicyRule[] = [];
    const configRules: ConfigRuleRule[] = [];
    const seen = new Map<string, readonly Segment[]>();
    const rulesAt = [...at, "Rules"];
    const rules = body.Rules === undefined ? [] : body.Rules;
    if (!Array.isArray(rules)) {
        t.fail(rulesAt, `must be a list of rules, [{"Policy": {"Name": "Force_MFA"}}, {"Config": {"Name": "IAM_USER_MFA_ENABLED"}}]; it is ${kindOf(rules)}.`);
    } else {
        rules.forEach((rule, i) => {
            const ruleAt = [...rulesAt, i];
            if (!isObject(rule)) {
                t.fail(ruleAt, `must be an object, {"Policy": {...}} or {"Config": {...}}; it is ${kindOf(rule)}.`);
                return;
            }
            const kinds = Object.keys(rule);
            if (kinds.length !== 1) {
                t.fail(ruleAt, kinds.length === 0 ? 'is empty; write {"Policy": {"Name": ...}} or {"Config": {"Name": ...}}.' : `has ${kinds.join(" and ")}; put each rule in its own element of Rules.`);
                return;
            }
            const kind = kinds[0] as string;
            if (kind !== "Policy" && kind !== "Config") {
                t.fail([...ruleAt, kind], `is not a kind of rule (Policy, Config).${didYouMean(kind, ["Policy", "Config"])}`);
                return;
            }
            const entryAt = [...ruleAt, kind];
            const entry = rule[kind];
            if (!isObject(entry)) {
                t.fail(entryAt, `must be an object, {"Name": ...}; it is ${kindOf(entry as Json)}.`);
                return;
            }
            const ruleName = t.string([...entryAt, "Name"], entry.Name, kind === "Policy" ? `the policy's name (${POLICY_NAMES.join(", ")})` : 'the Config rule\'s name, e.g. "IAM_USER_MFA_ENABLED"');
            if (kind === "Policy") {
                t.keys(entryAt, entry, ["Name", "Source_IPs", "Params", "IgnoreUsers"], "of a CloudKestrel Policy rule");
                const policy = ruleName === undefined ? undefined : POLICY_NAMES.find((p) => p === ruleName);
                if (ruleName !== undefined && policy === undefined) {
                    t.fail([...entryAt, "Name"], ruleNameProblem("Policy", ruleName));
                }
                const sourceCidrs = cloudKestrelSourceIps(t, entryAt, entry, policy);
                const ignoreUsers = t.users([...entryAt, "IgnoreUsers"], entry.IgnoreUsers);
                if (policy === undefined) {
                    return;
                }
                if (checkRepeat(t, seen, policy, entryAt)) {
                    policies.push({ name: policy, ...(sourceCidrs === undefined ? {} : { sourceCidrs }), ignoreUsers });
                }
                return;
            }
            t.keys(entryAt, entry, ["Name", "AddIfMissing", "IgnoreUsers"], "of a CloudKestrel Config rule");
            const spec = ruleName === undefined ? undefined : findRule(ruleName);
            if (ruleName !== undefined && spec === undefined) {
                t.fail([...entryAt, "Name"], ruleNameProblem("Config", ruleName));
            }
            const addIfMissing = t.boolean([...entryAt, "AddIfMissing"], entry.AddIfMissing, false);
            const ignoreUsers = t.users([...entryAt, "IgnoreUsers"], entry.IgnoreUsers);
            if (spec === undefined) {
                return;
            }
            if (entry.IgnoreUsers !== undefined && !aboutUsers(spec)) {
                t.fail([...entryAt, "IgnoreUsers"], `only applies to Config rules about IAM users; ${spec.sourceIdentifier} reports on ${(spec.resourceTypes ?? ["the account"]).join(", ")}. Remove it.`);
                return;
            }
            if (checkRepeat(t, seen, spec.sourceIdentifier, entryAt)) {
                configRules.push({ sourceIdentifier: spec.sourceIdentifier, addIfMissing, ignoreUsers });
            }
        });
    }
    const regions = t.regions(undefined, undefined);
    if (credentials === undefined || t.problems.list.length > before) {
        return undefined;
    }
    const checks = DEFAULT_CHECK_IDS.filter((c) => (c === "group-policies" ? policies.length > 0 : c === "config-rules" ? configRules.length > 0 : true));
    return freezeTarget({
        name,
        format: "cloudkestrel",
        credentials,
        regions,
        checks,
        policies,
        configRules,
        ignoreUsers: [],
        stackOutputs: [],
    });
}

function checkRepeat(t: TargetReader, seen: Map<string, readonly Segment[]>, key: string, at: readonly Segment[]): boolean {
    const first = seen.get(key);
    if (first !== undefined) {
        t.fail(at, `repeats the rule ${key} (also at \`${pathOf(first)}\`); merge them into one.`);
        return false;
    }
    seen.set(key, at);
    return true;
}

/** Source_IPs (README's rule table) or Params[].PARAM_1_SOURCE_IP (README's targets example). */
function cloudKestrelSourceIps(t: TargetReader, entryAt: readonly Segment[], entry: JsonObject, policy: GroupPolicyName | undefined): string[] | undefined {
    const given: Array<{ at: Segment[]; value: Json }> = [];
    if (entry.Source_IPs !== undefined) {
        given.push({ at: [...entryAt, "Source_IPs"], value: entry.Source_IPs });
    }
    if (entry.Params !== undefined) {
        const paramsAt = [...entryAt, "Params"];
        if (!Array.isArray(entry.Params)) {
            t.fail(paramsAt, `must be a list, [{"PARAM_1_SOURCE_IP": ["195.89.85.67"]}]; it is ${kindOf(entry.Params)}.`);
        } else {
            entry.Params.forEach((param, i) => {
                if (!isObject(param)) {
                    t.fail([...paramsAt, i], `must be an object, {"PARAM_1_SOURCE_IP": ["195.89.85.67"]}; it is ${kindOf(param)}.`);
                    return;
                }
                t.keys([...paramsAt, i], param, ["PARAM_1_SOURCE_IP"], "of CloudKestrel's Params");
                if (param.PARAM_1_SOURCE_IP !== undefined) {
                    given.push({ at: [...paramsAt, i, "PARAM_1_SOURCE_IP"], value: param.PARAM_1_SOURCE_IP });
                }
            });
        }
    }
    if (policy !== undefined && policy !== GROUP_POLICY_NAMES.sourceIp) {
        for (const g of given) {
            t.fail(g.at, `only applies to ${GROUP_POLICY_NAMES.sourceIp}, not ${policy}. Remove it.`);
        }
        return undefined;
    }
    if (given.length > 1) {
        t.fail(given[1]?.at ?? entryAt, `gives the source addresses a second time (also at \`${pathOf(given[0]?.at ?? entryAt)}\`); keep one of Source_IPs and Params.`);
        return undefined;
    }
    if (policy === undefined) {
        return undefined;
    }
    const only = given[0];
    if (only === undefined) {
        t.fail([...entryAt, "Source_IPs"], `is missing: ${GROUP_POLICY_NAMES.sourceIp} is checked against a reference document built from the addresses users may call AWS from, e.g. "Source_IPs": ["195.89.85.67"].`);
        return undefined;
    }
    const cidrs = t.cidrs(only.at, only.value, true);
    if (cidrs !== undefined && cidrs.length === 0 && Array.isArray(only.value) && only.value.length === 0) {
        t.fail(only.at, `is empty; ${GROUP_POLICY_NAMES.sourceIp} needs at least one address users may call AWS from, e.g. ["195.89.85.67"].`);
    }
    return cidrs;
}

// ---------------------------------------------------------------------------------------------
// Airlock's format

const AIRLOCK_TARGET_FIELDS = ["name", "credentials", "regions", "checks", "policies", "sourceCidrs", "configRules", "addIfMissing", "ignoreUsers", "stackOutputs", "cloudTrail"] as const;
const CLOUDTRAIL_FIELDS = ["bucket", "prefix", "region", "lookbackDays", "deployers", "healerRoleArns"] as const;
/** S3 bucket names (general purpose): 3-63 of a-z, 0-9, '.', '-', starting and ending with a letter or digit. */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/** An IAM role or user ARN, any partition and path. */
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:iam::\d{12}:(?:role|user)\/[\w+=,.@/-]+$/;
const CREDENTIAL_KINDS = ["profile", "env", "assumeRole", "organization"] as const;

function targetNameProblem(name: string): string | undefined {
    if (name.trim() === "") {
        return 'names a target with an empty name; give it a name such as "production".';
    }
    if (name.length > 128 || /[\u0000-\u001f\u007f]/.test(name)) {
        return "names a target with a name over 128 characters or with control characters; give it a short name.";
    }
    if (name.trim() !== name) {
        return `names a target ${JSON.stringify(name)} with leading or trailing spaces; remove them.`;
    }
    return undefined;
}

function parseAirlock(root: JsonObject, env: Env, fileName: string, problems: Problems): Target[] {
    const top = new TargetReader(problems, undefined, env, fileName);
    top.keys([], root, ["$schema", "version", "targets"], "of Airlock's targets file");
    if (root.version !== undefined && root.version !== 1) {
        top.fail(["version"], `is ${shown(root.version as Json)}; this Airlock reads version 1. Write "version": 1 (README "Audit" describes version 1).`);
    }
    if (root.$schema !== undefined && typeof root.$schema !== "string") {
        top.fail(["$schema"], `must be a string (the JSON schema's address); it is ${kindOf(root.$schema)}.`);
    }
    const list = root.targets;
    if (!Array.isArray(list)) {
        top.fail(["targets"], `${list === undefined ? "is missing" : `must be a list; it is ${kindOf(list)}`}: the accounts to audit, [{"name": "production", "credentials": {"profile": "production"}}].`);
        return [];
    }
    if (list.length === 0) {
        top.fail(["targets"], 'is empty: there is nothing to audit. Add a target, e.g. {"name": "production", "credentials": {"profile": "production"}}.');
        return [];
    }
    const targets: Target[] = [];
    const named: Array<{ name: string; at: readonly Segment[] }> = [];
    list.forEach((body, i) => {
        const at: Segment[] = ["targets", i];
        if (!isObject(body)) {
            top.fail(at, `must be an object, {"name": ..., "credentials": ...}; it is ${kindOf(body)}.`);
            return;
        }
        let name: string | undefined;
        if (typeof body.name !== "string") {
            top.fail([...at, "name"], `${body.name === undefined ? "is missing" : `must be a string; it is ${shown(body.name)}`}: the target's name in reports, e.g. "production".`);
        } else {
            const problem = targetNameProblem(body.name);
            if (problem === undefined) {
                name = body.name;
                named.push({ name, at });
            } else {
                top.fail([...at, "name"], problem);
            }
        }
        const before = problems.list.length;
        const t = new TargetReader(problems, name, env, fileName);
        const target = parseAirlockTarget(t, at, body);
        if (target !== undefined && name !== undefined && problems.list.length === before) {
            targets.push(target);
        }
    });
    uniqueNames(problems, named);
    return targets;
}

function parseCredentials(t: TargetReader, at: readonly Segment[], value: Json | undefined, caller: boolean): CredentialSpec | DefaultCredentials | undefined {
    const kinds = caller ? CREDENTIAL_KINDS.filter((k) => k !== "organization") : CREDENTIAL_KINDS;
    const example = '{"profile": "production"}';
    if (!isObject(value)) {
        t.fail(at, `${value === undefined ? "is missing" : `must be an object; it is ${kindOf(value)}`}: how to reach the account, one of ${kinds.map((k) => `{"${k}": ...}`).join(", ")}, e.g. ${example}.`);
        return undefined;
    }
    const keys = Object.keys(value);
    if (keys.length !== 1) {
        t.fail(at, keys.length === 0 ? `is empty; give one of ${kinds.join(", ")}, e.g. ${example}.` : `has ${keys.join(" and ")}; give exactly one of ${kinds.join(", ")}${caller ? "" : " (a role's caller goes in its \"via\")"}.`);
        return undefined;
    }
    const kind = keys[0] as string;
    const body = value[kind] as Json;
    const kindAt = [...at, kind];
    if (caller && kind === "organization") {
        t.fail(kindAt, "cannot be the caller of a role; an organization expands into many accounts. Use profile, env or assumeRole here.");
        return undefined;
    }
    switch (kind) {
        case "profile": {
            if (typeof body !== "string" || !/^[^\s[\]]+$/.test(body)) {
                t.fail(kindAt, `must be the name of a profile in ~/.aws/config or ~/.aws/credentials (no spaces or brackets), e.g. "production"; it is ${shown(body)}.`);
                return undefined;
            }
            return Object.freeze({ kind: "profile" as const, profile: body });
        }
        case "env": {
            if (!isObject(body)) {
                t.fail(kindAt, `must be an object naming environment variables, {"accessKeyId": "${envPrefix(t.name)}_AWS_ACCESS_KEY_ID", "secretAccessKey": "${envPrefix(t.name)}_AWS_SECRET_ACCESS_KEY"}; it is ${kindOf(body)}.`);
                return undefined;
            }
            t.keys(kindAt, body, ["accessKeyId", "secretAccessKey", "sessionToken"], "of env credentials");
            return staticCredentials(
                t,
                {
                    idAt: [...kindAt, "accessKeyId"],
                    id: body.accessKeyId,
                    secretAt: [...kindAt, "secretAccessKey"],
                    secret: body.secretAccessKey,
                    tokenAt: [...kindAt, "sessionToken"],
                    token: body.sessionToken,
                },
                envPrefix(t.name),
            );
        }
        case "assumeRole":
        case "organization": {
            if (!isObject(body)) {
                t.fail(
                    kindAt,
                    `must be an object; it is ${kindOf(body)}. E.g. ${kind === "assumeRole" ? '{"roleArn": "arn:aws:iam::111122223333:role/airlock-audit", "externalId": "..."}' : '{"roleName": "OrganizationAccountAccessRole"}'}.`,
                );
                return undefined;
            }
            const roleField = kind === "assumeRole" ? "roleArn" : "roleName";
            let ok = true;
            t.keys(kindAt, body, [roleField, "externalId", "sessionName", "via"], `of ${kind} credentials`);
            const role = body[roleField];
            let roleValue: string | undefined;
            if (kind === "assumeRole") {
                if (typeof role !== "string" || !ROLE_ARN.test(role)) {
                    t.fail([...kindAt, "roleArn"], `${role === undefined ? "is missing" : `is ${shown(role)}`}: it must be the ARN of the role to assume, e.g. "arn:aws:iam::111122223333:role/airlock-audit".`);
                } else {
                    roleValue = role;
                }
            } else if (typeof role !== "string" || !ROLE_NAME.test(role)) {
                const arn = typeof role === "string" ? /^arn:aws[a-z-]*:iam::\d{12}:role\/(?:.*\/)?([^/]+)$/.exec(role) : null;
                const fix = arn !== null ? ` It is an ARN; give only the role's name, "${arn[1]}": it is assumed in every account.` : "";
                t.fail([...kindAt, "roleName"], `${role === undefined ? "is missing" : `is ${shown(role)}`}: it must be the name of the role to assume in each account (1-64 of letters, digits and +=,.@_-), e.g. "OrganizationAccountAccessRole".${fix}`);
            } else {
                roleValue = role;
            }
            let externalId: string | undefined;
            if (body.externalId !== undefined) {
                if (typeof body.externalId !== "string" || !EXTERNAL_ID.test(body.externalId)) {
                    t.fail([...kindAt, "externalId"], "must be the external id the role's trust policy requires: 2-1224 of letters, digits and +=,.@:/_-; what is written there is not shown.");
                    ok = false;
                } else {
                    externalId = body.externalId;
                }
            }
            let sessionName = DEFAULT_SESSION_NAME;
            if (body.sessionName !== undefined) {
                if (typeof body.sessionName !== "string" || !SESSION_NAME.test(body.sessionName)) {
                    t.fail([...kindAt, "sessionName"], `is ${shown(body.sessionName)}: a role session name is 2-64 of letters, digits and +=,.@_- (CloudTrail shows it); default "${DEFAULT_SESSION_NAME}".`);
                    ok = false;
                } else {
                    sessionName = body.sessionName;
                }
            }
            const via = body.via === undefined ? Object.freeze({ kind: "default" as const }) : parseCredentials(t, [...kindAt, "via"], body.via, true);
            if (!ok || roleValue === undefined || via === undefined) {
                return undefined;
            }
            const common = { ...(externalId === undefined ? {} : { externalId }), sessionName, via: via as CallerCredentials };
            return kind === "assumeRole" ? Object.freeze({ kind: "assumeRole" as const, roleArn: roleValue, ...common }) : Object.freeze({ kind: "organization" as const, roleName: roleValue, ...common });
        }
        default:
            t.fail(kindAt, `is not a kind of credentials (${kinds.join(", ")}).${didYouMean(kind, kinds)}`);
            return undefined;
    }
}

/**
 * One target of Airlock's format. Defaults: regions as `defaultRegions`; checks: all of CHECK_IDS;
 * policies (with group-policies): all three, User_Source_IP_Restrictions then needing sourceCidrs;
 * configRules (with config-rules): all of MANAGED_RULES; addIfMissing: false (true = every rule, or a
 * list of rules); ignoreUsers, stackOutputs: none; cloudTrail: none, and without it the default
 * checks leave cloudtrail-activity out (DEFAULT_CHECK_IDS), with it they include it. A field for a
 * check the target leaves out is an error (it would be silently unused).
 */
function parseAirlockTarget(t: TargetReader, at: readonly Segment[], body: JsonObject): Target | undefined {
    t.keys(at, body, AIRLOCK_TARGET_FIELDS, "of an Airlock target");
    const credentials = parseCredentials(t, [...at, "credentials"], body.credentials, false) as CredentialSpec | undefined;
    const regions = t.regions([...at, "regions"], body.regions);

    let checks: CheckId[] = body.cloudTrail === undefined ? [...DEFAULT_CHECK_IDS] : [...CHECK_IDS];
    let checksRead = true;
    if (body.checks !== undefined) {
        const before = t.problems.list.length;
        const given = t.list([...at, "checks"], body.checks, "check ids", '["group-policies", "config-rules"]', (s) =>
            (CHECK_IDS as readonly string[]).includes(s) ? undefined : `is ${JSON.stringify(s)}, which is not a check.${didYouMean(s, CHECK_IDS)} The checks are ${CHECK_IDS.join(", ")}.`,
        );
        if (Array.isArray(body.checks) && body.checks.length === 0) {
            t.fail([...at, "checks"], `is empty; name the checks to run (${CHECK_IDS.join(", ")}) or leave it out for all of them.`);
        }
        checks = CHECK_IDS.filter((c) => given?.includes(c) ?? true);
        checksRead = t.problems.list.length === before;
    }
    /** A field for a check left out (not reported when `checks` itself is wrong: that would mislead). */
    const unused = (field: string, check: CheckId): boolean => {
        if (body[field] !== undefined && !checks.includes(check)) {
            if (!checksRead) {
                return true;
            }
            t.fail([...at, field], `only applies to the ${check} check, which \`${pathOf([...at, "checks"])}\` leaves out. Remove it, or add "${check}" to checks.`);
            return true;
        }
        return false;
    };

    const ignoreUsers = t.users([...at, "ignoreUsers"], body.ignoreUsers);

    const policies: PolicyRule[] = [];
    if (!unused("policies", "group-policies") && !unused("sourceCidrs", "group-policies") && checks.includes("group-policies")) {
        const names =
            body.policies === undefined
                ? [...POLICY_NAMES]
                : t.list([...at, "policies"], body.policies, "group policy names", `["${GROUP_POLICY_NAMES.forceMfa}"]`, (s) => ((POLICY_NAMES as readonly string[]).includes(s) ? undefined : ruleNameProblem("Policy", s)));
        if (Array.isArray(body.policies) && body.policies.length === 0) {
            t.fail([...at, "policies"], `is empty; name the policies to check (${POLICY_NAMES.join(", ")}), or leave "group-policies" out of checks.`);
        }
        const wantsCidrs = names?.includes(GROUP_POLICY_NAMES.sourceIp) ?? false;
        const sourceCidrs = t.cidrs([...at, "sourceCidrs"], body.sourceCidrs, false);
        if (wantsCidrs && (sourceCidrs === undefined || sourceCidrs.length === 0) && (body.sourceCidrs === undefined || (Array.isArray(body.sourceCidrs) && body.sourceCidrs.length === 0))) {
            t.fail(
                [...at, "sourceCidrs"],
                `is required by the group-policies check: ${GROUP_POLICY_NAMES.sourceIp} is compared with a reference document built from the CIDRs users call AWS from (CloudKestrel's Source_IPs), e.g. ["195.89.85.64/28"]. Or list the other policies in \`${pathOf([...at, "policies"])}\`.`,
            );
        } else if (!wantsCidrs && body.sourceCidrs !== undefined) {
            t.fail([...at, "sourceCidrs"], `only applies to ${GROUP_POLICY_NAMES.sourceIp}, which \`${pathOf([...at, "policies"])}\` leaves out. Remove it, or add the policy.`);
        }
        for (const name of POLICY_NAMES.filter((p) => names?.includes(p))) {
            policies.push({ name, ...(name === GROUP_POLICY_NAMES.sourceIp && sourceCidrs !== undefined ? { sourceCidrs } : {}), ignoreUsers });
        }
    }

    const configRules: ConfigRuleRule[] = [];
    if (!unused("configRules", "config-rules") && !unused("addIfMissing", "config-rules") && checks.includes("config-rules")) {
        let specs: ManagedRuleSpec[] = [...MANAGED_RULES];
        if (body.configRules !== undefined) {
            const bySource = new Map<string, number>();
            const given = t.list([...at, "configRules"], body.configRules, "Config rule names", '["IAM_USER_MFA_ENABLED"]', (s, i) => {
                const spec = findRule(s);
                if (spec === undefined) {
                    return ruleNameProblem("Config", s);
                }
                const first = bySource.get(spec.sourceIdentifier);
                if (first !== undefined) {
                    return `names ${spec.sourceIdentifier} again (also at \`${pathOf([...at, "configRules", first])}\`); remove one.`;
                }
                bySource.set(spec.sourceIdentifier, i);
                return undefined;
            });
            if (Array.isArray(body.configRules) && body.configRules.length === 0) {
                t.fail([...at, "configRules"], 'is empty; name the rules to check, or leave "config-rules" out of checks.');
            }
            specs = (given ?? []).map((s) => findRule(s) as ManagedRuleSpec);
        }
        let add: (spec: ManagedRuleSpec) => boolean = () => false;
        const addAt = [...at, "addIfMissing"];
        if (typeof body.addIfMissing === "boolean") {
            const all = body.addIfMissing;
            add = () => all;
        } else if (body.addIfMissing !== undefined) {
            if (!Array.isArray(body.addIfMissing)) {
                t.fail(addAt, `must be true, false or a list of Config rules to add when missing; it is ${shown(body.addIfMissing)}.`);
            } else {
                const named = t.list(addAt, body.addIfMissing, "Config rule names", '["IAM_USER_MFA_ENABLED"]', (s) => {
                    const spec = findRule(s);
                    if (spec === undefined) {
                        return ruleNameProblem("Config", s);
                    }
                    return specs.includes(spec) ? undefined : `is ${JSON.stringify(s)}, which \`${pathOf([...at, "configRules"])}\` does not check. Add it there, or remove it here.`;
                });
                const sources = new Set((named ?? []).map((s) => findRule(s)?.sourceIdentifier));
                add = (spec) => sources.has(spec.sourceIdentifier);
            }
        }
        for (const spec of specs) {
            configRules.push({ sourceIdentifier: spec.sourceIdentifier, addIfMissing: add(spec), ignoreUsers: aboutUsers(spec) ? ignoreUsers : [] });
        }
    }

    let cloudTrail: CloudTrailSpec | undefined;
    if (!unused("cloudTrail", "cloudtrail-activity") && checks.includes("cloudtrail-activity")) {
        cloudTrail = parseCloudTrail(t, [...at, "cloudTrail"], body.cloudTrail);
    }

    let stackOutputs: string[] = [];
    // Stack outputs name the managed instances (unmanaged-instances) and the vault, groups and instances (cloudtrail-activity).
    const outputsUsed = checks.includes("unmanaged-instances") || checks.includes("cloudtrail-activity");
    if (body.stackOutputs !== undefined && !outputsUsed) {
        if (checksRead) {
            t.fail([...at, "stackOutputs"], `only applies to the unmanaged-instances and cloudtrail-activity checks, which \`${pathOf([...at, "checks"])}\` leaves out. Remove it, or add one of them to checks.`);
        }
    } else {
        const base = path.dirname(t.fileName);
        stackOutputs = (t.list([...at, "stackOutputs"], body.stackOutputs, "paths of `pulumi stack output --json` files", '["stacks/web.json"]', (s) => (s.trim() === "" ? "is empty; give the path of a file." : undefined)) ?? []).map((p) =>
            path.isAbsolute(p) ? p : path.join(base, p),
        );
    }
    if (credentials === undefined || t.name === undefined) {
        return undefined;
    }
    return freezeTarget({ name: t.name, format: "airlock", credentials, regions, checks, policies, configRules, ignoreUsers, stackOutputs, ...(cloudTrail === undefined ? {} : { cloudTrail }) });
}

/** An Airlock target's `cloudTrail` (required by the cloudtrail-activity check). */
function parseCloudTrail(t: TargetReader, at: readonly Segment[], value: Json | undefined): CloudTrailSpec | undefined {
    const example = '{"bucket": "acme-trail-logs"}';
    if (value === undefined) {
        t.fail(at, `is required by the cloudtrail-activity check: the bucket the account's trail writes to, e.g. ${example} (the guardrails stack's output guardrails.trailBucketName). Or leave "cloudtrail-activity" out of checks.`);
        return undefined;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
        t.fail(at, `must be an object naming the trail's bucket, e.g. ${example}; it is ${shown(value)}.`);
        return undefined;
    }
    const body = value as JsonObject;
    t.keys(at, body, CLOUDTRAIL_FIELDS, "of cloudTrail");
    const before = t.problems.list.length;
    const bucket = t.string([...at, "bucket"], body.bucket, 'the name of the bucket the trail writes to, e.g. "acme-trail-logs"');
    if (bucket !== undefined && !BUCKET_NAME.test(bucket)) {
        t.fail([...at, "bucket"], `is ${JSON.stringify(bucket)}, not an S3 bucket name (3-63 of a-z, 0-9, '.' and '-'); give the name, not an ARN or URL.`);
    }
    let prefix: string | undefined;
    if (body.prefix !== undefined) {
        prefix = t.string([...at, "prefix"], body.prefix, 'the trail\'s S3 key prefix, e.g. "org-trail"');
        if (prefix !== undefined && (prefix.startsWith("/") || prefix.includes("AWSLogs"))) {
            t.fail([...at, "prefix"], `is ${JSON.stringify(prefix)}: give the trail's own prefix (the part before AWSLogs/), without a leading "/".`);
        }
    }
    let region: string | undefined;
    if (body.region !== undefined) {
        region = t.string([...at, "region"], body.region, 'the bucket\'s region, e.g. "eu-west-1"');
        const problem = region === undefined ? undefined : regionProblem(region);
        if (problem !== undefined) t.fail([...at, "region"], `is ${JSON.stringify(region)}, which ${problem}.`);
    }
    let lookbackDays = DEFAULT_LOOKBACK_DAYS;
    if (body.lookbackDays !== undefined) {
        const n = body.lookbackDays;
        if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_LOOKBACK_DAYS) {
            t.fail([...at, "lookbackDays"], `must be a whole number of days from 1 to ${MAX_LOOKBACK_DAYS}; it is ${shown(n)}.`);
        } else {
            lookbackDays = n;
        }
    }
    const arnItem = (s: string): string | undefined => (PRINCIPAL_ARN.test(s) ? undefined : `is ${JSON.stringify(s)}, not an IAM role or user ARN (arn:aws:iam::<account>:role/<name>).`);
    const deployers = t.list([...at, "deployers"], body.deployers, "role or user ARNs", '["arn:aws:iam::111122223333:role/deployer"]', arnItem) ?? [];
    const healerRoleArns = t.list([...at, "healerRoleArns"], body.healerRoleArns, "role ARNs", '["arn:aws:iam::111122223333:role/airlock-healer"]', arnItem) ?? [];
    if (bucket === undefined || t.problems.list.length > before) {
        return undefined;
    }
    return { bucket, ...(prefix === undefined ? {} : { prefix }), ...(region === undefined ? {} : { region }), lookbackDays, deployers, healerRoleArns };
}

// ---------------------------------------------------------------------------------------------

/** Target names are unique ignoring case (checked for every named target, valid or not). */
function uniqueNames(problems: Problems, named: ReadonlyArray<{ readonly name: string; readonly at: readonly Segment[] }>): void {
    const first = new Map<string, { name: string; at: readonly Segment[] }>();
    for (const { name, at } of named) {
        const key = name.toLowerCase();
        const earlier = first.get(key);
        if (earlier !== undefined) {
            problems.add(
                name,
                `\`${pathOf(at)}\` has the same name as \`${pathOf(earlier.at)}\`${earlier.name === name ? "" : ` (${JSON.stringify(earlier.name)}; names are compared ignoring case)`}. Target names appear in reports and must be unique; rename one.`,
            );
        } else {
            first.set(key, { name, at });
        }
    }
}

/**
 * The targets of a targets file: CloudKestrel's format (a top-level "Targets") or Airlock's
 * ("version": 1, "targets"). `env` is where credentials' environment variables and AWS_REGION /
 * AWS_DEFAULT_REGION are read (pass process.env). Throws TargetsError with every problem found.
 */
export function parseTargetsFile(text: string, env: Readonly<Record<string, string | undefined>>, fileName: string): Target[] {
    const parser = new JsonParser(text);
    let root: Json;
    try {
        root = parser.document();
    } catch (e) {
        if (e instanceof JsonSyntaxError) {
            throw new TargetsError(fileName, [`is not valid JSON: ${e.message}`]);
        }
        throw e;
    }
    const problems = new Problems();
    for (const d of parser.duplicates) {
        problems.add(undefined, `\`${pathOf(d.at) || "(the top level)"}\` has the key ${JSON.stringify(d.key)} twice (again at line ${d.line}, column ${d.column}); JSON would silently keep only the last. Remove or rename one.`);
    }
    if (!isObject(root)) {
        throw new TargetsError(fileName, [`must be a JSON object, {"version": 1, "targets": [...]} (Airlock's format) or {"Targets": [...]} (CloudKestrel's); it is ${kindOf(root)}.`]);
    }
    let targets: Target[];
    if (Object.hasOwn(root, "Targets")) {
        targets = parseCloudKestrel(root, env, fileName, problems);
    } else if (Object.hasOwn(root, "version") || Object.hasOwn(root, "targets")) {
        if (!Object.hasOwn(root, "version")) {
            problems.add(undefined, '`version` is missing: Airlock\'s targets file starts {"version": 1, "targets": [...]}.');
        }
        targets = parseAirlock(root, env, fileName, problems);
    } else {
        const keys = Object.keys(root);
        const hint = keys.length === 0 ? "It is an empty object." : `It has ${keys.map((k) => JSON.stringify(k)).join(", ")}.${didYouMean(keys[0] as string, ["Targets", "targets", "version"])}`;
        problems.add(undefined, `is neither Airlock's targets format ({"version": 1, "targets": [...]}) nor CloudKestrel's ({"Targets": [...]}). ${hint}`);
        targets = [];
    }
    if (problems.list.length > 0) {
        throw new TargetsError(fileName, problems.list);
    }
    return targets;
}
