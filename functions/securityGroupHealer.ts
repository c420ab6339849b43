/**
 * The security group healer: a Lambda function that EventBridge invokes for every CloudTrail
 * record of a call that added or changed security group rules (HEALER_EVENT_PATTERN). For each
 * group the call changed, it re-reads the whole group and revokes every rule that is not in the
 * group's declared baseline, on groups tagged `airlock:managed=true` only.
 *
 * The same function is also invoked on a schedule (HEALER_SWEEP_SCHEDULE, a "Scheduled Event"),
 * because events can be lost: it then lists every group of its region tagged `airlock:managed=true`
 * and heals each one exactly as for an event (the same code, the same decisions), at most
 * HEALER_SWEEP_MAX_GROUPS per run (see sweepWindow). Each log line says which (`trigger`).
 *
 *  - Idempotent and stateless: each run compares the group as it is now with its baseline, so a
 *    repeated or late event revokes nothing more (a rule already gone is fine).
 *  - No loop: its own RevokeSecurityGroup* calls are not in the trigger's pattern.
 *  - Fail safe: a managed group without a readable baseline is left as it is, with an error-level
 *    line, never emptied; a group deleted meanwhile is not an error.
 *  - A group that cannot be healed does not stop the others; the run fails at the end (so that
 *    EventBridge retries an event, and a sweep's failure shows in the function's error metric).
 *  - One JSON line per decision on stdout (CloudWatch Logs), saying what, why, and who made the change.
 *
 * Clients are made on first use and kept for the container's life; their endpoint and region come
 * from the standard AWS environment (AWS_REGION, AWS_ENDPOINT_URL(_EC2/_SSM)), which is how the
 * tests point them at moto.
 */
import {
    DescribeSecurityGroupsCommand,
    EC2Client,
    RevokeSecurityGroupEgressCommand,
    RevokeSecurityGroupIngressCommand,
    paginateDescribeSecurityGroupRules,
    paginateDescribeSecurityGroups,
    type SecurityGroupRule,
} from "@aws-sdk/client-ec2";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { MANAGED_TAG } from "../policies/keyNaming";
import {
    BaselineError,
    baselineParameterName,
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
                const message = `${errorName(error) || "Error"}: ${(error as Error).message}`;
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
 * Throws (so EventBridge retries an event, and a sweep's failure counts in the error metric) only
 * when a group could not be handled, after handling the others.
 */
export async function handler(event: unknown): Promise<HealerResult> {
    return isScheduledEvent(event) ? sweep(event) : healEvent(event);
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
    const cause = `${summary.eventName ?? "a change"} by ${summary.principal ?? "an unknown principal"}`;
    const failures = await healEach(summary.groupIds, 1, cause, "the event will be retried", decide);
    if (failures.length > 0) {
        throw new Error(`Security group healer: ${failures.join("; ")}`);
    }
    return { decisions };
}

/**
 * The periodic sweep: lists the groups of this region tagged `airlock:managed=true` and heals
 * each one (at most `maxGroups` per run, see sweepWindow) exactly as for an event, then logs a
 * summary ("swept"). Exported so that tests can bound it lower; the handler uses
 * HEALER_SWEEP_MAX_GROUPS.
 */
export async function sweep(event: unknown, maxGroups: number = HEALER_SWEEP_MAX_GROUPS): Promise<HealerResult> {
    const decisions: Decision[] = [];
    const read = (key: string): string | undefined => {
        const value = typeof event === "object" && event !== null ? (event as Record<string, unknown>)[key] : undefined;
        return typeof value === "string" && value !== "" ? value : undefined;
    };
    const decide = decider(decisions, { trigger: "sweep", eventId: read("id") });

    const found: string[] = [];
    try {
        const { ec2 } = awsClients();
        const filter = { Name: `tag:${MANAGED_TAG}`, Values: ["true"] };
        for await (const page of paginateDescribeSecurityGroups({ client: ec2, pageSize: 1000 }, { Filters: [filter] })) {
            found.push(...(page.SecurityGroups ?? []).map((group) => group.GroupId).filter(isSecurityGroupId));
        }
    } catch (error) {
        const message = `${errorName(error) || "Error"}: ${(error as Error).message}`;
        decide({ level: "error", action: "failed", reason: `could not list the groups tagged ${MANAGED_TAG}=true (${message}); nothing healed, the next sweep will try again` });
        throw new Error(`Security group healer sweep: listing the managed groups: ${message}`);
    }

    const window = sweepWindow(found, maxGroups, read("time"));
    if (window.total > window.groupIds.length) {
        decide({
            level: "warn",
            action: "sweep-limited",
            reason:
                `${window.total} groups tagged ${MANAGED_TAG}=true, more than the ${maxGroups} a sweep heals: this run heals ${window.groupIds.length} of them ` +
                `(by group id, from number ${window.first + 1}, wrapping round); the next runs take the following ones`,
        });
    }
    const failures = await healEach(window.groupIds, HEALER_SWEEP_CONCURRENCY, "found by the periodic sweep", "the next sweep will try again", decide);
    const count = (action: HealerAction): number => decisions.filter((d) => d.action === action).length;
    decide({
        level: failures.length > 0 ? "error" : "info",
        action: "swept",
        reason:
            `checked ${window.groupIds.length - failures.length} of ${window.total} groups tagged ${MANAGED_TAG}=true: ` +
            `${count("revoked")} rule(s) revoked, ${count("no-baseline")} group(s) without a readable baseline, ${failures.length} group(s) failed`,
    });
    if (failures.length > 0) {
        throw new Error(`Security group healer sweep: ${failures.length} group(s) failed: ${failures.join("; ")}`);
    }
    return { decisions };
}

/** Heals one group; `cause` says, in each revocation's reason, what brought the healer there. */
async function healGroup(groupId: string, cause: string, decide: Decide): Promise<void> {
    const { ec2, ssm } = awsClients();
    const gone = (): void => decide({ level: "info", action: "group-gone", groupId, reason: "the group no longer exists; nothing to revert" });

    let tags;
    try {
        const described = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
        const group = described.SecurityGroups?.find((g) => g.GroupId === groupId);
        if (group === undefined) {
            return gone();
        }
        tags = group.Tags ?? [];
    } catch (error) {
        if (errorName(error) === "InvalidGroup.NotFound") {
            return gone();
        }
        throw error;
    }
    if (!tags.some((tag) => tag.Key === MANAGED_TAG && tag.Value === "true")) {
        return decide({ level: "info", action: "unmanaged", groupId, reason: `not tagged ${MANAGED_TAG}=true; left alone` });
    }

    const parameterName = baselineParameterName(groupId);
    let text: string | undefined;
    try {
        text = (await ssm.send(new GetParameterCommand({ Name: parameterName }))).Parameter?.Value;
    } catch (error) {
        if (errorName(error) === "ParameterNotFound") {
            return decide({ level: "error", action: "no-baseline", groupId, reason: `managed group without a baseline (${parameterName}); nothing reverted` });
        }
        throw error;
    }
    let baseline: Baseline;
    try {
        baseline = parseBaseline(text ?? "");
        if (baseline.groupId !== groupId) {
            throw new BaselineError(`it is the baseline of ${baseline.groupId}`);
        }
    } catch (error) {
        if (!(error instanceof BaselineError)) throw error;
        return decide({ level: "error", action: "no-baseline", groupId, reason: `the baseline ${parameterName} is unreadable (${error.message}); nothing reverted` });
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
            const answer = rule.IsEgress === true ? await ec2.send(new RevokeSecurityGroupEgressCommand(input)) : await ec2.send(new RevokeSecurityGroupIngressCommand(input));
            if (answer.Return === false) {
                throw new Error(`EC2 answered Return=false for ${ruleId}`);
            }
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
