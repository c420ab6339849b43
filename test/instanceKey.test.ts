/**
 * Key custody (providers/instanceKey.ts): the resource that owns an instance's key object by name
 * and shreds it on delete. Pure parts directly; the provider itself serialized by Pulumi's closure
 * serializer, inside Pulumi's dynamic-provider host over gRPC, against moto.
 */
import { CreateBucketCommand, DeleteBucketCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { checkInstanceKeyInputs, diffInstanceKey, instanceKeyProvider, InstanceKeyInputs, KeyObjectStore, shredKeyObject } from "../providers/instanceKey";
import { keyObjectKey } from "../policies/keyNaming";
import { Moto, MOTO_ACCOUNT_ID, MOTO_REGION, awsClientConfig, startMoto } from "./support/moto";
import { startFaultProxy } from "./support/faultProxy";
import { ProviderHost, UNKNOWN, dynamicUrn, serializeProvider, startProviderHost } from "./support/providerHost";

const INSTANCE_ARN = `arn:aws:ec2:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:instance/i-0aaaaaaaaaaaaaaaa`;
const inputs = (extra: Partial<InstanceKeyInputs> = {}): InstanceKeyInputs => ({
    instanceName: "web-1",
    region: MOTO_REGION,
    bucketName: "airlock-keys-test",
    instanceArn: INSTANCE_ARN,
    keyObjectKey: keyObjectKey(INSTANCE_ARN),
    ...extra,
});

describe("check and diff", () => {
    it("accepts real inputs and unknowns (preview)", () => {
        expect(checkInstanceKeyInputs({ ...inputs() })).toEqual([]);
        expect(checkInstanceKeyInputs({ ...inputs(), instanceArn: UNKNOWN, keyObjectKey: UNKNOWN })).toEqual([]);
    });

    it("refuses a key name that is not keys/<instance ARN>, and malformed fields, one failure each", () => {
        expect(checkInstanceKeyInputs({ ...inputs(), keyObjectKey: "keys/web-1.key" })).toEqual([
            { property: "keyObjectKey", reason: "keyObjectKey must be keys/<instanceArn>, the name the instance writes its key under." },
        ]);
        expect(checkInstanceKeyInputs({ ...inputs(), bucketName: "Bad_Bucket", instanceArn: "i-0abc", region: "Europe", assumeRoleArn: "deployer" }).map((f) => f.property)).toEqual([
            "region",
            "bucketName",
            "instanceArn",
            "assumeRoleArn",
            "keyObjectKey",
        ]);
    });

    it("a new instance (new ARN, new key name) replaces the custody; the role it deletes with changes in place", () => {
        const other = `arn:aws:ec2:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:instance/i-0bbbbbbbbbbbbbbbb`;
        expect(diffInstanceKey(inputs(), inputs({ instanceArn: other, keyObjectKey: keyObjectKey(other) }))).toEqual({ changes: true, replaces: ["keyObjectKey", "instanceArn"], deleteBeforeReplace: false });
        expect(diffInstanceKey(inputs(), inputs({ assumeRoleArn: "arn:aws:iam::123456789012:role/promoter" }))).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
        expect(diffInstanceKey(inputs(), inputs())).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
    });
});

describe("shredKeyObject", () => {
    /** A store whose object reappears `rewrites` times after deletion (a boot still writing). */
    function store(rewrites: number): KeyObjectStore & { deletes: number } {
        let present = true;
        let left = rewrites;
        const s = {
            deletes: 0,
            async deleteObject() {
                s.deletes++;
                present = false;
                if (left > 0) {
                    left--;
                    present = true;
                }
            },
            async exists() {
                return present;
            },
        };
        return s;
    }
    const noSleep = async () => undefined;

    it("deletes once when the object stays gone", async () => {
        const s = store(0);
        await shredKeyObject(s, "b", "k", noSleep);
        expect(s.deletes).toBe(1);
    });

    it("deletes again when a late first boot wrote the key meanwhile", async () => {
        const s = store(2);
        await shredKeyObject(s, "b", "k", noSleep);
        expect(s.deletes).toBe(3);
    });

    it("fails, saying what to do, when the object keeps coming back", async () => {
        await expect(shredKeyObject(store(10), "b", "keys/x", noSleep)).rejects.toThrow("The key object s3://b/keys/x is still there after 4 deletions; something keeps writing it. Delete it by hand");
    });
});

describe("through Pulumi's dynamic-provider host, against moto", () => {
    const TYPE = "pulumi-nodejs:dynamic:Resource";
    let moto: Moto;
    let host: ProviderHost;
    let s3: S3Client;
    let providerText: string;

    beforeAll(async () => {
        [moto, providerText] = await Promise.all([startMoto(), serializeProvider(instanceKeyProvider)]);
        host = await startProviderHost({ env: { ...moto.env } });
        s3 = new S3Client({ ...awsClientConfig(moto), forcePathStyle: true });
    }, 60_000);

    afterAll(async () => {
        await Promise.all([host?.stop(), moto?.stop()]);
    });

    beforeEach(async () => {
        await moto.reset();
        await s3.send(new CreateBucketCommand({ Bucket: "airlock-keys-test", CreateBucketConfiguration: { LocationConstraint: MOTO_REGION } }));
    });

    const keys = async (): Promise<string[]> => ((await s3.send(new ListObjectsV2Command({ Bucket: "airlock-keys-test" }))).Contents ?? []).map((o) => o.Key ?? "");
    const props = () => ({ __provider: providerText, ...inputs() });

    it("create makes no AWS call; delete shreds the key object the instance wrote, and only it", async () => {
        const urn = dynamicUrn("web-1-key", TYPE);
        const before = (await moto.requests()).length;
        const created = await host.create(urn, props());
        expect(created).toEqual(expect.objectContaining({ ok: true, id: keyObjectKey(INSTANCE_ARN) }));
        expect((await moto.requests()).slice(before)).toEqual([]);

        // The instance writes its key (and another instance its own).
        const other = keyObjectKey(`arn:aws:ec2:${MOTO_REGION}:${MOTO_ACCOUNT_ID}:instance/i-0bbbbbbbbbbbbbbbb`);
        await s3.send(new PutObjectCommand({ Bucket: "airlock-keys-test", Key: keyObjectKey(INSTANCE_ARN), Body: Buffer.alloc(64, 7) }));
        await s3.send(new PutObjectCommand({ Bucket: "airlock-keys-test", Key: other, Body: Buffer.alloc(64, 9) }));

        await host.delete(urn, keyObjectKey(INSTANCE_ARN), created.ok ? created.properties : {});
        expect(await keys()).toEqual([other]);
    });

    it("delete succeeds when the instance never wrote its key, and when the bucket is already gone", async () => {
        const urn = dynamicUrn("web-1-key", TYPE);
        await host.delete(urn, keyObjectKey(INSTANCE_ARN), props());
        await s3.send(new DeleteBucketCommand({ Bucket: "airlock-keys-test" }));
        await host.delete(urn, keyObjectKey(INSTANCE_ARN), props());
    });

    it("delete fails with AWS's error, deleting nothing, when the role it runs as cannot be assumed", async () => {
        const proxy = await startFaultProxy(moto.endpoint);
        proxy.setRules([{ action: "AssumeRole", fault: "access-denied" }]);
        const refused = await startProviderHost({ env: { ...moto.env, AWS_ENDPOINT_URL: proxy.endpoint } });
        try {
            await s3.send(new PutObjectCommand({ Bucket: "airlock-keys-test", Key: keyObjectKey(INSTANCE_ARN), Body: Buffer.alloc(64, 7) }));
            const urn = dynamicUrn("web-1-key", TYPE);
            await expect(refused.delete(urn, keyObjectKey(INSTANCE_ARN), { ...props(), assumeRoleArn: "arn:aws:iam::123456789012:role/airlock-promoter" })).rejects.toThrow(/AccessDenied/);
            expect(await keys()).toEqual([keyObjectKey(INSTANCE_ARN)]);
            expect(proxy.calls.map((c) => c.action)).toContain("AssumeRole");
        } finally {
            await Promise.all([refused.stop(), proxy.stop()]);
        }
    });
});
