/**
 * The security group healer (functions/securityGroupHealer.ts) against moto 5.2.1: real EC2 and
 * SSM calls through the SDK, driven by recorded CloudTrail events (test/fixtures/cloudtrail/, with
 * moto's ids put in), because moto's EventBridge does not emit CloudTrail events.
 *
 * Each test builds its world in a freshly reset moto: a VPC, an Airlock-managed group with declared
 * rules and its published baseline, the scanner's group, and a group that is not Airlock's (no
 * tag, no baseline). A group is Airlock's when it is tagged airlock:managed=true OR has a baseline;
 * one with a baseline whose tag was taken off is tagged again, then healed.
 *
 * Where moto differs from AWS (checked for 5.2.1):
 *  - moto stores a rule's CIDR as given ("2001:DB8:0:0::/32", even "100.68.0.18/18" with host bits);
 *    AWS stores the canonical form. The world authorizes one non-canonical IPv6 CIDR on purpose: the
 *    comparison must not depend on it.
 *  - moto's DescribeSecurityGroupRules has no GroupOwnerId (AWS has); the healer does not need it.
 *  - ModifySecurityGroupRules in moto changes only CidrIpv4, protocol and ports (not IPv6, prefix
 *    list or group references), and wants FromPort/ToPort even where AWS does not.
 *  - moto's EventBridge has no TestEventPattern (NotImplemented); the pattern is checked with
 *    moto's own EventBridge matcher (moto.events.models.EventPattern), which PutEvents uses.
 *  - Revoking by SecurityGroupRuleIds works in moto for both directions, as in AWS; an unknown
 *    rule id answers InvalidPermission.NotFound.
 *  - moto does not enforce IAM: the role's conditions (Revoke* on tagged groups only, CreateTags of
 *    airlock:managed=true only) are checked in test/securityGroupHealerPolicy.test.ts; here, the
 *    calls' order (CreateTags before any Revoke*) and arguments are.
 *  - moto's DescribeSecurityGroups by GroupNames matches the name in every VPC (AWS: the default
 *    VPC only); the by-name test uses a name no other VPC has.
 *  - GetParametersByPath in moto pages by MaxResults (10 at most) with a NextToken, as in AWS.
 */
import * as childProcess from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import {
    AuthorizeSecurityGroupEgressCommand,
    AuthorizeSecurityGroupIngressCommand,
    CreateSecurityGroupCommand,
    CreateTagsCommand,
    CreateVpcCommand,
    DeleteSecurityGroupCommand,
    DeleteTagsCommand,
    DescribeSecurityGroupRulesCommand,
    DescribeSecurityGroupsCommand,
    EC2Client,
    ModifySecurityGroupRulesCommand,
    RevokeSecurityGroupEgressCommand,
    type IpPermission,
    type SecurityGroupRule,
} from "@aws-sdk/client-ec2";
import { DeleteParameterCommand, PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { bundleHealer } from "../functions/bundle";
import { HEALER_EVENT_PATTERN, HEALER_SWEEP_SCHEDULE, baselineParameterName, serializeBaseline, type DeclaredRule } from "../functions/securityGroupBaseline";
import { HEALER_RETAG_SETTLE_DELAYS_MS, HEALER_SWEEP_MAX_GROUPS, handler, sweep, type Decision, type HealerResult } from "../functions/securityGroupHealer";
import { MANAGED_TAG } from "../policies/keyNaming";
import { Moto, VENV_BIN, awsClientConfig, clientEnv, startMoto } from "./support/moto";

const FIXTURE_GROUP = "sg-0123456789abcdef0";
const FIXTURE_RULE = "sgr-0123456789abcdef0";
const OPERATOR = "arn:aws:sts::123456789012:assumed-role/Operator/alice";
const FIXTURES = path.join(__dirname, "fixtures", "cloudtrail");
const execFile = promisify(childProcess.execFile);

let moto: Moto;
let ec2: EC2Client;
let ssm: SSMClient;
let savedEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
    moto = await startMoto();
    // The handler's clients take endpoint, region and credentials from the environment, as in Lambda.
    savedEnv = process.env;
    process.env = clientEnv(moto);
    ec2 = new EC2Client(awsClientConfig(moto));
    ssm = new SSMClient(awsClientConfig(moto));
});

afterAll(async () => {
    process.env = savedEnv;
    ec2?.destroy();
    ssm?.destroy();
    await moto?.stop();
});

beforeEach(async () => {
    await moto.reset();
});

/** A recorded event about `groupId` (and the rule `ruleId`, where the record names one). */
function recordedEvent(file: string, groupId: string, ruleId = "sgr-0fffffffffffffff0"): unknown {
    const text = fs.readFileSync(path.join(FIXTURES, file), "utf8");
    return JSON.parse(text.split(FIXTURE_GROUP).join(groupId).split(FIXTURE_RULE).join(ruleId)) as unknown;
}

interface World {
    readonly vpcId: string;
    readonly managed: string;
    readonly scanner: string;
    readonly unmanaged: string;
}

const tcp = (port: number, cidr: string): IpPermission => ({ IpProtocol: "tcp", FromPort: port, ToPort: port, IpRanges: [{ CidrIp: cidr }] });

async function createGroup(vpcId: string, name: string, tags: Record<string, string>): Promise<string> {
    const out = await ec2.send(
        new CreateSecurityGroupCommand({
            GroupName: name,
            Description: name,
            VpcId: vpcId,
            TagSpecifications: Object.keys(tags).length === 0 ? undefined : [{ ResourceType: "security-group", Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
        }),
    );
    const id = out.GroupId;
    if (id === undefined) throw new Error("CreateSecurityGroup gave no GroupId");
    return id;
}

async function authorize(groupId: string, direction: "ingress" | "egress", permission: IpPermission): Promise<string> {
    const input = { GroupId: groupId, IpPermissions: [permission] };
    const out = direction === "ingress" ? await ec2.send(new AuthorizeSecurityGroupIngressCommand(input)) : await ec2.send(new AuthorizeSecurityGroupEgressCommand(input));
    const id = out.SecurityGroupRules?.[0]?.SecurityGroupRuleId;
    if (id === undefined) throw new Error("Authorize gave no rule id");
    return id;
}

async function publishBaseline(groupId: string, ingress: readonly DeclaredRule[], egress: readonly DeclaredRule[]): Promise<void> {
    await ssm.send(new PutParameterCommand({ Name: baselineParameterName(groupId), Type: "String", Value: serializeBaseline(groupId, ingress, egress), Overwrite: true }));
}

/**
 * The managed group as SecurityZones makes it: no default egress (the provider removes it), the
 * declared rules, and its baseline published. Its declaration is written differently from how the
 * rules were authorized (IPv6 case and zeros), as a stack and the console may well differ.
 */
async function makeWorld(managedTags: Record<string, string> = { [MANAGED_TAG]: "true" }): Promise<World> {
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: "10.20.0.0/16" }));
    const vpcId = vpc.Vpc?.VpcId ?? "";
    const scanner = await createGroup(vpcId, "scanner", { Name: "scanner" });
    const managed = await createGroup(vpcId, "airlock-production", { Name: "airlock-production", ...managedTags });
    const unmanaged = await createGroup(vpcId, "someone-elses", { Name: "someone-elses" });

    await ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: managed, IpPermissions: [{ IpProtocol: "-1", IpRanges: [{ CidrIp: "0.0.0.0/0" }] }] }));
    await authorize(managed, "ingress", { IpProtocol: "-1", IpRanges: [{ CidrIp: "10.20.0.0/16" }] });
    await authorize(managed, "ingress", { IpProtocol: "-1", UserIdGroupPairs: [{ GroupId: scanner }] });
    await authorize(managed, "ingress", { IpProtocol: "tcp", FromPort: 443, ToPort: 443, Ipv6Ranges: [{ CidrIpv6: "2001:DB8:0:0::/32" }] });
    await authorize(managed, "ingress", tcp(8443, "10.20.0.0/16"));
    await authorize(managed, "egress", tcp(443, "0.0.0.0/0"));
    await publishBaseline(
        managed,
        [
            { ipProtocol: "-1", cidrIpv4: "10.20.0.0/16" },
            { ipProtocol: "-1", referencedSecurityGroupId: scanner },
            { ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv6: "2001:db8::/32" },
            { ipProtocol: "tcp", fromPort: 8443, toPort: 8443, cidrIpv4: "10.20.0.0/16" },
        ],
        [{ ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv4: "0.0.0.0/0" }],
    );
    // No baseline for the unmanaged group: a baseline alone would make it Airlock's.
    return { vpcId, managed, scanner, unmanaged };
}

/** A group's tags, key → value. */
async function tagsOf(groupId: string): Promise<Record<string, string>> {
    const out = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
    return Object.fromEntries((out.SecurityGroups?.[0]?.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]));
}

/** Sets the group's airlock:managed tag to `value`, or takes it off (ec2:DeleteTags) when undefined. */
async function setManagedTag(groupId: string, value: string | undefined): Promise<void> {
    if (value === undefined) {
        await ec2.send(new DeleteTagsCommand({ Resources: [groupId], Tags: [{ Key: MANAGED_TAG }] }));
    } else {
        await ec2.send(new CreateTagsCommand({ Resources: [groupId], Tags: [{ Key: MANAGED_TAG, Value: value }] }));
    }
}

/** The three ways a group can lose its airlock:managed=true tag, and what the healer says of each. */
const TAG_LOST: [string, string | undefined, string][] = [
    ["its airlock:managed tag removed", undefined, "its airlock:managed tag is missing (removed?)"],
    ["airlock:managed=false", "false", 'its airlock:managed tag is "false", not "true" (changed?)'],
    ["airlock:managed=TRUE (the value is exact)", "TRUE", 'its airlock:managed tag is "TRUE", not "true" (changed?)'],
];

/** A group's rules, each as "direction protocol from-to peer [id]", sorted. */
async function rulesOf(groupId: string, withIds = false): Promise<string[]> {
    const out = await ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: "group-id", Values: [groupId] }] }));
    return (out.SecurityGroupRules ?? [])
        .map((r: SecurityGroupRule) => {
            const peer = r.CidrIpv4 ?? r.CidrIpv6 ?? r.PrefixListId ?? r.ReferencedGroupInfo?.GroupId ?? "?";
            const text = `${r.IsEgress === true ? "egress" : "ingress"} ${r.IpProtocol} ${r.FromPort}-${r.ToPort} ${peer}`;
            return withIds ? `${text} ${r.SecurityGroupRuleId}` : text;
        })
        .sort();
}

function declaredRules(world: World): string[] {
    return [
        "egress tcp 443-443 0.0.0.0/0",
        "ingress -1 -1--1 10.20.0.0/16",
        `ingress -1 -1--1 ${world.scanner}`,
        "ingress tcp 443-443 2001:DB8:0:0::/32",
        "ingress tcp 8443-8443 10.20.0.0/16",
    ].sort();
}

/** Runs `run` with console.log captured; every line must be one JSON object. */
async function capturingLogs<T>(run: () => Promise<T>): Promise<{ result: T; lines: Decision[] }> {
    const spy = jest.spyOn(console, "log").mockImplementation(() => undefined);
    try {
        const result = await run();
        const lines = spy.mock.calls.map((args) => {
            expect(args).toHaveLength(1);
            return JSON.parse(String(args[0])) as Decision;
        });
        return { result, lines };
    } finally {
        spy.mockRestore();
    }
}

const actions = (lines: readonly Decision[]): string[] => lines.map((l) => l.action);

/** The Query actions moto served since `from` requests. */
async function actionsSince(from: number): Promise<string[]> {
    return (await moto.requests()).slice(from).map((r) => `${r.service}:${r.action ?? r.headers["X-Amz-Target"] ?? r.path}`);
}

describe("the healer against moto, driven by recorded CloudTrail events", () => {
    it.each(["authorize-security-group-ingress.json", "authorize-security-group-ingress-cli.json"])(
        "reverts SSH from the world added to a managed group, and leaves its declared rules (%s)",
        async (file) => {
            const world = await makeWorld();
            const added = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
            const event = recordedEvent(file, world.managed, added);

            const { lines } = await capturingLogs(() => handler(event));

            expect(await rulesOf(world.managed)).toEqual(declaredRules(world));
            const detail = (event as { detail: { eventID: string } }).detail;
            expect(lines.filter((l) => l.action === "revoked")).toEqual([
                {
                    level: "warn",
                    action: "revoked",
                    trigger: "event",
                    groupId: world.managed,
                    ruleId: added,
                    rule: { direction: "ingress", protocol: "tcp", fromPort: 22, toPort: 22, peer: "0.0.0.0/0" },
                    reason: `not in the declared baseline (AuthorizeSecurityGroupIngress by ${OPERATOR})`,
                    eventId: detail.eventID,
                    eventName: "AuthorizeSecurityGroupIngress",
                    principal: OPERATOR,
                },
            ]);
            const leftAlone = lines.filter((l) => l.action === "left-alone");
            expect(leftAlone).toHaveLength(5);
            expect(leftAlone.every((l) => l.level === "debug" && l.reason === "in the declared baseline" && l.groupId === world.managed && l.principal === OPERATOR)).toBe(true);
            expect(leftAlone.map((l) => l.rule?.peer).sort()).toEqual(["0.0.0.0/0", "10.20.0.0/16", "10.20.0.0/16", "2001:DB8:0:0::/32", world.scanner].sort());
        },
    );

    it("reverts an egress rule added to a managed group", async () => {
        const world = await makeWorld();
        const added = await authorize(world.managed, "egress", tcp(25, "0.0.0.0/0"));

        const { lines } = await capturingLogs(() => handler(recordedEvent("authorize-security-group-egress.json", world.managed, added)));

        expect(await rulesOf(world.managed)).toEqual(declaredRules(world));
        expect(lines.filter((l) => l.action === "revoked")).toEqual([
            expect.objectContaining({ ruleId: added, eventName: "AuthorizeSecurityGroupEgress", rule: { direction: "egress", protocol: "tcp", fromPort: 25, toPort: 25, peer: "0.0.0.0/0" } }),
        ]);
    });

    it("reverts several undeclared rules at once, each logged, and nothing declared", async () => {
        const world = await makeWorld();
        const ssh = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const rdp = await authorize(world.managed, "ingress", { IpProtocol: "tcp", FromPort: 3389, ToPort: 3389, Ipv6Ranges: [{ CidrIpv6: "::/0" }] });
        const all = await authorize(world.managed, "egress", { IpProtocol: "-1", IpRanges: [{ CidrIp: "0.0.0.0/0" }] });

        const { lines } = await capturingLogs(() => handler(recordedEvent("authorize-security-group-ingress.json", world.managed, ssh)));

        expect(await rulesOf(world.managed)).toEqual(declaredRules(world));
        expect(lines.filter((l) => l.action === "revoked").map((l) => l.ruleId).sort()).toEqual([ssh, rdp, all].sort());
    });

    it.each(TAG_LOST)("a group with a baseline and %s is still Airlock's: tagged airlock:managed=true again, then healed", async (_what, value, problem) => {
        const world = await makeWorld();
        await setManagedTag(world.managed, value);
        const added = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const event = recordedEvent("authorize-security-group-ingress.json", world.managed, added);
        const from = (await moto.requests()).length;

        const { lines } = await capturingLogs(() => handler(event));
        const requests = (await moto.requests()).slice(from);

        expect(await rulesOf(world.managed)).toEqual(declaredRules(world));
        expect(await tagsOf(world.managed)).toEqual({ Name: "airlock-production", [MANAGED_TAG]: "true" });
        const detail = (event as { detail: { eventID: string } }).detail;
        expect(lines.filter((l) => l.action !== "left-alone")).toEqual([
            {
                level: "warn",
                action: "retagged",
                trigger: "event",
                groupId: world.managed,
                reason: `managed by its published baseline (/airlock/security-groups/${world.managed}); ${problem}: tagged airlock:managed=true again before healing it (AuthorizeSecurityGroupIngress by ${OPERATOR})`,
                eventId: detail.eventID,
                eventName: "AuthorizeSecurityGroupIngress",
                principal: OPERATOR,
            },
            expect.objectContaining({ level: "warn", action: "revoked", groupId: world.managed, ruleId: added }),
        ]);
        // The group is tagged again (that one tag, on that one group) before anything is revoked.
        const calls = requests.map((r) => `${r.service}:${r.action ?? r.headers["X-Amz-Target"]}`);
        expect(calls.filter((c) => c === "ec2:CreateTags")).toHaveLength(1);
        expect(calls.indexOf("ec2:CreateTags")).toBeLessThan(calls.indexOf("ec2:RevokeSecurityGroupIngress"));
        const tagging = new URLSearchParams(requests.find((r) => r.action === "CreateTags")?.body ?? "");
        expect(Object.fromEntries([...tagging.entries()].filter(([k]) => k !== "Version"))).toEqual({ Action: "CreateTags", "ResourceId.1": world.managed, "Tag.1.Key": MANAGED_TAG, "Tag.1.Value": "true" });
    });

    it.each(TAG_LOST)("leaves a group with %s and no baseline untouched, world-open rule and all, reading only its tags and whether it has a baseline", async (_what, value) => {
        const world = await makeWorld();
        await setManagedTag(world.managed, value);
        await ssm.send(new DeleteParameterCommand({ Name: baselineParameterName(world.managed) }));
        const added = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const before = await rulesOf(world.managed, true);
        const tagsBefore = await tagsOf(world.managed);
        const from = (await moto.requests()).length;

        const { lines } = await capturingLogs(() => handler(recordedEvent("authorize-security-group-ingress.json", world.managed, added)));

        // The group's description (its tags) and its baseline's absence: no rules read, nothing tagged or revoked.
        expect(await actionsSince(from)).toEqual(["ec2:DescribeSecurityGroups", "ssm:AmazonSSM.GetParameter"]);
        expect(await rulesOf(world.managed, true)).toEqual(before);
        expect(await tagsOf(world.managed)).toEqual(tagsBefore);
        expect(lines).toEqual([
            expect.objectContaining({
                level: "info",
                action: "unmanaged",
                groupId: world.managed,
                reason: `not tagged airlock:managed=true and no baseline (/airlock/security-groups/${world.managed}); left alone`,
                principal: OPERATOR,
            }),
        ]);
    });

    it("an untagged group whose baseline is unreadable is neither tagged nor healed: an error-level line says both", async () => {
        const world = await makeWorld();
        await setManagedTag(world.managed, undefined);
        await ssm.send(new PutParameterCommand({ Name: baselineParameterName(world.managed), Type: "String", Value: "ingress: all", Overwrite: true }));
        const added = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const before = await rulesOf(world.managed, true);
        const from = (await moto.requests()).length;

        const { lines } = await capturingLogs(() => handler(recordedEvent("authorize-security-group-ingress.json", world.managed, added)));

        expect(await actionsSince(from)).toEqual(["ec2:DescribeSecurityGroups", "ssm:AmazonSSM.GetParameter"]);
        expect(await rulesOf(world.managed, true)).toEqual(before);
        expect(await tagsOf(world.managed)).toEqual({ Name: "airlock-production" });
        expect(lines).toEqual([expect.objectContaining({ level: "error", action: "no-baseline", groupId: world.managed })]);
        expect(lines[0]?.reason).toMatch(
            new RegExp(`^the baseline /airlock/security-groups/${world.managed} is unreadable \\(.+\\); nothing reverted; besides, its airlock:managed tag is missing \\(removed\\?\\)$`),
        );
    });

    it("right after tagging a group again, a revocation EC2 refuses (the tag not seen yet) is tried again; on a tagged group it is not", async () => {
        expect(HEALER_RETAG_SETTLE_DELAYS_MS[0]).toBeLessThanOrEqual(1000);
        const world = await makeWorld();
        await setManagedTag(world.managed, undefined);
        const added = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const event = recordedEvent("authorize-security-group-ingress.json", world.managed, added);
        const denied = (): Error => Object.assign(new Error("You are not authorized to perform this operation."), { name: "UnauthorizedOperation" });
        let refusals = 1;
        const spy = failingEc2((command) => command.constructor.name === "RevokeSecurityGroupIngressCommand" && refusals-- > 0, denied());
        let lines: Decision[];
        try {
            ({ lines } = await capturingLogs(() => handler(event)));
        } finally {
            spy.mockRestore();
        }
        expect(refusals).toBeLessThan(0);
        expect(await rulesOf(world.managed)).toEqual(declaredRules(world));
        expect(actions(lines).filter((a) => a !== "left-alone")).toEqual(["retagged", "revoked"]);

        // A group that was tagged all along: a refusal is a failure at once (nothing to wait for).
        const again = await authorize(world.managed, "ingress", tcp(23, "0.0.0.0/0"));
        const always = failingEc2((command) => command.constructor.name === "RevokeSecurityGroupIngressCommand", denied());
        const logs = jest.spyOn(console, "log").mockImplementation(() => undefined);
        const started = Date.now();
        try {
            await expect(handler(recordedEvent("authorize-security-group-ingress.json", world.managed, again))).rejects.toThrow(
                `Security group healer: ${world.managed}: UnauthorizedOperation: You are not authorized to perform this operation.`,
            );
        } finally {
            always.mockRestore();
            logs.mockRestore();
        }
        expect(Date.now() - started).toBeLessThan(HEALER_RETAG_SETTLE_DELAYS_MS[0] ?? 0);
        expect(await rulesOf(world.managed)).toContain("ingress tcp 23-23 0.0.0.0/0");
    });

    it("a tagged group with an EMPTY, well-formed baseline (what SecurityZones publishes for a group that declares no rules) loses every rule", async () => {
        const world = await makeWorld();
        await publishBaseline(world.managed, [], []);

        const { lines } = await capturingLogs(() => handler(recordedEvent("authorize-security-group-ingress.json", world.managed)));

        expect(await rulesOf(world.managed)).toEqual([]);
        expect(actions(lines)).toEqual(Array(5).fill("revoked"));
    });

    it("leaves another team's group untouched while healing a managed one in the same VPC", async () => {
        const world = await makeWorld();
        const foreign = await authorize(world.unmanaged, "ingress", tcp(22, "0.0.0.0/0"));
        const before = await rulesOf(world.unmanaged, true);

        const { lines } = await capturingLogs(() => handler(recordedEvent("authorize-security-group-ingress.json", world.unmanaged, foreign)));

        expect(await rulesOf(world.unmanaged, true)).toEqual(before);
        expect(before).toContain(`ingress tcp 22-22 0.0.0.0/0 ${foreign}`);
        expect(actions(lines)).toEqual(["unmanaged"]);
    });

    it("is idempotent: a second run (or a repeated event) changes nothing and revokes nothing", async () => {
        const world = await makeWorld();
        const added = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const event = recordedEvent("authorize-security-group-ingress.json", world.managed, added);

        await capturingLogs(() => handler(event));
        const afterFirst = await rulesOf(world.managed, true);
        const { lines } = await capturingLogs(() => handler(event));

        expect(await rulesOf(world.managed, true)).toEqual(afterFirst);
        expect(actions(lines)).toEqual(Array(5).fill("left-alone"));
    });

    it("two runs at once on the same event revoke the rule once and neither fails", async () => {
        const world = await makeWorld();
        const added = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const event = recordedEvent("authorize-security-group-ingress.json", world.managed, added);

        const { lines } = await capturingLogs(() => Promise.all([handler(event), handler(event)]));

        expect(await rulesOf(world.managed)).toEqual(declaredRules(world));
        expect(lines.filter((l) => l.action === "revoked")).toHaveLength(1);
        // The other run saw the rule either gone already, or still there and then gone (InvalidPermission.NotFound).
        expect(lines.filter((l) => l.action === "failed")).toEqual([]);
    });

    it("survives a group deleted between the event and the run: no error, 'group-gone' logged", async () => {
        const world = await makeWorld();
        const added = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        await ec2.send(new DeleteSecurityGroupCommand({ GroupId: world.managed }));

        const { result, lines } = await capturingLogs(() => handler(recordedEvent("authorize-security-group-ingress.json", world.managed, added)));

        expect(result.decisions).toEqual(lines);
        expect(lines).toEqual([
            expect.objectContaining({ level: "info", action: "group-gone", groupId: world.managed, reason: "the group no longer exists; nothing to revert", eventName: "AuthorizeSecurityGroupIngress" }),
        ]);
    });

    it("a managed group without a baseline: nothing revoked, an error-level line", async () => {
        const world = await makeWorld();
        await ssm.send(new DeleteParameterCommand({ Name: baselineParameterName(world.managed) }));
        const added = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const before = await rulesOf(world.managed, true);

        const { lines } = await capturingLogs(() => handler(recordedEvent("authorize-security-group-ingress.json", world.managed, added)));

        expect(await rulesOf(world.managed, true)).toEqual(before);
        expect(lines).toEqual([
            expect.objectContaining({
                level: "error",
                action: "no-baseline",
                groupId: world.managed,
                reason: `managed group without a baseline (/airlock/security-groups/${world.managed}); nothing reverted`,
            }),
        ]);
    });

    it.each<[string, (world: World) => string]>([
        ["not JSON", () => "ingress: all"],
        ["of an unknown version", (w) => JSON.stringify({ version: 2, groupId: w.managed, ingress: [], egress: [] })],
        ["another group's", (w) => serializeBaseline(w.unmanaged, [], [])],
        // Not an empty baseline: an empty one has both lists, empty.
        ["without its rule lists", (w) => JSON.stringify({ version: 1, groupId: w.managed })],
        ["with null rule lists", (w) => JSON.stringify({ version: 1, groupId: w.managed, ingress: null, egress: null })],
    ])("a baseline that is %s: nothing revoked (fail safe), an error-level line", async (_what, value) => {
        const world = await makeWorld();
        await ssm.send(new PutParameterCommand({ Name: baselineParameterName(world.managed), Type: "String", Value: value(world), Overwrite: true }));
        const added = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const before = await rulesOf(world.managed, true);

        const { lines } = await capturingLogs(() => handler(recordedEvent("authorize-security-group-ingress.json", world.managed, added)));

        expect(await rulesOf(world.managed, true)).toEqual(before);
        expect(lines).toEqual([expect.objectContaining({ level: "error", action: "no-baseline", groupId: world.managed })]);
        expect(lines[0]?.reason).toMatch(new RegExp(`^the baseline /airlock/security-groups/${world.managed} is unreadable \\(.+\\); nothing reverted$`));
    });

    it("ModifySecurityGroupRules that widened a declared rule to the world: the widened rule is revoked", async () => {
        const world = await makeWorld();
        const declared = await ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: "group-id", Values: [world.managed] }] }));
        const rule = declared.SecurityGroupRules?.find((r) => r.FromPort === 8443);
        const ruleId = rule?.SecurityGroupRuleId ?? "";
        // moto's ModifySecurityGroupRules wants ports and changes CidrIpv4 only (enough here).
        await ec2.send(
            new ModifySecurityGroupRulesCommand({
                GroupId: world.managed,
                SecurityGroupRules: [{ SecurityGroupRuleId: ruleId, SecurityGroupRule: { IpProtocol: "tcp", FromPort: 8443, ToPort: 8443, CidrIpv4: "0.0.0.0/0" } }],
            }),
        );
        expect(await rulesOf(world.managed)).toContain("ingress tcp 8443-8443 0.0.0.0/0");

        const { lines } = await capturingLogs(() => handler(recordedEvent("modify-security-group-rules.json", world.managed, ruleId)));

        // Revoked, not restored: the healer never opens anything; the stack's next `pulumi up` re-creates the declared rule.
        expect(await rulesOf(world.managed)).toEqual(declaredRules(world).filter((r) => !r.includes("8443")));
        expect(lines.filter((l) => l.action === "revoked")).toEqual([
            expect.objectContaining({ ruleId, eventName: "ModifySecurityGroupRules", rule: { direction: "ingress", protocol: "tcp", fromPort: 8443, toPort: 8443, peer: "0.0.0.0/0" } }),
        ]);
    });

    it("a default-VPC call by group name is healed through the group id in its response", async () => {
        const world = await makeWorld();
        const added = await authorize(world.managed, "ingress", { IpProtocol: "tcp", FromPort: 3389, ToPort: 3389, IpRanges: [{ CidrIp: "0.0.0.0/0" }] });

        const { lines } = await capturingLogs(() => handler(recordedEvent("authorize-security-group-ingress-by-name.json", world.managed, added)));

        expect(await rulesOf(world.managed)).toEqual(declaredRules(world));
        expect(lines.filter((l) => l.action === "revoked").map((l) => l.ruleId)).toEqual([added]);
    });

    /** The by-name record, for the group named `name`, without the group id CloudTrail may leave out of its response. */
    function byNameWithoutId(name: string): unknown {
        const event = recordedEvent("authorize-security-group-ingress-by-name.json", "sg-0fffffffffffffff0") as { detail: { requestParameters: Record<string, unknown>; responseElements: unknown } };
        event.detail.requestParameters.groupName = name;
        event.detail.responseElements = { requestId: "1e7c4b9a-8d2f-4a03-b6e5-0c9a3f7d1b42", _return: true };
        return event;
    }

    it("a default-VPC call by group name whose record carries no group id: the name is looked up in the default VPC, and the group healed", async () => {
        const world = await makeWorld();
        // A managed group of the default VPC (no VpcId), with its baseline.
        const created = await ec2.send(
            new CreateSecurityGroupCommand({
                GroupName: "airlock-default-vpc",
                Description: "airlock-default-vpc",
                TagSpecifications: [{ ResourceType: "security-group", Tags: [{ Key: MANAGED_TAG, Value: "true" }] }],
            }),
        );
        const group = created.GroupId ?? "";
        await publishBaseline(group, [], [{ ipProtocol: "-1", cidrIpv4: "0.0.0.0/0" }]);
        const added = await authorize(group, "ingress", { IpProtocol: "tcp", FromPort: 3389, ToPort: 3389, IpRanges: [{ CidrIp: "0.0.0.0/0" }] });
        const from = (await moto.requests()).length;

        const { lines } = await capturingLogs(() => handler(byNameWithoutId("airlock-default-vpc")));

        expect(await rulesOf(group)).toEqual(["egress -1 -1--1 0.0.0.0/0"]);
        expect(lines.filter((l) => l.action === "revoked").map((l) => [l.groupId, l.ruleId])).toEqual([[group, added]]);
        const lookUp = (await moto.requests()).slice(from)[0];
        expect([lookUp?.action, new URLSearchParams(lookUp?.body ?? "").get("GroupName.1")]).toEqual(["DescribeSecurityGroups", "airlock-default-vpc"]);
        expect(await rulesOf(world.managed)).toEqual(declaredRules(world));
    });

    it("a default-VPC call by the name of a group that is gone: 'group-gone', no error", async () => {
        await makeWorld();

        const { lines } = await capturingLogs(() => handler(byNameWithoutId("deleted-since")));

        expect(lines).toEqual([
            expect.objectContaining({ level: "info", action: "group-gone", trigger: "event", reason: 'no security group named "deleted-since" in the default VPC (deleted since?); nothing to revert' }),
        ]);
    });

    it.each<[string, string]>([
        ["a failed call", "authorize-security-group-ingress-failed.json"],
        ["the healer's own revocation", "revoke-security-group-ingress.json"],
    ])("ignores %s without calling AWS", async (_what, file) => {
        const world = await makeWorld();
        const added = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const from = (await moto.requests()).length;

        const { lines } = await capturingLogs(() => handler(recordedEvent(file, world.managed, added)));

        expect(await actionsSince(from)).toEqual([]);
        expect(lines).toEqual([expect.objectContaining({ level: "info", action: "ignored-event" })]);
        expect(await rulesOf(world.managed)).toContain("ingress tcp 22-22 0.0.0.0/0");
    });

    it("fails (so EventBridge retries) when a group cannot be healed, logging why", async () => {
        const world = await makeWorld();
        const added = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        // moto's EC2 answers nothing useful on a port where nothing listens: the call fails for real.
        const saved = process.env;
        jest.resetModules();
        process.env = { ...clientEnv(moto), AWS_ENDPOINT_URL: "http://127.0.0.1:9", AWS_MAX_ATTEMPTS: "1" };
        try {
            // A fresh module: its clients are made with the broken endpoint.
            const fresh = (await import("../functions/securityGroupHealer")) as { handler: (event: unknown) => Promise<HealerResult> };
            const spy = jest.spyOn(console, "log").mockImplementation(() => undefined);
            try {
                await expect(fresh.handler(recordedEvent("authorize-security-group-ingress.json", world.managed, added))).rejects.toThrow(`Security group healer: ${world.managed}: `);
                const lines = spy.mock.calls.map((args) => JSON.parse(String(args[0])) as Decision);
                expect(lines).toEqual([expect.objectContaining({ level: "error", action: "failed", groupId: world.managed })]);
                expect(lines[0]?.reason).toMatch(/^could not heal the group \(.*ECONNREFUSED.*\); the event will be retried$/);
            } finally {
                spy.mockRestore();
            }
        } finally {
            process.env = saved;
        }
        expect(await rulesOf(world.managed)).toContain("ingress tcp 22-22 0.0.0.0/0");
    });
});

/** An EventBridge schedule's event, as the sweep's rule (HEALER_SWEEP_SCHEDULE) sends it. */
function scheduledEvent(time = "2025-03-14T10:17:00Z", id = "8d5f0c3e-5b1a-4f0e-9c2d-3f6a1b2c4d5e"): unknown {
    return {
        version: "0",
        id,
        "detail-type": "Scheduled Event",
        source: "aws.events",
        account: "123456789012",
        time,
        region: "us-east-1",
        resources: ["arn:aws:events:us-east-1:123456789012:rule/airlock-guardrails-sweep"],
        detail: {},
    };
}

/** A second Airlock-managed group in the world's VPC: HTTPS from the VPC, no egress, baseline published. */
async function makeSecondManaged(world: World, name = "airlock-remediation"): Promise<string> {
    const id = await createGroup(world.vpcId, name, { Name: name, [MANAGED_TAG]: "true" });
    await ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: id, IpPermissions: [{ IpProtocol: "-1", IpRanges: [{ CidrIp: "0.0.0.0/0" }] }] }));
    await authorize(id, "ingress", tcp(443, "10.20.0.0/16"));
    await publishBaseline(id, [{ ipProtocol: "tcp", fromPort: 443, toPort: 443, cidrIpv4: "10.20.0.0/16" }], []);
    return id;
}

const SECOND_DECLARED = ["ingress tcp 443-443 10.20.0.0/16"];
const SWEEP_CAUSE = "not in the declared baseline (found by the periodic sweep)";

/** Makes every EC2 call that `fails` picks reject with `error` (the handler's client included: same class). */
function failingEc2(fails: (command: { constructor: { name: string }; input: unknown }) => boolean, error: Error): jest.SpyInstance {
    const original = EC2Client.prototype.send;
    return jest.spyOn(EC2Client.prototype, "send").mockImplementation(function (this: EC2Client, command: never, ...rest: never[]) {
        if (fails(command as { constructor: { name: string }; input: unknown })) {
            return Promise.reject(error);
        }
        return (original as (...args: unknown[]) => unknown).call(this, command, ...rest);
    } as never);
}

/** Makes every SSM call that `fails` picks reject with `error` (the handler's client included: same class). */
function failingSsm(fails: (command: { constructor: { name: string }; input: unknown }) => boolean, error: Error): jest.SpyInstance {
    const original = SSMClient.prototype.send;
    return jest.spyOn(SSMClient.prototype, "send").mockImplementation(function (this: SSMClient, command: never, ...rest: never[]) {
        if (fails(command as { constructor: { name: string }; input: unknown })) {
            return Promise.reject(error);
        }
        return (original as (...args: unknown[]) => unknown).call(this, command, ...rest);
    } as never);
}

function throttled(): Error {
    return Object.assign(new Error("Request limit exceeded."), { name: "RequestLimitExceeded" });
}

describe("the periodic sweep (a scheduled event)", () => {
    it("heals every managed group with drift, and leaves unmanaged groups untouched and unread", async () => {
        const world = await makeWorld();
        const second = await makeSecondManaged(world);
        const ssh = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const smtp = await authorize(world.managed, "egress", tcp(25, "0.0.0.0/0"));
        const rdp = await authorize(second, "ingress", { IpProtocol: "tcp", FromPort: 3389, ToPort: 3389, Ipv6Ranges: [{ CidrIpv6: "::/0" }] });
        const foreign = await authorize(world.unmanaged, "ingress", tcp(22, "0.0.0.0/0"));
        const scannerBefore = await rulesOf(world.scanner, true);
        const unmanagedBefore = await rulesOf(world.unmanaged, true);
        const from = (await moto.requests()).length;

        const { result, lines } = await capturingLogs(() => handler(scheduledEvent()));
        const requests = (await moto.requests()).slice(from);

        expect(await rulesOf(world.managed)).toEqual(declaredRules(world));
        expect(await rulesOf(second)).toEqual(SECOND_DECLARED);
        expect(await rulesOf(world.unmanaged, true)).toEqual(unmanagedBefore);
        expect(unmanagedBefore).toContain(`ingress tcp 22-22 0.0.0.0/0 ${foreign}`);
        expect(await rulesOf(world.scanner, true)).toEqual(scannerBefore);

        expect(result.decisions).toEqual(lines);
        expect(lines.every((l) => l.trigger === "sweep" && l.eventId === "8d5f0c3e-5b1a-4f0e-9c2d-3f6a1b2c4d5e" && l.eventName === undefined && l.principal === undefined)).toBe(true);
        expect(lines.filter((l) => l.action === "revoked").sort((a, b) => (a.ruleId ?? "").localeCompare(b.ruleId ?? ""))).toEqual(
            [
                { groupId: world.managed, ruleId: ssh, rule: { direction: "ingress", protocol: "tcp", fromPort: 22, toPort: 22, peer: "0.0.0.0/0" } },
                { groupId: world.managed, ruleId: smtp, rule: { direction: "egress", protocol: "tcp", fromPort: 25, toPort: 25, peer: "0.0.0.0/0" } },
                { groupId: second, ruleId: rdp, rule: { direction: "ingress", protocol: "tcp", fromPort: 3389, toPort: 3389, peer: "::/0" } },
            ]
                .map((r) => ({ level: "warn", action: "revoked", trigger: "sweep", ...r, reason: SWEEP_CAUSE, eventId: "8d5f0c3e-5b1a-4f0e-9c2d-3f6a1b2c4d5e" }))
                .sort((a, b) => a.ruleId.localeCompare(b.ruleId)),
        );
        expect(lines.filter((l) => l.action === "left-alone").map((l) => l.groupId).sort()).toEqual([...Array(5).fill(world.managed), second].sort());
        // Only the two managed groups appear; the summary is the last line.
        expect([...new Set(lines.map((l) => l.groupId).filter((g) => g !== undefined))].sort()).toEqual([world.managed, second].sort());
        expect(lines[lines.length - 1]).toEqual({
            level: "info",
            action: "swept",
            trigger: "sweep",
            reason:
                "checked 2 of 2 groups (2 tagged airlock:managed=true, 2 with a baseline): 3 rule(s) revoked, 0 group(s) tagged again, " +
                "0 group(s) without a readable baseline, 0 group(s) gone, 0 group(s) failed",
            eventId: "8d5f0c3e-5b1a-4f0e-9c2d-3f6a1b2c4d5e",
        });

        // The listing asks EC2 for the managed groups (tag filter, pages of 1000), then SSM for the
        // baselines (their path, not recursive, pages of 10); nothing names an unmanaged group.
        const listing = requests[0];
        expect(listing?.action).toBe("DescribeSecurityGroups");
        const query = new URLSearchParams(listing?.body ?? "");
        expect([query.get("Filter.1.Name"), query.get("Filter.1.Value.1"), query.get("MaxResults"), query.get("GroupId.1")]).toEqual(["tag:airlock:managed", "true", "1000", null]);
        expect(requests[1]?.headers["X-Amz-Target"]).toBe("AmazonSSM.GetParametersByPath");
        expect(JSON.parse(requests[1]?.body ?? "{}")).toEqual({ Path: "/airlock/security-groups", Recursive: false, MaxResults: 10 });
        for (const r of requests) {
            expect(`${r.path} ${r.body}`).not.toContain(world.unmanaged);
            expect(`${r.path} ${r.body}`).not.toContain(world.scanner);
        }
        // Exactly the calls the role allows (policies/securityGroupHealer.ts); the sweep's own is the baselines' listing.
        expect([...new Set(requests.map((r) => `${r.service}:${r.action ?? r.headers["X-Amz-Target"]}`))].sort()).toEqual([
            "ec2:DescribeSecurityGroupRules",
            "ec2:DescribeSecurityGroups",
            "ec2:RevokeSecurityGroupEgress",
            "ec2:RevokeSecurityGroupIngress",
            "ssm:AmazonSSM.GetParameter",
            "ssm:AmazonSSM.GetParametersByPath",
        ]);
    });

    it("decides for a group exactly as an event does (only the trigger, the event's fields and the revocation's cause differ)", async () => {
        // The same world twice, healed once by an event and once by a sweep; ids differ, so they are named by role.
        const normalized = (world: World, lines: readonly Decision[]): string[] =>
            lines
                .filter((l) => l.groupId === world.managed)
                .map(({ trigger: _t, eventId: _i, eventName: _n, principal: _p, ruleId: _r, ...rest }) =>
                    JSON.stringify(rest).split(world.managed).join("<managed>").split(world.scanner).join("<scanner>").replace(/ \((AuthorizeSecurityGroupIngress by [^)]+|found by the periodic sweep)\)/, " (<cause>)"),
                )
                .sort();
        const drift = async (world: World): Promise<void> => {
            await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
            await authorize(world.managed, "egress", { IpProtocol: "-1", IpRanges: [{ CidrIp: "0.0.0.0/0" }] });
        };

        const first = await makeWorld();
        await drift(first);
        const byEvent = await capturingLogs(() => handler(recordedEvent("authorize-security-group-ingress.json", first.managed)));
        await moto.reset();
        const second = await makeWorld();
        await drift(second);
        const bySweep = await capturingLogs(() => handler(scheduledEvent()));

        expect(normalized(second, bySweep.lines)).toEqual(normalized(first, byEvent.lines));
        expect(actions(byEvent.lines).filter((a) => a === "revoked")).toHaveLength(2);
        expect(await rulesOf(second.managed)).toEqual(declaredRules(second));
    });

    it("a managed group without a baseline is logged and left as it is, and the others are healed", async () => {
        const world = await makeWorld();
        const second = await makeSecondManaged(world);
        await ssm.send(new DeleteParameterCommand({ Name: baselineParameterName(world.managed) }));
        await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const rdp = await authorize(second, "ingress", tcp(3389, "0.0.0.0/0"));
        const before = await rulesOf(world.managed, true);

        const { lines } = await capturingLogs(() => handler(scheduledEvent()));

        expect(await rulesOf(world.managed, true)).toEqual(before);
        expect(await rulesOf(second)).toEqual(SECOND_DECLARED);
        expect(lines.filter((l) => l.groupId === world.managed)).toEqual([
            {
                level: "error",
                action: "no-baseline",
                trigger: "sweep",
                groupId: world.managed,
                reason: `managed group without a baseline (/airlock/security-groups/${world.managed}); nothing reverted`,
                eventId: "8d5f0c3e-5b1a-4f0e-9c2d-3f6a1b2c4d5e",
            },
        ]);
        expect(lines.filter((l) => l.action === "revoked").map((l) => [l.groupId, l.ruleId])).toEqual([[second, rdp]]);
        expect(lines[lines.length - 1]?.reason).toBe(
            "checked 2 of 2 groups (2 tagged airlock:managed=true, 1 with a baseline): 1 rule(s) revoked, 0 group(s) tagged again, 1 group(s) without a readable baseline, 0 group(s) gone, 0 group(s) failed",
        );
    });

    it("a second sweep changes nothing and revokes nothing", async () => {
        const world = await makeWorld();
        const second = await makeSecondManaged(world);
        await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        await authorize(second, "egress", tcp(25, "0.0.0.0/0"));
        await capturingLogs(() => handler(scheduledEvent()));
        const after = { managed: await rulesOf(world.managed, true), second: await rulesOf(second, true) };
        const from = (await moto.requests()).length;

        const { lines } = await capturingLogs(() => handler(scheduledEvent("2025-03-14T11:17:00Z", "0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f")));

        expect({ managed: await rulesOf(world.managed, true), second: await rulesOf(second, true) }).toEqual(after);
        expect(actions(lines)).toEqual([...Array(6).fill("left-alone"), "swept"]);
        expect(lines[6]?.reason).toBe(
            "checked 2 of 2 groups (2 tagged airlock:managed=true, 2 with a baseline): 0 rule(s) revoked, 0 group(s) tagged again, 0 group(s) without a readable baseline, 0 group(s) gone, 0 group(s) failed",
        );
        expect((await actionsSince(from)).filter((a) => /Revoke/.test(a))).toEqual([]);
    });

    it("a sweep with no managed group in the region lists, heals nothing, and says so", async () => {
        const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: "10.30.0.0/16" }));
        await createGroup(vpc.Vpc?.VpcId ?? "", "someone-elses", { Name: "someone-elses", [MANAGED_TAG]: "false" });
        const from = (await moto.requests()).length;

        const { lines } = await capturingLogs(() => handler(scheduledEvent()));

        expect(await actionsSince(from)).toEqual(["ec2:DescribeSecurityGroups", "ssm:AmazonSSM.GetParametersByPath"]);
        expect(lines).toEqual([
            expect.objectContaining({
                level: "info",
                action: "swept",
                trigger: "sweep",
                reason:
                    "checked 0 of 0 groups (0 tagged airlock:managed=true, 0 with a baseline): 0 rule(s) revoked, 0 group(s) tagged again, 0 group(s) without a readable baseline, 0 group(s) gone, 0 group(s) failed",
            }),
        ]);
    });

    it("a group that cannot be healed does not stop the others; the sweep then fails, after its summary", async () => {
        const world = await makeWorld();
        const second = await makeSecondManaged(world);
        await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        await authorize(second, "ingress", tcp(22, "0.0.0.0/0"));
        // EC2 throttles reading the managed group's rules (after the SDK's own retries, as it can in AWS).
        const spy = failingEc2((command) => command.constructor.name === "DescribeSecurityGroupRulesCommand" && JSON.stringify(command.input).includes(world.managed), throttled());
        let outcome: { lines: Decision[]; error?: Error };
        try {
            const logs = jest.spyOn(console, "log").mockImplementation(() => undefined);
            let error: Error | undefined;
            try {
                await handler(scheduledEvent());
            } catch (e) {
                error = e as Error;
            }
            outcome = { lines: logs.mock.calls.map((args) => JSON.parse(String(args[0])) as Decision), error };
            logs.mockRestore();
        } finally {
            spy.mockRestore();
        }

        expect(outcome.error?.message).toBe(`Security group healer sweep: 1 group(s) failed: ${world.managed}: RequestLimitExceeded: Request limit exceeded.`);
        expect(await rulesOf(second)).toEqual(SECOND_DECLARED);
        expect(await rulesOf(world.managed)).toContain("ingress tcp 22-22 0.0.0.0/0");
        expect(outcome.lines.filter((l) => l.groupId === world.managed)).toEqual([
            {
                level: "error",
                action: "failed",
                trigger: "sweep",
                groupId: world.managed,
                reason: "could not heal the group (RequestLimitExceeded: Request limit exceeded.); the next sweep will try again",
                eventId: "8d5f0c3e-5b1a-4f0e-9c2d-3f6a1b2c4d5e",
            },
        ]);
        expect(outcome.lines[outcome.lines.length - 1]).toMatchObject({
            level: "error",
            action: "swept",
            reason:
                "checked 1 of 2 groups (2 tagged airlock:managed=true, 2 with a baseline): 1 rule(s) revoked, 0 group(s) tagged again, 0 group(s) without a readable baseline, 0 group(s) gone, 1 group(s) failed",
        });
    });

    it.each<[string, () => jest.SpyInstance, string]>([
        ["the groups tagged airlock:managed=true (EC2)", () => failingEc2((command) => command.constructor.name === "DescribeSecurityGroupsCommand", throttled()), "the groups tagged airlock:managed=true"],
        ["the baselines (SSM)", () => failingSsm((command) => command.constructor.name === "GetParametersByPathCommand", throttled()), "the baselines under /airlock/security-groups/"],
    ])("fails at once, logging why, when %s cannot be listed", async (_what, failing, listing) => {
        const world = await makeWorld();
        await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const spy = failing();
        try {
            const logs = jest.spyOn(console, "log").mockImplementation(() => undefined);
            try {
                await expect(handler(scheduledEvent())).rejects.toThrow("Security group healer sweep: listing the managed groups: RequestLimitExceeded: Request limit exceeded.");
                expect(logs.mock.calls.map((args) => JSON.parse(String(args[0])) as Decision)).toEqual([
                    {
                        level: "error",
                        action: "failed",
                        trigger: "sweep",
                        reason: `could not list ${listing} (RequestLimitExceeded: Request limit exceeded.); nothing healed, the next sweep will try again`,
                        eventId: "8d5f0c3e-5b1a-4f0e-9c2d-3f6a1b2c4d5e",
                    },
                ]);
            } finally {
                logs.mockRestore();
            }
        } finally {
            spy.mockRestore();
        }
        expect(await rulesOf(world.managed)).toContain("ingress tcp 22-22 0.0.0.0/0");
    });

    it("finds a group whose tag was removed by its baseline, tags it again and heals it; a baseline whose group is gone is 'group-gone'; the listing pages", async () => {
        const world = await makeWorld();
        const second = await makeSecondManaged(world);
        await setManagedTag(world.managed, undefined);
        const ssh = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const rdp = await authorize(second, "ingress", tcp(3389, "0.0.0.0/0"));
        // Baselines left behind by groups deleted since (more than a page of them), and a parameter
        // under the path that names no group.
        const stale = Array.from({ length: 11 }, (_, i) => `sg-0de1e7ed${String(i).padStart(9, "0")}`);
        for (const id of stale) await publishBaseline(id, [], []);
        await ssm.send(new PutParameterCommand({ Name: "/airlock/security-groups/README", Type: "String", Value: "not a baseline", Overwrite: true }));
        const from = (await moto.requests()).length;

        const { lines } = await capturingLogs(() => handler(scheduledEvent()));
        const requests = (await moto.requests()).slice(from);

        expect(await rulesOf(world.managed)).toEqual(declaredRules(world));
        expect(await tagsOf(world.managed)).toEqual({ Name: "airlock-production", [MANAGED_TAG]: "true" });
        expect(await rulesOf(second)).toEqual(SECOND_DECLARED);
        expect(lines.filter((l) => l.groupId === world.managed && l.action !== "left-alone")).toEqual([
            {
                level: "warn",
                action: "retagged",
                trigger: "sweep",
                groupId: world.managed,
                reason: `managed by its published baseline (/airlock/security-groups/${world.managed}); its airlock:managed tag is missing (removed?): tagged airlock:managed=true again before healing it (found by the periodic sweep)`,
                eventId: "8d5f0c3e-5b1a-4f0e-9c2d-3f6a1b2c4d5e",
            },
            expect.objectContaining({ level: "warn", action: "revoked", ruleId: ssh, reason: SWEEP_CAUSE }),
        ]);
        expect(lines.filter((l) => l.action === "revoked").map((l) => l.ruleId).sort()).toEqual([ssh, rdp].sort());
        // Two at a time (HEALER_SWEEP_CONCURRENCY): in any order.
        expect(lines.filter((l) => l.action === "group-gone").sort((a, b) => (a.groupId ?? "").localeCompare(b.groupId ?? ""))).toEqual(
            stale.map((groupId) => expect.objectContaining({ level: "info", action: "group-gone", trigger: "sweep", groupId, reason: "the group no longer exists; nothing to revert" })),
        );
        expect(lines.filter((l) => l.action === "failed" || l.action === "no-baseline")).toEqual([]);
        expect(JSON.stringify(lines)).not.toContain("README");
        expect(lines[lines.length - 1]).toMatchObject({
            level: "info",
            action: "swept",
            reason:
                "checked 13 of 13 groups (1 tagged airlock:managed=true, 13 with a baseline): 2 rule(s) revoked, 1 group(s) tagged again, 0 group(s) without a readable baseline, 11 group(s) gone, 0 group(s) failed",
        });
        // 14 parameters under the path: two pages of at most 10, the second asked for by the first's token.
        const pages = requests.filter((r) => r.headers["X-Amz-Target"] === "AmazonSSM.GetParametersByPath").map((r) => JSON.parse(r.body ?? "{}") as { NextToken?: string });
        expect(pages).toHaveLength(2);
        expect(pages[1]?.NextToken).toEqual(expect.any(String));
        // The group was tagged again before anything of it was revoked.
        const calls = requests.map((r) => `${r.action ?? ""} ${r.body ?? ""}`);
        const tagged = calls.findIndex((c) => c.startsWith("CreateTags ") && c.includes(world.managed));
        expect(tagged).toBeGreaterThan(-1);
        expect(tagged).toBeLessThan(calls.findIndex((c) => c.startsWith("RevokeSecurityGroupIngress ") && c.includes(world.managed)));
        // A second sweep finds it tagged: nothing more to tag or revoke.
        const again = await capturingLogs(() => handler(scheduledEvent("2025-03-14T11:17:00Z")));
        expect(actions(again.lines).filter((a) => a === "retagged" || a === "revoked")).toEqual([]);
    });

    it("a group without its tag and without a baseline is not the sweep's: it is neither listed nor read", async () => {
        const world = await makeWorld();
        await setManagedTag(world.managed, undefined);
        await ssm.send(new DeleteParameterCommand({ Name: baselineParameterName(world.managed) }));
        await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const from = (await moto.requests()).length;

        const { lines } = await capturingLogs(() => handler(scheduledEvent()));

        expect(await actionsSince(from)).toEqual(["ec2:DescribeSecurityGroups", "ssm:AmazonSSM.GetParametersByPath"]);
        expect(await rulesOf(world.managed)).toContain("ingress tcp 22-22 0.0.0.0/0");
        expect(await tagsOf(world.managed)).toEqual({ Name: "airlock-production" });
        expect(actions(lines)).toEqual(["swept"]);
    });

    it("heals at most its bound per run, says so, and the next hours' runs take the others in turn", async () => {
        expect(HEALER_SWEEP_MAX_GROUPS).toBe(200);
        expect(HEALER_SWEEP_SCHEDULE).toBe("rate(1 hour)");
        const world = await makeWorld();
        const groups = [world.managed, await makeSecondManaged(world, "airlock-b"), await makeSecondManaged(world, "airlock-c")];
        for (const group of groups) {
            await authorize(group, "ingress", tcp(23, "0.0.0.0/0"));
        }
        // One of them has lost its tag: the bound and the turns are over the union of both listings.
        await setManagedTag(groups[2] as string, undefined);
        const drifted = async (): Promise<string[]> => {
            const out: string[] = [];
            for (const group of groups) if ((await rulesOf(group)).includes("ingress tcp 23-23 0.0.0.0/0")) out.push(group);
            return out;
        };

        const run = await capturingLogs(() => sweep(scheduledEvent("2025-03-14T10:17:00Z"), 2));

        expect(run.lines[0]).toMatchObject({ level: "warn", action: "sweep-limited", trigger: "sweep" });
        expect(run.lines[0]?.reason).toMatch(
            /^3 groups \(2 tagged airlock:managed=true, 3 with a baseline\), more than the 2 a sweep heals: this run heals 2 of them \(by group id, from number [123], wrapping round\); the next runs take the following ones$/,
        );
        const healed = new Set(run.lines.map((l) => l.groupId).filter((g) => g !== undefined));
        expect(healed.size).toBe(2);
        expect(await drifted()).toEqual(groups.filter((g) => !healed.has(g)));
        expect(run.lines[run.lines.length - 1]?.reason).toMatch(/^checked 2 of 3 groups \(2 tagged airlock:managed=true, 3 with a baseline\): 2 rule\(s\) revoked,/);

        // The next hour's run starts where this one stopped: the group left over is healed.
        const next = await capturingLogs(() => sweep(scheduledEvent("2025-03-14T11:17:00Z"), 2));
        expect(await drifted()).toEqual([]);
        expect(next.lines.filter((l) => l.action === "revoked")).toHaveLength(1);
        expect(new Set(next.lines.map((l) => l.groupId).filter((g) => g !== undefined)).size).toBe(2);
        // The untagged one was tagged again by whichever run healed it, once.
        expect([...run.lines, ...next.lines].filter((l) => l.action === "retagged").map((l) => l.groupId)).toEqual([groups[2]]);
        expect((await tagsOf(groups[2] as string))[MANAGED_TAG]).toBe("true");
    });

    it("reads the group's tags again before healing it: a group untagged since the listing, without a baseline, is left alone", async () => {
        const world = await makeWorld();
        await ssm.send(new DeleteParameterCommand({ Name: baselineParameterName(world.managed) }));
        await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        // The listing (with the tag filter) still sees it managed; the group's own description no longer does.
        const original = EC2Client.prototype.send;
        const spy = jest.spyOn(EC2Client.prototype, "send").mockImplementation(async function (this: EC2Client, command: never, ...rest: never[]) {
            const answer = (await (original as (...args: unknown[]) => Promise<unknown>).call(this, command, ...rest)) as { SecurityGroups?: { Tags?: unknown }[] };
            const input = (command as { input: { GroupIds?: string[] } }).input;
            if ((command as object) instanceof DescribeSecurityGroupsCommand && input.GroupIds?.includes(world.managed)) {
                for (const group of answer.SecurityGroups ?? []) group.Tags = [{ Key: "Name", Value: "airlock-production" }];
            }
            return answer;
        } as never);
        let lines: Decision[];
        try {
            ({ lines } = await capturingLogs(() => handler(scheduledEvent())));
        } finally {
            spy.mockRestore();
        }
        expect(lines.filter((l) => l.groupId === world.managed)).toEqual([expect.objectContaining({ level: "info", action: "unmanaged", trigger: "sweep" })]);
        expect(await rulesOf(world.managed)).toContain("ingress tcp 22-22 0.0.0.0/0");
    });
});

describe("the trigger's event pattern, in moto's EventBridge matcher", () => {
    // moto's TestEventPattern is not implemented; its matcher (the one PutEvents uses) is run directly.
    function matches(events: Record<string, unknown>): Record<string, boolean> {
        const script = [
            "import json, sys",
            "from moto.events.models import EventPattern, EventPatternParser",
            "data = json.load(sys.stdin)",
            "pattern = EventPattern(data['pattern'], EventPatternParser(data['pattern']).parse())",
            "print(json.dumps({name: pattern.matches_event(event) for name, event in data['events'].items()}))",
        ].join("\n");
        const out = childProcess.execFileSync(path.join(VENV_BIN, "python"), ["-c", script], {
            input: JSON.stringify({ pattern: JSON.stringify(HEALER_EVENT_PATTERN), events }),
            encoding: "utf8",
        });
        return JSON.parse(out) as Record<string, boolean>;
    }

    it("selects the successful Authorize*/ModifySecurityGroupRules calls, not failed calls nor the healer's own revocations", () => {
        const files = fs.readdirSync(FIXTURES).filter((f) => f.endsWith(".json"));
        const events = Object.fromEntries(files.map((f) => [f, JSON.parse(fs.readFileSync(path.join(FIXTURES, f), "utf8")) as unknown]));
        expect(matches(events)).toEqual({
            "authorize-security-group-egress.json": true,
            "authorize-security-group-ingress-by-name.json": true,
            "authorize-security-group-ingress-cli.json": true,
            "authorize-security-group-ingress-failed.json": false,
            "authorize-security-group-ingress.json": true,
            "modify-security-group-rules.json": true,
            "revoke-security-group-ingress.json": false,
        });
    });
});

describe("the bundle (functions/bundle.ts)", () => {
    let dir: string;
    beforeAll(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-healer-"));
    });
    afterAll(() => {
        fs.rmSync(dir, { recursive: true, force: true });
    });

    it("is deterministic and carries no path of this machine", () => {
        const first = bundleHealer();
        const second = bundleHealer();
        expect(second.code).toBe(first.code);
        expect(second.sha256).toBe(first.sha256);
        expect(first.sha256).toMatch(/^[0-9a-f]{64}$/);
        const root = path.resolve(__dirname, "..");
        for (const local of [root, os.homedir(), os.tmpdir(), "/work/", "node_modules/.pnpm"]) {
            expect(first.code.includes(local)).toBe(false);
        }
        expect(first.code).not.toContain("sourceMappingURL");
    });

    /** Runs the bundle's index.handler on `event` in a plain Node process, as the Lambda runtime loads it. */
    async function runBundled(event: unknown): Promise<{ lines: Decision[]; result?: HealerResult; error?: string }> {
        const eventFile = path.join(dir, "event.json");
        fs.writeFileSync(eventFile, JSON.stringify(event));
        // A plain Node process in the bundle's directory, as the runtime loads it: jest's module
        // sandbox cannot run the SDK's dynamic import("node:http"), and the repository's
        // node_modules must not be reachable.
        const runner = [
            "const { handler } = require('./index.js');",
            "const event = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8'));",
            "handler(event).then((r) => process.stderr.write(JSON.stringify({ result: r })), (e) => { process.stderr.write(JSON.stringify({ error: String(e) })); process.exitCode = 1; });",
        ].join("\n");
        const { stdout, stderr } = await execFile(process.execPath, ["-e", runner, eventFile], { cwd: dir, env: clientEnv(moto, { PATH: process.env.PATH }) });
        const outcome = JSON.parse(stderr) as { result?: HealerResult; error?: string };
        return { ...outcome, lines: stdout.trim().split("\n").map((line) => JSON.parse(line) as Decision) };
    }

    it("runs as the Lambda runtime would load it (index.handler, the SDK inside): it heals against moto on an event and on the schedule", async () => {
        const { code } = bundleHealer();
        const file = path.join(dir, "index.js");
        fs.writeFileSync(file, code);
        // Nothing to resolve outside the bundle but Node's own modules (the one other name is in a
        // message of the SDK's SigV4a signer, which EC2 and SSM do not use).
        const required = [...new Set(code.match(/require\("[^"]+"\)/g))].filter((r) => !r.startsWith('require("node:'));
        expect(required).toEqual(['require("@aws-sdk/signature-v4-crt")']);
        expect(code).toContain('[require("@aws-sdk/signature-v4-crt");]');
        const world = await makeWorld();
        const added = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const outcome = await runBundled(recordedEvent("authorize-security-group-ingress.json", world.managed, added));
        expect(outcome.error).toBeUndefined();
        const lines = outcome.lines;
        expect(lines).toEqual(outcome.result?.decisions);
        expect(lines.filter((d) => d.action === "revoked").map((d) => d.ruleId)).toEqual([added]);
        expect(actions(lines).sort()).toEqual(["revoked", ...Array(5).fill("left-alone")].sort());
        expect(lines.every((d) => d.trigger === "event")).toBe(true);
        expect(await rulesOf(world.managed)).toEqual(declaredRules(world));

        // The schedule's event: the bundle sweeps every managed group (no event was ever sent for these).
        const second = await makeSecondManaged(world);
        const lost = await authorize(world.managed, "egress", tcp(25, "0.0.0.0/0"));
        const rdp = await authorize(second, "ingress", tcp(3389, "0.0.0.0/0"));
        const foreign = await authorize(world.unmanaged, "ingress", tcp(22, "0.0.0.0/0"));
        const swept = await runBundled(scheduledEvent());
        expect(swept.error).toBeUndefined();
        expect(swept.lines).toEqual(swept.result?.decisions);
        expect(swept.lines.every((d) => d.trigger === "sweep")).toBe(true);
        expect(swept.lines.filter((d) => d.action === "revoked").map((d) => d.ruleId).sort()).toEqual([lost, rdp].sort());
        expect(swept.lines[swept.lines.length - 1]).toMatchObject({
            action: "swept",
            reason: expect.stringMatching(/^checked 2 of 2 groups .*: 2 rule\(s\) revoked, 0 group\(s\) tagged again, 0 group\(s\) without a readable baseline, 0 group\(s\) gone, 0 group\(s\) failed$/),
        });
        expect(await rulesOf(world.managed)).toEqual(declaredRules(world));
        expect(await rulesOf(second)).toEqual(SECOND_DECLARED);
        expect(await rulesOf(world.unmanaged)).toContain("ingress tcp 22-22 0.0.0.0/0");
        expect(foreign).toMatch(/^sgr-/);

        // The tag taken off (ec2:DeleteTags, which triggers nothing): on an event, then on the schedule,
        // the bundle tags the group again and heals it; the group with neither tag nor baseline stays as it is.
        await setManagedTag(world.managed, undefined);
        const afterUntag = await authorize(world.managed, "ingress", tcp(22, "0.0.0.0/0"));
        const retaggedByEvent = await runBundled(recordedEvent("authorize-security-group-ingress.json", world.managed, afterUntag));
        expect(retaggedByEvent.error).toBeUndefined();
        expect(actions(retaggedByEvent.lines).filter((a) => a !== "left-alone")).toEqual(["retagged", "revoked"]);
        expect(retaggedByEvent.lines[0]).toMatchObject({ level: "warn", action: "retagged", trigger: "event", groupId: world.managed });
        expect(await tagsOf(world.managed)).toEqual({ Name: "airlock-production", [MANAGED_TAG]: "true" });
        expect(await rulesOf(world.managed)).toEqual(declaredRules(world));

        await setManagedTag(second, undefined);
        const lostAgain = await authorize(second, "ingress", tcp(3389, "0.0.0.0/0"));
        const retaggedBySweep = await runBundled(scheduledEvent("2025-03-14T11:17:00Z"));
        expect(retaggedBySweep.error).toBeUndefined();
        expect(retaggedBySweep.lines.filter((d) => d.action === "retagged").map((d) => d.groupId)).toEqual([second]);
        expect(retaggedBySweep.lines.filter((d) => d.action === "revoked").map((d) => d.ruleId)).toEqual([lostAgain]);
        expect(retaggedBySweep.lines[retaggedBySweep.lines.length - 1]).toMatchObject({
            action: "swept",
            reason: expect.stringMatching(/^checked 2 of 2 groups \(1 tagged airlock:managed=true, 2 with a baseline\): 1 rule\(s\) revoked, 1 group\(s\) tagged again,/),
        });
        expect((await tagsOf(second))[MANAGED_TAG]).toBe("true");
        expect(await rulesOf(second)).toEqual(SECOND_DECLARED);
        expect(await rulesOf(world.unmanaged)).toContain("ingress tcp 22-22 0.0.0.0/0");
    });
});
