/**
 * The promotion flow against an in-memory AWS with fault injection. The fake checks the invariant
 * after every mutation; every test also asserts no violation was seen.
 */
import { errorMessage } from "../providers/errors";
import { BOOTSTRAP_FAILURE_WAY_OUT, PromotionBlocked, isPromotionBlocked, observePhase, promote, sanitizeBootstrapReason } from "../providers/promotionFlow";
import { PROMOTION_SEVERITIES, PromotionInputs } from "../providers/promotionInputs";
import { backoffDelay, formatDuration, pollUntil } from "../providers/polling";
import { noScanner } from "../providers/scanners/none";
import {
    Finding,
    ScanContext,
    ScanResult,
    Scanner,
    Severity,
    blockingFindings,
    blocks,
    countBySeverity,
    isScanTimeout,
    isScannerError,
    scanTimeoutError,
    scannerError,
} from "../providers/scanners/types";
import { AwsFault, FakeAws, Fault, VirtualClock } from "./support/fakeAws";

const INSTANCE = "i-0123456789abcdef0";
const REMEDIATION = "sg-0aaaaaaaaaaaaaaaa";
const PRODUCTION = "sg-0bbbbbbbbbbbbbbbb";
const LAUNCH_POLICY = JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "Launch", Effect: "Allow", Action: "ec2:CreateTags", Resource: "*" }] });
const PRODUCTION_POLICY = JSON.stringify({ Version: "2012-10-17", Statement: [{ Sid: "Key", Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k" }] });

const inputs: PromotionInputs = {
    instanceName: "web-1",
    region: "eu-west-1",
    instanceId: INSTANCE,
    roleName: "web-1-role",
    phasePolicyName: "airlock-phase",
    launchPolicy: LAUNCH_POLICY,
    productionPolicy: PRODUCTION_POLICY,
    remediationSecurityGroupIds: [REMEDIATION],
    productionSecurityGroupIds: [PRODUCTION],
    scanner: { kind: "tenable" },
    severityThreshold: "medium",
    readinessTimeoutSeconds: 600,
    scanTimeoutSeconds: 3600,
};

const finding = (severity: Finding["severity"], id = `tenable-plugin-${severity}`): Finding => ({ id, title: `A ${severity} problem`, severity, cves: ["CVE-2026-0001"] });

class FakeScanner implements Scanner {
    readonly kind = "tenable";
    scans = 0;
    constructor(
        private readonly behaviour: (ctx: ScanContext) => Promise<ScanResult>,
        private readonly onScan?: () => void,
    ) {}
    async scan(ctx: ScanContext): Promise<ScanResult> {
        this.scans++;
        this.onScan?.();
        return this.behaviour(ctx);
    }
}

const clean = () => new FakeScanner(async () => ({ scanId: "42", findings: [finding("low"), finding("info")], warnings: [] }));

/** A world where the instance boots (signals success) after a couple of polls. */
function world(options: { bootstrap?: "success" | "failure" | "never"; groups?: string[]; tags?: Record<string, string> } = {}) {
    const aws = new FakeAws({ productionGroups: [PRODUCTION], productionPolicy: PRODUCTION_POLICY, roleName: "web-1-role", policyName: "airlock-phase" });
    aws.addInstance(INSTANCE, options.groups ?? [REMEDIATION], options.tags ?? {});
    const bootstrap = options.bootstrap ?? "success";
    aws.onDescribe = (id, polls) => {
        if (polls >= 2 && bootstrap !== "never") {
            const instance = aws.instances.get(id);
            if (instance !== undefined && instance.tags["airlock:bootstrap"] === undefined) {
                instance.tags["airlock:bootstrap"] = bootstrap;
                instance.tags["airlock:bootstrap-reason"] = bootstrap === "failure" ? "cryptsetup: device /dev/nvme1n1 not found" : "";
            }
        }
    };
    const clock = new VirtualClock();
    const log: string[] = [];
    return { aws, clock, log, deps: (scanner: Scanner) => ({ aws, scanner, clock, log: (l: string) => log.push(l) }) };
}

async function blockedBy(run: Promise<unknown>): Promise<PromotionBlocked> {
    const error = await run.then(
        () => undefined,
        (e: unknown) => e,
    );
    expect(isPromotionBlocked(error)).toBe(true);
    return error as PromotionBlocked;
}

describe("a clean scan", () => {
    it("promotes: launch rights, bootstrap, scan, then production policy BEFORE production groups", async () => {
        const w = world();
        const outputs = await promote(inputs, w.deps(clean()));
        expect(outputs).toEqual(
            expect.objectContaining({ phase: "production", scanId: "42", scannerKind: "tenable", reasons: [], findingCounts: { info: 1, low: 1, medium: 0, high: 0, critical: 0 } }),
        );
        expect(w.aws.groupsOf(INSTANCE)).toEqual([PRODUCTION]);
        expect(w.aws.policy()).toBe(PRODUCTION_POLICY);
        const mutations = w.aws.calls.filter((c) => c === "putRolePolicy" || c === "setSecurityGroups");
        expect(mutations).toEqual(["putRolePolicy", "putRolePolicy", "setSecurityGroups"]);
        expect(w.aws.violations).toEqual([]);
        expect(w.log).toEqual(expect.arrayContaining(["web-1: waiting for bootstrap (up to 10 min)", "web-1: bootstrap succeeded", "web-1: promoted to production"]));
    });

    it("records no secret in its outputs", async () => {
        const w = world();
        const outputs = await promote({ ...inputs, scanner: { kind: "tenable", url: "https://t", accessKey: "AK-SECRET", secretKey: "SK-SECRET", templateUuid: "u" } }, w.deps(clean()));
        expect(JSON.stringify(outputs)).not.toMatch(/AK-SECRET|SK-SECRET/);
        expect(outputs.scanner).toEqual({ kind: "tenable", url: "https://t", templateUuid: "u" });
    });

    it.each([
        ["low", [finding("info")], "production"],
        ["low", [finding("low")], "remediation"],
        ["high", [finding("medium")], "production"],
        ["info", [finding("info")], "remediation"],
        ["critical", [finding("high")], "production"],
        ["critical", [finding("critical")], "remediation"],
    ] as const)("threshold %s with %j ends in %s", async (threshold, findings, phase) => {
        const w = world();
        const scanner = new FakeScanner(async () => ({ scanId: "7", findings, warnings: [] }));
        const run = promote({ ...inputs, severityThreshold: threshold }, w.deps(scanner));
        if (phase === "production") {
            await expect(run).resolves.toEqual(expect.objectContaining({ phase }));
        } else {
            expect((await blockedBy(run)).outputs.phase).toBe("remediation");
        }
        expect(w.aws.violations).toEqual([]);
    });
});

describe("unknown severities block (fail closed)", () => {
    it.each(["CRITICAL", "urgent", "", "Medium"])("a threshold the flow does not know (%j) makes every finding block", (threshold) => {
        for (const severity of PROMOTION_SEVERITIES) {
            expect(blocks(severity, threshold as Severity)).toBe(true);
        }
    });

    it.each(PROMOTION_SEVERITIES)("a finding of unknown severity blocks under threshold %s", (threshold) => {
        expect(blocks("URGENT" as Severity, threshold)).toBe(true);
        expect(blocks(undefined as unknown as Severity, threshold)).toBe(true);
    });

    it("known severities still compare as before", () => {
        expect(blocks("medium", "medium")).toBe(true);
        expect(blocks("low", "medium")).toBe(false);
        expect(blocks("critical", "high")).toBe(true);
    });

    it("unknown findings come first among the blocking ones, and are counted as unknown", () => {
        const odd = { ...finding("critical"), id: "odd", severity: "URGENT" as Severity };
        expect(blockingFindings([finding("critical"), odd, finding("info")], "high").map((f) => f.id)).toEqual(["odd", "tenable-plugin-critical"]);
        expect(countBySeverity([odd, finding("low")])).toEqual({ info: 0, low: 1, medium: 0, high: 0, critical: 0, unknown: 1 });
        expect(countBySeverity([finding("low")])).toEqual({ info: 0, low: 1, medium: 0, high: 0, critical: 0 });
    });

    it("the flow blocks a critical finding under the threshold CRITICAL (in capitals)", async () => {
        const w = world();
        const scanner = new FakeScanner(async () => ({ scanId: "8", findings: [finding("critical")], warnings: [] }));
        const error = await blockedBy(promote({ ...inputs, severityThreshold: "CRITICAL" }, w.deps(scanner)));
        expect(error.reasons[0]).toContain('`severityThreshold` "CRITICAL" is not one of info, low, medium, high, critical');
        expect(w.aws.groupsOf(INSTANCE)).toEqual([REMEDIATION]);
        expect(w.aws.violations).toEqual([]);
    });

    it("the flow does not promote under an unknown threshold even with no findings", async () => {
        const w = world();
        const scanner = new FakeScanner(async () => ({ scanId: "9", findings: [], warnings: [] }));
        const error = await blockedBy(promote({ ...inputs, severityThreshold: "urgent" }, w.deps(scanner)));
        expect(error.reasons).toEqual(['`severityThreshold` "urgent" is not one of info, low, medium, high, critical, so no scan result can be trusted to pass']);
        expect(w.aws.groupsOf(INSTANCE)).toEqual([REMEDIATION]);
    });

    it("a finding of unknown severity blocks, and the summary says so", async () => {
        const w = world();
        const odd: Finding = { id: "custom-1", title: "Something rated URGENT", severity: "URGENT" as Severity, cves: [] };
        const scanner = new FakeScanner(async () => ({ scanId: "10", findings: [odd, finding("low")], warnings: [] }));
        const error = await blockedBy(promote(inputs, w.deps(scanner)));
        expect(error.reasons).toEqual(["1 finding(s) at or above medium (1 unknown) in scan 10"]);
        expect(error.message).toContain("\n  URGENT custom-1: Something rated URGENT");
        expect(w.aws.groupsOf(INSTANCE)).toEqual([REMEDIATION]);
    });
});

describe("scannerKind none", () => {
    it("promotes without a scan, and says so in the outputs and the progress lines", async () => {
        const w = world();
        const outputs = await promote({ ...inputs, scanner: { kind: "none" } }, w.deps(noScanner()));
        expect(outputs).toEqual(
            expect.objectContaining({ phase: "production", scanId: `none:${INSTANCE}`, warnings: ["promoted WITHOUT a vulnerability scan (scannerKind: none)"] }),
        );
        expect(w.log).toContain("web-1: scanner kind is none: NOT scanning; promoting without a vulnerability scan");
        expect(w.aws.violations).toEqual([]);
    });
});

describe("blocked or failed: the instance stays in quarantine with no more than launch rights", () => {
    it("findings at or above the threshold block, with a readable summary of the top findings", async () => {
        const w = world();
        const scanner = new FakeScanner(async () => ({
            scanId: "99",
            findings: [finding("low"), { id: "tenable-plugin-187654", title: "OpenSSH < 9.8 RCE", severity: "critical", cves: ["CVE-2024-6387"] }, finding("medium", "tenable-plugin-11111")],
            warnings: [],
        }));
        const error = await blockedBy(promote(inputs, w.deps(scanner)));
        expect(error.message).toBe(
            "Instance web-1 stays in quarantine (remediation security group): 2 finding(s) at or above medium (1 critical, 1 medium) in scan 99\n" +
                "  CRITICAL tenable-plugin-187654: OpenSSH < 9.8 RCE (CVE-2024-6387)\n" +
                "  MEDIUM tenable-plugin-11111: A medium problem (CVE-2026-0001)",
        );
        expect(error.outputs).toEqual(expect.objectContaining({ phase: "remediation", scanId: "99", findingCounts: { info: 0, low: 1, medium: 1, high: 0, critical: 1 } }));
        expect(error.reasons).toEqual(["2 finding(s) at or above medium (1 critical, 1 medium) in scan 99"]);
        expect(w.aws.groupsOf(INSTANCE)).toEqual([REMEDIATION]);
        expect(w.aws.policy()).toBe(LAUNCH_POLICY);
        expect(w.aws.violations).toEqual([]);
    });

    it("a bootstrap failure blocks with its reason, and nothing is scanned", async () => {
        const w = world({ bootstrap: "failure" });
        const scanner = clean();
        const error = await blockedBy(promote(inputs, w.deps(scanner)));
        expect(error.reasons).toEqual(["bootstrap failed: cryptsetup: device /dev/nvme1n1 not found", BOOTSTRAP_FAILURE_WAY_OUT]);
        expect(scanner.scans).toBe(0);
        expect(w.aws.groupsOf(INSTANCE)).toEqual([REMEDIATION]);
    });

    it("a bootstrap reason is the instance's word, not trusted: control characters and markup become spaces, at most 250 characters", async () => {
        const hostile = `luks\u001b[31m failed <script>alert(1)</script>\n${"x".repeat(400)}`;
        const w = world({ bootstrap: "failure", tags: { "airlock:bootstrap": "failure", "airlock:bootstrap-reason": hostile } });
        const error = await blockedBy(promote(inputs, w.deps(clean())));
        const reason = error.reasons[0] ?? "";
        expect(reason).toMatch(/^bootstrap failed: luks  31m failed  script alert 1  \/script  x+$/);
        expect(reason.length).toBe("bootstrap failed: ".length + 250);
        expect(sanitizeBootstrapReason("a\tb\u0000c")).toBe("a b c");
    });

    it("no bootstrap signal by the readiness deadline blocks, after a bounded number of polls", async () => {
        const w = world({ bootstrap: "never" });
        const error = await blockedBy(promote(inputs, w.deps(clean())));
        expect(error.reasons).toEqual(["no bootstrap signal within 10 min"]);
        const polls = w.aws.calls.filter((c) => c === "describeInstance").length - 1;
        // 5 s doubling to 30 s with jitter over 10 minutes: about twenty polls, not hundreds.
        expect(polls).toBeGreaterThan(15);
        expect(polls).toBeLessThan(35);
        expect(w.clock.sleeps.every((ms) => ms <= 30_000)).toBe(true);
    });

    it.each([
        ["a scanner error", scannerError("Tenable rejected the API keys (HTTP 401)"), "Tenable rejected the API keys (HTTP 401)"],
        ["a scan timeout", scanTimeoutError("tenable scan 5 did not finish within 60 min"), "tenable scan 5 did not finish within 60 min"],
        ["an unexpected failure", new TypeError("fetch failed"), "scanner failed: fetch failed"],
    ])("%s blocks with its message", async (_case, error, reason) => {
        const w = world();
        const scanner = new FakeScanner(async () => {
            throw error;
        });
        expect((await blockedBy(promote(inputs, w.deps(scanner)))).reasons).toEqual([reason]);
        expect(w.aws.groupsOf(INSTANCE)).toEqual([REMEDIATION]);
        expect(w.aws.policy()).toBe(LAUNCH_POLICY);
    });

    it("an instance that is gone is an error, not a partial state", async () => {
        const w = world();
        w.aws.instances.clear();
        await expect(promote(inputs, w.deps(clean()))).rejects.toThrow("Instance web-1 (i-0123456789abcdef0) does not exist or is terminating");
    });
});

describe("rescanning a production instance", () => {
    const promoted = () => world({ groups: [PRODUCTION], tags: { "airlock:bootstrap": "success" } });

    it("keeps it in production when clean, reaching it through the remediation group during the scan", async () => {
        const w = promoted();
        w.aws.policies.set("web-1-role/airlock-phase", PRODUCTION_POLICY);
        let groupsDuringScan: string[] = [];
        const scanner = new FakeScanner(
            async () => ({ scanId: "2", findings: [], warnings: [] }),
            () => (groupsDuringScan = w.aws.groupsOf(INSTANCE)),
        );
        await expect(promote(inputs, w.deps(scanner))).resolves.toEqual(expect.objectContaining({ phase: "production" }));
        expect(groupsDuringScan.sort()).toEqual([REMEDIATION, PRODUCTION].sort());
        expect(w.aws.groupsOf(INSTANCE)).toEqual([PRODUCTION]);
        expect(w.aws.calls).not.toContain("getRolePolicy");
        expect(w.aws.violations).toEqual([]);
    });

    it("demotes it to quarantine when the rescan finds something (fail closed), keeping production rights", async () => {
        const w = promoted();
        w.aws.policies.set("web-1-role/airlock-phase", PRODUCTION_POLICY);
        const scanner = new FakeScanner(async () => ({ scanId: "3", findings: [finding("high")], warnings: [] }));
        await blockedBy(promote(inputs, w.deps(scanner)));
        expect(w.aws.groupsOf(INSTANCE)).toEqual([REMEDIATION]);
        expect(w.aws.policy()).toBe(PRODUCTION_POLICY);
        expect(w.aws.violations).toEqual([]);
    });

    it.each([
        ["its bootstrap signal says failure", "failure", "bootstrap failed: cryptsetup: device /dev/nvme1n1 not found"],
        ["it gives no bootstrap signal before the readiness deadline", "never", "no bootstrap signal within 10 min"],
    ] as const)("demotes it when %s, without scanning", async (_case, bootstrap, reason) => {
        const w = world({ groups: [PRODUCTION], bootstrap });
        w.aws.policies.set("web-1-role/airlock-phase", PRODUCTION_POLICY);
        const scanner = clean();
        const error = await blockedBy(promote(inputs, w.deps(scanner)));
        expect(error.reasons).toEqual(bootstrap === "failure" ? [reason, BOOTSTRAP_FAILURE_WAY_OUT] : [reason]);
        expect(error.outputs.phase).toBe("remediation");
        expect(scanner.scans).toBe(0);
        // What the state says is what AWS says: out of production, with no more than production rights.
        expect(w.aws.groupsOf(INSTANCE)).toEqual([REMEDIATION]);
        expect(w.aws.policy()).toBe(PRODUCTION_POLICY);
        expect(w.aws.violations).toEqual([]);
        expect(w.log).toContain("web-1: demoted to the remediation group");
    });

    it.each([
        ["a scanner error", scannerError("Tenable rejected the API keys (HTTP 401)")],
        ["a scan timeout", scanTimeoutError("Tenable scan 9 did not complete within 1 h")],
        ["an unexpected scanner failure", new TypeError("fetch failed")],
    ])("demotes it on %s", async (_case, thrown) => {
        const w = promoted();
        w.aws.policies.set("web-1-role/airlock-phase", PRODUCTION_POLICY);
        const scanner = new FakeScanner(async () => {
            throw thrown;
        });
        await blockedBy(promote(inputs, w.deps(scanner)));
        expect(w.aws.groupsOf(INSTANCE)).toEqual([REMEDIATION]);
        expect(w.aws.policy()).toBe(PRODUCTION_POLICY);
        expect(w.aws.violations).toEqual([]);
    });

    it("an AWS failure at any step of the rescan demotes it (fail closed), and a rerun converges back to production", async () => {
        const clean0 = promoted();
        clean0.aws.policies.set("web-1-role/airlock-phase", PRODUCTION_POLICY);
        await promote(inputs, clean0.deps(clean()));
        const total = clean0.aws.calls.length;
        expect(total).toBeGreaterThan(4);
        for (let index = 0; index < total; index++) {
            const w = promoted();
            w.aws.policies.set("web-1-role/airlock-phase", PRODUCTION_POLICY);
            w.aws.failAt = { index, fault: "5xx" };
            await expect(promote(inputs, w.deps(clean()))).rejects.toBeInstanceOf(AwsFault);
            expect({ index, groups: w.aws.groupsOf(INSTANCE), policy: w.aws.policy(), violations: w.aws.violations }).toEqual({
                index,
                groups: [REMEDIATION],
                policy: PRODUCTION_POLICY,
                violations: [],
            });
            w.aws.failAt = undefined;
            await expect(promote(inputs, w.deps(clean()))).resolves.toEqual(expect.objectContaining({ phase: "production" }));
            expect({ index, groups: w.aws.groupsOf(INSTANCE), violations: w.aws.violations }).toEqual({ index, groups: [PRODUCTION], violations: [] });
        }
    });

    it("when AWS keeps failing, the original error is reported, not the failed demotion", async () => {
        const w = promoted();
        w.aws.policies.set("web-1-role/airlock-phase", PRODUCTION_POLICY);
        w.aws.failCall = { call: "setSecurityGroups", fault: "throttling" };
        await expect(promote(inputs, w.deps(clean()))).rejects.toThrow("Rate exceeded (setSecurityGroups)");
        expect(w.aws.violations).toEqual([]);
        expect(w.log).toContain("web-1: could not move it back to the remediation group: Rate exceeded (setSecurityGroups)");
    });

    it("repairs a broken invariant (production group, launch rights) before anything else", async () => {
        const w = promoted();
        w.aws.policies.set("web-1-role/airlock-phase", LAUNCH_POLICY);
        await promote(inputs, w.deps(clean()));
        const firstMutation = w.aws.calls.find((c) => c === "putRolePolicy" || c === "setSecurityGroups");
        expect(firstMutation).toBe("putRolePolicy");
        expect(w.aws.policy()).toBe(PRODUCTION_POLICY);
    });
});

describe("faults", () => {
    /** Number of AWS calls a clean promotion makes. */
    async function cleanCallCount(): Promise<number> {
        const w = world();
        await promote(inputs, w.deps(clean()));
        return w.aws.calls.length;
    }

    it("a crash between any two steps keeps the invariant, and a rerun converges to production", async () => {
        const total = await cleanCallCount();
        expect(total).toBeGreaterThan(5);
        for (let index = 0; index < total; index++) {
            const w = world();
            w.aws.failAt = { index, fault: "crash" };
            await expect(promote(inputs, w.deps(clean()))).rejects.toBeInstanceOf(AwsFault);
            expect({ index, violations: w.aws.violations }).toEqual({ index, violations: [] });
            w.aws.failAt = undefined;
            await expect(promote(inputs, w.deps(clean()))).resolves.toEqual(expect.objectContaining({ phase: "production" }));
            expect({ index, groups: w.aws.groupsOf(INSTANCE), policy: w.aws.policy(), violations: w.aws.violations }).toEqual({
                index,
                groups: [PRODUCTION],
                policy: PRODUCTION_POLICY,
                violations: [],
            });
        }
    });

    it("a crash after a blocked decision leaves it blocked, and a rerun blocks again without violating anything", async () => {
        const blocking = () => new FakeScanner(async () => ({ scanId: "5", findings: [finding("critical")], warnings: [] }));
        const w0 = world();
        await blockedBy(promote(inputs, w0.deps(blocking())));
        for (let index = 0; index < w0.aws.calls.length; index++) {
            const w = world();
            w.aws.failAt = { index, fault: "crash" };
            await promote(inputs, w.deps(blocking())).catch(() => undefined);
            w.aws.failAt = undefined;
            await blockedBy(promote(inputs, w.deps(blocking())));
            expect({ index, groups: w.aws.groupsOf(INSTANCE), violations: w.aws.violations }).toEqual({ index, groups: [REMEDIATION], violations: [] });
        }
    });

    const calls = ["describeInstance", "setSecurityGroups", "getRolePolicy", "putRolePolicy", "listAttachedRolePolicies", "attachRolePolicy", "detachRolePolicy"] as const;
    const faults: Fault[] = ["throttling", "5xx", "access-denied"];
    it.each(calls.flatMap((call) => faults.map((fault) => [call, fault] as const)))("%s failing with %s: never fails open, and converges once AWS recovers", async (call, fault) => {
        const w = world();
        w.aws.failCall = { call, fault };
        const outcome = await promote(inputs, w.deps(clean())).then(
            (o) => o.phase,
            () => "failed",
        );
        // getRolePolicy is not on the promotion path, and with no managed policies nothing is attached or detached.
        expect(outcome).toBe(call === "getRolePolicy" || call === "attachRolePolicy" || call === "detachRolePolicy" ? "production" : "failed");
        if (outcome === "failed") {
            expect(w.aws.groupsOf(INSTANCE)).not.toContain(PRODUCTION);
        }
        expect(w.aws.violations).toEqual([]);
        w.aws.failCall = undefined;
        await expect(promote(inputs, w.deps(clean()))).resolves.toEqual(expect.objectContaining({ phase: "production" }));
        expect(w.aws.violations).toEqual([]);
    });
});

describe("application managed policies: launch rights are launch rights", () => {
    const APP = "arn:aws:iam::111122223333:policy/app-read-queue";
    const APP2 = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";
    const SSM = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";
    const withManaged: PromotionInputs = { ...inputs, managedPolicyArns: [APP, APP2] };
    /** The mutations in order, with what they touched. */
    const mutationsOf = (aws: FakeAws) => aws.calls.filter((c) => ["putRolePolicy", "setSecurityGroups", "attachRolePolicy", "detachRolePolicy"].includes(c));

    it("a clean promotion attaches them after the scan, after the production policy and before the production group", async () => {
        const w = world();
        const heldDuringBoot: string[][] = [];
        const boot = w.aws.onDescribe;
        w.aws.onDescribe = (id, polls) => {
            heldDuringBoot.push([...w.aws.attached]);
            boot?.(id, polls);
        };
        let heldDuringScan: string[] = ["not scanned"];
        const scanner = new FakeScanner(
            async () => ({ scanId: "42", findings: [], warnings: [] }),
            () => (heldDuringScan = [...w.aws.attached]),
        );
        await expect(promote(withManaged, w.deps(scanner))).resolves.toEqual(expect.objectContaining({ phase: "production", managedPolicyArns: [APP, APP2] }));
        expect(heldDuringBoot.every((held) => held.length === 0)).toBe(true);
        expect(heldDuringScan).toEqual([]);
        expect(w.aws.attached).toEqual([APP, APP2]);
        expect(mutationsOf(w.aws)).toEqual(["putRolePolicy", "putRolePolicy", "attachRolePolicy", "attachRolePolicy", "setSecurityGroups"]);
        expect(w.aws.violations).toEqual([]);
    });

    it.each([
        ["findings", async () => ({ scanId: "3", findings: [finding("high")], warnings: [] })],
        ["a scanner error", async (): Promise<ScanResult> => {
            throw scannerError("Tenable rejected the API keys (HTTP 401)");
        }],
    ])("a scan blocked by %s attaches none", async (_case, behaviour) => {
        const w = world();
        await blockedBy(promote(withManaged, w.deps(new FakeScanner(behaviour))));
        expect(w.aws.attached).toEqual([]);
        expect(w.aws.calls).not.toContain("attachRolePolicy");
        expect(w.aws.violations).toEqual([]);
    });

    it("a quarantined instance found holding them (a crash between attach and move) loses them before launch rights are granted", async () => {
        const w = world();
        w.aws.policies.set("web-1-role/airlock-phase", PRODUCTION_POLICY);
        w.aws.attached.push(APP);
        const scanner = new FakeScanner(async () => ({ scanId: "3", findings: [finding("critical")], warnings: [] }));
        await blockedBy(promote(withManaged, w.deps(scanner)));
        expect(mutationsOf(w.aws)[0]).toBe("detachRolePolicy");
        expect(w.aws.attached).toEqual([]);
        expect(w.aws.violations).toEqual([]);
    });

    it("a demoted production instance loses them: groups first, then detach, then the phase policy", async () => {
        const w = world({ groups: [PRODUCTION], tags: { "airlock:bootstrap": "success" } });
        w.aws.policies.set("web-1-role/airlock-phase", PRODUCTION_POLICY);
        w.aws.attached.push(APP, APP2);
        const scanner = new FakeScanner(async () => ({ scanId: "3", findings: [finding("high")], warnings: [] }));
        await blockedBy(promote(withManaged, w.deps(scanner)));
        expect(w.aws.groupsOf(INSTANCE)).toEqual([REMEDIATION]);
        expect(w.aws.attached).toEqual([]);
        const tail = mutationsOf(w.aws).slice(-4);
        expect(tail).toEqual(["setSecurityGroups", "detachRolePolicy", "detachRolePolicy", "putRolePolicy"]);
        expect(w.aws.violations).toEqual([]);
    });

    it("when the groups cannot be changed back, the demotion still detaches them, and reports the groups' error", async () => {
        const w = world({ groups: [PRODUCTION], tags: { "airlock:bootstrap": "success" } });
        w.aws.policies.set("web-1-role/airlock-phase", PRODUCTION_POLICY);
        w.aws.attached.push(APP, APP2);
        w.aws.failCall = { call: "setSecurityGroups", fault: "access-denied" };
        const scanner = new FakeScanner(async () => ({ scanId: "3", findings: [finding("high")], warnings: [] }));
        await expect(promote(withManaged, w.deps(scanner))).rejects.toThrow("User is not authorized to perform: setSecurityGroups");
        expect(w.aws.attached).toEqual([]);
        expect(w.aws.violations).toEqual([]);
    });

    it("a changed list converges: policies no longer listed are detached, new ones attached", async () => {
        const w = world({ groups: [PRODUCTION], tags: { "airlock:bootstrap": "success" } });
        w.aws.policies.set("web-1-role/airlock-phase", PRODUCTION_POLICY);
        w.aws.attached.push("arn:aws:iam::111122223333:policy/old", APP);
        await promote(withManaged, w.deps(clean()));
        expect([...w.aws.attached].sort()).toEqual([APP, APP2].sort());
        expect(w.aws.violations).toEqual([]);
    });

    it("the scanner's own policy (Inspector: AmazonSSMManagedInstanceCore) is the component's: never detached, in quarantine or on demotion", async () => {
        const inspector: PromotionInputs = { ...withManaged, scanner: { kind: "inspector" } };
        const w = world({ groups: [PRODUCTION], tags: { "airlock:bootstrap": "success" } });
        const aws = new FakeAws({ productionGroups: [PRODUCTION], productionPolicy: PRODUCTION_POLICY, roleName: "web-1-role", policyName: "airlock-phase", supportPolicies: [SSM] });
        aws.addInstance(INSTANCE, [PRODUCTION], { "airlock:bootstrap": "success" });
        aws.policies.set("web-1-role/airlock-phase", PRODUCTION_POLICY);
        aws.attached.push(SSM, APP);
        const scanner = new FakeScanner(async () => ({ scanId: "3", findings: [finding("high")], warnings: [] }));
        await blockedBy(promote(inspector, { ...w.deps(scanner), aws }));
        expect(aws.attached).toEqual([SSM]);
        expect(aws.calls.filter((c) => c === "detachRolePolicy")).toHaveLength(1);
        expect(aws.violations).toEqual([]);
        // With tenable, nothing needs it in quarantine: it is an application policy like any other.
        const t = world();
        t.aws.attached.push(SSM);
        t.aws.policies.set("web-1-role/airlock-phase", PRODUCTION_POLICY);
        await blockedBy(promote(withManaged, t.deps(new FakeScanner(async () => ({ scanId: "3", findings: [finding("high")], warnings: [] })))));
        expect(t.aws.attached).toEqual([]);
    });

    it("the process dying at any call keeps the invariant; the next run converges to production with them attached", async () => {
        const w0 = world();
        await promote(withManaged, w0.deps(clean()));
        const total = w0.aws.calls.length;
        for (let index = 0; index < total; index++) {
            const w = world();
            w.aws.dieAt = index;
            await expect(promote(withManaged, w.deps(clean()))).rejects.toBeInstanceOf(AwsFault);
            const left = { index, inProduction: w.aws.groupsOf(INSTANCE).includes(PRODUCTION), violations: w.aws.violations };
            expect(left).toEqual({ ...left, violations: [] });
            w.aws.dieAt = undefined;
            await expect(promote(withManaged, w.deps(clean()))).resolves.toEqual(expect.objectContaining({ phase: "production" }));
            expect({ index, groups: w.aws.groupsOf(INSTANCE), attached: w.aws.attached, violations: w.aws.violations }).toEqual({
                index,
                groups: [PRODUCTION],
                attached: [APP, APP2],
                violations: [],
            });
        }
    });

    it("the process dying at any call of a blocked run leaves none attached once a run completes", async () => {
        const blocking = () => new FakeScanner(async () => ({ scanId: "5", findings: [finding("critical")], warnings: [] }));
        const promoted = () => {
            const w = world({ groups: [PRODUCTION], tags: { "airlock:bootstrap": "success" } });
            w.aws.policies.set("web-1-role/airlock-phase", PRODUCTION_POLICY);
            w.aws.attached.push(APP, APP2);
            return w;
        };
        const w0 = promoted();
        await blockedBy(promote(withManaged, w0.deps(blocking())));
        for (let index = 0; index < w0.aws.calls.length; index++) {
            const w = promoted();
            w.aws.dieAt = index;
            await promote(withManaged, w.deps(blocking())).catch(() => undefined);
            w.aws.dieAt = undefined;
            await blockedBy(promote(withManaged, w.deps(blocking())));
            expect({ index, groups: w.aws.groupsOf(INSTANCE), attached: w.aws.attached, violations: w.aws.violations }).toEqual({ index, groups: [REMEDIATION], attached: [], violations: [] });
        }
    });
});

describe("observePhase (refresh)", () => {
    it.each([
        [[PRODUCTION], PRODUCTION_POLICY, "production"],
        [[REMEDIATION], PRODUCTION_POLICY, "remediation"],
        [[PRODUCTION, REMEDIATION], PRODUCTION_POLICY, "remediation"],
        [[PRODUCTION], LAUNCH_POLICY, "remediation"],
        [[PRODUCTION], undefined, "remediation"],
    ])("groups %j with policy %s → %s", async (groups, policy, phase) => {
        const w = world({ groups });
        if (policy !== undefined) {
            w.aws.policies.set("web-1-role/airlock-phase", policy);
        }
        expect((await observePhase(w.aws, inputs)).phase).toBe(phase);
    });
});

describe("durations in messages", () => {
    it.each([
        [0, "0 s"],
        [400, "0.4 s"],
        [2_500, "2.5 s"],
        [5_000, "5 s"],
        [9_960, "10 s"],
        [45_000, "45 s"],
        [59_600, "1 min"],
        [120_000, "2 min"],
        [150_000, "2 min 30 s"],
        [600_000, "10 min"],
        [3_600_000, "1 h"],
        [5_400_000, "1 h 30 min"],
        [86_400_000, "24 h"],
    ])("%d ms reads %s", (ms, text) => {
        expect(formatDuration(ms)).toBe(text);
    });

    it("a short readiness deadline is reported as it is, not rounded to 0 min", async () => {
        const w = world({ bootstrap: "never" });
        const error = await blockedBy(promote({ ...inputs, readinessTimeoutSeconds: 5 }, w.deps(clean())));
        expect(error.reasons).toEqual(["no bootstrap signal within 5 s"]);
        expect(w.log).toContain("web-1: waiting for bootstrap (up to 5 s)");
    });

    it("a long one reads in hours and minutes", async () => {
        const w = world({ bootstrap: "never" });
        const error = await blockedBy(promote({ ...inputs, readinessTimeoutSeconds: 5_400 }, w.deps(clean())));
        expect(error.reasons).toEqual(["no bootstrap signal within 1 h 30 min"]);
    });
});

describe("error classification survives the closure serializer (no instanceof)", () => {
    /** What Pulumi's closure serializer leaves of an error: its own properties, but not its prototype chain. */
    const serialized = <T extends object>(error: T): T => Object.setPrototypeOf({ ...error, message: (error as { message?: string }).message }, {}) as T;

    it.each([
        ["a scan timeout", scanTimeoutError("Tenable scan 101 did not complete within 2 s"), true, true],
        ["a scanner error", scannerError("Tenable rejected the API keys (HTTP 401)"), true, false],
        ["any other error", new TypeError("fetch failed"), false, false],
        ["a thrown string", "boom", false, false],
    ])("%s is classified by its kind, with or without its prototype", (_case, error, scanner, timeout) => {
        for (const e of typeof error === "object" ? [error, serialized(error)] : [error]) {
            expect(isScannerError(e)).toBe(scanner);
            expect(isScanTimeout(e)).toBe(timeout);
        }
    });

    it("a scan timeout that lost its prototype blocks with its own message", async () => {
        const w = world();
        const scanner = new FakeScanner(async () => {
            throw serialized(scanTimeoutError("Tenable scan 101 of 10.0.1.23 did not complete within 2 s (last status \"running\", 9 polls)."));
        });
        const error = await blockedBy(promote(inputs, w.deps(scanner)));
        expect(error.reasons).toEqual(['Tenable scan 101 of 10.0.1.23 did not complete within 2 s (last status "running", 9 polls).']);
    });

    it("a blocked promotion that lost its prototype is still recognised, with its outputs", async () => {
        const w = world({ bootstrap: "failure" });
        const error = await blockedBy(promote(inputs, w.deps(clean())));
        const stripped = serialized(error);
        expect(isPromotionBlocked(stripped)).toBe(true);
        expect(stripped.outputs.phase).toBe("remediation");
        expect(isPromotionBlocked(new Error("x"))).toBe(false);
    });

    it.each([
        [new Error("plain"), "plain"],
        [Object.setPrototypeOf({ message: "no prototype", name: "X" }, null), "no prototype"],
        [{ name: "ThrottlingException" }, "ThrottlingException"],
        ["a string", "a string"],
        [undefined, "undefined"],
    ])("errorMessage(%p) reads %s", (thrown, text) => {
        expect(errorMessage(thrown)).toBe(text);
    });
});

describe("polling", () => {
    it.each([
        [0, 0, 2500],
        [0, 0.999, 4998],
        [1, 0.5, 7500],
        [3, 0.5, 22500],
        [10, 0.5, 22500],
    ])("attempt %d with jitter %d waits %d ms (5 s doubling, capped at 30 s)", (attempt, random, ms) => {
        expect(backoffDelay(attempt, { initialMs: 5000, maxMs: 30000 }, random)).toBe(ms);
    });

    it("never sleeps past the deadline and takes one last look at it", async () => {
        const clock = new VirtualClock();
        const deadline = clock.now() + 12_000;
        const result = await pollUntil(clock, deadline, { initialMs: 5000, maxMs: 30000 }, async () => ({ done: false }));
        expect(result.value).toBeUndefined();
        expect(clock.now()).toBe(deadline);
        expect(clock.sleeps.reduce((a, b) => a + b, 0)).toBe(12_000);
    });
});
