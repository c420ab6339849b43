/**
 * Airlock's own reading of an S3 bucket policy (issue 10, "Public buckets": evaluated by Airlock, not
 * only by asking S3). Pure: no AWS, no I/O.
 *
 * A statement is a public grant when it
 * - is `"Effect": "Allow"`;
 * - names everyone as principal: `"Principal": "*"`, `{"AWS": "*"}` (alone or in a list), or uses
 *   `NotPrincipal` (an Allow to everyone but a few is an Allow to everyone);
 * - grants an action that exposes data or the bucket (S3's "bad actions": s3:Get*, s3:List*,
 *   s3:AbortMultipartUpload, s3:Delete*, s3:Put*, s3:RestoreObject, and anything covering them:
 *   "*", "s3:*", a wildcard that matches one, or any NotAction);
 * - and has no restricting condition.
 *
 * A restricting condition (one is enough, since a statement's conditions are ANDed) is a positive
 * operator (StringEquals, StringEqualsIgnoreCase, StringLike, ArnEquals, ArnLike, IpAddress; a
 * `ForAnyValue:` prefix is fine; `ForAllValues:` and `…IfExists` are not, as both match a request
 * without the key; negated operators and Null never restrict) on one of these keys with only fixed
 * values (no `*` or `?` wildcard, no `${…}` policy variable):
 *   aws:SourceIp (CIDRs with a prefix of at least /8 for IPv4 or /32 for IPv6: Airlock's threshold;
 *     /0 and other huge ranges are the internet), aws:SourceVpc, aws:SourceVpce,
 *   aws:PrincipalOrgID, aws:PrincipalOrgPaths, aws:PrincipalAccount, aws:PrincipalArn,
 *   aws:SourceAccount, aws:SourceArn, aws:SourceOwner, aws:SourceOrgID, aws:SourceOrgPaths,
 *   aws:userid (a role's sessions "AROA…:*" count as fixed), s3:DataAccessPointAccount,
 *   s3:DataAccessPointArn, s3:x-amz-server-side-encryption-aws-kms-key-id.
 * Deny statements are not weighed against the Allows: an Allow to everyone that a Deny narrows is
 * still reported (the finding's evidence carries S3's own GetBucketPolicyStatus as corroboration).
 * This is S3's documented meaning of "public" (PublicAccessBlockConfiguration: "Amazon S3 considers a
 * bucket policy public unless…"), with the organisation and access-point keys S3 also honours.
 */

export type Access = "read" | "write";

export interface PublicGrant {
    /** The statement's Sid, or "#<index>" (0-based) when it has none. */
    readonly statementSid: string;
    /** The statement's actions as written; a NotAction statement gives ["NotAction: …"]. */
    readonly actions: readonly string[];
    /** What the grant exposes: read (Get/List), write (Put/Delete/Abort/Restore), or both. */
    readonly access: readonly Access[];
    /** Why it is public, one sentence. */
    readonly reason: string;
}

/** The condition keys that restrict a `*` principal (lower-cased: condition keys ignore case). */
export const RESTRICTING_KEYS: readonly string[] = [
    "aws:sourceip",
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalaccount",
    "aws:principalarn",
    "aws:sourceaccount",
    "aws:sourcearn",
    "aws:sourceowner",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:userid",
    "s3:dataaccesspointaccount",
    "s3:dataaccesspointarn",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
];

const POSITIVE_OPERATORS = new Set(["stringequals", "stringequalsignorecase", "stringlike", "arnequals", "arnlike", "ipaddress"]);

export class BucketPolicyError extends Error {}

type Json = unknown;

/** The public grants of a bucket policy (a JSON string or a parsed document); [] when none. Throws BucketPolicyError on a document that is not a policy. */
export function publicGrants(policy: string | Json): PublicGrant[] {
    const doc = typeof policy === "string" ? parse(policy) : policy;
    if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
        throw new BucketPolicyError("A bucket policy is a JSON object.");
    }
    const raw = (doc as Record<string, Json>)["Statement"];
    if (raw === undefined) {
        // S3 stores no such policy; a document without statements was not read right.
        throw new BucketPolicyError("The bucket policy has no Statement.");
    }
    const statements = Array.isArray(raw) ? raw : [raw];
    const grants: PublicGrant[] = [];
    statements.forEach((s, index) => {
        if (typeof s !== "object" || s === null || Array.isArray(s)) {
            throw new BucketPolicyError(`Statement #${index} is not an object.`);
        }
        const grant = publicGrantOf(s as Record<string, Json>, index);
        if (grant !== undefined) grants.push(grant);
    });
    return grants;
}

function parse(text: string): Json {
    try {
        return JSON.parse(text) as Json;
    } catch (error) {
        throw new BucketPolicyError(`The bucket policy is not JSON: ${(error as Error).message}`);
    }
}

const list = (v: Json): Json[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function publicGrantOf(s: Record<string, Json>, index: number): PublicGrant | undefined {
    if (s["Effect"] !== "Allow") return undefined;
    const who = everyone(s);
    if (who === undefined) return undefined;
    const notAction = s["NotAction"] !== undefined;
    const actions = notAction ? list(s["NotAction"]).map(String) : list(s["Action"]).map(String);
    const access = accessOf(actions, notAction);
    if (access.length === 0) return undefined;
    const restricting = restrictingCondition(s["Condition"]);
    if (restricting !== undefined) return undefined;
    const conditionKeys = conditionKeysOf(s["Condition"]);
    return {
        statementSid: typeof s["Sid"] === "string" && s["Sid"] !== "" ? s["Sid"] : `#${index}`,
        actions: notAction ? [`NotAction: ${actions.join(", ")}`] : actions,
        access,
        reason:
            `Allows ${access.join(" and ")} to ${who}` +
            (conditionKeys.length === 0 ? " with no condition." : ` with no restricting condition (${conditionKeys.join("; ")} do not limit who can call).`),
    };
}

/** How the statement names everyone, or undefined when it names specific principals. */
function everyone(s: Record<string, Json>): string | undefined {
    if (s["NotPrincipal"] !== undefined) return "everyone but the principals NotPrincipal names";
    const p = s["Principal"];
    if (p === "*") return 'Principal "*"';
    if (typeof p === "object" && p !== null && !Array.isArray(p)) {
        const aws = list((p as Record<string, Json>)["AWS"]);
        if (aws.includes("*")) return 'Principal {"AWS": "*"}';
    }
    return undefined;
}

/**
 * What an action (or action pattern) lets anyone do: reading (`s3:Get*`, `s3:List*`), changing
 * (`s3:Put*`, `s3:Delete*`, `s3:Abort*`, `s3:Restore*`, `s3:Replicate*`, `s3:Bypass*`, `s3:Create*`,
 * `s3:Update*`, … — anything else), or both for a pattern that can match either. Classified by the
 * verb, not against a list of samples: a public `s3:PutLifecycleConfiguration` deletes every object.
 */
function accessOfAction(action: string): Access[] {
    const a = action.toLowerCase();
    const wild = a.search(/[*?]/);
    const literal = wild < 0 ? a : a.slice(0, wild);
    if (wild >= 0 && "s3:".startsWith(literal)) return ["read", "write"]; // "*", "s*", "s3:*"
    if (!literal.startsWith("s3:")) return []; // another service's action
    const verb = literal.slice("s3:".length);
    const READ_VERBS = ["get", "list"];
    if (wild < 0) return READ_VERBS.some((r) => verb.startsWith(r)) ? ["read"] : ["write"];
    // A pattern: read if it can match a Get/List action; write unless it can match nothing else
    // (no S3 action that changes anything starts with G or L).
    const canRead = READ_VERBS.some((r) => verb.startsWith(r) || r.startsWith(verb));
    const canWrite = !READ_VERBS.some((r) => verb.startsWith(r) || r.startsWith(verb));
    return [...(canRead ? (["read"] as Access[]) : []), ...(canWrite ? (["write"] as Access[]) : [])];
}

function accessOf(actions: readonly string[], notAction: boolean): Access[] {
    // An Allow with NotAction grants every action it does not name: S3 has more than any list here,
    // so it is public read and write whatever it names.
    if (notAction) return ["read", "write"];
    const found = new Set<Access>();
    for (const action of actions) for (const access of accessOfAction(action)) found.add(access);
    return (["read", "write"] as const).filter((a) => found.has(a));
}

function conditionKeysOf(condition: Json): string[] {
    if (typeof condition !== "object" || condition === null) return [];
    return Object.entries(condition as Record<string, Json>).flatMap(([op, body]) =>
        typeof body === "object" && body !== null ? Object.keys(body as Record<string, Json>).map((k) => `${op} ${k}`) : [op],
    );
}

/** The first condition that restricts who can call, as "Operator key", or undefined. */
export function restrictingCondition(condition: Json): string | undefined {
    if (typeof condition !== "object" || condition === null || Array.isArray(condition)) return undefined;
    for (const [rawOp, body] of Object.entries(condition as Record<string, Json>)) {
        let op = rawOp.toLowerCase();
        if (op.startsWith("forallvalues:")) continue;
        if (op.startsWith("foranyvalue:")) op = op.slice("foranyvalue:".length);
        if (op.endsWith("ifexists") || !POSITIVE_OPERATORS.has(op)) continue;
        if (typeof body !== "object" || body === null || Array.isArray(body)) continue;
        for (const [rawKey, value] of Object.entries(body as Record<string, Json>)) {
            const key = rawKey.toLowerCase();
            if (!RESTRICTING_KEYS.includes(key)) continue;
            const values = list(value);
            if (values.length === 0) continue;
            const fixed = key === "aws:sourceip" ? op === "ipaddress" && cidrsNarrowTogether(values) : values.every((v) => fixedValue(key, v));
            if (fixed) return `${rawOp} ${rawKey}`;
        }
    }
    return undefined;
}

function fixedValue(key: string, v: Json): boolean {
    if (typeof v !== "string" || v === "" || v.includes("${")) return false;
    if (key === "aws:userid" && /^AROA[A-Z0-9]+:\*$/.test(v)) return true;
    return !/[*?]/.test(v);
}

/** A CIDR (or bare address) no wider than /8 (IPv4) or /32 (IPv6). */
/** Addresses in all of a condition's CIDRs together: many narrow ranges can still cover the internet. */
export function cidrsNarrowTogether(values: readonly Json[]): boolean {
    if (!values.every((v) => narrowCidr(v))) return false;
    let v4 = 0;
    let v6 = 0;
    for (const v of values) {
        const [address, prefixText] = String(v).trim().split("/");
        const six = (address ?? "").includes(":");
        const prefix = prefixText === undefined ? (six ? 128 : 32) : Number(prefixText);
        if (six) v6 += 2 ** (128 - prefix);
        else v4 += 2 ** (32 - prefix);
    }
    // At most one /8 of IPv4 and one /32 of IPv6 in all (duplicates only overcount: stricter).
    return v4 <= 2 ** 24 && v6 <= 2 ** 96;
}

export function narrowCidr(v: Json): boolean {
    if (typeof v !== "string") return false;
    const [address, prefixText] = v.trim().split("/");
    const v6 = (address ?? "").includes(":");
    const max = v6 ? 128 : 32;
    const prefix = prefixText === undefined ? max : /^\d+$/.test(prefixText) ? Number(prefixText) : NaN;
    if (!(prefix >= 0 && prefix <= max)) return false;
    if (!v6 && !/^\d{1,3}(\.\d{1,3}){3}$/.test(address ?? "")) return false;
    return prefix >= (v6 ? 32 : 8);
}
