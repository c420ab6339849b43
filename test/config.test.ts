import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { checkCidr } from "../config/cidr";
import { CONFIG_KEYS, ConfigError, exposesPortToInternet, parseAirlockConfig } from "../config/schema";
import { closest } from "../config/suggest";
import { PROJECT_ROOT, TEST_SECRET, devConfigWith, readStackConfig } from "./support/program";

function problemsOf(changes: Record<string, unknown>): string[] {
    try {
        parseAirlockConfig(devConfigWith(changes).values);
    } catch (err) {
        if (err instanceof ConfigError) {
            return [...err.problems];
        }
        throw err;
    }
    return [];
}

const instance = (fields: Record<string, unknown>) => [{ name: "web-1", instanceType: "t3.small", ...fields }];

describe("checkCidr", () => {
    it.each([
        ["10.0.0.0/16", "10.0.0.0/16"],
        ["10.0.0.1/32", "10.0.0.1/32"],
        ["0.0.0.0/0", "0.0.0.0/0"],
        [" 192.168.1.0/24 ", "192.168.1.0/24"],
        ["2001:db8::/32", "2001:db8::/32"],
        ["2001:DB8:0:0::/64", "2001:db8::/64"],
    ])("accepts %j as %s", (input, normalised) => {
        expect(checkCidr(input)).toEqual(expect.objectContaining({ ok: true, cidr: normalised }));
    });

    it.each([
        ["10.0.0.1", "CIDR mask is missing", "10.0.0.1/32"],
        ["2001:db8::1", "CIDR mask is missing", "2001:db8::1/128"],
        ["10.0.0.1/24", "host bits are set", "10.0.0.0/24"],
        ["10.0.0.0/33", "the mask must be a number from 0 to 32", undefined],
        ["10.0.0.0/", "the mask must be a number from 0 to 32", undefined],
        ["10.0.0.0/1a", "the mask must be a number from 0 to 32", undefined],
        ["10.1/16", "not a CIDR block", undefined],
        ["0x0a.0.0.0/8", "not a CIDR block", undefined],
        ["300.0.0.0/8", "not a CIDR block", undefined],
        ["example.com/24", "not a CIDR block", undefined],
        ["", "not a CIDR block", undefined],
    ])("rejects %j: %s", (input, problem, suggestion) => {
        const result = checkCidr(input);
        expect(result).toEqual({ ok: false, problem, ...(suggestion === undefined ? {} : { suggestion }) });
    });
});

describe("closest (typo suggestions)", () => {
    it.each([
        ["hgh", ["info", "low", "medium", "high", "critical"], "high"],
        ["instanceTyp", ["name", "instanceType", "subnetId"], "instanceType"],
        ["tenabel", ["tenable", "inspector", "none"], "tenable"],
        ["qualys", ["tenable", "inspector", "none"], undefined],
    ])("%j among %j is %j", (typed, candidates, expected) => {
        expect(closest(typed, candidates)).toBe(expected);
    });
});

describe("the dev environment (Pulumi.dev.yaml)", () => {
    it("is valid and complete", () => {
        const config = parseAirlockConfig(readStackConfig().values);
        expect(config.region).toBe("eu-west-1");
        expect(config.instances.map((i) => [i.name, i.instanceType])).toEqual([
            ["web-1", "t3.small"],
            ["api-1", "m7g.large"],
            ["batch-1", "c6i.xlarge"],
        ]);
        expect(config.scanner).toEqual(expect.objectContaining({ kind: "tenable", hasApiKeys: true }));
        expect(config.severityThreshold).toBe("medium");
        expect(config.productionIngress.length).toBeGreaterThan(0);
    });

    it("applies documented defaults to what it leaves out", () => {
        const config = parseAirlockConfig(readStackConfig().values);
        const web = config.instances.find((i) => i.name === "web-1");
        expect(web).toEqual({
            name: "web-1",
            instanceType: "t3.small",
            subnetId: "subnet-0a1b2c3d4e5f60711",
            os: "al2023",
            ami: undefined,
            dataVolumeGiB: 20,
            rootVolumeGiB: undefined,
            mountPoint: "/data",
            associatePublicIp: false,
            managedPolicyArns: [],
            ssh: "key-only",
        });
        expect(config.allowPublicIp).toBe(false);
        expect(config.keyDeletionWindowDays).toBe(30);
    });

    it("defaults to the Inspector scanner, a medium threshold and HTTPS-only egress when those keys are absent", () => {
        const config = parseAirlockConfig(
            devConfigWith({
                "airlock:scannerKind": undefined,
                "airlock:scannerUrl": undefined,
                "airlock:scannerTemplateUuid": undefined,
                "airlock:scannerAccessKey": undefined,
                "airlock:scannerSecretKey": undefined,
                "airlock:severityThreshold": undefined,
                "airlock:remediationEgress": undefined,
            }).values,
        );
        expect(config.scanner.kind).toBe("inspector");
        expect(config.severityThreshold).toBe("medium");
        expect(config.remediationEgress).toEqual([
            expect.objectContaining({ protocol: "tcp", fromPort: 443, toPort: 443, cidrs: ["0.0.0.0/0"] }),
        ]);
    });
});

describe("invalid configuration fails with the key and the fix", () => {
    it.each<[string, Record<string, unknown>, string]>([
        [
            "CIDR without a mask",
            { "airlock:scannerSourceCidrs": ["10.30.5.10/32", "10.30.5.11"] },
            'CIDR mask is missing in `airlock:scannerSourceCidrs[1]`: "10.30.5.11". Did you mean "10.30.5.11/32"?',
        ],
        [
            "malformed CIDR in a rule",
            { "airlock:productionIngress": [{ description: "web", port: 443, cidrs: ["10.20.0/24"] }] },
            'Not a CIDR block in `airlock:productionIngress[0].cidrs[0]`: "10.20.0/24". Write it as address/mask, e.g. "10.0.0.0/16".',
        ],
        [
            "CIDR with host bits",
            { "airlock:productionIngress": [{ description: "web", port: 443, cidrs: ["10.20.0.5/24"] }] },
            'Host bits are set in `airlock:productionIngress[0].cidrs[0]`: "10.20.0.5/24". Did you mean "10.20.0.0/24"?',
        ],
        [
            "unknown severity",
            { "airlock:severityThreshold": "hgh" },
            'Unknown severity "hgh" in `airlock:severityThreshold`. Use one of: info, low, medium, high, critical. Did you mean "high"?',
        ],
        [
            "unknown scanner kind",
            { "airlock:scannerKind": "qualys" },
            'Unknown scanner kind "qualys" in `airlock:scannerKind`. Use one of: tenable, inspector, none.',
        ],
        [
            "duplicate instance names",
            { "airlock:instances": [{ name: "web-1", instanceType: "t3.small" }, { name: "web-1", instanceType: "t3.large" }] },
            'Duplicate instance name "web-1" in `airlock:instances[1]` (first used by `airlock:instances[0]`). Instance names must be unique.',
        ],
        [
            "data volume too large",
            { "airlock:instances": instance({ dataVolumeGiB: 20000 }) },
            "`airlock:instances[0].dataVolumeGiB` must be a whole number of GiB from 1 to 16384 (gp3 limits), not 20000.",
        ],
        [
            "data volume of zero",
            { "airlock:instances": instance({ dataVolumeGiB: 0 }) },
            "`airlock:instances[0].dataVolumeGiB` must be a whole number of GiB from 1 to 16384 (gp3 limits), not 0.",
        ],
        [
            "fractional data volume",
            { "airlock:instances": instance({ dataVolumeGiB: 10.5 }) },
            "`airlock:instances[0].dataVolumeGiB` must be a whole number of GiB from 1 to 16384 (gp3 limits), not 10.5.",
        ],
        [
            "instance name with capitals and underscores",
            { "airlock:instances": [{ name: "Web_Server", instanceType: "t3.small" }] },
            '`airlock:instances[0].name`: "Web_Server" is not usable in AWS names. Use 1-32 lowercase letters, digits and single hyphens, starting with a letter. Did you mean "web-server"?',
        ],
        [
            "instance name too long",
            { "airlock:instances": [{ name: "a".repeat(33), instanceType: "t3.small" }] },
            `\`airlock:instances[0].name\`: "${"a".repeat(33)}" is not usable in AWS names. Use 1-32 lowercase letters, digits and single hyphens, starting with a letter. Did you mean "${"a".repeat(32)}"?`,
        ],
        [
            "missing instance name",
            { "airlock:instances": [{ instanceType: "t3.small" }] },
            "`airlock:instances[0].name`: It is required. Use 1-32 lowercase letters, digits and single hyphens, starting with a letter.",
        ],
        [
            "public IP without the opt-in",
            { "airlock:instances": instance({ associatePublicIp: true }) },
            "`airlock:instances[0].associatePublicIp` asks for a public IP, but public IPs are off. If this instance really must be reachable from the internet, set `airlock:allowPublicIp` to true as well.",
        ],
        [
            "misspelt instance field",
            { "airlock:instances": instance({ dataVolumeGb: 30 }) },
            "Unknown setting `airlock:instances[0].dataVolumeGb`. Known settings: name, instanceType, subnetId, os, ami, dataVolumeGiB, rootVolumeGiB, mountPoint, associatePublicIp, managedPolicyArns, rescanTrigger, ssh. Did you mean `dataVolumeGiB`?",
        ],
        [
            "misspelt config key",
            { "airlock:severityTreshold": "high" },
            "Unknown config key `airlock:severityTreshold`. Did you mean `severityThreshold`? Known keys are listed in Pulumi.yaml.",
        ],
        ["missing region", { "aws:region": undefined }, "`aws:region` is not set. Run `pulumi config set aws:region <region>`, e.g. eu-west-1."],
        [
            "missing VPC",
            { "airlock:vpcId": undefined },
            "`airlock:vpcId` is not set. Run `pulumi config set airlock:vpcId vpc-...` with the VPC the instances live in.",
        ],
        [
            "SSH open to the world in production",
            { "airlock:productionIngress": [{ description: "ssh", port: 22, cidrs: ["0.0.0.0/0"] }] },
            "`airlock:productionIngress[0]` opens SSH (port 22) to the whole internet. Limit it to your admin CIDRs, or reach instances through SSM Session Manager.",
        ],
        [
            "scanner CIDR that is the whole internet",
            { "airlock:scannerSourceCidrs": ["0.0.0.0/0"] },
            "`airlock:scannerSourceCidrs` contains 0.0.0.0/0, which would open the quarantine group to the whole internet. List the scanner's own addresses.",
        ],
        [
            "tenable without an https URL",
            { "airlock:scannerUrl": "http://nessus:8834" },
            '`airlock:scannerUrl` must be an https:// URL (the API keys travel in its headers), not "http://nessus:8834".',
        ],
        [
            "tenable without its secret key",
            { "airlock:scannerSecretKey": undefined },
            "`airlock:scannerSecretKey` is required for the tenable scanner. Run `pulumi config set --secret airlock:scannerSecretKey <value>`.",
        ],
        [
            "rule without a description",
            { "airlock:productionIngress": [{ port: 443, cidrs: ["10.0.0.0/8"] }] },
            "`airlock:productionIngress[0].description` is required: say why this rule exists (it is shown in the AWS console and audits).",
        ],
        [
            "rule with two kinds of source",
            { "airlock:productionIngress": [{ description: "x", port: 443, cidrs: ["10.0.0.0/8"], securityGroupId: "sg-0123456789abcdef0" }] },
            "`airlock:productionIngress[0]` mixes kinds of source. Use CIDRs, or one security group, or one prefix list per rule; split it into several rules.",
        ],
        [
            "rule with reversed port range",
            { "airlock:productionIngress": [{ description: "x", fromPort: 9000, toPort: 8000, cidrs: ["10.0.0.0/8"] }] },
            "`airlock:productionIngress[0]` has fromPort 9000 above toPort 8000. Swap them.",
        ],
        [
            "malformed subnet id",
            { "airlock:instances": instance({ subnetId: "subnet-xyz" }) },
            '`airlock:instances[0].subnetId` must look like "subnet-0123456789abcdef0", not "subnet-xyz".',
        ],
        [
            "key deletion window out of range",
            { "airlock:keyDeletionWindowDays": "3" },
            '`airlock:keyDeletionWindowDays` must be a whole number from 7 to 30, not "3".',
        ],
        [
            "reserved tag prefix",
            { "airlock:tags": { "aws:owner": "x" } },
            'Tag name "aws:owner" in `airlock:tags` is not allowed: 1-128 characters, not starting with aws: or airlock: (reserved).',
        ],
    ])("%s", (_case, changes, message) => {
        expect(problemsOf(changes)).toContain(message);
    });

    it("lists every problem at once", () => {
        const problems = problemsOf({
            "airlock:severityThreshold": "severe",
            "airlock:scannerKind": "qualys",
            "airlock:instances": [{ name: "A", instanceType: "t3.small", dataVolumeGiB: -1 }],
        });
        expect(problems).toHaveLength(4);
    });

    it("never echoes a secret value in a message", () => {
        // A tenable-only secret left behind after switching scanners is reported by key, not value.
        const problems = problemsOf({ "airlock:scannerKind": "inspector", "airlock:scannerUrl": undefined, "airlock:scannerTemplateUuid": undefined });
        expect(problems.join("\n")).toContain("`airlock:scannerAccessKey` only applies to the tenable scanner");
        expect(problems.join("\n")).not.toContain(TEST_SECRET);
    });

    it("is a ConfigError whose message lists the problems", () => {
        expect(() => parseAirlockConfig(devConfigWith({ "airlock:severityThreshold": "urgent" }).values)).toThrow(
            /^Airlock configuration is invalid \(1 problem\):\n {2}- Unknown severity "urgent"/,
        );
    });

    it("accepts a public IP when the stack opts in explicitly", () => {
        const config = parseAirlockConfig(
            devConfigWith({ "airlock:allowPublicIp": "true", "airlock:instances": instance({ associatePublicIp: true }) }).values,
        );
        expect(config.instances[0]?.associatePublicIp).toBe(true);
    });
});

describe("exposesPortToInternet", () => {
    const rule = { description: "r", protocol: "tcp" as const, fromPort: 20, toPort: 25, cidrs: [] as string[], ipv6Cidrs: [] as string[] };
    it.each([
        [{ ...rule, cidrs: ["0.0.0.0/0"] }, 22, true],
        [{ ...rule, ipv6Cidrs: ["::/0"] }, 22, true],
        [{ ...rule, cidrs: ["10.0.0.0/8"] }, 22, false],
        [{ ...rule, cidrs: ["0.0.0.0/0"] }, 3389, false],
        [{ ...rule, protocol: "all" as const, fromPort: -1, toPort: -1, cidrs: ["0.0.0.0/0"] }, 3389, true],
        [{ ...rule, protocol: "udp" as const, cidrs: ["0.0.0.0/0"] }, 22, false],
    ])("%j port %d → %s", (r, port, expected) => {
        expect(exposesPortToInternet(r, port)).toBe(expected);
    });
});

describe("Pulumi.yaml declares the config schema", () => {
    const project = parse(fs.readFileSync(path.join(PROJECT_ROOT, "Pulumi.yaml"), "utf8")) as {
        name: string;
        runtime: { name: string; options: { typescript: boolean } };
        config: Record<string, { type: string; description?: string; default?: unknown; secret?: boolean; items?: { type: string } }>;
    };

    it("is the airlock project on the nodejs runtime with TypeScript", () => {
        expect(project.name).toBe("airlock");
        expect(project.runtime).toEqual(expect.objectContaining({ name: "nodejs", options: expect.objectContaining({ typescript: true }) }));
    });

    it.each(CONFIG_KEYS.filter((k) => k.type !== "object").map((k) => [k.key, k] as const))(
        "declares %s with the type, default, secrecy and description the code uses",
        (key, spec) => {
            const declared = project.config[key];
            expect(declared).toBeDefined();
            expect(declared?.type).toBe(spec.type);
            expect(declared?.description).toBe(spec.description);
            expect(declared?.default).toEqual(spec.default);
            expect(declared?.secret ?? false).toBe(spec.secret ?? false);
            if (spec.type === "array") {
                expect(declared?.items).toEqual({ type: spec.items });
            }
        },
    );

    it("declares nothing the code does not know, and only types Pulumi's schema accepts", () => {
        for (const [key, declared] of Object.entries(project.config)) {
            expect(CONFIG_KEYS.map((k) => k.key)).toContain(key);
            expect(["string", "integer", "boolean", "array"]).toContain(declared.type);
        }
    });

    it.each(CONFIG_KEYS.filter((k) => k.type === "object").map((k) => k.key))("documents the structured key %s in a comment", (key) => {
        const text = fs.readFileSync(path.join(PROJECT_ROOT, "Pulumi.yaml"), "utf8");
        expect(text).toMatch(new RegExp(`^\\s*# .*\\b${key}\\b`, "m"));
    });
});

describe("the README's configuration reference", () => {
    const readme = fs.readFileSync(path.join(PROJECT_ROOT, "README.md"), "utf8");
    it.each(CONFIG_KEYS.map((k) => k.key))("documents %s", (key) => {
        expect(readme).toMatch(new RegExp(`^\\| \`${key}\` \\|`, "m"));
    });
});
