/**
 * The cloudtrail-activity check (audit/checks/cloudtrailActivity.ts) against moto: a trail bucket
 * holding log files written in CloudTrail's format (test/support/cloudtrailLogs.ts), an Airlock
 * instance with a NAT gateway and a VPC endpoint in its VPC, and a real SQLite records database
 * (audit/records/db.ts). moto serves EC2 (instances, NAT gateways, VPC endpoints, tagged groups) and
 * S3 for real; CloudTrail itself is not involved (the log files are what a trail would write).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { AllocateAddressCommand, CreateNatGatewayCommand, CreateVpcEndpointCommand, EC2Client } from "@aws-sdk/client-ec2";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { cloudTrailActivityCheck } from "../audit/checks/cloudtrailActivity";
import type { CheckContext, ClientFactory, ClientSettings, VaultFacts } from "../audit/checks/context";
import type { Finding } from "../audit/findings";
import { Records, openRecords } from "../audit/records/db";
import type { Target } from "../audit/targets";
import { airlockInstance, apiCall, assumedRole, consoleLogin, putTrailLog, root, trailLogKey } from "./support/cloudtrailLogs";
import { MOTO_ACCOUNT_ID, MOTO_REGION, Moto, SeededInstance, awsClientConfig, seedAirlockInstance, startMoto } from "./support/moto";

const BUCKET = "acme-trail-logs";
const VAULT = "acme-airlock-vault";
const DEPLOYER = `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/deployer`;
const PULUMI_AGENT = "APN/1.0 HashiCorp/1.0 Terraform/1.0 (+https://www.terraform.io) terraform-provider-aws/dev (+https://registry.terraform.io/providers/hashicorp/aws) APN/1.0 Pulumi/1.0 Pulumi-Aws/7.48.0 (+https://pulumi.com) aws-sdk-go-v2/1.36.3";

describe("cloudtrail-activity check against moto and a SQLite records database", () => {
    let moto: Moto;
    let seeded: SeededInstance;
    let natIp: string;
    let endpointId: string;
    let dir: string;
    let records: Records;
    const made: { destroy(): void }[] = [];
    const now = new Date();
    const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000);

    function context(over: Partial<CheckContext> = {}, cloudTrail: Target["cloudTrail"] | null = { bucket: BUCKET, lookbackDays: 7, deployers: [DEPLOYER], healerRoleArns: [] }): CheckContext {
        const config = awsClientConfig(moto);
        const cache = new Map<string, unknown>();
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
        const vaults: VaultFacts = { vaultBucketNames: new Set([VAULT]), vaultKeys: new Set(), securityGroupIds: new Set([seeded.remediationSecurityGroupId, seeded.productionSecurityGroupId]) };
        const target = { name: "acme", format: "airlock", credentials: { kind: "profile", profile: "acme" }, regions: [MOTO_REGION], checks: ["cloudtrail-activity"], policies: [], configRules: [], ignoreUsers: [], stackOutputs: [], ...(cloudTrail === null ? {} : { cloudTrail }) } as Target;
        return { target, accountId: MOTO_ACCOUNT_ID, partition: "aws", regions: [MOTO_REGION], clients, fix: false, managedInstanceIds: new Set(), unusedDays: 45, now: () => now, vaults, records: records.db, ...over };
    }

    beforeAll(async () => {
        moto = await startMoto();
        seeded = await seedAirlockInstance(moto);
        const ec2 = new EC2Client(awsClientConfig(moto));
        const allocation = await ec2.send(new AllocateAddressCommand({ Domain: "vpc" }));
        natIp = allocation.PublicIp!;
        await ec2.send(new CreateNatGatewayCommand({ SubnetId: seeded.subnetId, AllocationId: allocation.AllocationId! }));
        endpointId = (await ec2.send(new CreateVpcEndpointCommand({ VpcId: seeded.vpcId, ServiceName: `com.amazonaws.${MOTO_REGION}.s3` }))).VpcEndpoint!.VpcEndpointId!;
        ec2.destroy();

        const s3 = new S3Client(awsClientConfig(moto));
        await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
        const instance = airlockInstance(MOTO_ACCOUNT_ID, seeded.instanceId, seeded.roleName);
        const key = (h: number) => trailLogKey({ accountId: MOTO_ACCOUNT_ID, region: MOTO_REGION, time: hoursAgo(h) });
        const s3Call = (sourceIp: string, h: number, extra: Record<string, unknown> = {}) =>
            apiCall({ identity: instance, eventName: "GetObject", eventSource: "s3.amazonaws.com", time: hoursAgo(h), region: MOTO_REGION, sourceIp, readOnly: true, ...extra });
        // The instance's own calls: through the account's endpoint from its private address, and out through its VPC's NAT gateway.
        await putTrailLog(s3, BUCKET, key(5), [s3Call(seeded.privateIp, 5, { vpcEndpointId: endpointId }), s3Call(natIp, 5)]);
        // Its credentials from somewhere else; root signing in without MFA.
        await putTrailLog(s3, BUCKET, key(4), [s3Call("203.0.113.9", 4), consoleLogin({ identity: root(MOTO_ACCOUNT_ID), time: hoursAgo(4), mfaUsed: false, sourceIp: "198.51.100.7" })]);
        // The vault's policy changed by a deployer through pulumi up (expected), then by someone else.
        const putPolicy = (identity: Record<string, unknown>, userAgent: string, h: number) =>
            apiCall({ identity, eventName: "PutBucketPolicy", eventSource: "s3.amazonaws.com", time: hoursAgo(h), region: MOTO_REGION, sourceIp: "198.51.100.20", userAgent, requestParameters: { bucketName: VAULT, policy: "{}" } });
        await putTrailLog(s3, BUCKET, key(3), [
            putPolicy(assumedRole({ accountId: MOTO_ACCOUNT_ID, roleName: "deployer", sessionName: "pulumi" }), PULUMI_AGENT, 3),
            putPolicy(assumedRole({ accountId: MOTO_ACCOUNT_ID, roleName: "ops", sessionName: "alice" }), "aws-cli/2.27.49", 3),
        ]);
        // Outside the lookback window: never read (its day folder is older than the window's first day).
        await putTrailLog(s3, BUCKET, key(24 * 10), [s3Call("192.0.2.66", 24 * 10)]);
        s3.destroy();

        dir = fs.mkdtempSync(path.join(os.tmpdir(), "airlock-activity-"));
        records = await openRecords({ kind: "sqlite", file: path.join(dir, "records.sqlite") });
    }, 120_000);

    afterAll(async () => {
        made.forEach((c) => c.destroy());
        await records?.close();
        await moto?.stop();
        if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    });

    const brief = (findings: Finding[]) => findings.map((f) => [f.status, f.severity, f.title]).sort((a, b) => String(a[2]).localeCompare(String(b[2])));

    test("exact findings: the credentials used from elsewhere, root's sign-in without MFA, the vault's policy changed outside pulumi up; nothing from the benign look-alikes", async () => {
        const findings = await cloudTrailActivityCheck(context());
        expect(findings.every((f) => f.check === "cloudtrail-activity" && f.target === "acme" && f.accountId === MOTO_ACCOUNT_ID && f.region === "global")).toBe(true);
        expect(brief(findings)).toEqual([
            ["fail", "critical", `Credentials of instance ${seeded.instanceId} used from 203.0.113.9, not one of its addresses`],
            ["fail", "critical", "Root signed in to the console"],
            ["fail", "high", "Root signed in to the console without MFA"],
            ["fail", "high", `Vault bucket ${VAULT} changed outside a pulumi up by arn:aws:iam::${MOTO_ACCOUNT_ID}:role/ops`],
        ]);
        // The instance's credentials: the foreign call only; its own calls (through the account's
        // endpoint from its private address, out through its VPC's NAT gateway) are not in it.
        const exfiltration = findings.find((f) => f.title.includes(seeded.instanceId));
        expect(exfiltration?.resource).toBe(seeded.roleArn);
        expect(exfiltration?.evidence).toMatchObject({ instanceId: seeded.instanceId, sourceIp: "203.0.113.9", eventCount: 1, instanceAddresses: [seeded.privateIp, natIp].sort() });
        expect((exfiltration?.evidence["events"] as { sourceIp: string }[]).map((e) => e.sourceIp)).toEqual(["203.0.113.9"]);
        // The vault: alice's change, not the deployer's pulumi up.
        expect(findings.find((f) => f.resource === VAULT)?.evidence).toMatchObject({ changedBy: `arn:aws:iam::${MOTO_ACCOUNT_ID}:role/ops`, eventNames: ["PutBucketPolicy"], eventCount: 1, isDeployer: false });
        // Nothing from the file outside the lookback window.
        expect(JSON.stringify(findings)).not.toContain("192.0.2.66");
    });

    test("a second audit reads no log file again and finds the same (no duplicate events)", async () => {
        const first = await cloudTrailActivityCheck(context());
        const events = await records.db.selectFrom("cloudtrail_events").select(({ fn }) => fn.countAll<number>().as("n")).executeTakeFirstOrThrow();
        const files = await records.db.selectFrom("cloudtrail_files").selectAll().execute();
        expect(Number(events.n)).toBe(6); // three files of two; the ten-day-old file is outside the window
        expect(files.map((f) => f.object_key).every((k) => k.includes(`/CloudTrail/${MOTO_REGION}/`))).toBe(true);
        expect(files).toHaveLength(3);
        const again = await cloudTrailActivityCheck(context());
        expect(brief(again)).toEqual(brief(first));
        expect(Number((await records.db.selectFrom("cloudtrail_events").select(({ fn }) => fn.countAll<number>().as("n")).executeTakeFirstOrThrow()).n)).toBe(6);
    });

    test("a log file that cannot be read is an error finding naming it, and is tried again next time", async () => {
        const s3 = new S3Client(awsClientConfig(moto));
        const bad = trailLogKey({ accountId: MOTO_ACCOUNT_ID, region: MOTO_REGION, time: hoursAgo(1) });
        await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: bad, Body: "not gzip" }));
        s3.destroy();
        const findings = await cloudTrailActivityCheck(context());
        const errors = findings.filter((f) => f.status === "error");
        expect(errors.map((f) => [f.severity, f.title, f.resource])).toEqual([["high", `CloudTrail log file ${bad} could not be read: its events were not checked`, `arn:aws:s3:::${BUCKET}/${bad}`]]);
        expect(findings.some((f) => f.status === "pass")).toBe(false);
        expect((await cloudTrailActivityCheck(context())).filter((f) => f.status === "error")).toHaveLength(1);
    });

    test("without the records database, or without a cloudTrail, the check cannot run (the runner makes that an error finding)", async () => {
        await expect(cloudTrailActivityCheck(context({ records: undefined }))).rejects.toThrow(/--no-db/);
        await expect(cloudTrailActivityCheck(context({}, null))).rejects.toThrow(/no cloudTrail/);
    });
});
