import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { renderUserData } from "../cloud-init/render";
import { DATA_VOLUME_MAX_GIB, DATA_VOLUME_MIN_GIB, OperatingSystem, ScannerKind, Severity, SshAccess } from "../config/schema";
import { Partition, toJson } from "../policies/document";
import { instanceTrustPolicy, launchPolicy, productionPolicy } from "../policies/instance";
import {
    BOOTSTRAP_REASON_TAG,
    BOOTSTRAP_STATUS_TAG,
    DATA_VOLUME_TAG,
    INSTANCE_NAME_TAG,
    MANAGED_TAG,
    ROLE_PATH,
    keyObjectKey,
} from "../policies/keyNaming";
import { InstanceKey } from "../providers/instanceKey";
import { INSTANCE_NAME_PATTERN, PHASE_POLICY_NAME } from "../providers/promotionInputs";
import { ScanAndPromote } from "../providers/scanAndPromote";
import { scannerSupportPolicyArns } from "../providers/promotionFlow";
import { Lookups } from "./lookups";

export type Architecture = "x86_64" | "arm64";

/** EC2 families built on Graviton (m7g, c6gn, t4g, x2gd, ...) and the a1 family run arm64. */
export function architectureOf(instanceType: string): Architecture {
    const family = instanceType.split(".")[0] ?? "";
    return family === "a1" || /^[a-z]+\d+g[a-z]*$/.test(family) ? "arm64" : "x86_64";
}

/** The public SSM parameter that names the latest AMI of an OS for an architecture. */
export function amiParameterName(os: OperatingSystem, arch: Architecture): string {
    const debArch = arch === "arm64" ? "arm64" : "amd64";
    switch (os) {
        case "al2023":
            return `/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${arch}`;
        case "debian12":
            return `/aws/service/debian/release/12/latest/${debArch}`;
        case "ubuntu2204":
            return `/aws/service/canonical/ubuntu/server/22.04/stable/current/${debArch}/hvm/ebs-gp2/ami-id`;
        case "ubuntu2404":
            return `/aws/service/canonical/ubuntu/server/24.04/stable/current/${debArch}/hvm/ebs-gp3/ami-id`;
    }
}

/** Settings of the vulnerability scan that gates promotion. */
export interface ScanSettings {
    readonly kind: ScannerKind;
    /** Tenable base URL. @default undefined (required for tenable) */
    readonly url?: pulumi.Input<string>;
    /** Tenable API keys; pass secrets (`config.requireSecret`). @default undefined (required for tenable) */
    readonly accessKey?: pulumi.Input<string>;
    readonly secretKey?: pulumi.Input<string>;
    /** Tenable scan template UUID and optional policy id. @default undefined */
    readonly templateUuid?: pulumi.Input<string>;
    readonly policyId?: pulumi.Input<number>;
    /** Lowest severity that blocks promotion. @default "medium" */
    readonly severityThreshold?: Severity;
    /** @default 20 */
    readonly readinessTimeoutMinutes?: number;
    /** @default 60 */
    readonly scanTimeoutMinutes?: number;
    /** Change to force a rescan. @default undefined */
    readonly rescanTrigger?: pulumi.Input<string>;
    /** Role the promotion provider assumes for its AWS calls. @default the credentials pulumi runs with */
    readonly assumeRoleArn?: pulumi.Input<string>;
}

export interface SecureInstanceArgs {
    /** AWS region; the promotion provider runs outside the aws provider and needs it explicitly. */
    readonly region: string;
    readonly instanceType: string;
    readonly subnetId: pulumi.Input<string>;
    /** Operating system, for the AMI lookup and the first-boot packages. @default "al2023" */
    readonly os?: OperatingSystem;
    /**
     * Pinned AMI. @default the OS's latest public AMI, looked up once: later releases do not replace
     * a running instance (pin an AMI, or `pulumi up --replace`, to move on).
     */
    readonly ami?: pulumi.Input<string>;
    /** Size of the LUKS-encrypted gp3 data volume. @default 20 */
    readonly dataVolumeGiB?: number;
    /** Root volume size. @default the AMI's own size */
    readonly rootVolumeGiB?: number;
    /** Where the decrypted data volume is mounted. @default "/data" */
    readonly mountPoint?: string;
    /** sshd with keys only, or none at all (SSM Session Manager only). @default "key-only" */
    readonly ssh?: SshAccess;
    /**
     * Give the instance a public IP. This component does not second-guess it; the stack config
     * requires an explicit `allowPublicIp` opt-in before it passes true here.
     * @default false
     */
    readonly associatePublicIp?: boolean;
    /**
     * Managed policies the application needs in production. The promotion attaches them only after
     * a clean scan (after the production phase policy, before the production group) and detaches
     * them on demotion and delete: a quarantined instance never holds them. @default []
     */
    readonly managedPolicyArns?: readonly pulumi.Input<string>[];
    /**
     * The key vault: bucket name, KMS key and, optionally, its partition. Pass the KeyVault itself so
     * that keys wait for its policy and the partition is not looked up again per instance.
     */
    readonly vault: {
        readonly bucketName: pulumi.Input<string>;
        readonly kmsKeyArn: pulumi.Input<string>;
        /** @default looked up with aws.getPartition */
        readonly partition?: pulumi.Input<Partition>;
    };
    /** The airlock's security groups. */
    readonly zones: {
        readonly remediationSecurityGroupId: pulumi.Input<string>;
        readonly productionSecurityGroupId: pulumi.Input<string>;
    };
    readonly scan: ScanSettings;
    /**
     * The stack's memoised AWS look-ups (subnet, AMI parameter, partition), shared by every instance
     * so that the stack asks once per distinct subnet and OS/architecture, not once per instance.
     * @default a private one: this instance's look-ups are not shared
     */
    readonly lookups?: Lookups;
    /**
     * Tags for every resource except the key object, which the instance writes with one tag, its
     * ARN. At most 45: EC2 allows 50 per instance and Airlock adds 5. @default {}
     */
    readonly tags?: Readonly<Record<string, string>>;
}


/**
 * One EC2 instance behind the airlock: its own role and instance profile, its own LUKS key in the
 * vault (bound to this instance by tag), an encrypted data volume, the instance itself in
 * quarantine (remediation group, IMDSv2 only, no public IP, encrypted root), and the
 * scan-and-promote resource that alone moves it to production.
 */
export class SecureInstance extends pulumi.ComponentResource {
    declare public readonly instanceId: pulumi.Output<string>;
    declare public readonly instanceArn: pulumi.Output<string>;
    declare public readonly privateIp: pulumi.Output<string>;
    declare public readonly roleArn: pulumi.Output<string>;
    declare public readonly roleName: pulumi.Output<string>;
    declare public readonly keyObjectKey: pulumi.Output<string>;
    declare public readonly dataVolumeId: pulumi.Output<string>;
    declare public readonly phase: pulumi.Output<string>;

    constructor(name: string, args: SecureInstanceArgs, opts: pulumi.ComponentResourceOptions = {}) {
        super("airlock:compute:SecureInstance", name, {}, opts);

        if (!INSTANCE_NAME_PATTERN.test(name)) {
            throw new Error(
                `SecureInstance ${JSON.stringify(name)}: the name is used in AWS names and keys; use 1-32 lowercase letters, digits and single hyphens, starting with a letter.`,
            );
        }
        const dataVolumeGiB = args.dataVolumeGiB ?? 20;
        if (!Number.isInteger(dataVolumeGiB) || dataVolumeGiB < DATA_VOLUME_MIN_GIB || dataVolumeGiB > DATA_VOLUME_MAX_GIB) {
            throw new Error(`SecureInstance ${name}: \`dataVolumeGiB\` must be a whole number from ${DATA_VOLUME_MIN_GIB} to ${DATA_VOLUME_MAX_GIB}, not ${dataVolumeGiB}.`);
        }
        const os = args.os ?? "al2023";
        const mountPoint = args.mountPoint ?? "/data";
        const scan = args.scan;
        const tags = { ...args.tags, [MANAGED_TAG]: "true", [INSTANCE_NAME_TAG]: name };
        const child = { parent: this };
        // Look-ups go through the shared memo; `parent` only selects the provider they are asked with.
        const lookups = args.lookups ?? new Lookups();
        const partition = pulumi.output(args.vault.partition ?? lookups.partition(child));

        // Identity: a role per instance, trusted by EC2 only. The promotion resource owns its phase
        // policy and the application's managed policies (attached only after a clean scan); the
        // one policy attached here is what the scanner needs in quarantine (Inspector: the SSM agent).
        const role = new aws.iam.Role(
            `${name}-role`,
            {
                path: ROLE_PATH,
                description: `Airlock instance role of ${name}`,
                assumeRolePolicy: pulumi.all([partition.partition, partition.dnsSuffix]).apply(([p, dnsSuffix]) => toJson(instanceTrustPolicy({ partition: p, dnsSuffix }))),
                forceDetachPolicies: true,
                tags,
            },
            child,
        );
        const scannerSupport =
            scan.kind === "inspector"
                ? [
                      new aws.iam.RolePolicyAttachment(
                          `${name}-scanner-ssm`,
                          { role: role.name, policyArn: partition.partition.apply((p) => scannerSupportPolicyArns("inspector", p)[0] ?? "") },
                          child,
                      ),
                  ]
                : [];
        const profile = new aws.iam.InstanceProfile(`${name}-profile`, { role: role.name, path: ROLE_PATH, tags }, child);

        const ami = args.ami ?? lookups.amiFromParameter(amiParameterName(os, architectureOf(args.instanceType)), child);
        const userData = pulumi
            .all([args.vault.bucketName, args.vault.kmsKeyArn])
            .apply(([bucketName, kmsKeyArn]) => renderUserData({ instanceName: name, os, region: args.region, bucketName, kmsKeyArn, mountPoint, ssh: args.ssh }));

        const instance = new aws.ec2.Instance(
            name,
            {
                ami,
                instanceType: args.instanceType,
                subnetId: args.subnetId,
                vpcSecurityGroupIds: [args.zones.remediationSecurityGroupId],
                iamInstanceProfile: profile.name,
                associatePublicIpAddress: args.associatePublicIp ?? false,
                metadataOptions: {
                    httpEndpoint: "enabled",
                    httpTokens: "required",
                    httpPutResponseHopLimit: 1,
                    // The first boot reads its data volume's id from its tags (DATA_VOLUME_TAG).
                    instanceMetadataTags: "enabled",
                },
                rootBlockDevice: {
                    encrypted: true,
                    kmsKeyId: args.vault.kmsKeyArn,
                    volumeType: "gp3",
                    volumeSize: args.rootVolumeGiB,
                    deleteOnTermination: true,
                },
                userData,
                userDataReplaceOnChange: false,
                instanceInitiatedShutdownBehavior: "stop",
                tags: { ...tags, Name: name },
            },
            {
                parent: this,
                dependsOn: scannerSupport,
                ignoreChanges: [
                    // Owned by the promotion resource after launch (DESIGN §4: one owner per property).
                    "vpcSecurityGroupIds",
                    "securityGroups",
                    // Written by the instance itself as its readiness signal.
                    `tags["${BOOTSTRAP_STATUS_TAG}"]`,
                    `tags["${BOOTSTRAP_REASON_TAG}"]`,
                    // Owned by the data volume's tag resource below.
                    `tags["${DATA_VOLUME_TAG}"]`,
                    // Read at first boot only; changing it later would just stop and start the instance.
                    "userData",
                    // A looked-up AMI moves with every release; only a pinned AMI replaces the instance.
                    ...(args.ami === undefined ? ["ami"] : []),
                ],
            },
        );

        // Storage: the data volume lives in the subnet's zone and is encrypted with the vault key
        // (LUKS on top, inside the guest, with the instance's own key). It is made after the
        // instance and replaced with it: a replaced instance generates a new key (and the old key is
        // shredded), so the old volume could never be opened again; the new instance gets a new,
        // blank volume. The instance learns the volume's id from its DATA_VOLUME_TAG.
        const subnet = lookups.subnet(args.subnetId, child);
        const dataVolume = new aws.ebs.Volume(
            `${name}-data`,
            {
                availabilityZone: subnet.availabilityZone,
                size: dataVolumeGiB,
                type: "gp3",
                encrypted: true,
                kmsKeyId: args.vault.kmsKeyArn,
                tags: { ...tags, Name: `${name}-data` },
            },
            { parent: this, replaceWith: [instance] },
        );
        const dataVolumeTag = new aws.ec2.Tag(`${name}-data-volume-tag`, { resourceId: instance.id, key: DATA_VOLUME_TAG, value: dataVolume.id }, child);

        const attachment = new aws.ec2.VolumeAttachment(
            `${name}-data-attachment`,
            { instanceId: instance.id, volumeId: dataVolume.id, deviceName: "/dev/sdf", stopInstanceBeforeDetaching: true },
            child,
        );

        // The LUKS key: generated by the instance at first boot and stored once, by the instance, in
        // `keys/<instance ARN>` (cloud-init/airlock-boot.sh). Pulumi never sees it; this resource owns
        // the object by name, and deleting it deletes the key (providers/instanceKey.ts).
        const keyObject = instance.arn.apply(keyObjectKey);
        const key = new InstanceKey(
            `${name}-key`,
            {
                instanceName: name,
                region: args.region,
                assumeRoleArn: scan.assumeRoleArn,
                bucketName: args.vault.bucketName,
                instanceArn: instance.arn,
                keyObjectKey: keyObject,
            },
            { parent: this, dependsOn: args.vault instanceof pulumi.Resource ? [args.vault] : [] },
        );

        const grant = pulumi
            .all([partition.partition, partition.dnsSuffix, args.vault.bucketName, args.vault.kmsKeyArn, instance.arn])
            .apply(([p, dnsSuffix, bucketName, kmsKeyArn, instanceArn]) => ({ partition: p, dnsSuffix, region: args.region, bucketName, kmsKeyArn, instanceArn }));
        const promotion = new ScanAndPromote(
            `${name}-promotion`,
            {
                instanceName: name,
                region: args.region,
                assumeRoleArn: scan.assumeRoleArn,
                instanceId: instance.id,
                roleName: role.name,
                phasePolicyName: PHASE_POLICY_NAME,
                launchPolicy: grant.apply((g) => toJson(launchPolicy(g))),
                productionPolicy: grant.apply((g) => toJson(productionPolicy(g))),
                remediationSecurityGroupIds: [args.zones.remediationSecurityGroupId],
                productionSecurityGroupIds: [args.zones.productionSecurityGroupId],
                managedPolicyArns: args.managedPolicyArns ?? [],
                scanner: {
                    kind: scan.kind,
                    url: scan.url,
                    accessKey: scan.accessKey,
                    secretKey: scan.secretKey,
                    templateUuid: scan.templateUuid,
                    policyId: scan.policyId,
                },
                severityThreshold: scan.severityThreshold ?? "medium",
                readinessTimeoutSeconds: (scan.readinessTimeoutMinutes ?? 20) * 60,
                scanTimeoutSeconds: (scan.scanTimeoutMinutes ?? 60) * 60,
                rescanTrigger: scan.rescanTrigger,
            },
            // Promotion starts once everything the first boot needs exists; on delete it goes first,
            // taking the write right with it, before the key object is shredded.
            { parent: this, dependsOn: [instance, attachment, dataVolumeTag, key] },
        );

        this.instanceId = instance.id;
        this.instanceArn = instance.arn;
        this.privateIp = instance.privateIp;
        this.roleArn = role.arn;
        this.roleName = role.name;
        this.keyObjectKey = keyObject;
        this.dataVolumeId = dataVolume.id;
        this.phase = promotion.phase;
        this.registerOutputs({
            instanceId: this.instanceId,
            instanceArn: this.instanceArn,
            privateIp: this.privateIp,
            roleArn: this.roleArn,
            roleName: this.roleName,
            keyObjectKey: this.keyObjectKey,
            dataVolumeId: this.dataVolumeId,
            phase: this.phase,
        });
    }
}
