import * as fs from "fs";
import Mustache from "mustache";
import * as path from "path";
import * as zlib from "zlib";
import { OperatingSystem, SshAccess } from "../config/schema";
import { DATA_VOLUME_TAG, KEY_PREFIX } from "../policies/keyNaming";
import { REGION_PATTERN } from "../providers/promotionInputs";

/** EC2 refuses user data above 16 KB (before base64). */
export const USER_DATA_LIMIT_BYTES = 16 * 1024;

export interface BootData {
    readonly instanceName: string;
    readonly os: OperatingSystem;
    readonly region: string;
    readonly bucketName: string;
    /**
     * The vault's KMS key (in `region`). The first boot stores the key it generates under it
     * (SSE-KMS), in the object `keys/<instance ARN>` that the instance names from its metadata.
     */
    readonly kmsKeyArn: string;
    // No data volume id: the volume is made after the instance (and replaced with it), and the
    // first boot reads its id from the instance's DATA_VOLUME_TAG in the metadata service.
    readonly mountPoint: string;
    /** sshd with keys only, or no sshd at all (SSM Session Manager only). @default "key-only" */
    readonly ssh?: SshAccess;
    /** Instance metadata service. @default "http://169.254.169.254" (tests point it at a fake) */
    readonly imdsEndpoint?: string;
    /** AWS endpoint for the boot script's AWS calls (path-style S3). @default none: the real AWS endpoints */
    readonly awsEndpoint?: string;
}

/** Packages the first boot needs beyond the base image, per OS family. */
export function bootPackages(os: OperatingSystem): string[] {
    switch (os) {
        case "al2023":
            // The AWS CLI, audit and curl (curl-minimal, which the package "curl" would conflict
            // with) ship with the image; python3 too (dnf and cloud-init are Python), named here
            // because the boot script needs it.
            return ["cryptsetup", "dnf-automatic", "python3"];
        case "debian12":
        case "ubuntu2204":
            return ["cryptsetup", "awscli", "auditd", "unattended-upgrades", "curl", "python3"];
        case "ubuntu2404":
            // noble's archive has no awscli package: the first boot installs the snap instead.
            return ["cryptsetup", "auditd", "unattended-upgrades", "curl", "python3"];
    }
}

/** POSIX single-quoting: the value is taken literally by any sh-compatible shell. */
export function shellQuote(value: string): string {
    return `'${value.replace(/'/g, `'\\''`)}'`;
}

// Values end up inside a YAML block scalar and a shell env file. Each is validated strictly here
// so that nothing a config author types can change the document's structure or run code.
const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
/** A KMS key ARN (not an alias): key id a UUID, or a multi-Region key's mrk-…; group 1 is the region. */
export const KMS_KEY_ARN_PATTERN = new RegExp(`^arn:aws(?:-cn|-us-gov)?:kms:(${REGION_PATTERN.source.slice(1, -1)}):\\d{12}:key/(?:${UUID}|mrk-[0-9a-f]{32})$`);
const PATTERNS: Readonly<Record<"instanceName" | "region" | "bucketName" | "kmsKeyArn" | "mountPoint", RegExp>> = {
    instanceName: /^[a-z][a-z0-9-]{0,31}$/,
    region: REGION_PATTERN,
    bucketName: /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    kmsKeyArn: KMS_KEY_ARN_PATTERN,
    mountPoint: /^\/[A-Za-z0-9._\/-]{1,200}$/,
};

/**
 * A tag key the instance metadata service shows under meta-data/tags/instance/<key> (EC2 refuses
 * other keys on an instance whose metadata shows its tags): letters, digits and + - = . , _ : @,
 * never only "." or ".." or "_index". The boot script puts DATA_VOLUME_TAG in a URL path as it is
 * (test/cloudInit.test.ts checks it against this).
 */
export const IMDS_TAG_KEY_PATTERN = /^(?!\.{1,2}$|_index$)[A-Za-z0-9+=.,_:@-]{1,128}$/;

const TEMPLATE_PATH = path.join(__dirname, "user-data.yaml.mustache");
export const BOOT_SCRIPT_PATH = path.join(__dirname, "airlock-boot.sh");
export const HARDEN_SCRIPT_PATH = path.join(__dirname, "airlock-harden.sh");
const UNLOCK_UNIT_PATH = path.join(__dirname, "airlock-unlock.service");
const ENDPOINT = /^https?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?$/;

/**
 * A file's lines indented for a YAML block scalar under `content: |`, without its comment-only
 * lines and blank lines (for the unit file, which is small and best read as it is).
 */
function indented(file: string, spaces = 6): string {
    const pad = " ".repeat(spaces);
    return fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((line) => !/^\s*#/.test(line) && line.trim() !== "")
        .map((line) => pad + line)
        .join("\n");
}

/**
 * A script for write_files with `encoding: gz+b64`, in 76-character lines under `content: |`
 * (cloud-init's base64 decoding skips the line breaks). Compressed, the scripts go to the
 * instance byte for byte as they are in cloud-init/, comments included (what the tests run is
 * what the instance runs), and still fit in EC2's 16 KB.
 */
export function packedScript(file: string, spaces = 6): string {
    const encoded = zlib.gzipSync(fs.readFileSync(file), { level: 9 }).toString("base64");
    return (encoded.match(/.{1,76}/g) ?? []).map((line) => " ".repeat(spaces) + line).join("\n");
}

/**
 * Renders the instance's `#cloud-config` user data. Throws, naming the field, when a value is not
 * safe to embed, and when the result would exceed EC2's 16 KB limit.
 */
export function renderUserData(data: BootData, template: string = fs.readFileSync(TEMPLATE_PATH, "utf8")): string {
    for (const [field, pattern] of Object.entries(PATTERNS) as Array<[keyof typeof PATTERNS, RegExp]>) {
        if (!pattern.test(data[field])) {
            throw new Error(`Cannot render user data: \`${field}\` ${JSON.stringify(data[field])} is not a valid value.`);
        }
    }
    const kmsRegion = KMS_KEY_ARN_PATTERN.exec(data.kmsKeyArn)?.[1];
    if (kmsRegion !== data.region) {
        throw new Error(
            `Cannot render user data: \`kmsKeyArn\` ${JSON.stringify(data.kmsKeyArn)} is a key in ${kmsRegion}, not in \`region\` ${data.region}: S3 encrypts the key object (SSE-KMS) only with a key in the vault bucket's region.`,
        );
    }
    for (const field of ["imdsEndpoint", "awsEndpoint"] as const) {
        const value = data[field];
        if (value !== undefined && !ENDPOINT.test(value)) {
            throw new Error(`Cannot render user data: \`${field}\` ${JSON.stringify(value)} is not a valid value.`);
        }
    }
    const ssh = data.ssh ?? "key-only";
    if (ssh !== "key-only" && ssh !== "disabled") {
        throw new Error(`Cannot render user data: \`ssh\` ${JSON.stringify(ssh)} is not a valid value.`);
    }
    const view = {
        instanceName: data.instanceName,
        os: data.os,
        packages: bootPackages(data.os),
        instanceNameQuoted: shellQuote(data.instanceName),
        regionQuoted: shellQuote(data.region),
        bucketQuoted: shellQuote(data.bucketName),
        kmsKeyArnQuoted: shellQuote(data.kmsKeyArn),
        keyPrefixQuoted: shellQuote(KEY_PREFIX),
        dataVolumeTagQuoted: shellQuote(DATA_VOLUME_TAG),
        mountPointQuoted: shellQuote(data.mountPoint),
        osQuoted: shellQuote(data.os),
        sshQuoted: shellQuote(ssh),
        imdsEndpointQuoted: shellQuote(data.imdsEndpoint ?? "http://169.254.169.254"),
        awsEndpointQuoted: data.awsEndpoint === undefined ? undefined : shellQuote(data.awsEndpoint),
        installAwsCli: data.os === "ubuntu2404",
        bootScript: packedScript(BOOT_SCRIPT_PATH),
        hardenScript: packedScript(HARDEN_SCRIPT_PATH),
        unlockUnit: indented(UNLOCK_UNIT_PATH),
    };
    // No HTML escaping: the output is YAML, and every value is validated and quoted above.
    const rendered = Mustache.render(template, view, {}, { escape: (text: string) => text });
    const size = Buffer.byteLength(rendered, "utf8");
    if (size > USER_DATA_LIMIT_BYTES) {
        throw new Error(`User data for ${data.instanceName} is ${size} bytes; EC2 accepts at most ${USER_DATA_LIMIT_BYTES}.`);
    }
    return rendered;
}
