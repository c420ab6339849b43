/**
 * The scan-and-promote provider's pure parts: input validation (check) and diff, and its
 * serialization for the dynamic-provider host. The flow is tested in promotionFlow.test.ts and,
 * end to end through Pulumi's provider host against the AWS emulator, in promotion.host.test.ts.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as pulumi from "@pulumi/pulumi";
import { PromotionInputs, UNKNOWN, checkPromotionInputs, diffPromotion } from "../providers/promotionInputs";
import { failureLines, scanAndPromoteProvider } from "../providers/scanAndPromote";

const valid: PromotionInputs = {
    instanceName: "web-1",
    region: "eu-west-1",
    instanceId: "i-0123456789abcdef0",
    roleName: "web-1-role-abc1234",
    phasePolicyName: "airlock-phase",
    launchPolicy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k" }] }),
    productionPolicy: JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k" }] }),
    remediationSecurityGroupIds: ["sg-0aaaaaaaaaaaaaaaa"],
    productionSecurityGroupIds: ["sg-0bbbbbbbbbbbbbbbb"],
    scanner: { kind: "tenable", url: "https://nessus.example:8834", accessKey: "ak-secret", secretKey: "sk-secret", templateUuid: "uuid" },
    severityThreshold: "medium",
    readinessTimeoutSeconds: 1200,
    scanTimeoutSeconds: 3600,
};

const withChange = (changes: Partial<Record<keyof PromotionInputs, unknown>>) => ({ ...valid, ...changes }) as Record<string, unknown>;

describe("check", () => {
    it("accepts valid inputs", () => {
        expect(checkPromotionInputs(valid as unknown as Record<string, unknown>)).toEqual([]);
    });

    it.each<[string, Partial<Record<keyof PromotionInputs, unknown>>, string, string]>([
        ["bad region", { region: "europe" }, "region", '`region` must look like "eu-west-1", not "europe".'],
        ["missing instance id", { instanceId: "" }, "instanceId", "`instanceId` is required."],
        ["malformed instance id", { instanceId: "web-1" }, "instanceId", '`instanceId` must look like "i-0123456789abcdef0", not "web-1".'],
        ["assume-role ARN that is not a role", { assumeRoleArn: "arn:aws:iam::123456789012:user/bob" }, "assumeRoleArn", "`assumeRoleArn` must look like"],
        ["policy that is not JSON", { launchPolicy: "{not json" }, "launchPolicy", "`launchPolicy` must be a JSON IAM policy document."],
        ["policy without statements", { productionPolicy: '{"Version":"2012-10-17","Statement":[]}' }, "productionPolicy", "at least one statement"],
        ["no production group", { productionSecurityGroupIds: [] }, "productionSecurityGroupIds", "must list at least one security group id"],
        ["group id typo", { remediationSecurityGroupIds: ["sg-123"] }, "remediationSecurityGroupIds", 'not security group ids: ["sg-123"]'],
        ["same group in both zones", { productionSecurityGroupIds: ["sg-0aaaaaaaaaaaaaaaa"] }, "productionSecurityGroupIds", "A group cannot be both remediation and production: sg-0aaaaaaaaaaaaaaaa."],
        ["unknown severity", { severityThreshold: "severe" }, "severityThreshold", "`severityThreshold` must be one of info, low, medium, high, critical"],
        ["unknown scanner", { scanner: { kind: "qualys" } }, "scanner.kind", "`scanner.kind` must be one of tenable, inspector, none"],
        ["tenable without keys", { scanner: { kind: "tenable", url: "https://n", templateUuid: "u" } }, "scanner.accessKey", "`scanner.accessKey` is required for the tenable scanner."],
        ["managed policies that are not a list", { managedPolicyArns: "arn:aws:iam::aws:policy/ReadOnlyAccess" }, "managedPolicyArns", "`managedPolicyArns` must be a list of IAM policy ARNs."],
        ["a managed policy that is not a policy ARN", { managedPolicyArns: ["arn:aws:iam::123456789012:role/app"] }, "managedPolicyArns", 'not IAM policy ARNs: ["arn:aws:iam::123456789012:role/app"]'],
        ["zero timeout", { scanTimeoutSeconds: 0 }, "scanTimeoutSeconds", "`scanTimeoutSeconds` must be a whole number of seconds from 1 to 86400, not 0."],
    ])("fails on %s, naming the property", (_case, changes, property, reason) => {
        const failures = checkPromotionInputs(withChange(changes));
        expect(failures).toContainEqual({ property, reason: expect.stringContaining(reason) });
    });

    it("tolerates values that are unknown during preview", () => {
        const failures = checkPromotionInputs(
            withChange({
                instanceId: UNKNOWN,
                roleName: UNKNOWN,
                launchPolicy: UNKNOWN,
                productionPolicy: UNKNOWN,
                remediationSecurityGroupIds: [UNKNOWN],
                productionSecurityGroupIds: UNKNOWN,
                scanner: { kind: "tenable", url: UNKNOWN, accessKey: UNKNOWN, secretKey: UNKNOWN, templateUuid: UNKNOWN },
            }),
        );
        expect(failures).toEqual([]);
    });

    it("never echoes scanner secrets in a failure", () => {
        const failures = checkPromotionInputs(withChange({ scanner: { kind: "tenable", url: "https://n", accessKey: "ak-secret", secretKey: 42, templateUuid: "u" } }));
        expect(failures).toEqual([{ property: "scanner.secretKey", reason: "`scanner.secretKey` is required for the tenable scanner." }]);
        expect(JSON.stringify(failures)).not.toContain("ak-secret");
    });

    it("is what the provider's check reports to the engine", async () => {
        const result = await scanAndPromoteProvider.check!({} as PromotionInputs, withChange({ region: "nowhere" }) as unknown as PromotionInputs);
        expect(result.failures).toEqual([{ property: "region", reason: expect.stringContaining("`region` must look like") }]);
    });
});

describe("create and update re-check their inputs (fail closed even if check did not run)", () => {
    /** A stand-in AWS endpoint that records every request: the provider must make none. */
    let server: http.Server;
    const requests: string[] = [];
    const saved = { ...process.env };
    beforeAll(async () => {
        server = http.createServer((req, res) => {
            requests.push(`${req.method} ${req.url}`);
            res.writeHead(500).end();
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        Object.assign(process.env, {
            AWS_ENDPOINT_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
            AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
            AWS_SECRET_ACCESS_KEY: "example",
            AWS_MAX_ATTEMPTS: "1",
        });
    });
    afterAll(async () => {
        process.env = saved;
        await new Promise<void>((resolve) => server.close(() => resolve()));
    });
    beforeEach(() => {
        requests.length = 0;
    });

    const refusal = async (run: () => Promise<unknown>): Promise<Error & { id?: unknown; properties?: unknown }> => {
        const error = await run().then(
            () => undefined,
            (e: unknown) => e as Error & { id?: unknown; properties?: unknown },
        );
        expect(error).toBeDefined();
        return error!;
    };

    it.each<[string, Partial<Record<keyof PromotionInputs, unknown>>, string]>([
        ["a threshold in capitals", { severityThreshold: "CRITICAL" }, '`severityThreshold` must be one of info, low, medium, high, critical, not "CRITICAL".'],
        ["an unknown threshold", { severityThreshold: "urgent" }, '`severityThreshold` must be one of info, low, medium, high, critical, not "urgent".'],
        ["an unknown scanner", { scanner: { kind: "qualys" } }, '`scanner.kind` must be one of tenable, inspector, none, not "qualys".'],
        ["a zero deadline", { readinessTimeoutSeconds: 0 }, "`readinessTimeoutSeconds` must be a whole number of seconds from 1 to 86400, not 0."],
        ["a value still unknown (from a preview)", { instanceId: UNKNOWN }, "`instanceId` is not known yet"],
    ])("create refuses %s, naming the field, and touches no AWS", async (_case, changes, reason) => {
        const error = await refusal(() => scanAndPromoteProvider.create!(withChange(changes) as unknown as PromotionInputs));
        expect(error.message).toContain("Instance web-1: the promotion's inputs are invalid, so nothing was done");
        expect(error.message).toContain(reason);
        // A plain error, not partial state: no resource is recorded for inputs that were never acted on.
        expect(error.id).toBeUndefined();
        expect(error.properties).toBeUndefined();
        expect(requests).toEqual([]);
    });

    it("update refuses them too, and keeps the recorded state (no partial state)", async () => {
        const error = await refusal(() => scanAndPromoteProvider.update!("i-0123456789abcdef0", valid as never, withChange({ severityThreshold: "High" }) as never));
        expect(error.message).toContain('`severityThreshold` must be one of info, low, medium, high, critical, not "High".');
        expect(error.id).toBeUndefined();
        expect(requests).toEqual([]);
    });

    it("names every problem at once and never echoes a scanner secret", async () => {
        const error = await refusal(() =>
            scanAndPromoteProvider.create!(
                withChange({ severityThreshold: "URGENT", scanner: { kind: "tenable", url: "https://n", accessKey: "ak-secret", secretKey: 42, templateUuid: "u" } }) as unknown as PromotionInputs,
            ),
        );
        expect(error.message).toContain("`severityThreshold` must be one of");
        expect(error.message).toContain("`scanner.secretKey` is required for the tenable scanner.");
        expect(error.message).not.toContain("ak-secret");
        expect(error.message).not.toContain("42");
        expect(requests).toEqual([]);
    });
});

describe("check with unknowns refused (what create and update use)", () => {
    it("fails a value that is still unknown, naming it, where preview would skip it", () => {
        const inputs = withChange({ instanceId: UNKNOWN, productionSecurityGroupIds: [UNKNOWN], scanner: { kind: "tenable", url: "https://n", accessKey: UNKNOWN, secretKey: "s", templateUuid: "u" } });
        expect(checkPromotionInputs(inputs)).toEqual([]);
        expect(checkPromotionInputs(inputs, { unknowns: "refuse" }).map((f) => f.property)).toEqual(["instanceId", "productionSecurityGroupIds", "scanner.accessKey"]);
    });
});

describe("failureLines (what `pulumi up` shows for a promotion that failed to initialise)", () => {
    it("is the whole message, a line each, then only the reasons it does not already say", () => {
        const message = "Instance web-1 stays in quarantine: 1 finding(s) at or above medium in scan 7\n  CRITICAL p-1: OpenSSH\n";
        expect(failureLines(message, ["1 finding(s) at or above medium in scan 7", "demotion failed: throttled"])).toEqual([
            "Instance web-1 stays in quarantine: 1 finding(s) at or above medium in scan 7",
            "CRITICAL p-1: OpenSSH",
            "demotion failed: throttled",
        ]);
    });
});

describe("diff", () => {
    const olds = { ...valid } as unknown as Record<string, unknown>;

    it.each<[string, Partial<Record<keyof PromotionInputs, unknown>>, { changes: boolean; replaces: string[] }]>([
        ["nothing changed", {}, { changes: false, replaces: [] }],
        ["a new instance", { instanceId: "i-0fffffffffffffff0" }, { changes: true, replaces: ["instanceId"] }],
        ["another region", { region: "eu-central-1" }, { changes: true, replaces: ["region"] }],
        ["a stricter threshold", { severityThreshold: "low" }, { changes: true, replaces: [] }],
        ["another scanner", { scanner: { kind: "inspector" } }, { changes: true, replaces: [] }],
        ["a new production policy", { productionPolicy: '{"Statement":[1,2]}' }, { changes: true, replaces: [] }],
        ["other production groups", { productionSecurityGroupIds: ["sg-0cccccccccccccccc"] }, { changes: true, replaces: [] }],
        ["an explicit rescan", { rescanTrigger: "2026-11-22" }, { changes: true, replaces: [] }],
        ["another list of managed policies (attachments converge in place)", { managedPolicyArns: ["arn:aws:iam::123456789012:policy/app"] }, { changes: true, replaces: [] }],
        ["an empty list of managed policies, where the state has none recorded", { managedPolicyArns: [] }, { changes: false, replaces: [] }],
    ])("%s", (_case, changes, expected) => {
        expect(diffPromotion(olds, withChange(changes))).toEqual(expected);
    });

    it("compares recorded outputs (which never hold the API keys) with new inputs: rotating keys alone does not rescan", () => {
        const recorded = { ...olds, scanner: { kind: "tenable", url: "https://nessus.example:8834", templateUuid: "uuid" } };
        expect(diffPromotion(recorded, withChange({ scanner: { ...valid.scanner, accessKey: "rotated", secretKey: "rotated" } }))).toEqual({ changes: false, replaces: [] });
        expect(diffPromotion(recorded, withChange({ scanner: { ...valid.scanner, templateUuid: "other" } }))).toEqual({ changes: true, replaces: [] });
    });

    it("retries an instance recorded in remediation even when nothing changed (a refresh clears the engine's own retry marker)", () => {
        expect(diffPromotion({ ...olds, phase: "remediation" }, withChange({}))).toEqual({ changes: true, replaces: [] });
        expect(diffPromotion({ ...olds, phase: "production" }, withChange({}))).toEqual({ changes: false, replaces: [] });
    });

    it("ignores a new provider version (only __provider differs)", () => {
        expect(diffPromotion({ ...olds, __provider: "old code" }, { ...olds, __provider: "new code" })).toEqual({ changes: false, replaces: [] });
    });

    it("deletes before replacing, so two promotions never own one role at once", async () => {
        const result = await scanAndPromoteProvider.diff!("id", valid as never, withChange({ instanceId: "i-0fffffffffffffff0" }) as never);
        expect(result).toEqual({ changes: true, replaces: ["instanceId"], deleteBeforeReplace: true });
    });
});

describe("serialization for the dynamic-provider host", () => {
    it("serializes the real provider without capturing anything unserializable", async () => {
        const serialized = await pulumi.runtime.serializeFunction(() => scanAndPromoteProvider, { allowSecrets: false });
        expect(serialized.text).toContain("checkPromotionInputs");
        expect(serialized.text).toContain("createAwsPort");
        expect(serialized.containsSecrets).toBe(false);
        // SDKs are loaded when a method runs, never captured as objects or credentials.
        expect(serialized.text).toContain('require("@aws-sdk/client-ec2")');
        expect(serialized.text).not.toMatch(/AKIA|aws_secret|EC2Client\s*=\s*\{/);
    });
});
