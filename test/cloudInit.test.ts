import { execFileSync } from "child_process";
import { parse } from "yaml";
import { BootData, USER_DATA_LIMIT_BYTES, bootPackages, renderUserData, shellQuote } from "../cloud-init/render";
import { OPERATING_SYSTEMS } from "../config/schema";

const data: BootData = {
    instanceName: "web-1",
    os: "al2023",
    region: "eu-west-1",
    bucketName: "airlock-keys-abc1234",
    keyObjectKey: "keys/web-1.key",
    volumeId: "vol-0123456789abcdef0",
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
            AIRLOCK_KEY_OBJECT: "keys/web-1.key",
            AIRLOCK_DATA_VOLUME_ID: "vol-0123456789abcdef0",
            AIRLOCK_MOUNT_POINT: "/data",
            AIRLOCK_OS: "al2023",
            AIRLOCK_SSH: "key-only",
            AIRLOCK_IMDS_ENDPOINT: "http://169.254.169.254",
        });
        const document = parse(userData) as { write_files: Array<{ permissions: string; owner: string }> };
        expect(document.write_files[0]).toEqual(expect.objectContaining({ permissions: "0600", owner: "root:root" }));
    });

    it("contains no key material: the key is fetched at boot, never carried in user data", () => {
        const userData = renderUserData(data);
        expect(userData).not.toMatch(/[A-Za-z0-9+/]{80,}={0,2}/);
    });

    it.each<[keyof BootData, string]>([
        ["mountPoint", "/data'; rm -rf / #"],
        ["mountPoint", "/data\nruncmd: [reboot]"],
        ["mountPoint", "/data/$(id)"],
        ["keyObjectKey", "keys/web 1.key"],
        ["bucketName", "Airlock_Keys"],
        ["volumeId", "vol-xyz"],
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
