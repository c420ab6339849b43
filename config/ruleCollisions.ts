import { RulePeer, rulePeers, ruleSlug } from "./ruleNaming";
import type { NetworkRule } from "./schema";

/**
 * Where one peer of a rule was written: the rule's position in its list, and the peer's field and
 * position within the rule (index 0 for the single-valued securityGroupId/prefixListId).
 */
export interface PeerLocation {
    readonly rule: number;
    readonly field: "cidrs" | "ipv6Cidrs" | "securityGroupId" | "prefixListId";
    readonly index: number;
}

/** Two peers that SecurityZones would declare under one resource name. */
export interface RuleCollision {
    readonly rule: NetworkRule;
    readonly peer: RulePeer;
    readonly first: PeerLocation;
    readonly repeated: PeerLocation;
}

/** The field a peer of `rulePeers(rule)` came from, by its position in that list. */
function locate(rule: NetworkRule, ruleIndex: number, peerIndex: number, peer: RulePeer): PeerLocation {
    const ipv4 = rule.cidrs.length;
    const ipv6 = rule.ipv6Cidrs.length;
    const location: PeerLocation =
        peerIndex < ipv4
            ? { rule: ruleIndex, field: "cidrs", index: peerIndex }
            : peerIndex < ipv4 + ipv6
              ? { rule: ruleIndex, field: "ipv6Cidrs", index: peerIndex - ipv4 }
              : { rule: ruleIndex, field: peer.referencedSecurityGroupId !== undefined ? "securityGroupId" : "prefixListId", index: 0 };
    const written = location.field === "cidrs" || location.field === "ipv6Cidrs" ? rule[location.field][location.index] : rule[location.field];
    const peerValue = peer.cidrIpv4 ?? peer.cidrIpv6 ?? peer.referencedSecurityGroupId ?? peer.prefixListId;
    if (written !== peerValue) {
        throw new Error(`ruleCollisions: rulePeers no longer lists peers as cidrs, ipv6Cidrs, securityGroupId, prefixListId (${written} vs ${peerValue}).`);
    }
    return location;
}

/**
 * Peers of one group and direction that SecurityZones would name alike (its rule resources are named
 * `<group prefix>-<ruleSlug(rule, peer)>`), so that AWS and Pulumi would see one rule declared twice.
 * This is the components' own naming, so validation and components cannot disagree on a duplicate.
 * Each later occurrence is reported against the first.
 */
export function findRuleCollisions(rules: readonly NetworkRule[]): RuleCollision[] {
    const firstBySlug = new Map<string, PeerLocation>();
    const collisions: RuleCollision[] = [];
    rules.forEach((rule, ruleIndex) => {
        rulePeers(rule).forEach((peer, peerIndex) => {
            const slug = ruleSlug(rule, peer);
            const location = locate(rule, ruleIndex, peerIndex, peer);
            const first = firstBySlug.get(slug);
            if (first === undefined) {
                firstBySlug.set(slug, location);
            } else {
                collisions.push({ rule, peer, first, repeated: location });
            }
        });
    });
    return collisions;
}

/**
 * The rule SecurityZones makes of the scanner's CIDRs (every protocol, from each CIDR), one rule per
 * CIDR so that a collision's rule index is the CIDR's index in `scannerSourceCidrs`. Resource names
 * do not depend on how CIDRs are grouped into rules.
 */
export function scannerIngressRules(scannerSourceCidrs: readonly string[]): NetworkRule[] {
    return scannerSourceCidrs.map((cidr) => ({
        description: "Vulnerability scanner",
        protocol: "all",
        fromPort: -1,
        toPort: -1,
        cidrs: cidr.includes(":") ? [] : [cidr],
        ipv6Cidrs: cidr.includes(":") ? [cidr] : [],
    }));
}

/** Every collision SecurityZones would meet with these arguments, by the argument it comes from. */
export function securityZonesCollisions(args: {
    readonly scannerSourceCidrs?: readonly string[];
    readonly remediationEgress?: readonly NetworkRule[];
    readonly productionIngress?: readonly NetworkRule[];
    readonly productionEgress?: readonly NetworkRule[];
}): Array<{ readonly arg: "scannerSourceCidrs" | "remediationEgress" | "productionIngress" | "productionEgress"; readonly collision: RuleCollision }> {
    const groups = [
        ["scannerSourceCidrs", scannerIngressRules(args.scannerSourceCidrs ?? [])],
        ["remediationEgress", args.remediationEgress ?? []],
        ["productionIngress", args.productionIngress ?? []],
        ["productionEgress", args.productionEgress ?? []],
    ] as const;
    return groups.flatMap(([arg, rules]) => findRuleCollisions(rules).map((collision) => ({ arg, collision })));
}

/** "port 443/tcp", "ports 9100-9101/tcp", "ICMP" or "all traffic". */
export function describeTraffic(rule: NetworkRule): string {
    switch (rule.protocol) {
        case "all":
            return "all traffic";
        case "icmp":
            return "ICMP";
        default:
            return rule.fromPort === rule.toPort ? `port ${rule.fromPort}/${rule.protocol}` : `ports ${rule.fromPort}-${rule.toPort}/${rule.protocol}`;
    }
}

/** "10.0.0.0/24", "security group sg-..." or "prefix list pl-...". */
export function describePeer(peer: RulePeer): string {
    if (peer.referencedSecurityGroupId !== undefined) {
        return `security group ${peer.referencedSecurityGroupId}`;
    }
    if (peer.prefixListId !== undefined) {
        return `prefix list ${peer.prefixListId}`;
    }
    return peer.cidrIpv4 ?? peer.cidrIpv6 ?? "no peer";
}
