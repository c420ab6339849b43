/**
 * The S3 policy front (s3PolicyFront.ts) in front of moto, with the key vault's real bucket policy
 * and real instance phase policies: who may read, write, overwrite and delete a key object, as S3
 * would decide it; what is forwarded (and what is not); and that moto's bucket policy is always
 * put back, even when forwarding fails.
 */
import * as crypto from "crypto";
import * as http from "http";
import type { AddressInfo } from "net";
import { CreateRoleCommand, IAMClient, PutRolePolicyCommand } from "@aws-sdk/client-iam";
import {
    CreateBucketCommand,
    DeleteObjectCommand,
    GetBucketPolicyCommand,
    GetObjectCommand,
    GetObjectTaggingCommand,
    HeadBucketCommand,
    ListObjectsV2Command,
    PutBucketPolicyCommand,
    PutObjectCommand,
    PutObjectTaggingCommand,
    S3Client,
} from "@aws-sdk/client-s3";
import { launchPolicy, productionPolicy } from "../../policies/instance";
import { keyBucketPolicy } from "../../policies/keyBucket";
import { INSTANCE_ARN_TAG, keyObjectKey } from "../../policies/keyNaming";
import { Moto, MOTO_ACCOUNT_ID, MOTO_REGION, awsClientConfig, startMoto } from "./moto";
import {
    FRONT_MARKER_HEADER,
    INSTANCE_ARN_HEADER,
    ROLE_NAME_HEADER,
    S3PolicyFront,
    accessDeniedMessage,
    callerIamArn,
    combineDecisions,
    frontOptionsFor,
    parseTagSetXml,
    parseTaggingHeader,
    s3AuthorizationChecks,
    s3ClientFor,
    s3ObjectAction,
    startS3PolicyFront,
} from "./s3PolicyFront";

jest.setTimeout(120_000);

const BUCKET = "airlock-keys-front123";
const KMS_KEY_ARN = `arn:aws:kms:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:key/0b7c5e2a-4d1f-4c3e-9a8b-6f2d1e0c9b7a`;
const DEPLOYER = `arn:aws:iam::${MOTO_ACCOUNT_ID}:user/moto`;
const A_ARN = `arn:aws:ec2:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:instance/i-0aaaaaaaaaaaaaaaa`;
const B_ARN = `arn:aws:ec2:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:instance/i-0bbbbbbbbbbbbbbbb`;
const KEY_A = keyObjectKey(A_ARN);
const SSE = { ServerSideEncryption: "aws:kms", SSEKMSKeyId: KMS_KEY_ARN } as const;
const POLICY = JSON.stringify(keyBucketPolicy({ partition: "aws", dnsSuffix: "amazonaws.com", bucketName: BUCKET, kmsKeyArn: KMS_KEY_ARN, deployers: [DEPLOYER] }));
const grant = (instanceArn: string) => ({ partition: "aws", dnsSuffix: "amazonaws.com", region: MOTO_REGION, bucketName: BUCKET, kmsKeyArn: KMS_KEY_ARN, instanceArn });

describe("s3PolicyFront: pure parts", () => {
    test("actions per method and subresource", () => {
        expect(s3ObjectAction("PUT")).toBe("s3:PutObject");
        expect(s3ObjectAction("HEAD")).toBe("s3:GetObject");
        expect(s3ObjectAction("GET", { versionId: "v" })).toBe("s3:GetObjectVersion");
        expect(s3ObjectAction("GET", { tagging: "" })).toBe("s3:GetObjectTagging");
        expect(s3ObjectAction("PUT", { tagging: "" })).toBe("s3:PutObjectTagging");
        expect(s3ObjectAction("DELETE", { tagging: "" })).toBe("s3:DeleteObjectTagging");
        expect(s3ObjectAction("DELETE")).toBe("s3:DeleteObject");
        expect(s3ObjectAction("DELETE", { versionId: "v" })).toBe("s3:DeleteObjectVersion");
        expect(s3ObjectAction("POST", { uploads: "" })).toBe("s3:PutObject");
        expect(s3ObjectAction("PUT", { uploadId: "u", partNumber: "1" })).toBe("s3:PutObject");
        expect(s3ObjectAction("DELETE", { uploadId: "u" })).toBe("s3:AbortMultipartUpload");
        expect(s3ObjectAction("GET", { acl: "" })).toBe("s3:GetObjectAcl");
    });

    test("the request context of a PutObject: SSE, If-None-Match and its tags, and the tags as a second action", () => {
        const tagging = `${encodeURIComponent(INSTANCE_ARN_TAG)}=${encodeURIComponent(A_ARN)}`;
        expect(parseTaggingHeader(tagging)).toEqual({ [INSTANCE_ARN_TAG]: A_ARN });
        const checks = s3AuthorizationChecks({
            method: "PUT",
            headers: { "X-Amz-Server-Side-Encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY_ARN, "If-None-Match": "*", "x-amz-tagging": tagging, "content-type": "x" },
        });
        expect(checks).toEqual([
            {
                action: "s3:PutObject",
                context: {
                    "s3:x-amz-server-side-encryption": "aws:kms",
                    "s3:x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY_ARN,
                    "s3:if-none-match": "*",
                    [`s3:RequestObjectTag/${INSTANCE_ARN_TAG}`]: A_ARN,
                    "s3:RequestObjectTagKeys": [INSTANCE_ARN_TAG],
                },
            },
            { action: "s3:PutObjectTagging", context: { [`s3:RequestObjectTag/${INSTANCE_ARN_TAG}`]: A_ARN, "s3:RequestObjectTagKeys": [INSTANCE_ARN_TAG] } },
        ]);
        // Without tags: one action; reads carry the object's existing tags, deletes none.
        expect(s3AuthorizationChecks({ method: "PUT", headers: {} })).toEqual([{ action: "s3:PutObject", context: {} }]);
        expect(s3AuthorizationChecks({ method: "GET" }, { [INSTANCE_ARN_TAG]: A_ARN })).toEqual([{ action: "s3:GetObject", context: { [`s3:ExistingObjectTag/${INSTANCE_ARN_TAG}`]: A_ARN } }]);
        expect(s3AuthorizationChecks({ method: "GET" }, undefined)).toEqual([{ action: "s3:GetObject", context: {} }]);
        expect(s3AuthorizationChecks({ method: "DELETE" }, { t: "v" })).toEqual([{ action: "s3:DeleteObject", context: {} }]);
        // PutObjectTagging: the new tags from the body, the old ones from the object.
        const body = `<Tagging><TagSet><Tag><Key>${INSTANCE_ARN_TAG}</Key><Value>${B_ARN}</Value></Tag></TagSet></Tagging>`;
        expect(parseTagSetXml(body)).toEqual({ [INSTANCE_ARN_TAG]: B_ARN });
        expect(s3AuthorizationChecks({ method: "PUT", query: { tagging: "" }, body }, { [INSTANCE_ARN_TAG]: A_ARN })).toEqual([
            {
                action: "s3:PutObjectTagging",
                context: { [`s3:ExistingObjectTag/${INSTANCE_ARN_TAG}`]: A_ARN, [`s3:RequestObjectTag/${INSTANCE_ARN_TAG}`]: B_ARN, "s3:RequestObjectTagKeys": [INSTANCE_ARN_TAG] },
            },
        ]);
    });

    test("decisions combine to the worst; messages are S3's; moto's user ARN is spelled as IAM spells it", () => {
        expect(combineDecisions(["Allowed", "ImplicitlyDenied"])).toBe("ImplicitlyDenied");
        expect(combineDecisions(["ImplicitlyDenied", "ExplicitlyDenied", "Allowed"])).toBe("ExplicitlyDenied");
        expect(combineDecisions(["Allowed", "Allowed"])).toBe("Allowed");
        expect(accessDeniedMessage("arn:aws:iam::1:user/u", "s3:GetObject", "arn:aws:s3:::b/k", "ExplicitlyDenied")).toBe(
            'User: arn:aws:iam::1:user/u is not authorized to perform: s3:GetObject on resource: "arn:aws:s3:::b/k" with an explicit deny in a resource-based policy',
        );
        expect(accessDeniedMessage("p", "s3:PutObject", "r", "ImplicitlyDenied")).toMatch(/because no identity-based policy allows the s3:PutObject action$/);
        expect(callerIamArn(`arn:aws:sts::${MOTO_ACCOUNT_ID}:user/moto`)).toBe(DEPLOYER);
        expect(callerIamArn(`arn:aws:sts::${MOTO_ACCOUNT_ID}:assumed-role/r/s`)).toBe(`arn:aws:sts::${MOTO_ACCOUNT_ID}:assumed-role/r/s`);
    });
});

describe("s3PolicyFront: in front of moto, with the vault's policies", () => {
    let moto: Moto;
    let front: S3PolicyFront;
    let direct: S3Client;
    let deployer: S3Client;
    let iam: IAMClient;
    const clients: S3Client[] = [];
    const asInstance = (arn: string, roleName: string): S3Client => {
        const c = s3ClientFor(front, { ...awsClientConfig(moto), instance: { arn, roleName } });
        clients.push(c);
        return c;
    };
    const status = async (p: Promise<unknown>): Promise<number | string> => {
        try {
            await p;
            return 200;
        } catch (err) {
            const e = err as { $metadata?: { httpStatusCode?: number }; name?: string; message?: string };
            return `${e.$metadata?.httpStatusCode ?? "?"} ${e.name ?? ""}${e.message ? `: ${e.message}` : ""}`;
        }
    };
    const policyInMoto = async (): Promise<string | undefined> => (await direct.send(new GetBucketPolicyCommand({ Bucket: BUCKET }))).Policy;
    const keysInMoto = async (): Promise<string[]> => ((await direct.send(new ListObjectsV2Command({ Bucket: BUCKET }))).Contents ?? []).map((o) => o.Key ?? "").sort();
    const firstWrite = (client: S3Client, key: string, body: Buffer, tagFor: string, extra: Partial<ConstructorParameters<typeof PutObjectCommand>[0]> = {}) =>
        client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, IfNoneMatch: "*", ...SSE, Tagging: `${encodeURIComponent(INSTANCE_ARN_TAG)}=${encodeURIComponent(tagFor)}`, ...extra }));

    beforeAll(async () => {
        moto = await startMoto();
        front = await startS3PolicyFront(frontOptionsFor(moto));
        direct = new S3Client({ ...awsClientConfig(moto), forcePathStyle: true });
        deployer = s3ClientFor(front, awsClientConfig(moto));
        clients.push(direct, deployer);
        iam = new IAMClient(awsClientConfig(moto));
        await direct.send(new CreateBucketCommand({ Bucket: BUCKET, CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
        // Through the front, like the test plugin's BucketPolicy.
        await deployer.send(new PutBucketPolicyCommand({ Bucket: BUCKET, Policy: POLICY }));
        const trust = JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }] });
        for (const [role, policy] of [
            ["web-1-role-aaaaaaa", launchPolicy(grant(A_ARN))],
            ["api-1-role-bbbbbbb", launchPolicy(grant(B_ARN))],
            ["web-1-role-prod", productionPolicy(grant(A_ARN))],
        ] as const) {
            await iam.send(new CreateRoleCommand({ RoleName: role, Path: "/airlock/", AssumeRolePolicyDocument: trust }));
            await iam.send(new PutRolePolicyCommand({ RoleName: role, PolicyName: "airlock-phase", PolicyDocument: JSON.stringify(policy) }));
        }
    });

    afterAll(async () => {
        for (const c of clients) c.destroy();
        iam?.destroy();
        await front?.stop();
        await moto?.stop();
    });

    test("moto alone denies every object request under the vault's policy, the deployer's included", async () => {
        expect(await status(direct.send(new PutObjectCommand({ Bucket: BUCKET, Key: "notes/x", Body: "x", ...SSE })))).toMatch(/^403/);
    });

    test("an instance writes its own key once, as its boot does: allowed, forwarded without the test headers, tagged, policy back", async () => {
        const key = crypto.randomBytes(64);
        const before = (await moto.requests()).length;
        expect(await status(firstWrite(asInstance(A_ARN, "web-1-role-aaaaaaa"), KEY_A, key, A_ARN))).toBe(200);
        const judged = front.decisions.at(-1);
        expect(judged).toMatchObject({ method: "PUT", key: KEY_A, actions: ["s3:PutObject", "s3:PutObjectTagging"], sourceInstanceArn: A_ARN, decision: "Allowed", bucketPolicy: true });
        expect(judged?.principalArn).toBe(`arn:aws:iam::${MOTO_ACCOUNT_ID}:role/airlock/web-1-role-aaaaaaa`);
        expect(await keysInMoto()).toEqual([KEY_A]);
        const tags = await deployerTags(KEY_A);
        expect(tags).toEqual({ [INSTANCE_ARN_TAG]: A_ARN });
        expect(await policyInMoto()).toBe(POLICY);
        // What moto received: the PUT with the boot's headers, never the test-only ones.
        const put = (await moto.requests()).slice(before).find((q) => q.method === "PUT" && q.path.startsWith(`/${BUCKET}/keys/`));
        expect(put).toBeDefined();
        const names = Object.keys(put?.headers ?? {}).map((h) => h.toLowerCase());
        expect(names).toEqual(expect.arrayContaining(["if-none-match", "x-amz-tagging", "x-amz-server-side-encryption"]));
        expect(names).not.toContain(INSTANCE_ARN_HEADER);
        expect(names).not.toContain(ROLE_NAME_HEADER);

        // It reads it back (tagged for it); nobody else does: not another instance, not the deployer.
        const read = await asInstance(A_ARN, "web-1-role-aaaaaaa").send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY_A }));
        expect(Buffer.from(await (read.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()).equals(key)).toBe(true);
        expect(await status(asInstance(B_ARN, "api-1-role-bbbbbbb").send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY_A })))).toMatch(/^403 AccessDenied: .*with an explicit deny in a resource-based policy/);
        expect(await status(deployer.send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY_A })))).toMatch(/^403 AccessDenied: User: arn:aws:iam::\d+:user\/moto is not authorized to perform: s3:GetObject/);

        // Write-once: a second write with If-None-Match is refused by S3 (moto: 412), an overwrite by the policy.
        expect(await status(firstWrite(asInstance(A_ARN, "web-1-role-aaaaaaa"), KEY_A, crypto.randomBytes(64), A_ARN))).toMatch(/^412/);
        expect(await status(firstWrite(asInstance(A_ARN, "web-1-role-aaaaaaa"), KEY_A, crypto.randomBytes(64), A_ARN, { IfNoneMatch: undefined }))).toMatch(/^403 AccessDenied/);
        // No re-tagging to another instance, no delete.
        expect(
            await status(asInstance(A_ARN, "web-1-role-aaaaaaa").send(new PutObjectTaggingCommand({ Bucket: BUCKET, Key: KEY_A, Tagging: { TagSet: [{ Key: INSTANCE_ARN_TAG, Value: B_ARN }] } }))),
        ).toMatch(/^403 AccessDenied/);
        expect(await status(asInstance(A_ARN, "web-1-role-aaaaaaa").send(new DeleteObjectCommand({ Bucket: BUCKET, Key: KEY_A })))).toMatch(/^403 AccessDenied/);
        const again = await asInstance(A_ARN, "web-1-role-aaaaaaa").send(new GetObjectCommand({ Bucket: BUCKET, Key: KEY_A }));
        expect(Buffer.from(await (again.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()).equals(key)).toBe(true);
        expect(await deployerTags(KEY_A)).toEqual({ [INSTANCE_ARN_TAG]: A_ARN });
        expect(await policyInMoto()).toBe(POLICY);
    });

    test("refused writes: another instance's key, a missing or foreign tag, another KMS key, a production-phase role", async () => {
        const b = asInstance(B_ARN, "api-1-role-bbbbbbb");
        const body = crypto.randomBytes(64);
        expect(await status(firstWrite(b, keyObjectKey(A_ARN + "0"), body, B_ARN))).toMatch(/^403 AccessDenied: .*explicit deny/);
        expect(await status(firstWrite(b, keyObjectKey(B_ARN), body, A_ARN))).toMatch(/^403 AccessDenied/);
        expect(await status(b.send(new PutObjectCommand({ Bucket: BUCKET, Key: keyObjectKey(B_ARN), Body: body, IfNoneMatch: "*", ...SSE })))).toMatch(/^403 AccessDenied/);
        expect(await status(firstWrite(b, keyObjectKey(B_ARN), body, B_ARN, { SSEKMSKeyId: KMS_KEY_ARN.replace(/key\/.*/, "key/00000000-0000-0000-0000-000000000000") }))).toMatch(/^403 AccessDenied: .*explicit deny/);
        // Production: reading only. Nothing in the bucket policy denies it; no identity policy allows it.
        const prodArn = A_ARN.replace(/a+$/, "c".repeat(17));
        expect(await status(firstWrite(asInstance(prodArn, "web-1-role-prod"), keyObjectKey(prodArn), body, prodArn))).toMatch(
            /^403 AccessDenied: User: arn:aws:sts::\d+:assumed-role\/web-1-role-prod\/i-0c+ is not authorized to perform: s3:PutObject .*because no identity-based policy allows/,
        );
        expect(front.decisions.at(-1)?.decision).toBe("ImplicitlyDenied");
        expect(await keysInMoto()).toEqual([KEY_A]);
        expect(await policyInMoto()).toBe(POLICY);
    });

    test("the deployer writes outside keys/ (under the vault key only), plants no key, deletes; bucket requests go through untouched", async () => {
        expect(await status(deployer.send(new PutObjectCommand({ Bucket: BUCKET, Key: "notes/readme.txt", Body: "hello", ...SSE })))).toBe(200);
        expect(await status(deployer.send(new PutObjectCommand({ Bucket: BUCKET, Key: "notes/other.txt", Body: "x", ServerSideEncryption: "AES256" })))).toMatch(/^403 AccessDenied: .*explicit deny/);
        // Not under keys/: a key is generated by its instance, never planted (not even by a deployer).
        expect(await status(deployer.send(new PutObjectCommand({ Bucket: BUCKET, Key: keyObjectKey(B_ARN), Body: "x", ...SSE })))).toMatch(/^403 AccessDenied: .*explicit deny/);
        expect(await status(deployer.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: "notes/readme.txt" })))).toBe(200);
        // Bucket-level: forwarded verbatim (moto does not judge them, nor does the front).
        const judged = front.decisions.length;
        expect(await status(deployer.send(new HeadBucketCommand({ Bucket: BUCKET })))).toBe(200);
        expect(((await deployer.send(new ListObjectsV2Command({ Bucket: BUCKET }))).Contents ?? []).map((o) => o.Key)).toEqual([KEY_A]);
        expect((await deployer.send(new GetBucketPolicyCommand({ Bucket: BUCKET }))).Policy).toBe(POLICY);
        expect(front.decisions.length).toBe(judged);
        // Object answers say they were judged; a bucket's do not.
        const head = await fetch(`${front.endpoint}/${BUCKET}`, { method: "HEAD" });
        expect(head.headers.get(FRONT_MARKER_HEADER)).toBeNull();
        const object = await fetch(`${front.endpoint}/${BUCKET}/notes/none`, { method: "HEAD" });
        expect(object.status).toBe(403);
        expect(object.headers.get(FRONT_MARKER_HEADER)).toBe("judged");
        // The deployer deletes a key object (what InstanceKey's delete does); the listing shows it gone.
        expect(await status(deployer.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: KEY_A })))).toBe(200);
        expect(await keysInMoto()).toEqual([]);
        expect(await policyInMoto()).toBe(POLICY);
    });

    test("half a caller is refused, naming the missing header", async () => {
        const r = await fetch(`${front.endpoint}/${BUCKET}/x`, { method: "GET", headers: { [INSTANCE_ARN_HEADER]: A_ARN } });
        expect(r.status).toBe(400);
        expect(await r.text()).toContain(ROLE_NAME_HEADER);
        expect(await policyInMoto()).toBe(POLICY);
    });

    test("the policy is put back when forwarding fails (moto drops the connection)", async () => {
        // A second front whose upstream is a proxy to moto that drops every object PUT.
        const dropper = http.createServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => {
                if (req.method === "PUT" && /^\/[^/?]+\/[^?]/.test(req.url ?? "")) {
                    req.socket.destroy();
                    return;
                }
                const out = http.request({ host: "127.0.0.1", port: moto.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
                    res.writeHead(r.statusCode ?? 502, r.headers);
                    r.pipe(res);
                });
                out.end(Buffer.concat(chunks));
            });
        });
        await new Promise<void>((resolve) => dropper.listen(0, "127.0.0.1", () => resolve()));
        const broken = await startS3PolicyFront({ ...frontOptionsFor(moto), upstream: `http://127.0.0.1:${(dropper.address() as AddressInfo).port}` });
        const client = s3ClientFor(broken, awsClientConfig(moto));
        try {
            expect(await status(client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "notes/lost.txt", Body: "x", ...SSE })))).toMatch(/^502/);
            expect(broken.problems.join("\n")).toMatch(/socket hang up|ECONNRESET/);
            expect(await policyInMoto()).toBe(POLICY);
            expect(await keysInMoto()).toEqual([]);
        } finally {
            client.destroy();
            await broken.stop();
            await new Promise<void>((resolve) => dropper.close(() => resolve()));
        }
    });

    async function deployerTags(key: string): Promise<Record<string, string>> {
        // Tag reads are key reads for moto's policy check: only through the front (the deployer may read tags).
        const out = await deployer.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: key }));
        return Object.fromEntries((out.TagSet ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]));
    }
});
