/**
 * Airlock run the way its users run it: the real Pulumi CLI (built from Pulumi's Go modules at the
 * lockfile's version) drives the program with a file backend, the passphrase secrets provider and
 * a throwaway stack; AWS is moto, behind the test provider plugin the CLI loads as
 * pulumi-resource-aws (test/engine/fakeProvider.ts); the scan-and-promote and InstanceKey
 * providers run in Pulumi's own dynamic-provider host against moto and the scripted Tenable
 * (behind HTTPS, as Airlock requires). S3 goes through test/support/s3PolicyFront.ts, which judges
 * object requests under the vault's bucket policy as S3 would (moto ignores its conditions).
 * Instances "boot" as cloud-init does: each generates its LUKS key, stores it once as
 * `keys/<its ARN>` with its role's launch rights (judged by the real phase and bucket policies),
 * then tags itself.
 *
 * The scenario is one stack's life, step by step (each test builds on the previous one):
 * preview → up (clean; the state holds no key) → a second instance with findings (up fails,
 * quarantined) → refresh → fixed → up promotes it → outputs read by a second program through
 * StackReference → an instance with an application managed policy (none while quarantined,
 * attached after the clean scan, gone again on demotion; removed, its key object with it) → an
 * instance replaced (new key object, new data volume, the old key object deleted) → a third
 * instance with findings → destroy of everything, quarantined instance included. Throughout, the key material exists only on the "instances" (this file): never in
 * the state or in anything the CLI prints, and every key object goes with its instance.
 */
import { CreateSubnetCommand, CreateTagsCommand, CreateVpcCommand, DescribeInstanceAttributeCommand, DescribeInstancesCommand, EC2Client, Instance } from "@aws-sdk/client-ec2";
import { CreatePolicyCommand, GetInstanceProfileCommand, GetRolePolicyCommand, IAMClient, ListAttachedRolePoliciesCommand, ListRolesCommand } from "@aws-sdk/client-iam";
import { GetObjectCommand, GetObjectTaggingCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import * as crypto from "crypto";
import { EngineWorkspace, RunResult, StateResource, createWorkspace, exportedResources, readmeCommands, setStructuredConfig, stackOutputs, substitutePlaceholders } from "./engine/engine";
import { TlsFront, startTlsFront } from "./engine/tlsFront";
import { Moto, MotoRequest, awsClientConfig, startMoto } from "./support/moto";
import { FAKE_KEYS, TenableFake, startTenableFake } from "./support/tenableFake";
import { PROMOTION_TYPE, TEMPLATE_UUID } from "./support/promotionWorld";
import { S3PolicyFront, frontOptionsFor, s3ClientFor, startS3PolicyFront } from "./support/s3PolicyFront";
import { INSTANCE_ARN_TAG, keyObjectKey } from "../policies/keyNaming";

const STACK = "e2e";
const CRITICAL = { plugin_id: 201194, plugin_name: "OpenSSH < 9.8p1 Remote Code Execution (regreSSHion)", severity: 4, cve: ["CVE-2024-6387"] };
const STEP_TIMEOUT = 8 * 60_000;
const INSTANCE_KEY_TYPE = "pulumi-nodejs:dynamic/airlock:InstanceKey";

jest.setTimeout(STEP_TIMEOUT);

let moto: Moto;
let tenable: TenableFake;
let front: TlsFront;
let s3front: S3PolicyFront;
let ws: EngineWorkspace;
let ec2: EC2Client;
let iam: IAMClient;
let vpcId: string;
let subnetId: string;
let booting: NodeJS.Timeout | undefined;
/** Set by afterAll: a boot round still running then schedules no next one. */
let bootingStopped = false;
/** README's `up` line with its placeholders filled in. */
let deployUp = "";
/** Everything the CLI printed in this file, to search for secrets at the end. */
const transcript: string[] = [];

/** A key an "instance" generated and stored at first boot, and what became of its later writes. */
interface InstanceKeyMaterial {
    readonly name: string;
    readonly instanceArn: string;
    readonly roleName: string;
    readonly bucket: string;
    readonly kmsKeyArn: string;
    readonly raw: Buffer;
    readonly base64: string;
    readonly hex: string;
    /** The same write again (If-None-Match: *): S3 refuses it, 412. */
    readonly secondWrite: string;
    /** An overwrite without If-None-Match: the bucket policy refuses it, 403. */
    readonly overwrite: string;
}

/** Every key the instances generated, by instance ARN (kept only here, as on the instances). */
const instanceKeys = new Map<string, InstanceKeyMaterial>();
/** First writes that did not succeed (each a failed boot). */
const bootProblems: string[] = [];
/** The last errors of the boot loop (for messages only). */
const tickErrors: string[] = [];

async function pulumi(args: readonly string[], opts: { allowFailure?: boolean } = {}): Promise<RunResult> {
    const r = await ws.pulumi(args, { allowFailure: opts.allowFailure });
    transcript.push(r.output);
    return r;
}

async function instancesNamed(): Promise<Map<string, Instance>> {
    const out = await ec2.send(new DescribeInstancesCommand({}));
    const byName = new Map<string, Instance>();
    for (const r of out.Reservations ?? []) {
        for (const i of r.Instances ?? []) {
            const name = i.Tags?.find((t) => t.Key === "Name")?.Value ?? i.InstanceId ?? "";
            if (i.State?.Name !== "terminated") byName.set(name, i);
        }
    }
    return byName;
}

/** The shell-quoted values of the boot script's environment file, as the instance's user data carries them. */
function bootEnvironment(userData: string): Record<string, string> {
    const env: Record<string, string> = {};
    for (const m of userData.matchAll(/^\s*(AIRLOCK_[A-Z_]+)=('(?:[^']|'\\'')*')\s*$/gm)) {
        env[m[1] ?? ""] = (m[2] ?? "").slice(1, -1).replace(/'\\''/g, "'");
    }
    return env;
}

async function s3Status(p: Promise<unknown>): Promise<string> {
    try {
        await p;
        return "200";
    } catch (err) {
        const e = err as { $metadata?: { httpStatusCode?: number }; name?: string };
        return `${e.$metadata?.httpStatusCode ?? "?"} ${e.name ?? ""}`.trim();
    }
}

/** An S3 client of the test, through the policy front: the deployer's, or an instance's (its role session). */
function s3As(instance?: { arn: string; roleName: string }): S3Client {
    return s3ClientFor(s3front, { ...awsClientConfig(moto), ...(instance === undefined ? {} : { instance }) });
}

/** The write-once PUT of airlock-boot.sh: If-None-Match, SSE-KMS under the vault key, tagged with the instance's ARN. */
function putKeyOnce(client: S3Client, bucket: string, kmsKeyArn: string, instanceArn: string, body: Buffer, ifNoneMatch = true): Promise<unknown> {
    return client.send(
        new PutObjectCommand({
            Bucket: bucket,
            Key: keyObjectKey(instanceArn),
            Body: body,
            ...(ifNoneMatch ? { IfNoneMatch: "*" } : {}),
            ServerSideEncryption: "aws:kms",
            SSEKMSKeyId: kmsKeyArn,
            Tagging: `${encodeURIComponent(INSTANCE_ARN_TAG)}=${encodeURIComponent(instanceArn)}`,
        }),
    );
}

/**
 * What the first boot does for one instance, once its role holds the launch phase policy for it:
 * generate 64 random bytes, store them once as `keys/<its ARN>` (as the instance, judged by its
 * real phase policy and the real bucket policy), try writing again (If-None-Match) and
 * overwriting, to record that both are refused. Returns false when the instance is not ready or
 * the write failed.
 *
 * "For it": a replacement instance shares its predecessor's role, which holds the predecessor's
 * policy until the new promotion grants launch rights; the boot script retries its write (with
 * backoff) through that window, this loop waits it out instead, so that a failed write here is a
 * real failure.
 */
async function firstBoot(i: Instance): Promise<boolean> {
    const instanceId = i.InstanceId ?? "";
    const profileName = i.IamInstanceProfile?.Arn?.split("/").pop();
    if (profileName === undefined) return false;
    const roleName = (await iam.send(new GetInstanceProfileCommand({ InstanceProfileName: profileName }))).InstanceProfile?.Roles?.[0]?.RoleName;
    if (roleName === undefined) return false;
    const account = i.IamInstanceProfile?.Arn?.split(":")[4] ?? "";
    const instanceArn = `arn:aws:ec2:eu-west-1:${account}:instance/${instanceId}`;
    if (instanceKeys.has(instanceArn)) return true;
    const policy = await phasePolicy(roleName);
    if (policy === undefined || !policy.includes(`/${keyObjectKey(instanceArn)}"`) || !policy.includes('"s3:PutObject"')) return false;
    const userData = (await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: "userData" }))).UserData?.Value ?? "";
    const env = bootEnvironment(Buffer.from(userData, "base64").toString("utf8"));
    const bucket = env.AIRLOCK_KEY_BUCKET ?? "";
    const kmsKeyArn = env.AIRLOCK_KMS_KEY_ARN ?? "";
    const name = i.Tags?.find((t) => t.Key === "Name")?.Value ?? instanceId;
    const raw = crypto.randomBytes(64);
    const client = s3As({ arn: instanceArn, roleName });
    try {
        const first = await s3Status(putKeyOnce(client, bucket, kmsKeyArn, instanceArn, raw));
        if (first !== "200") {
            bootProblems.push(`${name} (${instanceArn}): first write of its key answered ${first}`);
            return false;
        }
        const secondWrite = await s3Status(putKeyOnce(client, bucket, kmsKeyArn, instanceArn, crypto.randomBytes(64)));
        const overwrite = await s3Status(putKeyOnce(client, bucket, kmsKeyArn, instanceArn, crypto.randomBytes(64), false));
        instanceKeys.set(instanceArn, { name, instanceArn, roleName, bucket, kmsKeyArn, raw, base64: raw.toString("base64"), hex: raw.toString("hex"), secondWrite, overwrite });
        return true;
    } finally {
        client.destroy();
    }
}

/**
 * Plays cloud-init: every running instance without a bootstrap signal stores its key (once its
 * launch rights are there, see firstBoot) and then tags itself `success`.
 */
function startBooting(): void {
    const tick = async (): Promise<void> => {
        const out = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "instance-state-name", Values: ["running"] }] }));
        for (const r of out.Reservations ?? []) {
            for (const i of r.Instances ?? []) {
                if (i.InstanceId !== undefined && !(i.Tags ?? []).some((t) => t.Key === "airlock:bootstrap") && (await firstBoot(i))) {
                    await ec2.send(new CreateTagsCommand({ Resources: [i.InstanceId], Tags: [{ Key: "airlock:bootstrap", Value: "success" }] }));
                }
            }
        }
    };
    const loop = (): void => {
        if (bootingStopped) return;
        booting = setTimeout(
            () =>
                void tick()
                    .catch((err: unknown) => void tickErrors.splice(0, Math.max(0, tickErrors.length - 9), String(err)))
                    .finally(loop),
            200,
        );
    };
    loop();
}

/** The stored key of an instance (by name, the current one), as the test's "instance" generated it. */
function keyOf(name: string): InstanceKeyMaterial {
    const found = [...instanceKeys.values()].filter((k) => k.name === name).at(-1);
    if (found === undefined) throw new Error(`instance ${name} stored no key (boot problems: ${bootProblems.join("; ") || "none"}; last boot loop errors: ${tickErrors.join("; ") || "none"})`);
    return found;
}

/** The keys in the vault bucket (ListObjectsV2: a bucket request, which moto does not judge). */
async function vaultKeys(bucket: string): Promise<string[]> {
    const s3 = new S3Client({ ...awsClientConfig(moto), forcePathStyle: true });
    try {
        return ((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key ?? "").sort();
    } finally {
        s3.destroy();
    }
}

async function bodyOf(client: S3Client, bucket: string, key: string): Promise<Buffer> {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

function promotionOf(resources: readonly StateResource[], instance: string): StateResource {
    const found = resources.find((r) => r.type === PROMOTION_TYPE && r.urn.endsWith(`::${instance}-promotion`));
    if (found === undefined) {
        throw new Error(`no ${PROMOTION_TYPE} for ${instance} in state: ${resources.map((r) => r.urn).join(", ")}`);
    }
    return found;
}

async function phasePolicy(roleName: string): Promise<string | undefined> {
    try {
        const out = await iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: "airlock-phase" }));
        return decodeURIComponent(out.PolicyDocument ?? "");
    } catch (err) {
        if ((err as { name?: string }).name === "NoSuchEntityException") return undefined;
        throw err;
    }
}

async function setInstances(names: readonly string[]): Promise<void> {
    transcript.push((await setStructuredConfig(ws, STACK, "airlock:instances", names.map((name) => ({ name, instanceType: "t3.small", dataVolumeGiB: 1 })))).output);
}

beforeAll(async () => {
    moto = await startMoto();
    ec2 = new EC2Client(awsClientConfig(moto));
    iam = new IAMClient(awsClientConfig(moto));
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: "10.40.0.0/16" }));
    vpcId = vpc.Vpc?.VpcId ?? "";
    const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpcId, CidrBlock: "10.40.1.0/24", AvailabilityZone: "eu-west-1a" }));
    subnetId = subnet.Subnet?.SubnetId ?? "";
    tenable = await startTenableFake({ kind: "clean" });
    front = await startTlsFront(tenable.url);
    s3front = await startS3PolicyFront(frontOptionsFor(moto));
    // S3 through the policy front: for the test plugin and for the dynamic providers' SDK clients alike.
    ws = await createWorkspace({ env: { ...moto.env, AWS_ENDPOINT_URL_S3: s3front.endpoint, AIRLOCK_POLL_INITIAL_MS: "100", NODE_EXTRA_CA_CERTS: front.caFile } });
    startBooting();
}, STEP_TIMEOUT);

afterAll(async () => {
    bootingStopped = true;
    if (booting !== undefined) clearTimeout(booting);
    await ws?.cleanup();
    await s3front?.stop();
    await front?.stop();
    await tenable?.stop();
    await moto?.stop();
});

describe("a stack's life through the Pulumi CLI", () => {
    test("README's deploy commands, run as written, configure the stack and preview it", async () => {
        const values: Record<string, string> = {
            "backend-url": `file://${ws.stateDir}`,
            stack: STACK,
            "secrets-provider": "passphrase",
            region: "eu-west-1",
            "vpc-id": vpcId,
            "subnet-id": subnetId,
            "scanner-url": front.url,
            "template-uuid": TEMPLATE_UUID,
            "scanner-cidr": "10.30.5.10/32",
        };
        const lines = readmeCommands("deploy-commands");
        expect(lines.at(-1)).toBe("npm run pulumi -- up --stack <stack>");
        // Everything up to `up` now; `up` itself runs below, after the preview checks.
        // The `--secret` lines prompt for the value: the test types it on standard input.
        const prompted: Record<string, string> = { "airlock:scannerAccessKey": FAKE_KEYS.accessKey, "airlock:scannerSecretKey": FAKE_KEYS.secretKey };
        for (const line of lines.slice(0, -1)) {
            const secretKey = /--secret (\S+)/.exec(line)?.[1];
            const r = await ws.shell(substitutePlaceholders(line, values), { stdin: secretKey === undefined ? "" : prompted[secretKey] });
            transcript.push(r.output);
        }
        expect(transcript.at(-1)).toMatch(/\+\s+\d+ to create/);
        await pulumi(["config", "set", "--stack", STACK, "airlock:readinessTimeoutMinutes", "2"]);
        await pulumi(["config", "set", "--stack", STACK, "airlock:scanTimeoutMinutes", "2"]);
        await setInstances(["web-1"]);
        deployUp = substitutePlaceholders(lines.at(-1) ?? "", values);
    });

    test("preview plans everything, creates nothing, and the promotion does no AWS work", async () => {
        const before = (await moto.requests()).length;
        const r = await pulumi(["preview", "--stack", STACK]);
        expect(r.output).toMatch(/\+\s+\d+ to create/);
        expect(r.output).toContain("web-1-promotion");
        expect(await exportedResources(ws, STACK)).toEqual([]);
        expect((await instancesNamed()).size).toBe(0);
        const roles = await iam.send(new ListRolesCommand({ PathPrefix: "/airlock/" }));
        expect(roles.Roles ?? []).toEqual([]);
        const during = (await moto.requests()).slice(before);
        // Only look-ups: nothing created, tagged, modified or put.
        expect(during.filter((q) => !isReadOnly(q)).map((q) => `${q.service} ${q.action ?? `${q.method} ${q.path}`}`)).toEqual([]);
        expect(tenable.requests).toEqual([]);
    });

    test("up (README's last deploy command) promotes a clean instance: production in state, outputs and AWS", async () => {
        // `up` asks for confirmation; PULUMI_SKIP_CONFIRMATIONS answers it as a user would.
        const r = await ws.shell(deployUp, { env: { PULUMI_SKIP_CONFIRMATIONS: "true" } });
        transcript.push(r.output);
        expect(r.output).toContain("promoted to production");
        const outputs = await stackOutputs(ws, STACK);
        const web1 = (outputs.instances as Record<string, Record<string, unknown>>)["web-1"];
        expect(web1?.phase).toBe("production");

        const promotion = promotionOf(await exportedResources(ws, STACK), "web-1");
        expect(promotion.outputs?.phase).toBe("production");
        const instance = (await instancesNamed()).get("web-1");
        expect(instance?.InstanceId).toBe(web1?.instanceId);
        expect((instance?.SecurityGroups ?? []).map((g) => g.GroupId)).toEqual([outputs.productionSecurityGroupId]);
        const roleName = String(promotion.inputs?.roleName);
        expect(await phasePolicy(roleName)).toBe(promotion.inputs?.productionPolicy);

        // The instance stored its own key at first boot, in the vault the outputs name, under `keys/<its ARN>`.
        const key = keyOf("web-1");
        expect(key.instanceArn).toBe(instanceArnOf(web1?.instanceId, web1?.roleArn));
        expect({ bucket: key.bucket, kmsKeyArn: key.kmsKeyArn }).toEqual({ bucket: outputs.keyBucketName, kmsKeyArn: outputs.kmsKeyArn });
        expect(web1?.keyObjectKey).toBe(keyObjectKey(key.instanceArn));
        expect(await vaultKeys(key.bucket)).toEqual([keyObjectKey(key.instanceArn)]);
        // Write-once: the same write again is refused by S3 (If-None-Match), an overwrite by the bucket policy.
        expect(key.secondWrite).toMatch(/^412\b/);
        expect(key.overwrite).toMatch(/^403 AccessDenied/);
        // In production it still reads its key, unchanged; the deployer reads no key.
        const asWeb1 = s3As({ arn: key.instanceArn, roleName: key.roleName });
        const asDeployer = s3As();
        try {
            expect((await bodyOf(asWeb1, key.bucket, keyObjectKey(key.instanceArn))).equals(key.raw)).toBe(true);
            expect(await s3Status(bodyOf(asDeployer, key.bucket, keyObjectKey(key.instanceArn)))).toMatch(/^403 AccessDenied/);
        } finally {
            asWeb1.destroy();
            asDeployer.destroy();
        }
    });

    test("the key never reaches Pulumi: the state holds the key object by name only, and no key material", async () => {
        const key = keyOf("web-1");
        const resources = await exportedResources(ws, STACK);
        const custody = resources.find((r) => r.type === INSTANCE_KEY_TYPE && r.urn.endsWith("::web-1-key"));
        expect(custody?.id).toBe(keyObjectKey(key.instanceArn));
        // Names only (and the dynamic provider's serialized code, which every dynamic resource carries).
        const { __provider: provider, ...names } = custody?.outputs ?? {};
        expect(typeof provider).toBe("string");
        expect(names).toEqual({ instanceName: "web-1", region: "eu-west-1", bucketName: key.bucket, instanceArn: key.instanceArn, keyObjectKey: keyObjectKey(key.instanceArn) });
        expect(custody?.inputs).toEqual(custody?.outputs);
        // No resource that could hold content: no object, no random bytes.
        expect(resources.map((r) => r.type).filter((t) => /bucketObject|^random:/.test(t))).toEqual([]);
        // Neither the decrypted state nor anything stored holds the key (base64 or hex).
        const decrypted = (await ws.pulumi(["stack", "export", "--show-secrets", "--stack", STACK])).stdout;
        const stored = ws.stateFiles();
        for (const secret of [key.base64, key.hex]) {
            expect(decrypted.includes(secret)).toBe(false);
            expect(stored.includes(secret)).toBe(false);
        }
    });

    test("findings fail the up with the findings, and the instance is recorded in remediation", async () => {
        tenable.setScript({ kind: "findings", vulnerabilities: [CRITICAL] });
        await setInstances(["web-1", "web-2"]);
        const r = await pulumi(["up", "--yes", "--stack", STACK], { allowFailure: true });
        expect(r.code).not.toBe(0);
        expect(r.output).toContain("Instance web-2 stays in quarantine");
        expect(r.output).toContain("CRITICAL tenable-plugin-201194: OpenSSH < 9.8p1 Remote Code Execution (regreSSHion) (CVE-2024-6387)");

        const resources = await exportedResources(ws, STACK);
        const promotion = promotionOf(resources, "web-2");
        expect(promotion.outputs?.phase).toBe("remediation");
        expect(promotion.initErrors?.join("\n")).toContain("stays in quarantine");
        // What lets the host load a provider for refresh and destroy travels in the partial state, in
        // a gRPC trailer: the recovery provider the program passed, far under a Node.js client's 64 KB.
        expect(promotion.outputs?.__provider).toBe(promotion.inputs?.__recoveryProvider);
        expect(Buffer.byteLength(JSON.stringify(promotion.outputs))).toBeLessThan(48 * 1024);
        const instances = await instancesNamed();
        const remediation = resources.find((x) => x.urn.endsWith("::airlock-remediation"))?.id;
        expect((instances.get("web-2")?.SecurityGroups ?? []).map((g) => g.GroupId)).toEqual([remediation]);
        // web-1 was not rescanned and stays in production.
        expect(promotionOf(resources, "web-1").outputs?.phase).toBe("production");
        // The CLI shows the stack outputs as deleted after a failed up, but the engine keeps the last
        // successful ones (pulumi/pulumi#15755): other stacks still read web-1; web-2 is not there yet.
        expect(r.output).toMatch(/- instances\s*:/);
        const outputs = await stackOutputs(ws, STACK);
        expect(Object.keys(outputs.instances as object)).toEqual(["web-1"]);
    });

    test("refresh of a stack with a quarantined instance succeeds and keeps it in remediation", async () => {
        const r = await pulumi(["refresh", "--yes", "--stack", STACK]);
        expect(r.code).toBe(0);
        const promotion = promotionOf(await exportedResources(ws, STACK), "web-2");
        expect(promotion.outputs?.phase).toBe("remediation");
    });

    test("after the fix, the next up promotes the quarantined instance", async () => {
        tenable.setScript({ kind: "clean" });
        await pulumi(["up", "--yes", "--stack", STACK]);
        const outputs = await stackOutputs(ws, STACK);
        const instances = outputs.instances as Record<string, Record<string, unknown>>;
        expect(instances["web-2"]?.phase).toBe("production");
        expect(promotionOf(await exportedResources(ws, STACK), "web-2").outputs?.phase).toBe("production");
        const web2 = (await instancesNamed()).get("web-2");
        expect((web2?.SecurityGroups ?? []).map((g) => g.GroupId)).toEqual([outputs.productionSecurityGroupId]);
    });

    test("the stack outputs have the documented shape", async () => {
        const outputs = await stackOutputs(ws, STACK);
        expect(Object.keys(outputs).sort()).toEqual(["instances", "keyBucketName", "kmsKeyArn", "productionSecurityGroupId", "remediationSecurityGroupId"]);
        expect(outputs.remediationSecurityGroupId).toMatch(/^sg-/);
        expect(outputs.productionSecurityGroupId).toMatch(/^sg-/);
        expect(outputs.kmsKeyArn).toMatch(/^arn:aws:kms:eu-west-1:\d{12}:key\//);
        const instances = outputs.instances as Record<string, Record<string, unknown>>;
        expect(Object.keys(instances).sort()).toEqual(["web-1", "web-2"]);
        for (const [name, instance] of Object.entries(instances)) {
            expect(Object.keys(instance).sort()).toEqual(["dataVolumeId", "instanceId", "keyObjectKey", "phase", "privateIp", "roleArn"]);
            expect(instance.instanceId).toMatch(/^i-/);
            expect(instance.dataVolumeId).toMatch(/^vol-/);
            expect(instance.privateIp).toMatch(/^10\.40\.1\.\d+$/);
            expect(instance.roleArn).toMatch(/^arn:aws:iam::\d{12}:role\/airlock\//);
            const arn = instanceArnOf(instance.instanceId, instance.roleArn);
            expect(instance.keyObjectKey).toBe(`keys/${arn}`);
            expect(keyOf(name).instanceArn).toBe(arn);
        }
        // Each key object in the vault, tagged with its instance's ARN (the deployer may read tags, not keys).
        const bucket = String(outputs.keyBucketName);
        expect(await vaultKeys(bucket)).toEqual(Object.values(instances).map((i) => String(i.keyObjectKey)).sort());
        const asDeployer = s3As();
        try {
            for (const instance of Object.values(instances)) {
                const tags = (await asDeployer.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: String(instance.keyObjectKey) }))).TagSet ?? [];
                expect(tags.map((t) => [t.Key, t.Value])).toEqual([[INSTANCE_ARN_TAG, instanceArnOf(instance.instanceId, instance.roleArn)]]);
            }
        } finally {
            asDeployer.destroy();
        }
    });

    test("a second program reads the outputs through StackReference", async () => {
        const consumer = await createWorkspace({
            shareBackendWith: ws,
            programFiles: {
                "Pulumi.yaml": "name: airlock-consumer\nruntime:\n  name: nodejs\n  options:\n    typescript: true\n",
                "package.json": JSON.stringify({ name: "airlock-consumer", main: "index.ts" }),
                "index.ts": [
                    'import * as pulumi from "@pulumi/pulumi";',
                    `const airlock = new pulumi.StackReference("organization/airlock/${STACK}");`,
                    'const instances = airlock.requireOutput("instances") as pulumi.Output<Record<string, { privateIp: string; phase: string }>>;',
                    'export const productionSg = airlock.requireOutput("productionSecurityGroupId");',
                    'export const web1 = instances.apply((all) => {',
                    '    const web = all["web-1"];',
                    '    if (web === undefined || web.phase !== "production") throw new Error("web-1 is not promoted yet");',
                    "    return web.privateIp;",
                    "});",
                    "",
                ].join("\n"),
            },
        });
        try {
            await consumer.pulumi(["stack", "init", "consumer", "--secrets-provider", "passphrase"]);
            const up = await consumer.pulumi(["up", "--yes", "--stack", "consumer"]);
            transcript.push(up.output);
            const read = await stackOutputs(consumer, "consumer");
            const outputs = await stackOutputs(ws, STACK);
            expect(read.productionSg).toBe(outputs.productionSecurityGroupId);
            expect(read.web1).toBe((outputs.instances as Record<string, Record<string, unknown>>)["web-1"]?.privateIp);
        } finally {
            await consumer.cleanup();
        }
    });

    test("launch rights are launch rights: an application managed policy is attached only after a clean scan, and a demotion leaves none", async () => {
        // moto does not load AWS-managed policies by default: a customer-managed one stands in.
        const created = await iam.send(
            new CreatePolicyCommand({
                PolicyName: "app-read-queue",
                PolicyDocument: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "sqs:ReceiveMessage", Resource: "*" }] }),
            }),
        );
        const app = created.Policy?.Arn ?? "";
        const withApp = (rescanTrigger?: string) =>
            setStructuredConfig(ws, STACK, "airlock:instances", [
                ...["web-1", "web-2"].map((name) => ({ name, instanceType: "t3.small", dataVolumeGiB: 1 })),
                { name: "web-4", instanceType: "t3.small", dataVolumeGiB: 1, managedPolicyArns: [app], ...(rescanTrigger === undefined ? {} : { rescanTrigger }) },
            ]).then((r) => transcript.push(r.output));
        const attached = async (roleName: string) =>
            ((await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: roleName }))).AttachedPolicies ?? []).map((p) => p.PolicyArn);
        const roleOf = (resources: readonly StateResource[]) => String(resources.find((r) => r.type === "aws:iam/role:Role" && r.urn.endsWith("::web-4-role"))?.id);

        // Quarantined (the scan finds something): launched, bootstrapped, scanned, and never attached.
        tenable.setScript({ kind: "findings", vulnerabilities: [CRITICAL] });
        await withApp();
        const blocked = await pulumi(["up", "--yes", "--stack", STACK], { allowFailure: true });
        expect(blocked.output).toContain("Instance web-4 stays in quarantine");
        let resources = await exportedResources(ws, STACK);
        const roleName = roleOf(resources);
        expect(promotionOf(resources, "web-4").outputs?.phase).toBe("remediation");
        expect(await attached(roleName)).toEqual([]);
        // Nothing but the promotion attaches it (no RolePolicyAttachment in the stack: the scanner is Tenable).
        expect(resources.filter((r) => r.type === "aws:iam/rolePolicyAttachment:RolePolicyAttachment")).toEqual([]);

        // Clean: production policy, then the attachment, then the production group, as AWS saw them.
        tenable.setScript({ kind: "clean" });
        const before = (await moto.requests()).length;
        await pulumi(["up", "--yes", "--stack", STACK]);
        resources = await exportedResources(ws, STACK);
        const promotion = promotionOf(resources, "web-4");
        expect(promotion.outputs?.phase).toBe("production");
        expect(await attached(roleName)).toEqual([app]);
        const instanceId = String(promotion.inputs?.instanceId);
        const steps = (await moto.requests())
            .slice(before)
            .map((q) => ({ action: q.action, params: new URLSearchParams(q.body) }))
            .filter(({ params }) => params.get("RoleName") === roleName || params.get("InstanceId") === instanceId)
            .filter(({ action }) => action === "PutRolePolicy" || action === "AttachRolePolicy" || action === "ModifyInstanceAttribute")
            .map(({ action, params }) =>
                action === "PutRolePolicy"
                    ? `PutRolePolicy(${JSON.stringify(JSON.parse(params.get("PolicyDocument") ?? "{}")) === JSON.stringify(JSON.parse(String(promotion.inputs?.productionPolicy))) ? "production" : "other"})`
                    : action,
            );
        expect(steps.slice(-3)).toEqual(["PutRolePolicy(production)", "AttachRolePolicy", "ModifyInstanceAttribute"]);
        expect(steps.filter((x) => x === "AttachRolePolicy")).toHaveLength(1);

        // A rescan that finds something demotes it: back in remediation, and the policy is gone.
        tenable.setScript({ kind: "findings", vulnerabilities: [CRITICAL] });
        await withApp("demote-me");
        const demoted = await pulumi(["up", "--yes", "--stack", STACK], { allowFailure: true });
        expect(demoted.output).toContain("Instance web-4 stays in quarantine");
        expect(promotionOf(await exportedResources(ws, STACK), "web-4").outputs?.phase).toBe("remediation");
        expect(await attached(roleName)).toEqual([]);
        const remediation = resources.find((x) => x.urn.endsWith("::airlock-remediation"))?.id;
        expect(((await instancesNamed()).get("web-4")?.SecurityGroups ?? []).map((g) => g.GroupId)).toEqual([remediation]);

        // Removed again (the next step expects web-1 and web-2 only): its role can be deleted.
        tenable.setScript({ kind: "clean" });
        await setInstances(["web-1", "web-2"]);
        expect((await pulumi(["up", "--yes", "--stack", STACK])).code).toBe(0);
        const roles = await iam.send(new ListRolesCommand({ PathPrefix: "/airlock/" }));
        expect((roles.Roles ?? []).map((r) => r.RoleName)).not.toContain(roleName);
        // …and its key object went with it, deleted by its InstanceKey as the deployer.
        const web4Key = keyObjectKey(keyOf("web-4").instanceArn);
        expect(await vaultKeys(keyOf("web-4").bucket)).not.toContain(web4Key);
        expect(s3front.decisions.filter((d) => d.key === web4Key && d.method === "DELETE").map((d) => [d.principalArn, d.decision])).toEqual([[expect.stringMatching(/:user\/moto$/), "Allowed"]]);
    });

    test("replacing an instance: the new one stores a new key under its new ARN, and the old key object is deleted", async () => {
        tenable.setScript({ kind: "clean" });
        const old = keyOf("web-2");
        const oldVolume = (((await stackOutputs(ws, STACK)).instances as Record<string, Record<string, unknown>>)["web-2"])?.dataVolumeId;
        const urn = (await exportedResources(ws, STACK)).find((r) => r.type === "aws:ec2/instance:Instance" && r.urn.endsWith("::web-2"))?.urn;
        expect(urn).toBeDefined();
        await pulumi(["up", "--yes", "--stack", STACK, "--replace", String(urn)]);
        const replaced = keyOf("web-2");
        expect(replaced.instanceArn).not.toBe(old.instanceArn);
        const outputs = await stackOutputs(ws, STACK);
        const web2 = (outputs.instances as Record<string, Record<string, unknown>>)["web-2"];
        expect(web2?.phase).toBe("production");
        expect(web2?.keyObjectKey).toBe(keyObjectKey(replaced.instanceArn));
        // With a new key comes a new, blank data volume (the old one could never be opened again),
        // named to the new instance by its tag.
        expect(web2?.dataVolumeId).toMatch(/^vol-/);
        expect(web2?.dataVolumeId).not.toBe(oldVolume);
        expect((await instancesNamed()).get("web-2")?.Tags?.find((t) => t.Key === "airlock:data-volume")?.Value).toBe(web2?.dataVolumeId);
        expect(await vaultKeys(old.bucket)).toEqual([keyObjectKey(keyOf("web-1").instanceArn), keyObjectKey(replaced.instanceArn)].sort());
        expect(s3front.decisions.filter((d) => d.key === keyObjectKey(old.instanceArn) && d.method === "DELETE").map((d) => d.decision)).toEqual(["Allowed"]);
    });

    test("destroy removes everything, a quarantined instance included: no phase policy, no key object (each deleted by its InstanceKey), no role, no bucket; no key material anywhere", async () => {
        tenable.setScript({ kind: "findings", vulnerabilities: [CRITICAL] });
        await setInstances(["web-1", "web-2", "web-3"]);
        const failed = await pulumi(["up", "--yes", "--stack", STACK], { allowFailure: true });
        expect(failed.output).toContain("Instance web-3 stays in quarantine");
        const resources = await exportedResources(ws, STACK);
        expect(promotionOf(resources, "web-3").outputs?.phase).toBe("remediation");
        const bucket = String((await stackOutputs(ws, STACK)).keyBucketName ?? resources.find((r) => r.type === "aws:s3/bucket:Bucket")?.id);
        const roleNames = resources.filter((r) => r.type === "aws:iam/role:Role").map((r) => String(r.id));
        expect(roleNames).toHaveLength(3);
        // Three key objects, one per instance, each stored by its instance (the quarantined one's too).
        const keys = ["web-1", "web-2", "web-3"].map((name) => keyObjectKey(keyOf(name).instanceArn)).sort();
        expect(await vaultKeys(bucket)).toEqual(keys);
        expect(bootProblems).toEqual([]);

        await pulumi(["destroy", "--yes", "--stack", STACK]);
        expect(await exportedResources(ws, STACK)).toEqual([]);
        expect((await instancesNamed()).size).toBe(0);
        const roles = await iam.send(new ListRolesCommand({ PathPrefix: "/airlock/" }));
        expect(roles.Roles ?? []).toEqual([]);
        // The vault bucket is gone, which S3 (and moto) allow only once every key object is deleted:
        // each by its InstanceKey, as the deployer, through the policy front.
        expect((await fetch(`${moto.endpoint}/${bucket}`, { method: "HEAD" })).status).toBe(404);
        for (const key of keys) {
            expect(s3front.decisions.filter((d) => d.key === key && d.method === "DELETE" && d.decision === "Allowed").length).toBeGreaterThanOrEqual(1);
        }
        expect(s3front.problems).toEqual([]);

        // No secret in plaintext in the state (history and backups included) or in anything the CLI
        // printed: the scanner's keys, and every key an instance generated (base64 and hex).
        const state = ws.stateFiles();
        const printed = transcript.join("\n");
        expect(instanceKeys.size).toBeGreaterThanOrEqual(4);
        for (const secret of [FAKE_KEYS.accessKey, FAKE_KEYS.secretKey, ...[...instanceKeys.values()].flatMap((k) => [k.base64, k.hex])]) {
            expect(state.includes(secret)).toBe(false);
            expect(printed.includes(secret)).toBe(false);
        }
    });
});

/** Describe/Get/List for Query and JSON APIs, GET/HEAD for REST ones (S3). */
function isReadOnly(q: MotoRequest): boolean {
    const action = q.action ?? q.headers["X-Amz-Target"]?.split(".").pop();
    return action !== undefined ? /^(Describe|Get|List)/.test(action) : q.method === "GET" || q.method === "HEAD";
}

/** An instance's ARN from its id and its role's ARN (same account). */
function instanceArnOf(instanceId: unknown, roleArn: unknown): string {
    return `arn:aws:ec2:eu-west-1:${String(roleArn).split(":")[4]}:instance/${String(instanceId)}`;
}
