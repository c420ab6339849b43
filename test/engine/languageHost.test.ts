/**
 * The language host's pure parts, directly: the command line it gives the SDK's `cmd/run` (the
 * flags Pulumi's own host passes) and the plugins it reports from node_modules.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { requiredPlugins, runArguments } from "./languageHost";

const base = {
    monitor: "127.0.0.1:1000",
    engine: "127.0.0.1:2000",
    organization: "organization",
    project: "airlock",
    rootDirectory: "/p",
    stack: "dev",
    pwd: "/p",
    dryRun: false,
    parallel: 16,
    entryPoint: ".",
    args: [] as string[],
};

describe("runArguments", () => {
    it("passes every flag Pulumi's host passes, in order, then the entry point and its arguments", () => {
        expect(runArguments("/run.js", { ...base, dryRun: true, args: ["x"] })).toEqual([
            "/run.js",
            "--monitor", "127.0.0.1:1000",
            "--engine", "127.0.0.1:2000",
            "--organization", "organization",
            "--project", "airlock",
            "--root-directory", "/p",
            "--stack", "dev",
            "--pwd", "/p",
            "--dry-run",
            "--parallel", "16",
            ".",
            "x",
        ]);
    });

    it("leaves out empty flags and --dry-run for an update, and runs '.' when no entry point is given", () => {
        const args = runArguments("/run.js", { ...base, engine: "", organization: "", entryPoint: "" });
        expect(args).not.toContain("--engine");
        expect(args).not.toContain("--organization");
        expect(args).not.toContain("--dry-run");
        expect(args.at(-1)).toBe(".");
    });
});

describe("requiredPlugins", () => {
    let dir: string;
    const pkg = (rel: string, manifest: object): void => {
        fs.mkdirSync(path.join(dir, rel), { recursive: true });
        fs.writeFileSync(path.join(dir, rel, "package.json"), JSON.stringify(manifest));
    };

    beforeEach(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-langhost-"));
    });
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("reports resource packages (scoped, nested, named in their pulumi section), once each, and nothing else", () => {
        pkg("node_modules/@pulumi/aws", { name: "@pulumi/aws", version: "7.48.0", pulumi: { resource: true } });
        pkg("node_modules/@pulumi/pulumi", { name: "@pulumi/pulumi", version: "3.276.0" });
        pkg("node_modules/left-pad", { name: "left-pad", version: "1.0.0" });
        pkg("node_modules/x/node_modules/@acme/thing", { name: "@acme/thing", version: "v2.0.0", pulumi: { resource: true, name: "acme", server: "https://plugins.example" } });
        pkg("node_modules/y/node_modules/@pulumi/aws", { name: "@pulumi/aws", version: "7.48.0", pulumi: { resource: true } });
        expect(requiredPlugins(dir)).toEqual([
            { name: "acme", version: "v2.0.0", server: "https://plugins.example" },
            { name: "aws", version: "v7.48.0", server: undefined },
        ]);
    });

    it("finds this project's aws provider (and random, while installed) at the lockfile's versions", () => {
        const root = path.resolve(__dirname, "..", "..");
        const names = requiredPlugins(root).map((p) => `${p.name}@${p.version}`);
        const version = (name: string): string => (JSON.parse(fs.readFileSync(path.join(root, "node_modules", "@pulumi", name, "package.json"), "utf8")) as { version: string }).version;
        expect(names).toContain(`aws@v${version("aws")}`);
        const random = fs.existsSync(path.join(root, "node_modules", "@pulumi", "random", "package.json"));
        expect(names.some((n) => n.startsWith("random@"))).toBe(random);
        if (random) expect(names).toContain(`random@v${version("random")}`);
    });
});
