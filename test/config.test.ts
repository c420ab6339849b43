import * as fs from "fs";
import * as path from "path";
import { parse } from "yaml";
import { checkCidr } from "../config/cidr";
import { CONFIG_KEYS, ConfigError, exposesPortToInternet, parseAirlockConfig } from "../config/schema";
import { closest } from "../config/suggest";
import { MAX_STACK_TAGS, TAGGED_RESOURCES } from "../config/tags";
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
    const MAX_STACK_TAGS = 45;

    it("accepts as many stack tags as the most-tagged resource (an instance) leaves room for", () => {
        expect(problemsOf({ "airlock:tags": tagsOf(MAX_STACK_TAGS) })).toEqual([]);
    });

    it("refuses one more, naming the key, the limit and what to remove", () => {
        expect(problemsOf({ "airlock:tags": tagsOf(MAX_STACK_TAGS + 2) })).toEqual([
            "`airlock:tags` has 47 tags, 2 too many: EC2 allows 50 tags per instance and Airlock adds 5 of its own (airlock:managed, airlock:instance, Name, airlock:bootstrap, airlock:bootstrap-reason). Keep at most 45.",
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
        ["a tag value over 256 characters", { team: "v".repeat(257) }, "`airlock:tags.team` is 257 characters long; AWS allows 256 per tag value."],
    ])("refuses %s", (_case, tags, message) => {
        expect(problemsOf({ "airlock:tags": tags })).toEqual([message]);
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

describe("secret values never appear in messages", () => {
    const SECRET_KEYS = ["airlock:scannerAccessKey", "airlock:scannerSecretKey"];
    it.each<[string, string, unknown, string]>([
        ["a scanner URL", "airlock:scannerUrl", "http://secret-host.example:8834", "`airlock:scannerUrl` must be an https:// URL"],
        ["a threshold (and no suggestion derived from it)", "airlock:severityThreshold", "hihgh", "Unknown severity in `airlock:severityThreshold`"],
        ["a template UUID", "airlock:scannerTemplateUuid", "not-a-uuid-secret", "`airlock:scannerTemplateUuid` must be a template UUID"],
        ["a role ARN", "airlock:promotionRoleArn", "arn:aws:iam::secret:role/x", "`airlock:promotionRoleArn` must be an IAM role ARN"],
        ["a VPC id", "airlock:vpcId", "vpc-secretvalue", "`airlock:vpcId` must look like"],
        ["a timeout", "airlock:scanTimeoutMinutes", "9999999", "`airlock:scanTimeoutMinutes` must be a whole number from 1 to 1440"],
        ["a scanner CIDR", "airlock:scannerSourceCidrs", ["10.77.66.55"], "CIDR mask is missing in `airlock:scannerSourceCidrs[0]`"],
        ["a single scanner CIDR", "airlock:scannerSourceCidrs", "10.77.66.0/24", "`airlock:scannerSourceCidrs` must be a list"],
        ["a rule's CIDR", "airlock:productionIngress", [rule({ cidrs: ["10.77.66.55/24"] })], "Host bits are set in `airlock:productionIngress[0].cidrs[0]`"],
        ["a duplicate rule", "airlock:productionIngress", [rule({ cidrs: ["10.77.66.0/24"] }), rule({ cidrs: ["10.77.66.0/24"] })], "`airlock:productionIngress[1]` repeats a rule already in `airlock:productionIngress[0]`"],
        ["an instance name", "airlock:instances", [{ name: "Secret_Project", instanceType: "t3.small" }], "`airlock:instances[0].name` is not usable in AWS names"],
        ["a tag value", "airlock:tags", { project: "classified project!" }, "`airlock:tags.project` must be a string of at most 256 characters"],
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
    ])("a URL with %s is refused, and not shown either", (_case, url) => {
        const problems = problemsOf({ "airlock:scannerUrl": url });
        expect(problems).toEqual([
            "`airlock:scannerUrl` must be an https:// base URL without a query string or fragment, such as https://nessus.example.internal:8834 (the value is not shown: it may hold credentials).",
        ]);
        expect(problems.join("\n")).not.toContain("hunter2-pw");
    });

    it.each(["https://nessus.example.internal:8834", "https://nessus.example.internal:8834/", "https://cloud.tenable.com", "https://[2001:db8::10]:8834"])("accepts %s", (url) => {
        expect(problemsOf({ "airlock:scannerUrl": url })).toEqual([]);
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

    it("the dev stack sets every key the program requires of every stack", () => {
        const requiredByCode = CONFIG_KEYS.filter((k) => k.required === true).map((k) => `airlock:${k.key}`);
        expect(requiredByCode).toContain("airlock:vpcId");
        expect(Object.keys(readStackConfig().values)).toEqual(expect.arrayContaining(["aws:region", ...requiredByCode]));
    });

    it.each(["inspector", "none", undefined])("a stack with only the keys Pulumi.yaml requires is valid (scannerKind %s)", (kind) => {
        expect(problemsOfValues(minimalStack({ "airlock:scannerKind": kind }).values, minimalStack().secretKeys)).toEqual([]);
    });

    it.each(cliRequiredKeys)("%s, declared without a default, is one the program refuses to run without", (key) => {
        const stack = minimalStack({ [`airlock:${key}`]: undefined });
        expect(problemsOfValues(stack.values, stack.secretKeys).join("\n")).toContain(`\`airlock:${key}\``);
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
