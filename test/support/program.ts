/**
 * Runs the real program (index.ts) under the mock engine with a given stack configuration, the way
 * `pulumi preview`/`pulumi up` would, and hands back what it declared and exported.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { MockEngine, installMocks } from "./mocks";

export const PROJECT_ROOT = path.resolve(__dirname, "..", "..");

/** Stand-in plaintext for `secure:` values, which tests cannot decrypt. Asserted absent from outputs. */
export const TEST_SECRET = "test-secret-value-7f3a";

export interface StackConfig {
    readonly values: Record<string, string>;
    readonly secretKeys: string[];
}

/** Reads a Pulumi.<stack>.yaml into the flat string map a Pulumi program receives. */
export function readStackConfig(file: string = path.join(PROJECT_ROOT, "Pulumi.dev.yaml")): StackConfig {
    const document = parse(fs.readFileSync(file, "utf8")) as { config: Record<string, unknown> };
    const values: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [key, value] of Object.entries(document.config)) {
        if (typeof value === "object" && value !== null && !Array.isArray(value) && "secure" in value) {
            values[key] = TEST_SECRET;
            secretKeys.push(key);
        } else {
            values[key] = typeof value === "string" ? value : JSON.stringify(value);
        }
    }
    return { values, secretKeys };
}

/** The dev config with some keys changed (a value of undefined removes the key). */
export function devConfigWith(changes: Record<string, unknown>): StackConfig {
    const base = readStackConfig();
    const values = { ...base.values };
    for (const [key, value] of Object.entries(changes)) {
        if (value === undefined) {
            delete values[key];
        } else {
            values[key] = typeof value === "string" ? value : JSON.stringify(value);
        }
    }
    return { values, secretKeys: base.secretKeys.filter((k) => k in values) };
}

export interface ProgramRun {
    readonly engine: MockEngine;
    readonly outputs: Record<string, pulumi.Output<unknown>>;
}

type Program = () => Promise<Record<string, pulumi.Output<unknown>>>;

/** Evaluates index.ts with the config; rejects with the program's error (resources declared so far stay recorded). */
export async function runProgram(config: StackConfig, options: { preview?: boolean; engine?: MockEngine } = {}): Promise<ProgramRun> {
    const engine = options.engine ?? installMocks({ preview: options.preview });
    pulumi.runtime.setAllConfig(config.values, config.secretKeys);
    // The program module exports its entry function; requiring it again returns the same function.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const program = require(path.join(PROJECT_ROOT, "index.ts")) as Program;
    const outputs = await program();
    await waitForRegistrations();
    return { engine, outputs };
}

/** Waits until the runtime has no RPC in flight: every declared resource has reached the mocks. */
export async function waitForRegistrations(): Promise<void> {
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
}
