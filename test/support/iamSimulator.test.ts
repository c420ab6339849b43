import { ANONYMOUS, IamSimulationError, simulate, type Decision, type SimulationRequest } from "./iamSimulator";

const ACCOUNT = "111122223333";
const OTHER_ACCOUNT = "444455556666";
const REGION = "eu-west-1";
const BUCKET = "airlock-keys-example";
const BUCKET_ARN = `arn:aws:s3:::${BUCKET}`;
const OBJECT_ARN = `${BUCKET_ARN}/keys/i-0123456789abcdef0.pem`;
const OTHER_OBJECT_ARN = `${BUCKET_ARN}/keys/i-0fedcba9876543210.pem`;
const INSTANCE_ARN = `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`;
const OTHER_INSTANCE_ARN = `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0fedcba9876543210`;
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/airlock-instance`;
const SESSION_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/airlock-instance/i-0123456789abcdef0`;
const OTHER_SESSION_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/airlock-operator/alice`;
const CROSS_ACCOUNT_SESSION_ARN = `arn:aws:sts::${OTHER_ACCOUNT}:assumed-role/airlock-instance/i-0123456789abcdef0`;
const KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const TAG_KEY = "s3:ExistingObjectTag/airlock:instance-arn";

type Statement = Record<string, unknown>;
const policy = (...Statement: Statement[]): object => ({ Version: "2012-10-17", Statement });

const allowGetObjectOnBucket = policy({ Effect: "Allow", Action: "s3:GetObject", Resource: `${BUCKET_ARN}/*` });

/** An s3:GetObject request on OBJECT_ARN by the instance role session, same account; override what matters. */
const getObject = (overrides: Partial<SimulationRequest> = {}): SimulationRequest => ({
  identityPolicies: [],
  principal: SESSION_ARN,
  action: "s3:GetObject",
  resource: OBJECT_ARN,
  resourceAccount: ACCOUNT,
  ...overrides,
});

describe("identity policies", () => {
  const allowOneObject = policy({ Effect: "Allow", Action: "s3:GetObject", Resource: OBJECT_ARN });

  it.each<[string, string, Decision]>([
    ["the allowed object", OBJECT_ARN, "Allowed"],
    ["another object", OTHER_OBJECT_ARN, "ImplicitlyDenied"],
  ])("s3:GetObject on %s", async (_name, resource, expected) => {
    await expect(simulate(getObject({ identityPolicies: [allowOneObject], resource }))).resolves.toBe(expected);
  });

  it("an action the policy does not mention is ImplicitlyDenied", async () => {
    await expect(simulate(getObject({ identityPolicies: [allowOneObject], action: "s3:PutObject" }))).resolves.toBe(
      "ImplicitlyDenied",
    );
  });

  it("resolves policy variables inside Resource (aws:PrincipalTag/...)", async () => {
    const perInstancePrefix = policy({
      Effect: "Allow",
      Action: "s3:GetObject",
      Resource: `${BUCKET_ARN}/instances/\${aws:PrincipalTag/airlock-instance-id}/*`,
    });
    const req = (resource: string, context: Record<string, string>): SimulationRequest =>
      getObject({ identityPolicies: [perInstancePrefix], resource, context });
    const own = `${BUCKET_ARN}/instances/i-0123456789abcdef0/key.pem`;
    const other = `${BUCKET_ARN}/instances/i-0fedcba9876543210/key.pem`;
    const tag = { "aws:PrincipalTag/airlock-instance-id": "i-0123456789abcdef0" };

    await expect(simulate(req(own, tag))).resolves.toBe("Allowed");
    await expect(simulate(req(other, tag))).resolves.toBe("ImplicitlyDenied");
    // Variable absent from the request context: the Resource can never match.
    await expect(simulate(req(own, {}))).resolves.toBe("ImplicitlyDenied");
  });
});

describe("same-account vs cross-account S3 (identity OR bucket policy; explicit deny anywhere wins)", () => {
  const bucketAllowsRole = policy({
    Effect: "Allow",
    Principal: { AWS: ROLE_ARN },
    Action: "s3:GetObject",
    Resource: `${BUCKET_ARN}/*`,
  });
  const bucketDeniesRole = policy({
    Effect: "Deny",
    Principal: { AWS: ROLE_ARN },
    Action: "s3:GetObject",
    Resource: `${BUCKET_ARN}/*`,
  });
  const bucketAllowsAccountRoot = policy({
    Effect: "Allow",
    Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
    Action: "s3:GetObject",
    Resource: `${BUCKET_ARN}/*`,
  });
  const identityDenies = policy({ Effect: "Deny", Action: "s3:GetObject", Resource: "*" });
  const crossAccountRole = `arn:aws:iam::${OTHER_ACCOUNT}:role/airlock-instance`;
  const bucketAllowsCrossAccountRole = policy({
    Effect: "Allow",
    Principal: { AWS: crossAccountRole },
    Action: "s3:GetObject",
    Resource: `${BUCKET_ARN}/*`,
  });

  it.each<[string, Partial<SimulationRequest>, Decision]>([
    ["same account, identity allow only", { identityPolicies: [allowGetObjectOnBucket] }, "Allowed"],
    // A role ARN in a bucket policy Principal matches that role's sessions.
    ["same account, bucket allow only (role ARN matches the session)", { resourcePolicy: bucketAllowsRole }, "Allowed"],
    ["same account, neither", {}, "ImplicitlyDenied"],
    // An account principal only delegates to that account's IAM policies; it grants nothing by itself.
    ["same account, bucket allow to the account root only", { resourcePolicy: bucketAllowsAccountRoot }, "ImplicitlyDenied"],
    [
      "same account, bucket allow to the account root + identity allow",
      { resourcePolicy: bucketAllowsAccountRoot, identityPolicies: [allowGetObjectOnBucket] },
      "Allowed",
    ],
    [
      "same account, identity allow + bucket deny",
      { identityPolicies: [allowGetObjectOnBucket], resourcePolicy: bucketDeniesRole },
      "ExplicitlyDenied",
    ],
    [
      "same account, bucket allow + identity deny",
      { identityPolicies: [identityDenies], resourcePolicy: bucketAllowsRole },
      "ExplicitlyDenied",
    ],
    [
      "cross account, identity allow only",
      { principal: CROSS_ACCOUNT_SESSION_ARN, identityPolicies: [allowGetObjectOnBucket] },
      "ImplicitlyDenied",
    ],
    [
      "cross account, bucket allow only",
      { principal: CROSS_ACCOUNT_SESSION_ARN, resourcePolicy: bucketAllowsCrossAccountRole },
      "ImplicitlyDenied",
    ],
    [
      "cross account, identity allow + bucket allow",
      {
        principal: CROSS_ACCOUNT_SESSION_ARN,
        identityPolicies: [allowGetObjectOnBucket],
        resourcePolicy: bucketAllowsCrossAccountRole,
      },
      "Allowed",
    ],
  ])("%s -> %s", async (_name, overrides, expected) => {
    await expect(simulate(getObject(overrides))).resolves.toBe(expected);
  });

  it("does not derive aws:PrincipalArn from the principal: tests must pass it in context", async () => {
    const bucketAllowsByPrincipalArn = policy({
      Effect: "Allow",
      Principal: "*",
      Action: "s3:GetObject",
      Resource: `${BUCKET_ARN}/*`,
      Condition: { ArnEquals: { "aws:PrincipalArn": ROLE_ARN } },
    });
    await expect(simulate(getObject({ resourcePolicy: bucketAllowsByPrincipalArn }))).resolves.toBe(
      "ImplicitlyDenied",
    );
    await expect(
      simulate(getObject({ resourcePolicy: bucketAllowsByPrincipalArn, context: { "aws:PrincipalArn": ROLE_ARN } })),
    ).resolves.toBe("Allowed");
  });
});

describe("bucket policy: deny insecure transport", () => {
  const denyInsecureTransport = policy({
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: [BUCKET_ARN, `${BUCKET_ARN}/*`],
    Condition: { Bool: { "aws:SecureTransport": "false" } },
  });

  it.each<[string, Record<string, string>, Decision]>([
    ['aws:SecureTransport "false"', { "aws:SecureTransport": "false" }, "ExplicitlyDenied"],
    ['aws:SecureTransport "true"', { "aws:SecureTransport": "true" }, "Allowed"],
    // Bool with a missing key does not match, so the deny does not apply (AWS always sends this key for S3).
    ["aws:SecureTransport absent", {}, "Allowed"],
  ])("%s -> %s", async (_name, context, expected) => {
    await expect(
      simulate(getObject({ identityPolicies: [allowGetObjectOnBucket], resourcePolicy: denyInsecureTransport, context })),
    ).resolves.toBe(expected);
  });
});

describe("bucket policy: object tag must equal the caller's ec2:SourceInstanceARN (policy variable in Condition)", () => {
  const denyOtherInstancesObjects = policy({
    Sid: "OnlyTheTaggedInstance",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:GetObject",
    Resource: `${BUCKET_ARN}/*`,
    Condition: {
      StringNotEquals: { [TAG_KEY]: "${ec2:SourceInstanceARN}" },
      Null: { "ec2:SourceInstanceARN": "false" },
    },
  });

  it.each<[string, Record<string, string>, Decision]>([
    ["tag equals the caller's instance ARN", { [TAG_KEY]: INSTANCE_ARN, "ec2:SourceInstanceARN": INSTANCE_ARN }, "Allowed"],
    [
      "tag is another instance's ARN",
      { [TAG_KEY]: OTHER_INSTANCE_ARN, "ec2:SourceInstanceARN": INSTANCE_ARN },
      "ExplicitlyDenied",
    ],
    // Proves substitution: the literal text of the policy value does not count as a match.
    [
      "tag is the literal string ${ec2:SourceInstanceARN}",
      { [TAG_KEY]: "${ec2:SourceInstanceARN}", "ec2:SourceInstanceARN": INSTANCE_ARN },
      "ExplicitlyDenied",
    ],
    // StringNotEquals on a missing key is true: untagged objects are denied to instance credentials.
    ["object has no tag", { "ec2:SourceInstanceARN": INSTANCE_ARN }, "ExplicitlyDenied"],
    // Null "false" does not hold without ec2:SourceInstanceARN: non-instance callers are not affected.
    ["caller is not an instance", { [TAG_KEY]: INSTANCE_ARN }, "Allowed"],
    ["caller is not an instance, object untagged", {}, "Allowed"],
  ])("%s -> %s", async (_name, context, expected) => {
    await expect(
      simulate(
        getObject({ identityPolicies: [allowGetObjectOnBucket], resourcePolicy: denyOtherInstancesObjects, context }),
      ),
    ).resolves.toBe(expected);
  });

  it("without the Null guard, an unresolvable ${ec2:SourceInstanceARN} makes StringNotEquals false (deny skipped)", async () => {
    const unguarded = policy({
      Effect: "Deny",
      Principal: "*",
      Action: "s3:GetObject",
      Resource: `${BUCKET_ARN}/*`,
      Condition: { StringNotEquals: { [TAG_KEY]: "${ec2:SourceInstanceARN}" } },
    });
    await expect(
      simulate(
        getObject({
          identityPolicies: [allowGetObjectOnBucket],
          resourcePolicy: unguarded,
          context: { [TAG_KEY]: OTHER_INSTANCE_ARN },
        }),
      ),
    ).resolves.toBe("Allowed");
  });
});

describe("missing-key semantics in a Deny statement (identity policy allows)", () => {
  const denyWhen = (operator: string, value: string): SimulationRequest["resourcePolicy"] =>
    policy({
      Effect: "Deny",
      Principal: "*",
      Action: "s3:GetObject",
      Resource: `${BUCKET_ARN}/*`,
      Condition: { [operator]: { [TAG_KEY]: value } },
    });
  const tag = (value?: string): Record<string, string> => (value === undefined ? {} : { [TAG_KEY]: value });

  it.each<[string, string, string | undefined, Decision]>([
    ["StringEquals", INSTANCE_ARN, INSTANCE_ARN, "ExplicitlyDenied"],
    ["StringEquals", INSTANCE_ARN, OTHER_INSTANCE_ARN, "Allowed"],
    ["StringEquals", INSTANCE_ARN, undefined, "Allowed"],
    ["StringNotEquals", INSTANCE_ARN, INSTANCE_ARN, "Allowed"],
    ["StringNotEquals", INSTANCE_ARN, OTHER_INSTANCE_ARN, "ExplicitlyDenied"],
    ["StringNotEquals", INSTANCE_ARN, undefined, "ExplicitlyDenied"],
    ["StringNotEqualsIfExists", INSTANCE_ARN, INSTANCE_ARN, "Allowed"],
    ["StringNotEqualsIfExists", INSTANCE_ARN, OTHER_INSTANCE_ARN, "ExplicitlyDenied"],
    ["StringNotEqualsIfExists", INSTANCE_ARN, undefined, "ExplicitlyDenied"],
    ["StringEqualsIfExists", INSTANCE_ARN, OTHER_INSTANCE_ARN, "Allowed"],
    ["StringEqualsIfExists", INSTANCE_ARN, undefined, "ExplicitlyDenied"],
    ["Null", "true", undefined, "ExplicitlyDenied"],
    ["Null", "true", INSTANCE_ARN, "Allowed"],
    ["Null", "false", undefined, "Allowed"],
    ["Null", "false", INSTANCE_ARN, "ExplicitlyDenied"],
  ])("%s %s with tag=%s -> %s", async (operator, value, tagValue, expected) => {
    await expect(
      simulate(
        getObject({
          identityPolicies: [allowGetObjectOnBucket],
          resourcePolicy: denyWhen(operator, value),
          context: tag(tagValue),
        }),
      ),
    ).resolves.toBe(expected);
  });
});

describe("kms:Decrypt only via S3 in eu-west-1 for the bucket's encryption context", () => {
  // Standard key-policy statement delegating to IAM; without it KMS ignores identity policies (as in AWS).
  const keyPolicyDelegatingToIam = policy({
    Sid: "EnableIamPolicies",
    Effect: "Allow",
    Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
    Action: "kms:*",
    Resource: "*",
  });
  const decryptViaS3 = policy({
    Effect: "Allow",
    Action: "kms:Decrypt",
    Resource: KEY_ARN,
    Condition: {
      StringEquals: {
        "kms:ViaService": `s3.${REGION}.amazonaws.com`,
        "kms:EncryptionContext:aws:s3:arn": BUCKET_ARN, // S3 Bucket Key: context is the bucket ARN
      },
    },
  });
  const decrypt = (context: Record<string, string>, resourcePolicy: object = keyPolicyDelegatingToIam) =>
    simulate({
      identityPolicies: [decryptViaS3],
      resourcePolicy,
      principal: SESSION_ARN,
      action: "kms:Decrypt",
      resource: KEY_ARN,
      context,
    });
  const via = { "kms:ViaService": `s3.${REGION}.amazonaws.com` };
  const ctx = { "kms:EncryptionContext:aws:s3:arn": BUCKET_ARN };

  it.each<[string, Record<string, string>, Decision]>([
    ["via S3 eu-west-1 with the bucket's encryption context", { ...via, ...ctx }, "Allowed"],
    ["via S3 in another region", { "kms:ViaService": "s3.us-east-1.amazonaws.com", ...ctx }, "ImplicitlyDenied"],
    ["via another service", { "kms:ViaService": `secretsmanager.${REGION}.amazonaws.com`, ...ctx }, "ImplicitlyDenied"],
    ["direct call (no kms:ViaService)", ctx, "ImplicitlyDenied"],
    ["another bucket's encryption context", { ...via, "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::other-bucket" }, "ImplicitlyDenied"],
    ["no encryption context", via, "ImplicitlyDenied"],
  ])("%s -> %s", async (_name, context, expected) => {
    await expect(decrypt(context)).resolves.toBe(expected);
  });

  it("the identity policy is ignored when the key policy does not delegate to IAM (as in AWS)", async () => {
    const keyPolicyForAdminsOnly = policy({
      Effect: "Allow",
      Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/key-admin` },
      Action: "kms:*",
      Resource: "*",
    });
    await expect(decrypt({ ...via, ...ctx }, keyPolicyForAdminsOnly)).resolves.toBe("ImplicitlyDenied");
  });

  it("a key-policy Deny on a mismatching encryption context is evaluated (key is not silently dropped)", async () => {
    const keyPolicy = policy(
      {
        Effect: "Allow",
        Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
        Action: "kms:*",
        Resource: "*",
      },
      {
        Effect: "Deny",
        Principal: "*",
        Action: "kms:Decrypt",
        Resource: "*",
        Condition: { StringNotEquals: { "kms:EncryptionContext:aws:s3:arn": BUCKET_ARN } },
      },
    );
    await expect(decrypt({ ...via, ...ctx }, keyPolicy)).resolves.toBe("Allowed");
    await expect(
      decrypt({ ...via, "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::other-bucket" }, keyPolicy),
    ).resolves.toBe("ExplicitlyDenied");
  });
});

describe("kms:EncryptionContext:* keys together with SCPs/RCPs", () => {
  it.each<[string, object[], Decision]>([
    ["unrelated RCP deny", [policy({ Effect: "Deny", Principal: "*", Action: "s3:*", Resource: "*" })], "Allowed"],
    [
      "RCP deny on a foreign encryption context",
      [
        policy({
          Effect: "Deny",
          Principal: "*",
          Action: "kms:Decrypt",
          Resource: "*",
          Condition: { StringNotLike: { "kms:EncryptionContext:aws:s3:arn": "arn:aws:s3:::airlock-*" } },
        }),
      ],
      "Allowed",
    ],
    [
      "RCP deny on the bucket's encryption context",
      [
        policy({
          Effect: "Deny",
          Principal: "*",
          Action: "kms:Decrypt",
          Resource: "*",
          Condition: { StringEquals: { "kms:EncryptionContext:aws:s3:arn": BUCKET_ARN } },
        }),
      ],
      "ExplicitlyDenied",
    ],
  ])("%s -> %s", async (_name, resourceControlPolicies, expected) => {
    await expect(
      simulate({
        identityPolicies: [policy({ Effect: "Allow", Action: "kms:Decrypt", Resource: KEY_ARN })],
        resourcePolicy: policy({
          Effect: "Allow",
          Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` },
          Action: "kms:*",
          Resource: "*",
        }),
        serviceControlPolicies: [policy({ Effect: "Allow", Action: "*", Resource: "*" })],
        resourceControlPolicies,
        principal: SESSION_ARN,
        action: "kms:Decrypt",
        resource: KEY_ARN,
        context: { "kms:EncryptionContext:aws:s3:arn": BUCKET_ARN },
      }),
    ).resolves.toBe(expected);
  });
});

describe("anonymous callers", () => {
  const airlockBucketPolicy = policy(
    {
      Effect: "Allow",
      Principal: { AWS: ROLE_ARN },
      Action: "s3:GetObject",
      Resource: `${BUCKET_ARN}/*`,
    },
    {
      Effect: "Deny",
      Principal: "*",
      Action: "s3:*",
      Resource: [BUCKET_ARN, `${BUCKET_ARN}/*`],
      Condition: { Bool: { "aws:SecureTransport": "false" } },
    },
  );
  const anonymous = (resourcePolicy: object, context: Record<string, string>): SimulationRequest => ({
    identityPolicies: [],
    resourcePolicy,
    principal: ANONYMOUS,
    action: "s3:GetObject",
    resource: OBJECT_ARN,
    resourceAccount: ACCOUNT,
    context,
  });

  it.each<[string, Record<string, string>, Decision]>([
    ["over TLS", { "aws:SecureTransport": "true" }, "ImplicitlyDenied"],
    ["without TLS", { "aws:SecureTransport": "false" }, "ExplicitlyDenied"],
  ])("get nothing from the airlock bucket %s", async (_name, context, expected) => {
    await expect(simulate(anonymous(airlockBucketPolicy, context))).resolves.toBe(expected);
  });

  it("control: a public bucket policy does allow them (anonymous is not simply always denied)", async () => {
    const publicRead = policy({ Effect: "Allow", Principal: "*", Action: "s3:GetObject", Resource: `${BUCKET_ARN}/*` });
    await expect(simulate(anonymous(publicRead, {}))).resolves.toBe("Allowed");
  });

  it("the same role-scoped allow does let the role in", async () => {
    await expect(
      simulate(getObject({ resourcePolicy: airlockBucketPolicy, context: { "aws:SecureTransport": "true" } })),
    ).resolves.toBe("Allowed");
  });
});

describe("SCPs and RCPs", () => {
  const fullAwsAccess = { Effect: "Allow", Action: "*", Resource: "*" };
  const denyGetObject = { Effect: "Deny", Action: "s3:GetObject", Resource: "*" };

  it.each<[string, Partial<SimulationRequest>, Decision]>([
    ["SCP FullAWSAccess", { serviceControlPolicies: [policy(fullAwsAccess)] }, "Allowed"],
    ["SCP FullAWSAccess + deny", { serviceControlPolicies: [policy(fullAwsAccess), policy(denyGetObject)] }, "ExplicitlyDenied"],
    // As in AWS, an SCP level with no Allow blocks everything.
    ["SCP with only a deny of something else", { serviceControlPolicies: [policy({ ...denyGetObject, Action: "s3:PutObject" })] }, "ImplicitlyDenied"],
    // RCPFullAWSAccess is added by the library.
    ["RCP deny", { resourceControlPolicies: [policy({ ...denyGetObject, Principal: "*" })] }, "ExplicitlyDenied"],
    ["RCP deny of something else", { resourceControlPolicies: [policy({ ...denyGetObject, Action: "s3:PutObject", Principal: "*" })] }, "Allowed"],
  ])("%s -> %s", async (_name, overrides, expected) => {
    await expect(simulate(getObject({ identityPolicies: [allowGetObjectOnBucket], ...overrides }))).resolves.toBe(expected);
  });
});

describe("context keys accepted per action", () => {
  const INSTANCE_RESOURCE = `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/i-0123456789abcdef0`;

  it.each<[string, string, string, string | string[]]>([
    ["s3:GetObject", OBJECT_ARN, "aws:SecureTransport", "true"],
    ["s3:GetObject", OBJECT_ARN, "ec2:SourceInstanceARN", INSTANCE_ARN],
    ["s3:GetObject", OBJECT_ARN, TAG_KEY, INSTANCE_ARN],
    ["s3:GetObject", OBJECT_ARN, "aws:PrincipalArn", ROLE_ARN],
    ["s3:PutObject", OBJECT_ARN, "s3:RequestObjectTag/airlock:instance-arn", INSTANCE_ARN],
    ["s3:PutObject", OBJECT_ARN, "s3:x-amz-server-side-encryption", "aws:kms"],
    ["s3:PutObject", OBJECT_ARN, "aws:SecureTransport", "true"],
    ["kms:Decrypt", KEY_ARN, "kms:ViaService", "s3.eu-west-1.amazonaws.com"],
    ["kms:Decrypt", KEY_ARN, "kms:EncryptionContext:aws:s3:arn", BUCKET_ARN],
    ["kms:Decrypt", KEY_ARN, "aws:PrincipalArn", ROLE_ARN],
    ["ec2:CreateTags", INSTANCE_RESOURCE, "aws:RequestTag/airlock:instance-arn", INSTANCE_ARN],
    ["ec2:CreateTags", INSTANCE_RESOURCE, "aws:TagKeys", ["airlock:instance-arn"]],
    ["ec2:CreateTags", INSTANCE_RESOURCE, "ec2:CreateAction", "RunInstances"],
    ["ec2:CreateTags", INSTANCE_RESOURCE, "ec2:SourceInstanceARN", INSTANCE_ARN],
  ])("%s accepts %s", async (action, resource, key, value) => {
    await expect(
      simulate({ identityPolicies: [], principal: SESSION_ARN, action, resource, resourceAccount: ACCOUNT, context: { [key]: value } }),
    ).resolves.toBe("ImplicitlyDenied");
  });

  it.each<[string, string, string]>([
    ["s3:GetObject", OBJECT_ARN, "kms:ViaService"],
    ["s3:GetObject", OBJECT_ARN, "kms:EncryptionContext:aws:s3:arn"],
    ["s3:GetObject", OBJECT_ARN, "s3:RequestObjectTag/airlock:instance-arn"],
    ["s3:PutObject", OBJECT_ARN, TAG_KEY],
    ["kms:Decrypt", KEY_ARN, TAG_KEY],
    ["kms:Decrypt", KEY_ARN, "kms:BogusKey"],
    ["ec2:CreateTags", INSTANCE_RESOURCE, "s3:x-amz-server-side-encryption"],
    ["s3:GetObject", OBJECT_ARN, "foo:bar"],
  ])("%s rejects %s (the library would silently drop it)", async (action, resource, key) => {
    await expect(
      simulate({ identityPolicies: [], principal: SESSION_ARN, action, resource, resourceAccount: ACCOUNT, context: { [key]: "x" } }),
    ).rejects.toThrow(/does not accept context key/);
  });
});

describe("invalid input throws instead of being mapped to a deny", () => {
  it.each<[string, SimulationRequest, RegExp]>([
    ["unknown action", getObject({ action: "s3:GetObjekt" }), /invalid\.action/],
    ["unknown service", getObject({ action: "nope:GetObject" }), /invalid\.service/],
    [
      "malformed identity policy",
      getObject({ identityPolicies: [policy({ Effect: "Alow", Action: "s3:GetObject", Resource: "*" })] }),
      /policy\.errors[\s\S]*Effect must be present/,
    ],
    [
      "resource policy without Principal",
      getObject({ resourcePolicy: policy({ Effect: "Allow", Action: "s3:GetObject", Resource: "*" }) }),
      /no Principal/,
    ],
    ["resource of the wrong type for the action", getObject({ resource: BUCKET_ARN }), /no\.resource\.types/],
    ["wildcard resource", getObject({ identityPolicies: [allowGetObjectOnBucket], resource: `${BUCKET_ARN}/*` }), /wildcard/],
    ["S3 ARN without resourceAccount", { ...getObject(), resourceAccount: undefined }, /pass resourceAccount/],
    ["principal that is not an ARN", getObject({ principal: "airlock-instance" }), /is not "anonymous"/],
    ["array for a single-valued key", getObject({ context: { "aws:SecureTransport": ["true", "false"] } }), /single-valued/],
    ["non-boolean Bool value", getObject({ context: { "aws:SecureTransport": "yes" } }), /is Bool/],
    [
      "anonymous caller with identity policies",
      getObject({ principal: ANONYMOUS, identityPolicies: [allowGetObjectOnBucket] }),
      /anonymous\.identityPolicies\.invalid/,
    ],
  ])("%s", async (_name, req, message) => {
    const result = simulate(req);
    await expect(result).rejects.toBeInstanceOf(IamSimulationError);
    await expect(simulate(req)).rejects.toThrow(message);
  });

  it("from the unknown-action check the message is the library's, not a decision", async () => {
    await expect(simulate(getObject({ action: "s3:GetObjekt" }))).rejects.toThrow("iam-simulate rejected the request: invalid.action");
  });
});
