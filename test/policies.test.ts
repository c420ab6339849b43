/**
 * Evaluates the REAL policy builders (policies/*.ts) with the IAM simulator (test/support/iamSimulator.ts):
 * instance roles (production and launch phase), the key bucket policy, the vault KMS key policy and the
 * instance trust policy. Every case asserts an exact decision.
 */
import type { IdentityPolicyDocument, IdentityStatement, ResourcePolicyDocument } from "../policies/document";
import { instanceTrustPolicy, launchPolicy, productionPolicy, type InstanceKeyGrant } from "../policies/instance";
import { keyBucketPolicy } from "../policies/keyBucket";
import {
    BOOTSTRAP_REASON_TAG,
    BOOTSTRAP_STATUS_TAG,
    INSTANCE_ARN_TAG,
    bucketArn,
    keyObjectKey,
    objectArn,
} from "../policies/keyNaming";
import { vaultKeyPolicy } from "../policies/kmsKey";
import { ANONYMOUS, simulate, type Decision, type SimulationRequest } from "./support/iamSimulator";

// ---------------------------------------------------------------------------------------------------------------
// Setup
// ---------------------------------------------------------------------------------------------------------------

const ACCOUNT = "111122223333";
const PARTITION = "aws";
const DNS_SUFFIX = "amazonaws.com";
const REGION = "eu-west-1";
const BUCKET = "airlock-keys-abc1234";
const BUCKET_ARN = bucketArn(PARTITION, BUCKET);
const KMS_KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0b7c5e2a-4d1f-4c3e-9a8b-6f2d1e0c9b7a`;
const OTHER_KMS_KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/9f8e7d6c-5b4a-4321-8fed-cba987654321`;
const S3_VIA_SERVICE = `s3.${REGION}.${DNS_SUFFIX}`;
const TAG_CONTEXT_KEY = `s3:ExistingObjectTag/${INSTANCE_ARN_TAG}`;

interface TestInstance {
    readonly name: string;
    readonly instanceId: string;
    readonly instanceArn: string;
    readonly roleName: string;
    readonly roleArn: string;
    readonly sessionArn: string;
    readonly keyObjectArn: string;
    readonly grant: InstanceKeyGrant;
}

function testInstance(name: string, instanceId: string, roleName: string): TestInstance {
    const instanceArn = `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/${instanceId}`;
    const key = keyObjectKey(instanceArn);
    return {
        name,
        instanceId,
        instanceArn,
        roleName,
        roleArn: `arn:aws:iam::${ACCOUNT}:role/airlock/${roleName}`,
        // The role path is not part of an assumed-role session ARN.
        sessionArn: `arn:aws:sts::${ACCOUNT}:assumed-role/${roleName}/${instanceId}`,
        keyObjectArn: objectArn(PARTITION, BUCKET, key),
        grant: {
            partition: PARTITION,
            dnsSuffix: DNS_SUFFIX,
            region: REGION,
            bucketName: BUCKET,
            kmsKeyArn: KMS_KEY_ARN,
            instanceArn,
        },
    };
}

const A = testInstance("web-1", "i-0aaaaaaaaaaaaaaaa", "web-1-role-1234567");
const B = testInstance("api-1", "i-0bbbbbbbbbbbbbbbb", "api-1-role-7654321");

// The real builders' output.
const DEPLOYER_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/deployer`;
const BUCKET_POLICY = keyBucketPolicy({ partition: PARTITION, dnsSuffix: DNS_SUFFIX, bucketName: BUCKET, kmsKeyArn: KMS_KEY_ARN, deployers: [DEPLOYER_ROLE_ARN] });
const KEY_POLICY = vaultKeyPolicy({ partition: PARTITION, dnsSuffix: DNS_SUFFIX, accountId: ACCOUNT, region: REGION, bucketName: BUCKET, deployers: [DEPLOYER_ROLE_ARN] });

type Phase = "production" | "launch";
const PHASES: Phase[] = ["production", "launch"];
function roleIdentityPolicy(instance: TestInstance, phase: Phase): IdentityPolicyDocument {
    return phase === "production" ? productionPolicy(instance.grant) : launchPolicy(instance.grant);
}

/** A hypothetical, deliberately over-broad identity policy: proves the bucket policy alone stops a request. */
const broadIdentityPolicy = (action: string, resource: string | string[]): object => ({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: action, Resource: resource }],
});
const BROAD_GET_OBJECT = broadIdentityPolicy("s3:GetObject", `${BUCKET_ARN}/*`);
const BROAD_S3 = broadIdentityPolicy("s3:*", [BUCKET_ARN, `${BUCKET_ARN}/*`]);

/** Context of a request made with `role`'s instance-profile credentials on the instance `from`. */
function instanceContext(role: TestInstance, from: TestInstance = role, secureTransport = true): Record<string, string> {
    return {
        "ec2:SourceInstanceARN": from.instanceArn,
        "aws:PrincipalArn": role.roleArn,
        "aws:SecureTransport": secureTransport ? "true" : "false",
    };
}

interface GetKeyOptions {
    readonly identityPolicies: object[];
    /** Whose credentials. */
    readonly role: TestInstance;
    /** Which instance the credentials are used from (ec2:SourceInstanceARN); defaults to `role`. */
    readonly from?: TestInstance;
    /** Whose key object is read (its tag names this instance). */
    readonly key: TestInstance;
    readonly secureTransport?: boolean;
}

/** s3:GetObject on a key object under the real bucket policy. */
function getKey(o: GetKeyOptions): Promise<Decision> {
    return simulate({
        identityPolicies: o.identityPolicies,
        resourcePolicy: BUCKET_POLICY,
        principal: o.role.sessionArn,
        action: "s3:GetObject",
        resource: o.key.keyObjectArn,
        resourceAccount: ACCOUNT,
        context: {
            ...instanceContext(o.role, o.from ?? o.role, o.secureTransport ?? true),
            [TAG_CONTEXT_KEY]: o.key.instanceArn,
        },
    });
}

/** kms:Decrypt on the vault key, under the real key policy. */
function decrypt(identityPolicies: object[], principal: string, context: Record<string, string>, resource = KMS_KEY_ARN): Promise<Decision> {
    return simulate({ identityPolicies, resourcePolicy: KEY_POLICY, principal, action: "kms:Decrypt", resource, context });
}

// ---------------------------------------------------------------------------------------------------------------
// Instance credentials and the key vault
// ---------------------------------------------------------------------------------------------------------------

describe("instance A's role, calling from instance A", () => {
    it.each(PHASES)("can read key A (%s policy)", async (phase) => {
        await expect(getKey({ identityPolicies: [roleIdentityPolicy(A, phase)], role: A, key: A })).resolves.toBe("Allowed");
    });

    it.each(PHASES)("can kms:Decrypt with the vault key through S3 in its region for key A's object (%s policy)", async (phase) => {
        await expect(
            decrypt([roleIdentityPolicy(A, phase)], A.sessionArn, {
                ...instanceContext(A),
                "kms:ViaService": S3_VIA_SERVICE,
                "kms:EncryptionContext:aws:s3:arn": A.keyObjectArn,
            }),
        ).resolves.toBe("Allowed");
    });

    describe.each(PHASES)("cannot kms:Decrypt outside of S3 reading key A (%s policy)", (phase) => {
        // Explicit where the vault key policy denies this bucket's contexts outside S3 in its region.
        it.each<[string, Decision, Record<string, string>]>([
            ["directly (no kms:ViaService)", "ExplicitlyDenied", { "kms:EncryptionContext:aws:s3:arn": A.keyObjectArn }],
            ["directly without any encryption context", "ImplicitlyDenied", {}],
            ["via S3 for key B's object", "ImplicitlyDenied", { "kms:ViaService": S3_VIA_SERVICE, "kms:EncryptionContext:aws:s3:arn": B.keyObjectArn }],
            [
                "via S3 for an object in another bucket",
                "ImplicitlyDenied",
                { "kms:ViaService": S3_VIA_SERVICE, "kms:EncryptionContext:aws:s3:arn": objectArn(PARTITION, "other-bucket", keyObjectKey(A.instanceArn)) },
            ],
            [
                "via S3 for the bucket ARN (S3 Bucket Key context)",
                "ImplicitlyDenied",
                { "kms:ViaService": S3_VIA_SERVICE, "kms:EncryptionContext:aws:s3:arn": BUCKET_ARN },
            ],
            ["via S3 in another region", "ExplicitlyDenied", { "kms:ViaService": `s3.us-east-1.${DNS_SUFFIX}`, "kms:EncryptionContext:aws:s3:arn": A.keyObjectArn }],
            [
                "via another service",
                "ExplicitlyDenied",
                { "kms:ViaService": `secretsmanager.${REGION}.${DNS_SUFFIX}`, "kms:EncryptionContext:aws:s3:arn": A.keyObjectArn },
            ],
        ])("%s -> %s", async (_name, expected, context) => {
            await expect(decrypt([roleIdentityPolicy(A, phase)], A.sessionArn, { ...instanceContext(A), ...context })).resolves.toBe(expected);
        });
    });

    it.each(PHASES)("cannot read key B (tagged with B's instance ARN): ExplicitlyDenied by the bucket policy (%s policy)", async (phase) => {
        await expect(getKey({ identityPolicies: [roleIdentityPolicy(A, phase)], role: A, key: B })).resolves.toBe("ExplicitlyDenied");
    });

    it("cannot read key B even if its identity policy granted s3:GetObject on the whole bucket (the bucket policy alone stops it)", async () => {
        await expect(getKey({ identityPolicies: [BROAD_GET_OBJECT], role: A, key: B })).resolves.toBe("ExplicitlyDenied");
    });

    it("cannot read an untagged object under keys/ even with a broad identity policy", async () => {
        await expect(
            simulate({
                identityPolicies: [BROAD_GET_OBJECT],
                resourcePolicy: BUCKET_POLICY,
                principal: A.sessionArn,
                action: "s3:GetObject",
                resource: objectArn(PARTITION, BUCKET, keyObjectKey("untagged")),
                resourceAccount: ACCOUNT,
                context: instanceContext(A),
            }),
        ).resolves.toBe("ExplicitlyDenied");
    });

    it.each(PHASES)("cannot read key A over plain HTTP (aws:SecureTransport false) -> ExplicitlyDenied (%s policy)", async (phase) => {
        await expect(
            getKey({ identityPolicies: [roleIdentityPolicy(A, phase)], role: A, key: A, secureTransport: false }),
        ).resolves.toBe("ExplicitlyDenied");
    });

    const objectWrites = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectTagging"];
    const writeCases: Array<[string, string, string]> = [A, B].flatMap((key) =>
        objectWrites.map((action): [string, string, string] => [action, `key ${key === A ? "A" : "B"}`, key.keyObjectArn]),
    );
    const identityVariants: Array<[string, (phase: Phase) => object]> = [
        ["its own policy", (phase) => roleIdentityPolicy(A, phase)],
        ["a hypothetical s3:* identity policy", () => BROAD_S3],
    ];

    describe.each(PHASES)("with the %s policy", (phase) => {
        describe.each(identityVariants)("and %s", (_variant, identity) => {
            it.each(writeCases)("cannot %s on %s -> ExplicitlyDenied", async (action, _key, resource) => {
                await expect(
                    simulate({
                        identityPolicies: [identity(phase)],
                        resourcePolicy: BUCKET_POLICY,
                        principal: A.sessionArn,
                        action,
                        resource,
                        resourceAccount: ACCOUNT,
                        context: instanceContext(A),
                    }),
                ).resolves.toBe("ExplicitlyDenied");
            });

            it("cannot s3:PutObject key A even with SSE-KMS under the vault key -> ExplicitlyDenied", async () => {
                await expect(
                    simulate({
                        identityPolicies: [identity(phase)],
                        resourcePolicy: BUCKET_POLICY,
                        principal: A.sessionArn,
                        action: "s3:PutObject",
                        resource: A.keyObjectArn,
                        resourceAccount: ACCOUNT,
                        context: {
                            ...instanceContext(A),
                            "s3:x-amz-server-side-encryption": "aws:kms",
                            "s3:x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY_ARN,
                        },
                    }),
                ).resolves.toBe("ExplicitlyDenied");
            });

            it("cannot s3:ListBucket on the bucket -> ExplicitlyDenied", async () => {
                await expect(
                    simulate({
                        identityPolicies: [identity(phase)],
                        resourcePolicy: BUCKET_POLICY,
                        principal: A.sessionArn,
                        action: "s3:ListBucket",
                        resource: BUCKET_ARN,
                        resourceAccount: ACCOUNT,
                        context: instanceContext(A),
                    }),
                ).resolves.toBe("ExplicitlyDenied");
            });
        });
    });
});

describe("instance B's role, calling from instance B", () => {
    it.each(PHASES)("is not granted key A by its own identity policy (%s policy, no bucket policy) -> ImplicitlyDenied", async (phase) => {
        await expect(
            simulate({
                identityPolicies: [roleIdentityPolicy(B, phase)],
                principal: B.sessionArn,
                action: "s3:GetObject",
                resource: A.keyObjectArn,
                resourceAccount: ACCOUNT,
                context: { ...instanceContext(B), [TAG_CONTEXT_KEY]: A.instanceArn },
            }),
        ).resolves.toBe("ImplicitlyDenied");
    });

    it.each(PHASES)("cannot read key A under the bucket policy (%s policy) -> ExplicitlyDenied", async (phase) => {
        await expect(getKey({ identityPolicies: [roleIdentityPolicy(B, phase)], role: B, key: A })).resolves.toBe("ExplicitlyDenied");
    });

    it("cannot read key A even with a broad identity policy, because key A's tag does not match instance B -> ExplicitlyDenied", async () => {
        await expect(getKey({ identityPolicies: [BROAD_GET_OBJECT], role: B, key: A })).resolves.toBe("ExplicitlyDenied");
    });

    it.each(PHASES)("control: can read its own key B (%s policy)", async (phase) => {
        await expect(getKey({ identityPolicies: [roleIdentityPolicy(B, phase)], role: B, key: B })).resolves.toBe("Allowed");
    });
});

describe("instance A's credentials used from another instance (ec2:SourceInstanceARN = instance B)", () => {
    it.each(PHASES)("cannot read key A (%s policy) -> ExplicitlyDenied", async (phase) => {
        await expect(getKey({ identityPolicies: [roleIdentityPolicy(A, phase)], role: A, from: B, key: A })).resolves.toBe(
            "ExplicitlyDenied",
        );
    });
});

describe("an anonymous caller gets nothing", () => {
    const anonymous = (action: string, resource: string, context: Record<string, string>): SimulationRequest => ({
        identityPolicies: [],
        resourcePolicy: BUCKET_POLICY,
        principal: ANONYMOUS,
        action,
        resource,
        resourceAccount: ACCOUNT,
        context: { "aws:SecureTransport": "true", ...context },
    });
    const sseKms = { "s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY_ARN };

    // Reads and changes are explicitly denied to every non-instance principal that is not the
    // break-glass role or a deployer, anonymous included; listing has no deny (nothing allows it).
    it.each<[string, Decision, SimulationRequest]>([
        ["s3:GetObject key A", "ExplicitlyDenied", anonymous("s3:GetObject", A.keyObjectArn, { [TAG_CONTEXT_KEY]: A.instanceArn })],
        ["s3:GetObject key B", "ExplicitlyDenied", anonymous("s3:GetObject", B.keyObjectArn, { [TAG_CONTEXT_KEY]: B.instanceArn })],
        ["s3:GetObject key A over plain HTTP", "ExplicitlyDenied", anonymous("s3:GetObject", A.keyObjectArn, { "aws:SecureTransport": "false" })],
        ["s3:PutObject key A with SSE-KMS under the vault key", "ExplicitlyDenied", anonymous("s3:PutObject", A.keyObjectArn, sseKms)],
        ["s3:PutObject key A without encryption headers", "ExplicitlyDenied", anonymous("s3:PutObject", A.keyObjectArn, {})],
        ["s3:PutObject another object in the bucket", "ExplicitlyDenied", anonymous("s3:PutObject", objectArn(PARTITION, BUCKET, "x"), sseKms)],
        ["s3:ListBucket on the bucket", "ImplicitlyDenied", anonymous("s3:ListBucket", BUCKET_ARN, {})],
        ["s3:DeleteObject key A", "ExplicitlyDenied", anonymous("s3:DeleteObject", A.keyObjectArn, {})],
    ])("%s -> %s", async (_name, expected, req) => {
        await expect(simulate(req)).resolves.toBe(expected);
    });

    it("kms:Decrypt on the vault key, even via S3 with key A's context -> ExplicitlyDenied", async () => {
        await expect(
            decrypt([], ANONYMOUS, {
                "aws:SecureTransport": "true",
                "kms:ViaService": S3_VIA_SERVICE,
                "kms:EncryptionContext:aws:s3:arn": A.keyObjectArn,
            }),
        ).resolves.toBe("ExplicitlyDenied");
    });
});

// ---------------------------------------------------------------------------------------------------------------
// Least privilege of the instance role policies
// ---------------------------------------------------------------------------------------------------------------

describe("the production policy grants nothing beyond its key", () => {
    const ctx = instanceContext(A);
    it.each<[string, string, string, Record<string, string | string[]>]>([
        ["s3:GetObject on another key path in the same bucket", "s3:GetObject", objectArn(PARTITION, BUCKET, keyObjectKey("web-2")), {}],
        ["s3:GetObject on a non-key path in the same bucket", "s3:GetObject", objectArn(PARTITION, BUCKET, "other/web-1.key"), {}],
        ["s3:GetObject of the same key path in another bucket", "s3:GetObject", objectArn(PARTITION, "other-bucket", keyObjectKey(A.name)), {}],
        ["s3:GetObjectVersion of its own key", "s3:GetObjectVersion", A.keyObjectArn, {}],
        [
            "ec2:CreateTags on its own instance (bootstrap tags)",
            "ec2:CreateTags",
            A.instanceArn,
            { "aws:TagKeys": [BOOTSTRAP_STATUS_TAG] },
        ],
        ["ec2:ModifyInstanceAttribute on its own instance", "ec2:ModifyInstanceAttribute", A.instanceArn, {}],
        ["iam:PassRole of its own role", "iam:PassRole", A.roleArn, {}],
        ["iam:PutRolePolicy on its own role", "iam:PutRolePolicy", A.roleArn, {}],
        ["kms:Decrypt on another KMS key (via S3, own object's context)", "kms:Decrypt", OTHER_KMS_KEY_ARN, {
            "kms:ViaService": S3_VIA_SERVICE,
            "kms:EncryptionContext:aws:s3:arn": A.keyObjectArn,
        }],
        ["sts:AssumeRole of another role", "sts:AssumeRole", B.roleArn, {}],
        ["ec2:RunInstances (a new instance)", "ec2:RunInstances", `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0cccccccccccccccc`, {}],
    ])("%s -> ImplicitlyDenied", async (_name, action, resource, extra) => {
        await expect(
            simulate({
                identityPolicies: [productionPolicy(A.grant)],
                principal: A.sessionArn,
                action,
                resource,
                resourceAccount: ACCOUNT,
                context: { ...ctx, ...extra },
            }),
        ).resolves.toBe("ImplicitlyDenied");
    });

    const resources = (s: IdentityStatement): readonly string[] => [s.Resource].flat();
    it("structurally: every Allow statement of the production policy has a non-wildcard ARN Resource", () => {
        const allows = productionPolicy(A.grant).Statement.filter((s) => s.Effect === "Allow");
        expect(allows.length).toBeGreaterThan(0);
        for (const statement of allows) {
            const list = resources(statement);
            expect(list.length).toBeGreaterThan(0);
            for (const resource of list) {
                expect(resource).toMatch(/^arn:aws:(s3|kms):/);
                expect(resource).not.toMatch(/[*?]|\$\{/);
            }
        }
    });

    it("structurally: the production policy is exactly s3:GetObject on key A plus kms:Decrypt on the vault key", () => {
        const document = productionPolicy(A.grant);
        expect(document.Statement.map((s) => [[s.Action].flat(), resources(s)])).toEqual([
            [["s3:GetObject"], [A.keyObjectArn]],
            [["kms:Decrypt"], [KMS_KEY_ARN]],
        ]);
        expect(document.Statement.every((s) => s.Effect === "Allow")).toBe(true);
    });
});

describe("the launch policy adds exactly the bootstrap signal", () => {
    const createTags = (resource: string, tagKeys: string[] | undefined, phase: Phase = "launch"): Promise<Decision> =>
        simulate({
            identityPolicies: [roleIdentityPolicy(A, phase)],
            principal: A.sessionArn,
            action: "ec2:CreateTags",
            resource,
            context: {
                ...instanceContext(A),
                // EC2 puts the id of the instance being tagged in the request context.
                ...(resource.includes(":instance/") ? { "ec2:InstanceID": resource.slice(resource.lastIndexOf("/") + 1) } : {}),
                ...(tagKeys === undefined ? {} : { "aws:TagKeys": tagKeys }),
            },
        });

    it("ec2:CreateTags on its own instance with only the bootstrap tags (status, reason, both) -> Allowed", async () => {
        const decisions = await Promise.all([
            createTags(A.instanceArn, [BOOTSTRAP_STATUS_TAG]),
            createTags(A.instanceArn, [BOOTSTRAP_REASON_TAG]),
            createTags(A.instanceArn, [BOOTSTRAP_STATUS_TAG, BOOTSTRAP_REASON_TAG]),
        ]);
        expect(decisions).toEqual(["Allowed", "Allowed", "Allowed"]);
    });

    it.each<[string, string, string[] | undefined]>([
        ["on its own instance with the tag key Name", A.instanceArn, ["Name"]],
        ["on its own instance with a bootstrap tag plus airlock:zone", A.instanceArn, [BOOTSTRAP_STATUS_TAG, "airlock:zone"]],
        ["on its own instance with the instance-ARN binding tag", A.instanceArn, [INSTANCE_ARN_TAG]],
        ["on its own instance with no aws:TagKeys at all", A.instanceArn, undefined],
        ["on another instance's ARN with the bootstrap tags", B.instanceArn, [BOOTSTRAP_STATUS_TAG, BOOTSTRAP_REASON_TAG]],
        ["on its own root volume with the bootstrap tags", `arn:aws:ec2:${REGION}:${ACCOUNT}:volume/vol-0aaaaaaaaaaaaaaaa`, [BOOTSTRAP_STATUS_TAG]],
    ])("ec2:CreateTags %s -> ImplicitlyDenied", async (_name, resource, tagKeys) => {
        await expect(createTags(resource, tagKeys)).resolves.toBe("ImplicitlyDenied");
    });

    it("the production policy does not have the bootstrap signal", async () => {
        await expect(createTags(A.instanceArn, [BOOTSTRAP_STATUS_TAG], "production")).resolves.toBe("ImplicitlyDenied");
    });

    it("ec2:DeleteTags on its own instance -> ImplicitlyDenied", async () => {
        await expect(
            simulate({
                identityPolicies: [launchPolicy(A.grant)],
                principal: A.sessionArn,
                action: "ec2:DeleteTags",
                resource: A.instanceArn,
                context: { ...instanceContext(A), "aws:TagKeys": [BOOTSTRAP_STATUS_TAG] },
            }),
        ).resolves.toBe("ImplicitlyDenied");
    });

    it("structurally: launch = production + writing its own key once + one ec2:CreateTags statement limited to the bootstrap tag keys", () => {
        const launch = launchPolicy(A.grant);
        const production = productionPolicy(A.grant);
        expect(launch.Statement.slice(0, production.Statement.length)).toEqual(production.Statement);
        const extra = launch.Statement.slice(production.Statement.length);
        expect(extra.map((s) => s.Action)).toEqual(["s3:PutObject", "s3:PutObjectTagging", "kms:GenerateDataKey", "ec2:CreateTags"]);
        expect(extra.slice(0, 2).map((s) => s.Resource)).toEqual([A.keyObjectArn, A.keyObjectArn]);
        expect(extra[0]?.Condition).toEqual({ StringEquals: { [`s3:RequestObjectTag/${INSTANCE_ARN_TAG}`]: A.instanceArn, "s3:if-none-match": "*" } });
        expect(extra[1]?.Condition).toEqual({ StringEquals: { [`s3:RequestObjectTag/${INSTANCE_ARN_TAG}`]: A.instanceArn } });
        expect(extra[2]?.Condition).toEqual({ StringEquals: { "kms:ViaService": S3_VIA_SERVICE, "kms:EncryptionContext:aws:s3:arn": A.keyObjectArn } });
        const createTags = extra[3];
        expect(createTags?.Effect).toBe("Allow");
        expect(createTags?.Condition?.["ForAllValues:StringEquals"]?.["aws:TagKeys"]).toEqual([BOOTSTRAP_STATUS_TAG, BOOTSTRAP_REASON_TAG]);
        expect(createTags?.Condition?.["Null"]?.["aws:TagKeys"]).toBe("false");
    });
});

// ---------------------------------------------------------------------------------------------------------------
// Deployer (non-instance credentials): uploads, versioning, refresh reads
// ---------------------------------------------------------------------------------------------------------------

describe("a deployer (not an instance credential)", () => {
    const DEPLOYER_SESSION_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/deployer/pulumi`;
    const deployerContext = { "aws:PrincipalArn": DEPLOYER_ROLE_ARN, "aws:SecureTransport": "true" };
    const allowPut = broadIdentityPolicy("s3:PutObject", `${BUCKET_ARN}/*`);

    const put = (headers: Record<string, string>): Promise<Decision> =>
        simulate({
            identityPolicies: [allowPut],
            resourcePolicy: BUCKET_POLICY,
            principal: DEPLOYER_SESSION_ARN,
            action: "s3:PutObject",
            // Not under keys/: only an instance writes a key (test/vaultMatrix.test.ts).
            resource: objectArn(PARTITION, BUCKET, "deploy/notes.txt"),
            resourceAccount: ACCOUNT,
            context: { ...deployerContext, ...headers },
        });

    it.each<[string, Decision, Record<string, string>]>([
        ["SSE-S3 (AES256)", "ExplicitlyDenied", { "s3:x-amz-server-side-encryption": "AES256" }],
        [
            "SSE-KMS naming another KMS key",
            "ExplicitlyDenied",
            { "s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": OTHER_KMS_KEY_ARN },
        ],
        [
            "SSE-S3 plus a vault key id header",
            "ExplicitlyDenied",
            { "s3:x-amz-server-side-encryption": "AES256", "s3:x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY_ARN },
        ],
        // aws:kms without a key id means the AWS managed key aws/s3, not the vault key.
        ["SSE-KMS without a key id", "ExplicitlyDenied", { "s3:x-amz-server-side-encryption": "aws:kms" }],
        [
            "SSE-KMS under the vault key ARN",
            "Allowed",
            { "s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY_ARN },
        ],
    ])("s3:PutObject of an object with %s -> %s", async (_name, expected, headers) => {
        await expect(put(headers)).resolves.toBe(expected);
    });

    // Headerless uploads get the bucket default (SSE-KMS under the vault key), so they are allowed.
    it("s3:PutObject of an object with no encryption headers at all (the bucket default applies) -> Allowed", async () => {
        await expect(put({})).resolves.toBe("Allowed");
    });

    it("uploading over plain HTTP, even with SSE-KMS under the vault key -> ExplicitlyDenied", async () => {
        await expect(
            put({
                "aws:SecureTransport": "false",
                "s3:x-amz-server-side-encryption": "aws:kms",
                "s3:x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY_ARN,
            }),
        ).resolves.toBe("ExplicitlyDenied");
    });

    it("cannot s3:PutBucketVersioning even with s3:* allowed -> ExplicitlyDenied", async () => {
        await expect(
            simulate({
                identityPolicies: [BROAD_S3],
                resourcePolicy: BUCKET_POLICY,
                principal: DEPLOYER_SESSION_ARN,
                action: "s3:PutBucketVersioning",
                resource: BUCKET_ARN,
                resourceAccount: ACCOUNT,
                context: deployerContext,
            }),
        ).resolves.toBe("ExplicitlyDenied");
    });

    it("control: with s3:* allowed it can s3:ListBucket (the versioning deny is specific)", async () => {
        await expect(
            simulate({
                identityPolicies: [BROAD_S3],
                resourcePolicy: BUCKET_POLICY,
                principal: DEPLOYER_SESSION_ARN,
                action: "s3:ListBucket",
                resource: BUCKET_ARN,
                resourceAccount: ACCOUNT,
                context: deployerContext,
            }),
        ).resolves.toBe("Allowed");
    });

    // Pulumi never reads key material (the instance writes it): a deployer reads no key.
    it.each<[string, TestInstance]>([
        ["key A", A],
        ["key B", B],
    ])("even with s3:GetObject allowed cannot read %s -> ExplicitlyDenied", async (_name, key) => {
        await expect(
            simulate({
                identityPolicies: [BROAD_GET_OBJECT],
                resourcePolicy: BUCKET_POLICY,
                principal: DEPLOYER_SESSION_ARN,
                action: "s3:GetObject",
                resource: key.keyObjectArn,
                resourceAccount: ACCOUNT,
                context: { ...deployerContext, [TAG_CONTEXT_KEY]: key.instanceArn },
            }),
        ).resolves.toBe("ExplicitlyDenied");
    });
});

// ---------------------------------------------------------------------------------------------------------------
// Trust policy
// ---------------------------------------------------------------------------------------------------------------

describe("instance trust policy", () => {
    const trust = instanceTrustPolicy({ partition: PARTITION, dnsSuffix: DNS_SUFFIX });
    const assumeRole = (principal: string, context: Record<string, string> = {}): Promise<Decision> =>
        simulate({ identityPolicies: [], resourcePolicy: trust, principal, action: "sts:AssumeRole", resource: A.roleArn, context });

    it("allows the EC2 service principal to sts:AssumeRole on the role", async () => {
        await expect(assumeRole("ec2.amazonaws.com")).resolves.toBe("Allowed");
    });

    it.each<[string, string]>([
        ["another service principal (lambda.amazonaws.com)", "lambda.amazonaws.com"],
        ["another role's session in the same account", B.sessionArn],
        ["the account's deployer role", `arn:aws:iam::${ACCOUNT}:role/deployer`],
    ])("does not allow %s to sts:AssumeRole on the role -> ImplicitlyDenied", async (_name, principal) => {
        await expect(assumeRole(principal)).resolves.toBe("ImplicitlyDenied");
    });

    it("structurally: one Allow statement, Principal.Service ec2.amazonaws.com, Action sts:AssumeRole", () => {
        expect(trust.Statement).toHaveLength(1);
        const [statement] = trust.Statement;
        expect(statement?.Effect).toBe("Allow");
        expect(statement?.Principal).toEqual({ Service: "ec2.amazonaws.com" });
        expect(statement?.Action).toBe("sts:AssumeRole");
        expect(statement?.Condition).toBeUndefined();
    });
});

// ---------------------------------------------------------------------------------------------------------------
// Partition awareness
// ---------------------------------------------------------------------------------------------------------------

describe("the policy documents are partition-aware (aws-cn)", () => {
    const CN = { partition: "aws-cn", dnsSuffix: "amazonaws.com.cn" };
    const CN_REGION = "cn-north-1";
    const CN_KMS_KEY_ARN = `arn:aws-cn:kms:${CN_REGION}:${ACCOUNT}:key/0b7c5e2a-4d1f-4c3e-9a8b-6f2d1e0c9b7a`;
    const grant: InstanceKeyGrant = { ...CN, region: CN_REGION, bucketName: BUCKET, kmsKeyArn: CN_KMS_KEY_ARN, instanceArn: `arn:aws-cn:ec2:${CN_REGION}:${ACCOUNT}:instance/${A.instanceId}` };
    const documents: Array<[string, IdentityPolicyDocument | ResourcePolicyDocument]> = [
        ["productionPolicy", productionPolicy(grant)],
        ["launchPolicy", launchPolicy(grant)],
        ["keyBucketPolicy", keyBucketPolicy({ ...CN, bucketName: BUCKET, kmsKeyArn: CN_KMS_KEY_ARN, deployers: [`arn:aws-cn:iam::${ACCOUNT}:role/deployer`] })],
        ["vaultKeyPolicy", vaultKeyPolicy({ ...CN, accountId: ACCOUNT, region: CN_REGION, bucketName: BUCKET, deployers: [`arn:aws-cn:iam::${ACCOUNT}:role/deployer`] })],
        ["instanceTrustPolicy", instanceTrustPolicy(CN)],
    ];

    const strings = (value: unknown): string[] =>
        typeof value === "string"
            ? [value]
            : Array.isArray(value)
              ? value.flatMap(strings)
              : typeof value === "object" && value !== null
                ? Object.entries(value).flatMap(([k, v]) => [k, ...strings(v)])
                : [];

    it.each(documents)("%s contains no aws-partition ARN", (_name, document) => {
        const all = strings(JSON.parse(JSON.stringify(document)));
        expect(all.length).toBeGreaterThan(0);
        expect(all.filter((s) => s.includes("arn:aws:"))).toEqual([]);
        expect(JSON.stringify(document)).not.toContain("arn:aws:");
    });

    it.each(documents.filter(([name]) => name !== "instanceTrustPolicy"))("%s uses arn:aws-cn: ARNs", (_name, document) => {
        expect(JSON.stringify(document)).toContain("arn:aws-cn:");
    });

    it("kms:ViaService is s3.<region>.amazonaws.com.cn", () => {
        const statement = productionPolicy(grant).Statement.find((s) => s.Action === "kms:Decrypt");
        expect(statement?.Condition?.["StringEquals"]?.["kms:ViaService"]).toBe(`s3.${CN_REGION}.amazonaws.com.cn`);
    });

    it("the trust policy names ec2.amazonaws.com.cn", () => {
        expect(instanceTrustPolicy(CN).Statement[0]?.Principal).toEqual({ Service: "ec2.amazonaws.com.cn" });
    });
});
