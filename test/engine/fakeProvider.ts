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
 *    for Bucket.bucket (lowercased, <= 63), Role.name (<= 64), InstanceProfile.name (<= 128),
 *    SecurityGroup.name (<= 255) and the guardrail types' names (each within AWS's limit; see
 *    RESOURCE_SPECS), and reports missing required inputs as check failures.
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
 * AWS: EC2, IAM and STS go through the AWS SDK v3 clients in the project's dependencies. KMS, SSM,
 * Config, CloudTrail, CloudWatch Logs, EventBridge and Lambda are spoken directly (SigV4-signed
 * HTTP: REST-XML for S3, JSON 1.1 for KMS/SSM/Config/CloudTrail/Logs/EventBridge, REST-JSON for
 * Lambda) with the small client below (this plugin's S3 client predates @aws-sdk/client-s3 in
 * package.json). Every endpoint comes from
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
 * whose architecture does not match the instance type, bucket policies over 20 KB, deleting an IAM
 * policy still attached or a group with members or policies (DeleteConflict), a second Lambda
 * function of the same name or a permission statement id in use (ResourceConflictException), a
 * trail's missing KMS key or CloudWatch Logs group / role / log-stream wildcard, and deleting a
 * Config rule that has a remediation configuration (ResourceInUseException). moto itself enforces
 * DeleteConflict on DeleteRole (inline policies, attached policies, instance profiles),
 * BucketNotEmpty, 50 tags per EC2 resource, one Config recorder per region, a delivery channel
 * before recording (and none deleted while recording), AWS-managed Config rules' identifiers and
 * parameters, and an EventBridge rule with targets not deleted.
 *
 * Where moto implements no API at all, the plugin keeps the state itself, in files under
 * AIRLOCK_FAKE_STATE_DIR (FakeStore: the CLI starts a plugin process per command, so it must
 * outlive the process; test/engine/engine.ts sets it per workspace): Config remediation
 * configurations, a Lambda function's logging configuration and KMS key, and a log group's KMS key
 * set after its creation. Elsewhere it works around moto's quirks (each beside its handler):
 * CloudTrail calls that moto answers by trail name only, SSM's resolution of Intelligent-Tiering,
 * and moto's PutConfigRule dropping a rule's tags. moto loads AWS's own managed policies
 * (SecurityAudit, service-role/AWS_ConfigRole, ...) only with MOTO_IAM_LOAD_MANAGED_POLICIES=true:
 * without it, attaching one fails with NoSuchEntity where AWS would attach it.
 *
 * Lambda functions come from an archive (the engine's struct under the archive signature: an
 * AssetArchive of text/file assets and nested archives, or a directory); the plugin builds the zip
 * itself (zipArchive, deterministic) for moto's CreateFunction, which needs no Docker. Nothing is
 * ever invoked (that would need Docker).
 *
 * Behaviour of the real provider kept on purpose: a security group loses AWS's default allow-all
 * egress rule at creation and, with revokeRulesOnDelete, its own rules before the delete is tried
 * (even if the delete then fails); a role is removed from its instance profiles before DeleteRole
 * and, with forceDetachPolicies (or when its state lists policies), loses its managed and inline
 * policies first (terraform-provider-aws DeleteRole; its 2-minute DeleteConflict retry is not
 * copied); a KMS key is only scheduled for deletion (deletionWindowInDays); a VolumeAttachment with
 * stopInstanceBeforeDetaching stops the instance first; an instance whose AMI moto does not know is
 * launched from a moto AMI of the instance type's architecture while the state keeps the AMI as
 * given; a role's and a group's inline policies / rules read back on refresh are state only; an
 * IAM policy's new document is a new default version, the oldest non-default one deleted first when
 * IAM's 5 exist, and the non-default versions go before the policy; a user group membership adds
 * and removes only the groups it lists; a trail starts logging unless enableLogging is false.
 *
 * Invokes that find nothing fail in pulumi-aws 7.x's words (NOT_FOUND: "no matching IAM Policy
 * found", "reading SSM Parameter (<name>): couldn't find resource"), which name no AWS error code;
 * test/support/mocks.ts fails the same way.
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
    /** Replacement only when the inputs say so, e.g. Instance.userData with userDataReplaceOnChange (olds: the old state). */
    readonly replaceWhen?: (key: string, news: Props, olds: Props) => boolean;
    /** A provider's DiffSuppressFunc: no difference when it answers true for the new input and the old state. */
    readonly suppress?: Readonly<Record<string, (next: unknown, prevState: unknown) => boolean>>;
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
        if (next !== undefined && !containsUnknown(next) && spec.suppress?.[key]?.(next, prevState) === true) {
            differs = false;
        } else if (next === undefined) {
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
        if (spec.replaceWhen?.(key, news, olds)) return true;
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

/** The X-Amz-Target prefix of each service spoken in the JSON 1.1 protocol. */
const JSON_TARGETS = {
    kms: "TrentService",
    ssm: "AmazonSSM",
    config: "StarlingDoveService",
    cloudtrail: "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101",
    logs: "Logs_20140328",
    events: "AWSEvents",
} as const;
export type JsonService = keyof typeof JSON_TARGETS;

/** KMS, SSM, Config, CloudTrail, CloudWatch Logs, EventBridge: JSON 1.1 protocol. */
async function jsonCall(service: JsonService, region: string, action: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const target = `${JSON_TARGETS[service]}.${action}`;
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

/**
 * Lambda: REST-JSON. `path` is percent-encoded by the caller. Errors carry their code in the
 * X-Amzn-ErrorType header (moto: also `Type`/`__type` in the body).
 */
async function restJsonCall(service: "lambda", region: string, req: { method: string; path: string; query?: Record<string, string>; body?: unknown }): Promise<Record<string, unknown>> {
    const answer = await signedFetch(service, region, {
        method: req.method,
        path: req.path,
        query: req.query,
        headers: req.body === undefined ? {} : { "content-type": "application/json" },
        body: req.body === undefined ? undefined : JSON.stringify(toWire(req.body)),
    });
    let parsed: Record<string, unknown> = {};
    try {
        parsed = answer.body.trim() === "" ? {} : (JSON.parse(answer.body) as Record<string, unknown>);
    } catch {
        // Not JSON.
    }
    if (answer.status >= 300) {
        const header = answer.headers.get("x-amzn-errortype");
        const type = header ?? String(parsed["__type"] ?? parsed["code"] ?? (typeof parsed["Type"] === "string" && parsed["Type"] !== "User" ? parsed["Type"] : `HTTP${answer.status}`));
        const code = (type.includes("#") ? (type.split("#").pop() as string) : type).split(":")[0] as string;
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

    /** Config, CloudTrail, CloudWatch Logs, EventBridge (JSON 1.1). */
    json(service: Exclude<JsonService, "kms" | "ssm">, action: string, input: Record<string, unknown>): Promise<Record<string, unknown>> {
        return jsonCall(service, this.region, action, input);
    }

    /** Lambda (REST-JSON); `path` percent-encoded. */
    lambda(method: string, path: string, body?: unknown, query?: Record<string, string>): Promise<Record<string, unknown>> {
        return restJsonCall("lambda", this.region, { method, path, body, query });
    }

    /** What this plugin keeps itself where moto lacks an API (see FakeStore). */
    async store(): Promise<FakeStore> {
        return FakeStore.open(process.env, await this.accountId(), this.region);
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
    // Account guardrails. Autonamed names (the provider autonames every `name` it can) are trimmed to AWS's limits.
    "aws:iam/policy:Policy": {
        // aws_iam_policy: name, name_prefix, path and description force a new policy; a new document is a new version.
        replaceOnChange: ["name", "namePrefix", "path", "description"],
        required: ["policy"],
        exactMaps: ["tags"],
        stateOnly: ["delayAfterPolicyCreationInMs"],
        autoName: { property: "name", maxLength: 128, unlessSet: ["namePrefix"] },
    },
    "aws:iam/group:Group": {
        // aws_iam_group: a new name or path is an UpdateGroup.
        replaceOnChange: [],
        autoName: { property: "name", maxLength: 128 },
    },
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": {
        replaceOnChange: ["group", "policyArn"],
        required: ["group", "policyArn"],
    },
    "aws:iam/userGroupMembership:UserGroupMembership": {
        replaceOnChange: ["user"],
        required: ["user", "groups"],
        sets: ["groups"],
    },
    "aws:iam/rolePolicy:RolePolicy": {
        replaceOnChange: ["role", "name", "namePrefix"],
        required: ["role", "policy"],
        autoName: { property: "name", maxLength: 128, unlessSet: ["namePrefix"] },
    },
    "aws:cfg/recorder:Recorder": {
        replaceOnChange: ["name", "region"],
        required: ["roleArn"],
        autoName: { property: "name", maxLength: 256 },
    },
    "aws:cfg/deliveryChannel:DeliveryChannel": {
        replaceOnChange: ["name", "region"],
        required: ["s3BucketName"],
        autoName: { property: "name", maxLength: 256 },
    },
    "aws:cfg/recorderStatus:RecorderStatus": {
        replaceOnChange: ["name", "region"],
        required: ["isEnabled"],
        autoName: { property: "name", maxLength: 256 },
    },
    "aws:cfg/rule:Rule": {
        replaceOnChange: ["name", "region"],
        required: ["source"],
        exactMaps: ["tags"],
        autoName: { property: "name", maxLength: 128 },
    },
    "aws:cfg/remediationConfiguration:RemediationConfiguration": {
        replaceOnChange: ["configRuleName", "region"],
        required: ["configRuleName", "targetId", "targetType"],
    },
    "aws:cloudtrail/trail:Trail": {
        replaceOnChange: ["name", "region"],
        required: ["s3BucketName"],
        exactMaps: ["tags"],
        autoName: { property: "name", maxLength: 128 },
    },
    "aws:cloudwatch/logGroup:LogGroup": {
        replaceOnChange: ["name", "namePrefix", "logGroupClass", "region"],
        exactMaps: ["tags"],
        stateOnly: ["skipDestroy"],
        autoName: { property: "name", maxLength: 512, unlessSet: ["namePrefix"] },
    },
    "aws:lambda/function:Function": {
        replaceOnChange: ["name", "packageType", "region"],
        required: ["role"],
        exactlyOneOf: [["code", "imageUri", "s3Bucket"]],
        exactMaps: ["tags"],
        stateOnly: ["skipDestroy", "replaceSecurityGroupsOnDestroy", "replacementSecurityGroupIds", "useResourceTimeoutForPropagation"],
        autoName: { property: "name", maxLength: 64 },
    },
    "aws:lambda/permission:Permission": {
        // aws_lambda_permission: every argument forces a new statement.
        replaceOnChange: [
            "action",
            "eventSourceToken",
            "function",
            "functionUrlAuthType",
            "invokedViaFunctionUrl",
            "principal",
            "principalOrgId",
            "qualifier",
            "sourceAccount",
            "sourceArn",
            "statementId",
            "statementIdPrefix",
            "region",
        ],
        required: ["action", "function", "principal"],
    },
    "aws:cloudwatch/eventRule:EventRule": {
        replaceOnChange: ["name", "namePrefix", "eventBusName", "region"],
        exactMaps: ["tags"],
        stateOnly: ["forceDestroy"],
        autoName: { property: "name", maxLength: 64, unlessSet: ["namePrefix"] },
        validate: (news) =>
            news["isEnabled"] !== undefined && news["state"] !== undefined ? [{ property: "state", reason: 'Conflicting configuration arguments: "state" and "isEnabled" cannot both be set.' }] : [],
    },
    "aws:cloudwatch/eventTarget:EventTarget": {
        replaceOnChange: ["rule", "targetId", "eventBusName", "region"],
        required: ["rule", "arn"],
        stateOnly: ["forceDestroy"],
    },
    "aws:ssm/parameter:Parameter": {
        replaceOnChange: ["name", "dataType", "region"],
        // aws_ssm_parameter: SSM cannot take a parameter from the advanced tier back to the standard one: replaced.
        replaceWhen: (key, news, olds) => key === "tier" && olds["tier"] === "Advanced" && news["tier"] === "Standard",
        // aws_ssm_parameter's DiffSuppressFunc: asking for Intelligent-Tiering is no change from the tier SSM chose.
        suppress: { tier: (next, prevState) => next === "Intelligent-Tiering" && typeof prevState === "string" && prevState !== "" },
        required: ["type"],
        exactlyOneOf: [["value", "insecureValue", "valueWo"]],
        exactMaps: ["tags"],
        stateOnly: ["overwrite"],
        autoName: { property: "name", maxLength: 2048 },
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

// ---------------------------------------------------------------------------------------------
// State moto cannot keep, and Lambda's zip files
// ---------------------------------------------------------------------------------------------

/** The environment variable naming the directory where the plugin keeps what moto cannot. */
export const FAKE_STATE_DIR_ENV = "AIRLOCK_FAKE_STATE_DIR";

/**
 * What this plugin keeps itself where moto 5.2.1 implements no API (Config remediation
 * configurations; a Lambda function's logging configuration and KMS key; a log group's KMS key set
 * after creation): one JSON file per record under $AIRLOCK_FAKE_STATE_DIR/<account>/<region>/<kind>/,
 * so that it survives between plugin processes (the CLI starts a new plugin process per command).
 * The engine harness (test/engine/engine.ts) sets the directory per workspace; without it, a
 * resource that needs a record fails, naming the variable. A record carries what ties it to moto's
 * resource (e.g. the Config rule's id), so a record left behind for an earlier moto is not taken
 * for the current one's.
 */
export class FakeStore {
    private constructor(private readonly dir: string) {}

    static open(env: NodeJS.ProcessEnv, account: string, region: string): FakeStore {
        const root = env[FAKE_STATE_DIR_ENV];
        if (!root) {
            throw new Error(`fakeProvider: ${FAKE_STATE_DIR_ENV} is not set; the test plugin keeps what moto does not implement in that directory (test/engine/engine.ts sets it per workspace)`);
        }
        if (!path.isAbsolute(root)) throw new Error(`fakeProvider: ${FAKE_STATE_DIR_ENV} must be an absolute path`);
        return new FakeStore(path.join(root, account, region));
    }

    private file(kind: string, key: string): string {
        return path.join(this.dir, kind, `${crypto.createHash("sha256").update(key).digest("hex").slice(0, 40)}.json`);
    }

    get<T>(kind: string, key: string): T | undefined {
        let text: string;
        try {
            text = fs.readFileSync(this.file(kind, key), "utf8");
        } catch (err) {
            if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
            throw err;
        }
        const record = JSON.parse(text) as { key: string; value: T };
        return record.key === key ? record.value : undefined;
    }

    put<T>(kind: string, key: string, value: T): void {
        const file = this.file(kind, key);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const temporary = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(temporary, JSON.stringify({ key, value }));
        fs.renameSync(temporary, file);
    }

    delete(kind: string, key: string): void {
        fs.rmSync(this.file(kind, key), { force: true });
    }
}

/** Pulumi's asset and archive signatures (sdk/go/common/resource/asset.go, archive.go), under SIG_KEY. */
export const ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17";
export const ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7";

export interface ZipEntry {
    readonly name: string;
    readonly data: Uint8Array;
}

/**
 * A zip file (PKWARE APPNOTE: local file headers, deflated or stored data, central directory, end
 * record; no zip64) with fixed timestamps (1980-01-01 00:00) and regular-file mode 0644, entries in
 * the given order: the same files always give the same bytes, so Lambda's CodeSha256 is stable.
 */
export function zipArchive(entries: readonly ZipEntry[]): Buffer {
    if (entries.length > 0xffff) throw new Error("fakeProvider: more than 65535 files in a zip (zip64 is not implemented)");
    const DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1;
    const UTF8_NAMES = 0x0800;
    const parts: Buffer[] = [];
    const central: Buffer[] = [];
    let offset = 0;
    for (const entry of entries) {
        const name = Buffer.from(entry.name, "utf8");
        const data = Buffer.from(entry.data);
        const deflated = zlib.deflateRawSync(data);
        const stored = deflated.length >= data.length;
        const body = stored ? data : deflated;
        const method = stored ? 0 : 8;
        const crc = zlib.crc32(data) >>> 0;
        const local = Buffer.alloc(30);
        local.writeUInt32LE(0x04034b50, 0);
        local.writeUInt16LE(20, 4);
        local.writeUInt16LE(UTF8_NAMES, 6);
        local.writeUInt16LE(method, 8);
        local.writeUInt16LE(0, 10);
        local.writeUInt16LE(DOS_DATE_1980_01_01, 12);
        local.writeUInt32LE(crc, 14);
        local.writeUInt32LE(body.length, 18);
        local.writeUInt32LE(data.length, 22);
        local.writeUInt16LE(name.length, 26);
        local.writeUInt16LE(0, 28);
        const header = Buffer.alloc(46);
        header.writeUInt32LE(0x02014b50, 0);
        header.writeUInt16LE((3 << 8) | 20, 4); // made by: Unix, zip 2.0
        header.writeUInt16LE(20, 6);
        header.writeUInt16LE(UTF8_NAMES, 8);
        header.writeUInt16LE(method, 10);
        header.writeUInt16LE(0, 12);
        header.writeUInt16LE(DOS_DATE_1980_01_01, 14);
        header.writeUInt32LE(crc, 16);
        header.writeUInt32LE(body.length, 20);
        header.writeUInt32LE(data.length, 24);
        header.writeUInt16LE(name.length, 28);
        header.writeUInt32LE((0o100644 * 0x10000) >>> 0, 38); // external attributes: a regular file, rw-r--r--
        header.writeUInt32LE(offset, 42);
        parts.push(local, name, body);
        central.push(header, name);
        offset += local.length + name.length + body.length;
        if (offset > 0xffffffff) throw new Error("fakeProvider: zip larger than 4 GiB (zip64 is not implemented)");
    }
    const centralSize = central.reduce((n, b) => n + b.length, 0);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(entries.length, 8);
    end.writeUInt16LE(entries.length, 10);
    end.writeUInt32LE(centralSize, 12);
    end.writeUInt32LE(offset, 16);
    return Buffer.concat([...parts, ...central, end]);
}

function assetBytes(asset: Record<string, unknown>, at: string, baseDir: string): Uint8Array {
    if (typeof asset["text"] === "string") return new Uint8Array(Buffer.from(asset["text"], "utf8"));
    if (typeof asset["path"] === "string") {
        const file = path.resolve(baseDir, asset["path"]);
        if (!fs.existsSync(file)) throw new Error(`fakeProvider: ${at}: no file ${asset["path"]} in ${baseDir}`);
        return new Uint8Array(fs.readFileSync(file));
    }
    throw new Error(`fakeProvider: asset ${at} is neither a text nor a file asset (remote assets are not implemented by the test plugin)`);
}

/**
 * The files of an archive as the engine sends it (a struct under the archive signature): an
 * AssetArchive's `assets` (a nested archive's files go under its name, as Pulumi lays them out) or a
 * directory `path`. Files sorted by name. Zip/tar files and remote archives are not implemented.
 * Relative paths are the program's: the engine gives providers its root directory
 * (PULUMI_ROOT_DIRECTORY) and starts them there.
 */
export function archiveEntries(value: unknown, baseDir: string = process.env["PULUMI_ROOT_DIRECTORY"] || process.cwd()): ZipEntry[] {
    const out = new Map<string, Uint8Array>();
    const walkDir = (dir: string, prefix: string): void => {
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
            const full = path.join(dir, e.name);
            if (e.isDirectory()) walkDir(full, `${prefix}${e.name}/`);
            else if (e.isFile()) out.set(`${prefix}${e.name}`, new Uint8Array(fs.readFileSync(full)));
        }
    };
    const add = (archive: unknown, prefix: string, at: string): void => {
        if (!isPlainObject(archive) || archive[SIG_KEY] !== ARCHIVE_SIG) throw new Error(`fakeProvider: ${at} is not an archive`);
        const assets = archive["assets"];
        if (isPlainObject(assets)) {
            for (const [name, member] of Object.entries(assets)) {
                const memberAt = `${at}.assets[${JSON.stringify(name)}]`;
                if (isPlainObject(member) && member[SIG_KEY] === ASSET_SIG) out.set(`${prefix}${name}`, assetBytes(member, memberAt, baseDir));
                else if (isPlainObject(member) && member[SIG_KEY] === ARCHIVE_SIG) add(member, `${prefix}${name}/`, memberAt);
                else throw new Error(`fakeProvider: ${memberAt} is neither an asset nor an archive`);
            }
            return;
        }
        if (typeof archive["path"] === "string") {
            const file = path.resolve(baseDir, archive["path"]);
            if (!fs.statSync(file).isDirectory()) throw new Error(`fakeProvider: ${at}: file archives (zip, tar) are not implemented by the test plugin; use an AssetArchive or a directory`);
            walkDir(file, prefix);
            return;
        }
        throw new Error(`fakeProvider: ${at}: remote archives are not implemented by the test plugin`);
    };
    add(value, "", "code");
    return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, data]) => ({ name, data }));
}

/**
 * terraform-provider-aws create.NamePrefixFromName: the prefix of a name made by
 * id.PrefixedUniqueId (prefix + 18-digit timestamp + 8-hex counter), else "".
 */
export function namePrefixFromName(name: string): string {
    const m = /^(.+)\d{18}[0-9a-f]{8}$/.exec(name);
    return m?.[1] ?? "";
}

/** Own tags (those the inputs name, or not default tags) and all tags, as every tagged resource reports them. */
function tagOutputs(aws: Aws, all: Tags, inputs: Props): { tags: Tags; tagsAll: Tags } {
    const own = tagsOf(inputs["tags"]);
    return { tags: Object.fromEntries(Object.entries(all).filter(([k]) => k in own || !(k in aws.defaultTags))), tagsAll: all };
}

function list(inputs: Props, key: string): unknown[] {
    const v = inputs[key];
    return Array.isArray(v) ? v : [];
}

function strings(inputs: Props, key: string): string[] {
    return list(inputs, key).filter((v): v is string => typeof v === "string");
}

/** Drops `undefined` members (so they do not reach the wire). */
function defined<T extends Record<string, unknown>>(value: T): T {
    return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

// --- IAM: managed policies, groups, memberships, inline role policies ---------------------------

async function policyOutputs(aws: Aws, arn: string, inputs: Props): Promise<Props | undefined> {
    let policy: iamsdk.Policy | undefined;
    try {
        policy = (await aws.iam.send(new iamsdk.GetPolicyCommand({ PolicyArn: arn }))).Policy;
    } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
    }
    if (!policy) return undefined;
    const version = (await aws.iam.send(new iamsdk.GetPolicyVersionCommand({ PolicyArn: arn, VersionId: policy.DefaultVersionId }))).PolicyVersion;
    const document = version?.Document === undefined ? undefined : decodeURIComponent(version.Document);
    const tags = (await aws.iam.send(new iamsdk.ListPolicyTagsCommand({ PolicyArn: arn }))).Tags;
    const name = policy.PolicyName ?? "";
    return {
        ...inputs,
        arn,
        name,
        namePrefix: namePrefixFromName(name),
        path: policy.Path ?? "/",
        description: policy.Description ?? "",
        policyId: policy.PolicyId ?? "",
        attachmentCount: policy.AttachmentCount ?? 0,
        policy: keepEquivalentPolicy(inputs["policy"], document),
        ...tagOutputs(aws, fromAwsTags(tags), inputs),
    };
}

async function policyVersions(aws: Aws, arn: string): Promise<iamsdk.PolicyVersion[]> {
    return listAll(async (Marker) => {
        const r = await aws.iam.send(new iamsdk.ListPolicyVersionsCommand({ PolicyArn: arn, Marker }));
        return { items: r.Versions ?? [], marker: r.IsTruncated ? r.Marker : undefined };
    });
}

const iamPolicy: Handler = {
    async create(aws, { inputs }) {
        const name = str(inputs, "name") ?? prefixedUniqueId(str(inputs, "namePrefix") ?? "terraform-");
        const tags = aws.tagsAll(tagsOf(inputs["tags"]));
        const created = await aws.iam.send(
            new iamsdk.CreatePolicyCommand({
                PolicyName: name,
                Path: str(inputs, "path") ?? "/",
                PolicyDocument: str(inputs, "policy"),
                Description: str(inputs, "description"),
                Tags: Object.keys(tags).length === 0 ? undefined : awsTags(tags),
            }),
        );
        const arn = created.Policy?.Arn;
        if (!arn) throw new Error("fakeProvider: IAM CreatePolicy answered no Arn");
        const outputs = await policyOutputs(aws, arn, { ...inputs, name });
        if (!outputs) throw new Error(`fakeProvider: IAM policy ${arn} vanished right after creation`);
        return { id: arn, outputs };
    },
    read: (aws, id, _state, inputs) => policyOutputs(aws, id, inputs),
    /**
     * As terraform-provider-aws: any change but the tags makes a new version, the default one, after
     * deleting the oldest non-default version when the policy already has IAM's maximum of 5 (its 5 s
     * pause between CreatePolicyVersion and SetDefaultPolicyVersion is not copied).
     */
    async update(aws, id, { olds, news, changed }) {
        const rest = new Set(changed);
        const tagsChanged = rest.delete("tags");
        for (const k of RESOURCE_SPECS["aws:iam/policy:Policy"]?.stateOnly ?? []) rest.delete(k);
        if (rest.size > 0) {
            rest.delete("policy");
            if (rest.size > 0) unsupportedUpdate("aws:iam/policy:Policy", [...rest]);
            const versions = await policyVersions(aws, id);
            if (versions.length >= 5) {
                const oldest = versions
                    .filter((v) => !v.IsDefaultVersion)
                    .sort((a, b) => new Date(a.CreateDate ?? 0).getTime() - new Date(b.CreateDate ?? 0).getTime() || (a.VersionId ?? "").localeCompare(b.VersionId ?? "", "en", { numeric: true }))[0];
                if (oldest?.VersionId) await aws.iam.send(new iamsdk.DeletePolicyVersionCommand({ PolicyArn: id, VersionId: oldest.VersionId }));
            }
            const created = await aws.iam.send(new iamsdk.CreatePolicyVersionCommand({ PolicyArn: id, PolicyDocument: str(news, "policy"), SetAsDefault: false }));
            await aws.iam.send(new iamsdk.SetDefaultPolicyVersionCommand({ PolicyArn: id, VersionId: created.PolicyVersion?.VersionId }));
        }
        if (tagsChanged) {
            const { set, remove } = tagChanges(aws.tagsAll(tagsOf(olds["tags"])), aws.tagsAll(tagsOf(news["tags"])));
            if (remove.length > 0) await aws.iam.send(new iamsdk.UntagPolicyCommand({ PolicyArn: id, TagKeys: remove }));
            if (Object.keys(set).length > 0) await aws.iam.send(new iamsdk.TagPolicyCommand({ PolicyArn: id, Tags: awsTags(set) }));
        }
        const outputs = await policyOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: IAM policy ${id} is gone`);
        return outputs;
    },
    /** As terraform-provider-aws: the non-default versions go first. IAM refuses a policy still attached (moto does not). */
    async delete(aws, id) {
        let policy: iamsdk.Policy | undefined;
        try {
            policy = (await aws.iam.send(new iamsdk.GetPolicyCommand({ PolicyArn: id }))).Policy;
        } catch (err) {
            if (isNotFound(err)) return;
            throw err;
        }
        if ((policy?.AttachmentCount ?? 0) > 0) {
            throw new AwsError("DeleteConflict", `Cannot delete a policy attached to entities (${policy?.AttachmentCount} attachments) (enforced by the test plugin; moto does not)`, 409);
        }
        for (const v of await policyVersions(aws, id)) {
            if (!v.IsDefaultVersion && v.VersionId) await aws.iam.send(new iamsdk.DeletePolicyVersionCommand({ PolicyArn: id, VersionId: v.VersionId }));
        }
        try {
            await aws.iam.send(new iamsdk.DeletePolicyCommand({ PolicyArn: id }));
        } catch (err) {
            if (!isNotFound(err)) throw err;
        }
    },
};

async function groupOf(aws: Aws, name: string): Promise<iamsdk.GetGroupCommandOutput | undefined> {
    try {
        return await aws.iam.send(new iamsdk.GetGroupCommand({ GroupName: name }));
    } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
    }
}

async function iamGroupOutputs(aws: Aws, name: string, inputs: Props): Promise<Props | undefined> {
    const group = (await groupOf(aws, name))?.Group;
    if (!group) return undefined;
    return { ...inputs, name: group.GroupName ?? name, path: group.Path ?? "/", arn: group.Arn ?? "", uniqueId: group.GroupId ?? "" };
}

/** An IAM group (its id is its name; after a rename the state's name is the one to look up). */
const iamGroup: Handler = {
    async create(aws, { inputs }) {
        const name = str(inputs, "name") as string;
        await aws.iam.send(new iamsdk.CreateGroupCommand({ GroupName: name, Path: str(inputs, "path") ?? "/" }));
        const outputs = await iamGroupOutputs(aws, name, inputs);
        if (!outputs) throw new Error(`fakeProvider: IAM group ${name} vanished right after creation`);
        return { id: name, outputs };
    },
    read: (aws, id, state, inputs) => iamGroupOutputs(aws, str(state, "name") ?? id, inputs),
    async update(aws, id, { olds, news, changed }) {
        const rest = new Set(changed);
        const renamed = rest.delete("name");
        const moved = rest.delete("path");
        if (rest.size > 0) unsupportedUpdate("aws:iam/group:Group", [...rest]);
        const current = str(olds, "name") ?? id;
        const name = str(news, "name") as string;
        if (!renamed && moved) {
            // moto 5.2.1 applies NewPath only together with NewGroupName (a path-only UpdateGroup does nothing there).
            throw new Error("fakeProvider: moving an IAM group to another path without renaming it is not implemented by the test plugin (moto ignores a path-only UpdateGroup)");
        }
        if (renamed) await aws.iam.send(new iamsdk.UpdateGroupCommand({ GroupName: current, NewGroupName: name, NewPath: str(news, "path") ?? "/" }));
        const outputs = await iamGroupOutputs(aws, name, news);
        if (!outputs) throw new Error(`fakeProvider: IAM group ${name} is gone`);
        return outputs;
    },
    /** As terraform-provider-aws, DeleteGroup alone; IAM refuses a group with members or policies (moto does not). */
    async delete(aws, id, state) {
        const name = str(state, "name") ?? id;
        const group = await groupOf(aws, name);
        if (!group) return;
        const attached = (await aws.iam.send(new iamsdk.ListAttachedGroupPoliciesCommand({ GroupName: name }))).AttachedPolicies ?? [];
        const inline = (await aws.iam.send(new iamsdk.ListGroupPoliciesCommand({ GroupName: name }))).PolicyNames ?? [];
        if ((group.Users ?? []).length > 0) {
            throw new AwsError("DeleteConflict", `Cannot delete entity, must remove users from group first (${name}) (enforced by the test plugin; moto does not)`, 409);
        }
        if (attached.length > 0 || inline.length > 0) {
            throw new AwsError("DeleteConflict", `Cannot delete entity, must detach all policies first (${name}) (enforced by the test plugin; moto does not)`, 409);
        }
        try {
            await aws.iam.send(new iamsdk.DeleteGroupCommand({ GroupName: name }));
        } catch (err) {
            if (!isNotFound(err)) throw err;
        }
    },
};

async function attachedGroupPolicies(aws: Aws, group: string): Promise<string[]> {
    return listAll(async (Marker) => {
        const r = await aws.iam.send(new iamsdk.ListAttachedGroupPoliciesCommand({ GroupName: group, Marker }));
        return { items: (r.AttachedPolicies ?? []).map((p) => p.PolicyArn ?? ""), marker: r.IsTruncated ? r.Marker : undefined };
    });
}

const groupPolicyAttachment: Handler = {
    async create(aws, { inputs }) {
        const group = str(inputs, "group") as string;
        const policyArn = str(inputs, "policyArn") as string;
        await aws.iam.send(new iamsdk.AttachGroupPolicyCommand({ GroupName: group, PolicyArn: policyArn }));
        // terraform-provider-aws: id.PrefixedUniqueId("<group>-").
        return { id: prefixedUniqueId(`${group}-`), outputs: { ...inputs, group, policyArn } };
    },
    async read(aws, _id, state, inputs) {
        const group = str(state, "group") ?? str(inputs, "group");
        const policyArn = str(state, "policyArn") ?? str(inputs, "policyArn");
        if (!group || !policyArn) return undefined;
        try {
            return (await attachedGroupPolicies(aws, group)).includes(policyArn) ? { ...inputs, group, policyArn } : undefined;
        } catch (err) {
            if (isNotFound(err)) return undefined;
            throw err;
        }
    },
    async update(_aws, _id, { changed }) {
        unsupportedUpdate("aws:iam/groupPolicyAttachment:GroupPolicyAttachment", [...changed]);
    },
    async delete(aws, _id, state) {
        try {
            await aws.iam.send(new iamsdk.DetachGroupPolicyCommand({ GroupName: str(state, "group"), PolicyArn: str(state, "policyArn") }));
        } catch (err) {
            if (!isNotFound(err)) throw err;
        }
    },
};

/**
 * aws.iam.UserGroupMembership: adds the user to the listed groups and, on update or delete, removes
 * the user from the groups it listed and no longer does, never from any other group (the
 * non-exclusive membership terraform-provider-aws implements). The state's groups are those of the
 * listed ones the user is in (an empty list when none: the resource goes only with the user).
 */
const userGroupMembership: Handler = {
    async create(aws, { inputs }) {
        const user = str(inputs, "user") as string;
        for (const group of strings(inputs, "groups")) await aws.iam.send(new iamsdk.AddUserToGroupCommand({ UserName: user, GroupName: group }));
        const outputs = await userGroupMembershipOutputs(aws, user, strings(inputs, "groups"), inputs);
        if (!outputs) throw new Error(`fakeProvider: IAM user ${user} vanished right after joining its groups`);
        // terraform-provider-aws: id.UniqueId().
        return { id: prefixedUniqueId("terraform-"), outputs };
    },
    read: (aws, _id, state, inputs) => userGroupMembershipOutputs(aws, str(state, "user") ?? (str(inputs, "user") as string), strings(state, "groups"), inputs),
    async update(aws, _id, { olds, news, changed }) {
        const rest = new Set(changed);
        const user = str(olds, "user") as string;
        if (rest.delete("groups")) {
            const before = strings(olds, "groups");
            const after = strings(news, "groups");
            for (const group of before.filter((g) => !after.includes(g))) await removeUserFromGroup(aws, user, group);
            for (const group of after.filter((g) => !before.includes(g))) await aws.iam.send(new iamsdk.AddUserToGroupCommand({ UserName: user, GroupName: group }));
        }
        if (rest.size > 0) unsupportedUpdate("aws:iam/userGroupMembership:UserGroupMembership", [...rest]);
        const outputs = await userGroupMembershipOutputs(aws, user, strings(news, "groups"), news);
        if (!outputs) throw new Error(`fakeProvider: IAM user ${user} is gone`);
        return outputs;
    },
    async delete(aws, _id, state) {
        const user = str(state, "user") as string;
        for (const group of strings(state, "groups")) await removeUserFromGroup(aws, user, group);
    },
};

async function removeUserFromGroup(aws: Aws, user: string, group: string): Promise<void> {
    try {
        await aws.iam.send(new iamsdk.RemoveUserFromGroupCommand({ UserName: user, GroupName: group }));
    } catch (err) {
        if (!isNotFound(err)) throw err;
    }
}

async function userGroupMembershipOutputs(aws: Aws, user: string, listed: readonly string[], inputs: Props): Promise<Props | undefined> {
    let groups: string[];
    try {
        groups = await listAll(async (Marker) => {
            const r = await aws.iam.send(new iamsdk.ListGroupsForUserCommand({ UserName: user, Marker }));
            return { items: (r.Groups ?? []).map((g) => g.GroupName ?? ""), marker: r.IsTruncated ? r.Marker : undefined };
        });
    } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
    }
    return { ...inputs, user, groups: listed.filter((g) => groups.includes(g)) };
}

/** An aws_iam_role_policy's id, `<role>:<name>`, back into its parts. */
export function rolePolicyIdParts(id: string): { role: string; name: string } {
    const colon = id.indexOf(":");
    if (colon <= 0) throw new Error(`fakeProvider: ${JSON.stringify(id)} is not an IAM role policy id (<role>:<name>)`);
    return { role: id.slice(0, colon), name: id.slice(colon + 1) };
}

async function rolePolicyOutputs(aws: Aws, role: string, name: string, inputs: Props): Promise<Props | undefined> {
    let document: string | undefined;
    try {
        document = (await aws.iam.send(new iamsdk.GetRolePolicyCommand({ RoleName: role, PolicyName: name }))).PolicyDocument;
    } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
    }
    return {
        ...inputs,
        role,
        name,
        namePrefix: namePrefixFromName(name),
        policy: keepEquivalentPolicy(inputs["policy"], document === undefined ? undefined : decodeURIComponent(document)),
    };
}

const rolePolicy: Handler = {
    async create(aws, { inputs }) {
        const role = str(inputs, "role") as string;
        const name = str(inputs, "name") ?? prefixedUniqueId(str(inputs, "namePrefix") ?? "terraform-");
        await aws.iam.send(new iamsdk.PutRolePolicyCommand({ RoleName: role, PolicyName: name, PolicyDocument: str(inputs, "policy") }));
        const outputs = await rolePolicyOutputs(aws, role, name, inputs);
        if (!outputs) throw new Error(`fakeProvider: IAM role policy ${role}:${name} vanished right after creation`);
        return { id: `${role}:${name}`, outputs };
    },
    async read(aws, id, _state, inputs) {
        const { role, name } = rolePolicyIdParts(id);
        return rolePolicyOutputs(aws, role, name, inputs);
    },
    async update(aws, id, { news, changed }) {
        const { role, name } = rolePolicyIdParts(id);
        const rest = new Set(changed);
        if (rest.delete("policy")) await aws.iam.send(new iamsdk.PutRolePolicyCommand({ RoleName: role, PolicyName: name, PolicyDocument: str(news, "policy") }));
        if (rest.size > 0) unsupportedUpdate("aws:iam/rolePolicy:RolePolicy", [...rest]);
        const outputs = await rolePolicyOutputs(aws, role, name, news);
        if (!outputs) throw new Error(`fakeProvider: IAM role policy ${id} is gone`);
        return outputs;
    },
    async delete(aws, id) {
        const { role, name } = rolePolicyIdParts(id);
        try {
            await aws.iam.send(new iamsdk.DeleteRolePolicyCommand({ RoleName: role, PolicyName: name }));
        } catch (err) {
            if (!isNotFound(err)) throw err;
        }
    },
};

// --- AWS Config --------------------------------------------------------------------------------

function recordingGroupRequest(inputs: Props): Record<string, unknown> | undefined {
    const g = obj(inputs, "recordingGroup");
    if (Object.keys(g).length === 0) return undefined;
    const exclusion = obj(g, "exclusionByResourceTypes");
    const strategy = obj(g, "recordingStrategies");
    return defined({
        allSupported: bool(g, "allSupported"),
        includeGlobalResourceTypes: bool(g, "includeGlobalResourceTypes"),
        resourceTypes: strings(g, "resourceTypes").length > 0 ? strings(g, "resourceTypes") : undefined,
        exclusionByResourceTypes: strings(exclusion, "resourceTypes").length > 0 ? { resourceTypes: strings(exclusion, "resourceTypes") } : undefined,
        recordingStrategy: str(strategy, "useOnly") ? { useOnly: str(strategy, "useOnly") } : undefined,
    });
}

function recordingModeRequest(inputs: Props): Record<string, unknown> | undefined {
    const m = obj(inputs, "recordingMode");
    if (Object.keys(m).length === 0) return undefined;
    const override = obj(m, "recordingModeOverride");
    return defined({
        recordingFrequency: str(m, "recordingFrequency"),
        recordingModeOverrides:
            Object.keys(override).length === 0
                ? undefined
                : [defined({ description: str(override, "description"), recordingFrequency: str(override, "recordingFrequency"), resourceTypes: strings(override, "resourceTypes") })],
    });
}

async function recorderOutputs(aws: Aws, name: string, inputs: Props): Promise<Props | undefined> {
    let recorder: Record<string, unknown> | undefined;
    try {
        recorder = ((await aws.json("config", "DescribeConfigurationRecorders", { ConfigurationRecorderNames: [name] }))["ConfigurationRecorders"] as Array<Record<string, unknown>> | undefined)?.[0];
    } catch (err) {
        if (isNotFound(err, "NoSuchConfigurationRecorderException")) return undefined;
        throw err;
    }
    if (!recorder) return undefined;
    const g = (recorder["recordingGroup"] ?? {}) as Record<string, unknown>;
    const exclusion = ((g["exclusionByResourceTypes"] ?? {}) as Record<string, unknown>)["resourceTypes"];
    const strategy = ((g["recordingStrategy"] ?? {}) as Record<string, unknown>)["useOnly"];
    const mode = (recorder["recordingMode"] ?? {}) as Record<string, unknown>;
    return {
        ...inputs,
        name,
        roleArn: String(recorder["roleARN"] ?? ""),
        recordingGroup: {
            allSupported: g["allSupported"] === true,
            includeGlobalResourceTypes: g["includeGlobalResourceTypes"] === true,
            resourceTypes: (g["resourceTypes"] ?? []) as string[],
            exclusionByResourceTypes: Array.isArray(exclusion) && exclusion.length > 0 ? [{ resourceTypes: exclusion }] : [],
            recordingStrategies: typeof strategy === "string" ? [{ useOnly: strategy }] : [],
        },
        // moto keeps no recording mode: AWS's default, continuous recording, unless the inputs say otherwise.
        recordingMode: { recordingFrequency: String(mode["recordingFrequency"] ?? str(obj(inputs, "recordingMode"), "recordingFrequency") ?? "CONTINUOUS") },
        region: aws.region,
    };
}

/** The configuration recorder (PutConfigurationRecorder creates and updates; moto allows one per region, as AWS). */
const cfgRecorder: Handler = {
    async create(aws, { inputs }) {
        const name = str(inputs, "name") as string;
        await aws.json("config", "PutConfigurationRecorder", {
            ConfigurationRecorder: defined({ name, roleARN: str(inputs, "roleArn"), recordingGroup: recordingGroupRequest(inputs), recordingMode: recordingModeRequest(inputs) }),
        });
        const outputs = await recorderOutputs(aws, name, inputs);
        if (!outputs) throw new Error(`fakeProvider: Config recorder ${name} vanished right after creation`);
        return { id: name, outputs };
    },
    read: (aws, id, _state, inputs) => recorderOutputs(aws, id, inputs),
    async update(aws, id, { news }) {
        await aws.json("config", "PutConfigurationRecorder", {
            ConfigurationRecorder: defined({ name: id, roleARN: str(news, "roleArn"), recordingGroup: recordingGroupRequest(news), recordingMode: recordingModeRequest(news) }),
        });
        const outputs = await recorderOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: Config recorder ${id} is gone`);
        return outputs;
    },
    async delete(aws, id) {
        try {
            await aws.json("config", "DeleteConfigurationRecorder", { ConfigurationRecorderName: id });
        } catch (err) {
            if (!isNotFound(err, "NoSuchConfigurationRecorderException")) throw err;
        }
    },
};

function deliveryChannelRequest(name: string, inputs: Props): Record<string, unknown> {
    const snapshot = obj(inputs, "snapshotDeliveryProperties");
    return defined({
        name,
        s3BucketName: str(inputs, "s3BucketName"),
        s3KeyPrefix: str(inputs, "s3KeyPrefix"),
        s3KmsKeyArn: str(inputs, "s3KmsKeyArn"),
        snsTopicARN: str(inputs, "snsTopicArn"),
        configSnapshotDeliveryProperties: str(snapshot, "deliveryFrequency") ? { deliveryFrequency: str(snapshot, "deliveryFrequency") } : undefined,
    });
}

async function deliveryChannelOutputs(aws: Aws, name: string, inputs: Props): Promise<Props | undefined> {
    let channel: Record<string, unknown> | undefined;
    try {
        channel = ((await aws.json("config", "DescribeDeliveryChannels", { DeliveryChannelNames: [name] }))["DeliveryChannels"] as Array<Record<string, unknown>> | undefined)?.[0];
    } catch (err) {
        if (isNotFound(err, "NoSuchDeliveryChannelException")) return undefined;
        throw err;
    }
    if (!channel) return undefined;
    const frequency = ((channel["configSnapshotDeliveryProperties"] ?? {}) as Record<string, unknown>)["deliveryFrequency"];
    return defined({
        ...inputs,
        name,
        s3BucketName: String(channel["s3BucketName"] ?? ""),
        s3KeyPrefix: String(channel["s3KeyPrefix"] ?? ""),
        s3KmsKeyArn: String(channel["s3KmsKeyArn"] ?? ""),
        snsTopicArn: String(channel["snsTopicARN"] ?? ""),
        snapshotDeliveryProperties: typeof frequency === "string" ? { deliveryFrequency: frequency } : undefined,
        region: aws.region,
    });
}

/** The delivery channel (PutDeliveryChannel creates and updates; moto wants the recorder and the bucket to exist, as AWS). */
const cfgDeliveryChannel: Handler = {
    async create(aws, { inputs }) {
        const name = str(inputs, "name") as string;
        await aws.json("config", "PutDeliveryChannel", { DeliveryChannel: deliveryChannelRequest(name, inputs) });
        const outputs = await deliveryChannelOutputs(aws, name, inputs);
        if (!outputs) throw new Error(`fakeProvider: Config delivery channel ${name} vanished right after creation`);
        return { id: name, outputs };
    },
    read: (aws, id, _state, inputs) => deliveryChannelOutputs(aws, id, inputs),
    async update(aws, id, { news }) {
        await aws.json("config", "PutDeliveryChannel", { DeliveryChannel: deliveryChannelRequest(id, news) });
        const outputs = await deliveryChannelOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: Config delivery channel ${id} is gone`);
        return outputs;
    },
    /** moto refuses while the recorder records (LastDeliveryChannelDeleteFailedException), as AWS. */
    async delete(aws, id) {
        try {
            await aws.json("config", "DeleteDeliveryChannel", { DeliveryChannelName: id });
        } catch (err) {
            if (!isNotFound(err, "NoSuchDeliveryChannelException")) throw err;
        }
    },
};

async function recorderStatusOutputs(aws: Aws, name: string, inputs: Props): Promise<Props | undefined> {
    let status: Record<string, unknown> | undefined;
    try {
        status = ((await aws.json("config", "DescribeConfigurationRecorderStatus", { ConfigurationRecorderNames: [name] }))["ConfigurationRecordersStatus"] as
            | Array<Record<string, unknown>>
            | undefined)?.[0];
    } catch (err) {
        if (isNotFound(err, "NoSuchConfigurationRecorderException")) return undefined;
        throw err;
    }
    if (!status) return undefined;
    return { ...inputs, name, isEnabled: status["recording"] === true, region: aws.region };
}

async function setRecording(aws: Aws, name: string, enabled: boolean): Promise<void> {
    await aws.json("config", enabled ? "StartConfigurationRecorder" : "StopConfigurationRecorder", { ConfigurationRecorderName: name });
}

/** Whether the recorder records (moto starts one only with a delivery channel, as AWS). Deleting it stops the recorder. */
const cfgRecorderStatus: Handler = {
    async create(aws, { inputs }) {
        const name = str(inputs, "name") as string;
        await setRecording(aws, name, bool(inputs, "isEnabled") === true);
        const outputs = await recorderStatusOutputs(aws, name, inputs);
        if (!outputs) throw new Error(`fakeProvider: Config recorder ${name} vanished right after starting`);
        return { id: name, outputs };
    },
    read: (aws, id, _state, inputs) => recorderStatusOutputs(aws, id, inputs),
    async update(aws, id, { news, changed }) {
        const rest = new Set(changed);
        if (rest.delete("isEnabled")) await setRecording(aws, id, bool(news, "isEnabled") === true);
        if (rest.size > 0) unsupportedUpdate("aws:cfg/recorderStatus:RecorderStatus", [...rest]);
        const outputs = await recorderStatusOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: Config recorder ${id} is gone`);
        return outputs;
    },
    async delete(aws, id) {
        try {
            await setRecording(aws, id, false);
        } catch (err) {
            if (!isNotFound(err, "NoSuchConfigurationRecorderException")) throw err;
        }
    },
};

async function describeConfigRule(aws: Aws, name: string): Promise<Record<string, unknown> | undefined> {
    try {
        const rule = ((await aws.json("config", "DescribeConfigRules", { ConfigRuleNames: [name] }))["ConfigRules"] as Array<Record<string, unknown>> | undefined)?.[0];
        return rule && !String(rule["ConfigRuleState"] ?? "").startsWith("DELETING") ? rule : undefined;
    } catch (err) {
        if (isNotFound(err, "NoSuchConfigRuleException")) return undefined;
        throw err;
    }
}

function configRuleRequest(name: string, inputs: Props): Record<string, unknown> {
    const source = obj(inputs, "source");
    const scope = obj(inputs, "scope");
    const custom = obj(source, "customPolicyDetails");
    return defined({
        ConfigRuleName: name,
        Description: str(inputs, "description"),
        InputParameters: str(inputs, "inputParameters"),
        MaximumExecutionFrequency: str(inputs, "maximumExecutionFrequency"),
        Scope:
            Object.keys(scope).length === 0
                ? undefined
                : defined({
                      ComplianceResourceTypes: strings(scope, "complianceResourceTypes").length > 0 ? strings(scope, "complianceResourceTypes") : undefined,
                      ComplianceResourceId: str(scope, "complianceResourceId"),
                      TagKey: str(scope, "tagKey"),
                      TagValue: str(scope, "tagValue"),
                  }),
        Source: defined({
            Owner: str(source, "owner"),
            SourceIdentifier: str(source, "sourceIdentifier"),
            SourceDetails:
                list(source, "sourceDetails").length === 0
                    ? undefined
                    : (list(source, "sourceDetails") as Props[]).map((d) =>
                          defined({ EventSource: str(d, "eventSource"), MessageType: str(d, "messageType"), MaximumExecutionFrequency: str(d, "maximumExecutionFrequency") }),
                      ),
            CustomPolicyDetails:
                Object.keys(custom).length === 0
                    ? undefined
                    : defined({ PolicyRuntime: str(custom, "policyRuntime"), PolicyText: str(custom, "policyText"), EnableDebugLogDelivery: bool(custom, "enableDebugLogDelivery") }),
        }),
        EvaluationModes: list(inputs, "evaluationModes").length === 0 ? undefined : (list(inputs, "evaluationModes") as Props[]).map((m) => ({ Mode: str(m, "mode") })),
    });
}

async function configRuleOutputs(aws: Aws, name: string, inputs: Props): Promise<Props | undefined> {
    const rule = await describeConfigRule(aws, name);
    if (!rule) return undefined;
    const arn = String(rule["ConfigRuleArn"] ?? "");
    const tagList = ((await aws.json("config", "ListTagsForResource", { ResourceArn: arn }))["Tags"] ?? []) as Array<{ Key?: string; Value?: string }>;
    const source = (rule["Source"] ?? {}) as Record<string, unknown>;
    const scope = rule["Scope"] as Record<string, unknown> | undefined;
    const modes = (rule["EvaluationModes"] ?? []) as Array<Record<string, unknown>>;
    const inputParameters = typeof rule["InputParameters"] === "string" ? (rule["InputParameters"] as string) : undefined;
    return defined({
        ...inputs,
        name,
        arn,
        ruleId: String(rule["ConfigRuleId"] ?? ""),
        description: String(rule["Description"] ?? ""),
        inputParameters: keepEquivalentPolicy(inputs["inputParameters"], inputParameters) ?? "",
        maximumExecutionFrequency: String(rule["MaximumExecutionFrequency"] ?? ""),
        scope: scope
            ? {
                  complianceResourceTypes: (scope["ComplianceResourceTypes"] ?? []) as string[],
                  complianceResourceId: String(scope["ComplianceResourceId"] ?? ""),
                  tagKey: String(scope["TagKey"] ?? ""),
                  tagValue: String(scope["TagValue"] ?? ""),
              }
            : undefined,
        source: {
            owner: String(source["Owner"] ?? ""),
            sourceIdentifier: String(source["SourceIdentifier"] ?? ""),
            sourceDetails: ((source["SourceDetails"] ?? []) as Array<Record<string, unknown>>).map((d) => ({
                eventSource: String(d["EventSource"] ?? ""),
                messageType: String(d["MessageType"] ?? ""),
                maximumExecutionFrequency: String(d["MaximumExecutionFrequency"] ?? ""),
            })),
        },
        // moto keeps no evaluation modes: AWS's default is detective evaluation.
        evaluationModes: modes.length > 0 ? modes.map((m) => ({ mode: String(m["Mode"] ?? "") })) : [{ mode: "DETECTIVE" }],
        ...tagOutputs(aws, fromAwsTags(tagList), inputs),
        region: aws.region,
    });
}

/** The kind and key of a remediation configuration's record in the FakeStore. */
const REMEDIATION_KIND = "config-remediation-configurations";

interface RemediationRecord {
    /** The id of the Config rule it belongs to (a rule of the same name made later is another rule). */
    readonly ruleId: string;
    readonly arn: string;
    /** As AWS's DescribeRemediationConfigurations would answer it. */
    readonly configuration: Record<string, unknown>;
}

/** The remediation configuration of a rule, if the rule (the same one) still exists. */
async function remediationOf(aws: Aws, ruleName: string): Promise<RemediationRecord | undefined> {
    const record = (await aws.store()).get<RemediationRecord>(REMEDIATION_KIND, ruleName);
    if (!record) return undefined;
    const rule = await describeConfigRule(aws, ruleName);
    return rule && rule["ConfigRuleId"] === record.ruleId ? record : undefined;
}

/**
 * A Config rule (PutConfigRule creates and updates; moto checks an AWS-managed rule's identifier and
 * its parameters against AWS's list, as AWS does). AWS refuses to delete a rule that still has a
 * remediation configuration; the plugin keeps those (moto has none), so it enforces that itself.
 */
const cfgRule: Handler = {
    async create(aws, { inputs }) {
        const name = str(inputs, "name") as string;
        const tags = aws.tagsAll(tagsOf(inputs["tags"]));
        await aws.json("config", "PutConfigRule", { ConfigRule: configRuleRequest(name, inputs), Tags: Object.keys(tags).length === 0 ? undefined : awsTags(tags) });
        const outputs = await configRuleOutputs(aws, name, inputs);
        if (!outputs) throw new Error(`fakeProvider: Config rule ${name} vanished right after creation`);
        return { id: name, outputs };
    },
    read: (aws, id, _state, inputs) => configRuleOutputs(aws, id, inputs),
    async update(aws, id, { news, changed }) {
        const rest = new Set(changed);
        rest.delete("tags");
        // moto's PutConfigRule replaces the rule's tags with the request's (AWS keeps them): send them all, which is also the update of the tags.
        const tags = aws.tagsAll(tagsOf(news["tags"]));
        if (rest.size > 0 || changed.has("tags")) {
            await aws.json("config", "PutConfigRule", { ConfigRule: configRuleRequest(id, news), Tags: Object.keys(tags).length === 0 ? undefined : awsTags(tags) });
        }
        const outputs = await configRuleOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: Config rule ${id} is gone`);
        return outputs;
    },
    async delete(aws, id) {
        if (await remediationOf(aws, id)) {
            throw new AwsError(
                "ResourceInUseException",
                `The rule ${id} is currently being used by a remediation configuration; delete the remediation configuration first (enforced by the test plugin, which keeps remediation configurations; moto has none)`,
                400,
            );
        }
        try {
            await aws.json("config", "DeleteConfigRule", { ConfigRuleName: id });
        } catch (err) {
            if (!isNotFound(err, "NoSuchConfigRuleException")) throw err;
        }
    },
};

/** RemediationParameterValues as AWS takes them, refusing what AWS refuses (InvalidParameterValueException). */
function remediationParameters(inputs: Props): Record<string, unknown> | undefined {
    const params = list(inputs, "parameters") as Props[];
    if (params.length === 0) return undefined;
    if (params.length > 25) throw new AwsError("InvalidParameterValueException", "A remediation configuration takes at most 25 parameters (enforced by the test plugin)", 400);
    const out: Record<string, unknown> = {};
    for (const p of params) {
        const name = str(p, "name") ?? "";
        const resourceValue = str(p, "resourceValue");
        const staticValue = str(p, "staticValue");
        const staticValues = strings(p, "staticValues");
        const given = [resourceValue !== undefined, staticValue !== undefined, staticValues.length > 0].filter(Boolean).length;
        if (given !== 1 || (resourceValue !== undefined && resourceValue !== "RESOURCE_ID")) {
            throw new AwsError(
                "InvalidParameterValueException",
                `There were invalid RemediationParameterValues for configurations for AWS Config Rules: parameter ${JSON.stringify(name)} needs exactly one of a resource value (RESOURCE_ID) or static values (enforced by the test plugin)`,
                400,
            );
        }
        out[name] = resourceValue !== undefined ? { ResourceValue: { Value: resourceValue } } : { StaticValue: { Values: staticValue !== undefined ? [staticValue] : staticValues } };
    }
    return out;
}

/** terraform-provider-aws's flattening of a remediation configuration's parameters: sorted by name. */
function flattenRemediationParameters(parameters: Record<string, unknown> | undefined): Props[] {
    return Object.entries(parameters ?? {})
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, raw]) => {
            const value = (raw ?? {}) as { ResourceValue?: { Value?: string }; StaticValue?: { Values?: string[] } };
            const values = value.StaticValue?.Values ?? [];
            return {
                name,
                resourceValue: value.ResourceValue?.Value ?? "",
                staticValue: values.length === 1 ? (values[0] as string) : "",
                staticValues: values.length > 1 ? values : [],
            };
        });
}

async function remediationOutputs(aws: Aws, ruleName: string, inputs: Props): Promise<Props | undefined> {
    const record = await remediationOf(aws, ruleName);
    if (!record) return undefined;
    const c = record.configuration;
    const ssm = ((c["ExecutionControls"] ?? {}) as Record<string, unknown>)["SsmControls"] as Record<string, unknown> | undefined;
    return defined({
        ...inputs,
        arn: record.arn,
        configRuleName: ruleName,
        targetType: String(c["TargetType"] ?? ""),
        targetId: String(c["TargetId"] ?? ""),
        targetVersion: String(c["TargetVersion"] ?? ""),
        resourceType: String(c["ResourceType"] ?? ""),
        automatic: c["Automatic"] === true,
        maximumAutomaticAttempts: typeof c["MaximumAutomaticAttempts"] === "number" ? c["MaximumAutomaticAttempts"] : 0,
        retryAttemptSeconds: typeof c["RetryAttemptSeconds"] === "number" ? c["RetryAttemptSeconds"] : 0,
        parameters: flattenRemediationParameters(c["Parameters"] as Record<string, unknown> | undefined),
        executionControls: ssm
            ? {
                  ssmControls: defined({
                      concurrentExecutionRatePercentage: typeof ssm["ConcurrentExecutionRatePercentage"] === "number" ? ssm["ConcurrentExecutionRatePercentage"] : undefined,
                      errorPercentage: typeof ssm["ErrorPercentage"] === "number" ? ssm["ErrorPercentage"] : undefined,
                  }),
              }
            : undefined,
        region: aws.region,
    });
}

/** PutRemediationConfigurations, kept by the plugin (see FakeStore): the rule must exist in moto. */
async function putRemediation(aws: Aws, inputs: Props): Promise<string> {
    const ruleName = str(inputs, "configRuleName") as string;
    const rule = await describeConfigRule(aws, ruleName);
    if (!rule) {
        throw new AwsError("NoSuchConfigRuleException", `The ConfigRule '${ruleName}' provided in the request is invalid. Please check the configRule name (enforced by the test plugin)`, 400);
    }
    const targetType = str(inputs, "targetType");
    if (targetType !== "SSM_DOCUMENT") throw new AwsError("ValidationException", `targetType must be SSM_DOCUMENT, not ${JSON.stringify(targetType)} (enforced by the test plugin)`, 400);
    const store = await aws.store();
    const previous = store.get<RemediationRecord>(REMEDIATION_KIND, ruleName);
    const ssm = obj(obj(inputs, "executionControls"), "ssmControls");
    const configuration = defined({
        ConfigRuleName: ruleName,
        TargetType: targetType,
        TargetId: str(inputs, "targetId"),
        TargetVersion: str(inputs, "targetVersion"),
        ResourceType: str(inputs, "resourceType"),
        Parameters: remediationParameters(inputs),
        Automatic: bool(inputs, "automatic"),
        MaximumAutomaticAttempts: num(inputs, "maximumAutomaticAttempts"),
        RetryAttemptSeconds: num(inputs, "retryAttemptSeconds"),
        ExecutionControls:
            Object.keys(ssm).length === 0
                ? undefined
                : { SsmControls: defined({ ConcurrentExecutionRatePercentage: num(ssm, "concurrentExecutionRatePercentage"), ErrorPercentage: num(ssm, "errorPercentage") }) },
    });
    const ruleId = String(rule["ConfigRuleId"] ?? "");
    const arn = previous && previous.ruleId === ruleId ? previous.arn : await aws.arn("config", `remediation-configuration/${ruleName}/${crypto.randomUUID()}`);
    store.put<RemediationRecord>(REMEDIATION_KIND, ruleName, { ruleId, arn, configuration });
    return ruleName;
}

/**
 * A Config rule's remediation configuration (its id is the rule's name). moto 5.2.1 implements no
 * remediation API (Put/Describe/DeleteRemediationConfigurations), so the plugin keeps the
 * configuration itself, in the FakeStore (AIRLOCK_FAKE_STATE_DIR), tied to the rule's id: it is
 * gone when the rule is. Never executed.
 */
const cfgRemediation: Handler = {
    async create(aws, { inputs }) {
        const id = await putRemediation(aws, inputs);
        const outputs = await remediationOutputs(aws, id, inputs);
        if (!outputs) throw new Error(`fakeProvider: the remediation configuration of ${id} vanished right after creation`);
        return { id, outputs };
    },
    read: (aws, id, _state, inputs) => remediationOutputs(aws, id, inputs),
    async update(aws, id, { news }) {
        await putRemediation(aws, { ...news, configRuleName: id });
        const outputs = await remediationOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: the remediation configuration of ${id} is gone`);
        return outputs;
    },
    async delete(aws, id) {
        (await aws.store()).delete(REMEDIATION_KIND, id);
    },
};

// --- CloudTrail --------------------------------------------------------------------------------

/** A KMS key as CloudTrail records it: its ARN (KmsKeyNotFoundException when KMS does not know it). */
async function trailKmsKeyArn(aws: Aws, keyId: string): Promise<string> {
    try {
        const meta = ((await aws.kms("DescribeKey", { KeyId: keyId }))["KeyMetadata"] ?? {}) as Record<string, unknown>;
        return String(meta["Arn"] ?? keyId);
    } catch (err) {
        if (isNotFound(err, "NotFoundException")) throw new AwsError("KmsKeyNotFoundException", `KMS key ${keyId} does not exist (enforced by the test plugin; moto does not)`, 400);
        throw err;
    }
}

/**
 * CloudTrail's checks of the CloudWatch Logs delivery that moto does not make: both ARNs or neither,
 * the group's ARN with the log-stream wildcard (`<group arn>:*`, as CloudTrail requires), the group
 * and the role existing.
 */
async function checkTrailCloudWatch(aws: Aws, inputs: Props): Promise<void> {
    const groupArn = str(inputs, "cloudWatchLogsGroupArn");
    const roleArn = str(inputs, "cloudWatchLogsRoleArn");
    if (groupArn === undefined && roleArn === undefined) return;
    if (groupArn === undefined || roleArn === undefined) {
        throw new AwsError("InvalidCloudWatchLogsLogGroupArnException", "CloudWatch Logs delivery needs both the log group ARN and the role ARN (enforced by the test plugin; moto does not)", 400);
    }
    const m = /^arn:[^:]+:logs:[^:]+:\d{12}:log-group:(.+):\*$/.exec(groupArn);
    if (!m) {
        throw new AwsError("InvalidCloudWatchLogsLogGroupArnException", `${groupArn} is not a log group ARN with the log-stream wildcard (<arn>:*) (enforced by the test plugin; moto does not)`, 400);
    }
    const groupName = m[1] as string;
    const found = ((await aws.json("logs", "DescribeLogGroups", { logGroupNamePrefix: groupName }))["logGroups"] as Array<Record<string, unknown>> | undefined) ?? [];
    if (!found.some((g) => g["logGroupName"] === groupName)) {
        throw new AwsError("InvalidCloudWatchLogsLogGroupArnException", `the log group ${groupName} does not exist (enforced by the test plugin; moto does not)`, 400);
    }
    try {
        await aws.iam.send(new iamsdk.GetRoleCommand({ RoleName: roleArn.split("/").pop() }));
    } catch (err) {
        if (isNotFound(err)) throw new AwsError("InvalidCloudWatchLogsRoleArnException", `the role ${roleArn} does not exist (enforced by the test plugin; moto does not)`, 400);
        throw err;
    }
}

function checkTrailSelectors(inputs: Props): void {
    for (const k of ["eventSelectors", "advancedEventSelectors", "insightSelectors"]) {
        if (list(inputs, k).length > 0) throw new Error(`fakeProvider: ${k} of aws:cloudtrail/trail:Trail are not implemented by the test plugin`);
    }
}

async function trailOutputs(aws: Aws, arn: string, inputs: Props): Promise<Props | undefined> {
    let trail: Record<string, unknown>;
    try {
        trail = ((await aws.json("cloudtrail", "GetTrail", { Name: arn }))["Trail"] ?? {}) as Record<string, unknown>;
    } catch (err) {
        if (isNotFound(err, "TrailNotFoundException")) return undefined;
        throw err;
    }
    const status = await aws.json("cloudtrail", "GetTrailStatus", { Name: arn });
    const tagged = ((await aws.json("cloudtrail", "ListTags", { ResourceIdList: [arn] }))["ResourceTagList"] ?? []) as Array<{ TagsList?: Array<{ Key?: string; Value?: string }> }>;
    const homeRegion = String(trail["HomeRegion"] ?? arn.split(":")[3] ?? aws.region);
    return {
        ...inputs,
        arn: String(trail["TrailARN"] ?? arn),
        name: String(trail["Name"] ?? ""),
        homeRegion,
        s3BucketName: String(trail["S3BucketName"] ?? ""),
        s3KeyPrefix: String(trail["S3KeyPrefix"] ?? ""),
        includeGlobalServiceEvents: trail["IncludeGlobalServiceEvents"] === true,
        isMultiRegionTrail: trail["IsMultiRegionTrail"] === true,
        isOrganizationTrail: trail["IsOrganizationTrail"] === true,
        enableLogFileValidation: trail["LogFileValidationEnabled"] === true,
        enableLogging: status["IsLogging"] === true,
        kmsKeyId: String(trail["KmsKeyId"] ?? ""),
        cloudWatchLogsGroupArn: String(trail["CloudWatchLogsLogGroupArn"] ?? ""),
        cloudWatchLogsRoleArn: String(trail["CloudWatchLogsRoleArn"] ?? ""),
        snsTopicName: String(trail["SnsTopicName"] ?? ""),
        snsTopicArn: String(trail["SnsTopicARN"] ?? ""),
        eventSelectors: [],
        advancedEventSelectors: [],
        insightSelectors: [],
        ...tagOutputs(aws, fromAwsTags(tagged[0]?.TagsList), inputs),
        region: aws.region,
    };
}

/**
 * The name to give moto for a trail known by its ARN: moto's StartLogging, StopLogging and
 * DeleteTrail look trails up by name only (an ARN fails with HTTP 500, or deletes nothing), where
 * CloudTrail takes either.
 */
function trailNameOf(arnOrName: string): string {
    const m = /^arn:[^:]+:cloudtrail:[^:]*:\d{12}:trail\/(.+)$/.exec(arnOrName);
    return m?.[1] ?? arnOrName;
}

/**
 * A CloudTrail trail; its id is its ARN (terraform-provider-aws v6). Logging starts at creation
 * unless enableLogging is false (CloudTrail creates trails not logging). moto checks that the bucket
 * exists but, unlike CloudTrail, not its policy, nor the KMS key's; the plugin checks the key and
 * the CloudWatch Logs delivery exist (checkTrailCloudWatch). Event and insight selectors are not
 * implemented.
 */
const cloudtrailTrail: Handler = {
    async create(aws, { inputs, progress }) {
        checkTrailSelectors(inputs);
        await checkTrailCloudWatch(aws, inputs);
        const kmsKeyId = str(inputs, "kmsKeyId");
        const tags = aws.tagsAll(tagsOf(inputs["tags"]));
        const created = await aws.json(
            "cloudtrail",
            "CreateTrail",
            defined({
                Name: str(inputs, "name"),
                S3BucketName: str(inputs, "s3BucketName"),
                S3KeyPrefix: str(inputs, "s3KeyPrefix"),
                SnsTopicName: str(inputs, "snsTopicName"),
                IncludeGlobalServiceEvents: bool(inputs, "includeGlobalServiceEvents") ?? true,
                IsMultiRegionTrail: bool(inputs, "isMultiRegionTrail") ?? false,
                IsOrganizationTrail: bool(inputs, "isOrganizationTrail") ?? false,
                EnableLogFileValidation: bool(inputs, "enableLogFileValidation") ?? false,
                CloudWatchLogsLogGroupArn: str(inputs, "cloudWatchLogsGroupArn"),
                CloudWatchLogsRoleArn: str(inputs, "cloudWatchLogsRoleArn"),
                KmsKeyId: kmsKeyId === undefined ? undefined : await trailKmsKeyArn(aws, kmsKeyId),
                TagsList: Object.keys(tags).length === 0 ? undefined : awsTags(tags),
            }),
        );
        const arn = String(created["TrailARN"] ?? "");
        if (!arn) throw new Error("fakeProvider: CloudTrail CreateTrail answered no TrailARN");
        progress(arn, { ...inputs, arn });
        if (bool(inputs, "enableLogging") !== false) await aws.json("cloudtrail", "StartLogging", { Name: trailNameOf(arn) });
        const outputs = await trailOutputs(aws, arn, inputs);
        if (!outputs) throw new Error(`fakeProvider: trail ${arn} vanished right after creation`);
        return { id: arn, outputs };
    },
    read: (aws, id, _state, inputs) => trailOutputs(aws, id, inputs),
    async update(aws, id, { olds, news, changed }) {
        checkTrailSelectors(news);
        const rest = new Set(changed);
        const take = (k: string): boolean => rest.delete(k);
        const request: Record<string, unknown> = { Name: id };
        const cloudWatch = [take("cloudWatchLogsGroupArn"), take("cloudWatchLogsRoleArn")].some(Boolean);
        if (cloudWatch) {
            await checkTrailCloudWatch(aws, news);
            request["CloudWatchLogsLogGroupArn"] = str(news, "cloudWatchLogsGroupArn") ?? "";
            request["CloudWatchLogsRoleArn"] = str(news, "cloudWatchLogsRoleArn") ?? "";
        }
        if (take("enableLogFileValidation")) request["EnableLogFileValidation"] = bool(news, "enableLogFileValidation") ?? false;
        if (take("includeGlobalServiceEvents")) request["IncludeGlobalServiceEvents"] = bool(news, "includeGlobalServiceEvents") ?? true;
        if (take("isMultiRegionTrail")) request["IsMultiRegionTrail"] = bool(news, "isMultiRegionTrail") ?? false;
        if (take("isOrganizationTrail")) request["IsOrganizationTrail"] = bool(news, "isOrganizationTrail") ?? false;
        if (take("kmsKeyId")) {
            const keyId = str(news, "kmsKeyId");
            request["KmsKeyId"] = keyId === undefined ? "" : await trailKmsKeyArn(aws, keyId);
        }
        if (take("s3BucketName")) request["S3BucketName"] = str(news, "s3BucketName");
        if (take("s3KeyPrefix")) request["S3KeyPrefix"] = str(news, "s3KeyPrefix") ?? "";
        if (take("snsTopicName")) request["SnsTopicName"] = str(news, "snsTopicName") ?? "";
        if (Object.keys(request).length > 1) await aws.json("cloudtrail", "UpdateTrail", request);
        if (take("enableLogging")) await aws.json("cloudtrail", bool(news, "enableLogging") === false ? "StopLogging" : "StartLogging", { Name: trailNameOf(id) });
        if (take("tags")) {
            const { set, remove } = tagChanges(aws.tagsAll(tagsOf(olds["tags"])), aws.tagsAll(tagsOf(news["tags"])));
            if (remove.length > 0) await aws.json("cloudtrail", "RemoveTags", { ResourceId: id, TagsList: remove.map((Key) => ({ Key })) });
            if (Object.keys(set).length > 0) await aws.json("cloudtrail", "AddTags", { ResourceId: id, TagsList: awsTags(set) });
        }
        for (const k of ["eventSelectors", "advancedEventSelectors", "insightSelectors"]) rest.delete(k);
        if (rest.size > 0) unsupportedUpdate("aws:cloudtrail/trail:Trail", [...rest]);
        const outputs = await trailOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: trail ${id} is gone`);
        return outputs;
    },
    async delete(aws, id) {
        try {
            await aws.json("cloudtrail", "DeleteTrail", { Name: trailNameOf(id) });
        } catch (err) {
            if (!isNotFound(err, "TrailNotFoundException")) throw err;
        }
    },
};

// --- CloudWatch Logs ---------------------------------------------------------------------------

/** A log group's KMS key set after its creation (moto implements no AssociateKmsKey / DisassociateKmsKey). */
const LOG_GROUP_KMS_KIND = "logs-log-group-kms-keys";

interface LogGroupKmsRecord {
    /** The group's creationTime: a group of the same name made later is another group. */
    readonly creationTime: number;
    readonly kmsKeyId: string;
}

async function describeLogGroup(aws: Aws, name: string): Promise<Record<string, unknown> | undefined> {
    let nextToken: string | undefined;
    do {
        const page = await aws.json("logs", "DescribeLogGroups", defined({ logGroupNamePrefix: name, nextToken }));
        const found = ((page["logGroups"] ?? []) as Array<Record<string, unknown>>).find((g) => g["logGroupName"] === name);
        if (found) return found;
        nextToken = typeof page["nextToken"] === "string" ? page["nextToken"] : undefined;
    } while (nextToken);
    return undefined;
}

/** The provider's log group ARN: without CloudWatch Logs' ":*" suffix. */
function trimLogGroupArn(arn: string): string {
    return arn.endsWith(":*") ? arn.slice(0, -2) : arn;
}

async function logGroupOutputs(aws: Aws, name: string, inputs: Props): Promise<Props | undefined> {
    const group = await describeLogGroup(aws, name);
    if (!group) return undefined;
    const arn = trimLogGroupArn(String(group["logGroupArn"] ?? group["arn"] ?? (await aws.arn("logs", `log-group:${name}`))));
    const tags = ((await aws.json("logs", "ListTagsForResource", { resourceArn: arn }))["tags"] ?? {}) as Tags;
    const kms = (await aws.store()).get<LogGroupKmsRecord>(LOG_GROUP_KMS_KIND, name);
    const kmsKeyId = kms && kms.creationTime === group["creationTime"] ? kms.kmsKeyId : String(group["kmsKeyId"] ?? "");
    return {
        ...inputs,
        name,
        namePrefix: str(inputs, "namePrefix") ?? "",
        arn,
        retentionInDays: typeof group["retentionInDays"] === "number" ? group["retentionInDays"] : 0,
        kmsKeyId,
        logGroupClass: String(group["logGroupClass"] ?? "STANDARD"),
        deletionProtectionEnabled: group["deletionProtectionEnabled"] === true,
        skipDestroy: bool(inputs, "skipDestroy") ?? false,
        ...tagOutputs(aws, tags, inputs),
        region: aws.region,
    };
}

/**
 * A CloudWatch Logs log group. moto lacks AssociateKmsKey / DisassociateKmsKey: a KMS key set or
 * removed after creation is kept in the FakeStore (tied to the group's creation time) and reported
 * from there; deletion protection is not implemented.
 */
const logGroup: Handler = {
    async create(aws, { inputs, progress }) {
        if (bool(inputs, "deletionProtectionEnabled") === true) throw new Error("fakeProvider: deletionProtectionEnabled of aws:cloudwatch/logGroup:LogGroup is not implemented by the test plugin");
        const name = str(inputs, "name") ?? prefixedUniqueId(str(inputs, "namePrefix") ?? "terraform-");
        const tags = aws.tagsAll(tagsOf(inputs["tags"]));
        await aws.json("logs", "CreateLogGroup", defined({ logGroupName: name, kmsKeyId: str(inputs, "kmsKeyId"), logGroupClass: str(inputs, "logGroupClass"), tags: Object.keys(tags).length === 0 ? undefined : tags }));
        (await aws.store()).delete(LOG_GROUP_KMS_KIND, name);
        progress(name, { ...inputs, name });
        const retention = num(inputs, "retentionInDays");
        if (retention !== undefined && retention > 0) await aws.json("logs", "PutRetentionPolicy", { logGroupName: name, retentionInDays: retention });
        const outputs = await logGroupOutputs(aws, name, { ...inputs, name });
        if (!outputs) throw new Error(`fakeProvider: log group ${name} vanished right after creation`);
        return { id: name, outputs };
    },
    read: (aws, id, _state, inputs) => logGroupOutputs(aws, id, inputs),
    async update(aws, id, { olds, news, changed }) {
        const rest = new Set(changed);
        if (rest.delete("retentionInDays")) {
            const retention = num(news, "retentionInDays");
            if (retention !== undefined && retention > 0) await aws.json("logs", "PutRetentionPolicy", { logGroupName: id, retentionInDays: retention });
            else await aws.json("logs", "DeleteRetentionPolicy", { logGroupName: id });
        }
        if (rest.delete("kmsKeyId")) {
            const group = await describeLogGroup(aws, id);
            if (!group) throw new Error(`fakeProvider: log group ${id} is gone`);
            (await aws.store()).put<LogGroupKmsRecord>(LOG_GROUP_KMS_KIND, id, { creationTime: Number(group["creationTime"] ?? 0), kmsKeyId: str(news, "kmsKeyId") ?? "" });
        }
        if (rest.delete("tags")) {
            const arn = str(olds, "arn") ?? (await aws.arn("logs", `log-group:${id}`));
            const { set, remove } = tagChanges(aws.tagsAll(tagsOf(olds["tags"])), aws.tagsAll(tagsOf(news["tags"])));
            if (remove.length > 0) await aws.json("logs", "UntagResource", { resourceArn: arn, tagKeys: remove });
            if (Object.keys(set).length > 0) await aws.json("logs", "TagResource", { resourceArn: arn, tags: set });
        }
        for (const k of RESOURCE_SPECS["aws:cloudwatch/logGroup:LogGroup"]?.stateOnly ?? []) rest.delete(k);
        if (rest.size > 0) unsupportedUpdate("aws:cloudwatch/logGroup:LogGroup", [...rest]);
        const outputs = await logGroupOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: log group ${id} is gone`);
        return outputs;
    },
    async delete(aws, id, state) {
        if (bool(state, "skipDestroy")) return;
        try {
            await aws.json("logs", "DeleteLogGroup", { logGroupName: id });
        } catch (err) {
            if (!isNotFound(err, "ResourceNotFoundException")) throw err;
        }
        (await aws.store()).delete(LOG_GROUP_KMS_KIND, id);
    },
};

// --- Lambda ------------------------------------------------------------------------------------

/** A function's settings moto 5.2.1 does not keep (LoggingConfig, KMSKeyArn), as Lambda would answer them. */
const FUNCTION_SETTINGS_KIND = "lambda-function-settings";

interface FunctionSettingsRecord {
    readonly loggingConfig: { LogFormat: string; LogGroup: string; ApplicationLogLevel?: string; SystemLogLevel?: string };
    readonly kmsKeyArn?: string;
}

function functionPath(name: string, rest = ""): string {
    return `/2015-03-31/functions/${encodeRfc3986(name)}${rest}`;
}

/** A function named by name, ARN or partial ARN: its name (the plugin's calls name functions by name). */
function functionNameOf(nameOrArn: string): string {
    const m = /^(?:arn:[^:]+:lambda:[^:]+:\d{12}:function:|\d{12}:function:)?([^:]+)(?::[^:]+)?$/.exec(nameOrArn);
    return m?.[1] ?? nameOrArn;
}

function loggingConfigRequest(name: string, inputs: Props): FunctionSettingsRecord["loggingConfig"] {
    const c = obj(inputs, "loggingConfig");
    const format = str(c, "logFormat") ?? "Text";
    const applicationLogLevel = str(c, "applicationLogLevel");
    const systemLogLevel = str(c, "systemLogLevel");
    if (format !== "JSON" && (applicationLogLevel || systemLogLevel)) {
        throw new AwsError("InvalidParameterValueException", "Log levels can only be set with the JSON log format (enforced by the test plugin; moto keeps no logging configuration)", 400);
    }
    return defined({ LogFormat: format, LogGroup: str(c, "logGroup") ?? `/aws/lambda/${name}`, ApplicationLogLevel: applicationLogLevel, SystemLogLevel: systemLogLevel });
}

function checkFunctionInputs(inputs: Props): void {
    for (const k of ["imageUri", "s3Bucket", "s3Key", "s3ObjectVersion", "imageConfig", "fileSystemConfig", "deadLetterConfig", "snapStart", "codeSigningConfigArn", "capacityProviderConfig", "durableConfig", "tenancyConfig"]) {
        const v = inputs[k];
        if (v !== undefined && v !== null && v !== "" && !(Array.isArray(v) && v.length === 0) && !(isPlainObject(v) && Object.keys(v).length === 0)) {
            throw new Error(`fakeProvider: ${k} of aws:lambda/function:Function is not implemented by the test plugin`);
        }
    }
    if (strings(obj(inputs, "vpcConfig"), "subnetIds").length > 0) throw new Error("fakeProvider: vpcConfig of aws:lambda/function:Function is not implemented by the test plugin");
    if (bool(inputs, "publish") === true) throw new Error("fakeProvider: publish (versions) of aws:lambda/function:Function is not implemented by the test plugin");
}

/** The function's zip, base64, from its `code` archive. */
function functionZip(inputs: Props): string {
    if (inputs["code"] === undefined) throw new Error("fakeProvider: aws:lambda/function:Function needs `code` (the only package source the test plugin implements)");
    return zipArchive(archiveEntries(inputs["code"])).toString("base64");
}

async function getFunction(aws: Aws, name: string): Promise<Record<string, unknown> | undefined> {
    try {
        return await aws.lambda("GET", functionPath(name));
    } catch (err) {
        if (isNotFound(err, "ResourceNotFoundException")) return undefined;
        throw err;
    }
}

async function functionOutputs(aws: Aws, name: string, inputs: Props): Promise<Props | undefined> {
    const fn = await getFunction(aws, name);
    if (!fn) return undefined;
    const c = (fn["Configuration"] ?? {}) as Record<string, unknown>;
    const arn = String(c["FunctionArn"] ?? (await aws.arn("lambda", `function:${name}`)));
    const version = String(c["Version"] ?? "$LATEST");
    const settings = (await aws.store()).get<FunctionSettingsRecord>(FUNCTION_SETTINGS_KIND, arn);
    const logging = settings?.loggingConfig ?? { LogFormat: "Text", LogGroup: `/aws/lambda/${name}` };
    const concurrency = ((fn["Concurrency"] ?? {}) as Record<string, unknown>)["ReservedConcurrentExecutions"];
    const variables = ((c["Environment"] ?? {}) as Record<string, unknown>)["Variables"] as Record<string, string> | undefined;
    const codeSha256 = String(c["CodeSha256"] ?? "");
    const { partition } = aws.partition;
    const invokeArn = `arn:${partition}:apigateway:${aws.region}:lambda:path/2015-03-31/functions/${arn}/invocations`;
    const qualifiedArn = `${arn}:${version}`;
    return {
        ...inputs,
        name,
        arn,
        invokeArn,
        qualifiedArn,
        qualifiedInvokeArn: `arn:${partition}:apigateway:${aws.region}:lambda:path/2015-03-31/functions/${qualifiedArn}/invocations`,
        responseStreamingInvokeArn: `arn:${partition}:apigateway:${aws.region}:lambda:path/2021-11-15/functions/${arn}/response-streaming-invocations`,
        version,
        lastModified: String(c["LastModified"] ?? ""),
        role: String(c["Role"] ?? ""),
        runtime: String(c["Runtime"] ?? ""),
        handler: String(c["Handler"] ?? ""),
        description: String(c["Description"] ?? ""),
        timeout: Number(c["Timeout"] ?? 3),
        memorySize: Number(c["MemorySize"] ?? 128),
        packageType: String(c["PackageType"] ?? "Zip"),
        architectures: (c["Architectures"] ?? ["x86_64"]) as string[],
        codeSha256,
        // A synthetic argument of the provider's (terraform-provider-aws v6): the program's own hash when it gives one.
        sourceCodeHash: str(inputs, "sourceCodeHash") ?? codeSha256,
        sourceCodeSize: Number(c["CodeSize"] ?? 0),
        environment: variables && Object.keys(variables).length > 0 ? { variables } : undefined,
        ephemeralStorage: { size: Number(((c["EphemeralStorage"] ?? {}) as Record<string, unknown>)["Size"] ?? 512) },
        tracingConfig: { mode: String(((c["TracingConfig"] ?? {}) as Record<string, unknown>)["Mode"] ?? "PassThrough") },
        loggingConfig: {
            logFormat: logging.LogFormat,
            logGroup: logging.LogGroup,
            applicationLogLevel: logging.ApplicationLogLevel ?? "",
            systemLogLevel: logging.SystemLogLevel ?? "",
        },
        kmsKeyArn: settings?.kmsKeyArn ?? "",
        layers: ((c["Layers"] ?? []) as Array<Record<string, unknown>>).map((l) => String(l["Arn"] ?? "")),
        reservedConcurrentExecutions: typeof concurrency === "number" ? concurrency : -1,
        publish: false,
        skipDestroy: bool(inputs, "skipDestroy") ?? false,
        signingJobArn: String(c["SigningJobArn"] ?? ""),
        signingProfileVersionArn: String(c["SigningProfileVersionArn"] ?? ""),
        ...tagOutputs(aws, (fn["Tags"] ?? {}) as Tags, inputs),
        region: aws.region,
    };
}

async function putFunctionSettings(aws: Aws, arn: string, name: string, inputs: Props): Promise<void> {
    (await aws.store()).put<FunctionSettingsRecord>(FUNCTION_SETTINGS_KIND, arn, defined({ loggingConfig: loggingConfigRequest(name, inputs), kmsKeyArn: str(inputs, "kmsKeyArn") }));
}

async function setConcurrency(aws: Aws, name: string, reserved: number | undefined): Promise<void> {
    if (reserved !== undefined && reserved >= 0) {
        await aws.lambda("PUT", `/2017-10-31/functions/${encodeRfc3986(name)}/concurrency`, { ReservedConcurrentExecutions: reserved });
    } else {
        await aws.lambda("DELETE", `/2017-10-31/functions/${encodeRfc3986(name)}/concurrency`);
    }
}

const FUNCTION_CONFIGURATION_KEYS = ["description", "handler", "memorySize", "role", "runtime", "timeout", "environment", "layers"] as const;

/**
 * A Lambda function from an archive (`code`): the plugin builds the zip itself (zipArchive) and
 * moto's CreateFunction takes it (moto needs Docker only to invoke, which the plugin never does).
 * moto checks the role exists; Lambda's ResourceConflictException for an existing name is enforced
 * by the plugin (moto would replace the function). moto keeps no logging configuration nor KMS
 * key: those are kept in the FakeStore, keyed by the function's ARN, and answered as Lambda would
 * (its default logging: Text to /aws/lambda/<name>). Images, S3 packages, VPCs, versions and the
 * other settings moto ignores are not implemented (they fail, naming the property).
 */
const lambdaFunction: Handler = {
    async create(aws, { inputs, progress }) {
        checkFunctionInputs(inputs);
        const name = str(inputs, "name") as string;
        if (await getFunction(aws, name)) {
            throw new AwsError("ResourceConflictException", `Function already exist: ${name} (enforced by the test plugin; moto would replace it)`, 409);
        }
        const zip = functionZip(inputs);
        const settings = loggingConfigRequest(name, inputs);
        const tags = aws.tagsAll(tagsOf(inputs["tags"]));
        const variables = obj(inputs, "environment")["variables"];
        const ephemeral = num(obj(inputs, "ephemeralStorage"), "size");
        const tracing = str(obj(inputs, "tracingConfig"), "mode");
        const created = await aws.lambda(
            "POST",
            "/2015-03-31/functions",
            defined({
                FunctionName: name,
                Role: str(inputs, "role"),
                Runtime: str(inputs, "runtime"),
                Handler: str(inputs, "handler"),
                Description: str(inputs, "description"),
                Timeout: num(inputs, "timeout"),
                MemorySize: num(inputs, "memorySize"),
                PackageType: str(inputs, "packageType") ?? "Zip",
                Architectures: strings(inputs, "architectures").length > 0 ? strings(inputs, "architectures") : undefined,
                Code: { ZipFile: zip },
                Environment: isPlainObject(variables) ? { Variables: tagsOf(variables) } : undefined,
                Layers: strings(inputs, "layers").length > 0 ? strings(inputs, "layers") : undefined,
                EphemeralStorage: ephemeral === undefined ? undefined : { Size: ephemeral },
                TracingConfig: tracing === undefined ? undefined : { Mode: tracing },
                LoggingConfig: settings,
                KMSKeyArn: str(inputs, "kmsKeyArn"),
                Tags: Object.keys(tags).length === 0 ? undefined : tags,
            }),
        );
        const arn = String(created["FunctionArn"] ?? (await aws.arn("lambda", `function:${name}`)));
        progress(name, { ...inputs, name, arn });
        await putFunctionSettings(aws, arn, name, inputs);
        const reserved = num(inputs, "reservedConcurrentExecutions");
        if (reserved !== undefined && reserved >= 0) await setConcurrency(aws, name, reserved);
        const outputs = await functionOutputs(aws, name, inputs);
        if (!outputs) throw new Error(`fakeProvider: function ${name} vanished right after creation`);
        return { id: name, outputs };
    },
    read: (aws, id, _state, inputs) => functionOutputs(aws, id, inputs),
    async update(aws, id, { olds, news, changed }) {
        checkFunctionInputs(news);
        const rest = new Set(changed);
        const configuration = FUNCTION_CONFIGURATION_KEYS.filter((k) => rest.delete(k));
        if (configuration.length > 0) {
            const variables = obj(news, "environment")["variables"];
            await aws.lambda(
                "PUT",
                functionPath(id, "/configuration"),
                defined({
                    Description: str(news, "description") ?? "",
                    Handler: str(news, "handler"),
                    MemorySize: num(news, "memorySize"),
                    Role: str(news, "role"),
                    Runtime: str(news, "runtime"),
                    Timeout: num(news, "timeout"),
                    Environment: { Variables: isPlainObject(variables) ? tagsOf(variables) : {} },
                    Layers: strings(news, "layers"),
                }),
            );
        }
        const settingsChanged = [rest.delete("loggingConfig"), rest.delete("kmsKeyArn")].some(Boolean);
        if (settingsChanged) {
            const arn = str(olds, "arn") ?? (await aws.arn("lambda", `function:${id}`));
            await putFunctionSettings(aws, arn, id, news);
        }
        const codeChanged = [rest.delete("code"), rest.delete("sourceCodeHash"), rest.delete("architectures")].some(Boolean);
        if (codeChanged) {
            await aws.lambda(
                "PUT",
                functionPath(id, "/code"),
                defined({ ZipFile: functionZip(news), Architectures: strings(news, "architectures").length > 0 ? strings(news, "architectures") : undefined }),
            );
        }
        if (rest.delete("reservedConcurrentExecutions")) await setConcurrency(aws, id, num(news, "reservedConcurrentExecutions"));
        if (rest.delete("tags")) {
            const arn = str(olds, "arn") ?? (await aws.arn("lambda", `function:${id}`));
            const { set, remove } = tagChanges(aws.tagsAll(tagsOf(olds["tags"])), aws.tagsAll(tagsOf(news["tags"])));
            const tagsPath = `/2017-03-31/tags/${encodeRfc3986(arn)}`;
            if (remove.length > 0) await aws.lambda("DELETE", `${tagsPath}?${remove.map((k) => `tagKeys=${encodeRfc3986(k)}`).join("&")}`);
            if (Object.keys(set).length > 0) await aws.lambda("POST", tagsPath, { Tags: set });
        }
        for (const k of RESOURCE_SPECS["aws:lambda/function:Function"]?.stateOnly ?? []) rest.delete(k);
        if (rest.size > 0) unsupportedUpdate("aws:lambda/function:Function", [...rest]);
        const outputs = await functionOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: function ${id} is gone`);
        return outputs;
    },
    async delete(aws, id, state) {
        if (bool(state, "skipDestroy")) return;
        try {
            await aws.lambda("DELETE", functionPath(id));
        } catch (err) {
            if (!isNotFound(err, "ResourceNotFoundException")) throw err;
        }
        const arn = str(state, "arn");
        if (arn) (await aws.store()).delete(FUNCTION_SETTINGS_KIND, arn);
    },
};

/** The statements of a function's resource policy (none when it has no policy). */
async function functionPolicyStatements(aws: Aws, functionName: string, qualifier: string | undefined): Promise<Array<Record<string, unknown>>> {
    let answer: Record<string, unknown>;
    try {
        answer = await aws.lambda("GET", functionPath(functionName, "/policy"), undefined, qualifier ? { Qualifier: qualifier } : undefined);
    } catch (err) {
        if (isNotFound(err, "ResourceNotFoundException")) return [];
        throw err;
    }
    const policy = typeof answer["Policy"] === "string" ? (JSON.parse(answer["Policy"]) as Record<string, unknown>) : {};
    return (policy["Statement"] ?? []) as Array<Record<string, unknown>>;
}

async function permissionOutputs(aws: Aws, statementId: string, inputs: Props): Promise<Props | undefined> {
    const fn = functionNameOf(str(inputs, "function") ?? "");
    if (!(await getFunction(aws, fn))) return undefined;
    const statement = (await functionPolicyStatements(aws, fn, str(inputs, "qualifier"))).find((s) => s["Sid"] === statementId);
    if (!statement) return undefined;
    const principal = statement["Principal"];
    const condition = (statement["Condition"] ?? {}) as Record<string, Record<string, unknown>>;
    const action = statement["Action"];
    return {
        ...inputs,
        statementId,
        statementIdPrefix: str(inputs, "statementIdPrefix") ?? "",
        action: Array.isArray(action) ? String(action[0] ?? "") : String(action ?? ""),
        principal: isPlainObject(principal) ? String(principal["Service"] ?? principal["AWS"] ?? "") : String(principal ?? ""),
        sourceArn: String(condition["ArnLike"]?.["AWS:SourceArn"] ?? str(inputs, "sourceArn") ?? ""),
        sourceAccount: String(condition["StringEquals"]?.["AWS:SourceAccount"] ?? str(inputs, "sourceAccount") ?? ""),
        qualifier: str(inputs, "qualifier") ?? "",
        region: aws.region,
    };
}

/**
 * A statement of a function's resource policy (its id is the statement id; every property forces
 * replacement, as in terraform-provider-aws). Lambda's ResourceConflictException for a statement id
 * already in use is enforced by the plugin (moto would add a second one).
 */
const lambdaPermission: Handler = {
    async create(aws, { inputs }) {
        const statementId = str(inputs, "statementId") ?? prefixedUniqueId(str(inputs, "statementIdPrefix") ?? "terraform-");
        const fn = functionNameOf(str(inputs, "function") as string);
        const qualifier = str(inputs, "qualifier");
        if ((await functionPolicyStatements(aws, fn, qualifier)).some((s) => s["Sid"] === statementId)) {
            throw new AwsError(
                "ResourceConflictException",
                `The statement id (${statementId}) provided already exists. Please provide a new statement id, or remove the existing statement. (enforced by the test plugin; moto does not)`,
                409,
            );
        }
        await aws.lambda(
            "POST",
            functionPath(fn, "/policy"),
            defined({
                StatementId: statementId,
                Action: str(inputs, "action"),
                Principal: str(inputs, "principal"),
                SourceArn: str(inputs, "sourceArn"),
                SourceAccount: str(inputs, "sourceAccount"),
                EventSourceToken: str(inputs, "eventSourceToken"),
                PrincipalOrgID: str(inputs, "principalOrgId"),
                FunctionUrlAuthType: str(inputs, "functionUrlAuthType"),
            }),
            qualifier ? { Qualifier: qualifier } : undefined,
        );
        const outputs = await permissionOutputs(aws, statementId, inputs);
        if (!outputs) throw new Error(`fakeProvider: permission ${statementId} of ${fn} vanished right after creation`);
        return { id: statementId, outputs };
    },
    read: (aws, id, state, inputs) => permissionOutputs(aws, id, { ...inputs, function: str(inputs, "function") ?? str(state, "function") }),
    async update(_aws, _id, { changed }) {
        unsupportedUpdate("aws:lambda/permission:Permission", [...changed]);
    },
    async delete(aws, id, state) {
        const fn = functionNameOf(str(state, "function") ?? "");
        const qualifier = str(state, "qualifier");
        try {
            await aws.lambda("DELETE", functionPath(fn, `/policy/${encodeRfc3986(id)}`), undefined, qualifier ? { Qualifier: qualifier } : undefined);
        } catch (err) {
            if (!isNotFound(err, "ResourceNotFoundException")) throw err;
        }
    },
};

// --- EventBridge -------------------------------------------------------------------------------

function eventBusOf(inputs: Props): string {
    return str(inputs, "eventBusName") ?? "default";
}

/** An aws_cloudwatch_event_rule's id: the name on the default bus, else `<bus>/<name>`. */
export function eventRuleIdParts(id: string): { bus: string; name: string } {
    const slash = id.lastIndexOf("/");
    return slash < 0 ? { bus: "default", name: id } : { bus: id.slice(0, slash), name: id.slice(slash + 1) };
}

function eventRuleState(inputs: Props): string {
    return str(inputs, "state") ?? (bool(inputs, "isEnabled") === false ? "DISABLED" : "ENABLED");
}

function putRuleRequest(name: string, inputs: Props): Record<string, unknown> {
    const bus = eventBusOf(inputs);
    return defined({
        Name: name,
        EventBusName: bus === "default" ? undefined : bus,
        EventPattern: str(inputs, "eventPattern"),
        ScheduleExpression: str(inputs, "scheduleExpression"),
        Description: str(inputs, "description"),
        RoleArn: str(inputs, "roleArn"),
        State: eventRuleState(inputs),
    });
}

async function eventRuleOutputs(aws: Aws, id: string, inputs: Props): Promise<Props | undefined> {
    const { bus, name } = eventRuleIdParts(id);
    let rule: Record<string, unknown>;
    try {
        rule = await aws.json("events", "DescribeRule", defined({ Name: name, EventBusName: bus === "default" ? undefined : bus }));
    } catch (err) {
        if (isNotFound(err, "ResourceNotFoundException")) return undefined;
        throw err;
    }
    const arn = String(rule["Arn"] ?? "");
    const tagList = ((await aws.json("events", "ListTagsForResource", { ResourceARN: arn }))["Tags"] ?? []) as Array<{ Key?: string; Value?: string }>;
    const state = String(rule["State"] ?? "ENABLED");
    return {
        ...inputs,
        name,
        namePrefix: str(inputs, "namePrefix") ?? "",
        arn,
        eventBusName: bus,
        eventPattern: keepEquivalentPolicy(inputs["eventPattern"], typeof rule["EventPattern"] === "string" ? rule["EventPattern"] : undefined) ?? "",
        scheduleExpression: String(rule["ScheduleExpression"] ?? ""),
        description: String(rule["Description"] ?? ""),
        roleArn: String(rule["RoleArn"] ?? ""),
        state,
        isEnabled: state !== "DISABLED",
        forceDestroy: bool(inputs, "forceDestroy") ?? false,
        ...tagOutputs(aws, fromAwsTags(tagList), inputs),
        region: aws.region,
    };
}

/** An EventBridge rule (PutRule creates and updates). EventBridge refuses to delete a rule with targets (moto too), unless forceDestroy. */
const eventRule: Handler = {
    async create(aws, { inputs }) {
        const name = str(inputs, "name") ?? prefixedUniqueId(str(inputs, "namePrefix") ?? "terraform-");
        const tags = aws.tagsAll(tagsOf(inputs["tags"]));
        await aws.json("events", "PutRule", { ...putRuleRequest(name, inputs), ...(Object.keys(tags).length === 0 ? {} : { Tags: awsTags(tags) }) });
        const bus = eventBusOf(inputs);
        const id = bus === "default" ? name : `${bus}/${name}`;
        const outputs = await eventRuleOutputs(aws, id, { ...inputs, name });
        if (!outputs) throw new Error(`fakeProvider: event rule ${id} vanished right after creation`);
        return { id, outputs };
    },
    read: (aws, id, _state, inputs) => eventRuleOutputs(aws, id, inputs),
    async update(aws, id, { olds, news, changed }) {
        const rest = new Set(changed);
        const tagsChanged = rest.delete("tags");
        for (const k of RESOURCE_SPECS["aws:cloudwatch/eventRule:EventRule"]?.stateOnly ?? []) rest.delete(k);
        if (rest.size > 0) await aws.json("events", "PutRule", putRuleRequest(eventRuleIdParts(id).name, news));
        if (tagsChanged) {
            const arn = str(olds, "arn") as string;
            const { set, remove } = tagChanges(aws.tagsAll(tagsOf(olds["tags"])), aws.tagsAll(tagsOf(news["tags"])));
            if (remove.length > 0) await aws.json("events", "UntagResource", { ResourceARN: arn, TagKeys: remove });
            if (Object.keys(set).length > 0) await aws.json("events", "TagResource", { ResourceARN: arn, Tags: awsTags(set) });
        }
        const outputs = await eventRuleOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: event rule ${id} is gone`);
        return outputs;
    },
    async delete(aws, id, state) {
        const { bus, name } = eventRuleIdParts(id);
        try {
            await aws.json("events", "DeleteRule", defined({ Name: name, EventBusName: bus === "default" ? undefined : bus, Force: bool(state, "forceDestroy") }));
        } catch (err) {
            if (!isNotFound(err, "ResourceNotFoundException")) throw err;
        }
    },
};

function eventTargetRequest(targetId: string, inputs: Props): Record<string, unknown> {
    const retry = obj(inputs, "retryPolicy");
    const deadLetter = obj(inputs, "deadLetterConfig");
    for (const k of ["ecsTarget", "batchTarget", "kinesisTarget", "sqsTarget", "httpTarget", "redshiftTarget", "sagemakerPipelineTarget", "appsyncTarget", "inputTransformer", "runCommandTargets"]) {
        const v = inputs[k];
        if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0)) throw new Error(`fakeProvider: ${k} of aws:cloudwatch/eventTarget:EventTarget is not implemented by the test plugin`);
    }
    return defined({
        Id: targetId,
        Arn: str(inputs, "arn"),
        RoleArn: str(inputs, "roleArn"),
        Input: str(inputs, "input"),
        InputPath: str(inputs, "inputPath"),
        RetryPolicy:
            Object.keys(retry).length === 0
                ? undefined
                : defined({ MaximumRetryAttempts: num(retry, "maximumRetryAttempts"), MaximumEventAgeInSeconds: num(retry, "maximumEventAgeInSeconds") }),
        DeadLetterConfig: str(deadLetter, "arn") ? { Arn: str(deadLetter, "arn") } : undefined,
    });
}

async function eventTargetOutputs(aws: Aws, rule: string, bus: string, targetId: string, inputs: Props): Promise<Props | undefined> {
    let targets: Array<Record<string, unknown>>;
    try {
        targets = ((await aws.json("events", "ListTargetsByRule", defined({ Rule: rule, EventBusName: bus === "default" ? undefined : bus })))["Targets"] ?? []) as Array<Record<string, unknown>>;
    } catch (err) {
        if (isNotFound(err, "ResourceNotFoundException")) return undefined;
        throw err;
    }
    const t = targets.find((x) => x["Id"] === targetId);
    if (!t) return undefined;
    const retry = t["RetryPolicy"] as Record<string, unknown> | undefined;
    const deadLetter = t["DeadLetterConfig"] as Record<string, unknown> | undefined;
    return defined({
        ...inputs,
        rule,
        targetId,
        eventBusName: bus,
        arn: String(t["Arn"] ?? ""),
        roleArn: String(t["RoleArn"] ?? ""),
        input: String(t["Input"] ?? ""),
        inputPath: String(t["InputPath"] ?? ""),
        retryPolicy: retry ? defined({ maximumRetryAttempts: retry["MaximumRetryAttempts"], maximumEventAgeInSeconds: retry["MaximumEventAgeInSeconds"] }) : undefined,
        deadLetterConfig: deadLetter ? { arn: String(deadLetter["Arn"] ?? "") } : undefined,
        forceDestroy: bool(inputs, "forceDestroy") ?? false,
        region: aws.region,
    });
}

/** An aws_cloudwatch_event_target's id: `<rule>-<target id>` on the default bus, else `<bus>-<rule>-<target id>`. */
export function eventTargetId(bus: string, rule: string, targetId: string): string {
    return bus === "default" ? `${rule}-${targetId}` : `${bus}-${rule}-${targetId}`;
}

/** A target of an EventBridge rule (PutTargets creates and updates). */
const eventTarget: Handler = {
    async create(aws, { inputs }) {
        const rule = str(inputs, "rule") as string;
        const bus = eventBusOf(inputs);
        // terraform-provider-aws: id.UniqueId() when no target id is given.
        const targetId = str(inputs, "targetId") ?? prefixedUniqueId("terraform-");
        const answer = await aws.json("events", "PutTargets", defined({ Rule: rule, EventBusName: bus === "default" ? undefined : bus, Targets: [eventTargetRequest(targetId, inputs)] }));
        if (Number(answer["FailedEntryCount"] ?? 0) > 0) throw new Error(`fakeProvider: PutTargets failed: ${JSON.stringify(answer["FailedEntries"])}`);
        const outputs = await eventTargetOutputs(aws, rule, bus, targetId, inputs);
        if (!outputs) throw new Error(`fakeProvider: target ${targetId} of ${rule} vanished right after creation`);
        return { id: eventTargetId(bus, rule, targetId), outputs };
    },
    read: (aws, _id, state, inputs) => eventTargetOutputs(aws, str(state, "rule") as string, eventBusOf(state), str(state, "targetId") as string, inputs),
    async update(aws, _id, { olds, news, changed }) {
        const rest = new Set(changed);
        for (const k of RESOURCE_SPECS["aws:cloudwatch/eventTarget:EventTarget"]?.stateOnly ?? []) rest.delete(k);
        const rule = str(olds, "rule") as string;
        const bus = eventBusOf(olds);
        const targetId = str(olds, "targetId") as string;
        if (rest.size > 0) {
            const answer = await aws.json("events", "PutTargets", defined({ Rule: rule, EventBusName: bus === "default" ? undefined : bus, Targets: [eventTargetRequest(targetId, news)] }));
            if (Number(answer["FailedEntryCount"] ?? 0) > 0) throw new Error(`fakeProvider: PutTargets failed: ${JSON.stringify(answer["FailedEntries"])}`);
        }
        const outputs = await eventTargetOutputs(aws, rule, bus, targetId, news);
        if (!outputs) throw new Error(`fakeProvider: target ${targetId} of ${rule} is gone`);
        return outputs;
    },
    async delete(aws, _id, state) {
        const bus = eventBusOf(state);
        try {
            await aws.json("events", "RemoveTargets", defined({ Rule: str(state, "rule"), EventBusName: bus === "default" ? undefined : bus, Ids: [str(state, "targetId")], Force: bool(state, "forceDestroy") }));
        } catch (err) {
            if (!isNotFound(err, "ResourceNotFoundException")) throw err;
        }
    },
};

// --- SSM parameters ----------------------------------------------------------------------------

/** SSM's 4 KB limit of a standard parameter's value. */
const SSM_STANDARD_MAX_BYTES = 4096;

/**
 * The tier SSM reports: "Intelligent-Tiering" is a request, resolved to Standard, or Advanced when
 * the value needs it (moto reports the request as is).
 */
export function resolvedParameterTier(tier: string | undefined, value: string): string {
    if (tier === "Advanced") return "Advanced";
    if (tier === "Intelligent-Tiering") return Buffer.byteLength(value, "utf8") > SSM_STANDARD_MAX_BYTES ? "Advanced" : "Standard";
    return "Standard";
}

async function parameterOutputs(aws: Aws, name: string, inputs: Props): Promise<Props | undefined> {
    let p: Record<string, unknown>;
    try {
        p = ((await aws.ssm("GetParameter", { Name: name, WithDecryption: true }))["Parameter"] ?? {}) as Record<string, unknown>;
    } catch (err) {
        if (errorCode(err) === "ParameterNotFound") return undefined;
        throw err;
    }
    const metadata =
        ((await aws.ssm("DescribeParameters", { ParameterFilters: [{ Key: "Name", Option: "Equals", Values: [name] }] }))["Parameters"] as Array<Record<string, unknown>> | undefined)?.[0] ?? {};
    const tagList = ((await aws.ssm("ListTagsForResource", { ResourceType: "Parameter", ResourceId: name }))["TagList"] ?? []) as Array<{ Key?: string; Value?: string }>;
    const type = String(p["Type"] ?? "String");
    const value = String(p["Value"] ?? "");
    const insecure = str(inputs, "insecureValue") !== undefined && type !== "SecureString";
    return {
        ...inputs,
        name,
        arn: String(p["ARN"] ?? (await aws.arn("ssm", `parameter${name.startsWith("/") ? "" : "/"}${name}`))),
        type,
        value: insecure ? "" : value,
        insecureValue: insecure ? value : "",
        version: Number(p["Version"] ?? 1),
        dataType: String(metadata["DataType"] ?? p["DataType"] ?? "text"),
        description: String(metadata["Description"] ?? ""),
        allowedPattern: String(metadata["AllowedPattern"] ?? ""),
        keyId: String(metadata["KeyId"] ?? ""),
        tier: resolvedParameterTier(typeof metadata["Tier"] === "string" ? metadata["Tier"] : undefined, value),
        hasValueWo: false,
        ...tagOutputs(aws, fromAwsTags(tagList), inputs),
        region: aws.region,
    };
}

function parameterValue(inputs: Props): string {
    const v = inputs["insecureValue"] ?? inputs["value"];
    return typeof v === "string" ? v : "";
}

/**
 * An SSM parameter (value secret-capable: the engine re-marks the output secret). As
 * terraform-provider-aws: PutParameter, with Overwrite from `overwrite` (default: false at creation,
 * true on update) and, with Overwrite, the tags set separately (SSM refuses both in one call).
 * Write-only values are not implemented.
 */
const ssmParameter: Handler = {
    async create(aws, { inputs, progress }) {
        if (inputs["valueWo"] !== undefined) throw new Error("fakeProvider: valueWo of aws:ssm/parameter:Parameter is not implemented by the test plugin");
        const name = str(inputs, "name") as string;
        const type = str(inputs, "type");
        const overwrite = bool(inputs, "overwrite") ?? false;
        const tags = aws.tagsAll(tagsOf(inputs["tags"]));
        await aws.ssm(
            "PutParameter",
            defined({
                Name: name,
                Type: type,
                Value: parameterValue(inputs),
                Description: str(inputs, "description"),
                Tier: str(inputs, "tier"),
                AllowedPattern: str(inputs, "allowedPattern"),
                DataType: str(inputs, "dataType"),
                KeyId: type === "SecureString" ? str(inputs, "keyId") : undefined,
                Overwrite: overwrite,
                Tags: !overwrite && Object.keys(tags).length > 0 ? awsTags(tags) : undefined,
            }),
        );
        progress(name, { ...inputs, name });
        if (overwrite && Object.keys(tags).length > 0) await aws.ssm("AddTagsToResource", { ResourceType: "Parameter", ResourceId: name, Tags: awsTags(tags) });
        const outputs = await parameterOutputs(aws, name, inputs);
        if (!outputs) throw new Error(`fakeProvider: SSM parameter ${name} vanished right after creation`);
        return { id: name, outputs };
    },
    read: (aws, id, _state, inputs) => parameterOutputs(aws, id, inputs),
    async update(aws, id, { olds, news, changed }) {
        const rest = new Set(changed);
        const tagsChanged = rest.delete("tags");
        rest.delete("overwrite");
        if (rest.size > 0) {
            const type = str(news, "type");
            await aws.ssm(
                "PutParameter",
                defined({
                    Name: id,
                    Type: type,
                    Value: parameterValue(news),
                    Overwrite: bool(news, "overwrite") ?? true,
                    Tier: str(news, "tier"),
                    AllowedPattern: str(news, "allowedPattern") ?? "",
                    Description: rest.has("description") ? (str(news, "description") ?? "") : undefined,
                    DataType: rest.has("dataType") ? str(news, "dataType") : undefined,
                    KeyId: rest.has("keyId") && type === "SecureString" ? str(news, "keyId") : undefined,
                }),
            );
        }
        if (tagsChanged) {
            const { set, remove } = tagChanges(aws.tagsAll(tagsOf(olds["tags"])), aws.tagsAll(tagsOf(news["tags"])));
            if (remove.length > 0) await aws.ssm("RemoveTagsFromResource", { ResourceType: "Parameter", ResourceId: id, TagKeys: remove });
            if (Object.keys(set).length > 0) await aws.ssm("AddTagsToResource", { ResourceType: "Parameter", ResourceId: id, Tags: awsTags(set) });
        }
        const outputs = await parameterOutputs(aws, id, news);
        if (!outputs) throw new Error(`fakeProvider: SSM parameter ${id} is gone`);
        return outputs;
    },
    async delete(aws, id, state) {
        try {
            await aws.ssm("DeleteParameter", { Name: str(state, "name") ?? id });
        } catch (err) {
            if (errorCode(err) !== "ParameterNotFound") throw err;
        }
    },
};

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
    "aws:iam/policy:Policy": iamPolicy,
    "aws:iam/group:Group": iamGroup,
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": groupPolicyAttachment,
    "aws:iam/userGroupMembership:UserGroupMembership": userGroupMembership,
    "aws:iam/rolePolicy:RolePolicy": rolePolicy,
    "aws:cfg/recorder:Recorder": cfgRecorder,
    "aws:cfg/deliveryChannel:DeliveryChannel": cfgDeliveryChannel,
    "aws:cfg/recorderStatus:RecorderStatus": cfgRecorderStatus,
    "aws:cfg/rule:Rule": cfgRule,
    "aws:cfg/remediationConfiguration:RemediationConfiguration": cfgRemediation,
    "aws:cloudtrail/trail:Trail": cloudtrailTrail,
    "aws:cloudwatch/logGroup:LogGroup": logGroup,
    "aws:lambda/function:Function": lambdaFunction,
    "aws:lambda/permission:Permission": lambdaPermission,
    "aws:cloudwatch/eventRule:EventRule": eventRule,
    "aws:cloudwatch/eventTarget:EventTarget": eventTarget,
    "aws:ssm/parameter:Parameter": ssmParameter,
};

// ---------------------------------------------------------------------------------------------
// Invokes
// ---------------------------------------------------------------------------------------------

type Invoke = (aws: Aws, args: Props) => Promise<Props>;

/**
 * How pulumi-aws 7.x (terraform-provider-aws v6) words a look-up that found nothing:
 * aws_iam_policy's data source answers tfresource.SingularDataSourceFindError("IAM Policy"),
 * aws_ssm_parameter's (and aws_iam_policy's by ARN) a retry.NotFoundError around AWS's
 * ParameterNotFound / NoSuchEntity, whose text is "couldn't find resource". No AWS error code in
 * them. test/support/mocks.ts (NOT_FOUND_MESSAGES) words them the same.
 */
export const NOT_FOUND = {
    policy: "no matching IAM Policy found",
    policyMultiple: "multiple IAM Policys matched; use additional constraints to reduce matches to a single IAM Policy",
    policyArn: (arn: string): string => `reading IAM Policy (${arn}): couldn't find resource`,
    parameter: (name: string): string => `reading SSM Parameter (${name}): couldn't find resource`,
} as const;

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
     * aws_iam_policy's data source: by ARN, else by name and/or path prefix over ListPolicies (every
     * scope, as the provider lists them); the default version's document, URL-decoded. Nothing
     * matching fails with the provider's words (NOT_FOUND), at once: the provider retries a name
     * for IAM's 2-minute propagation time first.
     */
    "aws:iam/getPolicy:getPolicy": async (aws, args) => {
        let arn = str(args, "arn");
        const name = str(args, "name");
        const pathPrefix = str(args, "pathPrefix");
        if (!arn) {
            const found = (
                await listAll(async (Marker) => {
                    const r = await aws.iam.send(new iamsdk.ListPoliciesCommand({ PathPrefix: pathPrefix, Marker }));
                    return { items: r.Policies ?? [], marker: r.IsTruncated ? r.Marker : undefined };
                })
            ).filter((p) => name === undefined || p.PolicyName === name);
            if (found.length === 0) throw new Error(NOT_FOUND.policy);
            if (found.length > 1) throw new Error(NOT_FOUND.policyMultiple);
            arn = found[0]?.Arn ?? "";
        }
        let policy: iamsdk.Policy | undefined;
        try {
            policy = (await aws.iam.send(new iamsdk.GetPolicyCommand({ PolicyArn: arn }))).Policy;
        } catch (err) {
            if (isNotFound(err)) throw new Error(NOT_FOUND.policyArn(arn));
            throw err;
        }
        if (!policy) throw new Error(NOT_FOUND.policyArn(arn));
        const version = (await aws.iam.send(new iamsdk.GetPolicyVersionCommand({ PolicyArn: arn, VersionId: policy.DefaultVersionId }))).PolicyVersion;
        return defined({
            ...args,
            id: arn,
            arn,
            name: policy.PolicyName ?? "",
            path: policy.Path ?? "/",
            pathPrefix,
            description: policy.Description ?? "",
            policyId: policy.PolicyId ?? "",
            attachmentCount: policy.AttachmentCount ?? 0,
            policy: version?.Document === undefined ? "" : decodeURIComponent(version.Document),
            tags: fromAwsTags((await aws.iam.send(new iamsdk.ListPolicyTagsCommand({ PolicyArn: arn }))).Tags),
        });
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
            if (errorCode(err) !== "ParameterNotFound") throw err;
            const arch = amiParameterArchitecture(name);
            // The provider's words (retry.NotFoundError around ParameterNotFound): the error code is not in them.
            if (arch === undefined) throw new Error(NOT_FOUND.parameter(name));
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
