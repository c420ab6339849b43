/**
 * build-pulumi.sh's refusals, run for real in a scratch copy of the layout it reads: the CLI it
 * would build must match @pulumi/pulumi, and a machine without Go is told what to install.
 */
import * as childProcess from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const SCRIPT = path.join(__dirname, "build-pulumi.sh");

function scratch(npmVersion: string, pinned: string): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-build-pulumi-"));
    fs.mkdirSync(path.join(root, "node_modules", "@pulumi", "pulumi"), { recursive: true });
    fs.writeFileSync(path.join(root, "node_modules", "@pulumi", "pulumi", "package.json"), JSON.stringify({ name: "@pulumi/pulumi", version: npmVersion }, null, 2));
    fs.mkdirSync(path.join(root, "test", "engine", "tools"), { recursive: true });
    fs.copyFileSync(SCRIPT, path.join(root, "test", "engine", "build-pulumi.sh"));
    fs.writeFileSync(path.join(root, "test", "engine", "tools", "go.mod"), `module x\n\ngo 1.26\n\nrequire github.com/pulumi/pulumi/pkg/v3 v${pinned}\n`);
    return root;
}

function run(root: string, env: NodeJS.ProcessEnv): { status: number | null; stderr: string; stdout: string } {
    const r = childProcess.spawnSync("bash", [path.join(root, "test", "engine", "build-pulumi.sh")], { env, encoding: "utf8" });
    return { status: r.status, stderr: r.stderr, stdout: r.stdout };
}

describe("build-pulumi.sh", () => {
    const roots: string[] = [];
    afterAll(() => roots.forEach((r) => fs.rmSync(r, { recursive: true, force: true })));

    it("refuses to build a CLI whose version differs from @pulumi/pulumi in the lockfile, and says how to align them", () => {
        const root = scratch("3.277.0", "3.276.0");
        roots.push(root);
        const r = run(root, { PATH: process.env.PATH, HOME: root, AIRLOCK_TOOLS_CACHE: path.join(root, "cache") });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("pins pkg/v3 v3.276.0 but package-lock.json has @pulumi/pulumi 3.277.0");
        expect(r.stderr).toContain("go get github.com/pulumi/pulumi/pkg/v3@v3.277.0");
        expect(fs.existsSync(path.join(root, "cache"))).toBe(false);
    });

    it("without Go on PATH and nothing cached, stops at once saying what to install", () => {
        const root = scratch("3.276.0", "3.276.0");
        roots.push(root);
        const r = run(root, { PATH: "/usr/bin:/bin".split(":").filter((d) => !fs.existsSync(path.join(d, "go"))).join(":"), HOME: root, AIRLOCK_TOOLS_CACHE: path.join(root, "cache") });
        expect(r.status).toBe(1);
        expect(r.stderr).toContain("Go is needed to build the Pulumi CLI v3.276.0");
        expect(r.stderr).toContain("install Go");
    });

    it("prints the cached CLI and builds nothing when it is there", () => {
        const root = scratch("3.276.0", "3.276.0");
        roots.push(root);
        const cached = path.join(root, "cache", "pulumi-v3.276.0", "pulumi");
        fs.mkdirSync(path.dirname(cached), { recursive: true });
        fs.writeFileSync(cached, "#!/bin/sh\n", { mode: 0o755 });
        const r = run(root, { PATH: "/usr/bin:/bin", HOME: root, AIRLOCK_TOOLS_CACHE: path.join(root, "cache") });
        expect(r.status).toBe(0);
        expect(r.stdout.trim()).toBe(cached);
    });
});
