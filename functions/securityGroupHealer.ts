/**
 * The security group healer: a Lambda function that EventBridge invokes for every CloudTrail
 * record of a call that added or changed security group rules (HEALER_EVENT_PATTERN). For each
 * group the call changed, it re-reads the whole group and revokes every rule that is not in the
 * group's declared baseline, on Airlock's groups only.
 *
 * A group is Airlock's when it is tagged `airlock:managed=true` OR its baseline parameter
 * `/airlock/security-groups/<id>` exists. The tag alone is not enough to trust: anyone with
 * ec2:DeleteTags could take it off (a call that triggers nothing) and put the group out of reach.
 * The parameter is written by the deployers only, so a group with a baseline but without the tag
 * is healed all the same: the function first tags it `airlock:managed=true` again (its role may
 * revoke on tagged groups only, and may add that one tag, nothing else), logs that at warn level
 * (`retagged`), and then heals it. A tagged group without a readable baseline is left as it is
 * (`no-baseline`, error); a group with neither is someone else's (`unmanaged`), never touched.
 *
 * The same function is also invoked on a schedule (HEALER_SWEEP_SCHEDULE, a "Scheduled Event"),
 * because events can be lost: it then lists the groups of its region tagged `airlock:managed=true`
 * and the groups named by the baselines under `/airlock/security-groups/` (a baseline whose group
 * is gone gives `group-gone`), and heals each one of the union exactly as for an event (the same
 * code, the same decisions), at most HEALER_SWEEP_MAX_GROUPS per run (see sweepWindow). Each log
 * line says which (`trigger`).
 *
 *  - Idempotent and stateless: each run compares the group as it is now with its baseline, so a
 *    repeated or late event revokes nothing more (a rule already gone is fine).
 *  - No loop: its own RevokeSecurityGroup* and CreateTags calls are not in the trigger's pattern.
 *  - Fail safe: a managed group without a readable, well-formed baseline is left as it is, with an
 *    error-level line, never emptied; a group deleted meanwhile is not an error. A well-formed
 *    EMPTY baseline does empty its group: it means "no rules", which is what SecurityZones
 *    publishes for a group that declares none (see parseBaseline).
 *  - A default-VPC call that names its group by name only (no id anywhere in its record) is
 *    resolved by that name (DescribeSecurityGroups GroupNames, the default VPC's groups).
 *  - A group that cannot be healed does not stop the others; the run fails at the end (so that
 *    Lambda retries an event, and a sweep's failure shows in the function's error metric).
 *  - One JSON line per decision on stdout (CloudWatch Logs), saying what, why, and who made the change.
 *
 * Clients are made on first use and kept for the container's life; their endpoint and region come
 * from the standard AWS environment (AWS_REGION, AWS_ENDPOINT_URL(_EC2/_SSM)), which is how the
 * tests point them at moto.
 */
import {
    CreateTagsCommand,
    DescribeSecurityGroupsCommand,
    EC2Client,
    RevokeSecurityGroupEgressCommand,
    RevokeSecurityGroupIngressCommand,
    paginateDescribeSecurityGroupRules,
    paginateDescribeSecurityGroups,
    type SecurityGroupRule,
} from "@aws-sdk/client-ec2";
import { GetParameterCommand, SSMClient, paginateGetParametersByPath } from "@aws-sdk/client-ssm";
import { MANAGED_TAG } from "../policies/keyNaming";
import {
    BASELINE_PARAMETER_PATH,
    BASELINE_PARAMETER_PREFIX,
    BaselineError,
    baselineParameterName,
    groupIdOfBaselineParameter,
    isScheduledEvent,
    isSecurityGroupId,
    parseBaseline,
    rulesToRevoke,
    summarizeEvent,
    sweepWindow,
    type Baseline,
} from "./securityGroupBaseline";

export type HealerAction =
    | "revoked"
    | "left-alone"
    | "group-gone"
    | "no-baseline"
    | "unmanaged"
    /** A group with a baseline but without its `airlock:managed=true` tag, tagged again before it is healed. */
    | "retagged"
    | "ignored-event"
    | "already-gone"
    | "failed"
    /** A sweep found more managed groups than it heals in one run. */
    | "sweep-limited"
    /** A sweep's summary, its last line. */
    | "swept";
export type LogLevel = "debug" | "info" | "warn" | "error";
/** What invoked the function: a CloudTrail event, or the periodic sweep's schedule. */
export type HealerTrigger = "event" | "sweep";

/**
 * The most groups one sweep heals. Each costs three or four API calls; at HEALER_SWEEP_CONCURRENCY
 * at a time, 200 take well under the function's timeout. Beyond it, hourly runs take turns.
 */
export const HEALER_SWEEP_MAX_GROUPS = 200;
/**
 * How many groups a sweep heals at once: a little parallelism for the timeout, little enough to
 * stay under EC2's Describe* and SSM's GetParameter request rates, which the account shares.
 */
export const HEALER_SWEEP_CONCURRENCY = 2;
/**
 * After tagging a group again, how long to wait before each new try of a revocation that EC2
 * refuses (UnauthorizedOperation): tags are eventually consistent, and the role's Revoke* is
 * conditioned on the tag. Beyond these, the group fails (the event is retried, the next sweep
 * finds it tagged).
 */
export const HEALER_RETAG_SETTLE_DELAYS_MS: readonly number[] = [500, 1000, 2000, 4000];

/** A rule as the log shows it. */
export interface LoggedRule {
    readonly direction: "ingress" | "egress";
    readonly protocol: string;
    readonly fromPort?: number;
    readonly toPort?: number;
    /** The CIDR, security group or prefix list on the other side. */
    readonly peer: string;
    /** The account of the security group on the other side, when EC2 says. */
    readonly peerAccount?: string;
    readonly description?: string;
}

/** One decision, as logged (one JSON line each). */
export interface Decision {
    readonly level: LogLevel;
    readonly action: HealerAction;
    readonly trigger: HealerTrigger;
    readonly groupId?: string;
    readonly ruleId?: string;
    readonly rule?: LoggedRule;
    readonly reason: string;
    /** CloudTrail's event id; for a sweep, the scheduled event's id. */
    readonly eventId?: string;
    readonly eventName?: string;
    readonly principal?: string;
}

export interface HealerResult {
    readonly decisions: readonly Decision[];
}

let clients: { readonly ec2: EC2Client; readonly ssm: SSMClient } | undefined;

function awsClients(): { readonly ec2: EC2Client; readonly ssm: SSMClient } {
    clients ??= { ec2: new EC2Client({}), ssm: new SSMClient({}) };
    return clients;
}

function errorName(error: unknown): string {
    const e = error as { name?: unknown; Code?: unknown; code?: unknown };
    return [e.Code, e.code, e.name].find((v): v is string => typeof v === "string") ?? "";
}

function loggedRule(rule: SecurityGroupRule): LoggedRule {
    const peer = rule.CidrIpv4 ?? rule.CidrIpv6 ?? rule.PrefixListId ?? rule.ReferencedGroupInfo?.GroupId ?? "(unknown)";
    const peerAccount = (rule.CidrIpv4 ?? rule.CidrIpv6 ?? rule.PrefixListId) === undefined ? rule.ReferencedGroupInfo?.UserId : undefined;
    const protocol = rule.IpProtocol ?? "(unknown)";
    const ports = protocol === "-1" ? {} : { fromPort: rule.FromPort, toPort: rule.ToPort };
    return {
        direction: rule.IsEgress === true ? "egress" : "ingress",
        protocol,
        ...ports,
        peer,
        ...(peerAccount === undefined ? {} : { peerAccount }),
        ...(rule.Description ? { description: rule.Description } : {}),
    };
}

type Decide = (decision: Omit<Decision, "trigger" | "eventId" | "eventName" | "principal">) => void;

/** A decide() that stamps each decision with its run's context, keeps it and logs it as one JSON line. */
function decider(decisions: Decision[], context: Pick<Decision, "trigger" | "eventId" | "eventName" | "principal">): Decide {
    return (decision) => {
        const line: Decision = { ...decision, ...context };
        decisions.push(line);
        console.log(JSON.stringify(line));
    };
}

/**
 * Heals each group, `concurrency` at a time; a group that fails is logged and does not stop the
 * others. Returns the failures, "<group id>: <error>" each.
 */
async function healEach(groupIds: readonly string[], concurrency: number, cause: string, retry: string, decide: Decide): Promise<string[]> {
    const failures: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
        while (next < groupIds.length) {
            const groupId = groupIds[next++] as string;
            try {
                await healGroup(groupId, cause, decide);
            } catch (error) {
                const message = failure(error);
                failures.push(`${groupId}: ${message}`);
                decide({ level: "error", action: "failed", groupId, reason: `could not heal the group (${message}); ${retry}` });
            }
        }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, groupIds.length)) }, worker));
    return failures;
}

/**
 * The function's entry point (`index.handler`). A scheduled event starts a sweep of every managed
 * group; any other event is read as a CloudTrail record, and heals the groups its call changed.
 * Throws (so that Lambda retries an event, and a sweep's failure counts in the error metric) only
 * when a group could not be handled, after handling the others.
 */
export async function handler(event: unknown): Promise<HealerResult> {
    return isScheduledEvent(event) ? sweep(event) : healEvent(event);
}

function failure(error: unknown): string {
    return `${errorName(error) || "Error"}: ${(error as Error).message}`;
}

/** Heals the groups an event's call changed. */
async function healEvent(event: unknown): Promise<HealerResult> {
    const decisions: Decision[] = [];
    const summary = summarizeEvent(event);
    const decide = decider(decisions, { trigger: "event", eventId: summary.eventId, eventName: summary.eventName, principal: summary.principal });

    if (summary.ignoredBecause !== undefined) {
        decide({ level: "info", action: "ignored-event", reason: summary.ignoredBecause });
        return { decisions };
    }
    const groupIds = new Set(summary.groupIds);
    const failures: string[] = [];
    for (const name of summary.groupNames ?? []) {
        // A default-VPC group named by its name only: GroupNames looks in the default VPC, as the call did.
        const gone = (): void => decide({ level: "info", action: "group-gone", reason: `no security group named ${JSON.stringify(name)} in the default VPC (deleted since?); nothing to revert` });
        try {
            const described = await awsClients().ec2.send(new DescribeSecurityGroupsCommand({ GroupNames: [name] }));
            const found = (described.SecurityGroups ?? []).map((group) => group.GroupId).filter(isSecurityGroupId);
            if (found.length === 0) gone();
            found.forEach((id) => groupIds.add(id));
        } catch (error) {
            if (errorName(error) === "InvalidGroup.NotFound") {
                gone();
                continue;
            }
            failures.push(`${JSON.stringify(name)}: ${failure(error)}`);
            decide({ level: "error", action: "failed", reason: `could not look up the group named ${JSON.stringify(name)} in the default VPC (${failure(error)}); the event will be retried` });
        }
    }
    const cause = `${summary.eventName ?? "a change"} by ${summary.principal ?? "an unknown principal"}`;
    failures.push(...(await healEach([...groupIds].sort(), 1, cause, "the event will be retried", decide)));
    if (failures.length > 0) {
        throw new Error(`Security group healer: ${failures.join("; ")}`);
    }
    return { decisions };
}

/**
 * The periodic sweep: lists the groups of this region tagged `airlock:managed=true` and the groups
 * named by the baselines under `/airlock/security-groups/`, and heals each one of the union (at
 * most `maxGroups` per run, see sweepWindow) exactly as for an event, then logs a summary
 * ("swept"). Exported so that tests can bound it lower; the handler uses HEALER_SWEEP_MAX_GROUPS.
 */
export async function sweep(event: unknown, maxGroups: number = HEALER_SWEEP_MAX_GROUPS): Promise<HealerResult> {
    const decisions: Decision[] = [];
    const read = (key: string): string | undefined => {
        const value = typeof event === "object" && event !== null ? (event as Record<string, unknown>)[key] : undefined;
        return typeof value === "string" && value !== "" ? value : undefined;
    };
    const decide = decider(decisions, { trigger: "sweep", eventId: read("id") });

    const tagged = new Set<string>();
    const withBaseline = new Set<string>();
    let listing = `the groups tagged ${MANAGED_TAG}=true`;
    try {
        const { ec2, ssm } = awsClients();
        const filter = { Name: `tag:${MANAGED_TAG}`, Values: ["true"] };
        for await (const page of paginateDescribeSecurityGroups({ client: ec2, pageSize: 1000 }, { Filters: [filter] })) {
            (page.SecurityGroups ?? []).map((group) => group.GroupId).filter(isSecurityGroupId).forEach((id) => tagged.add(id));
        }
        // The baselines name the groups whose tag was taken off; their values are read again per group.
        listing = `the baselines under ${BASELINE_PARAMETER_PREFIX}`;
        for await (const page of paginateGetParametersByPath({ client: ssm, pageSize: 10 }, { Path: BASELINE_PARAMETER_PATH, Recursive: false })) {
            for (const parameter of page.Parameters ?? []) {
                const id = groupIdOfBaselineParameter(parameter.Name);
                if (id !== undefined) withBaseline.add(id);
            }
        }
    } catch (error) {
        const message = failure(error);
        decide({ level: "error", action: "failed", reason: `could not list ${listing} (${message}); nothing healed, the next sweep will try again` });
        throw new Error(`Security group healer sweep: listing the managed groups: ${message}`);
    }

    const window = sweepWindow([...tagged, ...withBaseline], maxGroups, read("time"));
    const scope = `${window.total} groups (${tagged.size} tagged ${MANAGED_TAG}=true, ${withBaseline.size} with a baseline)`;
    if (window.total > window.groupIds.length) {
        decide({
            level: "warn",
            action: "sweep-limited",
            reason:
                `${scope}, more than the ${maxGroups} a sweep heals: this run heals ${window.groupIds.length} of them ` +
                `(by group id, from number ${window.first + 1}, wrapping round); the next runs take the following ones`,
        });
    }
    const failures = await healEach(window.groupIds, HEALER_SWEEP_CONCURRENCY, "found by the periodic sweep", "the next sweep will try again", decide);
    const count = (action: HealerAction): number => decisions.filter((d) => d.action === action).length;
    decide({
        level: failures.length > 0 ? "error" : "info",
        action: "swept",
        reason:
            `checked ${window.groupIds.length - failures.length} of ${scope}: ` +
            `${count("revoked")} rule(s) revoked, ${count("retagged")} group(s) tagged again, ${count("no-baseline")} group(s) without a readable baseline, ` +
            `${count("group-gone")} group(s) gone, ${failures.length} group(s) failed`,
    });
    if (failures.length > 0) {
        throw new Error(`Security group healer sweep: ${failures.length} group(s) failed: ${failures.join("; ")}`);
    }
    return { decisions };
}

/** What is wrong with a group's `airlock:managed` tag, given its value (undefined: no such tag). */
function tagProblem(value: string | undefined): string {
    return value === undefined ? `its ${MANAGED_TAG} tag is missing (removed?)` : `its ${MANAGED_TAG} tag is ${JSON.stringify(value)}, not "true" (changed?)`;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Heals one group; `cause` says, in each revocation's reason, what brought the healer there.
 * The group is Airlock's when it is tagged `airlock:managed=true` or has a baseline (see the module
 * comment); an untagged group with a readable baseline is tagged again before anything is revoked.
 */
async function healGroup(groupId: string, cause: string, decide: Decide): Promise<void> {
    const { ec2, ssm } = awsClients();
    const gone = (): void => decide({ level: "info", action: "group-gone", groupId, reason: "the group no longer exists; nothing to revert" });

    let tagValue: string | undefined;
    try {
        const described = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
        const group = described.SecurityGroups?.find((g) => g.GroupId === groupId);
        if (group === undefined) {
            return gone();
        }
        tagValue = (group.Tags ?? []).find((tag) => tag.Key === MANAGED_TAG)?.Value;
    } catch (error) {
        if (errorName(error) === "InvalidGroup.NotFound") {
            return gone();
        }
        throw error;
    }
    const tagged = tagValue === "true";

    // Read whatever the tag says: the baseline makes a group Airlock's too.
    const parameterName = baselineParameterName(groupId);
    let text: string | undefined;
    try {
        text = (await ssm.send(new GetParameterCommand({ Name: parameterName }))).Parameter?.Value;
    } catch (error) {
        if (errorName(error) !== "ParameterNotFound") {
            throw error;
        }
        if (!tagged) {
            return decide({ level: "info", action: "unmanaged", groupId, reason: `not tagged ${MANAGED_TAG}=true and no baseline (${parameterName}); left alone` });
        }
        return decide({ level: "error", action: "no-baseline", groupId, reason: `managed group without a baseline (${parameterName}); nothing reverted` });
    }
    let baseline: Baseline;
    try {
        baseline = parseBaseline(text ?? "");
        if (baseline.groupId !== groupId) {
            throw new BaselineError(`it is the baseline of ${baseline.groupId}`);
        }
    } catch (error) {
        if (!(error instanceof BaselineError)) throw error;
        const untagged = tagged ? "" : `; besides, ${tagProblem(tagValue)}`;
        return decide({ level: "error", action: "no-baseline", groupId, reason: `the baseline ${parameterName} is unreadable (${error.message}); nothing reverted${untagged}` });
    }

    if (!tagged) {
        // Its baseline makes it Airlock's. The role revokes on tagged groups only, and may add this one tag.
        try {
            await ec2.send(new CreateTagsCommand({ Resources: [groupId], Tags: [{ Key: MANAGED_TAG, Value: "true" }] }));
        } catch (error) {
            if (errorName(error) === "InvalidGroup.NotFound") {
                return gone();
            }
            throw error;
        }
        decide({
            level: "warn",
            action: "retagged",
            groupId,
            reason: `managed by its published baseline (${parameterName}); ${tagProblem(tagValue)}: tagged ${MANAGED_TAG}=true again before healing it (${cause})`,
        });
    }

    const rules: SecurityGroupRule[] = [];
    for await (const page of paginateDescribeSecurityGroupRules({ client: ec2 }, { Filters: [{ Name: "group-id", Values: [groupId] }] })) {
        rules.push(...(page.SecurityGroupRules ?? []).filter((rule) => rule.GroupId === groupId));
    }
    const revoke = new Set(rulesToRevoke(baseline, rules));
    for (const rule of rules) {
        if (!revoke.has(rule)) {
            decide({ level: "debug", action: "left-alone", groupId, ruleId: rule.SecurityGroupRuleId, rule: loggedRule(rule), reason: "in the declared baseline" });
        }
    }
    // Only right after tagging the group again: EC2 may not see the new tag yet when it authorizes.
    let settle = tagged ? [] : [...HEALER_RETAG_SETTLE_DELAYS_MS];
    for (const rule of revoke) {
        const ruleId = rule.SecurityGroupRuleId;
        if (ruleId === undefined) {
            // DescribeSecurityGroupRules always gives ids; without one there is nothing exact to revoke.
            decide({ level: "error", action: "failed", groupId, rule: loggedRule(rule), reason: "not in the declared baseline, but it has no rule id to revoke it by" });
            continue;
        }
        // By rule id, which names exactly this rule (moto 5.2.1 supports it for both directions).
        const input = { GroupId: groupId, SecurityGroupRuleIds: [ruleId] };
        try {
            for (;;) {
                try {
                    const answer = rule.IsEgress === true ? await ec2.send(new RevokeSecurityGroupEgressCommand(input)) : await ec2.send(new RevokeSecurityGroupIngressCommand(input));
                    if (answer.Return === false) {
                        throw new Error(`EC2 answered Return=false for ${ruleId}`);
                    }
                    break;
                } catch (error) {
                    const delay = errorName(error) === "UnauthorizedOperation" ? settle.shift() : undefined;
                    if (delay === undefined) throw error;
                    await sleep(delay);
                }
            }
            // Once a revocation passed, the tag is seen: no more waiting for it.
            settle = [];
        } catch (error) {
            const name = errorName(error);
            if (name === "InvalidPermission.NotFound" || name === "InvalidSecurityGroupRuleId.NotFound") {
                decide({ level: "info", action: "already-gone", groupId, ruleId, rule: loggedRule(rule), reason: "not in the declared baseline, and already revoked" });
                continue;
            }
            if (name === "InvalidGroup.NotFound") {
                return gone();
            }
            throw error;
        }
        decide({
            level: "warn",
            action: "revoked",
            groupId,
            ruleId,
            rule: loggedRule(rule),
            reason: `not in the declared baseline (${cause})`,
        });
    }
}
