/**
 * The audit's HTML report in a real browser: Debian's Chromium, headless, driven over the DevTools
 * protocol (Node's own WebSocket; no browser-automation dependency). The page must open with no
 * console message of level error or warning, no uncaught exception, and no network request besides
 * the report file itself; the red/amber/green summary must be visible in the first screen, in a
 * screenshot the test takes (kept in the test's temporary directory while it runs, and checked to
 * be a real PNG of that size).
 */
import * as childProcess from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { AuditResult } from "../audit/findings";
import { renderHtml } from "../audit/report/html";

const VIEWPORT = { width: 1280, height: 900 };

const RESULT: AuditResult = {
    schemaVersion: 1,
    startedAt: "2026-12-01T08:00:00.000Z",
    finishedAt: "2026-12-01T08:00:42.000Z",
    targets: [
        { target: "production", accountId: "111122223333", state: "audited", checks: ["group-policies", "public-buckets"], regions: ["eu-west-1"] },
        { target: "sandbox", state: "unaudited", reason: "InvalidClientTokenId: The security token included in the request is invalid.", checks: ["group-policies"], regions: ["eu-west-1"] },
    ],
    findings: [
        {
            target: "production",
            accountId: "111122223333",
            region: "global",
            check: "group-policies",
            resource: "arn:aws:iam::111122223333:user/alice",
            status: "fail",
            severity: "high",
            title: "User alice is covered by Force_MFA",
            evidence: { groups: ["Developers"] },
        },
        {
            target: "production",
            accountId: "111122223333",
            region: "eu-west-1",
            check: "public-buckets",
            resource: "arn:aws:s3:::<script>alert(1)</script>",
            status: "pass",
            severity: "informational",
            title: "Bucket <script>alert(1)</script> is not public",
            evidence: { note: "</style><img src=x onerror=alert(1)>" },
        },
    ],
};

interface Cdp {
    send(method: string, params?: Record<string, unknown>): Promise<Record<string, unknown>>;
    readonly events: Array<{ method: string; params: Record<string, unknown> }>;
    close(): void;
}

async function connect(url: string): Promise<Cdp> {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
        socket.addEventListener("open", () => resolve(), { once: true });
        socket.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)), { once: true });
    });
    let next = 1;
    const pending = new Map<number, { resolve(v: Record<string, unknown>): void; reject(e: Error): void }>();
    const events: Cdp["events"] = [];
    socket.addEventListener("message", (message: MessageEvent) => {
        const data = JSON.parse(String(message.data)) as { id?: number; result?: Record<string, unknown>; error?: { message: string }; method?: string; params?: Record<string, unknown> };
        if (data.id !== undefined) {
            const waiter = pending.get(data.id);
            pending.delete(data.id);
            if (data.error !== undefined) waiter?.reject(new Error(data.error.message));
            else waiter?.resolve(data.result ?? {});
        } else if (data.method !== undefined) {
            events.push({ method: data.method, params: data.params ?? {} });
        }
    });
    return {
        events,
        send(method, params = {}) {
            const id = next++;
            socket.send(JSON.stringify({ id, method, params }));
            return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
        },
        close() {
            socket.close();
        },
    };
}

async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = probe();
        if (value !== undefined) return value;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
    }
}

let dir: string;
let browser: childProcess.ChildProcess | undefined;
let page: Cdp | undefined;
let reportUrl: string;

beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-browser-"));
    const report = path.join(dir, "report.html");
    fs.writeFileSync(report, renderHtml(RESULT));
    reportUrl = `file://${report}`;
    browser = childProcess.spawn(
        "chromium",
        [
            "--headless=new",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            `--user-data-dir=${path.join(dir, "profile")}`,
            `--window-size=${VIEWPORT.width},${VIEWPORT.height}`,
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--metrics-recording-only",
            // As root (CI), Chromium's sandbox needs user namespaces it may not have.
            ...(process.getuid?.() === 0 ? ["--no-sandbox"] : []),
            "about:blank",
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    browser.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    const wsUrl = await waitFor("Chromium's DevTools endpoint", () => /DevTools listening on (ws:\/\/\S+)/.exec(stderr)?.[1]);
    const port = new URL(wsUrl).port;
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ type: string; webSocketDebuggerUrl: string }>;
    const pageTarget = targets.find((t) => t.type === "page");
    if (pageTarget === undefined) throw new Error("Chromium opened no page");
    page = await connect(pageTarget.webSocketDebuggerUrl);
    for (const domain of ["Page", "Runtime", "Log", "Network"]) await page.send(`${domain}.enable`);
    await page.send("Emulation.setDeviceMetricsOverride", { ...VIEWPORT, deviceScaleFactor: 1, mobile: false });
    await page.send("Page.navigate", { url: reportUrl });
    await waitFor("the report to load", () => page?.events.find((e) => e.method === "Page.loadEventFired"));
}, 60_000);

afterAll(() => {
    page?.close();
    browser?.kill("SIGKILL");
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
});

describe("the audit's HTML report in headless Chromium", () => {
    it("opens with no console error or warning and no uncaught exception", () => {
        const problems = page!.events.filter(
            (e) =>
                e.method === "Runtime.exceptionThrown" ||
                (e.method === "Runtime.consoleAPICalled" && ["error", "warning", "assert"].includes(String(e.params["type"]))) ||
                (e.method === "Log.entryAdded" && ["error", "warning"].includes(String((e.params["entry"] as { level?: string }).level))),
        );
        expect(problems).toEqual([]);
    });

    it("makes no network request besides the report file itself (no CDN, font, image or script)", () => {
        const requested = page!.events.filter((e) => e.method === "Network.requestWillBeSent").map((e) => String((e.params["request"] as { url: string }).url));
        expect(requested).toEqual([reportUrl]);
    });

    it("runs no script: hostile values are text, not markup", async () => {
        const result = await page!.send("Runtime.evaluate", {
            expression: "JSON.stringify({ scripts: document.scripts.length, images: document.images.length, text: document.body.textContent.includes('<script>alert(1)</script>') })",
            returnByValue: true,
        });
        expect(JSON.parse(String((result["result"] as { value: string }).value))).toEqual({ scripts: 0, images: 0, text: true });
    });

    it("shows the red/amber/green summary in the first screen, in a screenshot", async () => {
        const box = await page!.send("Runtime.evaluate", {
            expression: `(() => {
                const table = document.querySelector("table");
                if (!table) return null;
                const r = table.getBoundingClientRect();
                const style = getComputedStyle(table);
                return JSON.stringify({ top: r.top, bottom: r.bottom, width: r.width, visible: style.visibility !== "hidden" && style.display !== "none", text: table.innerText });
            })()`,
            returnByValue: true,
        });
        const summary = JSON.parse(String((box["result"] as { value: string }).value)) as { top: number; bottom: number; width: number; visible: boolean; text: string };
        expect(summary.visible).toBe(true);
        expect(summary.width).toBeGreaterThan(200);
        expect(summary.top).toBeGreaterThanOrEqual(0);
        expect(summary.bottom).toBeLessThanOrEqual(VIEWPORT.height);
        expect(summary.text).toContain("production");
        expect(summary.text).toContain("sandbox");

        const shot = await page!.send("Page.captureScreenshot", { format: "png", clip: { x: 0, y: 0, ...VIEWPORT, scale: 1 } });
        const png = Buffer.from(String(shot["data"]), "base64");
        fs.writeFileSync(path.join(dir, "summary.png"), png);
        // A real PNG of the viewport's size: signature, then IHDR width and height.
        expect(png.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");
        expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([VIEWPORT.width, VIEWPORT.height]);
        // Not a blank page: the summary's colours make the image far from uniform, so it does not compress to nothing.
        expect(png.length).toBeGreaterThan(10_000);
    });
});
