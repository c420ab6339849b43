import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { GuardrailsConfig } from "../config/guardrails";
import { GROUP_POLICY_NAMES } from "../policies/groupPolicies";
import { GUARDRAILS_OWNER_TAG, MANAGED_TAG } from "../policies/keyNaming";
import { AuditTrail } from "./auditTrail";
import { ConfigRules } from "./configRules";
import { GroupPolicies } from "./groupPolicies";
import { SecurityGroupHealer } from "./securityGroupHealer";

/**
 * The guardrails' claim on a region: an SSM parameter naming the stack that declares the region's
 * singletons (Config rules, recorder, the healer). A second stack finds it and is refused at preview;
 * should two `up`s race, SSM refuses the second parameter.
 */
export const CLAIM_PARAMETER = "/airlock/guardrails/owner";
/** Tag on the account-wide IAM policies naming the stack that owns them (IAM is global: one claim per account). */
export const OWNER_TAG = GUARDRAILS_OWNER_TAG;

/** What the claim lookups found: the region's claim parameter value, the account's Force_MFA policy's tags. */
export interface FoundClaims {
    /** undefined: no claim parameter in this region. */
    readonly regionClaim?: string;
    /** undefined: no Force_MFA policy in the account. */
    readonly forceMfaTags?: Readonly<Record<string, string>>;
}

/** Where Force_MFA is when the guardrails made it (they give it no path). */
export function forceMfaPolicyArn(partition: string, accountId: string): string {
    return `arn:${partition}:iam::${accountId}:policy/${GROUP_POLICY_NAMES.forceMfa}`;
}

/** The stack's claim parameter value. */
export function claimValue(stack: string, globalRegion: string): string {
    return JSON.stringify({ stack, globalRegion });
}

/**
 * Why this stack may not declare the guardrails: another stack already declares this region's or the
 * account's singletons. Each message names the other stack and the fix. Pure.
 */
export function claimConflicts(stack: string, region: string, config: Pick<GuardrailsConfig, "declaresGlobal" | "groupPolicies">, found: FoundClaims): string[] {
    const problems: string[] = [];
    if (found.regionClaim !== undefined) {
        let owner: string | undefined;
        try {
            owner = (JSON.parse(found.regionClaim) as { stack?: unknown }).stack as string | undefined;
        } catch {
            owner = undefined;
        }
        if (owner !== stack) {
            problems.push(
                `The account guardrails of ${region} are already declared by the stack ${owner === undefined ? "(unreadable claim)" : JSON.stringify(owner)} (SSM parameter ${CLAIM_PARAMETER}). An account has one recorder and one set of Config rules per region: set airlock:accountGuardrails to false in this stack, or destroy the guardrails of that stack first.`,
            );
        }
    }
    if (config.declaresGlobal && config.groupPolicies !== undefined && found.forceMfaTags !== undefined) {
        const owner = found.forceMfaTags[OWNER_TAG];
        if (owner === undefined) {
            problems.push(
                `The IAM policy ${GROUP_POLICY_NAMES.forceMfa} already exists and no Airlock guardrails stack owns it (no ${OWNER_TAG} tag). Import it into this stack (pulumi import aws:iam/policy:Policy ...), delete it, or set groupPolicies: false in airlock:guardrails.`,
            );
        } else if (owner !== stack) {
            problems.push(
                `The account's group policies are already declared by the stack ${JSON.stringify(owner)} (its ${GROUP_POLICY_NAMES.forceMfa} policy says so): IAM is account-wide. Point airlock:guardrails.globalRegion of this stack at that stack's region, or set groupPolicies: false.`,
            );
        }
    }
    return problems;
}

/**
 * An invoke that fails because nothing matched, as opposed to any other failure (access denied,
 * throttling, a network error), which must stop the program rather than pass for "no claim".
 * pulumi-aws 7.x words it "no matching IAM Policy found" (getPolicy by name) and
 * "reading SSM Parameter (<name>): couldn't find resource" (retry.NotFoundError, no AWS code).
 */
export function isNotFound(err: unknown): boolean {
    const message = err instanceof Error ? err.message : String(err);
    if (/AccessDenied|UnauthorizedOperation|Throttl|not authorized/i.test(message)) {
        return false;
    }
    return /no matching IAM Policy found|: couldn't find resource|ParameterNotFound|NoSuchEntity/i.test(message);
}

/**
 * Looks the claims up through the aws provider (runs at preview too). Other failures propagate.
 * Force_MFA is looked up by ARN (`forceMfaPolicyArn`): by name, the provider lists every policy of
 * the account and retries for about two minutes before it says none matched.
 */
export async function findClaims(config: Pick<GuardrailsConfig, "declaresGlobal" | "groupPolicies">, forceMfaArn: string): Promise<FoundClaims> {
    const orUndefined = async <T>(lookup: () => Promise<T>): Promise<T | undefined> => {
        try {
            return await lookup();
        } catch (err) {
            if (isNotFound(err)) {
                return undefined;
            }
            throw err;
        }
    };
    const regionClaim = await orUndefined(async () => (await aws.ssm.getParameter({ name: CLAIM_PARAMETER })).value);
    const forceMfaTags =
        config.declaresGlobal && config.groupPolicies !== undefined ? await orUndefined(async () => (await aws.iam.getPolicy({ arn: forceMfaArn })).tags) : undefined;
    return { regionClaim, forceMfaTags };
}

/** The stack output `guardrails`: what other stacks and the audit read. */
export interface GuardrailsOutputs {
    readonly globalRegion: string;
    readonly detectOnly: boolean;
    readonly groupPolicyArns?: { readonly forceMfa: string; readonly sourceIp: string; readonly configWrite: string };
    readonly groupNames?: readonly string[];
    readonly trailArn?: string;
    readonly trailBucketName?: string;
    readonly configRuleNames: readonly string[];
    readonly remediationRoleArn?: string;
    readonly configDeliveryBucketName?: string;
    readonly healerFunctionName?: string;
}

export interface AccountGuardrailsArgs {
    readonly region: string;
    readonly accountId: string;
    /** This stack's fully qualified name (organization/project/stack). */
    readonly stack: string;
    readonly config: GuardrailsConfig;
    readonly tags?: Readonly<Record<string, string>>;
}

/**
 * The account guardrails of one region, from `airlock:guardrails`: in the global region the IAM
 * group policies, the multi-region audit trail and the global Config rules; in every region the
 * regional rules, their remediation, the recorder when asked, and the security-group healer; and the
 * claim that keeps a second stack from declaring the same singletons.
 */
export class AccountGuardrails extends pulumi.ComponentResource {
    declare public readonly outputs: pulumi.Output<GuardrailsOutputs>;

    constructor(name: string, args: AccountGuardrailsArgs, opts: pulumi.ComponentResourceOptions = {}) {
        super("airlock:guardrails:AccountGuardrails", name, {}, opts);
        const child = { parent: this };
        const { config } = args;
        const tags = { ...args.tags, [MANAGED_TAG]: "true" };

        new aws.ssm.Parameter(
            `${name}-claim`,
            { name: CLAIM_PARAMETER, type: "String", insecureValue: claimValue(args.stack, config.globalRegion), description: "Airlock: the stack that declares this region's account guardrails", tags },
            child,
        );
        const groups =
            config.groupPolicies === undefined
                ? undefined
                : new GroupPolicies(
                      name,
                      {
                          sourceCidrs: config.groupPolicies.sourceCidrs,
                          devOpsUsers: config.groupPolicies.devOpsUsers,
                          securityAuditUsers: config.groupPolicies.securityAuditUsers,
                          ignoredUsers: config.groupPolicies.ignoredUsers,
                          allowPasswordChangeWithoutMfa: config.groupPolicies.allowPasswordChangeWithoutMfa,
                          tags: { ...args.tags, [OWNER_TAG]: args.stack },
                      },
                      child,
                  );
        const trail =
            config.trail === undefined
                ? undefined
                : new AuditTrail(name, { region: args.region, accountId: args.accountId, cloudWatchLogsRetentionDays: config.trail.cloudWatchLogsRetentionDays, tags: args.tags }, child);
        const rules = new ConfigRules(
            name,
            {
                region: args.region,
                accountId: args.accountId,
                rules: config.rules,
                recorder: config.configRecorder,
                recordGlobalResources: config.declaresGlobal,
                trailKmsKeyArn: trail?.kmsKeyArn,
                tags: args.tags,
            },
            child,
        );
        const healer = config.selfHealing ? new SecurityGroupHealer(name, { region: args.region, accountId: args.accountId, trail, tags: args.tags }, child) : undefined;

        this.outputs = pulumi.output({
            globalRegion: config.globalRegion,
            detectOnly: config.detectOnly,
            groupPolicyArns: groups?.policyArns,
            groupNames: groups?.groupNames,
            trailArn: trail?.trailArn,
            trailBucketName: trail?.bucketName,
            configRuleNames: rules.ruleNames,
            remediationRoleArn: rules.remediationRoleArn,
            configDeliveryBucketName: rules.deliveryBucketName,
            healerFunctionName: healer?.functionName,
        }) as pulumi.Output<GuardrailsOutputs>;
        this.registerOutputs({ outputs: this.outputs });
    }
}
