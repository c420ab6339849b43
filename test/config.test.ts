import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { checkCidr } from "../config/cidr";
import { addressCounts, addressSpace, formatAddressCount, nonPublicPart, publicPart } from "../config/addressSpace";
import { BUILTIN_SENSITIVE_PORTS, scannerSourceExcess, SensitivePort, sensitivePortExposures } from "../config/exposure";
import { CONFIG_KEYS, ConfigError, NetworkRule, parseAirlockConfig } from "../config/schema";
import { closest } from "../config/suggest";
import { ALLOWED_AWS_SETTINGS, REFUSED_AWS_SETTINGS } from "../config/awsProvider";
import { MAX_DEFAULT_TAGS, MAX_STACK_TAGS, TAGGED_RESOURCES } from "../config/tags";
import { PROJECT_ROOT, StackConfig, TEST_SECRET, devConfigWith, readStackConfig } from "./support/program";

/** Problems the dev config with `changes` has; `secretKeys` replaces the keys the stack holds encrypted. */
function problemsOf(changes: Record<string, unknown>, secretKeys?: readonly string[]): string[] {
    const stack = devConfigWith(changes);
    return problemsOfValues(stack.values, secretKeys ?? stack.secretKeys);
}

function problemsOfValues(values: Record<string, string>, secretKeys: readonly string[]): string[] {
    try {
        parseAirlockConfig(values, secretKeys);
    } catch (err) {
        if (err instanceof ConfigError) {
            return [...err.problems];
        }
        throw err;
    }
    return [];
}

const parseStack = (stack: StackConfig) => parseAirlockConfig(stack.values, stack.secretKeys);

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
        const config = parseStack(readStackConfig());
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
        const config = parseStack(readStackConfig());
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
        const config = parseStack(
            devConfigWith({
                "airlock:scannerKind": undefined,
                "airlock:scannerUrl": undefined,
                "airlock:scannerTemplateUuid": undefined,
                "airlock:scannerAccessKey": undefined,
                "airlock:scannerSecretKey": undefined,
                "airlock:severityThreshold": undefined,
                "airlock:remediationEgress": undefined,
            }),
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
            "`airlock:vpcId` is not set. Run `pulumi config set airlock:vpcId vpc-...` with the VPC the instances live in (or set `airlock:secureInstances` to false for a guardrails-only stack).",
        ],
        [
            "SSH open to the world in production",
            { "airlock:productionIngress": [{ description: "ssh", port: 22, cidrs: ["0.0.0.0/0"] }] },
            "`airlock:productionIngress[0]` opens port 22/tcp (SSH) to 3,702,258,688 public IPv4 addresses (0.0.0.0/0). Admit it from at most a /24 of public IPv4 (256 addresses) and a /48 of public IPv6 in all, or from a security group, or reach instances with SSM Session Manager instead (`ssh: disabled`).",
        ],
        [
            "scanner CIDR that is the whole internet",
            { "airlock:scannerSourceCidrs": ["0.0.0.0/0"] },
            "`airlock:scannerSourceCidrs[0]` lets 3,702,258,688 public IPv4 addresses (0.0.0.0/0) reach quarantined instances on every port. List only the scanner's own addresses: at most a /24 of public IPv4 (256 addresses) and a /48 of public IPv6 in all.",
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
        expect(() => parseStack(devConfigWith({ "airlock:severityThreshold": "urgent" }))).toThrow(
            /^Airlock configuration is invalid \(1 problem\):\n {2}- Unknown severity "urgent"/,
        );
    });

    it("accepts a public IP when the stack opts in explicitly", () => {
        const config = parseStack(devConfigWith({ "airlock:allowPublicIp": "true", "airlock:instances": instance({ associatePublicIp: true }) }));
        expect(config.instances[0]?.associatePublicIp).toBe(true);
    });
});

const rule = (fields: Record<string, unknown>) => ({ description: "r", protocol: "tcp", port: 443, ...fields });

describe("duplicate rules are refused in validation, by key and index", () => {
    it.each<[string, Record<string, unknown>, string]>([
        [
            "the same CIDR twice in one rule",
            { "airlock:productionIngress": [rule({ cidrs: ["10.0.0.0/24", "10.1.0.0/24", "10.0.0.0/24"] })] },
            "`airlock:productionIngress[0].cidrs[2]` repeats port 443/tcp from 10.0.0.0/24 already in `airlock:productionIngress[0].cidrs[0]`; remove one.",
        ],
        [
            "the same port and CIDR in two rules",
            { "airlock:productionIngress": [rule({ cidrs: ["10.0.0.0/24"] }), rule({ description: "again", cidrs: ["10.9.0.0/16", "10.0.0.0/24"] })] },
            "`airlock:productionIngress[1]` repeats port 443/tcp from 10.0.0.0/24 already in `airlock:productionIngress[0]`; remove one.",
        ],
        [
            "an IPv4 CIDR written two ways",
            { "airlock:productionIngress": [rule({ cidrs: ["10.0.0.0/24"] }), rule({ cidrs: [" 10.0.0.0/024"] })] },
            "`airlock:productionIngress[1]` repeats port 443/tcp from 10.0.0.0/24 already in `airlock:productionIngress[0]`; remove one.",
        ],
        [
            "an IPv6 CIDR written two ways",
            { "airlock:productionIngress": [rule({ ipv6Cidrs: ["2001:db8::/32"] }), rule({ ipv6Cidrs: ["2001:DB8:0::/32"] })] },
            "`airlock:productionIngress[1]` repeats port 443/tcp from 2001:db8::/32 already in `airlock:productionIngress[0]`; remove one.",
        ],
        [
            "a port range from one security group twice",
            {
                "airlock:productionIngress": [
                    { description: "a", fromPort: 9100, toPort: 9101, securityGroupId: "sg-0a1b2c3d4e5f60719" },
                    { description: "b", fromPort: 9100, toPort: 9101, securityGroupId: "sg-0a1b2c3d4e5f60719" },
                ],
            },
            "`airlock:productionIngress[1]` repeats ports 9100-9101/tcp from security group sg-0a1b2c3d4e5f60719 already in `airlock:productionIngress[0]`; remove one.",
        ],
        [
            "egress to the same destination twice",
            { "airlock:productionEgress": [rule({ cidrs: ["0.0.0.0/0"] }), rule({ cidrs: ["0.0.0.0/0"] })] },
            "`airlock:productionEgress[1]` repeats port 443/tcp to 0.0.0.0/0 already in `airlock:productionEgress[0]`; remove one.",
        ],
        [
            "remediation egress with all traffic to a prefix list twice",
            {
                "airlock:remediationEgress": [
                    { description: "a", protocol: "all", prefixListId: "pl-0123456789abcdef0" },
                    { description: "b", protocol: "all", prefixListId: "pl-0123456789abcdef0" },
                ],
            },
            "`airlock:remediationEgress[1]` repeats all traffic to prefix list pl-0123456789abcdef0 already in `airlock:remediationEgress[0]`; remove one.",
        ],
        [
            "a scanner CIDR twice (each becomes a remediation ingress rule)",
            { "airlock:scannerSourceCidrs": ["10.30.5.10/32", "10.30.5.11/32", "10.30.5.10/32"] },
            "`airlock:scannerSourceCidrs[2]` repeats 10.30.5.10/32 already in `airlock:scannerSourceCidrs[0]`; remove one.",
        ],
    ])("%s", (_case, changes, message) => {
        expect(problemsOf(changes)).toContain(message);
    });

    it.each<[string, Record<string, unknown>]>([
        ["another port to the same CIDR", { "airlock:productionIngress": [rule({ cidrs: ["10.0.0.0/24"] }), rule({ port: 8443, cidrs: ["10.0.0.0/24"] })] }],
        ["overlapping port ranges (AWS accepts them)", { "airlock:productionIngress": [rule({ cidrs: ["10.0.0.0/24"] }), rule({ port: undefined, fromPort: 440, toPort: 450, cidrs: ["10.0.0.0/24"] })] }],
        ["another protocol", { "airlock:productionIngress": [rule({ cidrs: ["10.0.0.0/24"] }), rule({ protocol: "udp", cidrs: ["10.0.0.0/24"] })] }],
        ["the same rule in another group", { "airlock:productionEgress": [rule({ cidrs: ["0.0.0.0/0"] })], "airlock:remediationEgress": [rule({ cidrs: ["0.0.0.0/0"] })] }],
        ["the same rule as ingress and egress", { "airlock:productionEgress": [rule({ cidrs: ["10.0.0.0/24"] })], "airlock:productionIngress": [rule({ cidrs: ["10.0.0.0/24"] })] }],
    ])("accepts %s", (_case, changes) => {
        expect(problemsOf(changes)).toEqual([]);
    });

    it("reports duplicates together with every other problem", () => {
        const problems = problemsOf({
            "airlock:severityThreshold": "hgh",
            "airlock:scannerSourceCidrs": ["10.30.5.10/32", "10.30.5.10/32"],
            "airlock:productionIngress": [rule({ cidrs: ["10.0.0.0/24", "10.0.0.0/24"] })],
        });
        expect(problems).toHaveLength(3);
    });
});

describe("stack tags are checked against AWS's tag limits", () => {
    const tagsOf = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`tag-${i}`, `value-${i}`]));

    // EC2 allows 50 tags per instance; Airlock puts 5 of its own on each (test/program.test.ts counts them).
    const MAX_STACK_TAGS = 44;

    it("accepts as many stack tags as the most-tagged resource (an instance) leaves room for", () => {
        expect(problemsOf({ "airlock:tags": tagsOf(MAX_STACK_TAGS) })).toEqual([]);
    });

    it("refuses one more, naming the key, the limit and what to remove", () => {
        expect(problemsOf({ "airlock:tags": tagsOf(MAX_STACK_TAGS + 2) })).toEqual([
            "`airlock:tags` has 46 tags, 2 too many: EC2 allows 50 tags per instance and Airlock adds 6 of its own (airlock:managed, airlock:instance, Name, airlock:data-volume, airlock:bootstrap, airlock:bootstrap-reason). Keep at most 44.",
        ]);
    });

    it("does not count a stack tag Airlock overrides twice", () => {
        expect(problemsOf({ "airlock:tags": { ...tagsOf(MAX_STACK_TAGS), Name: "x" } })).toEqual([]);
    });

    it("refuses two tag names IAM treats as one (role tag keys are case-insensitive)", () => {
        expect(problemsOf({ "airlock:tags": { Team: "a", team: "b" } })).toEqual([
            '`airlock:tags` has "Team" and "team": IAM role tags ignore case, so AWS refuses both on a role. Keep one.',
        ]);
    });

    it.each<[string, Record<string, unknown>, string]>([
        ["a tag name over 128 characters", { ["k".repeat(129)]: "v" }, `Tag name "${"k".repeat(129)}" in \`airlock:tags\` is 129 characters long; AWS allows 128.`],
        [
            "a tag name with a slash (instances expose their tags to their metadata, where AWS allows none)",
            { "kubernetes.io/cluster": "owned" },
            'Tag name "kubernetes.io/cluster" in `airlock:tags` is not allowed: Airlock\'s instances expose their tags to their metadata service (the first boot reads its data volume\'s id there), and AWS then allows no spaces or "/" in tag names. Use "-" or "." instead ("kubernetes.io-cluster").',
        ],
        ["a tag name with a space", { "cost center": "4711" }, 'Tag name "cost center" in `airlock:tags` is not allowed: Airlock\'s instances expose their tags to their metadata service (the first boot reads its data volume\'s id there), and AWS then allows no spaces or "/" in tag names. Use "-" or "." instead ("cost-center").'],
        ["a tag name that is only a dot", { ".": "x" }, 'Tag name "." in `airlock:tags` is not allowed: Airlock\'s instances expose their tags to their metadata service (the first boot reads its data volume\'s id there), and AWS then allows no spaces or "/" in tag names.'],
        ["a tag value over 256 characters", { team: "v".repeat(257) }, "`airlock:tags.team` is 257 characters long; AWS allows 256 per tag value."],
    ])("refuses %s", (_case, tags, message) => {
        expect(problemsOf({ "airlock:tags": tags })).toEqual([message]);
    });
});

describe("the aws provider's default tags (aws:defaultTags) count against the same limits", () => {
    const tagsOf = (count: number, prefix = "tag") => Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}-${i}`, `value-${i}`]));
    const defaults = (tags: Record<string, unknown>) => ({ tags });
    const INSTANCE_TAGS = "airlock:managed, airlock:instance, Name, airlock:data-volume, airlock:bootstrap, airlock:bootstrap-reason";

    it("refuses 8 default tags with 44 stack tags: instances would carry 58", () => {
        expect(problemsOf({ "aws:defaultTags": defaults(tagsOf(8, "default")), "airlock:tags": tagsOf(44) })).toEqual([
            `\`aws:defaultTags\` has 8 tags and \`airlock:tags\` 44, 8 too many together: EC2 allows 50 tags per instance and Airlock adds 6 of its own (${INSTANCE_TAGS}). Keep at most 44 in the two together.`,
        ]);
    });

    it("accepts 44 default tags on their own (no key object carries them: the instance writes its key with one tag)", () => {
        expect(problemsOf({ "aws:defaultTags": defaults(tagsOf(44, "default")), "airlock:tags": undefined })).toEqual([]);
    });

    it("accepts 7 default tags and 37 stack tags: 50 on each instance", () => {
        expect(problemsOf({ "aws:defaultTags": defaults(tagsOf(7, "default")), "airlock:tags": tagsOf(37) })).toEqual([]);
    });

    it("refuses one stack tag more, naming both keys", () => {
        expect(problemsOf({ "aws:defaultTags": defaults(tagsOf(7, "default")), "airlock:tags": tagsOf(38) })).toEqual([
            `\`aws:defaultTags\` has 7 tags and \`airlock:tags\` 38, 1 too many together: EC2 allows 50 tags per instance and Airlock adds 6 of its own (${INSTANCE_TAGS}). Keep at most 44 in the two together.`,
        ]);
    });

    it("counts a tag set in both once (the resource's value replaces the default)", () => {
        expect(problemsOf({ "aws:defaultTags": defaults({ ...tagsOf(6, "default"), team: "x" }), "airlock:tags": { ...tagsOf(37), team: "y" } })).toEqual([]);
    });

    it.each<[string, Record<string, unknown>, Record<string, unknown> | undefined, string]>([
        [
            "a default tag and a stack tag IAM treats as one",
            { Team: "a" },
            { team: "b" },
            '`aws:defaultTags` has "Team" and `airlock:tags` has "team": IAM role tags ignore case, so AWS refuses both on a role (the aws provider adds default tags to it). Use one spelling.',
        ],
        [
            "two default tags IAM treats as one",
            { Owner: "a", owner: "b" },
            undefined,
            '`aws:defaultTags` has "Owner" and "owner": IAM role tags ignore case, so AWS refuses both on a role. Keep one.',
        ],
        [
            "a default tag Airlock sets itself",
            { Name: "shared" },
            undefined,
            '`aws:defaultTags` has "Name", a tag Airlock sets itself (on instances, volumes and security groups). Remove it from `aws:defaultTags`.',
        ],
        [
            "a reserved default tag name",
            { "airlock:owner": "a" },
            undefined,
            'Tag name "airlock:owner" in `aws:defaultTags.tags` is not allowed: 1-128 characters, not starting with aws: or airlock: (reserved).',
        ],
        [
            "a default tag value AWS refuses",
            { owner: "a&b" },
            undefined,
            "`aws:defaultTags.tags.owner` must be a string of at most 256 characters (letters, digits, spaces and _.:/=+-@).",
        ],
    ])("refuses %s", (_case, defaultTags, stackTags, message) => {
        expect(problemsOf({ "aws:defaultTags": defaults(defaultTags), "airlock:tags": stackTags })).toEqual([message]);
    });

    it.each<[string, unknown, string]>([
        ["tags not under `tags`", { team: "platform" }, "Unknown setting `aws:defaultTags.team`. Known settings: tags."],
        ["a list", [{ team: "platform" }], "`aws:defaultTags` must be a map with the tags under `tags`, such as {tags: {team: platform}}."],
    ])("refuses %s", (_case, value, message) => {
        expect(problemsOf({ "aws:defaultTags": value })).toContain(message);
    });
});

describe("the aws provider's credential settings are refused (the promotion provider cannot see them)", () => {
    const ENVIRONMENT = "`AWS_PROFILE=<profile> npm run pulumi -- up`";
    it.each<[string, unknown]>([
        ["aws:profile", "production"],
        ["aws:accessKey", "AKIAEXAMPLE"],
        ["aws:secretKey", "wJalrXUtnFEMIEXAMPLE"],
        ["aws:token", "FwoGZXIvYXdzEXAMPLE"],
        ["aws:sharedCredentialsFiles", ["/home/ops/.aws/credentials"]],
        ["aws:sharedConfigFiles", ["/home/ops/.aws/config"]],
        ["aws:assumeRole", { roleArn: "arn:aws:iam::111122223333:role/deployer" }],
        ["aws:assumeRoles", [{ roleArn: "arn:aws:iam::111122223333:role/deployer" }]],
        ["aws:assumeRoleWithWebIdentity", { roleArn: "arn:aws:iam::111122223333:role/ci" }],
        ["aws:ec2MetadataServiceEndpoint", "http://169.254.169.254"],
    ])("%s: names the key and the way that works, not the value", (key, value) => {
        const problems = problemsOf({ [key]: value });
        expect(problems).toHaveLength(1);
        const message = problems[0] ?? "";
        expect(message).toMatch(new RegExp(`^\`${key}\` sets the credentials the aws provider creates the resources with, but the scan-and-promote provider runs in its own process`));
        expect(message).toContain(ENVIRONMENT);
        expect(message).toContain("`airlock:promotionRoleArn`");
        for (const fragment of [JSON.stringify(value), typeof value === "string" ? value : "no-such-fragment"]) {
            expect(message).not.toContain(fragment);
        }
    });

    it.each([
        ["aws:secretKey", true],
        ["aws:token", true],
        ["aws:accessKey", false],
    ])("%s in plaintext: says to rotate it (%s)", (key, rotate) => {
        expect(problemsOf({ [key]: "EXAMPLEVALUE" }).join("\n").includes("stored in plaintext in the stack file: rotate it")).toBe(rotate);
        expect(problemsOf({ [key]: "EXAMPLEVALUE" }, ["airlock:scannerAccessKey", "airlock:scannerSecretKey", key]).join("\n")).not.toContain("rotate it");
    });

    it.each<[string, unknown, string]>([
        ["aws:endpoints", [{ ec2: "http://localhost:5000" }], "`AWS_ENDPOINT_URL`"],
        ["aws:useFipsEndpoint", "true", "`AWS_USE_FIPS_ENDPOINT=true`"],
        ["aws:useDualstackEndpoint", "true", "`AWS_USE_DUALSTACK_ENDPOINT=true`"],
        ["aws:customCaBundle", "/etc/ssl/corp.pem", "`NODE_EXTRA_CA_CERTS=<file>`"],
        ["aws:httpsProxy", "http://proxy.internal:3128", "reachable directly"],
        ["aws:insecure", "true", "Remove it"],
    ])("%s: refused, with the environment setting both providers read (%s)", (key, value, fix) => {
        const problems = problemsOf({ [key]: value });
        expect(problems).toHaveLength(1);
        expect(problems[0]).toMatch(new RegExp(`^\`${key}\` .*the scan-and-promote provider runs in its own process`));
        expect(problems[0]).toContain(fix);
    });

    it("refuses an aws setting it does not know, with a suggestion", () => {
        expect(problemsOf({ "aws:regoin": "eu-west-1" }).join("\n")).toMatch(/^`aws:regoin` is not an aws provider setting Airlock allows: .* Did you mean `aws:region`\?/m);
    });

    it.each<[string, unknown]>([
        ["aws:skipMetadataApiCheck", "false"],
        ["aws:skipCredentialsValidation", "true"],
        ["aws:skipRequestingAccountId", "true"],
        ["aws:skipRegionValidation", "true"],
        ["aws:allowedAccountIds", ["111122223333"]],
        ["aws:forbiddenAccountIds", ["444455556666"]],
        ["aws:maxRetries", "10"],
        ["aws:retryMode", "adaptive"],
        ["aws:stsRegion", "eu-west-1"],
        ["aws:ignoreTags", { keyPrefixes: ["kubernetes.io/"] }],
    ])("accepts %s, which changes neither credentials nor endpoints", (key, value) => {
        expect(problemsOf({ [key]: value })).toEqual([]);
    });

    it.each<[string, unknown]>([
        ["a key prefix", { keyPrefixes: ["airlock:"] }],
        ["a key", { keys: ["airlock:managed"] }],
    ])("refuses aws:ignoreTags that covers Airlock's own tags (%s)", (_case, value) => {
        const field = Object.keys(value as object)[0];
        expect(problemsOf({ "aws:ignoreTags": value })).toEqual([
            `\`aws:ignoreTags.${field}[0]\` covers tags Airlock sets (the vault's bucket policy matches key objects to instances by them): the aws provider would leave them off. Remove it.`,
        ]);
    });
});

describe("messages say what the value must be and how to write it", () => {
    it.each<[string, Record<string, unknown>, string]>([
        [
            "a name suggestion never repeats another instance's name",
            { "airlock:instances": [{ name: "web-1", instanceType: "t3.small" }, { name: "Web_1", instanceType: "t3.small" }] },
            '`airlock:instances[1].name`: "Web_1" is not usable in AWS names. Use 1-32 lowercase letters, digits and single hyphens, starting with a letter. Did you mean "web-1-2"?',
        ],
        [
            "nor a name suggested for an earlier instance",
            { "airlock:instances": [{ name: "Web_1", instanceType: "t3.small" }, { name: "WEB-1", instanceType: "t3.small" }, { name: "web-1-2", instanceType: "t3.small" }] },
            '`airlock:instances[1].name`: "WEB-1" is not usable in AWS names. Use 1-32 lowercase letters, digits and single hyphens, starting with a letter. Did you mean "web-1-3"?',
        ],
        [
            "a numeric instance name",
            { "airlock:instances": [{ name: 123, instanceType: "t3.small" }] },
            '`airlock:instances[0].name` must be a string, not the number 123. Quote it in the stack file and start it with a letter, e.g. name: "vm-123".',
        ],
        [
            "a boolean instance name",
            { "airlock:instances": [{ name: true, instanceType: "t3.small" }] },
            '`airlock:instances[0].name` must be a string, not the boolean true. Quote it in the stack file: name: "true".',
        ],
        [
            "a numeric tag value",
            { "airlock:tags": { "cost-center": 4711 } },
            '`airlock:tags.cost-center` must be a string, not the number 4711. Quote it in the stack file: cost-center: "4711".',
        ],
        [
            "an empty tag value",
            { "airlock:tags": { owner: null } },
            '`airlock:tags.owner` has no value. Write owner: "" for an empty tag value, or remove it.',
        ],
        [
            "a single policy ARN where a list is expected",
            { "airlock:instances": instance({ managedPolicyArns: "arn:aws:iam::aws:policy/ReadOnlyAccess" }) },
            '`airlock:instances[0].managedPolicyArns` must be a list, not a single value. Write it as a list: managedPolicyArns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"].',
        ],
        [
            "a single scanner CIDR where a list is expected (as `pulumi config set` stores it)",
            { "airlock:scannerSourceCidrs": "10.0.0.0/8" },
            "`airlock:scannerSourceCidrs` must be a list, not a single value. Write it as a list in the stack file: airlock:scannerSourceCidrs: [\"10.0.0.0/8\"], or run pulumi config set --path 'airlock:scannerSourceCidrs[0]' 10.0.0.0/8.",
        ],
        [
            "comma-separated scanner CIDRs",
            { "airlock:scannerSourceCidrs": "10.0.0.0/8, 10.1.0.0/16" },
            "`airlock:scannerSourceCidrs` must be a list, not a single value. Write it as a list in the stack file: airlock:scannerSourceCidrs: [\"10.0.0.0/8\", \"10.1.0.0/16\"], or run pulumi config set --path 'airlock:scannerSourceCidrs[0]' 10.0.0.0/8.",
        ],
        [
            "a single CIDR in a rule",
            { "airlock:productionIngress": [rule({ cidrs: "10.0.0.0/24" })] },
            '`airlock:productionIngress[0].cidrs` must be a list, not a single value. Write it as a list: cidrs: ["10.0.0.0/24"].',
        ],
        [
            "one instance object where a list is expected",
            { "airlock:instances": { name: "web-1", instanceType: "t3.small" } },
            "`airlock:instances` must be a list of instances, not a single one. Start each instance with \"- \" in the stack file (airlock:instances: [{name: web-1, instanceType: t3.small}]).",
        ],
        [
            "one rule object where a list is expected",
            { "airlock:productionIngress": rule({ cidrs: ["10.0.0.0/24"] }) },
            '`airlock:productionIngress` must be a list of rules, not a single one. Start each rule with "- " in the stack file (airlock:productionIngress: [{description: r, protocol: tcp, port: 443, cidrs: ["10.0.0.0/24"]}]).',
        ],
        [
            "a numeric protocol",
            { "airlock:productionIngress": [rule({ protocol: 6, cidrs: ["10.0.0.0/24"] })] },
            "`airlock:productionIngress[0].protocol` must be a string, not the number 6. Use one of: tcp, udp, icmp, all.",
        ],
        [
            "a numeric OS",
            { "airlock:instances": instance({ os: 12 }) },
            "`airlock:instances[0].os` must be a string, not the number 12. Use one of: al2023, debian12, ubuntu2204, ubuntu2404.",
        ],
    ])("%s", (_case, changes, message) => {
        expect(problemsOf(changes)).toContain(message);
    });
});

describe("vault principals: airlock:deployers and airlock:breakGlassRoleArn", () => {
    const role = (name: string) => `arn:aws:iam::111122223333:role/${name}`;

    it("accepts role and user ARNs and assumed-role sessions, and a break-glass role", () => {
        const config = parseStack(
            devConfigWith({
                "airlock:deployers": [role("ci-runner"), "arn:aws:iam::111122223333:user/ops/alice", "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123/alice"],
                "airlock:breakGlassRoleArn": role("security/airlock-break-glass"),
            }),
        );
        expect(config.deployers).toHaveLength(3);
        expect(config.breakGlassRoleArn).toBe(role("security/airlock-break-glass"));
    });

    it("leaves both unset by default (deployer: the identity pulumi runs as; no break-glass)", () => {
        const config = parseStack(devConfigWith({}));
        expect(config.deployers).toBeUndefined();
        expect(config.breakGlassRoleArn).toBeUndefined();
    });

    it.each<[string, Record<string, unknown>, string]>([
        ["a wildcard", { "airlock:deployers": [role("*")] }, "`airlock:deployers[0]` must be an IAM role or user ARN such as \"arn:aws:iam::123456789012:role/airlock-deployer\" (an assumed-role session ARN is read as its role; no wildcards), not \"arn:aws:iam::111122223333:role/*\"."],
        ["the root user", { "airlock:deployers": ["arn:aws:iam::111122223333:root"] }, "`airlock:deployers[0]` must be an IAM role or user ARN"],
        ["a group", { "airlock:deployers": ["arn:aws:iam::111122223333:group/admins"] }, "`airlock:deployers[0]` must be an IAM role or user ARN"],
        ["an empty list", { "airlock:deployers": [] }, "`airlock:deployers` is an empty list: nobody could change the key vault, not even pulumi."],
        ["one ARN where a list is expected", { "airlock:deployers": role("ci") }, "`airlock:deployers` must be a list, not a single value."],
        ["two accounts", { "airlock:deployers": [role("a"), "arn:aws:iam::444455556666:role/b"] }, "`airlock:deployers` names principals of 2 accounts"],
        ["eleven deployers", { "airlock:deployers": Array.from({ length: 11 }, (_, i) => role(`d${i}`)) }, "`airlock:deployers` names 11 principals; at most 10"],
        ["a user as break-glass", { "airlock:breakGlassRoleArn": "arn:aws:iam::111122223333:user/carol" }, "`airlock:breakGlassRoleArn` must be an IAM role ARN such as \"arn:aws:iam::123456789012:role/airlock-break-glass\""],
        ["a session as break-glass", { "airlock:breakGlassRoleArn": "arn:aws:sts::111122223333:assumed-role/forensics/carol" }, "`airlock:breakGlassRoleArn` must be an IAM role ARN"],
    ])("refuses %s", (_case, changes, message) => {
        expect(problemsOf(changes).join("\n")).toContain(message);
    });
});

describe("secret values never appear in messages", () => {
    const SECRET_KEYS = ["airlock:scannerAccessKey", "airlock:scannerSecretKey"];
    it.each<[string, string, unknown, string]>([
        ["a scanner URL", "airlock:scannerUrl", "http://secret-host.example:8834", "`airlock:scannerUrl` must be an https:// URL"],
        ["a threshold (and no suggestion derived from it)", "airlock:severityThreshold", "hihgh", "Unknown severity in `airlock:severityThreshold`"],
        ["a template UUID", "airlock:scannerTemplateUuid", "not-a-uuid-secret", "`airlock:scannerTemplateUuid` must be a template UUID"],
        ["a role ARN", "airlock:promotionRoleArn", "arn:aws:iam::secret:role/x", "`airlock:promotionRoleArn` must be an IAM role ARN"],
        ["a deployer", "airlock:deployers", ["arn:aws:iam::secret:role/x"], "`airlock:deployers[0]` must be an IAM role or user ARN"],
        ["a break-glass role", "airlock:breakGlassRoleArn", "arn:aws:iam::111122223333:user/secret", "`airlock:breakGlassRoleArn` must be an IAM role ARN"],
        ["a VPC id", "airlock:vpcId", "vpc-secretvalue", "`airlock:vpcId` must look like"],
        ["a timeout", "airlock:scanTimeoutMinutes", "9999999", "`airlock:scanTimeoutMinutes` must be a whole number from 1 to 1440"],
        ["a scanner CIDR", "airlock:scannerSourceCidrs", ["10.77.66.55"], "CIDR mask is missing in `airlock:scannerSourceCidrs[0]`"],
        ["a single scanner CIDR", "airlock:scannerSourceCidrs", "10.77.66.0/24", "`airlock:scannerSourceCidrs` must be a list"],
        ["a rule's CIDR", "airlock:productionIngress", [rule({ cidrs: ["10.77.66.55/24"] })], "Host bits are set in `airlock:productionIngress[0].cidrs[0]`"],
        ["a duplicate rule", "airlock:productionIngress", [rule({ cidrs: ["10.77.66.0/24"] }), rule({ cidrs: ["10.77.66.0/24"] })], "`airlock:productionIngress[1]` repeats a rule already in `airlock:productionIngress[0]`"],
        ["an instance name", "airlock:instances", [{ name: "Secret_Project", instanceType: "t3.small" }], "`airlock:instances[0].name` is not usable in AWS names"],
        ["a rule that exposes SSH", "airlock:productionIngress", [rule({ port: 22, cidrs: ["0.0.0.0/1"] })], "`airlock:productionIngress[0]` opens a guarded port to more than a small public range (the rules are secret and not shown). Admit"],
        ["a rule that admits every port", "airlock:productionIngress", [rule({ protocol: "all", port: undefined, cidrs: ["1.2.3.4/32"] })], "`airlock:productionIngress[0]` admits every port from public addresses (the rules are secret and not shown). Admit only"],
        ["a scanner range", "airlock:scannerSourceCidrs", ["0.0.0.0/1"], "`airlock:scannerSourceCidrs[0]` lets more public addresses than a small range reach quarantined instances on every port (the CIDRs are secret and not shown)"],
        ["a sensitive port", "airlock:sensitivePorts", ["https"], "`airlock:sensitivePorts[0]` must be a port (8443)"],
        ["a tag value", "airlock:tags", { project: "classified project!" }, "The 1st tag of `airlock:tags` must be a string of at most 256 characters"],
    ])("%s set with --secret is named, not shown", (_case, key, value, message) => {
        const problems = problemsOf({ [key]: value }, [...SECRET_KEYS, key]).join("\n");
        expect(problems).toContain(message);
        // Every string the user wrote under the key, except the example instance type the messages use.
        const written = (v: unknown): string[] =>
            typeof v === "string" ? [v] : typeof v === "object" && v !== null ? Object.values(v).flatMap(written) : [];
        const values = written(value).filter((v) => v.length >= 5 && v !== "t3.small");
        expect(values.length).toBeGreaterThan(0);
        for (const fragment of values) {
            expect(problems).not.toContain(fragment);
        }
        expect(problems).not.toMatch(/Did you mean/);
        expect(problems).not.toContain(TEST_SECRET);
    });

    it.each(["airlock:scannerAccessKey", "airlock:scannerSecretKey"])("refuses %s stored in plaintext, without printing it", (key) => {
        const problems = problemsOf({}, SECRET_KEYS.filter((k) => k !== key));
        expect(problems).toEqual([
            `\`${key}\` is stored in plaintext in the stack file. Set it encrypted: \`pulumi config set --secret ${key} <value>\`.`,
        ]);
    });
});

describe("nothing written under a key set with --secret appears in any message (every key)", () => {
    /** Written into every bad value; it must not appear in any message, in any case. */
    const M = "zq9mark";
    const SECRET_KEYS = ["airlock:scannerAccessKey", "airlock:scannerSecretKey"];
    const ruleKeys = ["airlock:productionIngress", "airlock:productionEgress", "airlock:remediationEgress"];
    const web = (fields: Record<string, unknown>) => [{ name: "web-1", instanceType: "t3.small", ...fields }];
    const ruleRows = ruleKeys.flatMap((key): Array<[string, string, Record<string, unknown>, string[]]> => [
        [`${key}: an unknown field`, key, { [key]: [rule({ [M]: 1, cidrs: ["10.0.0.0/8"] })] }, []],
        [`${key}: a misspelt field (no suggestion derived from it)`, key, { [key]: [rule({ cidrz: ["10.0.0.0/8"] })] }, ["cidrz"]],
        [`${key}: a protocol`, key, { [key]: [rule({ protocol: M, cidrs: ["10.0.0.0/8"] })] }, []],
        [`${key}: a description`, key, { [key]: [rule({ description: `${M}%`, cidrs: ["10.0.0.0/8"] })] }, []],
        [`${key}: a reversed port range`, key, { [key]: [rule({ port: undefined, fromPort: 47913, toPort: 47912, cidrs: ["10.0.0.0/8"] })] }, ["47913", "47912"]],
        [`${key}: a port`, key, { [key]: [rule({ port: M, cidrs: ["10.0.0.0/8"] })] }, []],
        [`${key}: a protocol without ports`, key, { [key]: [rule({ protocol: "icmp", cidrs: ["10.0.0.0/8"] })] }, ["icmp"]],
        [`${key}: a protocol missing its ports`, key, { [key]: [rule({ protocol: "udp", port: undefined, cidrs: ["10.0.0.0/8"] })] }, ["udp"]],
        [`${key}: a CIDR without a mask`, key, { [key]: [rule({ cidrs: ["10.47.91.7"] })] }, ["10.47.91"]],
        [`${key}: an IPv6 block among IPv4`, key, { [key]: [rule({ cidrs: ["2001:db8:4791::/48"] })] }, ["4791"]],
        [`${key}: one CIDR where a list is expected`, key, { [key]: [rule({ cidrs: "10.47.91.0/24" })] }, ["10.47.91"]],
        [`${key}: a security group id`, key, { [key]: [rule({ securityGroupId: `sg-${M}` })] }, []],
        [`${key}: a duplicate rule`, key, { [key]: [rule({ port: 47913, cidrs: ["10.47.91.0/24"] }), rule({ port: 47913, cidrs: ["10.47.91.0/24"] })] }, ["10.47.91", "47913"]],
        [`${key}: one rule where a list is expected`, key, { [key]: rule({ description: M, cidrs: ["10.0.0.0/8"] }) }, []],
        [`${key}: a string`, key, { [key]: M }, []],
    ]);
    const rows: Array<[string, string, Record<string, unknown>, string[]]> = [
        ["aws:region", "aws:region", { "aws:region": M }, []],
        ["vpcId", "airlock:vpcId", { "airlock:vpcId": `vpc-${M}` }, []],
        ["subnetId", "airlock:subnetId", { "airlock:subnetId": `subnet-${M}` }, []],
        ["instances: an unknown field", "airlock:instances", { "airlock:instances": web({ [M]: 1 }) }, []],
        ["instances: a misspelt field (no suggestion derived from it)", "airlock:instances", { "airlock:instances": web({ dataVolumeGb: 30 }) }, ["dataVolumeGb"]],
        ["instances: a name", "airlock:instances", { "airlock:instances": [{ name: `${M}_Web`, instanceType: "t3.small" }] }, []],
        ["instances: a numeric name", "airlock:instances", { "airlock:instances": [{ name: 4791391, instanceType: "t3.small" }] }, ["4791391"]],
        ["instances: a duplicate name", "airlock:instances", { "airlock:instances": [{ name: M, instanceType: "t3.small" }, { name: M, instanceType: "t3.small" }] }, []],
        [
            "instances: every other field",
            "airlock:instances",
            {
                "airlock:instances": web({
                    instanceType: M,
                    subnetId: `subnet-${M}`,
                    os: M,
                    ami: `ami-${M}`,
                    dataVolumeGiB: M,
                    rootVolumeGiB: M,
                    associatePublicIp: M,
                    managedPolicyArns: [M],
                    ssh: M,
                    rescanTrigger: M.repeat(40),
                }),
            },
            [],
        ],
        ["instances: a numeric data volume", "airlock:instances", { "airlock:instances": web({ dataVolumeGiB: 4791391 }) }, ["4791391"]],
        ["instances: one policy ARN where a list is expected", "airlock:instances", { "airlock:instances": web({ managedPolicyArns: M }) }, []],
        ["instances: a system mount point", "airlock:instances", { "airlock:instances": web({ mountPoint: `/etc/${M}` }) }, []],
        ["instances: a relative mount point", "airlock:instances", { "airlock:instances": web({ mountPoint: `${M}/data` }) }, []],
        ["instances: an unnormalised mount point", "airlock:instances", { "airlock:instances": web({ mountPoint: `/srv//${M}/` }) }, []],
        ["instances: one instance where a list is expected", "airlock:instances", { "airlock:instances": { name: M, instanceType: "t3.small" } }, []],
        ["instances: a string", "airlock:instances", { "airlock:instances": M }, []],
        ["secureInstances", "airlock:secureInstances", { "airlock:secureInstances": M }, []],
        ["accountGuardrails", "airlock:accountGuardrails", { "airlock:accountGuardrails": M }, []],
        ["guardrails: without accountGuardrails", "airlock:guardrails", { "airlock:guardrails": { sourceCidrs: [M] } }, []],
        ["guardrails: a CIDR", "airlock:guardrails", { "airlock:accountGuardrails": "true", "airlock:guardrails": { sourceCidrs: ["10.47.91.7"] } }, ["10.47.91"]],
        ["guardrails: an unknown setting", "airlock:guardrails", { "airlock:accountGuardrails": "true", "airlock:guardrails": { sourceCidrs: ["10.0.0.0/8"], [M]: true } }, []],
        ["guardrails: a user name", "airlock:guardrails", { "airlock:accountGuardrails": "true", "airlock:guardrails": { sourceCidrs: ["10.0.0.0/8"], devOpsUsers: [`${M} x`] } }, []],
        ["guardrails: an unknown rule", "airlock:guardrails", { "airlock:accountGuardrails": "true", "airlock:guardrails": { sourceCidrs: ["10.0.0.0/8"], rules: { [M]: {} } } }, []],
        ["guardrails: a region", "airlock:guardrails", { "airlock:accountGuardrails": "true", "airlock:guardrails": { sourceCidrs: ["10.0.0.0/8"], globalRegion: M } }, []],
        ["allowPublicIp", "airlock:allowPublicIp", { "airlock:allowPublicIp": M }, []],
        ["allowPublicAllPorts", "airlock:allowPublicAllPorts", { "airlock:allowPublicAllPorts": M }, []],
        ["allowAdminPolicies", "airlock:allowAdminPolicies", { "airlock:allowAdminPolicies": M }, []],
        ...ruleRows,
        [
            "productionIngress: a guarded port open to the internet",
            "airlock:productionIngress",
            { "airlock:productionIngress": [rule({ port: 5432, cidrs: ["47.91.0.0/16"] })] },
            ["5432", "47.91", "PostgreSQL", "65,536"],
        ],
        ["productionIngress: SSH from half the internet", "airlock:productionIngress", { "airlock:productionIngress": [rule({ port: 22, cidrs: ["0.0.0.0/1"] })] }, ["22/", "SSH", "0.0.0.0"]],
        [
            "productionIngress: every protocol from a public address",
            "airlock:productionIngress",
            { "airlock:productionIngress": [rule({ protocol: "all", port: undefined, cidrs: ["47.91.3.4/32"] })] },
            ["47.91", "every protocol"],
        ],
        [
            "productionIngress: every TCP port from a public address",
            "airlock:productionIngress",
            { "airlock:productionIngress": [rule({ port: undefined, fromPort: 0, toPort: 65535, cidrs: ["47.91.3.4/32"] })] },
            ["47.91", "TCP"],
        ],
        ["sensitivePorts: an item", "airlock:sensitivePorts", { "airlock:sensitivePorts": [M] }, []],
        ["sensitivePorts: one port where a list is expected", "airlock:sensitivePorts", { "airlock:sensitivePorts": `${M}-8443` }, []],
        [
            "sensitivePorts: a listed port that a (plain) ingress rule opens",
            "airlock:sensitivePorts",
            { "airlock:sensitivePorts": ["47913"], "airlock:productionIngress": [rule({ port: undefined, fromPort: 40000, toPort: 50000, cidrs: ["0.0.0.0/0"] })] },
            ["47913"],
        ],
        ["scannerKind: unknown", "airlock:scannerKind", { "airlock:scannerKind": M }, []],
        ["scannerKind: with tenable settings left over", "airlock:scannerKind", { "airlock:scannerKind": "inspector" }, ["inspector"]],
        ["scannerUrl: http", "airlock:scannerUrl", { "airlock:scannerUrl": `http://${M}.example:8834` }, []],
        ["scannerUrl: credentials", "airlock:scannerUrl", { "airlock:scannerUrl": `https://admin:${M}@nessus.example` }, []],
        ["scannerUrl: a query", "airlock:scannerUrl", { "airlock:scannerUrl": `https://nessus.example/?${M}` }, []],
        ["scannerUrl: not a URL", "airlock:scannerUrl", { "airlock:scannerUrl": M }, []],
        ["scannerAccessKey", "airlock:scannerAccessKey", { "airlock:scannerKind": "inspector", "airlock:scannerAccessKey": M }, []],
        ["scannerSecretKey", "airlock:scannerSecretKey", { "airlock:scannerKind": "inspector", "airlock:scannerSecretKey": M }, []],
        ["scannerTemplateUuid", "airlock:scannerTemplateUuid", { "airlock:scannerTemplateUuid": M }, []],
        ["scannerPolicyId", "airlock:scannerPolicyId", { "airlock:scannerPolicyId": M }, []],
        ["scannerSourceCidrs: not a CIDR", "airlock:scannerSourceCidrs", { "airlock:scannerSourceCidrs": [M] }, []],
        ["scannerSourceCidrs: no mask", "airlock:scannerSourceCidrs", { "airlock:scannerSourceCidrs": ["10.47.91.7"] }, ["10.47.91"]],
        ["scannerSourceCidrs: one CIDR where a list is expected", "airlock:scannerSourceCidrs", { "airlock:scannerSourceCidrs": "10.47.91.0/24" }, ["10.47.91"]],
        ["scannerSourceCidrs: the internet", "airlock:scannerSourceCidrs", { "airlock:scannerSourceCidrs": ["0.0.0.0/0"] }, ["0.0.0.0", "3,702,258,688"]],
        ["scannerSourceCidrs: a private /8", "airlock:scannerSourceCidrs", { "airlock:scannerSourceCidrs": ["10.0.0.0/8"] }, ["10.0.0.0", "16,777,216"]],
        ["scannerSourceCidrs: a duplicate", "airlock:scannerSourceCidrs", { "airlock:scannerSourceCidrs": ["10.47.91.0/24", "10.47.91.0/24"] }, ["10.47.91"]],
        ["scannerSecurityGroupId", "airlock:scannerSecurityGroupId", { "airlock:scannerSecurityGroupId": `sg-${M}` }, []],
        ["promotionRoleArn", "airlock:promotionRoleArn", { "airlock:promotionRoleArn": `arn:${M}` }, []],
        ["deployers: not an ARN", "airlock:deployers", { "airlock:deployers": [`arn:aws:iam::111122223333:role/*${M}`] }, []],
        ["deployers: one where a list is expected", "airlock:deployers", { "airlock:deployers": `arn:aws:iam::111122223333:role/${M}` }, []],
        ["breakGlassRoleArn", "airlock:breakGlassRoleArn", { "airlock:breakGlassRoleArn": `arn:aws:iam::111122223333:user/${M}` }, []],
        ["readinessTimeoutMinutes", "airlock:readinessTimeoutMinutes", { "airlock:readinessTimeoutMinutes": M }, []],
        ["scanTimeoutMinutes", "airlock:scanTimeoutMinutes", { "airlock:scanTimeoutMinutes": M }, []],
        ["severityThreshold", "airlock:severityThreshold", { "airlock:severityThreshold": `${M}h` }, []],
        ["keyDeletionWindowDays", "airlock:keyDeletionWindowDays", { "airlock:keyDeletionWindowDays": M }, []],
        ["tags: a reserved name", "airlock:tags", { "airlock:tags": { [`aws:${M}`]: "x" } }, []],
        ["tags: a long name", "airlock:tags", { "airlock:tags": { [M.repeat(19)]: "x" } }, []],
        ["tags: no value", "airlock:tags", { "airlock:tags": { [M]: null } }, []],
        ["tags: a numeric value", "airlock:tags", { "airlock:tags": { [M]: 4791391 } }, ["4791391"]],
        ["tags: a long value", "airlock:tags", { "airlock:tags": { [M]: "v".repeat(257) } }, []],
        ["tags: a value AWS refuses", "airlock:tags", { "airlock:tags": { [M]: `${M}&` } }, []],
        ["tags: two names IAM treats as one", "airlock:tags", { "airlock:tags": { [M.toUpperCase()]: "a", [M]: "b" } }, []],
        ["tags: too many", "airlock:tags", { "airlock:tags": Object.fromEntries(Array.from({ length: 46 }, (_, i) => [`${M}-${i}`, M])) }, []],
        ["tags: a string", "airlock:tags", { "airlock:tags": M }, []],
        ["aws:defaultTags: a reserved name", "aws:defaultTags", { "aws:defaultTags": { tags: { [`airlock:${M}`]: "x" } } }, []],
        ["aws:defaultTags: a value AWS refuses", "aws:defaultTags", { "aws:defaultTags": { tags: { [M]: `${M}&` } } }, []],
        ["aws:defaultTags: a name IAM equates with a (plain) stack tag", "aws:defaultTags", { "aws:defaultTags": { tags: { [M.toUpperCase()]: "a" } }, "airlock:tags": { [M]: "b" } }, []],
        ["aws:defaultTags: a tag Airlock sets itself", "aws:defaultTags", { "aws:defaultTags": { tags: { Name: M } } }, ['"Name"']],
        ["aws:defaultTags: an unknown field", "aws:defaultTags", { "aws:defaultTags": { [M]: {} } }, []],
        ["aws:defaultTags: a string", "aws:defaultTags", { "aws:defaultTags": M }, []],
        ["aws:defaultTags: too many", "aws:defaultTags", { "aws:defaultTags": { tags: Object.fromEntries(Array.from({ length: 46 }, (_, i) => [`${M}-${i}`, M])) } }, []],
        ["aws:profile", "aws:profile", { "aws:profile": M }, []],
        ["aws:endpoints", "aws:endpoints", { "aws:endpoints": [{ ec2: `http://${M}` }] }, []],
        ["aws:ignoreTags", "aws:ignoreTags", { "aws:ignoreTags": { keys: [M, "Name"] } }, ["Name"]],
    ];

    it.each(rows)("%s", (_case, secretKey, changes, derived) => {
        const problems = problemsOf(changes, [...SECRET_KEYS, secretKey]);
        expect(problems.length).toBeGreaterThan(0);
        const text = problems.join("\n");
        expect(text.toLowerCase()).not.toContain(M);
        for (const fragment of derived) {
            expect(text).not.toContain(fragment);
        }
        expect(text).not.toMatch(/Did you mean/);
    });

    it("has a row for every key a stack can set with --secret (rescanTrigger takes any text: nothing to refuse)", () => {
        const covered = new Set(rows.map(([, key]) => key));
        const keys = [...CONFIG_KEYS.filter((k) => k.key !== "rescanTrigger").map((k) => `airlock:${k.key}`), "aws:region", "aws:defaultTags"];
        expect(keys.filter((key) => !covered.has(key))).toEqual([]);
    });
});

describe("the data volume's mount point", () => {
    const mountProblems = (mountPoint: unknown) => problemsOf({ "airlock:instances": instance({ mountPoint }) });
    const USE = "Mount the data volume on a directory of its own, such as /data or /srv/app.";

    it.each<[string, string]>([
        ["/etc", '`airlock:instances[0].mountPoint` ("/etc") is a system directory: mounting the data volume there would hide the operating system\'s own files under an empty filesystem. ' + USE],
        ["/usr/local/data", '`airlock:instances[0].mountPoint` ("/usr/local/data") is below /usr, a system directory: mounting the data volume there would hide the operating system\'s own files under an empty filesystem. ' + USE],
        ["/dev/shm", '`airlock:instances[0].mountPoint` ("/dev/shm") is on a pseudo-filesystem (/dev), held by the kernel or in memory: data written there would not land on the encrypted volume. ' + USE],
        ["/home/ec2-user", '`airlock:instances[0].mountPoint` ("/home/ec2-user") is a user\'s home directory: mounting the data volume there would hide them (and the login users\' SSH keys) under an empty filesystem. ' + USE],
        ["/mnt", '`airlock:instances[0].mountPoint` ("/mnt") is where cloud-init mounts the instance store on instance types that have one. ' + USE],
        ["/", '`airlock:instances[0].mountPoint` ("/") is the root directory: mounting the data volume there would hide the operating system\'s own files under an empty filesystem. ' + USE],
        ["//", '`airlock:instances[0].mountPoint` must be a normalised path, without //, a trailing /, or . and .. segments, not "//".'],
        ["/.", '`airlock:instances[0].mountPoint` must be a normalised path, without //, a trailing /, or . and .. segments, not "/.".'],
        ["/srv//data/", '`airlock:instances[0].mountPoint` must be a normalised path, without //, a trailing /, or . and .. segments, not "/srv//data/". Did you mean "/srv/data"?'],
        ["/srv/../etc", '`airlock:instances[0].mountPoint` must be a normalised path, without //, a trailing /, or . and .. segments, not "/srv/../etc".'],
        ["data", '`airlock:instances[0].mountPoint` must be an absolute path (starting with /), not "data". Did you mean "/data"?'],
        ["/srv/my data", '`airlock:instances[0].mountPoint` may use only letters, digits and ._- between its slashes, not "/srv/my data".'],
        ["/srv/-o", '`airlock:instances[0].mountPoint` may not have a directory name starting with - (it would read as an option), not "/srv/-o".'],
    ])("%j is refused with the reason and the fix", (mountPoint, message) => {
        expect(mountProblems(mountPoint)).toEqual([message]);
    });

    it.each([
        "/etc", "/usr", "/boot", "/bin", "/sbin", "/lib", "/lib64", "/root", "/snap/core", "/efi",
        "/dev/shm", "/proc", "/sys/fs/cgroup", "/run", "/run/data", "/tmp", "/tmp/data", "/var/tmp",
        "/var", "/var/log", "/var/log/app", "/var/run", "/var/lock", "/var/cache/app", "/var/spool",
        "/var/lib", "/var/lib/dpkg", "/var/lib/apt/lists", "/var/lib/rpm", "/var/lib/cloud", "/var/lib/systemd", "/var/lib/amazon/ssm",
        "/home", "/home/admin", "/home/ubuntu", "/opt", "/opt/aws", "/mnt",
        "//", "/.", "/..", "/./data", "/data/.", "/data/", "/data/../etc", "/a//b",
    ])("refuses %j", (mountPoint) => {
        expect(mountProblems(mountPoint)).toHaveLength(1);
    });

    it.each(["/data", "/srv", "/srv/data", "/var/lib/postgresql", "/var/lib/docker", "/var/www", "/opt/app", "/opt/app/data", "/home/app/data", "/mnt/data", "/media/data", "/data.v2", "/Data_1/x-y"])(
        "accepts %j",
        (mountPoint) => {
            expect(mountProblems(mountPoint)).toEqual([]);
        },
    );

    it("names the key but not the value when the instances are secret", () => {
        const problems = problemsOf({ "airlock:instances": instance({ mountPoint: "/etc/secret-place" }) }, ["airlock:scannerAccessKey", "airlock:scannerSecretKey", "airlock:instances"]);
        expect(problems).toEqual([`\`airlock:instances[0].mountPoint\` is a system directory or a pseudo-filesystem (its value is secret and not shown). ${USE}`]);
    });
});

describe("exposure is judged by the public address space all rules for a port cover together", () => {
    const ingress = (...rules: Array<Record<string, unknown>>) => ({ "airlock:productionIngress": rules });
    const ssh = (cidrs: string[], fields: Record<string, unknown> = {}) => ({ description: "ssh", port: 22, cidrs, ...fields });
    const ssh6 = (ipv6Cidrs: string[]) => ({ description: "ssh", port: 22, ipv6Cidrs });
    const FIX = "Admit it from at most a /24 of public IPv4 (256 addresses) and a /48 of public IPv6 in all, or from a security group";
    const SSH_FIX = `${FIX}, or reach instances with SSM Session Manager instead (\`ssh: disabled\`).`;

    it.each<[string, Record<string, unknown>, string]>([
        [
            "SSH from two adjacent halves in two rules (together the whole internet)",
            ingress(ssh(["0.0.0.0/1"]), ssh(["128.0.0.0/1"], { description: "other half" })),
            `\`airlock:productionIngress[0]\` and \`airlock:productionIngress[1]\` together open port 22/tcp (SSH) to 3,702,258,688 public IPv4 addresses (0.0.0.0/1, 128.0.0.0/1). ${SSH_FIX}`,
        ],
        [
            "SSH from two halves in one rule",
            ingress(ssh(["0.0.0.0/1", "128.0.0.0/1"])),
            `\`airlock:productionIngress[0]\` opens port 22/tcp (SSH) to 3,702,258,688 public IPv4 addresses (0.0.0.0/1, 128.0.0.0/1). ${SSH_FIX}`,
        ],
        [
            "SSH from half the internet",
            ingress(ssh(["0.0.0.0/1"])),
            `\`airlock:productionIngress[0]\` opens port 22/tcp (SSH) to 2,092,957,696 public IPv4 addresses (0.0.0.0/1). ${SSH_FIX}`,
        ],
        [
            "SSH from all global unicast IPv6",
            ingress(ssh6(["2000::/3"])),
            `\`airlock:productionIngress[0]\` opens port 22/tcp (SSH) to about 2^125 public IPv6 addresses (2000::/3). ${SSH_FIX}`,
        ],
        [
            "SSH from 6to4 space",
            ingress(ssh6(["2002::/16"])),
            `\`airlock:productionIngress[0]\` opens port 22/tcp (SSH) to 2^112 public IPv6 addresses (2002::/16). ${SSH_FIX}`,
        ],
        [
            "SSH from IPv4-mapped IPv6 (the IPv4 internet written as IPv6)",
            ingress(ssh6(["::ffff:0:0/96"])),
            `\`airlock:productionIngress[0]\` opens port 22/tcp (SSH) to 3,702,258,688 public IPv4 addresses (::ffff:0:0/96). ${SSH_FIX}`,
        ],
        [
            "SSH from the whole internet (the case refused before)",
            ingress(ssh(["0.0.0.0/0"])),
            `\`airlock:productionIngress[0]\` opens port 22/tcp (SSH) to 3,702,258,688 public IPv4 addresses (0.0.0.0/0). ${SSH_FIX}`,
        ],
        [
            "RDP from a public /23",
            ingress({ description: "rdp", port: 3389, cidrs: ["1.2.2.0/23"] }),
            `\`airlock:productionIngress[0]\` opens port 3389/tcp (RDP) to 512 public IPv4 addresses (1.2.2.0/23). ${FIX}.`,
        ],
        [
            "two public /24s that are each small enough",
            ingress(ssh(["1.2.3.0/24"]), ssh(["5.6.7.0/24"], { description: "other office" })),
            `\`airlock:productionIngress[0]\` and \`airlock:productionIngress[1]\` together open port 22/tcp (SSH) to 512 public IPv4 addresses (1.2.3.0/24, 5.6.7.0/24). ${SSH_FIX}`,
        ],
        [
            "a port range that covers a database port",
            ingress({ description: "app", fromPort: 5000, toPort: 5500, cidrs: ["0.0.0.0/0"] }),
            `\`airlock:productionIngress[0]\` opens port 5432/tcp (PostgreSQL) to 3,702,258,688 public IPv4 addresses (0.0.0.0/0). ${FIX}.`,
        ],
        [
            "a database port from a public /47 of IPv6",
            ingress({ description: "db", port: 5432, ipv6Cidrs: ["2a00:1450::/47"] }),
            `\`airlock:productionIngress[0]\` opens port 5432/tcp (PostgreSQL) to 2^81 public IPv6 addresses (2a00:1450::/47). ${FIX}.`,
        ],
        [
            "memcached over UDP",
            ingress({ description: "cache", protocol: "udp", port: 11211, cidrs: ["0.0.0.0/0"] }),
            `\`airlock:productionIngress[0]\` opens port 11211/udp (Memcached) to 3,702,258,688 public IPv4 addresses (0.0.0.0/0). ${FIX}.`,
        ],
    ])("%s is refused", (_case, changes, message) => {
        expect(problemsOf(changes)).toContain(message);
    });

    it("an all-traffic rule from half the internet names every guarded port once, and needs the opt-in", () => {
        const problems = problemsOf(ingress({ description: "all", protocol: "all", cidrs: ["0.0.0.0/1"] }));
        expect(problems).toHaveLength(2);
        expect(problems[0]).toBe(
            '`airlock:productionIngress[0]` opens ports 22/tcp (SSH), 23/tcp (Telnet), 111/tcp+udp (rpcbind), 135/tcp (MS RPC), 137-138/udp (NetBIOS), 139/tcp (NetBIOS), 161/udp (SNMP) and 22 more guarded ports (README, "Exposure") to 2,092,957,696 public IPv4 addresses (0.0.0.0/1). Admit them from at most a /24 of public IPv4 (256 addresses) and a /48 of public IPv6 in all, or from a security group, or reach instances with SSM Session Manager instead (`ssh: disabled`).',
        );
        expect(problems[1]).toBe(
            "`airlock:productionIngress[0]` admits every protocol and port from public addresses (0.0.0.0/1). Admit only the ports the application serves, or set `airlock:allowPublicAllPorts` to true if every port must be open to these addresses.",
        );
    });

    it.each<[string, Record<string, unknown>]>([
        ["SSH from a private /8", ingress(ssh(["10.0.0.0/8"]))],
        ["SSH from all private and CGNAT space together", ingress(ssh(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"]))],
        ["SSH from one public /24", ingress(ssh(["1.2.3.0/24"]))],
        ["SSH from overlapping rules that together stay a /24", ingress(ssh(["1.2.3.0/24"]), ssh(["1.2.3.128/25", "1.2.3.7/32"], { description: "again" }))],
        ["SSH from a public /48 of IPv6", ingress(ssh6(["2a00:1450:4001::/48"]))],
        ["SSH from unique-local IPv6", ingress(ssh6(["fc00::/7"]))],
        ["SSH from documentation space", ingress(ssh(["203.0.113.0/24", "198.51.100.0/24"]))],
        ["SSH from a security group", ingress({ description: "bastion", port: 22, securityGroupId: "sg-0123456789abcdef0" })],
        ["HTTPS from the whole internet", ingress({ description: "web", port: 443, cidrs: ["0.0.0.0/0"], ipv6Cidrs: ["::/0"] })],
        ["a port range that stops short of the guarded ports", ingress({ description: "web", fromPort: 8000, toPort: 8999, cidrs: ["0.0.0.0/0"] })],
        ["UDP on port 22 (SSH is TCP)", ingress({ description: "mosh-ish", protocol: "udp", port: 22, cidrs: ["0.0.0.0/0"] })],
        ["ICMP from anywhere", ingress({ description: "ping", protocol: "icmp", cidrs: ["0.0.0.0/0"] })],
        ["all traffic from private space", ingress({ description: "vpc", protocol: "all", cidrs: ["10.0.0.0/8"] })],
    ])("accepts %s", (_case, changes) => {
        expect(problemsOf(changes)).toEqual([]);
    });

    describe("all ports from public space need airlock:allowPublicAllPorts", () => {
        it.each<[string, Record<string, unknown>, string]>([
            ["all traffic from one public address", { description: "partner", protocol: "all", cidrs: ["1.2.3.4/32"] }, "every protocol and port from public addresses (1.2.3.4/32)"],
            ["every TCP port from a public /24", { description: "partner", fromPort: 0, toPort: 65535, cidrs: ["1.2.3.0/24"] }, "every TCP port from public addresses (1.2.3.0/24)"],
            ["every UDP port 1-65535 from public IPv6", { description: "partner", protocol: "udp", fromPort: 1, toPort: 65535, ipv6Cidrs: ["2a00:1450:4001::/64"] }, "every UDP port from public addresses (2a00:1450:4001::/64)"],
        ])("%s is refused without it and accepted with it", (_case, rule, what) => {
            expect(problemsOf(ingress(rule))).toEqual([
                `\`airlock:productionIngress[0]\` admits ${what}. Admit only the ports the application serves, or set \`airlock:allowPublicAllPorts\` to true if every port must be open to these addresses.`,
            ]);
            expect(problemsOf({ ...ingress(rule), "airlock:allowPublicAllPorts": "true" })).toEqual([]);
        });

        it("the opt-in does not open guarded ports to more than a small range", () => {
            const problems = problemsOf({ ...ingress({ description: "all", protocol: "all", cidrs: ["0.0.0.0/0"] }), "airlock:allowPublicAllPorts": "true" });
            expect(problems).toHaveLength(1);
            expect(problems[0]).toContain("opens ports 22/tcp (SSH)");
        });
    });

    describe("scanner source ranges", () => {
        const scanner = (cidrs: string[]) => ({ "airlock:scannerSourceCidrs": cidrs });
        const PUBLIC_FIX = "List only the scanner's own addresses: at most a /24 of public IPv4 (256 addresses) and a /48 of public IPv6 in all.";
        const PRIVATE_FIX = "List only the scanner's own addresses or subnet: at most a /16 of private IPv4 (65,536 addresses, the largest VPC) and a /56 of private IPv6 in all.";
        it.each<[string, string[], string]>([
            ["half the internet", ["0.0.0.0/1"], `\`airlock:scannerSourceCidrs[0]\` lets 2,092,957,696 public IPv4 addresses (0.0.0.0/1) reach quarantined instances on every port. ${PUBLIC_FIX}`],
            ["the whole internet", ["0.0.0.0/0"], `\`airlock:scannerSourceCidrs[0]\` lets 3,702,258,688 public IPv4 addresses (0.0.0.0/0) reach quarantined instances on every port. ${PUBLIC_FIX}`],
            ["two public /24s", ["1.2.3.0/24", "10.30.5.10/32", "5.6.7.0/24"], `\`airlock:scannerSourceCidrs[0]\` and \`airlock:scannerSourceCidrs[2]\` together let 512 public IPv4 addresses (1.2.3.0/24, 5.6.7.0/24) reach quarantined instances on every port. ${PUBLIC_FIX}`],
            ["IPv4-mapped IPv6", ["::ffff:0:0/96"], `\`airlock:scannerSourceCidrs[0]\` lets 3,702,258,688 public IPv4 addresses (::ffff:0:0/96) reach quarantined instances on every port. ${PUBLIC_FIX}`],
            ["global unicast IPv6", ["2000::/3"], `\`airlock:scannerSourceCidrs[0]\` lets about 2^125 public IPv6 addresses (2000::/3) reach quarantined instances on every port. ${PUBLIC_FIX}`],
            ["a private /8", ["10.0.0.0/8"], `\`airlock:scannerSourceCidrs[0]\` lets 16,777,216 private or reserved IPv4 addresses (10.0.0.0/8) reach quarantined instances on every port. ${PRIVATE_FIX}`],
            ["two private /16s", ["10.30.0.0/16", "10.31.0.0/16"], `\`airlock:scannerSourceCidrs[0]\` and \`airlock:scannerSourceCidrs[1]\` together let 131,072 private or reserved IPv4 addresses (10.30.0.0/16, 10.31.0.0/16) reach quarantined instances on every port. ${PRIVATE_FIX}`],
            ["unique-local IPv6", ["fd00::/8"], `\`airlock:scannerSourceCidrs[0]\` lets 2^120 private or reserved IPv6 addresses (fd00::/8) reach quarantined instances on every port. ${PRIVATE_FIX}`],
        ])("%s is refused", (_case, cidrs, message) => {
            expect(problemsOf(scanner(cidrs))).toEqual([message]);
        });

        it.each<[string, string[]]>([
            ["two scanner hosts", ["10.30.5.10/32", "10.30.5.11/32"]],
            ["the scanner's VPC (a /16)", ["10.30.0.0/16"]],
            ["a public /24", ["1.2.3.0/24"]],
            ["a public /24 and a private /16", ["1.2.3.0/24", "10.30.0.0/16"]],
            ["a public /48 of IPv6 and a VPC's /56", ["2a00:1450:4001::/48", "fd00:1:2:300::/56"]],
        ])("accepts %s", (_case, cidrs) => {
            expect(problemsOf(scanner(cidrs))).toEqual([]);
        });
    });

    describe("airlock:sensitivePorts adds ports to the guarded list", () => {
        const web = ingress({ description: "admin console", port: 8443, cidrs: ["0.0.0.0/0"] });
        it("a port is not guarded unless listed", () => {
            expect(problemsOf(web)).toEqual([]);
        });

        it.each<[string, unknown]>([
            ["a port", [8443]],
            ["a port as a string", ["8443"]],
            ["a range", ["8400-8500"]],
            ["a port for TCP", ["8443/tcp"]],
        ])("%s", (_case, ports) => {
            expect(problemsOf({ ...web, "airlock:sensitivePorts": ports })).toEqual([
                `\`airlock:productionIngress[0]\` opens port 8443/tcp to 3,702,258,688 public IPv4 addresses (0.0.0.0/0). ${FIX}.`,
            ]);
        });

        it("a port listed for UDP only leaves TCP alone", () => {
            expect(problemsOf({ ...web, "airlock:sensitivePorts": ["8443/udp"] })).toEqual([]);
        });

        it("the built-in ports stay guarded", () => {
            expect(problemsOf({ ...ingress(ssh(["0.0.0.0/0"])), "airlock:sensitivePorts": [8443] }).join("\n")).toContain("port 22/tcp (SSH)");
        });

        it.each<[unknown, string]>([
            [["http"], '`airlock:sensitivePorts[0]` must be a port (8443), a range (8000-8100) or either with /tcp or /udp (8443/tcp), not "http".'],
            [[70000], "`airlock:sensitivePorts[0]` must be a port (8443), a range (8000-8100) or either with /tcp or /udp (8443/tcp), not 70000."],
            [["9000-8000"], '`airlock:sensitivePorts[0]` must be a port (8443), a range (8000-8100) or either with /tcp or /udp (8443/tcp), not "9000-8000".'],
            ["8443", '`airlock:sensitivePorts` must be a list, not a single value. Write it as a list in the stack file: airlock:sensitivePorts: [8443], or run pulumi config set --path \'airlock:sensitivePorts[0]\' 8443.'],
        ])("refuses %j", (ports, message) => {
            expect(problemsOf({ "airlock:sensitivePorts": ports })).toEqual([message]);
        });
    });
});

describe("a scanner URL with credentials in it is refused without being shown", () => {
    const CREDENTIALS_MESSAGE =
        "`airlock:scannerUrl` has credentials in it (user:password@ or user@ before the host); they would be kept in plain config and state and shown by `pulumi up`. Remove them from the URL (the value is not shown here), set the API keys with `pulumi config set --secret airlock:scannerAccessKey` and `airlock:scannerSecretKey`, and rotate the credentials the URL held.";
    it.each<[string, string, readonly string[]]>([
        ["user and password", "https://admin:hunter2-pw@nessus.example.internal:8834", ["admin", "hunter2-pw"]],
        ["user only", "https://apiuser-x@nessus.example.internal:8834", ["apiuser-x"]],
        ["password only", "https://:hunter2-pw@nessus.example.internal:8834/", ["hunter2-pw"]],
        ["upper-case scheme", "HTTPS://Admin:Hunter2-pw@nessus.example.internal", ["Admin", "Hunter2-pw"]],
        ["plain http as well", "http://admin:hunter2-pw@nessus.example.internal:8834", ["admin", "hunter2-pw"]],
        ["an @ in the password", "https://admin:p@ss-word@nessus.example.internal", ["p@ss-word", "ss-word"]],
    ])("%s", (_case, url, fragments) => {
        const problems = problemsOf({ "airlock:scannerUrl": url });
        expect(problems).toEqual([CREDENTIALS_MESSAGE]);
        for (const fragment of [url, ...fragments]) {
            expect(problems.join("\n")).not.toContain(fragment);
        }
    });

    it("also when another scanner is configured (the URL is in the stack file either way)", () => {
        const url = "https://admin:hunter2-pw@nessus.example.internal:8834";
        const problems = problemsOf({ "airlock:scannerKind": "inspector", "airlock:scannerUrl": url, "airlock:scannerTemplateUuid": undefined, "airlock:scannerAccessKey": undefined, "airlock:scannerSecretKey": undefined });
        expect(problems).toContain(CREDENTIALS_MESSAGE);
        expect(problems.join("\n")).not.toContain("hunter2-pw");
    });

    it.each([
        ["a query string", "https://nessus.example.internal:8834/?accessKey=hunter2-pw"],
        ["a fragment", "https://nessus.example.internal:8834/#hunter2-pw"],
        ["an @ in the path", "https://nessus.example.internal:8834/x@hunter2-pw"],
    ])("a URL with %s is refused, and not shown either", (_case, url) => {
        const problems = problemsOf({ "airlock:scannerUrl": url });
        expect(problems).toEqual([
            "`airlock:scannerUrl` must be an https:// base URL without a query string, fragment or @, such as https://nessus.example.internal:8834 (the value is not shown: it may hold credentials).",
        ]);
        expect(problems.join("\n")).not.toContain("hunter2-pw");
    });

    it.each(["https://nessus.example.internal:8834", "https://nessus.example.internal:8834/", "https://cloud.tenable.com", "https://[2001:db8::10]:8834"])("accepts %s", (url) => {
        expect(problemsOf({ "airlock:scannerUrl": url })).toEqual([]);
    });
});

describe("address space arithmetic (config/addressSpace.ts)", () => {
    const ALL_PUBLIC_IPV4 = 3_702_258_688n;
    const ALL_PUBLIC_IPV6 = (1n << 125n) - (1n << 96n) - (1n << 80n) - (1n << 108n);
    it.each<[string[], bigint, bigint]>([
        [["0.0.0.0/0"], ALL_PUBLIC_IPV4, 0n],
        [["0.0.0.0/1"], 2_092_957_696n, 0n],
        [["128.0.0.0/1"], 1_609_300_992n, 0n],
        [["0.0.0.0/1", "128.0.0.0/1"], ALL_PUBLIC_IPV4, 0n],
        [["0.0.0.0/1", "0.0.0.0/2", "64.0.0.0/2"], 2_092_957_696n, 0n],
        [["10.0.0.0/8"], 0n, 0n],
        [["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4"], 0n, 0n],
        [["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15"], 0n, 0n],
        [["1.2.3.0/24"], 256n, 0n],
        [["1.2.3.0/24", "1.2.3.128/25", "1.2.3.7/32"], 256n, 0n],
        [["1.2.3.0/25", "1.2.3.128/25"], 256n, 0n],
        [["100.0.0.0/8"], 16_777_216n - 4_194_304n, 0n],
        [["::ffff:0:0/96"], ALL_PUBLIC_IPV4, 0n],
        [["::ffff:0:0/97"], 2_092_957_696n, 0n],
        [["::ffff:10.0.0.0/104"], 0n, 0n],
        [["::ffff:1.2.3.0/120", "1.2.3.0/24"], 256n, 0n],
        [["64:ff9b::/96"], ALL_PUBLIC_IPV4, 0n],
        [["::/0"], ALL_PUBLIC_IPV4, ALL_PUBLIC_IPV6],
        [["2002::/16"], 0n, 1n << 112n],
        [["2000::/3"], 0n, ALL_PUBLIC_IPV6],
        [["2000::/4", "3000::/4"], 0n, ALL_PUBLIC_IPV6],
        [["2001:db8::/32", "3fff::/20", "2001:2::/48"], 0n, 0n],
        [["fc00::/7", "fe80::/10", "::1/128", "ff00::/8"], 0n, 0n],
        [["2a00:1450:4001::/48"], 0n, 1n << 80n],
    ])("%j holds %d public IPv4 and %d public IPv6 addresses", (cidrs, ipv4, ipv6) => {
        expect(addressCounts(publicPart(addressSpace(cidrs)))).toEqual({ ipv4, ipv6 });
    });

    it("splits a set into public and non-public parts that add up to the whole", () => {
        const set = addressSpace(["0.0.0.0/0", "::/0"]);
        const whole = addressCounts(set);
        const pub = addressCounts(publicPart(set));
        const rest = addressCounts(nonPublicPart(set));
        expect(pub.ipv4 + rest.ipv4).toBe(whole.ipv4);
        expect(pub.ipv6 + rest.ipv6).toBe(whole.ipv6);
        // IPv4-mapped and NAT64 IPv6 are counted as the IPv4 addresses they hold.
        expect(whole).toEqual({ ipv4: 1n << 32n, ipv6: (1n << 128n) - (2n << 32n) });
    });

    it.each<[bigint, "ipv4" | "ipv6", string]>([
        [256n, "ipv4", "256"],
        [3_702_258_688n, "ipv4", "3,702,258,688"],
        [1n << 80n, "ipv6", "2^80"],
        [(1n << 125n) - (1n << 108n), "ipv6", "about 2^125"],
        [3n << 80n, "ipv6", "about 2^81.6"],
        [65536n, "ipv6", "65,536"],
    ])("formats %d %s addresses as %s", (count, family, text) => {
        expect(formatAddressCount(count, family)).toBe(text);
    });
});

describe("sensitivePortExposures (config/exposure.ts)", () => {
    const rule = (fields: Partial<NetworkRule>): NetworkRule => ({ description: "r", protocol: "tcp", fromPort: 22, toPort: 22, cidrs: [], ipv6Cidrs: [], ...fields });
    const summary = (rules: NetworkRule[], extra: SensitivePort[] = []) =>
        sensitivePortExposures(rules, extra).map((e) => ({ sources: e.sources, ports: e.ports.map((p) => `${p.from}-${p.to}/${p.protocol}`), ipv4: e.ipv4, ipv6: e.ipv6 }));

    it.each<[string, NetworkRule[], SensitivePort[], ReturnType<typeof summary>]>([
        ["adjacent halves in two rules", [rule({ cidrs: ["0.0.0.0/1"] }), rule({ cidrs: ["128.0.0.0/1"] })], [], [{ sources: [0, 1], ports: ["22-22/tcp"], ipv4: 3_702_258_688n, ipv6: undefined }]],
        ["a public /24 on SSH", [rule({ cidrs: ["1.2.3.0/24"] })], [], []],
        ["a public /24 and one more address on SSH", [rule({ cidrs: ["1.2.3.0/24"] }), rule({ cidrs: ["1.2.4.1/32"] })], [], [{ sources: [0, 1], ports: ["22-22/tcp"], ipv4: 257n, ipv6: undefined }]],
        ["a private rule does not count, nor is it named", [rule({ cidrs: ["0.0.0.0/1"] }), rule({ cidrs: ["10.0.0.0/8"] })], [], [{ sources: [0], ports: ["22-22/tcp"], ipv4: 2_092_957_696n, ipv6: undefined }]],
        ["a range covering one guarded port", [rule({ fromPort: 5000, toPort: 5500, cidrs: ["0.0.0.0/0"] })], [], [{ sources: [0], ports: ["5432-5432/tcp"], ipv4: 3_702_258_688n, ipv6: undefined }]],
        ["ports of one guarded range judged one by one", [rule({ fromPort: 9200, toPort: 9200, cidrs: ["1.2.3.0/24"] }), rule({ fromPort: 9300, toPort: 9300, cidrs: ["5.6.7.0/24"] })], [], []],
        [
            "only the ports where rules overlap",
            [rule({ fromPort: 9200, toPort: 9300, cidrs: ["1.2.3.0/24"] }), rule({ fromPort: 9250, toPort: 9260, cidrs: ["5.6.7.0/24"] })],
            [],
            [{ sources: [0, 1], ports: ["9250-9260/tcp"], ipv4: 512n, ipv6: undefined }],
        ],
        ["UDP memcached, not UDP SSH", [rule({ protocol: "udp", fromPort: 0, toPort: 65535, cidrs: ["0.0.0.0/0"] })], [], [{ sources: [0], ports: ["111-111/udp", "137-138/udp", "161-161/udp", "2049-2049/udp", "3389-3389/udp", "11211-11211/udp"], ipv4: 3_702_258_688n, ipv6: undefined }]],
        ["IPv6 over a /48", [rule({ ipv6Cidrs: ["2a00:1450::/47"] })], [], [{ sources: [0], ports: ["22-22/tcp"], ipv4: undefined, ipv6: 1n << 81n }]],
        ["a security group or prefix list is not judged", [rule({ securityGroupId: "sg-0123456789abcdef0" }), rule({ prefixListId: "pl-0123456789abcdef0" })], [], []],
        ["an extra port", [rule({ fromPort: 8443, toPort: 8443, cidrs: ["0.0.0.0/0"] })], [{ from: 8443, to: 8443, protocols: ["tcp"] }], [{ sources: [0], ports: ["8443-8443/tcp"], ipv4: 3_702_258_688n, ipv6: undefined }]],
        ["an extra port that repeats a built-in one is named once", [rule({ fromPort: 0, toPort: 100, cidrs: ["0.0.0.0/0"] })], [{ from: 20, to: 25, protocols: ["tcp"] }], [{ sources: [0], ports: ["20-21/tcp", "22-22/tcp", "23-23/tcp", "24-25/tcp"], ipv4: 3_702_258_688n, ipv6: undefined }]],
    ])("%s", (_case, rules, extra, expected) => {
        expect(summary(rules, extra)).toEqual(expected);
    });

    it("an all-protocol rule exposes every guarded port of both protocols", () => {
        const [exposure] = sensitivePortExposures([rule({ protocol: "all", fromPort: -1, toPort: -1, cidrs: ["0.0.0.0/0"] })]);
        const guarded = BUILTIN_SENSITIVE_PORTS.flatMap((p) => p.protocols.map((protocol) => `${p.from}-${p.to}/${protocol}`)).sort();
        expect(exposure?.ports.map((p) => `${p.from}-${p.to}/${p.protocol}`).sort()).toEqual(guarded);
    });
});

describe("scannerSourceExcess (config/exposure.ts)", () => {
    it.each<[string[], boolean, boolean]>([
        [["10.30.5.10/32", "10.30.5.11/32"], false, false],
        [["10.30.0.0/16"], false, false],
        [["10.30.0.0/15"], false, true],
        [["10.0.0.0/8"], false, true],
        [["1.2.3.0/24"], false, false],
        [["1.2.3.0/24", "1.2.4.0/32"], true, false],
        [["0.0.0.0/1"], true, false],
        [["0.0.0.0/0"], true, false],
        [["0.0.0.0/0", "10.0.0.0/8"], true, true],
        [["::ffff:0:0/96"], true, false],
        [["2a00:1450:4001::/48", "fd00:1:2:300::/56"], false, false],
        [["2a00:1450::/47"], true, false],
        [["fd00::/55"], false, true],
    ])("%j: over the public limit %s, over the private limit %s", (cidrs, overPublic, overPrivate) => {
        const found = scannerSourceExcess(cidrs);
        expect([found.public !== undefined, found.private !== undefined]).toEqual([overPublic, overPrivate]);
    });
});

type DeclaredKey = { type: string; description?: string; default?: unknown; secret?: boolean; items?: { type: string } };
const project = parse(fs.readFileSync(path.join(PROJECT_ROOT, "Pulumi.yaml"), "utf8")) as {
    name: string;
    runtime: { name: string; options: { typescript: boolean } };
    config: Record<string, DeclaredKey>;
};
const declaredKeys = Object.entries(project.config);
/** Keys Pulumi.yaml declares without a default: the Pulumi CLI refuses any stack that lacks one. */
const cliRequiredKeys = declaredKeys.filter(([, declared]) => declared.default === undefined).map(([key]) => key);

/** How the Pulumi CLI hands a project default to the program (a string, or JSON for lists). */
function asConfigString(value: unknown): string {
    return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** A realistic value for every scalar key, so that a stack built from them fails only for the reason under test. */
const EXAMPLE_VALUES: Record<string, string> = {
    vpcId: "vpc-0a1b2c3d4e5f60718",
    subnetId: "subnet-0a1b2c3d4e5f60711",
    scannerUrl: "https://nessus.example.internal:8834",
    scannerAccessKey: TEST_SECRET,
    scannerSecretKey: TEST_SECRET,
    scannerTemplateUuid: "731a8e52-3ea6-a291-ec0a-d2ff0619c19d7bd788d6be818b65",
    scannerPolicyId: "7",
    scannerSecurityGroupId: "sg-0a1b2c3d4e5f60719",
    scannerSourceCidrs: '["10.30.5.10/32"]',
    promotionRoleArn: "arn:aws:iam::111122223333:role/airlock-promoter",
    rescanTrigger: "2026-11-22",
};

/**
 * The smallest stack the Pulumi CLI accepts: `aws:region`, every key Pulumi.yaml declares without a
 * default, and the declared defaults applied the way the CLI applies them before the program runs.
 */
function minimalStack(changes: Record<string, string | undefined> = {}): { values: Record<string, string>; secretKeys: string[] } {
    const values: Record<string, string> = { "aws:region": "eu-west-1" };
    for (const [key, declared] of declaredKeys) {
        const value = declared.default === undefined ? EXAMPLE_VALUES[key] : asConfigString(declared.default);
        if (value === undefined) {
            throw new Error(`Pulumi.yaml requires ${key}: add an example value for it to EXAMPLE_VALUES`);
        }
        values[`airlock:${key}`] = value;
    }
    for (const [key, value] of Object.entries(changes)) {
        if (value === undefined) {
            delete values[key];
        } else {
            values[key] = value;
        }
    }
    const secretKeys = ["airlock:scannerAccessKey", "airlock:scannerSecretKey"].filter((k) => k in values);
    return { values, secretKeys };
}

/**
 * A port of the Pulumi CLI's project-config rules (pkg/workspace: mergeConfig and
 * validateStackConfigValue): a declared key without a default must be set; a declared secret must
 * be encrypted; a value must have the declared type. A YAML scalar reaches those checks as a string.
 */
function pulumiCliConfigProblems(stackFile: string): string[] {
    const stack = parse(fs.readFileSync(stackFile, "utf8")) as { config: Record<string, unknown> };
    const problems: string[] = [];
    const missing: string[] = [];
    const matches = (type: string, items: { type: string } | undefined, value: unknown): boolean => {
        switch (type) {
            case "string":
                return typeof value === "string";
            case "integer":
                return (typeof value === "number" && Number.isInteger(value)) || (typeof value === "string" && /^[-+]?\d+$/.test(value));
            case "boolean":
                return value === true || value === false || value === "true" || value === "false";
            default:
                return Array.isArray(value) && items !== undefined && value.every((item) => matches(items.type, undefined, item));
        }
    };
    for (const [key, declared] of declaredKeys) {
        const value = stack.config[`airlock:${key}`];
        if (value === undefined) {
            if (declared.default === undefined) {
                missing.push(key);
            }
            continue;
        }
        const secure = typeof value === "object" && value !== null && !Array.isArray(value) && "secure" in value;
        if (declared.secret === true && !secure) {
            problems.push(`configuration key '${key}' must be encrypted as it's secret`);
        } else if (!secure && !matches(declared.type, declared.items, typeof value === "object" ? value : String(value))) {
            problems.push(`configuration key '${key}' must be of type '${declared.type}'`);
        }
    }
    if (missing.length > 0) {
        problems.push(`is missing configuration values ${missing.join(", ")}`);
    }
    return problems;
}

describe("Pulumi.yaml declares only what every stack needs", () => {
    it("the dev stack passes the Pulumi CLI's config rules", () => {
        expect(pulumiCliConfigProblems(path.join(PROJECT_ROOT, "Pulumi.dev.yaml"))).toEqual([]);
    });

    it("requires no key of every stack: an instance stack needs vpcId, a guardrails-only stack does not (the CLI would demand a declared key of both)", () => {
        expect(CONFIG_KEYS.filter((k) => k.required === true)).toEqual([]);
        expect(cliRequiredKeys).toEqual([]);
        expect(problemsOfValues(minimalStack().values, [])).toEqual([
            "`airlock:vpcId` is not set. Run `pulumi config set airlock:vpcId vpc-...` with the VPC the instances live in (or set `airlock:secureInstances` to false for a guardrails-only stack).",
        ]);
        expect(Object.keys(readStackConfig().values)).toEqual(expect.arrayContaining(["aws:region", "airlock:vpcId"]));
    });

    it.each(["inspector", "none", undefined])("an instance stack with the declared defaults and a VPC is valid (scannerKind %s)", (kind) => {
        expect(problemsOfValues(minimalStack({ "airlock:scannerKind": kind, "airlock:vpcId": EXAMPLE_VALUES.vpcId }).values, minimalStack().secretKeys)).toEqual([]);
    });

    it("a guardrails-only stack with the declared defaults and the CIDRs its group policies need is valid", () => {
        const stack = minimalStack({
            "airlock:secureInstances": "false",
            "airlock:accountGuardrails": "true",
            "airlock:guardrails": JSON.stringify({ sourceCidrs: ["195.89.85.64/28"] }),
        });
        expect(problemsOfValues(stack.values, [])).toEqual([]);
    });


    it.each(declaredKeys.filter(([, d]) => d.default !== undefined).map(([key, d]) => [key, d.default] as const))(
        "%s: the declared default %j means the same to the program as leaving the key out",
        (key, value) => {
            const outcome = (stack: StackConfig) => {
                try {
                    return parseStack(stack);
                } catch (err) {
                    return (err as Error).message;
                }
            };
            const withDefault = devConfigWith({ [`airlock:${key}`]: asConfigString(value) });
            const without = devConfigWith({ [`airlock:${key}`]: undefined });
            expect(outcome(withDefault)).toEqual(outcome(without));
        },
    );
});

describe("Pulumi.yaml declares the config schema", () => {
    it("is the airlock project on the nodejs runtime with TypeScript", () => {
        expect(project.name).toBe("airlock");
        expect(project.runtime).toEqual(expect.objectContaining({ name: "nodejs", options: expect.objectContaining({ typescript: true }) }));
    });

    it.each(CONFIG_KEYS.filter((k) => k.required === true || k.default !== undefined).map((k) => [k.key, k] as const))(
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

    it("declares only keys the code knows as required or defaulted, with types Pulumi's schema accepts", () => {
        for (const [key, declared] of declaredKeys) {
            const spec = CONFIG_KEYS.find((k) => k.key === key);
            expect(spec).toBeDefined();
            expect(spec?.required === true || spec?.default !== undefined).toBe(true);
            expect(["string", "integer", "boolean", "array"]).toContain(declared.type);
        }
    });

    it.each(CONFIG_KEYS.filter((k) => k.required !== true && k.default === undefined).map((k) => k.key))(
        "documents the optional key %s in a comment instead of declaring it",
        (key) => {
            expect(project.config[key]).toBeUndefined();
            const text = fs.readFileSync(path.join(PROJECT_ROOT, "Pulumi.yaml"), "utf8");
            expect(text).toMatch(new RegExp(`^\\s*# .*\\b${key}\\b`, "m"));
        },
    );
});

describe("the README's configuration reference", () => {
    const readme = fs.readFileSync(path.join(PROJECT_ROOT, "README.md"), "utf8");
    it.each(TAGGED_RESOURCES.map((k) => [k.what, k] as const))("states the tag limit validation checks for a %s", (_what, kind) => {
        expect(readme).toMatch(new RegExp(`^\\|[^|]*\\b${kind.what}\\b[^|]*\\| ${kind.limit} \\| ${kind.airlockTags.length} \\|`, "m"));
    });

    it("states how many stack tags fit", () => {
        expect(readme).toContain(`So a stack has at most ${MAX_STACK_TAGS} tags.`);
    });

    it("states how many of them may be the aws provider's default tags", () => {
        expect(readme.replace(/\s+/g, " ")).toContain(`at most ${MAX_DEFAULT_TAGS} of them may be in \`aws:defaultTags\``);
    });

    it.each([...ALLOWED_AWS_SETTINGS, ...Object.keys(REFUSED_AWS_SETTINGS)])("says whether aws:%s is accepted", (setting) => {
        const section = readme.slice(readme.indexOf("**The aws provider's settings.**"), readme.indexOf("## Outputs"));
        expect(section).toContain(`\`aws:${setting}\``);
    });

    const rowOf = (key: string) => readme.split("\n").find((line) => line.startsWith(`| \`${key}\` |`));
    it.each(CONFIG_KEYS.map((k) => [k.key, k] as const))("documents %s with its default, or as required", (key, spec) => {
        const row = rowOf(key);
        expect(row).toBeDefined();
        const defaultCell = row?.split(" | ")[2] ?? "";
        if (spec.required === true) {
            expect(defaultCell).toBe("— (required)");
        } else {
            expect(defaultCell).not.toContain("required");
        }
        if (spec.default !== undefined) {
            expect(defaultCell).toBe(`\`${asConfigString(spec.default)}\``);
        }
    });
});
