/**
 * From a target's CredentialSpec (audit/targets.ts) to an AWS credential provider, and Organization
 * targets expanded into one target per account (issue 10, "Inputs").
 *
 * - static: the key values parseTargetsFile read from the environment (staticCredentialValues).
 * - profile: the shared config/credentials files' named profile (fromIni).
 * - default (only as a role's `via`): the SDK's default chain (fromNodeProviderChain).
 * - assumeRole: STS AssumeRole with the caller's credentials, the external id and session name.
 * - organization: expanded by `expandOrganization` (Organizations DescribeOrganization, then
 *   ListAccounts, every page): one target per ACTIVE account, named `<target>/<accountId>`, assuming
 *   `roleName` in it. The management account: when the caller's own credentials belong to it (the
 *   usual case: a management-account profile), it is audited with those credentials, since AWS
 *   creates `OrganizationAccountAccessRole` only in member accounts; otherwise through `roleName`
 *   like any member. It is never skipped: when it cannot be reached it appears, unaudited, with why.
 * Every provider is memoized (one AssumeRole per target, refreshed five minutes before expiry).
 */
import { DescribeOrganizationCommand, ListAccountsCommand, ListAccountsCommandOutput, OrganizationsClient } from "@aws-sdk/client-organizations";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { fromIni, fromNodeProviderChain, fromTemporaryCredentials } from "@aws-sdk/credential-providers";
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import { AssumeRoleCredentials, CallerCredentials, CredentialSpec, OrganizationCredentials, Target, staticCredentialValues } from "./targets";

/** How the audit's own STS and Organizations clients are built. */
export interface CredentialSettings {
    /** The region for STS and Organizations calls. */
    readonly region: string;
    /** An endpoint for every AWS call (tests); undefined: the SDK's own (AWS_ENDPOINT_URL honoured). */
    readonly endpoint?: string;
    readonly maxAttempts: number;
}

const REFRESH_BEFORE_MS = 5 * 60 * 1000;

/** One call at a time, reused until five minutes before the credentials expire. */
export function memoize(provider: AwsCredentialIdentityProvider): AwsCredentialIdentityProvider {
    let held: Promise<AwsCredentialIdentity> | undefined;
    return async () => {
        if (held !== undefined) {
            try {
                const c = await held;
                if (c.expiration === undefined || c.expiration.getTime() - Date.now() > REFRESH_BEFORE_MS) {
                    return c;
                }
            } catch {
                // a failed attempt is not kept: the next call tries again
            }
        }
        held = provider();
        return held;
    };
}

function clientConfig(settings: CredentialSettings): { region: string; endpoint?: string; maxAttempts: number; retryMode: "adaptive" } {
    return { region: settings.region, ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }), maxAttempts: settings.maxAttempts, retryMode: "adaptive" };
}

/** The provider for a spec; an organization spec gives its caller's (`via`) provider. */
export function credentialProvider(spec: CredentialSpec | CallerCredentials, settings: CredentialSettings): AwsCredentialIdentityProvider {
    switch (spec.kind) {
        case "static": {
            const values = staticCredentialValues(spec);
            return async () => ({ ...values });
        }
        case "profile":
            return memoize(fromIni({ profile: spec.profile }));
        case "default":
            return memoize(fromNodeProviderChain());
        case "assumeRole":
            return memoize(
                fromTemporaryCredentials({
                    params: { RoleArn: spec.roleArn, RoleSessionName: spec.sessionName, ...(spec.externalId === undefined ? {} : { ExternalId: spec.externalId }) },
                    masterCredentials: credentialProvider(spec.via, settings),
                    clientConfig: clientConfig(settings),
                }),
            );
        case "organization":
            return credentialProvider(spec.via, settings);
    }
}

/** A target the runner can audit: its (possibly expanded) Target and the credentials to use. */
export interface ResolvedTarget {
    readonly target: Target;
    readonly credentials: AwsCredentialIdentityProvider;
    /** The account an Organization listed for this target (the runner checks the caller against it). */
    readonly expectedAccountId?: string;
}

/** A target that could not even be expanded (Organizations denied, throttled...): audited as nothing. */
export interface UnresolvedTarget {
    readonly target: Target;
    readonly reason: string;
}

/** Why a call failed, in one line, from an SDK error (no credential values: SDK errors carry none). */
export function reasonOf(error: unknown): string {
    if (error instanceof Error) {
        const code = (error as { Code?: string }).Code ?? error.name;
        const message = error.message.replace(/\s+/g, " ").trim();
        return code !== "" && code !== "Error" && !message.startsWith(code) ? `${code}: ${message}` : message;
    }
    return String(error);
}

export interface OrganizationAccount {
    readonly id: string;
    readonly arn?: string;
    readonly name?: string;
    readonly status?: string;
}

/** Every account of the organization, every page of ListAccounts (NextToken), in the order listed. */
export async function listOrganizationAccounts(client: OrganizationsClient): Promise<OrganizationAccount[]> {
    const accounts: OrganizationAccount[] = [];
    const seen = new Set<string>();
    let token: string | undefined;
    for (;;) {
        const page: ListAccountsCommandOutput = await client.send(new ListAccountsCommand({ ...(token === undefined ? {} : { NextToken: token }) }));
        for (const a of page.Accounts ?? []) {
            if (a.Id !== undefined) {
                accounts.push({ id: a.Id, arn: a.Arn, name: a.Name, status: (a.State as string | undefined) ?? (a.Status as string | undefined) });
            }
        }
        token = page.NextToken;
        if (token === undefined || token === "") {
            return accounts;
        }
        if (seen.has(token)) {
            throw new Error(`Organizations ListAccounts returned the page token ${JSON.stringify(token.slice(0, 32))} twice; stopping a listing that would never end`);
        }
        seen.add(token);
    }
}

function partitionOfArn(arn: string | undefined): string {
    return /^arn:([^:]+):/.exec(arn ?? "")?.[1] ?? "aws";
}

/**
 * The targets of an organization target: one per ACTIVE account (see the file's comment for the
 * management account). Throws when the organization cannot be described or listed.
 */
export async function expandOrganization(target: Target & { readonly credentials: OrganizationCredentials }, settings: CredentialSettings): Promise<ResolvedTarget[]> {
    const spec = target.credentials;
    const caller = credentialProvider(spec.via, settings);
    // Organizations is a global service served from us-east-1 (aws) or the partition's home region.
    const org = new OrganizationsClient({ ...clientConfig(settings), credentials: caller });
    const sts = new STSClient({ ...clientConfig(settings), credentials: caller });
    try {
        const described = await org.send(new DescribeOrganizationCommand({}));
        const managementId = described.Organization?.MasterAccountId;
        const accounts = await listOrganizationAccounts(org);
        const callerAccount = (await sts.send(new GetCallerIdentityCommand({}))).Account;
        return accounts
            .filter((a) => a.status === undefined || a.status === "ACTIVE")
            .map((a): ResolvedTarget => {
                const name = `${target.name}/${a.id}`;
                if (a.id === managementId && a.id === callerAccount) {
                    return { target: { ...target, name }, credentials: caller, expectedAccountId: a.id };
                }
                const role: AssumeRoleCredentials = Object.freeze({
                    kind: "assumeRole" as const,
                    roleArn: `arn:${partitionOfArn(a.arn)}:iam::${a.id}:role/${spec.roleName}`,
                    ...(spec.externalId === undefined ? {} : { externalId: spec.externalId }),
                    sessionName: spec.sessionName,
                    via: spec.via, // the same object: static key values are keyed by it
                });
                return { target: { ...target, name, credentials: role }, credentials: credentialProvider(role, settings), expectedAccountId: a.id };
            });
    } finally {
        org.destroy();
        sts.destroy();
    }
}

/** Every target resolved: organization targets expanded in place, the others as they are. */
export async function resolveTargets(targets: readonly Target[], settings: CredentialSettings): Promise<Array<ResolvedTarget | UnresolvedTarget>> {
    const out: Array<ResolvedTarget | UnresolvedTarget> = [];
    for (const target of targets) {
        const spec = target.credentials;
        if (spec.kind === "organization") {
            try {
                const accounts = await expandOrganization(target as Target & { credentials: OrganizationCredentials }, settings);
                // An organization with no ACTIVE account must not vanish from the report (exit 0 on nothing).
                out.push(...(accounts.length > 0 ? accounts : [{ target, reason: "the organization lists no ACTIVE account: nothing was audited" }]));
            } catch (error) {
                out.push({ target, reason: `could not list the organization's accounts: ${reasonOf(error)}` });
            }
        } else {
            out.push({ target, credentials: credentialProvider(spec, settings) });
        }
    }
    return out;
}
