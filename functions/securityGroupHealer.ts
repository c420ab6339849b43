/**
 * The security group healer: a Lambda function that EventBridge invokes for every CloudTrail
 * record of a call that added or changed security group rules (HEALER_EVENT_PATTERN). For each
 * group the call changed, it re-reads the whole group and revokes every rule that is not in the
 * group's declared baseline, on groups tagged `airlock:managed=true` only.
 *
 *  - Idempotent and stateless: each run compares the group as it is now with its baseline, so a
 *    repeated or late event revokes nothing more (a rule already gone is fine).
 *  - No loop: its own RevokeSecurityGroup* calls are not in the trigger's pattern.
 *  - Fail safe: a managed group without a readable baseline is left as it is, with an error-level
 *    line, never emptied; a group deleted meanwhile is not an error.
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
    type SecurityGroupRule,
} from "@aws-sdk/client-ec2";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { MANAGED_TAG } from "../policies/keyNaming";
import { BaselineError, baselineParameterName, parseBaseline, rulesToRevoke, summarizeEvent, type Baseline, type HealerEventSummary } from "./securityGroupBaseline";

export type HealerAction = "revoked" | "left-alone" | "group-gone" | "no-baseline" | "unmanaged" | "ignored-event" | "already-gone" | "failed";
export type LogLevel = "debug" | "info" | "warn" | "error";

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
    readonly groupId?: string;
    readonly ruleId?: string;
    readonly rule?: LoggedRule;
    readonly reason: string;
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

/** Heals the groups an event's call changed; throws (so EventBridge retries) only when a group could not be handled. */
export async function handler(event: unknown): Promise<HealerResult> {
    const decisions: Decision[] = [];
    const summary = summarizeEvent(event);
    const context = { eventId: summary.eventId, eventName: summary.eventName, principal: summary.principal };
    const decide = (decision: Omit<Decision, "eventId" | "eventName" | "principal">): void => {
        const line: Decision = { ...decision, ...context };
        decisions.push(line);
        console.log(JSON.stringify(line));
    };

    if (summary.ignoredBecause !== undefined) {
        decide({ level: "info", action: "ignored-event", reason: summary.ignoredBecause });
        return { decisions };
    }
    const failures: string[] = [];
    for (const groupId of summary.groupIds) {
        try {
            await healGroup(groupId, summary, decide);
        } catch (error) {
            const message = `${errorName(error) || "Error"}: ${(error as Error).message}`;
            failures.push(`${groupId}: ${message}`);
            decide({ level: "error", action: "failed", groupId, reason: `could not heal the group (${message}); the event will be retried` });
        }
    }
    if (failures.length > 0) {
        throw new Error(`Security group healer: ${failures.join("; ")}`);
    }
    return { decisions };
}

async function healGroup(groupId: string, summary: HealerEventSummary, decide: (d: Omit<Decision, "eventId" | "eventName" | "principal">) => void): Promise<void> {
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
            reason: `not in the declared baseline (${summary.eventName ?? "a change"} by ${summary.principal ?? "an unknown principal"})`,
        });
    }
}
