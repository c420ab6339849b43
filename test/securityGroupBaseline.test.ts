/**
 * The security group healer's pure logic (functions/securityGroupBaseline.ts): the baseline's
 * canonical form, strict reading, the comparison with EC2's current rules, and which groups a
 * recorded CloudTrail event names (fixtures in test/fixtures/cloudtrail/, see its README for the
 * sources of their shapes).
 */
import * as fs from "fs";
import * as path from "path";
import {
    BASELINE_PARAMETER_PATH,
    BASELINE_PARAMETER_PREFIX,
    HEALER_EVENT_PATTERN,
    HEALER_SWEEP_SCHEDULE,
    baselineParameterName,
    canonicalCidr,
    groupIdOfBaselineParameter,
    groupIdsOfEvent,
    isScheduledEvent,
    normalizeProtocol,
    parseBaseline,
    rulesToRevoke,
    serializeBaseline,
    summarizeEvent,
    sweepWindow,
    type CurrentRule,
    type DeclaredRule,
} from "../functions/securityGroupBaseline";

const GROUP = "sg-0a1b2c3d4e5f60718";
const SCANNER = "sg-0fedcba9876543210";
const FIXTURE_GROUP = "sg-0123456789abcdef0";

function loadEvent(file: string): Record<string, unknown> {
    return JSON.parse(fs.readFileSync(path.join(__dirname, "fixtures", "cloudtrail", file), "utf8")) as Record<string, unknown>;
}

/** A declaration as SecurityZones makes it: remediation-like ingress, HTTPS egress. */
const DECLARED_INGRESS: DeclaredRule[] = [
    { ipProtocol: "-1", cidrIpv4: "10.20.0.0/16" },
    { ipProtocol: "-1", referencedSecurityGroupId: SCANNER },
    { ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv6: "2001:db8::/32" },
];
const DECLARED_EGRESS: DeclaredRule[] = [{ ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv4: "0.0.0.0/0" }];

describe("baselineParameterName", () => {
    it("is /airlock/security-groups/<group id>", () => {
        expect(BASELINE_PARAMETER_PREFIX).toBe("/airlock/security-groups/");
        expect(baselineParameterName("sg-0123456789abcdef0")).toBe("/airlock/security-groups/sg-0123456789abcdef0");
        expect(baselineParameterName("sg-12345678")).toBe("/airlock/security-groups/sg-12345678");
    });

    it.each(["", "sg-", "sg-XYZ", "default", "sg-0123456789abcdef0/../x", "sg-123456789"])("refuses %p", (id) => {
        expect(() => baselineParameterName(id)).toThrow("is not a security group id");
    });

    it("BASELINE_PARAMETER_PATH is the prefix as GetParametersByPath takes it (no trailing slash)", () => {
        expect(BASELINE_PARAMETER_PATH).toBe("/airlock/security-groups");
        expect(`${BASELINE_PARAMETER_PATH}/`).toBe(BASELINE_PARAMETER_PREFIX);
    });
});

describe("groupIdOfBaselineParameter: the group a listed baseline names", () => {
    it.each(["sg-0123456789abcdef0", "sg-12345678"])("reads %s back from its parameter's name", (id) => {
        expect(groupIdOfBaselineParameter(baselineParameterName(id))).toBe(id);
    });

    it.each<[string, unknown]>([
        ["another path", "/airlock/other/sg-0123456789abcdef0"],
        ["a path named like the prefix", "/airlock/security-groups-extra/sg-0123456789abcdef0"],
        ["the path itself", "/airlock/security-groups"],
        ["the prefix alone", "/airlock/security-groups/"],
        ["a deeper name", "/airlock/security-groups/sg-0123456789abcdef0/old"],
        ["a last part that is not a group id", "/airlock/security-groups/default"],
        ["upper-case hex", "/airlock/security-groups/sg-0123456789ABCDEF0"],
        ["a name without the leading slash", "airlock/security-groups/sg-0123456789abcdef0"],
        ["no name", undefined],
        ["a number", 42],
    ])("is undefined for %s", (_what, name) => {
        expect(groupIdOfBaselineParameter(name)).toBeUndefined();
    });
});

describe("normalisation", () => {
    it.each<[string | number, string | undefined]>([
        ["-1", "-1"],
        ["all", "-1"],
        ["tcp", "tcp"],
        ["TCP", "tcp"],
        ["6", "tcp"],
        [6, "tcp"],
        ["17", "udp"],
        ["1", "icmp"],
        ["58", "icmpv6"],
        ["icmpv6", "icmpv6"],
        ["50", "50"],
        ["050", "50"],
        ["256", undefined],
        ["esp", undefined],
        ["", undefined],
    ])("protocol %p → %p", (given, expected) => {
        expect(normalizeProtocol(given)).toBe(expected);
    });

    it.each<[string, "ipv4" | "ipv6", string | undefined]>([
        ["0.0.0.0/0", "ipv4", "0.0.0.0/0"],
        ["100.68.0.18/18", "ipv4", "100.68.0.0/18"],
        [" 10.0.0.0/8 ", "ipv4", "10.0.0.0/8"],
        ["10.0.0.0", "ipv4", undefined],
        ["10.0/8", "ipv4", undefined],
        ["10.0.0.0/33", "ipv4", undefined],
        ["2001:DB8:0:0::/32", "ipv6", "2001:db8::/32"],
        ["2001:0db8:0000:0000:0000:0000:0000:0001/128", "ipv6", "2001:db8::1/128"],
        ["2001:db8::1/64", "ipv6", "2001:db8::/64"],
        ["::/0", "ipv6", "::/0"],
        ["fe80::1%eth0/64", "ipv6", undefined],
        ["2001:db8::/129", "ipv6", undefined],
        ["10.0.0.0/8", "ipv6", undefined],
        ["::/0", "ipv4", undefined],
    ])("CIDR %p (%s) → %p", (given, family, expected) => {
        expect(canonicalCidr(given, family)).toBe(expected);
    });
});

describe("serializeBaseline: one canonical string per declaration", () => {
    it("gives the documented JSON: rules normalised and sorted, no descriptions, no ports for protocol -1", () => {
        const text = serializeBaseline(GROUP, DECLARED_INGRESS, DECLARED_EGRESS);
        expect(JSON.parse(text)).toEqual({
            version: 1,
            groupId: GROUP,
            ingress: [
                { ipProtocol: "-1", cidrIpv4: "10.20.0.0/16" },
                { ipProtocol: "-1", referencedSecurityGroupId: SCANNER },
                { ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv6: "2001:db8::/32" },
            ],
            egress: [{ ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv4: "0.0.0.0/0" }],
        });
        expect(text).toBe(
            `{"version":1,"groupId":"${GROUP}","ingress":[{"ipProtocol":"-1","cidrIpv4":"10.20.0.0/16"},{"ipProtocol":"-1","referencedSecurityGroupId":"${SCANNER}"},` +
                `{"ipProtocol":"tcp","fromPort":443,"toPort":443,"cidrIpv6":"2001:db8::/32"}],"egress":[{"ipProtocol":"tcp","fromPort":443,"toPort":443,"cidrIpv4":"0.0.0.0/0"}]}`,
        );
    });

    it("is the same string whatever the order, spelling, descriptions or duplicates of the declaration", () => {
        const canonical = serializeBaseline(GROUP, DECLARED_INGRESS, DECLARED_EGRESS);
        const shuffled = [
            { ipProtocol: "6", fromPort: 443, toPort: 443, cidrIpv6: "2001:DB8:0:0::/32", description: "HTTPS over IPv6" },
            { ipProtocol: "-1", fromPort: -1, toPort: -1, referencedSecurityGroupId: SCANNER, description: "scanner" },
            { ipProtocol: "-1", cidrIpv4: "10.20.0.0/16" },
            { ipProtocol: "-1", cidrIpv4: "10.20.0.0/16", description: "the same again" },
        ];
        expect(serializeBaseline(GROUP, shuffled, [{ ipProtocol: "TCP", fromPort: 443, toPort: 443, cidrIpv4: "0.0.0.0/0" }])).toBe(canonical);
    });

    it("stores CIDRs as AWS does (network address), and ports of other protocols not at all", () => {
        const baseline = parseBaseline(serializeBaseline(GROUP, [{ ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv4: "100.68.0.18/18" }], [{ ipProtocol: "50", fromPort: 1, toPort: 2, cidrIpv4: "10.0.0.0/8" }]));
        expect(baseline.ingress).toEqual([{ ipProtocol: "tcp", fromPort: 22, toPort: 22, cidrIpv4: "100.68.0.0/18" }]);
        expect(baseline.egress).toEqual([{ ipProtocol: "50", cidrIpv4: "10.0.0.0/8" }]);
    });

    it("an empty declaration is a baseline too (the group admits nothing)", () => {
        expect(serializeBaseline(GROUP, [], [])).toBe(`{"version":1,"groupId":"${GROUP}","ingress":[],"egress":[]}`);
    });

    it.each<[string, DeclaredRule, string]>([
        ["tcp without ports", { ipProtocol: "tcp", cidrIpv4: "10.0.0.0/8" }, "`ingress[0]`: tcp needs fromPort ≤ toPort"],
        ["a reversed range", { ipProtocol: "udp", fromPort: 500, toPort: 400, cidrIpv4: "10.0.0.0/8" }, "udp needs fromPort ≤ toPort"],
        ["two peers", { ipProtocol: "-1", cidrIpv4: "10.0.0.0/8", prefixListId: "pl-12345678" }, "exactly one of cidrIpv4, cidrIpv6, referencedSecurityGroupId and prefixListId (got cidrIpv4, prefixListId)"],
        ["no peer", { ipProtocol: "-1" }, "(got none)"],
        ["an IPv6 CIDR as cidrIpv4", { ipProtocol: "-1", cidrIpv4: "2001:db8::/32" }, 'cidrIpv4 "2001:db8::/32" is not an IPv4 CIDR block'],
        ["a CIDR without mask", { ipProtocol: "-1", cidrIpv4: "10.0.0.1" }, "is not an IPv4 CIDR block"],
        ["an unknown protocol", { ipProtocol: "esp", cidrIpv4: "10.0.0.0/8" }, 'ipProtocol "esp" is not'],
        ["all ICMP types with one code", { ipProtocol: "icmp", fromPort: -1, toPort: 3, cidrIpv4: "10.0.0.0/8" }, "code -1 when type is -1"],
        ["a malformed group reference", { ipProtocol: "-1", referencedSecurityGroupId: "scanner" }, "is not a security group id"],
    ])("refuses a declared rule with %s, naming it", (_what, rule, message) => {
        expect(() => serializeBaseline(GROUP, [rule], [])).toThrow(message);
    });

    it("refuses a group id that is not one", () => {
        expect(() => serializeBaseline("sg-unknown", [], [])).toThrow('The baseline\'s group id "sg-unknown" is not a security group id.');
    });
});

describe("parseBaseline: strict", () => {
    const valid = JSON.parse(serializeBaseline(GROUP, DECLARED_INGRESS, DECLARED_EGRESS)) as Record<string, unknown>;
    const withChange = (change: Record<string, unknown>): string => JSON.stringify({ ...valid, ...change });

    it("reads what serializeBaseline wrote", () => {
        const baseline = parseBaseline(JSON.stringify(valid));
        expect(baseline.groupId).toBe(GROUP);
        expect(baseline.ingress).toHaveLength(3);
        expect(serializeBaseline(baseline.groupId, baseline.ingress, baseline.egress)).toBe(JSON.stringify(valid));
    });

    it.each<[string, string, string]>([
        ["not JSON", "{version: 1", "The baseline is not JSON"],
        ["an empty value", "", "The baseline is not JSON"],
        ["a list", "[]", "The baseline is not a JSON object."],
        ["no version", JSON.stringify({ ...valid, version: undefined }), "Unknown baseline version undefined: this healer reads version 1."],
        ["version 2", withChange({ version: 2 }), "Unknown baseline version 2"],
        ["version as text", withChange({ version: "1" }), 'Unknown baseline version "1"'],
        ["an unknown field", withChange({ owner: "someone" }), "unknown field(s) owner"],
        ["a bad group id", withChange({ groupId: "my-group" }), 'groupId "my-group" is not a security group id'],
        ["no egress list", JSON.stringify({ ...valid, egress: undefined }), "`egress` is missing or not a list"],
        ["no ingress list", JSON.stringify({ ...valid, ingress: undefined }), "`ingress` is missing or not a list"],
        ["an ingress list that is null", withChange({ ingress: null }), "`ingress` is missing or not a list"],
        ["an egress list that is an object", withChange({ egress: {} }), "`egress` is missing or not a list"],
        ["no list at all (not an empty baseline)", JSON.stringify({ version: 1, groupId: GROUP }), "`ingress` is missing or not a list"],
        ["an empty object", "{}", "Unknown baseline version undefined"],
        ["a rule that is not an object", withChange({ ingress: ["tcp/22"] }), "`ingress[0]` is not an object"],
        ["a rule with a description", withChange({ ingress: [{ ipProtocol: "-1", cidrIpv4: "10.0.0.0/8", description: "x" }] }), "`ingress[0]` has unknown field(s) description"],
        ["ports on protocol -1", withChange({ egress: [{ ipProtocol: "-1", fromPort: -1, toPort: -1, cidrIpv4: "10.0.0.0/8" }] }), "protocol -1 has no ports"],
        ["ports as text", withChange({ egress: [{ ipProtocol: "tcp", fromPort: "443", toPort: 443, cidrIpv4: "10.0.0.0/8" }] }), "tcp needs fromPort"],
        ["a rule without peer", withChange({ egress: [{ ipProtocol: "-1" }] }), "`egress[0]`: a rule needs exactly one of"],
    ])("refuses %s with a clear message", (_what, text, message) => {
        expect(() => parseBaseline(text)).toThrow(message);
    });
});

describe("rulesToRevoke: current rules against the baseline", () => {
    const baseline = parseBaseline(
        serializeBaseline(
            GROUP,
            [
                ...DECLARED_INGRESS,
                { ipProtocol: "icmp", fromPort: -1, toPort: -1, cidrIpv4: "10.20.0.0/16" },
                { ipProtocol: "udp", fromPort: 53, toPort: 53, prefixListId: "pl-0a1b2c3d" },
                { ipProtocol: "50", cidrIpv4: "192.0.2.0/24" },
            ],
            DECLARED_EGRESS,
        ),
    );
    const rule = (fields: CurrentRule): CurrentRule => ({ SecurityGroupRuleId: "sgr-0aaaaaaaaaaaaaaaa", GroupId: GROUP, IsEgress: false, ...fields });

    it.each<[string, CurrentRule]>([
        ["the declared all-traffic rule, with the -1/-1 ports EC2 reports", rule({ IpProtocol: "-1", FromPort: -1, ToPort: -1, CidrIpv4: "10.20.0.0/16" })],
        ["the scanner group's rule", rule({ IpProtocol: "-1", FromPort: -1, ToPort: -1, ReferencedGroupInfo: { GroupId: SCANNER, UserId: "123456789012" } })],
        ["the IPv6 rule, as protocol number and expanded upper-case address", rule({ IpProtocol: "6", FromPort: 443, ToPort: 443, CidrIpv6: "2001:0DB8:0000::/32" })],
        ["all ICMP", rule({ IpProtocol: "icmp", FromPort: -1, ToPort: -1, CidrIpv4: "10.20.0.0/16" })],
        ["all ICMP as protocol 1", rule({ IpProtocol: "1", FromPort: -1, ToPort: -1, CidrIpv4: "10.20.0.0/16" })],
        ["DNS from the prefix list", rule({ IpProtocol: "udp", FromPort: 53, ToPort: 53, PrefixListId: "pl-0a1b2c3d" })],
        ["ESP, whatever ports EC2 shows", rule({ IpProtocol: "50", FromPort: -1, ToPort: -1, CidrIpv4: "192.0.2.0/24" })],
        ["the declared egress", rule({ IsEgress: true, IpProtocol: "tcp", FromPort: 443, ToPort: 443, CidrIpv4: "0.0.0.0/0" })],
    ])("keeps %s", (_what, current) => {
        expect(rulesToRevoke(baseline, [current])).toEqual([]);
    });

    it.each<[string, CurrentRule]>([
        ["SSH from the world", rule({ IpProtocol: "tcp", FromPort: 22, ToPort: 22, CidrIpv4: "0.0.0.0/0" })],
        ["the declared egress, but as ingress", rule({ IpProtocol: "tcp", FromPort: 443, ToPort: 443, CidrIpv4: "0.0.0.0/0" })],
        ["the declared ingress, but as egress", rule({ IsEgress: true, IpProtocol: "-1", CidrIpv4: "10.20.0.0/16" })],
        ["a declared rule widened to more ports", rule({ IpProtocol: "tcp", FromPort: 443, ToPort: 444, CidrIpv6: "2001:db8::/32" })],
        ["a declared rule widened to a larger CIDR", rule({ IpProtocol: "-1", CidrIpv4: "10.0.0.0/8" })],
        ["a declared rule widened to every protocol", rule({ IpProtocol: "-1", CidrIpv6: "2001:db8::/32" })],
        ["another security group", rule({ IpProtocol: "-1", ReferencedGroupInfo: { GroupId: "sg-0bbbbbbbbbbbbbbbb" } })],
        ["another prefix list", rule({ IpProtocol: "udp", FromPort: 53, ToPort: 53, PrefixListId: "pl-0e0e0e0e" })],
        ["one ICMP type where all were declared", rule({ IpProtocol: "icmp", FromPort: 8, ToPort: -1, CidrIpv4: "10.20.0.0/16" })],
        ["a rule EC2 shows without a peer", rule({ IpProtocol: "-1" })],
        ["a rule with an unknown protocol", rule({ IpProtocol: "bogus", CidrIpv4: "10.20.0.0/16" })],
    ])("revokes %s", (_what, current) => {
        expect(rulesToRevoke(baseline, [current])).toEqual([current]);
    });

    it("returns exactly the undeclared rules, in the order given, as the same objects", () => {
        const kept = rule({ SecurityGroupRuleId: "sgr-01", IpProtocol: "-1", CidrIpv4: "10.20.0.0/16" });
        const first = rule({ SecurityGroupRuleId: "sgr-02", IpProtocol: "tcp", FromPort: 22, ToPort: 22, CidrIpv4: "0.0.0.0/0" });
        const second = rule({ SecurityGroupRuleId: "sgr-03", IsEgress: true, IpProtocol: "-1", CidrIpv4: "0.0.0.0/0" });
        const result = rulesToRevoke(baseline, [first, kept, second]);
        expect(result).toEqual([first, second]);
        expect(result[0]).toBe(first);
    });

    it("an empty baseline, in its exact form, is read as 'no rules' (what SecurityZones publishes for a group with none declared)", () => {
        const empty = parseBaseline(`{"version":1,"groupId":"${GROUP}","ingress":[],"egress":[]}`);
        expect(empty).toEqual({ version: 1, groupId: GROUP, ingress: [], egress: [] });
    });

    it("with an empty baseline, every rule goes (the default allow-all egress included)", () => {
        const empty = parseBaseline(serializeBaseline(GROUP, [], []));
        const defaultEgress = rule({ IsEgress: true, IpProtocol: "-1", FromPort: -1, ToPort: -1, CidrIpv4: "0.0.0.0/0" });
        expect(rulesToRevoke(empty, [defaultEgress])).toEqual([defaultEgress]);
    });
});

describe("groupIdsOfEvent and summarizeEvent: recorded CloudTrail events", () => {
    it.each<[string, string]>([
        ["authorize-security-group-ingress.json", "AuthorizeSecurityGroupIngress"],
        ["authorize-security-group-ingress-cli.json", "AuthorizeSecurityGroupIngress"],
        ["authorize-security-group-egress.json", "AuthorizeSecurityGroupEgress"],
        ["modify-security-group-rules.json", "ModifySecurityGroupRules"],
    ])("%s names its group (%s)", (file, eventName) => {
        const event = loadEvent(file);
        expect(groupIdsOfEvent(event)).toEqual([FIXTURE_GROUP]);
        const summary = summarizeEvent(event);
        expect(summary).toEqual({
            eventId: (event.detail as { eventID: string }).eventID,
            eventName,
            principal: "arn:aws:sts::123456789012:assumed-role/Operator/alice",
            groupIds: [FIXTURE_GROUP],
        });
    });

    it("ModifySecurityGroupRules: the id is read from ModifySecurityGroupRulesRequest.GroupId, not from the response", () => {
        const event = loadEvent("modify-security-group-rules.json");
        expect(JSON.stringify((event.detail as { responseElements: unknown }).responseElements)).not.toContain("sg-");
        expect(groupIdsOfEvent(event)).toEqual([FIXTURE_GROUP]);
    });

    it("a default-VPC call by group name is identified by the group id in its response", () => {
        expect(groupIdsOfEvent(loadEvent("authorize-security-group-ingress-by-name.json"))).toEqual([FIXTURE_GROUP]);
    });

    it("a call by group name whose response names no group names the group by its name, for the healer to look up", () => {
        const event = loadEvent("authorize-security-group-ingress-by-name.json");
        (event.detail as Record<string, unknown>).responseElements = { requestId: "x", _return: true };
        expect(summarizeEvent(event)).toEqual({
            eventId: "6a0d9e3f-2c8b-4e51-b7a4-1f5c8e2d0b93",
            eventName: "AuthorizeSecurityGroupIngress",
            principal: "arn:aws:sts::123456789012:assumed-role/Operator/alice",
            groupIds: [],
            groupNames: ["default"],
        });
        expect(groupIdsOfEvent(event)).toEqual([]);
    });

    it("a call with a group id names no group by name, even when it has a name too", () => {
        const event = loadEvent("authorize-security-group-ingress-by-name.json");
        expect(summarizeEvent(event).groupNames).toBeUndefined();
        (event.detail as { requestParameters: Record<string, unknown> }).requestParameters.groupId = FIXTURE_GROUP;
        (event.detail as Record<string, unknown>).responseElements = null;
        expect(summarizeEvent(event)).toMatchObject({ groupIds: [FIXTURE_GROUP] });
        expect(summarizeEvent(event).groupNames).toBeUndefined();
    });

    it("a ModifySecurityGroupRules record without its group id is ignored (that call takes no group name)", () => {
        const event = loadEvent("modify-security-group-rules.json");
        const detail = event.detail as { requestParameters: Record<string, unknown> };
        detail.requestParameters = { groupName: "default", ModifySecurityGroupRulesRequest: {} };
        expect(summarizeEvent(event)).toMatchObject({ groupIds: [], ignoredBecause: "the event names no security group id" });
    });

    it("a failed call (errorCode set) is ignored: it changed nothing", () => {
        const summary = summarizeEvent(loadEvent("authorize-security-group-ingress-failed.json"));
        expect(summary.groupIds).toEqual([]);
        expect(summary.ignoredBecause).toBe("the call failed (Client.InvalidPermission.Duplicate), so it changed nothing");
        expect(summary.eventName).toBe("AuthorizeSecurityGroupIngress");
    });

    it("a revocation (the healer's own) is not a change to heal", () => {
        const summary = summarizeEvent(loadEvent("revoke-security-group-ingress.json"));
        expect(summary.groupIds).toEqual([]);
        expect(summary.ignoredBecause).toBe("RevokeSecurityGroupIngress does not add or change security group rules");
    });

    it.each<[string, unknown]>([
        ["null", null],
        ["a string", "AuthorizeSecurityGroupIngress"],
        ["an empty object", {}],
        ["a scheduled event", { "detail-type": "Scheduled Event", source: "aws.events", detail: {} }],
        ["another service's call", { "detail-type": "AWS API Call via CloudTrail", detail: { eventSource: "s3.amazonaws.com", eventName: "PutBucketPolicy" } }],
    ])("%s is ignored without throwing", (_what, event) => {
        expect(groupIdsOfEvent(event)).toEqual([]);
        expect(summarizeEvent(event).ignoredBecause).toBeDefined();
    });

    it("ids that are not security group ids are not used", () => {
        const event = loadEvent("authorize-security-group-ingress.json");
        const detail = event.detail as { requestParameters: Record<string, unknown>; responseElements: unknown };
        detail.requestParameters.groupId = "sg-../../x";
        detail.responseElements = null;
        expect(summarizeEvent(event)).toMatchObject({ groupIds: [], ignoredBecause: "the event names no security group id" });
    });

    it("the principal of a call made by an AWS service is the service", () => {
        const event = loadEvent("authorize-security-group-ingress.json");
        (event.detail as Record<string, unknown>).userIdentity = { type: "AWSService", invokedBy: "elasticmapreduce.amazonaws.com" };
        expect(summarizeEvent(event).principal).toBe("elasticmapreduce.amazonaws.com");
    });
});

describe("HEALER_EVENT_PATTERN", () => {
    it("matches the CloudTrail records of the three calls that add or change rules, successful ones only", () => {
        expect(JSON.parse(JSON.stringify(HEALER_EVENT_PATTERN))).toEqual({
            source: ["aws.ec2"],
            "detail-type": ["AWS API Call via CloudTrail"],
            detail: {
                eventSource: ["ec2.amazonaws.com"],
                eventName: ["AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress", "ModifySecurityGroupRules"],
                errorCode: [{ exists: false }],
            },
        });
    });

    it("names no Revoke* call, so the healer's own revocations cannot trigger it", () => {
        expect(JSON.stringify(HEALER_EVENT_PATTERN)).not.toMatch(/Revoke/);
    });
});

describe("the periodic sweep's trigger", () => {
    /** An EventBridge schedule's event, as AWS documents it. */
    const scheduled = {
        version: "0",
        id: "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        source: "aws.events",
        account: "123456789012",
        time: "2025-03-14T10:17:00Z",
        region: "us-east-1",
        resources: ["arn:aws:events:us-east-1:123456789012:rule/airlock-guardrails-sweep"],
        detail: {},
    };

    it("HEALER_SWEEP_SCHEDULE is hourly, in EventBridge's rate syntax (singular unit for 1)", () => {
        expect(HEALER_SWEEP_SCHEDULE).toBe("rate(1 hour)");
        expect(HEALER_SWEEP_SCHEDULE).toMatch(/^rate\((1 (minute|hour|day)|([2-9]|[1-9]\d+) (minutes|hours|days))\)$/);
    });

    it("isScheduledEvent: an EventBridge schedule's event", () => {
        expect(isScheduledEvent(scheduled)).toBe(true);
        expect(isScheduledEvent({ source: "aws.events", "detail-type": "Scheduled Event" })).toBe(true);
    });

    it.each<[string, unknown]>([
        ["null", null],
        ["a string", "Scheduled Event"],
        ["an array", [scheduled]],
        ["an empty object", {}],
        ["a CloudTrail record", loadEvent("authorize-security-group-ingress.json")],
        ["a Scheduled Event from another source (PutEvents by someone)", { ...scheduled, source: "custom.airlock" }],
        ["another aws.events detail-type", { ...scheduled, "detail-type": "EventBridge Scheduler Invocation" }],
        ["a lower-case detail-type", { ...scheduled, "detail-type": "scheduled event" }],
    ])("isScheduledEvent: not %s", (_what, event) => {
        expect(isScheduledEvent(event)).toBe(false);
    });

    it("a scheduled event still names no group as a CloudTrail record (the handler sweeps instead)", () => {
        expect(summarizeEvent(scheduled).groupIds).toEqual([]);
        expect(HEALER_EVENT_PATTERN.source).not.toContain("aws.events");
    });
});

describe("sweepWindow", () => {
    const ids = ["sg-00000003", "sg-00000001", "sg-00000005", "sg-00000002", "sg-00000004"];
    const sorted = [...ids].sort();
    const at = (hour: number): string => new Date(hour * 3_600_000 + 17 * 60_000).toISOString();

    it("takes every group, sorted and without duplicates, when they are at most the bound", () => {
        expect(sweepWindow([...ids, "sg-00000001"], 5, at(123))).toEqual({ groupIds: sorted, total: 5, first: 0 });
        expect(sweepWindow([], 200)).toEqual({ groupIds: [], total: 0, first: 0 });
    });

    it("takes the bound, consecutive by id and wrapping round, from where the previous hour stopped", () => {
        const hour = 3 * 490_000; // a multiple of 5: starts at the first id
        expect(sweepWindow(ids, 2, at(hour))).toEqual({ groupIds: ["sg-00000001", "sg-00000002"], total: 5, first: 0 });
        expect(sweepWindow(ids, 2, at(hour + 1))).toEqual({ groupIds: ["sg-00000003", "sg-00000004"], total: 5, first: 2 });
        expect(sweepWindow(ids, 2, at(hour + 2))).toEqual({ groupIds: ["sg-00000005", "sg-00000001"], total: 5, first: 4 });
        expect(sweepWindow(ids, 2, at(hour + 3))).toEqual({ groupIds: ["sg-00000002", "sg-00000003"], total: 5, first: 1 });
    });

    it.each([1, 2, 3, 4])("every group is healed within ceil(total / bound) consecutive hours (bound %d)", (bound) => {
        const start = 486_917;
        const seen = new Set<string>();
        for (let h = 0; h < Math.ceil(ids.length / bound); h++) {
            const window = sweepWindow(ids, bound, at(start + h));
            expect(window.groupIds).toHaveLength(bound);
            window.groupIds.forEach((id) => seen.add(id));
        }
        expect([...seen].sort()).toEqual(sorted);
    });

    it("is the same for the same hour (a retried sweep heals the same groups) and does not depend on the input's order", () => {
        expect(sweepWindow(ids, 2, "2025-03-14T10:59:59Z")).toEqual(sweepWindow([...ids].reverse(), 2, "2025-03-14T10:00:00Z"));
    });

    it("starts at the first group when the event has no usable time", () => {
        expect(sweepWindow(ids, 2).first).toBe(0);
        expect(sweepWindow(ids, 2, "yesterday").first).toBe(0);
    });

    it.each([0, -1, 1.5, Number.NaN])("refuses a bound of %p", (bound) => {
        expect(() => sweepWindow(ids, bound)).toThrow("`maxGroups` must be a positive integer");
    });
});
