import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { RuleSetting } from "../config/guardrails";
import { AUTOMATION_ASSUME_ROLE_PARAMETER, REMEDIATION_DEFAULTS, RemediationContext, configDeliveryBucketPolicy, remediationRolePolicy, remediationTrustPolicy } from "../policies/configRules";
import { configRecorderDeliveryPolicy, configRecorderTrustPolicy } from "../policies/configRecorder";
import { toJson } from "../policies/document";
import { MANAGED_TAG } from "../policies/keyNaming";
import { privateBucket } from "./privateBucket";

/** The recorder's and delivery channel's name (an account has one of each per region). */
export const RECORDER_NAME = "airlock";

export interface ConfigRulesArgs {
    readonly region: string;
    readonly accountId: pulumi.Input<string>;
    /** The rules to declare, with their parameters and whether each remediates (config/guardrails.ts). */
    readonly rules: readonly RuleSetting[];
    /**
     * Create the configuration recorder, its delivery channel (bucket, role) and start it. An account
     * has one recorder per region: leave it off where one exists (Control Tower, a landing zone).
     * @default false
     */
    readonly recorder?: boolean;
    /** Record IAM's global resource types here (the stack that declares the global rules). @default false */
    readonly recordGlobalResources?: boolean;
    /** The audit trail's KMS key, for the CloudTrail encryption runbook. */
    readonly trailKmsKeyArn?: pulumi.Input<string>;
    readonly tags?: Readonly<Record<string, string>>;
}

/** A Config rule's input parameters: a JSON object of strings, as AWS's managed rules take them. */
export function inputParameters(parameters: Readonly<Record<string, string | number | boolean>>): string | undefined {
    const entries = Object.entries(parameters).sort(([a], [b]) => a.localeCompare(b));
    return entries.length === 0 ? undefined : JSON.stringify(Object.fromEntries(entries.map(([k, v]) => [k, String(v)])));
}

/**
 * AWS Config for the guardrails: optionally the recorder and delivery channel, then the managed rules
 * by source identifier (policies/configRules.ts), and for the rules that remediate, AWS's own SSM
 * automation runbooks run by one automation role that holds exactly what those runbooks call.
 */
export class ConfigRules extends pulumi.ComponentResource {
    declare public readonly ruleNames: pulumi.Output<string[]>;
    declare public readonly remediationRoleArn: pulumi.Output<string | undefined>;
    declare public readonly deliveryBucketName: pulumi.Output<string | undefined>;

    constructor(name: string, args: ConfigRulesArgs, opts: pulumi.ComponentResourceOptions = {}) {
        const remediated = args.rules.filter((r) => r.remediate);
        const needsKey = remediated.filter((r) => r.spec.remediation?.needsTrailKey === true);
        if (needsKey.length > 0 && args.trailKmsKeyArn === undefined) {
            throw new Error(`ConfigRules ${name}: ${needsKey.map((r) => r.spec.sourceIdentifier).join(", ")} remediate${needsKey.length === 1 ? "s" : ""} with a trail KMS key; pass \`trailKmsKeyArn\`.`);
        }
        super("airlock:guardrails:ConfigRules", name, {}, opts);
        const child = { parent: this };
        const tags = { ...args.tags, [MANAGED_TAG]: "true" };
        const partition = aws.getPartitionOutput({}, child);
        const context: pulumi.Output<RemediationContext> = pulumi
            .all([partition.partition, args.accountId, args.trailKmsKeyArn])
            .apply(([p, accountId, trailKmsKeyArn]) => ({ partition: p, region: args.region, accountId, trailKmsKeyArn }));

        let ready: pulumi.Resource[] = [];
        let deliveryBucketName: pulumi.Output<string | undefined> = pulumi.output(undefined);
        if (args.recorder === true) {
            const role = new aws.iam.Role(
                `${name}-recorder`,
                { assumeRolePolicy: pulumi.all([partition.dnsSuffix, context]).apply(([dnsSuffix, c]) => toJson(configRecorderTrustPolicy({ ...c, dnsSuffix }))), tags },
                child,
            );
            const readConfigurations = new aws.iam.RolePolicyAttachment(
                `${name}-recorder-reads`,
                { role: role.name, policyArn: partition.partition.apply((p) => `arn:${p}:iam::aws:policy/service-role/AWS_ConfigRole`) },
                child,
            );
            const { bucket, policy } = privateBucket(
                `${name}-delivery`,
                {
                    policy: (bucketName) => pulumi.all([context, bucketName]).apply(([c, b]) => toJson(configDeliveryBucketPolicy({ partition: c.partition, accountId: c.accountId, bucketName: b }))),
                    tags,
                    // Config's snapshots and history are records too; and a bucket with objects in it
                    // would make every destroy fail.
                    retainOnDelete: true,
                },
                this,
            );
            const delivers = new aws.iam.RolePolicy(
                `${name}-recorder-delivers`,
                { role: role.name, policy: pulumi.all([context, bucket.bucket]).apply(([c, b]) => toJson(configRecorderDeliveryPolicy({ ...c, bucketName: b }))) },
                child,
            );
            const recorder = new aws.cfg.Recorder(
                `${name}-recorder`,
                { name: RECORDER_NAME, roleArn: role.arn, recordingGroup: { allSupported: true, includeGlobalResourceTypes: args.recordGlobalResources === true } },
                { parent: this, dependsOn: [readConfigurations, delivers] },
            );
            const channel = new aws.cfg.DeliveryChannel(
                `${name}-delivery`,
                { name: RECORDER_NAME, s3BucketName: bucket.bucket, snapshotDeliveryProperties: { deliveryFrequency: "TwentyFour_Hours" } },
                { parent: this, dependsOn: [recorder, policy] },
            );
            const status = new aws.cfg.RecorderStatus(`${name}-recording`, { name: recorder.name, isEnabled: true }, { parent: this, dependsOn: [channel] });
            ready = [status];
            deliveryBucketName = bucket.bucket;
        }

        const rules = args.rules.map(
            ({ spec, parameters }) =>
                [
                    spec,
                    new aws.cfg.Rule(
                        `${name}-${spec.ruleName}`,
                        {
                            name: spec.ruleName,
                            description: spec.description,
                            source: { owner: "AWS", sourceIdentifier: spec.sourceIdentifier },
                            inputParameters: inputParameters(parameters),
                            maximumExecutionFrequency: spec.trigger === "change" ? undefined : spec.maximumExecutionFrequency,
                            scope: spec.trigger !== "periodic" && spec.resourceTypes !== undefined ? { complianceResourceTypes: [...spec.resourceTypes] } : undefined,
                            tags,
                        },
                        { parent: this, dependsOn: ready },
                    ),
                ] as const,
        );

        let remediationRoleArn: pulumi.Output<string | undefined> = pulumi.output(undefined);
        if (remediated.length > 0) {
            const role = new aws.iam.Role(`${name}-remediation`, { assumeRolePolicy: context.apply((c) => toJson(remediationTrustPolicy(c))), tags }, child);
            const permissions = new aws.iam.RolePolicy(
                `${name}-remediation`,
                { role: role.name, policy: context.apply((c) => toJson(remediationRolePolicy(remediated.map((r) => ({ rule: r.spec })), c))) },
                child,
            );
            remediationRoleArn = role.arn;
            for (const setting of remediated) {
                const remediation = setting.spec.remediation!;
                const rule = rules.find(([spec]) => spec === setting.spec)![1];
                const parameters = context.apply((c) => {
                    const statics = Object.entries(remediation.staticParameters(setting.parameters, c)).map(([paramName, value]) =>
                        Array.isArray(value) ? { name: paramName, staticValues: value } : { name: paramName, staticValue: value as string },
                    );
                    const resource = remediation.resourceIdParameter === undefined ? [] : [{ name: remediation.resourceIdParameter, resourceValue: "RESOURCE_ID" }];
                    return [...resource, ...statics];
                });
                new aws.cfg.RemediationConfiguration(
                    `${name}-${setting.spec.ruleName}`,
                    {
                        configRuleName: rule.name,
                        targetType: "SSM_DOCUMENT",
                        targetId: remediation.documentName,
                        // Sorted by name, as the provider stores them: any other order is a diff on every preview.
                        parameters: pulumi
                            .all([parameters, role.arn])
                            .apply(([ps, roleArn]) => [{ name: AUTOMATION_ASSUME_ROLE_PARAMETER, staticValue: roleArn }, ...ps].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))),
                        automatic: true,
                        maximumAutomaticAttempts: REMEDIATION_DEFAULTS.maximumAutomaticAttempts,
                        retryAttemptSeconds: REMEDIATION_DEFAULTS.retryAttemptSeconds,
                        executionControls: {
                            ssmControls: {
                                concurrentExecutionRatePercentage: REMEDIATION_DEFAULTS.concurrentExecutionRatePercentage,
                                errorPercentage: REMEDIATION_DEFAULTS.errorPercentage,
                            },
                        },
                    },
                    { parent: this, dependsOn: [permissions] },
                );
            }
        }

        this.ruleNames = pulumi.all(rules.map(([, rule]) => rule.name));
        this.remediationRoleArn = remediationRoleArn;
        this.deliveryBucketName = deliveryBucketName;
        this.registerOutputs({ ruleNames: this.ruleNames, remediationRoleArn: this.remediationRoleArn, deliveryBucketName: this.deliveryBucketName });
    }
}
