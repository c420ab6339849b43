/**
 * The moto harness (test/support/moto.ts), and what moto 5.2.1 in server mode really does for the
 * calls the airlock makes. The header of moto.ts summarises these answers: keep both in step.
 */
import * as childProcess from "child_process";
import * as fs from "fs";
import * as path from "path";
import { CreateTagsCommand, DescribeInstancesCommand, EC2Client, ModifyInstanceAttributeCommand } from "@aws-sdk/client-ec2";
import { DeleteRolePolicyCommand, GetRoleCommand, GetRolePolicyCommand, IAMClient, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import { BatchGetAccountStatusCommand, EnableCommand, Inspector2Client, ListCoverageCommand, ListFindingsCommand } from "@aws-sdk/client-inspector2";
import { MOTO_ACCOUNT_ID, Moto, SeededInstance, awsClientConfig, clientEnv, recordedObjects, seedAirlockInstance, seedInspectorFindings, startMoto } from "./support/moto";

/** True while the process exists and is not a zombie. */
function alive(pid: number): boolean {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
    } catch {
        return false;
    }
}

async function eventually(check: () => boolean, timeoutMs = 5000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
        if (check()) return true;
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return check();
}

async function refused(endpoint: string): Promise<boolean> {
    try {
        await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(2000) });
        return false;
    } catch {
        return true;
    }
}

describe("moto harness", () => {
    let moto: Moto;
    let seeded: SeededInstance;
    let ec2: EC2Client;
    let iam: IAMClient;
    let inspector: Inspector2Client;

    beforeAll(async () => {
        moto = await startMoto();
        ec2 = new EC2Client(awsClientConfig(moto));
        iam = new IAMClient(awsClientConfig(moto));
        inspector = new Inspector2Client(awsClientConfig(moto));
        seeded = await seedAirlockInstance(moto);
    });
    afterAll(async () => {
        ec2?.destroy();
        iam?.destroy();
        inspector?.destroy();
        await moto?.stop();
    });

    const describeInstance = async () => {
        const answer = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [seeded.instanceId] }));
        return answer.Reservations![0]!.Instances![0]!;
    };

    it("starts on 127.0.0.1 with an environment for SDK clients and no profile", () => {
        expect(moto.endpoint).toBe(`http://127.0.0.1:${moto.port}`);
        expect(moto.env).toEqual({
            AWS_ENDPOINT_URL: moto.endpoint,
            AWS_REGION: "eu-west-1",
            AWS_DEFAULT_REGION: "eu-west-1",
            AWS_ACCESS_KEY_ID: "testing",
            AWS_SECRET_ACCESS_KEY: "testing",
            AWS_EC2_METADATA_DISABLED: "true",
        });
        expect(clientEnv(moto, { HOME: "/root", AWS_PROFILE: "prod", AWS_SESSION_TOKEN: "x" })).toEqual({ HOME: "/root", ...moto.env });
    });

    it("seeds a running instance in the remediation group with the /airlock/ instance profile", async () => {
        const instance = await describeInstance();
        expect(instance.State?.Name).toBe("running");
        expect(instance.SecurityGroups).toEqual([{ GroupId: seeded.remediationSecurityGroupId, GroupName: "airlock-remediation" }]);
        expect(instance.IamInstanceProfile?.Arn).toBe(seeded.instanceProfileArn);
        expect(instance.PrivateIpAddress).toBe(seeded.privateIp);
        expect(instance.SubnetId).toBe(seeded.subnetId);
        expect(instance.VpcId).toBe(seeded.vpcId);
        expect(seeded.roleArn).toBe(`arn:aws:iam::${MOTO_ACCOUNT_ID}:role/airlock/airlock-instance`);
        expect(seeded.instanceProfileArn).toBe(`arn:aws:iam::${MOTO_ACCOUNT_ID}:instance-profile/airlock/airlock-instance`);
        expect(seeded.instanceArn).toBe(`arn:aws:ec2:eu-west-1:${MOTO_ACCOUNT_ID}:instance/${seeded.instanceId}`);
        expect(seeded.privateIp).toMatch(/^10\.42\.1\.\d+$/);
    });

    it("honours ModifyInstanceAttribute Groups and CreateTags in DescribeInstances", async () => {
        await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: seeded.instanceId, Groups: [seeded.productionSecurityGroupId] }));
        await ec2.send(new CreateTagsCommand({ Resources: [seeded.instanceId], Tags: [{ Key: "airlock:state", Value: "promoted" }] }));
        const instance = await describeInstance();
        expect(instance.SecurityGroups).toEqual([{ GroupId: seeded.productionSecurityGroupId, GroupName: "airlock-production" }]);
        expect(instance.Tags).toEqual(
            expect.arrayContaining([
                { Key: "Name", Value: "airlock-instance" },
                { Key: "airlock:state", Value: "promoted" },
            ]),
        );
        // moto quirk: the primary network interface ADDS the new group and keeps the old one, so read
        // Instances[].SecurityGroups, not NetworkInterfaces[].Groups, against moto.
        expect(instance.NetworkInterfaces?.[0]?.Groups?.map((g) => g.GroupId).sort()).toEqual(
            [seeded.productionSecurityGroupId, seeded.remediationSecurityGroupId].sort(),
        );
    });

    it("round-trips PutRolePolicy/GetRolePolicy (URL-encoded document) and answers NoSuchEntity after DeleteRolePolicy", async () => {
        const document = { Version: "2012-10-17", Statement: [{ Effect: "Deny", Action: "s3:*", Resource: "*" }] };
        await iam.send(new PutRolePolicyCommand({ RoleName: seeded.roleName, PolicyName: "airlock-quarantine", PolicyDocument: JSON.stringify(document) }));
        const got = await iam.send(new GetRolePolicyCommand({ RoleName: seeded.roleName, PolicyName: "airlock-quarantine" }));
        // URL-encoded as AWS does (Python's quote: "*" is %2A too); the SDK hands it over undecoded.
        expect(got.PolicyDocument).toMatch(/^%7B%22Version%22%3A%222012-10-17%22/);
        expect(JSON.parse(decodeURIComponent(got.PolicyDocument!))).toEqual(document);

        await iam.send(new DeleteRolePolicyCommand({ RoleName: seeded.roleName, PolicyName: "airlock-quarantine" }));
        await expect(iam.send(new GetRolePolicyCommand({ RoleName: seeded.roleName, PolicyName: "airlock-quarantine" }))).rejects.toMatchObject({
            name: "NoSuchEntityException",
            Code: "NoSuchEntity",
            $metadata: { httpStatusCode: 404 },
        });
        await expect(iam.send(new DeleteRolePolicyCommand({ RoleName: seeded.roleName, PolicyName: "airlock-quarantine" }))).rejects.toMatchObject({
            name: "NoSuchEntityException",
        });
    });

    it("is reached by SDK clients configured only through AWS_ENDPOINT_URL in process.env, and records the requests", async () => {
        const saved = process.env;
        process.env = clientEnv(moto);
        const before = (await moto.requests()).length;
        const plain = new EC2Client({});
        try {
            const answer = await plain.send(new DescribeInstancesCommand({ InstanceIds: [seeded.instanceId] }));
            expect(answer.Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(seeded.instanceId);
        } finally {
            plain.destroy();
            process.env = saved;
        }
        const after = (await moto.requests()).slice(before);
        expect(after.map((r) => [r.service, r.action, r.accessKeyId])).toEqual([["ec2", "DescribeInstances", "testing"]]);
    });

    it("implements Inspector2 ListFindings from a seeded queue (filters ignored, no paging) and BatchGetAccountStatus, but not ListCoverage", async () => {
        const theirs = { findingArn: "arn:aws:inspector2:eu-west-1:123456789012:finding/1", severity: "HIGH", status: "ACTIVE", resources: [{ type: "AWS_EC2_INSTANCE", id: "i-0other" }], firstObservedAt: 1_900_000_000 };
        await seedInspectorFindings(moto, [[theirs]]);
        const filtered = await inspector.send(
            new ListFindingsCommand({ filterCriteria: { resourceId: [{ comparison: "EQUALS", value: seeded.instanceId }] }, maxResults: 1 }),
        );
        expect(filtered.findings).toEqual([{ ...theirs, firstObservedAt: new Date(1_900_000_000_000) }]);
        expect(filtered.nextToken).toBeUndefined();
        // Another request takes the next queued page: the queue is empty now.
        expect((await inspector.send(new ListFindingsCommand({}))).findings).toEqual([]);

        expect((await inspector.send(new BatchGetAccountStatusCommand({ accountIds: [MOTO_ACCOUNT_ID] }))).accounts).toEqual([]);
        await inspector.send(new EnableCommand({ accountIds: [MOTO_ACCOUNT_ID], resourceTypes: ["EC2"] }));
        const status = await inspector.send(new BatchGetAccountStatusCommand({ accountIds: [MOTO_ACCOUNT_ID] }));
        expect(status.accounts?.[0]).toMatchObject({ accountId: MOTO_ACCOUNT_ID, state: { status: "ENABLED" }, resourceState: { ec2: { status: "ENABLED" } } });

        await expect(inspector.send(new ListCoverageCommand({}))).rejects.toMatchObject({ name: "SyntaxError", $metadata: { httpStatusCode: 404 } });
    });

    it("reset() clears every service's state and the recorded requests", async () => {
        await moto.reset();
        expect(await moto.requests()).toEqual([]);
        expect((await ec2.send(new DescribeInstancesCommand({}))).Reservations).toEqual([]);
        await expect(iam.send(new GetRoleCommand({ RoleName: seeded.roleName }))).rejects.toMatchObject({ name: "NoSuchEntityException" });
        expect((await moto.requests()).map((r) => r.action)).toEqual(["DescribeInstances", "GetRole"]);
    });
});

describe("moto's recording, as concurrent request threads write it", () => {
    // moto writes an entry, then its newline, as two writes; a second thread's entry can come
    // between them (seen in CI: a 29 KB entry followed on the same line by the next one).
    const a = { method: "POST", url: "http://127.0.0.1/", body: 'Action=PutRolePolicy&PolicyDocument={"a":"}{\\"x"}' };
    const b = { method: "GET", url: "http://127.0.0.1/?x=1", body: null };
    const c = { method: "PUT", url: "http://127.0.0.1/k", body: "e30=" };

    test("one entry per line reads as it always did", () => {
        expect(recordedObjects(`${JSON.stringify(a)}\n${JSON.stringify(b)}\n`)).toEqual([a, b]);
    });

    test("entries sharing a line are each read, in file order, braces and quotes inside strings included", () => {
        expect(recordedObjects(`${JSON.stringify(a)}${JSON.stringify(b)}\n\n${JSON.stringify(c)}\n`)).toEqual([a, b, c]);
    });

    test("an entry still being written at the end is left for the next read", () => {
        const whole = JSON.stringify(c);
        expect(recordedObjects(`${JSON.stringify(a)}\n${whole.slice(0, 20)}`)).toEqual([a]);
    });

    test("anything else in the file is an error, not a silently shorter recording", () => {
        expect(() => recordedObjects(`${JSON.stringify(a)}\nnot json\n`)).toThrow(/between entries/);
        expect(() => recordedObjects(`}\n`)).toThrow(/unmatched/);
        expect(() => recordedObjects(`{"a": tru}\n`)).toThrow();
    });
});

describe("moto harness lifecycle", () => {
    it("runs two servers side by side on different ports; stop() leaves no process and is idempotent", async () => {
        const [a, b] = await Promise.all([startMoto(), startMoto()]);
        try {
            expect(a.port).not.toBe(b.port);
            expect(alive(a.pid) && alive(b.pid)).toBe(true);
        } finally {
            await Promise.all([a.stop(), b.stop()]);
        }
        expect(alive(a.pid)).toBe(false);
        expect(alive(b.pid)).toBe(false);
        expect(await refused(a.endpoint)).toBe(true);
        await a.stop();
    });

    it("kills moto when the process that started it exits without stop()", async () => {
        const root = path.resolve(__dirname, "..");
        const script = "require('./test/support/moto').startMoto().then((m) => { console.log(m.pid + ' ' + m.endpoint); process.exit(0); })";
        const out = childProcess.execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], {
            cwd: root,
            encoding: "utf8",
            timeout: 30_000,
        });
        const [pid, endpoint] = out.trim().split(" ");
        expect(await eventually(() => !alive(Number(pid)))).toBe(true);
        expect(await refused(endpoint!)).toBe(true);
    });

    it("fails clearly, with moto's output, when moto_server cannot start", async () => {
        const failure = startMoto({ env: { PYTHONHOME: "no-such-python" } });
        await expect(failure).rejects.toThrow(/^moto: moto_server exited before answering \(code \d+, signal null\)\.\n--- moto output ---\n.*no-such-python/s);
    });
});
