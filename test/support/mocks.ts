/**
 * The one mock engine every test uses. It records every resource the code under test declares,
 * answers with realistic per-type state (ids, ARNs, autonamed names), and throws on any resource
 * type or function call it does not know, so nothing reaches an unmocked path silently.
 *
 * Import this first and call `installMocks()` before importing the code under test.
 */
import * as crypto from "crypto";
import * as pulumi from "@pulumi/pulumi";

export const ACCOUNT_ID = "111122223333";
export const REGION = "eu-west-1";
export const PARTITION = "aws";

export interface RecordedResource {
    readonly type: string;
    readonly name: string;
    readonly inputs: Record<string, any>;
    readonly state: Record<string, any>;
    readonly id: string | undefined;
}

export interface MockEngine {
    readonly resources: RecordedResource[];
    readonly calls: Array<{ token: string; inputs: Record<string, any> }>;
    reset(): void;
    ofType(type: string): RecordedResource[];
    named(type: string, name: string): RecordedResource;
}

function hex(length: number): string {
    return crypto.randomBytes(Math.ceil(length / 2)).toString("hex").slice(0, length);
}

function suffix(): string {
    // Pulumi's autonaming: the logical name plus seven random lowercase characters.
    return crypto.randomBytes(4).toString("hex").slice(0, 7);
}

function arn(service: string, resource: string, region: string = REGION): string {
    return `arn:${PARTITION}:${service}:${region}:${ACCOUNT_ID}:${resource}`;
}

const privateIps = { next: 10 };

/** Realistic state per resource type, the way the AWS provider fills in computed properties. */
function stateFor(type: string, name: string, inputs: Record<string, any>): { id: string; state: Record<string, any> } {
    switch (type) {
        case "aws:ec2/securityGroup:SecurityGroup": {
            const id = `sg-${hex(17)}`;
            return { id, state: { name: inputs.name ?? `${name}-${suffix()}`, arn: arn("ec2", `security-group/${id}`), ownerId: ACCOUNT_ID } };
        }
        case "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":
        case "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": {
            const id = `sgr-${hex(17)}`;
            return { id, state: { securityGroupRuleId: id, arn: arn("ec2", `security-group-rule/${id}`) } };
        }
        case "aws:kms/key:Key": {
            const id = crypto.randomUUID();
            return { id, state: { keyId: id, arn: arn("kms", `key/${id}`), keyUsage: "ENCRYPT_DECRYPT", isEnabled: true } };
        }
        case "aws:kms/alias:Alias": {
            const aliasName = inputs.name ?? `${inputs.namePrefix}${suffix()}`;
            return { id: aliasName, state: { name: aliasName, arn: arn("kms", aliasName), targetKeyArn: arn("kms", `key/${inputs.targetKeyId}`) } };
        }
        case "aws:s3/bucket:Bucket": {
            const bucket = inputs.bucket ?? `${name}-${suffix()}`;
            return { id: bucket, state: { bucket, arn: `arn:${PARTITION}:s3:::${bucket}`, region: REGION, bucketDomainName: `${bucket}.s3.amazonaws.com` } };
        }
        case "aws:s3/bucketOwnershipControls:BucketOwnershipControls":
        case "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
        case "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
        case "aws:s3/bucketPolicy:BucketPolicy":
            return { id: String(inputs.bucket), state: {} };
        case "aws:iam/role:Role": {
            const roleName = inputs.name ?? `${name}-${suffix()}`;
            return {
                id: roleName,
                state: { name: roleName, arn: `arn:${PARTITION}:iam::${ACCOUNT_ID}:role${inputs.path ?? "/"}${roleName}`, uniqueId: `AROA${hex(17).toUpperCase()}` },
            };
        }
        case "aws:iam/instanceProfile:InstanceProfile": {
            const profileName = inputs.name ?? `${name}-${suffix()}`;
            return { id: profileName, state: { name: profileName, arn: `arn:${PARTITION}:iam::${ACCOUNT_ID}:instance-profile${inputs.path ?? "/"}${profileName}` } };
        }
        case "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
            return { id: `${inputs.role}-${suffix()}`, state: {} };
        case "aws:ebs/volume:Volume": {
            const id = `vol-${hex(17)}`;
            return { id, state: { arn: arn("ec2", `volume/${id}`), iops: 3000, throughput: 125 } };
        }
        case "aws:ec2/instance:Instance": {
            const id = `i-${hex(17)}`;
            const n = privateIps.next++;
            return {
                id,
                state: {
                    arn: arn("ec2", `instance/${id}`),
                    privateIp: `10.0.${Math.floor(n / 250) % 250}.${(n % 250) + 4}`,
                    publicIp: inputs.associatePublicIpAddress === true ? `203.0.113.${n % 250}` : "",
                    instanceState: "running",
                    primaryNetworkInterfaceId: `eni-${hex(17)}`,
                },
            };
        }
        case "aws:ec2/tag:Tag":
            return { id: `${inputs.resourceId},${inputs.key}`, state: {} };
        case "aws:ec2/volumeAttachment:VolumeAttachment":
            return { id: `vai-${hex(10)}`, state: {} };
        case "pulumi-nodejs:dynamic/airlock:InstanceKey":
            // Creating key custody does nothing in AWS (the instance writes its key).
            return { id: String(inputs.keyObjectKey), state: {} };
        case "pulumi-nodejs:dynamic/airlock:ScanAndPromote":
            // The mock engine never runs dynamic providers; a freshly launched instance is quarantined.
            return { id: `${name}-${hex(8)}`, state: { phase: "remediation", findingCounts: {}, scannerKind: inputs.scanner?.kind, reasons: [], warnings: [] } };
        default:
            throw new Error(`mock engine: no mock for resource type ${type} (${name}). Add one to test/support/mocks.ts.`);
    }
}

function callResult(token: string, inputs: Record<string, any>): Record<string, any> {
    switch (token) {
        case "aws:index/getPartition:getPartition":
            return { id: PARTITION, partition: PARTITION, dnsSuffix: "amazonaws.com", reverseDnsPrefix: "com.amazonaws" };
        case "aws:index/getCallerIdentity:getCallerIdentity":
            return { id: ACCOUNT_ID, accountId: ACCOUNT_ID, arn: `arn:${PARTITION}:iam::${ACCOUNT_ID}:user/deployer`, userId: "AIDAEXAMPLE" };
        case "aws:ec2/getSubnet:getSubnet": {
            if (typeof inputs.id !== "string" || !/^subnet-[0-9a-f]{8,17}$/.test(inputs.id)) {
                throw new Error(`mock engine: InvalidSubnetID.Malformed: ${inputs.id}`);
            }
            const zone = `${REGION}${"abc"[parseInt(inputs.id.slice(-1), 16) % 3]}`;
            return { id: inputs.id, availabilityZone: zone, vpcId: "vpc-0a1b2c3d4e5f60718", cidrBlock: "10.0.0.0/24", mapPublicIpOnLaunch: false };
        }
        case "aws:ssm/getParameter:getParameter":
            if (typeof inputs.name !== "string" || !inputs.name.startsWith("/aws/service/")) {
                throw new Error(`mock engine: ParameterNotFound: ${inputs.name}`);
            }
            return { id: inputs.name, name: inputs.name, type: "String", value: `ami-${hex(17)}`, version: 1, arn: arn("ssm", `parameter${inputs.name}`) };
        default:
            throw new Error(`mock engine: no mock for function ${token}. Add one to test/support/mocks.ts.`);
    }
}

/**
 * Installs the mocks. `preview: true` makes it a dry run, as `pulumi preview` is: the engine then
 * reports no computed output (ids, ARNs) back to the program, only the inputs.
 */
export function installMocks(options: { preview?: boolean; stack?: string } = {}): MockEngine {
    const resources: RecordedResource[] = [];
    const calls: Array<{ token: string; inputs: Record<string, any> }> = [];
    const preview = options.preview ?? false;
    pulumi.runtime.setMocks(
        {
            newResource(args: pulumi.runtime.MockResourceArgs): { id: string | undefined; state: Record<string, any> } {
                if (args.custom === false) {
                    // Components: only Airlock's own are expected.
                    if (!args.type.startsWith("airlock:")) {
                        throw new Error(`mock engine: unexpected component type ${args.type} (${args.name}).`);
                    }
                    resources.push({ type: args.type, name: args.name, inputs: args.inputs, state: args.inputs, id: undefined });
                    return { id: undefined, state: args.inputs };
                }
                const { id, state } = stateFor(args.type, args.name, args.inputs);
                if (preview) {
                    resources.push({ type: args.type, name: args.name, inputs: args.inputs, state: args.inputs, id: undefined });
                    return { id: undefined, state: args.inputs };
                }
                const full = { ...args.inputs, ...state };
                resources.push({ type: args.type, name: args.name, inputs: args.inputs, state: full, id });
                return { id, state: full };
            },
            call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
                calls.push({ token: args.token, inputs: args.inputs });
                return callResult(args.token, args.inputs);
            },
        },
        "airlock",
        options.stack ?? "test",
        preview,
    );
    return {
        resources,
        calls,
        reset() {
            resources.length = 0;
            calls.length = 0;
        },
        ofType(type: string) {
            return resources.filter((r) => r.type === type);
        },
        named(type: string, name: string) {
            const found = resources.find((r) => r.type === type && r.name === name);
            if (found === undefined) {
                const names = resources.filter((r) => r.type === type).map((r) => r.name);
                throw new Error(`no ${type} named ${name}; declared: ${names.join(", ") || "none"}`);
            }
            return found;
        },
    };
}

/** Resolves an Output in a test (undefined when it is unknown, as in preview). */
export function valueOf<T>(output: pulumi.Output<T> | pulumi.Input<T>): Promise<T> {
    return new Promise((resolve) => pulumi.output(output).apply((v) => resolve(v as T)));
}

/** Resolves an Output with its known/secret flags, for tests about preview and secrecy. */
export async function inspect<T>(output: pulumi.Output<T>): Promise<{ value: T | undefined; isKnown: boolean; isSecret: boolean }> {
    const o = output as any;
    const [value, isKnown, isSecret] = await Promise.all([o.promise(), o.isKnown, o.isSecret]);
    return { value, isKnown, isSecret };
}

/** Waits until every resource declared so far has been registered with the mock engine. */
export async function settle(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    // Components register outputs asynchronously; wait for the runtime's outstanding RPCs.
    await (pulumi.runtime as any).waitForRPCs?.();
}
