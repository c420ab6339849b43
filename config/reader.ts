/**
 * Reading raw stack config (as `pulumi.runtime.allConfig()` returns it) with problems recorded, not
 * thrown: the Reader and the small field readers every part of the config schema shares. Messages
 * never show a value of a key the stack holds as a secret.
 */
import { checkCidr } from "./cidr";
import { didYouMean } from "./suggest";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** "the number 123", "the boolean true", "empty", "a list", "a map" — what a non-string value is. */
export function describeKind(value: Json): string {
    if (value === null) {
        return "empty";
    }
    if (Array.isArray(value)) {
        return "a list";
    }
    return typeof value === "object" ? "a map" : `the ${typeof value} ${String(value)}`;
}

/** A value in YAML flow style, for messages that show how to write it: [{name: web-1, port: 443}]. */
export function flowYaml(value: Json): string {
    if (Array.isArray(value)) {
        return `[${value.map(flowYaml).join(", ")}]`;
    }
    if (value !== null && typeof value === "object") {
        return `{${Object.entries(value).map(([k, v]) => `${k}: ${flowYaml(v)}`).join(", ")}}`;
    }
    if (typeof value === "string") {
        const plain = /^[A-Za-z][\w./@-]*$/.test(value) && !/^(true|false|null|yes|no|on|off|~)$/i.test(value);
        return plain ? value : JSON.stringify(value);
    }
    return String(value);
}

/** The items a user probably meant by one value where a list is expected ("a, b" → ["a", "b"]). */
export function asListItems(value: Json): Json[] {
    return typeof value === "string" ? value.split(/[\s,]+/).filter((item) => item !== "") : [value];
}

/** Reads raw config strings (as `pulumi.runtime.allConfig()` returns them) and records problems. */
export class Reader {
    readonly problems: string[] = [];

    constructor(
        private readonly raw: Readonly<Record<string, string>>,
        private readonly secretKeys: ReadonlySet<string>,
    ) {}

    fail(message: string): void {
        this.problems.push(message);
    }

    /** True when the key a path belongs to (`airlock:instances` for `airlock:instances[0].name`) holds a secret. */
    isSecret(path: string): boolean {
        const key = /^[^.[]+/.exec(path)?.[0] ?? path;
        return this.secretKeys.has(key);
    }

    /** `, not "value"` to end a message with, or a note that the value is secret and not shown. */
    not(path: string, value: Json | undefined): string {
        return this.isSecret(path) ? " (its value is secret and not shown)" : `, not ${JSON.stringify(value ?? null)}`;
    }

    /** A "Did you mean" suffix, unless the value is secret (a suggestion would reveal it). */
    suggest(path: string, suffix: string): string {
        return this.isSecret(path) ? "" : suffix;
    }

    has(key: string): boolean {
        return this.raw[key] !== undefined && this.raw[key] !== "";
    }

    string(key: string): string | undefined {
        const value = this.raw[key];
        return value === undefined || value === "" ? undefined : value;
    }

    json(key: string): Json | undefined {
        const text = this.raw[key];
        if (text === undefined || text === "") {
            return undefined;
        }
        try {
            return JSON.parse(text) as Json;
        } catch {
            this.fail(`\`${key}\` is not valid structured config. Set it in the stack file as YAML, or with \`pulumi config set --path\`.`);
            return undefined;
        }
    }

    /**
     * A key that holds a list. `pulumi config set key value` stores a plain string, which is read as
     * the single value it is; anything but a list is reported with the list form to write instead.
     */
    list(key: string, what: "instances" | "rules" | "cidrs" | "ports" | "principals"): Json[] | undefined {
        const text = this.raw[key];
        if (text === undefined || text === "") {
            return undefined;
        }
        let value: Json;
        try {
            value = JSON.parse(text) as Json;
        } catch {
            value = text;
        }
        if (Array.isArray(value)) {
            return value;
        }
        if (what === "cidrs" || what === "ports" || what === "principals") {
            this.fail(notAListMessage(this, key, `${key}:`, value, "in the stack file"));
        } else if (value !== null && typeof value === "object") {
            const example = this.isSecret(key) ? "" : ` (${key}: [${flowYaml(value)}])`;
            this.fail(`\`${key}\` must be a list of ${what}, not a single one. Start each ${what === "instances" ? "instance" : "rule"} with "- " in the stack file${example}.`);
        } else {
            this.fail(
                what === "instances"
                    ? `\`${key}\` must be a list of instance objects such as [{name: web-1, instanceType: t3.small}]${this.not(key, value)}.`
                    : `\`${key}\` must be a list of rules such as [{description: HTTPS, port: 443, cidrs: ["10.0.0.0/16"]}]${this.not(key, value)}.`,
            );
        }
        return undefined;
    }

    integer(key: string, fallback: number, min: number, max: number): number {
        const text = this.string(key);
        if (text === undefined) {
            return fallback;
        }
        const value = Number(text);
        if (!/^-?\d+$/.test(text.trim()) || value < min || value > max) {
            this.fail(`\`${key}\` must be a whole number from ${min} to ${max}${this.not(key, text)}.`);
            return fallback;
        }
        return value;
    }

    boolean(key: string, fallback: boolean): boolean {
        const text = this.string(key);
        if (text === undefined) {
            return fallback;
        }
        if (text !== "true" && text !== "false") {
            this.fail(`\`${key}\` must be true or false${this.not(key, text)}.`);
            return fallback;
        }
        return text === "true";
    }
}

/**
 * "`path` must be a list, not a single value. Write it as a list: field: ["a"]." For a top-level key
 * (`where` = "in the stack file") also the `pulumi config set --path` command that writes one item.
 */
export function notAListMessage(r: Reader, path: string, field: string, value: Json, where?: string): string {
    if (r.isSecret(path)) {
        return `\`${path}\` must be a list, not a single value (its value is secret and not shown). Write each item as a list entry ("- item").`;
    }
    const items = asListItems(value);
    const listForm = `${field} [${items.map((item) => JSON.stringify(item)).join(", ")}]`;
    const command = where === undefined ? "" : `, or run pulumi config set --path '${path}[0]' ${String(items[0] ?? "")}`;
    return `\`${path}\` must be a list, not a single value. Write it as a list${where === undefined ? "" : ` ${where}`}: ${listForm}${command}.`;
}

export function isObject(value: Json | undefined): value is { [key: string]: Json } {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * A field that must be a string: returns it, or `fallback` when absent, or undefined after reporting a
 * value of another kind (YAML reads `12`, `true` and `null` as other types).
 */
export function stringField(r: Reader, path: string, value: Json | undefined, fallback: string, hint: string): string | undefined {
    if (value === undefined) {
        return fallback;
    }
    if (typeof value === "string") {
        return value;
    }
    const kind = r.isSecret(path) ? (value === null ? "empty" : "another kind of value") : describeKind(value);
    r.fail(`\`${path}\` must be a string, not ${kind}. ${hint}`);
    return undefined;
}

export function oneOf<T extends string>(r: Reader, path: string, value: string, allowed: readonly T[], what: string): T | undefined {
    if ((allowed as readonly string[]).includes(value)) {
        return value as T;
    }
    const shown = r.isSecret(path) ? "" : ` ${JSON.stringify(value)}`;
    r.fail(`Unknown ${what}${shown} in \`${path}\`. Use one of: ${allowed.join(", ")}.${r.suggest(path, didYouMean(value, allowed))}`);
    return undefined;
}

/** oneOf for an optional field of a structured value, which may hold a number or boolean from YAML. */
export function optionalOneOf<T extends string>(r: Reader, path: string, value: Json | undefined, fallback: T, allowed: readonly T[], what: string): T | undefined {
    const text = stringField(r, path, value, fallback, `Use one of: ${allowed.join(", ")}.`);
    return text === undefined ? undefined : oneOf(r, path, text, allowed, what);
}

export function unknownFields(r: Reader, path: string, value: { [key: string]: Json }, known: readonly string[]): void {
    const unknown = Object.keys(value).filter((field) => !known.includes(field));
    if (unknown.length > 0 && r.isSecret(path)) {
        // The field names are part of the secret value: neither they nor a suggestion from them is shown.
        const what = unknown.length === 1 ? "a setting" : `${unknown.length} settings`;
        r.fail(`\`${path}\` has ${what} Airlock does not know (names are secret and not shown). Known settings: ${known.join(", ")}.`);
        return;
    }
    for (const field of unknown) {
        r.fail(`Unknown setting \`${path}.${field}\`. Known settings: ${known.join(", ")}.${didYouMean(field, known, "`")}`);
    }
}

/** Valid CIDRs of a list, normalised, each with its index in the list as written. */
export function cidrEntries(r: Reader, path: string, value: Json | undefined, family: "ipv4" | "ipv6" | "any"): Array<{ readonly index: number; readonly cidr: string }> {
    if (value === undefined || value === null) {
        return [];
    }
    if (!Array.isArray(value)) {
        const field = `${/[^.]+$/.exec(path)?.[0] ?? path}:`;
        r.fail(typeof value === "string" ? notAListMessage(r, path, field, value) : `\`${path}\` must be a list of CIDR blocks, e.g. ["10.0.0.0/16"].`);
        return [];
    }
    const result: Array<{ index: number; cidr: string }> = [];
    value.forEach((item, i) => {
        const itemPath = `${path}[${i}]`;
        if (typeof item !== "string") {
            r.fail(`\`${itemPath}\` must be a CIDR string such as "10.0.0.0/16".`);
            return;
        }
        const check = checkCidr(item);
        if (!check.ok) {
            const problem = check.problem.charAt(0).toUpperCase() + check.problem.slice(1);
            if (r.isSecret(path)) {
                r.fail(`${problem} in \`${itemPath}\` (its value is secret and not shown). Write it as address/mask with no host bits, e.g. "10.0.0.0/16".`);
                return;
            }
            const fix = check.suggestion === undefined ? " Write it as address/mask, e.g. \"10.0.0.0/16\"." : ` Did you mean "${check.suggestion}"?`;
            r.fail(`${problem} in \`${itemPath}\`: ${JSON.stringify(item)}.${fix}`);
            return;
        }
        if (family !== "any" && check.family !== family) {
            const other = family === "ipv4" ? "ipv6Cidrs" : "cidrs";
            const shown = r.isSecret(path) ? "" : `: ${JSON.stringify(item)}`;
            r.fail(`\`${itemPath}\` is an ${check.family === "ipv4" ? "IPv4" : "IPv6"} block${shown}. Put it in \`${other}\`.`);
            return;
        }
        result.push({ index: i, cidr: check.cidr });
    });
    return result;
}

export function optionalId(r: Reader, path: string, value: Json | undefined, pattern: RegExp, example: string): string | undefined {
    if (value === undefined || value === null) {
        return undefined;
    }
    if (typeof value !== "string" || !pattern.test(value)) {
        r.fail(`\`${path}\` must look like "${example}"${r.not(path, value)}.`);
        return undefined;
    }
    return value;
}
