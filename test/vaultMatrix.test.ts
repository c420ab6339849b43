/**
 * The least-privilege matrix of issue 8: every principal × every action × both phases, evaluated
 * in the IAM policy simulator (test/support/iamSimulator.ts) against the REAL policy builders —
 * the instance's phase policy, the key bucket policy and the vault's KMS key policy, with the
 * deployers and break-glass role resolved by the real `vaultPrincipals` — and asserted cell by
 * cell. The victim is instance A: its key object `keys/<A's ARN>`, its instance, its role.
 *
 * What the simulator cannot judge, and the AWS documentation that settles it:
 *  - S3 authorises the tags of a PutObject (x-amz-tagging) as a second action, s3:PutObjectTagging,
 *    with the same request tags ("To use tagging with PutObject you must have the
 *    s3:PutObjectTagging permission", Amazon S3 User Guide, "Object tagging and access control
 *    policies"). The simulator evaluates one action per request, so the first write is two cells
 *    here (PutObject, PutObjectTagging) and both must be allowed; each is denied on its own
 *    elsewhere.
 *  - kms:Decrypt "through S3" is modelled as the caller's own request with kms:ViaService =
 *    s3.<region>.amazonaws.com: S3 calls KMS with the caller's forward access session, and KMS
 *    evaluates the caller's principal with kms:ViaService set (AWS KMS Developer Guide,
 *    "kms:ViaService"). Whether ec2:SourceInstanceARN survives into that forwarded request is not
 *    documented, so the KMS key policy does not rely on it (it names the /airlock/ role path); the
 *    instance binding is the bucket policy's, and the GetObject cells prove it.
 *  - The root user's recovery path (S3 always lets the bucket owner's root user replace or delete
 *    a bucket policy, Amazon S3 API Reference, PutBucketPolicy/DeleteBucketPolicy) is S3 behaviour
 *    outside policy evaluation: the simulator shows root denied, as a policy alone would.
 */
import { IdentityPolicyDocument } from "../policies/document";
import { launchPolicy, productionPolicy, type InstanceKeyGrant } from "../policies/instance";
import { keyBucketPolicy } from "../policies/keyBucket";
import { BOOTSTRAP_REASON_TAG, BOOTSTRAP_STATUS_TAG, INSTANCE_ARN_TAG, bucketArn, keyObjectKey, objectArn } from "../policies/keyNaming";
import { vaultKeyPolicy } from "../policies/kmsKey";
import { patternsOf, vaultPrincipals } from "../policies/principals";
import { ANONYMOUS, simulate, type Decision } from "./support/iamSimulator";

const ACCOUNT = "111122223333";
const OTHER_ACCOUNT = "444455556666";
const REGION = "eu-west-1";
const BUCKET = "airlock-keys-abc1234";
const BUCKET_ARN = bucketArn("aws", BUCKET);
const KMS_KEY_ARN = `arn:aws:kms:${REGION}:${ACCOUNT}:key/0b7c5e2a-4d1f-4c3e-9a8b-6f2d1e0c9b7a`;
const VIA_S3 = `s3.${REGION}.amazonaws.com`;
const TAG = INSTANCE_ARN_TAG;

const instanceArn = (id: string): string => `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/${id}`;
const A_ARN = instanceArn("i-0aaaaaaaaaaaaaaaa");
const B_ARN = instanceArn("i-0bbbbbbbbbbbbbbbb");
const RUNNER_ARN = instanceArn("i-0cccccccccccccccc");
const KEY_A = objectArn("aws", BUCKET, keyObjectKey(A_ARN));
const KEY_B = objectArn("aws", BUCKET, keyObjectKey(B_ARN));
const OUTSIDE = objectArn("aws", BUCKET, "notes/readme.txt");
const ROLE_A = `arn:aws:iam::${ACCOUNT}:role/airlock/web-1-role-1234567`;
const ROLE_B = `arn:aws:iam::${ACCOUNT}:role/airlock/api-1-role-7654321`;

const grant = (arn: string): InstanceKeyGrant => ({ partition: "aws", dnsSuffix: "amazonaws.com", region: REGION, bucketName: BUCKET, kmsKeyArn: KMS_KEY_ARN, instanceArn: arn });

// The stack's principals, resolved by the real code: pulumi runs as an SSO session; the stack also
// names a CI runner role (which deploys from an EC2 instance profile) and a break-glass role given
// without its path (the role lives under /security/: matching must not depend on the path).
const SSO_ROLE_NAME = "AWSReservedSSO_AdministratorAccess_0123456789abcdef";
const SSO_ROLE = `arn:aws:iam::${ACCOUNT}:role/aws-reserved/sso.amazonaws.com/${REGION}/${SSO_ROLE_NAME}`;
const SSO_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/${SSO_ROLE_NAME}/alice@example.com`;
const CI_ROLE = `arn:aws:iam::${ACCOUNT}:role/ci-runner`;
const BREAK_GLASS_ROLE = `arn:aws:iam::${ACCOUNT}:role/security/airlock-break-glass`;
const WHO = vaultPrincipals({
    callerArn: SSO_SESSION,
    deployers: [SSO_SESSION, CI_ROLE],
    breakGlassRoleArn: `arn:aws:iam::${ACCOUNT}:role/airlock-break-glass`,
});
const BUCKET_POLICY = keyBucketPolicy({
    partition: "aws",
    dnsSuffix: "amazonaws.com",
    bucketName: BUCKET,
    kmsKeyArn: KMS_KEY_ARN,
    deployers: patternsOf(WHO.deployers),
    breakGlass: patternsOf(WHO.breakGlass),
});
const KEY_POLICY = vaultKeyPolicy({
    partition: "aws",
    dnsSuffix: "amazonaws.com",
    accountId: ACCOUNT,
    region: REGION,
    bucketName: BUCKET,
    deployers: patternsOf(WHO.deployers),
    breakGlass: patternsOf(WHO.breakGlass),
});

type Phase = "launch" | "production";
const PHASES: readonly Phase[] = ["launch", "production"];
const phasePolicy = (arn: string, phase: Phase): IdentityPolicyDocument => (phase === "launch" ? launchPolicy(grant(arn)) : productionPolicy(grant(arn)));

const allow = (action: string | string[], resource: string | string[] = "*", extra: object = {}): object => ({
    Version: "2012-10-17",
    Statement: [{ Effect: "Allow", Action: action, Resource: resource, ...extra }],
});
const ADMINISTRATOR = allow("*");
const POWER_USER = { Version: "2012-10-17", Statement: [{ Effect: "Allow", NotAction: ["iam:*", "organizations:*", "account:*"], Resource: "*" }] };

interface Principal {
    readonly label: string;
    /** The caller as the simulator sees it (a session ARN, or anonymous). */
    readonly arn: string;
    readonly account: string;
    /** The instance it calls from (instance-profile credentials), if any. */
    readonly sourceInstance?: string;
    /** aws:PrincipalArn: the role or user, never the session. */
    readonly principalArn?: string;
    identity(phase: Phase): object[];
}

const PRINCIPALS: readonly Principal[] = [
    { label: "own instance (A)", arn: `arn:aws:sts::${ACCOUNT}:assumed-role/web-1-role-1234567/i-0aaaaaaaaaaaaaaaa`, account: ACCOUNT, sourceInstance: A_ARN, principalArn: ROLE_A, identity: (p) => [phasePolicy(A_ARN, p)] },
    {
        // Worst case: instance B's application policies grant it all of S3 and KMS.
        label: "another instance (B, with s3:* and kms:*)",
        arn: `arn:aws:sts::${ACCOUNT}:assumed-role/api-1-role-7654321/i-0bbbbbbbbbbbbbbbb`,
        account: ACCOUNT,
        sourceInstance: B_ARN,
        principalArn: ROLE_B,
        identity: (p) => [phasePolicy(B_ARN, p), allow(["s3:*", "kms:*"])],
    },
    { label: "A's role without instance context (stolen credentials)", arn: `arn:aws:sts::${ACCOUNT}:assumed-role/web-1-role-1234567/i-0aaaaaaaaaaaaaaaa`, account: ACCOUNT, principalArn: ROLE_A, identity: (p) => [phasePolicy(A_ARN, p)] },
    { label: "same-account PowerUser (s3:*, kms:*, ec2:*)", arn: `arn:aws:sts::${ACCOUNT}:assumed-role/power-user/bob`, account: ACCOUNT, principalArn: `arn:aws:iam::${ACCOUNT}:role/power-user`, identity: () => [POWER_USER] },
    { label: "deployer as an SSO session (AdministratorAccess)", arn: SSO_SESSION, account: ACCOUNT, principalArn: SSO_ROLE, identity: () => [ADMINISTRATOR] },
    { label: "deployer on an EC2 instance profile (CI runner, AdministratorAccess)", arn: `arn:aws:sts::${ACCOUNT}:assumed-role/ci-runner/i-0cccccccccccccccc`, account: ACCOUNT, sourceInstance: RUNNER_ARN, principalArn: CI_ROLE, identity: () => [ADMINISTRATOR] },
    { label: "break-glass role", arn: `arn:aws:sts::${ACCOUNT}:assumed-role/airlock-break-glass/carol`, account: ACCOUNT, principalArn: BREAK_GLASS_ROLE, identity: () => [allow(["s3:GetObject", "kms:Decrypt"])] },
    { label: "another account (AdministratorAccess there)", arn: `arn:aws:sts::${OTHER_ACCOUNT}:assumed-role/admin/eve`, account: OTHER_ACCOUNT, principalArn: `arn:aws:iam::${OTHER_ACCOUNT}:role/admin`, identity: () => [ADMINISTRATOR] },
    { label: "anonymous", arn: ANONYMOUS, account: "", identity: () => [] },
];

interface Request {
    readonly action: string;
    readonly resource: string;
    readonly context: Record<string, string | string[]>;
}

const sse = { "s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY_ARN };
/** The instance a caller binds a key to when it writes or tags: itself, or (not being an instance) B. */
const bindsTo = (p: Principal): string => p.sourceInstance ?? B_ARN;

interface ActionCase {
    readonly label: string;
    request(p: Principal): Request;
}

const ACTIONS: readonly ActionCase[] = [
    { label: "read A's key", request: () => ({ action: "s3:GetObject", resource: KEY_A, context: { [`s3:ExistingObjectTag/${TAG}`]: A_ARN } }) },
    { label: "read B's key", request: () => ({ action: "s3:GetObject", resource: KEY_B, context: { [`s3:ExistingObjectTag/${TAG}`]: B_ARN } }) },
    {
        label: "first write of A's key (If-None-Match, tagged for the writer): PutObject",
        request: (p) => ({ action: "s3:PutObject", resource: KEY_A, context: { ...sse, "s3:if-none-match": "*", [`s3:RequestObjectTag/${TAG}`]: bindsTo(p), "s3:RequestObjectTagKeys": [TAG] } }),
    },
    {
        label: "first write of A's key: its tags (PutObjectTagging)",
        request: (p) => ({ action: "s3:PutObjectTagging", resource: KEY_A, context: { [`s3:RequestObjectTag/${TAG}`]: bindsTo(p), "s3:RequestObjectTagKeys": [TAG] } }),
    },
    {
        label: "overwrite A's key (no If-None-Match, same tag)",
        request: (p) => ({ action: "s3:PutObject", resource: KEY_A, context: { ...sse, [`s3:RequestObjectTag/${TAG}`]: bindsTo(p), "s3:RequestObjectTagKeys": [TAG] } }),
    },
    {
        // A deployer planting a key it knows before A's first boot, which A would then adopt.
        label: "plant a key for A (PutObject tagged for A, If-None-Match)",
        request: () => ({ action: "s3:PutObject", resource: KEY_A, context: { ...sse, "s3:if-none-match": "*", [`s3:RequestObjectTag/${TAG}`]: A_ARN, "s3:RequestObjectTagKeys": [TAG] } }),
    },
    {
        label: "upload A's key with a customer-provided key (SSE-C)",
        request: () => ({
            action: "s3:PutObject",
            resource: KEY_A,
            context: { "s3:x-amz-server-side-encryption-customer-algorithm": "AES256", "s3:if-none-match": "*", [`s3:RequestObjectTag/${TAG}`]: A_ARN, "s3:RequestObjectTagKeys": [TAG] },
        }),
    },
    { label: "delete A's key", request: () => ({ action: "s3:DeleteObject", resource: KEY_A, context: {} }) },
    {
        label: "re-tag A's key to bind it to the caller (or B)",
        request: (p) => ({ action: "s3:PutObjectTagging", resource: KEY_A, context: { [`s3:ExistingObjectTag/${TAG}`]: A_ARN, [`s3:RequestObjectTag/${TAG}`]: bindsTo(p), "s3:RequestObjectTagKeys": [TAG] } }),
    },
    {
        label: "re-tag B's key to bind it to the caller (or A)",
        request: (p) => ({ action: "s3:PutObjectTagging", resource: KEY_B, context: { [`s3:ExistingObjectTag/${TAG}`]: B_ARN, [`s3:RequestObjectTag/${TAG}`]: p.sourceInstance ?? A_ARN, "s3:RequestObjectTagKeys": [TAG] } }),
    },
    { label: "read an object outside keys/", request: () => ({ action: "s3:GetObject", resource: OUTSIDE, context: {} }) },
    { label: "write an object outside keys/", request: (p) => ({ action: "s3:PutObject", resource: OUTSIDE, context: { ...sse, "s3:if-none-match": "*", [`s3:RequestObjectTag/${TAG}`]: bindsTo(p), "s3:RequestObjectTagKeys": [TAG] } }) },
    { label: "list the bucket", request: () => ({ action: "s3:ListBucket", resource: BUCKET_ARN, context: {} }) },
    { label: "change the bucket policy", request: () => ({ action: "s3:PutBucketPolicy", resource: BUCKET_ARN, context: {} }) },
    { label: "turn on versioning", request: () => ({ action: "s3:PutBucketVersioning", resource: BUCKET_ARN, context: {} }) },
    { label: "kms:Decrypt directly with A's key context", request: () => ({ action: "kms:Decrypt", resource: KMS_KEY_ARN, context: { "kms:EncryptionContext:aws:s3:arn": KEY_A } }) },
    { label: "kms:Decrypt through S3 with A's key context", request: () => ({ action: "kms:Decrypt", resource: KMS_KEY_ARN, context: { "kms:EncryptionContext:aws:s3:arn": KEY_A, "kms:ViaService": VIA_S3 } }) },
    { label: "kms:Decrypt through S3 with B's key context", request: () => ({ action: "kms:Decrypt", resource: KMS_KEY_ARN, context: { "kms:EncryptionContext:aws:s3:arn": KEY_B, "kms:ViaService": VIA_S3 } }) },
    { label: "replace the vault key's policy", request: () => ({ action: "kms:PutKeyPolicy", resource: KMS_KEY_ARN, context: {} }) },
    { label: "schedule the vault key's deletion", request: () => ({ action: "kms:ScheduleKeyDeletion", resource: KMS_KEY_ARN, context: {} }) },
    { label: "grant itself use of the vault key (kms:CreateGrant)", request: () => ({ action: "kms:CreateGrant", resource: KMS_KEY_ARN, context: {} }) },
    {
        // What EC2 does for the caller when it attaches or starts an encrypted volume: EBS use is unchanged.
        label: "kms:CreateGrant for an EBS volume (an AWS service on the caller's behalf)",
        request: () => ({ action: "kms:CreateGrant", resource: KMS_KEY_ARN, context: { "kms:GrantIsForAWSResource": "true", "kms:ViaService": `ec2.${REGION}.amazonaws.com` } }),
    },
    {
        label: "tag instance A with the bootstrap tags",
        request: () => ({ action: "ec2:CreateTags", resource: A_ARN, context: { "ec2:InstanceID": "i-0aaaaaaaaaaaaaaaa", "aws:TagKeys": [BOOTSTRAP_STATUS_TAG, BOOTSTRAP_REASON_TAG] } }),
    },
    { label: "tag instance A with other tags (airlock:phase)", request: () => ({ action: "ec2:CreateTags", resource: A_ARN, context: { "ec2:InstanceID": "i-0aaaaaaaaaaaaaaaa", "aws:TagKeys": ["airlock:phase"] } }) },
    // Also how A's user data would be replaced (code run as A at its next boot): one IAM action.
    { label: "change instance A's attributes (security groups, user data)", request: () => ({ action: "ec2:ModifyInstanceAttribute", resource: A_ARN, context: {} }) },
    { label: "run a command on instance A (ssm:SendCommand)", request: () => ({ action: "ssm:SendCommand", resource: A_ARN, context: {} }) },
    {
        label: "attach a policy to A's role",
        request: () => ({ action: "iam:AttachRolePolicy", resource: ROLE_A, context: { "iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess" } }),
    },
];

const A = "Allowed" as const;
const I = "ImplicitlyDenied" as const;
const X = "ExplicitlyDenied" as const;
/** One expected decision per principal (in PRINCIPALS' order), or per phase where they differ. */
type Row = readonly (Decision | { readonly launch: Decision; readonly production: Decision })[];
const L_ONLY = { launch: A, production: I } as const;

/**
 * The matrix. Columns: own instance, another instance, A's role without instance, PowerUser,
 * deployer (SSO), deployer (CI instance profile), break-glass, another account, anonymous.
 */
const EXPECTED: Readonly<Record<string, Row>> = {
    "read A's key": /*                                   */ [A, X, X, X, X, X, A, X, X],
    "read B's key": /*                                   */ [X, A, X, X, X, X, A, X, X],
    // Only an instance writes or binds a key, and only its own: deployers included.
    "first write of A's key (If-None-Match, tagged for the writer): PutObject": [L_ONLY, X, X, X, X, X, X, X, X],
    "first write of A's key: its tags (PutObjectTagging)": [L_ONLY, X, X, X, X, X, X, X, X],
    "overwrite A's key (no If-None-Match, same tag)": /* */ [X, X, X, X, X, X, X, X, X],
    "plant a key for A (PutObject tagged for A, If-None-Match)": [L_ONLY, X, X, X, X, X, X, X, X],
    "upload A's key with a customer-provided key (SSE-C)": [X, X, X, X, X, X, X, X, X],
    // Deleting is how destroy shreds a key: deployers only.
    "delete A's key": /*                                 */ [X, X, X, X, A, A, X, X, X],
    // For A itself this re-tags its own key to itself: a no-op its launch policy allows.
    "re-tag A's key to bind it to the caller (or B)": /* */ [L_ONLY, X, X, X, X, X, X, X, X],
    // For B likewise (its own key, to itself), allowed by its s3:*.
    "re-tag B's key to bind it to the caller (or A)": /* */ [X, A, X, X, X, X, X, X, X],
    "read an object outside keys/": /*                   */ [X, X, X, X, X, X, A, X, X],
    // A deployer on an instance profile is bound like an instance: nothing but its own (absent) key.
    "write an object outside keys/": /*                  */ [X, X, X, X, A, X, X, X, X],
    "list the bucket": /*                                */ [X, X, I, A, A, A, I, I, I],
    "change the bucket policy": /*                       */ [X, X, X, X, A, A, X, X, X],
    "turn on versioning": /*                             */ [X, X, X, X, X, X, X, X, X],
    "kms:Decrypt directly with A's key context": /*      */ [X, X, X, X, X, X, X, X, X],
    // KMS admits Airlock's instance roles and break-glass; which key an instance reaches is the
    // bucket policy's binding (B and A's stolen role are refused the object itself, above).
    "kms:Decrypt through S3 with A's key context": /*    */ [A, A, A, X, X, X, A, X, X],
    "kms:Decrypt through S3 with B's key context": /*    */ [I, A, I, X, X, X, A, X, X],
    "replace the vault key's policy": /*                 */ [X, X, X, X, A, A, X, X, X],
    "schedule the vault key's deletion": /*              */ [X, X, X, X, A, A, X, X, X],
    "grant itself use of the vault key (kms:CreateGrant)": [X, X, X, X, A, A, X, X, X],
    "kms:CreateGrant for an EBS volume (an AWS service on the caller's behalf)": [I, A, I, A, A, A, I, I, I],
    "tag instance A with the bootstrap tags": /*         */ [L_ONLY, I, I, A, A, A, I, I, I],
    "tag instance A with other tags (airlock:phase)": /* */ [I, I, I, A, A, A, I, I, I],
    // Not the vault's to stop: EC2 and SSM rights on an instance are rights over its key (README).
    "change instance A's attributes (security groups, user data)": [I, I, I, A, A, A, I, I, I],
    "run a command on instance A (ssm:SendCommand)": /*  */ [I, I, I, A, A, A, I, I, I],
    "attach a policy to A's role": /*                    */ [I, I, I, I, A, A, I, I, I],
};

interface Cell {
    readonly principal: Principal;
    readonly action: ActionCase;
    readonly phase: Phase;
    readonly expected: Decision;
}

const CELLS: readonly Cell[] = ACTIONS.flatMap((action) => {
    const row = EXPECTED[action.label];
    if (row === undefined || row.length !== PRINCIPALS.length) {
        throw new Error(`EXPECTED has no complete row for "${action.label}"`);
    }
    return PHASES.flatMap((phase) =>
        PRINCIPALS.map((principal, i) => {
            const e = row[i]!;
            return { principal, action, phase, expected: typeof e === "string" ? e : e[phase] };
        }),
    );
});

function contextOf(p: Principal): Record<string, string> {
    return {
        "aws:SecureTransport": "true",
        ...(p.principalArn === undefined ? {} : { "aws:PrincipalArn": p.principalArn }),
        ...(p.sourceInstance === undefined ? {} : { "ec2:SourceInstanceARN": p.sourceInstance }),
    };
}

function resourcePolicyFor(action: string): object | undefined {
    return action.startsWith("s3:") ? BUCKET_POLICY : action.startsWith("kms:") ? KEY_POLICY : undefined;
}

function evaluate(cell: Cell): Promise<Decision> {
    const request = cell.action.request(cell.principal);
    const resourcePolicy = resourcePolicyFor(request.action);
    return simulate({
        identityPolicies: cell.principal.identity(cell.phase),
        ...(resourcePolicy === undefined ? {} : { resourcePolicy }),
        principal: cell.principal.arn,
        action: request.action,
        resource: request.resource,
        resourceAccount: ACCOUNT,
        context: { ...contextOf(cell.principal), ...request.context },
    });
}

describe("the least-privilege matrix: principals × actions × phase", () => {
    it.each(CELLS.map((c) => [c.phase, c.principal.label, c.action.label, c.expected, c] as const))("%s · %s · %s → %s", async (_phase, _who, _what, expected, cell) => {
        await expect(evaluate(cell)).resolves.toBe(expected);
    });

    it("covers 9 principals × 27 actions × 2 phases: 486 cells, 93 allowed, 393 denied (306 explicitly)", () => {
        expect(PRINCIPALS).toHaveLength(9);
        expect(ACTIONS).toHaveLength(27);
        expect(CELLS).toHaveLength(486);
        const count = (d: Decision): number => CELLS.filter((c) => c.expected === d).length;
        // The figures quoted in the closing note.
        expect({ cells: CELLS.length, allowed: count(A), denied: count(X) + count(I), explicitly: count(X) }).toEqual({ cells: 486, allowed: 93, denied: 393, explicitly: 306 });
    });
});

describe("the matrix's invariants, stated once more in words", () => {
    const cell = (who: number, what: string, phase: Phase): Decision => {
        const found = CELLS.find((c) => c.principal === PRINCIPALS[who] && c.action.label === what && c.phase === phase);
        if (found === undefined) {
            throw new Error(`no cell ${who} / ${what}`);
        }
        return found.expected;
    };

    it("reading A's key: only A itself and the break-glass role", () => {
        const readers = PRINCIPALS.filter((_p, i) => PHASES.every((phase) => cell(i, "read A's key", phase) === A)).map((p) => p.label);
        expect(readers).toEqual(["own instance (A)", "break-glass role"]);
    });

    it("writing, planting or re-binding A's key: only A itself, and only in the launch phase", () => {
        for (const what of ["first write of A's key (If-None-Match, tagged for the writer): PutObject", "plant a key for A (PutObject tagged for A, If-None-Match)", "re-tag A's key to bind it to the caller (or B)"]) {
            const who = CELLS.filter((c) => c.action.label === what && c.expected === A).map((c) => `${c.phase} ${c.principal.label}`);
            expect(who).toEqual(["launch own instance (A)"]);
        }
    });

    it("deleting keys, changing the bucket policy or administering the KMS key: only the deployers", () => {
        for (const what of ["delete A's key", "change the bucket policy", "replace the vault key's policy", "schedule the vault key's deletion", "grant itself use of the vault key (kms:CreateGrant)"]) {
            const who = PRINCIPALS.filter((_p, i) => PHASES.some((phase) => cell(i, what, phase) === A)).map((p) => p.label);
            expect(who).toEqual(["deployer as an SSO session (AdministratorAccess)", "deployer on an EC2 instance profile (CI runner, AdministratorAccess)"]);
        }
    });
});
