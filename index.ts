import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { KeyVault } from "./components/keyVault";
import { Lookups } from "./components/lookups";
import { SecureInstance } from "./components/secureInstance";
import { SecurityZones } from "./components/securityZones";
import { AccountGuardrails, GuardrailsOutputs, claimConflicts, findClaims, forceMfaPolicyArn } from "./components/accountGuardrails";
import type { GuardrailsConfig } from "./config/guardrails";
import { LoadedConfig, loadConfig } from "./config/load";

/** What another stack reads through a StackReference, per instance. */
interface InstanceOutputs {
    readonly instanceId: pulumi.Output<string>;
    readonly privateIp: pulumi.Output<string>;
    readonly roleArn: pulumi.Output<string>;
    readonly keyObjectKey: pulumi.Output<string>;
    readonly phase: pulumi.Output<string>;
    readonly dataVolumeId: pulumi.Output<string>;
}

/** The stack-wide and the instance's own trigger; either changing rescans the instance. */
function rescanTrigger(stack: string | undefined, own: string | undefined): string | undefined {
    const parts = [stack, own].filter((p): p is string => p !== undefined);
    return parts.length === 0 ? undefined : parts.join("/");
}

/** The account guardrails half: refused before anything is declared when another stack holds its singletons. */
async function declareGuardrails(config: LoadedConfig, guardrails: GuardrailsConfig, accountId: string): Promise<pulumi.Output<GuardrailsOutputs>> {
    const stack = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
    const { partition } = await aws.getPartition();
    const conflicts = claimConflicts(stack, config.region, guardrails, await findClaims(guardrails, forceMfaPolicyArn(partition, accountId)));
    if (conflicts.length > 0) {
        throw new pulumi.RunError(conflicts.join("\n"));
    }
    return new AccountGuardrails("airlock", { region: config.region, accountId, stack, config: guardrails, tags: config.tags }).outputs;
}

export = async () => {
    const config = loadConfig();
    // Who runs this, first: the vault's policy names the deployers, and a `pulumi up` by someone it
    // would lock out is refused before anything is declared.
    const { arn: callerArn, accountId } = await aws.getCallerIdentity();
    const guardrails = config.guardrails === undefined ? undefined : await declareGuardrails(config, config.guardrails, accountId);
    if (!config.secureInstances) {
        return { guardrails };
    }
    if (config.scanner.kind === "none") {
        pulumi.log.warn("airlock:scannerKind is none: instances are promoted to production WITHOUT a vulnerability scan.");
    }

    const vault = new KeyVault("airlock", {
        region: config.region,
        callerArn,
        deployers: config.deployers,
        promotionRoleArn: config.scanner.promotionRoleArn,
        breakGlassRoleArn: config.breakGlassRoleArn,
        keyDeletionWindowDays: config.keyDeletionWindowDays,
        tags: config.tags,
    });
    const zones = new SecurityZones("airlock", {
        vpcId: config.vpcId,
        scannerSourceCidrs: config.scanner.sourceCidrs,
        scannerSecurityGroupId: config.scanner.securityGroupId,
        remediationEgress: config.remediationEgress,
        productionIngress: config.productionIngress,
        productionEgress: config.productionEgress,
        tags: config.tags,
    });

    // One memo per run of the program: each subnet and AMI parameter is looked up once per stack.
    const lookups = new Lookups();
    const instances: Record<string, InstanceOutputs> = {};
    for (const spec of config.instances) {
        const instance = new SecureInstance(spec.name, {
            region: config.region,
            instanceType: spec.instanceType,
            subnetId: spec.subnetId,
            os: spec.os,
            ami: spec.ami,
            dataVolumeGiB: spec.dataVolumeGiB,
            rootVolumeGiB: spec.rootVolumeGiB,
            mountPoint: spec.mountPoint,
            ssh: spec.ssh,
            associatePublicIp: spec.associatePublicIp,
            managedPolicyArns: spec.managedPolicyArns,
            vault,
            zones,
            scan: {
                kind: config.scanner.kind,
                url: config.scanner.url,
                accessKey: config.scannerAccessKey,
                secretKey: config.scannerSecretKey,
                templateUuid: config.scanner.templateUuid,
                policyId: config.scanner.policyId,
                severityThreshold: config.severityThreshold,
                readinessTimeoutMinutes: config.scanner.readinessTimeoutMinutes,
                scanTimeoutMinutes: config.scanner.scanTimeoutMinutes,
                rescanTrigger: rescanTrigger(config.rescanTrigger, spec.rescanTrigger),
                assumeRoleArn: config.scanner.promotionRoleArn,
            },
            tags: config.tags,
            lookups,
        });
        instances[spec.name] = {
            instanceId: instance.instanceId,
            privateIp: instance.privateIp,
            roleArn: instance.roleArn,
            keyObjectKey: instance.keyObjectKey,
            phase: instance.phase,
            dataVolumeId: instance.dataVolumeId,
        };
    }

    return {
        remediationSecurityGroupId: zones.remediationSecurityGroupId,
        productionSecurityGroupId: zones.productionSecurityGroupId,
        keyBucketName: vault.bucketName,
        kmsKeyArn: vault.kmsKeyArn,
        instances,
        ...(guardrails === undefined ? {} : { guardrails }),
    };
};
