/**
 * The AWS side of the promotion flow, on the AWS SDK v3. Runs inside Pulumi's dynamic-provider
 * process: the SDK is required inside the function (nothing is captured at serialization), the
 * credentials come from the standard chain of that process (optionally through an assumed role),
 * and every client honours AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> (SDK behaviour), which is
 * how the same code runs against an emulator.
 */
import type { AwsPort, InstanceState } from "./promotionFlow";

export interface AwsPortSettings {
    readonly region: string;
    readonly assumeRoleArn?: string;
    /** SDK attempts per call (throttling and 5xx are retried with the SDK's backoff). @default AWS_MAX_ATTEMPTS, else 5 */
    readonly maxAttempts?: number;
}

/** arn:<partition> for a region: aws-cn for cn-*, aws-us-gov for us-gov-*, else aws. */
export function partitionOfRegion(region: string): string {
    return region.startsWith("cn-") ? "aws-cn" : region.startsWith("us-gov-") ? "aws-us-gov" : "aws";
}

function errorName(err: unknown): string {
    return typeof err === "object" && err !== null && "name" in err ? String((err as { name: unknown }).name) : "";
}

/** `call`'s result, or `whenMissing` when IAM says the role or policy does not exist (idempotent reads and removals). */
async function unlessMissing<T>(whenMissing: T, call: () => Promise<T>): Promise<T> {
    try {
        return await call();
    } catch (err) {
        if (errorName(err) === "NoSuchEntityException" || errorName(err) === "NoSuchEntity") {
            return whenMissing;
        }
        throw err;
    }
}

/**
 * The settings every SDK client of the providers shares: region, attempts (AWS_MAX_ATTEMPTS, else 5),
 * and credentials — the process's standard chain, or a role assumed from it under `sessionName`.
 */
export function clientSettings(settings: AwsPortSettings, sessionName: string): { region: string; maxAttempts?: number; credentials?: ReturnType<typeof import("@aws-sdk/credential-providers").fromTemporaryCredentials> } {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const credentials =
        settings.assumeRoleArn === undefined
            ? undefined
            : (require("@aws-sdk/credential-providers") as typeof import("@aws-sdk/credential-providers")).fromTemporaryCredentials({
                  params: { RoleArn: settings.assumeRoleArn, RoleSessionName: sessionName },
                  clientConfig: { region: settings.region },
              });
    /* eslint-enable @typescript-eslint/no-require-imports */
    // Without an explicit setting, the SDK reads AWS_MAX_ATTEMPTS; only when that is unset too, 5.
    const maxAttempts = settings.maxAttempts ?? (process.env.AWS_MAX_ATTEMPTS === undefined ? 5 : undefined);
    return {
        region: settings.region,
        ...(maxAttempts === undefined ? {} : { maxAttempts }),
        ...(credentials === undefined ? {} : { credentials }),
    };
}

export function createAwsPort(settings: AwsPortSettings): AwsPort {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const ec2sdk = require("@aws-sdk/client-ec2") as typeof import("@aws-sdk/client-ec2");
    const iamsdk = require("@aws-sdk/client-iam") as typeof import("@aws-sdk/client-iam");
    /* eslint-enable @typescript-eslint/no-require-imports */
    const common = clientSettings(settings, "airlock-promotion");
    const ec2 = new ec2sdk.EC2Client(common);
    const iam = new iamsdk.IAMClient(common);
    const partition = partitionOfRegion(settings.region);

    return {
        async describeInstance(instanceId: string): Promise<InstanceState | undefined> {
            let out;
            try {
                out = await ec2.send(new ec2sdk.DescribeInstancesCommand({ InstanceIds: [instanceId] }));
            } catch (err) {
                if (errorName(err) === "InvalidInstanceID.NotFound") {
                    return undefined;
                }
                throw err;
            }
            const reservation = out.Reservations?.[0];
            const instance = reservation?.Instances?.[0];
            if (reservation === undefined || instance === undefined) {
                return undefined;
            }
            const accountId = reservation.OwnerId ?? "";
            return {
                instanceId,
                arn: `arn:${partition}:ec2:${settings.region}:${accountId}:instance/${instanceId}`,
                accountId,
                privateIp: instance.PrivateIpAddress ?? "",
                state: instance.State?.Name ?? "unknown",
                securityGroupIds: (instance.SecurityGroups ?? []).map((g) => g.GroupId ?? "").filter((g) => g !== ""),
                tags: Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""])),
            };
        },

        async setSecurityGroups(instanceId: string, groupIds: readonly string[]): Promise<void> {
            await ec2.send(new ec2sdk.ModifyInstanceAttributeCommand({ InstanceId: instanceId, Groups: [...groupIds] }));
        },

        async getRolePolicy(roleName: string, policyName: string): Promise<string | undefined> {
            return unlessMissing(undefined, async () => {
                const out = await iam.send(new iamsdk.GetRolePolicyCommand({ RoleName: roleName, PolicyName: policyName }));
                // IAM returns the document URL-encoded.
                return out.PolicyDocument === undefined ? undefined : decodeURIComponent(out.PolicyDocument);
            });
        },

        async putRolePolicy(roleName: string, policyName: string, document: string): Promise<void> {
            await iam.send(new iamsdk.PutRolePolicyCommand({ RoleName: roleName, PolicyName: policyName, PolicyDocument: document }));
        },

        async deleteRolePolicy(roleName: string, policyName: string): Promise<void> {
            await unlessMissing(undefined, async () => {
                await iam.send(new iamsdk.DeleteRolePolicyCommand({ RoleName: roleName, PolicyName: policyName }));
            });
        },

        async listAttachedRolePolicies(roleName: string): Promise<string[]> {
            return unlessMissing([], async () => {
                const arns: string[] = [];
                for await (const page of iamsdk.paginateListAttachedRolePolicies({ client: iam }, { RoleName: roleName })) {
                    arns.push(...(page.AttachedPolicies ?? []).map((p) => p.PolicyArn ?? "").filter((a) => a !== ""));
                }
                return arns;
            });
        },

        async attachRolePolicy(roleName: string, policyArn: string): Promise<void> {
            await iam.send(new iamsdk.AttachRolePolicyCommand({ RoleName: roleName, PolicyArn: policyArn }));
        },

        async detachRolePolicy(roleName: string, policyArn: string): Promise<void> {
            await unlessMissing(undefined, async () => {
                await iam.send(new iamsdk.DetachRolePolicyCommand({ RoleName: roleName, PolicyArn: policyArn }));
            });
        },
    };
}
