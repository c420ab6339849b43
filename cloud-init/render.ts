import * as fs from "fs";
import Mustache from "mustache";
import * as path from "path";
import { OperatingSystem, SshAccess } from "../config/schema";
import { REGION_PATTERN } from "../providers/promotionInputs";

/** EC2 refuses user data above 16 KB (before base64). */
export const USER_DATA_LIMIT_BYTES = 16 * 1024;

export interface BootData {
    readonly instanceName: string;
    readonly os: OperatingSystem;
    readonly region: string;
    readonly bucketName: string;
    readonly keyObjectKey: string;
    readonly volumeId: string;
    readonly mountPoint: string;
    /** sshd with keys only, or no sshd at all (SSM Session Manager only). @default "key-only" */
    readonly ssh?: SshAccess;
    /** Instance metadata service. @default "http://169.254.169.254" (tests point it at a fake) */
    readonly imdsEndpoint?: string;
    /** AWS endpoint for the boot script's AWS CLI calls. @default none: the real AWS endpoints */
    readonly awsEndpoint?: string;
}

/** Packages the first boot needs beyond the base image, per OS family. */
export function bootPackages(os: OperatingSystem): string[] {
    switch (os) {
        case "al2023":
            // The AWS CLI and audit ship with the image.
            return ["cryptsetup", "dnf-automatic"];
        case "debian12":
        case "ubuntu2204":
            return ["cryptsetup", "awscli", "auditd", "unattended-upgrades", "curl"];
        case "ubuntu2404":
            // noble's archive has no awscli package: the first boot installs the snap instead.
            return ["cryptsetup", "auditd", "unattended-upgrades", "curl"];
    }
}

/** POSIX single-quoting: the value is taken literally by any sh-compatible shell. */
export function shellQuote(value: string): string {
    return `'${value.replace(/'/g, `'\\''`)}'`;
}

// Values end up inside a YAML block scalar and a shell env file. Each is validated strictly here
// so that nothing a config author types can change the document's structure or run code.
const PATTERNS: Readonly<Record<"instanceName" | "region" | "bucketName" | "keyObjectKey" | "volumeId" | "mountPoint", RegExp>> = {
    instanceName: /^[a-z][a-z0-9-]{0,31}$/,
    region: REGION_PATTERN,
    bucketName: /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    keyObjectKey: /^[A-Za-z0-9!_.*'()\/-]{1,1024}$/,
    volumeId: /^vol-[0-9a-f]{8,17}$/,
    mountPoint: /^\/[A-Za-z0-9._\/-]{1,200}$/,
};

const TEMPLATE_PATH = path.join(__dirname, "user-data.yaml.mustache");
const BOOT_SCRIPT_PATH = path.join(__dirname, "airlock-boot.sh");
const HARDEN_SCRIPT_PATH = path.join(__dirname, "airlock-harden.sh");
const UNLOCK_UNIT_PATH = path.join(__dirname, "airlock-unlock.service");
const ENDPOINT = /^https?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?$/;

/**
 * A script's lines indented for a YAML block scalar under `content: |`, without its comment-only
 * lines (shellcheck directives stay) and blank lines: the commented source is in cloud-init/, and
 * user data is capped at 16 KB.
 */
function indented(file: string, spaces = 6): string {
    const pad = " ".repeat(spaces);
    return fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((line, i) => (i === 0 || !/^\s*#/.test(line) || /^\s*# shellcheck /.test(line)) && line.trim() !== "")
        .map((line) => pad + line)
        .join("\n");
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
        keyObjectQuoted: shellQuote(data.keyObjectKey),
        volumeIdQuoted: shellQuote(data.volumeId),
        mountPointQuoted: shellQuote(data.mountPoint),
        osQuoted: shellQuote(data.os),
        sshQuoted: shellQuote(ssh),
        imdsEndpointQuoted: shellQuote(data.imdsEndpoint ?? "http://169.254.169.254"),
        awsEndpointQuoted: data.awsEndpoint === undefined ? undefined : shellQuote(data.awsEndpoint),
        installAwsCli: data.os === "ubuntu2404",
        bootScript: indented(BOOT_SCRIPT_PATH),
        hardenScript: indented(HARDEN_SCRIPT_PATH),
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
