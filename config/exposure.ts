import { addressCounts, addressSpace, AddressSet, Family, formatAddressCount, nonPublicPart, publicPart } from "./addressSpace";
import type { NetworkRule } from "./schema";

/**
 * Exposure is judged by the addresses that all rules for a port admit together, counted in public
 * address space (config/addressSpace.ts), not by looking for the string "0.0.0.0/0".
 */

export type PortProtocol = "tcp" | "udp";

/** A port or range of ports that must not face more than a small public range. */
export interface SensitivePort {
    readonly from: number;
    readonly to: number;
    readonly protocols: readonly PortProtocol[];
    /** Shown in messages: "22/tcp (SSH)". */
    readonly service?: string;
}

const tcp = (from: number, to: number, service: string): SensitivePort => ({ from, to, protocols: ["tcp"], service });
const both = (from: number, to: number, service: string): SensitivePort => ({ from, to, protocols: ["tcp", "udp"], service });

/**
 * Remote administration, file sharing, database, cache, search, container and cluster APIs: services
 * that are not meant to face the internet and are attacked as soon as they do. Always guarded;
 * `airlock:sensitivePorts` adds to them.
 */
export const BUILTIN_SENSITIVE_PORTS: readonly SensitivePort[] = [
    tcp(22, 22, "SSH"),
    tcp(23, 23, "Telnet"),
    both(111, 111, "rpcbind"),
    tcp(135, 135, "MS RPC"),
    { from: 137, to: 138, protocols: ["udp"], service: "NetBIOS" },
    tcp(139, 139, "NetBIOS"),
    { from: 161, to: 161, protocols: ["udp"], service: "SNMP" },
    tcp(445, 445, "SMB"),
    tcp(1433, 1433, "SQL Server"),
    tcp(1521, 1521, "Oracle"),
    both(2049, 2049, "NFS"),
    tcp(2375, 2376, "Docker API"),
    tcp(2379, 2380, "etcd"),
    tcp(3306, 3306, "MySQL"),
    both(3389, 3389, "RDP"),
    tcp(5432, 5432, "PostgreSQL"),
    tcp(5601, 5601, "Kibana"),
    tcp(5900, 5900, "VNC"),
    tcp(5984, 5984, "CouchDB"),
    tcp(5985, 5986, "WinRM"),
    tcp(6379, 6379, "Redis"),
    tcp(6443, 6443, "Kubernetes API"),
    tcp(7000, 7001, "Cassandra"),
    tcp(9042, 9042, "Cassandra CQL"),
    tcp(9092, 9092, "Kafka"),
    tcp(9200, 9300, "Elasticsearch"),
    tcp(10250, 10250, "kubelet"),
    both(11211, 11211, "Memcached"),
    tcp(27017, 27019, "MongoDB"),
];

/**
 * "A small public range": at most a /24 of public IPv4 (256 addresses, the longest prefix routed
 * between networks on the internet, so the smallest block one organisation announces: an office
 * or a VPN's egress) and a /48 of public IPv6 (one site's allocation, RFC 6177), each in total.
 */
export const PUBLIC_LIMIT: Readonly<Record<Family, bigint>> = { ipv4: 256n, ipv6: 1n << 80n };

/**
 * The scanner's private (non-public) sources: at most a /16 of IPv4 (the largest VPC AWS allows,
 * so the scanner's subnet or VPC fits, a whole corporate /8 does not) and a /56 of IPv6 (a VPC's
 * IPv6 block).
 */
export const SCANNER_PRIVATE_LIMIT: Readonly<Record<Family, bigint>> = { ipv4: 65536n, ipv6: 1n << 72n };

const LIMIT_TEXT = "at most a /24 of public IPv4 (256 addresses) and a /48 of public IPv6 in all";

/** Addresses of the families over a limit, with the blocks that put them there. */
export interface Excess {
    /** Positions, in the list judged, of the rules (or CIDRs) that contribute. */
    readonly sources: readonly number[];
    /** Their CIDR blocks that contribute, in order. */
    readonly cidrs: readonly string[];
    /** Address counts of the families that are over the limit (undefined: within it). */
    readonly ipv4?: bigint;
    readonly ipv6?: bigint;
}

/** One port range of one protocol, with its service. */
export interface ExposedPorts {
    readonly from: number;
    readonly to: number;
    readonly protocol: PortProtocol;
    readonly service?: string;
}

/** Guarded ports that rules open to more than PUBLIC_LIMIT, grouped by the rules and counts. */
export interface PortExposure extends Excess {
    readonly ports: readonly ExposedPorts[];
}

/** What of `sources` (lists of CIDRs, e.g. the rules) `part` of their union is over `limit`, or undefined. */
function excess(sources: ReadonlyArray<{ readonly index: number; readonly cidrs: readonly string[] }>, part: (set: AddressSet) => AddressSet, limit: Readonly<Record<Family, bigint>>): Excess | undefined {
    const counts = addressCounts(part(addressSpace(sources.flatMap((s) => s.cidrs))));
    const over = { ipv4: counts.ipv4 > limit.ipv4, ipv6: counts.ipv6 > limit.ipv6 };
    if (!over.ipv4 && !over.ipv6) {
        return undefined;
    }
    const contributes = (cidr: string) => {
        const own = addressCounts(part(addressSpace([cidr])));
        return (over.ipv4 && own.ipv4 > 0n) || (over.ipv6 && own.ipv6 > 0n);
    };
    const contributing = sources.map((s) => ({ index: s.index, cidrs: s.cidrs.filter(contributes) })).filter((s) => s.cidrs.length > 0);
    return {
        sources: contributing.map((s) => s.index),
        cidrs: [...new Set(contributing.flatMap((s) => s.cidrs))],
        ...(over.ipv4 ? { ipv4: counts.ipv4 } : {}),
        ...(over.ipv6 ? { ipv6: counts.ipv6 } : {}),
    };
}

/** The ports of a rule for one protocol, or undefined when it does not carry that protocol. */
function rulePorts(rule: NetworkRule, protocol: PortProtocol): { readonly from: number; readonly to: number } | undefined {
    if (rule.protocol === "all") {
        return { from: 0, to: 65535 };
    }
    return rule.protocol === protocol ? { from: rule.fromPort, to: rule.toPort } : undefined;
}

/** The guarded ports per protocol as disjoint ranges, earlier entries (the built-in ones) naming overlaps. */
function guardedRanges(sensitive: readonly SensitivePort[], protocol: PortProtocol): ExposedPorts[] {
    const ranges: ExposedPorts[] = [];
    for (const entry of sensitive) {
        if (!entry.protocols.includes(protocol)) {
            continue;
        }
        let pieces = [{ from: entry.from, to: entry.to }];
        for (const taken of ranges) {
            pieces = pieces.flatMap((p) =>
                taken.to < p.from || taken.from > p.to
                    ? [p]
                    : [
                          ...(taken.from > p.from ? [{ from: p.from, to: taken.from - 1 }] : []),
                          ...(taken.to < p.to ? [{ from: taken.to + 1, to: p.to }] : []),
                      ],
            );
        }
        ranges.push(...pieces.map((p) => ({ ...p, protocol, ...(entry.service === undefined ? {} : { service: entry.service }) })));
    }
    return ranges;
}

const signature = (e: Excess) => `${e.sources.join(",")}|${e.ipv4 ?? ""}|${e.ipv6 ?? ""}`;

/**
 * Guarded ports (BUILTIN_SENSITIVE_PORTS plus `extra`) that the rules of one group and direction
 * open, all together, to more than a small public range (PUBLIC_LIMIT). Judged port by port: for
 * each port the union of every rule that covers it, `all` rules covering every port of TCP and
 * UDP. Rules with a security group or prefix list as peer are not judged (their members are not
 * known at preview). Findings with the same rules and counts come back as one, ports in order.
 */
export function sensitivePortExposures(rules: readonly NetworkRule[], extra: readonly SensitivePort[] = []): PortExposure[] {
    const sensitive = [...BUILTIN_SENSITIVE_PORTS, ...extra];
    const groups = new Map<string, { excess: Excess; ports: ExposedPorts[] }>();
    const memo = new Map<string, Excess | undefined>();
    for (const protocol of ["tcp", "udp"] as const) {
        const carrying = rules.flatMap((rule, index) => {
            const ports = rulePorts(rule, protocol);
            const cidrs = [...rule.cidrs, ...rule.ipv6Cidrs];
            return ports === undefined || cidrs.length === 0 ? [] : [{ index, cidrs, ...ports }];
        });
        for (const guarded of guardedRanges(sensitive, protocol)) {
            // Ports where the set of covering rules changes split the range into uniform pieces.
            const cuts = new Set([guarded.from, guarded.to + 1]);
            for (const r of carrying) {
                for (const cut of [r.from, r.to + 1]) {
                    if (cut > guarded.from && cut <= guarded.to) {
                        cuts.add(cut);
                    }
                }
            }
            const bounds = [...cuts].sort((a, b) => a - b);
            for (let i = 0; i + 1 < bounds.length; i++) {
                const from = bounds[i] as number;
                const to = (bounds[i + 1] as number) - 1;
                const covering = carrying.filter((r) => r.from <= from && to <= r.to);
                const key = covering.map((r) => r.index).join(",");
                if (!memo.has(key)) {
                    memo.set(key, excess(covering, publicPart, PUBLIC_LIMIT));
                }
                const found = memo.get(key);
                if (found === undefined) {
                    continue;
                }
                const group = groups.get(signature(found)) ?? { excess: found, ports: [] };
                groups.set(signature(found), group);
                const previous = group.ports[group.ports.length - 1];
                if (previous !== undefined && previous.protocol === protocol && previous.service === guarded.service && previous.to + 1 === from) {
                    group.ports[group.ports.length - 1] = { ...previous, to };
                } else {
                    group.ports.push({ from, to, protocol, ...(guarded.service === undefined ? {} : { service: guarded.service }) });
                }
            }
        }
    }
    const byPort = (a: ExposedPorts, b: ExposedPorts) => a.from - b.from || a.protocol.localeCompare(b.protocol);
    return [...groups.values()]
        .map((g) => ({ ...g.excess, ports: [...g.ports].sort(byPort) }))
        .sort((a, b) => byPort(a.ports[0] as ExposedPorts, b.ports[0] as ExposedPorts));
}

/**
 * What the scanner's sources admit beyond a few hosts: public space over PUBLIC_LIMIT, and private
 * space over SCANNER_PRIVATE_LIMIT among the blocks not already reported as public (0.0.0.0/1 is
 * reported once, for its public addresses).
 */
export function scannerSourceExcess(cidrs: readonly string[]): { readonly public?: Excess; readonly private?: Excess } {
    const sources = cidrs.map((cidr, index) => ({ index, cidrs: [cidr] }));
    const overPublic = excess(sources, publicPart, PUBLIC_LIMIT);
    const rest = sources.filter((s) => !(overPublic?.sources ?? []).includes(s.index));
    const overPrivate = excess(rest, nonPublicPart, SCANNER_PRIVATE_LIMIT);
    return { ...(overPublic === undefined ? {} : { public: overPublic }), ...(overPrivate === undefined ? {} : { private: overPrivate }) };
}

/** "every protocol and port", "every TCP port", or undefined for a rule that names its ports. */
export function everyPortOf(rule: NetworkRule): string | undefined {
    if (rule.protocol === "all") {
        return "every protocol and port";
    }
    if ((rule.protocol === "tcp" || rule.protocol === "udp") && rule.fromPort <= 1 && rule.toPort === 65535) {
        return `every ${rule.protocol.toUpperCase()} port`;
    }
    return undefined;
}

/** The rule's CIDR blocks that reach public address space. */
export function publicCidrs(rule: NetworkRule): string[] {
    return [...rule.cidrs, ...rule.ipv6Cidrs].filter((cidr) => {
        const counts = addressCounts(publicPart(addressSpace([cidr])));
        return counts.ipv4 > 0n || counts.ipv6 > 0n;
    });
}

// Messages. `paths` maps a position in the judged list to the config path written ("key[3]").

/** "`a`", "`a` and `b`", "`a`, `b` and `c`"; beyond `max` items the first ones and "N more <what>". */
function listOf(items: readonly string[], max = Infinity, what = ""): string {
    if (items.length > max) {
        const shown = items.slice(0, max - 1);
        return `${shown.join(", ")} and ${items.length - shown.length} more${what === "" ? "" : ` ${what}`}`;
    }
    return items.length <= 1 ? (items[0] ?? "") : `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

/** "(0.0.0.0/1, 128.0.0.0/1)", at most six blocks, or "" when the values are secret. */
function cidrList(cidrs: readonly string[], show: boolean): string {
    if (!show) {
        return "";
    }
    const shown = cidrs.slice(0, 6).join(", ");
    return ` (${cidrs.length > 6 ? `${shown} and ${cidrs.length - 6} more` : shown})`;
}

/** "3,702,258,688 public IPv4 addresses and about 2^125 public IPv6 addresses". */
function countsText(e: Excess, kind: string): string {
    const parts: string[] = [];
    if (e.ipv4 !== undefined) {
        parts.push(`${formatAddressCount(e.ipv4, "ipv4")} ${kind} IPv4 addresses`);
    }
    if (e.ipv6 !== undefined) {
        parts.push(`${formatAddressCount(e.ipv6, "ipv6")} ${kind} IPv6 addresses`);
    }
    return parts.join(" and ");
}

/**
 * "22/tcp (SSH)", "3389/tcp+udp (RDP)", "9200-9300/tcp (Elasticsearch)". `hiddenPorts` replaces the
 * ports a stack added (no service name) when the list that added them is secret.
 */
function portsText(ports: readonly ExposedPorts[], hiddenPorts?: string): { readonly text: string; readonly plural: boolean } {
    const merged: Array<{ from: number; to: number; protocols: PortProtocol[]; service?: string }> = [];
    const hidden = hiddenPorts !== undefined && ports.some((p) => p.service === undefined);
    for (const p of ports.filter((port) => !hidden || port.service !== undefined)) {
        const same = merged.find((m) => m.from === p.from && m.to === p.to && m.service === p.service);
        if (same !== undefined) {
            same.protocols.push(p.protocol);
        } else {
            merged.push({ from: p.from, to: p.to, protocols: [p.protocol], ...(p.service === undefined ? {} : { service: p.service }) });
        }
    }
    const labels = merged.map(
        (m) => `${m.from === m.to ? m.from : `${m.from}-${m.to}`}/${m.protocols.join("+")}${m.service === undefined ? "" : ` (${m.service})`}`,
    );
    if (hidden) {
        labels.push(labels.length === 0 ? hiddenPorts : `those ${hiddenPorts}`);
    }
    const plural = hidden || merged.length > 1 || merged.some((m) => m.from !== m.to);
    return { text: `${plural ? "ports" : "port"} ${listOf(labels, 8, "guarded ports (README, \"Exposure\")")}`, plural };
}

const HIDDEN_RULES = "(the rules are secret and not shown)";

/**
 * "`key[0]` and `key[1]` together open port 22/tcp (SSH) to 3,702,258,688 public IPv4 addresses
 * (0.0.0.0/1, 128.0.0.0/1). Admit it from at most ..., or reach instances with SSM ...".
 */
export function portExposureMessage(exposure: PortExposure, paths: (index: number) => string, showValues: boolean, hiddenPorts?: string): string {
    const rules = exposure.sources.map((i) => `\`${paths(i)}\``);
    const verb = rules.length > 1 ? "together open" : "opens";
    if (!showValues) {
        // The rules are secret: their ports, CIDRs and the address count they add up to are not shown.
        return `${listOf(rules, 6, "rules")} ${verb} a guarded port to more than a small public range ${HIDDEN_RULES}. Admit guarded ports from ${LIMIT_TEXT}, or from a security group.`;
    }
    const ports = portsText(exposure.ports, hiddenPorts);
    const ssh = exposure.ports.some((p) => p.service === "SSH") ? ", or reach instances with SSM Session Manager instead (`ssh: disabled`)" : "";
    return (
        `${listOf(rules, 6, "rules")} ${verb} ${ports.text} to ${countsText(exposure, "public")}${cidrList(exposure.cidrs, showValues)}. ` +
        `Admit ${ports.plural ? "them" : "it"} from ${LIMIT_TEXT}, or from a security group${ssh}.`
    );
}

/** "`key[0]` lets N public IPv4 addresses (...) reach quarantined instances on every port. List only ...". */
export function scannerExcessMessage(found: Excess, kind: "public" | "private", paths: (index: number) => string, showValues: boolean): string {
    const sources = found.sources.map((i) => `\`${paths(i)}\``);
    const verb = sources.length > 1 ? "together let" : "lets";
    const fix =
        kind === "public"
            ? `List only the scanner's own addresses: ${LIMIT_TEXT}.`
            : "List only the scanner's own addresses or subnet: at most a /16 of private IPv4 (65,536 addresses, the largest VPC) and a /56 of private IPv6 in all.";
    if (!showValues) {
        const what = kind === "public" ? "public addresses than a small range" : "private or reserved addresses than one VPC";
        return `${listOf(sources, 6, "blocks")} ${verb} more ${what} reach quarantined instances on every port (the CIDRs are secret and not shown). ${fix}`;
    }
    return `${listOf(sources, 6, "blocks")} ${verb} ${countsText(found, kind === "public" ? "public" : "private or reserved")}${cidrList(found.cidrs, showValues)} reach quarantined instances on every port. ${fix}`;
}

/** "`key[0]` admits every protocol and port from public addresses (...). Admit only ..., or set `airlock:allowPublicAllPorts`". */
export function everyPortMessage(path: string, what: string, cidrs: readonly string[], showValues: boolean): string {
    return (
        `\`${path}\` admits ${showValues ? what : "every port"} from public addresses${showValues ? cidrList(cidrs, true) : ` ${HIDDEN_RULES}`}. ` +
        "Admit only the ports the application serves, or set `airlock:allowPublicAllPorts` to true if every port must be open to these addresses."
    );
}
