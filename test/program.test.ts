/**
 * The whole program (index.ts) with the dev environment, under the mock engine: what `pulumi up`
 * and `pulumi preview` would declare, what the stack exports, and what invalid config does.
 */
import * as fs from "fs";
import * as pulumi from "@pulumi/pulumi";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";
import { secretConfigKeys } from "../config/load";
import { securityZonesCollisions } from "../config/ruleCollisions";
import type { NetworkRule } from "../config/schema";
import { MAX_STACK_TAGS, TAGGED_RESOURCES, TaggedResourceKind } from "../config/tags";
import { UNKNOWN } from "../providers/promotionInputs";
import { scanAndPromoteProvider } from "../providers/scanAndPromote";
import { MockEngine, inspect, installMocks } from "./support/mocks";
import { TEST_SECRET, devConfigWith, readStackConfig, runProgram, waitForRegistrations } from "./support/program";

/** Resolves every stack output to plain data (secrets included, as `pulumi stack output --show-secrets`). */
async function resolved(outputs: Record<string, pulumi.Output<unknown>>): Promise<Record<string, any>> {
    return (await inspect(pulumi.output(outputs) as unknown as pulumi.Output<Record<string, any>>)).value ?? {};
}

/** What the provider host hands the provider: unknowns as Pulumi's sentinel, secrets unwrapped. */
function asProviderInputs(value: any): any {
    if (Array.isArray(value)) {
        return value.map(asProviderInputs);
    }
    if (value !== null && typeof value === "object") {
        if (value.__pulumiUnknown === true) {
            return UNKNOWN;
        }
        if (value[specialSigKey] === specialSecretSig) {
            return asProviderInputs(value.value);
        }
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asProviderInputs(v)]));
    }
    return value;
}

function countByType(engine: MockEngine): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const r of engine.resources) {
        counts[r.type] = (counts[r.type] ?? 0) + 1;
    }
    return counts;
}

describe("the program with the dev environment", () => {
    let engine: MockEngine;
    let outputs: Record<string, pulumi.Output<unknown>>;

    beforeAll(async () => {
        ({ engine, outputs } = await runProgram(readStackConfig()));
    });

    it("declares the zones, the vault and a full set of resources per instance", () => {
        expect(countByType(engine)).toEqual({
            "airlock:network:SecurityZones": 1,
            "airlock:storage:KeyVault": 1,
            "airlock:compute:SecureInstance": 3,
            "aws:ec2/securityGroup:SecurityGroup": 2,
            // remediation: 2 scanner CIDRs; production: 2 LB CIDRs + 1 scraper group
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": 5,
            // remediation: 443 + 80; production: 443
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": 3,
            "aws:kms/key:Key": 1,
            "aws:kms/alias:Alias": 1,
            "aws:s3/bucket:Bucket": 1,
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls": 1,
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": 1,
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": 1,
            "aws:s3/bucketPolicy:BucketPolicy": 1,
            // Each group's published baseline, for the guardrails' healer.
            "aws:ssm/parameter:Parameter": 2,
            "aws:iam/role:Role": 3,
            "aws:iam/instanceProfile:InstanceProfile": 3,
            // No RolePolicyAttachment: the dev stack scans with Tenable, and the application's managed
            // policies are attached by the promotion after a clean scan, not at launch.
            "aws:ebs/volume:Volume": 3,
            "aws:ec2/instance:Instance": 3,
            "aws:ec2/volumeAttachment:VolumeAttachment": 3,
            // Each instance's data volume id, on the instance, for its first boot.
            "aws:ec2/tag:Tag": 3,
            // Key custody: the instance writes its key; this owns keys/<instance ARN> by name.
            "pulumi-nodejs:dynamic/airlock:InstanceKey": 3,
            "pulumi-nodejs:dynamic/airlock:ScanAndPromote": 3,
        });
    });

    it("no resource gets a public IP by default", () => {
        for (const instance of engine.ofType("aws:ec2/instance:Instance")) {
            expect(instance.inputs.associatePublicIpAddress).toBe(false);
        }
        expect(engine.resources.filter((r) => r.type === "aws:ec2/eip:Eip")).toEqual([]);
    });

    it("every instance requires IMDSv2 and starts in the remediation group", async () => {
        const remediation = await inspect(outputs.remediationSecurityGroupId as pulumi.Output<string>);
        for (const instance of engine.ofType("aws:ec2/instance:Instance")) {
            expect(instance.inputs.metadataOptions.httpTokens).toBe("required");
            expect(instance.inputs.vpcSecurityGroupIds).toEqual([remediation.value]);
        }
    });

    it("instances use their own subnet or the default, and their own size and OS", () => {
        const byName = Object.fromEntries(engine.ofType("aws:ec2/instance:Instance").map((i) => [i.name, i.inputs]));
        expect(byName["web-1"]).toEqual(expect.objectContaining({ instanceType: "t3.small", subnetId: "subnet-0a1b2c3d4e5f60711" }));
        expect(byName["api-1"]).toEqual(expect.objectContaining({ instanceType: "m7g.large", subnetId: "subnet-0a1b2c3d4e5f60712" }));
        expect(byName["batch-1"]?.userData).toContain("(debian12)");
    });

    it("exports what another stack needs, shaped for a StackReference", async () => {
        const values = await resolved(outputs);
        expect(Object.keys(values).sort()).toEqual(["instances", "keyBucketName", "kmsKeyArn", "productionSecurityGroupId", "remediationSecurityGroupId"]);
        expect(values.remediationSecurityGroupId).toMatch(/^sg-/);
        expect(values.productionSecurityGroupId).toMatch(/^sg-/);
        expect(values.keyBucketName).toMatch(/^airlock-keys-/);
        expect(values.kmsKeyArn).toMatch(/^arn:aws:kms:eu-west-1:111122223333:key\//);
        expect(Object.keys(values.instances)).toEqual(["web-1", "api-1", "batch-1"]);
        for (const [name, instance] of Object.entries<Record<string, string>>(values.instances)) {
            expect(instance).toEqual({
                instanceId: expect.stringMatching(/^i-/),
                privateIp: expect.stringMatching(/^10\./),
                roleArn: expect.stringMatching(new RegExp(`^arn:aws:iam::111122223333:role/airlock/${name}-role-`)),
                keyObjectKey: expect.stringMatching(/^keys\/arn:aws:ec2:eu-west-1:111122223333:instance\/i-[0-9a-f]+$/),
                phase: "remediation",
                dataVolumeId: expect.stringMatching(/^vol-/),
            });
        }
    });

    it("no stack output contains a secret", async () => {
        const text = JSON.stringify(await resolved(outputs));
        expect(text).not.toContain(TEST_SECRET);
        // And no resource could hold key material: none makes or stores one.
        expect(engine.resources.filter((r) => /random|bucketObject/i.test(r.type))).toEqual([]);
    });

    it("scanner credentials reach only the promotion resource, and as secrets", () => {
        const carriers = engine.resources.filter((r) => JSON.stringify(r.inputs).includes(TEST_SECRET));
        expect(carriers.map((r) => r.type)).toEqual(Array(3).fill("pulumi-nodejs:dynamic/airlock:ScanAndPromote"));
        for (const promotion of carriers) {
            expect(promotion.inputs.scanner[specialSigKey]).toBe(specialSecretSig);
        }
    });

    it("every key custody resource is in one vault bucket, and the bucket policy is not per instance", () => {
        const bucketNames = new Set(engine.ofType("pulumi-nodejs:dynamic/airlock:InstanceKey").map((o) => o.inputs.bucketName));
        expect(bucketNames.size).toBe(1);
        expect(bucketNames).toEqual(new Set(engine.ofType("aws:s3/bucket:Bucket").map((b) => b.state.bucket)));
        const policy = engine.ofType("aws:s3/bucketPolicy:BucketPolicy")[0]?.inputs.policy as string;
        for (const name of ["web-1", "api-1", "batch-1"]) {
            expect(policy).not.toContain(name);
        }
    });
});

describe("rescanning", () => {
    it("the stack's and an instance's rescanTrigger reach that instance's promotion", async () => {
        const { engine } = await runProgram(
            devConfigWith({
                "airlock:rescanTrigger": "2026-11-22",
                "airlock:instances": [
                    { name: "web-1", instanceType: "t3.small" },
                    { name: "web-2", instanceType: "t3.small", rescanTrigger: "openssl-fix" },
                ],
            }),
        );
        const triggers = Object.fromEntries(engine.ofType("pulumi-nodejs:dynamic/airlock:ScanAndPromote").map((p) => [p.name, p.inputs.rescanTrigger]));
        expect(triggers).toEqual({ "web-1-promotion": "2026-11-22", "web-2-promotion": "2026-11-22/openssl-fix" });
    });

    it("the promotion assumes airlock:promotionRoleArn when set", async () => {
        const { engine } = await runProgram(devConfigWith({ "airlock:promotionRoleArn": "arn:aws:iam::111122223333:role/airlock-promoter" }));
        const roles = engine.ofType("pulumi-nodejs:dynamic/airlock:ScanAndPromote").map((p) => p.inputs.assumeRoleArn);
        expect(roles).toEqual(Array(3).fill("arn:aws:iam::111122223333:role/airlock-promoter"));
    });
});

describe("invalid configuration", () => {
    it.each<[string, Record<string, unknown>, string]>([
        ["unknown severity", { "airlock:severityThreshold": "hgh" }, 'Unknown severity "hgh" in `airlock:severityThreshold`'],
        ["missing CIDR mask", { "airlock:scannerSourceCidrs": ["10.30.5.10"] }, "CIDR mask is missing in `airlock:scannerSourceCidrs[0]`"],
        ["duplicate instances", { "airlock:instances": [{ name: "a", instanceType: "t3.small" }, { name: "a", instanceType: "t3.small" }] }, 'Duplicate instance name "a"'],
        [
            "the same port and CIDR in two production ingress rules",
            {
                "airlock:productionIngress": [
                    { description: "web", port: 443, cidrs: ["10.0.0.0/24"] },
                    { description: "web again", port: 443, cidrs: ["10.0.0.0/24"] },
                ],
            },
            "`airlock:productionIngress[1]` repeats port 443/tcp from 10.0.0.0/24 already in `airlock:productionIngress[0]`; remove one.",
        ],
        [
            "a scanner CIDR twice",
            { "airlock:scannerSourceCidrs": ["10.30.5.10/32", "10.30.5.10/32"] },
            "`airlock:scannerSourceCidrs[1]` repeats 10.30.5.10/32 already in `airlock:scannerSourceCidrs[0]`; remove one.",
        ],
        [
            "SSH from two halves of the internet in two rules",
            {
                "airlock:productionIngress": [
                    { description: "ssh a", port: 22, cidrs: ["0.0.0.0/1"] },
                    { description: "ssh b", port: 22, cidrs: ["128.0.0.0/1"] },
                ],
            },
            "`airlock:productionIngress[0]` and `airlock:productionIngress[1]` together open port 22/tcp (SSH) to 3,702,258,688 public IPv4 addresses (0.0.0.0/1, 128.0.0.0/1)",
        ],
        [
            "PostgreSQL from global IPv6",
            { "airlock:productionIngress": [{ description: "db", port: 5432, ipv6Cidrs: ["2000::/3"] }] },
            "`airlock:productionIngress[0]` opens port 5432/tcp (PostgreSQL) to about 2^125 public IPv6 addresses (2000::/3)",
        ],
        [
            "a scanner range of half the internet",
            { "airlock:scannerSourceCidrs": ["0.0.0.0/1"] },
            "`airlock:scannerSourceCidrs[0]` lets 2,092,957,696 public IPv4 addresses (0.0.0.0/1) reach quarantined instances on every port",
        ],
        [
            "every port from a public address without the opt-in",
            { "airlock:productionIngress": [{ description: "partner", protocol: "all", cidrs: ["1.2.3.4/32"] }] },
            "`airlock:productionIngress[0]` admits every protocol and port from public addresses (1.2.3.4/32). Admit only the ports the application serves, or set `airlock:allowPublicAllPorts` to true",
        ],
        [
            "a data volume mounted over /etc",
            { "airlock:instances": [{ name: "web-1", instanceType: "t3.small", mountPoint: "/etc" }] },
            '`airlock:instances[0].mountPoint` ("/etc") is a system directory',
        ],
        [
            "a data volume mounted on a pseudo-filesystem",
            { "airlock:instances": [{ name: "web-1", instanceType: "t3.small", mountPoint: "/dev/shm" }] },
            '`airlock:instances[0].mountPoint` ("/dev/shm") is on a pseudo-filesystem (/dev)',
        ],
        [
            "more stack tags than an instance can carry",
            { "airlock:tags": Object.fromEntries(Array.from({ length: 46 }, (_, i) => [`tag-${i}`, "x"])) },
            "`airlock:tags` has 46 tags, 2 too many: EC2 allows 50 tags per instance",
        ],
        [
            "more default tags than an instance can carry (the aws provider tags it too)",
            { "aws:defaultTags": { tags: Object.fromEntries(Array.from({ length: 46 }, (_, i) => [`default-${i}`, "x"])) } },
            "`aws:defaultTags` has 46 tags and `airlock:tags` 2, 4 too many together: EC2 allows 50 tags per instance",
        ],
        [
            "an aws provider profile the promotion provider would not use",
            { "aws:profile": "production" },
            "`aws:profile` sets the credentials the aws provider creates the resources with, but the scan-and-promote provider runs in its own process",
        ],
        [
            "an assumed role for the aws provider only",
            { "aws:assumeRoles": [{ roleArn: "arn:aws:iam::111122223333:role/deployer" }] },
            "`aws:assumeRoles` sets the credentials the aws provider creates the resources with",
        ],
    ])("%s: fails before any resource is declared, with a stack-trace-free message", async (_case, changes, message) => {
        const engine = installMocks();
        const run = runProgram(devConfigWith(changes), { engine });
        await expect(run).rejects.toThrow(message);
        await expect(run).rejects.toBeInstanceOf(pulumi.RunError);
        expect(engine.resources).toEqual([]);
        expect(engine.calls).toEqual([]);
    });
});

describe("exposure", () => {
    it("an all-ports rule from a small public range is declared as written once the stack opts in", async () => {
        const { engine } = await runProgram(
            devConfigWith({
                "airlock:allowPublicAllPorts": "true",
                "airlock:productionIngress": [{ description: "partner", protocol: "all", cidrs: ["1.2.3.0/24"] }],
            }),
        );
        const ingress = engine.resources.filter((r) => r.type === "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" && r.inputs.cidrIpv4 === "1.2.3.0/24");
        expect(ingress.map((r) => r.inputs.ipProtocol)).toEqual(["-1"]);
    });
});

describe("secret config values", () => {
    it("the program learns from the SDK which keys the stack holds encrypted", () => {
        pulumi.runtime.setAllConfig({ "airlock:vpcId": "vpc-1", "airlock:scannerUrl": "https://x" }, ["airlock:scannerUrl"]);
        expect(secretConfigKeys(["airlock:vpcId", "airlock:scannerUrl"])).toEqual(["airlock:scannerUrl"]);
    });

    it("a Tenable API key stored in plaintext stops the program, named but not shown", async () => {
        const stack = devConfigWith({});
        const engine = installMocks();
        const run = runProgram({ values: stack.values, secretKeys: [] }, { engine });
        await expect(run).rejects.toThrow("`airlock:scannerAccessKey` is stored in plaintext in the stack file.");
        await expect(run).rejects.not.toThrow(TEST_SECRET);
        expect(engine.resources).toEqual([]);
    });

    it("a scanner kind set with --secret is not shown when tenable settings are left over", async () => {
        const stack = devConfigWith({ "airlock:scannerKind": "inspector" });
        const engine = installMocks();
        const run = runProgram({ values: stack.values, secretKeys: [...stack.secretKeys, "airlock:scannerKind"] }, { engine });
        await expect(run).rejects.toThrow("`airlock:scannerUrl` only applies to the tenable scanner");
        await expect(run).rejects.not.toThrow("inspector");
        expect(engine.resources).toEqual([]);
    });

    it("a value set with --secret is named in the error, never shown", async () => {
        const leaky = "http://secret-host.example.internal:8834";
        const stack = devConfigWith({ "airlock:scannerUrl": leaky });
        const engine = installMocks();
        const run = runProgram({ values: stack.values, secretKeys: [...stack.secretKeys, "airlock:scannerUrl"] }, { engine });
        await expect(run).rejects.toThrow("`airlock:scannerUrl` must be an https:// URL");
        await expect(run).rejects.not.toThrow(leaky);
        expect(engine.resources).toEqual([]);
    });
});

describe("a scanner URL with credentials", () => {
    it("stops preview before anything is declared, and the URL and its credentials are printed nowhere", async () => {
        const url = "https://admin:hunter2-pw@nessus.security.example.internal:8834";
        const engine = installMocks({ preview: true });
        const run = runProgram(devConfigWith({ "airlock:scannerUrl": url }), { engine, preview: true });
        await expect(run).rejects.toThrow("`airlock:scannerUrl` has credentials in it");
        await expect(run).rejects.toBeInstanceOf(pulumi.RunError);
        const message = await run.then(
            () => "",
            (err: Error) => err.message,
        );
        for (const fragment of [url, "admin:", "hunter2-pw"]) {
            expect(message).not.toContain(fragment);
        }
        expect(engine.resources).toEqual([]);
    });
});

describe("duplicate rules", () => {
    const tcp = (port: number, peer: Partial<NetworkRule>): NetworkRule => ({
        description: `port ${port}`,
        protocol: "tcp",
        fromPort: port,
        toPort: port,
        cidrs: [],
        ipv6Cidrs: [],
        ...peer,
    });
    const sg = "sg-0a1b2c3d4e5f60719";
    it.each<[string, { scannerSourceCidrs?: string[]; remediationEgress?: NetworkRule[]; productionIngress?: NetworkRule[]; productionEgress?: NetworkRule[] }]>([
        ["one CIDR twice in a rule", { productionIngress: [tcp(443, { cidrs: ["10.0.0.0/24", "10.0.0.0/24"] })] }],
        ["one port and CIDR in two rules", { productionIngress: [tcp(443, { cidrs: ["10.0.0.0/24"] }), tcp(443, { cidrs: ["10.0.0.0/24"], description: "other" })] }],
        ["one port and group in two rules", { productionIngress: [tcp(9100, { securityGroupId: sg }), tcp(9100, { securityGroupId: sg })] }],
        ["one IPv6 block in two egress rules", { productionEgress: [tcp(443, { ipv6Cidrs: ["::/0"] }), tcp(443, { ipv6Cidrs: ["::/0"] })] }],
        ["one scanner CIDR twice", { scannerSourceCidrs: ["10.30.5.10/32", "2001:db8::10/128", "10.30.5.10/32"] }],
        ["one remediation egress rule twice", { remediationEgress: [tcp(80, { cidrs: ["0.0.0.0/0"] }), tcp(80, { cidrs: ["0.0.0.0/0"] })] }],
        ["two ports to one CIDR", { productionIngress: [tcp(443, { cidrs: ["10.0.0.0/24"] }), tcp(8443, { cidrs: ["10.0.0.0/24"] })] }],
        ["one rule in two groups", { productionEgress: [tcp(443, { cidrs: ["0.0.0.0/0"] })], remediationEgress: [tcp(443, { cidrs: ["0.0.0.0/0"] })] }],
        ["one rule as ingress and egress", { productionIngress: [tcp(443, { cidrs: ["10.0.0.0/24"] })], productionEgress: [tcp(443, { cidrs: ["10.0.0.0/24"] })] }],
        ["udp and tcp on one port", { productionIngress: [tcp(53, { cidrs: ["10.0.0.0/24"] }), { ...tcp(53, { cidrs: ["10.0.0.0/24"] }), protocol: "udp" }] }],
        ["distinct scanner CIDRs", { scannerSourceCidrs: ["10.30.5.10/32", "10.30.5.11/32", "2001:db8::10/128"] }],
    ])("%s: validation calls it a duplicate exactly when SecurityZones' rule names collide", async (_case, args) => {
        installMocks();
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { SecurityZones } = require("../components/securityZones") as typeof import("../components/securityZones");
        let collides = false;
        try {
            new SecurityZones("airlock", { vpcId: "vpc-0a1b2c3d4e5f60718", ...args });
            // Let its registrations finish before the next test installs fresh mocks.
            await waitForRegistrations();
        } catch (err) {
            expect((err as Error).message).toMatch(/is declared twice/);
            collides = true;
        }
        expect(securityZonesCollisions(args).length > 0).toBe(collides);
    });
});

/** The guardrails in the dev stack too, so that one run declares every kind of resource. */
const BOTH_HALVES = { "airlock:accountGuardrails": "true", "airlock:guardrails": { sourceCidrs: ["195.89.85.64/28"], configRecorder: true, trailCloudWatchLogsRetentionDays: 30 } };

describe("tags", () => {
    /** Eight stack tags. */
    const manyTags = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`tag-${i}`, `value-${i}`]));

    it("config/tags.ts counts every tag Airlock puts on each kind of resource", async () => {
        // The limits checked at preview are only right if this table matches what the components
        // declare, plus the tags set on each instance by others: the two bootstrap tags it writes on
        // itself at first boot, and its data volume's id (an aws:ec2/tag:Tag resource).
        // Both halves in one stack: every kind of resource Airlock tags.
        const { engine } = await runProgram(devConfigWith({ "airlock:tags": manyTags, ...BOTH_HALVES }));
        const tagged = engine.resources.filter((r) => r.inputs.tags !== undefined);
        const instanceTagResources = engine.ofType("aws:ec2/tag:Tag");
        const seen = new Map<TaggedResourceKind, Set<string>>();
        for (const resource of tagged) {
            const kind = TAGGED_RESOURCES.find((k) => k.resourceTypes.includes(resource.type));
            expect({ type: resource.type, counted: kind !== undefined }).toEqual({ type: resource.type, counted: true });
            const own = Object.keys(resource.inputs.tags).filter((tag) => !(tag in manyTags));
            const setByOthers =
                resource.type === "aws:ec2/instance:Instance"
                    ? ["airlock:bootstrap", "airlock:bootstrap-reason", ...instanceTagResources.filter((t) => t.inputs.resourceId === resource.id).map((t) => t.inputs.key as string)]
                    : [];
            // No resource carries a tag the table does not count (the limit would be wrong)...
            const all = [...own, ...setByOthers];
            expect({ type: resource.type, uncounted: all.filter((tag) => !(kind?.airlockTags ?? []).includes(tag)) }).toEqual({ type: resource.type, uncounted: [] });
            all.forEach((tag) => seen.set(kind!, (seen.get(kind!) ?? new Set()).add(tag)));
        }
        // ... and the table counts no tag that no resource of the kind carries (the limit would be too strict).
        for (const kind of TAGGED_RESOURCES) {
            expect({ kind: kind.what, tags: [...(seen.get(kind) ?? [])].sort() }).toEqual({ kind: kind.what, tags: [...kind.airlockTags].sort() });
        }
    });

    it("the most stack tags validation allows fit on every resource", async () => {
        const most = Object.fromEntries(Array.from({ length: MAX_STACK_TAGS }, (_, i) => [`tag-${i}`, "x"]));
        const { engine } = await runProgram(devConfigWith({ "airlock:tags": most, ...BOTH_HALVES }));
        for (const resource of engine.resources.filter((r) => r.inputs.tags !== undefined)) {
            const kind = TAGGED_RESOURCES.find((k) => k.resourceTypes.includes(resource.type));
            // The bootstrap tags and the data volume's tag.
            const atRuntime = resource.type === "aws:ec2/instance:Instance" ? 3 : 0;
            expect(Object.keys(resource.inputs.tags).length + atRuntime).toBeLessThanOrEqual(kind?.limit ?? 0);
        }
    });

    it("config/tags.ts counts every resource the aws provider puts default tags on (every resource type that takes tags)", async () => {
        // aws:defaultTags reach every taggable resource the aws provider manages, whether or not
        // Airlock tags it: the limits checked at preview must cover each of them.
        const { engine } = await runProgram(devConfigWith(BOTH_HALVES));
        const awsTypes = [...new Set(engine.resources.map((r) => r.type).filter((type) => type.startsWith("aws:")))];
        const takesTags = (type: string): boolean => {
            const module = /^aws:([^/]+)\/([^:]+):/.exec(type);
            expect(module).not.toBeNull();
            const source = fs.readFileSync(require.resolve(`@pulumi/aws/${module?.[1]}/${module?.[2]}.js`), "utf8");
            return source.includes('resourceInputs["tags"]');
        };
        const taggable = awsTypes.filter(takesTags);
        expect(taggable.length).toBeGreaterThan(5);
        expect(taggable.filter((type) => !TAGGED_RESOURCES.some((k) => k.resourceTypes.includes(type)))).toEqual([]);
    });

    it("every other resource Airlock tags carries the stack's tags", async () => {
        const { engine } = await runProgram(devConfigWith({ "airlock:tags": manyTags, ...BOTH_HALVES }));
        const tagged = engine.resources.filter((r) => r.inputs.tags !== undefined && r.type !== "aws:s3/bucketObjectv2:BucketObjectv2");
        expect(tagged.length).toBeGreaterThan(20);
        for (const resource of tagged) {
            expect(resource.inputs.tags).toEqual(expect.objectContaining(manyTags));
        }
    });
});

describe("pulumi preview (dry run)", () => {
    it("declares the same resources as pulumi up, and the promotion receives unknowns instead of doing work", async () => {
        const up = await runProgram(readStackConfig());
        const upResources = up.engine.resources.map((r) => `${r.type}::${r.name}`).sort();

        const preview = await runProgram(readStackConfig(), { preview: true });
        expect(preview.engine.resources.map((r) => `${r.type}::${r.name}`).sort()).toEqual(upResources);

        // In preview nothing has an id yet, so the promotion cannot know its instance; the provider
        // host receives those as unknowns, and the real provider's check must accept them and
        // change nothing (the engine calls create only during `up`).
        const promotions = preview.engine.ofType("pulumi-nodejs:dynamic/airlock:ScanAndPromote");
        expect(promotions).toHaveLength(3);
        for (const promotion of promotions) {
            expect(promotion.inputs.instanceId).toEqual({ __pulumiUnknown: true });
            expect(promotion.id).toBeUndefined();
            const asHostSeesThem = asProviderInputs(promotion.inputs);
            expect(asHostSeesThem.instanceId).toBe(UNKNOWN);
            const checked = await scanAndPromoteProvider.check!({} as never, asHostSeesThem as never);
            expect(checked).toEqual({ inputs: asHostSeesThem });
        }
        const phase = await inspect(pulumi.output(preview.outputs.instances) as pulumi.Output<Record<string, { phase: string }>>);
        expect(phase.isKnown).toBe(false);
    });
});

describe("read-only AWS look-ups at preview", () => {
    function invokesByToken(engine: MockEngine): Record<string, number> {
        const counts: Record<string, number> = {};
        for (const call of engine.calls) {
            counts[call.token] = (counts[call.token] ?? 0) + 1;
        }
        return counts;
    }
    const fleet = (count: number, spec: (i: number) => Record<string, unknown>) =>
        devConfigWith({ "airlock:instances": Array.from({ length: count }, (_, i) => ({ name: `app-${i + 1}`, instanceType: "t3.small", ...spec(i) })) });

    it("the dev environment asks once per distinct subnet (2) and OS/architecture (3), and once for the account", async () => {
        const { engine } = await runProgram(readStackConfig(), { preview: true });
        expect(invokesByToken(engine)).toEqual({
            "aws:ec2/getSubnet:getSubnet": 2,
            "aws:ssm/getParameter:getParameter": 3,
            "aws:index/getPartition:getPartition": 1,
            "aws:index/getCallerIdentity:getCallerIdentity": 1,
        });
    });

    it("12 instances on two subnets with two architectures: two subnet and two AMI look-ups", async () => {
        const config = fleet(12, (i) => ({ subnetId: i % 2 === 0 ? "subnet-0a1b2c3d4e5f60711" : "subnet-0a1b2c3d4e5f60712", instanceType: i % 4 < 2 ? "t3.small" : "t4g.small" }));
        const { engine } = await runProgram(config, { preview: true });
        expect(engine.ofType("aws:ec2/instance:Instance")).toHaveLength(12);
        expect(invokesByToken(engine)).toEqual({
            "aws:ec2/getSubnet:getSubnet": 2,
            "aws:ssm/getParameter:getParameter": 2,
            "aws:index/getPartition:getPartition": 1,
            "aws:index/getCallerIdentity:getCallerIdentity": 1,
        });
    });

    it("each run of the program looks up afresh: no answer is carried from one stack run to the next", async () => {
        const config = fleet(5, () => ({}));
        const expected = {
            "aws:ec2/getSubnet:getSubnet": 1,
            "aws:ssm/getParameter:getParameter": 1,
            "aws:index/getPartition:getPartition": 1,
            "aws:index/getCallerIdentity:getCallerIdentity": 1,
        };
        const first = await runProgram(config, { preview: true });
        expect(invokesByToken(first.engine)).toEqual(expected);
        const second = await runProgram(config);
        expect(invokesByToken(second.engine)).toEqual(expected);
    });
});
