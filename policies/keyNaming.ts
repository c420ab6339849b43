/**
 * Names shared by the key vault, the instances and the boot path. The bucket policy binds a key
 * object to its instance through the object tag below, compared with the caller's
 * `ec2:SourceInstanceARN`, so the policy never grows with the fleet.
 */
export const KEY_PREFIX = "keys/";

/** Object tag that names the only instance allowed to read a key object. */
export const INSTANCE_ARN_TAG = "airlock:instance-arn";

/** Instance tags the bootstrap may set on its own instance during the launch phase (the readiness signal). */
export const BOOTSTRAP_STATUS_TAG = "airlock:bootstrap";
export const BOOTSTRAP_REASON_TAG = "airlock:bootstrap-reason";

/**
 * Instance tag naming the instance's data volume. The first boot reads it from the instance's
 * metadata (instance tags in IMDS): the volume is made after the instance, and with it, so that a
 * replaced instance gets a new volume as it gets a new key.
 */
export const DATA_VOLUME_TAG = "airlock:data-volume";

/** Tag put on everything Airlock manages; the audit uses it to find unmanaged instances. */
export const MANAGED_TAG = "airlock:managed";
export const INSTANCE_NAME_TAG = "airlock:instance";

/** Tag on the guardrails' account-wide IAM policies naming the stack that owns them (its claim on the account). */
export const GUARDRAILS_OWNER_TAG = "airlock:guardrails-stack";

/** IAM path of every instance role, so roles are recognisable (and listable) as Airlock's. */
export const ROLE_PATH = "/airlock/";

/**
 * The key object of one instance: `keys/<instance ARN>`. The name carries what distinguishes this
 * instance from any earlier or later one (a replaced instance gets a new ARN, so a new key object),
 * and the bucket policy binds an instance to exactly this name with the policy variable
 * `${ec2:SourceInstanceARN}` (constant size, DESIGN §4). The instance derives it at boot from its
 * metadata (partition, region, account, id); Pulumi learns it from the instance's ARN.
 */
export function keyObjectKey(instanceArn: string): string {
    return `${KEY_PREFIX}${instanceArn}`;
}

export function bucketArn(partition: string, bucketName: string): string {
    return `arn:${partition}:s3:::${bucketName}`;
}

export function objectArn(partition: string, bucketName: string, key: string): string {
    return `${bucketArn(partition, bucketName)}/${key}`;
}
