/**
 * Benchmark baseline: the same AWS resources the program declares, with the same inputs (the same
 * policy builders, rules and user data), but declared flat, without component resources, and with
 * the account facts, each subnet and each AMI parameter looked up once (as the program's per-stack
 * Lookups does). The ratio airlock/raw is the cost of Airlock's structure.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { renderUserData } from "../cloud-init/render";
import { amiParameterName, architectureOf } from "../components/secureInstance";
import { rulePeers } from "../config/ruleNaming";
import { NetworkRule, parseAirlockConfig } from "../config/schema";
import { toJson } from "../policies/document";
import { instanceTrustPolicy, launchPolicy, productionPolicy } from "../policies/instance";
import { keyBucketPolicy } from "../policies/keyBucket";
import { DATA_VOLUME_TAG, keyObjectKey } from "../policies/keyNaming";
import { vaultKeyPolicy } from "../policies/kmsKey";
import { resolvePrincipal } from "../policies/principals";
import { InstanceKey } from "../providers/instanceKey";
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

    const bucket = new aws.s3.Bucket("keys", {});
    const key = new aws.kms.Key("key", {
        enableKeyRotation: true,
        policy: pulumi
            .all([partition.partition, partition.dnsSuffix, caller.accountId, bucket.bucket])
            .apply(([p, d, a, b]) => toJson(vaultKeyPolicy({ partition: p, dnsSuffix: d, accountId: a, region: config.region, bucketName: b, deployers: [] }))),
    });
    new aws.kms.Alias("key-alias", { namePrefix: "alias/airlock-", targetKeyId: key.keyId });
    new aws.s3.BucketOwnershipControls("ownership", { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } });
    new aws.s3.BucketPublicAccessBlock("public-access", { bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true });
    new aws.s3.BucketServerSideEncryptionConfiguration("encryption", {
        bucket: bucket.id,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.arn }, bucketKeyEnabled: false }],
    });
    new aws.s3.BucketPolicy("policy", {
        bucket: bucket.id,
        policy: pulumi
            .all([partition.partition, partition.dnsSuffix, bucket.bucket, key.arn, caller.arn])
            .apply(([p, d, b, k, c]) => toJson(keyBucketPolicy({ partition: p, dnsSuffix: d, bucketName: b, kmsKeyArn: k, deployers: resolvePrincipal(c)?.patterns ?? [c] }))),
    });

    for (const spec of config.instances) {
        const name = spec.name;
        const role = new aws.iam.Role(`${name}-role`, { path: "/airlock/", assumeRolePolicy: partition.apply((p) => toJson(instanceTrustPolicy(p))) });
        spec.managedPolicyArns.forEach((policyArn, i) => new aws.iam.RolePolicyAttachment(`${name}-managed-${i}`, { role: role.name, policyArn }));
        const profile = new aws.iam.InstanceProfile(`${name}-profile`, { role: role.name });
        const subnet = once(subnets, spec.subnetId, () => aws.ec2.getSubnetOutput({ id: spec.subnetId }));
        const parameter = amiParameterName(spec.os, architectureOf(spec.instanceType));
        const ami = spec.ami ?? once(amis, parameter, () => aws.ssm.getParameterOutput({ name: parameter }).apply((p) => p.value));
        const instance = new aws.ec2.Instance(name, {
            ami,
            instanceType: spec.instanceType,
            subnetId: spec.subnetId,
            vpcSecurityGroupIds: [remediation.id],
            iamInstanceProfile: profile.name,
            associatePublicIpAddress: false,
            metadataOptions: { httpEndpoint: "enabled", httpTokens: "required", httpPutResponseHopLimit: 1, instanceMetadataTags: "enabled" },
            rootBlockDevice: { encrypted: true, kmsKeyId: key.arn, volumeType: "gp3" },
            userData: pulumi
                .all([bucket.bucket, key.arn])
                .apply(([b, k]) => renderUserData({ instanceName: name, os: spec.os, region: config.region, bucketName: b, kmsKeyArn: k, mountPoint: spec.mountPoint })),
        });
        const volume = new aws.ebs.Volume(
            `${name}-data`,
            { availabilityZone: subnet.availabilityZone, size: spec.dataVolumeGiB, type: "gp3", encrypted: true, kmsKeyId: key.arn },
            { replaceWith: [instance] },
        );
        new aws.ec2.Tag(`${name}-data-volume-tag`, { resourceId: instance.id, key: DATA_VOLUME_TAG, value: volume.id });
        new aws.ec2.VolumeAttachment(`${name}-attachment`, { instanceId: instance.id, volumeId: volume.id, deviceName: "/dev/sdf" });
        new InstanceKey(`${name}-key`, {
            instanceName: name,
            region: config.region,
            bucketName: bucket.bucket,
            instanceArn: instance.arn,
            keyObjectKey: instance.arn.apply(keyObjectKey),
        });
        const grant = pulumi
            .all([partition.partition, partition.dnsSuffix, bucket.bucket, key.arn, instance.arn])
            .apply(([p, d, b, k, i]) => ({ partition: p, dnsSuffix: d, region: config.region, bucketName: b, kmsKeyArn: k, instanceArn: i }));
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
