/**
 * The first-boot path, checked and run for real on this machine:
 *  - every rendering (OS family × SSH mode × endpoints) is valid against cloud-init's own schema,
 *    and every script it carries passes shellcheck;
 *  - the real boot script runs against a fake IMDSv2, the moto S3/EC2 emulator through the real
 *    AWS CLI, and a file-backed disk image instead of the EBS device. The data volume's id comes
 *    from the instance's tag in the fake IMDS (meta-data/tags/instance/airlock:data-volume), as on
 *    EC2: the volume is made after the instance, so the user data cannot name it.
 * The instance's AWS endpoint is a capturing proxy in front of moto (test/support/capturingProxy.ts),
 * so the tests see what the script really sends: the write-once PUT of the key it generated, its
 * SigV4 signature (checked with botocore's S3 signer: moto checks none), that the unlock never writes.
 * Where this machine has no device-mapper (none registered in /proc/misc), the script is expected to get
 * as far as a verified LUKS2 header and then fail to map the device, with the failure signal; with
 * device-mapper it is expected to unlock, create the filesystem and mount. The mount-point checks
 * made before the key is fetched run here on any machine; the check after mounting (what is
 * mounted exactly there is the LUKS mapping of this data volume) needs device-mapper, and
 * test/vm.test.ts asserts it on a real boot and on the unlock after a reboot.
 */
import { execFile, execFileSync, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import * as zlib from "zlib";
import { DescribeTagsCommand, EC2Client } from "@aws-sdk/client-ec2";
import { parse } from "yaml";
import { DENIED_MOUNT_POINTS, checkMountPoint } from "../config/mountPoint";
import { OPERATING_SYSTEMS } from "../config/schema";
import { BOOT_SCRIPT_PATH, BootData, HARDEN_SCRIPT_PATH, renderUserData } from "../cloud-init/render";
import { DATA_VOLUME_TAG, INSTANCE_ARN_TAG, MANAGED_TAG, keyObjectKey } from "../policies/keyNaming";
import { CapturingProxy, s3ObjectOf, startCapturingProxy } from "./support/capturingProxy";
import { cloudConfigErrors } from "./support/cloudInitSchema";
import { FakeImds, FakeImdsOptions, startFakeImds } from "./support/fakeImds";
import { Moto, PROVISION_HINT, SeededInstance, awsCliPath, awsClientConfig, pathWithVenv, seedAirlockInstance, startMoto } from "./support/moto";
import { checkS3Signature } from "./support/sigv4Check";

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "..");
const BOOT_SCRIPT = path.join(ROOT, "cloud-init", "airlock-boot.sh");
/** The kernel's device-mapper, as registered (a /dev/mapper/control node alone can be stale). */
const HAS_DEVICE_MAPPER = fs.readFileSync("/proc/misc", "utf8").includes("device-mapper");

// Debian's tools this file and the boot script run by name (test/setup/provision.sh installs them):
// without them every test would fail on its own, less clearly.
beforeAll(() => {
    const missing = ["shellcheck", "cryptsetup", "mkfs.ext4", "curl", "python3"].filter((command) => spawnSync("sh", ["-c", 'command -v "$0"', command]).status !== 0);
    if (missing.length > 0) {
        throw new Error(`not on PATH: ${missing.join(", ")}: ${PROVISION_HINT}.`);
    }
});

const base: BootData = {
    instanceName: "web-1",
    os: "al2023",
    region: "eu-west-1",
    bucketName: "airlock-keys-test",
    kmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:key/0b7a6f0e-3c1d-4e5f-8a9b-0c1d2e3f4a5b",
    mountPoint: "/data",
};
/** The data volume's id, as Pulumi tags the instance with it (DATA_VOLUME_TAG). */
const VOLUME_ID = "vol-0123456789abcdef0";
/** The other tags an Airlock instance carries from its launch. */
const LAUNCH_TAGS = { Name: "web-1", [MANAGED_TAG]: "true" };
const TAG_PATH = `/latest/meta-data/tags/instance/${DATA_VOLUME_TAG}`;

type WriteFile = { path: string; content: string; permissions: string; encoding?: string };
const filesOf = (userData: string) => (parse(userData) as { write_files: WriteFile[] }).write_files;
/** A write_files entry's bytes as cloud-init writes them (base64 decoding skips line breaks, as cloud-init's does). */
function written(file: WriteFile): Buffer {
    if (file.encoding === undefined) return Buffer.from(file.content, "utf8");
    if (file.encoding !== "gz+b64") throw new Error(`unexpected encoding ${file.encoding} for ${file.path}`);
    return zlib.gunzipSync(Buffer.from(file.content.replace(/\s+/g, ""), "base64"));
}

describe("rendered user data", () => {
    const variants = OPERATING_SYSTEMS.flatMap((os) =>
        (["key-only", "disabled"] as const).map((ssh) => [os, ssh, { ...base, os, ssh, ...(ssh === "disabled" ? { imdsEndpoint: "http://10.0.2.2:8080", awsEndpoint: "http://10.0.2.2:5000" } : {}) }] as const),
    );

    it.each(variants)("%s with ssh %s is valid #cloud-config (cloud-init's own schema)", (_os, _ssh, data) => {
        const userData = renderUserData(data);
        expect(userData.startsWith("#cloud-config\n")).toBe(true);
        expect(cloudConfigErrors(parse(userData))).toEqual([]);
    });

    it("the schema check catches a broken document", () => {
        expect(cloudConfigErrors({ runcmd: "reboot", write_files: [{ content: "x" }] }).length).toBeGreaterThan(0);
    });

    it.each(variants)("%s with ssh %s: every embedded script passes shellcheck", (_os, _ssh, data) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-sc-"));
        try {
            const scripts = filesOf(renderUserData(data)).filter((f) => f.path.startsWith("/usr/local/sbin/"));
            expect(scripts.map((f) => f.path).sort()).toEqual(["/usr/local/sbin/airlock-boot", "/usr/local/sbin/airlock-harden"]);
            const files = scripts.map((f, i) => {
                const file = path.join(dir, `script-${i}.sh`);
                fs.writeFileSync(file, written(f));
                return file;
            });
            const result = spawnSync("shellcheck", ["--shell=bash", "--severity=style", ...files], { encoding: "utf8" });
            expect(result.error).toBeUndefined();
            expect(result.stdout + result.stderr).toBe("");
            expect(result.status).toBe(0);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it.each(variants)("%s with ssh %s: the instance gets cloud-init/'s scripts byte for byte (what these tests run)", (_os, _ssh, data) => {
        const files = filesOf(renderUserData(data));
        expect(written(files.find((f) => f.path === "/usr/local/sbin/airlock-boot")!).equals(fs.readFileSync(BOOT_SCRIPT_PATH))).toBe(true);
        expect(written(files.find((f) => f.path === "/usr/local/sbin/airlock-harden")!).equals(fs.readFileSync(HARDEN_SCRIPT_PATH))).toBe(true);
    });

    it("the script sources in cloud-init/ pass shellcheck too", () => {
        const result = spawnSync("shellcheck", ["--severity=style", path.join(ROOT, "cloud-init", "airlock-boot.sh"), path.join(ROOT, "cloud-init", "airlock-harden.sh")], { encoding: "utf8" });
        expect(result.stdout + result.stderr).toBe("");
        expect(result.status).toBe(0);
    });

    it("installs the boot path, the unlock unit and the hardening, and runs them through their interpreter", () => {
        const userData = renderUserData(base);
        const document = parse(userData) as { runcmd: unknown[]; write_files: WriteFile[] };
        expect(document.runcmd).toEqual([
            ["bash", "/usr/local/sbin/airlock-harden"],
            ["bash", "/usr/local/sbin/airlock-boot", "first-boot"],
        ]);
        const unit = document.write_files.find((f) => f.path === "/etc/systemd/system/airlock-unlock.service");
        expect(unit?.content).toContain("ExecStart=/bin/bash /usr/local/sbin/airlock-boot unlock");
        expect(document.write_files.find((f) => f.path === "/usr/local/sbin/airlock-boot")?.permissions).toBe("0700");
    });

    it("stays within EC2's 16 KB for the largest realistic values", () => {
        const largest = renderUserData({
            ...base,
            os: "ubuntu2404",
            instanceName: "a".repeat(32),
            bucketName: "b".repeat(63),
            kmsKeyArn: `arn:aws-us-gov:kms:eu-west-1:123456789012:key/mrk-${"0".repeat(32)}`,
            mountPoint: `/${"m".repeat(200)}`,
            imdsEndpoint: "http://169.254.169.254",
            awsEndpoint: "https://vpce-0123456789abcdef0-abcdefgh.s3.eu-west-1.vpce.amazonaws.com",
        });
        expect(Buffer.byteLength(largest)).toBeLessThan(16 * 1024);
    });
});

describe("the boot script, run for real", () => {
    let moto: Moto;
    let proxy: CapturingProxy;
    let imds: FakeImds;
    let instance: SeededInstance;
    let work: string;
    let keyDir: string;
    /**
     * The data's mount point: not below /tmp, which the script refuses (config/mountPoint.ts's
     * deny-list). The script creates it only when it gets to mounting (with device-mapper, as root).
     */
    let mountPoint: string;
    /** What the instance must name its key object after: arn:aws:ec2:eu-west-1:<account>:instance/<id>. */
    let instanceArn: string;
    let keyObject: string;

    const awsEnv = (m: Moto) => ({ AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", AWS_DEFAULT_REGION: "eu-west-1", AWS_ENDPOINT_URL: m.endpoint });
    const awsCli = (...args: string[]) => execFileSync(awsCliPath(), args, { env: { ...process.env, ...awsEnv(moto) }, encoding: "utf8" });

    beforeAll(async () => {
        moto = await startMoto();
    }, 60_000);
    afterAll(async () => {
        await moto?.stop();
    });

    beforeEach(async () => {
        await moto.reset();
        instance = await seedAirlockInstance(moto);
        imds = await startFakeImds({ instanceId: instance.instanceId, roleName: instance.roleName, instanceTags: { ...LAUNCH_TAGS, [DATA_VOLUME_TAG]: VOLUME_ID } });
        proxy = await startCapturingProxy(moto.endpoint);
        awsCli("s3api", "create-bucket", "--bucket", base.bucketName, "--create-bucket-configuration", "LocationConstraint=eu-west-1");
        work = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-boot-"));
        keyDir = fs.mkdtempSync("/dev/shm/airlock-key-");
        mountPoint = path.join("/srv", path.basename(work), "mnt");
        instanceArn = `arn:aws:ec2:eu-west-1:${instance.accountId}:instance/${instance.instanceId}`;
        keyObject = keyObjectKey(instanceArn);
        installArgvRecorders();
    }, 60_000);

    afterEach(async () => {
        await imds?.stop();
        await proxy?.stop();
        if (spawnSync("findmnt", ["--mountpoint", mountPoint]).status === 0) spawnSync("umount", [mountPoint]);
        fs.rmSync(path.dirname(mountPoint), { recursive: true, force: true });
        fs.rmSync(work, { recursive: true, force: true });
        fs.rmSync(keyDir, { recursive: true, force: true });
    });

    /** Replaces this test's metadata service (same instance and role) with one whose tags are as given. */
    async function imdsWith(options: Pick<FakeImdsOptions, "instanceTags" | "instanceMetadataTags">): Promise<void> {
        await imds.stop();
        imds = await startFakeImds({ instanceId: instance.instanceId, roleName: instance.roleName, ...options });
    }
    /** The script's reads of the data volume tag, as the metadata service answered them. */
    const tagReads = () => imds.requests.filter((r) => r.path === TAG_PATH).map((r) => [r.status, r.withToken]);

    /**
     * curl, python3 and aws as the script finds them on PATH: each records its command line (what
     * `ps` shows) and runs the real tool; python3 is the system's, as on an instance.
     */
    function installArgvRecorders(): void {
        const bin = path.join(work, "bin");
        fs.mkdirSync(bin);
        const real: Record<string, string> = { curl: whichOrThrow("curl"), python3: "/usr/bin/python3", aws: awsCliPath() };
        for (const [name, target] of Object.entries(real)) {
            fs.writeFileSync(path.join(bin, name), `#!/bin/bash\n{ printf '%s' ${name}; printf ' %s' "$@"; printf '\\n'; } >>"$AIRLOCK_TEST_ARGV_LOG"\nexec ${target} "$@"\n`, { mode: 0o755 });
        }
    }
    const commandLines = (): string => fs.readFileSync(path.join(work, "argv.log"), "utf8");

    function readKeyObject(key = keyObject): Buffer {
        const file = path.join(keyDir, "host-read.bin");
        try {
            awsCli("s3api", "get-object", "--bucket", base.bucketName, "--key", key, file);
            return fs.readFileSync(file);
        } finally {
            fs.rmSync(file, { force: true });
        }
    }

    function blankImage(name = "data.img", mib = 32): string {
        const file = path.join(work, name);
        fs.writeFileSync(file, Buffer.alloc(0));
        fs.truncateSync(file, mib * 1024 * 1024);
        return file;
    }

    /** Runs airlock-boot as cloud-init (first-boot) or the unlock unit would, with this test's endpoints, disk image and key directory. */
    async function boot(
        device: string | undefined,
        options: { mode?: "first-boot" | "unlock"; mountPoint?: string; extraEnv?: string } = {},
    ): Promise<{ code: number; output: string }> {
        const envFile = path.join(work, "airlock.env");
        fs.writeFileSync(
            envFile,
            renderedEnv({ ...base, imdsEndpoint: imds.endpoint, awsEndpoint: proxy.endpoint }) +
                (device === undefined ? "" : `AIRLOCK_DATA_DEVICE='${device}'\n`) +
                `AIRLOCK_KEY_DIR='${keyDir}'\nAIRLOCK_LOG_FILE='${path.join(work, "boot.log")}'\n` +
                `AIRLOCK_NO_CONSOLE=1\nAIRLOCK_NO_SYSTEMD=1\nAIRLOCK_MOUNT_POINT='${options.mountPoint ?? mountPoint}'\nAIRLOCK_KEY_ATTEMPTS=2\nAIRLOCK_TAG_ATTEMPTS=2\n` +
                (options.extraEnv ?? ""),
        );
        // No AWS credentials in the environment: the script must get the role's from the metadata service.
        // The script runs `aws` by name: the project's pinned AWS CLI (behind the recorder) comes first on PATH.
        const env: NodeJS.ProcessEnv = {
            PATH: `${path.join(work, "bin")}${path.delimiter}${pathWithVenv()}`,
            HOME: work,
            AIRLOCK_ENV_FILE: envFile,
            AIRLOCK_TEST_ARGV_LOG: path.join(work, "argv.log"),
        };
        try {
            const { stderr } = await run("bash", [BOOT_SCRIPT, options.mode ?? "first-boot"], { env, timeout: 60_000 });
            return { code: 0, output: stderr };
        } catch (err) {
            const e = err as { code?: number; stderr?: string };
            return { code: e.code ?? -1, output: e.stderr ?? String(err) };
        }
    }

    async function bootstrapTags(): Promise<Record<string, string>> {
        const out = await new EC2Client(awsClientConfig(moto)).send(new DescribeTagsCommand({ Filters: [{ Name: "resource-id", Values: [instance.instanceId] }] }));
        return Object.fromEntries((out.Tags ?? []).filter((t) => t.Key?.startsWith("airlock:")).map((t) => [t.Key ?? "", t.Value ?? ""]));
    }

    const luksUuid = (file: string) => execFileSync("cryptsetup", ["luksUUID", file], { encoding: "utf8" }).trim();
    const isLuks = (file: string) => spawnSync("cryptsetup", ["isLuks", file]).status === 0;
    const opensWith = (file: string, material: Buffer) => {
        const keyFile = path.join(work, `try-${crypto.randomUUID()}.bin`);
        fs.writeFileSync(keyFile, material);
        const result = spawnSync("cryptsetup", ["open", "--test-passphrase", "--key-file", keyFile, file]);
        fs.rmSync(keyFile);
        return result.status === 0;
    };
    /** S3 requests for the key object, as the proxy saw them. */
    const keyRequests = (method: string) => proxy.requests.filter((r) => r.method === method && s3ObjectOf(r.target)?.key === keyObject);

    /** Nothing key-related may remain outside tmpfs or show in the log, the output or a command line: not the key, not the role's credentials. */
    function assertNoSecretsLeft(key: Buffer, output: string): void {
        expect(fs.readdirSync(keyDir)).toEqual([]);
        const log = fs.readFileSync(path.join(work, "boot.log"));
        for (const text of [log, Buffer.from(output), Buffer.from(commandLines())]) {
            expect(text.includes(key)).toBe(false);
            for (const encoded of [key.toString("base64"), key.toString("hex")]) expect(text.toString("utf8")).not.toContain(encoded);
            expect(text.toString("utf8")).not.toContain(imds.credentials.secretAccessKey);
            expect(text.toString("utf8")).not.toContain(imds.credentials.token);
        }
    }

    it("first boot generates its key on the instance and stores it once as keys/<instance ARN>, SSE-KMS under the vault key and tagged with the ARN, before anything is formatted", async () => {
        const device = blankImage();
        const result = await boot(device);

        // IMDSv2: a token first, then only token-authenticated reads; the ARN from the partition, the DNS suffix and the identity document.
        expect(imds.requests[0]).toEqual(expect.objectContaining({ method: "PUT", path: "/latest/api/token", status: 200 }));
        expect(imds.requests.filter((r) => r.method === "GET").every((r) => r.withToken)).toBe(true);
        for (const p of ["meta-data/services/partition", "meta-data/services/domain", "dynamic/instance-identity/document", `meta-data/iam/security-credentials/${instance.roleName}`]) {
            expect(imds.requests).toContainEqual(expect.objectContaining({ method: "GET", path: `/latest/${p}`, status: 200 }));
        }
        // The data volume from the instance's tag (colon and all in the path), once, before the key is made.
        expect(tagReads()).toEqual([[200, true]]);
        expect(result.output).toContain(`airlock-boot: data volume ${VOLUME_ID} (instance tag ${DATA_VOLUME_TAG})\n`);
        expect(result.output.indexOf(`data volume ${VOLUME_ID}`)).toBeLessThan(result.output.indexOf("key generated on this instance"));

        // One PUT, write-once, with SSE-KMS under the vault key and the instance's ARN as its tag; the key in its URL encoded as SigV4 wants it.
        const puts = keyRequests("PUT");
        expect(puts).toHaveLength(1);
        const put = puts[0]!;
        expect(put.status).toBe(200);
        expect(put.target).toBe(`/${base.bucketName}/keys/arn%3Aaws%3Aec2%3Aeu-west-1%3A${instance.accountId}%3Ainstance/${instance.instanceId}`);
        expect(put.headers).toEqual(
            expect.objectContaining({
                "if-none-match": "*",
                "x-amz-server-side-encryption": "aws:kms",
                "x-amz-server-side-encryption-aws-kms-key-id": base.kmsKeyArn,
                "x-amz-tagging": `${encodeURIComponent(INSTANCE_ARN_TAG)}=${encodeURIComponent(instanceArn)}`,
            }),
        );
        expect(put.body).toHaveLength(64);
        expect(result.output).toContain(`airlock-boot: key generated on this instance and stored once as s3://${base.bucketName}/${keyObject}`);
        expect(result.output.indexOf("stored once")).toBeLessThan(result.output.indexOf("blank device: creating a LUKS2 header"));
        expect(keyRequests("GET")).toEqual([]); // its own key: nothing to read back

        // What S3 holds: exactly those 64 bytes, encrypted under the vault key, tagged with the instance's ARN.
        const stored = readKeyObject();
        expect(stored.equals(put.body)).toBe(true);
        const head = JSON.parse(awsCli("s3api", "head-object", "--bucket", base.bucketName, "--key", keyObject)) as Record<string, unknown>;
        expect(head).toEqual(expect.objectContaining({ ServerSideEncryption: "aws:kms", SSEKMSKeyId: base.kmsKeyArn }));
        const tagging = JSON.parse(awsCli("s3api", "get-object-tagging", "--bucket", base.bucketName, "--key", keyObject)) as { TagSet: unknown[] };
        expect(tagging.TagSet).toEqual([{ Key: INSTANCE_ARN_TAG, Value: instanceArn }]);

        expect(execFileSync("cryptsetup", ["luksDump", device], { encoding: "utf8" })).toMatch(/^Version:\s+2$/m);
        expect(opensWith(device, stored)).toBe(true);
        expect(opensWith(device, crypto.randomBytes(64))).toBe(false);
        assertNoSecretsLeft(stored, result.output);

        if (HAS_DEVICE_MAPPER) {
            expect(result.output).toContain("airlock-boot: done status=success");
            expect(await bootstrapTags()).toEqual({ "airlock:bootstrap": "success", "airlock:bootstrap-reason": "" });
        } else {
            // This sandbox has no device-mapper: everything up to mapping ran; the script says so and signals failure.
            expect(result.code).toBe(1);
            expect(result.output).toContain("airlock-boot: cannot map");
            expect(result.output).toContain("airlock-boot: done status=failure");
            expect((await bootstrapTags())["airlock:bootstrap"]).toBe("failure");
        }
    }, 90_000);

    it("the key's PUT is signed as S3 checks it: botocore's S3 signer computes the same signature for the request as curl sent it (a key with ':' and '/')", async () => {
        await boot(blankImage());
        const [put] = keyRequests("PUT");
        expect(put).toBeDefined();
        const expectation = {
            accessKeyId: imds.credentials.accessKeyId,
            secretAccessKey: imds.credentials.secretAccessKey,
            region: "eu-west-1",
            bucket: base.bucketName,
            key: keyObject,
            endpoint: proxy.endpoint,
        };
        const check = checkS3Signature(put!, expectation);
        expect(check.problems).toEqual([]);
        expect(check.signedHeaders).toEqual([
            "host",
            "if-none-match",
            "x-amz-content-sha256",
            "x-amz-date",
            "x-amz-security-token",
            "x-amz-server-side-encryption",
            "x-amz-server-side-encryption-aws-kms-key-id",
            "x-amz-tagging",
        ]);
        expect(put!.headers["x-amz-security-token"]).toBe(imds.credentials.token);

        // The check is not vacuous: another secret, a changed signed header or a changed body, and S3 would refuse.
        const mismatch = "signature does not match the one botocore computes";
        expect(checkS3Signature(put!, { ...expectation, secretAccessKey: `${expectation.secretAccessKey}x` }).problems).toEqual([mismatch]);
        const otherTag = `${encodeURIComponent(INSTANCE_ARN_TAG)}=${encodeURIComponent(instanceArn.replace(/.$/, "0"))}`;
        expect(checkS3Signature({ ...put!, headers: { ...put!.headers, "x-amz-tagging": otherTag } }, expectation).problems).toEqual([mismatch]);
        expect(checkS3Signature({ ...put!, body: crypto.randomBytes(64) }, expectation).problems).toEqual(["x-amz-content-sha256 is not the body's SHA-256"]);
        expect(checkS3Signature({ ...put!, target: put!.target.replace(/%3A/g, ":") }, expectation).problems[0]).toMatch(/^request target .* is not botocore's /);
    }, 90_000);

    it("a rerun of the first boot gets 412 from the write-once PUT, reads the stored key and reopens the same volume: no new key, no reformat", async () => {
        const device = blankImage();
        await boot(device);
        const uuid = luksUuid(device);
        const stored = readKeyObject();
        proxy.clear();

        const second = await boot(device);
        const puts = keyRequests("PUT");
        expect(puts.map((r) => [r.status, r.headers["if-none-match"]])).toEqual([[412, "*"]]);
        expect(second.output).toContain("airlock-boot: key object already stored by an earlier first boot: discarding the generated key and reading the stored one");
        expect(keyRequests("GET").map((r) => r.status)).toEqual([200]);
        expect(second.output).toContain("airlock-boot: key fetched (64 bytes");
        expect(second.output).toContain("LUKS header present: opening, never reformatting");
        expect(readKeyObject().equals(stored)).toBe(true);
        expect(luksUuid(device)).toBe(uuid);
        expect(opensWith(device, stored)).toBe(true);
        assertNoSecretsLeft(stored, second.output);
    }, 90_000);

    it("unlock (every later boot) only reads the key: a GET, never a PUT, never a generated key", async () => {
        const device = blankImage();
        await boot(device);
        const stored = readKeyObject();
        proxy.clear();

        const unlock = await boot(device, { mode: "unlock" });
        expect(unlock.output).toContain("airlock-unlock: key fetched (64 bytes");
        expect(unlock.output).not.toContain("generated");
        expect(unlock.output).toContain(`airlock-unlock: data volume ${VOLUME_ID} (instance tag ${DATA_VOLUME_TAG})`);
        expect(keyRequests("GET").map((r) => r.status)).toEqual([200]);
        expect(proxy.requests.filter((r) => r.method !== "GET")).toEqual([]);
        expect(readKeyObject().equals(stored)).toBe(true);
        expect(opensWith(device, stored)).toBe(true);
        assertNoSecretsLeft(stored, unlock.output);
    }, 90_000);

    it("unlock without a stored key retries with backoff, then fails with a reason; it never writes a key", async () => {
        const device = blankImage();
        const result = await boot(device, { mode: "unlock" });
        expect(result.code).toBe(1);
        expect(result.output).toContain(`airlock-unlock: key s3://${base.bucketName}/${keyObject} not readable yet (attempt 1/2)`);
        expect(result.output).toContain("airlock-unlock: done status=failure reason=key object not readable after 2 attempts");
        expect(keyRequests("GET")).toHaveLength(2);
        expect(proxy.requests.filter((r) => r.method !== "GET")).toEqual([]);
        expect(isLuks(device)).toBe(false);
        expect(fs.readdirSync(keyDir)).toEqual([]);
    }, 90_000);

    it("a data volume whose LUKS header was made with another key (another instance's volume) fails with a reason and is never re-keyed", async () => {
        const device = blankImage();
        const foreignKey = crypto.randomBytes(64);
        const foreignKeyFile = path.join(keyDir, "foreign.key");
        fs.writeFileSync(foreignKeyFile, foreignKey);
        execFileSync("cryptsetup", ["luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", foreignKeyFile, device]);
        fs.rmSync(foreignKeyFile);
        const uuid = luksUuid(device);

        const result = await boot(device);
        const reason = `the key does not open ${device}: its LUKS header was made with another key - a wrong key object or the volume of another instance - never re-keyed`;
        expect(result.code).toBe(1);
        expect(result.output).toContain(`airlock-boot: done status=failure reason=${reason}`);
        expect(await bootstrapTags()).toEqual({ "airlock:bootstrap": "failure", "airlock:bootstrap-reason": reason.slice(0, 250).trimEnd() });
        expect(luksUuid(device)).toBe(uuid);
        expect(opensWith(device, foreignKey)).toBe(true);
        expect(opensWith(device, readKeyObject())).toBe(false);
        assertNoSecretsLeft(readKeyObject(), result.output);
    }, 90_000);

    it("a key object replaced behind the instance's back fails with a reason, with the failure signal, and leaves the volume untouched", async () => {
        const device = blankImage();
        await boot(device);
        const uuid = luksUuid(device);
        // A plain PUT (no If-None-Match, which the script always sends) overwrites: what a deployer could do.
        const other = path.join(keyDir, "other.bin");
        fs.writeFileSync(other, crypto.randomBytes(64));
        awsCli("s3api", "put-object", "--bucket", base.bucketName, "--key", keyObject, "--body", other);
        fs.rmSync(other);
        proxy.clear();

        const result = await boot(device);
        expect(result.code).toBe(1);
        expect(keyRequests("PUT").map((r) => r.status)).toEqual([412]);
        expect(result.output).toMatch(/airlock-boot: the key does not open .*: its LUKS header was made with another key/);
        expect(await bootstrapTags()).toEqual(expect.objectContaining({ "airlock:bootstrap": "failure", "airlock:bootstrap-reason": expect.stringContaining("the key does not open") }));
        expect(luksUuid(device)).toBe(uuid);
        assertNoSecretsLeft(readKeyObject(), result.output);
    }, 90_000);

    it("a key S3 refuses to store is retried with backoff, then fails with S3's reason before anything is formatted", async () => {
        awsCli("s3api", "delete-bucket", "--bucket", base.bucketName);
        const device = blankImage();
        const result = await boot(device);
        expect(result.code).toBe(1);
        expect(result.output).toContain("airlock-boot: key not stored yet (attempt 1/2): HTTP 404 NoSuchBucket\n");
        expect(result.output).toContain("airlock-boot: done status=failure reason=key object not stored after 2 attempts: HTTP 404 NoSuchBucket\n");
        expect(await bootstrapTags()).toEqual({ "airlock:bootstrap": "failure", "airlock:bootstrap-reason": "key object not stored after 2 attempts: HTTP 404 NoSuchBucket" });
        expect(keyRequests("PUT")).toHaveLength(2);
        expect(isLuks(device)).toBe(false);
        expect(result.output).not.toContain("creating a LUKS2 header");
        expect(fs.readdirSync(keyDir)).toEqual([]);
        const log = fs.readFileSync(path.join(work, "boot.log"), "utf8");
        for (const secret of [imds.credentials.secretAccessKey, imds.credentials.token]) {
            expect(log + result.output + commandLines()).not.toContain(secret);
        }
    }, 90_000);

    it("the role's credentials never appear on a command line (what ps shows): they reach curl in a config file in the tmpfs key directory", async () => {
        const device = blankImage();
        await boot(device);
        await boot(device);
        await boot(device, { mode: "unlock" });
        const lines = commandLines();
        expect(lines).toMatch(/^curl .*-K \S+\/put\.curl$/m);
        expect(lines).toMatch(/^python3 -c /m);
        expect(lines).toMatch(/^aws .*s3api get-object/m);
        expect(lines).not.toContain(imds.credentials.secretAccessKey);
        expect(lines).not.toContain(imds.credentials.token);
        expect(lines).not.toContain(imds.credentials.accessKeyId);
    }, 120_000);

    it("a data volume tag set after the instance started (Pulumi tags it once the volume exists; IMDS shows tags late): the boot waits with backoff, then goes on", async () => {
        await imdsWith({ instanceTags: { ...LAUNCH_TAGS, [DATA_VOLUME_TAG]: { value: VOLUME_ID, afterMs: 4_000, from: "first-read" } } });
        const device = blankImage();
        const started = Date.now();
        const result = await boot(device, { extraEnv: "AIRLOCK_TAG_ATTEMPTS=5\n" });
        // 404, 404 (after 2 s), then 200 (after 4 more): the key list answers meanwhile, so the reason is "not set yet".
        expect(tagReads()).toEqual([
            [404, true],
            [404, true],
            [200, true],
        ]);
        expect(imds.requests.filter((r) => r.path === "/latest/meta-data/tags/instance").map((r) => r.status)).toEqual([200, 200]);
        expect(Date.now() - started).toBeGreaterThanOrEqual(6_000);
        expect(result.output).toContain(`airlock-boot: data volume not known yet (attempt 1/5): tag ${DATA_VOLUME_TAG} not set yet\n`);
        expect(result.output).toContain(`airlock-boot: data volume not known yet (attempt 2/5): tag ${DATA_VOLUME_TAG} not set yet\n`);
        expect(result.output).not.toContain("attempt 3/5");
        expect(result.output).toContain(`airlock-boot: data volume ${VOLUME_ID} (instance tag ${DATA_VOLUME_TAG})`);
        // Then the first boot as usual: the key stored once, the volume formatted with it.
        expect(keyRequests("PUT").map((r) => r.status)).toEqual([200]);
        expect(result.output.indexOf(`data volume ${VOLUME_ID}`)).toBeLessThan(result.output.indexOf("key generated on this instance"));
        expect(isLuks(device)).toBe(true);
        expect(opensWith(device, readKeyObject())).toBe(true);
    }, 90_000);

    it("a data volume tag that never appears: retried, then the failure signal with the reason, before a key is made or anything is formatted", async () => {
        await imdsWith({ instanceTags: LAUNCH_TAGS });
        const device = blankImage();
        const result = await boot(device, { extraEnv: "AIRLOCK_TAG_ATTEMPTS=3\n" });
        const reason = `tag ${DATA_VOLUME_TAG} not set yet after 3 attempts`;
        expect(result.code).toBe(1);
        expect(tagReads()).toEqual([
            [404, true],
            [404, true],
            [404, true],
        ]);
        expect(result.output).toContain(`airlock-boot: data volume not known yet (attempt 3/3): tag ${DATA_VOLUME_TAG} not set yet\n`);
        expect(result.output).toContain(`airlock-boot: done status=failure reason=${reason}\n`);
        expect(await bootstrapTags()).toEqual({ "airlock:bootstrap": "failure", "airlock:bootstrap-reason": reason });
        expect(proxy.requests.filter((r) => s3ObjectOf(r.target) !== undefined)).toEqual([]);
        expect(isLuks(device)).toBe(false);
        expect(fs.readdirSync(keyDir)).toEqual([]);
    }, 90_000);

    it.each(["first-boot", "unlock"] as const)(
        "%s with instance tags not in the metadata service (instanceMetadataTags disabled: 404 for meta-data/tags/instance): fails with that reason, nothing read, stored or formatted",
        async (mode) => {
            await imdsWith({ instanceTags: { ...LAUNCH_TAGS, [DATA_VOLUME_TAG]: VOLUME_ID }, instanceMetadataTags: false });
            const device = blankImage();
            const result = await boot(device, { mode });
            const reason = "instance tags are not in the metadata service: is instanceMetadataTags enabled?";
            const tag = mode === "unlock" ? "airlock-unlock" : "airlock-boot";
            expect(result.code).toBe(1);
            expect(imds.requests.filter((r) => r.path === "/latest/meta-data/tags/instance").map((r) => r.status)).toEqual([404, 404]);
            expect(tagReads()).toEqual([
                [404, true],
                [404, true],
            ]);
            expect(result.output).toContain(`${tag}: done status=failure reason=${reason}\n`);
            // The unlock signals nothing; the first boot signals the reason (its "?" is not a tag value character).
            expect(await bootstrapTags()).toEqual(mode === "unlock" ? {} : { "airlock:bootstrap": "failure", "airlock:bootstrap-reason": reason.replace(/\?$/, "") });
            expect(proxy.requests.filter((r) => s3ObjectOf(r.target) !== undefined)).toEqual([]);
            expect(isLuks(device)).toBe(false);
            expect(fs.readdirSync(keyDir)).toEqual([]);
        },
        90_000,
    );

    it.each([
        ["uppercase hex", "vol-0123456789ABCDEF0", "vol-0123456789ABCDEF0"],
        ["too short", "vol-0123456", "vol-0123456"],
        ["a device path", "/dev/nvme0n1", "/dev/nvme0n1"],
        ["a trailing line break", `${VOLUME_ID}\n`, `${VOLUME_ID}?`],
        ["shell syntax", "vol-01234567$(reboot)", "vol-01234567??reboot?"],
        ["another instance's tag format", "i-0123456789abcdef0", "i-0123456789abcdef0"],
        ["empty", "", ""],
    ])("a data volume tag that is not an EBS volume id (%s) is refused before a key is made or anything is formatted", async (_what, value, shown) => {
        await imdsWith({ instanceTags: { ...LAUNCH_TAGS, [DATA_VOLUME_TAG]: value } });
        const device = blankImage();
        const result = await boot(device);
        const reason = `tag ${DATA_VOLUME_TAG} is not an EBS volume id: ${shown}`;
        expect(result.code).toBe(1);
        expect(tagReads()).toEqual([[200, true]]); // not retried: a wrong value is not a late one
        expect(result.output).toContain(`airlock-boot: done status=failure reason=${reason}\n`);
        expect(await bootstrapTags()).toEqual({ "airlock:bootstrap": "failure", "airlock:bootstrap-reason": reason.replace(/[^A-Za-z0-9 _.:/=+@-]/g, " ").trimEnd() });
        expect(result.output).not.toContain("key generated");
        expect(proxy.requests.filter((r) => s3ObjectOf(r.target) !== undefined)).toEqual([]);
        expect(isLuks(device)).toBe(false);
        expect(fs.readFileSync(device).equals(Buffer.alloc(32 * 1024 * 1024))).toBe(true);
        expect(fs.readdirSync(keyDir)).toEqual([]);
    }, 90_000);

    it("the device is looked up by the volume id from the tag (as the NVMe serial, without its hyphen): with none attached, the failure names that volume", async () => {
        const otherVolume = "vol-0fedcba9876543210";
        await imdsWith({ instanceTags: { ...LAUNCH_TAGS, [DATA_VOLUME_TAG]: otherVolume } });
        // No AIRLOCK_DATA_DEVICE (the tests' stand-in for the NVMe device): the script looks for the serial, which this machine has no device for.
        const result = await boot(undefined, { extraEnv: "AIRLOCK_DEVICE_ATTEMPTS=1\n" });
        const reason = `data volume ${otherVolume} is not attached`;
        expect(result.code).toBe(1);
        expect(result.output).toContain(`airlock-boot: data volume ${otherVolume} (instance tag ${DATA_VOLUME_TAG})`);
        expect(result.output).toContain(`airlock-boot: done status=failure reason=${reason}\n`);
        expect(await bootstrapTags()).toEqual({ "airlock:bootstrap": "failure", "airlock:bootstrap-reason": reason });
    }, 90_000);

    it("refuses to format a device that holds something else", async () => {
        const device = blankImage();
        execFileSync("mkfs.ext4", ["-q", "-F", device]);
        const result = await boot(device);
        expect(result.code).toBe(1);
        expect(result.output).toContain("is not blank and not LUKS: refusing to format it");
        expect(isLuks(device)).toBe(false);
    }, 90_000);

    // Defence in depth: the configuration refuses these mount points, but a hand-edited user data
    // must not put the data on a pseudo-filesystem or the root volume either. Refused before a key
    // is generated or stored or anything is formatted, with the failure signal and the reason.
    it.each([
        ["/proc", "is on a pseudo-filesystem: not the encrypted volume"],
        ["/proc/x", "is on a pseudo-filesystem: not the encrypted volume"],
        ["/etc", "is a system or scratch or home directory: the volume would hide or lose what is there"],
        ["/var/lib/cloud/data", "is a system or scratch or home directory: the volume would hide or lose what is there"],
        ["/dev/shm", "is on a pseudo-filesystem: not the encrypted volume"],
        ["/run/data", "is on a pseudo-filesystem: not the encrypted volume"],
        ["//", "is not a normalised absolute path of letters digits and ._-"],
        ["/.", "is not a normalised absolute path of letters digits and ._-"],
        ["/data/../proc", "is not a normalised absolute path of letters digits and ._-"],
        ["/data/", "is not a normalised absolute path of letters digits and ._-"],
        ["data", "is not an absolute path"],
    ])("refuses the mount point %s before a key is made or anything is formatted, with the failure signal", async (mountPoint, problem) => {
        const device = blankImage();
        const result = await boot(device, { mountPoint });
        expect(result.code).toBe(1);
        expect(result.output).toContain(`airlock-boot: done status=failure reason=mount: ${mountPoint} ${problem}`);
        expect(result.output).not.toContain("airlock-boot: mounted");
        expect(result.output).not.toContain("key generated");
        expect(result.output).not.toContain("key fetched");
        expect(proxy.requests.filter((r) => s3ObjectOf(r.target) !== undefined)).toEqual([]);
        expect(await bootstrapTags()).toEqual({ "airlock:bootstrap": "failure", "airlock:bootstrap-reason": `mount: ${mountPoint} ${problem}` });
        expect(isLuks(device)).toBe(false);
        expect(fs.readdirSync(keyDir)).toEqual([]);
    }, 90_000);

    const asRoot = process.getuid?.() === 0 ? it : it.skip;
    asRoot("a mount point that is already a mount point of something else (a tmpfs) is refused, never reported mounted", async () => {
        const device = blankImage();
        fs.mkdirSync(mountPoint, { recursive: true });
        execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "airlock-test-tmpfs", mountPoint]);
        try {
            const result = await boot(device, { mountPoint });
            const reason = `mount: ${mountPoint} is already a mount point of tmpfs airlock-test-tmpfs: not the encrypted volume`;
            expect(result.code).toBe(1);
            expect(result.output).toContain(`airlock-boot: done status=failure reason=${reason}`);
            expect(result.output).not.toContain("airlock-boot: mounted");
            expect(await bootstrapTags()).toEqual({ "airlock:bootstrap": "failure", "airlock:bootstrap-reason": reason });
            // Refused before the device was formatted, and the tmpfs is left as it was.
            expect(isLuks(device)).toBe(false);
            expect(execFileSync("findmnt", ["-n", "-r", "-o", "SOURCE", "--mountpoint", mountPoint], { encoding: "utf8" }).trim()).toBe("airlock-test-tmpfs");
        } finally {
            execFileSync("umount", [mountPoint]);
        }
    }, 90_000);

    it("refuses to write the key anywhere but tmpfs", async () => {
        const device = blankImage();
        const diskDir = fs.mkdtempSync(path.join(work, "not-tmpfs-"));
        const result = await boot(device, { extraEnv: `AIRLOCK_KEY_DIR='${diskDir}'\n` });
        expect(result.code).toBe(1);
        expect(result.output).toContain("is not a tmpfs: refusing to write the key to persistent storage");
        expect(fs.readdirSync(diskDir)).toEqual([]);
        expect(keyRequests("PUT")).toEqual([]);
    }, 90_000);
});

describe("the boot script's mount-point deny-list", () => {
    let imds: FakeImds;
    let work: string;
    beforeAll(async () => {
        imds = await startFakeImds({ instanceId: "i-0123456789abcdef0", roleName: "airlock-instance", instanceTags: { [DATA_VOLUME_TAG]: VOLUME_ID } });
        work = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-mp-"));
    });
    afterAll(async () => {
        await imds?.stop();
        if (work) fs.rmSync(work, { recursive: true, force: true });
    });

    /** True when the script refuses the mount point. It runs as the unlock (which signals nothing) and stops at its key directory, which is not a tmpfs, when the mount point passes. */
    async function refuses(mountPoint: string): Promise<boolean> {
        const keyDir = path.join(work, "key-dir-on-disk");
        const envFile = path.join(work, `${crypto.randomUUID()}.env`);
        fs.writeFileSync(
            envFile,
            renderedEnv({ ...base, imdsEndpoint: imds.endpoint, awsEndpoint: "http://127.0.0.1:9" }) +
                `AIRLOCK_MOUNT_POINT='${mountPoint}'\nAIRLOCK_KEY_DIR='${keyDir}'\nAIRLOCK_LOG_FILE=/dev/null\nAIRLOCK_NO_CONSOLE=1\n`,
        );
        const result = await run("bash", [BOOT_SCRIPT, "unlock"], { env: { PATH: process.env.PATH, AIRLOCK_ENV_FILE: envFile } }).then(
            () => ({ stderr: "" }),
            (e: { stderr: string }) => e,
        );
        if (result.stderr.includes(`reason=mount: ${mountPoint} `)) return true;
        if (result.stderr.includes("is not a tmpfs: refusing to write the key")) return false;
        throw new Error(`unexpected output for ${mountPoint}:\n${result.stderr}`);
    }

    it("refuses exactly what config/mountPoint.ts refuses (every entry, below it, and allowed neighbours)", async () => {
        expect(spawnSync("stat", ["-f", "-c", "%T", work], { encoding: "utf8" }).stdout.trim()).not.toMatch(/^(tmpfs|ramfs)$/);
        const paths = [
            ...DENIED_MOUNT_POINTS.filter((d) => d.path !== "/").flatMap((d) => [d.path, `${d.path}/x`, `${d.path}/x/y`]),
            "/data",
            "/srv/app",
            "/var/www",
            "/var/lib/postgresql",
            "/opt/app/data",
            "/home/alice/data",
            "/mnt/data",
            "/etcetera",
            "/usr2",
        ];
        const disagreements: string[] = [];
        for (let i = 0; i < paths.length; i += 8) {
            await Promise.all(
                paths.slice(i, i + 8).map(async (p) => {
                    const expected = !checkMountPoint(p).ok;
                    if ((await refuses(p)) !== expected) disagreements.push(`${p}: config ${expected ? "refuses" : "accepts"}, the script does not`);
                }),
            );
        }
        expect(disagreements).toEqual([]);
        expect(paths.filter((p) => !checkMountPoint(p).ok).length).toBeGreaterThan(90);
    }, 120_000);
});

function whichOrThrow(command: string): string {
    const found = spawnSync("sh", ["-c", 'command -v "$0"', command], { encoding: "utf8" }).stdout.trim();
    if (found === "") throw new Error(`${command} is not on PATH: ${PROVISION_HINT}.`);
    return found;
}

/** The env file as the template writes it (parsed back out of the rendered user data). */
function renderedEnv(data: BootData): string {
    const file = filesOf(renderUserData(data)).find((f) => f.path === "/etc/airlock/airlock.env");
    if (file === undefined) {
        throw new Error("the user data has no /etc/airlock/airlock.env");
    }
    return file.content;
}
