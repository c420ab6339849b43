/**
 * Each component on its own under the mock engine: the security properties they promise, asserted
 * as requirements on the exact resources and properties they declare.
 */
import { ACCOUNT_ID, MockEngine, inspect, installMocks, valueOf } from "./support/mocks";
import { waitForRegistrations } from "./support/program";
import { specialSecretSig, specialSigKey } from "@pulumi/pulumi/runtime/rpc";

import type * as pulumi from "@pulumi/pulumi";
import type { NetworkRule } from "../config/schema";

const engine: MockEngine = installMocks();
// Code under test is imported only after the mocks are in place.
/* eslint-disable @typescript-eslint/no-require-imports */
const pulumiSdk = require("@pulumi/pulumi") as typeof pulumi;
const { SecurityZones, rulePeers, ruleSlug } = require("../components/securityZones") as typeof import("../components/securityZones");
const { KeyVault, checkedPrincipals } = require("../components/keyVault") as typeof import("../components/keyVault");
const { SecureInstance, architectureOf, amiParameterName } = require("../components/secureInstance") as typeof import("../components/secureInstance");
/* eslint-enable @typescript-eslint/no-require-imports */

const SG_TYPE = "aws:ec2/securityGroup:SecurityGroup";
const INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule";
const EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule";

const https: NetworkRule = { description: "HTTPS", protocol: "tcp", fromPort: 443, toPort: 443, cidrs: ["0.0.0.0/0"], ipv6Cidrs: [] };
const web: NetworkRule = { description: "Web from LB", protocol: "tcp", fromPort: 443, toPort: 443, cidrs: ["10.20.0.0/24", "10.20.1.0/24"], ipv6Cidrs: [] };
const metrics: NetworkRule = { description: "Metrics", protocol: "tcp", fromPort: 9100, toPort: 9101, cidrs: [], ipv6Cidrs: [], securityGroupId: "sg-0a1b2c3d4e5f60719" };

beforeEach(() => engine.reset());

async function declare<T>(build: () => T): Promise<T> {
    const result = build();
    await waitForRegistrations();
    return result;
}

/** Rules attached to a group, by the group's resolved id. */
async function rulesOf(type: string, groupId: pulumi.Output<string>) {
    const id = await valueOf(groupId);
    return engine.ofType(type).filter((r) => r.inputs.securityGroupId === id);
}

describe("SecurityZones", () => {
    const build = (args: Partial<import("../components/securityZones").SecurityZonesArgs> = {}) =>
        declare(
            () =>
                new SecurityZones("zones", {
                    vpcId: "vpc-0a1b2c3d4e5f60718",
                    scannerSourceCidrs: ["10.30.5.10/32", "2001:db8::10/128"],
                    remediationEgress: [https],
                    productionIngress: [web, metrics],
                    productionEgress: [https],
                    ...args,
                }),
        );

    it("remediation group admits no application port: only the scanner, by CIDR or group", async () => {
        const zones = await build({ scannerSecurityGroupId: "sg-0fedcba9876543210" });
        const ingress = await rulesOf(INGRESS, zones.remediationSecurityGroupId);
        expect(ingress.map((r) => [r.inputs.cidrIpv4 ?? r.inputs.cidrIpv6 ?? r.inputs.referencedSecurityGroupId, r.inputs.ipProtocol]).sort()).toEqual(
            [
                ["10.30.5.10/32", "-1"],
                ["2001:db8::10/128", "-1"],
                ["sg-0fedcba9876543210", "-1"],
            ].sort(),
        );
        for (const rule of ingress) {
            expect(rule.inputs.cidrIpv4).not.toBe("0.0.0.0/0");
            expect(rule.inputs.cidrIpv6).not.toBe("::/0");
        }
    });

    it("remediation group admits nothing at all when no scanner source is configured", async () => {
        const zones = await build({ scannerSourceCidrs: [] });
        expect(await rulesOf(INGRESS, zones.remediationSecurityGroupId)).toEqual([]);
    });

    it("remediation egress is exactly what updates need (as declared)", async () => {
        const zones = await build();
        const egress = await rulesOf(EGRESS, zones.remediationSecurityGroupId);
        expect(egress.map((r) => ({ p: r.inputs.ipProtocol, from: r.inputs.fromPort, to: r.inputs.toPort, cidr: r.inputs.cidrIpv4 }))).toEqual([
            { p: "tcp", from: 443, to: 443, cidr: "0.0.0.0/0" },
        ]);
    });

    it("production group admits exactly the declared ingress rules, one AWS rule per source", async () => {
        const zones = await build();
        const ingress = await rulesOf(INGRESS, zones.productionSecurityGroupId);
        expect(
            ingress
                .map((r) => `${r.inputs.ipProtocol} ${r.inputs.fromPort}-${r.inputs.toPort} ${r.inputs.cidrIpv4 ?? r.inputs.referencedSecurityGroupId} "${r.inputs.description}"`)
                .sort(),
        ).toEqual([
            'tcp 443-443 10.20.0.0/24 "Web from LB"',
            'tcp 443-443 10.20.1.0/24 "Web from LB"',
            'tcp 9100-9101 sg-0a1b2c3d4e5f60719 "Metrics"',
        ]);
    });

    it("groups carry no inline rules and are in the given VPC", async () => {
        await build();
        const groups = engine.ofType(SG_TYPE);
        expect(groups).toHaveLength(2);
        for (const group of groups) {
            expect(group.inputs.ingress).toBeUndefined();
            expect(group.inputs.egress).toBeUndefined();
            expect(group.inputs.vpcId).toBe("vpc-0a1b2c3d4e5f60718");
            expect(group.inputs.revokeRulesOnDelete).toBe(true);
        }
    });

    it("names rules by content, so reordering config does not replace them", async () => {
        await build({ productionIngress: [web, metrics] });
        const first = engine.ofType(INGRESS).map((r) => r.name).sort();
        engine.reset();
        await build({ productionIngress: [metrics, web] });
        expect(engine.ofType(INGRESS).map((r) => r.name).sort()).toEqual(first);
    });

    it("refuses a rule declared twice", () => {
        expect(() => new SecurityZones("dup", { vpcId: "vpc-0a1b2c3d4e5f60718", productionIngress: [web, web] })).toThrow(
            "SecurityZones: the rule dup-production-in-tcp-443-10.20.0.0-24 is declared twice. Remove the duplicate.",
        );
    });

    it("refuses a malformed scanner CIDR, naming it", () => {
        expect(() => new SecurityZones("bad", { vpcId: "vpc-0a1b2c3d4e5f60718", scannerSourceCidrs: ["10.0.0.1"] })).toThrow(
            'SecurityZones bad: `scannerSourceCidrs[0]` "10.0.0.1": CIDR mask is missing.',
        );
    });

    it.each([
        [{ ...web, cidrs: ["10.0.0.0/8"] }, [{ cidrIpv4: "10.0.0.0/8" }], "tcp-443-10.0.0.0-8"],
        [{ ...web, cidrs: [], ipv6Cidrs: ["2001:db8::/32"] }, [{ cidrIpv6: "2001:db8::/32" }], "tcp-443-2001-db8---32"],
        [{ ...metrics }, [{ referencedSecurityGroupId: "sg-0a1b2c3d4e5f60719" }], "tcp-9100-9101-sg-0a1b2c3d4e5f60719"],
        [{ ...https, protocol: "all" as const, fromPort: -1, toPort: -1, cidrs: [], prefixListId: "pl-0123456789abcdef0" }, [{ prefixListId: "pl-0123456789abcdef0" }], "all-pl-0123456789abcdef0"],
    ])("rulePeers/ruleSlug of %j", (rule, peers, slug) => {
        expect(rulePeers(rule)).toEqual(peers);
        expect(ruleSlug(rule, peers[0]!)).toBe(slug);
    });
});

describe("KeyVault", () => {
    const build = () => declare(() => new KeyVault("vault", { region: "eu-west-1", keyDeletionWindowDays: 14, tags: { team: "platform" } }));

    it("uses a customer-managed KMS key with rotation and the requested deletion window", async () => {
        await build();
        const [key] = engine.ofType("aws:kms/key:Key");
        expect(key?.inputs).toEqual(expect.objectContaining({ enableKeyRotation: true, deletionWindowInDays: 14 }));
        const policy = JSON.parse(key?.inputs.policy);
        const bucketName = engine.ofType("aws:s3/bucket:Bucket")[0]?.state.bucket;
        expect(policy.Statement.map((s: { Sid: string }) => s.Sid)).toEqual([
            "AccountAdministersKeyThroughIam",
            "DenyKeyAdministrationToAllButDeployers",
            "DenyOwnGrantsToAllButDeployers",
            "DenyVaultObjectKeysOutsideS3",
            "DenyVaultObjectKeysToAllButInstancesAndBreakGlass",
        ]);
        expect(policy.Statement[0]).toEqual(expect.objectContaining({ Effect: "Allow", Principal: { AWS: `arn:aws:iam::${ACCOUNT_ID}:root` }, Action: "kms:*" }));
        // Administered by the deployer (the identity pulumi runs as) and the account root only.
        expect(policy.Statement[1].Condition).toEqual({ ArnNotLike: { "aws:PrincipalArn": [`arn:aws:iam::${ACCOUNT_ID}:user/deployer`, `arn:aws:iam::${ACCOUNT_ID}:root`] } });
        // This vault's bucket, through S3 in this region only.
        expect(policy.Statement[3].Condition).toEqual({
            StringLike: { "kms:EncryptionContext:aws:s3:arn": [`arn:aws:s3:::${bucketName}`, `arn:aws:s3:::${bucketName}/*`] },
            StringNotEquals: { "kms:ViaService": "s3.eu-west-1.amazonaws.com" },
        });
    });

    it("names the identity pulumi runs as the vault's deployer, and a configured break-glass role as its one extra reader", async () => {
        await declare(() => new KeyVault("vault", { region: "eu-west-1", breakGlassRoleArn: `arn:aws:iam::${ACCOUNT_ID}:role/forensics` }));
        const bucketPolicy = JSON.parse(engine.ofType("aws:s3/bucketPolicy:BucketPolicy")[0]?.inputs.policy);
        const changes = bucketPolicy.Statement.find((s: { Sid: string }) => s.Sid === "DenyChangesToAllButDeployers");
        expect(changes.Condition.ArnNotLike).toEqual({ "aws:PrincipalArn": [`arn:aws:iam::${ACCOUNT_ID}:user/deployer`] });
        const reads = bucketPolicy.Statement.find((s: { Sid: string }) => s.Sid === "DenyReadingToAllButInstancesAndBreakGlass");
        expect(reads.Condition.ArnNotLike).toEqual({ "aws:PrincipalArn": [`arn:aws:iam::${ACCOUNT_ID}:role/forensics`, `arn:aws:iam::${ACCOUNT_ID}:role/*/forensics`] });
        const keyPolicy = JSON.parse(engine.ofType("aws:kms/key:Key")[0]?.inputs.policy);
        expect(keyPolicy.Statement[4].Condition.ArnNotLike).toEqual({
            "aws:PrincipalArn": [`arn:aws:iam::${ACCOUNT_ID}:role/airlock/*`, `arn:aws:iam::${ACCOUNT_ID}:role/forensics`, `arn:aws:iam::${ACCOUNT_ID}:role/*/forensics`],
        });
    });

    it("refuses `pulumi up` by an identity the configured deployers leave out (it would lock itself out of the vault); a preview only warns", () => {
        const caller = `arn:aws:sts::${ACCOUNT_ID}:assumed-role/pr-preview/run`;
        const args = { deployers: [`arn:aws:iam::${ACCOUNT_ID}:role/ci-runner`] };
        expect(() => checkedPrincipals("vault", caller, args, false)).toThrow(
            `KeyVault vault: pulumi runs as ${caller}, which is not in \`airlock:deployers\`; the vault's policy would deny it every change to the vault`,
        );
        expect(checkedPrincipals("vault", caller, args, true).callerIsDeployer).toBe(false);
        expect(checkedPrincipals("vault", `arn:aws:sts::${ACCOUNT_ID}:assumed-role/ci-runner/i-0cccccccccccccccc`, args, false).callerIsDeployer).toBe(true);
    });

    it("refuses a break-glass role of another account, at preview too", () => {
        expect(() => checkedPrincipals("vault", `arn:aws:iam::${ACCOUNT_ID}:user/deployer`, { breakGlassRoleArn: "arn:aws:iam::444455556666:role/forensics" }, true)).toThrow(
            "`airlock:breakGlassRoleArn` names arn:aws:iam::444455556666:role/forensics, of account 444455556666",
        );
    });

    it("encrypts the bucket with SSE-KMS under the vault key, with S3 Bucket Keys off", async () => {
        const vault = await build();
        const [sse] = engine.ofType("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration");
        expect(sse?.inputs.rules).toEqual([
            { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: await valueOf(vault.kmsKeyArn) }, bucketKeyEnabled: false },
        ]);
    });

    it("blocks all public access and disables ACLs", async () => {
        await build();
        expect(engine.ofType("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")[0]?.inputs).toEqual(
            expect.objectContaining({ blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true }),
        );
        expect(engine.ofType("aws:s3/bucketOwnershipControls:BucketOwnershipControls")[0]?.inputs.rule).toEqual({ objectOwnership: "BucketOwnerEnforced" });
    });

    it("never enables versioning, so deleting a key object destroys it", async () => {
        await build();
        expect(engine.resources.filter((r) => /versioning|objectLock|replication/i.test(r.type))).toEqual([]);
        const bucket = engine.ofType("aws:s3/bucket:Bucket")[0];
        expect(bucket?.inputs.forceDestroy).toBe(false);
        expect(bucket?.inputs.objectLockEnabled).toBeUndefined();
        const policy = JSON.parse(engine.ofType("aws:s3/bucketPolicy:BucketPolicy")[0]?.inputs.policy);
        expect(policy.Statement).toContainEqual(expect.objectContaining({ Sid: "DenyVersioning", Effect: "Deny", Action: "s3:PutBucketVersioning" }));
    });

    it("attaches the bucket policy built for this bucket and key", async () => {
        const vault = await build();
        const bucketName = await valueOf(vault.bucketName);
        const policyText = engine.ofType("aws:s3/bucketPolicy:BucketPolicy")[0]?.inputs.policy as string;
        expect(policyText).toBe(await valueOf(vault.bucketPolicyJson));
        expect(policyText).toContain(`arn:aws:s3:::${bucketName}/keys/\${ec2:SourceInstanceARN}`);
        expect(policyText).toContain(await valueOf(vault.kmsKeyArn));
        expect(policyText).not.toMatch(/"Effect":"Allow"/);
    });

    it("tags what it creates as Airlock's", async () => {
        await build();
        for (const type of ["aws:kms/key:Key", "aws:s3/bucket:Bucket"]) {
            expect(engine.ofType(type)[0]?.inputs.tags).toEqual({ team: "platform", "airlock:managed": "true" });
        }
    });

    it.each([6, 31, 7.5])("refuses a deletion window of %d days", (days) => {
        expect(() => new KeyVault("bad", { region: "eu-west-1", keyDeletionWindowDays: days })).toThrow("`keyDeletionWindowDays` must be a whole number from 7 to 30");
    });
});

describe("SecureInstance", () => {
    type Captured = { type: string; name: string; opts: pulumi.CustomResourceOptions };
    const VAULT = { bucketName: "airlock-keys-abc1234", kmsKeyArn: `arn:aws:kms:eu-west-1:${ACCOUNT_ID}:key/0b7f8a62-1b2c-4d5e-8f90-123456789abc` };
    const ZONES = { remediationSecurityGroupId: "sg-0aaaaaaaaaaaaaaaa", productionSecurityGroupId: "sg-0bbbbbbbbbbbbbbbb" };

    async function build(args: Partial<import("../components/secureInstance").SecureInstanceArgs> = {}, name = "web-1") {
        const captured: Captured[] = [];
        const instance = await declare(
            () =>
                new SecureInstance(
                    name,
                    {
                        region: "eu-west-1",
                        instanceType: "t3.small",
                        subnetId: "subnet-0a1b2c3d4e5f60711",
                        vault: VAULT,
                        zones: ZONES,
                        scan: { kind: "tenable", url: "https://nessus.example:8834", accessKey: pulumiSdk.secret("ak"), secretKey: pulumiSdk.secret("sk"), templateUuid: "uuid" },
                        ...args,
                    },
                    {
                        transformations: [
                            (a) => {
                                captured.push({ type: a.type, name: a.name, opts: a.opts });
                                return undefined;
                            },
                        ],
                    },
                ),
        );
        const optsOf = (type: string) => captured.find((c) => c.type === type)?.opts;
        return { instance, optsOf };
    }
    const ec2 = () => engine.ofType("aws:ec2/instance:Instance")[0]!;

    it("instance requires IMDSv2 with a hop limit of 1", async () => {
        await build();
        // Instance tags in IMDS: the first boot reads its data volume's id there.
        expect(ec2().inputs.metadataOptions).toEqual({ httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1, instanceMetadataTags: "enabled" });
    });

    it("gets no public IP by default", async () => {
        const { instance } = await build();
        expect(ec2().inputs.associatePublicIpAddress).toBe(false);
        expect(ec2().state.publicIp).toBe("");
        expect(await valueOf(instance.privateIp)).toMatch(/^10\./);
    });

    it("launches into the remediation group only", async () => {
        await build();
        expect(ec2().inputs.vpcSecurityGroupIds).toEqual([ZONES.remediationSecurityGroupId]);
        expect(ec2().inputs.securityGroups).toBeUndefined();
    });

    it("leaves the security groups and bootstrap tags to their owners (promotion, bootstrap)", async () => {
        const { optsOf } = await build();
        expect(optsOf("aws:ec2/instance:Instance")?.ignoreChanges).toEqual(
            expect.arrayContaining(["vpcSecurityGroupIds", "securityGroups", 'tags["airlock:bootstrap"]', 'tags["airlock:bootstrap-reason"]', 'tags["airlock:data-volume"]']),
        );
    });

    it("has an encrypted gp3 root volume under the vault key", async () => {
        await build();
        expect(ec2().inputs.rootBlockDevice).toEqual(expect.objectContaining({ encrypted: true, kmsKeyId: VAULT.kmsKeyArn, volumeType: "gp3", deleteOnTermination: true }));
    });

    it("data volume is encrypted with the vault key, gp3, sized as asked, in the subnet's zone, attached to the instance", async () => {
        const { instance } = await build({ dataVolumeGiB: 123 });
        const [volume] = engine.ofType("aws:ebs/volume:Volume");
        expect(volume?.inputs).toEqual(expect.objectContaining({ encrypted: true, kmsKeyId: VAULT.kmsKeyArn, type: "gp3", size: 123, availabilityZone: "eu-west-1b" }));
        const [attachment] = engine.ofType("aws:ec2/volumeAttachment:VolumeAttachment");
        expect(attachment?.inputs).toEqual(expect.objectContaining({ volumeId: volume?.id, instanceId: await valueOf(instance.instanceId), stopInstanceBeforeDetaching: true }));
        expect(await valueOf(instance.dataVolumeId)).toBe(volume?.id);
    });

    it("the data volume is made after the instance and replaced with it; the instance learns its id from its airlock:data-volume tag", async () => {
        const { optsOf } = await build();
        const [volume] = engine.ofType("aws:ebs/volume:Volume");
        // A replaced instance generates a new key: its old volume could never be opened again.
        const replaceWith = optsOf("aws:ebs/volume:Volume")?.replaceWith as pulumi.Resource[];
        expect(await Promise.all(replaceWith.map((r) => valueOf((r as unknown as { urn: pulumi.Output<string> }).urn)))).toEqual([expect.stringMatching(/aws:ec2\/instance:Instance::web-1$/)]);
        const [tag] = engine.ofType("aws:ec2/tag:Tag");
        expect(tag?.inputs).toEqual({ resourceId: ec2().id, key: "airlock:data-volume", value: volume?.id });
        // Not in the user data: the volume does not exist when the instance is launched.
        expect(ec2().inputs.userData).not.toContain(String(volume?.id));
    });

    it("holds no key material: the instance writes its own key; an InstanceKey resource owns keys/<instance ARN> by name", async () => {
        const { instance } = await build();
        expect(engine.resources.filter((r) => /random|bucketObject/i.test(r.type))).toEqual([]);
        const [custody] = engine.ofType("pulumi-nodejs:dynamic/airlock:InstanceKey");
        const arn = ec2().state.arn;
        expect(custody?.inputs).toEqual(expect.objectContaining({ instanceName: "web-1", bucketName: VAULT.bucketName, instanceArn: arn, keyObjectKey: `keys/${arn}` }));
        expect(await valueOf(instance.keyObjectKey)).toBe(`keys/${arn}`);
    });

    it("has its own role, trusted by EC2 only, under the /airlock/ path, with no inline policy of its own", async () => {
        const { instance } = await build({ managedPolicyArns: ["arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"] });
        const [role] = engine.ofType("aws:iam/role:Role");
        expect(role?.inputs.path).toBe("/airlock/");
        expect(role?.inputs.inlinePolicies).toBeUndefined();
        expect(JSON.parse(role?.inputs.assumeRolePolicy)).toEqual({
            Version: "2012-10-17",
            Statement: [{ Sid: "Ec2AssumesInstanceRole", Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
        });
        expect(engine.ofType("aws:iam/instanceProfile:InstanceProfile")[0]?.inputs.role).toBe(role?.state.name);
        expect(await valueOf(instance.roleArn)).toBe(role?.state.arn);
    });

    it("launch rights are launch rights: the application's managed policies are not attached at launch but handed to the promotion", async () => {
        await build({ managedPolicyArns: ["arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"] });
        expect(engine.ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment")).toEqual([]);
        expect(engine.ofType("pulumi-nodejs:dynamic/airlock:ScanAndPromote")[0]?.inputs.managedPolicyArns).toEqual(["arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"]);
    });

    it("with no managed policies the promotion gets an empty list", async () => {
        await build();
        expect(engine.ofType("pulumi-nodejs:dynamic/airlock:ScanAndPromote")[0]?.inputs.managedPolicyArns).toEqual([]);
    });

    it("with the inspector scanner, the role gets the SSM agent's AmazonSSMManagedInstanceCore at launch (the scan needs it in quarantine), and only that", async () => {
        await build({ scan: { kind: "inspector" }, managedPolicyArns: ["arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"] });
        const [role] = engine.ofType("aws:iam/role:Role");
        const attachments = engine.ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment");
        expect(attachments.map((a) => [a.name, a.inputs.role, a.inputs.policyArn])).toEqual([["web-1-scanner-ssm", role?.state.name, "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]]);
    });

    it("declares the promotion with both phase policies, both zones and secret scanner credentials", async () => {
        const { instance, optsOf } = await build({ scan: { kind: "tenable", url: "https://n:8834", accessKey: pulumiSdk.secret("ak"), secretKey: pulumiSdk.secret("sk"), templateUuid: "u", severityThreshold: "high" } });
        const [promotion] = engine.ofType("pulumi-nodejs:dynamic/airlock:ScanAndPromote");
        const inputs = promotion!.inputs;
        expect(inputs).toEqual(
            expect.objectContaining({
                instanceName: "web-1",
                region: "eu-west-1",
                instanceId: ec2().id,
                phasePolicyName: "airlock-phase",
                remediationSecurityGroupIds: [ZONES.remediationSecurityGroupId],
                productionSecurityGroupIds: [ZONES.productionSecurityGroupId],
                severityThreshold: "high",
                readinessTimeoutSeconds: 1200,
                scanTimeoutSeconds: 3600,
            }),
        );
        const launch = JSON.parse(inputs.launchPolicy);
        const production = JSON.parse(inputs.productionPolicy);
        expect(launch.Statement.map((s: { Sid: string }) => s.Sid)).toEqual([
            ...production.Statement.map((s: { Sid: string }) => s.Sid),
            "WriteOwnKeyObjectOnce",
            "TagOwnKeyObjectWithItsInstance",
            "EncryptOwnKeyThroughS3",
            "SignalBootstrapOnOwnInstance",
        ]);
        // It waits for the instance, its data volume (attached, and named in the instance's tag) and its key custody.
        const dependsOn = optsOf("pulumi-nodejs:dynamic/airlock:ScanAndPromote")?.dependsOn as pulumi.Resource[];
        const dependencyTypes = await Promise.all(dependsOn.map((r) => valueOf((r as unknown as { urn: pulumi.Output<string> }).urn)));
        expect(dependencyTypes.map((urn) => urn.split("::")[2]).sort()).toEqual([
            "airlock:compute:SecureInstance$aws:ec2/instance:Instance",
            "airlock:compute:SecureInstance$aws:ec2/tag:Tag",
            "airlock:compute:SecureInstance$aws:ec2/volumeAttachment:VolumeAttachment",
            "airlock:compute:SecureInstance$pulumi-nodejs:dynamic/airlock:InstanceKey",
        ]);
        expect(await valueOf(instance.phase)).toBe("remediation");
    });

    it("passes scanner credentials to the promotion as secrets", async () => {
        await build();
        const promotion = engine.ofType("pulumi-nodejs:dynamic/airlock:ScanAndPromote")[0]!;
        // What the engine receives: the scanner settings travel wrapped as a secret.
        expect(promotion.inputs.scanner[specialSigKey]).toBe(specialSecretSig);
        expect(promotion.inputs.scanner.value).toEqual(expect.objectContaining({ kind: "tenable", accessKey: "ak", secretKey: "sk" }));
    });

    it("renders first-boot user data with the vault, its KMS key, the data volume's tag and the mount point", async () => {
        await build({ mountPoint: "/srv/data" });
        const userData = ec2().inputs.userData as string;
        expect(userData.startsWith("#cloud-config\n")).toBe(true);
        expect(userData).toContain(`AIRLOCK_KEY_BUCKET='${VAULT.bucketName}'`);
        expect(userData).toContain(`AIRLOCK_KMS_KEY_ARN='${VAULT.kmsKeyArn}'`);
        // The key object is named by the instance from its own metadata, never by Pulumi.
        expect(userData).not.toContain("AIRLOCK_KEY_OBJECT");
        expect(userData).toContain("AIRLOCK_DATA_VOLUME_TAG='airlock:data-volume'");
        expect(userData).toContain("AIRLOCK_MOUNT_POINT='/srv/data'");
    });

    it("looks up the latest AMI for its OS and architecture unless one is pinned", async () => {
        await build({ instanceType: "m7g.large", os: "al2023" });
        expect(engine.calls.filter((c) => c.token === "aws:ssm/getParameter:getParameter").map((c) => c.inputs.name)).toEqual([
            "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
        ]);
        expect(ec2().inputs.ami).toMatch(/^ami-/);
        engine.reset();
        const { optsOf } = await build({ ami: "ami-0123456789abcdef0" }, "pinned-1");
        expect(engine.calls.filter((c) => c.token === "aws:ssm/getParameter:getParameter")).toEqual([]);
        expect(ec2().inputs.ami).toBe("ami-0123456789abcdef0");
        expect(optsOf("aws:ec2/instance:Instance")?.ignoreChanges).not.toContain("ami");
    });

    it("looks the partition up itself only when the vault does not provide it", async () => {
        await build();
        expect(engine.calls.filter((c) => c.token === "aws:index/getPartition:getPartition")).toHaveLength(1);
        engine.reset();
        await build({ vault: { ...VAULT, partition: { partition: "aws", dnsSuffix: "amazonaws.com" } } }, "web-2");
        expect(engine.calls.filter((c) => c.token === "aws:index/getPartition:getPartition")).toEqual([]);
        expect(JSON.parse(engine.ofType("aws:iam/role:Role")[0]?.inputs.assumeRolePolicy).Statement[0].Principal).toEqual({ Service: "ec2.amazonaws.com" });
    });

    it("does not replace a running instance when a newer looked-up AMI appears", async () => {
        const { optsOf } = await build();
        expect(optsOf("aws:ec2/instance:Instance")?.ignoreChanges).toContain("ami");
    });

    it("tags every resource as Airlock-managed with the instance name", async () => {
        await build({ tags: { team: "platform" } });
        for (const type of ["aws:ec2/instance:Instance", "aws:ebs/volume:Volume", "aws:iam/role:Role"]) {
            expect(engine.ofType(type)[0]?.inputs.tags).toEqual(expect.objectContaining({ team: "platform", "airlock:managed": "true", "airlock:instance": "web-1" }));
        }
    });

    it.each([
        ["Web_1", "the name is used in AWS names and keys"],
        ["-web", "the name is used in AWS names and keys"],
    ])("refuses the name %j", (name, message) => {
        expect(
            () => new SecureInstance(name, { region: "eu-west-1", instanceType: "t3.small", subnetId: "subnet-0a1b2c3d4e5f60711", vault: VAULT, zones: ZONES, scan: { kind: "none" } }),
        ).toThrow(message);
    });

    it.each([0, 16385, 1.5])("refuses a data volume of %d GiB", (size) => {
        expect(
            () => new SecureInstance("web-9", { region: "eu-west-1", instanceType: "t3.small", subnetId: "subnet-0a1b2c3d4e5f60711", vault: VAULT, zones: ZONES, scan: { kind: "none" }, dataVolumeGiB: size }),
        ).toThrow("`dataVolumeGiB` must be a whole number from 1 to 16384");
    });

    it("marks the instance's outputs known after up", async () => {
        const { instance } = await build();
        const id = await inspect(instance.instanceId);
        expect(id).toEqual({ value: ec2().id, isKnown: true, isSecret: false });
    });
});

describe("architecture and AMI lookup", () => {
    it.each([
        ["t3.small", "x86_64"],
        ["m7i-flex.large", "x86_64"],
        ["c6i.xlarge", "x86_64"],
        ["m7g.large", "arm64"],
        ["t4g.nano", "arm64"],
        ["c6gn.16xlarge", "arm64"],
        ["x2gd.medium", "arm64"],
        ["a1.large", "arm64"],
        ["g5g.xlarge", "arm64"],
    ])("%s runs %s", (type, arch) => {
        expect(architectureOf(type)).toBe(arch);
    });

    it.each([
        ["al2023", "x86_64", "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"],
        ["debian12", "arm64", "/aws/service/debian/release/12/latest/arm64"],
        ["ubuntu2204", "x86_64", "/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id"],
        ["ubuntu2404", "arm64", "/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id"],
    ] as const)("%s on %s is looked up at %s", (os, arch, name) => {
        expect(amiParameterName(os, arch)).toBe(name);
    });
});

describe("Lookups shared by SecureInstances", () => {
    const { Lookups } = require("../components/lookups") as typeof import("../components/lookups"); // eslint-disable-line @typescript-eslint/no-require-imports
    const VAULT = { bucketName: "airlock-keys-abc1234", kmsKeyArn: `arn:aws:kms:eu-west-1:${ACCOUNT_ID}:key/0b7f8a62-1b2c-4d5e-8f90-123456789abc` };
    const ZONES = { remediationSecurityGroupId: "sg-0aaaaaaaaaaaaaaaa", productionSecurityGroupId: "sg-0bbbbbbbbbbbbbbbb" };
    const SUBNET_B = "subnet-0a1b2c3d4e5f60711"; // eu-west-1b in the mock engine
    const SUBNET_C = "subnet-0a1b2c3d4e5f60712"; // eu-west-1c
    type Spec = { name: string; subnetId?: string; instanceType?: string; os?: "al2023" | "debian12" };

    /** Declares the instances with one shared memo (or none) and counts the invokes per token. */
    async function invokesFor(specs: Spec[], options: { shared?: boolean; opts?: (spec: Spec) => pulumi.ComponentResourceOptions; vaultPartition?: boolean } = {}) {
        const lookups = options.shared === false ? undefined : new Lookups();
        await declare(() =>
            specs.map(
                (spec) =>
                    new SecureInstance(
                        spec.name,
                        {
                            region: "eu-west-1",
                            instanceType: spec.instanceType ?? "t3.small",
                            subnetId: spec.subnetId ?? SUBNET_B,
                            os: spec.os,
                            vault: options.vaultPartition === false ? VAULT : { ...VAULT, partition: { partition: "aws", dnsSuffix: "amazonaws.com" } },
                            zones: ZONES,
                            scan: { kind: "none" },
                            lookups,
                        },
                        options.opts?.(spec) ?? {},
                    ),
            ),
        );
        const counts: Record<string, number> = {};
        for (const call of engine.calls) {
            counts[call.token] = (counts[call.token] ?? 0) + 1;
        }
        return counts;
    }
    const SUBNET = "aws:ec2/getSubnet:getSubnet";
    const PARAMETER = "aws:ssm/getParameter:getParameter";
    const PARTITION = "aws:index/getPartition:getPartition";
    const zoneOfVolume = (name: string) => engine.named("aws:ebs/volume:Volume", `${name}-data`).inputs.availabilityZone;
    const amiOf = (name: string) => engine.named("aws:ec2/instance:Instance", name).inputs.ami as string;

    it("one instance: one subnet look-up, one AMI look-up", async () => {
        expect(await invokesFor([{ name: "web-1" }])).toEqual({ [SUBNET]: 1, [PARAMETER]: 1 });
    });

    it("three instances on one subnet with one OS and architecture: still one of each", async () => {
        expect(await invokesFor([{ name: "web-1" }, { name: "web-2" }, { name: "web-3" }])).toEqual({ [SUBNET]: 1, [PARAMETER]: 1 });
        expect(new Set(["web-1", "web-2", "web-3"].map(amiOf)).size).toBe(1);
        expect(["web-1", "web-2", "web-3"].map(zoneOfVolume)).toEqual(["eu-west-1b", "eu-west-1b", "eu-west-1b"]);
    });

    it("instances on two subnets: one look-up per subnet, and each volume in its own subnet's zone", async () => {
        const specs = [{ name: "web-1" }, { name: "web-2", subnetId: SUBNET_C }, { name: "web-3" }, { name: "web-4", subnetId: SUBNET_C }];
        expect(await invokesFor(specs)).toEqual({ [SUBNET]: 2, [PARAMETER]: 1 });
        expect(engine.calls.filter((c) => c.token === SUBNET).map((c) => c.inputs.id)).toEqual([SUBNET_B, SUBNET_C]);
        expect(specs.map((s) => zoneOfVolume(s.name))).toEqual(["eu-west-1b", "eu-west-1c", "eu-west-1b", "eu-west-1c"]);
    });

    it("two architectures and two OSes: one look-up per OS/architecture pair, each instance gets its pair's AMI", async () => {
        const specs: Spec[] = [
            { name: "x86-1", instanceType: "t3.small" },
            { name: "arm-1", instanceType: "m7g.large" },
            { name: "x86-2", instanceType: "c6i.xlarge" },
            { name: "arm-2", instanceType: "t4g.nano" },
            { name: "deb-1", instanceType: "t3.small", os: "debian12" },
        ];
        expect(await invokesFor(specs)).toEqual({ [SUBNET]: 1, [PARAMETER]: 3 });
        expect(engine.calls.filter((c) => c.token === PARAMETER).map((c) => c.inputs.name)).toEqual([
            "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
            "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64",
            "/aws/service/debian/release/12/latest/amd64",
        ]);
        expect(amiOf("x86-1")).toBe(amiOf("x86-2"));
        expect(amiOf("arm-1")).toBe(amiOf("arm-2"));
        expect(new Set(specs.map((s) => amiOf(s.name))).size).toBe(3);
    });

    it("a pinned AMI is never looked up, and does not stop the others sharing theirs", async () => {
        const lookups = new Lookups();
        await declare(() =>
            ["web-1", "web-2", "web-3"].map(
                (name, i) =>
                    new SecureInstance(name, {
                        region: "eu-west-1",
                        instanceType: "t3.small",
                        subnetId: SUBNET_B,
                        ami: i === 1 ? "ami-0123456789abcdef0" : undefined,
                        vault: VAULT,
                        zones: ZONES,
                        scan: { kind: "none" },
                        lookups,
                    }),
            ),
        );
        expect(engine.calls.filter((c) => c.token === PARAMETER)).toHaveLength(1);
        expect(amiOf("web-2")).toBe("ami-0123456789abcdef0");
        expect(amiOf("web-1")).toBe(amiOf("web-3"));
    });

    it("the partition, when the vault does not provide it, is looked up once for all instances", async () => {
        expect(await invokesFor([{ name: "web-1" }, { name: "web-2" }, { name: "web-3" }], { vaultPartition: false })).toEqual({ [SUBNET]: 1, [PARAMETER]: 1, [PARTITION]: 1 });
    });

    it("without a shared memo each instance looks up for itself (the count before memoisation)", async () => {
        expect(await invokesFor([{ name: "web-1" }, { name: "web-2" }, { name: "web-3" }], { shared: false, vaultPartition: false })).toEqual({
            [SUBNET]: 3,
            [PARAMETER]: 3,
            [PARTITION]: 3,
        });
    });

    it("instances with their own aws provider are answered by that provider, not from the default provider's answer", async () => {
        // Providers by reference: the mock engine declares no provider resources.
        const other = new pulumiSdk.DependencyProviderResource("urn:pulumi:test::airlock::pulumi:providers:aws::other-account::0b5f6c2e-7a3d-4f1b-9c8e-2d6a4b1f0e37");
        const third = new pulumiSdk.DependencyProviderResource("urn:pulumi:test::airlock::pulumi:providers:aws::third-account::7c1e2f3a-5b6d-4e8f-a0b1-c2d3e4f5a6b7");
        const providerOf: Record<string, pulumi.ProviderResource | undefined> = { "web-1": undefined, "web-2": other, "web-3": other, "web-4": third, "web-5": undefined };
        const counts = await invokesFor(
            Object.keys(providerOf).map((name) => ({ name })),
            { opts: (spec) => (providerOf[spec.name] === undefined ? {} : { providers: { aws: providerOf[spec.name]! } }) },
        );
        // Default (web-1, web-5), `other` (web-2, web-3), `third` (web-4): three providers, same questions.
        expect(counts).toEqual({ [SUBNET]: 3, [PARAMETER]: 3 });
    });

    it("the memo is per Lookups object: two stacks' (or two program runs') memos never share an answer", async () => {
        const first = new Lookups();
        const second = new Lookups();
        await declare(() => [first.subnet(SUBNET_B), first.subnet(SUBNET_B), second.subnet(SUBNET_B)]);
        expect(engine.calls.filter((c) => c.token === SUBNET)).toHaveLength(2);
        expect(first.subnet(SUBNET_B)).toBe(first.subnet(SUBNET_B));
        expect(first.subnet(SUBNET_B)).not.toBe(second.subnet(SUBNET_B));
    });

    it("a subnet id that is itself an Output is looked up for each caller (only plain strings are memoised)", async () => {
        const lookups = new Lookups();
        const id = pulumiSdk.output(SUBNET_C);
        const zones = await declare(() => [lookups.subnet(id), lookups.subnet(id)]);
        expect(engine.calls.filter((c) => c.token === SUBNET)).toHaveLength(2);
        expect(await Promise.all(zones.map((z) => valueOf(z.availabilityZone)))).toEqual(["eu-west-1c", "eu-west-1c"]);
    });
});
