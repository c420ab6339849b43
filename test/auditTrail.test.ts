/**
 * The audit trail's bucket and key policies (policies/auditTrail.ts) in the IAM simulator: CloudTrail
 * writes this trail's logs and nothing else (confused deputy), the account reads them, others do not.
 */
import { trailArn, trailBucketPolicy, trailKeyPolicy, type TrailGrant } from "../policies/auditTrail";
import { ANONYMOUS, simulate, type Decision } from "./support/iamSimulator";

const ACCOUNT = "111122223333";
const GRANT: TrailGrant = { partition: "aws", dnsSuffix: "amazonaws.com", accountId: ACCOUNT, region: "eu-west-1", trailName: "airlock-audit", bucketName: "airlock-trail-abc1234" };
const BUCKET = `arn:aws:s3:::${GRANT.bucketName}`;
const LOG = `${BUCKET}/AWSLogs/${ACCOUNT}/CloudTrail/eu-west-1/2026/12/01/${ACCOUNT}_CloudTrail_eu-west-1_x.json.gz`;
const KEY = `arn:aws:kms:eu-west-1:${ACCOUNT}:key/0b7c5e2a-4d1f-4c3e-9a8b-6f2d1e0c9b7a`;
const OTHER_TRAIL = `arn:aws:cloudtrail:eu-west-1:444455556666:trail/theirs`;

describe("the trail bucket's policy", () => {
    const policy = trailBucketPolicy(GRANT);
    const asCloudTrail = (action: string, resource: string, context: Record<string, string>): Promise<Decision> =>
        simulate({ identityPolicies: [], resourcePolicy: policy, principal: "cloudtrail.amazonaws.com", action, resource, resourceAccount: ACCOUNT, context: { "aws:SecureTransport": "true", ...context } });

    it.each<[string, string, string, Record<string, string>, Decision]>([
        ["reads the ACL for this trail", "s3:GetBucketAcl", BUCKET, { "aws:SourceArn": trailArn(GRANT) }, "Allowed"],
        ["writes this trail's log file with the owner in full control", "s3:PutObject", LOG, { "aws:SourceArn": trailArn(GRANT), "s3:x-amz-acl": "bucket-owner-full-control" }, "Allowed"],
        ["does not write without the owner in full control", "s3:PutObject", LOG, { "aws:SourceArn": trailArn(GRANT), "s3:x-amz-acl": "private" }, "ImplicitlyDenied"],
        // Confused deputy: another account's trail pointed at this bucket.
        ["does not write for another account's trail", "s3:PutObject", LOG, { "aws:SourceArn": OTHER_TRAIL, "s3:x-amz-acl": "bucket-owner-full-control" }, "ImplicitlyDenied"],
        ["does not write outside AWSLogs/<account>/", "s3:PutObject", `${BUCKET}/elsewhere/x`, { "aws:SourceArn": trailArn(GRANT), "s3:x-amz-acl": "bucket-owner-full-control" }, "ImplicitlyDenied"],
        ["does not delete log files", "s3:DeleteObject", LOG, { "aws:SourceArn": trailArn(GRANT) }, "ImplicitlyDenied"],
    ])("CloudTrail %s → %s", async (_what, action, resource, context, expected) => {
        await expect(asCloudTrail(action, resource, context)).resolves.toBe(expected);
    });

    it("plain HTTP is denied even to CloudTrail", async () => {
        await expect(
            simulate({
                identityPolicies: [],
                resourcePolicy: policy,
                principal: "cloudtrail.amazonaws.com",
                action: "s3:PutObject",
                resource: LOG,
                resourceAccount: ACCOUNT,
                context: { "aws:SecureTransport": "false", "aws:SourceArn": trailArn(GRANT), "s3:x-amz-acl": "bucket-owner-full-control" },
            }),
        ).resolves.toBe("ExplicitlyDenied");
    });

    it("anonymous callers read nothing", async () => {
        await expect(simulate({ identityPolicies: [], resourcePolicy: policy, principal: ANONYMOUS, action: "s3:GetObject", resource: LOG, resourceAccount: ACCOUNT, context: { "aws:SecureTransport": "true" } })).resolves.toBe(
            "ImplicitlyDenied",
        );
    });
});

describe("the trail key's policy", () => {
    const policy = trailKeyPolicy(GRANT);
    const trailContext = { "kms:EncryptionContext:aws:cloudtrail:arn": trailArn(GRANT) };

    it.each<[string, Record<string, string>, Decision]>([
        ["for this trail", { ...trailContext, "aws:SourceArn": trailArn(GRANT) }, "Allowed"],
        ["for another account's trail", { "kms:EncryptionContext:aws:cloudtrail:arn": OTHER_TRAIL, "aws:SourceArn": OTHER_TRAIL }, "ImplicitlyDenied"],
    ])("CloudTrail generates data keys %s → %s", async (_what, context, expected) => {
        await expect(simulate({ identityPolicies: [], resourcePolicy: policy, principal: "cloudtrail.amazonaws.com", action: "kms:GenerateDataKey", resource: KEY, context })).resolves.toBe(expected);
    });

    it.each<[string, string, string, Decision]>([
        ["a principal of this account (no IAM policy of its own)", `arn:aws:sts::${ACCOUNT}:assumed-role/auditor/x`, ACCOUNT, "Allowed"],
        ["a principal of another account", "arn:aws:sts::444455556666:assumed-role/auditor/x", "444455556666", "ImplicitlyDenied"],
    ])("decrypting log files: %s → %s", async (_what, principal, callerAccount, expected) => {
        await expect(
            simulate({ identityPolicies: [], resourcePolicy: policy, principal, action: "kms:Decrypt", resource: KEY, context: { ...trailContext, "kms:CallerAccount": callerAccount } }),
        ).resolves.toBe(expected);
    });

    it("decrypting anything but CloudTrail's logs is not granted by the key policy", async () => {
        await expect(
            simulate({
                identityPolicies: [],
                resourcePolicy: policy,
                principal: `arn:aws:sts::${ACCOUNT}:assumed-role/auditor/x`,
                action: "kms:Decrypt",
                resource: KEY,
                context: { "kms:EncryptionContext:aws:s3:arn": `${BUCKET}/x`, "kms:CallerAccount": ACCOUNT },
            }),
        ).resolves.toBe("ImplicitlyDenied");
    });
});
