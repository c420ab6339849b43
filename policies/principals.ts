import { ROLE_PATH } from "./keyNaming";

/**
 * Who a vault policy names, as `aws:PrincipalArn` patterns (ArnLike). For a role, AWS puts the
 * role's ARN in `aws:PrincipalArn` (with its path), never the session's; for a user, the user's ARN.
 * Role names are unique in an account whatever their path, so a role is matched by name under any
 * path: `role/NAME` and `role/<any path>/NAME` (an SSO role lives under `aws-reserved/sso.amazonaws.com/`).
 */

const STS_ASSUMED_ROLE = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([\w+=,.@-]{1,64})\/[\w+=,.@-]{2,64}$/;
const IAM_ROLE = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:[\x21-\x7e]*\/)?([\w+=,.@-]{1,64})$/;
const IAM_USER = /^arn:(aws[a-z-]*):iam::(\d{12}):user\/(?:[\x21-\x7e]*\/)?[\w+=,.@-]{1,64}$/;
const IAM_ROOT = /^arn:(aws[a-z-]*):iam::(\d{12}):root$/;
const STS_FEDERATED_USER = /^arn:(aws[a-z-]*):sts::(\d{12}):federated-user\/[\w+=,.@-]{2,32}$/;

/** A principal resolved for a policy: its account, and the `aws:PrincipalArn` patterns that match it. */
export interface ResolvedPrincipal {
    readonly accountId: string;
    readonly partition: string;
    readonly patterns: readonly string[];
    /** What a person would call it: the role or user ARN (never a session). */
    readonly display: string;
}

function rolePatterns(partition: string, accountId: string, name: string): string[] {
    return [`arn:${partition}:iam::${accountId}:role/${name}`, `arn:${partition}:iam::${accountId}:role/*/${name}`];
}

/**
 * Resolves an IAM role, user or root ARN, or an STS assumed-role or federated-user session ARN (what
 * `sts get-caller-identity` answers), to `aws:PrincipalArn` patterns. An assumed-role session
 * (SSO, a CI role, an EC2 instance profile) resolves to its role. Returns undefined for anything
 * else (wildcards included: the patterns are built here, never taken from config).
 */
export function resolvePrincipal(arn: string): ResolvedPrincipal | undefined {
    let m = STS_ASSUMED_ROLE.exec(arn) ?? IAM_ROLE.exec(arn);
    if (m !== null) {
        const [, partition = "", accountId = "", name = ""] = m;
        const patterns = rolePatterns(partition, accountId, name);
        return { partition, accountId, patterns, display: arn.includes(":sts::") ? patterns[0] ?? arn : arn };
    }
    m = IAM_USER.exec(arn) ?? IAM_ROOT.exec(arn) ?? STS_FEDERATED_USER.exec(arn);
    if (m !== null) {
        const [, partition = "", accountId = ""] = m;
        return { partition, accountId, patterns: [arn], display: arn };
    }
    return undefined;
}

/** The ARN patterns of several resolved principals, each once, in order. */
export function patternsOf(principals: readonly ResolvedPrincipal[]): string[] {
    return [...new Set(principals.flatMap((p) => p.patterns))];
}

/**
 * Whether the identity `arn` (as `sts get-caller-identity` answers it) is one of `principals`: a
 * session through its role (by name, as the patterns match roles), a user or root by its ARN.
 */
export function isAmong(arn: string, principals: readonly ResolvedPrincipal[]): boolean {
    const resolved = resolvePrincipal(arn);
    if (resolved === undefined) {
        return false;
    }
    const wanted = new Set(patternsOf(principals));
    return resolved.patterns.every((p) => wanted.has(p));
}

/** Airlock's instance roles live here; no deployer or break-glass role may. */
const INSTANCE_ROLE_PATH = ROLE_PATH;

/** Root and federated-user sessions are not named in vault policies: the first is not a deployer, the second is named by whoever mints it. */
function isNameable(arn: string): boolean {
    return !/:root$/.test(arn) && !/:federated-user\//.test(arn);
}

export interface VaultPrincipalsInput {
    /** The identity `pulumi` runs as (`sts get-caller-identity`). */
    readonly callerArn: string;
    /** `airlock:deployers`; undefined: the caller alone. */
    readonly deployers?: readonly string[];
    /** The role the promotion assumes: it deletes key objects, so it deploys too. */
    readonly promotionRoleArn?: string;
    readonly breakGlassRoleArn?: string;
}

export interface VaultPrincipals {
    readonly deployers: readonly ResolvedPrincipal[];
    readonly breakGlass: readonly ResolvedPrincipal[];
    /** Whether the caller is one of the deployers (when not, the vault would lock it out). */
    readonly callerIsDeployer: boolean;
    /** What makes these principals unusable, each naming the config key and the fix. */
    readonly problems: readonly string[];
}

/** Who deploys the vault and who may break the glass, resolved and checked against the caller's account. */
export function vaultPrincipals(input: VaultPrincipalsInput): VaultPrincipals {
    const problems: string[] = [];
    const caller = resolvePrincipal(input.callerArn);
    if (caller === undefined || !isNameable(input.callerArn)) {
        return {
            deployers: [],
            breakGlass: [],
            callerIsDeployer: false,
            problems: [
                `pulumi runs as ${input.callerArn}, which the key vault cannot name safely: run it as an IAM role session (SSO, an assumed role, an instance profile) or an IAM user, not as the root user or a federated-user session (whose name anyone with sts:GetFederationToken chooses).`,
            ],
        };
    }
    const resolve = (key: string, arn: string, rolesOnly = false): ResolvedPrincipal | undefined => {
        const p = resolvePrincipal(arn);
        if (p === undefined || !isNameable(arn) || (rolesOnly && !/:role\/|:assumed-role\//.test(arn))) {
            problems.push(`\`airlock:${key}\` names ${arn}, which is not an IAM ${rolesOnly ? "role" : "role or user"} ARN.`);
            return undefined;
        }
        if (arn.includes(`:role${INSTANCE_ROLE_PATH}`)) {
            problems.push(`\`airlock:${key}\` names ${arn}, a role under ${INSTANCE_ROLE_PATH}, the path of Airlock's instance roles (which the vault's KMS key lets decrypt keys). Use a role outside ${INSTANCE_ROLE_PATH}.`);
            return undefined;
        }
        if (p.accountId !== caller.accountId || p.partition !== caller.partition) {
            problems.push(`\`airlock:${key}\` names ${arn}, of account ${p.accountId}; the key vault is in account ${caller.accountId}, and only its own principals can deploy or read it. Use a role of account ${caller.accountId}.`);
            return undefined;
        }
        return p;
    };
    const configured = input.deployers === undefined ? [caller] : input.deployers.map((arn) => resolve("deployers", arn));
    const promotion = input.promotionRoleArn === undefined ? [] : [resolve("promotionRoleArn", input.promotionRoleArn)];
    const deployers = [...configured, ...promotion].filter((p): p is ResolvedPrincipal => p !== undefined);
    const breakGlass = input.breakGlassRoleArn === undefined ? [] : [resolve("breakGlassRoleArn", input.breakGlassRoleArn, true)].filter((p): p is ResolvedPrincipal => p !== undefined);
    const deployerPatterns = new Set(patternsOf(deployers));
    if (breakGlass.some((b) => b.patterns.some((p) => deployerPatterns.has(p)))) {
        problems.push("`airlock:breakGlassRoleArn` is also a deployer: a role that can both read every key and change the vault's policy undoes the separation. Use a role kept for forensics only.");
    }
    return { deployers, breakGlass, callerIsDeployer: isAmong(input.callerArn, deployers), problems };
}
