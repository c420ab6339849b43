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
    /** Forgets the resources, the calls and everything seeded. */
    reset(): void;
    ofType(type: string): RecordedResource[];
    named(type: string, name: string): RecordedResource;
    /**
     * A customer-managed IAM policy that exists in the account before the program runs, for
     * aws.iam.getPolicy to find (by name, ARN or path prefix). `document` defaults to an empty allow-nothing policy.
     */
    seedPolicy(name: string, opts: { tags: Record<string, string>; document?: string; path?: string; description?: string }): SeededPolicy;
    /** An SSM parameter (type String) that exists before the program runs, for aws.ssm.getParameter. */
    seedParameter(name: string, value: string): void;
}

export interface SeededPolicy {
    readonly name: string;
    readonly arn: string;
    readonly path: string;
    readonly policyId: string;
    readonly document: string;
    readonly description: string;
    readonly tags: Record<string, string>;
}

/**
 * The real provider's invoke failures when nothing matches (pulumi-aws 7.x, terraform-provider-aws
 * v6): aws_iam_policy's data source answers tfresource.SingularDataSourceFindError("IAM Policy")
 * (after retrying a not-found name for IAM's 2-minute propagation time; the doubles answer at once),
 * aws_ssm_parameter's wraps ParameterNotFound in retry.NotFoundError, whose text is "couldn't find
 * resource". Neither message names AWS's error code. The test plugin (test/engine/fakeProvider.ts)
 * fails with the same texts.
 */
export const NOT_FOUND_MESSAGES = {
    getPolicy: "no matching IAM Policy found",
    getPolicyMultiple: "multiple IAM Policys matched; use additional constraints to reduce matches to a single IAM Policy",
    getPolicyArn: (arn: string): string => `reading IAM Policy (${arn}): couldn't find resource`,
    getParameter: (name: string): string => `reading SSM Parameter (${name}): couldn't find resource`,
} as const;

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

let uniqueCounter = 0;
/** Terraform's id.PrefixedUniqueId: prefix + 18-digit UTC timestamp + 8-hex counter. */
function prefixedUniqueId(prefix: string): string {
    const stamp = new Date().toISOString().replace(/[-:TZ.]/g, "").padEnd(18, "0").slice(0, 18);
    uniqueCounter = (uniqueCounter + 1) % 0x100000000;
    return `${prefix}${stamp}${uniqueCounter.toString(16).padStart(8, "0")}`;
}

/** A name property as the provider fills it: given, from its prefix, else autonamed from the logical name. */
function nameOf(inputs: Record<string, any>, name: string, key = "name", prefixKey = "namePrefix"): string {
    if (typeof inputs[key] === "string" && inputs[key] !== "") return inputs[key];
    if (typeof inputs[prefixKey] === "string" && inputs[prefixKey] !== "") return prefixedUniqueId(inputs[prefixKey]);
    return `${name}-${suffix()}`;
}

/** An IAM path as given, "/" by default. */
function iamPath(inputs: Record<string, any>): string {
    return typeof inputs.path === "string" && inputs.path !== "" ? inputs.path : "/";
}

/** The ARN of an SSM parameter: a name without a leading "/" gets one. */
function parameterArn(parameterName: string): string {
    return arn("ssm", `parameter${parameterName.startsWith("/") ? "" : "/"}${parameterName}`);
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
        case "aws:iam/policy:Policy": {
            const policyName = nameOf(inputs, name);
            const path = iamPath(inputs);
            const policyArn = `arn:${PARTITION}:iam::${ACCOUNT_ID}:policy${path}${policyName}`;
            return { id: policyArn, state: { name: policyName, path, arn: policyArn, policyId: `ANPA${hex(17).toUpperCase()}`, attachmentCount: 0, description: inputs.description ?? "" } };
        }
        case "aws:iam/group:Group": {
            const groupName = nameOf(inputs, name);
            const path = iamPath(inputs);
            return { id: groupName, state: { name: groupName, path, arn: `arn:${PARTITION}:iam::${ACCOUNT_ID}:group${path}${groupName}`, uniqueId: `AGPA${hex(17).toUpperCase()}` } };
        }
        case "aws:iam/groupPolicyAttachment:GroupPolicyAttachment":
            // terraform-provider-aws: id.PrefixedUniqueId("<group>-").
            return { id: prefixedUniqueId(`${inputs.group}-`), state: {} };
        case "aws:iam/userGroupMembership:UserGroupMembership":
            // terraform-provider-aws: id.UniqueId().
            return { id: prefixedUniqueId("terraform-"), state: {} };
        case "aws:iam/rolePolicy:RolePolicy": {
            const policyName = nameOf(inputs, name);
            return { id: `${inputs.role}:${policyName}`, state: { name: policyName } };
        }
        case "aws:cfg/recorder:Recorder":
        case "aws:cfg/deliveryChannel:DeliveryChannel":
        case "aws:cfg/recorderStatus:RecorderStatus": {
            const recorderName = nameOf(inputs, name);
            return { id: recorderName, state: { name: recorderName, region: REGION } };
        }
        case "aws:cfg/rule:Rule": {
            const ruleName = nameOf(inputs, name);
            const ruleId = `config-rule-${hex(6)}`;
            return { id: ruleName, state: { name: ruleName, ruleId, arn: arn("config", `config-rule/${ruleId}`), region: REGION } };
        }
        case "aws:cfg/remediationConfiguration:RemediationConfiguration":
            return { id: String(inputs.configRuleName), state: { arn: arn("config", `remediation-configuration/${inputs.configRuleName}/${crypto.randomUUID()}`), region: REGION } };
        case "aws:cloudtrail/trail:Trail": {
            const trailName = nameOf(inputs, name);
            const trailArn = arn("cloudtrail", `trail/${trailName}`);
            // terraform-provider-aws v6: the trail's id is its ARN.
            return { id: trailArn, state: { name: trailName, arn: trailArn, homeRegion: REGION, enableLogging: inputs.enableLogging ?? true, region: REGION } };
        }
        case "aws:cloudwatch/logGroup:LogGroup": {
            const groupName = nameOf(inputs, name);
            // The provider's arn has no ":*" (CloudTrail wants it added).
            return { id: groupName, state: { name: groupName, arn: arn("logs", `log-group:${groupName}`), logGroupClass: "STANDARD", region: REGION } };
        }
        case "aws:lambda/function:Function": {
            const functionName = nameOf(inputs, name);
            const functionArn = arn("lambda", `function:${functionName}`);
            const codeSha256 = crypto.randomBytes(32).toString("base64");
            return {
                id: functionName,
                state: {
                    name: functionName,
                    arn: functionArn,
                    invokeArn: `arn:${PARTITION}:apigateway:${REGION}:lambda:path/2015-03-31/functions/${functionArn}/invocations`,
                    qualifiedArn: `${functionArn}:$LATEST`,
                    version: "$LATEST",
                    lastModified: new Date().toISOString().replace("Z", "+0000"),
                    codeSha256,
                    sourceCodeHash: inputs.sourceCodeHash ?? codeSha256,
                    region: REGION,
                },
            };
        }
        case "aws:lambda/permission:Permission": {
            // terraform-provider-aws: create.Name(statement_id, statement_id_prefix), "terraform-<unique>" when neither is set.
            const statementId = inputs.statementId || prefixedUniqueId(inputs.statementIdPrefix || "terraform-");
            return { id: statementId, state: { statementId, region: REGION } };
        }
        case "aws:cloudwatch/eventRule:EventRule": {
            const ruleName = nameOf(inputs, name);
            return { id: ruleName, state: { name: ruleName, arn: arn("events", `rule/${ruleName}`), state: inputs.state ?? "ENABLED", region: REGION } };
        }
        case "aws:cloudwatch/eventTarget:EventTarget": {
            const targetId = typeof inputs.targetId === "string" && inputs.targetId !== "" ? inputs.targetId : prefixedUniqueId("terraform-");
            return { id: `${inputs.rule}-${targetId}`, state: { targetId, region: REGION } };
        }
        case "aws:ssm/parameter:Parameter": {
            const parameterName = nameOf(inputs, name);
            // SSM resolves Intelligent-Tiering to the tier the value needs.
            const value = String(inputs.insecureValue ?? inputs.value ?? "");
            const tier = inputs.tier === "Advanced" || (inputs.tier === "Intelligent-Tiering" && Buffer.byteLength(value) > 4096) ? "Advanced" : "Standard";
            // With insecureValue the provider reads the value back there, and `value` stays empty.
            const values = inputs.insecureValue !== undefined ? { value: "", insecureValue: value } : { insecureValue: "" };
            return { id: parameterName, state: { name: parameterName, arn: parameterArn(parameterName), version: 1, tier, dataType: inputs.dataType ?? "text", ...values, region: REGION } };
        }
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

interface Seeds {
    readonly policies: Map<string, SeededPolicy>;
    readonly parameters: Map<string, string>;
}

/** aws.iam.getPolicy over the seeded policies, as the provider looks them up (ARN, else name and path prefix). */
function getPolicy(seeds: Seeds, inputs: Record<string, any>): Record<string, any> {
    const byArn = typeof inputs.arn === "string" && inputs.arn !== "";
    const matches = [...seeds.policies.values()].filter((p) =>
        byArn ? p.arn === inputs.arn : (inputs.name === undefined || p.name === inputs.name) && (inputs.pathPrefix === undefined || p.path.startsWith(inputs.pathPrefix)),
    );
    if (byArn && matches.length === 0) {
        // GetPolicy's NoSuchEntity, wrapped in retry.NotFoundError like the name's.
        throw new Error(NOT_FOUND_MESSAGES.getPolicyArn(String(inputs.arn)));
    }
    if (matches.length === 0) throw new Error(NOT_FOUND_MESSAGES.getPolicy);
    if (matches.length > 1) throw new Error(NOT_FOUND_MESSAGES.getPolicyMultiple);
    const p = matches[0] as SeededPolicy;
    return {
        id: p.arn,
        arn: p.arn,
        name: p.name,
        path: p.path,
        ...(inputs.pathPrefix === undefined ? {} : { pathPrefix: inputs.pathPrefix }),
        policy: p.document,
        policyId: p.policyId,
        description: p.description,
        attachmentCount: 0,
        tags: { ...p.tags },
    };
}

function callResult(token: string, inputs: Record<string, any>, seeds: Seeds): Record<string, any> {
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
        case "aws:ssm/getParameter:getParameter": {
            const parameterName = String(inputs.name);
            const seeded = seeds.parameters.get(parameterName);
            if (seeded !== undefined) {
                return { id: parameterName, name: parameterName, type: "String", value: seeded, insecureValue: seeded, version: 1, arn: parameterArn(parameterName), withDecryption: inputs.withDecryption ?? true };
            }
            if (!parameterName.startsWith("/aws/service/")) throw new Error(NOT_FOUND_MESSAGES.getParameter(parameterName));
            // AWS's public parameters (AMI ids) carry no account in their ARN.
            const ami = `ami-${hex(17)}`;
            return { id: parameterName, name: parameterName, type: "String", value: ami, insecureValue: ami, version: 1, arn: `arn:${PARTITION}:ssm:${REGION}::parameter${parameterName}`, withDecryption: inputs.withDecryption ?? true };
        }
        case "aws:iam/getPolicy:getPolicy":
            return getPolicy(seeds, inputs);
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
    const seeds: Seeds = { policies: new Map(), parameters: new Map() };
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
                try {
                    return callResult(args.token, args.inputs, seeds);
                } catch (err) {
                    // The SDK rethrows a failed invoke as new Error(err.details), as it does a gRPC
                    // error from the engine: without details the program would see an empty message.
                    throw Object.assign(err as Error, { details: (err as Error).message });
                }
            },
        },
        "airlock",
        options.stack ?? "test",
        preview,
        // What a self-managed (file or S3) backend calls every stack's organization.
        "organization",
    );
    return {
        resources,
        calls,
        reset() {
            resources.length = 0;
            calls.length = 0;
            seeds.policies.clear();
            seeds.parameters.clear();
        },
        seedPolicy(policyName, opts) {
            const path = opts.path ?? "/";
            const seeded: SeededPolicy = {
                name: policyName,
                arn: `arn:${PARTITION}:iam::${ACCOUNT_ID}:policy${path}${policyName}`,
                path,
                policyId: `ANPA${hex(17).toUpperCase()}`,
                document: opts.document ?? JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Deny", Action: "*", Resource: "*" }] }),
                description: opts.description ?? "",
                tags: { ...opts.tags },
            };
            seeds.policies.set(seeded.arn, seeded);
            return seeded;
        },
        seedParameter(parameterName, value) {
            seeds.parameters.set(parameterName, value);
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
