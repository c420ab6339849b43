/**
 * The test provider plugin (fakeProvider.ts) that the Pulumi CLI loads as pulumi-resource-aws (and
 * pulumi-resource-random, while @pulumi/random is installed) in the engine tests: its pure logic
 * directly, then the plugin itself, started through the wrapper scripts plugins.ts installs
 * (exactly what the CLI runs) and driven over gRPC against moto, behind the S3 policy front
 * (test/support/s3PolicyFront.ts) as in the engine tests, proving that resources really appear in
 * and disappear from moto.
 */
import * as childProcess from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    AttachRolePolicyCommand,
    CreatePolicyCommand,
    GetInstanceProfileCommand,
    GetRoleCommand,
    IAMClient,
    ListAttachedRolePoliciesCommand,
    ListRolePoliciesCommand,
    PutRolePolicyCommand,
} from "@aws-sdk/client-iam";
import {
    CreateSubnetCommand,
    CreateVpcCommand,
    DescribeImagesCommand,
    DescribeInstancesCommand,
    DescribeSecurityGroupRulesCommand,
    DescribeSecurityGroupsCommand,
    DescribeVolumesCommand,
    EC2Client,
    CreateSecurityGroupCommand,
    ModifyInstanceAttributeCommand,
} from "@aws-sdk/client-ec2";
import * as provproto from "@pulumi/pulumi/proto/provider_pb";
import * as plugproto from "@pulumi/pulumi/proto/plugin_pb";
import * as statusproto from "@pulumi/pulumi/proto/status_pb";
import * as structproto from "google-protobuf/google/protobuf/struct_pb";
import * as emptyproto from "google-protobuf/google/protobuf/empty_pb";
import { awsClientConfig, clientEnv, Moto, MOTO_ACCOUNT_ID, MOTO_REGION, startMoto } from "../support/moto";
import { killGroup, onRealExit, watchChild } from "../support/processes";
import {
    amiParameterArchitecture,
    architectureOfInstanceType,
    autoName,
    BUCKET_POLICY_MAX_BYTES,
    checkEndpoint,
    checkProperties,
    diffProperties,
    HANDLERS,
    INVOKES,
    parsePropertyPath,
    partitionOf,
    prefixedUniqueId,
    regionFrom,
    RESOURCE_SPECS,
    pluginVersion,
    rulePermission,
    signV4,
    tagChanges,
    toWire,
    volumeAttachmentId,
    withoutPath,
} from "./fakeProvider";
import { installTestPlugins, pluginLocation, wrapperScript } from "./plugins";
import { DeleteObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { S3PolicyFront, frontOptionsFor, s3ClientFor, startS3PolicyFront } from "../support/s3PolicyFront";
import { keyBucketPolicy } from "../../policies/keyBucket";
import { keyObjectKey } from "../../policies/keyNaming";

type Props = Record<string, unknown>;
type ServiceError = import("@grpc/grpc-js").ServiceError;

const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
const NODE = path.join(PROJECT_ROOT, "node_modules", "node", "bin", "node");
const pulumiDir = path.dirname(require.resolve("@pulumi/pulumi/package.json"));
const grpc: typeof import("@grpc/grpc-js") = require(require.resolve("@grpc/grpc-js", { paths: [pulumiDir] }));
const { ResourceProviderClient } = require("@pulumi/pulumi/proto/provider_grpc_pb") as {
    ResourceProviderClient: typeof import("@pulumi/pulumi/proto/provider_grpc_pb").ResourceProviderClient;
};
const AWS_VERSION = (JSON.parse(fs.readFileSync(require.resolve("@pulumi/aws/package.json"), "utf8")) as { version: string }).version;
/** @pulumi/random's version while it is installed (the program no longer uses it). */
const RANDOM_VERSION = pluginVersion("random");
const SEED = new Uint8Array(crypto.createHash("sha256").update("seed").digest());

function spec(type: string): (typeof RESOURCE_SPECS)[string] {
    const found = RESOURCE_SPECS[type];
    if (!found) throw new Error(`no spec for ${type}`);
    return found;
}

// ---------------------------------------------------------------------------------------------
// Pure logic
// ---------------------------------------------------------------------------------------------

describe("fakeProvider: pure logic", () => {
    test("SigV4 signatures equal botocore's for a JSON-1.1 call and an S3 PUT with an encoded key and query", () => {
        // Reference values computed with botocore 1.x SigV4Auth / S3SigV4Auth at 2024-01-02T03:04:05Z.
        const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" };
        const now = new Date(Date.UTC(2024, 0, 2, 3, 4, 5));
        const kms = signV4({
            method: "POST",
            url: "http://127.0.0.1:5000/",
            headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.DescribeKey" },
            body: Buffer.from('{"KeyId":"abc"}'),
            service: "kms",
            region: "eu-west-1",
            credentials,
            now,
        });
        expect(kms["authorization"]).toBe(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/eu-west-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=268152b20c39d8d676461339e77e6a8e571530714974e256fe2733036631cfd8",
        );
        const s3 = signV4({
            method: "PUT",
            url: "http://127.0.0.1:5000/bucket-one/dir/a%20b.txt?tagging",
            headers: { "Content-Type": "application/octet-stream", "x-amz-tagging": "a=b%20c" },
            body: Buffer.from("x"),
            service: "s3",
            region: "eu-west-1",
            credentials,
            now,
        });
        expect(s3["authorization"]).toBe(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240102/eu-west-1/s3/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-tagging, Signature=f14db792f943136c71faf2f2e97533b6809ff155429ac77f3c1482df3d7299dc",
        );
        expect(s3["x-amz-content-sha256"]).toBe(crypto.createHash("sha256").update("x").digest("hex"));
    });

    test("autonaming: <name>-<7 hex> from the seed, stable per seed, trimmed to the limit, lowercased for buckets", () => {
        const a = autoName("airlock-keys", SEED, { maxLength: 63, lowercase: true });
        expect(a).toMatch(/^airlock-keys-[0-9a-f]{7}$/);
        expect(autoName("airlock-keys", SEED, { maxLength: 63, lowercase: true })).toBe(a);
        expect(autoName("airlock-keys", new Uint8Array(32), { maxLength: 63 })).not.toBe(a);
        const long = autoName("x".repeat(100), SEED, { maxLength: 64 });
        expect(long).toHaveLength(64);
        expect(long).toMatch(/^x{57}[0-9a-f]{7}$/);
        expect(autoName("Web-1-Role", SEED, { maxLength: 64 })).toMatch(/^Web-1-Role-/);
        expect(autoName("Web-1-Role", SEED, { maxLength: 63, lowercase: true })).toMatch(/^web-1-role-/);
    });

    test("prefixedUniqueId: prefix + 18-digit UTC timestamp + 8 hex counter, unique per call", () => {
        const at = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 67));
        const one = prefixedUniqueId("alias/airlock-", at);
        const two = prefixedUniqueId("alias/airlock-", at);
        expect(one).toMatch(/^alias\/airlock-202401020304050670[0-9a-f]{8}$/);
        expect(one).not.toBe(two);
    });

    test("check: autonames the name properties, reuses the old name, reports missing and conflicting inputs", () => {
        const bucket = checkProperties("aws:s3/bucket:Bucket", spec("aws:s3/bucket:Bucket"), { name: "airlock-keys", olds: {}, news: { forceDestroy: false }, randomSeed: SEED });
        expect(bucket.failures).toEqual([]);
        expect(bucket.inputs["bucket"]).toMatch(/^airlock-keys-[0-9a-f]{7}$/);
        // An update's Check sees the old inputs: the name stays.
        const again = checkProperties("aws:s3/bucket:Bucket", spec("aws:s3/bucket:Bucket"), {
            name: "airlock-keys",
            olds: { bucket: "airlock-keys-1234567" },
            news: {},
            randomSeed: new Uint8Array(32),
        });
        expect(again.inputs["bucket"]).toBe("airlock-keys-1234567");
        // A given name or prefix is not autonamed.
        expect(checkProperties("aws:s3/bucket:Bucket", spec("aws:s3/bucket:Bucket"), { name: "b", olds: {}, news: { bucketPrefix: "p-" }, randomSeed: SEED }).inputs["bucket"]).toBeUndefined();
        expect(checkProperties("aws:iam/role:Role", spec("aws:iam/role:Role"), { name: "web-1-role", olds: {}, news: { assumeRolePolicy: "{}" }, randomSeed: SEED }).inputs["name"]).toMatch(
            /^web-1-role-[0-9a-f]{7}$/,
        );

        const role = checkProperties("aws:iam/role:Role", spec("aws:iam/role:Role"), { name: "r", olds: {}, news: {}, randomSeed: SEED });
        expect(role.failures.map((f) => f.property)).toEqual(["assumeRolePolicy"]);
        // An unknown value (preview) counts as set.
        const unknown = checkProperties("aws:kms/alias:Alias", spec("aws:kms/alias:Alias"), {
            name: "a",
            olds: {},
            news: { targetKeyId: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" },
            randomSeed: SEED,
        });
        expect(unknown.failures).toEqual([]);
        const rule = checkProperties("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", spec("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"), {
            name: "r",
            olds: {},
            news: { securityGroupId: "sg-1", ipProtocol: "tcp", cidrIpv4: "10.0.0.0/8", referencedSecurityGroupId: "sg-2" },
            randomSeed: SEED,
        });
        expect(rule.failures.map((f) => f.reason).join()).toMatch(/exactly one of "cidrIpv4", "cidrIpv6", "prefixListId", "referencedSecurityGroupId"/);
    });

    describe("diff", () => {
        const instance = spec("aws:ec2/instance:Instance");
        const inputs: Props = {
            ami: "ami-1",
            instanceType: "t3.small",
            vpcSecurityGroupIds: ["sg-rem"],
            userData: "#!/bin/sh",
            userDataReplaceOnChange: false,
            rootBlockDevice: { encrypted: true, kmsKeyId: "arn:k1", volumeType: "gp3", volumeSize: 8 },
            tags: { Name: "web-1" },
        };
        const outputs: Props = {
            ...inputs,
            arn: "arn:aws:ec2:eu-west-1:1:instance/i-1",
            privateIp: "10.0.0.5",
            rootBlockDevice: { encrypted: true, kmsKeyId: "arn:k1", volumeType: "gp3", volumeSize: 8, volumeId: "vol-1", deviceName: "/dev/xvda", iops: 3000 },
            tags: { Name: "web-1" },
        };

        test("no change, computed members in state and reordered sets are no difference", () => {
            expect(diffProperties(instance, { olds: outputs, oldInputs: inputs, news: inputs })).toEqual({ changed: [], replaces: [] });
            const twoGroups = { ...inputs, vpcSecurityGroupIds: ["sg-a", "sg-b"] };
            expect(
                diffProperties(instance, { olds: { ...outputs, vpcSecurityGroupIds: ["sg-b", "sg-a"] }, oldInputs: twoGroups, news: { ...twoGroups, vpcSecurityGroupIds: ["sg-b", "sg-a"] } }).changed,
            ).toEqual([]);
        });

        test("replacement per the table: top-level and nested members, userData only with userDataReplaceOnChange", () => {
            expect(diffProperties(instance, { olds: outputs, oldInputs: inputs, news: { ...inputs, ami: "ami-2" } })).toEqual({ changed: ["ami"], replaces: ["ami"] });
            expect(diffProperties(instance, { olds: outputs, oldInputs: inputs, news: { ...inputs, tags: { Name: "web-2" } } })).toEqual({ changed: ["tags"], replaces: [] });
            const rootKms = { ...inputs, rootBlockDevice: { ...(inputs["rootBlockDevice"] as Props), kmsKeyId: "arn:k2" } };
            expect(diffProperties(instance, { olds: outputs, oldInputs: inputs, news: rootKms }).replaces).toEqual(["rootBlockDevice"]);
            const rootSize = { ...inputs, rootBlockDevice: { ...(inputs["rootBlockDevice"] as Props), volumeSize: 16 } };
            expect(diffProperties(instance, { olds: outputs, oldInputs: inputs, news: rootSize })).toEqual({ changed: ["rootBlockDevice"], replaces: [] });
            expect(diffProperties(instance, { olds: outputs, oldInputs: inputs, news: { ...inputs, userData: "#!/bin/bash" } })).toEqual({ changed: ["userData"], replaces: [] });
            expect(
                diffProperties(instance, { olds: outputs, oldInputs: inputs, news: { ...inputs, userData: "#!/bin/bash", userDataReplaceOnChange: true } }).replaces,
            ).toEqual(["userData"]);
            // An unknown value differs, and replaces when its property does.
            expect(diffProperties(instance, { olds: outputs, oldInputs: inputs, news: { ...inputs, ami: "04da6b54-80e4-46f7-96ec-b56ff0331ba9" } }).replaces).toEqual(["ami"]);
            // A removed input differs.
            const { userData: _removed, ...withoutUserData } = inputs;
            expect(diffProperties(instance, { olds: outputs, oldInputs: inputs, news: withoutUserData }).changed).toEqual(["userData"]);
        });

        test("drift seen by a refresh differs, unless ignoreChanges covers it (whole property or one map key)", () => {
            const promoted = { ...outputs, vpcSecurityGroupIds: ["sg-prod"] };
            expect(diffProperties(instance, { olds: promoted, oldInputs: inputs, news: inputs })).toEqual({ changed: ["vpcSecurityGroupIds"], replaces: [] });
            expect(diffProperties(instance, { olds: promoted, oldInputs: inputs, news: inputs, ignoreChanges: ["vpcSecurityGroupIds", "securityGroups"] }).changed).toEqual([]);

            const signalled = { ...outputs, tags: { Name: "web-1", "airlock:bootstrap": "ready" } };
            expect(diffProperties(instance, { olds: signalled, oldInputs: inputs, news: inputs }).changed).toEqual(["tags"]);
            expect(diffProperties(instance, { olds: signalled, oldInputs: inputs, news: inputs, ignoreChanges: ['tags["airlock:bootstrap"]'] }).changed).toEqual([]);
            // Another drifted tag still shows.
            const both = { ...outputs, tags: { Name: "web-1", "airlock:bootstrap": "ready", other: "x" } };
            expect(diffProperties(instance, { olds: both, oldInputs: inputs, news: inputs, ignoreChanges: ['tags["airlock:bootstrap"]'] }).changed).toEqual(["tags"]);
        });

        test("property paths", () => {
            expect(parsePropertyPath("vpcSecurityGroupIds")).toEqual(["vpcSecurityGroupIds"]);
            expect(parsePropertyPath('tags["airlock:bootstrap"]')).toEqual(["tags", "airlock:bootstrap"]);
            expect(parsePropertyPath('a.b[0]["c.d]"].e[*]')).toEqual(["a", "b", "0", "c.d]", "e", "*"]);
            expect(withoutPath({ tags: { a: "1", b: "2" }, x: 1 }, ["tags", "a"])).toEqual({ tags: { b: "2" }, x: 1 });
            expect(withoutPath({ l: [{ a: 1, b: 2 }, { a: 3 }] }, ["l", "*", "a"])).toEqual({ l: [{ b: 2 }, {}] });
        });
    });

    test("architectures, AMI parameters, partitions, regions", () => {
        expect(["m7g.large", "t4g.micro", "c6gn.xlarge", "x2gd.large", "a1.medium"].map(architectureOfInstanceType)).toEqual(["arm64", "arm64", "arm64", "arm64", "arm64"]);
        expect(["t3.small", "c6i.xlarge", "m5.large", "g5.xlarge"].map(architectureOfInstanceType)).toEqual(["x86_64", "x86_64", "x86_64", "x86_64"]);
        expect(amiParameterArchitecture("/aws/service/debian/release/12/latest/arm64")).toBe("arm64");
        expect(amiParameterArchitecture("/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id")).toBe("x86_64");
        expect(amiParameterArchitecture("/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64")).toBe("arm64");
        expect(amiParameterArchitecture("/aws/service/global-infrastructure/regions")).toBeUndefined();
        expect(amiParameterArchitecture("/my/own/ami")).toBeUndefined();
        expect(partitionOf("eu-west-1")).toEqual({ partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" });
        expect(partitionOf("cn-north-1").partition).toBe("aws-cn");
        expect(partitionOf("cn-north-1").dnsSuffix).toBe("amazonaws.com.cn");
        expect(partitionOf("us-gov-west-1").partition).toBe("aws-us-gov");
        expect(regionFrom({ region: "us-east-2" }, { "aws:config:region": "eu-west-1" }, {})).toBe("us-east-2");
        expect(regionFrom({}, { "aws:config:region": "eu-west-1" }, { AWS_REGION: "us-west-2" })).toBe("eu-west-1");
        expect(regionFrom({}, {}, { AWS_REGION: "us-west-2" })).toBe("us-west-2");
        expect(regionFrom({}, {}, {})).toBeUndefined();
    });

    test("only loopback endpoints are accepted", () => {
        expect(checkEndpoint({ AWS_ENDPOINT_URL: "http://127.0.0.1:5000" })).toBeUndefined();
        expect(checkEndpoint({ AWS_ENDPOINT_URL: "http://localhost:5000" })).toBeUndefined();
        expect(checkEndpoint({})).toMatch(/AWS_ENDPOINT_URL is not set/);
        expect(checkEndpoint({ AWS_ENDPOINT_URL: "https://ec2.eu-west-1.amazonaws.com" })).toMatch(/not a loopback address/);
        expect(checkEndpoint({ AWS_ENDPOINT_URL: "http://127.0.0.1:5000", AWS_ENDPOINT_URL_S3: "https://s3.amazonaws.com" })).toMatch(/AWS_ENDPOINT_URL_S3/);
    });

    test("ids, tags, wire values, request shapes", () => {
        // Terraform's StringHashcode (Go int(crc32.ChecksumIEEE)) of "<device>-<instance>-<volume>-"; reference values from Python's zlib.crc32.
        expect(volumeAttachmentId("/dev/sdf", "i-0123456789abcdef0", "vol-0123456789abcdef0")).toBe("vai-3156037208");
        expect(volumeAttachmentId("/dev/sdh", "i-1234567", "vol-7654321")).toBe("vai-131219159");
        expect(tagChanges({ a: "1", b: "2", c: "3" }, { a: "1", b: "x", d: "4" })).toEqual({ set: { b: "x", d: "4" }, remove: ["c"] });
        expect(toWire({ a: undefined, b: [undefined, 1], c: new Date(0), d: { e: undefined } })).toEqual({ b: [null, 1], c: "1970-01-01T00:00:00.000Z", d: {} });
        expect(() => toWire({ f: () => 1 })).toThrow(/value\.f is not a JSON value/);
        expect(() => toWire({ n: BigInt(1) })).toThrow(/value\.n is not a JSON value/);
        expect(rulePermission({ ipProtocol: "-1", cidrIpv4: "10.0.0.0/8", description: "d", fromPort: -1, toPort: -1 })).toEqual({
            IpProtocol: "-1",
            FromPort: undefined,
            ToPort: undefined,
            IpRanges: [{ CidrIp: "10.0.0.0/8", Description: "d" }],
            Ipv6Ranges: undefined,
            PrefixListIds: undefined,
            UserIdGroupPairs: undefined,
        });
        expect(rulePermission({ ipProtocol: "tcp", fromPort: 443, toPort: 443, referencedSecurityGroupId: "sg-1" }).UserIdGroupPairs).toEqual([{ GroupId: "sg-1", Description: undefined }]);
    });

    test("plugins.ts lays the wrappers out as the CLI's plugin cache expects", () => {
        const home = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-plugins-"));
        try {
            const awsDir = pluginLocation(home, "aws", AWS_VERSION).dir;
            fs.mkdirSync(path.dirname(awsDir), { recursive: true });
            fs.writeFileSync(`${awsDir}.partial`, "");
            const installed = installTestPlugins(home, { node: NODE });
            // random only while @pulumi/random is installed: without the package nothing asks for the plugin.
            expect(installed.map((p) => path.relative(home, p.executable))).toEqual([
                `plugins/resource-aws-v${AWS_VERSION}/pulumi-resource-aws`,
                ...(RANDOM_VERSION === undefined ? [] : [`plugins/resource-random-v${RANDOM_VERSION}/pulumi-resource-random`]),
            ]);
            // A .partial marker hides a plugin from the CLI (GetPluginsFromDir): it is gone.
            expect(fs.existsSync(`${awsDir}.partial`)).toBe(false);
            for (const p of installed) {
                const stat = fs.statSync(p.executable);
                expect(stat.mode & 0o111).toBe(0o111);
                const text = fs.readFileSync(p.executable, "utf8");
                expect(text).toBe(wrapperScript(p.kind, NODE));
                expect(text.startsWith("#!/bin/sh\n")).toBe(true);
                expect(text).toContain(`exec '${NODE}' -r '${require.resolve("ts-node/register/transpile-only")}' '${path.join(__dirname, "fakeProvider.ts")}' ${p.kind} "$@"`);
            }
            expect(() => installTestPlugins(home, { node: "node" })).toThrow(/absolute path/);
        } finally {
            fs.rmSync(home, { recursive: true, force: true });
        }
    });

    test("serves every resource type and invoke the program declares (found in its sources, tokens from the SDK)", () => {
        // Loaded only when the program names it (@pulumi/random may not be installed).
        const lookup = (pkg: string, dotted: string): unknown => dotted.split(".").reduce<unknown>((m, part) => (m as Record<string, unknown>)[part], require(`@pulumi/${pkg}`));
        const sources = ["index.ts", ...fs.readdirSync(path.join(PROJECT_ROOT, "components")).map((f) => path.join("components", f))]
            .filter((f) => f.endsWith(".ts"))
            .map((f) => fs.readFileSync(path.join(PROJECT_ROOT, f), "utf8"))
            .join("\n");
        const types = [...sources.matchAll(/new (aws|random)\.([\w.]+)\(/g)].map(([, pkg, name]) => {
            const cls = lookup(pkg as string, name as string) as { __pulumiType?: string } | undefined;
            if (!cls?.__pulumiType) throw new Error(`${pkg}.${name} is not a resource class of the SDK`);
            return cls.__pulumiType;
        });
        const invokes = [...sources.matchAll(/(aws|random)\.([\w.]*get\w+)\(/g)].map(([, pkg, name]) => {
            const fn = lookup(pkg as string, name as string);
            const token = typeof fn === "function" ? /"((?:aws|random):[^"]+)"/.exec(fn.toString())?.[1] : undefined;
            if (!token) throw new Error(`no invoke token in ${pkg}.${name}`);
            return token;
        });
        expect(types.length).toBeGreaterThanOrEqual(17);
        expect(invokes.length).toBeGreaterThanOrEqual(4);
        for (const type of types) {
            expect({ type, served: HANDLERS[type] !== undefined && RESOURCE_SPECS[type] !== undefined }).toEqual({ type, served: true });
        }
        for (const token of invokes) expect({ token, served: INVOKES[token] !== undefined }).toEqual({ token, served: true });
        // And nothing is half-declared.
        expect(Object.keys(HANDLERS).sort()).toEqual(Object.keys(RESOURCE_SPECS).sort());
    });

});

// ---------------------------------------------------------------------------------------------
// The plugin over gRPC, against moto
// ---------------------------------------------------------------------------------------------

function struct(props: Props): structproto.Struct {
    return structproto.Struct.fromJavaScript(toWire(props) as Record<string, structproto.JavaScriptValue>);
}

function plain(s: structproto.Struct | undefined): Props {
    return s ? (s.toJavaScript() as Props) : {};
}

function urnOf(type: string, name: string): string {
    return `urn:pulumi:test::airlock::${type}::${name}`;
}

/** The partial state in a failed Create's grpc-status-details-bin, if any. */
function partialState(err: ServiceError): { id: string; properties: Props } | undefined {
    for (const value of err.metadata?.get("grpc-status-details-bin") ?? []) {
        const bytes = typeof value === "string" ? Buffer.from(value, "base64") : value;
        for (const detail of statusproto.Status.deserializeBinary(new Uint8Array(bytes)).getDetailsList()) {
            if (detail.getTypeName() !== "pulumirpc.ErrorResourceInitFailed") continue;
            const failed = provproto.ErrorResourceInitFailed.deserializeBinary(detail.getValue_asU8());
            return { id: failed.getId(), properties: plain(failed.getProperties()) };
        }
    }
    return undefined;
}

class PluginProcess {
    private constructor(
        readonly kind: "aws" | "random",
        readonly pid: number,
        private readonly client: InstanceType<typeof ResourceProviderClient>,
        private readonly printed: () => string,
        private readonly stopper: () => Promise<void>,
    ) {}

    /** Runs the installed wrapper exactly as the CLI does: `<executable> <engine address>`, in some other directory. */
    static async start(kind: "aws" | "random", executable: string, env: NodeJS.ProcessEnv): Promise<PluginProcess> {
        const child = childProcess.spawn(executable, ["127.0.0.1:1"], { cwd: os.tmpdir(), env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
        const pid = child.pid;
        if (pid === undefined) throw new Error(`could not start ${executable}`);
        const unregister = onRealExit(() => killGroup(pid, "SIGKILL"));
        const { exited, exitInfo } = watchChild(child);
        let out = "";
        child.stdout.setEncoding("utf8");
        child.stderr.setEncoding("utf8");
        child.stderr.on("data", (d: string) => (out += d));
        const port = await new Promise<number>((resolve, reject) => {
            let line = "";
            const timer = setTimeout(() => reject(new Error(`${kind} plugin printed no port within 60 s:\n${out}`)), 60_000);
            child.stdout.on("data", (d: string) => {
                out += d;
                line += d;
                const nl = line.indexOf("\n");
                if (nl < 0) return;
                clearTimeout(timer);
                const first = line.slice(0, nl).trim();
                if (/^\d+$/.test(first)) resolve(Number(first));
                else reject(new Error(`${kind} plugin's first stdout line is not a port: ${JSON.stringify(first)}\n${out}`));
            });
            child.once("exit", () => {
                clearTimeout(timer);
                reject(new Error(`${kind} plugin exited (${exitInfo()}) before printing its port:\n${out}`));
            });
        });
        const client = new ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
        const stop = async (): Promise<void> => {
            client.close();
            if (exitInfo() === undefined) {
                killGroup(pid, "SIGTERM");
                const t = setTimeout(() => killGroup(pid, "SIGKILL"), 3000);
                await exited;
                clearTimeout(t);
            }
            unregister();
        };
        return new PluginProcess(kind, pid, client, () => out, stop);
    }

    output(): string {
        return this.printed();
    }

    stop(): Promise<void> {
        return this.stopper();
    }

    call<Res>(method: string, request: unknown): Promise<Res> {
        return new Promise<Res>((resolve, reject) => {
            const fn = (this.client as unknown as Record<string, Function>)[method] as Function;
            fn.call(this.client, request, new grpc.Metadata(), { deadline: new Date(Date.now() + 90_000) }, (err: ServiceError | null, res: Res) => (err ? reject(err) : resolve(res)));
        });
    }

    async fails(method: string, request: unknown): Promise<ServiceError> {
        try {
            await this.call(method, request);
        } catch (err) {
            return err as ServiceError;
        }
        throw new Error(`${method} succeeded but was expected to fail`);
    }

    async configure(args: Props = {}, variables: Record<string, string> = {}): Promise<provproto.ConfigureResponse> {
        const req = new provproto.ConfigureRequest();
        req.setArgs(struct(args));
        for (const [k, v] of Object.entries(variables)) req.getVariablesMap().set(k, v);
        req.setAcceptsecrets(true);
        req.setAcceptresources(true);
        req.setSendsOldInputs(true);
        req.setSendsOldInputsToDelete(true);
        return this.call("configure", req);
    }

    checkRequest(type: string, name: string, news: Props, olds: Props = {}): provproto.CheckRequest {
        const req = new provproto.CheckRequest();
        req.setUrn(urnOf(type, name));
        req.setName(name);
        req.setType(type);
        req.setOlds(struct(olds));
        req.setNews(struct(news));
        req.setRandomseed(new Uint8Array(crypto.randomBytes(32)));
        return req;
    }

    async check(type: string, name: string, news: Props, olds: Props = {}): Promise<{ inputs: Props; failures: string[] }> {
        const res = await this.call<provproto.CheckResponse>("check", this.checkRequest(type, name, news, olds));
        return { inputs: plain(res.getInputs()), failures: res.getFailuresList().map((f) => `${f.getProperty()}: ${f.getReason()}`) };
    }

    createRequest(type: string, name: string, properties: Props): provproto.CreateRequest {
        const req = new provproto.CreateRequest();
        req.setUrn(urnOf(type, name));
        req.setName(name);
        req.setType(type);
        req.setProperties(struct(properties));
        return req;
    }

    /** Check then Create, as the engine does. */
    async create(type: string, name: string, news: Props): Promise<{ id: string; outputs: Props; inputs: Props }> {
        const { inputs, failures } = await this.check(type, name, news);
        if (failures.length > 0) throw new Error(`check of ${name} failed: ${failures.join("; ")}`);
        const res = await this.call<provproto.CreateResponse>("create", this.createRequest(type, name, inputs));
        expect(res.getId()).not.toBe("");
        return { id: res.getId(), outputs: plain(res.getProperties()), inputs };
    }

    async read(type: string, name: string, id: string, properties: Props, inputs?: Props): Promise<{ id: string; outputs: Props }> {
        const req = new provproto.ReadRequest();
        req.setUrn(urnOf(type, name));
        req.setName(name);
        req.setType(type);
        req.setId(id);
        req.setProperties(struct(properties));
        if (inputs) req.setInputs(struct(inputs));
        const res = await this.call<provproto.ReadResponse>("read", req);
        return { id: res.getId(), outputs: plain(res.getProperties()) };
    }

    async diff(type: string, name: string, id: string, olds: Props, oldInputs: Props, news: Props, ignoreChanges: string[] = []): Promise<{ changes: number; diffs: string[]; replaces: string[] }> {
        const req = new provproto.DiffRequest();
        req.setUrn(urnOf(type, name));
        req.setName(name);
        req.setType(type);
        req.setId(id);
        req.setOlds(struct(olds));
        req.setOldInputs(struct(oldInputs));
        req.setNews(struct(news));
        req.setIgnorechangesList(ignoreChanges);
        const res = await this.call<provproto.DiffResponse>("diff", req);
        return { changes: res.getChanges(), diffs: res.getDiffsList(), replaces: res.getReplacesList() };
    }

    async update(type: string, name: string, id: string, olds: Props, oldInputs: Props, news: Props, ignoreChanges: string[] = []): Promise<Props> {
        const req = new provproto.UpdateRequest();
        req.setIgnorechangesList(ignoreChanges);
        req.setUrn(urnOf(type, name));
        req.setName(name);
        req.setType(type);
        req.setId(id);
        req.setOlds(struct(olds));
        req.setOldInputs(struct(oldInputs));
        req.setNews(struct(news));
        const res = await this.call<provproto.UpdateResponse>("update", req);
        return plain(res.getProperties());
    }

    deleteRequest(type: string, name: string, id: string, properties: Props): provproto.DeleteRequest {
        const req = new provproto.DeleteRequest();
        req.setUrn(urnOf(type, name));
        req.setName(name);
        req.setType(type);
        req.setId(id);
        req.setProperties(struct(properties));
        req.setOldInputs(struct(properties));
        return req;
    }

    async delete(type: string, name: string, id: string, properties: Props): Promise<void> {
        await this.call<emptyproto.Empty>("delete", this.deleteRequest(type, name, id, properties));
    }

    invokeRequest(tok: string, args: Props): provproto.InvokeRequest {
        const req = new provproto.InvokeRequest();
        req.setTok(tok);
        req.setArgs(struct(args));
        return req;
    }

    async invoke(tok: string, args: Props = {}): Promise<Props> {
        const res = await this.call<provproto.InvokeResponse>("invoke", this.invokeRequest(tok, args));
        expect(res.getFailuresList()).toEqual([]);
        return plain(res.getReturn());
    }
}

/** The environment the CLI gives plugins in the engine tests: moto's, no Pulumi or ts-node settings of this process. */
function pluginEnv(moto: Moto, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env = clientEnv(moto);
    for (const k of Object.keys(env)) if (k.startsWith("PULUMI_") || k.startsWith("TS_NODE_") || k.startsWith("JEST_")) delete env[k];
    return { ...env, ...extra };
}

/** A request to moto signed with signV4 (which matches botocore, above): an independent way to look at S3 and KMS. */
async function motoRequest(moto: Moto, service: string, method: string, pathAndQuery: string, headers: Record<string, string> = {}, body = ""): Promise<{ status: number; body: string }> {
    const url = `${moto.endpoint}${pathAndQuery}`;
    const signed = signV4({ method, url, headers, body: Buffer.from(body), service, region: MOTO_REGION, credentials: { accessKeyId: "testing", secretAccessKey: "testing" } });
    delete signed["host"];
    const response = await fetch(url, { method, headers: signed, body: method === "GET" || method === "HEAD" ? undefined : body });
    return { status: response.status, body: await response.text() };
}

/** HEAD of an S3 bucket or object in moto: the HTTP status. */
async function s3HeadStatus(moto: Moto, bucket: string, key?: string): Promise<number> {
    const keyPath = key === undefined ? "" : `/${key.split("/").map(encodeURIComponent).join("/")}`;
    return (await motoRequest(moto, "s3", "HEAD", `/${bucket}${keyPath}`)).status;
}

/** The keys of a bucket's objects (ListObjectsV2, a bucket request: moto applies no bucket policy to it). */
async function s3Keys(moto: Moto, bucket: string): Promise<string[]> {
    const answer = await motoRequest(moto, "s3", "GET", `/${bucket}?list-type=2`);
    expect(answer.status).toBe(200);
    return [...answer.body.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1] as string).sort();
}

/** KMS ListAliases' alias names. */
async function kmsAliasNames(moto: Moto): Promise<string[]> {
    const answer = await motoRequest(moto, "kms", "POST", "/", { "content-type": "application/x-amz-json-1.1", "x-amz-target": "TrentService.ListAliases" }, "{}");
    return ((JSON.parse(answer.body) as { Aliases?: Array<{ AliasName: string }> }).Aliases ?? []).map((a) => a.AliasName);
}

/** moto's own dump of its backends (GET /moto-api/data.json): an independent view of S3 and KMS. */
async function motoData(moto: Moto): Promise<Record<string, Record<string, Array<Record<string, unknown>>>>> {
    const response = await fetch(`${moto.endpoint}/moto-api/data.json`);
    const text = await response.text();
    if (!response.ok) throw new Error(`moto data.json: HTTP ${response.status}: ${text.slice(0, 300)}\n${moto.output().slice(-3000)}`);
    return JSON.parse(text) as Record<string, Record<string, Array<Record<string, unknown>>>>;
}

const T = {
    key: "aws:kms/key:Key",
    alias: "aws:kms/alias:Alias",
    bucket: "aws:s3/bucket:Bucket",
    ownership: "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    publicAccess: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    policy: "aws:s3/bucketPolicy:BucketPolicy",
    role: "aws:iam/role:Role",
    attachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    profile: "aws:iam/instanceProfile:InstanceProfile",
    volume: "aws:ebs/volume:Volume",
    instance: "aws:ec2/instance:Instance",
    volumeAttachment: "aws:ec2/volumeAttachment:VolumeAttachment",
    tag: "aws:ec2/tag:Tag",
    group: "aws:ec2/securityGroup:SecurityGroup",
    ingress: "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    egress: "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
} as const;

const TRUST_POLICY = JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
});

describe("fakeProvider: the plugin over gRPC against moto", () => {
    let moto: Moto;
    let home: string;
    let logFile: string;
    let front: S3PolicyFront;
    let awsPlugin: PluginProcess;
    /** Only while @pulumi/random is installed. */
    let randomPlugin: PluginProcess | undefined;
    let ec2: EC2Client;
    let iam: IAMClient;
    let vpcId: string;
    let subnetId: string;
    let availabilityZone: string;
    const started: PluginProcess[] = [];
    let awsCheckConfig: provproto.CheckResponse;
    let awsConfigured: provproto.ConfigureResponse;
    let randomConfigured: provproto.ConfigureResponse | undefined;

    beforeAll(async () => {
        moto = await startMoto();
        front = await startS3PolicyFront(frontOptionsFor(moto));
        home = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-fakeprovider-"));
        logFile = path.join(home, "plugin.log");
        const installed = installTestPlugins(home, { node: NODE });
        // As in the engine tests: S3 through the policy front.
        const env = pluginEnv(moto, { AIRLOCK_FAKE_PROVIDER_LOG: logFile, AWS_ENDPOINT_URL_S3: front.endpoint });
        const executable = (kind: string): string => (installed.find((p) => p.kind === kind) as { executable: string }).executable;
        [awsPlugin, randomPlugin] = await Promise.all([
            PluginProcess.start("aws", executable("aws"), env),
            RANDOM_VERSION === undefined ? Promise.resolve(undefined) : PluginProcess.start("random", executable("random"), env),
        ]);
        started.push(awsPlugin, ...(randomPlugin === undefined ? [] : [randomPlugin]));
        // What the engine sends first: CheckConfig of the default provider's inputs, then Configure.
        awsCheckConfig = await awsPlugin.call<provproto.CheckResponse>(
            "checkConfig",
            awsPlugin.checkRequest("pulumi:providers:aws", "default", { region: MOTO_REGION, version: AWS_VERSION }),
        );
        awsConfigured = await awsPlugin.configure({ region: MOTO_REGION, version: AWS_VERSION }, { "aws:config:region": MOTO_REGION });
        randomConfigured = await randomPlugin?.configure({ version: RANDOM_VERSION });
        ec2 = new EC2Client(awsClientConfig(moto));
        iam = new IAMClient(awsClientConfig(moto));
        const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: "10.42.0.0/16" }));
        vpcId = vpc.Vpc?.VpcId ?? "";
        const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: "10.42.1.0/24" }));
        subnetId = subnet.Subnet?.SubnetId ?? "";
        availabilityZone = subnet.Subnet?.AvailabilityZone ?? "";
    }, 120_000);

    afterAll(async () => {
        await Promise.all(started.map((p) => p.stop()));
        ec2?.destroy();
        iam?.destroy();
        await front?.stop();
        await moto?.stop();
        if (home) fs.rmSync(home, { recursive: true, force: true });
    }, 60_000);

    test("plugin protocol: version of the SDK package, no Handshake, Configure without secrets or previews", async () => {
        const info = await awsPlugin.call<plugproto.PluginInfo>("getPluginInfo", new emptyproto.Empty());
        expect(info.getVersion()).toBe(AWS_VERSION);
        if (randomPlugin !== undefined) expect((await randomPlugin.call<plugproto.PluginInfo>("getPluginInfo", new emptyproto.Empty())).getVersion()).toBe(RANDOM_VERSION);
        // UNIMPLEMENTED: the engine then takes the protocol from Configure (a Handshake answer would imply previews).
        const handshake = await awsPlugin.fails("handshake", new provproto.ProviderHandshakeRequest());
        expect(handshake.code).toBe(grpc.status.UNIMPLEMENTED);

        expect(awsCheckConfig.getFailuresList()).toEqual([]);
        expect(plain(awsCheckConfig.getInputs())).toEqual({ region: MOTO_REGION, version: AWS_VERSION });
        expect(awsConfigured.getAcceptsecrets()).toBe(false);
        expect(awsConfigured.getSupportspreview()).toBe(false);
        expect(awsConfigured.getAcceptresources()).toBe(false);
        if (randomPlugin !== undefined) {
            expect(randomConfigured?.getAcceptsecrets()).toBe(false);
            expect(randomConfigured?.getSupportspreview()).toBe(false);
            // The random provider needs no configuration.
            const noRegion = await randomPlugin.call<provproto.CheckResponse>("checkConfig", randomPlugin.checkRequest("pulumi:providers:random", "default", { version: RANDOM_VERSION }));
            expect(noRegion.getFailuresList()).toEqual([]);
        }
    }, 60_000);

    test("refuses to run against anything but a loopback endpoint", async () => {
        const executable = pluginLocation(home, "aws", AWS_VERSION).executable;
        const rogue = await PluginProcess.start("aws", executable, { ...pluginEnv(moto), AWS_ENDPOINT_URL: "https://ec2.eu-west-1.amazonaws.com" });
        started.push(rogue);
        const err = await rogue.fails("configure", (() => {
            const req = new provproto.ConfigureRequest();
            req.setArgs(struct({ region: MOTO_REGION }));
            return req;
        })());
        expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
        expect(err.details).toMatch(/not a loopback address/);
        // Nothing works after that.
        const invoke = await rogue.fails("invoke", rogue.invokeRequest("aws:index/getCallerIdentity:getCallerIdentity", {}));
        expect(invoke.details).toMatch(/not a loopback address/);
        await rogue.stop();
    }, 90_000);

    test("unknown resource types and invoke tokens fail, naming them", async () => {
        const check = await awsPlugin.fails("check", awsPlugin.checkRequest("aws:ec2/vpc:Vpc", "v", { cidrBlock: "10.0.0.0/16" }));
        expect(check.code).toBe(grpc.status.INVALID_ARGUMENT);
        expect(check.details).toContain('resource type "aws:ec2/vpc:Vpc" is not served by this test plugin');
        const create = await awsPlugin.fails("create", awsPlugin.createRequest("aws:ec2/vpc:Vpc", "v", { cidrBlock: "10.0.0.0/16" }));
        expect(create.details).toContain("aws:ec2/vpc:Vpc");
        const invoke = await awsPlugin.fails("invoke", awsPlugin.invokeRequest("aws:ec2/getVpc:getVpc", { id: vpcId }));
        expect(invoke.details).toContain('invoke "aws:ec2/getVpc:getVpc" is not served by this test plugin');
        // Each plugin serves its own package only (random: nothing at all, the program no longer uses it).
        if (randomPlugin !== undefined) {
            const crossed = await randomPlugin.fails("check", randomPlugin.checkRequest(T.bucket, "b", {}));
            expect(crossed.details).toContain(`"${T.bucket}"`);
            const crossedInvoke = await randomPlugin.fails("invoke", randomPlugin.invokeRequest("aws:index/getPartition:getPartition", {}));
            expect(crossedInvoke.details).toContain("aws:index/getPartition:getPartition");
            const bytes = await randomPlugin.fails("check", randomPlugin.checkRequest("random:index/randomBytes:RandomBytes", "b", { length: 64 }));
            expect(bytes.details).toContain("is not served by this test plugin");
        }
    }, 60_000);

    test("invokes answer from moto: partition, caller, subnet, SSM parameters (public AMI parameters moto lacks are stood in)", async () => {
        expect(await awsPlugin.invoke("aws:index/getPartition:getPartition")).toEqual({ id: "aws", partition: "aws", dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" });
        const me = await awsPlugin.invoke("aws:index/getCallerIdentity:getCallerIdentity");
        expect(me["accountId"]).toBe(MOTO_ACCOUNT_ID);
        // moto's STS says arn:aws:sts::<account>:user/moto; STS itself spells a user as IAM does.
        expect(me["arn"]).toBe(`arn:aws:iam::${MOTO_ACCOUNT_ID}:user/moto`);

        const subnet = await awsPlugin.invoke("aws:ec2/getSubnet:getSubnet", { id: subnetId });
        expect(subnet).toMatchObject({ id: subnetId, vpcId, availabilityZone, cidrBlock: "10.42.1.0/24", ownerId: MOTO_ACCOUNT_ID, mapPublicIpOnLaunch: false });
        expect(subnet["arn"]).toBe(`arn:aws:ec2:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:subnet/${subnetId}`);
        const missing = await awsPlugin.fails("invoke", awsPlugin.invokeRequest("aws:ec2/getSubnet:getSubnet", { id: "subnet-0000000000000000f" }));
        expect(missing.details).toMatch(/no matching EC2 Subnet found/);

        // moto carries the Amazon Linux parameters, pointing at AMIs its EC2 knows.
        const al2023 = await awsPlugin.invoke("aws:ssm/getParameter:getParameter", { name: "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64" });
        expect(al2023["value"]).toMatch(/^ami-/);
        const al2023Image = (await ec2.send(new DescribeImagesCommand({ ImageIds: [al2023["value"] as string] }))).Images?.[0];
        expect(al2023Image?.Architecture).toBe("x86_64");
        // Debian's are not in moto: a moto AMI of the named architecture stands in.
        const debian = await awsPlugin.invoke("aws:ssm/getParameter:getParameter", { name: "/aws/service/debian/release/12/latest/arm64" });
        expect(debian).toMatchObject({ name: "/aws/service/debian/release/12/latest/arm64", type: "String" });
        const debianImage = (await ec2.send(new DescribeImagesCommand({ ImageIds: [debian["value"] as string] }))).Images?.[0];
        expect(debianImage?.Architecture).toBe("arm64");
        const ubuntu = await awsPlugin.invoke("aws:ssm/getParameter:getParameter", { name: "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id" });
        expect((await ec2.send(new DescribeImagesCommand({ ImageIds: [ubuntu["value"] as string] }))).Images?.[0]?.Architecture).toBe("x86_64");
        // Anything else missing is missing.
        const notFound = await awsPlugin.fails("invoke", awsPlugin.invokeRequest("aws:ssm/getParameter:getParameter", { name: "/airlock/nothing-here" }));
        expect(notFound.details).toMatch(/ParameterNotFound/);
    }, 60_000);

    test("KMS key and alias, the key bucket, its configuration and policy, emptied only through the policy front: in moto, read back, removed", async () => {
        const before = await motoData(moto);
        const keysBefore = (before["kms"]?.["Key"] ?? []).length;

        // KMS key.
        const keyPolicy = JSON.stringify({
            Version: "2012-10-17",
            Statement: [{ Sid: "Root", Effect: "Allow", Principal: { AWS: `arn:aws:iam::${MOTO_ACCOUNT_ID}:root` }, Action: "kms:*", Resource: "*" }],
        });
        const key = await awsPlugin.create(T.key, "airlock-key", {
            description: "Airlock airlock: per-instance LUKS keys",
            enableKeyRotation: true,
            deletionWindowInDays: 7,
            policy: keyPolicy,
            tags: { "airlock:managed": "true", team: "platform" },
        });
        expect(key.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(key.outputs).toMatchObject({
            keyId: key.id,
            arn: `arn:aws:kms:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:key/${key.id}`,
            enableKeyRotation: true,
            policy: keyPolicy,
            tags: { "airlock:managed": "true", team: "platform" },
            tagsAll: { "airlock:managed": "true", team: "platform" },
        });
        let data = await motoData(moto);
        expect(data["kms"]?.["Key"]).toHaveLength(keysBefore + 1);
        const motoKey = data["kms"]?.["Key"]?.find((k) => k["id"] === key.id);
        expect(motoKey).toMatchObject({ key_rotation_status: true, key_state: "Enabled", description: "Airlock airlock: per-instance LUKS keys" });
        expect(JSON.parse(String(motoKey?.["policy"]))).toEqual(JSON.parse(keyPolicy));

        const alias = await awsPlugin.create(T.alias, "airlock-key-alias", { namePrefix: "alias/airlock-airlock-", targetKeyId: key.id });
        expect(alias.id).toMatch(/^alias\/airlock-airlock-\d{18}[0-9a-f]{8}$/);
        expect(alias.outputs).toMatchObject({ name: alias.id, arn: `arn:aws:kms:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:${alias.id}`, targetKeyArn: key.outputs["arn"] });
        expect(await kmsAliasNames(moto)).toContain(alias.id);

        // The bucket, autonamed by Check like the real provider.
        const bucket = await awsPlugin.create(T.bucket, "airlock-keys", { forceDestroy: false, tags: { "airlock:managed": "true" } });
        const bucketName = bucket.id;
        expect(bucketName).toMatch(/^airlock-keys-[0-9a-f]{7}$/);
        expect(bucket.inputs["bucket"]).toBe(bucketName);
        expect(await s3HeadStatus(moto, bucketName)).toBe(200);
        expect(bucket.outputs).toMatchObject({
            bucket: bucketName,
            arn: `arn:aws:s3:::${bucketName}`,
            bucketDomainName: `${bucketName}.s3.amazonaws.com`,
            bucketRegionalDomainName: `${bucketName}.s3.${MOTO_REGION}.amazonaws.com`,
            region: MOTO_REGION,
            tagsAll: { "airlock:managed": "true" },
        });
        await awsPlugin.create(T.ownership, "airlock-keys-ownership", { bucket: bucketName, rule: { objectOwnership: "BucketOwnerEnforced" } });
        const pab = await awsPlugin.create(T.publicAccess, "airlock-keys-public-access", {
            bucket: bucketName,
            blockPublicAcls: true,
            blockPublicPolicy: true,
            ignorePublicAcls: true,
            restrictPublicBuckets: true,
        });
        expect(pab.outputs).toMatchObject({ blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
        const encryption = await awsPlugin.create(T.encryption, "airlock-keys-encryption", {
            bucket: bucketName,
            rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.outputs["arn"] }, bucketKeyEnabled: false }],
        });
        expect(encryption.outputs["rules"]).toEqual([{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.outputs["arn"] }, bucketKeyEnabled: false }]);
        // The program's own bucket policy (TLS only, SSE-KMS under the vault key only, instances read their
        // own key, changes by deployers only), with the identity the plugin runs as (getCallerIdentity) the deployer.
        const deployerArn = String((await awsPlugin.invoke("aws:index/getCallerIdentity:getCallerIdentity"))["arn"]);
        const bucketPolicyText = JSON.stringify(keyBucketPolicy({ partition: "aws", dnsSuffix: "amazonaws.com", bucketName, kmsKeyArn: String(key.outputs["arn"]), deployers: [deployerArn] }));
        const policy = await awsPlugin.create(T.policy, "airlock-keys-policy", { bucket: bucketName, policy: bucketPolicyText });
        expect(policy.outputs["policy"]).toBe(bucketPolicyText);
        const policyInMoto = async (): Promise<unknown> => JSON.parse((await motoRequest(moto, "s3", "GET", `/${bucketName}?policy=`)).body);
        expect(await policyInMoto()).toEqual(JSON.parse(bucketPolicyText));

        data = await motoData(moto);
        const motoBucket = data["s3"]?.["FakeBucket"]?.find((b) => b["name"] === bucketName);
        expect(motoBucket).toMatchObject({ ownership_rule: "BucketOwnerEnforced", location: MOTO_REGION });
        expect(JSON.stringify(motoBucket?.["encryption"])).toContain(String(key.outputs["arn"]));

        // A policy over S3's 20 KB is refused (moto would take it).
        const tooLarge = JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "x".repeat(BUCKET_POLICY_MAX_BYTES), Effect: "Deny", Principal: "*", Action: "s3:*", Resource: "*" }] });
        const big = await awsPlugin.fails("update", (() => {
            const req = new provproto.UpdateRequest();
            req.setUrn(urnOf(T.policy, "airlock-keys-policy"));
            req.setType(T.policy);
            req.setName("airlock-keys-policy");
            req.setId(policy.id);
            req.setOlds(struct(policy.outputs));
            req.setOldInputs(struct(policy.inputs));
            req.setNews(struct({ bucket: bucketName, policy: tooLarge }));
            return req;
        })());
        expect(big.details).toMatch(/PolicyTooLarge: the bucket policy is \d+ bytes; S3 allows at most 20480 bytes/);

        // An object in the vault, written by the deployer through the front: not under keys/, where only
        // an instance writes (its own key), as the policy says and the front enforces.
        const kmsKeyArn = String(key.outputs["arn"]);
        const objectKey = "notes/readme.txt";
        const s3 = s3ClientFor(front, awsClientConfig(moto));
        try {
            const planted = keyObjectKey(`arn:aws:ec2:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:instance/i-0123456789abcdef0`);
            await expect(s3.send(new PutObjectCommand({ Bucket: bucketName, Key: planted, Body: "x", ServerSideEncryption: "aws:kms", SSEKMSKeyId: kmsKeyArn }))).rejects.toThrow(/explicit deny/);
            await s3.send(new PutObjectCommand({ Bucket: bucketName, Key: objectKey, Body: crypto.randomBytes(64), ServerSideEncryption: "aws:kms", SSEKMSKeyId: kmsKeyArn }));
            expect(await s3Keys(moto, bucketName)).toEqual([objectKey]);
            // The bucket policy still holds (the front lifts it only for the length of each object request).
            expect(await policyInMoto()).toEqual(JSON.parse(bucketPolicyText));

            // A bucket that still holds an object cannot go (no forceDestroy), like S3.
            const notEmpty = await awsPlugin.fails("delete", awsPlugin.deleteRequest(T.bucket, "airlock-keys", bucketName, bucket.outputs));
            expect(notEmpty.details).toMatch(/BucketNotEmpty/);
            // With forceDestroy the plugin empties it first; an object request that skipped the front is refused
            // by the plugin itself (moto alone would judge it without conditions), and nothing is deleted.
            const bypass = await PluginProcess.start("aws", pluginLocation(home, "aws", AWS_VERSION).executable, pluginEnv(moto));
            started.push(bypass);
            await bypass.configure({ region: MOTO_REGION, version: AWS_VERSION }, { "aws:config:region": MOTO_REGION });
            const skipped = await bypass.fails("delete", bypass.deleteRequest(T.bucket, "airlock-keys", bucketName, { ...bucket.outputs, forceDestroy: true }));
            expect(skipped.details).toMatch(/did not go through the S3 policy front; point AWS_ENDPOINT_URL_S3 at test\/support\/s3PolicyFront\.ts/);
            await bypass.stop();
            expect(await s3Keys(moto, bucketName)).toEqual([objectKey]);
            expect(await policyInMoto()).toEqual(JSON.parse(bucketPolicyText));

            // The deployer deletes it (as the InstanceKey resource deletes a key object), judged by the front.
            await s3.send(new DeleteObjectCommand({ Bucket: bucketName, Key: objectKey }));
            expect(front.decisions.at(-1)).toMatchObject({ method: "DELETE", key: objectKey, actions: ["s3:DeleteObject"], principalArn: deployerArn, decision: "Allowed" });
            expect(await s3Keys(moto, bucketName)).toEqual([]);
        } finally {
            s3.destroy();
        }

        // Delete everything, in the engine's order.
        await awsPlugin.delete(T.policy, "airlock-keys-policy", policy.id, policy.outputs);
        await awsPlugin.delete(T.encryption, "airlock-keys-encryption", encryption.id, encryption.outputs);
        await awsPlugin.delete(T.publicAccess, "airlock-keys-public-access", pab.id, pab.outputs);
        expect((await awsPlugin.read(T.publicAccess, "airlock-keys-public-access", pab.id, pab.outputs)).id).toBe("");
        await awsPlugin.delete(T.ownership, "airlock-keys-ownership", bucketName, { bucket: bucketName });
        await awsPlugin.delete(T.bucket, "airlock-keys", bucketName, bucket.outputs);
        expect((await awsPlugin.read(T.bucket, "airlock-keys", bucketName, bucket.outputs, bucket.inputs)).id).toBe("");
        await awsPlugin.delete(T.alias, "airlock-key-alias", alias.id, alias.outputs);
        await awsPlugin.delete(T.key, "airlock-key", key.id, key.outputs);
        expect(await s3HeadStatus(moto, bucketName)).toBe(404);
        expect(await kmsAliasNames(moto)).not.toContain(alias.id);
        // KMS never deletes at once: the key waits out its (7-day) deletion window, and the engine drops it on refresh.
        const described = await motoRequest(moto, "kms", "POST", "/", { "content-type": "application/x-amz-json-1.1", "x-amz-target": "TrentService.DescribeKey" }, JSON.stringify({ KeyId: key.id }));
        const metadata = (JSON.parse(described.body) as { KeyMetadata: { KeyState: string; DeletionDate: number } }).KeyMetadata;
        expect(metadata.KeyState).toBe("PendingDeletion");
        expect(metadata.DeletionDate * 1000 - Date.now()).toBeGreaterThan(6.9 * 24 * 3600 * 1000);
        expect(metadata.DeletionDate * 1000 - Date.now()).toBeLessThan(7.1 * 24 * 3600 * 1000);
        expect((await awsPlugin.read(T.key, "airlock-key", key.id, key.outputs, key.inputs)).id).toBe("");
        expect(fs.readFileSync(logFile, "utf8")).toContain(`aws Create ${T.policy} airlock-keys-policy ok`);
    }, 120_000);

    test("a create that fails after the resource exists reports partial state (ErrorResourceInitFailed)", async () => {
        // The bucket is created, its tagging is refused: the engine must learn the bucket's id.
        const { inputs } = await awsPlugin.check(T.bucket, "half-made", { tags: { "aws:reserved": "x" } });
        const err = await awsPlugin.fails("create", awsPlugin.createRequest(T.bucket, "half-made", inputs));
        const partial = partialState(err);
        expect(partial?.id).toBe(inputs["bucket"]);
        expect(partial?.properties).toMatchObject({ bucket: inputs["bucket"], arn: `arn:aws:s3:::${String(inputs["bucket"])}` });
        expect(err.details).toMatch(/^creating aws:s3\/bucket:Bucket \(half-made-[0-9a-f]{7}\): /);
        expect(await s3HeadStatus(moto, String(inputs["bucket"]))).toBe(200);
        await awsPlugin.delete(T.bucket, "half-made", String(inputs["bucket"]), partial?.properties ?? {});
        expect(await s3HeadStatus(moto, String(inputs["bucket"]))).toBe(404);
    }, 60_000);

    test("IAM: a role with an inline policy the state does not list fails to delete with DeleteConflict; forceDetachPolicies removes it", async () => {
        // As the promotion does: an inline policy put on the role outside the role resource.
        const kept = await awsPlugin.create(T.role, "kept-role", { path: "/airlock/", assumeRolePolicy: TRUST_POLICY, description: "d", forceDetachPolicies: false });
        expect(kept.id).toMatch(/^kept-role-[0-9a-f]{7}$/);
        expect(kept.outputs).toMatchObject({ name: kept.id, path: "/airlock/", arn: `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/airlock/${kept.id}`, assumeRolePolicy: TRUST_POLICY });
        expect(kept.outputs["uniqueId"]).toMatch(/^AROA/);
        await iam.send(new PutRolePolicyCommand({ RoleName: kept.id, PolicyName: "airlock-phase", PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }] }) }));
        const conflict = await awsPlugin.fails("delete", awsPlugin.deleteRequest(T.role, "kept-role", kept.id, kept.outputs));
        expect(conflict.details).toMatch(/^deleting aws:iam\/role:Role \(kept-role-[0-9a-f]{7}\): DeleteConflict/);
        expect((await iam.send(new GetRoleCommand({ RoleName: kept.id }))).Role?.RoleName).toBe(kept.id);
        // A refresh lists the policy in state; the bridged provider then deletes it with the role.
        const refreshed = await awsPlugin.read(T.role, "kept-role", kept.id, kept.outputs, kept.inputs);
        expect(refreshed.outputs["inlinePolicies"]).toEqual([{ name: "airlock-phase", policy: expect.stringContaining("s3:GetObject") }]);
        await awsPlugin.delete(T.role, "kept-role", kept.id, refreshed.outputs);
        expect((await awsPlugin.read(T.role, "kept-role", kept.id, refreshed.outputs, kept.inputs)).id).toBe("");

        // forceDetachPolicies: inline and managed policies and the instance profile go with the role.
        const role = await awsPlugin.create(T.role, "web-1-role", { path: "/airlock/", assumeRolePolicy: TRUST_POLICY, forceDetachPolicies: true, tags: { "airlock:instance-name": "web-1" } });
        const managed = await iam.send(
            new CreatePolicyCommand({ PolicyName: "airlock-app", PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "logs:PutLogEvents", Resource: "*" }] }) }),
        );
        const attachment = await awsPlugin.create(T.attachment, "web-1-managed-0", { role: role.id, policyArn: managed.Policy?.Arn });
        expect(attachment.id).toMatch(new RegExp(`^${role.id}-\\d{18}[0-9a-f]{8}$`));
        expect((await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: role.id }))).AttachedPolicies?.map((p) => p.PolicyArn)).toEqual([managed.Policy?.Arn]);
        expect((await awsPlugin.read(T.attachment, "web-1-managed-0", attachment.id, attachment.outputs, attachment.inputs)).id).toBe(attachment.id);
        const profile = await awsPlugin.create(T.profile, "web-1-profile", { role: role.id, path: "/airlock/", tags: { "airlock:instance-name": "web-1" } });
        expect(profile.outputs).toMatchObject({ name: profile.id, role: role.id, arn: `arn:aws:iam::${MOTO_ACCOUNT_ID}:instance-profile/airlock/${profile.id}` });
        await iam.send(new PutRolePolicyCommand({ RoleName: role.id, PolicyName: "airlock-phase", PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }] }) }));
        // An attachment removed behind the engine's back is gone on refresh.
        await awsPlugin.delete(T.attachment, "web-1-managed-0", attachment.id, attachment.outputs);
        expect((await awsPlugin.read(T.attachment, "web-1-managed-0", attachment.id, attachment.outputs, attachment.inputs)).id).toBe("");
        await iam.send(new AttachRolePolicyCommand({ RoleName: role.id, PolicyArn: managed.Policy?.Arn }));

        await awsPlugin.delete(T.role, "web-1-role", role.id, role.outputs);
        expect((await awsPlugin.read(T.role, "web-1-role", role.id, role.outputs, role.inputs)).id).toBe("");
        const orphan = (await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: profile.id }))).InstanceProfile;
        expect(orphan?.Roles ?? []).toEqual([]);
        await expect(iam.send(new ListRolePoliciesCommand({ RoleName: role.id }))).rejects.toThrow(/cannot be found|not found|NoSuchEntity/i);
        await awsPlugin.delete(T.profile, "web-1-profile", profile.id, profile.outputs);
        expect((await awsPlugin.read(T.profile, "web-1-profile", profile.id, profile.outputs, profile.inputs)).id).toBe("");
    }, 120_000);

    test("EC2: groups and rules, an instance from an AMI moto lacks, its data volume, attachment and volume tag; drift, refresh, dependency errors, deletion", async () => {
        // Security groups: the default allow-all egress is removed, as by the real provider.
        const remediation = await awsPlugin.create(T.group, "airlock-remediation", {
            vpcId,
            description: "Airlock remediation (quarantine)",
            revokeRulesOnDelete: true,
            tags: { Name: "airlock-remediation", "airlock:zone": "remediation" },
        });
        expect(remediation.id).toMatch(/^sg-/);
        expect(remediation.outputs).toMatchObject({
            arn: `arn:aws:ec2:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:security-group/${remediation.id}`,
            name: expect.stringMatching(/^airlock-remediation-[0-9a-f]{7}$/),
            vpcId,
            ownerId: MOTO_ACCOUNT_ID,
            egress: [],
            ingress: [],
        });
        const group = (await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [remediation.id] }))).SecurityGroups?.[0];
        expect(group?.IpPermissionsEgress ?? []).toEqual([]);
        expect(group?.Tags?.find((t) => t.Key === "airlock:zone")?.Value).toBe("remediation");
        const production = await awsPlugin.create(T.group, "airlock-production", { vpcId, description: "Airlock production", revokeRulesOnDelete: true });

        const scannerIn = await awsPlugin.create(T.ingress, "airlock-remediation-in-all-10.30.5.10-32", {
            securityGroupId: remediation.id,
            description: "Vulnerability scanner",
            ipProtocol: "-1",
            cidrIpv4: "10.30.5.10/32",
            tags: { "airlock:managed": "true" },
        });
        expect(scannerIn.id).toMatch(/^sgr-/);
        expect(scannerIn.outputs).toMatchObject({ securityGroupRuleId: scannerIn.id, ipProtocol: "-1", cidrIpv4: "10.30.5.10/32", arn: `arn:aws:ec2:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:security-group-rule/${scannerIn.id}` });
        expect(scannerIn.outputs["fromPort"]).toBeUndefined();
        const httpsOut = await awsPlugin.create(T.egress, "airlock-remediation-out-tcp-443-0.0.0.0-0", {
            securityGroupId: remediation.id,
            description: "HTTPS",
            ipProtocol: "tcp",
            fromPort: 443,
            toPort: 443,
            cidrIpv4: "0.0.0.0/0",
        });
        const metricsIn = await awsPlugin.create(T.ingress, "airlock-production-in-tcp-9100-9101-sg", {
            securityGroupId: production.id,
            description: "Metrics scraper",
            ipProtocol: "tcp",
            fromPort: 9100,
            toPort: 9101,
            referencedSecurityGroupId: remediation.id,
        });
        const rules = (await ec2.send(new DescribeSecurityGroupRulesCommand({ SecurityGroupRuleIds: [scannerIn.id, httpsOut.id, metricsIn.id] }))).SecurityGroupRules ?? [];
        expect(rules.map((r) => [r.SecurityGroupRuleId, r.IsEgress, r.IpProtocol, r.FromPort]).sort()).toEqual(
            [
                [scannerIn.id, false, "-1", -1],
                [httpsOut.id, true, "tcp", 443],
                [metricsIn.id, false, "tcp", 9100],
            ].sort(),
        );
        // An in-place rule change (ModifySecurityGroupRules).
        const changedRule = await awsPlugin.update(T.egress, "airlock-remediation-out-tcp-443-0.0.0.0-0", httpsOut.id, httpsOut.outputs, httpsOut.inputs, { ...httpsOut.inputs, description: "HTTPS out" });
        expect(changedRule["description"]).toBe("HTTPS out");

        // Identity for the instance.
        const role = await awsPlugin.create(T.role, "db-1-role", { path: "/airlock/", assumeRolePolicy: TRUST_POLICY, forceDetachPolicies: true });
        const profile = await awsPlugin.create(T.profile, "db-1-profile", { role: role.id, path: "/airlock/" });

        // The data volume, in the subnet's zone, encrypted with a KMS key.
        const kmsKeyArn = `arn:aws:kms:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:key/11111111-2222-3333-4444-555555555555`;
        const volume = await awsPlugin.create(T.volume, "db-1-data", { availabilityZone, size: 20, type: "gp3", encrypted: true, kmsKeyId: kmsKeyArn, tags: { Name: "db-1-data" } });
        expect(volume.id).toMatch(/^vol-/);
        expect(volume.outputs).toMatchObject({ arn: `arn:aws:ec2:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:volume/${volume.id}`, size: 20, type: "gp3", encrypted: true, kmsKeyId: kmsKeyArn });

        // The instance: an arm64 type and an AMI id moto does not know (a Debian public AMI, say).
        const unknownAmi = "ami-0123456789abcdef0";
        const instanceInputs: Props = {
            ami: unknownAmi,
            instanceType: "m7g.large",
            subnetId,
            vpcSecurityGroupIds: [remediation.id],
            iamInstanceProfile: profile.id,
            associatePublicIpAddress: false,
            metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1, instanceMetadataTags: "disabled" },
            rootBlockDevice: { encrypted: true, kmsKeyId: kmsKeyArn, volumeType: "gp3", deleteOnTermination: true },
            userData: "#cloud-config\n",
            userDataReplaceOnChange: false,
            instanceInitiatedShutdownBehavior: "stop",
            tags: { Name: "db-1", "airlock:instance-name": "db-1" },
        };
        const instance = await awsPlugin.create(T.instance, "db-1", instanceInputs);
        expect(instance.id).toMatch(/^i-/);
        const described = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instance.id] }))).Reservations?.[0]?.Instances?.[0];
        expect(described?.State?.Name).toBe("running");
        expect(described?.Architecture).toBe("arm64");
        expect(described?.ImageId).not.toBe(unknownAmi);
        expect(described?.SubnetId).toBe(subnetId);
        expect(described?.SecurityGroups?.map((g) => g.GroupId)).toEqual([remediation.id]);
        expect(described?.IamInstanceProfile?.Arn).toBe(profile.outputs["arn"]);
        expect(described?.MetadataOptions?.HttpTokens).toBe("required");
        expect(described?.Tags?.find((t) => t.Key === "Name")?.Value).toBe("db-1");
        expect(instance.outputs).toMatchObject({
            ami: unknownAmi,
            arn: `arn:aws:ec2:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:instance/${instance.id}`,
            privateIp: described?.PrivateIpAddress,
            subnetId,
            availabilityZone,
            vpcSecurityGroupIds: [remediation.id],
            iamInstanceProfile: profile.id,
            instanceState: "running",
            publicIp: "",
            metadataOptions: { httpTokens: "required", httpEndpoint: "enabled", httpPutResponseHopLimit: 1 },
            rootBlockDevice: { encrypted: true, kmsKeyId: kmsKeyArn, volumeType: "gp3" },
        });
        expect(instance.outputs["privateIp"]).toMatch(/^10\.42\.1\.\d+$/);
        const rootVolumeId = (instance.outputs["rootBlockDevice"] as Props)["volumeId"] as string;
        const rootVolume = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [rootVolumeId] }))).Volumes?.[0];
        expect(rootVolume).toMatchObject({ Encrypted: true, KmsKeyId: kmsKeyArn });

        // A known AMI of the wrong architecture fails as on AWS, and launches nothing.
        const count = async (): Promise<number> => ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap((r) => r.Instances ?? []).length;
        const instancesBefore = await count();
        const x86Ami = (await ec2.send(new DescribeImagesCommand({ Owners: ["amazon"], Filters: [{ Name: "architecture", Values: ["x86_64"] }] }))).Images?.[0]?.ImageId;
        const wrongArch = await awsPlugin.fails("create", awsPlugin.createRequest(T.instance, "db-2", { ...instanceInputs, ami: x86Ami }));
        expect(wrongArch.details).toMatch(/architecture 'arm64' of the specified instance type does not match the architecture 'x86_64'/);
        expect(await count()).toBe(instancesBefore);

        // The data volume attachment; the same volume cannot be attached twice.
        const attachment = await awsPlugin.create(T.volumeAttachment, "db-1-data-attachment", {
            instanceId: instance.id,
            volumeId: volume.id,
            deviceName: "/dev/sdf",
            stopInstanceBeforeDetaching: true,
        });
        expect(attachment.id).toBe(volumeAttachmentId("/dev/sdf", instance.id, volume.id));
        const attached = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volume.id] }))).Volumes?.[0]?.Attachments?.[0];
        expect(attached).toMatchObject({ InstanceId: instance.id, Device: "/dev/sdf", State: "attached" });
        const twice = await awsPlugin.fails("create", awsPlugin.createRequest(T.volumeAttachment, "again", { instanceId: instance.id, volumeId: volume.id, deviceName: "/dev/sdg" }));
        expect(twice.details).toMatch(/VolumeInUse/);

        // Drift: the promotion moves the instance to production. A refresh sees it; the diff shows it
        // unless ignoreChanges covers it (what SecureInstance declares).
        await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: instance.id, Groups: [production.id] }));
        const refreshed = await awsPlugin.read(T.instance, "db-1", instance.id, instance.outputs, instance.inputs);
        expect(refreshed.id).toBe(instance.id);
        expect(refreshed.outputs["vpcSecurityGroupIds"]).toEqual([production.id]);
        const drift = await awsPlugin.diff(T.instance, "db-1", instance.id, refreshed.outputs, instance.inputs, instance.inputs);
        expect(drift).toEqual({ changes: provproto.DiffResponse.DiffChanges.DIFF_SOME, diffs: ["vpcSecurityGroupIds"], replaces: [] });
        const ignored = await awsPlugin.diff(T.instance, "db-1", instance.id, refreshed.outputs, instance.inputs, instance.inputs, ["vpcSecurityGroupIds", "securityGroups"]);
        expect(ignored.changes).toBe(provproto.DiffResponse.DiffChanges.DIFF_NONE);
        const newAmi = await awsPlugin.diff(T.instance, "db-1", instance.id, refreshed.outputs, instance.inputs, { ...instance.inputs, ami: "ami-0fedcba9876543210" }, ["vpcSecurityGroupIds"]);
        expect(newAmi.replaces).toEqual(["ami"]);

        // An in-place update (tags), with the groups' drift ignored as SecureInstance declares: the groups stay.
        const newTags = { Name: "db-1", "airlock:instance-name": "db-1", owner: "team-a" };
        const tagged = await awsPlugin.update(T.instance, "db-1", instance.id, refreshed.outputs, instance.inputs, { ...instance.inputs, tags: newTags }, ["vpcSecurityGroupIds", "securityGroups"]);
        expect(tagged["tags"]).toEqual(newTags);
        expect(tagged["vpcSecurityGroupIds"]).toEqual([production.id]);
        const afterUpdate = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instance.id] }))).Reservations?.[0]?.Instances?.[0];
        expect(afterUpdate?.Tags?.find((t) => t.Key === "owner")?.Value).toBe("team-a");
        expect(afterUpdate?.SecurityGroups?.map((g) => g.GroupId)).toEqual([production.id]);

        // One tag owned by its own resource (aws.ec2.Tag: the data volume's id on the instance), beside the instance's tags.
        const volumeTag = await awsPlugin.create(T.tag, "db-1-data-volume-tag", { resourceId: instance.id, key: "airlock:data-volume", value: volume.id });
        expect(volumeTag.id).toBe(`${instance.id},airlock:data-volume`);
        const tagOf = async (key: string): Promise<string | undefined> =>
            (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instance.id] }))).Reservations?.[0]?.Instances?.[0]?.Tags?.find((t) => t.Key === key)?.Value;
        expect(await tagOf("airlock:data-volume")).toBe(volume.id);
        expect(await tagOf("owner")).toBe("team-a");
        // The instance sees it as drift of its tags, unless ignoreChanges names it (as SecureInstance does).
        const withTag = await awsPlugin.read(T.instance, "db-1", instance.id, tagged, { ...instance.inputs, tags: newTags });
        expect((withTag.outputs["tagsAll"] as Record<string, string>)["airlock:data-volume"]).toBe(volume.id);
        const tagIgnored = await awsPlugin.diff(T.instance, "db-1", instance.id, withTag.outputs, { ...instance.inputs, tags: newTags }, { ...instance.inputs, tags: newTags }, [
            "vpcSecurityGroupIds",
            "securityGroups",
            'tags["airlock:data-volume"]',
        ]);
        expect(tagIgnored.changes).toBe(provproto.DiffResponse.DiffChanges.DIFF_NONE);
        expect((await awsPlugin.diff(T.tag, "db-1-data-volume-tag", volumeTag.id, volumeTag.outputs, volumeTag.inputs, { ...volumeTag.inputs, resourceId: "i-0123456789abcdef0" })).replaces).toEqual(["resourceId"]);
        const retagged = await awsPlugin.update(T.tag, "db-1-data-volume-tag", volumeTag.id, volumeTag.outputs, volumeTag.inputs, { ...volumeTag.inputs, value: "vol-0123456789abcdef0" });
        expect(retagged["value"]).toBe("vol-0123456789abcdef0");
        expect(await tagOf("airlock:data-volume")).toBe("vol-0123456789abcdef0");
        expect((await awsPlugin.read(T.tag, "db-1-data-volume-tag", volumeTag.id, retagged, volumeTag.inputs)).outputs["value"]).toBe("vol-0123456789abcdef0");
        await awsPlugin.delete(T.tag, "db-1-data-volume-tag", volumeTag.id, retagged);
        expect(await tagOf("airlock:data-volume")).toBeUndefined();
        expect(await tagOf("owner")).toBe("team-a");
        expect((await awsPlugin.read(T.tag, "db-1-data-volume-tag", volumeTag.id, retagged, volumeTag.inputs)).id).toBe("");

        // A security group in use cannot be deleted (moto would let it go). With revokeRulesOnDelete the
        // real provider has revoked the group's own rules by then: so has the plugin.
        const inUse = await awsPlugin.fails("delete", awsPlugin.deleteRequest(T.group, "airlock-production", production.id, production.outputs));
        expect(inUse.details).toMatch(new RegExp(`DependencyViolation: resource ${production.id} has a dependent object \\(network interface eni-\\w+ of instance ${instance.id}\\)`));
        expect((await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [production.id] }))).SecurityGroups).toHaveLength(1);
        expect((await awsPlugin.read(T.ingress, "airlock-production-in-tcp-9100-9101-sg", metricsIn.id, metricsIn.outputs, metricsIn.inputs)).id).toBe("");

        // Deletion in the engine's order.
        await awsPlugin.delete(T.volumeAttachment, "db-1-data-attachment", attachment.id, attachment.outputs);
        const afterDetach = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volume.id] }))).Volumes?.[0];
        expect(afterDetach?.Attachments ?? []).toEqual([]);
        expect((await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instance.id] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name).toBe("stopped");
        expect((await awsPlugin.read(T.volumeAttachment, "db-1-data-attachment", attachment.id, attachment.outputs, attachment.inputs)).id).toBe("");
        await awsPlugin.delete(T.instance, "db-1", instance.id, tagged);
        expect((await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instance.id] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name).toBe("terminated");
        expect((await awsPlugin.read(T.instance, "db-1", instance.id, tagged, instance.inputs)).id).toBe("");
        await awsPlugin.delete(T.volume, "db-1-data", volume.id, volume.outputs);
        expect((await awsPlugin.read(T.volume, "db-1-data", volume.id, volume.outputs, volume.inputs)).id).toBe("");
        await awsPlugin.delete(T.profile, "db-1-profile", profile.id, profile.outputs);
        await awsPlugin.delete(T.role, "db-1-role", role.id, role.outputs);
        for (const [t, name, rule] of [
            [T.ingress, "airlock-production-in-tcp-9100-9101-sg", metricsIn],
            [T.egress, "airlock-remediation-out-tcp-443-0.0.0.0-0", httpsOut],
            [T.ingress, "airlock-remediation-in-all-10.30.5.10-32", scannerIn],
        ] as const) {
            await awsPlugin.delete(t, name, rule.id, rule.outputs);
            expect((await awsPlugin.read(t, name, rule.id, rule.outputs, rule.inputs)).id).toBe("");
        }
        await awsPlugin.delete(T.group, "airlock-production", production.id, production.outputs);
        await awsPlugin.delete(T.group, "airlock-remediation", remediation.id, remediation.outputs);
        const left = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: "vpc-id", Values: [vpcId] }] }))).SecurityGroups ?? [];
        expect(left.map((g) => g.GroupName)).toEqual(["default"]);
        expect((await awsPlugin.read(T.group, "airlock-remediation", remediation.id, remediation.outputs, remediation.inputs)).id).toBe("");
    }, 180_000);

    test("rules referencing groups: a referenced group cannot be deleted; a missing group fails the rule", async () => {
        const scanner = await awsPlugin.create(T.group, "scanner", { vpcId, description: "scanner" });
        const target = await awsPlugin.create(T.group, "target", { vpcId, description: "t" });
        const rule = await awsPlugin.create(T.ingress, "from-scanner", { securityGroupId: target.id, ipProtocol: "-1", referencedSecurityGroupId: scanner.id });
        expect(rule.outputs["referencedSecurityGroupId"]).toBe(scanner.id);
        const referenced = await awsPlugin.fails("delete", awsPlugin.deleteRequest(T.group, "scanner", scanner.id, scanner.outputs));
        expect(referenced.details).toMatch(new RegExp(`DependencyViolation: resource ${scanner.id} has a dependent object \\(a rule of ${target.id}\\)`));
        await awsPlugin.delete(T.ingress, "from-scanner", rule.id, rule.outputs);
        await awsPlugin.delete(T.group, "scanner", scanner.id, scanner.outputs);
        await awsPlugin.delete(T.group, "target", target.id, target.outputs);
        // A group made outside Pulumi (the scanner's own, say) can be referenced too.
        const outside = await ec2.send(new CreateSecurityGroupCommand({ VpcId: vpcId, GroupName: "outside", Description: "outside" }));
        const other = await awsPlugin.create(T.group, "other", { vpcId, description: "o" });
        const fromOutside = await awsPlugin.create(T.ingress, "from-outside", { securityGroupId: other.id, ipProtocol: "tcp", fromPort: 22, toPort: 22, referencedSecurityGroupId: outside.GroupId });
        expect(fromOutside.outputs).toMatchObject({ referencedSecurityGroupId: outside.GroupId, fromPort: 22, toPort: 22, ipProtocol: "tcp" });
        await awsPlugin.delete(T.ingress, "from-outside", fromOutside.id, fromOutside.outputs);
        await awsPlugin.delete(T.group, "other", other.id, other.outputs);
        const missingGroup = await awsPlugin.fails(
            "create",
            awsPlugin.createRequest(T.ingress, "from-nowhere", { securityGroupId: "sg-0a1b2c3d4e5f60719", ipProtocol: "-1", cidrIpv4: "10.0.0.0/8" }),
        );
        expect(missingGroup.details).toMatch(/InvalidGroup\.NotFound/);
    }, 60_000);
});
