import { closest } from "./suggest";
import { AIRLOCK_TAG_NAMES } from "./tags";

/**
 * The aws provider's own settings (`aws:*` in the stack config). The resources are created by the aws
 * provider with them, but the scan-and-promote provider runs in a process of its own, with the AWS
 * SDK's defaults and the environment's credentials (providers/awsPort.ts): it never sees them. A
 * setting that changes which credentials, endpoints or network path the aws provider uses would
 * leave the promotion acting somewhere else, as someone else, or not at all, once the instances are
 * running. Such settings are refused before anything is declared, with the environment variable
 * that both providers read instead.
 */

/** Settings that change neither credentials nor endpoints nor the network path: accepted as they are. */
export const ALLOWED_AWS_SETTINGS: readonly string[] = [
    "region",
    "defaultTags",
    "ignoreTags",
    "allowedAccountIds",
    "forbiddenAccountIds",
    "maxRetries",
    "retryMode",
    "tokenBucketRateLimiterCapacity",
    "skipCredentialsValidation",
    "skipMetadataApiCheck",
    "skipRegionValidation",
    "skipRequestingAccountId",
    "s3UsePathStyle",
    "s3UsEast1RegionalEndpoint",
    "stsRegion",
    "tagPolicyCompliance",
    "userAgents",
];

const USE_ENVIRONMENT = "`AWS_PROFILE=<profile> npm run pulumi -- up`";
const PROMOTION_ROLE = "to give the promotion a role of its own, set `airlock:promotionRoleArn`";

interface RefusedSetting {
    /** What the setting does to the aws provider. */
    readonly effect: string;
    /** What the scan-and-promote provider would do instead. */
    readonly instead: string;
    /** The way that works for both providers. */
    readonly fix: string;
}

const credentials = (fix: string): RefusedSetting => ({
    effect: "sets the credentials the aws provider creates the resources with",
    instead: "it would act on the running instances with the environment's credentials instead (another account's, or none)",
    fix: `${fix}; ${PROMOTION_ROLE}.`,
});

const endpoints = (fix: string): RefusedSetting => ({
    effect: "changes the endpoints the aws provider calls",
    instead: "it would call AWS's standard endpoints instead",
    fix,
});

const network = (fix: string): RefusedSetting => ({
    effect: "changes how the aws provider reaches AWS",
    instead: "its calls would go out without it and could fail once the instances are running, leaving them in quarantine",
    fix,
});

const STATIC_KEYS = `Remove it and give the credentials to \`pulumi\` through its environment: SSO or a profile (${USE_ENVIRONMENT}), or \`AWS_ACCESS_KEY_ID\`, \`AWS_SECRET_ACCESS_KEY\` and \`AWS_SESSION_TOKEN\``;
const ROLE = `Remove it and assume the role for both providers through the environment: a profile with \`role_arn\` and \`source_profile\` (${USE_ENVIRONMENT}), or \`AWS_ROLE_ARN\` with \`AWS_WEB_IDENTITY_TOKEN_FILE\``;

/** Refused settings (the aws provider's names), with the way that works. */
export const REFUSED_AWS_SETTINGS: Readonly<Record<string, RefusedSetting>> = {
    profile: credentials(`Remove it and run with the profile in the environment: ${USE_ENVIRONMENT} (both providers then use it)`),
    accessKey: credentials(STATIC_KEYS),
    secretKey: credentials(STATIC_KEYS),
    token: credentials(STATIC_KEYS),
    sharedCredentialsFiles: credentials(`Remove it and name the file in the environment, \`AWS_SHARED_CREDENTIALS_FILE=<file>\`, with the profile: ${USE_ENVIRONMENT}`),
    sharedConfigFiles: credentials(`Remove it and name the file in the environment, \`AWS_CONFIG_FILE=<file>\`, with the profile: ${USE_ENVIRONMENT}`),
    assumeRole: credentials(ROLE),
    assumeRoles: credentials(ROLE),
    assumeRoleWithWebIdentity: credentials(ROLE),
    ec2MetadataServiceEndpoint: credentials(
        `Remove it and set \`AWS_EC2_METADATA_SERVICE_ENDPOINT\` in the environment, or use SSO or a profile: ${USE_ENVIRONMENT}`,
    ),
    ec2MetadataServiceEndpointMode: credentials(
        `Remove it and set \`AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE\` in the environment, or use SSO or a profile: ${USE_ENVIRONMENT}`,
    ),
    endpoints: endpoints("Remove it and set `AWS_ENDPOINT_URL` or `AWS_ENDPOINT_URL_<SERVICE>` in the environment of `pulumi`: both providers read them."),
    useFipsEndpoint: endpoints("Remove it and set `AWS_USE_FIPS_ENDPOINT=true` in the environment of `pulumi`: both providers read it."),
    useDualstackEndpoint: endpoints("Remove it and set `AWS_USE_DUALSTACK_ENDPOINT=true` in the environment of `pulumi`: both providers read it."),
    customCaBundle: network(
        "Remove it and set `AWS_CA_BUNDLE=<file>` (read by the aws provider) and `NODE_EXTRA_CA_CERTS=<file>` (read by the scan-and-promote provider, a Node.js process) in the environment of `pulumi`.",
    ),
    httpProxy: network("Airlock cannot send the promotion's calls through a proxy: remove it and deploy from where AWS's endpoints are reachable directly (or through VPC endpoints)."),
    httpsProxy: network("Airlock cannot send the promotion's calls through a proxy: remove it and deploy from where AWS's endpoints are reachable directly (or through VPC endpoints)."),
    noProxy: network("Airlock cannot send the promotion's calls through a proxy: remove it and deploy from where AWS's endpoints are reachable directly (or through VPC endpoints)."),
    insecure: network("The scan-and-promote provider always verifies TLS certificates. Remove it (for a private CA, see `aws:customCaBundle`)."),
};

/** Settings whose value is a credential: kept in plaintext in the stack file, it must be rotated. */
const CREDENTIAL_VALUES = ["secretKey", "token"];

/**
 * Problems with the `aws:*` keys of a stack: refused settings, settings Airlock does not know, and an
 * `aws:ignoreTags` that would hide Airlock's own tags from the aws provider. Names keys and paths,
 * never a value. `aws:region` and `aws:defaultTags` are checked with the rest of the config.
 */
export function awsProviderProblems(raw: Readonly<Record<string, string>>, isSecret: (key: string) => boolean): string[] {
    const problems: string[] = [];
    for (const fullKey of Object.keys(raw)) {
        if (!fullKey.startsWith("aws:")) {
            continue;
        }
        const name = fullKey.slice("aws:".length);
        const refused = REFUSED_AWS_SETTINGS[name];
        if (refused !== undefined) {
            const plaintext = CREDENTIAL_VALUES.includes(name) && !isSecret(fullKey) ? " It is stored in plaintext in the stack file: rotate it." : "";
            problems.push(
                `\`${fullKey}\` ${refused.effect}, but the scan-and-promote provider runs in its own process and does not see the aws provider's settings: ` +
                    `${refused.instead}. ${refused.fix}${plaintext}`,
            );
        } else if (name === "ignoreTags") {
            problems.push(...ignoreTagsProblems(fullKey, raw[fullKey] ?? ""));
        } else if (!ALLOWED_AWS_SETTINGS.includes(name)) {
            const known = [...ALLOWED_AWS_SETTINGS, ...Object.keys(REFUSED_AWS_SETTINGS)];
            const match = closest(name, known);
            problems.push(
                `\`${fullKey}\` is not an aws provider setting Airlock allows: the scan-and-promote provider runs in its own process and does not see the aws provider's settings, ` +
                    `so only those that change neither credentials nor endpoints are accepted (${ALLOWED_AWS_SETTINGS.map((k) => `aws:${k}`).join(", ")}).` +
                    `${match === undefined ? "" : ` Did you mean \`aws:${match}\`?`} Remove it.`,
            );
        }
    }
    return problems;
}

/**
 * `aws:ignoreTags` makes the aws provider leave the tags it names alone: it must not name Airlock's
 * own, on which the vault's bucket policy matches key objects to instances. Malformed values are the
 * aws provider's to report.
 */
function ignoreTagsProblems(key: string, text: string): string[] {
    let value: unknown;
    try {
        value = JSON.parse(text);
    } catch {
        return [];
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
        return [];
    }
    const problems: string[] = [];
    const entries = value as Record<string, unknown>;
    for (const field of ["keys", "keyPrefixes"] as const) {
        const list = entries[field];
        if (!Array.isArray(list)) {
            continue;
        }
        list.forEach((item: unknown, i) => {
            if (typeof item !== "string") {
                return;
            }
            const covers = AIRLOCK_TAG_NAMES.some((tag) => (field === "keys" ? tag === item : tag.startsWith(item)));
            if (covers) {
                problems.push(
                    `\`${key}.${field}[${i}]\` covers tags Airlock sets (the vault's bucket policy matches key objects to instances by them): the aws provider would leave them off. Remove it.`,
                );
            }
        });
    }
    return problems;
}
