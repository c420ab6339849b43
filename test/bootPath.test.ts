/**
 * The first-boot path, checked and run for real on this machine:
 *  - every rendering (OS family × SSH mode × endpoints) is valid against cloud-init's own schema,
 *    and every script it carries passes shellcheck;
 *  - the real boot script runs against a fake IMDSv2, the moto S3/EC2 emulator through the real
 *    AWS CLI, and a file-backed disk image instead of the EBS device.
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
import { DescribeTagsCommand, EC2Client } from "@aws-sdk/client-ec2";
import { parse } from "yaml";
import { OPERATING_SYSTEMS } from "../config/schema";
import { BootData, renderUserData } from "../cloud-init/render";
import { cloudConfigErrors } from "./support/cloudInitSchema";
import { FakeImds, startFakeImds } from "./support/fakeImds";
import { Moto, PROVISION_HINT, SeededInstance, awsCliPath, awsClientConfig, pathWithVenv, seedAirlockInstance, startMoto } from "./support/moto";

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, "..");
const BOOT_SCRIPT = path.join(ROOT, "cloud-init", "airlock-boot.sh");
/** The kernel's device-mapper, as registered (a /dev/mapper/control node alone can be stale). */
const HAS_DEVICE_MAPPER = fs.readFileSync("/proc/misc", "utf8").includes("device-mapper");

// Debian's tools this file and the boot script run by name (test/setup/provision.sh installs them):
// without them every test would fail on its own, less clearly.
beforeAll(() => {
    const missing = ["shellcheck", "cryptsetup", "mkfs.ext4", "curl"].filter((command) => spawnSync("sh", ["-c", 'command -v "$0"', command]).status !== 0);
    if (missing.length > 0) {
        throw new Error(`not on PATH: ${missing.join(", ")}: ${PROVISION_HINT}.`);
    }
});

const base: BootData = {
    instanceName: "web-1",
    os: "al2023",
    region: "eu-west-1",
    bucketName: "airlock-keys-test",
    keyObjectKey: "keys/web-1.key",
    volumeId: "vol-0123456789abcdef0",
    mountPoint: "/data",
};

type WriteFile = { path: string; content: string; permissions: string };
const filesOf = (userData: string) => (parse(userData) as { write_files: WriteFile[] }).write_files;

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
                fs.writeFileSync(file, f.content);
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
            keyObjectKey: `keys/${"a".repeat(32)}.key`,
            mountPoint: `/${"m".repeat(200)}`,
            imdsEndpoint: "http://169.254.169.254",
            awsEndpoint: "https://vpce-0123456789abcdef0-abcdefgh.s3.eu-west-1.vpce.amazonaws.com",
        });
        expect(Buffer.byteLength(largest)).toBeLessThan(16 * 1024);
    });
});

describe("the boot script, run for real", () => {
    let moto: Moto;
    let imds: FakeImds;
    let instance: SeededInstance;
    let work: string;
    let keyDir: string;
    const key = crypto.randomBytes(64);

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
        imds = await startFakeImds({ instanceId: instance.instanceId, roleName: instance.roleName });
        awsCli("s3api", "create-bucket", "--bucket", base.bucketName, "--create-bucket-configuration", "LocationConstraint=eu-west-1");
        work = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-boot-"));
        keyDir = fs.mkdtempSync("/dev/shm/airlock-key-");
        fs.writeFileSync(path.join(work, "key.bin"), key);
        putKey(key);
    }, 60_000);

    afterEach(async () => {
        await imds?.stop();
        fs.rmSync(work, { recursive: true, force: true });
        fs.rmSync(keyDir, { recursive: true, force: true });
    });

    function putKey(material: Buffer): void {
        const file = path.join(work, "upload.bin");
        fs.writeFileSync(file, material);
        awsCli("s3api", "put-object", "--bucket", base.bucketName, "--key", base.keyObjectKey, "--body", file);
        fs.rmSync(file);
    }

    function blankImage(name = "data.img", mib = 32): string {
        const file = path.join(work, name);
        fs.writeFileSync(file, Buffer.alloc(0));
        fs.truncateSync(file, mib * 1024 * 1024);
        return file;
    }

    /** Runs airlock-boot as cloud-init would, with this test's endpoints, disk image and key directory. */
    async function boot(device: string, extra: Record<string, string> = {}, mountPoint = path.join(work, "mnt")): Promise<{ code: number; output: string }> {
        const envFile = path.join(work, "airlock.env");
        fs.writeFileSync(
            envFile,
            renderedEnv({ ...base, imdsEndpoint: imds.endpoint, awsEndpoint: moto.endpoint }) +
                `AIRLOCK_DATA_DEVICE='${device}'\nAIRLOCK_KEY_DIR='${keyDir}'\nAIRLOCK_LOG_FILE='${path.join(work, "boot.log")}'\n` +
                `AIRLOCK_NO_CONSOLE=1\nAIRLOCK_NO_SYSTEMD=1\nAIRLOCK_MOUNT_POINT='${mountPoint}'\nAIRLOCK_KEY_ATTEMPTS=2\n`,
        );
        // No AWS credentials in the environment: the AWS CLI must get the role's from the metadata service.
        // The script runs `aws` by name: the project's pinned AWS CLI comes first on PATH.
        const env: NodeJS.ProcessEnv = { PATH: pathWithVenv(), HOME: work, AIRLOCK_ENV_FILE: envFile, ...extra };
        try {
            const { stderr } = await run("bash", [BOOT_SCRIPT, "first-boot"], { env, timeout: 60_000 });
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
    const opensWith = (file: string, material: Buffer) => {
        const keyFile = path.join(work, `try-${crypto.randomUUID()}.bin`);
        fs.writeFileSync(keyFile, material);
        const result = spawnSync("cryptsetup", ["open", "--test-passphrase", "--key-file", keyFile, file]);
        fs.rmSync(keyFile);
        return result.status === 0;
    };

    /** Nothing key-related may remain outside tmpfs: not the key, not in the log. */
    function assertNoKeyLeft(): void {
        expect(fs.readdirSync(keyDir)).toEqual([]);
        const log = fs.readFileSync(path.join(work, "boot.log"));
        expect(log.includes(key)).toBe(false);
        expect(log.toString("utf8")).not.toContain(key.toString("base64"));
    }

    it("fetches its key through IMDSv2 and the AWS CLI, writes a LUKS2 header that opens with exactly that key, and signals", async () => {
        const device = blankImage();
        const result = await boot(device);

        // IMDSv2: a token first, then only token-authenticated reads.
        expect(imds.requests[0]).toEqual(expect.objectContaining({ method: "PUT", path: "/latest/api/token", status: 200 }));
        expect(imds.requests.filter((r) => r.method === "GET").every((r) => r.withToken)).toBe(true);
        expect(imds.requests.some((r) => r.path.startsWith("/latest/meta-data/iam/security-credentials/"))).toBe(true);

        expect(execFileSync("cryptsetup", ["luksDump", device], { encoding: "utf8" })).toMatch(/^Version:\s+2$/m);
        expect(opensWith(device, key)).toBe(true);
        expect(opensWith(device, crypto.randomBytes(64))).toBe(false);
        assertNoKeyLeft();

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

    it("a second run does not reformat: the same header, still opened by the same key", async () => {
        const device = blankImage();
        await boot(device);
        const uuid = luksUuid(device);
        const second = await boot(device);
        expect(second.output).toContain("LUKS header present: opening, never reformatting");
        expect(luksUuid(device)).toBe(uuid);
        expect(opensWith(device, key)).toBe(true);
    }, 90_000);

    it("a wrong key object fails clearly, with the failure signal, and leaves the volume untouched", async () => {
        const device = blankImage();
        await boot(device);
        const uuid = luksUuid(device);
        putKey(crypto.randomBytes(64));
        const result = await boot(device);
        expect(result.code).toBe(1);
        expect(result.output).toMatch(/airlock-boot: the key does not open .* \(wrong key object\?\)/);
        expect(await bootstrapTags()).toEqual(expect.objectContaining({ "airlock:bootstrap": "failure", "airlock:bootstrap-reason": expect.stringContaining("the key does not open") }));
        expect(luksUuid(device)).toBe(uuid);
        assertNoKeyLeft();
    }, 90_000);

    it("a missing key object is retried with backoff, then fails with the failure signal", async () => {
        awsCli("s3api", "delete-object", "--bucket", base.bucketName, "--key", base.keyObjectKey);
        const device = blankImage();
        const result = await boot(device);
        expect(result.code).toBe(1);
        expect(result.output).toContain("not readable yet (attempt 1/2)");
        expect(result.output).toContain("airlock-boot: done status=failure reason=key object not found after 2 attempts");
        expect((await bootstrapTags())["airlock:bootstrap-reason"]).toBe("key object not found after 2 attempts");
        // Nothing was formatted without a key.
        expect(spawnSync("cryptsetup", ["isLuks", device]).status).not.toBe(0);
    }, 90_000);

    it("refuses to format a device that holds something else", async () => {
        const device = blankImage();
        execFileSync("mkfs.ext4", ["-q", "-F", device]);
        const result = await boot(device);
        expect(result.code).toBe(1);
        expect(result.output).toContain("is not blank and not LUKS: refusing to format it");
        expect(spawnSync("cryptsetup", ["isLuks", device]).status).not.toBe(0);
    }, 90_000);

    // Defence in depth: the configuration refuses these mount points, but a hand-edited user data
    // must not put the data on a pseudo-filesystem or the root volume either. Refused before the key
    // is fetched or anything is formatted, with the failure signal and the reason.
    it.each([
        ["/proc", "is on a pseudo-filesystem: not the encrypted volume"],
        ["/dev/shm", "is on a pseudo-filesystem: not the encrypted volume"],
        ["/run/data", "is on a pseudo-filesystem: not the encrypted volume"],
        ["//", "is not a normalised absolute path of letters digits and ._-"],
        ["/.", "is not a normalised absolute path of letters digits and ._-"],
        ["/data/../proc", "is not a normalised absolute path of letters digits and ._-"],
        ["/data/", "is not a normalised absolute path of letters digits and ._-"],
        ["data", "is not an absolute path"],
    ])("refuses the mount point %s before anything is formatted, with the failure signal", async (mountPoint, problem) => {
        const device = blankImage();
        const result = await boot(device, {}, mountPoint);
        expect(result.code).toBe(1);
        expect(result.output).toContain(`airlock-boot: done status=failure reason=mount: ${mountPoint} ${problem}`);
        expect(result.output).not.toContain("airlock-boot: mounted");
        expect(result.output).not.toContain("key fetched");
        expect(await bootstrapTags()).toEqual({ "airlock:bootstrap": "failure", "airlock:bootstrap-reason": `mount: ${mountPoint} ${problem}` });
        expect(spawnSync("cryptsetup", ["isLuks", device]).status).not.toBe(0);
        expect(fs.readdirSync(keyDir)).toEqual([]);
    }, 90_000);

    const asRoot = process.getuid?.() === 0 ? it : it.skip;
    asRoot("a mount point that is already a mount point of something else (a tmpfs) is refused, never reported mounted", async () => {
        const device = blankImage();
        const mountPoint = path.join(work, "mnt");
        fs.mkdirSync(mountPoint);
        execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "airlock-test-tmpfs", mountPoint]);
        try {
            const result = await boot(device, {}, mountPoint);
            const reason = `mount: ${mountPoint} is already a mount point of tmpfs airlock-test-tmpfs: not the encrypted volume`;
            expect(result.code).toBe(1);
            expect(result.output).toContain(`airlock-boot: done status=failure reason=${reason}`);
            expect(result.output).not.toContain("airlock-boot: mounted");
            expect(await bootstrapTags()).toEqual({ "airlock:bootstrap": "failure", "airlock:bootstrap-reason": reason });
            // Refused before the device was formatted, and the tmpfs is left as it was.
            expect(spawnSync("cryptsetup", ["isLuks", device]).status).not.toBe(0);
            expect(execFileSync("findmnt", ["-n", "-r", "-o", "SOURCE", "--mountpoint", mountPoint], { encoding: "utf8" }).trim()).toBe("airlock-test-tmpfs");
        } finally {
            execFileSync("umount", [mountPoint]);
        }
    }, 90_000);

    it("refuses to write the key anywhere but tmpfs", async () => {
        const device = blankImage();
        const diskDir = fs.mkdtempSync(path.join(work, "not-tmpfs-"));
        const envFile = path.join(work, "airlock.env");
        await boot(device);
        fs.appendFileSync(envFile, `AIRLOCK_KEY_DIR='${diskDir}'\n`);
        const { stderr } = await run("bash", [BOOT_SCRIPT, "first-boot"], { env: { PATH: pathWithVenv(), HOME: work, AIRLOCK_ENV_FILE: envFile } }).catch((e: { stderr: string }) => e);
        expect(stderr).toContain("is not a tmpfs: refusing to write the key to persistent storage");
        expect(fs.readdirSync(diskDir)).toEqual([]);
    }, 90_000);
});

/** The env file as the template writes it (parsed back out of the rendered user data). */
function renderedEnv(data: BootData): string {
    const file = filesOf(renderUserData(data)).find((f) => f.path === "/etc/airlock/airlock.env");
    if (file === undefined) {
        throw new Error("the user data has no /etc/airlock/airlock.env");
    }
    return file.content;
}
