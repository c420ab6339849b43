import * as fs from "fs";
import Mustache from "mustache";
import * as path from "path";
import { OperatingSystem } from "../config/schema";

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
}

/** Packages the first boot needs beyond the base image, per OS family. */
export function bootPackages(os: OperatingSystem): string[] {
    switch (os) {
        case "al2023":
            return ["cryptsetup"]; // the AWS CLI ships with the image
        case "debian12":
        case "ubuntu2204":
            return ["cryptsetup", "awscli"];
        case "ubuntu2404":
            return ["cryptsetup"]; // noble's archive has no awscli package (it moved to a snap)
    }
}

/** POSIX single-quoting: the value is taken literally by any sh-compatible shell. */
export function shellQuote(value: string): string {
    return `'${value.replace(/'/g, `'\\''`)}'`;
}

// Values end up inside a YAML block scalar and a shell env file. Each is validated strictly here
// so that nothing a config author types can change the document's structure or run code.
const PATTERNS: Readonly<Record<keyof Omit<BootData, "os">, RegExp>> = {
    instanceName: /^[a-z][a-z0-9-]{0,31}$/,
    region: /^[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d$/,
    bucketName: /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
    keyObjectKey: /^[A-Za-z0-9!_.*'()\/-]{1,1024}$/,
    volumeId: /^vol-[0-9a-f]{8,17}$/,
    mountPoint: /^\/[A-Za-z0-9._\/-]{1,200}$/,
};

const TEMPLATE_PATH = path.join(__dirname, "user-data.yaml.mustache");

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
    };
    // No HTML escaping: the output is YAML, and every value is validated and quoted above.
    const rendered = Mustache.render(template, view, {}, { escape: (text: string) => text });
    const size = Buffer.byteLength(rendered, "utf8");
    if (size > USER_DATA_LIMIT_BYTES) {
        throw new Error(`User data for ${data.instanceName} is ${size} bytes; EC2 accepts at most ${USER_DATA_LIMIT_BYTES}.`);
    }
    return rendered;
}
