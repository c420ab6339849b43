/**
 * The unmanaged-instances check and `--quarantine` (audit/checks/unmanagedInstances.ts) against moto
 * 5.2.1, and the stack-output reader (audit/stackOutputs.ts) as pure functions.
 *
 * moto serves every call here (DescribeInstances with the instance-state-name filter and
 * MaxResults/NextToken, DescribeSecurityGroups, CreateTags, ModifyNetworkInterfaceAttribute,
 * CreateNetworkInterface/AttachNetworkInterface); nothing is mocked at the SDK level.
 */
import {
    AttachNetworkInterfaceCommand,
    CreateNetworkInterfaceCommand,
    CreateSecurityGroupCommand,
    CreateVpcCommand,
    DescribeInstancesCommand,
    EC2Client,
    Instance,
    RunInstancesCommand,
    StopInstancesCommand,
    TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import type { CheckContext, CollectedInstance, ClientFactory, ClientSettings } from "../audit/checks/context";
import {
    LISTED_STATES,
    PREVIOUS_GROUPS_TAG,
    QUARANTINED_AT_TAG,
    QUARANTINED_BY_TAG,
    QUARANTINE_REASON_TAG,
    makeUnmanagedInstancesCheck,
    unmanagedInstancesCheck,
} from "../audit/checks/unmanagedInstances";
import type { Finding } from "../audit/findings";
import { StackOutputsError, managedInstanceIdsFrom, stackFactsFrom } from "../audit/stackOutputs";
import type { Target } from "../audit/targets";
import { MANAGED_TAG } from "../policies/keyNaming";
import { MOTO_ACCOUNT_ID, MOTO_REGION, Moto, SeededInstance, awsClientConfig, seedAirlockInstance, startMoto } from "./support/moto";

// ---------------------------------------------------------------------------------------------
// managedInstanceIdsFrom (pure)

const ID_A = "i-0123456789abcdef0";
const ID_B = "i-0fedcba9876543210";
const ID_OLD = "i-1234abcd";

const VAULT_OUTPUTS = {
    remediationSecurityGroupId: "sg-0aaaaaaaaaaaaaaa1",
    productionSecurityGroupId: "sg-0aaaaaaaaaaaaaaa2",
    keyBucketName: "web-keys-4f2a1c9",
    kmsKeyArn: "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
};

function outputs(instances: unknown, extra: Record<string, unknown> = {}): string {
    return JSON.stringify({ ...VAULT_OUTPUTS, ...extra, instances });
}

function reader(files: Record<string, string>): (file: string) => string {
    return (file) => {
        if (!(file in files)) {
            throw Object.assign(new Error(`ENOENT: no such file or directory, open '${file}'`), { code: "ENOENT" });
        }
        return files[file]!;
    };
}

describe("managedInstanceIdsFrom", () => {
    it("unions the instanceIds of every file's instances map", () => {
        const files = {
            "web.json": outputs({ "web-1": { instanceId: ID_A, privateIp: "10.0.0.1", phase: "production" }, "web-2": { instanceId: ID_OLD } }),
            "db.json": outputs({ db: { instanceId: ID_B } }),
            "empty.json": outputs({}),
        };
        expect([...managedInstanceIdsFrom(["web.json", "db.json", "empty.json"], reader(files))].sort()).toEqual([ID_A, ID_B, ID_OLD].sort());
    });

    it("gives an empty set for no files", () => {
        expect(managedInstanceIdsFrom([], reader({})).size).toBe(0);
    });

    it("reads real files by default", () => {
        const fs = jest.requireActual<typeof import("fs")>("fs");
        const os = jest.requireActual<typeof import("os")>("os");
        const path = jest.requireActual<typeof import("path")>("path");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stack-outputs-"));
        try {
            const file = path.join(dir, "web.json");
            fs.writeFileSync(file, outputs({ web: { instanceId: ID_A } }));
            expect([...managedInstanceIdsFrom([file])]).toEqual([ID_A]);
            expect(() => managedInstanceIdsFrom([path.join(dir, "missing.json")])).toThrow(`${path.join(dir, "missing.json")}: cannot be read (no such file)`);
            expect(() => managedInstanceIdsFrom([dir])).toThrow(`${dir}: cannot be read (is a directory)`);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    const bad: [string, string, string][] = [
        ["not JSON", "{nope", "bad.json: is not JSON ("],
        ["an array", "[]", "bad.json: is not a JSON object of stack outputs"],
        ["a guardrails-only stack (no instances)", JSON.stringify({ guardrails: {} }), 'bad.json: has no "instances" output (its outputs: guardrails)'],
        ["no outputs at all", "{}", 'bad.json: has no "instances" output (it has no outputs)'],
        ["instances a list", outputs([ID_A]), 'bad.json: "instances" is not a map of instance names to their outputs'],
        ["instances secret", outputs("[secret]"), 'bad.json: "instances" is a secret (run pulumi stack output --json --show-secrets)'],
        ["an entry without instanceId", outputs({ web: { privateIp: "10.0.0.1" } }), 'bad.json: "instances"."web" has no instanceId string'],
        ["an entry that is a string", outputs({ web: ID_A }), 'bad.json: "instances"."web" is not an object with an instanceId'],
        ["a secret instanceId", outputs({ web: { instanceId: "[secret]" } }), 'bad.json: "instances"."web".instanceId is shown as "[secret]"'],
        ["a malformed instanceId", outputs({ web: { instanceId: "sg-0123456789abcdef0" } }), 'bad.json: "instances"."web".instanceId "sg-0123456789abcdef0" is not an EC2 instance id'],
    ];
    it.each(bad)("refuses %s, naming the file", (_what, text, message) => {
        let error: unknown;
        try {
            managedInstanceIdsFrom(["good.json", "bad.json"], reader({ "good.json": outputs({ a: { instanceId: ID_A } }), "bad.json": text }));
        } catch (e) {
            error = e;
        }
        expect(error).toBeInstanceOf(StackOutputsError);
        expect((error as StackOutputsError).message.startsWith(message)).toBe(true);
        expect((error as StackOutputsError).fileName).toBe("bad.json");
        expect((error as StackOutputsError).exitCode).toBe(2);
    });

    it("stackFactsFrom: the vaults' buckets and keys and the zones' groups too; a wrong one refused, a missing one fine", () => {
        const facts = stackFactsFrom(
            ["web.json", "db.json", "old.json"],
            reader({
                "web.json": outputs({ web: { instanceId: ID_A } }),
                "db.json": outputs({ db: { instanceId: ID_B } }, { keyBucketName: "db-keys-77aa", productionSecurityGroupId: "sg-0bbbbbbbbbbbbbbb2" }),
                "old.json": JSON.stringify({ instances: {} }),
            }),
        );
        expect(facts).toEqual({
            instanceIds: new Set([ID_A, ID_B]),
            vaultBucketNames: new Set(["web-keys-4f2a1c9", "db-keys-77aa"]),
            vaultKeys: new Set([VAULT_OUTPUTS.kmsKeyArn]),
            securityGroupIds: new Set([VAULT_OUTPUTS.remediationSecurityGroupId, VAULT_OUTPUTS.productionSecurityGroupId, "sg-0bbbbbbbbbbbbbbb2"]),
        });
        expect(() => stackFactsFrom(["x.json"], reader({ "x.json": outputs({}, { keyBucketName: "[secret]" }) }))).toThrow('x.json: "keyBucketName" is shown as "[secret]"');
        expect(() => stackFactsFrom(["x.json"], reader({ "x.json": outputs({}, { kmsKeyArn: "alias/airlock" }) }))).toThrow('x.json: "kmsKeyArn" is "alias/airlock", not what an Airlock stack outputs there');
    });

    it("refuses a missing file, naming it", () => {
        expect(() => managedInstanceIdsFrom(["nowhere.json"], reader({}))).toThrow(new StackOutputsError("nowhere.json", "cannot be read (no such file); give the output of `pulumi stack output --json` of an Airlock instance stack."));
    });
});

// ---------------------------------------------------------------------------------------------
// The check against moto

const NOW = new Date("2025-06-01T12:00:00.000Z");

/** What the runner gives a check, with clients pointed at moto. */
function contextFor(moto: Moto, made: { destroy(): void }[], over: Partial<CheckContext> = {}): CheckContext {
    const config = awsClientConfig(moto);
    const cache = new Map<unknown, unknown>();
    const clients: ClientFactory = {
        make<C>(ctor: new (settings: ClientSettings) => C, region: string): C {
            const key = `${ctor.name}/${region}`;
            if (!cache.has(key)) {
                const client = new ctor({ region, credentials: async () => config.credentials, endpoint: config.endpoint, maxAttempts: 1, retryMode: "standard" });
                made.push(client as unknown as { destroy(): void });
                cache.set(key, client);
            }
            return cache.get(key) as C;
        },
    };
    return {
        target: { name: "moto" } as Target,
        accountId: MOTO_ACCOUNT_ID,
        partition: "aws",
        regions: [MOTO_REGION],
        clients,
        fix: false,
        managedInstanceIds: new Set(),
        unusedDays: 45,
        now: () => NOW,
        ...over,
    };
}

const arn = (id: string): string => `arn:aws:ec2:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:instance/${id}`;
const ALL = `arn:aws:ec2:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:instance/*`;

/** The parts of findings asserted exactly everywhere (evidence checked separately where it matters). */
function summary(findings: readonly Finding[]): unknown[] {
    return findings.map((f) => [f.resource, f.status, f.severity, f.title, f.evidence.quarantine ?? null]);
}

describe("unmanaged-instances check against moto", () => {
    let moto: Moto;
    let ec2: EC2Client;
    let seeded: SeededInstance;
    const made: { destroy(): void }[] = [];
    const ids: Record<string, string> = {};
    let quarantineGroupId: string;
    let otherVpcGroupId: string;
    let secondEni: string;

    const run = async (tags: Record<string, string>, name: string, groupIds: string[] = [seeded.remediationSecurityGroupId]): Promise<string> => {
        const answer = await ec2.send(
            new RunInstancesCommand({
                ImageId: seeded.imageId,
                InstanceType: "t3.nano",
                MinCount: 1,
                MaxCount: 1,
                // Groups on the interface, not SecurityGroupIds: moto 5.2.1 shows every attached interface's
                // groups as the union of its own and the instance's launch groups (SecurityGroupIds), so
                // after ModifyNetworkInterfaceAttribute an interface would still show the launch groups.
                NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: seeded.subnetId, Groups: groupIds }],
                TagSpecifications: [{ ResourceType: "instance", Tags: Object.entries({ Name: name, ...tags }).map(([Key, Value]) => ({ Key, Value })) }],
            }),
        );
        return answer.Instances![0]!.InstanceId!;
    };

    const describeAll = async (): Promise<Instance[]> => {
        const answer = await ec2.send(new DescribeInstancesCommand({}));
        return (answer.Reservations ?? []).flatMap((r) => r.Instances ?? []).sort((a, b) => a.InstanceId!.localeCompare(b.InstanceId!));
    };
    const byId = async (id: string): Promise<Instance> => (await describeAll()).find((i) => i.InstanceId === id)!;
    const groupsOf = (i: Instance): Record<string, string[]> =>
        Object.fromEntries((i.NetworkInterfaces ?? []).map((n) => [n.NetworkInterfaceId!, (n.Groups ?? []).map((g) => g.GroupId!).sort()]));
    const tagsOf = (i: Instance): Record<string, string> => Object.fromEntries((i.Tags ?? []).map((t) => [t.Key!, t.Value!]));

    beforeAll(async () => {
        moto = await startMoto();
        ec2 = new EC2Client(awsClientConfig(moto));
        seeded = await seedAirlockInstance(moto, { tags: { [MANAGED_TAG]: "true", "airlock:instance": "web-1" } });
        ids.managed1 = seeded.instanceId;
        ids.managed2 = await run({ [MANAGED_TAG]: "true" }, "web-2", [seeded.productionSecurityGroupId]);
        ids.unmanaged = await run({ owner: "shadow-it" }, "shadow");
        ids.stopped = await run({}, "shadow-stopped");
        ids.twoEnis = await run({}, "shadow-two-enis", [seeded.remediationSecurityGroupId, seeded.productionSecurityGroupId]);
        ids.spoofed = await run({ [MANAGED_TAG]: "true" }, "spoofed");
        ids.drifted = await run({}, "drifted");
        ids.terminated = await run({}, "gone");
        await ec2.send(new StopInstancesCommand({ InstanceIds: [ids.stopped] }));
        await ec2.send(new TerminateInstancesCommand({ InstanceIds: [ids.terminated] }));
        const eni = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: seeded.subnetId, Groups: [seeded.productionSecurityGroupId] }));
        secondEni = eni.NetworkInterface!.NetworkInterfaceId!;
        await ec2.send(new AttachNetworkInterfaceCommand({ NetworkInterfaceId: secondEni, InstanceId: ids.twoEnis, DeviceIndex: 1 }));
        quarantineGroupId = (await ec2.send(new CreateSecurityGroupCommand({ VpcId: seeded.vpcId, GroupName: "quarantine", Description: "no traffic" }))).GroupId!;
        const otherVpc = (await ec2.send(new CreateVpcCommand({ CidrBlock: "10.77.0.0/16" }))).Vpc!.VpcId!;
        otherVpcGroupId = (await ec2.send(new CreateSecurityGroupCommand({ VpcId: otherVpc, GroupName: "quarantine-elsewhere", Description: "other vpc" }))).GroupId!;
    });
    afterAll(async () => {
        for (const c of made) c.destroy();
        ec2?.destroy();
        await moto?.stop();
    });

    /** Stack outputs list managed1, managed2 and drifted (whose tag is missing), not spoofed. */
    const listed = (): Set<string> => new Set([ids.managed1!, ids.managed2!, ids.drifted!]);

    it("sets up what it means to (moto lists the second interface, stops and terminates)", async () => {
        const all = await describeAll();
        expect(Object.fromEntries(all.map((i) => [i.InstanceId, i.State?.Name]))).toMatchObject({ [ids.stopped!]: "stopped", [ids.terminated!]: "terminated", [ids.unmanaged!]: "running" });
        expect(Object.keys(groupsOf((await byId(ids.twoEnis!))))).toHaveLength(2);
        expect(Object.values(groupsOf(await byId(ids.twoEnis!)))).toContainEqual([seeded.productionSecurityGroupId]);
    });

    it("with stack outputs: one fail per unmanaged instance, the spoofed and the drifted ones apart, one pass per region; pages of 5", async () => {
        const before = (await moto.requests()).length;
        const findings = await makeUnmanagedInstancesCheck({ pageSize: 5 })(contextFor(moto, made, { managedInstanceIds: listed() }));
        const calls = (await moto.requests()).slice(before).map((r) => r.action);
        expect(calls).toEqual(["DescribeInstances", "DescribeInstances"]);
        const unmanaged = [ids.unmanaged!, ids.stopped!, ids.twoEnis!].sort();
        const expected = [
            ...[ids.spoofed!, ids.drifted!].map((id) =>
                id === ids.spoofed
                    ? [arn(id), "fail", "high", `Instance ${id} is tagged airlock:managed but no given Airlock stack output lists it`, null]
                    : [arn(id), "fail", "low", `Instance ${id} is in a given Airlock stack output but lacks the airlock:managed tag`, null],
            ),
            ...unmanaged.map((id) => [arn(id), "fail", "medium", `Instance ${id} is managed by no Airlock stack`, null]),
            [ALL, "pass", "informational", `Instances managed by Airlock in ${MOTO_REGION}`, null],
        ];
        // Order: instances by id (spoofed/drifted as met), then unmanaged ones, then the summary.
        const sortKey = (row: unknown[]) => `${row[1] === "pass" ? "2" : row[3]!.toString().includes("managed by no") ? "1" : "0"}${row[0]}`;
        expect(summary(findings).sort((a, b) => sortKey(a as unknown[]).localeCompare(sortKey(b as unknown[])))).toEqual(expected.sort((a, b) => sortKey(a).localeCompare(sortKey(b))));
        expect(findings.map((f) => [f.target, f.accountId, f.region, f.check])).toEqual(findings.map(() => ["moto", MOTO_ACCOUNT_ID, MOTO_REGION, "unmanaged-instances"]));

        const pass = findings.find((f) => f.status === "pass")!;
        expect(pass.evidence).toEqual({
            managed: [ids.managed1!, ids.managed2!].sort(),
            count: 2,
            listed: 7,
            states: ["pending", "running", "stopping", "stopped"],
            matchedBy: "tag airlock:managed=true and stack outputs",
        });
        const shadow = findings.find((f) => f.resource === arn(ids.unmanaged!))!;
        const described = await byId(ids.unmanaged!);
        expect(shadow.evidence).toEqual({
            instanceId: ids.unmanaged,
            instanceType: "t3.nano",
            state: "running",
            launchTime: described.LaunchTime!.toISOString(),
            tags: { Name: "shadow", owner: "shadow-it" },
            securityGroups: [{ id: seeded.remediationSecurityGroupId, name: "airlock-remediation" }],
            networkInterfaces: [{ id: described.NetworkInterfaces![0]!.NetworkInterfaceId, deviceIndex: 0, securityGroups: [seeded.remediationSecurityGroupId] }],
            vpcId: seeded.vpcId,
            subnetId: seeded.subnetId,
            iamInstanceProfile: null,
            matchedBy: "tag and stack outputs",
        });
        expect(findings.find((f) => f.resource === arn(ids.stopped!))!.evidence.state).toBe("stopped");
        expect(findings.find((f) => f.resource === arn(ids.spoofed!))!.evidence).toMatchObject({ why: "the tag is spoofed, or the stack outputs given are stale or incomplete", tags: { [MANAGED_TAG]: "true" } });
        expect(findings.some((f) => f.resource === arn(ids.terminated!))).toBe(false);
    });

    it("without stack outputs the tag alone decides: the spoofed one counts as managed, the drifted one as unmanaged", async () => {
        const findings = await unmanagedInstancesCheck(contextFor(moto, made));
        const fails = findings.filter((f) => f.status === "fail").map((f) => f.resource).sort();
        expect(fails).toEqual([ids.unmanaged!, ids.stopped!, ids.twoEnis!, ids.drifted!].map(arn).sort());
        expect(findings.find((f) => f.status === "pass")!.evidence).toMatchObject({ managed: [ids.managed1!, ids.managed2!, ids.spoofed!].sort(), count: 3, matchedBy: "tag airlock:managed=true" });
        expect(findings).toHaveLength(5);
    });

    it("what it listed is collected for the records database: each instance with its addresses, management and phase", async () => {
        const collected: { instances: readonly CollectedInstance[]; region: string }[] = [];
        const ignore = (): void => undefined;
        const collect = { iam: ignore, credentialReport: ignore, buckets: ignore, instances: (instances: readonly CollectedInstance[], region: string) => collected.push({ instances, region }) };
        await unmanagedInstancesCheck({ ...contextFor(moto, made, { managedInstanceIds: listed() }), collect });
        expect(collected.map((c) => c.region)).toEqual([MOTO_REGION]);
        const byInstance = new Map(collected[0]!.instances.map((i) => [i.instanceId, i]));
        // Listed states only (not the terminated one); managed = in the stack outputs given.
        expect([...byInstance.keys()].sort()).toEqual([ids.managed1!, ids.managed2!, ids.spoofed!, ids.unmanaged!, ids.stopped!, ids.twoEnis!, ids.drifted!].sort());
        expect([ids.managed1!, ids.managed2!, ids.spoofed!, ids.drifted!].map((id) => [byInstance.get(id)?.managed, byInstance.get(id)?.phase])).toEqual([
            [true, "remediation"],
            [true, "production"],
            [false, undefined], // tagged, but no stack output lists it
            [true, "remediation"], // listed, its tag lost
        ]);
        const described = await byId(ids.managed1!);
        expect(byInstance.get(ids.managed1!)).toMatchObject({ region: MOTO_REGION, state: "running", vpcId: seeded.vpcId, subnetId: seeded.subnetId, privateIps: [described.PrivateIpAddress] });
        expect(byInstance.get(ids.stopped!)?.state).toBe("stopped");
    });

    it("--quarantine without --yes changes nothing and says what it would do", async () => {
        const before = await describeAll();
        const mark = (await moto.requests()).length;
        const findings = await unmanagedInstancesCheck(contextFor(moto, made, { managedInstanceIds: listed(), quarantine: { groupId: quarantineGroupId, apply: false } }));
        expect(await describeAll()).toEqual(before);
        const calls = new Set((await moto.requests()).slice(mark).map((r) => r.action));
        expect([...calls].sort()).toEqual(["DescribeInstances", "DescribeSecurityGroups"]);

        const byResource = Object.fromEntries(findings.filter((f) => f.status !== "pass").map((f) => [f.resource, f.evidence]));
        for (const id of [ids.unmanaged!, ids.stopped!]) {
            const eni = (await byId(id)).NetworkInterfaces![0]!.NetworkInterfaceId!;
            expect(byResource[arn(id)]).toMatchObject({
                quarantine: "dry-run",
                quarantineGroupId,
                wouldMove: [{ networkInterfaceId: eni, deviceIndex: 0, from: [seeded.remediationSecurityGroupId], to: [quarantineGroupId] }],
                wouldTag: {
                    [QUARANTINED_BY_TAG]: "airlock-audit",
                    [QUARANTINED_AT_TAG]: NOW.toISOString(),
                    [QUARANTINE_REASON_TAG]: "not tagged airlock:managed=true and in no given Airlock stack output: managed by no Airlock stack",
                    [PREVIOUS_GROUPS_TAG]: seeded.remediationSecurityGroupId,
                },
            });
        }
        expect(byResource[arn(ids.twoEnis!)]!.wouldTag).toMatchObject({
            [PREVIOUS_GROUPS_TAG]: [seeded.remediationSecurityGroupId, seeded.productionSecurityGroupId].sort().join(" "),
            [`${PREVIOUS_GROUPS_TAG}:${secondEni}`]: seeded.productionSecurityGroupId,
        });
        expect(byResource[arn(ids.spoofed!)]).toMatchObject({ quarantine: "not-moved", quarantineGroupId });
        expect(byResource[arn(ids.drifted!)]!.quarantine).toBeUndefined();
        expect(findings.filter((f) => f.status === "error")).toEqual([]);
    });

    it("--quarantine --yes with a group of another VPC: an error per unmanaged instance, nothing moved (in a dry run too)", async () => {
        for (const apply of [false, true]) {
            const before = await describeAll();
            const findings = await unmanagedInstancesCheck(contextFor(moto, made, { managedInstanceIds: listed(), quarantine: { groupId: otherVpcGroupId, apply } }));
            expect(await describeAll()).toEqual(before);
            const errors = findings.filter((f) => f.status === "error");
            expect(errors.map((f) => f.resource).sort()).toEqual([ids.unmanaged!, ids.stopped!, ids.twoEnis!].map(arn).sort());
            for (const e of errors) {
                expect(e.title).toBe(`Instance ${e.evidence.instanceId} could not be quarantined`);
                expect(e.evidence).toMatchObject({ quarantineGroupId: otherVpcGroupId, changed: false });
                expect(String(e.evidence.why)).toMatch(new RegExp(`^security group ${otherVpcGroupId} is in vpc-[0-9a-f]+, the instance in ${seeded.vpcId}$`));
            }
            expect(findings.filter((f) => f.evidence.quarantine === "refused")).toHaveLength(3);
        }
    });

    it("--quarantine --yes with a group that does not exist: an error per unmanaged instance, nothing moved", async () => {
        const before = await describeAll();
        const findings = await unmanagedInstancesCheck(contextFor(moto, made, { managedInstanceIds: listed(), quarantine: { groupId: "sg-0000000000000dead", apply: true } }));
        expect(await describeAll()).toEqual(before);
        expect(findings.filter((f) => f.status === "error").map((f) => f.evidence.why)).toEqual(
            [0, 1, 2].map(() => expect.stringMatching(/^security group sg-0000000000000dead does not exist in this region/)),
        );
    });

    it("--quarantine --yes moves exactly the unmanaged instances (every interface) and tags them; a second run leaves them", async () => {
        const before = await describeAll();
        const findings = await unmanagedInstancesCheck(contextFor(moto, made, { managedInstanceIds: listed(), quarantine: { groupId: quarantineGroupId, apply: true } }));
        const after = await describeAll();
        expect(findings.filter((f) => f.status === "error")).toEqual([]);

        const moved = new Set([ids.unmanaged!, ids.stopped!, ids.twoEnis!]);
        for (const instance of after) {
            const id = instance.InstanceId!;
            const old = before.find((i) => i.InstanceId === id)!;
            if (!moved.has(id)) {
                // managed, spoofed, drifted, terminated: untouched
                expect(instance).toEqual(old);
                continue;
            }
            const oldGroups = groupsOf(old);
            expect(Object.values(groupsOf(instance))).toEqual(Object.keys(oldGroups).map(() => [quarantineGroupId]));
            const primary = old.NetworkInterfaces!.find((n) => (n.Attachment?.DeviceIndex ?? 0) === 0)!.NetworkInterfaceId!;
            const expectedTags: Record<string, string> = {
                ...tagsOf(old),
                [QUARANTINED_BY_TAG]: "airlock-audit",
                [QUARANTINED_AT_TAG]: NOW.toISOString(),
                [QUARANTINE_REASON_TAG]: "not tagged airlock:managed=true and in no given Airlock stack output: managed by no Airlock stack",
                [PREVIOUS_GROUPS_TAG]: oldGroups[primary]!.join(" "),
            };
            for (const [eni, groups] of Object.entries(oldGroups)) {
                if (eni !== primary) expectedTags[`${PREVIOUS_GROUPS_TAG}:${eni}`] = groups.join(" ");
            }
            expect(tagsOf(instance)).toEqual(expectedTags);
            const f = findings.find((x) => x.resource === arn(id))!;
            expect(f.status).toBe("fail");
            expect(f.evidence.quarantine).toBe("moved");
            expect((f.evidence.moves as { networkInterfaceId: string; to: string[] }[]).map((m) => [m.networkInterfaceId, m.to])).toEqual(
                Object.keys(oldGroups).map((eni) => [eni, [quarantineGroupId]]).sort((a, b) => (a[0] === primary ? -1 : b[0] === primary ? 1 : 0)),
            );
        }
        expect(findings.find((f) => f.resource === arn(ids.twoEnis!))!.evidence.moves).toEqual([
            expect.objectContaining({ deviceIndex: 0, from: [seeded.remediationSecurityGroupId, seeded.productionSecurityGroupId].sort(), to: [quarantineGroupId] }),
            { networkInterfaceId: secondEni, deviceIndex: 1, from: [seeded.productionSecurityGroupId], to: [quarantineGroupId] },
        ]);

        // Idempotent: no write call, each noted as already quarantined, the tags (the groups to restore) kept.
        const mark = (await moto.requests()).length;
        const again = await unmanagedInstancesCheck(contextFor(moto, made, { managedInstanceIds: listed(), quarantine: { groupId: quarantineGroupId, apply: true }, now: () => new Date("2025-06-02T00:00:00Z") }));
        expect([...new Set((await moto.requests()).slice(mark).map((r) => r.action))].sort()).toEqual(["DescribeInstances", "DescribeSecurityGroups"]);
        expect(await describeAll()).toEqual(after);
        expect(again.filter((f) => moved.has(f.evidence.instanceId as string)).map((f) => [f.status, f.evidence.quarantine])).toEqual([...moved].map(() => ["fail", "already-quarantined"]));
    });

    it("lists the states it documents", () => {
        expect(LISTED_STATES).toEqual(["pending", "running", "stopping", "stopped"]);
    });
});
