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
    AddUserToGroupCommand,
    AttachRolePolicyCommand,
    CreateGroupCommand,
    CreatePolicyCommand,
    CreateUserCommand,
    GetGroupCommand,
    GetInstanceProfileCommand,
    GetPolicyCommand,
    GetPolicyVersionCommand,
    GetRoleCommand,
    GetRolePolicyCommand,
    IAMClient,
    ListAttachedGroupPoliciesCommand,
    ListAttachedRolePoliciesCommand,
    ListGroupsForUserCommand,
    ListPolicyVersionsCommand,
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
    ARCHIVE_SIG,
    archiveEntries,
    ASSET_SIG,
    architectureOfInstanceType,
    autoName,
    eventRuleIdParts,
    eventTargetId,
    FAKE_STATE_DIR_ENV,
    FakeStore,
    namePrefixFromName,
    NOT_FOUND,
    resolvedParameterTier,
    rolePolicyIdParts,
    zipArchive,
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
import { NOT_FOUND_MESSAGES, installMocks } from "../support/mocks";
import { SIG_KEY } from "../support/wire";

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

    test("zip files for Lambda: what Python's zipfile reads back, the same bytes for the same files, from an archive as the engine sends it", () => {
        const files = [
            { name: "index.js", data: Buffer.from("exports.handler = async () => 'ok';\n".repeat(20)) },
            { name: "lib/empty.txt", data: Buffer.alloc(0) },
            { name: "lib/ü.json", data: Buffer.from('{"a":1}') },
        ];
        const zip = zipArchive(files);
        expect(zipArchive(files).equals(zip)).toBe(true);
        const python = path.join(PROJECT_ROOT, ".venv", "bin", "python3");
        const read = childProcess.execFileSync(
            python,
            ["-c", "import sys, zipfile, io, json; z = zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read())); assert z.testzip() is None; print(json.dumps({i.filename: [z.read(i).decode(), i.compress_type, i.date_time[:3], oct(i.external_attr >> 16)] for i in z.infolist()}))"],
            { input: zip, encoding: "utf8" },
        );
        expect(JSON.parse(read)).toEqual({
            "index.js": ["exports.handler = async () => 'ok';\n".repeat(20), 8, [1980, 1, 1], "0o100644"],
            "lib/empty.txt": ["", 0, [1980, 1, 1], "0o100644"],
            "lib/ü.json": ['{"a":1}', 0, [1980, 1, 1], "0o100644"],
        });

        // An AssetArchive as the engine serializes it: text and file assets, a nested archive under its name, sorted.
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-archive-"));
        try {
            fs.writeFileSync(path.join(dir, "data.bin"), Buffer.from([1, 2, 3]));
            fs.mkdirSync(path.join(dir, "tree", "sub"), { recursive: true });
            fs.writeFileSync(path.join(dir, "tree", "sub", "x.txt"), "x");
            const archive = {
                [SIG_KEY]: ARCHIVE_SIG,
                assets: {
                    "z.js": { [SIG_KEY]: ASSET_SIG, text: "z", hash: "ignored" },
                    "a.bin": { [SIG_KEY]: ASSET_SIG, path: "data.bin" },
                    nested: { [SIG_KEY]: ARCHIVE_SIG, assets: { "n.txt": { [SIG_KEY]: ASSET_SIG, text: "n" } } },
                    dir: { [SIG_KEY]: ARCHIVE_SIG, path: path.join(dir, "tree") },
                },
                hash: "ignored",
            };
            expect(archiveEntries(archive, dir).map((e) => [e.name, Buffer.from(e.data).toString("latin1")])).toEqual([
                ["a.bin", "\u0001\u0002\u0003"],
                ["dir/sub/x.txt", "x"],
                ["nested/n.txt", "n"],
                ["z.js", "z"],
            ]);
            expect(() => archiveEntries({ [SIG_KEY]: ARCHIVE_SIG, uri: "https://example.com/a.zip" })).toThrow(/remote archives are not implemented/);
            expect(() => archiveEntries({ [SIG_KEY]: ARCHIVE_SIG, path: path.join(dir, "data.bin") })).toThrow(/file archives \(zip, tar\) are not implemented/);
            expect(() => archiveEntries({ [SIG_KEY]: ARCHIVE_SIG, assets: { "u.js": { [SIG_KEY]: ASSET_SIG, uri: "https://example.com/u.js" } } })).toThrow(/remote assets are not implemented/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("the plugin's own store (what moto lacks): per account and region, survives a new instance, needs its directory", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-fake-state-"));
        try {
            const env = { [FAKE_STATE_DIR_ENV]: dir };
            const store = FakeStore.open(env, MOTO_ACCOUNT_ID, MOTO_REGION);
            store.put("kind", "rule-1", { ruleId: "config-rule-abc" });
            expect(FakeStore.open(env, MOTO_ACCOUNT_ID, MOTO_REGION).get("kind", "rule-1")).toEqual({ ruleId: "config-rule-abc" });
            expect(FakeStore.open(env, MOTO_ACCOUNT_ID, "us-east-1").get("kind", "rule-1")).toBeUndefined();
            expect(store.get("other-kind", "rule-1")).toBeUndefined();
            store.delete("kind", "rule-1");
            expect(store.get("kind", "rule-1")).toBeUndefined();
            store.delete("kind", "rule-1");
            expect(() => FakeStore.open({}, MOTO_ACCOUNT_ID, MOTO_REGION)).toThrow(new RegExp(`${FAKE_STATE_DIR_ENV} is not set`));
            expect(() => FakeStore.open({ [FAKE_STATE_DIR_ENV]: "relative/dir" }, MOTO_ACCOUNT_ID, MOTO_REGION)).toThrow(/absolute path/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("the mock engine answers the same look-ups: seeded policies and parameters, then nothing, in the same words", async () => {
        const engine = installMocks();
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const aws = require("@pulumi/aws") as typeof import("@pulumi/aws");
        const failure = async (lookup: () => Promise<unknown>): Promise<string> => {
            try {
                await lookup();
            } catch (err) {
                return err instanceof Error ? err.message : String(err);
            }
            throw new Error("the look-up succeeded");
        };
        const seeded = engine.seedPolicy("Force_MFA", { tags: { "airlock:owner": "org/airlock/prod" } });
        engine.seedParameter("/airlock/guardrails/claim", "org/airlock/prod eu-west-1");
        const policy = await aws.iam.getPolicy({ name: "Force_MFA" });
        expect(policy).toMatchObject({ arn: seeded.arn, name: "Force_MFA", path: "/", tags: { "airlock:owner": "org/airlock/prod" }, policy: seeded.document });
        expect((await aws.iam.getPolicy({ arn: seeded.arn })).name).toBe("Force_MFA");
        expect((await aws.ssm.getParameter({ name: "/airlock/guardrails/claim" })).value).toBe("org/airlock/prod eu-west-1");
        // AWS's public AMI parameters still answer an AMI id.
        expect((await aws.ssm.getParameter({ name: "/aws/service/debian/release/12/latest/arm64" })).value).toMatch(/^ami-[0-9a-f]{17}$/);
        expect(await failure(() => aws.iam.getPolicy({ name: "Force_MFA", pathPrefix: "/other/" }))).toContain(NOT_FOUND.policy);
        expect(await failure(() => aws.ssm.getParameter({ name: "/airlock/other" }))).toContain(NOT_FOUND.parameter("/airlock/other"));
        engine.reset();
        expect(await failure(() => aws.iam.getPolicy({ name: "Force_MFA" }))).toContain(NOT_FOUND.policy);
        expect(await failure(() => aws.ssm.getParameter({ name: "/airlock/guardrails/claim" }))).toContain(NOT_FOUND.parameter("/airlock/guardrails/claim"));
    });

    test("guardrail resources: ids, name prefixes, SSM tiers, not-found words shared with the mock engine", () => {
        expect(namePrefixFromName(prefixedUniqueId("airlock-"))).toBe("airlock-");
        expect(namePrefixFromName("Force_MFA")).toBe("");
        expect(rolePolicyIdParts("airlock-role:deliver")).toEqual({ role: "airlock-role", name: "deliver" });
        expect(() => rolePolicyIdParts("no-colon")).toThrow(/not an IAM role policy id/);
        expect(eventRuleIdParts("heal")).toEqual({ bus: "default", name: "heal" });
        expect(eventRuleIdParts("custom-bus/heal")).toEqual({ bus: "custom-bus", name: "heal" });
        expect(eventTargetId("default", "heal", "fn")).toBe("heal-fn");
        expect(eventTargetId("custom-bus", "heal", "fn")).toBe("custom-bus-heal-fn");
        expect(resolvedParameterTier("Intelligent-Tiering", "x".repeat(4096))).toBe("Standard");
        expect(resolvedParameterTier("Intelligent-Tiering", "x".repeat(4097))).toBe("Advanced");
        expect(resolvedParameterTier(undefined, "x")).toBe("Standard");
        expect(resolvedParameterTier("Advanced", "x")).toBe("Advanced");
        // The mock engine fails the same way as the plugin.
        expect(NOT_FOUND_MESSAGES.getPolicy).toBe(NOT_FOUND.policy);
        expect(NOT_FOUND_MESSAGES.getPolicyMultiple).toBe(NOT_FOUND.policyMultiple);
        expect(NOT_FOUND_MESSAGES.getPolicyArn("arn:aws:iam::1:policy/x")).toBe(NOT_FOUND.policyArn("arn:aws:iam::1:policy/x"));
        expect(NOT_FOUND_MESSAGES.getParameter("/x")).toBe(NOT_FOUND.parameter("/x"));

        // aws_ssm_parameter: asking for Intelligent-Tiering is no change from the tier SSM chose; Advanced back to Standard replaces.
        const parameter = spec("aws:ssm/parameter:Parameter");
        const inputs = { name: "/p", type: "String", value: "v", tier: "Intelligent-Tiering" };
        expect(diffProperties(parameter, { olds: { ...inputs, tier: "Standard" }, oldInputs: inputs, news: inputs }).changed).toEqual([]);
        expect(diffProperties(parameter, { olds: { ...inputs, tier: "Standard" }, oldInputs: { ...inputs, tier: "Standard" }, news: inputs }).changed).toEqual([]);
        expect(diffProperties(parameter, { olds: { ...inputs, tier: "Advanced" }, oldInputs: { ...inputs, tier: "Advanced" }, news: { ...inputs, tier: "Standard" } })).toEqual({
            changed: ["tier"],
            replaces: ["tier"],
        });
        expect(diffProperties(parameter, { olds: { ...inputs, tier: "Standard" }, oldInputs: inputs, news: { ...inputs, value: "w" } })).toEqual({ changed: ["value"], replaces: [] });
        expect(diffProperties(parameter, { olds: inputs, oldInputs: inputs, news: { ...inputs, name: "/q" } }).replaces).toEqual(["name"]);
        // A policy's description forces a new policy; its document is a new version.
        const policy = spec("aws:iam/policy:Policy");
        const doc = { name: "Force_MFA", policy: "{}", description: "a" };
        expect(diffProperties(policy, { olds: doc, oldInputs: doc, news: { ...doc, description: "b" } }).replaces).toEqual(["description"]);
        expect(diffProperties(policy, { olds: doc, oldInputs: doc, news: { ...doc, policy: '{"Version":"2012-10-17"}' } })).toEqual({ changed: ["policy"], replaces: [] });
        // A membership's groups are a set.
        const membership = spec("aws:iam/userGroupMembership:UserGroupMembership");
        const m = { user: "alice", groups: ["A", "B"] };
        expect(diffProperties(membership, { olds: m, oldInputs: m, news: { user: "alice", groups: ["B", "A"] } }).changed).toEqual([]);
        expect(checkProperties(T.eventRule, spec(T.eventRule), { name: "r", olds: {}, news: { state: "ENABLED", isEnabled: true, eventPattern: "{}" }, randomSeed: SEED }).failures.map((f) => f.property)).toEqual(["state"]);
        expect(checkProperties(T.parameter, spec(T.parameter), { name: "p", olds: {}, news: { type: "String" }, randomSeed: SEED }).failures.map((f) => f.property)).toEqual(["value"]);
        expect(checkProperties(T.rolePolicy, spec(T.rolePolicy), { name: "deliver", olds: {}, news: { role: "r", policy: "{}" }, randomSeed: SEED }).inputs["name"]).toMatch(/^deliver-[0-9a-f]{7}$/);
        expect(checkProperties(T.logGroup, spec(T.logGroup), { name: "logs", olds: {}, news: { namePrefix: "/airlock/" }, randomSeed: SEED }).inputs["name"]).toBeUndefined();
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

/** A JSON 1.1 request to moto, signed with signV4: an independent view of Config, CloudTrail, CloudWatch Logs and the rest. */
async function motoJson(moto: Moto, service: string, target: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const answer = await motoRequest(moto, service, "POST", "/", { "content-type": "application/x-amz-json-1.1", "x-amz-target": target }, JSON.stringify(body));
    if (answer.status >= 300) throw new Error(`${target}: HTTP ${answer.status}: ${answer.body.slice(0, 300)}`);
    return answer.body.trim() === "" ? {} : (JSON.parse(answer.body) as Record<string, unknown>);
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
    iamPolicy: "aws:iam/policy:Policy",
    iamGroup: "aws:iam/group:Group",
    groupAttachment: "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    membership: "aws:iam/userGroupMembership:UserGroupMembership",
    rolePolicy: "aws:iam/rolePolicy:RolePolicy",
    recorder: "aws:cfg/recorder:Recorder",
    deliveryChannel: "aws:cfg/deliveryChannel:DeliveryChannel",
    recorderStatus: "aws:cfg/recorderStatus:RecorderStatus",
    configRule: "aws:cfg/rule:Rule",
    remediation: "aws:cfg/remediationConfiguration:RemediationConfiguration",
    trail: "aws:cloudtrail/trail:Trail",
    logGroup: "aws:cloudwatch/logGroup:LogGroup",
    fn: "aws:lambda/function:Function",
    permission: "aws:lambda/permission:Permission",
    eventRule: "aws:cloudwatch/eventRule:EventRule",
    eventTarget: "aws:cloudwatch/eventTarget:EventTarget",
    parameter: "aws:ssm/parameter:Parameter",
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
    /** The environment the plugins run with. */
    let pluginEnvironment: NodeJS.ProcessEnv;
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
        // AWS's own managed policies exist in every account (SecurityAudit, service-role/AWS_ConfigRole, ...): moto loads them only when asked.
        moto = await startMoto({ env: { MOTO_IAM_LOAD_MANAGED_POLICIES: "true" } });
        front = await startS3PolicyFront(frontOptionsFor(moto));
        home = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-fakeprovider-"));
        logFile = path.join(home, "plugin.log");
        const installed = installTestPlugins(home, { node: NODE });
        // As in the engine tests: S3 through the policy front; what moto cannot keep in a directory (test/engine/engine.ts sets one per workspace).
        pluginEnvironment = pluginEnv(moto, { AIRLOCK_FAKE_PROVIDER_LOG: logFile, AWS_ENDPOINT_URL_S3: front.endpoint, [FAKE_STATE_DIR_ENV]: path.join(home, "fake-state") });
        const env = pluginEnvironment;
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
        // Anything else missing is missing, in the provider's words (which do not name ParameterNotFound).
        const notFound = await awsPlugin.fails("invoke", awsPlugin.invokeRequest("aws:ssm/getParameter:getParameter", { name: "/airlock/nothing-here" }));
        expect(notFound.details).toBe(NOT_FOUND.parameter("/airlock/nothing-here"));
        expect(notFound.details).toBe("reading SSM Parameter (/airlock/nothing-here): couldn't find resource");
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

    /** A second plugin process, as the CLI starts one per command: only what moto or the plugin's store keeps is there. */
    async function anotherPlugin(): Promise<PluginProcess> {
        const plugin = await PluginProcess.start("aws", pluginLocation(home, "aws", AWS_VERSION).executable, pluginEnvironment);
        started.push(plugin);
        await plugin.configure({ region: MOTO_REGION, version: AWS_VERSION }, { "aws:config:region": MOTO_REGION });
        return plugin;
    }

    test("IAM: managed policies (new default versions, the oldest pruned at 5), groups, attachments, memberships that touch only their groups, inline role policies; getPolicy", async () => {
        const document = (sid: string): string => JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: sid, Effect: "Deny", Action: "iam:*", Resource: "*" }] });
        const policy = await awsPlugin.create(T.iamPolicy, "guardrails-Force_MFA", { name: "Force_MFA", description: "Airlock guardrail", policy: document("v1"), tags: { "airlock:managed": "true" } });
        const arn = `arn:aws:iam::${MOTO_ACCOUNT_ID}:policy/Force_MFA`;
        expect(policy.id).toBe(arn);
        expect(policy.outputs).toMatchObject({ arn, name: "Force_MFA", namePrefix: "", path: "/", description: "Airlock guardrail", policy: document("v1"), attachmentCount: 0, tagsAll: { "airlock:managed": "true" } });
        expect(policy.outputs["policyId"]).toMatch(/^A/);
        expect((await iam.send(new GetPolicyCommand({ PolicyArn: arn }))).Policy?.Description).toBe("Airlock guardrail");
        // Autonamed like the real provider, or from a prefix.
        const autonamed = await awsPlugin.create(T.iamPolicy, "guardrails-extra", { path: "/airlock/", policy: document("x") });
        expect(autonamed.outputs["name"]).toMatch(/^guardrails-extra-[0-9a-f]{7}$/);
        expect(autonamed.id).toBe(`arn:aws:iam::${MOTO_ACCOUNT_ID}:policy/airlock/${autonamed.outputs["name"]}`);
        const prefixed = await awsPlugin.create(T.iamPolicy, "guardrails-prefixed", { namePrefix: "airlock-", policy: document("p") });
        expect(prefixed.outputs["namePrefix"]).toBe("airlock-");

        // A new document is a new default version; at IAM's 5 the oldest non-default one goes first.
        let state = policy.outputs;
        let inputs = policy.inputs;
        for (const sid of ["v2", "v3", "v4", "v5", "v6", "v7"]) {
            const news = { ...inputs, policy: document(sid) };
            expect(await awsPlugin.diff(T.iamPolicy, "guardrails-Force_MFA", arn, state, inputs, news)).toMatchObject({ diffs: ["policy"], replaces: [] });
            state = await awsPlugin.update(T.iamPolicy, "guardrails-Force_MFA", arn, state, inputs, news);
            inputs = news;
        }
        expect(state["policy"]).toBe(document("v7"));
        const versions = (await iam.send(new ListPolicyVersionsCommand({ PolicyArn: arn }))).Versions ?? [];
        expect(versions.map((v) => v.VersionId).sort()).toEqual(["v3", "v4", "v5", "v6", "v7"]);
        expect(versions.find((v) => v.IsDefaultVersion)?.VersionId).toBe("v7");
        expect(decodeURIComponent((await iam.send(new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: "v7" }))).PolicyVersion?.Document ?? "")).toBe(document("v7"));
        // Tags change in place; the description and the name replace.
        const retagged = await awsPlugin.update(T.iamPolicy, "guardrails-Force_MFA", arn, state, inputs, { ...inputs, tags: { "airlock:managed": "true", owner: "security" } });
        expect(retagged["tagsAll"]).toEqual({ "airlock:managed": "true", owner: "security" });
        inputs = { ...inputs, tags: { "airlock:managed": "true", owner: "security" } };
        expect((await awsPlugin.diff(T.iamPolicy, "guardrails-Force_MFA", arn, retagged, inputs, { ...inputs, description: "other" })).replaces).toEqual(["description"]);
        expect((await awsPlugin.diff(T.iamPolicy, "guardrails-Force_MFA", arn, retagged, inputs, { ...inputs, name: "Other" })).replaces).toEqual(["name"]);

        // getPolicy: by name (tags and the default document), by ARN, by path prefix; nothing found in the provider's words.
        const found = await awsPlugin.invoke("aws:iam/getPolicy:getPolicy", { name: "Force_MFA" });
        expect(found).toMatchObject({ id: arn, arn, name: "Force_MFA", path: "/", policy: document("v7"), description: "Airlock guardrail", tags: { "airlock:managed": "true", owner: "security" } });
        expect((await awsPlugin.invoke("aws:iam/getPolicy:getPolicy", { arn }))["name"]).toBe("Force_MFA");
        expect((await awsPlugin.invoke("aws:iam/getPolicy:getPolicy", { name: autonamed.outputs["name"], pathPrefix: "/airlock/" }))["arn"]).toBe(autonamed.id);
        // AWS's own policies are found too (ListPolicies of every scope).
        expect((await awsPlugin.invoke("aws:iam/getPolicy:getPolicy", { name: "SecurityAudit" }))["arn"]).toBe("arn:aws:iam::aws:policy/SecurityAudit");
        const missing = await awsPlugin.fails("invoke", awsPlugin.invokeRequest("aws:iam/getPolicy:getPolicy", { name: "User_Source_IP_Restrictions" }));
        expect(missing.details).toBe("no matching IAM Policy found");
        const wrongPath = await awsPlugin.fails("invoke", awsPlugin.invokeRequest("aws:iam/getPolicy:getPolicy", { name: "Force_MFA", pathPrefix: "/airlock/" }));
        expect(wrongPath.details).toBe(NOT_FOUND.policy);
        const missingArn = `arn:aws:iam::${MOTO_ACCOUNT_ID}:policy/Nothing`;
        expect((await awsPlugin.fails("invoke", awsPlugin.invokeRequest("aws:iam/getPolicy:getPolicy", { arn: missingArn }))).details).toBe(NOT_FOUND.policyArn(missingArn));
        await iam.send(new CreatePolicyCommand({ PolicyName: "Force_MFA", Path: "/elsewhere/", PolicyDocument: document("other") }));
        expect((await awsPlugin.fails("invoke", awsPlugin.invokeRequest("aws:iam/getPolicy:getPolicy", { name: "Force_MFA" }))).details).toBe(NOT_FOUND.policyMultiple);

        // A group, the policy attached to it (the provider's `<group>-<unique>` id).
        const group = await awsPlugin.create(T.iamGroup, "guardrails-DevOps", { name: "DevOps" });
        expect(group.id).toBe("DevOps");
        expect(group.outputs).toMatchObject({ name: "DevOps", path: "/", arn: `arn:aws:iam::${MOTO_ACCOUNT_ID}:group/DevOps` });
        expect(group.outputs["uniqueId"]).toBe((await iam.send(new GetGroupCommand({ GroupName: "DevOps" }))).Group?.GroupId);
        const attachment = await awsPlugin.create(T.groupAttachment, "guardrails-devOps-0", { group: "DevOps", policyArn: arn });
        expect(attachment.id).toMatch(/^DevOps-\d{18}[0-9a-f]{8}$/);
        expect((await iam.send(new ListAttachedGroupPoliciesCommand({ GroupName: "DevOps" }))).AttachedPolicies?.map((p) => p.PolicyArn)).toEqual([arn]);
        expect((await awsPlugin.read(T.groupAttachment, "guardrails-devOps-0", attachment.id, attachment.outputs, attachment.inputs)).outputs).toEqual({ group: "DevOps", policyArn: arn });
        expect((await awsPlugin.diff(T.groupAttachment, "guardrails-devOps-0", attachment.id, attachment.outputs, attachment.inputs, { group: "SecurityAudit", policyArn: arn })).replaces).toEqual(["group"]);
        expect((await awsPlugin.read(T.iamPolicy, "guardrails-Force_MFA", arn, retagged, inputs)).outputs["attachmentCount"]).toBe(1);
        // One of AWS's own policies, as the SecurityAudit group gets.
        const awsManaged = await awsPlugin.create(T.groupAttachment, "guardrails-devOps-1", { group: "DevOps", policyArn: "arn:aws:iam::aws:policy/SecurityAudit" });
        expect((await iam.send(new ListAttachedGroupPoliciesCommand({ GroupName: "DevOps" }))).AttachedPolicies?.map((p) => p.PolicyArn).sort()).toEqual([arn, "arn:aws:iam::aws:policy/SecurityAudit"].sort());
        await awsPlugin.delete(T.groupAttachment, "guardrails-devOps-1", awsManaged.id, awsManaged.outputs);

        // Memberships: only the listed groups, never another group the user is in.
        await iam.send(new CreateUserCommand({ UserName: "alice" }));
        await iam.send(new CreateGroupCommand({ GroupName: "Outside" }));
        await iam.send(new AddUserToGroupCommand({ UserName: "alice", GroupName: "Outside" }));
        const other = await awsPlugin.create(T.iamGroup, "guardrails-SecurityAudit", { name: "SecurityAudit" });
        const groupsOf = async (user: string): Promise<string[]> => ((await iam.send(new ListGroupsForUserCommand({ UserName: user }))).Groups ?? []).map((g) => g.GroupName ?? "").sort();
        const membership = await awsPlugin.create(T.membership, "guardrails-devOps-alice", { user: "alice", groups: ["DevOps"] });
        expect(membership.id).toMatch(/^terraform-\d{18}[0-9a-f]{8}$/);
        expect(membership.outputs).toEqual({ user: "alice", groups: ["DevOps"] });
        expect(await groupsOf("alice")).toEqual(["DevOps", "Outside"]);
        const both = await awsPlugin.update(T.membership, "guardrails-devOps-alice", membership.id, membership.outputs, membership.inputs, { user: "alice", groups: ["DevOps", "SecurityAudit"] });
        expect(both["groups"]).toEqual(["DevOps", "SecurityAudit"]);
        expect(await groupsOf("alice")).toEqual(["DevOps", "Outside", "SecurityAudit"]);
        const moved = await awsPlugin.update(T.membership, "guardrails-devOps-alice", membership.id, both, { user: "alice", groups: ["DevOps", "SecurityAudit"] }, { user: "alice", groups: ["SecurityAudit"] });
        expect(moved["groups"]).toEqual(["SecurityAudit"]);
        expect(await groupsOf("alice")).toEqual(["Outside", "SecurityAudit"]);
        expect((await awsPlugin.diff(T.membership, "m", membership.id, moved, { user: "alice", groups: ["SecurityAudit"] }, { user: "bob", groups: ["SecurityAudit"] })).replaces).toEqual(["user"]);
        // Someone removes alice from the group: a refresh shows the membership without it (the resource stays while the user exists).
        await awsPlugin.delete(T.membership, "guardrails-devOps-alice", membership.id, { user: "alice", groups: ["SecurityAudit"] });
        expect(await groupsOf("alice")).toEqual(["Outside"]);
        expect((await awsPlugin.read(T.membership, "guardrails-devOps-alice", membership.id, moved, { user: "alice", groups: ["SecurityAudit"] })).outputs["groups"]).toEqual([]);
        expect((await awsPlugin.read(T.membership, "m", membership.id, { user: "nobody", groups: ["DevOps"] })).id).toBe("");

        // IAM refuses to delete what is still in use (moto would not): an attached policy, a group with members or policies.
        await iam.send(new AddUserToGroupCommand({ UserName: "alice", GroupName: "SecurityAudit" }));
        expect((await awsPlugin.fails("delete", awsPlugin.deleteRequest(T.iamPolicy, "guardrails-Force_MFA", arn, retagged))).details).toMatch(/DeleteConflict: Cannot delete a policy attached to entities/);
        expect((await awsPlugin.fails("delete", awsPlugin.deleteRequest(T.iamGroup, "guardrails-DevOps", "DevOps", group.outputs))).details).toMatch(/DeleteConflict: Cannot delete entity, must detach all policies first/);
        expect((await awsPlugin.fails("delete", awsPlugin.deleteRequest(T.iamGroup, "guardrails-SecurityAudit", "SecurityAudit", other.outputs))).details).toMatch(
            /DeleteConflict: Cannot delete entity, must remove users from group first/,
        );

        // A rename is an UpdateGroup (the id stays; the state's name is what is read).
        const renamed = await awsPlugin.update(T.iamGroup, "guardrails-SecurityAudit", "SecurityAudit", other.outputs, other.inputs, { name: "Auditors" });
        expect(renamed).toMatchObject({ name: "Auditors", arn: `arn:aws:iam::${MOTO_ACCOUNT_ID}:group/Auditors` });
        expect((await iam.send(new GetGroupCommand({ GroupName: "Auditors" }))).Users?.map((u) => u.UserName)).toEqual(["alice"]);
        expect((await awsPlugin.read(T.iamGroup, "guardrails-SecurityAudit", "SecurityAudit", renamed, { name: "Auditors" })).outputs["name"]).toBe("Auditors");

        // Inline role policies: `<role>:<name>`, the name autonamed.
        const role = await awsPlugin.create(T.role, "guardrails-recorder", { assumeRolePolicy: TRUST_POLICY });
        const inline = await awsPlugin.create(T.rolePolicy, "guardrails-recorder-delivers", { role: role.id, policy: document("deliver") });
        expect(inline.inputs["name"]).toMatch(/^guardrails-recorder-delivers-[0-9a-f]{7}$/);
        expect(inline.id).toBe(`${role.id}:${inline.inputs["name"]}`);
        expect(inline.outputs).toMatchObject({ role: role.id, name: inline.inputs["name"], namePrefix: "", policy: document("deliver") });
        const updatedInline = await awsPlugin.update(T.rolePolicy, "guardrails-recorder-delivers", inline.id, inline.outputs, inline.inputs, { ...inline.inputs, policy: document("deliver2") });
        expect(updatedInline["policy"]).toBe(document("deliver2"));
        expect(decodeURIComponent((await iam.send(new GetRolePolicyCommand({ RoleName: role.id, PolicyName: inline.inputs["name"] as string }))).PolicyDocument ?? "")).toBe(document("deliver2"));
        expect((await awsPlugin.diff(T.rolePolicy, "guardrails-recorder-delivers", inline.id, updatedInline, inline.inputs, { ...inline.inputs, role: "other" })).replaces).toEqual(["role"]);
        const prefixedInline = await awsPlugin.create(T.rolePolicy, "guardrails-recorder-reads", { role: role.id, namePrefix: "reads-", policy: document("reads") });
        expect(prefixedInline.outputs["namePrefix"]).toBe("reads-");

        // Deletion in the engine's order; gone reads answer nothing.
        await awsPlugin.delete(T.rolePolicy, "guardrails-recorder-reads", prefixedInline.id, prefixedInline.outputs);
        await awsPlugin.delete(T.rolePolicy, "guardrails-recorder-delivers", inline.id, updatedInline);
        expect((await awsPlugin.read(T.rolePolicy, "guardrails-recorder-delivers", inline.id, updatedInline, inline.inputs)).id).toBe("");
        expect((await iam.send(new ListRolePoliciesCommand({ RoleName: role.id }))).PolicyNames).toEqual([]);
        await awsPlugin.delete(T.role, "guardrails-recorder", role.id, role.outputs);
        await awsPlugin.delete(T.groupAttachment, "guardrails-devOps-0", attachment.id, attachment.outputs);
        expect((await awsPlugin.read(T.groupAttachment, "guardrails-devOps-0", attachment.id, attachment.outputs, attachment.inputs)).id).toBe("");
        await awsPlugin.delete(T.iamGroup, "guardrails-DevOps", "DevOps", group.outputs);
        expect((await awsPlugin.read(T.iamGroup, "guardrails-DevOps", "DevOps", group.outputs, group.inputs)).id).toBe("");
        await awsPlugin.delete(T.iamPolicy, "guardrails-Force_MFA", arn, retagged);
        expect((await awsPlugin.read(T.iamPolicy, "guardrails-Force_MFA", arn, retagged, inputs)).id).toBe("");
        await awsPlugin.delete(T.iamPolicy, "guardrails-extra", autonamed.id, autonamed.outputs);
        await awsPlugin.delete(T.iamPolicy, "guardrails-prefixed", prefixed.id, prefixed.outputs);
        // Deleting what is already gone is no error.
        await awsPlugin.delete(T.iamPolicy, "guardrails-Force_MFA", arn, retagged);
        await awsPlugin.delete(T.iamGroup, "guardrails-DevOps", "DevOps", group.outputs);
    }, 120_000);

    test("Config: recorder, delivery channel, recording, managed rules, remediation (kept by the plugin, seen by the next plugin process, gone with its rule)", async () => {
        const bucket = await awsPlugin.create(T.bucket, "guardrails-delivery", { forceDestroy: true });
        const role = await awsPlugin.create(T.role, "guardrails-recorder", { assumeRolePolicy: TRUST_POLICY });
        const config = (target: string, body: Record<string, unknown>): Promise<Record<string, unknown>> => motoJson(moto, "config", `StarlingDoveService.${target}`, body);

        const recorder = await awsPlugin.create(T.recorder, "guardrails-recorder", { name: "airlock", roleArn: role.outputs["arn"], recordingGroup: { allSupported: true, includeGlobalResourceTypes: true } });
        expect(recorder.id).toBe("airlock");
        expect(recorder.outputs).toMatchObject({
            name: "airlock",
            roleArn: role.outputs["arn"],
            recordingGroup: { allSupported: true, includeGlobalResourceTypes: true, recordingStrategies: [{ useOnly: "ALL_SUPPORTED_RESOURCE_TYPES" }] },
            recordingMode: { recordingFrequency: "CONTINUOUS" },
        });
        // One recorder per region, as AWS (moto enforces it).
        const second = await awsPlugin.fails("create", awsPlugin.createRequest(T.recorder, "another", { name: "another", roleArn: role.outputs["arn"] }));
        expect(second.details).toMatch(/MaxNumberOfConfigurationRecordersExceededException/);
        // Recording needs a delivery channel.
        const early = await awsPlugin.fails("create", awsPlugin.createRequest(T.recorderStatus, "guardrails-recording", { name: "airlock", isEnabled: true }));
        expect(early.details).toMatch(/NoAvailableDeliveryChannelException/);
        const channel = await awsPlugin.create(T.deliveryChannel, "guardrails-delivery", { name: "airlock", s3BucketName: bucket.id, snapshotDeliveryProperties: { deliveryFrequency: "TwentyFour_Hours" } });
        expect(channel.outputs).toMatchObject({ name: "airlock", s3BucketName: bucket.id, snapshotDeliveryProperties: { deliveryFrequency: "TwentyFour_Hours" } });
        const status = await awsPlugin.create(T.recorderStatus, "guardrails-recording", { name: "airlock", isEnabled: true });
        expect(status.outputs).toMatchObject({ name: "airlock", isEnabled: true });
        const recording = async (): Promise<unknown> =>
            ((await config("DescribeConfigurationRecorderStatus", { ConfigurationRecorderNames: ["airlock"] }))["ConfigurationRecordersStatus"] as Array<Record<string, unknown>>)[0]?.["recording"];
        expect(await recording()).toBe(true);
        const stopped = await awsPlugin.update(T.recorderStatus, "guardrails-recording", "airlock", status.outputs, status.inputs, { name: "airlock", isEnabled: false });
        expect(stopped["isEnabled"]).toBe(false);
        expect(await recording()).toBe(false);
        const restarted = await awsPlugin.update(T.recorderStatus, "guardrails-recording", "airlock", stopped, { name: "airlock", isEnabled: false }, { name: "airlock", isEnabled: true });
        expect(await recording()).toBe(true);
        const updatedRecorder = await awsPlugin.update(T.recorder, "guardrails-recorder", "airlock", recorder.outputs, recorder.inputs, {
            ...recorder.inputs,
            recordingGroup: { allSupported: true, includeGlobalResourceTypes: false },
        });
        expect(updatedRecorder["recordingGroup"]).toMatchObject({ includeGlobalResourceTypes: false });
        expect((await awsPlugin.diff(T.recorder, "guardrails-recorder", "airlock", updatedRecorder, recorder.inputs, { ...recorder.inputs, name: "other" })).replaces).toEqual(["name"]);

        // A managed rule: its parameters checked against AWS's list (moto), scope, tags; the rule's ARN and id.
        const ruleInputs = {
            name: "airlock-restricted-incoming-traffic",
            description: "Airlock guardrail",
            source: { owner: "AWS", sourceIdentifier: "RESTRICTED_INCOMING_TRAFFIC" },
            inputParameters: JSON.stringify({ blockedPort1: "22", blockedPort2: "3389" }),
            scope: { complianceResourceTypes: ["AWS::EC2::SecurityGroup"] },
            tags: { "airlock:managed": "true" },
        };
        const rule = await awsPlugin.create(T.configRule, "guardrails-restricted-incoming-traffic", ruleInputs);
        expect(rule.id).toBe("airlock-restricted-incoming-traffic");
        expect(rule.outputs["ruleId"]).toMatch(/^config-rule-/);
        expect(rule.outputs).toMatchObject({
            arn: `arn:aws:config:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:config-rule/${rule.outputs["ruleId"]}`,
            inputParameters: ruleInputs.inputParameters,
            scope: { complianceResourceTypes: ["AWS::EC2::SecurityGroup"] },
            source: { owner: "AWS", sourceIdentifier: "RESTRICTED_INCOMING_TRAFFIC", sourceDetails: [] },
            evaluationModes: [{ mode: "DETECTIVE" }],
            tagsAll: { "airlock:managed": "true" },
        });
        const badParameter = await awsPlugin.fails("create", awsPlugin.createRequest(T.configRule, "bad", { ...ruleInputs, name: "bad", inputParameters: JSON.stringify({ notAParameter: "1" }) }));
        expect(badParameter.details).toMatch(/InvalidParameterValueException: Unknown parameters/);
        const periodic = await awsPlugin.create(T.configRule, "guardrails-access-keys-rotated", {
            name: "airlock-access-keys-rotated",
            source: { owner: "AWS", sourceIdentifier: "ACCESS_KEYS_ROTATED" },
            inputParameters: JSON.stringify({ maxAccessKeyAge: "90" }),
            maximumExecutionFrequency: "TwentyFour_Hours",
        });
        expect(periodic.outputs).toMatchObject({ maximumExecutionFrequency: "TwentyFour_Hours", tagsAll: {} });
        const ruleNews = { ...ruleInputs, description: "Airlock guardrail, v2", tags: { "airlock:managed": "true", owner: "security" } };
        const updatedRule = await awsPlugin.update(T.configRule, "guardrails-restricted-incoming-traffic", rule.id, rule.outputs, rule.inputs, ruleNews);
        expect(updatedRule).toMatchObject({ description: "Airlock guardrail, v2", ruleId: rule.outputs["ruleId"], tagsAll: { "airlock:managed": "true", owner: "security" } });
        expect((await awsPlugin.diff(T.configRule, "r", rule.id, updatedRule, ruleNews, { ...ruleNews, name: "renamed" })).replaces).toEqual(["name"]);

        // Remediation (AWS's SSM runbook), kept by the plugin: its parameters read back sorted by name, as the provider does.
        const remediationInputs = {
            configRuleName: rule.id,
            targetType: "SSM_DOCUMENT",
            targetId: "AWS-DisablePublicAccessForSecurityGroup",
            parameters: [
                { name: "AutomationAssumeRole", staticValue: role.outputs["arn"] },
                { name: "GroupId", resourceValue: "RESOURCE_ID" },
                { name: "IpAddressToBlock", staticValues: ["0.0.0.0/0", "::/0"] },
            ],
            automatic: true,
            maximumAutomaticAttempts: 3,
            retryAttemptSeconds: 60,
            executionControls: { ssmControls: { concurrentExecutionRatePercentage: 25, errorPercentage: 20 } },
        };
        const remediation = await awsPlugin.create(T.remediation, "guardrails-remediate", remediationInputs);
        expect(remediation.id).toBe(rule.id);
        const expectedRemediation = {
            configRuleName: rule.id,
            targetType: "SSM_DOCUMENT",
            targetId: "AWS-DisablePublicAccessForSecurityGroup",
            automatic: true,
            maximumAutomaticAttempts: 3,
            retryAttemptSeconds: 60,
            parameters: [
                { name: "AutomationAssumeRole", resourceValue: "", staticValue: role.outputs["arn"], staticValues: [] },
                { name: "GroupId", resourceValue: "RESOURCE_ID", staticValue: "", staticValues: [] },
                { name: "IpAddressToBlock", resourceValue: "", staticValue: "", staticValues: ["0.0.0.0/0", "::/0"] },
            ],
            executionControls: { ssmControls: { concurrentExecutionRatePercentage: 25, errorPercentage: 20 } },
        };
        expect(remediation.outputs).toMatchObject(expectedRemediation);
        expect(remediation.outputs["arn"]).toMatch(new RegExp(`^arn:aws:config:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:remediation-configuration/${rule.id}/`));
        // The CLI starts a new plugin process for each command: the configuration is still there.
        const next = await anotherPlugin();
        const reread = await next.read(T.remediation, "guardrails-remediate", remediation.id, remediation.outputs, remediation.inputs);
        expect(reread).toEqual({ id: remediation.id, outputs: remediation.outputs });
        // Parameters in another order than the provider's sorted state are a difference, as with the real provider (a list).
        const reordered = { ...remediationInputs, parameters: [...remediationInputs.parameters].reverse() };
        expect((await next.diff(T.remediation, "guardrails-remediate", remediation.id, remediation.outputs, remediationInputs, reordered)).diffs).toEqual(["parameters"]);
        const updatedRemediation = await next.update(T.remediation, "guardrails-remediate", remediation.id, remediation.outputs, remediationInputs, { ...remediationInputs, maximumAutomaticAttempts: 5 });
        expect(updatedRemediation).toMatchObject({ ...expectedRemediation, maximumAutomaticAttempts: 5, arn: remediation.outputs["arn"] });
        expect((await next.diff(T.remediation, "guardrails-remediate", remediation.id, updatedRemediation, remediationInputs, { ...remediationInputs, configRuleName: "x" })).replaces).toEqual(["configRuleName"]);
        await next.stop();
        // What AWS refuses: a parameter with both kinds of value, a rule that does not exist, deleting a rule that still has a remediation.
        const both = await awsPlugin.fails("update", (() => {
            const req = new provproto.UpdateRequest();
            req.setUrn(urnOf(T.remediation, "guardrails-remediate"));
            req.setType(T.remediation);
            req.setId(remediation.id);
            req.setOlds(struct(updatedRemediation));
            req.setOldInputs(struct(remediationInputs));
            req.setNews(struct({ ...remediationInputs, parameters: [{ name: "GroupId", resourceValue: "RESOURCE_ID", staticValue: "sg-1" }] }));
            return req;
        })());
        expect(both.details).toMatch(/InvalidParameterValueException: There were invalid RemediationParameterValues/);
        const noRule = await awsPlugin.fails("create", awsPlugin.createRequest(T.remediation, "orphan", { ...remediationInputs, configRuleName: "no-such-rule" }));
        expect(noRule.details).toMatch(/NoSuchConfigRuleException/);
        const inUse = await awsPlugin.fails("delete", awsPlugin.deleteRequest(T.configRule, "guardrails-restricted-incoming-traffic", rule.id, updatedRule));
        expect(inUse.details).toMatch(/ResourceInUseException: The rule airlock-restricted-incoming-traffic is currently being used by a remediation configuration/);

        // A delivery channel cannot go while the recorder records (moto enforces it, as AWS).
        const recordingChannel = await awsPlugin.fails("delete", awsPlugin.deleteRequest(T.deliveryChannel, "guardrails-delivery", "airlock", channel.outputs));
        expect(recordingChannel.details).toMatch(/LastDeliveryChannelDeleteFailedException/);

        // Deletion in the engine's order; reads of what is gone answer nothing.
        await awsPlugin.delete(T.remediation, "guardrails-remediate", remediation.id, updatedRemediation);
        expect((await awsPlugin.read(T.remediation, "guardrails-remediate", remediation.id, updatedRemediation, remediationInputs)).id).toBe("");
        await awsPlugin.delete(T.configRule, "guardrails-restricted-incoming-traffic", rule.id, updatedRule);
        expect((await awsPlugin.read(T.configRule, "guardrails-restricted-incoming-traffic", rule.id, updatedRule, ruleNews)).id).toBe("");
        await awsPlugin.delete(T.configRule, "guardrails-access-keys-rotated", periodic.id, periodic.outputs);
        await awsPlugin.delete(T.recorderStatus, "guardrails-recording", "airlock", restarted);
        expect(await recording()).toBe(false);
        await awsPlugin.delete(T.deliveryChannel, "guardrails-delivery", "airlock", channel.outputs);
        expect((await awsPlugin.read(T.deliveryChannel, "guardrails-delivery", "airlock", channel.outputs, channel.inputs)).id).toBe("");
        await awsPlugin.delete(T.recorder, "guardrails-recorder", "airlock", updatedRecorder);
        expect((await awsPlugin.read(T.recorder, "guardrails-recorder", "airlock", updatedRecorder, recorder.inputs)).id).toBe("");
        expect((await awsPlugin.read(T.recorderStatus, "guardrails-recording", "airlock", restarted, status.inputs)).id).toBe("");
        // A remediation whose rule was deleted behind the plugin's back is gone too (the record is tied to the rule's id).
        const again = await awsPlugin.create(T.configRule, "guardrails-again", { ...ruleInputs, name: "airlock-again" });
        const againRemediation = await awsPlugin.create(T.remediation, "guardrails-again", { ...remediationInputs, configRuleName: again.id });
        await config("DeleteConfigRule", { ConfigRuleName: again.id });
        expect((await awsPlugin.read(T.remediation, "guardrails-again", againRemediation.id, againRemediation.outputs, againRemediation.inputs)).id).toBe("");
        await awsPlugin.create(T.configRule, "guardrails-again-2", { ...ruleInputs, name: "airlock-again" });
        expect((await awsPlugin.read(T.remediation, "guardrails-again", againRemediation.id, againRemediation.outputs, againRemediation.inputs)).id).toBe("");
        await awsPlugin.delete(T.configRule, "guardrails-again-2", again.id, again.outputs);
        await awsPlugin.delete(T.role, "guardrails-recorder", role.id, role.outputs);
        await awsPlugin.delete(T.bucket, "guardrails-delivery", bucket.id, bucket.outputs);
    }, 120_000);

    test("CloudTrail with CloudWatch Logs, log groups, a Lambda function from an archive (zip built by the plugin), its permission, an EventBridge rule and target", async () => {
        // Log groups: a given name with retention and tags; one from a prefix; a KMS key set later (moto lacks AssociateKmsKey: kept by the plugin).
        const healerName = "airlock-guardrails-heal-security-groups";
        const logs = await awsPlugin.create(T.logGroup, "guardrails-logs", { name: `/aws/lambda/${healerName}`, retentionInDays: 365, tags: { "airlock:managed": "true" } });
        expect(logs.id).toBe(`/aws/lambda/${healerName}`);
        expect(logs.outputs).toMatchObject({
            name: `/aws/lambda/${healerName}`,
            arn: `arn:aws:logs:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:log-group:/aws/lambda/${healerName}`,
            retentionInDays: 365,
            kmsKeyId: "",
            logGroupClass: "STANDARD",
            tagsAll: { "airlock:managed": "true" },
        });
        const trailEvents = await awsPlugin.create(T.logGroup, "guardrails-events", { namePrefix: "/airlock/cloudtrail/airlock-guardrails-", retentionInDays: 90 });
        expect(trailEvents.id).toMatch(/^\/airlock\/cloudtrail\/airlock-guardrails-\d{18}[0-9a-f]{8}$/);
        expect(trailEvents.outputs["namePrefix"]).toBe("/airlock/cloudtrail/airlock-guardrails-");
        const key = await awsPlugin.create(T.key, "guardrails-trail-key", { description: "trail", deletionWindowInDays: 7 });
        const keyArn = String(key.outputs["arn"]);
        const encrypted = await awsPlugin.update(T.logGroup, "guardrails-events", trailEvents.id, trailEvents.outputs, trailEvents.inputs, { ...trailEvents.inputs, kmsKeyId: keyArn, retentionInDays: 30 });
        expect(encrypted).toMatchObject({ kmsKeyId: keyArn, retentionInDays: 30 });
        expect((await (await anotherPlugin()).read(T.logGroup, "guardrails-events", trailEvents.id, encrypted, { ...trailEvents.inputs, kmsKeyId: keyArn })).outputs["kmsKeyId"]).toBe(keyArn);
        const describedGroup = ((await motoJson(moto, "logs", "Logs_20140328.DescribeLogGroups", { logGroupNamePrefix: trailEvents.id }))["logGroups"] as Array<Record<string, unknown>>)[0];
        expect(describedGroup?.["retentionInDays"]).toBe(30);
        expect((await awsPlugin.diff(T.logGroup, "guardrails-logs", logs.id, logs.outputs, logs.inputs, { ...logs.inputs, name: "/other" })).replaces).toEqual(["name"]);

        // The trail: multi-region, validated, SSE-KMS, to CloudWatch Logs; its id is its ARN; logging started.
        const bucket = await awsPlugin.create(T.bucket, "guardrails-trail-logs", { forceDestroy: true });
        const toLogs = await awsPlugin.create(T.role, "guardrails-to-logs", { assumeRolePolicy: TRUST_POLICY });
        const groupArnWithStreams = `${String(encrypted["arn"])}:*`;
        const trailInputs = {
            name: "airlock-guardrails",
            s3BucketName: bucket.id,
            isMultiRegionTrail: true,
            includeGlobalServiceEvents: true,
            enableLogFileValidation: true,
            enableLogging: true,
            kmsKeyId: keyArn,
            cloudWatchLogsGroupArn: groupArnWithStreams,
            cloudWatchLogsRoleArn: toLogs.outputs["arn"],
            tags: { "airlock:managed": "true" },
        };
        // CloudTrail wants the log-stream wildcard, an existing group, both ARNs (moto checks none of it).
        const noWildcard = await awsPlugin.fails("create", awsPlugin.createRequest(T.trail, "bad", { ...trailInputs, name: "bad-trail", cloudWatchLogsGroupArn: encrypted["arn"] }));
        expect(noWildcard.details).toMatch(/InvalidCloudWatchLogsLogGroupArnException: .* is not a log group ARN with the log-stream wildcard/);
        const noRole = await awsPlugin.fails("create", awsPlugin.createRequest(T.trail, "bad", { ...trailInputs, name: "bad-trail", cloudWatchLogsRoleArn: undefined }));
        expect(noRole.details).toMatch(/InvalidCloudWatchLogsLogGroupArnException: CloudWatch Logs delivery needs both/);
        const noKey = await awsPlugin.fails("create", awsPlugin.createRequest(T.trail, "bad", { ...trailInputs, name: "bad-trail", kmsKeyId: `arn:aws:kms:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:key/0d1e2f3a-4b5c-6d7e-8f90-a1b2c3d4e5f6` }));
        expect(noKey.details).toMatch(/KmsKeyNotFoundException/);
        const trail = await awsPlugin.create(T.trail, "guardrails-trail", trailInputs);
        const trailArn = `arn:aws:cloudtrail:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:trail/airlock-guardrails`;
        expect(trail.id).toBe(trailArn);
        expect(trail.outputs).toMatchObject({
            ...trailInputs,
            arn: trailArn,
            homeRegion: MOTO_REGION,
            isOrganizationTrail: false,
            s3KeyPrefix: "",
            snsTopicArn: "",
            tagsAll: { "airlock:managed": "true" },
        });
        const trailStatus = async (): Promise<unknown> => (await motoJson(moto, "cloudtrail", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.GetTrailStatus", { Name: trailArn }))["IsLogging"];
        expect(await trailStatus()).toBe(true);
        const paused = await awsPlugin.update(T.trail, "guardrails-trail", trailArn, trail.outputs, trail.inputs, { ...trailInputs, enableLogging: false, s3KeyPrefix: "airlock", tags: { owner: "security" } });
        expect(paused).toMatchObject({ enableLogging: false, s3KeyPrefix: "airlock", tagsAll: { owner: "security" } });
        expect(await trailStatus()).toBe(false);
        expect((await awsPlugin.diff(T.trail, "guardrails-trail", trailArn, paused, trail.inputs, { ...trailInputs, name: "renamed" })).replaces).toEqual(["name"]);

        // The function: a zip the plugin builds from the archive; moto's CodeSha256 is that zip's.
        const fnRole = await awsPlugin.create(T.role, "guardrails-function", { assumeRolePolicy: TRUST_POLICY });
        const code = (text: string): Props => ({ [SIG_KEY]: ARCHIVE_SIG, assets: { "index.js": { [SIG_KEY]: ASSET_SIG, text } } });
        const zipSha = (text: string): string => crypto.createHash("sha256").update(zipArchive([{ name: "index.js", data: Buffer.from(text) }])).digest("base64");
        const fnInputs: Props = {
            name: healerName,
            description: "Airlock: revokes security group rules",
            role: fnRole.outputs["arn"],
            runtime: "nodejs22.x",
            handler: "index.handler",
            code: code("exports.handler = async () => 'v1';"),
            sourceCodeHash: "v1-hash",
            timeout: 60,
            memorySize: 256,
            reservedConcurrentExecutions: 5,
            environment: { variables: { LOG_LEVEL: "info" } },
            loggingConfig: { logFormat: "Text", logGroup: logs.id },
            tags: { "airlock:managed": "true" },
        };
        const fn = await awsPlugin.create(T.fn, "guardrails-function", fnInputs);
        const fnArn = `arn:aws:lambda:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:function:${healerName}`;
        expect(fn.id).toBe(healerName);
        expect(fn.outputs).toMatchObject({
            arn: fnArn,
            invokeArn: `arn:aws:apigateway:${MOTO_REGION}:lambda:path/2015-03-31/functions/${fnArn}/invocations`,
            qualifiedArn: `${fnArn}:$LATEST`,
            version: "$LATEST",
            codeSha256: zipSha("exports.handler = async () => 'v1';"),
            sourceCodeHash: "v1-hash",
            timeout: 60,
            memorySize: 256,
            runtime: "nodejs22.x",
            reservedConcurrentExecutions: 5,
            environment: { variables: { LOG_LEVEL: "info" } },
            loggingConfig: { logFormat: "Text", logGroup: logs.id, applicationLogLevel: "", systemLogLevel: "" },
            packageType: "Zip",
            architectures: ["x86_64"],
            tagsAll: { "airlock:managed": "true" },
        });
        expect(fn.outputs["lastModified"]).not.toBe("");
        expect(fn.outputs["code"]).toEqual(fnInputs["code"]);
        const motoFunction = JSON.parse((await motoRequest(moto, "lambda", "GET", `/2015-03-31/functions/${healerName}`)).body) as Record<string, Record<string, unknown>>;
        expect(motoFunction["Configuration"]).toMatchObject({ Role: fnRole.outputs["arn"], Handler: "index.handler", CodeSha256: zipSha("exports.handler = async () => 'v1';") });
        expect(motoFunction["Concurrency"]).toEqual({ ReservedConcurrentExecutions: 5 });
        // Lambda refuses a second function of the same name (moto would replace it).
        const twice = await awsPlugin.fails("create", awsPlugin.createRequest(T.fn, "twice", fnInputs));
        expect(twice.details).toMatch(/ResourceConflictException: Function already exist/);
        // New code, a new configuration, logging kept by the plugin (seen by the next process), concurrency released.
        const fnNews = {
            ...fnInputs,
            code: code("exports.handler = async () => 'v2';"),
            sourceCodeHash: "v2-hash",
            timeout: 30,
            loggingConfig: { logFormat: "JSON", logGroup: logs.id, applicationLogLevel: "INFO", systemLogLevel: "WARN" },
            reservedConcurrentExecutions: -1,
        };
        expect((await awsPlugin.diff(T.fn, "guardrails-function", fn.id, fn.outputs, fn.inputs, fnNews)).diffs).toEqual(["code", "loggingConfig", "reservedConcurrentExecutions", "sourceCodeHash", "timeout"]);
        const updatedFn = await awsPlugin.update(T.fn, "guardrails-function", fn.id, fn.outputs, fn.inputs, fnNews);
        expect(updatedFn).toMatchObject({ codeSha256: zipSha("exports.handler = async () => 'v2';"), sourceCodeHash: "v2-hash", timeout: 30, reservedConcurrentExecutions: -1 });
        const fnNext = await anotherPlugin();
        expect((await fnNext.read(T.fn, "guardrails-function", fn.id, updatedFn, fnNews)).outputs["loggingConfig"]).toEqual({ logFormat: "JSON", logGroup: logs.id, applicationLogLevel: "INFO", systemLogLevel: "WARN" });
        expect((await awsPlugin.diff(T.fn, "guardrails-function", fn.id, updatedFn, fnNews, fnNews)).changes).toBe(provproto.DiffResponse.DiffChanges.DIFF_NONE);
        expect((await awsPlugin.diff(T.fn, "guardrails-function", fn.id, updatedFn, fnNews, { ...fnNews, name: "other" })).replaces).toEqual(["name"]);
        expect(JSON.parse((await motoRequest(moto, "lambda", "GET", `/2015-03-31/functions/${healerName}`)).body)["Concurrency"]).toBeUndefined();

        // The EventBridge rule (an event pattern, enabled) and its permission to invoke the function.
        const pattern = JSON.stringify({ source: ["aws.ec2"], "detail-type": ["AWS API Call via CloudTrail"], detail: { eventName: ["AuthorizeSecurityGroupIngress"] } });
        const rule = await awsPlugin.create(T.eventRule, "guardrails-trigger", { description: "Airlock: security group rules added", eventPattern: pattern, tags: { "airlock:managed": "true" } });
        expect(rule.inputs["name"]).toMatch(/^guardrails-trigger-[0-9a-f]{7}$/);
        expect(rule.id).toBe(rule.inputs["name"]);
        const ruleArn = `arn:aws:events:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:rule/${rule.id}`;
        expect(rule.outputs).toMatchObject({ arn: ruleArn, eventPattern: pattern, state: "ENABLED", isEnabled: true, eventBusName: "default", tagsAll: { "airlock:managed": "true" } });
        // A schedule, as the healer's hourly sweep has.
        const sweep = await awsPlugin.create(T.eventRule, "guardrails-sweep", { description: "Airlock: hourly sweep", scheduleExpression: "rate(1 hour)" });
        expect(sweep.outputs).toMatchObject({ scheduleExpression: "rate(1 hour)", eventPattern: "", state: "ENABLED" });
        await awsPlugin.delete(T.eventRule, "guardrails-sweep", sweep.id, sweep.outputs);
        const permissionInputs = { action: "lambda:InvokeFunction", function: healerName, principal: "events.amazonaws.com", sourceArn: ruleArn, sourceAccount: MOTO_ACCOUNT_ID };
        const permission = await awsPlugin.create(T.permission, "guardrails-trigger", permissionInputs);
        expect(permission.id).toMatch(/^terraform-\d{18}[0-9a-f]{8}$/);
        expect(permission.outputs).toMatchObject({ ...permissionInputs, statementId: permission.id, statementIdPrefix: "" });
        const statements = (JSON.parse(String(JSON.parse((await motoRequest(moto, "lambda", "GET", `/2015-03-31/functions/${healerName}/policy`)).body)["Policy"])) as { Statement: Array<Record<string, unknown>> }).Statement;
        expect(statements).toEqual([expect.objectContaining({ Sid: permission.id, Action: "lambda:InvokeFunction", Principal: { Service: "events.amazonaws.com" } })]);
        const sameSid = await awsPlugin.fails("create", awsPlugin.createRequest(T.permission, "again", { ...permissionInputs, statementId: permission.id }));
        expect(sameSid.details).toMatch(/ResourceConflictException: The statement id \(terraform-\d+[0-9a-f]+\) provided already exists/);
        const named = await awsPlugin.create(T.permission, "guardrails-named", { ...permissionInputs, statementIdPrefix: "AllowEvents-" });
        expect(named.id).toMatch(/^AllowEvents-\d{18}[0-9a-f]{8}$/);
        expect((await awsPlugin.diff(T.permission, "guardrails-trigger", permission.id, permission.outputs, permission.inputs, { ...permissionInputs, principal: "s3.amazonaws.com" })).replaces).toEqual(["principal"]);

        // The target: `<rule>-<target id>`, a retry policy.
        const targetInputs = { rule: rule.id, arn: fnArn, retryPolicy: { maximumRetryAttempts: 4, maximumEventAgeInSeconds: 3600 } };
        const target = await awsPlugin.create(T.eventTarget, "guardrails-trigger", targetInputs);
        expect(target.id).toMatch(new RegExp(`^${rule.id}-terraform-\\d{18}[0-9a-f]{8}$`));
        expect(target.outputs).toMatchObject({ ...targetInputs, targetId: target.id.slice(rule.id.length + 1), eventBusName: "default" });
        // EventBridge refuses to delete a rule that has targets (moto too).
        expect((await awsPlugin.fails("delete", awsPlugin.deleteRequest(T.eventRule, "guardrails-trigger", rule.id, rule.outputs))).details).toMatch(/Rule can't be deleted since it has targets/);
        const retargeted = await awsPlugin.update(T.eventTarget, "guardrails-trigger", target.id, target.outputs, target.inputs, { ...targetInputs, retryPolicy: { maximumRetryAttempts: 2, maximumEventAgeInSeconds: 600 } });
        expect(retargeted["retryPolicy"]).toEqual({ maximumRetryAttempts: 2, maximumEventAgeInSeconds: 600 });
        expect((await awsPlugin.diff(T.eventTarget, "guardrails-trigger", target.id, retargeted, targetInputs, { ...targetInputs, rule: "other" })).replaces).toEqual(["rule"]);
        const disabled = await awsPlugin.update(T.eventRule, "guardrails-trigger", rule.id, rule.outputs, rule.inputs, { ...rule.inputs, state: "DISABLED" });
        expect(disabled).toMatchObject({ state: "DISABLED", isEnabled: false, eventPattern: pattern, tagsAll: { "airlock:managed": "true" } });

        // Deletion in the engine's order; reads of what is gone answer nothing.
        await awsPlugin.delete(T.eventTarget, "guardrails-trigger", target.id, retargeted);
        expect((await awsPlugin.read(T.eventTarget, "guardrails-trigger", target.id, retargeted, targetInputs)).id).toBe("");
        await awsPlugin.delete(T.permission, "guardrails-named", named.id, named.outputs);
        await awsPlugin.delete(T.permission, "guardrails-trigger", permission.id, permission.outputs);
        expect((await awsPlugin.read(T.permission, "guardrails-trigger", permission.id, permission.outputs, permissionInputs)).id).toBe("");
        await awsPlugin.delete(T.eventRule, "guardrails-trigger", rule.id, disabled);
        expect((await awsPlugin.read(T.eventRule, "guardrails-trigger", rule.id, disabled, rule.inputs)).id).toBe("");
        await awsPlugin.delete(T.fn, "guardrails-function", fn.id, updatedFn);
        expect((await awsPlugin.read(T.fn, "guardrails-function", fn.id, updatedFn, fnNews)).id).toBe("");
        expect((await awsPlugin.read(T.permission, "guardrails-trigger", permission.id, permission.outputs, permissionInputs)).id).toBe("");
        await awsPlugin.delete(T.trail, "guardrails-trail", trailArn, paused);
        expect((await awsPlugin.read(T.trail, "guardrails-trail", trailArn, paused, trailInputs)).id).toBe("");
        for (const [name, group] of [
            ["guardrails-logs", logs],
            ["guardrails-events", { ...trailEvents, outputs: encrypted }],
        ] as const) {
            await awsPlugin.delete(T.logGroup, name, group.id, group.outputs);
            expect((await awsPlugin.read(T.logGroup, name, group.id, group.outputs, group.inputs)).id).toBe("");
        }
        // skipDestroy keeps the group.
        const kept = await awsPlugin.create(T.logGroup, "guardrails-kept", { name: "/airlock/kept", skipDestroy: true });
        await awsPlugin.delete(T.logGroup, "guardrails-kept", kept.id, kept.outputs);
        expect((await awsPlugin.read(T.logGroup, "guardrails-kept", kept.id, kept.outputs, kept.inputs)).id).toBe(kept.id);
        for (const [name, role] of [
            ["guardrails-function", fnRole],
            ["guardrails-to-logs", toLogs],
        ] as const) {
            await awsPlugin.delete(T.role, name, role.id, role.outputs);
        }
        await awsPlugin.delete(T.bucket, "guardrails-trail-logs", bucket.id, bucket.outputs);
    }, 120_000);

    test("SSM parameters: created, tiered as SSM resolves Intelligent-Tiering, updated (new versions), tagged; getParameter serves them", async () => {
        const parameterInputs = { name: "/airlock/guardrails/claim", type: "String", value: "org/airlock/guardrails eu-west-1", tier: "Intelligent-Tiering", description: "claim", tags: { "airlock:managed": "true" } };
        const parameter = await awsPlugin.create(T.parameter, "guardrails-claim", parameterInputs);
        const arn = `arn:aws:ssm:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:parameter/airlock/guardrails/claim`;
        expect(parameter.id).toBe("/airlock/guardrails/claim");
        expect(parameter.outputs).toMatchObject({ ...parameterInputs, tier: "Standard", arn, version: 1, insecureValue: "", dataType: "text", tagsAll: { "airlock:managed": "true" } });
        // Asking for Intelligent-Tiering is no change from the tier SSM chose.
        expect((await awsPlugin.diff(T.parameter, "guardrails-claim", parameter.id, parameter.outputs, parameter.inputs, parameter.inputs)).changes).toBe(provproto.DiffResponse.DiffChanges.DIFF_NONE);
        const invoked = await awsPlugin.invoke("aws:ssm/getParameter:getParameter", { name: parameter.id });
        expect(invoked).toMatchObject({ id: parameter.id, name: parameter.id, arn, type: "String", value: parameterInputs.value, insecureValue: parameterInputs.value, version: 1 });
        // A parameter that exists already is refused unless overwrite (SSM's ParameterAlreadyExists).
        const taken = await awsPlugin.fails("create", awsPlugin.createRequest(T.parameter, "again", parameterInputs));
        expect(taken.details).toMatch(/ParameterAlreadyExists/);
        const overwritten = await awsPlugin.create(T.parameter, "overwrite", { ...parameterInputs, value: "taken over", overwrite: true, tags: { owner: "x" } });
        expect(overwritten.outputs).toMatchObject({ value: "taken over", version: 2, tagsAll: { "airlock:managed": "true", owner: "x" } });
        const updated = await awsPlugin.update(T.parameter, "guardrails-claim", parameter.id, overwritten.outputs, parameter.inputs, { ...parameterInputs, value: "org/airlock/other eu-west-1", tags: { team: "security" } });
        expect(updated).toMatchObject({ value: "org/airlock/other eu-west-1", version: 3, tagsAll: { team: "security" } });
        expect((await awsPlugin.invoke("aws:ssm/getParameter:getParameter", { name: parameter.id }))["version"]).toBe(3);
        expect((await awsPlugin.diff(T.parameter, "guardrails-claim", parameter.id, updated, parameterInputs, { ...parameterInputs, name: "/airlock/x" })).replaces).toEqual(["name"]);
        // A large value needs (and gets) the advanced tier.
        const big = await awsPlugin.create(T.parameter, "guardrails-big", { name: "/airlock/security-groups/sg-1", type: "String", value: "x".repeat(5000), tier: "Intelligent-Tiering" });
        expect(big.outputs["tier"]).toBe("Advanced");
        // Readable on purpose (insecureValue, as SecurityZones publishes baselines): read back there, `value` empty.
        const baseline = await awsPlugin.create(T.parameter, "guardrails-baseline", { name: "/airlock/security-groups/sg-2", type: "String", insecureValue: '{"ingress":[]}', tier: "Intelligent-Tiering" });
        expect(baseline.outputs).toMatchObject({ insecureValue: '{"ingress":[]}', value: "", tier: "Standard" });
        expect((await awsPlugin.diff(T.parameter, "guardrails-baseline", baseline.id, baseline.outputs, baseline.inputs, baseline.inputs)).changes).toBe(provproto.DiffResponse.DiffChanges.DIFF_NONE);
        const rebased = await awsPlugin.update(T.parameter, "guardrails-baseline", baseline.id, baseline.outputs, baseline.inputs, { ...baseline.inputs, insecureValue: '{"ingress":[1]}' });
        expect(rebased).toMatchObject({ insecureValue: '{"ingress":[1]}', version: 2 });
        await awsPlugin.delete(T.parameter, "guardrails-baseline", baseline.id, rebased);
        // A secure string: decrypted value, no insecure value.
        const secure = await awsPlugin.create(T.parameter, "guardrails-secret", { name: "/airlock/secret", type: "SecureString", value: "s3cret" });
        expect(secure.outputs).toMatchObject({ type: "SecureString", value: "s3cret", insecureValue: "" });
        expect(await awsPlugin.invoke("aws:ssm/getParameter:getParameter", { name: "/airlock/secret" })).toMatchObject({ value: "s3cret", insecureValue: "" });
        for (const [name, p] of [
            ["guardrails-claim", { id: parameter.id, outputs: updated }],
            ["guardrails-big", big],
            ["guardrails-secret", secure],
        ] as const) {
            await awsPlugin.delete(T.parameter, name, p.id, p.outputs);
            expect((await awsPlugin.read(T.parameter, name, p.id, p.outputs, p.outputs)).id).toBe("");
        }
        const gone = await awsPlugin.fails("invoke", awsPlugin.invokeRequest("aws:ssm/getParameter:getParameter", { name: parameter.id }));
        expect(gone.details).toBe(`reading SSM Parameter (${parameter.id}): couldn't find resource`);
    }, 60_000);
});
