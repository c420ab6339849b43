/**
 * `npm run audit:demo` as a user runs it (issue 10, "Try it without an AWS account"): it says where
 * the reports are, the JSON report holds every problem the demo seeded (audit/demo.ts), the demo
 * exits 0 (worked as designed), and nothing it started is left: moto and the audit front (their
 * loopback ports, read from the demo's output and the report's evidence) no longer answer, and no
 * moto_server process of the demo's (by its port) is left.
 */
import * as childProcess from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import type { AuditResult } from "../audit/findings";
import { DEMO_ACCOUNT, expectedFindings, missingFindings } from "../audit/demo";
import { checkRegistry } from "../audit/checks/index";

const ROOT = path.resolve(__dirname, "..");
const NPM_BIN = path.dirname(process.execPath);

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string; pid: number }> {
    return new Promise((resolve, reject) => {
        const child = childProcess.spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (c: Buffer) => (stdout += c.toString("utf8")));
        child.stderr.on("data", (c: Buffer) => (stderr += c.toString("utf8")));
        const timer = setTimeout(() => child.kill("SIGKILL"), 150_000);
        child.on("error", reject);
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code, stdout, stderr, pid: child.pid ?? -1 });
        });
    });
}

function portOpen(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = net.connect({ host: "127.0.0.1", port });
        socket.once("connect", () => {
            socket.destroy();
            resolve(true);
        });
        socket.once("error", () => resolve(false));
    });
}

function motoServers(): string[] {
    const out = childProcess.spawnSync("ps", ["-eo", "pid,args"], { encoding: "utf8" }).stdout ?? "";
    return out.split("\n").filter((l) => l.includes("moto_server"));
}

describe("npm run audit:demo", () => {
    it("seeds an account with known problems, runs the audit, says where the reports are; they hold every seeded problem; nothing is left running", async () => {
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-demo-test-"));
        const before = new Set(motoServers());
        try {
            const env = { ...process.env, PATH: `${NPM_BIN}${path.delimiter}${process.env.PATH ?? ""}` };
            const demo = await run("npm", ["run", "--silent", "audit:demo", "--", "--out", out], env);
            const said = demo.stdout;
            expect({ code: demo.code, tail: said.split("\n").slice(-4) }).toEqual({ code: 0, tail: expect.arrayContaining([expect.stringContaining("The demo worked as designed")]) });
            const html = path.join(out, "audit-report.html");
            const json = path.join(out, "audit-report.json");
            expect(said).toContain(`HTML report: ${html}`);
            expect(said).toContain(`JSON report: ${json}`);
            expect(said).toMatch(/The audit exited [12] \(0 = every target audited and clean, 1 = findings, 2 = something could not be audited\)/);
            expect(fs.existsSync(html)).toBe(true);

            const result = JSON.parse(fs.readFileSync(json, "utf8")) as AuditResult;
            expect(result.targets).toHaveLength(1);
            expect(result.targets[0]).toMatchObject({ target: "demo", accountId: DEMO_ACCOUNT, state: "audited", regions: ["eu-west-1"] });
            const unmanaged = /instance (i-[0-9a-f]+) unmanaged beside managed (i-[0-9a-f]+)/.exec(said);
            expect(unmanaged).not.toBeNull();
            const registry = checkRegistry();
            const checks = result.targets[0]!.checks;
            expect(checks).toEqual((["group-policies", "root-and-users", "public-buckets", "unmanaged-instances"] as const).filter((c) => registry[c] !== undefined));
            const expected = expectedFindings({ unmanagedInstanceId: unmanaged![1]! }, checks);
            expect(expected.length).toBeGreaterThanOrEqual(4);
            expect(missingFindings(result, expected)).toEqual([]);
            // The managed instance is not reported; the private bucket is not public.
            expect(result.findings.filter((f) => f.status === "fail" && f.resource.endsWith(unmanaged![2]!))).toEqual([]);
            expect(result.findings.filter((f) => f.status === "fail" && f.resource === "arn:aws:s3:::demo-private" && !/public access block/.test(f.title))).toEqual([]);
            // No error: every check could read what it needs through the emulator.
            expect(result.findings.filter((f) => f.status === "error").map((f) => [f.check, f.title])).toEqual([]);

            // Nothing left: the front's port (the audit's endpoint) and moto's are closed, no new moto_server.
            const emulator = /Emulator: moto at http:\/\/127\.0\.0\.1:(\d+), the audit's endpoint \(AWS_ENDPOINT_URL\) at http:\/\/127\.0\.0\.1:(\d+)/.exec(said);
            expect(emulator).not.toBeNull();
            const ports = [Number(emulator![1]), Number(emulator![2])];
            for (const port of ports) expect(await portOpen(port)).toBe(false);
            // (Other suites may run their own moto meanwhile: only the demo's, by its port, must be gone.)
            expect(motoServers().filter((l) => !before.has(l) && l.endsWith(` -p ${ports[0]}`))).toEqual([]);
        } finally {
            fs.rmSync(out, { recursive: true, force: true });
        }
    }, 180_000);
});
