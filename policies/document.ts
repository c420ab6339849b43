import type * as aws from "@pulumi/aws";

export type Effect = "Allow" | "Deny";
export type Conditions = Readonly<Record<string, Readonly<Record<string, string | readonly string[]>>>>;

/** An identity-policy statement: always scoped to resources, never names a principal. */
export interface IdentityStatement {
    readonly Sid: string;
    readonly Effect: Effect;
    readonly Action: string | readonly string[];
    readonly Resource: string | readonly string[];
    readonly Condition?: Conditions;
}

/** A resource-policy statement (bucket, key, trust): always names its principal. */
export interface ResourceStatement {
    readonly Sid: string;
    readonly Effect: Effect;
    readonly Principal: "*" | { readonly AWS: string | readonly string[] } | { readonly Service: string | readonly string[] };
    readonly Action: string | readonly string[];
    readonly NotAction?: undefined;
    readonly Resource?: string | readonly string[];
    readonly NotResource?: undefined;
    readonly Condition?: Conditions;
}

/** A resource-policy statement about everything except some resources (a deny outside "its own"). */
export interface ResourceNotResourceStatement extends Omit<ResourceStatement, "Resource" | "NotResource"> {
    readonly NotResource: string | readonly string[];
    readonly Resource?: undefined;
}

/** A resource-policy statement that denies everything except some actions. */
export interface ResourceNotActionStatement extends Omit<ResourceStatement, "Action" | "NotAction"> {
    readonly NotAction: string | readonly string[];
    readonly Action?: undefined;
}

/** An identity-policy statement about everything except some actions (a deny with exceptions). */
export interface IdentityNotActionStatement extends Omit<IdentityStatement, "Action"> {
    readonly NotAction: string | readonly string[];
    readonly Action?: undefined;
}

export interface IdentityPolicyDocument {
    readonly Version: "2012-10-17";
    readonly Statement: readonly IdentityStatement[];
}

/** An identity policy that may also deny everything except some actions (the guardrails' policies). */
export interface GuardrailPolicyDocument {
    readonly Version: "2012-10-17";
    readonly Statement: ReadonlyArray<IdentityStatement | IdentityNotActionStatement>;
}

export interface ResourcePolicyDocument {
    readonly Version: "2012-10-17";
    readonly Statement: ReadonlyArray<ResourceStatement | ResourceNotActionStatement | ResourceNotResourceStatement>;
}

// Compile-time proof that our plain, readonly documents are what @pulumi/aws accepts.
type Mutable<T> = T extends string ? T : T extends ReadonlyArray<infer U> ? Mutable<U>[] : { -readonly [K in keyof T]: Mutable<T[K]> };
const _identityIsAwsDocument = (d: Mutable<IdentityPolicyDocument>): aws.iam.PolicyDocument => d;
const _guardrailIsAwsDocument = (d: Mutable<GuardrailPolicyDocument>): aws.iam.PolicyDocument => d;
void _guardrailIsAwsDocument;
const _resourceIsAwsDocument = (d: Mutable<ResourcePolicyDocument>): aws.iam.PolicyDocument => d;
void _identityIsAwsDocument;
void _resourceIsAwsDocument;

/** A bucket policy's first line of defence: nothing in `bucket` (an S3 bucket ARN) over plain HTTP, for anyone. */
export function denyPlainHttp(bucket: string): ResourceStatement {
    return {
        Sid: "DenyPlainHttp",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucket, `${bucket}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
    };
}

/** The JSON text AWS stores; stable key order so diffs only show real changes. */
export function toJson(document: IdentityPolicyDocument | GuardrailPolicyDocument | ResourcePolicyDocument): string {
    return JSON.stringify(document);
}

/** Where AWS lives: the partition and its DNS suffix (aws/amazonaws.com, aws-cn/amazonaws.com.cn, ...). */
export interface Partition {
    readonly partition: string;
    readonly dnsSuffix: string;
}
