/**
 * The audit trail's bucket and key policies (policies/auditTrail.ts) in the IAM simulator: CloudTrail
 * writes this trail's logs and nothing else (confused deputy), the account reads them, others do not.
 */
import { trailArn, trailBucketPolicy, trailKeyPolicy, trailLogsRolePolicy, trailLogsTrustPolicy, type TrailGrant } from "../policies/auditTrail";
import { configRecorderDeliveryPolicy, configRecorderTrustPolicy } from "../policies/configRecorder";
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
        ["does not write for another account's trail", "s3:PutObject", LOG, { "aws:SourceArn": OTHER_TRAIL, "s3:x-amz-acl": "bucket-owner-full-control" }, "ExplicitlyDenied"],
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

    it.each<[string, string, string]>([
        ["overwrite a log file", "s3:PutObject", LOG],
        ["delete a log file", "s3:DeleteObject", LOG],
        ["delete a version", "s3:DeleteObjectVersion", LOG],
        ["plant a file beside the logs", "s3:PutObject", `${BUCKET}/AWSLogs/${ACCOUNT}/CloudTrail/fake.json.gz`],
    ])("an account administrator (s3:* allowed by IAM) cannot %s", async (_what, action, resource) => {
        const admin = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] };
        await expect(
            simulate({
                identityPolicies: [admin],
                resourcePolicy: policy,
                principal: `arn:aws:iam::${ACCOUNT}:role/Admin`,
                action,
                resource,
                resourceAccount: ACCOUNT,
                context: { "aws:SecureTransport": "true", ...(action === "s3:PutObject" ? { "s3:x-amz-acl": "bucket-owner-full-control" } : {}) },
            }),
        ).resolves.toBe("ExplicitlyDenied");
    });

    it("an administrator still reads the logs (through IAM)", async () => {
        const admin = { Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "s3:*", Resource: "*" }] };
        await expect(
            simulate({ identityPolicies: [admin], resourcePolicy: policy, principal: `arn:aws:iam::${ACCOUNT}:role/Admin`, action: "s3:GetObject", resource: LOG, resourceAccount: ACCOUNT, context: { "aws:SecureTransport": "true" } }),
        ).resolves.toBe("Allowed");
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

describe("delivery to CloudWatch Logs (trailLogsTrustPolicy, trailLogsRolePolicy)", () => {
    const GROUP = `arn:aws:logs:eu-west-1:${ACCOUNT}:log-group:/airlock/cloudtrail/airlock-guardrails-abc`;
    const ROLE_SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/trail-to-logs/CloudTrail`;
    const asRole = (action: string, resource: string): Promise<Decision> =>
        simulate({ identityPolicies: [trailLogsRolePolicy(GROUP)], principal: ROLE_SESSION, action, resource, context: { "aws:SecureTransport": "true" } });

    it.each<[string, string, string, Decision]>([
        ["creates a stream in the trail's group", "logs:CreateLogStream", `${GROUP}:log-stream:${ACCOUNT}_CloudTrail_eu-west-1`, "Allowed"],
        ["puts events in the trail's group", "logs:PutLogEvents", `${GROUP}:log-stream:${ACCOUNT}_CloudTrail_eu-west-1`, "Allowed"],
        ["does not write another group", "logs:PutLogEvents", `arn:aws:logs:eu-west-1:${ACCOUNT}:log-group:/aws/lambda/other:log-stream:x`, "ImplicitlyDenied"],
        ["does not delete the group", "logs:DeleteLogGroup", GROUP, "ImplicitlyDenied"],
        ["does not change retention", "logs:PutRetentionPolicy", GROUP, "ImplicitlyDenied"],
    ])("the role %s → %s", async (_what, action, resource, expected) => {
        await expect(asRole(action, resource)).resolves.toBe(expected);
    });

    it.each<[string, Record<string, string>, Decision]>([
        ["CloudTrail for this trail", { "aws:SourceArn": trailArn(GRANT), "aws:SourceAccount": ACCOUNT }, "Allowed"],
        ["CloudTrail for another account's trail (confused deputy)", { "aws:SourceArn": OTHER_TRAIL, "aws:SourceAccount": "444455556666" }, "ImplicitlyDenied"],
    ])("the role is assumed by %s → %s", async (_what, context, expected) => {
        await expect(
            simulate({
                identityPolicies: [],
                resourcePolicy: trailLogsTrustPolicy(GRANT),
                principal: "cloudtrail.amazonaws.com",
                action: "sts:AssumeRole",
                resource: `arn:aws:iam::${ACCOUNT}:role/trail-to-logs`,
                context: { "aws:SecureTransport": "true", ...context },
            }),
        ).resolves.toBe(expected);
    });
});

describe("the Config recorder's role (policies/configRecorder.ts)", () => {
    const DELIVERY = "airlock-delivery-abc1234";
    const SESSION = `arn:aws:sts::${ACCOUNT}:assumed-role/recorder/AWSConfig-Delivery`;
    const policy = configRecorderDeliveryPolicy({ partition: "aws", accountId: ACCOUNT, bucketName: DELIVERY });
    const asRecorder = (action: string, resource: string, context: Record<string, string> = {}): Promise<Decision> =>
        simulate({ identityPolicies: [policy], principal: SESSION, action, resource, resourceAccount: ACCOUNT, context: { "aws:SecureTransport": "true", ...context } });

    it.each<[string, string, string, Record<string, string>, Decision]>([
        ["checks the bucket's ACL", "s3:GetBucketAcl", `arn:aws:s3:::${DELIVERY}`, {}, "Allowed"],
        ["delivers under this account's Config prefix", "s3:PutObject", `arn:aws:s3:::${DELIVERY}/AWSLogs/${ACCOUNT}/Config/eu-west-1/x.json.gz`, { "s3:x-amz-acl": "bucket-owner-full-control" }, "Allowed"],
        ["does not deliver without the owner in full control", "s3:PutObject", `arn:aws:s3:::${DELIVERY}/AWSLogs/${ACCOUNT}/Config/x`, {}, "ImplicitlyDenied"],
        ["does not write elsewhere in the bucket", "s3:PutObject", `arn:aws:s3:::${DELIVERY}/other/x`, { "s3:x-amz-acl": "bucket-owner-full-control" }, "ImplicitlyDenied"],
        ["does not write other buckets", "s3:PutObject", `arn:aws:s3:::${GRANT.bucketName}/AWSLogs/${ACCOUNT}/Config/x`, { "s3:x-amz-acl": "bucket-owner-full-control" }, "ImplicitlyDenied"],
        ["does not read what it delivered", "s3:GetObject", `arn:aws:s3:::${DELIVERY}/AWSLogs/${ACCOUNT}/Config/x`, {}, "ImplicitlyDenied"],
    ])("%s → %s", async (_what, action, resource, context, expected) => {
        await expect(asRecorder(action, resource, context)).resolves.toBe(expected);
    });

    it.each<[string, string, Decision]>([
        ["Config for this account", ACCOUNT, "Allowed"],
        ["Config for another account (confused deputy)", "444455556666", "ImplicitlyDenied"],
    ])("the role is assumed by %s → %s", async (_what, sourceAccount, expected) => {
        await expect(
            simulate({
                identityPolicies: [],
                resourcePolicy: configRecorderTrustPolicy({ partition: "aws", dnsSuffix: "amazonaws.com", accountId: ACCOUNT }),
                principal: "config.amazonaws.com",
                action: "sts:AssumeRole",
                resource: `arn:aws:iam::${ACCOUNT}:role/recorder`,
                context: { "aws:SecureTransport": "true", "aws:SourceAccount": sourceAccount },
            }),
        ).resolves.toBe(expected);
    });
});
