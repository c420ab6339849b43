import { execFileSync } from "child_process";
import * as fs from "fs";
import * as zlib from "zlib";
import { parse } from "yaml";
import { BOOT_SCRIPT_PATH, BootData, HARDEN_SCRIPT_PATH, IMDS_TAG_KEY_PATTERN, USER_DATA_LIMIT_BYTES, bootPackages, renderUserData, shellQuote } from "../cloud-init/render";
import { OPERATING_SYSTEMS } from "../config/schema";
import { BOOTSTRAP_REASON_TAG, BOOTSTRAP_STATUS_TAG, DATA_VOLUME_TAG, INSTANCE_ARN_TAG, KEY_PREFIX } from "../policies/keyNaming";

const data: BootData = {
    instanceName: "web-1",
    os: "al2023",
    region: "eu-west-1",
    bucketName: "airlock-keys-abc1234",
    kmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:key/0b7a6f0e-3c1d-4e5f-8a9b-0c1d2e3f4a5b",
    mountPoint: "/data",
};

/** Reads the env file the template writes, the way a shell would after `set -a; . file`. */
function envFile(userData: string): Record<string, string> {
    const document = parse(userData) as { write_files: Array<{ path: string; content: string; permissions: string }> };
    const file = document.write_files.find((f) => f.path === "/etc/airlock/airlock.env");
    const entries = (file?.content ?? "").trim().split("\n").map((line) => {
        const [key, quoted] = [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)];
        return [key, quoted.replace(/^'|'$/g, "").replace(/'\\''/g, "'")];
    });
    return Object.fromEntries(entries);
}

describe("renderUserData", () => {
    it.each(OPERATING_SYSTEMS)("renders valid #cloud-config YAML for %s", (os) => {
        const userData = renderUserData({ ...data, os });
        expect(userData.startsWith("#cloud-config\n")).toBe(true);
        const document = parse(userData);
        expect(document).toEqual(expect.objectContaining({ package_update: true, package_upgrade: true, packages: bootPackages(os) }));
    });

    it("writes the instance's settings to a root-only env file, each value shell-quoted", () => {
        const userData = renderUserData(data);
        expect(envFile(userData)).toEqual({
            AIRLOCK_INSTANCE_NAME: "web-1",
            AIRLOCK_REGION: "eu-west-1",
            AIRLOCK_KEY_BUCKET: "airlock-keys-abc1234",
            AIRLOCK_KEY_PREFIX: KEY_PREFIX,
            AIRLOCK_KMS_KEY_ARN: "arn:aws:kms:eu-west-1:123456789012:key/0b7a6f0e-3c1d-4e5f-8a9b-0c1d2e3f4a5b",
            AIRLOCK_DATA_VOLUME_TAG: DATA_VOLUME_TAG,
            AIRLOCK_MOUNT_POINT: "/data",
            AIRLOCK_OS: "al2023",
            AIRLOCK_SSH: "key-only",
            AIRLOCK_IMDS_ENDPOINT: "http://169.254.169.254",
        });
        const document = parse(userData) as { write_files: Array<{ permissions: string; owner: string }> };
        expect(document.write_files[0]).toEqual(expect.objectContaining({ permissions: "0600", owner: "root:root" }));
    });

    it("carries no key material (the instance makes its key): its only encoded content is cloud-init/'s scripts, byte for byte", () => {
        const document = parse(renderUserData(data)) as { write_files: Array<{ path: string; content: string; encoding?: string }> };
        const encoded = document.write_files.filter((f) => f.encoding !== undefined);
        expect(encoded.map((f) => [f.path, f.encoding])).toEqual([
            ["/usr/local/sbin/airlock-harden", "gz+b64"],
            ["/usr/local/sbin/airlock-boot", "gz+b64"],
        ]);
        const decoded = encoded.map((f) => zlib.gunzipSync(Buffer.from(f.content, "base64")));
        expect(decoded[0]!.equals(fs.readFileSync(HARDEN_SCRIPT_PATH))).toBe(true);
        expect(decoded[1]!.equals(fs.readFileSync(BOOT_SCRIPT_PATH))).toBe(true);
        const plain = document.write_files.filter((f) => f.encoding === undefined).map((f) => f.content).join("\n");
        expect(plain).not.toMatch(/[A-Za-z0-9+/]{40,}={0,2}/);
    });

    it("the boot script names the tags and the key object as policies/keyNaming.ts does (the bucket and launch policies depend on them)", () => {
        const script = fs.readFileSync(BOOT_SCRIPT_PATH, "utf8");
        expect(script).toContain(`INSTANCE_ARN_TAG="${INSTANCE_ARN_TAG}"`);
        expect(script).toContain(`KEY_OBJECT="$AIRLOCK_KEY_PREFIX$INSTANCE_ARN"`);
        expect(script).toContain(`"Key=${BOOTSTRAP_STATUS_TAG},Value=$status" "Key=${BOOTSTRAP_REASON_TAG},Value=$reason"`);
    });

    it("names the data volume's tag from policies/keyNaming.ts (the component sets it), never the volume: the volume is made after the instance", () => {
        const userData = renderUserData(data);
        expect(envFile(userData).AIRLOCK_DATA_VOLUME_TAG).toBe("airlock:data-volume");
        expect(userData).toContain(`AIRLOCK_DATA_VOLUME_TAG='${DATA_VOLUME_TAG}'`);
        expect(userData).not.toMatch(/vol-[0-9a-f]|AIRLOCK_DATA_VOLUME_ID/);
        // The boot script takes the key from the env file only, and reads it from IMDSv2 as it is.
        const script = fs.readFileSync(BOOT_SCRIPT_PATH, "utf8");
        expect(script).not.toContain(DATA_VOLUME_TAG);
        expect(script).toContain(`imds_fetch "meta-data/tags/instance/$AIRLOCK_DATA_VOLUME_TAG"`);
        expect(script).not.toContain("AIRLOCK_DATA_VOLUME_ID");
    });

    it("the data volume tag is a key the instance metadata service shows (EC2 refuses others once instanceMetadataTags is enabled), and the script's check agrees", () => {
        expect(DATA_VOLUME_TAG).toMatch(IMDS_TAG_KEY_PATTERN);
        for (const bad of ["a b", "a/b", ".", "..", "_index", "", "x".repeat(129), "a\nb", "é"]) expect(bad).not.toMatch(IMDS_TAG_KEY_PATTERN);
        for (const good of ["Name", "airlock:data-volume", "a+b=c.d,e_f:g@h-i", "x".repeat(128)]) expect(good).toMatch(IMDS_TAG_KEY_PATTERN);
        expect(fs.readFileSync(BOOT_SCRIPT_PATH, "utf8")).toContain('[[ "$AIRLOCK_DATA_VOLUME_TAG" =~ ^[A-Za-z0-9+=.,_:@-]{1,128}$ ]]');
    });

    it.each([
        ["arn:aws:kms:eu-west-1:123456789012:key/0b7a6f0e-3c1d-4e5f-8a9b-0c1d2e3f4a5b", "eu-west-1"],
        ["arn:aws:kms:eu-west-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef", "eu-west-1"],
        ["arn:aws-cn:kms:cn-north-1:123456789012:key/0b7a6f0e-3c1d-4e5f-8a9b-0c1d2e3f4a5b", "cn-north-1"],
        ["arn:aws-us-gov:kms:us-gov-west-1:123456789012:key/0b7a6f0e-3c1d-4e5f-8a9b-0c1d2e3f4a5b", "us-gov-west-1"],
    ])("accepts the KMS key ARN %s (region %s)", (kmsKeyArn, region) => {
        expect(envFile(renderUserData({ ...data, region, kmsKeyArn })).AIRLOCK_KMS_KEY_ARN).toBe(kmsKeyArn);
    });

    it("refuses a vault KMS key in another region than the bucket's, naming the field", () => {
        const kmsKeyArn = "arn:aws:kms:us-east-1:123456789012:key/0b7a6f0e-3c1d-4e5f-8a9b-0c1d2e3f4a5b";
        expect(() => renderUserData({ ...data, kmsKeyArn })).toThrow(
            `Cannot render user data: \`kmsKeyArn\` ${JSON.stringify(kmsKeyArn)} is a key in us-east-1, not in \`region\` eu-west-1`,
        );
    });

    it.each<[keyof BootData, string]>([
        ["mountPoint", "/data'; rm -rf / #"],
        ["mountPoint", "/data\nruncmd: [reboot]"],
        ["mountPoint", "/data/$(id)"],
        ["kmsKeyArn", "arn:aws:kms:eu-west-1:123456789012:alias/airlock"],
        ["kmsKeyArn", "0b7a6f0e-3c1d-4e5f-8a9b-0c1d2e3f4a5b"],
        ["kmsKeyArn", "arn:aws:kms:eu-west-1:123456789012:key/0b7a6f0e-3c1d-4e5f-8a9b-0c1d2e3f4a5b'; reboot #"],
        ["kmsKeyArn", "arn:aws:kms:eu-west-1:12345678901:key/0b7a6f0e-3c1d-4e5f-8a9b-0c1d2e3f4a5b"],
        ["kmsKeyArn", "arn:aws:kms:eu-west-1:123456789012:key/mrk-0123"],
        ["kmsKeyArn", "arn:aws:s3:eu-west-1:123456789012:key/0b7a6f0e-3c1d-4e5f-8a9b-0c1d2e3f4a5b"],
        ["bucketName", "Airlock_Keys"],
        ["region", "eu-west-1; reboot"],
        ["instanceName", "web-1\n"],
        ["awsEndpoint", "http://10.0.2.2:5000; reboot"],
        ["imdsEndpoint", "file:///etc/passwd"],
        ["ssh", "password"],
    ])("refuses an unsafe %s (%j), naming the field", (field, value) => {
        expect(() => renderUserData({ ...data, [field]: value })).toThrow(`Cannot render user data: \`${field}\` ${JSON.stringify(value)} is not a valid value.`);
    });

    it("refuses to render user data over 16 KB", () => {
        expect(() => renderUserData(data, `#cloud-config\n# ${"x".repeat(USER_DATA_LIMIT_BYTES)}\n`)).toThrow(
            `User data for web-1 is ${USER_DATA_LIMIT_BYTES + 17} bytes; EC2 accepts at most ${USER_DATA_LIMIT_BYTES}.`,
        );
    });
});

describe("shellQuote", () => {
    it.each([
        ["plain", "'plain'"],
        ["it's", "'it'\\''s'"],
        ["$(id) `id` $HOME", "'$(id) `id` $HOME'"],
        ["", "''"],
    ])("%j → %s, which a real shell reads back unchanged", (value, quoted) => {
        expect(shellQuote(value)).toBe(quoted);
        expect(execFileSync("sh", ["-c", `printf %s ${quoted}`], { encoding: "utf8" })).toBe(value);
    });
});
