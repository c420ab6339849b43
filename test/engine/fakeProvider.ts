/**
 * A TEST-ONLY Pulumi resource provider plugin that stands in for `pulumi-resource-aws` (whose
 * binary cannot be had here), backed by the moto AWS emulator. As `random` it serves no resource
 * at all: the program no longer uses @pulumi/random, but while the package is installed the
 * language host reports it as a required plugin, so one answers at its version.
 *
 *   node -r ts-node/register/transpile-only test/engine/fakeProvider.ts <aws|random> [engine address]
 *
 * binds 127.0.0.1:0 and prints the port as its first stdout line (the plugin protocol), then serves
 * the ResourceProvider gRPC service until killed. test/engine/plugins.ts installs wrapper scripts
 * that run exactly this where the Pulumi CLI's plugin cache expects the real plugins.
 *
 * Protocol choices (checked against the engine, sdk/go/common/resource/plugin/provider_plugin.go,
 * v3.276.0) and their consequences:
 *  - Handshake: not implemented (gRPC UNIMPLEMENTED). The engine then takes the protocol from the
 *    Configure response. A successful Handshake would make the engine assume `supportsPreview:
 *    true` (NewProvider sets it unconditionally), i.e. send Create/Update with `preview: true`.
 *  - Configure answers `acceptSecrets: false, supportsPreview: false, acceptResources: false`:
 *      * secrets: the engine unwraps every secret before Check/Diff/Create/Read/Update/Delete/Invoke
 *        (this plugin sees plain values) and re-marks outputs whose same-named input held a secret
 *        (annotateSecrets). Computed secrets would rely on the SDK's additionalSecretOutputs. The
 *        plugin never logs or echoes property values in errors.
 *      * preview: the engine never calls Create/Update with `preview: true`; it returns the inputs
 *        as the state, so computed outputs (ids, ARNs) are unknown in preview, as with the real
 *        provider, and a preview makes no AWS change. Check, Diff and Invoke DO run at preview
 *        (invokes are moto read-only look-ups).
 *  - Check echoes the news (secrets/unknowns untouched), applies the real provider's autonaming
 *    (tfbridge: `<urn name>-<7 hex>`, derived from the request's random seed, reused from `olds`)
 *    for Bucket.bucket (lowercased, <= 63), Role.name (<= 64), InstanceProfile.name (<= 128) and
 *    SecurityGroup.name (<= 255), and reports missing required inputs as check failures.
 *  - Diff compares new inputs with the old state the way the bridged provider does: input changes
 *    against the old inputs, drift (after a refresh) against the old outputs, honouring the
 *    request's ignoreChanges paths (e.g. `tags["airlock:bootstrap"]`). Properties that force
 *    replacement are listed per type in RESOURCE_SPECS (a small table from the Terraform schemas).
 *  - Read (refresh) reads back from moto; a resource gone (or terminated / pending deletion) is
 *    answered with an empty id, so the engine drops it.
 *  - Create failures after the resource exists (e.g. tagging after CreateBucket) are answered with
 *    ErrorResourceInitFailed (partial state), like the bridged provider.
 *  - Unknown resource types and invoke tokens fail loudly, naming the token.
 *
 * AWS: EC2, IAM and STS go through the AWS SDK v3 clients in the project's dependencies. KMS and
 * SSM have no SDK client in package.json (and this plugin's S3 client predates @aws-sdk/client-s3
 * there), so they are spoken directly (SigV4-signed HTTP, REST-XML for S3, JSON 1.1 for KMS/SSM)
 * with the small client below. Every endpoint comes from
 * AWS_ENDPOINT_URL[_<SERVICE>]; Configure refuses to run unless it is a loopback address, so this
 * plugin can never touch real AWS. Region: provider config `region`, else AWS_REGION /
 * AWS_DEFAULT_REGION.
 *
 * moto enforces bucket policies on object requests without evaluating conditions: every Deny
 * statement whose action and resource match denies, so under the key vault's policy every object
 * request would be refused. Object requests (the bucket's emptying with forceDestroy) therefore go
 * through test/support/s3PolicyFront.ts (AWS_ENDPOINT_URL_S3), which judges them as S3 would, for
 * the deployer, and the plugin refuses an object answer that did not come through a front.
 * getCallerIdentity answers a user as STS does, `arn:aws:iam::<account>:user/<name>` (moto says
 * `arn:aws:sts::…`), so the program can name the deployer in the vault's policy.
 *
 * Where moto is laxer than AWS, the plugin enforces AWS's behaviour itself (each message says so):
 * deleting a security group still used by a network interface or referenced by another group's
 * rule (DependencyViolation), attaching a volume that is already attached (VolumeInUse), an AMI
 * whose architecture does not match the instance type and bucket policies over 20 KB. moto itself
 * enforces DeleteConflict on DeleteRole (inline policies, attached policies, instance profiles),
 * BucketNotEmpty and 50 tags per EC2 resource.
 *
 * Behaviour of the real provider kept on purpose: a security group loses AWS's default allow-all
 * egress rule at creation and, with revokeRulesOnDelete, its own rules before the delete is tried
 * (even if the delete then fails); a role is removed from its instance profiles before DeleteRole
 * and, with forceDetachPolicies (or when its state lists policies), loses its managed and inline
 * policies first (terraform-provider-aws DeleteRole; its 2-minute DeleteConflict retry is not
 * copied); a KMS key is only scheduled for deletion (deletionWindowInDays); a VolumeAttachment with
 * stopInstanceBeforeDetaching stops the instance first; an instance whose AMI moto does not know is
 * launched from a moto AMI of the instance type's architecture while the state keeps the AMI as
 * given; a role's and a group's inline policies / rules read back on refresh are state only.
 *
 * Set AIRLOCK_FAKE_PROVIDER_LOG=<file> to get one line per call (method, type, name, outcome;
 * never property values). Nothing else is printed after the port: the CLI shows a plugin's stderr.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import * as ec2sdk from "@aws-sdk/client-ec2";
import * as iamsdk from "@aws-sdk/client-iam";
import * as stssdk from "@aws-sdk/client-sts";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import * as plugproto from "@pulumi/pulumi/proto/plugin_pb";
import * as statusproto from "@pulumi/pulumi/proto/status_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import * as emptyproto from "google-protobuf/google/protobuf/empty_pb";
import * as anyproto from "google-protobuf/google/protobuf/any_pb";
import { FRONT_MARKER_HEADER, callerIamArn, xmlUnescape } from "../support/s3PolicyFront";
import { SECRET_SIG, SIG_KEY, UNKNOWN_SENTINELS } from "../support/wire";

type Grpc = typeof import("@grpc/grpc-js");
// The generated service definition requires "@grpc/grpc-js" from @pulumi/pulumi's location: use that instance.
const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const grpc: Grpc = require(require.resolve("@grpc/grpc-js", { paths: [pulumiDir] }));

export type Props = Record<string, unknown>;
export type PluginKind = "aws" | "random";

/** Every kind of plugin this file can stand in for. */
export const PLUGIN_KINDS: readonly PluginKind[] = ["aws", "random"];

/**
 * The version of the real provider this plugin impersonates: the SDK package's version in
 * node_modules; undefined when the package is not installed (the program does not use it, so the
 * CLI never asks for that plugin).
 */
export function pluginVersion(kind: PluginKind): string | undefined {
    const pkg = `@pulumi/${kind}/package.json`;
    let file: string;
    try {
        file = require.resolve(pkg);
    } catch {
        return undefined;
    }
    const info = JSON.parse(fs.readFileSync(file, "utf8")) as { version?: string; pulumi?: { version?: string } };
    const version = info.pulumi?.version ?? info.version;
    if (!version) throw new Error(`fakeProvider: no version in ${pkg}`);
    return version.replace(/^v/, "");
}

// ---------------------------------------------------------------------------------------------
// Wire values
// ---------------------------------------------------------------------------------------------

// The engine's unknown sentinels and secret signature: see ../support/wire.ts.

export function isUnknown(value: unknown): boolean {
    return typeof value === "string" && UNKNOWN_SENTINELS.has(value);
}

export function containsUnknown(value: unknown): boolean {
    if (isUnknown(value)) return true;
    if (Array.isArray(value)) return value.some(containsUnknown);
    if (isPlainObject(value)) return Object.values(value).some(containsUnknown);
    return false;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
    const proto: unknown = Object.getPrototypeOf(value);
    return proto === Object.prototype || proto === null;
}

/** Removes secret wrappers, deeply (Configure args carry them; other calls should not, with acceptSecrets: false). */
export function revealSecrets(value: unknown): unknown {
    if (isPlainObject(value) && value[SIG_KEY] === SECRET_SIG) return revealSecrets(value["value"]);
    if (Array.isArray(value)) return value.map(revealSecrets);
    if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, revealSecrets(v)]));
    return value;
}

/**
 * What may go into a google.protobuf.Struct: `undefined` members are dropped (an `undefined` makes
 * Struct.fromJavaScript fail the whole call), Dates become ISO strings, `undefined` array elements
 * null. Anything else that is not JSON is a bug here and throws, naming where.
 */
export function toWire(value: unknown, at = "value"): unknown {
    if (value === null || typeof value === "string" || typeof value === "boolean") return value;
    if (typeof value === "number") {
        if (!Number.isFinite(value)) throw new Error(`fakeProvider: ${at} is not a finite number`);
        return value;
    }
    if (value instanceof Date) return value.toISOString();
    if (Array.isArray(value)) return value.map((v, i) => (v === undefined ? null : toWire(v, `${at}[${i}]`)));
    if (isPlainObject(value)) {
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = toWire(v, `${at}.${k}`);
        return out;
    }
    throw new Error(`fakeProvider: ${at} is not a JSON value (${Object.prototype.toString.call(value)})`);
}

function toStruct(props: Props, at: string): structproto.Struct {
    return structproto.Struct.fromJavaScript(toWire(props, at) as Record<string, structproto.JavaScriptValue>);
}

function fromStruct(struct: structproto.Struct | undefined): Props {
    return struct ? (revealSecrets(struct.toJavaScript()) as Props) : {};
}

function deepEqual(a: unknown, b: unknown): boolean {
    if (a === b) return true;
    if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
    if (isPlainObject(a)) {
        if (!isPlainObject(b)) return false;
        const ka = Object.keys(a).filter((k) => a[k] !== undefined);
        const kb = Object.keys(b).filter((k) => b[k] !== undefined);
        return ka.length === kb.length && ka.every((k) => deepEqual(a[k], b[k]));
    }
    return false;
}

function clone<T>(value: T): T {
    return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}

// ---------------------------------------------------------------------------------------------
// Pure helpers: partitions, architectures, names, ids, tags
// ---------------------------------------------------------------------------------------------

export interface PartitionInfo {
    readonly partition: string;
    readonly dnsSuffix: string;
    readonly reverseDnsPrefix: string;
}

/** The partition of a region, as aws.getPartition answers it. */
export function partitionOf(region: string): PartitionInfo {
    if (region.startsWith("cn-")) return { partition: "aws-cn", dnsSuffix: "amazonaws.com.cn", reverseDnsPrefix: "cn.com.amazonaws" };
    if (region.startsWith("us-gov-")) return { partition: "aws-us-gov", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" };
    if (region.startsWith("us-iso-")) return { partition: "aws-iso", dnsSuffix: "c2s.ic.gov", reverseDnsPrefix: "gov.ic.c2s" };
    if (region.startsWith("us-isob-")) return { partition: "aws-iso-b", dnsSuffix: "sc2s.sgov.gov", reverseDnsPrefix: "gov.sgov.sc2s" };
    return { partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" };
}

export type Architecture = "x86_64" | "arm64";

/** Graviton families (m7g, c6gn, t4g, x2gd, ...) and a1 run arm64; everything else x86_64. */
export function architectureOfInstanceType(instanceType: string): Architecture {
    const family = instanceType.split(".")[0] ?? "";
    return family === "a1" || /^[a-z]+\d+g[a-z]*$/.test(family) ? "arm64" : "x86_64";
}

/**
 * For AWS's public AMI parameters (`/aws/service/...`): the architecture the parameter names, or
 * undefined when the parameter is not an AMI parameter at all.
 */
export function amiParameterArchitecture(name: string): Architecture | undefined {
    if (!name.startsWith("/aws/service/")) return undefined;
    const isAmi = /\/ami-|ami-id$|\/debian\/release\/|\/canonical\/|\/ami-windows-latest\/|\/bottlerocket\//.test(name);
    if (!isAmi) return undefined;
    return /arm64|aarch64/.test(name) ? "arm64" : "x86_64";
}

/**
 * The bridged provider's autonaming: `<base>-<randLength hex>`, the random part derived from the
 * Check request's random seed (so a retried Check gives the same name), the base trimmed so the
 * whole fits in maxLength.
 */
export function autoName(base: string, seed: Uint8Array, opts: { maxLength: number; randLength?: number; lowercase?: boolean }): string {
    const randLength = opts.randLength ?? 7;
    const entropy = seed.length > 0 ? Buffer.from(seed) : crypto.randomBytes(32);
    const suffix = crypto.createHash("sha256").update(entropy).update(base).digest("hex").slice(0, randLength);
    let prefix = `${base}-`;
    if (prefix.length + randLength > opts.maxLength) prefix = prefix.slice(0, Math.max(0, opts.maxLength - randLength));
    const name = prefix + suffix;
    return opts.lowercase ? name.toLowerCase() : name;
}

let uniqueCounter = 0;
/**
 * Terraform's id.PrefixedUniqueId: prefix + UTC timestamp to 1/10000 s (18 digits) + an 8-hex-digit
 * counter (26 characters after the prefix). Used for namePrefix and for some resource ids.
 */
export function prefixedUniqueId(prefix: string, now: Date = new Date()): string {
    const p = (n: number, w: number): string => String(n).padStart(w, "0");
    const stamp =
        `${p(now.getUTCFullYear(), 4)}${p(now.getUTCMonth() + 1, 2)}${p(now.getUTCDate(), 2)}` +
        `${p(now.getUTCHours(), 2)}${p(now.getUTCMinutes(), 2)}${p(now.getUTCSeconds(), 2)}${p(now.getUTCMilliseconds() * 10, 4)}`;
    uniqueCounter = (uniqueCounter + 1) % 0x100000000;
    return `${prefix}${stamp}${uniqueCounter.toString(16).padStart(8, "0")}`;
}

/**
 * Terraform's volume attachment id: "vai-" + StringHashcode("<device>-<instance>-<volume>-"), i.e.
 * Go's int(crc32.ChecksumIEEE(...)), which on 64-bit platforms is the unsigned CRC-32.
 */
export function volumeAttachmentId(deviceName: string, instanceId: string, volumeId: string): string {
    return `vai-${zlib.crc32(`${deviceName}-${instanceId}-${volumeId}-`) >>> 0}`;
}

export type Tags = Record<string, string>;

/** A `tags` input as a string map (unset or null is empty). */
export function tagsOf(value: unknown): Tags {
    if (value === undefined || value === null) return {};
    if (!isPlainObject(value)) throw new Error("fakeProvider: tags must be a map of strings");
    const out: Tags = {};
    for (const [k, v] of Object.entries(value)) {
        if (v === undefined || v === null) continue;
        out[k] = typeof v === "string" ? v : String(v);
    }
    return out;
}

/** Tags to set (new or changed) and keys to remove, going from `from` to `to`. */
export function tagChanges(from: Tags, to: Tags): { set: Tags; remove: string[] } {
    const set: Tags = {};
    for (const [k, v] of Object.entries(to)) if (from[k] !== v) set[k] = v;
    return { set, remove: Object.keys(from).filter((k) => !(k in to)) };
}

/** Canonical JSON text (sorted keys) for comparing policy documents; undefined if not JSON. */
export function canonicalJson(text: string): string | undefined {
    const sort = (v: unknown): unknown =>
        Array.isArray(v) ? v.map(sort) : isPlainObject(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])])) : v;
    try {
        return JSON.stringify(sort(JSON.parse(text)));
    } catch {
        return undefined;
    }
}

/** The input's policy text when AWS's copy is the same document, else AWS's (drift). */
function keepEquivalentPolicy(input: unknown, fromAws: string | undefined): string | undefined {
    if (fromAws === undefined) return typeof input === "string" ? input : undefined;
    if (typeof input === "string" && canonicalJson(input) !== undefined && canonicalJson(input) === canonicalJson(fromAws)) return input;
    return fromAws;
}

// ---------------------------------------------------------------------------------------------
// Property paths (ignoreChanges) and the diff
// ---------------------------------------------------------------------------------------------

/** Parses a Pulumi property path: `a`, `a.b`, `a["x.y"]`, `a[0]`, `a[*]`. */
export function parsePropertyPath(text: string): string[] {
    const segments: string[] = [];
    let i = 0;
    let current = "";
    const flush = (): void => {
        if (current !== "") segments.push(current);
        current = "";
    };
    while (i < text.length) {
        const c = text[i] as string;
        if (c === ".") {
            flush();
            i++;
        } else if (c === "[") {
            flush();
            const close = text.indexOf("]", i);
            if (close < 0) throw new Error(`fakeProvider: bad property path ${JSON.stringify(text)}`);
            let inner = text.slice(i + 1, close);
            if (inner.startsWith('"')) {
                // A quoted key may itself contain "]": find the closing quote first.
                const endQuote = text.indexOf('"]', i + 2);
                if (endQuote < 0) throw new Error(`fakeProvider: bad property path ${JSON.stringify(text)}`);
                inner = JSON.parse(text.slice(i + 1, endQuote + 1)) as string;
                segments.push(inner);
                i = endQuote + 2;
                continue;
            }
            segments.push(inner);
            i = close + 1;
        } else {
            current += c;
            i++;
        }
    }
    flush();
    return segments;
}

/** A copy of `value` without what `segments` points at (`*` matches every element or key). */
export function withoutPath(value: unknown, segments: readonly string[]): unknown {
    if (segments.length === 0) return undefined;
    const [head, ...rest] = segments as [string, ...string[]];
    if (Array.isArray(value)) {
        if (head === "*") return rest.length === 0 ? [] : value.map((v) => withoutPath(v, rest));
        const index = Number(head);
        if (!Number.isInteger(index) || index < 0 || index >= value.length) return value;
        const copy = [...value];
        copy[index] = rest.length === 0 ? undefined : withoutPath(copy[index], rest);
        return rest.length === 0 ? copy.filter((_, i) => i !== index) : copy;
    }
    if (isPlainObject(value)) {
        const copy: Record<string, unknown> = { ...value };
        const keys = head === "*" ? Object.keys(copy) : head in copy ? [head] : [];
        for (const k of keys) {
            if (rest.length === 0) delete copy[k];
            else copy[k] = withoutPath(copy[k], rest);
        }
        return copy;
    }
    return value;
}

/** Whether every value the new input states is what the old state holds (state may have more: computed members). */
function covers(input: unknown, state: unknown): boolean {
    if (isUnknown(input)) return false;
    if (Array.isArray(input)) return Array.isArray(state) && input.length === state.length && input.every((v, i) => covers(v, state[i]));
    if (isPlainObject(input)) return isPlainObject(state) && Object.entries(input).every(([k, v]) => v === undefined || covers(v, state[k]));
    if (input === null) return state === null || state === undefined;
    return input === state;
}

function sameSet(a: unknown, b: unknown): boolean {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    const key = (v: unknown): string => JSON.stringify(v);
    const left = a.map(key).sort();
    const right = b.map(key).sort();
    return left.every((v, i) => v === right[i]);
}

/** The value at a member path; a one-element list (a Terraform block with maxItems 1) stands for its element. */
function memberAt(value: unknown, path: readonly string[]): unknown {
    let current = value;
    for (const segment of path) {
        if (Array.isArray(current)) current = current[0];
        current = isPlainObject(current) ? current[segment] : undefined;
    }
    return current;
}

export interface DiffSpec {
    /** Properties whose change forces replacement (top-level keys, or "key.sub" for a nested member). */
    readonly replaceOnChange: readonly string[];
    /** Replacement only when the new inputs say so, e.g. Instance.userData with userDataReplaceOnChange. */
    readonly replaceWhen?: (key: string, news: Props) => boolean;
    /** Set-typed properties (order does not matter). */
    readonly sets?: readonly string[];
    /** Map-typed properties compared exactly against the state (tags: keys only AWS has are drift). */
    readonly exactMaps?: readonly string[];
}

export interface DiffOutcome {
    /** Top-level input properties that differ. */
    readonly changed: string[];
    /** Of those, the ones that force replacement. */
    readonly replaces: string[];
}

/**
 * The diff of a resource's new inputs against its old state: a property differs if the new input
 * is not what the old inputs said (an input change), or not what the old outputs hold (drift seen
 * by a refresh), after removing every ignoreChanges path from all three. An unknown new value
 * differs. A property the state has but no input ever set is computed and never differs.
 */
export function diffProperties(
    spec: DiffSpec,
    args: { olds: Props; oldInputs: Props; news: Props; ignoreChanges?: readonly string[] },
): DiffOutcome {
    let { olds, oldInputs, news } = args;
    const ignored = new Set<string>();
    for (const raw of args.ignoreChanges ?? []) {
        const segments = parsePropertyPath(raw);
        if (segments.length === 1) {
            ignored.add(segments[0] as string);
            continue;
        }
        olds = withoutPath(olds, segments) as Props;
        oldInputs = withoutPath(oldInputs, segments) as Props;
        news = withoutPath(news, segments) as Props;
    }
    const keys = new Set([...Object.keys(news), ...Object.keys(oldInputs)]);
    const changed: string[] = [];
    for (const key of [...keys].sort()) {
        if (ignored.has(key)) continue;
        const next = news[key];
        const prevInput = oldInputs[key];
        const hasState = Object.prototype.hasOwnProperty.call(olds, key) && olds[key] !== undefined;
        const prevState = hasState ? olds[key] : prevInput;
        let differs: boolean;
        if (next === undefined) {
            differs = prevInput !== undefined;
        } else if (containsUnknown(next)) {
            differs = true;
        } else if (spec.sets?.includes(key)) {
            differs = !sameSet(next, prevInput) || !sameSet(next, prevState);
        } else if (spec.exactMaps?.includes(key)) {
            differs = !deepEqual(next ?? {}, prevInput ?? {}) || !deepEqual(next ?? {}, prevState ?? {});
        } else {
            differs = !deepEqual(next, prevInput) || !covers(next, prevState);
        }
        if (differs) changed.push(key);
    }
    const replaces = changed.filter((key) => {
        if (spec.replaceWhen?.(key, news)) return true;
        return spec.replaceOnChange.some((entry) => {
            const [top, ...member] = entry.split(".");
            if (top !== key) return false;
            if (member.length === 0) return true;
            // A nested member (e.g. rootBlockDevice.kmsKeyId): replace only if that member differs.
            const next = memberAt(news[key], member);
            if (containsUnknown(next)) return true;
            const prevInput = memberAt(oldInputs[key], member);
            const prevState = memberAt(olds[key] ?? oldInputs[key], member);
            return !deepEqual(next, prevInput) || (next !== undefined && !covers(next, prevState));
        });
    });
    return { changed, replaces };
}

// ---------------------------------------------------------------------------------------------
// Check: required inputs and autonaming
// ---------------------------------------------------------------------------------------------

export interface CheckSpec {
    readonly required?: readonly string[];
    /** Exactly one of each group must be set. */
    readonly exactlyOneOf?: readonly (readonly string[])[];
    readonly autoName?: { readonly property: string; readonly maxLength: number; readonly lowercase?: boolean; readonly unlessSet?: readonly string[] };
    readonly validate?: (news: Props) => Array<{ property: string; reason: string }>;
}

export interface CheckFailure {
    readonly property: string;
    readonly reason: string;
}

export function checkProperties(
    type: string,
    spec: CheckSpec,
    args: { name: string; olds: Props; news: Props; randomSeed: Uint8Array },
): { inputs: Props; failures: CheckFailure[] } {
    const inputs: Props = { ...args.news };
    const failures: CheckFailure[] = [];
    const isSet = (k: string): boolean => inputs[k] !== undefined && inputs[k] !== null && inputs[k] !== "";
    for (const key of spec.required ?? []) {
        if (!isSet(key)) {
            failures.push({ property: key, reason: `Missing required argument. The argument "${key}" is required, but no definition was found (${type}).` });
        }
    }
    for (const group of spec.exactlyOneOf ?? []) {
        const set = group.filter(isSet);
        if (set.length !== 1) {
            failures.push({
                property: group[0] as string,
                reason: `Invalid combination of arguments: exactly one of ${group.map((g) => `"${g}"`).join(", ")} must be specified (${set.length === 0 ? "none" : set.join(", ")} given).`,
            });
        }
    }
    const auto = spec.autoName;
    if (auto && !isSet(auto.property) && !(auto.unlessSet ?? []).some(isSet)) {
        const previous = args.olds[auto.property];
        inputs[auto.property] =
            typeof previous === "string" && previous !== "" && !isUnknown(previous)
                ? previous
                : autoName(args.name, args.randomSeed, { maxLength: auto.maxLength, lowercase: auto.lowercase });
    }
    failures.push(...(spec.validate?.(inputs) ?? []));
    return { inputs, failures };
}

// ---------------------------------------------------------------------------------------------
// AWS SigV4 and a small HTTP client for S3 (REST-XML), KMS and SSM (JSON 1.1)
// ---------------------------------------------------------------------------------------------

export interface AwsCredentials {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
}

/** RFC 3986 percent-encoding as SigV4 wants it. */
export function encodeRfc3986(text: string): string {
    return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Signs a request with AWS Signature Version 4. `url`'s path must already be percent-encoded (it is
 * used as the canonical URI as is, which is what S3 wants; the JSON services here only use "/").
 * Returns the headers to send: the given ones plus host, x-amz-date, (S3) x-amz-content-sha256,
 * x-amz-security-token and authorization.
 */
export function signV4(args: {
    method: string;
    url: string;
    headers: Record<string, string>;
    body: Uint8Array;
    service: string;
    region: string;
    credentials: AwsCredentials;
    now?: Date;
}): Record<string, string> {
    const url = new URL(args.url);
    const now = args.now ?? new Date();
    const amzDate = now.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
    const day = amzDate.slice(0, 8);
    const payloadHash = crypto.createHash("sha256").update(args.body).digest("hex");
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(args.headers)) headers[k.toLowerCase()] = v;
    headers["host"] = url.host;
    headers["x-amz-date"] = amzDate;
    if (args.service === "s3") headers["x-amz-content-sha256"] = payloadHash;
    if (args.credentials.sessionToken) headers["x-amz-security-token"] = args.credentials.sessionToken;
    const signedNames = Object.keys(headers).sort();
    const canonicalHeaders = signedNames.map((k) => `${k}:${(headers[k] ?? "").trim().replace(/\s+/g, " ")}\n`).join("");
    const query = [...url.searchParams.entries()]
        .map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)] as const)
        .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1))
        .map(([k, v]) => `${k}=${v}`)
        .join("&");
    const canonicalRequest = [args.method, url.pathname || "/", query, canonicalHeaders, signedNames.join(";"), payloadHash].join("\n");
    const scope = `${day}/${args.region}/${args.service}/aws4_request`;
    const stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, crypto.createHash("sha256").update(canonicalRequest).digest("hex")].join("\n");
    const hmac = (key: crypto.BinaryLike, data: string): Buffer => crypto.createHmac("sha256", key).update(data).digest();
    const signingKey = hmac(hmac(hmac(hmac(`AWS4${args.credentials.secretAccessKey}`, day), args.region), args.service), "aws4_request");
    const signature = crypto.createHmac("sha256", signingKey).update(stringToSign).digest("hex");
    headers["authorization"] = `AWS4-HMAC-SHA256 Credential=${args.credentials.accessKeyId}/${scope}, SignedHeaders=${signedNames.join(";")}, Signature=${signature}`;
    return headers;
}

/** An error answered by AWS (or moto): `code` is AWS's error code. */
export class AwsError extends Error {
    constructor(
        readonly code: string,
        message: string,
        readonly status: number,
    ) {
        super(`${code}: ${message}`);
        this.name = code;
    }
}

/** AWS's error code of any error (SDK v3 errors carry it as `name`). */
export function errorCode(err: unknown): string {
    if (err instanceof AwsError) return err.code;
    if (typeof err === "object" && err !== null) {
        const e = err as { name?: unknown; Code?: unknown; code?: unknown };
        for (const v of [e.Code, e.name, e.code]) if (typeof v === "string" && v !== "" && v !== "Error") return v;
    }
    return "";
}

function errorMessage(err: unknown): string {
    if (err instanceof AwsError) return err.message;
    const code = errorCode(err);
    const message = err instanceof Error ? err.message : String(err);
    return code && !message.startsWith(code) ? `${code}: ${message}` : message;
}

export function xmlEscape(text: string): string {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

/** Inner texts of every `<tag>` element (not nested in another of the same name). */
export function xmlAll(xml: string, tag: string): string[] {
    const out: string[] = [];
    const re = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, "g");
    for (let m = re.exec(xml); m !== null; m = re.exec(xml)) out.push(m[1] ?? "");
    return out;
}

export function xmlText(xml: string, tag: string): string | undefined {
    const first = xmlAll(xml, tag)[0];
    return first === undefined ? undefined : xmlUnescape(first.trim());
}

function endpointFor(service: string): string {
    const specific = process.env[`AWS_ENDPOINT_URL_${service.toUpperCase()}`];
    const endpoint = specific ?? process.env["AWS_ENDPOINT_URL"];
    if (!endpoint) throw new Error(`fakeProvider: AWS_ENDPOINT_URL is not set; this test plugin only talks to the moto emulator`);
    return endpoint.replace(/\/+$/, "");
}

function credentialsFromEnv(): AwsCredentials {
    return {
        accessKeyId: process.env["AWS_ACCESS_KEY_ID"] ?? "testing",
        secretAccessKey: process.env["AWS_SECRET_ACCESS_KEY"] ?? "testing",
        sessionToken: process.env["AWS_SESSION_TOKEN"],
    };
}

interface HttpAnswer {
    readonly status: number;
    readonly headers: Headers;
    readonly body: string;
}

async function signedFetch(service: string, region: string, req: { method: string; path: string; query?: Record<string, string>; headers?: Record<string, string>; body?: Uint8Array | string }): Promise<HttpAnswer> {
    const url = new URL(endpointFor(service) + req.path);
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.append(k, v);
    const body = typeof req.body === "string" ? new Uint8Array(Buffer.from(req.body, "utf8")) : (req.body ?? new Uint8Array());
    // URLSearchParams writes "tagging=" for a bare "?tagging"; S3 accepts both and the signature uses the same form.
    const headers = signV4({ method: req.method, url: url.toString(), headers: req.headers ?? {}, body, service, region, credentials: credentialsFromEnv() });
    delete headers["host"];
    const response = await fetch(url, {
        method: req.method,
        headers,
        body: req.method === "GET" || req.method === "HEAD" ? undefined : body,
        signal: AbortSignal.timeout(60_000),
    });
    return { status: response.status, headers: response.headers, body: await response.text() };
}

/** KMS / SSM: JSON 1.1 protocol. */
async function jsonCall(service: "kms" | "ssm", region: string, action: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const target = service === "kms" ? `TrentService.${action}` : `AmazonSSM.${action}`;
    const answer = await signedFetch(service, region, {
        method: "POST",
        path: "/",
        headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": target },
        body: JSON.stringify(toWire(input)),
    });
    let parsed: Record<string, unknown> = {};
    try {
        parsed = answer.body.trim() === "" ? {} : (JSON.parse(answer.body) as Record<string, unknown>);
    } catch {
        // Not JSON (e.g. an HTML 404 from a service moto lacks).
    }
    if (answer.status >= 300) {
        const type = String(parsed["__type"] ?? parsed["code"] ?? `HTTP${answer.status}`);
        const code = type.includes("#") ? (type.split("#").pop() as string) : type;
        const message = String(parsed["message"] ?? parsed["Message"] ?? answer.body.slice(0, 300));
        throw new AwsError(code, message, answer.status);
    }
    return parsed;
}

export interface S3Request {
    readonly method: string;
    readonly bucket: string;
    readonly key?: string;
    readonly query?: Record<string, string>;
    readonly headers?: Record<string, string>;
    readonly body?: Uint8Array | string;
}

/** S3: REST-XML, path-style addressing (moto serves path-style on an IP endpoint). */
async function s3Call(region: string, req: S3Request): Promise<HttpAnswer> {
    const keyPath = req.key === undefined ? "" : `/${req.key.split("/").map(encodeRfc3986).join("/")}`;
    const answer = await signedFetch("s3", region, { method: req.method, path: `/${encodeRfc3986(req.bucket)}${keyPath}`, query: req.query, headers: req.headers, body: req.body });
    if (req.key !== undefined && answer.headers.get(FRONT_MARKER_HEADER) === null) {
        // moto alone would judge it under the bucket policy without conditions (see the header).
        throw new Error(
            `fakeProvider: the object request ${req.method} s3://${req.bucket}/${req.key} did not go through the S3 policy front; point AWS_ENDPOINT_URL_S3 at test/support/s3PolicyFront.ts`,
        );
    }
    if (answer.status >= 300) {
        const code = xmlText(answer.body, "Code") ?? (answer.status === 404 ? "NotFound" : answer.status === 403 ? "Forbidden" : `HTTP${answer.status}`);
        const message = xmlText(answer.body, "Message") ?? (answer.body.slice(0, 300) || `HTTP ${answer.status}`);
        throw new AwsError(code, message, answer.status);
    }
    return answer;
}

function md5Base64(body: string): string {
    return crypto.createHash("md5").update(body).digest("base64");
}

function tagSetXml(tags: Tags): string {
    const items = Object.entries(tags)
        .map(([k, v]) => `<Tag><Key>${xmlEscape(k)}</Key><Value>${xmlEscape(v)}</Value></Tag>`)
        .join("");
    return `<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>${items}</TagSet></Tagging>`;
}

function parseTagSet(xml: string): Tags {
    const tags: Tags = {};
    for (const tag of xmlAll(xml, "Tag")) tags[xmlText(tag, "Key") ?? ""] = xmlText(tag, "Value") ?? "";
    return tags;
}

// ---------------------------------------------------------------------------------------------
// The AWS context of one configured plugin
// ---------------------------------------------------------------------------------------------

class Aws {
    readonly partition: PartitionInfo;
    readonly ec2: ec2sdk.EC2Client;
    readonly iam: iamsdk.IAMClient;
    readonly sts: stssdk.STSClient;
    private account?: Promise<string>;
    private readonly standInImages = new Map<Architecture, Promise<ec2sdk.Image>>();

    constructor(
        readonly region: string,
        readonly defaultTags: Tags,
    ) {
        this.partition = partitionOf(region);
        const config = { region, maxAttempts: 3 };
        this.ec2 = new ec2sdk.EC2Client(config);
        this.iam = new iamsdk.IAMClient(config);
        this.sts = new stssdk.STSClient(config);
    }

    accountId(): Promise<string> {
        this.account ??= this.sts.send(new stssdk.GetCallerIdentityCommand({})).then((r) => {
            if (!r.Account) throw new Error("fakeProvider: STS GetCallerIdentity answered no account");
            return r.Account;
        });
        return this.account;
    }

    async arn(service: string, resource: string, opts: { global?: boolean } = {}): Promise<string> {
        return `arn:${this.partition.partition}:${service}:${opts.global ? "" : this.region}:${await this.accountId()}:${resource}`;
    }

    kms(action: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
        return jsonCall("kms", this.region, action, input);
    }

    ssm(action: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
        return jsonCall("ssm", this.region, action, input);
    }

    /** An S3 request (object requests go through the S3 policy front, which judges them as S3 would). */
    s3(req: S3Request): Promise<HttpAnswer> {
        return s3Call(this.region, req);
    }

    /** tagsAll: the provider's default tags under the resource's own. */
    tagsAll(tags: Tags): Tags {
        return { ...this.defaultTags, ...tags };
    }

    /** A moto AMI of an architecture, for AMI ids moto does not know (e.g. Debian's or Ubuntu's public ones). */
    standInImage(arch: Architecture): Promise<ec2sdk.Image> {
        let found = this.standInImages.get(arch);
        if (!found) {
            found = (async () => {
                const out = await this.ec2.send(new ec2sdk.DescribeImagesCommand({ Owners: ["amazon"], Filters: [{ Name: "architecture", Values: [arch] }] }));
                const usable = (out.Images ?? [])
                    .filter((i) => i.ImageId && i.Architecture === arch && (i.RootDeviceType ?? "ebs") === "ebs")
                    .sort((a, b) => ((a.ImageId ?? "") < (b.ImageId ?? "") ? -1 : 1));
                const preferred = usable.find((i) => /^al2023-ami-2023/.test(i.Name ?? "") && !/minimal/.test(i.Name ?? "")) ?? usable[0];
                if (!preferred) throw new Error(`fakeProvider: moto has no ${arch} AMI to stand in for an unknown one`);
                return preferred;
            })();
            found.catch(() => this.standInImages.delete(arch));
            this.standInImages.set(arch, found);
        }
        return found;
    }

    async describeImage(imageId: string): Promise<ec2sdk.Image | undefined> {
        try {
            const out = await this.ec2.send(new ec2sdk.DescribeImagesCommand({ ImageIds: [imageId] }));
            return out.Images?.[0];
        } catch (err) {
            if (/^InvalidAMIID\./.test(errorCode(err))) return undefined;
            throw err;
        }
    }

    async ec2Tags(resourceId: string, from: Tags, to: Tags): Promise<void> {
        const { set, remove } = tagChanges(from, to);
        if (remove.length > 0) await this.ec2.send(new ec2sdk.DeleteTagsCommand({ Resources: [resourceId], Tags: remove.map((Key) => ({ Key })) }));
        if (Object.keys(set).length > 0) await this.ec2.send(new ec2sdk.CreateTagsCommand({ Resources: [resourceId], Tags: awsTags(set) }));
    }
}

function awsTags(tags: Tags): Array<{ Key: string; Value: string }> {
    return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

function fromAwsTags(tags: ReadonlyArray<{ Key?: string; Value?: string }> | undefined): Tags {
    const out: Tags = {};
    for (const t of tags ?? []) if (t.Key !== undefined) out[t.Key] = t.Value ?? "";
    return out;
}

function tagSpec(resourceType: string, tags: Tags): ec2sdk.TagSpecification[] | undefined {
    return Object.keys(tags).length === 0 ? undefined : [{ ResourceType: resourceType as ec2sdk.ResourceType, Tags: awsTags(tags) }];
}

async function waitFor<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 120_000): Promise<T> {
    const started = Date.now();
    for (;;) {
        const value = await probe();
        if (done(value)) return value;
        if (Date.now() - started > timeoutMs) throw new Error(`fakeProvider: timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 200));
    }
}

function str(inputs: Props, key: string): string | undefined {
    const v = inputs[key];
    return typeof v === "string" && v !== "" ? v : undefined;
}

function num(inputs: Props, key: string): number | undefined {
    const v = inputs[key];
    return typeof v === "number" ? v : typeof v === "string" && v !== "" && !Number.isNaN(Number(v)) ? Number(v) : undefined;
}

function bool(inputs: Props, key: string): boolean | undefined {
    const v = inputs[key];
    return typeof v === "boolean" ? v : v === "true" ? true : v === "false" ? false : undefined;
}

function obj(inputs: Props, key: string): Props {
    const v = inputs[key];
    if (Array.isArray(v)) return isPlainObject(v[0]) ? v[0] : {};
    return isPlainObject(v) ? v : {};
}

function isNotFound(err: unknown, ...codes: string[]): boolean {
    const code = errorCode(err);
    return codes.includes(code) || /NotFound$|^NoSuchEntity/.test(code);
}

/** Fails an update that touches properties this plugin cannot change in place (never silently ignored). */
function unsupportedUpdate(type: string, keys: readonly string[]): never {
    throw new Error(`fakeProvider: updating ${keys.join(", ")} of ${type} in place is not implemented by the test plugin`);
}

// ---------------------------------------------------------------------------------------------
// Resource handlers
// ---------------------------------------------------------------------------------------------

export interface CreateContext {
    readonly urn: string;
    readonly name: string;
    readonly inputs: Props;
    /** Records that the resource exists (id and outputs so far): a later failure becomes partial state. */
    progress(id: string, outputs: Props): void;
}

interface Handler {
    create(aws: Aws, ctx: CreateContext): Promise<{ id: string; outputs: Props }>;
    /** undefined: the resource is gone. */
    read(aws: Aws, id: string, state: Props, inputs: Props): Promise<Props | undefined>;
    update(aws: Aws, id: string, args: { olds: Props; news: Props; oldInputs: Props; changed: ReadonlySet<string> }): Promise<Props>;
    delete(aws: Aws, id: string, state: Props): Promise<void>;
}

export interface ResourceSpec extends DiffSpec, CheckSpec {
    /** Properties an update only records in state (no AWS call), like forceDestroy. */
    readonly stateOnly?: readonly string[];
}

/** What the fake knows about each resource type: replacement, required inputs, autonaming. */
export const RESOURCE_SPECS: Readonly<Record<string, ResourceSpec>> = {
    "aws:kms/key:Key": {
        replaceOnChange: ["customerMasterKeySpec", "keySpec", "keyUsage", "multiRegion", "customKeyStoreId", "xksKeyId", "region"],
        exactMaps: ["tags"],
        stateOnly: ["deletionWindowInDays", "bypassPolicyLockoutSafetyCheck"],
    },
    "aws:kms/alias:Alias": {
        replaceOnChange: ["name", "namePrefix", "region"],
        required: ["targetKeyId"],
    },
    "aws:s3/bucket:Bucket": {
        replaceOnChange: ["bucket", "bucketPrefix", "objectLockEnabled", "region"],
        exactMaps: ["tags"],
        stateOnly: ["forceDestroy"],
        autoName: { property: "bucket", maxLength: 63, lowercase: true, unlessSet: ["bucketPrefix"] },
    },
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": {
        replaceOnChange: ["bucket", "region"],
        required: ["bucket", "rule"],
    },
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": {
        replaceOnChange: ["bucket", "region"],
        required: ["bucket"],
        stateOnly: ["skipDestroy"],
    },
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": {
        replaceOnChange: ["bucket", "expectedBucketOwner", "region"],
        required: ["bucket", "rules"],
    },
    "aws:s3/bucketPolicy:BucketPolicy": {
        replaceOnChange: ["bucket", "region"],
        required: ["bucket", "policy"],
    },
    "aws:iam/role:Role": {
        replaceOnChange: ["name", "namePrefix", "path"],
        required: ["assumeRolePolicy"],
        exactMaps: ["tags"],
        stateOnly: ["forceDetachPolicies"],
        autoName: { property: "name", maxLength: 64, unlessSet: ["namePrefix"] },
    },
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": {
        replaceOnChange: ["role", "policyArn"],
        required: ["role", "policyArn"],
    },
    "aws:iam/instanceProfile:InstanceProfile": {
        replaceOnChange: ["name", "namePrefix", "path"],
        exactMaps: ["tags"],
        autoName: { property: "name", maxLength: 128, unlessSet: ["namePrefix"] },
    },
    "aws:ebs/volume:Volume": {
        replaceOnChange: ["availabilityZone", "encrypted", "kmsKeyId", "snapshotId", "outpostArn", "region"],
        required: ["availabilityZone"],
        exactMaps: ["tags"],
        stateOnly: ["finalSnapshot"],
    },
    "aws:ec2/instance:Instance": {
        replaceOnChange: [
            "ami",
            "availabilityZone",
            "subnetId",
            "associatePublicIpAddress",
            "privateIp",
            "keyName",
            "tenancy",
            "placementGroup",
            "ebsBlockDevices",
            "ephemeralBlockDevices",
            "networkInterfaces",
            "cpuOptions",
            "hibernation",
            "ipv6Addresses",
            "ipv6AddressCount",
            "enclaveOptions",
            "rootBlockDevice.encrypted",
            "rootBlockDevice.kmsKeyId",
            "region",
        ],
        replaceWhen: (key, news) => (key === "userData" || key === "userDataBase64") && news["userDataReplaceOnChange"] === true,
        sets: ["vpcSecurityGroupIds", "securityGroups"],
        exactMaps: ["tags"],
        stateOnly: ["userDataReplaceOnChange"],
        exactlyOneOf: [["ami", "launchTemplate"]],
    },
    "aws:ec2/volumeAttachment:VolumeAttachment": {
        replaceOnChange: ["deviceName", "instanceId", "volumeId", "region"],
        required: ["deviceName", "instanceId", "volumeId"],
        stateOnly: ["forceDetach", "skipDestroy", "stopInstanceBeforeDetaching"],
    },
    "aws:ec2/tag:Tag": {
        // terraform-provider-aws aws_ec2_tag: resource_id and key force a new tag; value changes in place.
        replaceOnChange: ["resourceId", "key", "region"],
        required: ["resourceId", "key", "value"],
    },
    "aws:ec2/securityGroup:SecurityGroup": {
        replaceOnChange: ["name", "namePrefix", "description", "vpcId", "region"],
        exactMaps: ["tags"],
        stateOnly: ["revokeRulesOnDelete"],
        autoName: { property: "name", maxLength: 255, unlessSet: ["namePrefix"] },
    },
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": {
        replaceOnChange: ["securityGroupId", "region"],
        required: ["securityGroupId", "ipProtocol"],
        exactlyOneOf: [["cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId"]],
        exactMaps: ["tags"],
    },
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": {
        replaceOnChange: ["securityGroupId", "region"],
        required: ["securityGroupId", "ipProtocol"],
        exactlyOneOf: [["cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId"]],
        exactMaps: ["tags"],
    },
};

/** Which plugin serves a type or invoke token. */
export function packageOf(token: string): string {
    return token.split(":")[0] ?? "";
}

// --- KMS -------------------------------------------------------------------------------------

async function kmsKeyOutputs(aws: Aws, keyId: string, inputs: Props): Promise<Props | undefined> {
    let meta: Record<string, unknown>;
    try {
        meta = ((await aws.kms("DescribeKey", { KeyId: keyId }))["KeyMetadata"] ?? {}) as Record<string, unknown>;
    } catch (err) {
        if (isNotFound(err, "NotFoundException")) return undefined;
        throw err;
    }
    if (meta["KeyState"] === "PendingDeletion" || meta["KeyState"] === "PendingReplicaDeletion") return undefined;
    const rotation = await aws.kms("GetKeyRotationStatus", { KeyId: keyId });
    const policy = String((await aws.kms("GetKeyPolicy", { KeyId: keyId, PolicyName: "default" }))["Policy"] ?? "");
    const tagList = ((await aws.kms("ListResourceTags", { KeyId: keyId }))["Tags"] ?? []) as Array<{ TagKey?: string; TagValue?: string }>;
    const tags: Tags = {};
    for (const t of tagList) if (t.TagKey !== undefined) tags[t.TagKey] = t.TagValue ?? "";
    const rotationEnabled = rotation["KeyRotationEnabled"] === true;
    const ownTags = Object.fromEntries(Object.entries(tags).filter(([k]) => k in tagsOf(inputs["tags"]) || !(k in aws.defaultTags)));
    return {
        ...inputs,
        arn: String(meta["Arn"] ?? ""),
        keyId,
        description: String(meta["Description"] ?? ""),
        keyUsage: String(meta["KeyUsage"] ?? inputs["keyUsage"] ?? "ENCRYPT_DECRYPT"),
        customerMasterKeySpec: String(meta["CustomerMasterKeySpec"] ?? meta["KeySpec"] ?? "SYMMETRIC_DEFAULT"),
        isEnabled: meta["Enabled"] !== false,
        multiRegion: meta["MultiRegion"] === true,
        enableKeyRotation: rotationEnabled,
        rotationPeriodInDays: rotationEnabled ? (num(inputs, "rotationPeriodInDays") ?? 365) : 0,
        bypassPolicyLockoutSafetyCheck: bool(inputs, "bypassPolicyLockoutSafetyCheck") ?? false,
        deletionWindowInDays: num(inputs, "deletionWindowInDays") ?? 30,
        policy: keepEquivalentPolicy(inputs["policy"], policy),
        tags: ownTags,
        tagsAll: tags,
        region: aws.region,
    };
}

const kmsKey: Handler = {
    async create(aws, { inputs, progress }) {
        const tags = aws.tagsAll(tagsOf(inputs["tags"]));
        const created = await aws.kms("CreateKey", {
            Description: str(inputs, "description"),
            Policy: str(inputs, "policy"),
            KeyUsage: str(inputs, "keyUsage"),
            KeySpec: str(inputs, "customerMasterKeySpec") ?? str(inputs, "keySpec"),
            MultiRegion: bool(inputs, "multiRegion"),
            BypassPolicyLockoutSafetyCheck: bool(inputs, "bypassPolicyLockoutSafetyCheck"),
            Tags: Object.entries(tags).map(([TagKey, TagValue]) => ({ TagKey, TagValue })),
        });
        const meta = (created["KeyMetadata"] ?? {}) as Record<string, unknown>;
        const keyId = String(meta["KeyId"] ?? "");
        if (!keyId) throw new Error("fakeProvider: KMS CreateKey answered no KeyId");
        progress(keyId, { ...inputs, keyId, arn: String(meta["Arn"] ?? "") });
        if (bool(inputs, "enableKeyRotation")) {
            await aws.kms("EnableKeyRotation", { KeyId: keyId, RotationPeriodInDays: num(inputs, "rotationPeriodInDays") });
        }
        if (bool(inputs, "isEnabled") === false) await aws.kms("DisableKey", { KeyId: keyId });
        const outputs = await kmsKeyOutputs(aws, keyId, inputs);
        if (!outputs) throw new Error(`fakeProvider: KMS key ${keyId} vanished right after creation`);
        return { id: keyId, outputs };
    },
    read: (aws, id, _state, inputs) => kmsKeyOutputs(aws, id, inputs),
    async update(aws, id, { olds, news, changed }) {
        const rest = new Set(changed);
        const take = (k: string): boolean => rest.delete(k);
        if (take("description")) await aws.kms("UpdateKeyDescription", { KeyId: id, Description: str(news, "description") ?? "" });
        if (take("policy") && str(news, "policy")) await aws.kms("PutKeyPolicy", { KeyId: id, PolicyName: "default", Policy: str(news, "policy") });
        if (take("enableKeyRotation") || take("rotationPeriodInDays")) {
            if (bool(news, "enableKeyRotation")) await aws.kms("EnableKeyRotation", { KeyId: id, RotationPeriodInDays: num(news, "rotationPeriodInDays") });
            else await aws.kms("DisableKeyRotation", { KeyId: id });
        }
        if (take("isEnabled")) await aws.kms(bool(news, "isEnabled") === false ? "DisableKey" : "EnableKey", { KeyId: id });
        if (take("tags")) {
            const { set, remove } = tagChanges(aws.tagsAll(tagsOf(olds["tags"])), aws.tagsAll(tagsOf(news["tags"])));
            if (remove.length > 0) await aws.kms("UntagResource", { KeyId: id, TagKeys: remove });
            if (Object.keys(set).length > 0) await aws.kms("TagResource", { KeyId: id, Tags: Object.entries(set).map(([TagKey, TagValue]) => ({ TagKey, TagValue })) });
        }
        for (const k of RESOURCE_SPECS["aws:kms/key:Key"]?.stateOnly ?? []) rest.delete(k);
        if (rest.size > 0) unsupportedUpdate("aws:kms/key:Key", [...rest]);
        const outputs = await kmsKeyOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: KMS key ${id} is gone`);
        return outputs;
    },
    async delete(aws, id, state) {
        try {
            await aws.kms("ScheduleKeyDeletion", { KeyId: id, PendingWindowInDays: num(state, "deletionWindowInDays") ?? 30 });
        } catch (err) {
            if (isNotFound(err, "NotFoundException")) return;
            // Already pending deletion: what Terraform treats as deleted.
            if (errorCode(err) === "KMSInvalidStateException") return;
            throw err;
        }
    },
};

async function findAlias(aws: Aws, name: string): Promise<Record<string, unknown> | undefined> {
    let marker: string | undefined;
    do {
        const page = await aws.kms("ListAliases", { Marker: marker, Limit: 100 });
        const found = ((page["Aliases"] ?? []) as Array<Record<string, unknown>>).find((a) => a["AliasName"] === name);
        if (found) return found;
        marker = page["Truncated"] === true ? String(page["NextMarker"] ?? "") : undefined;
    } while (marker);
    return undefined;
}

async function aliasOutputs(aws: Aws, name: string, inputs: Props): Promise<Props | undefined> {
    const alias = await findAlias(aws, name);
    if (!alias) return undefined;
    const targetKeyId = String(alias["TargetKeyId"] ?? "");
    const key = (await aws.kms("DescribeKey", { KeyId: targetKeyId }))["KeyMetadata"] as Record<string, unknown> | undefined;
    const given = str(inputs, "targetKeyId");
    return {
        ...inputs,
        name,
        namePrefix: str(inputs, "namePrefix") ?? "",
        arn: String(alias["AliasArn"] ?? (await aws.arn("kms", name))),
        // Keep the form the program gave (id or ARN) when it names the same key.
        targetKeyId: given && (given === targetKeyId || given === key?.["Arn"]) ? given : targetKeyId,
        targetKeyArn: String(key?.["Arn"] ?? ""),
        region: aws.region,
    };
}

const kmsAlias: Handler = {
    async create(aws, { inputs }) {
        const name = str(inputs, "name") ?? prefixedUniqueId(str(inputs, "namePrefix") ?? "alias/");
        await aws.kms("CreateAlias", { AliasName: name, TargetKeyId: str(inputs, "targetKeyId") });
        const outputs = await aliasOutputs(aws, name, inputs);
        if (!outputs) throw new Error(`fakeProvider: KMS alias ${name} vanished right after creation`);
        return { id: name, outputs };
    },
    read: (aws, id, _state, inputs) => aliasOutputs(aws, id, inputs),
    async update(aws, id, { news, changed }) {
        const rest = new Set(changed);
        if (rest.delete("targetKeyId")) await aws.kms("UpdateAlias", { AliasName: id, TargetKeyId: str(news, "targetKeyId") });
        if (rest.size > 0) unsupportedUpdate("aws:kms/alias:Alias", [...rest]);
        const outputs = await aliasOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: KMS alias ${id} is gone`);
        return outputs;
    },
    async delete(aws, id) {
        try {
            await aws.kms("DeleteAlias", { AliasName: id });
        } catch (err) {
            if (!isNotFound(err, "NotFoundException")) throw err;
        }
    },
};

// --- S3 --------------------------------------------------------------------------------------

async function bucketExists(aws: Aws, bucket: string): Promise<boolean> {
    try {
        await aws.s3({ method: "HEAD", bucket });
        return true;
    } catch (err) {
        if (isNotFound(err, "NoSuchBucket", "NotFound")) return false;
        throw err;
    }
}

async function bucketTags(aws: Aws, bucket: string): Promise<Tags> {
    try {
        return parseTagSet((await aws.s3({ method: "GET", bucket, query: { tagging: "" } })).body);
    } catch (err) {
        if (errorCode(err) === "NoSuchTagSet") return {};
        throw err;
    }
}

async function putBucketTags(aws: Aws, bucket: string, tags: Tags): Promise<void> {
    if (Object.keys(tags).length === 0) {
        await aws.s3({ method: "DELETE", bucket, query: { tagging: "" } });
        return;
    }
    const body = tagSetXml(tags);
    await aws.s3({ method: "PUT", bucket, query: { tagging: "" }, headers: { "content-type": "application/xml", "content-md5": md5Base64(body) }, body });
}

async function bucketOutputs(aws: Aws, bucket: string, inputs: Props): Promise<Props | undefined> {
    if (!(await bucketExists(aws, bucket))) return undefined;
    const all = await bucketTags(aws, bucket);
    const own = tagsOf(inputs["tags"]);
    const { dnsSuffix, partition } = aws.partition;
    return {
        ...inputs,
        bucket,
        bucketPrefix: str(inputs, "bucketPrefix") ?? "",
        arn: `arn:${partition}:s3:::${bucket}`,
        bucketDomainName: `${bucket}.s3.${dnsSuffix}`,
        bucketRegionalDomainName: `${bucket}.s3.${aws.region}.${dnsSuffix}`,
        region: aws.region,
        forceDestroy: bool(inputs, "forceDestroy") ?? false,
        objectLockEnabled: bool(inputs, "objectLockEnabled") ?? false,
        tags: Object.fromEntries(Object.entries(all).filter(([k]) => k in own || !(k in aws.defaultTags))),
        tagsAll: all,
    };
}

async function emptyBucket(aws: Aws, bucket: string): Promise<void> {
    for (let round = 0; round < 100; round++) {
        const listing = (await aws.s3({ method: "GET", bucket, query: { versions: "" } })).body;
        const entries = [...xmlAll(listing, "Version"), ...xmlAll(listing, "DeleteMarker")];
        if (entries.length === 0) return;
        for (const entry of entries) {
            const key = xmlText(entry, "Key") ?? "";
            const versionId = xmlText(entry, "VersionId");
            await aws.s3({ method: "DELETE", bucket, key, query: versionId && versionId !== "null" ? { versionId } : undefined });
        }
    }
}

const s3Bucket: Handler = {
    async create(aws, { inputs, progress }) {
        const bucket = str(inputs, "bucket") ?? prefixedUniqueId(str(inputs, "bucketPrefix") ?? "terraform-");
        const body =
            aws.region === "us-east-1"
                ? undefined
                : `<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>${xmlEscape(aws.region)}</LocationConstraint></CreateBucketConfiguration>`;
        await aws.s3({
            method: "PUT",
            bucket,
            headers: { ...(body ? { "content-type": "application/xml" } : {}), ...(bool(inputs, "objectLockEnabled") ? { "x-amz-bucket-object-lock-enabled": "true" } : {}) },
            body,
        });
        progress(bucket, { ...inputs, bucket, arn: `arn:${aws.partition.partition}:s3:::${bucket}` });
        const tags = aws.tagsAll(tagsOf(inputs["tags"]));
        if (Object.keys(tags).length > 0) await putBucketTags(aws, bucket, tags);
        const outputs = await bucketOutputs(aws, bucket, { ...inputs, bucket });
        if (!outputs) throw new Error(`fakeProvider: bucket ${bucket} vanished right after creation`);
        return { id: bucket, outputs };
    },
    read: (aws, id, _state, inputs) => bucketOutputs(aws, id, inputs),
    async update(aws, id, { news, changed }) {
        const rest = new Set(changed);
        if (rest.delete("tags")) await putBucketTags(aws, id, aws.tagsAll(tagsOf(news["tags"])));
        for (const k of RESOURCE_SPECS["aws:s3/bucket:Bucket"]?.stateOnly ?? []) rest.delete(k);
        if (rest.size > 0) unsupportedUpdate("aws:s3/bucket:Bucket", [...rest]);
        const outputs = await bucketOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: bucket ${id} is gone`);
        return outputs;
    },
    async delete(aws, id, state) {
        try {
            if (bool(state, "forceDestroy")) await emptyBucket(aws, id);
            await aws.s3({ method: "DELETE", bucket: id });
        } catch (err) {
            if (isNotFound(err, "NoSuchBucket")) return;
            throw err;
        }
    },
};

/** A bucket sub-resource kept under a `?<subresource>` of the bucket; its id is the bucket name. */
function bucketSubresource(opts: {
    type: string;
    subresource: string;
    notFound: readonly string[];
    body: (inputs: Props) => string;
    /** Outputs from AWS's document (and the inputs). */
    outputs: (document: string, inputs: Props) => Props;
    contentType?: string;
    md5?: boolean;
    validate?: (inputs: Props) => void;
}): Handler {
    const put = async (aws: Aws, bucket: string, inputs: Props): Promise<void> => {
        opts.validate?.(inputs);
        const body = opts.body(inputs);
        await aws.s3({
            method: "PUT",
            bucket,
            query: { [opts.subresource]: "" },
            headers: { "content-type": opts.contentType ?? "application/xml", ...(opts.md5 ? { "content-md5": md5Base64(body) } : {}) },
            body,
        });
    };
    const read = async (aws: Aws, bucket: string, inputs: Props): Promise<Props | undefined> => {
        try {
            const doc = (await aws.s3({ method: "GET", bucket, query: { [opts.subresource]: "" } })).body;
            return { ...inputs, ...opts.outputs(doc, inputs), bucket, region: aws.region };
        } catch (err) {
            if (isNotFound(err, "NoSuchBucket", ...opts.notFound)) return undefined;
            throw err;
        }
    };
    return {
        async create(aws, { inputs }) {
            const bucket = str(inputs, "bucket") as string;
            await put(aws, bucket, inputs);
            const outputs = await read(aws, bucket, inputs);
            if (!outputs) throw new Error(`fakeProvider: ${opts.type} of ${bucket} vanished right after creation`);
            return { id: bucket, outputs };
        },
        read: (aws, id, _state, inputs) => read(aws, id, inputs),
        async update(aws, id, { news }) {
            await put(aws, id, news);
            const outputs = await read(aws, id, news);
            if (!outputs) throw new Error(`fakeProvider: ${opts.type} of ${id} is gone`);
            return outputs;
        },
        async delete(aws, id, state) {
            if (bool(state, "skipDestroy")) return;
            try {
                await aws.s3({ method: "DELETE", bucket: id, query: { [opts.subresource]: "" } });
            } catch (err) {
                if (!isNotFound(err, "NoSuchBucket", ...opts.notFound)) throw err;
            }
        },
    };
}

const S3_XMLNS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';

const ownershipControls = bucketSubresource({
    type: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    subresource: "ownershipControls",
    notFound: ["OwnershipControlsNotFoundError"],
    md5: true,
    body: (inputs) => `<OwnershipControls ${S3_XMLNS}><Rule><ObjectOwnership>${xmlEscape(String(obj(inputs, "rule")["objectOwnership"] ?? ""))}</ObjectOwnership></Rule></OwnershipControls>`,
    outputs: (doc) => ({ rule: { objectOwnership: xmlText(doc, "ObjectOwnership") ?? "" } }),
});

const PUBLIC_ACCESS_FLAGS = [
    ["blockPublicAcls", "BlockPublicAcls"],
    ["blockPublicPolicy", "BlockPublicPolicy"],
    ["ignorePublicAcls", "IgnorePublicAcls"],
    ["restrictPublicBuckets", "RestrictPublicBuckets"],
] as const;

const publicAccessBlock = bucketSubresource({
    type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    subresource: "publicAccessBlock",
    notFound: ["NoSuchPublicAccessBlockConfiguration"],
    md5: true,
    body: (inputs) =>
        `<PublicAccessBlockConfiguration ${S3_XMLNS}>${PUBLIC_ACCESS_FLAGS.map(([k, tag]) => `<${tag}>${bool(inputs, k) === true}</${tag}>`).join("")}</PublicAccessBlockConfiguration>`,
    outputs: (doc, inputs) => ({
        ...Object.fromEntries(PUBLIC_ACCESS_FLAGS.map(([k, tag]) => [k, xmlText(doc, tag) === "true"])),
        skipDestroy: bool(inputs, "skipDestroy") ?? false,
    }),
});

const encryptionConfiguration = bucketSubresource({
    type: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    subresource: "encryption",
    notFound: ["ServerSideEncryptionConfigurationNotFoundError"],
    md5: true,
    body: (inputs) => {
        const rules = (Array.isArray(inputs["rules"]) ? inputs["rules"] : []) as Props[];
        const xml = rules
            .map((rule) => {
                const byDefault = obj(rule, "applyServerSideEncryptionByDefault");
                const algorithm = str(byDefault, "sseAlgorithm");
                const keyId = str(byDefault, "kmsMasterKeyId");
                const inner = algorithm
                    ? `<ApplyServerSideEncryptionByDefault><SSEAlgorithm>${xmlEscape(algorithm)}</SSEAlgorithm>${keyId ? `<KMSMasterKeyID>${xmlEscape(keyId)}</KMSMasterKeyID>` : ""}</ApplyServerSideEncryptionByDefault>`
                    : "";
                const bucketKey = bool(rule, "bucketKeyEnabled");
                return `<Rule>${inner}${bucketKey === undefined ? "" : `<BucketKeyEnabled>${bucketKey}</BucketKeyEnabled>`}</Rule>`;
            })
            .join("");
        return `<ServerSideEncryptionConfiguration ${S3_XMLNS}>${xml}</ServerSideEncryptionConfiguration>`;
    },
    outputs: (doc, inputs) => ({
        expectedBucketOwner: str(inputs, "expectedBucketOwner") ?? "",
        rules: xmlAll(doc, "Rule").map((rule) => {
            const keyId = xmlText(rule, "KMSMasterKeyID");
            return {
                applyServerSideEncryptionByDefault: { sseAlgorithm: xmlText(rule, "SSEAlgorithm") ?? "", ...(keyId ? { kmsMasterKeyId: keyId } : {}) },
                bucketKeyEnabled: xmlText(rule, "BucketKeyEnabled") === "true",
            };
        }),
    }),
});

/** S3's documented maximum bucket policy size. */
export const BUCKET_POLICY_MAX_BYTES = 20 * 1024;

const bucketPolicy = bucketSubresource({
    type: "aws:s3/bucketPolicy:BucketPolicy",
    subresource: "policy",
    notFound: ["NoSuchBucketPolicy"],
    contentType: "application/json",
    body: (inputs) => str(inputs, "policy") ?? "",
    validate: (inputs) => {
        const size = Buffer.byteLength(str(inputs, "policy") ?? "", "utf8");
        if (size > BUCKET_POLICY_MAX_BYTES) {
            throw new AwsError(
                "PolicyTooLarge",
                `the bucket policy is ${size} bytes; S3 allows at most ${BUCKET_POLICY_MAX_BYTES} bytes (20 KB) (enforced by the test plugin; moto does not)`,
                400,
            );
        }
    },
    outputs: (doc, inputs) => ({ policy: keepEquivalentPolicy(inputs["policy"], doc) }),
});

// --- IAM -------------------------------------------------------------------------------------

async function listAll<T>(fetchPage: (marker: string | undefined) => Promise<{ items: T[]; marker?: string }>): Promise<T[]> {
    const out: T[] = [];
    let marker: string | undefined;
    do {
        const page = await fetchPage(marker);
        out.push(...page.items);
        marker = page.marker;
    } while (marker);
    return out;
}

async function roleOutputs(aws: Aws, name: string, inputs: Props): Promise<Props | undefined> {
    let role: iamsdk.Role | undefined;
    try {
        role = (await aws.iam.send(new iamsdk.GetRoleCommand({ RoleName: name }))).Role;
    } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
    }
    if (!role) return undefined;
    const inlineNames = await listAll(async (Marker) => {
        const r = await aws.iam.send(new iamsdk.ListRolePoliciesCommand({ RoleName: name, Marker }));
        return { items: r.PolicyNames ?? [], marker: r.IsTruncated ? r.Marker : undefined };
    });
    const inlinePolicies = [];
    for (const policyName of inlineNames.sort()) {
        const doc = (await aws.iam.send(new iamsdk.GetRolePolicyCommand({ RoleName: name, PolicyName: policyName }))).PolicyDocument ?? "";
        inlinePolicies.push({ name: policyName, policy: decodeURIComponent(doc) });
    }
    const attached = await listAll(async (Marker) => {
        const r = await aws.iam.send(new iamsdk.ListAttachedRolePoliciesCommand({ RoleName: name, Marker }));
        return { items: (r.AttachedPolicies ?? []).map((p) => p.PolicyArn ?? ""), marker: r.IsTruncated ? r.Marker : undefined };
    });
    const all = fromAwsTags(role.Tags);
    const own = tagsOf(inputs["tags"]);
    const trust = role.AssumeRolePolicyDocument === undefined ? undefined : decodeURIComponent(role.AssumeRolePolicyDocument);
    return {
        ...inputs,
        name,
        namePrefix: str(inputs, "namePrefix") ?? "",
        arn: role.Arn ?? "",
        uniqueId: role.RoleId ?? "",
        createDate: role.CreateDate ? new Date(role.CreateDate).toISOString() : "",
        path: role.Path ?? "/",
        description: role.Description ?? "",
        maxSessionDuration: role.MaxSessionDuration ?? 3600,
        permissionsBoundary: role.PermissionsBoundary?.PermissionsBoundaryArn ?? "",
        assumeRolePolicy: keepEquivalentPolicy(inputs["assumeRolePolicy"], trust),
        forceDetachPolicies: bool(inputs, "forceDetachPolicies") ?? false,
        inlinePolicies,
        managedPolicyArns: attached.sort(),
        tags: Object.fromEntries(Object.entries(all).filter(([k]) => k in own || !(k in aws.defaultTags))),
        tagsAll: all,
    };
}

const iamRole: Handler = {
    async create(aws, { inputs, progress }) {
        const name = str(inputs, "name") ?? prefixedUniqueId(str(inputs, "namePrefix") ?? "terraform-");
        const tags = aws.tagsAll(tagsOf(inputs["tags"]));
        const created = await aws.iam.send(
            new iamsdk.CreateRoleCommand({
                RoleName: name,
                Path: str(inputs, "path"),
                AssumeRolePolicyDocument: str(inputs, "assumeRolePolicy"),
                Description: str(inputs, "description"),
                MaxSessionDuration: num(inputs, "maxSessionDuration"),
                PermissionsBoundary: str(inputs, "permissionsBoundary"),
                Tags: Object.keys(tags).length === 0 ? undefined : awsTags(tags),
            }),
        );
        progress(name, { ...inputs, name, arn: created.Role?.Arn ?? "" });
        for (const p of (Array.isArray(inputs["inlinePolicies"]) ? inputs["inlinePolicies"] : []) as Props[]) {
            const policyName = str(p, "name");
            const policy = str(p, "policy");
            if (policyName && policy) await aws.iam.send(new iamsdk.PutRolePolicyCommand({ RoleName: name, PolicyName: policyName, PolicyDocument: policy }));
        }
        for (const arn of (Array.isArray(inputs["managedPolicyArns"]) ? inputs["managedPolicyArns"] : []) as string[]) {
            await aws.iam.send(new iamsdk.AttachRolePolicyCommand({ RoleName: name, PolicyArn: arn }));
        }
        const outputs = await roleOutputs(aws, name, inputs);
        if (!outputs) throw new Error(`fakeProvider: IAM role ${name} vanished right after creation`);
        return { id: name, outputs };
    },
    read: (aws, id, _state, inputs) => roleOutputs(aws, id, inputs),
    async update(aws, id, { olds, news, changed }) {
        const rest = new Set(changed);
        if (rest.delete("assumeRolePolicy")) {
            await aws.iam.send(new iamsdk.UpdateAssumeRolePolicyCommand({ RoleName: id, PolicyDocument: str(news, "assumeRolePolicy") }));
        }
        const descriptionChanged = rest.delete("description");
        const durationChanged = rest.delete("maxSessionDuration");
        if (descriptionChanged || durationChanged) {
            await aws.iam.send(new iamsdk.UpdateRoleCommand({ RoleName: id, Description: str(news, "description") ?? "", MaxSessionDuration: num(news, "maxSessionDuration") }));
        }
        if (rest.delete("permissionsBoundary")) {
            const boundary = str(news, "permissionsBoundary");
            if (boundary) await aws.iam.send(new iamsdk.PutRolePermissionsBoundaryCommand({ RoleName: id, PermissionsBoundary: boundary }));
            else await aws.iam.send(new iamsdk.DeleteRolePermissionsBoundaryCommand({ RoleName: id }));
        }
        if (rest.delete("tags")) {
            const { set, remove } = tagChanges(aws.tagsAll(tagsOf(olds["tags"])), aws.tagsAll(tagsOf(news["tags"])));
            if (remove.length > 0) await aws.iam.send(new iamsdk.UntagRoleCommand({ RoleName: id, TagKeys: remove }));
            if (Object.keys(set).length > 0) await aws.iam.send(new iamsdk.TagRoleCommand({ RoleName: id, Tags: awsTags(set) }));
        }
        for (const k of RESOURCE_SPECS["aws:iam/role:Role"]?.stateOnly ?? []) rest.delete(k);
        if (rest.size > 0) unsupportedUpdate("aws:iam/role:Role", [...rest]);
        const outputs = await roleOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: IAM role ${id} is gone`);
        return outputs;
    },
    /**
     * As the bridged provider (terraform-provider-aws DeleteRole): remove the role from its instance
     * profiles; with forceDetachPolicies (or when the state lists managed / inline policies), detach
     * managed and delete inline policies; then DeleteRole.
     * Otherwise a role that still has policies the state did not list fails with IAM's DeleteConflict
     * (moto enforces it); the real provider retries that for 2 minutes first, this one does not.
     */
    async delete(aws, id, state) {
        try {
            const profiles = await aws.iam.send(new iamsdk.ListInstanceProfilesForRoleCommand({ RoleName: id }));
            for (const p of profiles.InstanceProfiles ?? []) {
                try {
                    await aws.iam.send(new iamsdk.RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: p.InstanceProfileName, RoleName: id }));
                } catch (err) {
                    if (!isNotFound(err)) throw err;
                }
            }
            // terraform-provider-aws: detach managed policies if forced or the state lists any (managedPolicyArns
            // and inlinePolicies are read back from AWS, so they include what others attached before the last read).
            const force = bool(state, "forceDetachPolicies") === true;
            const listed = (k: string): boolean => Array.isArray(state[k]) && (state[k] as unknown[]).length > 0;
            if (force || listed("managedPolicyArns")) {
                const attached = await aws.iam.send(new iamsdk.ListAttachedRolePoliciesCommand({ RoleName: id }));
                for (const p of attached.AttachedPolicies ?? []) {
                    await aws.iam.send(new iamsdk.DetachRolePolicyCommand({ RoleName: id, PolicyArn: p.PolicyArn }));
                }
            }
            if (force || listed("inlinePolicies")) {
                const inline = await aws.iam.send(new iamsdk.ListRolePoliciesCommand({ RoleName: id }));
                for (const name of inline.PolicyNames ?? []) {
                    await aws.iam.send(new iamsdk.DeleteRolePolicyCommand({ RoleName: id, PolicyName: name }));
                }
            }
            await aws.iam.send(new iamsdk.DeleteRoleCommand({ RoleName: id }));
        } catch (err) {
            if (isNotFound(err)) return;
            throw err;
        }
    },
};

const rolePolicyAttachment: Handler = {
    async create(aws, { inputs }) {
        const role = str(inputs, "role") as string;
        const policyArn = str(inputs, "policyArn") as string;
        await aws.iam.send(new iamsdk.AttachRolePolicyCommand({ RoleName: role, PolicyArn: policyArn }));
        return { id: prefixedUniqueId(`${role}-`), outputs: { ...inputs, role, policyArn } };
    },
    async read(aws, _id, state, inputs) {
        const role = str(state, "role") ?? str(inputs, "role");
        const policyArn = str(state, "policyArn") ?? str(inputs, "policyArn");
        if (!role || !policyArn) return undefined;
        try {
            const attached = await listAll(async (Marker) => {
                const r = await aws.iam.send(new iamsdk.ListAttachedRolePoliciesCommand({ RoleName: role, Marker }));
                return { items: (r.AttachedPolicies ?? []).map((p) => p.PolicyArn ?? ""), marker: r.IsTruncated ? r.Marker : undefined };
            });
            return attached.includes(policyArn) ? { ...inputs, role, policyArn } : undefined;
        } catch (err) {
            if (isNotFound(err)) return undefined;
            throw err;
        }
    },
    async update(_aws, _id, { changed }) {
        unsupportedUpdate("aws:iam/rolePolicyAttachment:RolePolicyAttachment", [...changed]);
    },
    async delete(aws, _id, state) {
        try {
            await aws.iam.send(new iamsdk.DetachRolePolicyCommand({ RoleName: str(state, "role"), PolicyArn: str(state, "policyArn") }));
        } catch (err) {
            if (!isNotFound(err)) throw err;
        }
    },
};

async function instanceProfileOutputs(aws: Aws, name: string, inputs: Props): Promise<Props | undefined> {
    let profile: iamsdk.InstanceProfile | undefined;
    try {
        profile = (await aws.iam.send(new iamsdk.GetInstanceProfileCommand({ InstanceProfileName: name }))).InstanceProfile;
    } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
    }
    if (!profile) return undefined;
    const all = fromAwsTags(profile.Tags);
    const own = tagsOf(inputs["tags"]);
    return {
        ...inputs,
        name,
        namePrefix: str(inputs, "namePrefix") ?? "",
        arn: profile.Arn ?? "",
        uniqueId: profile.InstanceProfileId ?? "",
        createDate: profile.CreateDate ? new Date(profile.CreateDate).toISOString() : "",
        path: profile.Path ?? "/",
        role: profile.Roles?.[0]?.RoleName ?? "",
        tags: Object.fromEntries(Object.entries(all).filter(([k]) => k in own || !(k in aws.defaultTags))),
        tagsAll: all,
    };
}

const instanceProfile: Handler = {
    async create(aws, { inputs, progress }) {
        const name = str(inputs, "name") ?? prefixedUniqueId(str(inputs, "namePrefix") ?? "terraform-");
        const tags = aws.tagsAll(tagsOf(inputs["tags"]));
        const created = await aws.iam.send(
            new iamsdk.CreateInstanceProfileCommand({ InstanceProfileName: name, Path: str(inputs, "path"), Tags: Object.keys(tags).length === 0 ? undefined : awsTags(tags) }),
        );
        progress(name, { ...inputs, name, arn: created.InstanceProfile?.Arn ?? "" });
        const role = str(inputs, "role");
        if (role) await aws.iam.send(new iamsdk.AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: role }));
        const outputs = await instanceProfileOutputs(aws, name, inputs);
        if (!outputs) throw new Error(`fakeProvider: instance profile ${name} vanished right after creation`);
        return { id: name, outputs };
    },
    read: (aws, id, _state, inputs) => instanceProfileOutputs(aws, id, inputs),
    async update(aws, id, { olds, news, changed }) {
        const rest = new Set(changed);
        if (rest.delete("role")) {
            const current = (await aws.iam.send(new iamsdk.GetInstanceProfileCommand({ InstanceProfileName: id }))).InstanceProfile?.Roles ?? [];
            for (const r of current) await aws.iam.send(new iamsdk.RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: id, RoleName: r.RoleName }));
            const role = str(news, "role");
            if (role) await aws.iam.send(new iamsdk.AddRoleToInstanceProfileCommand({ InstanceProfileName: id, RoleName: role }));
        }
        if (rest.delete("tags")) {
            const { set, remove } = tagChanges(aws.tagsAll(tagsOf(olds["tags"])), aws.tagsAll(tagsOf(news["tags"])));
            if (remove.length > 0) await aws.iam.send(new iamsdk.UntagInstanceProfileCommand({ InstanceProfileName: id, TagKeys: remove }));
            if (Object.keys(set).length > 0) await aws.iam.send(new iamsdk.TagInstanceProfileCommand({ InstanceProfileName: id, Tags: awsTags(set) }));
        }
        if (rest.size > 0) unsupportedUpdate("aws:iam/instanceProfile:InstanceProfile", [...rest]);
        const outputs = await instanceProfileOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: instance profile ${id} is gone`);
        return outputs;
    },
    async delete(aws, id) {
        try {
            const roles = (await aws.iam.send(new iamsdk.GetInstanceProfileCommand({ InstanceProfileName: id }))).InstanceProfile?.Roles ?? [];
            for (const r of roles) await aws.iam.send(new iamsdk.RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: id, RoleName: r.RoleName }));
            await aws.iam.send(new iamsdk.DeleteInstanceProfileCommand({ InstanceProfileName: id }));
        } catch (err) {
            if (!isNotFound(err)) throw err;
        }
    },
};

// --- EBS / EC2 -------------------------------------------------------------------------------

async function describeVolume(aws: Aws, volumeId: string): Promise<ec2sdk.Volume | undefined> {
    try {
        const v = (await aws.ec2.send(new ec2sdk.DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes?.[0];
        return v && v.State !== "deleted" && v.State !== "deleting" ? v : undefined;
    } catch (err) {
        if (isNotFound(err, "InvalidVolume.NotFound")) return undefined;
        throw err;
    }
}

async function volumeOutputs(aws: Aws, volumeId: string, inputs: Props): Promise<Props | undefined> {
    const v = await describeVolume(aws, volumeId);
    if (!v) return undefined;
    const all = fromAwsTags(v.Tags);
    const own = tagsOf(inputs["tags"]);
    return {
        ...inputs,
        arn: await aws.arn("ec2", `volume/${volumeId}`),
        availabilityZone: v.AvailabilityZone ?? "",
        size: v.Size ?? 0,
        type: v.VolumeType ?? "",
        iops: v.Iops ?? 0,
        throughput: v.Throughput ?? num(inputs, "throughput") ?? 0,
        encrypted: v.Encrypted ?? false,
        kmsKeyId: v.KmsKeyId ?? "",
        snapshotId: v.SnapshotId ?? "",
        multiAttachEnabled: v.MultiAttachEnabled ?? false,
        finalSnapshot: bool(inputs, "finalSnapshot") ?? false,
        createTime: v.CreateTime ? new Date(v.CreateTime).toISOString() : "",
        tags: Object.fromEntries(Object.entries(all).filter(([k]) => k in own || !(k in aws.defaultTags))),
        tagsAll: all,
        region: aws.region,
    };
}

const ebsVolume: Handler = {
    async create(aws, { inputs }) {
        const created = await aws.ec2.send(
            new ec2sdk.CreateVolumeCommand({
                AvailabilityZone: str(inputs, "availabilityZone"),
                Size: num(inputs, "size"),
                VolumeType: str(inputs, "type") as ec2sdk.VolumeType | undefined,
                Iops: num(inputs, "iops"),
                Throughput: num(inputs, "throughput"),
                Encrypted: bool(inputs, "encrypted"),
                KmsKeyId: str(inputs, "kmsKeyId"),
                SnapshotId: str(inputs, "snapshotId"),
                MultiAttachEnabled: bool(inputs, "multiAttachEnabled"),
                TagSpecifications: tagSpec("volume", aws.tagsAll(tagsOf(inputs["tags"]))),
            }),
        );
        const id = created.VolumeId;
        if (!id) throw new Error("fakeProvider: CreateVolume answered no VolumeId");
        await waitFor(`volume ${id} to be available`, () => describeVolume(aws, id), (v) => v?.State === "available");
        const outputs = await volumeOutputs(aws, id, inputs);
        if (!outputs) throw new Error(`fakeProvider: volume ${id} vanished right after creation`);
        return { id, outputs };
    },
    read: (aws, id, _state, inputs) => volumeOutputs(aws, id, inputs),
    async update(aws, id, { olds, news, changed }) {
        const rest = new Set(changed);
        const modify = ["size", "type", "iops", "throughput"].filter((k) => rest.delete(k));
        if (modify.length > 0) {
            await aws.ec2.send(
                new ec2sdk.ModifyVolumeCommand({
                    VolumeId: id,
                    Size: num(news, "size"),
                    VolumeType: str(news, "type") as ec2sdk.VolumeType | undefined,
                    Iops: num(news, "iops"),
                    Throughput: num(news, "throughput"),
                }),
            );
        }
        if (rest.delete("tags")) await aws.ec2Tags(id, aws.tagsAll(tagsOf(olds["tags"])), aws.tagsAll(tagsOf(news["tags"])));
        for (const k of RESOURCE_SPECS["aws:ebs/volume:Volume"]?.stateOnly ?? []) rest.delete(k);
        if (rest.size > 0) unsupportedUpdate("aws:ebs/volume:Volume", [...rest]);
        const outputs = await volumeOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: volume ${id} is gone`);
        return outputs;
    },
    async delete(aws, id) {
        try {
            await aws.ec2.send(new ec2sdk.DeleteVolumeCommand({ VolumeId: id }));
        } catch (err) {
            if (!isNotFound(err, "InvalidVolume.NotFound")) throw err;
        }
    },
};

async function describeInstance(aws: Aws, instanceId: string): Promise<ec2sdk.Instance | undefined> {
    try {
        const out = await aws.ec2.send(new ec2sdk.DescribeInstancesCommand({ InstanceIds: [instanceId] }));
        return out.Reservations?.[0]?.Instances?.[0];
    } catch (err) {
        if (isNotFound(err, "InvalidInstanceID.NotFound")) return undefined;
        throw err;
    }
}

function profileNameFromArn(arn: string | undefined): string {
    return arn ? (arn.split("/").pop() ?? "") : "";
}

async function instanceOutputs(aws: Aws, instanceId: string, inputs: Props): Promise<Props | undefined> {
    const i = await describeInstance(aws, instanceId);
    const state = i?.State?.Name;
    if (!i || state === "terminated" || state === "shutting-down") return undefined;
    const rootDeviceName = i.RootDeviceName ?? "";
    const rootMapping = (i.BlockDeviceMappings ?? []).find((m) => m.DeviceName === rootDeviceName) ?? i.BlockDeviceMappings?.[0];
    const rootVolume = rootMapping?.Ebs?.VolumeId ? await describeVolume(aws, rootMapping.Ebs.VolumeId) : undefined;
    const rootInput = obj(inputs, "rootBlockDevice");
    const metadataInput = obj(inputs, "metadataOptions");
    const mo = i.MetadataOptions;
    const all = fromAwsTags(i.Tags);
    const own = tagsOf(inputs["tags"]);
    const givenProfile = str(inputs, "iamInstanceProfile");
    const actualProfile = profileNameFromArn(i.IamInstanceProfile?.Arn);
    const eni = i.NetworkInterfaces?.[0];
    return {
        ...inputs,
        // As given: an AMI moto does not know was launched as a stand-in of the same architecture.
        ami: str(inputs, "ami") ?? i.ImageId ?? "",
        arn: await aws.arn("ec2", `instance/${instanceId}`),
        instanceType: i.InstanceType ?? "",
        instanceState: state ?? "",
        availabilityZone: i.Placement?.AvailabilityZone ?? "",
        subnetId: i.SubnetId ?? "",
        privateIp: i.PrivateIpAddress ?? "",
        privateDns: i.PrivateDnsName ?? "",
        publicIp: i.PublicIpAddress ?? "",
        publicDns: i.PublicDnsName ?? "",
        primaryNetworkInterfaceId: eni?.NetworkInterfaceId ?? "",
        vpcSecurityGroupIds: (i.SecurityGroups ?? []).map((g) => g.GroupId ?? "").filter((g) => g !== ""),
        securityGroups: [],
        iamInstanceProfile: givenProfile && (givenProfile === actualProfile || givenProfile === i.IamInstanceProfile?.Arn) ? givenProfile : actualProfile,
        associatePublicIpAddress: bool(inputs, "associatePublicIpAddress") ?? (i.PublicIpAddress !== undefined && i.PublicIpAddress !== ""),
        instanceInitiatedShutdownBehavior: str(inputs, "instanceInitiatedShutdownBehavior") ?? "stop",
        metadataOptions: {
            httpEndpoint: mo?.HttpEndpoint ?? "enabled",
            httpTokens: mo?.HttpTokens ?? "optional",
            httpPutResponseHopLimit: mo?.HttpPutResponseHopLimit ?? 1,
            // moto does not keep InstanceMetadataTags / HttpProtocolIpv6: the inputs stand in.
            instanceMetadataTags: mo?.InstanceMetadataTags ?? str(metadataInput, "instanceMetadataTags") ?? "disabled",
            httpProtocolIpv6: mo?.HttpProtocolIpv6 ?? str(metadataInput, "httpProtocolIpv6") ?? "disabled",
        },
        rootBlockDevice: {
            ...rootInput,
            deviceName: rootDeviceName,
            volumeId: rootMapping?.Ebs?.VolumeId ?? "",
            deleteOnTermination: rootMapping?.Ebs?.DeleteOnTermination ?? true,
            encrypted: rootVolume?.Encrypted ?? false,
            kmsKeyId: rootVolume?.KmsKeyId ?? "",
            volumeSize: rootVolume?.Size ?? 0,
            volumeType: rootVolume?.VolumeType ?? "",
            iops: rootVolume?.Iops ?? 0,
            throughput: rootVolume?.Throughput ?? num(rootInput, "throughput") ?? 0,
        },
        tenancy: i.Placement?.Tenancy ?? "default",
        keyName: i.KeyName ?? "",
        tags: Object.fromEntries(Object.entries(all).filter(([k]) => k in own || !(k in aws.defaultTags))),
        tagsAll: all,
        region: aws.region,
    };
}

/** The image to launch for a requested AMI: itself if moto knows it, else a moto AMI of the instance type's architecture. */
async function launchImage(aws: Aws, ami: string, instanceType: string): Promise<ec2sdk.Image> {
    const arch = architectureOfInstanceType(instanceType);
    const known = await aws.describeImage(ami);
    if (known) {
        if (known.Architecture && known.Architecture !== arch) {
            throw new AwsError(
                "InvalidParameterValue",
                `The architecture '${arch}' of the specified instance type does not match the architecture '${known.Architecture}' of the specified AMI (enforced by the test plugin; moto does not).`,
                400,
            );
        }
        return known;
    }
    return aws.standInImage(arch);
}

async function stopInstance(aws: Aws, instanceId: string): Promise<void> {
    await aws.ec2.send(new ec2sdk.StopInstancesCommand({ InstanceIds: [instanceId] }));
    await waitFor(`instance ${instanceId} to stop`, () => describeInstance(aws, instanceId), (i) => i === undefined || i.State?.Name === "stopped");
}

async function startInstance(aws: Aws, instanceId: string): Promise<void> {
    await aws.ec2.send(new ec2sdk.StartInstancesCommand({ InstanceIds: [instanceId] }));
    await waitFor(`instance ${instanceId} to run`, () => describeInstance(aws, instanceId), (i) => i?.State?.Name === "running");
}

function userDataBase64(inputs: Props): string | undefined {
    const b64 = str(inputs, "userDataBase64");
    if (b64) return b64;
    const text = str(inputs, "userData");
    return text === undefined ? undefined : Buffer.from(text, "utf8").toString("base64");
}

const ec2Instance: Handler = {
    async create(aws, { inputs }) {
        const ami = str(inputs, "ami") as string;
        const instanceType = str(inputs, "instanceType") ?? "t3.micro";
        const image = await launchImage(aws, ami, instanceType);
        const rootInput = obj(inputs, "rootBlockDevice");
        const rootImageMapping = (image.BlockDeviceMappings ?? []).find((m) => m.DeviceName === image.RootDeviceName);
        const metadata = obj(inputs, "metadataOptions");
        const groups = (Array.isArray(inputs["vpcSecurityGroupIds"]) ? inputs["vpcSecurityGroupIds"] : []) as string[];
        const profile = str(inputs, "iamInstanceProfile");
        const subnetId = str(inputs, "subnetId");
        const associatePublicIp = bool(inputs, "associatePublicIpAddress");
        const tags = aws.tagsAll(tagsOf(inputs["tags"]));
        const run = await aws.ec2.send(
            new ec2sdk.RunInstancesCommand({
                ImageId: image.ImageId,
                InstanceType: instanceType as ec2sdk._InstanceType,
                MinCount: 1,
                MaxCount: 1,
                KeyName: str(inputs, "keyName"),
                PrivateIpAddress: associatePublicIp === true ? undefined : str(inputs, "privateIp"),
                // Terraform moves subnet and groups into a network interface when associate_public_ip_address is true.
                ...(associatePublicIp !== true
                    ? { SubnetId: subnetId, SecurityGroupIds: groups.length > 0 ? groups : undefined }
                    : {
                          NetworkInterfaces: [
                              { DeviceIndex: 0, SubnetId: subnetId, Groups: groups.length > 0 ? groups : undefined, AssociatePublicIpAddress: associatePublicIp, PrivateIpAddress: str(inputs, "privateIp") },
                          ],
                      }),
                IamInstanceProfile: profile ? (profile.startsWith("arn:") ? { Arn: profile } : { Name: profile }) : undefined,
                MetadataOptions:
                    Object.keys(metadata).length === 0
                        ? undefined
                        : {
                              HttpEndpoint: str(metadata, "httpEndpoint") as ec2sdk.InstanceMetadataEndpointState | undefined,
                              HttpTokens: str(metadata, "httpTokens") as ec2sdk.HttpTokensState | undefined,
                              HttpPutResponseHopLimit: num(metadata, "httpPutResponseHopLimit"),
                              InstanceMetadataTags: str(metadata, "instanceMetadataTags") as ec2sdk.InstanceMetadataTagsState | undefined,
                              HttpProtocolIpv6: str(metadata, "httpProtocolIpv6") as ec2sdk.InstanceMetadataProtocolState | undefined,
                          },
                BlockDeviceMappings: [
                    {
                        DeviceName: image.RootDeviceName ?? "/dev/xvda",
                        Ebs: {
                            Encrypted: bool(rootInput, "encrypted"),
                            KmsKeyId: str(rootInput, "kmsKeyId"),
                            VolumeType: str(rootInput, "volumeType") as ec2sdk.VolumeType | undefined,
                            // moto needs a size; AWS would take the AMI snapshot's.
                            VolumeSize: num(rootInput, "volumeSize") ?? rootImageMapping?.Ebs?.VolumeSize ?? 8,
                            Iops: num(rootInput, "iops"),
                            Throughput: num(rootInput, "throughput"),
                            DeleteOnTermination: bool(rootInput, "deleteOnTermination") ?? true,
                        },
                    },
                ],
                UserData: userDataBase64(inputs),
                InstanceInitiatedShutdownBehavior: str(inputs, "instanceInitiatedShutdownBehavior") as ec2sdk.ShutdownBehavior | undefined,
                DisableApiTermination: bool(inputs, "disableApiTermination"),
                EbsOptimized: bool(inputs, "ebsOptimized"),
                Monitoring: bool(inputs, "monitoring") === undefined ? undefined : { Enabled: bool(inputs, "monitoring") },
                TagSpecifications: tagSpec("instance", tags),
            }),
        );
        const id = run.Instances?.[0]?.InstanceId;
        if (!id) throw new Error("fakeProvider: RunInstances answered no InstanceId");
        const running = await waitFor(`instance ${id} to run`, () => describeInstance(aws, id), (i) => i?.State?.Name === "running" || i?.State?.Name === "terminated");
        if (associatePublicIp === true && groups.length > 0 && (running?.SecurityGroups ?? []).length === 0) {
            // moto keeps groups given on a network interface off the instance's SecurityGroups (AWS shows them there).
            await aws.ec2.send(new ec2sdk.ModifyInstanceAttributeCommand({ InstanceId: id, Groups: groups }));
        }
        const outputs = await instanceOutputs(aws, id, inputs);
        if (!outputs) throw new Error(`fakeProvider: instance ${id} terminated right after launch`);
        return { id, outputs };
    },
    read: (aws, id, _state, inputs) => instanceOutputs(aws, id, inputs),
    async update(aws, id, { olds, news, changed }) {
        const rest = new Set(changed);
        if (rest.delete("tags")) await aws.ec2Tags(id, aws.tagsAll(tagsOf(olds["tags"])), aws.tagsAll(tagsOf(news["tags"])));
        if (rest.delete("vpcSecurityGroupIds")) {
            await aws.ec2.send(new ec2sdk.ModifyInstanceAttributeCommand({ InstanceId: id, Groups: (news["vpcSecurityGroupIds"] ?? []) as string[] }));
        }
        if (rest.delete("metadataOptions")) {
            const m = obj(news, "metadataOptions");
            await aws.ec2.send(
                new ec2sdk.ModifyInstanceMetadataOptionsCommand({
                    InstanceId: id,
                    HttpEndpoint: str(m, "httpEndpoint") as ec2sdk.InstanceMetadataEndpointState | undefined,
                    HttpTokens: str(m, "httpTokens") as ec2sdk.HttpTokensState | undefined,
                    HttpPutResponseHopLimit: num(m, "httpPutResponseHopLimit"),
                    InstanceMetadataTags: str(m, "instanceMetadataTags") as ec2sdk.InstanceMetadataTagsState | undefined,
                }),
            );
        }
        if (rest.delete("iamInstanceProfile")) {
            const profile = str(news, "iamInstanceProfile");
            const assoc = (await aws.ec2.send(new ec2sdk.DescribeIamInstanceProfileAssociationsCommand({ Filters: [{ Name: "instance-id", Values: [id] }] })))
                .IamInstanceProfileAssociations?.find((a) => a.State === "associated" || a.State === "associating");
            const spec = profile ? (profile.startsWith("arn:") ? { Arn: profile } : { Name: profile }) : undefined;
            if (assoc?.AssociationId && spec) await aws.ec2.send(new ec2sdk.ReplaceIamInstanceProfileAssociationCommand({ AssociationId: assoc.AssociationId, IamInstanceProfile: spec }));
            else if (assoc?.AssociationId) await aws.ec2.send(new ec2sdk.DisassociateIamInstanceProfileCommand({ AssociationId: assoc.AssociationId }));
            else if (spec) await aws.ec2.send(new ec2sdk.AssociateIamInstanceProfileCommand({ InstanceId: id, IamInstanceProfile: spec }));
        }
        if (rest.delete("instanceInitiatedShutdownBehavior")) {
            await aws.ec2.send(new ec2sdk.ModifyInstanceAttributeCommand({ InstanceId: id, InstanceInitiatedShutdownBehavior: { Value: str(news, "instanceInitiatedShutdownBehavior") ?? "stop" } }));
        }
        if (rest.delete("rootBlockDevice")) {
            const before = obj(olds, "rootBlockDevice");
            const after = obj(news, "rootBlockDevice");
            const volumeId = str(before, "volumeId");
            const changedMembers = ["volumeSize", "volumeType", "iops", "throughput"].filter((k) => after[k] !== undefined && after[k] !== before[k]);
            if (volumeId && changedMembers.length > 0) {
                await aws.ec2.send(
                    new ec2sdk.ModifyVolumeCommand({
                        VolumeId: volumeId,
                        Size: changedMembers.includes("volumeSize") ? num(after, "volumeSize") : undefined,
                        VolumeType: changedMembers.includes("volumeType") ? (str(after, "volumeType") as ec2sdk.VolumeType) : undefined,
                        Iops: changedMembers.includes("iops") ? num(after, "iops") : undefined,
                        Throughput: changedMembers.includes("throughput") ? num(after, "throughput") : undefined,
                    }),
                );
            }
            const deleteOnTermination = bool(after, "deleteOnTermination");
            if (deleteOnTermination !== undefined && deleteOnTermination !== bool(before, "deleteOnTermination")) {
                await aws.ec2.send(
                    new ec2sdk.ModifyInstanceAttributeCommand({
                        InstanceId: id,
                        BlockDeviceMappings: [{ DeviceName: str(before, "deviceName"), Ebs: { DeleteOnTermination: deleteOnTermination } }],
                    }),
                );
            }
        }
        // Changes that need the instance stopped (as the real provider does: stop, modify, start).
        const typeChanged = rest.delete("instanceType");
        const userDataChanged = rest.delete("userData") || rest.delete("userDataBase64");
        if (typeChanged || userDataChanged) {
            await stopInstance(aws, id);
            if (typeChanged) await aws.ec2.send(new ec2sdk.ModifyInstanceAttributeCommand({ InstanceId: id, InstanceType: { Value: str(news, "instanceType") } }));
            if (userDataChanged) {
                await aws.ec2.send(
                    new ec2sdk.ModifyInstanceAttributeCommand({ InstanceId: id, UserData: { Value: new Uint8Array(Buffer.from(userDataBase64(news) ?? "", "base64")) } }),
                );
            }
            await startInstance(aws, id);
        }
        for (const k of RESOURCE_SPECS["aws:ec2/instance:Instance"]?.stateOnly ?? []) rest.delete(k);
        if (rest.size > 0) unsupportedUpdate("aws:ec2/instance:Instance", [...rest]);
        const outputs = await instanceOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: instance ${id} is gone`);
        return outputs;
    },
    async delete(aws, id) {
        try {
            await aws.ec2.send(new ec2sdk.TerminateInstancesCommand({ InstanceIds: [id] }));
        } catch (err) {
            if (isNotFound(err, "InvalidInstanceID.NotFound")) return;
            throw err;
        }
        await waitFor(`instance ${id} to terminate`, () => describeInstance(aws, id), (i) => i === undefined || i.State?.Name === "terminated");
    },
};

function attachmentOf(volume: ec2sdk.Volume | undefined, instanceId: string, deviceName: string): ec2sdk.VolumeAttachment | undefined {
    return volume?.Attachments?.find((a) => a.InstanceId === instanceId && a.Device === deviceName && a.State !== "detached");
}

const volumeAttachment: Handler = {
    async create(aws, { inputs }) {
        const deviceName = str(inputs, "deviceName") as string;
        const instanceId = str(inputs, "instanceId") as string;
        const volumeId = str(inputs, "volumeId") as string;
        const volume = await describeVolume(aws, volumeId);
        const busy = volume?.Attachments?.find((a) => a.State === "attached" || a.State === "attaching");
        if (busy && !volume?.MultiAttachEnabled) {
            throw new AwsError("VolumeInUse", `${volumeId} is already attached to an instance (${busy.InstanceId}) (enforced by the test plugin; moto does not)`, 400);
        }
        await aws.ec2.send(new ec2sdk.AttachVolumeCommand({ Device: deviceName, InstanceId: instanceId, VolumeId: volumeId }));
        await waitFor(`volume ${volumeId} to attach`, () => describeVolume(aws, volumeId), (v) => attachmentOf(v, instanceId, deviceName)?.State === "attached");
        return { id: volumeAttachmentId(deviceName, instanceId, volumeId), outputs: { ...inputs, deviceName, instanceId, volumeId, region: aws.region } };
    },
    async read(aws, _id, state, inputs) {
        const deviceName = str(state, "deviceName") ?? str(inputs, "deviceName") ?? "";
        const instanceId = str(state, "instanceId") ?? str(inputs, "instanceId") ?? "";
        const volumeId = str(state, "volumeId") ?? str(inputs, "volumeId") ?? "";
        const attachment = attachmentOf(await describeVolume(aws, volumeId), instanceId, deviceName);
        return attachment ? { ...state, ...inputs, deviceName, instanceId, volumeId } : undefined;
    },
    async update(aws, _id, { olds, news, changed }) {
        const rest = new Set(changed);
        for (const k of RESOURCE_SPECS["aws:ec2/volumeAttachment:VolumeAttachment"]?.stateOnly ?? []) rest.delete(k);
        if (rest.size > 0) unsupportedUpdate("aws:ec2/volumeAttachment:VolumeAttachment", [...rest]);
        return { ...olds, ...news, region: aws.region };
    },
    async delete(aws, _id, state) {
        if (bool(state, "skipDestroy")) return;
        const deviceName = str(state, "deviceName") ?? "";
        const instanceId = str(state, "instanceId") ?? "";
        const volumeId = str(state, "volumeId") ?? "";
        if (!attachmentOf(await describeVolume(aws, volumeId), instanceId, deviceName)) return;
        if (bool(state, "stopInstanceBeforeDetaching")) {
            const instance = await describeInstance(aws, instanceId);
            if (instance && instance.State?.Name !== "stopped" && instance.State?.Name !== "terminated") await stopInstance(aws, instanceId);
        }
        try {
            await aws.ec2.send(new ec2sdk.DetachVolumeCommand({ Device: deviceName, InstanceId: instanceId, VolumeId: volumeId, Force: bool(state, "forceDetach") }));
        } catch (err) {
            if (isNotFound(err, "InvalidVolume.NotFound", "InvalidAttachment.NotFound", "IncorrectState")) return;
            throw err;
        }
        await waitFor(`volume ${volumeId} to detach`, () => describeVolume(aws, volumeId), (v) => !attachmentOf(v, instanceId, deviceName));
    },
};

/** An aws_ec2_tag's id, `<resource id>,<key>` (tftags.SetResourceID), back into its parts. */
export function ec2TagIdParts(id: string): { resourceId: string; key: string } {
    const comma = id.indexOf(",");
    if (comma <= 0) throw new Error(`fakeProvider: ${JSON.stringify(id)} is not an EC2 tag id (<resource id>,<key>)`);
    return { resourceId: id.slice(0, comma), key: id.slice(comma + 1) };
}

async function ec2TagValue(aws: Aws, resourceId: string, key: string): Promise<string | undefined> {
    const out = await aws.ec2.send(new ec2sdk.DescribeTagsCommand({ Filters: [{ Name: "resource-id", Values: [resourceId] }, { Name: "key", Values: [key] }] }));
    return out.Tags?.find((t) => t.ResourceId === resourceId && t.Key === key)?.Value;
}

/** One tag on an EC2 resource owned by its own resource (aws.ec2.Tag), beside the resource's own tags. */
const ec2Tag: Handler = {
    async create(aws, { inputs }) {
        const resourceId = str(inputs, "resourceId") as string;
        const key = str(inputs, "key") as string;
        const value = typeof inputs["value"] === "string" ? inputs["value"] : "";
        await aws.ec2.send(new ec2sdk.CreateTagsCommand({ Resources: [resourceId], Tags: [{ Key: key, Value: value }] }));
        return { id: `${resourceId},${key}`, outputs: { ...inputs, resourceId, key, value, region: aws.region } };
    },
    async read(aws, id, state, inputs) {
        const { resourceId, key } = ec2TagIdParts(id);
        let value: string | undefined;
        try {
            value = await ec2TagValue(aws, resourceId, key);
        } catch (err) {
            if (isNotFound(err, "InvalidInstanceID.NotFound", "InvalidID")) return undefined;
            throw err;
        }
        return value === undefined ? undefined : { ...inputs, ...state, resourceId, key, value, region: aws.region };
    },
    async update(aws, id, { news, changed }) {
        const { resourceId, key } = ec2TagIdParts(id);
        const rest = new Set(changed);
        if (rest.delete("value")) {
            await aws.ec2.send(new ec2sdk.CreateTagsCommand({ Resources: [resourceId], Tags: [{ Key: key, Value: String(news["value"] ?? "") }] }));
        }
        if (rest.size > 0) unsupportedUpdate("aws:ec2/tag:Tag", [...rest]);
        return { ...news, resourceId, key, region: aws.region };
    },
    async delete(aws, id) {
        const { resourceId, key } = ec2TagIdParts(id);
        try {
            await aws.ec2.send(new ec2sdk.DeleteTagsCommand({ Resources: [resourceId], Tags: [{ Key: key }] }));
        } catch (err) {
            if (!isNotFound(err, "InvalidInstanceID.NotFound", "InvalidID")) throw err;
        }
    },
};

async function describeGroup(aws: Aws, groupId: string): Promise<ec2sdk.SecurityGroup | undefined> {
    try {
        return (await aws.ec2.send(new ec2sdk.DescribeSecurityGroupsCommand({ GroupIds: [groupId] }))).SecurityGroups?.[0];
    } catch (err) {
        if (isNotFound(err, "InvalidGroup.NotFound")) return undefined;
        throw err;
    }
}

/** The bridged provider's flattened form of one IpPermission (ingress/egress blocks). */
function flattenPermission(p: ec2sdk.IpPermission): Props {
    return {
        protocol: p.IpProtocol ?? "-1",
        fromPort: p.FromPort ?? 0,
        toPort: p.ToPort ?? 0,
        cidrBlocks: (p.IpRanges ?? []).map((r) => r.CidrIp ?? ""),
        ipv6CidrBlocks: (p.Ipv6Ranges ?? []).map((r) => r.CidrIpv6 ?? ""),
        prefixListIds: (p.PrefixListIds ?? []).map((r) => r.PrefixListId ?? ""),
        securityGroups: (p.UserIdGroupPairs ?? []).map((r) => r.GroupId ?? ""),
        self: false,
        description: p.IpRanges?.[0]?.Description ?? p.UserIdGroupPairs?.[0]?.Description ?? "",
    };
}

async function groupOutputs(aws: Aws, groupId: string, inputs: Props): Promise<Props | undefined> {
    const g = await describeGroup(aws, groupId);
    if (!g) return undefined;
    const all = fromAwsTags(g.Tags);
    const own = tagsOf(inputs["tags"]);
    return {
        ...inputs,
        arn: g.SecurityGroupArn ?? (await aws.arn("ec2", `security-group/${groupId}`)),
        name: g.GroupName ?? "",
        namePrefix: str(inputs, "namePrefix") ?? "",
        description: g.Description ?? "",
        vpcId: g.VpcId ?? "",
        ownerId: g.OwnerId ?? "",
        revokeRulesOnDelete: bool(inputs, "revokeRulesOnDelete") ?? false,
        ingress: (g.IpPermissions ?? []).map(flattenPermission),
        egress: (g.IpPermissionsEgress ?? []).map(flattenPermission),
        tags: Object.fromEntries(Object.entries(all).filter(([k]) => k in own || !(k in aws.defaultTags))),
        tagsAll: all,
        region: aws.region,
    };
}

const securityGroup: Handler = {
    async create(aws, { inputs, progress }) {
        for (const inline of ["ingress", "egress"]) {
            if (Array.isArray(inputs[inline]) && (inputs[inline] as unknown[]).length > 0) {
                throw new Error(`fakeProvider: inline ${inline} rules of aws:ec2/securityGroup:SecurityGroup are not implemented by the test plugin`);
            }
        }
        const name = str(inputs, "name") ?? prefixedUniqueId(str(inputs, "namePrefix") ?? "terraform-");
        const created = await aws.ec2.send(
            new ec2sdk.CreateSecurityGroupCommand({
                GroupName: name,
                Description: str(inputs, "description") ?? "Managed by Pulumi",
                VpcId: str(inputs, "vpcId"),
                TagSpecifications: tagSpec("security-group", aws.tagsAll(tagsOf(inputs["tags"]))),
            }),
        );
        const id = created.GroupId;
        if (!id) throw new Error("fakeProvider: CreateSecurityGroup answered no GroupId");
        progress(id, { ...inputs, name, arn: created.SecurityGroupArn ?? "" });
        // Like the real provider: AWS's default allow-all egress rule is removed; egress is only what is declared.
        const group = await describeGroup(aws, id);
        const defaultEgress = (group?.IpPermissionsEgress ?? []).filter(
            (p) => p.IpProtocol === "-1" && (p.IpRanges ?? []).some((r) => r.CidrIp === "0.0.0.0/0"),
        );
        if (defaultEgress.length > 0) {
            await aws.ec2.send(new ec2sdk.RevokeSecurityGroupEgressCommand({ GroupId: id, IpPermissions: [{ IpProtocol: "-1", IpRanges: [{ CidrIp: "0.0.0.0/0" }] }] }));
        }
        const outputs = await groupOutputs(aws, id, inputs);
        if (!outputs) throw new Error(`fakeProvider: security group ${id} vanished right after creation`);
        return { id, outputs };
    },
    read: (aws, id, _state, inputs) => groupOutputs(aws, id, inputs),
    async update(aws, id, { olds, news, changed }) {
        const rest = new Set(changed);
        if (rest.delete("tags")) await aws.ec2Tags(id, aws.tagsAll(tagsOf(olds["tags"])), aws.tagsAll(tagsOf(news["tags"])));
        for (const k of RESOURCE_SPECS["aws:ec2/securityGroup:SecurityGroup"]?.stateOnly ?? []) rest.delete(k);
        if (rest.size > 0) unsupportedUpdate("aws:ec2/securityGroup:SecurityGroup", [...rest]);
        const outputs = await groupOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: security group ${id} is gone`);
        return outputs;
    },
    async delete(aws, id, state) {
        const group = await describeGroup(aws, id);
        if (!group) return;
        if (bool(state, "revokeRulesOnDelete")) {
            // As the real provider: the group's own rules go first, even if the delete then fails.
            const rules = (await aws.ec2.send(new ec2sdk.DescribeSecurityGroupRulesCommand({ Filters: [{ Name: "group-id", Values: [id] }] }))).SecurityGroupRules ?? [];
            const ids = (egress: boolean): string[] => rules.filter((r) => r.IsEgress === egress && r.SecurityGroupRuleId).map((r) => r.SecurityGroupRuleId as string);
            if (ids(false).length > 0) await aws.ec2.send(new ec2sdk.RevokeSecurityGroupIngressCommand({ GroupId: id, SecurityGroupRuleIds: ids(false) }));
            if (ids(true).length > 0) await aws.ec2.send(new ec2sdk.RevokeSecurityGroupEgressCommand({ GroupId: id, SecurityGroupRuleIds: ids(true) }));
        }
        // AWS refuses while a network interface uses the group or another group's rule references it; moto does not.
        // An instance's interface is judged by the instance's SecurityGroups (moto's network interfaces keep the
        // groups ModifyInstanceAttribute replaced); interfaces of no instance by their own groups.
        const inUse: string[] = [];
        const instances = await listAll(async (NextToken) => {
            const page = await aws.ec2.send(new ec2sdk.DescribeInstancesCommand({ NextToken }));
            return { items: (page.Reservations ?? []).flatMap((r) => r.Instances ?? []), marker: page.NextToken };
        });
        for (const instance of instances) {
            if (instance.State?.Name === "terminated" || (instance.VpcId && instance.VpcId !== group.VpcId)) continue;
            // SecurityGroups only: moto's NetworkInterfaces[].Groups keeps the groups ModifyInstanceAttribute replaced.
            if ((instance.SecurityGroups ?? []).some((g) => g.GroupId === id)) {
                inUse.push(`network interface ${instance.NetworkInterfaces?.[0]?.NetworkInterfaceId ?? "?"} of instance ${instance.InstanceId}`);
            }
        }
        const enis = (await aws.ec2.send(new ec2sdk.DescribeNetworkInterfacesCommand({ Filters: [{ Name: "group-id", Values: [id] }] }))).NetworkInterfaces ?? [];
        for (const eni of enis) if (!eni.Attachment?.InstanceId) inUse.push(`network interface ${eni.NetworkInterfaceId ?? "?"}`);
        const others = (await aws.ec2.send(new ec2sdk.DescribeSecurityGroupsCommand({ Filters: [{ Name: "vpc-id", Values: [group.VpcId ?? ""] }] }))).SecurityGroups ?? [];
        const referencing = others
            .filter((g) => g.GroupId !== id)
            .filter((g) => [...(g.IpPermissions ?? []), ...(g.IpPermissionsEgress ?? [])].some((p) => (p.UserIdGroupPairs ?? []).some((pair) => pair.GroupId === id)))
            .map((g) => g.GroupId ?? "?");
        if (inUse.length > 0 || referencing.length > 0) {
            const what = [...inUse, ...referencing.map((g) => `a rule of ${g}`)].join(", ");
            throw new AwsError("DependencyViolation", `resource ${id} has a dependent object (${what}) (enforced by the test plugin; moto does not)`, 400);
        }
        try {
            await aws.ec2.send(new ec2sdk.DeleteSecurityGroupCommand({ GroupId: id }));
        } catch (err) {
            if (!isNotFound(err, "InvalidGroup.NotFound")) throw err;
        }
    },
};

/** The IpPermission of a vpc.SecurityGroup{Ingress,Egress}Rule. */
export function rulePermission(inputs: Props): ec2sdk.IpPermission {
    const protocol = str(inputs, "ipProtocol") ?? "-1";
    const allProtocols = protocol === "-1" || protocol === "all";
    const description = str(inputs, "description");
    const cidrIpv4 = str(inputs, "cidrIpv4");
    const cidrIpv6 = str(inputs, "cidrIpv6");
    const prefixListId = str(inputs, "prefixListId");
    const group = str(inputs, "referencedSecurityGroupId");
    return {
        IpProtocol: allProtocols ? "-1" : protocol,
        FromPort: allProtocols ? undefined : num(inputs, "fromPort"),
        ToPort: allProtocols ? undefined : num(inputs, "toPort"),
        IpRanges: cidrIpv4 ? [{ CidrIp: cidrIpv4, Description: description }] : undefined,
        Ipv6Ranges: cidrIpv6 ? [{ CidrIpv6: cidrIpv6, Description: description }] : undefined,
        PrefixListIds: prefixListId ? [{ PrefixListId: prefixListId, Description: description }] : undefined,
        UserIdGroupPairs: group ? [{ GroupId: group, Description: description }] : undefined,
    };
}

async function describeRule(aws: Aws, ruleId: string): Promise<ec2sdk.SecurityGroupRule | undefined> {
    try {
        return (await aws.ec2.send(new ec2sdk.DescribeSecurityGroupRulesCommand({ SecurityGroupRuleIds: [ruleId] }))).SecurityGroupRules?.[0];
    } catch (err) {
        if (isNotFound(err, "InvalidSecurityGroupRuleId.NotFound", "InvalidGroup.NotFound")) return undefined;
        throw err;
    }
}

function securityGroupRule(direction: "ingress" | "egress"): Handler {
    const type = direction === "ingress" ? "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" : "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule";
    const outputs = async (aws: Aws, ruleId: string, inputs: Props): Promise<Props | undefined> => {
        const r = await describeRule(aws, ruleId);
        if (!r || r.IsEgress !== (direction === "egress")) return undefined;
        const all = fromAwsTags(r.Tags);
        const own = tagsOf(inputs["tags"]);
        const allProtocols = r.IpProtocol === "-1";
        const out: Props = {
            ...inputs,
            arn: await aws.arn("ec2", `security-group-rule/${ruleId}`),
            securityGroupRuleId: ruleId,
            securityGroupId: r.GroupId ?? "",
            ipProtocol: r.IpProtocol ?? "-1",
            fromPort: allProtocols ? undefined : r.FromPort,
            toPort: allProtocols ? undefined : r.ToPort,
            cidrIpv4: r.CidrIpv4,
            cidrIpv6: r.CidrIpv6,
            prefixListId: r.PrefixListId,
            referencedSecurityGroupId: r.ReferencedGroupInfo?.GroupId,
            description: r.Description,
            tags: Object.fromEntries(Object.entries(all).filter(([k]) => k in own || !(k in aws.defaultTags))),
            tagsAll: all,
            region: aws.region,
        };
        // Absent members stay absent (never `undefined` on the wire).
        for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
        // The program's "all" spelling is AWS's "-1".
        if (inputs["ipProtocol"] === "all" && out["ipProtocol"] === "-1") out["ipProtocol"] = "all";
        return out;
    };
    return {
        async create(aws, { inputs }) {
            const groupId = str(inputs, "securityGroupId") as string;
            const tags = aws.tagsAll(tagsOf(inputs["tags"]));
            const command =
                direction === "ingress"
                    ? new ec2sdk.AuthorizeSecurityGroupIngressCommand({ GroupId: groupId, IpPermissions: [rulePermission(inputs)], TagSpecifications: tagSpec("security-group-rule", tags) })
                    : new ec2sdk.AuthorizeSecurityGroupEgressCommand({ GroupId: groupId, IpPermissions: [rulePermission(inputs)], TagSpecifications: tagSpec("security-group-rule", tags) });
            const answer = (await aws.ec2.send(command as ec2sdk.AuthorizeSecurityGroupIngressCommand)) as { SecurityGroupRules?: ec2sdk.SecurityGroupRule[] };
            const id = answer.SecurityGroupRules?.[0]?.SecurityGroupRuleId;
            if (!id) throw new Error(`fakeProvider: Authorize${direction === "ingress" ? "Ingress" : "Egress"} answered no SecurityGroupRuleId`);
            const out = await outputs(aws, id, inputs);
            if (!out) throw new Error(`fakeProvider: security group rule ${id} vanished right after creation`);
            return { id, outputs: out };
        },
        read: (aws, id, _state, inputs) => outputs(aws, id, inputs),
        async update(aws, id, { olds, news, changed }) {
            const rest = new Set(changed);
            const ruleKeys = ["ipProtocol", "fromPort", "toPort", "cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId", "description"];
            if (ruleKeys.some((k) => rest.has(k))) {
                const p = rulePermission(news);
                await aws.ec2.send(
                    new ec2sdk.ModifySecurityGroupRulesCommand({
                        GroupId: str(olds, "securityGroupId"),
                        SecurityGroupRules: [
                            {
                                SecurityGroupRuleId: id,
                                SecurityGroupRule: {
                                    IpProtocol: p.IpProtocol,
                                    FromPort: p.FromPort ?? -1,
                                    ToPort: p.ToPort ?? -1,
                                    CidrIpv4: str(news, "cidrIpv4"),
                                    CidrIpv6: str(news, "cidrIpv6"),
                                    PrefixListId: str(news, "prefixListId"),
                                    ReferencedGroupId: str(news, "referencedSecurityGroupId"),
                                    Description: str(news, "description"),
                                },
                            },
                        ],
                    }),
                );
                for (const k of ruleKeys) rest.delete(k);
            }
            if (rest.delete("tags")) await aws.ec2Tags(id, aws.tagsAll(tagsOf(olds["tags"])), aws.tagsAll(tagsOf(news["tags"])));
            if (rest.size > 0) unsupportedUpdate(type, [...rest]);
            const out = await outputs(aws, id, news);
            if (!out) throw new Error(`fakeProvider: security group rule ${id} is gone`);
            return out;
        },
        async delete(aws, id, state) {
            const groupId = str(state, "securityGroupId");
            try {
                if (direction === "ingress") await aws.ec2.send(new ec2sdk.RevokeSecurityGroupIngressCommand({ GroupId: groupId, SecurityGroupRuleIds: [id] }));
                else await aws.ec2.send(new ec2sdk.RevokeSecurityGroupEgressCommand({ GroupId: groupId, SecurityGroupRuleIds: [id] }));
            } catch (err) {
                if (!isNotFound(err, "InvalidSecurityGroupRuleId.NotFound", "InvalidGroup.NotFound", "InvalidPermission.NotFound")) throw err;
            }
        },
    };
}

export const HANDLERS: Readonly<Record<string, Handler>> = {
    "aws:kms/key:Key": kmsKey,
    "aws:kms/alias:Alias": kmsAlias,
    "aws:s3/bucket:Bucket": s3Bucket,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ownershipControls,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": publicAccessBlock,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": encryptionConfiguration,
    "aws:s3/bucketPolicy:BucketPolicy": bucketPolicy,
    "aws:iam/role:Role": iamRole,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": rolePolicyAttachment,
    "aws:iam/instanceProfile:InstanceProfile": instanceProfile,
    "aws:ebs/volume:Volume": ebsVolume,
    "aws:ec2/instance:Instance": ec2Instance,
    "aws:ec2/volumeAttachment:VolumeAttachment": volumeAttachment,
    "aws:ec2/tag:Tag": ec2Tag,
    "aws:ec2/securityGroup:SecurityGroup": securityGroup,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": securityGroupRule("ingress"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": securityGroupRule("egress"),
};

// ---------------------------------------------------------------------------------------------
// Invokes
// ---------------------------------------------------------------------------------------------

type Invoke = (aws: Aws, args: Props) => Promise<Props>;

export const INVOKES: Readonly<Record<string, Invoke>> = {
    "aws:index/getPartition:getPartition": async (aws) => {
        const p = aws.partition;
        return { id: p.partition, partition: p.partition, dnsSuffix: p.dnsSuffix, reverseDnsPrefix: p.reverseDnsPrefix };
    },
    "aws:index/getCallerIdentity:getCallerIdentity": async (aws) => {
        const me = await aws.sts.send(new stssdk.GetCallerIdentityCommand({}));
        // moto answers arn:aws:sts::<account>:user/<name> for a user; STS answers the IAM ARN.
        return { id: me.Account ?? "", accountId: me.Account ?? "", arn: callerIamArn(me.Arn ?? ""), userId: me.UserId ?? "" };
    },
    "aws:index/getRegion:getRegion": async (aws, args) => {
        const name = str(args, "name") ?? str(args, "region") ?? aws.region;
        return { id: name, name, region: name, endpoint: `ec2.${name}.${partitionOf(name).dnsSuffix}`, description: name };
    },
    "aws:ec2/getSubnet:getSubnet": async (aws, args) => {
        const filters: ec2sdk.Filter[] = [];
        for (const f of (Array.isArray(args["filters"]) ? args["filters"] : []) as Props[]) {
            filters.push({ Name: str(f, "name"), Values: (f["values"] ?? []) as string[] });
        }
        const simple: Array<[string, string]> = [
            ["vpcId", "vpc-id"],
            ["availabilityZone", "availability-zone"],
            ["availabilityZoneId", "availability-zone-id"],
            ["cidrBlock", "cidr-block"],
            ["state", "state"],
        ];
        for (const [k, name] of simple) {
            const v = str(args, k);
            if (v) filters.push({ Name: name, Values: [v] });
        }
        const defaultForAz = bool(args, "defaultForAz");
        if (defaultForAz !== undefined) filters.push({ Name: "default-for-az", Values: [String(defaultForAz)] });
        for (const [k, v] of Object.entries(tagsOf(args["tags"]))) filters.push({ Name: `tag:${k}`, Values: [v] });
        const id = str(args, "id");
        let subnets: ec2sdk.Subnet[];
        try {
            subnets = (await aws.ec2.send(new ec2sdk.DescribeSubnetsCommand({ SubnetIds: id ? [id] : undefined, Filters: filters.length > 0 ? filters : undefined }))).Subnets ?? [];
        } catch (err) {
            if (isNotFound(err, "InvalidSubnetID.NotFound")) subnets = [];
            else throw err;
        }
        if (subnets.length === 0) throw new Error(`reading EC2 Subnet: empty result${id ? ` (${id})` : ""}: no matching EC2 Subnet found`);
        if (subnets.length > 1) throw new Error(`reading EC2 Subnet: ${subnets.length} EC2 Subnets matched; use additional constraints to reduce matches to a single EC2 Subnet`);
        const s = subnets[0] as ec2sdk.Subnet;
        return {
            ...args,
            id: s.SubnetId ?? "",
            arn: s.SubnetArn ?? (await aws.arn("ec2", `subnet/${s.SubnetId}`)),
            assignIpv6AddressOnCreation: s.AssignIpv6AddressOnCreation ?? false,
            availabilityZone: s.AvailabilityZone ?? "",
            availabilityZoneId: s.AvailabilityZoneId ?? "",
            availableIpAddressCount: s.AvailableIpAddressCount ?? 0,
            cidrBlock: s.CidrBlock ?? "",
            customerOwnedIpv4Pool: s.CustomerOwnedIpv4Pool ?? "",
            defaultForAz: s.DefaultForAz ?? false,
            enableDns64: s.EnableDns64 ?? false,
            enableLniAtDeviceIndex: s.EnableLniAtDeviceIndex ?? 0,
            enableResourceNameDnsARecordOnLaunch: s.PrivateDnsNameOptionsOnLaunch?.EnableResourceNameDnsARecord ?? false,
            enableResourceNameDnsAaaaRecordOnLaunch: s.PrivateDnsNameOptionsOnLaunch?.EnableResourceNameDnsAAAARecord ?? false,
            ipv6CidrBlock: s.Ipv6CidrBlockAssociationSet?.[0]?.Ipv6CidrBlock ?? "",
            ipv6CidrBlockAssociationId: s.Ipv6CidrBlockAssociationSet?.[0]?.AssociationId ?? "",
            ipv6Native: s.Ipv6Native ?? false,
            mapCustomerOwnedIpOnLaunch: s.MapCustomerOwnedIpOnLaunch ?? false,
            mapPublicIpOnLaunch: s.MapPublicIpOnLaunch ?? false,
            outpostArn: s.OutpostArn ?? "",
            ownerId: s.OwnerId ?? "",
            privateDnsHostnameTypeOnLaunch: s.PrivateDnsNameOptionsOnLaunch?.HostnameType ?? "ip-name",
            state: s.State ?? "",
            tags: fromAwsTags(s.Tags),
            vpcId: s.VpcId ?? "",
            region: aws.region,
        };
    },
    /**
     * moto's SSM first (moto carries the Amazon Linux `/aws/service/ami-amazon-linux-latest/...`
     * parameters, with AMIs moto's EC2 knows). AWS's other public AMI parameters (Debian, Ubuntu, ...)
     * that moto lacks are answered with a moto AMI of the architecture the parameter names.
     */
    "aws:ssm/getParameter:getParameter": async (aws, args) => {
        const name = str(args, "name");
        if (!name) throw new Error('reading SSM Parameter: the argument "name" is required');
        const withDecryption = bool(args, "withDecryption") ?? true;
        try {
            const p = ((await aws.ssm("GetParameter", { Name: name, WithDecryption: withDecryption }))["Parameter"] ?? {}) as Record<string, unknown>;
            const value = String(p["Value"] ?? "");
            const type = String(p["Type"] ?? "String");
            return {
                id: String(p["Name"] ?? name),
                arn: String(p["ARN"] ?? (await aws.arn("ssm", `parameter${name.startsWith("/") ? "" : "/"}${name}`))),
                name: String(p["Name"] ?? name),
                type,
                value,
                insecureValue: type === "SecureString" ? "" : value,
                version: Number(p["Version"] ?? 1),
                withDecryption,
            };
        } catch (err) {
            const arch = amiParameterArchitecture(name);
            if (errorCode(err) !== "ParameterNotFound" || arch === undefined) throw err;
            const image = await aws.standInImage(arch);
            const value = image.ImageId ?? "";
            return {
                id: name,
                arn: `arn:${aws.partition.partition}:ssm:${aws.region}::parameter${name}`,
                name,
                type: "String",
                value,
                insecureValue: value,
                version: 1,
                withDecryption,
            };
        }
    },
};

// ---------------------------------------------------------------------------------------------
// The gRPC service
// ---------------------------------------------------------------------------------------------

/** Region the provider runs in: its config, else the environment. */
export function regionFrom(config: Props, variables: Record<string, string>, env: NodeJS.ProcessEnv = process.env): string | undefined {
    const fromArgs = config["region"];
    if (typeof fromArgs === "string" && fromArgs !== "" && !isUnknown(fromArgs)) return fromArgs;
    const fromVariables = variables["aws:config:region"];
    if (fromVariables) return fromVariables;
    return env["AWS_REGION"] || env["AWS_DEFAULT_REGION"] || undefined;
}

/** Refuses any endpoint but a loopback one: this plugin must never reach real AWS. */
export function checkEndpoint(env: NodeJS.ProcessEnv = process.env): string | undefined {
    const endpoint = env["AWS_ENDPOINT_URL"];
    if (!endpoint) return "AWS_ENDPOINT_URL is not set; the test plugin only talks to the moto emulator on loopback";
    let host: string;
    try {
        host = new URL(endpoint).hostname;
    } catch {
        return `AWS_ENDPOINT_URL ${JSON.stringify(endpoint)} is not a URL`;
    }
    if (!["127.0.0.1", "localhost", "[::1]", "::1"].includes(host)) return `AWS_ENDPOINT_URL ${JSON.stringify(endpoint)} is not a loopback address; the test plugin only talks to moto`;
    for (const [k, v] of Object.entries(env)) {
        if (k.startsWith("AWS_ENDPOINT_URL_") && v) {
            try {
                if (!["127.0.0.1", "localhost", "[::1]", "::1"].includes(new URL(v).hostname)) return `${k} is not a loopback address`;
            } catch {
                return `${k} is not a URL`;
            }
        }
    }
    return undefined;
}

type UnaryCall<Req> = { request: Req };
type Callback<Res> = (err: unknown, res?: Res) => void;

function parseUrn(urn: string): { name: string; type: string } {
    const parts = urn.split("::");
    const name = parts[parts.length - 1] ?? "";
    const qualifiedType = parts[parts.length - 2] ?? "";
    return { name, type: qualifiedType.split("$").pop() ?? qualifiedType };
}

class PluginError extends Error {
    constructor(
        readonly code: number,
        message: string,
    ) {
        super(message);
    }
}

/** The partial-state error the engine understands: the resource exists although the operation failed. */
class InitFailed extends Error {
    constructor(
        message: string,
        readonly id: string,
        readonly properties: Props,
    ) {
        super(message);
    }
}

function grpcError(err: unknown): Error & { code: number; details: string; metadata?: InstanceType<Grpc["Metadata"]> } {
    const message = err instanceof PluginError ? err.message : errorMessage(err);
    const code = err instanceof PluginError ? err.code : grpc.status.UNKNOWN;
    const out = Object.assign(new Error(message), { code, details: message }) as Error & { code: number; details: string; metadata?: InstanceType<Grpc["Metadata"]> };
    if (err instanceof InitFailed) {
        const detail = new provproto.ErrorResourceInitFailed();
        detail.setId(err.id);
        detail.setProperties(toStruct(err.properties, "properties"));
        detail.setReasonsList([message]);
        const any = new anyproto.Any();
        any.pack(detail.serializeBinary(), "pulumirpc.ErrorResourceInitFailed");
        const status = new statusproto.Status();
        status.setCode(grpc.status.UNKNOWN);
        status.setMessage(message);
        status.addDetails(any);
        const metadata = new grpc.Metadata();
        metadata.add("grpc-status-details-bin", Buffer.from(status.serializeBinary()));
        out.metadata = metadata;
    }
    return out;
}

function logLine(line: string): void {
    const file = process.env["AIRLOCK_FAKE_PROVIDER_LOG"];
    if (!file) return;
    try {
        fs.appendFileSync(file, `${new Date().toISOString()} ${process.pid} ${line.replace(/\s+/g, " ")}\n`);
    } catch {
        // Logging is best effort.
    }
}

/** Builds the ResourceProvider service implementation of one plugin process. */
export function createService(kind: PluginKind): Record<string, (call: UnaryCall<never>, callback: Callback<unknown>) => void> {
    const version = pluginVersion(kind);
    if (version === undefined) throw new Error(`fakeProvider: @pulumi/${kind} is not installed; there is no ${kind} provider to stand in for`);
    let aws: Aws | undefined;
    let configureError: string | undefined;

    const requireAws = (): Aws => {
        if (configureError) throw new PluginError(grpc.status.FAILED_PRECONDITION, `fakeProvider(${kind}): ${configureError}`);
        if (!aws) throw new PluginError(grpc.status.FAILED_PRECONDITION, `fakeProvider(${kind}): not configured`);
        return aws;
    };
    const handlerOf = (type: string): { handler: Handler; spec: ResourceSpec } => {
        const handler = packageOf(type) === kind ? HANDLERS[type] : undefined;
        const spec = RESOURCE_SPECS[type];
        if (!handler || !spec) {
            throw new PluginError(grpc.status.INVALID_ARGUMENT, `fakeProvider(${kind}): resource type ${JSON.stringify(type)} is not served by this test plugin`);
        }
        return { handler, spec };
    };

    const unary =
        <Req, Res>(method: string, fn: (req: Req) => Promise<Res>, describe?: (req: Req) => string) =>
        (call: UnaryCall<Req>, callback: Callback<Res>): void => {
            const label = `${kind} ${method}${describe ? ` ${describe(call.request)}` : ""}`;
            fn(call.request).then(
                (res) => {
                    logLine(`${label} ok`);
                    callback(null, res);
                },
                (err: unknown) => {
                    logLine(`${label} error: ${err instanceof Error ? err.message : String(err)}`);
                    callback(grpcError(err));
                },
            );
        };
    const resourceLabel = (req: { getUrn(): string; getType?(): string }): string => {
        const { name, type } = parseUrn(req.getUrn());
        return `${req.getType?.() || type} ${name}`;
    };

    return {
        getPluginInfo: unary("GetPluginInfo", async () => new plugproto.PluginInfo().setVersion(version)),

        checkConfig: unary("CheckConfig", async (req: provproto.CheckRequest) => {
            const news = fromStruct(req.getNews());
            const res = new provproto.CheckResponse();
            res.setInputs(toStruct(news, "inputs"));
            if (kind === "aws") {
                const region = regionFrom(news, {}, process.env);
                if (!region && !isUnknown(news["region"])) {
                    const failure = new provproto.CheckFailure();
                    failure.setProperty("region");
                    failure.setReason("Missing required configuration: set aws:region (or AWS_REGION) for the provider");
                    res.setFailuresList([failure]);
                }
            }
            return res;
        }),

        diffConfig: unary("DiffConfig", async (req: provproto.DiffRequest) => {
            const olds = fromStruct(req.getOldInputs() ?? req.getOlds());
            const news = fromStruct(req.getNews());
            const changed = [...new Set([...Object.keys(olds), ...Object.keys(news)])].filter((k) => !deepEqual(olds[k], news[k])).sort();
            const res = new provproto.DiffResponse();
            res.setChanges(changed.length === 0 ? provproto.DiffResponse.DiffChanges.DIFF_NONE : provproto.DiffResponse.DiffChanges.DIFF_SOME);
            res.setDiffsList(changed);
            // A region change moves every resource: the real provider replaces them (the engine does, per resource).
            res.setReplacesList(changed.filter((k) => k === "region"));
            return res;
        }),

        configure: unary("Configure", async (req: provproto.ConfigureRequest) => {
            const args = fromStruct(req.getArgs());
            const variables: Record<string, string> = {};
            req.getVariablesMap().forEach((v: string, k: string) => {
                variables[k] = v;
            });
            if (kind === "aws") {
                configureError = checkEndpoint(process.env);
                const region = regionFrom(args, variables, process.env);
                if (!configureError && !region) configureError = "no region: set aws:region for the provider, or AWS_REGION";
                if (configureError) throw new PluginError(grpc.status.FAILED_PRECONDITION, `fakeProvider(aws): ${configureError}`);
                const defaultTags = tagsOf(isPlainObject(args["defaultTags"]) ? (args["defaultTags"] as Props)["tags"] : undefined);
                aws = new Aws(region as string, defaultTags);
            }
            const res = new provproto.ConfigureResponse();
            res.setAcceptsecrets(false);
            res.setSupportspreview(false);
            res.setAcceptresources(false);
            res.setAcceptoutputs(false);
            return res;
        }),

        check: unary(
            "Check",
            async (req: provproto.CheckRequest) => {
                const type = req.getType() || parseUrn(req.getUrn()).type;
                const { spec } = handlerOf(type);
                const { inputs, failures } = checkProperties(type, spec, {
                    name: req.getName() || parseUrn(req.getUrn()).name,
                    olds: fromStruct(req.getOlds()),
                    news: fromStruct(req.getNews()),
                    randomSeed: req.getRandomseed_asU8(),
                });
                const res = new provproto.CheckResponse();
                res.setInputs(toStruct(inputs, "inputs"));
                res.setFailuresList(
                    failures.map((f) => {
                        const failure = new provproto.CheckFailure();
                        failure.setProperty(f.property);
                        failure.setReason(f.reason);
                        return failure;
                    }),
                );
                return res;
            },
            resourceLabel,
        ),

        diff: unary(
            "Diff",
            async (req: provproto.DiffRequest) => {
                const type = req.getType() || parseUrn(req.getUrn()).type;
                const { spec } = handlerOf(type);
                const olds = fromStruct(req.getOlds());
                const { changed, replaces } = diffProperties(spec, {
                    olds,
                    oldInputs: req.hasOldInputs() ? fromStruct(req.getOldInputs()) : olds,
                    news: fromStruct(req.getNews()),
                    ignoreChanges: req.getIgnorechangesList(),
                });
                const res = new provproto.DiffResponse();
                res.setChanges(changed.length === 0 ? provproto.DiffResponse.DiffChanges.DIFF_NONE : provproto.DiffResponse.DiffChanges.DIFF_SOME);
                res.setDiffsList(changed);
                res.setReplacesList(replaces);
                res.setDeletebeforereplace(false);
                return res;
            },
            resourceLabel,
        ),

        create: unary(
            "Create",
            async (req: provproto.CreateRequest) => {
                const type = req.getType() || parseUrn(req.getUrn()).type;
                const { handler } = handlerOf(type);
                const inputs = fromStruct(req.getProperties());
                if (req.getPreview()) {
                    // Not reached (supportsPreview: false), but answer like the engine would.
                    return new provproto.CreateResponse().setId("").setProperties(toStruct(inputs, "properties"));
                }
                const context = kind === "aws" ? requireAws() : (undefined as unknown as Aws);
                let progress: { id: string; outputs: Props } | undefined;
                try {
                    const { id, outputs } = await handler.create(context, {
                        urn: req.getUrn(),
                        name: req.getName() || parseUrn(req.getUrn()).name,
                        inputs,
                        progress: (id, outputs) => {
                            progress = { id, outputs };
                        },
                    });
                    return new provproto.CreateResponse().setId(id).setProperties(toStruct(outputs, "properties"));
                } catch (err) {
                    if (progress) throw new InitFailed(`creating ${type} (${progress.id}): ${errorMessage(err)}`, progress.id, progress.outputs);
                    throw new Error(`creating ${type}: ${errorMessage(err)}`);
                }
            },
            resourceLabel,
        ),

        read: unary(
            "Read",
            async (req: provproto.ReadRequest) => {
                const type = req.getType() || parseUrn(req.getUrn()).type;
                const { handler } = handlerOf(type);
                const state = fromStruct(req.getProperties());
                const inputs = req.hasInputs() ? fromStruct(req.getInputs()) : state;
                const context = kind === "aws" ? requireAws() : (undefined as unknown as Aws);
                let outputs: Props | undefined;
                try {
                    outputs = await handler.read(context, req.getId(), state, inputs);
                } catch (err) {
                    throw new Error(`reading ${type} (${req.getId()}): ${errorMessage(err)}`);
                }
                const res = new provproto.ReadResponse();
                if (!outputs) return res.setId("");
                return res.setId(req.getId()).setProperties(toStruct(outputs, "properties"));
            },
            resourceLabel,
        ),

        update: unary(
            "Update",
            async (req: provproto.UpdateRequest) => {
                const type = req.getType() || parseUrn(req.getUrn()).type;
                const { handler, spec } = handlerOf(type);
                const olds = fromStruct(req.getOlds());
                const news = fromStruct(req.getNews());
                const oldInputs = req.hasOldInputs() ? fromStruct(req.getOldInputs()) : olds;
                if (req.getPreview()) return new provproto.UpdateResponse().setProperties(toStruct(news, "properties"));
                const { changed } = diffProperties(spec, { olds, oldInputs, news, ignoreChanges: req.getIgnorechangesList() });
                const context = kind === "aws" ? requireAws() : (undefined as unknown as Aws);
                try {
                    const outputs = await handler.update(context, req.getId(), { olds, news, oldInputs, changed: new Set(changed) });
                    return new provproto.UpdateResponse().setProperties(toStruct(outputs, "properties"));
                } catch (err) {
                    throw new Error(`updating ${type} (${req.getId()}): ${errorMessage(err)}`);
                }
            },
            resourceLabel,
        ),

        delete: unary(
            "Delete",
            async (req: provproto.DeleteRequest) => {
                const type = req.getType() || parseUrn(req.getUrn()).type;
                const { handler } = handlerOf(type);
                const context = kind === "aws" ? requireAws() : (undefined as unknown as Aws);
                try {
                    await handler.delete(context, req.getId(), fromStruct(req.getProperties()));
                } catch (err) {
                    throw new Error(`deleting ${type} (${req.getId()}): ${errorMessage(err)}`);
                }
                return new emptyproto.Empty();
            },
            resourceLabel,
        ),

        invoke: unary(
            "Invoke",
            async (req: provproto.InvokeRequest) => {
                const token = req.getTok();
                const invoke = packageOf(token) === kind ? INVOKES[token] : undefined;
                if (!invoke) throw new PluginError(grpc.status.INVALID_ARGUMENT, `fakeProvider(${kind}): invoke ${JSON.stringify(token)} is not served by this test plugin`);
                const result = await invoke(requireAws(), fromStruct(req.getArgs()));
                return new provproto.InvokeResponse().setReturn(toStruct(result, "return"));
            },
            (req) => req.getTok(),
        ),

        cancel: unary("Cancel", async () => new emptyproto.Empty()),
    };
}

/** Starts the plugin's gRPC server on 127.0.0.1:0 and resolves with its port. */
export async function serve(kind: PluginKind): Promise<{ port: number; server: InstanceType<Grpc["Server"]> }> {
    const { ResourceProviderService } = require("@pulumi/pulumi/proto/provider_grpc_pb") as { ResourceProviderService: import("@grpc/grpc-js").ServiceDefinition };
    const server = new grpc.Server({ "grpc.max_receive_message_length": 1024 * 1024 * 400, "grpc.max_send_message_length": 1024 * 1024 * 400 });
    server.addService(ResourceProviderService, createService(kind) as unknown as import("@grpc/grpc-js").UntypedServiceImplementation);
    const port = await new Promise<number>((resolve, reject) => {
        server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
    });
    return { port, server };
}

async function main(argv: readonly string[]): Promise<void> {
    const kind = argv[0];
    if (kind !== "aws" && kind !== "random") {
        process.stderr.write(`usage: fakeProvider.ts <aws|random> [engine address] (got ${JSON.stringify(kind)})\n`);
        process.exit(2);
    }
    const { port } = await serve(kind);
    // The plugin protocol: the port, alone, on the first stdout line.
    process.stdout.write(`${port}\n`);
}

if (require.main === module) {
    main(process.argv.slice(2)).catch((err: unknown) => {
        process.stderr.write(`fakeProvider: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
        process.exit(1);
    });
}
