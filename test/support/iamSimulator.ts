/**
 * A small typed wrapper around @cloud-copilot/iam-simulate (AGPL, devDependency only; used by tests, never
 * shipped in the Pulumi program).
 *
 * Library API used: `runSimulation(simulation, {})` (async). It validates policies, the action, the resource type
 * and the principal, and returns `{ resultType: "error" | "single" | "wildcard", ... }`.
 *
 * Rules of this wrapper (so that a test can never pass because the simulator rejected or dropped its input):
 * - `resultType: "error"` (malformed policy, unknown action, wrong resource type, ...) -> throws with the library's
 *   message and details.
 * - `runSimulation` silently DROPS context keys that are not valid for the action/resource type (it reports them in
 *   `ignoredContextKeys`). The wrapper throws instead.
 * - An array value for a single-valued key (the library would silently keep only the first element) and a
 *   non-"true"/"false" value for a Bool key -> throws.
 * - Wildcard resource ARNs (which make the library run several simulations and OR them together) -> throws. Use
 *   concrete ARNs; `"*"` is fine for wildcard-only actions.
 * - Principal must be "anonymous", an IAM/STS ARN with a 12-digit account, or a service principal.
 *
 * Library gap worked around: the library's key catalogue lists templated keys such as
 * `kms:EncryptionContext:${EncryptionContextKey}`, but `runSimulation` only recognises templated keys whose variable
 * part follows a "/" (e.g. `s3:ExistingObjectTag/<key>`). So a real key like `kms:EncryptionContext:aws:s3:arn` is
 * silently dropped. When the ONLY dropped keys are ones that match a templated entry of the library's own catalogue
 * for this action/resource, the wrapper (after `runSimulation` has fully validated the request) re-evaluates with
 * `runUnsafeSimulation` — same core engine, no key filtering — and passes the full context. As a guard it first
 * checks that `runUnsafeSimulation` without those keys reproduces `runSimulation`'s decision, and throws otherwise.
 */
import {
  allowedContextKeysForRequest,
  anonymousPrincipal,
  isConditionKeyArray,
  isWildcardOnlyAction,
  runSimulation,
  runUnsafeSimulation,
  typeForContextKey,
  type ConditionKeyType,
  type RunSimulationResults,
  type Simulation,
  type SimulationOrgPolicies,
  type SimulationRequestPrincipal,
} from "@cloud-copilot/iam-simulate";

export type Decision = "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied";

/** Pass as `principal` to simulate an unsigned (anonymous) request. */
export const ANONYMOUS = "anonymous";

export interface SimulationRequest {
  /** Identity policy documents attached to the principal (objects, not JSON strings). Must be [] for anonymous. */
  identityPolicies: object[];
  /** Resource-based policy of the target, e.g. an S3 bucket policy or a KMS key policy. */
  resourcePolicy?: object;
  /**
   * SCPs, evaluated as one level of the org hierarchy. As in AWS, something must Allow at that level: include a
   * FullAWSAccess-style Allow statement or everything is ImplicitlyDenied. Must be omitted/[] for anonymous.
   */
  serviceControlPolicies?: object[];
  /** RCPs, one level. The library always adds RCPFullAWSAccess implicitly. */
  resourceControlPolicies?: object[];
  /** ARN of the caller (e.g. an assumed-role session ARN), a service principal, or ANONYMOUS. */
  principal: string;
  /** e.g. "s3:GetObject" */
  action: string;
  /** Concrete resource ARN (no wildcards), or "*" for wildcard-only actions. */
  resource: string;
  /**
   * Account that owns the resource. Defaults to the account field of `resource`; REQUIRED when the ARN has none
   * (S3 bucket/object ARNs). Same-account vs cross-account evaluation depends on it.
   */
  resourceAccount?: string;
  /** Request context keys, e.g. { "aws:SecureTransport": "true" }. Keys are case-insensitive. */
  context?: Record<string, string | string[]>;
}

/** Thrown whenever the simulator rejects, drops or cannot faithfully evaluate the input. */
export class IamSimulationError extends Error {
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(details === undefined ? message : `${message}\n${JSON.stringify(details, null, 2)}`);
    this.name = "IamSimulationError";
  }
}

const RCP_FULL_AWS_ACCESS = {
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: "*", Action: "*", Resource: "*" }],
};
const PRINCIPAL_ARN = /^arn:aws[a-z-]*:(iam|sts)::\d{12}:.+$/;
const SERVICE_PRINCIPAL = /^[a-z0-9-]+(\.[a-z0-9-]+)*\.amazonaws\.com(\.cn)?$/;

export async function simulate(req: SimulationRequest): Promise<Decision> {
  const principal = toLibraryPrincipal(req.principal);
  const resourceAccount = req.resourceAccount ?? accountOf(req.resource);
  if (resourceAccount === undefined) {
    throw new IamSimulationError(
      `Resource ${req.resource} has no account in its ARN: pass resourceAccount explicitly (same- vs cross-account evaluation depends on it).`,
    );
  }
  if (!/^\d{12}$/.test(resourceAccount)) {
    throw new IamSimulationError(`resourceAccount must be a 12-digit account id, got "${resourceAccount}".`);
  }
  if (req.resourcePolicy !== undefined) {
    checkResourcePolicyPrincipals(req.resourcePolicy);
  }
  const context = req.context ?? {};
  const contextTypes = await checkContextValues(context);

  const orgLevel = (prefix: string, policies: object[] | undefined): SimulationOrgPolicies[] =>
    policies === undefined || policies.length === 0
      ? []
      : [{ orgIdentifier: `${prefix}-simulated`, policies: policies.map((policy, i) => ({ name: `${prefix}-${i}`, policy })) }];

  const simulation: Simulation = {
    request: {
      principal,
      action: req.action,
      resource: { resource: req.resource, accountId: resourceAccount },
      contextVariables: context,
    },
    identityPolicies: req.identityPolicies.map((policy, i) => ({ name: `identity-${i}`, policy })),
    serviceControlPolicies: orgLevel("scp", req.serviceControlPolicies),
    resourceControlPolicies: orgLevel("rcp", req.resourceControlPolicies),
    ...(req.resourcePolicy === undefined ? {} : { resourcePolicy: req.resourcePolicy }),
  };

  const response: RunSimulationResults = await runSimulation(simulation, {});
  if (response.resultType === "error") {
    throw new IamSimulationError(`iam-simulate rejected the request: ${response.errors.message}`, response.errors);
  }
  if (response.resultType === "wildcard") {
    throw new IamSimulationError(
      `Resource "${req.resource}" contains a wildcard, so iam-simulate ran ${response.results.length} pattern simulations and OR-ed them; use a concrete ARN.`,
    );
  }

  const validated: Decision = response.overallResult;
  const ignored = response.result.ignoredContextKeys ?? [];
  if (ignored.length === 0) {
    return validated;
  }

  // Some keys were dropped. Only proceed if every one of them is a templated key of the library's own catalogue.
  const [service = "", actionName = ""] = req.action.split(":");
  const catalogue = await allowedContextKeysForRequest(service, actionName, req.resource, false, undefined);
  const templatePrefixes = catalogue.flatMap((key) => {
    const at = key.search(/\$\{|</);
    return at > 0 ? [key.slice(0, at)] : [];
  });
  const notValid = ignored.filter((key) => {
    const lower = key.toLowerCase();
    return !templatePrefixes.some((prefix) => lower.startsWith(prefix) && lower.length > prefix.length);
  });
  if (notValid.length > 0) {
    throw new IamSimulationError(
      `iam-simulate does not accept context key(s) ${notValid.join(", ")} for ${req.action} on ${req.resource} ` +
        `(they would be silently dropped). Remove them or use keys valid for this action/resource type.`,
    );
  }
  if (await isWildcardOnlyAction(service, actionName)) {
    throw new IamSimulationError(`Cannot re-evaluate wildcard-only action ${req.action} with keys ${ignored.join(", ")}.`);
  }

  // runUnsafeSimulation loads the resource policy without a name and then crashes reading it; handing it the
  // already-validated policy in iam-policy's plain-object `ValidatedPolicy` form (which carries the name) avoids that.
  // Safe only because runSimulation has just validated this exact document.
  const resourcePolicy =
    req.resourcePolicy === undefined
      ? {}
      : {
          resourcePolicy: {
            __validated: true,
            policyDocument: req.resourcePolicy,
            metadata: { name: "resource-policy" },
            errors: [],
          },
        };
  // runSimulation adds RCPFullAWSAccess to every RCP level; runUnsafeSimulation does not.
  const resourceControlPolicies = simulation.resourceControlPolicies.map((level) => ({
    ...level,
    policies: [{ name: "RCPFullAWSAccess", policy: RCP_FULL_AWS_ACCESS }, ...level.policies],
  }));
  const unsafe = (ctx: Record<string, string | string[]>): Decision =>
    runUnsafeSimulation(
      {
        ...simulation,
        ...resourcePolicy,
        resourceControlPolicies,
        request: { ...simulation.request, contextVariables: ctx },
      },
      {},
    );
  const fullContext = normaliseForUnsafeEngine(context, contextTypes);
  const withoutIgnored = Object.fromEntries(Object.entries(fullContext).filter(([key]) => !ignored.includes(key)));
  const control = unsafe(withoutIgnored);
  if (control !== validated) {
    throw new IamSimulationError(
      `Cannot evaluate ${ignored.join(", ")}: runUnsafeSimulation (${control}) disagrees with runSimulation (${validated}) on the same input.`,
    );
  }
  return unsafe(fullContext);
}

function toLibraryPrincipal(principal: string): SimulationRequestPrincipal {
  if (principal === ANONYMOUS) {
    return anonymousPrincipal;
  }
  if (PRINCIPAL_ARN.test(principal) || SERVICE_PRINCIPAL.test(principal)) {
    return principal;
  }
  throw new IamSimulationError(
    `Principal "${principal}" is not "${ANONYMOUS}", an IAM/STS ARN with a 12-digit account, or a service principal ` +
      `(iam-simulate would accept it and silently treat it as a cross-account caller).`,
  );
}

/** iam-simulate's validator accepts resource-policy statements without Principal; AWS rejects such policies. */
function checkResourcePolicyPrincipals(resourcePolicy: object): void {
  const statements: unknown = (resourcePolicy as { Statement?: unknown }).Statement;
  const list: unknown[] = Array.isArray(statements) ? statements : [statements];
  list.forEach((statement, i) => {
    if (typeof statement === "object" && statement !== null && !("Principal" in statement) && !("NotPrincipal" in statement)) {
      throw new IamSimulationError(`Resource policy Statement[${i}] has no Principal/NotPrincipal (AWS would reject the policy).`);
    }
  });
}

function accountOf(arn: string): string | undefined {
  const parts = arn.split(":");
  return parts.length >= 6 && parts[0] === "arn" && parts[4] ? parts[4] : undefined;
}

/** Rejects values the library would silently coerce. Returns the known key types (unknown keys are left to the library). */
async function checkContextValues(
  context: Record<string, string | string[]>,
): Promise<Map<string, ConditionKeyType>> {
  const types = new Map<string, ConditionKeyType>();
  for (const [key, value] of Object.entries(context)) {
    let type: ConditionKeyType;
    try {
      type = await typeForContextKey(key.toLowerCase());
    } catch {
      continue; // unknown key: runSimulation will report it as ignored, and we throw there
    }
    types.set(key, type);
    const values = [value].flat();
    if (!isConditionKeyArray(type) && Array.isArray(value)) {
      throw new IamSimulationError(`Context key ${key} is single-valued (${type}) but got an array.`);
    }
    if ((type === "Bool" || type === "ArrayOfBool") && values.some((v) => !/^(true|false)$/i.test(v))) {
      throw new IamSimulationError(`Context key ${key} is Bool but got ${JSON.stringify(value)}.`);
    }
  }
  return types;
}

/** What runSimulation does to values before evaluation (array-typed keys always become arrays). */
function normaliseForUnsafeEngine(
  context: Record<string, string | string[]>,
  types: Map<string, ConditionKeyType>,
): Record<string, string | string[]> {
  return Object.fromEntries(
    Object.entries(context).map(([key, value]) => {
      const type = types.get(key);
      return [key, type !== undefined && isConditionKeyArray(type) ? [value].flat() : value];
    }),
  );
}
