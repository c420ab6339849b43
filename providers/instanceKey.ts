import * as pulumi from "@pulumi/pulumi";
import { KEY_PREFIX } from "../policies/keyNaming";
import { clientSettings } from "./awsPort";
import { INSTANCE_NAME_PATTERN, REGION_PATTERN, UNKNOWN } from "./promotionInputs";

/**
 * The custody of one instance's key object, `keys/<instance ARN>` in the vault.
 *
 * The instance generates its LUKS key at first boot and stores it itself (write-once, tagged with
 * its ARN): Pulumi never holds key material, so no `aws.s3.BucketObjectv2` (whose content would
 * sit in the state) can own the object. This resource owns it instead, by name only. Creating it
 * does nothing in AWS; **deleting it deletes the key object**, which is what makes crypto-shredding
 * hold on `pulumi destroy` and on replacement (a replaced instance has a new ARN, so a new key
 * object and a new custody resource; the old one is deleted with the old instance). Why a dynamic
 * resource: `@pulumi/aws` has no resource that owns an object without writing its content, and
 * `@pulumi/command` would need the AWS CLI and credentials on every deployer's machine.
 *
 * Order: the promotion depends on this resource, so on delete the promotion goes first and takes
 * the role's phase policy (the only write right) with it; then the key object is deleted, checked
 * gone, and deleted again if a boot that was still running wrote it meanwhile; then the instance.
 */
export interface InstanceKeyInputs {
    readonly instanceName: string;
    readonly region: string;
    /** Role the deletion runs as (the promotion's). @default the credentials pulumi runs with */
    readonly assumeRoleArn?: string;
    readonly bucketName: string;
    readonly instanceArn: string;
    /** `keys/<instanceArn>`. */
    readonly keyObjectKey: string;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const INSTANCE_ARN = /^arn:aws[a-z-]*:ec2:[a-z0-9-]+:\d{12}:instance\/i-[0-9a-f]{8,17}$/;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;

/** What is wrong with the inputs, one failure per property (unknown values are left for later). */
export function checkInstanceKeyInputs(inputs: Record<string, unknown>): pulumi.dynamic.CheckFailure[] {
    const failures: pulumi.dynamic.CheckFailure[] = [];
    const known = (v: unknown): boolean => v !== undefined && v !== UNKNOWN;
    const expect = (property: string, ok: (v: unknown) => boolean, reason: string): void => {
        const v = inputs[property];
        if (known(v) && !ok(v)) {
            failures.push({ property, reason });
        }
    };
    const str = (re: RegExp) => (v: unknown) => typeof v === "string" && re.test(v);
    expect("instanceName", str(INSTANCE_NAME_PATTERN), "instanceName must be 1-32 lowercase letters, digits and single hyphens, starting with a letter.");
    expect("region", str(REGION_PATTERN), "region must be an AWS region such as eu-west-1.");
    expect("bucketName", str(BUCKET_NAME), "bucketName must be an S3 bucket name.");
    expect("instanceArn", str(INSTANCE_ARN), "instanceArn must be an EC2 instance ARN.");
    if (inputs.assumeRoleArn !== undefined) {
        expect("assumeRoleArn", str(ROLE_ARN), "assumeRoleArn must be an IAM role ARN.");
    }
    if (known(inputs.instanceArn) && known(inputs.keyObjectKey) && inputs.keyObjectKey !== `${KEY_PREFIX}${String(inputs.instanceArn)}`) {
        failures.push({ property: "keyObjectKey", reason: `keyObjectKey must be ${KEY_PREFIX}<instanceArn>, the name the instance writes its key under.` });
    }
    return failures;
}

/** Only the role the deletion runs as can change in place; anything else names another object. */
export function diffInstanceKey(olds: InstanceKeyInputs, news: InstanceKeyInputs): pulumi.dynamic.DiffResult {
    const replaces = (["bucketName", "keyObjectKey", "instanceArn", "region", "instanceName"] as const).filter((k) => olds[k] !== news[k]);
    const changes = replaces.length > 0 || olds.assumeRoleArn !== news.assumeRoleArn;
    return { changes, replaces, deleteBeforeReplace: false };
}

/** The S3 calls the deletion makes; a port, so the retry logic is tested without AWS. */
export interface KeyObjectStore {
    deleteObject(bucket: string, key: string): Promise<void>;
    /** Whether the object exists (ListObjectsV2 with the key as prefix: deployers may list, not read). */
    exists(bucket: string, key: string): Promise<boolean>;
}

/**
 * Deletes the key object and checks that it is gone; a first boot still running when its policy was
 * removed may have written it meanwhile, so delete again, up to `attempts` times.
 */
export async function shredKeyObject(store: KeyObjectStore, bucket: string, key: string, sleep: (ms: number) => Promise<void>, attempts = 4): Promise<void> {
    for (let attempt = 1; attempt <= attempts; attempt++) {
        await store.deleteObject(bucket, key);
        if (!(await store.exists(bucket, key))) {
            return;
        }
        await sleep(2000 * attempt);
    }
    throw new Error(`The key object s3://${bucket}/${key} is still there after ${attempts} deletions; something keeps writing it. Delete it by hand (as a deployer) before the bucket can go.`);
}

function s3Store(inputs: InstanceKeyInputs): KeyObjectStore {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const s3sdk = require("@aws-sdk/client-s3") as typeof import("@aws-sdk/client-s3");
    /* eslint-enable @typescript-eslint/no-require-imports */
    // An endpoint override (an S3-compatible endpoint or an emulator) rarely serves virtual-hosted names.
    const endpointOverride = process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
    const s3 = new s3sdk.S3Client({
        ...clientSettings({ region: inputs.region, assumeRoleArn: inputs.assumeRoleArn }, "airlock-key-custody"),
        ...(endpointOverride === undefined ? {} : { forcePathStyle: true }),
    });
    const gone = (err: unknown): boolean => (err as { name?: string }).name === "NoSuchBucket";
    return {
        async deleteObject(bucket, key) {
            try {
                await s3.send(new s3sdk.DeleteObjectCommand({ Bucket: bucket, Key: key }));
            } catch (err) {
                if (!gone(err)) {
                    throw err;
                }
            }
        },
        async exists(bucket, key) {
            try {
                const out = await s3.send(new s3sdk.ListObjectsV2Command({ Bucket: bucket, Prefix: key, MaxKeys: 1 }));
                return (out.Contents ?? []).some((o) => o.Key === key);
            } catch (err) {
                if (gone(err)) {
                    return false;
                }
                throw err;
            }
        },
    };
}

export const instanceKeyProvider: pulumi.dynamic.ResourceProvider<InstanceKeyInputs, InstanceKeyInputs> = {
    async check(_olds: InstanceKeyInputs, news: InstanceKeyInputs): Promise<pulumi.dynamic.CheckResult<InstanceKeyInputs>> {
        const failures = checkInstanceKeyInputs(news as unknown as Record<string, unknown>);
        return failures.length > 0 ? { inputs: news, failures } : { inputs: news };
    },
    async diff(_id: string, olds: InstanceKeyInputs, news: InstanceKeyInputs): Promise<pulumi.dynamic.DiffResult> {
        return diffInstanceKey(olds, news);
    },
    async create(inputs: InstanceKeyInputs): Promise<pulumi.dynamic.CreateResult<InstanceKeyInputs>> {
        // Nothing to do in AWS: the instance writes its own key at first boot.
        return { id: inputs.keyObjectKey, outs: inputs };
    },
    async update(_id: string, _olds: InstanceKeyInputs, news: InstanceKeyInputs): Promise<pulumi.dynamic.UpdateResult<InstanceKeyInputs>> {
        return { outs: news };
    },
    async delete(_id: string, props: InstanceKeyInputs): Promise<void> {
        await shredKeyObject(s3Store(props), props.bucketName, props.keyObjectKey, (ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    },
};

export type InstanceKeyArgs = { readonly [K in keyof InstanceKeyInputs]: pulumi.Input<InstanceKeyInputs[K]> };

export class InstanceKey extends pulumi.dynamic.Resource {
    declare public readonly keyObjectKey: pulumi.Output<string>;

    constructor(name: string, args: InstanceKeyArgs, opts: pulumi.CustomResourceOptions = {}) {
        super(instanceKeyProvider, name, { ...args }, opts, "airlock", "InstanceKey");
    }
}
