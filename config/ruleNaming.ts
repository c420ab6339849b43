/**
 * How a NetworkRule becomes AWS rule resources: one per peer, each named by a slug. Shared by the
 * SecurityZones component (which names its rule resources with it) and config validation (which
 * refuses two rules that would get the same name), so the two cannot drift apart. Pure functions.
 */
import type { NetworkRule } from "./schema";

/** One AWS rule resource's worth of a NetworkRule: AWS rule resources take a single peer each. */
export interface RulePeer {
    readonly cidrIpv4?: string;
    readonly cidrIpv6?: string;
    readonly referencedSecurityGroupId?: string;
    readonly prefixListId?: string;
}

/** Expands a rule into one peer per CIDR, group or prefix list (the shape `aws.vpc.*Rule` takes). */
export function rulePeers(rule: NetworkRule): RulePeer[] {
    return [
        ...rule.cidrs.map((cidrIpv4) => ({ cidrIpv4 })),
        ...rule.ipv6Cidrs.map((cidrIpv6) => ({ cidrIpv6 })),
        ...(rule.securityGroupId === undefined ? [] : [{ referencedSecurityGroupId: rule.securityGroupId }]),
        ...(rule.prefixListId === undefined ? [] : [{ prefixListId: rule.prefixListId }]),
    ];
}

/** A stable, readable resource-name fragment for one rule and peer, e.g. "tcp-443-10.0.0.0-16". */
export function ruleSlug(rule: NetworkRule, peer: RulePeer): string {
    const ports = rule.protocol === "all" ? "" : rule.fromPort === rule.toPort ? `-${rule.fromPort}` : `-${rule.fromPort}-${rule.toPort}`;
    const target = peer.cidrIpv4 ?? peer.cidrIpv6 ?? peer.referencedSecurityGroupId ?? peer.prefixListId ?? "none";
    return `${rule.protocol}${ports}-${target.replace(/[/:]/g, "-")}`;
}
