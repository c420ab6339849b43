/** Who the vault policies name: resolution of caller and configured ARNs (policies/principals.ts). */
import { keyBucketPolicy } from "../policies/keyBucket";
import { isAmong, patternsOf, resolvePrincipal, vaultPrincipals } from "../policies/principals";

const ACCOUNT = "111122223333";

describe("resolvePrincipal", () => {
    it.each<[string, string, string[]]>([
        ["an assumed-role session (what sts get-caller-identity answers)", `arn:aws:sts::${ACCOUNT}:assumed-role/deployer/pulumi-run`, [`arn:aws:iam::${ACCOUNT}:role/deployer`, `arn:aws:iam::${ACCOUNT}:role/*/deployer`]],
        [
            "an SSO session (its role lives under aws-reserved/sso.amazonaws.com/)",
            `arn:aws:sts::${ACCOUNT}:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/alice@example.com`,
            [`arn:aws:iam::${ACCOUNT}:role/AWSReservedSSO_Admin_0123456789abcdef`, `arn:aws:iam::${ACCOUNT}:role/*/AWSReservedSSO_Admin_0123456789abcdef`],
        ],
        ["an EC2 instance profile's session (a CI runner)", `arn:aws:sts::${ACCOUNT}:assumed-role/ci-runner/i-0cccccccccccccccc`, [`arn:aws:iam::${ACCOUNT}:role/ci-runner`, `arn:aws:iam::${ACCOUNT}:role/*/ci-runner`]],
        ["a role ARN with a path (matched by name under any path)", `arn:aws:iam::${ACCOUNT}:role/ci/deployer`, [`arn:aws:iam::${ACCOUNT}:role/deployer`, `arn:aws:iam::${ACCOUNT}:role/*/deployer`]],
        ["a user", `arn:aws:iam::${ACCOUNT}:user/ops/alice`, [`arn:aws:iam::${ACCOUNT}:user/ops/alice`]],
        ["an aws-cn role session", `arn:aws-cn:sts::${ACCOUNT}:assumed-role/deployer/run`, [`arn:aws-cn:iam::${ACCOUNT}:role/deployer`, `arn:aws-cn:iam::${ACCOUNT}:role/*/deployer`]],
    ])("%s", (_what, arn, patterns) => {
        expect(resolvePrincipal(arn)?.patterns).toEqual(patterns);
    });

    it.each([
        "arn:aws:iam::111122223333:role/*",
        "arn:aws:iam::*:role/deployer",
        "arn:aws:s3:::bucket",
        "deployer",
        "arn:aws:iam::111122223333:group/admins",
        "arn:aws:sts::111122223333:assumed-role/deployer",
    ])("refuses %s", (arn) => {
        expect(resolvePrincipal(arn)).toBeUndefined();
    });
});

describe("vaultPrincipals", () => {
    const caller = `arn:aws:sts::${ACCOUNT}:assumed-role/deployer/pulumi-run`;

    it("by default: the caller's role, plus the promotion's role", () => {
        const who = vaultPrincipals({ callerArn: caller, promotionRoleArn: `arn:aws:iam::${ACCOUNT}:role/airlock-promoter` });
        expect(who.problems).toEqual([]);
        expect(who.callerIsDeployer).toBe(true);
        expect(patternsOf(who.deployers)).toEqual([
            `arn:aws:iam::${ACCOUNT}:role/deployer`,
            `arn:aws:iam::${ACCOUNT}:role/*/deployer`,
            `arn:aws:iam::${ACCOUNT}:role/airlock-promoter`,
            `arn:aws:iam::${ACCOUNT}:role/*/airlock-promoter`,
        ]);
    });

    it("configured deployers that leave the caller out: callerIsDeployer false (up refuses, preview warns)", () => {
        const who = vaultPrincipals({ callerArn: caller, deployers: [`arn:aws:iam::${ACCOUNT}:role/ci-runner`] });
        expect(who.problems).toEqual([]);
        expect(who.callerIsDeployer).toBe(false);
        expect(isAmong(`arn:aws:sts::${ACCOUNT}:assumed-role/ci-runner/i-0cccccccccccccccc`, who.deployers)).toBe(true);
    });

    it("a deployer or break-glass role of another account is refused, naming the key and both accounts", () => {
        const who = vaultPrincipals({
            callerArn: caller,
            deployers: [caller, "arn:aws:iam::444455556666:role/deployer"],
            breakGlassRoleArn: "arn:aws:iam::444455556666:role/forensics",
        });
        expect(who.problems).toEqual([
            expect.stringMatching(/^`airlock:deployers` names arn:aws:iam::444455556666:role\/deployer, of account 444455556666; the key vault is in account 111122223333/),
            expect.stringMatching(/^`airlock:breakGlassRoleArn` names arn:aws:iam::444455556666:role\/forensics, of account 444455556666/),
        ]);
    });

    it("a break-glass role that is also a deployer is refused", () => {
        const who = vaultPrincipals({ callerArn: caller, breakGlassRoleArn: `arn:aws:iam::${ACCOUNT}:role/security/deployer` });
        expect(who.problems).toEqual([expect.stringContaining("`airlock:breakGlassRoleArn` is also a deployer")]);
    });

    it.each([
        ["a malformed session", "arn:aws:sts::111122223333:assumed-role/x"],
        ["the root user", "arn:aws:iam::111122223333:root"],
        // Its name is chosen by whoever calls sts:GetFederationToken: anyone could mint "alice".
        ["a federated-user session", "arn:aws:sts::111122223333:federated-user/alice"],
    ])("a caller the policy cannot name safely is refused: %s", (_what, callerArn) => {
        expect(vaultPrincipals({ callerArn }).problems).toEqual([expect.stringContaining("which the key vault cannot name safely")]);
    });

    it.each<[string, Parameters<typeof vaultPrincipals>[0], string]>([
        ["a deployer under /airlock/ (the instance roles' path)", { callerArn: caller, deployers: [caller, `arn:aws:iam::${ACCOUNT}:role/airlock/ci`] }, "a role under /airlock/, the path of Airlock's instance roles"],
        ["a user as break-glass", { callerArn: caller, breakGlassRoleArn: `arn:aws:iam::${ACCOUNT}:user/carol` }, "`airlock:breakGlassRoleArn` names arn:aws:iam::111122223333:user/carol, which is not an IAM role ARN."],
        ["a federated user as break-glass", { callerArn: caller, breakGlassRoleArn: `arn:aws:sts::${ACCOUNT}:federated-user/carol` }, "which is not an IAM role ARN"],
        ["a federated user as deployer", { callerArn: caller, deployers: [`arn:aws:sts::${ACCOUNT}:federated-user/alice`] }, "which is not an IAM role or user ARN"],
    ])("refuses %s", (_what, input, message) => {
        expect(vaultPrincipals(input).problems.join("\n")).toContain(message);
    });
});

describe("the bucket policy's size does not grow with the fleet", () => {
    it("has no per-instance input at all, and with the most deployers config allows (10) and a break-glass role stays well below S3's 20 KB", () => {
        const deployers = Array.from({ length: 10 }, (_, i) => resolvePrincipal(`arn:aws:iam::${ACCOUNT}:role/deployer-${i}`)!);
        const text = JSON.stringify(
            keyBucketPolicy({
                partition: "aws",
                dnsSuffix: "amazonaws.com",
                bucketName: "airlock-keys-0123456789abcdef0123456789abcdef0123456789abcde",
                kmsKeyArn: `arn:aws:kms:eu-west-1:${ACCOUNT}:key/0b7c5e2a-4d1f-4c3e-9a8b-6f2d1e0c9b7a`,
                deployers: patternsOf(deployers),
                breakGlass: resolvePrincipal(`arn:aws:iam::${ACCOUNT}:role/forensics`)!.patterns,
            }),
        );
        expect(Buffer.byteLength(text)).toBeLessThan(12 * 1024);
    });

    it("refuses an empty deployer list (nobody could manage the vault)", () => {
        expect(() => keyBucketPolicy({ partition: "aws", dnsSuffix: "amazonaws.com", bucketName: "b-1", kmsKeyArn: "k", deployers: [] })).toThrow("at least one deploying principal");
    });
});
