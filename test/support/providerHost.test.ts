/**
 * Smoke test of the provider-host harness: a throwaway dynamic provider, serialized from this (ts-jest-compiled)
 * file, runs in Pulumi's real dynamic-provider host and is driven over gRPC like the engine drives it.
 *
 * The provider runs in ANOTHER process: it reports through its outputs, its stdout and the filesystem only.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { distance } from "fastest-levenshtein";
import type * as pulumi from "@pulumi/pulumi";
import {
    ProviderCallError,
    ProviderHost,
    UNKNOWN,
    dynamicUrn,
    isSecret,
    secret,
    serializeProvider,
    startProviderHost,
} from "./providerHost";

type Props = Record<string, unknown>;

const ZONES = ["remediation", "production"];

/** A module-level helper: captured by value into the serialized provider. */
function closestZone(zone: string): string {
    return [...ZONES].sort((a, b) => distance(zone, a) - distance(zone, b))[0] ?? "";
}

interface TestProvider extends pulumi.dynamic.ResourceProvider {
    greeting?: string;
}

const testProvider: TestProvider = {
    async configure(req: pulumi.dynamic.ConfigureRequest): Promise<void> {
        this.greeting = req.config.get("greeting") ?? "(none)";
    },

    async check(_olds: Props, news: Props): Promise<pulumi.dynamic.CheckResult> {
        const failures: pulumi.dynamic.CheckFailure[] = [];
        const zone = news["zone"];
        // Unknown during preview: nothing to validate yet.
        if (zone !== "04da6b54-80e4-46f7-96ec-b56ff0331ba9" && (typeof zone !== "string" || !ZONES.includes(zone))) {
            failures.push({ property: "zone", reason: `unknown zone ${String(zone)}; did you mean ${closestZone(String(zone))}?` });
        }
        return { inputs: news, failures };
    },

    async diff(_id: string, olds: Props, news: Props): Promise<pulumi.dynamic.DiffResult> {
        // olds are the old outputs: compare the inputs only.
        const changed = Object.keys(news).filter((k) => k !== "__provider" && JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
        return { changes: changed.length > 0, replaces: changed.filter((k) => k === "zone"), deleteBeforeReplace: true };
    },

    async create(inputs: Props): Promise<pulumi.dynamic.CreateResult> {
        console.log(`progress: creating ${String(inputs["name"])}`);
        if (inputs["undefinedOutput"]) {
            // The host's Struct.fromJavaScript cannot encode undefined: a real serialization bug, caught here.
            return { id: "never", outs: { scanId: undefined } };
        }
        if (inputs["failWith"]) {
            throw Object.assign(new Error(`could not finish ${String(inputs["name"])}: ${String(inputs["failWith"])}`), {
                id: `partial-${String(inputs["name"])}`,
                properties: { phase: "half-done", zone: inputs["zone"] },
                reasons: ["step 2 failed", String(inputs["failWith"])],
            });
        }
        return {
            id: `id-${String(inputs["name"])}`,
            outs: {
                ...inputs,
                passwordSeenAs: typeof inputs["password"],
                greeting: this.greeting,
                hostPid: process.pid,
                // Never undefined in outputs: the host cannot encode it (see the undefinedOutput case).
                envMarker: process.env["AIRLOCK_TEST_MARKER"] ?? null,
            },
        };
    },

    async read(id: string, props?: Props): Promise<pulumi.dynamic.ReadResult> {
        return { id, props: { ...props, refreshed: true } };
    },

    async update(_id: string, olds: Props, news: Props): Promise<pulumi.dynamic.UpdateResult> {
        console.error(`progress: updating from size ${String(olds["size"])} to ${String(news["size"])}`);
        return { outs: { ...news, updatedFrom: olds["size"] } };
    },

    async delete(id: string, props: Props): Promise<void> {
        fs.writeFileSync(String(props["marker"]), `deleted ${id}`);
    },
};

describe("providerHost harness (real dynamic-provider host over gRPC)", () => {
    let host: ProviderHost;
    let providerText: string;
    let tmp: string;
    const urn = dynamicUrn("web", "pulumi-nodejs:dynamic/airlock:Thing");

    beforeAll(async () => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "provider-host-"));
        providerText = await serializeProvider(testProvider);
        host = await startProviderHost({ env: { AIRLOCK_TEST_MARKER: "from-start-options" } });
        await host.configure({ "airlock:greeting": secret("hello") });
    });

    afterAll(async () => {
        await host?.stop();
        if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    });

    const inputs = (extra: Props = {}): Props => ({
        __provider: providerText,
        name: "web",
        zone: "remediation",
        size: 1,
        marker: path.join(tmp, "deleted"),
        ...extra,
    });

    it("serializes the ts-jest-compiled provider with builtins and packages required by name", () => {
        expect(providerText).toContain('require("fs")');
        expect(providerText).toMatch(/require\("fastest-levenshtein[^"]*"\)/);
        // Nothing from jest leaks into the closure.
        expect(providerText).not.toMatch(/\bexpect\b|jest/);
    });

    it("check: failures round-trip, unknowns are tolerated, secrets are re-marked", async () => {
        const bad = await host.check(urn, {}, inputs({ zone: "prod" }));
        expect(bad.failures).toEqual([{ property: "zone", reason: "unknown zone prod; did you mean production?" }]);

        const preview = await host.check(urn, {}, inputs({ zone: UNKNOWN, password: secret("hunter2") }));
        expect(preview.failures).toEqual([]);
        expect(preview.inputs["zone"]).toBe(UNKNOWN);
        expect(preview.inputs["password"]).toEqual(secret("hunter2"));
        expect(preview.inputs["__provider"]).toBe(providerText);
    });

    it("diff: reports changes and replaces on zone", async () => {
        const olds = { ...inputs(), passwordSeenAs: "undefined" };
        const same = await host.diff(urn, "id-web", olds, inputs());
        expect(same).toMatchObject({ changes: "DIFF_NONE", replaces: [] });
        const moved = await host.diff(urn, "id-web", olds, inputs({ zone: "production" }));
        expect(moved).toMatchObject({ changes: "DIFF_SOME", replaces: ["zone"], deleteBeforeReplace: true });
        const unknownZone = await host.diff(urn, "id-web", olds, inputs({ zone: UNKNOWN }));
        expect(unknownZone.replaces).toEqual(["zone"]);
    });

    it("create: returns outputs, unwraps secrets for the provider and re-marks them, prints progress", async () => {
        const result = await host.create(urn, inputs({ password: secret("hunter2") }));
        if (!result.ok) throw new Error(result.message);
        expect(result.id).toBe("id-web");
        expect(result.properties).toMatchObject({ name: "web", zone: "remediation", size: 1, greeting: "hello", passwordSeenAs: "string" });
        expect(result.properties["password"]).toEqual(secret("hunter2"));
        expect(isSecret(result.properties["passwordSeenAs"])).toBe(false);
        expect(result.properties["__provider"]).toBe(providerText);
        expect(result.properties["hostPid"]).toBe(host.pid);
        expect(result.properties["envMarker"]).toBe("from-start-options");
        expect(host.output()).toContain("progress: creating web");
    });

    it("create in preview: like the engine, the host is not called and inputs are echoed", async () => {
        const props = inputs({ name: "preview-only", zone: UNKNOWN });
        await expect(host.create(urn, props, { preview: true })).resolves.toEqual({ ok: true, id: "", properties: props });
        expect(host.output()).not.toContain("creating preview-only");
    });

    it("create: a partial-state error decodes id, properties, reasons and message", async () => {
        const result = await host.create(urn, inputs({ name: "half", failWith: "disk full" }));
        expect(result).toEqual({
            ok: false,
            message: "could not finish half: disk full",
            partial: {
                id: "partial-half",
                properties: { phase: "half-done", zone: "remediation" },
                reasons: ["step 2 failed", "disk full"],
            },
        });
    });

    it("create: an undefined output value fails in the host's serialization, as it would under the engine", async () => {
        await expect(host.create(urn, inputs({ name: "undef", undefinedOutput: true }))).resolves.toEqual({
            ok: false,
            message: "Unexpected struct type.",
        });
    });

    it("read and update round-trip state", async () => {
        const state = { ...inputs(), passwordSeenAs: "undefined" };
        const read = await host.read(urn, "id-web", state, inputs());
        expect(read.id).toBe("id-web");
        expect(read.properties).toMatchObject({ name: "web", refreshed: true, __provider: providerText });
        expect(read.inputs).toBeUndefined();

        const updated = await host.update(urn, "id-web", state, inputs({ size: 2 }));
        if (!updated.ok) throw new Error(updated.message);
        expect(updated.properties).toMatchObject({ size: 2, updatedFrom: 1, __provider: providerText });
        expect(host.output()).toContain("progress: updating from size 1 to 2");
    });

    it("errors from check surface as ProviderCallError with the host's message", async () => {
        const call = host.check(urn, {}, { name: "no-provider" });
        await expect(call).rejects.toBeInstanceOf(ProviderCallError);
        // Without __provider the host cannot load a provider (require-from-string gets undefined).
        await expect(call).rejects.toThrow(/check failed: UNKNOWN: /);
    });

    it("delete: the provider's effect is observable on disk", async () => {
        await host.delete(urn, "id-web", inputs());
        expect(fs.readFileSync(path.join(tmp, "deleted"), "utf8")).toBe("deleted id-web");
    });

    it("stop() kills the host and is idempotent", async () => {
        const pid = host.pid;
        expect(() => process.kill(pid, 0)).not.toThrow();
        await host.stop();
        await host.stop();
        expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: "ESRCH" }));
        await expect(host.check(urn, {}, inputs())).rejects.toThrow(/after stop/);
    });

    it("reports the host's stderr when it dies before printing its port", async () => {
        const start = startProviderHost({ env: { NODE_OPTIONS: "--require /nonexistent/preload.js" } });
        await expect(start).rejects.toThrow(/exited before printing its port[\s\S]*Cannot find module '\/nonexistent\/preload.js'/);
    });
});
