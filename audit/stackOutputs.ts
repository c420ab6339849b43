/**
 * The instance ids Airlock stacks manage, from `pulumi stack output --json` files of Airlock's
 * instance stacks (issue 10, "Unmanaged instances"). The shape is index.ts's stack outputs:
 *
 *   {"remediationSecurityGroupId": "sg-…", …, "instances": {"web-1": {"instanceId": "i-…", …}, …}}
 *
 * Every file must be such a document: a file that cannot be read, is not JSON, is not an object,
 * has no `instances` map (e.g. the outputs of a guardrails-only stack, or of another project), or has
 * an entry without an instance id is refused with a StackOutputsError naming the file and what is
 * wrong — never skipped, because an id missing from this set makes its instance look unmanaged
 * (and, with `--quarantine --yes`, moved). An empty `instances` map is fine (a stack with no
 * instances). `instanceId` printed as "[secret]" (Pulumi hides secret outputs without
 * --show-secrets) is refused too, saying so. Pure apart from the injected `read`.
 */
import * as fs from "fs";
import { EXIT_UNAUDITED } from "./findings";

/** A stack output file the audit cannot use: the command stops with exit 2 (findings.ts EXIT_UNAUDITED). */
export class StackOutputsError extends Error {
    readonly exitCode = EXIT_UNAUDITED;

    constructor(
        readonly fileName: string,
        readonly problem: string,
    ) {
        super(`${fileName}: ${problem}`);
        this.name = "StackOutputsError";
    }
}

/** EC2 instance ids: "i-" and 8 (old) or 17 hexadecimal digits. */
const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

const HINT = "give the output of `pulumi stack output --json` of an Airlock instance stack";

function isObject(value: unknown): value is Record<string, unknown> {
    return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The instance ids of one file's `instances` map; throws StackOutputsError naming `fileName`. */
export function instanceIdsOf(fileName: string, text: string): string[] {
    let doc: unknown;
    try {
        doc = JSON.parse(text);
    } catch (e) {
        throw new StackOutputsError(fileName, `is not JSON (${(e as Error).message}); ${HINT}.`);
    }
    if (!isObject(doc)) {
        throw new StackOutputsError(fileName, `is not a JSON object of stack outputs; ${HINT}.`);
    }
    if (!("instances" in doc)) {
        const keys = Object.keys(doc);
        throw new StackOutputsError(
            fileName,
            `has no "instances" output (${keys.length === 0 ? "it has no outputs" : `its outputs: ${keys.slice(0, 8).join(", ")}${keys.length > 8 ? ", …" : ""}`}); ${HINT}.`,
        );
    }
    const instances = doc.instances;
    if (!isObject(instances)) {
        throw new StackOutputsError(fileName, `"instances" is ${instances === "[secret]" ? "a secret (run pulumi stack output --json --show-secrets)" : "not a map of instance names to their outputs"}; ${HINT}.`);
    }
    const ids: string[] = [];
    for (const [name, entry] of Object.entries(instances)) {
        const where = `"instances"."${name}"`;
        if (!isObject(entry)) {
            throw new StackOutputsError(fileName, `${where} is not an object with an instanceId; ${HINT}.`);
        }
        const id = entry.instanceId;
        if (id === "[secret]") {
            throw new StackOutputsError(fileName, `${where}.instanceId is shown as "[secret]": run \`pulumi stack output --json --show-secrets\`.`);
        }
        if (typeof id !== "string") {
            throw new StackOutputsError(fileName, `${where} has no instanceId string; ${HINT}.`);
        }
        if (!INSTANCE_ID.test(id)) {
            throw new StackOutputsError(fileName, `${where}.instanceId ${JSON.stringify(id)} is not an EC2 instance id (i- and 8 or 17 hexadecimal digits).`);
        }
        ids.push(id);
    }
    return ids;
}

/** What Airlock's instance stacks say about the account, for the cloudtrail-activity check. */
export interface StackFacts {
    /** Instances the stacks manage. */
    readonly instanceIds: Set<string>;
    /** The vaults' buckets (`keyBucketName`). */
    readonly vaultBucketNames: Set<string>;
    /** The vaults' KMS keys (`kmsKeyArn`). */
    readonly vaultKeys: Set<string>;
    /** The zones' security groups (`remediationSecurityGroupId`, `productionSecurityGroupId`). */
    readonly securityGroupIds: Set<string>;
}

const FACT_OUTPUTS = {
    keyBucketName: { to: "vaultBucketNames", pattern: /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/ },
    kmsKeyArn: { to: "vaultKeys", pattern: /^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]+$/ },
    remediationSecurityGroupId: { to: "securityGroupIds", pattern: /^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/ },
    productionSecurityGroupId: { to: "securityGroupIds", pattern: /^sg-(?:[0-9a-f]{8}|[0-9a-f]{17})$/ },
} as const;

/**
 * The vault and zone outputs of one file (already accepted by instanceIdsOf). Each is optional (an
 * older stack may lack one); one that is there but is not what it should be is refused, as a
 * wrong value would hide changes to the real vault.
 */
export function vaultOutputsOf(fileName: string, text: string): Omit<StackFacts, "instanceIds"> {
    const doc = JSON.parse(text) as Record<string, unknown>;
    const facts = { vaultBucketNames: new Set<string>(), vaultKeys: new Set<string>(), securityGroupIds: new Set<string>() };
    for (const [output, { to, pattern }] of Object.entries(FACT_OUTPUTS)) {
        const value = doc[output];
        if (value === undefined) continue;
        if (typeof value !== "string" || !pattern.test(value)) {
            throw new StackOutputsError(fileName, `"${output}" is ${value === "[secret]" ? 'shown as "[secret]" (run pulumi stack output --json --show-secrets)' : JSON.stringify(value)}, not what an Airlock stack outputs there; ${HINT}.`);
        }
        facts[to].add(value);
    }
    return facts;
}

/**
 * The union of what `files` (each a `pulumi stack output --json` file) say. Throws StackOutputsError
 * for the first file that cannot be read or used; files are read in order.
 */
export function stackFactsFrom(files: readonly string[], read: (file: string, encoding: "utf8") => string = fs.readFileSync): StackFacts {
    const facts: StackFacts = { instanceIds: new Set(), vaultBucketNames: new Set(), vaultKeys: new Set(), securityGroupIds: new Set() };
    for (const file of files) {
        let text: string;
        try {
            text = read(file, "utf8");
        } catch (e) {
            const err = e as NodeJS.ErrnoException;
            const why = err.code === "ENOENT" ? "no such file" : err.code === "EISDIR" ? "is a directory" : err.code === "EACCES" ? "permission denied" : err.message;
            throw new StackOutputsError(file, `cannot be read (${why}); ${HINT}.`);
        }
        for (const id of instanceIdsOf(file, text)) {
            facts.instanceIds.add(id);
        }
        const vault = vaultOutputsOf(file, text);
        for (const key of ["vaultBucketNames", "vaultKeys", "securityGroupIds"] as const) {
            for (const value of vault[key]) facts[key].add(value);
        }
    }
    return facts;
}

/** The union of the instance ids in `files` (see stackFactsFrom). */
export function managedInstanceIdsFrom(files: readonly string[], read: (file: string, encoding: "utf8") => string = fs.readFileSync): Set<string> {
    return stackFactsFrom(files, read).instanceIds;
}
