/**
 * Benchmark baseline: the same AWS resources the program declares, with the same inputs (the same
 * policy builders, rules and user data), but declared flat, without component resources, and with
 * the account facts, each subnet and each AMI parameter looked up once (as the program's per-stack
 * Lookups does). The ratio airlock/raw is the cost of Airlock's structure.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { renderUserData } from "../cloud-init/render";
import { amiParameterName, architectureOf } from "../components/secureInstance";
import { rulePeers } from "../config/ruleNaming";
import { NetworkRule, parseAirlockConfig } from "../config/schema";
import { toJson } from "../policies/document";
import { instanceTrustPolicy, launchPolicy, productionPolicy } from "../policies/instance";
import { keyBucketPolicy } from "../policies/keyBucket";
import { keyObjectKey } from "../policies/keyNaming";
import { vaultKeyPolicy } from "../policies/kmsKey";
import { PHASE_POLICY_NAME } from "../providers/promotionInputs";
import { ScanAndPromote } from "../providers/scanAndPromote";

export function declareRaw(rawConfig: Record<string, string>): void {
    const config = parseAirlockConfig(rawConfig);
    const partition = aws.getPartitionOutput();
    const caller = aws.getCallerIdentityOutput();
    const subnets = new Map<string, pulumi.Output<aws.ec2.GetSubnetResult>>();
    const amis = new Map<string, pulumi.Output<string>>();
    const once = <T>(memo: Map<string, T>, key: string, lookUp: () => T): T => {
        const found = memo.get(key) ?? lookUp();
        memo.set(key, found);
        return found;
    };

    const remediation = new aws.ec2.SecurityGroup("remediation", { vpcId: config.vpcId, description: "remediation", revokeRulesOnDelete: true });
    const production = new aws.ec2.SecurityGroup("production", { vpcId: config.vpcId, description: "production", revokeRulesOnDelete: true });
    const scannerRule: NetworkRule = { description: "scanner", protocol: "all", fromPort: -1, toPort: -1, cidrs: [...config.scanner.sourceCidrs], ipv6Cidrs: [] };
    const rules: Array<[string, pulumi.Output<string>, "in" | "out", readonly NetworkRule[]]> = [
        ["rem-in", remediation.id, "in", [scannerRule]],
        ["rem-out", remediation.id, "out", config.remediationEgress],
        ["prod-in", production.id, "in", config.productionIngress],
        ["prod-out", production.id, "out", config.productionEgress],
    ];
    for (const [prefix, securityGroupId, direction, list] of rules) {
        list.forEach((rule, i) =>
            rulePeers(rule).forEach((peer, j) => {
                const args = { securityGroupId, description: rule.description, ipProtocol: rule.protocol === "all" ? "-1" : rule.protocol, fromPort: rule.fromPort, toPort: rule.toPort, ...peer };
                if (direction === "in") {
                    new aws.vpc.SecurityGroupIngressRule(`${prefix}-${i}-${j}`, args);
                } else {
                    new aws.vpc.SecurityGroupEgressRule(`${prefix}-${i}-${j}`, args);
                }
            }),
        );
    }

    const key = new aws.kms.Key("key", {
        enableKeyRotation: true,
        policy: pulumi.all([partition.partition, partition.dnsSuffix, caller.accountId]).apply(([p, d, a]) => toJson(vaultKeyPolicy({ partition: p, dnsSuffix: d, accountId: a }))),
    });
    new aws.kms.Alias("key-alias", { namePrefix: "alias/airlock-", targetKeyId: key.keyId });
    const bucket = new aws.s3.Bucket("keys", {});
    new aws.s3.BucketOwnershipControls("ownership", { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } });
    new aws.s3.BucketPublicAccessBlock("public-access", { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
    new aws.s3.BucketServerSideEncryptionConfiguration("encryption", {
        bucket: bucket.id,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.arn }, bucketKeyEnabled: false }],
    });
    new aws.s3.BucketPolicy("policy", {
        bucket: bucket.id,
        policy: pulumi.all([partition.partition, partition.dnsSuffix, bucket.bucket, key.arn]).apply(([p, d, b, k]) => toJson(keyBucketPolicy({ partition: p, dnsSuffix: d, bucketName: b, kmsKeyArn: k }))),
    });

    for (const spec of config.instances) {
        const name = spec.name;
        const role = new aws.iam.Role(`${name}-role`, { path: "/airlock/", assumeRolePolicy: partition.apply((p) => toJson(instanceTrustPolicy(p))) });
        spec.managedPolicyArns.forEach((policyArn, i) => new aws.iam.RolePolicyAttachment(`${name}-managed-${i}`, { role: role.name, policyArn }));
        const profile = new aws.iam.InstanceProfile(`${name}-profile`, { role: role.name });
        const subnet = once(subnets, spec.subnetId, () => aws.ec2.getSubnetOutput({ id: spec.subnetId }));
        const volume = new aws.ebs.Volume(`${name}-data`, { availabilityZone: subnet.availabilityZone, size: spec.dataVolumeGiB, type: "gp3", encrypted: true, kmsKeyId: key.arn });
        const parameter = amiParameterName(spec.os, architectureOf(spec.instanceType));
        const ami = spec.ami ?? once(amis, parameter, () => aws.ssm.getParameterOutput({ name: parameter }).apply((p) => p.value));
        const instance = new aws.ec2.Instance(name, {
            ami,
            instanceType: spec.instanceType,
            subnetId: spec.subnetId,
            vpcSecurityGroupIds: [remediation.id],
            iamInstanceProfile: profile.name,
            associatePublicIpAddress: false,
            metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1 },
            rootBlockDevice: { encrypted: true, kmsKeyId: key.arn, volumeType: "gp3" },
            userData: pulumi
                .all([bucket.bucket, volume.id])
                .apply(([b, v]) => renderUserData({ instanceName: name, os: spec.os, region: config.region, bucketName: b, keyObjectKey: keyObjectKey(name), volumeId: v, mountPoint: spec.mountPoint })),
        });
        new aws.ec2.VolumeAttachment(`${name}-attachment`, { instanceId: instance.id, volumeId: volume.id, deviceName: "/dev/sdf" });
        const material = new random.RandomBytes(`${name}-key`, { length: 64 });
        new aws.s3.BucketObjectv2(`${name}-key`, {
            bucket: bucket.bucket,
            key: keyObjectKey(name),
            contentBase64: material.base64,
            serverSideEncryption: "aws:kms",
            kmsKeyId: key.arn,
            tags: { "airlock:instance-arn": instance.arn },
        });
        const grant = pulumi
            .all([partition.partition, partition.dnsSuffix, bucket.bucket, key.arn])
            .apply(([p, d, b, k]) => ({ partition: p, dnsSuffix: d, region: config.region, bucketName: b, keyObjectKey: keyObjectKey(name), kmsKeyArn: k }));
        new ScanAndPromote(`${name}-promotion`, {
            instanceName: name,
            region: config.region,
            instanceId: instance.id,
            roleName: role.name,
            phasePolicyName: PHASE_POLICY_NAME,
            launchPolicy: grant.apply((g) => toJson(launchPolicy(g))),
            productionPolicy: grant.apply((g) => toJson(productionPolicy(g))),
            remediationSecurityGroupIds: [remediation.id],
            productionSecurityGroupIds: [production.id],
            scanner: { kind: config.scanner.kind },
            severityThreshold: config.severityThreshold,
            readinessTimeoutSeconds: 1200,
            scanTimeoutSeconds: 3600,
        });
    }
}
