/**
 * The Amazon Inspector adapter through the REAL AWS SDK v3 over HTTP:
 *   - a fake Inspector2 endpoint on 127.0.0.1 speaking REST-JSON (POST /coverage/list, /findings/list,
 *     /status/batch/get), pointed to by AWS_ENDPOINT_URL_INSPECTOR2, for what moto lacks or cannot do
 *     (ListCoverage, pagination, errors);
 *   - moto (test/support/moto.ts) for what it really implements: ListFindings (it ignores filters and
 *     answers from a seeded queue), BatchGetAccountStatus, STS AssumeRole. The fake forwards every
 *     path it does not serve to moto, so one endpoint gives the adapter moto's findings plus a
 *     coverage answer; moto's request recording proves the calls reached it.
 * Time is half virtual (as in tenable.test.ts): ctx.sleep advances a virtual clock at once, ctx.now()
 * also counts real time.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as pulumi from "@pulumi/pulumi";
import { EnableCommand, Inspector2Client } from "@aws-sdk/client-inspector2";
import { InspectorSettings, inspectorScanner } from "../providers/scanners/inspector";
import { ScanContext, ScanResult, ScanTarget, isScanTimeout, isScannerError } from "../providers/scanners/types";
import { dynamicUrn, startProviderHost } from "./support/providerHost";
import { PROMOTION_TYPE, promotionInputs, serializePromotionProvider } from "./support/promotionWorld";
import { MOTO_ACCOUNT_ID, Moto, SeededInstance, awsClientConfig, clientEnv, seedAirlockInstance, seedInspectorFindings, startMoto } from "./support/moto";

const INSTANCE = "i-0123456789abcdef0";
const OTHER = "i-0fedcba9876543210";
const ACCOUNT = "111122223333";
const REGION = "eu-west-1";
const TARGET: ScanTarget = {
    instanceId: INSTANCE,
    instanceArn: `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/${INSTANCE}`,
    privateIp: "10.20.30.40",
    region: REGION,
    accountId: ACCOUNT,
};
const BASE_TIME = Date.parse("2030-01-01T00:00:00.000Z");
const HOUR = 3_600_000;
const SCANNED_AT = BASE_TIME - 10 * 60_000;
const SETTINGS: InspectorSettings = { region: REGION };

// ---------------------------------------------------------------------------------------------
// Fake Inspector2 endpoint

interface FakeRequest {
    readonly path: string;
    readonly body: Record<string, unknown>;
    readonly authorization: string;
    /** Access key id from the SigV4 Authorization header. */
    readonly accessKeyId?: string;
    /** Region and service of the SigV4 credential scope. */
    readonly scope?: string;
}

type Answer = { readonly status?: number; readonly body?: unknown } | { readonly error: string; readonly status: number; readonly message: string };
/** n = 0-based count of requests to this path so far. */
type Handler = (body: Record<string, unknown>, n: number) => Answer;

interface InspectorFake {
    readonly url: string;
    readonly requests: FakeRequest[];
    to(path: string): FakeRequest[];
    stop(): Promise<void>;
}

const ROUTES = { coverage: "/coverage/list", findings: "/findings/list", status: "/status/batch/get", sts: "/" } as const;

/** Serves the given routes; anything else goes to `upstream` (moto) when given, or gets a 404 like an unknown route. */
async function startInspectorFake(routes: Partial<Record<keyof typeof ROUTES, Handler>>, upstream?: string): Promise<InspectorFake> {
    const requests: FakeRequest[] = [];
    const counts = new Map<string, number>();
    const byPath = new Map<string, Handler>();
    for (const [name, handler] of Object.entries(routes)) {
        if (handler) byPath.set(ROUTES[name as keyof typeof ROUTES], handler);
    }
    const server = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
            void (async () => {
                const raw = Buffer.concat(chunks);
                const path = (req.url ?? "/").split("?")[0]!;
                const authorization = String(req.headers.authorization ?? "");
                const scope = /Credential=([^/,\s]+)\/\d{8}\/([^/]+\/[^/]+)\/aws4_request/.exec(authorization);
                let body: Record<string, unknown> = {};
                try {
                    body = raw.length > 0 ? (JSON.parse(raw.toString("utf8")) as Record<string, unknown>) : {};
                } catch {
                    body = Object.fromEntries(new URLSearchParams(raw.toString("utf8")));
                }
                requests.push({ path, body, authorization, accessKeyId: scope?.[1], scope: scope?.[2] });
                const handler = req.method === "POST" ? byPath.get(path) : undefined;
                if (handler === undefined) {
                    if (upstream === undefined) {
                        res.writeHead(404, { "content-type": "text/html" }).end("<!doctype html><title>404 Not Found</title>");
                        return;
                    }
                    const headers: Record<string, string> = {};
                    for (const [k, v] of Object.entries(req.headers)) {
                        if (typeof v === "string" && k !== "host" && k !== "connection") headers[k] = v;
                    }
                    const answer = await fetch(upstream + (req.url ?? "/"), { method: req.method, headers, body: raw.length > 0 ? raw : undefined });
                    const text = Buffer.from(await answer.arrayBuffer());
                    const out: Record<string, string> = {};
                    answer.headers.forEach((v, k) => {
                        if (k === "content-type" || k.startsWith("x-amz")) out[k] = v;
                    });
                    res.writeHead(answer.status, out).end(text);
                    return;
                }
                const n = counts.get(path) ?? 0;
                counts.set(path, n + 1);
                const answer = handler(body, n);
                if ("error" in answer && path === "/") {
                    // STS speaks the Query protocol: errors are XML.
                    res.writeHead(answer.status, { "content-type": "text/xml" }).end(
                        `<ErrorResponse><Error><Type>Sender</Type><Code>${answer.error}</Code><Message>${answer.message}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`,
                    );
                    return;
                }
                if ("error" in answer) {
                    res.writeHead(answer.status, { "content-type": "application/json", "x-amzn-errortype": answer.error }).end(
                        JSON.stringify({ message: answer.message }),
                    );
                    return;
                }
                res.writeHead(answer.status ?? 200, { "content-type": "application/json" }).end(JSON.stringify(answer.body ?? {}));
            })().catch((error: unknown) => {
                res.writeHead(500, { "content-type": "text/plain" }).end(String(error));
            });
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
        url: `http://127.0.0.1:${port}`,
        requests,
        to: (path) => requests.filter((r) => r.path === path),
        stop: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            }),
    };
}

/** Epoch seconds, as Inspector's REST-JSON protocol sends timestamps. */
const seconds = (ms: number): number => ms / 1000;

function covered(overrides: Record<string, unknown> = {}, instanceId = INSTANCE): Record<string, unknown> {
    return {
        resourceId: instanceId,
        resourceType: "AWS_EC2_INSTANCE",
        accountId: ACCOUNT,
        scanType: "PACKAGE",
        scanMode: "EC2_SSM_AGENT_BASED",
        scanStatus: { statusCode: "ACTIVE", reason: "SUCCESSFUL" },
        lastScannedAt: seconds(SCANNED_AT),
        resourceMetadata: { ec2: { platform: "LINUX", amiId: "ami-0abcdef1234567890" } },
        ...overrides,
    };
}

let findingCounter = 0;
function finding(severity: string, overrides: Record<string, unknown> = {}, resourceId = INSTANCE): Record<string, unknown> {
    findingCounter += 1;
    return {
        findingArn: `arn:aws:inspector2:${REGION}:${ACCOUNT}:finding/${findingCounter.toString(16).padStart(32, "0")}`,
        awsAccountId: ACCOUNT,
        type: "PACKAGE_VULNERABILITY",
        description: `Description ${findingCounter}`,
        title: `CVE-2030-${1000 + findingCounter} - openssl`,
        severity,
        status: "ACTIVE",
        firstObservedAt: seconds(SCANNED_AT),
        lastObservedAt: seconds(SCANNED_AT),
        remediation: { recommendation: { text: "Upgrade" } },
        resources: [{ type: "AWS_EC2_INSTANCE", id: resourceId, region: REGION, partition: "aws" }],
        packageVulnerabilityDetails: { vulnerabilityId: `CVE-2030-${1000 + findingCounter}`, source: "NVD" },
        ...overrides,
    };
}

const coveredOnce: Handler = () => ({ body: { coveredResources: [covered()] } });
const noFindings: Handler = () => ({ body: { findings: [] } });

// ---------------------------------------------------------------------------------------------
// Running a scan

interface Run {
    readonly result?: ScanResult;
    readonly error?: unknown;
    readonly logs: string[];
    readonly sleeps: number[];
    readonly realMs: number;
}

interface RunOptions {
    readonly settings?: Partial<InspectorSettings>;
    readonly target?: ScanTarget;
    readonly deadlineMs?: number;
}

async function runScan(options: RunOptions = {}): Promise<Run> {
    const logs: string[] = [];
    const sleeps: number[] = [];
    const realStart = Date.now();
    let virtual = 0;
    const context: ScanContext = {
        target: options.target ?? TARGET,
        deadline: BASE_TIME + (options.deadlineMs ?? HOUR),
        log: (line) => logs.push(line),
        sleep: async (ms) => {
            sleeps.push(ms);
            virtual += ms;
        },
        now: () => BASE_TIME + virtual + (Date.now() - realStart),
        random: () => 0.5,
    };
    const scanner = inspectorScanner({ ...SETTINGS, ...options.settings });
    try {
        const result = await scanner.scan(context);
        return { result, logs, sleeps, realMs: Date.now() - realStart };
    } catch (error) {
        return { error, logs, sleeps, realMs: Date.now() - realStart };
    }
}

const savedEnv = process.env;
/** process.env without any AWS_* (no profile, no real endpoint), plus `extra`. */
function useEnv(extra: Record<string, string>): void {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(savedEnv)) {
        if (!k.startsWith("AWS_")) env[k] = v;
    }
    process.env = { ...env, AWS_EC2_METADATA_DISABLED: "true", AWS_MAX_ATTEMPTS: "2", ...extra };
}

function useFake(fake: InspectorFake): void {
    useEnv({
        AWS_ENDPOINT_URL_INSPECTOR2: fake.url,
        AWS_REGION: REGION,
        AWS_ACCESS_KEY_ID: "AKIAFAKEINSPECTOR01",
        AWS_SECRET_ACCESS_KEY: "fake-secret",
    });
}

const fakes: InspectorFake[] = [];
async function fakeFor(routes: Partial<Record<keyof typeof ROUTES, Handler>>, upstream?: string): Promise<InspectorFake> {
    const fake = await startInspectorFake(routes, upstream);
    fakes.push(fake);
    useFake(fake);
    return fake;
}

afterEach(async () => {
    process.env = savedEnv;
    await Promise.all(fakes.splice(0).map((f) => f.stop()));
});

/** The run's error, which must be a scanner error ("scanner": of any kind) or a scan time-out ("timeout"). */
function expectError(run: Run, kind: "scanner" | "timeout"): Error {
    expect(run.result).toBeUndefined();
    expect((kind === "timeout" ? isScanTimeout : isScannerError)(run.error)).toBe(true);
    return run.error as Error;
}

// ---------------------------------------------------------------------------------------------

describe("inspector scanner against a fake Inspector2 endpoint (real SDK)", () => {
    it("believes zero findings once the instance is covered and scanned, and sends the documented filters", async () => {
        const fake = await fakeFor({ coverage: coveredOnce, findings: noFindings });
        const run = await runScan();
        expect(run.error).toBeUndefined();
        expect(run.result).toEqual({ scanId: `inspector:${INSTANCE}@${new Date(SCANNED_AT).toISOString()}`, findings: [], warnings: [] });
        expect(run.logs).toEqual([`inspector: scanned at 2029-12-31T23:50:00.000Z (${INSTANCE})`, `inspector: 0 active findings on ${INSTANCE}`]);

        expect(fake.requests.map((r) => r.path)).toEqual(["/coverage/list", "/findings/list"]);
        expect(fake.to("/coverage/list")[0]!.body).toEqual({
            filterCriteria: {
                resourceId: [{ comparison: "EQUALS", value: INSTANCE }],
                resourceType: [{ comparison: "EQUALS", value: "AWS_EC2_INSTANCE" }],
            },
            maxResults: 200,
        });
        expect(fake.to("/findings/list")[0]!.body).toEqual({
            filterCriteria: {
                resourceId: [{ comparison: "EQUALS", value: INSTANCE }],
                findingStatus: [{ comparison: "EQUALS", value: "ACTIVE" }],
            },
            maxResults: 100,
        });
        // Signed by the SDK with the environment's credentials for inspector2 in the configured region.
        expect(fake.requests.every((r) => r.accessKeyId === "AKIAFAKEINSPECTOR01" && r.scope === `${REGION}/inspector2`)).toBe(true);
    });

    it("maps every Inspector severity (UNTRIAGED counts as critical), finding ARNs, titles and CVEs", async () => {
        const page = [
            finding("INFORMATIONAL"),
            finding("LOW"),
            finding("MEDIUM"),
            finding("HIGH"),
            finding("CRITICAL"),
            finding("UNTRIAGED", { title: undefined, packageVulnerabilityDetails: { vulnerabilityId: "GHSA-xxxx-yyyy-zzzz", source: "GITHUB" } }),
            finding("HIGH", { type: "NETWORK_REACHABILITY", title: "Port 22 is reachable", packageVulnerabilityDetails: undefined }),
        ];
        await fakeFor({ coverage: coveredOnce, findings: () => ({ body: { findings: page } }) });
        const run = await runScan();
        expect(run.error).toBeUndefined();
        const findings = run.result!.findings;
        expect(findings.map((f) => f.severity)).toEqual(["info", "low", "medium", "high", "critical", "critical", "high"]);
        expect(findings.map((f) => f.id)).toEqual(page.map((f) => f.findingArn));
        expect(findings[0]).toEqual({ id: page[0]!.findingArn, title: page[0]!.title, severity: "info", cves: [(page[0]!.packageVulnerabilityDetails as { vulnerabilityId: string }).vulnerabilityId] });
        expect(findings[5]).toMatchObject({ title: "GHSA-xxxx-yyyy-zzzz", cves: [] });
        expect(findings[6]).toMatchObject({ title: "Port 22 is reachable", cves: [] });
        expect(run.logs).toContain(`inspector: 7 active findings on ${INSTANCE}`);
    });

    it("ignores findings of other resources that a sloppy filter lets through, but keeps the instance's own (by id or ARN)", async () => {
        const mine = finding("HIGH");
        const mineByArn = finding("MEDIUM", {}, TARGET.instanceArn);
        const shared = finding("LOW", { resources: [{ type: "AWS_EC2_INSTANCE", id: OTHER }, { type: "AWS_EC2_INSTANCE", id: INSTANCE }] });
        const others = [finding("CRITICAL", {}, OTHER), finding("CRITICAL", {}, "arn:aws:ecr:eu-west-1:111122223333:repository/app/sha256:" + "a".repeat(64))];
        const suppressed = finding("CRITICAL", { status: "SUPPRESSED" });
        await fakeFor({ coverage: coveredOnce, findings: () => ({ body: { findings: [others[0], mine, suppressed, others[1], mineByArn, shared] } }) });
        const run = await runScan();
        expect(run.error).toBeUndefined();
        expect(run.result!.findings.map((f) => f.id)).toEqual([mine.findingArn, mineByArn.findingArn, shared.findingArn]);
        expect(run.result!.warnings).toEqual([`Amazon Inspector returned 2 findings of other resources despite the filter on ${INSTANCE}; ignored.`]);
        expect(run.logs).toContain(`inspector: ignored 1 finding of ${INSTANCE} that are not ACTIVE (suppressed or closed)`);
    });

    it("ignores coverage of other instances and network-only coverage (sloppy coverage filter)", async () => {
        await fakeFor({
            coverage: () => ({ body: { coveredResources: [covered({}, OTHER), covered({ scanType: "NETWORK" })] } }),
            findings: noFindings,
            status: () => ({ body: { accounts: [{ accountId: ACCOUNT, state: { status: "ENABLED" }, resourceState: { ec2: { status: "ENABLED" } } }] } }),
        });
        const run = await runScan({ deadlineMs: 5 * 60_000 });
        const error = expectError(run, "timeout");
        expect(error.message).toContain(`Amazon Inspector has not scanned ${INSTANCE} yet`);
        expect(error.message).toContain("not covered by Amazon Inspector yet");
        expect(error.message).toContain("EC2 scanning is enabled for account 111122223333, but it does not list the instance yet");
    });

    it("reads every page of findings, passing nextToken back", async () => {
        const first = [finding("LOW"), finding("MEDIUM")];
        const second = [finding("CRITICAL")];
        const fake = await fakeFor({
            coverage: coveredOnce,
            findings: (body) => (body.nextToken === "page-2" ? { body: { findings: second } } : { body: { findings: first, nextToken: "page-2" } }),
        });
        const run = await runScan();
        expect(run.error).toBeUndefined();
        expect(run.result!.findings.map((f) => f.severity)).toEqual(["low", "medium", "critical"]);
        expect(fake.to("/findings/list").map((r) => r.body.nextToken)).toEqual([undefined, "page-2"]);
    });

    it("pages coverage too, and waits through 'not covered' and 'pending initial scan' with backoff", async () => {
        const fake = await fakeFor({
            coverage: (body, n) => {
                if (n === 0) return { body: { coveredResources: [] } };
                if (n === 1) return { body: { coveredResources: [covered({ lastScannedAt: undefined, scanStatus: { statusCode: "ACTIVE", reason: "PENDING_INITIAL_SCAN" } })] } };
                return body.nextToken === "more" ? { body: { coveredResources: [covered()] } } : { body: { coveredResources: [covered({}, OTHER)], nextToken: "more" } };
            },
            findings: noFindings,
        });
        const run = await runScan({ settings: { pollInitialMs: 1000, pollMaxMs: 4000 } });
        expect(run.error).toBeUndefined();
        expect(run.result!.scanId).toBe(`inspector:${INSTANCE}@2029-12-31T23:50:00.000Z`);
        expect(run.logs.slice(0, 3)).toEqual([
            `inspector: waiting for coverage of ${INSTANCE}: not covered by Amazon Inspector yet`,
            `inspector: waiting for coverage of ${INSTANCE}: coverage ACTIVE (PENDING_INITIAL_SCAN), no scan finished yet`,
            `inspector: scanned at 2029-12-31T23:50:00.000Z (${INSTANCE})`,
        ]);
        // Equal jitter with random 0.5: 3/4 of 1 s, then of 2 s.
        expect(run.sleeps).toEqual([750, 1500]);
        expect(fake.to("/coverage/list").map((r) => r.body.nextToken)).toEqual([undefined, undefined, undefined, "more"]);
    });

    it("gives up at the deadline with a scan time-out, without really waiting, and says why there is no coverage", async () => {
        const fake = await fakeFor({
            coverage: () => ({ body: { coveredResources: [] } }),
            findings: noFindings,
            status: () => ({
                body: { accounts: [{ accountId: ACCOUNT, state: { status: "ENABLED" }, resourceState: { ec2: { status: "DISABLED" }, ecr: { status: "ENABLED" } } }] },
            }),
        });
        const run = await runScan({ deadlineMs: 2 * HOUR });
        const error = expectError(run, "timeout");
        expect(error.message).toMatch(
            new RegExp(`^Amazon Inspector has not scanned ${INSTANCE} yet \\(waited 2 h( \\d+ min)?, \\d+ polls\\): not covered by Amazon Inspector yet: Amazon Inspector EC2 scanning is DISABLED for account ${ACCOUNT} in ${REGION}\\.$`),
        );
        // Backoff up to the 2-minute cap, never past the deadline; the virtual clock did the waiting.
        expect(Math.max(...run.sleeps)).toBeLessThanOrEqual(120_000);
        expect(run.sleeps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(2 * HOUR);
        expect(run.realMs).toBeLessThan(10_000);
        expect(fake.to("/findings/list")).toHaveLength(0);
        expect(fake.to("/status/batch/get")[0]!.body).toEqual({ accountIds: [ACCOUNT] });
        expect(run.logs).toEqual([`inspector: waiting for coverage of ${INSTANCE}: not covered by Amazon Inspector yet`]);
    });

    it("names the INACTIVE reason (SSM agent not running) when the deadline passes", async () => {
        const fake = await fakeFor({
            coverage: () => ({ body: { coveredResources: [covered({ lastScannedAt: undefined, scanStatus: { statusCode: "INACTIVE", reason: "UNMANAGED_EC2_INSTANCE" } })] } }),
            findings: noFindings,
        });
        const run = await runScan({ deadlineMs: 30 * 60_000 });
        const error = expectError(run, "timeout");
        expect(error.message).toContain(`Amazon Inspector has not scanned ${INSTANCE} yet`);
        expect(error.message).toContain("coverage INACTIVE (UNMANAGED_EC2_INSTANCE)");
        expect(error.message).toContain("the SSM agent must be running");
        expect(fake.to("/status/batch/get")).toHaveLength(0);
    });

    it("fails at once when the coverage can never become active (UNSUPPORTED_OS)", async () => {
        const fake = await fakeFor({
            coverage: () => ({ body: { coveredResources: [covered({ lastScannedAt: undefined, scanStatus: { statusCode: "INACTIVE", reason: "UNSUPPORTED_OS" } })] } }),
            findings: noFindings,
        });
        const run = await runScan();
        const error = expectError(run, "scanner");
        expect(isScanTimeout(error)).toBe(false);
        expect(error.message).toContain("coverage is INACTIVE (UNSUPPORTED_OS)");
        expect(fake.to("/coverage/list")).toHaveLength(1);
        expect(run.sleeps).toEqual([]);
    });

    it("with maxCoverageAgeMinutes, waits until the last scan is recent enough", async () => {
        await fakeFor({
            coverage: (_body, n) => ({ body: { coveredResources: [covered({ lastScannedAt: seconds(n < 2 ? BASE_TIME - 3 * HOUR : BASE_TIME + 60_000) })] } }),
            findings: noFindings,
        });
        const run = await runScan({ settings: { maxCoverageAgeMinutes: 60, pollInitialMs: 1000 } });
        expect(run.error).toBeUndefined();
        expect(run.logs[0]).toBe(
            `inspector: waiting for coverage of ${INSTANCE}: last scanned at 2029-12-31T21:00:00.000Z, more than 60 minutes ago (scanner.maxCoverageAgeMinutes)`,
        );
        expect(run.result!.scanId).toBe(`inspector:${INSTANCE}@2030-01-01T00:01:00.000Z`);
    });

    it("turns AccessDeniedException into a scanner error naming it, without retrying", async () => {
        const fake = await fakeFor({
            coverage: () => ({ error: "AccessDeniedException", status: 403, message: "User: arn:aws:iam::111122223333:role/x is not authorized to perform: inspector2:ListCoverage" }),
        });
        const run = await runScan();
        const error = expectError(run, "scanner");
        expect(isScanTimeout(error)).toBe(false);
        expect(error.message).toContain("Amazon Inspector refused ListCoverage: AccessDeniedException: User: arn:aws:iam::111122223333:role/x is not authorized");
        expect(error.message).toContain("(HTTP 403)");
        expect(fake.to("/coverage/list")).toHaveLength(1);
    });

    it("surfaces throttling as a scanner error after the SDK's own retries", async () => {
        const fake = await fakeFor({ coverage: coveredOnce, findings: () => ({ error: "ThrottlingException", status: 429, message: "Rate exceeded" }) });
        process.env.AWS_MAX_ATTEMPTS = "3";
        const run = await runScan();
        const error = expectError(run, "scanner");
        expect(error.message).toBe("Amazon Inspector ListFindings failed: ThrottlingException: Rate exceeded (HTTP 429, after 3 attempts).");
        expect(fake.to("/findings/list")).toHaveLength(3);
    });

    it("refuses findings it cannot attribute or rate instead of skipping them", async () => {
        await fakeFor({ coverage: coveredOnce, findings: () => ({ body: { findings: [finding("HIGH", { resources: [] })] } }) });
        const unattributed = await runScan();
        expect(expectError(unattributed, "scanner").message).toMatch(/without resources, so it cannot be attributed/);

        await fakeFor({ coverage: coveredOnce, findings: () => ({ body: { findings: [finding("SEVERE")] } }) });
        const unrated = await runScan();
        expect(expectError(unrated, "scanner").message).toMatch(/^Amazon Inspector returned an unknown severity "SEVERE"\. \(arn:aws:inspector2:/);
    });

    it("says when there are no credentials at all, before calling Inspector", async () => {
        const fake = await fakeFor({ coverage: coveredOnce, findings: noFindings });
        useEnv({
            AWS_ENDPOINT_URL_INSPECTOR2: fake.url,
            AWS_REGION: REGION,
            AWS_SHARED_CREDENTIALS_FILE: "/nonexistent/credentials",
            AWS_CONFIG_FILE: "/nonexistent/config",
        });
        const run = await runScan();
        expect(expectError(run, "scanner").message).toMatch(/^No AWS credentials for Amazon Inspector: CredentialsProviderError: /);
        expect(fake.requests).toHaveLength(0);
    });

    it("blames a refused AssumeRole on the role, not on Inspector", async () => {
        const fake = await fakeFor({ coverage: coveredOnce, findings: noFindings, sts: () => ({ error: "AccessDenied", status: 403, message: "not authorized to perform sts:AssumeRole" }) });
        process.env.AWS_ENDPOINT_URL_STS = fake.url;
        const roleArn = `arn:aws:iam::${ACCOUNT}:role/airlock-inspector`;
        const run = await runScan({ settings: { assumeRoleArn: roleArn } });
        expect(expectError(run, "scanner").message).toBe(
            `Could not assume ${roleArn} for Amazon Inspector: AccessDenied: not authorized to perform sts:AssumeRole (HTTP 403).`,
        );
        expect(fake.requests.map((r) => [r.path, r.body.Action, r.scope])).toEqual([["/", "AssumeRole", `${REGION}/sts`]]);
    });

    it("checks its settings before calling AWS", async () => {
        const fake = await fakeFor({ coverage: coveredOnce, findings: noFindings });
        expect(expectError(await runScan({ settings: { maxCoverageAgeMinutes: 0 } }), "scanner").message).toContain("maxCoverageAgeMinutes");
        expect(expectError(await runScan({ settings: { assumeRoleArn: "role/x" } }), "scanner").message).toContain("assumeRoleArn");
        expect(expectError(await runScan({ target: { ...TARGET, instanceId: "web-1" } }), "scanner").message).toContain("EC2 instance id");
        expect(fake.requests).toHaveLength(0);
    });

    it("serializes for the dynamic-provider host with the SDK required inside the method", async () => {
        const scanner = inspectorScanner({ region: REGION, assumeRoleArn: `arn:aws:iam::${ACCOUNT}:role/airlock-inspector` });
        const serialized = await pulumi.runtime.serializeFunction(() => scanner, { allowSecrets: false });
        expect(serialized.text).toContain('require("@aws-sdk/client-inspector2")');
        expect(serialized.text).toContain('require("@aws-sdk/credential-providers")');
        expect(serialized.text).toContain("pollUntil");
        expect(serialized.text).not.toMatch(/Inspector2Client\s*=\s*\{/);
    });
});

// ---------------------------------------------------------------------------------------------

describe("inspector scanner against moto", () => {
    let moto: Moto;
    let seeded: SeededInstance;
    let target: ScanTarget;

    beforeAll(async () => {
        moto = await startMoto();
        seeded = await seedAirlockInstance(moto);
        target = {
            instanceId: seeded.instanceId,
            instanceArn: seeded.instanceArn,
            privateIp: seeded.privateIp,
            region: seeded.region,
            accountId: seeded.accountId,
        };
    });
    afterAll(async () => {
        await moto?.stop();
    });

    const coverageOf = (instanceId: string): Handler => () => ({ body: { coveredResources: [covered({ accountId: MOTO_ACCOUNT_ID }, instanceId)] } });

    it("reads moto's findings (moto ignores the filter: the client-side filter keeps only the instance's)", async () => {
        const mine = finding("HIGH", {}, seeded.instanceId);
        const other = finding("CRITICAL", {}, OTHER);
        await seedInspectorFindings(moto, [[other, mine]]);
        // Coverage from the fake, everything else (ListFindings) forwarded to moto.
        const fake = await fakeFor({ coverage: coverageOf(seeded.instanceId) }, moto.endpoint);
        const before = (await moto.requests()).length;
        const run = await runScan({ target });
        expect(run.error).toBeUndefined();
        expect(run.result!.findings).toEqual([{ id: mine.findingArn, title: mine.title, severity: "high", cves: [(mine.packageVulnerabilityDetails as { vulnerabilityId: string }).vulnerabilityId] }]);
        expect(run.result!.warnings).toEqual([`Amazon Inspector returned 1 finding of other resources despite the filter on ${seeded.instanceId}; ignored.`]);
        // The ListFindings call really reached moto, with the adapter's filter.
        const atMoto = (await moto.requests()).slice(before);
        expect(atMoto.map((r) => `${r.method} ${r.path} ${r.service}`)).toEqual(["POST /findings/list inspector2"]);
        expect(JSON.parse(atMoto[0]!.body)).toEqual({
            filterCriteria: {
                resourceId: [{ comparison: "EQUALS", value: seeded.instanceId }],
                findingStatus: [{ comparison: "EQUALS", value: "ACTIVE" }],
            },
            maxResults: 100,
        });
        expect(fake.to("/coverage/list")).toHaveLength(1);
    });

    it("asks moto's BatchGetAccountStatus why there is no coverage (not activated, then activated)", async () => {
        await moto.reset();
        await fakeFor({ coverage: () => ({ body: { coveredResources: [] } }) }, moto.endpoint);
        const notActivated = await runScan({ target, deadlineMs: 10 * 60_000 });
        expect(expectError(notActivated, "timeout").message).toContain(`Amazon Inspector is not activated for account ${MOTO_ACCOUNT_ID} in ${REGION}.`);

        const inspector = new Inspector2Client(awsClientConfig(moto));
        try {
            await inspector.send(new EnableCommand({ accountIds: [MOTO_ACCOUNT_ID], resourceTypes: ["EC2"] }));
        } finally {
            inspector.destroy();
        }
        const activated = await runScan({ target, deadlineMs: 10 * 60_000 });
        expect(expectError(activated, "timeout").message).toContain(
            `Amazon Inspector EC2 scanning is enabled for account ${MOTO_ACCOUNT_ID}, but it does not list the instance yet.`,
        );
        expect((await moto.requests()).filter((r) => r.path === "/status/batch/get")).toHaveLength(2);
    });

    it("assumes scanner.assumeRoleArn through STS (moto) and signs the Inspector calls with the temporary key", async () => {
        await moto.reset();
        await seedInspectorFindings(moto, [[]]);
        useEnv(clientEnv(moto) as Record<string, string>);
        const fake = await startInspectorFake({ coverage: coverageOf(seeded.instanceId) }, moto.endpoint);
        fakes.push(fake);
        process.env.AWS_ENDPOINT_URL_INSPECTOR2 = fake.url; // STS still goes to moto through AWS_ENDPOINT_URL
        const roleArn = `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/airlock-inspector-reader`;
        const run = await runScan({ target, settings: { assumeRoleArn: roleArn } });
        expect(run.error).toBeUndefined();
        expect(run.result!.findings).toEqual([]);

        const atMoto = await moto.requests();
        const assume = atMoto.find((r) => r.action === "AssumeRole");
        expect(assume).toBeDefined();
        expect(assume!.service).toBe("sts");
        expect(new URLSearchParams(assume!.body).get("RoleArn")).toBe(roleArn);
        expect(new URLSearchParams(assume!.body).get("RoleSessionName")).toBe(`airlock-inspector-${seeded.instanceId}`);
        const tempKey = fake.to("/coverage/list")[0]!.accessKeyId;
        expect(tempKey).toMatch(/^ASIA/);
        expect(atMoto.find((r) => r.path === "/findings/list")!.accessKeyId).toBe(tempKey);
    });

    it("through Pulumi's dynamic-provider host: a scan Inspector never finishes fails closed with its reason, not [object Object]", async () => {
        await moto.reset();
        const instance = await seedAirlockInstance(moto, { tags: { "airlock:bootstrap": "success" } });
        const fake = await startInspectorFake({ coverage: () => ({ body: { coveredResources: [] } }) }, moto.endpoint);
        fakes.push(fake);
        const [host, providerText] = await Promise.all([
            startProviderHost({ env: { ...moto.env, AWS_ENDPOINT_URL_INSPECTOR2: fake.url, AIRLOCK_POLL_INITIAL_MS: "40" } }),
            serializePromotionProvider(),
        ]);
        try {
            const inputs = promotionInputs(providerText, "http://unused.invalid", instance, "web-1", { scanner: { kind: "inspector" }, scanTimeoutSeconds: 2 });
            const outcome = await host.create(dynamicUrn("web-1-promotion", PROMOTION_TYPE), inputs);
            expect(outcome.ok).toBe(false);
            const reasons = outcome.ok ? [] : (outcome.partial?.reasons ?? []);
            expect(reasons).toEqual([
                expect.stringMatching(
                    new RegExp(
                        `^Instance web-1 stays in quarantine \\(remediation security group\\): Amazon Inspector has not scanned ${instance.instanceId} yet \\(waited 2(\\.\\d)? s, \\d+ polls\\): not covered by Amazon Inspector yet: ` +
                            `Amazon Inspector is not activated for account ${MOTO_ACCOUNT_ID} in ${REGION}\\.$`,
                    ),
                ),
            ]);
            expect(fake.to("/coverage/list").length).toBeGreaterThan(1);
        } finally {
            await host.stop();
        }
    }, 60_000);

    it("reports that moto has no ListCoverage when pointed at moto alone", async () => {
        useEnv(clientEnv(moto) as Record<string, string>);
        const run = await runScan({ target });
        expect(expectError(run, "scanner").message).toBe(
            "Amazon Inspector ListCoverage failed: the endpoint answered HTTP 404 with something that is not an Amazon Inspector API response (an emulator without this API, or a proxy?).",
        );
    });
});
