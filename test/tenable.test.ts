/**
 * The Tenable adapter against a fake Tenable API over real HTTP. Time is half virtual: ctx.sleep
 * advances a virtual clock at once (so minutes of backoff cost nothing), while ctx.now() also
 * counts real elapsed time (so a slow server really does run into the deadline).
 */
import { backoffDelay } from "../providers/polling";
import { TenableSettings, mergeFindings, tenableScanner } from "../providers/scanners/tenable";
import { ScanContext, ScanResult, ScanTarget, ScannerError, Severity, isScanTimeout, isScannerError, tenableSeverity } from "../providers/scanners/types";
import { FAKE_HOST_ID, FAKE_KEYS, FakeEndpoint, FakeKeys, TenableFake, TenableScript, startTenableFake } from "./support/tenableFake";

const TARGET: ScanTarget = {
    instanceId: "i-0123456789abcdef0",
    instanceArn: "arn:aws:ec2:eu-west-1:111122223333:instance/i-0123456789abcdef0",
    privateIp: "10.20.30.40",
    region: "eu-west-1",
    accountId: "111122223333",
};
const TEMPLATE = "ad629e16-03b6-8c1d-cef6-ef8c9dd3c658d24bd260ef5f9e66";
const WRONG_KEYS: FakeKeys = { accessKey: "ak-WRONG-1f2e3d4c", secretKey: "sk-WRONG-8a7b6c5d" };
const BASE_TIME = Date.parse("2030-01-01T00:00:00.000Z");
const DEFAULT_BACKOFF = { initialMs: 5_000, maxMs: 60_000 };
const HOUR = 3_600_000;

interface Run {
    readonly result?: ScanResult;
    readonly error?: unknown;
    readonly logs: string[];
    /** Every ctx.sleep, in order (virtual milliseconds). */
    readonly sleeps: number[];
    readonly realMs: number;
}

interface RunOptions {
    readonly keys?: FakeKeys;
    readonly deadlineMs?: number;
    readonly random?: number;
    readonly settings?: Partial<TenableSettings>;
}

/** Every run of the current test: afterEach checks none of them leaks a key. */
let runs: Run[] = [];

async function runScan(url: string, options: RunOptions = {}): Promise<Run> {
    const keys = options.keys ?? FAKE_KEYS;
    const logs: string[] = [];
    const sleeps: number[] = [];
    const realStart = Date.now();
    let virtual = 0;
    const context: ScanContext = {
        target: TARGET,
        deadline: BASE_TIME + (options.deadlineMs ?? HOUR),
        log: (line) => logs.push(line),
        sleep: async (ms) => {
            sleeps.push(ms);
            virtual += ms;
        },
        now: () => BASE_TIME + virtual + (Date.now() - realStart),
        random: () => options.random ?? 0.5,
    };
    const scanner = tenableScanner({ url, accessKey: keys.accessKey, secretKey: keys.secretKey, templateUuid: TEMPLATE, ...options.settings });
    let run: Run;
    try {
        const result = await scanner.scan(context);
        run = { result, logs, sleeps, realMs: Date.now() - realStart };
    } catch (error) {
        run = { error, logs, sleeps, realMs: Date.now() - realStart };
    }
    runs.push(run);
    return run;
}

async function withFake<T>(script: TenableScript, fn: (fake: TenableFake) => Promise<T>, keys?: FakeKeys): Promise<T> {
    const fake = await startTenableFake(script, keys);
    try {
        return await fn(fake);
    } finally {
        await fake.stop();
    }
}

/** Runs a scan against a fresh fake and stops it again. */
async function scanWith(script: TenableScript, options: RunOptions = {}): Promise<{ run: Run; fake: TenableFake }> {
    return withFake(script, async (fake) => ({ run: await runScan(fake.url, options), fake }));
}

function errorOf(run: Run): ScannerError {
    expect(run.result).toBeUndefined();
    expect(isScannerError(run.error)).toBe(true);
    return run.error as ScannerError;
}

function resultOf(run: Run): ScanResult {
    if (run.error !== undefined) {
        throw run.error;
    }
    return run.result!;
}

const progressLines = (run: Run) => run.logs.filter((line) => /^tenable scan \d+: [a-z]+( \d+%)?$/.test(line));

beforeEach(() => {
    runs = [];
});

afterEach(() => {
    // The keys never appear in an error message, a log line or a result, whatever happened.
    for (const run of runs) {
        const texts = [...run.logs, JSON.stringify(run.result ?? null)];
        if (run.error !== undefined) {
            texts.push(String(run.error), (run.error as Error).message ?? "");
        }
        for (const text of texts) {
            for (const secret of [FAKE_KEYS.accessKey, FAKE_KEYS.secretKey, WRONG_KEYS.accessKey, WRONG_KEYS.secretKey]) {
                expect(text).not.toContain(secret);
            }
        }
    }
});

describe("tenableSeverity", () => {
    it.each<[unknown, Severity]>([
        [0, "info"],
        [1, "low"],
        [2, "medium"],
        [3, "high"],
        [4, "critical"],
        ["0", "info"],
        ["3", "high"],
        ["4", "critical"],
    ])("maps %p to %s", (value, severity) => {
        expect(tenableSeverity(value)).toBe(severity);
    });

    it.each<[unknown]>([[5], [-1], [1.5], [Number.NaN], ["5"], ["03"], [" 3"], ["high"], [""], [null], [undefined], [true], [[3]]])("rejects %p", (value) => {
        let thrown: unknown;
        try {
            tenableSeverity(value);
        } catch (error) {
            thrown = error;
        }
        expect(isScannerError(thrown)).toBe(true);
        expect((thrown as Error).message).toMatch(/unknown severity/);
    });
});

describe("mergeFindings", () => {
    it("keeps one finding per plugin and severity, in first-seen order, with every CVE once", () => {
        expect(
            mergeFindings([
                { id: "tenable-plugin-1", title: "one", severity: "medium", cves: ["CVE-1", "CVE-1"] },
                { id: "tenable-plugin-2", title: "two", severity: "low", cves: [] },
                { id: "tenable-plugin-1", title: "one (again)", severity: "medium", cves: ["CVE-2", "CVE-1"] },
                { id: "tenable-plugin-1", title: "one", severity: "critical", cves: [] },
            ]),
        ).toEqual([
            { id: "tenable-plugin-1", title: "one", severity: "medium", cves: ["CVE-1", "CVE-2"] },
            { id: "tenable-plugin-2", title: "two", severity: "low", cves: [] },
            { id: "tenable-plugin-1", title: "one", severity: "critical", cves: [] },
        ]);
        expect(mergeFindings([])).toEqual([]);
    });
});

describe("a clean scan", () => {
    it("creates, launches, polls and reads the target's host results, finding nothing", async () => {
        const { run, fake } = await scanWith({ kind: "clean" });
        expect(resultOf(run)).toEqual({ scanId: "101", findings: [], warnings: [] });
        expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
            "POST /scans",
            "POST /scans/101/launch",
            "GET /scans/101",
            `GET /scans/101/hosts/${FAKE_HOST_ID}`,
        ]);
        expect(progressLines(run)).toEqual(["tenable scan 101: completed 100%"]);
    });

    it.each<[string, number | undefined]>([
        ["without a policy", undefined],
        ["with a policy", 42],
    ])("sends the private IP as text_targets and the template uuid (%s)", async (_, policyId) => {
        const { fake } = await scanWith({ kind: "clean" }, { settings: policyId === undefined ? {} : { policyId } });
        const [create] = fake.requestsTo("create");
        expect(create?.body).toEqual({
            uuid: TEMPLATE,
            settings: {
                name: expect.stringMatching(/^airlock i-0123456789abcdef0 2030-01-01T00:00:00\.\d{3}Z$/),
                text_targets: "10.20.30.40",
                enabled: false,
                launch_now: false,
                ...(policyId === undefined ? {} : { policy_id: policyId }),
            },
        });
        if (policyId === undefined) {
            expect(create?.body).not.toHaveProperty("settings.policy_id");
        }
        for (const request of fake.requests) {
            expect(request.headers).toEqual({
                apiKeys: `accessKey=${FAKE_KEYS.accessKey}; secretKey=${FAKE_KEYS.secretKey}`,
                contentType: "application/json",
                accept: "application/json",
            });
        }
    });

    it("accepts a base URL with a trailing slash", async () => {
        const fake = await startTenableFake({ kind: "clean" });
        try {
            expect(resultOf(await runScan(`${fake.url}/`)).findings).toEqual([]);
            expect(fake.requests[0]?.path).toBe("/scans");
        } finally {
            await fake.stop();
        }
    });
});

describe("findings", () => {
    it.each<[unknown, Severity]>([
        [0, "info"],
        [1, "low"],
        [2, "medium"],
        [3, "high"],
        [4, "critical"],
        ["3", "high"],
    ])("maps Tenable severity %p to %s", async (severity, expected) => {
        const { run } = await scanWith({ kind: "findings", vulnerabilities: [{ plugin_id: 19506, plugin_name: "Nessus Scan Information", severity }] });
        expect(resultOf(run).findings).toEqual([{ id: "tenable-plugin-19506", title: "Nessus Scan Information", severity: expected, cves: [] }]);
    });

    it("keeps every finding in order and uses CVE lists when the entries carry them", async () => {
        const { run } = await scanWith({
            kind: "findings",
            vulnerabilities: [
                { plugin_id: 10287, plugin_name: "Traceroute Information", severity: 0 },
                { plugin_id: 70658, plugin_name: "SSH Server CBC Mode Ciphers Enabled", severity: 1, cve: ["CVE-2008-5161"] },
                { plugin_id: 57608, plugin_name: "SMB Signing not required", severity: 2 },
                { plugin_id: 187315, plugin_name: "SSH Terrapin Prefix Truncation Weakness", severity: 3, cve: ["CVE-2023-48795", "CVE-2023-48795"] },
                { plugin_id: 201198, plugin_name: "OpenSSH < 9.8 RCE (regreSSHion)", severity: 4, cve: ["CVE-2024-6387", "CVE-2024-6409"] },
            ],
        });
        const result = resultOf(run);
        expect(result.findings).toEqual([
            { id: "tenable-plugin-10287", title: "Traceroute Information", severity: "info", cves: [] },
            { id: "tenable-plugin-70658", title: "SSH Server CBC Mode Ciphers Enabled", severity: "low", cves: ["CVE-2008-5161"] },
            { id: "tenable-plugin-57608", title: "SMB Signing not required", severity: "medium", cves: [] },
            { id: "tenable-plugin-187315", title: "SSH Terrapin Prefix Truncation Weakness", severity: "high", cves: ["CVE-2023-48795"] },
            { id: "tenable-plugin-201198", title: "OpenSSH < 9.8 RCE (regreSSHion)", severity: "critical", cves: ["CVE-2024-6387", "CVE-2024-6409"] },
        ]);
        expect(result.warnings).toEqual([]);
        expect(run.logs).toContain("tenable scan 101: 5 findings on 10.20.30.40");
    });

    it("counts the findings of every host record of the target, not only the first, and none of another host's", async () => {
        const { run, fake } = await scanWith({
            kind: "host-records",
            records: [
                { vulnerabilities: [{ plugin_id: 70658, plugin_name: "SSH Server CBC Mode Ciphers Enabled", severity: 1 }] },
                { hostname: "10.20.30.99", vulnerabilities: [{ plugin_id: 11111, plugin_name: "Another host's problem", severity: 4 }] },
                { vulnerabilities: [{ plugin_id: 201198, plugin_name: "OpenSSH < 9.8 RCE (regreSSHion)", severity: 4, cve: ["CVE-2024-6387"] }] },
            ],
        });
        expect(resultOf(run).findings).toEqual([
            { id: "tenable-plugin-70658", title: "SSH Server CBC Mode Ciphers Enabled", severity: "low", cves: [] },
            { id: "tenable-plugin-201198", title: "OpenSSH < 9.8 RCE (regreSSHion)", severity: "critical", cves: ["CVE-2024-6387"] },
        ]);
        expect(fake.requestsTo("host").map((r) => r.path)).toEqual([`/scans/101/hosts/${FAKE_HOST_ID}`, `/scans/101/hosts/${FAKE_HOST_ID + 2}`]);
        expect(run.logs).toContain("tenable scan 101: 2 findings on 10.20.30.40 (2 host records)");
    });

    it("counts a finding repeated across host records once (same plugin and severity), with the CVEs of all", async () => {
        const { run, fake } = await scanWith({
            kind: "host-records",
            records: [
                {
                    vulnerabilities: [
                        { plugin_id: 187315, plugin_name: "SSH Terrapin Prefix Truncation Weakness", severity: 2, cve: ["CVE-2023-48795"] },
                        { plugin_id: 57608, plugin_name: "SMB Signing not required", severity: 2 },
                    ],
                },
                {
                    vulnerabilities: [
                        { plugin_id: 187315, plugin_name: "SSH Terrapin Prefix Truncation Weakness", severity: 2, cve: ["CVE-2023-48795", "CVE-2023-46445"] },
                        // The same plugin rated higher on another record: a different finding, and the one that decides.
                        { plugin_id: 57608, plugin_name: "SMB Signing not required", severity: 3 },
                    ],
                },
                // The same record listed twice (same host_id): read once.
                { hostId: FAKE_HOST_ID, vulnerabilities: [] },
            ],
        });
        expect(resultOf(run).findings).toEqual([
            { id: "tenable-plugin-187315", title: "SSH Terrapin Prefix Truncation Weakness", severity: "medium", cves: ["CVE-2023-48795", "CVE-2023-46445"] },
            { id: "tenable-plugin-57608", title: "SMB Signing not required", severity: "medium", cves: [] },
            { id: "tenable-plugin-57608", title: "SMB Signing not required", severity: "high", cves: [] },
        ]);
        expect(fake.requestsTo("host").map((r) => r.path)).toEqual([`/scans/101/hosts/${FAKE_HOST_ID}`, `/scans/101/hosts/${FAKE_HOST_ID + 1}`]);
    });

    it("fails when any host record of the target has no host_id, even if another one has", async () => {
        const { run, fake } = await scanWith({
            kind: "host-records",
            records: [{ vulnerabilities: [] }, { hostId: null, vulnerabilities: [{ plugin_id: 1, plugin_name: "hidden", severity: 4 }] }],
        });
        expect(errorOf(run).message).toBe("Tenable answered with an unexpected answer to GET /scans/101 (no host_id for 10.20.30.40).");
        expect(fake.requestsTo("host")).toHaveLength(0);
    });

    it("fails when the results of one of the target's host records cannot be read", async () => {
        const { run } = await scanWith([
            { kind: "host-records", records: [{ vulnerabilities: [] }, { vulnerabilities: [] }] },
            { kind: "http500", endpoint: "host" },
        ]);
        expect(errorOf(run).message).toMatch(/^Could not read Tenable scan 101's results for 10\.20\.30\.40: Tenable answered HTTP 500 to GET \/scans\/101\/hosts\/2: /);
    });

    it.each([
        ["alone (today's fail-closed case)", [{ hostname: "ip-10-20-30-40.eu-west-1.compute.internal", vulnerabilities: [{ plugin_id: 201198, plugin_name: "OpenSSH < 9.8 RCE (regreSSHion)", severity: 4 }] }]],
        [
            "beside a clean record under its address (its findings must not be dropped)",
            [{ vulnerabilities: [] }, { hostname: "web-1.internal.example", vulnerabilities: [{ plugin_id: 201198, plugin_name: "OpenSSH < 9.8 RCE (regreSSHion)", severity: 4 }] }],
        ],
    ])("a host record under a DNS name instead of the instance's address fails closed with a readable reason: %s", async (_case, records) => {
        const { run, fake } = await scanWith({ kind: "host-records", records });
        const error = errorOf(run);
        expect(error.message).toMatch(
            /^Tenable scan 101 reported a host under the name "[a-z0-9.-]+" instead of its address, so Airlock cannot tell whether its results are 10\.20\.30\.40's and cannot vouch for the instance\. Turn off "Designate hosts by their DNS name"/,
        );
        expect(fake.requestsTo("host")).toHaveLength(0);
    });

    it("fails on a severity outside 0-4 instead of guessing", async () => {
        const { run } = await scanWith({ kind: "findings", vulnerabilities: [{ plugin_id: 1, plugin_name: "odd", severity: 7 }] });
        expect(errorOf(run).message).toBe("Tenable returned an unknown severity 7.");
    });

    it("fails on a vulnerability entry without a plugin name", async () => {
        const { run } = await scanWith({ kind: "findings", vulnerabilities: [{ plugin_id: 1, plugin_name: "", severity: 2 }] });
        expect(errorOf(run).message).toMatch(/^Tenable answered with an unexpected vulnerability entry #1 from GET \/scans\/101\/hosts\/2/);
    });
});

describe("polling", () => {
    it("follows a running scan to completion, logging each change and backing off between polls", async () => {
        const { run, fake } = await scanWith([{ kind: "running-for", polls: 5 }, { kind: "findings", vulnerabilities: [{ plugin_id: 42, plugin_name: "x", severity: 4 }] }]);
        expect(resultOf(run).findings).toHaveLength(1);
        expect(progressLines(run)).toEqual([
            "tenable scan 101: pending",
            "tenable scan 101: running 20%",
            "tenable scan 101: running 40%",
            "tenable scan 101: running 60%",
            "tenable scan 101: running 80%",
            "tenable scan 101: completed 100%",
        ]);
        expect(fake.requestsTo("details")).toHaveLength(6);
        expect(run.sleeps).toEqual([0, 1, 2, 3, 4].map((attempt) => backoffDelay(attempt, DEFAULT_BACKOFF, 0.5)));
    });

    it("logs only when the status or the percentage changes", async () => {
        const { run, fake } = await scanWith({ kind: "running-for", polls: 7, progress: [null, null, 0, 0, 50, 50, 50] });
        resultOf(run);
        expect(fake.requestsTo("details")).toHaveLength(8);
        expect(progressLines(run)).toEqual([
            "tenable scan 101: pending",
            "tenable scan 101: running 0%",
            "tenable scan 101: running 50%",
            "tenable scan 101: completed 100%",
        ]);
    });

    it("uses the configured backoff", async () => {
        const settings = { pollInitialMs: 1_000, pollMaxMs: 4_000 };
        const { run } = await scanWith({ kind: "running-for", polls: 6 }, { settings, random: 0 });
        resultOf(run);
        expect(run.sleeps).toEqual([500, 1_000, 2_000, 2_000, 2_000, 2_000]);
    });

    it("gives up at the deadline with a scan time-out naming the scan and the time waited, the polls bounded by the backoff", async () => {
        const deadlineMs = 10 * 60_000;
        const { run, fake } = await scanWith({ kind: "running-for", polls: 1_000_000 }, { deadlineMs });
        const error = errorOf(run);
        expect(isScanTimeout(error)).toBe(true);
        expect(error.message).toMatch(/^Tenable scan 101 of 10\.20\.30\.40 did not complete within 10 min( \d+ s)? \(last status "running", \d+ polls\)\.$/);

        // Every wait is the backoff's (the last one clipped to the deadline), and they fill the window.
        const polls = fake.requestsTo("details").length;
        expect(polls).toBe(run.sleeps.length + 1);
        run.sleeps.slice(0, -1).forEach((ms, attempt) => expect(ms).toBe(backoffDelay(attempt, DEFAULT_BACKOFF, 0.5)));
        expect(run.sleeps.at(-1)).toBeLessThanOrEqual(backoffDelay(run.sleeps.length - 1, DEFAULT_BACKOFF, 0.5));
        const waited = run.sleeps.reduce((a, b) => a + b, 0);
        expect(waited).toBeLessThanOrEqual(deadlineMs);
        expect(waited).toBeGreaterThan(deadlineMs - 5_000);
        // 3.75 + 7.5 + 15 + 30 + 45 s..., then 45 s each: about 17 polls in 10 minutes, never a busy loop.
        expect(polls).toBeGreaterThanOrEqual(15);
        expect(polls).toBeLessThanOrEqual(19);
        expect(fake.requestsTo("host")).toHaveLength(0);
    });

    it.each<[string, TenableScript]>([
        ["at once", { kind: "aborted" }],
        ["after running", [{ kind: "running-for", polls: 2 }, { kind: "aborted" }]],
    ])("fails when the scan is aborted (%s)", async (_, script) => {
        const { run, fake } = await scanWith(script);
        const error = errorOf(run);
        expect(isScanTimeout(error)).toBe(false);
        expect(error.message).toMatch(/^Tenable scan 101 of 10\.20\.30\.40 ended with status "aborted" instead of completing/);
        expect(fake.requestsTo("host")).toHaveLength(0);
    });
});

describe("HTTP failures", () => {
    it.each<[FakeEndpoint, RegExp]>([
        ["create", /^Could not create the Tenable scan of 10\.20\.30\.40: Tenable answered HTTP 500 to POST \/scans: /],
        ["launch", /^Could not launch Tenable scan 101: Tenable answered HTTP 500 to POST \/scans\/101\/launch: /],
    ])("fails at once on HTTP 500 from %s, with the body's keys removed", async (endpoint, message) => {
        const { run, fake } = await scanWith({ kind: "http500", endpoint, times: 1 });
        const error = errorOf(run);
        expect(error.message).toMatch(message);
        expect(error.message).toContain("[redacted]"); // the fake echoed X-ApiKeys in its body
        expect(fake.requestsTo(endpoint)).toHaveLength(1);
        expect(fake.requestsTo("details")).toHaveLength(0);
    });

    it.each([1, 3])("recovers from %i transient HTTP 500 while polling", async (times) => {
        const { run, fake } = await scanWith([{ kind: "http500", endpoint: "details", times }, { kind: "findings", vulnerabilities: [{ plugin_id: 7, plugin_name: "p", severity: 2 }] }]);
        expect(resultOf(run).findings).toEqual([{ id: "tenable-plugin-7", title: "p", severity: "medium", cves: [] }]);
        expect(fake.requestsTo("details")).toHaveLength(times + 1);
        expect(run.logs).toContain(`tenable scan 101: Tenable answered HTTP 500 to GET /scans/101: ${JSON.stringify(`{"statusCode":500,"error":"Internal Server Error","message":"upstream failed; request header was X-ApiKeys: accessKey=[redacted]; secretKey=[redacted]"}`)}. Retrying (1 of 3).`);
        expect(run.sleeps).toEqual([...Array(times).keys()].map((attempt) => backoffDelay(attempt, DEFAULT_BACKOFF, 0.5)));
    });

    it("fails after four HTTP 500 in a row while polling", async () => {
        const { run, fake } = await scanWith({ kind: "http500", endpoint: "details" });
        expect(errorOf(run).message).toMatch(/^Could not follow Tenable scan 101: Tenable answered HTTP 500 to GET \/scans\/101: /);
        expect(fake.requestsTo("details")).toHaveLength(4);
    });

    it("retries a transient HTTP 500 on the host results", async () => {
        const { run, fake } = await scanWith({ kind: "http500", endpoint: "host", times: 2 });
        expect(resultOf(run).findings).toEqual([]);
        expect(fake.requestsTo("host")).toHaveLength(3);
    });

    it("fails when the host results keep failing", async () => {
        const { run, fake } = await scanWith({ kind: "http500", endpoint: "host" });
        expect(errorOf(run).message).toMatch(/^Could not read Tenable scan 101's results for 10\.20\.30\.40: Tenable answered HTTP 500 to GET \/scans\/101\/hosts\/2: /);
        expect(fake.requestsTo("host")).toHaveLength(4);
    });

    it.each<[FakeEndpoint, string]>([
        ["create", "POST /scans"],
        ["launch", "POST /scans/101/launch"],
        ["details", "GET /scans/101"],
        ["host", "GET /scans/101/hosts/2"],
    ])("fails clearly, without retrying, on malformed JSON from %s", async (endpoint, what) => {
        const { run, fake } = await scanWith({ kind: "malformed-json", endpoint });
        const error = errorOf(run);
        expect(error.message).toContain(`Tenable answered with an unexpected, non-JSON response to ${what}: "{\\"info\\": {\\"status\\": \\"runn".`);
        expect(fake.requestsTo(endpoint)).toHaveLength(1);
    });

    it("reports a server it cannot reach with the cause", async () => {
        const fake = await startTenableFake({ kind: "clean" });
        await fake.stop();
        const run = await runScan(fake.url);
        const error = errorOf(run);
        expect(isScanTimeout(error)).toBe(false);
        expect(error.message).toMatch(/^Could not create the Tenable scan of 10\.20\.30\.40: Could not reach Tenable at http:\/\/127\.0\.0\.1:\d+ \(POST \/scans\): .*ECONNREFUSED/);
    });
});

describe("slow answers", () => {
    it("stops waiting at the deadline with a scan time-out", async () => {
        const { run, fake } = await scanWith({ kind: "slow", delayMs: 5_000 }, { deadlineMs: 200 });
        const error = errorOf(run);
        expect(isScanTimeout(error)).toBe(true);
        expect(error.message).toMatch(/^Tenable did not create the scan of 10\.20\.30\.40 before the deadline \(after \d+(\.\d)? s\)\.$/);
        // The request was cut off (at most a second's grace), not awaited for the full 5 s.
        expect(run.realMs).toBeLessThan(2_500);
        expect(fake.requestsTo("create")).toHaveLength(1);
    });

    it("gives each request its own timeout even when the deadline is far", async () => {
        const { run } = await scanWith({ kind: "slow", delayMs: 2_000 }, { settings: { requestTimeoutMs: 100 } });
        const error = errorOf(run);
        expect(isScanTimeout(error)).toBe(false);
        expect(error.message).toBe("Could not create the Tenable scan of 10.20.30.40: Tenable did not answer POST /scans within 0.1 s.");
        expect(run.realMs).toBeLessThan(1_500);
    });

    it("waits for answers that are slow but within the deadline", async () => {
        const { run } = await scanWith([{ kind: "slow", delayMs: 50 }, { kind: "running-for", polls: 2 }]);
        expect(resultOf(run).findings).toEqual([]);
    });
});

describe("refusals", () => {
    it("reports wrong keys as HTTP 401 without showing them", async () => {
        const { run, fake } = await scanWith({ kind: "clean" }, { keys: WRONG_KEYS });
        expect(errorOf(run).message).toBe("Could not create the Tenable scan of 10.20.30.40: Tenable rejected the API keys (HTTP 401) on POST /scans.");
        expect(fake.requests).toHaveLength(1);
    });

    it("reports revoked keys the same way", async () => {
        const { run } = await scanWith({ kind: "unauthorized" });
        expect(errorOf(run).message).toContain("Tenable rejected the API keys (HTTP 401)");
    });

    it("explains that Nessus Professional refuses scan creation through the API (HTTP 412)", async () => {
        const { run, fake } = await scanWith({ kind: "professional" });
        const message = errorOf(run).message;
        expect(message).toContain('Tenable refused POST /scans with HTTP 412 ("{\\"error\\":\\"API is not available\\"}")');
        expect(message).toContain("Nessus Professional and Nessus Expert do not allow creating or launching scans through the API");
        expect(message).toContain("Use Nessus Manager or Tenable Vulnerability Management.");
        expect(fake.requests.map((r) => r.endpoint)).toEqual(["create"]);
    });

    it("fails when the completed scan has no result for the target, never returning a clean result", async () => {
        const { run, fake } = await scanWith([{ kind: "no-host" }, { kind: "running-for", polls: 2 }]);
        const error = errorOf(run);
        expect(error.message).toMatch(/^Tenable scan 101 completed, but the scan did not reach 10\.20\.30\.40 \(no host result for it\)/);
        expect(fake.requestsTo("host")).toHaveLength(0);
    });

    it.each<[string, Partial<TenableSettings>, RegExp]>([
        ["no secret key", { secretKey: "" }, /needs `scanner\.secretKey`/],
        ["a key that cannot go in a header", { accessKey: "ak;\nX-Other: 1" }, /`scanner\.accessKey` contains characters/],
        ["no template", { templateUuid: "" }, /needs `scanner\.templateUuid`/],
        ["a URL that is not http(s)", { url: "ftp://tenable.example" }, /`scanner\.url` must be the http\(s\) URL/],
        ["a bad policy id", { policyId: 1.5 }, /`scanner\.policyId` must be a positive whole number, not 1\.5/],
    ])("refuses settings with %s before any request", async (_, settings, message) => {
        const { run, fake } = await scanWith({ kind: "clean" }, { settings });
        expect(errorOf(run).message).toMatch(message);
        expect(errorOf(run).message).not.toContain("ak;");
        expect(fake.requests).toHaveLength(0);
    });
});

describe("secrets", () => {
    // afterEach already checks every run; this table makes the guarantee explicit per failure mode.
    it.each<[string, TenableScript, RunOptions]>([
        ["clean", { kind: "clean" }, {}],
        ["findings", { kind: "findings", vulnerabilities: [{ plugin_id: 1, plugin_name: "n", severity: 3 }] }, {}],
        ["retried 500s echoing the header", { kind: "http500", endpoint: "details", times: 2 }, {}],
        ["a 500 echoing the header", { kind: "http500", endpoint: "launch" }, {}],
        ["wrong keys", { kind: "clean" }, { keys: WRONG_KEYS }],
        ["unauthorized", { kind: "unauthorized" }, {}],
        ["professional", { kind: "professional" }, {}],
        ["malformed JSON", { kind: "malformed-json", endpoint: "details" }, {}],
        ["no host", { kind: "no-host" }, {}],
        ["aborted", { kind: "aborted" }, {}],
        ["a timeout", { kind: "running-for", polls: 100 }, { deadlineMs: 120_000 }],
    ])("never appear in the message, logs or result (%s)", async (_, script, options) => {
        const { run } = await scanWith(script, options);
        const everything = [...run.logs, JSON.stringify(run.result ?? null), String(run.error ?? "")].join("\n");
        const keys = options.keys ?? FAKE_KEYS;
        expect(everything).not.toContain(keys.accessKey);
        expect(everything).not.toContain(keys.secretKey);
    });
});
