/**
 * The first-boot path booted for real: a Debian 12 guest (test/vm/build-image.sh, cached per
 * machine) under QEMU with software emulation, user data from a NoCloud seed, the data volume as
 * an NVMe disk whose serial is the volume id (as on Nitro), the metadata service faked on the host
 * (test/support/fakeImds.ts) and AWS emulated by moto, both reached by the guest at 10.0.2.2. The
 * guest learns the volume id as an Airlock instance does, from its instance tag airlock:data-volume
 * in the metadata service, which the fake shows a few seconds late (as when Pulumi tags the
 * instance once the volume exists).
 *
 * Part of `npm test` (it needs root, a few minutes of CPU and a Debian mirror); `npm run test:quick`
 * leaves it out while you iterate. Only this file:
 *   npx jest test/vm.test.ts
 *   npx jest test/vm.test.ts -t "VM harness"       # the infrastructure only
 * The first run builds the image (a few minutes); later runs reuse it. Build log:
 * <tmpdir>/airlock-vm-build.log; AIRLOCK_VM_KEEP=1 keeps each VM's session directory (consoles,
 * overlay, seed) for a look afterwards.
 */
import { execFile, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { parse, stringify } from "yaml";
import { BootData, renderUserData } from "../cloud-init/render";
import { DATA_VOLUME_TAG, INSTANCE_ARN_TAG, MANAGED_TAG, keyObjectKey } from "../policies/keyNaming";
import { CapturedRequest, CapturingProxy, s3ObjectOf, startCapturingProxy } from "./support/capturingProxy";
import { FakeImds, startFakeImds } from "./support/fakeImds";
import { Moto, SeededInstance, awsCliPath, awsClientConfig, clientEnv, seedAirlockInstance, startMoto } from "./support/moto";
import { checkS3Signature } from "./support/sigv4Check";
import { Vm, VmImage, bootProblems, bootVm, ensureVmImage, tailLines } from "./support/vm";

const run = promisify(execFile);

const MINUTE = 60_000;
const VOLUME_ID = "vol-0123456789abcdef0";
const SERIAL = VOLUME_ID.replace("-", ""); // what Nitro reports as the NVMe serial
const REGION = "eu-west-1";
const CLOUD_INIT_FINISHED = /Cloud-init v\. \S+ finished at/;
const KMS_KEY_ARN = `arn:aws:kms:${REGION}:123456789012:key/0b7a6f0e-3c1d-4e5f-8a9b-0c1d2e3f4a5b`;
/** The request the after-unlock checks send first, so that the proxy's log tells the unlock's requests from theirs. */
const AFTER_UNLOCK_MARKER = "/airlock-vm-test-marker/after-unlock";

/**
 * The rendered user data plus a test-only unit, enabled at the first boot, that runs at the next boot
 * after airlock-unlock.service: the first boot again (it must reopen the volume with the stored key,
 * never re-key it), then the first boot with mount points the script must refuse (/proc/x, /etc),
 * each result on the console. The guest has no shell for the test to use; this is how it acts in it.
 */
function withChecksAfterUnlock(userData: string, markerUrl: string): string {
    const document = parse(userData) as { write_files: object[]; runcmd: unknown[] };
    const script = [
        "#!/bin/bash",
        "say() { printf 'airlock-vm-test: %s\\n' \"$*\" >/dev/console; }",
        `curl -s -o /dev/null --max-time 30 '${markerUrl}' || say "marker not sent"`,
        "bash /usr/local/sbin/airlock-boot first-boot; say \"rerun exit=$?\"",
        "for mp in /proc/x /etc; do",
        "    sed \"s|^AIRLOCK_MOUNT_POINT=.*|AIRLOCK_MOUNT_POINT='$mp'|\" /etc/airlock/airlock.env >/etc/airlock/vm-test.env",
        "    AIRLOCK_ENV_FILE=/etc/airlock/vm-test.env bash /usr/local/sbin/airlock-boot first-boot; say \"mount point $mp exit=$?\"",
        "done",
        "rm -f /etc/airlock/vm-test.env",
        "say 'after-unlock checks done'",
        "",
    ].join("\n");
    const unit = [
        "[Unit]",
        "Description=Airlock VM test: after the unlock, the first boot again and with forbidden mount points",
        "After=airlock-unlock.service",
        "[Service]",
        "Type=oneshot",
        "ExecStart=/bin/bash /usr/local/sbin/airlock-vm-test",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ].join("\n");
    document.write_files.push(
        { path: "/usr/local/sbin/airlock-vm-test", owner: "root:root", permissions: "0700", content: script },
        { path: "/etc/systemd/system/airlock-vm-test.service", owner: "root:root", permissions: "0644", content: unit },
    );
    document.runcmd.push(["systemctl", "enable", "airlock-vm-test.service"]);
    return `#cloud-config\n${stringify(document)}`;
}

/** Elapsed-time notes, printed at the end of each test. */
function stopwatch(): { lap(what: string): void; report(title: string): void } {
    const start = Date.now();
    let last = start;
    const laps: string[] = [];
    return {
        lap(what) {
            const now = Date.now();
            laps.push(`${what}: ${((now - last) / 1000).toFixed(1)} s (total ${((now - start) / 1000).toFixed(1)} s)`);
            last = now;
        },
        report(title) {
            console.log(`${title}\n  ${laps.join("\n  ")}`);
        },
    };
}

function blankDisk(dir: string, mib: number): string {
    const file = path.join(dir, "data.img");
    fs.writeFileSync(file, Buffer.alloc(0));
    fs.truncateSync(file, mib * 1024 * 1024);
    return file;
}

async function instanceTags(moto: Moto, instanceId: string): Promise<Record<string, string>> {
    const ec2 = new EC2Client(awsClientConfig(moto));
    try {
        const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
        const tags = out.Reservations?.[0]?.Instances?.[0]?.Tags ?? [];
        return Object.fromEntries(tags.map((t) => [t.Key ?? "", t.Value ?? ""]));
    } finally {
        ec2.destroy();
    }
}

/** The host's AWS CLI (the project's pinned one, .venv/bin/aws) against moto (the S3 SDK client is not a dependency of this project). */
async function hostAws(moto: Moto, args: string[]): Promise<string> {
    const { stdout } = await run(awsCliPath(), ["--endpoint-url", moto.endpoint, "--region", REGION, ...args], { env: clientEnv(moto), timeout: 60_000 });
    return stdout;
}

/** An object's bytes, read on the host (as a deployer would). */
async function hostReadObject(moto: Moto, bucket: string, key: string, dir: string): Promise<Buffer> {
    const file = path.join(dir, `object-${crypto.randomUUID()}.bin`);
    try {
        await hostAws(moto, ["s3api", "get-object", "--bucket", bucket, "--key", key, file]);
        return fs.readFileSync(file);
    } finally {
        fs.rmSync(file, { force: true });
    }
}

/** Exit status of `cryptsetup open --test-passphrase` with the given key material, on the host. */
function testPassphrase(dir: string, disk: string, material: Buffer): number | null {
    const keyFile = path.join(dir, `try-${crypto.randomUUID()}.bin`);
    fs.writeFileSync(keyFile, material, { mode: 0o600 });
    try {
        return spawnSync("cryptsetup", ["open", "--test-passphrase", "--key-file", keyFile, disk], { encoding: "utf8" }).status;
    } finally {
        fs.rmSync(keyFile, { force: true });
    }
}

describe("first boot in a Debian 12 VM under QEMU", () => {
    let image: VmImage;
    let moto: Moto;
    let work: string;
    const vms: Vm[] = [];
    const imdsServers: FakeImds[] = [];
    const proxies: CapturingProxy[] = [];

    beforeAll(async () => {
        const started = Date.now();
        image = await ensureVmImage();
        console.log(`VM image ${image.name} (kernel ${image.kernelVersion}) ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${image.dir}`);
        moto = await startMoto();
    }, 35 * MINUTE);

    beforeEach(() => {
        work = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-vmtest-"));
    });

    afterEach(async () => {
        for (const vm of vms.splice(0)) await vm.dispose();
        for (const imds of imdsServers.splice(0)) await imds.stop();
        for (const proxy of proxies.splice(0)) await proxy.stop();
        if (work) fs.rmSync(work, { recursive: true, force: true });
    }, 2 * MINUTE);

    afterAll(async () => {
        await moto?.stop();
    });

    it("VM harness: NoCloud user data runs, the NVMe serial is the volume id, the host's loopback is at 10.0.2.2, a reboot keeps the instance", async () => {
        const clock = stopwatch();
        const seeded: SeededInstance = await seedAirlockInstance(moto, { name: "vmtest-infra" });
        const imds = await startFakeImds({ instanceId: seeded.instanceId, region: REGION, roleName: seeded.roleName, privateIp: seeded.privateIp });
        imdsServers.push(imds);
        const nonce = crypto.randomBytes(6).toString("hex");
        const motoForGuest = `http://10.0.2.2:${moto.port}`;
        const userData =
            "#cloud-config\n" +
            stringify({
                // bootcmd runs on every boot, runcmd once per instance.
                bootcmd: [["sh", "-c", `echo "airlock-vm-test: bootcmd nonce=${nonce}"`]],
                runcmd: [
                    ["sh", "-c", `echo "airlock-vm-test: runcmd nonce=${nonce}"`],
                    ["sh", "-c", `echo "airlock-vm-test: nvme-serial=[$(tr -d ' ' </sys/class/nvme/nvme0/serial)]"`],
                    ["sh", "-c", `echo "airlock-vm-test: by-id=$(ls /dev/disk/by-id | grep -F ${SERIAL} | tr '\\n' ' ')"`],
                    [
                        "bash",
                        "-c",
                        `token=$(curl -sS -m 20 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' ${imds.guestEndpoint}/latest/api/token) && ` +
                            `echo "airlock-vm-test: imds instance-id=$(curl -sS -m 20 -H "X-aws-ec2-metadata-token: $token" ${imds.guestEndpoint}/latest/meta-data/instance-id)"`,
                    ],
                    [
                        "bash",
                        "-c",
                        // No credentials in the environment: the AWS CLI takes the role's from the (fake) metadata
                        // service. The trailing slash matters: Debian 12's AWS CLI (2.9.19) appends "latest/api/token"
                        // to the endpoint as it is ("http://10.0.2.2:1234latest/api/token" without it).
                        `AWS_EC2_METADATA_SERVICE_ENDPOINT=${imds.guestEndpoint}/ aws --endpoint-url ${motoForGuest} --region ${REGION} ` +
                            `ec2 create-tags --resources ${seeded.instanceId} --tags Key=airlock-vm-test,Value=${nonce} && echo "airlock-vm-test: create-tags ok"`,
                    ],
                    ["sh", "-c", `echo "airlock-vm-test: runcmd-done nonce=${nonce}"`],
                ],
            });
        const dataDisk = blankDisk(work, 64);

        const vm = await bootVm({ image, userData, metaData: { instanceId: seeded.instanceId }, dataDisk, dataDiskSerial: SERIAL, timeoutMs: 15 * MINUTE });
        vms.push(vm);
        clock.lap("QEMU started");
        await vm.waitFor(new RegExp(`airlock-vm-test: runcmd-done nonce=${nonce}`), 10 * MINUTE);
        clock.lap("first boot to the runcmd marker");
        await vm.waitFor(CLOUD_INIT_FINISHED, 3 * MINUTE);
        clock.lap("cloud-init finished");

        const first = vm.console();
        expect(first).toContain(`airlock-vm-test: runcmd nonce=${nonce}`);
        expect(first).toContain(`airlock-vm-test: bootcmd nonce=${nonce}`);
        expect(first).toContain(`airlock-vm-test: nvme-serial=[${SERIAL}]`);
        expect(first).toMatch(new RegExp(`airlock-vm-test: by-id=.*nvme-QEMU_NVMe_Ctrl_${SERIAL}\\b`));
        expect(first).toContain(`airlock-vm-test: imds instance-id=${seeded.instanceId}`);
        expect(first).toContain("airlock-vm-test: create-tags ok");
        expect(first).toContain("[seed=/dev/vdb]"); // cloud-init took the NoCloud seed
        expect(bootProblems(first)).toEqual([]);

        // The guest reached the host's 127.0.0.1 servers: the fake IMDS (curl, then the AWS CLI with IMDSv2) and moto.
        const requests = imds.requests;
        expect(requests).toContainEqual(expect.objectContaining({ method: "PUT", path: "/latest/api/token", status: 200, userAgent: expect.stringMatching(/^curl\//) }));
        expect(requests).toContainEqual(expect.objectContaining({ method: "GET", path: "/latest/meta-data/instance-id", tokenValid: true, status: 200 }));
        expect(requests).toContainEqual(
            expect.objectContaining({ method: "GET", path: `/latest/meta-data/iam/security-credentials/${seeded.roleName}`, tokenValid: true, status: 200, userAgent: expect.stringMatching(/aws-cli/) }),
        );
        expect(requests.every((r) => r.remoteAddress === "127.0.0.1" || r.remoteAddress === "::ffff:127.0.0.1")).toBe(true);
        expect(await instanceTags(moto, seeded.instanceId)).toEqual(expect.objectContaining({ "airlock-vm-test": nonce }));
        const createTags = (await moto.requests()).filter((r) => r.action === "CreateTags");
        expect(createTags.map((r) => r.accessKeyId)).toContain(imds.credentials.accessKeyId);

        await vm.shutdown();
        clock.lap("shutdown (ACPI power-off)");
        expect(vm.console()).toMatch(/reboot: Power down/);

        const again = await vm.reboot();
        vms.push(again);
        expect(again.session.overlay).toBe(vm.session.overlay);
        await again.waitFor(CLOUD_INIT_FINISHED, 10 * MINUTE);
        clock.lap("reboot to cloud-init finished");
        const second = again.console();
        expect(second).toContain(`airlock-vm-test: bootcmd nonce=${nonce}`); // per-boot modules ran
        expect(second).not.toContain("airlock-vm-test: runcmd"); // per-instance ones did not
        expect(bootProblems(second)).toEqual([]);
        await again.shutdown();
        clock.lap("second shutdown");
        clock.report("VM harness timings");
    }, 30 * MINUTE);

    it("boots the rendered Airlock user data: the key generated on the instance and stored once (signed as S3 checks it), LUKS2 on the NVMe data volume, bootstrap tag; after a reboot the unlock only reads, a rerun of the first boot reopens, forbidden mount points stop it", async () => {
        const clock = stopwatch();
        const seeded = await seedAirlockInstance(moto, { name: "vmtest-boot" });
        const bucketName = "airlock-keys-vmtest";
        const keyObject = keyObjectKey(seeded.instanceArn);
        await hostAws(moto, ["s3api", "create-bucket", "--bucket", bucketName, "--create-bucket-configuration", `LocationConstraint=${REGION}`]);
        // The data volume's id reaches the guest only as its instance tag, and only 5 s after the guest first asks for tags.
        const imds = await startFakeImds({
            instanceId: seeded.instanceId,
            region: REGION,
            roleName: seeded.roleName,
            privateIp: seeded.privateIp,
            instanceTags: { Name: "vmtest-1", [MANAGED_TAG]: "true", [DATA_VOLUME_TAG]: { value: VOLUME_ID, afterMs: 5_000, from: "first-read" } },
        });
        imdsServers.push(imds);
        const tagPath = `/latest/meta-data/tags/instance/${DATA_VOLUME_TAG}`;
        // The guest's AWS calls go through a recording proxy: what the instance sends, as sent.
        const proxy = await startCapturingProxy(moto.endpoint);
        proxies.push(proxy);

        // imdsEndpoint and awsEndpoint are BootData's test hooks (real instances use the defaults).
        const bootData: BootData = {
            instanceName: "vmtest-1",
            os: "debian12",
            region: REGION,
            bucketName,
            kmsKeyArn: KMS_KEY_ARN,
            mountPoint: "/data",
            imdsEndpoint: imds.guestEndpoint,
            awsEndpoint: proxy.guestEndpoint,
        };
        const userData = withChecksAfterUnlock(renderUserData(bootData), `${proxy.guestEndpoint}${AFTER_UNLOCK_MARKER}`);
        expect(userData).not.toContain(VOLUME_ID);
        const dataDisk = blankDisk(work, 1024);
        const signature = {
            accessKeyId: imds.credentials.accessKeyId,
            secretAccessKey: imds.credentials.secretAccessKey,
            region: REGION,
            bucket: bucketName,
            key: keyObject,
            endpoint: proxy.guestEndpoint,
        };
        const keyRequests = (method: string, requests: readonly CapturedRequest[] = proxy.requests) =>
            requests.filter((r) => r.method === method && s3ObjectOf(r.target)?.bucket === bucketName && s3ObjectOf(r.target)?.key === keyObject);

        const vm = await bootVm({ image, userData, metaData: { instanceId: seeded.instanceId }, dataDisk, dataDiskSerial: SERIAL, timeoutMs: 40 * MINUTE });
        vms.push(vm);
        const done = await vm.waitFor(/airlock-boot: done status=\S+.*/, 30 * MINUTE);
        clock.lap("first boot to `airlock-boot: done`");
        if (!/status=success/.test(done)) {
            throw new Error(`The boot script reported: ${done}\n--- airlock-boot lines ---\n${vm.console().split("\n").filter((l) => /airlock-(boot|harden|unlock):/.test(l)).join("\n")}\n--- console tail ---\n${tailLines(vm.console(), 40)}`);
        }
        await vm.waitFor(CLOUD_INIT_FINISHED, 5 * MINUTE);
        clock.lap("cloud-init finished");
        expect(bootProblems(vm.console())).toEqual([]);
        // Data lands on the LUKS volume: before signalling, the script checked that what is mounted
        // exactly at /data is the opened mapping, and that the mapping is LUKS2 on the NVMe device
        // whose serial is the volume id; only then "mounted".
        const verified = new RegExp(
            `airlock-boot: verified: /data is /dev/mapper/airlock-data \\(\\d+:\\d+, ext4\\), LUKS2 on the data volume ${VOLUME_ID} \\(/dev/nvme\\d+n1\\)`,
        );
        const firstConsole = vm.console();
        expect(firstConsole).toMatch(verified);
        expect(firstConsole.search(verified)).toBeLessThan(firstConsole.indexOf("airlock-boot: mounted /data"));
        // The key was made on the instance and stored before anything was formatted.
        expect(firstConsole).toContain(`airlock-boot: key generated on this instance and stored once as s3://${bucketName}/${keyObject}`);
        expect(firstConsole.indexOf("key generated on this instance")).toBeLessThan(firstConsole.indexOf("blank device: creating a LUKS2 header"));

        expect(await instanceTags(moto, seeded.instanceId)).toEqual(expect.objectContaining({ "airlock:bootstrap": "success" }));
        const requests = imds.requests;
        expect(requests).toContainEqual(expect.objectContaining({ method: "PUT", path: "/latest/api/token", status: 200 }));
        for (const p of ["meta-data/instance-id", "meta-data/services/partition", "meta-data/services/domain", "dynamic/instance-identity/document", `meta-data/iam/security-credentials/${seeded.roleName}`]) {
            expect(requests).toContainEqual(expect.objectContaining({ method: "GET", path: `/latest/${p}`, tokenValid: true, status: 200 }));
        }
        expect(requests.filter((r) => r.method === "GET" && r.status === 200).every((r) => r.tokenValid)).toBe(true);
        expect(requests.some((r) => r.status === 401)).toBe(false);
        // The volume id from the instance tag: not there at first (404, the key list answering), waited for, then read.
        const tagReads = requests.filter((r) => r.path === tagPath);
        expect(tagReads[0]).toEqual(expect.objectContaining({ method: "GET", status: 404, tokenValid: true }));
        expect(tagReads[tagReads.length - 1]).toEqual(expect.objectContaining({ method: "GET", status: 200, tokenValid: true }));
        expect(tagReads.filter((r) => r.status === 200)).toHaveLength(1);
        expect(requests).toContainEqual(expect.objectContaining({ method: "GET", path: "/latest/meta-data/tags/instance", status: 200, tokenValid: true }));
        expect(firstConsole).toContain(`airlock-boot: data volume not known yet (attempt 1/16): tag ${DATA_VOLUME_TAG} not set yet`);
        expect(firstConsole).toContain(`airlock-boot: data volume ${VOLUME_ID} (instance tag ${DATA_VOLUME_TAG})`);
        expect(firstConsole.indexOf(`airlock-boot: data volume ${VOLUME_ID}`)).toBeLessThan(firstConsole.indexOf("key generated on this instance"));

        // Stored once: one write-once PUT from the guest's curl (Debian 12: curl 7.88, python3 3.11),
        // SSE-KMS under the vault key, tagged with the instance's ARN, signed as S3 checks it.
        const [put, ...morePuts] = keyRequests("PUT");
        expect(morePuts).toEqual([]);
        expect(put).toEqual(
            expect.objectContaining({
                status: 200,
                headers: expect.objectContaining({
                    "if-none-match": "*",
                    "x-amz-server-side-encryption": "aws:kms",
                    "x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY_ARN,
                    "x-amz-tagging": `${encodeURIComponent(INSTANCE_ARN_TAG)}=${encodeURIComponent(seeded.instanceArn)}`,
                    "user-agent": expect.stringMatching(/^curl\//),
                }),
            }),
        );
        expect(checkS3Signature(put!, signature).problems).toEqual([]);
        const key = await hostReadObject(moto, bucketName, keyObject, work);
        expect(key).toHaveLength(64);
        expect(key.equals(put!.body)).toBe(true);
        expect(JSON.parse(await hostAws(moto, ["s3api", "head-object", "--bucket", bucketName, "--key", keyObject]))).toEqual(
            expect.objectContaining({ ServerSideEncryption: "aws:kms", SSEKMSKeyId: KMS_KEY_ARN }),
        );
        expect(JSON.parse(await hostAws(moto, ["s3api", "get-object-tagging", "--bucket", bucketName, "--key", keyObject])).TagSet).toEqual([
            { Key: INSTANCE_ARN_TAG, Value: seeded.instanceArn },
        ]);
        // Write-once holds from anywhere: a second PUT with If-None-Match (from the host) is refused with 412.
        const other = path.join(work, "other.bin");
        fs.writeFileSync(other, crypto.randomBytes(64), { mode: 0o600 });
        const second = await hostAws(moto, ["s3api", "put-object", "--bucket", bucketName, "--key", keyObject, "--body", other, "--if-none-match", "*"]).then(
            () => "stored",
            (error: Error) => error.message,
        );
        expect(second).toMatch(/\(PreconditionFailed\)|\(412\)/);
        expect((await hostReadObject(moto, bucketName, keyObject, work)).equals(key)).toBe(true);

        await vm.shutdown();
        clock.lap("shutdown");
        // On the host: a LUKS2 header that opens with exactly the key the instance stored.
        const dump = await run("cryptsetup", ["luksDump", dataDisk]);
        expect(dump.stdout).toMatch(/^Version:\s*2$/m);
        expect(testPassphrase(work, dataDisk, key)).toBe(0);
        expect(testPassphrase(work, dataDisk, crypto.randomBytes(64))).not.toBe(0);
        const uuid = (await run("cryptsetup", ["luksUUID", dataDisk])).stdout.trim();

        proxy.clear();
        const again = await vm.reboot();
        vms.push(again);
        await again.waitFor(/airlock-unlock: mounted \/data/, 20 * MINUTE);
        clock.lap("reboot to `airlock-unlock: mounted /data`");
        // The unlock reads the tag again (there now), and verifies the mount at every boot too.
        expect(again.console()).toContain(`airlock-unlock: data volume ${VOLUME_ID} (instance tag ${DATA_VOLUME_TAG})`);
        expect(again.console()).toMatch(new RegExp(`airlock-unlock: verified: /data is /dev/mapper/airlock-data \\(\\d+:\\d+, ext4\\), LUKS2 on the data volume ${VOLUME_ID}`));
        await again.waitFor(/airlock-vm-test: after-unlock checks done/, 15 * MINUTE);
        clock.lap("rerun of the first boot and forbidden mount points");
        await again.waitFor(CLOUD_INIT_FINISHED, 10 * MINUTE);
        const secondConsole = again.console();
        // No second per-instance run: the hardening (runcmd) ran at the first boot only.
        expect(firstConsole).toContain("airlock-harden:");
        expect(secondConsole).not.toContain("airlock-harden:");
        expect(bootProblems(secondConsole)).toEqual([]);

        // The unlock only read the key: until the checks' marker, a GET and no write at all.
        const marker = proxy.requests.findIndex((r) => r.target === AFTER_UNLOCK_MARKER);
        expect(marker).toBeGreaterThan(0);
        const byUnlock = proxy.requests.slice(0, marker);
        expect(keyRequests("GET", byUnlock).map((r) => r.status)).toEqual([200]);
        expect(byUnlock.filter((r) => r.method !== "GET")).toEqual([]);
        expect(secondConsole).toContain("airlock-unlock: key fetched (64 bytes");

        // A rerun of the first boot: its write-once PUT gets 412, it reads the stored key and opens the volume, never re-keys.
        const byRerun = proxy.requests.slice(marker + 1);
        const rerunPuts = keyRequests("PUT", byRerun);
        expect(rerunPuts.map((r) => [r.status, r.headers["if-none-match"]])).toEqual([[412, "*"]]);
        expect(checkS3Signature(rerunPuts[0]!, signature).problems).toEqual([]);
        expect(secondConsole).toContain("airlock-boot: key object already stored by an earlier first boot: discarding the generated key and reading the stored one");
        expect(secondConsole).toContain("airlock-boot: LUKS header present: opening, never reformatting");
        expect(secondConsole).toContain("airlock-vm-test: rerun exit=0");

        // Forbidden mount points stop the bootstrap with a reason, before a key is made (no more PUTs).
        for (const [mountPoint, problem] of [
            ["/proc/x", "is on a pseudo-filesystem: not the encrypted volume"],
            ["/etc", "is a system or scratch or home directory: the volume would hide or lose what is there"],
        ] as const) {
            expect(secondConsole).toContain(`airlock-boot: done status=failure reason=mount: ${mountPoint} ${problem}`);
            expect(secondConsole).toContain(`airlock-vm-test: mount point ${mountPoint} exit=1`);
        }
        expect(await instanceTags(moto, seeded.instanceId)).toEqual(
            expect.objectContaining({ "airlock:bootstrap": "failure", "airlock:bootstrap-reason": "mount: /etc is a system or scratch or home directory: the volume would hide or lose what is there" }),
        );
        expect((await hostReadObject(moto, bucketName, keyObject, work)).equals(key)).toBe(true);

        await again.shutdown();
        clock.lap("second shutdown");
        // Same header (not reformatted, not re-keyed), still opened by the stored key; the key never on a console.
        expect((await run("cryptsetup", ["luksUUID", dataDisk])).stdout.trim()).toBe(uuid);
        expect(testPassphrase(work, dataDisk, key)).toBe(0);
        for (const text of [firstConsole, secondConsole]) {
            for (const encoded of [key.toString("base64"), key.toString("hex")]) expect(text).not.toContain(encoded);
            expect(text).not.toContain(imds.credentials.secretAccessKey);
            expect(text).not.toContain(imds.credentials.token);
        }
        clock.report("Airlock first-boot timings");
    }, 60 * MINUTE);
});
