import * as ipaddr from "ipaddr.js";

/**
 * Semantic comparison of IAM policy documents, for the audit's group-policy check: is the policy in
 * the account the one Airlock's `policies/` builds, whatever order or spelling IAM (or a person)
 * stored it in?
 *
 * What does NOT make two documents different (each is a rule of IAM's policy grammar):
 * - the order of statements, and of actions, resources, principals and condition values;
 * - a single string versus a one-element list, and duplicates in a list or duplicate statements;
 * - `Sid` (a statement's label: IAM evaluates nothing by it) and the document's `Id`;
 * - the case of actions (`iam:GetUser` = `IAM:getuser`: IAM matches actions ignoring case);
 * - the case of condition keys (`aws:SourceIp` = `AWS:SourceIP`: IAM's condition keys ignore case);
 * - condition values where the operator ignores case: `StringEqualsIgnoreCase`, `StringNotEqualsIgnoreCase`
 *   (and their `ForAnyValue:`/`ForAllValues:`/`…IfExists` forms), `Bool` and `Null` (`"True"` = `"true"` =
 *   JSON `true`); numbers in `Numeric…` (`"10"` = `10` = `"10.0"`);
 * - how a CIDR is written in `IpAddress`/`NotIpAddress`: `203.0.113.5` = `203.0.113.5/32`,
 *   `2001:DB8:0::/32` = `2001:db8::/32`, host bits masked (`10.0.0.1/8` = `10.0.0.0/8`);
 * - an empty `Condition` (or an operator with no keys) and none.
 *
 * What DOES make them different: the `Version` (absent means `2008-10-17`, where policy variables
 * such as `${aws:username}` are plain text), any statement present in one and not the other
 * (statements are compared whole: one statement split into two with the same total effect is a
 * difference), `Effect`, `Action` versus `NotAction` (and Resource/NotResource, Principal/NotPrincipal),
 * resource ARNs and principals (case-sensitive), condition values of case-sensitive operators
 * (`StringEquals`, `StringLike`, `Arn…`, `Date…`), and condition operator names: they are kept as
 * written (`StringEquals` ≠ `stringequals`), the conservative choice, so a doubt shows as drift
 * rather than as a pass. Keys IAM's grammar does not know are compared verbatim.
 */

/** A document that is not an IAM policy at all (not JSON, not an object, no statements). */
export class PolicyDocumentError extends Error {
    override name = "PolicyDocumentError";
}

export type NormalizedPrincipal = "*" | Readonly<Record<string, readonly string[]>>;

/** Condition operator (as written) → condition key (lower case) → values (canonical, sorted). */
export type NormalizedCondition = Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;

/**
 * A statement in canonical form: AWS's key names, every list sorted and without duplicates, actions
 * in lower case, no `Sid`. Keys IAM's grammar does not know are kept verbatim beside these. A
 * canonical statement is itself a valid statement: normalizing it again gives it back.
 */
export interface Statement {
    readonly Effect: string;
    readonly Principal?: NormalizedPrincipal;
    readonly NotPrincipal?: NormalizedPrincipal;
    readonly Action?: readonly string[];
    readonly NotAction?: readonly string[];
    readonly Resource?: readonly string[];
    readonly NotResource?: readonly string[];
    readonly Condition?: NormalizedCondition;
    readonly [unknownKey: string]: unknown;
}

/** A policy in canonical form: the version and the statements, sorted, without duplicates. */
export interface NormalizedPolicy {
    readonly Version: string;
    readonly Statement: readonly Statement[];
}

/** IAM's default when a document has no Version. */
export const DEFAULT_POLICY_VERSION = "2008-10-17";

const STATEMENT_KEYS = new Set(["Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"]);

/**
 * The canonical form of a policy document: an object, or its JSON text (already URL-decoded).
 * Throws PolicyDocumentError when it is not a policy document.
 */
export function normalizePolicy(doc: unknown): NormalizedPolicy {
    let value = doc;
    if (typeof value === "string") {
        try {
            value = JSON.parse(value) as unknown;
        } catch (error) {
            throw new PolicyDocumentError(`not JSON: ${(error as Error).message}`);
        }
    }
    if (!isPlainObject(value)) {
        throw new PolicyDocumentError(`a policy document is a JSON object, not ${describe(value)}`);
    }
    const version = value["Version"] === undefined ? DEFAULT_POLICY_VERSION : value["Version"];
    if (typeof version !== "string") {
        throw new PolicyDocumentError(`Version must be a string, not ${describe(version)}`);
    }
    const raw = value["Statement"];
    if (raw === undefined) {
        throw new PolicyDocumentError("the document has no Statement");
    }
    const list = Array.isArray(raw) ? raw : [raw];
    const byKey = new Map<string, Statement>();
    list.forEach((s, index) => {
        if (!isPlainObject(s)) {
            throw new PolicyDocumentError(`Statement ${index} is ${describe(s)}, not an object`);
        }
        const statement = normalizeStatement(s, index);
        byKey.set(canonicalJson(statement), statement);
    });
    const keys = [...byKey.keys()].sort();
    return { Version: version, Statement: keys.map((k) => byKey.get(k)!) };
}

/** Whether two documents (objects, JSON texts or normalized policies) mean the same to IAM, by the rules above. */
export function policiesEqual(a: unknown, b: unknown): boolean {
    const na = normalizePolicy(a);
    const nb = normalizePolicy(b);
    return na.Version === nb.Version && canonicalJson(na.Statement) === canonicalJson(nb.Statement);
}

export interface PolicyDifference {
    /** Statements of `expected` that `actual` lacks (canonical form). */
    readonly missing: Statement[];
    /** Statements of `actual` that `expected` lacks (canonical form). */
    readonly extra: Statement[];
    /** Set when the Versions differ (absent Version counts as 2008-10-17). */
    readonly version?: { readonly expected: string; readonly actual: string };
}

/** What separates `actual` from `expected`; no missing, no extra and no version means they are equal. */
export function policyDifference(expected: unknown, actual: unknown): PolicyDifference {
    const e = normalizePolicy(expected);
    const a = normalizePolicy(actual);
    const eKeys = new Set(e.Statement.map((s) => canonicalJson(s)));
    const aKeys = new Set(a.Statement.map((s) => canonicalJson(s)));
    const missing = e.Statement.filter((s) => !aKeys.has(canonicalJson(s)));
    const extra = a.Statement.filter((s) => !eKeys.has(canonicalJson(s)));
    return e.Version === a.Version ? { missing, extra } : { missing, extra, version: { expected: e.Version, actual: a.Version } };
}

function normalizeStatement(s: Record<string, unknown>, index: number): Statement {
    const out: Record<string, unknown> = {};
    const effect = s["Effect"];
    if (typeof effect !== "string") {
        throw new PolicyDocumentError(`Statement ${index} has no Effect`);
    }
    out["Effect"] = effect;
    for (const key of ["Principal", "NotPrincipal"] as const) {
        if (s[key] !== undefined) out[key] = normalizePrincipal(s[key]);
    }
    for (const key of ["Action", "NotAction"] as const) {
        if (s[key] !== undefined) out[key] = stringSet(s[key], (v) => v.toLowerCase());
    }
    for (const key of ["Resource", "NotResource"] as const) {
        if (s[key] !== undefined) out[key] = stringSet(s[key]);
    }
    if (s["Condition"] !== undefined) {
        const condition = normalizeCondition(s["Condition"], index);
        if (Object.keys(condition).length > 0) out["Condition"] = condition;
    }
    for (const [key, value] of Object.entries(s)) {
        if (!STATEMENT_KEYS.has(key)) out[key] = value; // unknown to IAM's grammar: compared verbatim
    }
    return out as Statement;
}

function normalizePrincipal(value: unknown): NormalizedPrincipal | unknown {
    if (value === "*") return "*";
    if (!isPlainObject(value)) return value; // not IAM's grammar: compared verbatim
    const out: Record<string, readonly string[]> = {};
    for (const key of Object.keys(value).sort()) {
        out[key] = stringSet(value[key]);
    }
    return out;
}

function normalizeCondition(value: unknown, index: number): NormalizedCondition {
    if (!isPlainObject(value)) {
        throw new PolicyDocumentError(`Statement ${index}'s Condition is ${describe(value)}, not an object`);
    }
    const out: Record<string, Record<string, readonly string[]>> = {};
    for (const operator of Object.keys(value).sort()) {
        const block = value[operator];
        if (!isPlainObject(block)) {
            throw new PolicyDocumentError(`Statement ${index}'s Condition operator ${operator} is ${describe(block)}, not an object`);
        }
        const canonicalValue = valueNormalizer(operator);
        // Keys ignore case; two spellings of one key in one block (an AND of both) stay apart, as written,
        // unless their values are the same.
        const groups = new Map<string, { key: string; values: readonly string[] }[]>();
        for (const [key, raw] of Object.entries(block)) {
            const entry = { key, values: stringSet(raw, canonicalValue) };
            const lower = key.toLowerCase();
            groups.set(lower, [...(groups.get(lower) ?? []), entry]);
        }
        const keys: Record<string, readonly string[]> = {};
        for (const [lower, entries] of groups) {
            const first = entries[0]!;
            if (entries.every((e) => canonicalJson(e.values) === canonicalJson(first.values))) {
                keys[lower] = first.values;
            } else {
                for (const e of entries) keys[e.key] = e.values;
            }
        }
        if (Object.keys(keys).length > 0) {
            out[operator] = Object.fromEntries(Object.keys(keys).sort().map((k) => [k, keys[k]!]));
        }
    }
    return out;
}

/** How an operator compares its values, from its base name (without ForAnyValue:/ForAllValues: and IfExists). */
function valueNormalizer(operator: string): (value: string) => string {
    const base = operator.replace(/^For(Any|All)Values?:/i, "").replace(/IfExists$/, "");
    switch (base) {
        case "StringEqualsIgnoreCase":
        case "StringNotEqualsIgnoreCase":
        case "Bool":
        case "Null":
            return (v) => v.toLowerCase();
        case "NumericEquals":
        case "NumericNotEquals":
        case "NumericLessThan":
        case "NumericLessThanEquals":
        case "NumericGreaterThan":
        case "NumericGreaterThanEquals":
            // Plain decimals only: Number() also reads "0xE10" or "1e3", which IAM would not.
            return (v) => (/^\s*-?\d+(?:\.\d+)?\s*$/.test(v) ? String(Number(v)) : v);
        case "IpAddress":
        case "NotIpAddress":
            return canonicalCidr;
        default:
            return (v) => v;
    }
}

/** A CIDR (or a bare address) as its network address and prefix; anything else unchanged. */
export function canonicalCidr(value: string): string {
    const text = value.trim();
    try {
        if (!text.includes("/")) {
            if (ipaddr.IPv4.isValidFourPartDecimal(text)) return `${ipaddr.IPv4.parse(text).toString()}/32`;
            if (ipaddr.IPv6.isValid(text)) return `${ipaddr.IPv6.parse(text).toString()}/128`;
            return value;
        }
        const [address = "", prefix = ""] = text.split("/");
        if (!/^\d{1,3}$/.test(prefix)) return value;
        if (ipaddr.IPv4.isValidFourPartDecimal(address) && Number(prefix) <= 32) {
            return `${ipaddr.IPv4.networkAddressFromCIDR(`${address}/${prefix}`).toString()}/${Number(prefix)}`;
        }
        if (ipaddr.IPv6.isValid(address) && Number(prefix) <= 128) {
            return `${ipaddr.IPv6.networkAddressFromCIDR(`${address}/${prefix}`).toString()}/${Number(prefix)}`;
        }
    } catch {
        // not an address: compared as written
    }
    return value;
}

/** A string or a list as a sorted list without duplicates; JSON scalars (true, 10) as their text. */
function stringSet(value: unknown, canonical: (v: string) => string = (v) => v): readonly string[] {
    const list = Array.isArray(value) ? value : [value];
    const out = new Set<string>();
    for (const item of list) {
        const text = typeof item === "string" ? item : typeof item === "number" || typeof item === "boolean" ? String(item) : JSON.stringify(item);
        out.add(canonical(text));
    }
    return [...out].sort();
}

/** JSON with object keys sorted, so equal values have equal texts. */
export function canonicalJson(value: unknown): string {
    return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(sortKeys);
    if (isPlainObject(value)) {
        return Object.fromEntries(
            Object.keys(value)
                .sort()
                .map((k) => [k, sortKeys(value[k])]),
        );
    }
    return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
    return value === null ? "null" : Array.isArray(value) ? "a list" : typeof value;
}
