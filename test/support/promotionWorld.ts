/**
 * What the end-to-end promotion tests share: inputs built with the real policy builders for an
 * instance seeded in moto, the instance's bootstrap signal, and reading AWS state back.
 */
import { CreateTagsCommand, DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { GetRolePolicyCommand, IAMClient, paginateListAttachedRolePolicies } from "@aws-sdk/client-iam";
import { toJson } from "../../policies/document";
import { launchPolicy, productionPolicy } from "../../policies/instance";
import type { SeededInstance } from "./moto";
import { RECOVERY_KEY, scanAndPromoteProvider, serializedRecoveryProvider } from "../../providers/scanAndPromote";
import { secret, serializeProvider } from "./providerHost";
import { FAKE_KEYS } from "./tenableFake";

export const PROMOTION_TYPE = "pulumi-nodejs:dynamic/airlock:ScanAndPromote";
const KMS_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/0b7f8a62-1b2c-4d5e-8f90-123456789abc";
export const TEMPLATE_UUID = "731a8e52-3ea6-a291-ec0a-d2ff0619c19d7bd788d6be818b65";

/** The serialized provider, and the recovery provider the program passes beside it (scanAndPromote.ts). */
export interface PromotionProviderTexts {
    readonly text: string;
    readonly recovery?: string;
}

/** Both, serialized as the program serializes them. */
export async function serializePromotionProvider(): Promise<PromotionProviderTexts> {
    const [text, recovery] = await Promise.all([serializeProvider(scanAndPromoteProvider), serializedRecoveryProvider()]);
    return { text, recovery };
}

/**
 * The promotion's inputs as the engine sends them (scanner credentials as a secret); given a plain
 * string, only `__provider` (what a stack recorded before the recovery provider existed).
 */
export function promotionInputs(
    provider: PromotionProviderTexts | string,
    tenableUrl: string,
    instance: SeededInstance,
    name = "web-1",
    extra: Record<string, unknown> = {},
): Record<string, unknown> {
    const grant = { partition: "aws", dnsSuffix: "amazonaws.com", region: "eu-west-1", bucketName: "airlock-keys-test", kmsKeyArn: KMS_KEY_ARN, instanceArn: `arn:aws:ec2:eu-west-1:123456789012:instance/${instance.instanceId}` };
    const texts = typeof provider === "string" ? { text: provider } : provider;
    return {
        __provider: texts.text,
        ...(texts.recovery === undefined ? {} : { [RECOVERY_KEY]: texts.recovery }),
        instanceName: name,
        region: "eu-west-1",
        instanceId: instance.instanceId,
        roleName: instance.roleName,
        phasePolicyName: "airlock-phase",
        launchPolicy: toJson(launchPolicy(grant)),
        productionPolicy: toJson(productionPolicy(grant)),
        remediationSecurityGroupIds: [instance.remediationSecurityGroupId],
        productionSecurityGroupIds: [instance.productionSecurityGroupId],
        scanner: secret({ kind: "tenable", url: tenableUrl, accessKey: FAKE_KEYS.accessKey, secretKey: FAKE_KEYS.secretKey, templateUuid: TEMPLATE_UUID }),
        severityThreshold: "medium",
        readinessTimeoutSeconds: 60,
        scanTimeoutSeconds: 60,
        ...extra,
    };
}

export async function groupsOf(ec2: EC2Client, instanceId: string): Promise<string[]> {
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    return (out.Reservations?.[0]?.Instances?.[0]?.SecurityGroups ?? []).map((g) => g.GroupId ?? "");
}

/** The role's phase policy as normalised JSON, or undefined when it has none. */
export async function phasePolicyOf(iam: IAMClient, roleName: string): Promise<string | undefined> {
    try {
        const out = await iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: "airlock-phase" }));
        return JSON.stringify(JSON.parse(decodeURIComponent(out.PolicyDocument ?? "")));
    } catch (err) {
        const name = (err as { name?: string }).name;
        if (name === "NoSuchEntityException" || name === "NoSuchEntity") {
            return undefined;
        }
        throw err;
    }
}

/** ARNs of the managed policies attached to the role, as the emulator holds them. */
export async function attachedPoliciesOf(iam: IAMClient, roleName: string): Promise<string[]> {
    const arns: string[] = [];
    for await (const page of paginateListAttachedRolePolicies({ client: iam }, { RoleName: roleName })) {
        arns.push(...(page.AttachedPolicies ?? []).map((p) => p.PolicyArn ?? ""));
    }
    return arns.sort();
}

/**
 * The instance signals its bootstrap result the way cloud-init will: by tagging itself, which it
 * can do only once the launch policy grants it (so it waits for that policy, as the real one must).
 */
export async function signalBootstrapWhenAllowed(
    ec2: EC2Client,
    iam: IAMClient,
    instance: SeededInstance,
    status: "success" | "failure" = "success",
    reason = "",
): Promise<void> {
    for (let attempt = 0; (await phasePolicyOf(iam, instance.roleName)) === undefined; attempt++) {
        if (attempt > 300) {
            throw new Error("the launch policy never appeared");
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await ec2.send(
        new CreateTagsCommand({
            Resources: [instance.instanceId],
            Tags: [
                { Key: "airlock:bootstrap", Value: status },
                { Key: "airlock:bootstrap-reason", Value: reason },
            ],
        }),
    );
}

/**
 * The invariant, read from AWS (promotionFlow.ts): in a production group ⇒ the role holds production
 * rights or none; managed policies attached ⇒ the phase policy is the production one (never beside
 * launch rights).
 */
export async function invariantHolds(ec2: EC2Client, iam: IAMClient, instance: SeededInstance, productionPolicyJson: string): Promise<boolean> {
    const [groups, policy, attached] = await Promise.all([groupsOf(ec2, instance.instanceId), phasePolicyOf(iam, instance.roleName), attachedPoliciesOf(iam, instance.roleName)]);
    const inProduction = groups.includes(instance.productionSecurityGroupId);
    const groupsOk = !inProduction || policy === undefined || policy === productionPolicyJson;
    return groupsOk && (attached.length === 0 || policy === productionPolicyJson);
}
