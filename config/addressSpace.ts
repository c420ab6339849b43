import * as ipaddr from "ipaddr.js";
import { checkCidr } from "./cidr";

/**
 * Address-space arithmetic for judging exposure: which addresses a set of CIDR blocks covers
 * together, and how many of them are public. A rule's reach is the union of its blocks, whatever
 * way they are split ("0.0.0.0/1" + "128.0.0.0/1" is the internet); ipaddr.js parses, and the sets
 * are kept as sorted, disjoint ranges of integers so that unions and differences are exact.
 */

export type Family = "ipv4" | "ipv6";

/** An inclusive range of addresses of one family, as integers. */
export interface AddressRange {
    readonly first: bigint;
    readonly last: bigint;
}

/** Sorted, disjoint, non-adjacent ranges per family. */
export interface AddressSet {
    readonly ipv4: readonly AddressRange[];
    readonly ipv6: readonly AddressRange[];
}

const BITS: Readonly<Record<Family, number>> = { ipv4: 32, ipv6: 128 };

/** The range a valid CIDR block covers. Throws on anything checkCidr refuses (validate first). */
export function cidrRange(cidr: string): { readonly family: Family; readonly range: AddressRange } {
    const check = checkCidr(cidr);
    if (!check.ok) {
        throw new Error(`cidrRange: ${JSON.stringify(cidr)} is not a CIDR block (${check.problem}).`);
    }
    const [address] = ipaddr.parseCIDR(check.cidr);
    const first = address.toByteArray().reduce((n, byte) => (n << 8n) | BigInt(byte), 0n);
    const size = 1n << BigInt(BITS[check.family] - check.prefixLength);
    return { family: check.family, range: { first, last: first + size - 1n } };
}

/** The ranges merged: sorted, overlaps and neighbours joined. */
export function mergeRanges(ranges: readonly AddressRange[]): AddressRange[] {
    const sorted = [...ranges].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
    const merged: AddressRange[] = [];
    for (const range of sorted) {
        const last = merged[merged.length - 1];
        if (last !== undefined && range.first <= last.last + 1n) {
            merged[merged.length - 1] = { first: last.first, last: range.last > last.last ? range.last : last.last };
        } else {
            merged.push(range);
        }
    }
    return merged;
}

/** Addresses in both (both merged). */
export function intersectRanges(a: readonly AddressRange[], b: readonly AddressRange[]): AddressRange[] {
    const result: AddressRange[] = [];
    for (const x of a) {
        for (const y of b) {
            const first = x.first > y.first ? x.first : y.first;
            const last = x.last < y.last ? x.last : y.last;
            if (first <= last) {
                result.push({ first, last });
            }
        }
    }
    return mergeRanges(result);
}

/** Addresses in `a` but not in `b`. */
export function subtractRanges(a: readonly AddressRange[], b: readonly AddressRange[]): AddressRange[] {
    let rest = mergeRanges(a);
    for (const cut of mergeRanges(b)) {
        rest = rest.flatMap((r) => {
            if (cut.last < r.first || cut.first > r.last) {
                return [r];
            }
            const pieces: AddressRange[] = [];
            if (cut.first > r.first) {
                pieces.push({ first: r.first, last: cut.first - 1n });
            }
            if (cut.last < r.last) {
                pieces.push({ first: cut.last + 1n, last: r.last });
            }
            return pieces;
        });
    }
    return rest;
}

/** How many addresses the ranges hold (merge first if they may overlap). */
export function countAddresses(ranges: readonly AddressRange[]): bigint {
    return ranges.reduce((sum, r) => sum + (r.last - r.first + 1n), 0n);
}

const rangesOf = (cidrs: readonly string[]): AddressRange[] => mergeRanges(cidrs.map((c) => cidrRange(c).range));

/**
 * IPv4 space that is not reachable from the internet (IANA special-purpose registry, RFC 6890):
 * "this network", RFC 1918 private, CGNAT shared space, loopback, link-local, IETF protocol
 * assignments, the three documentation blocks, benchmarking, multicast and reserved (224/3,
 * which ends with the broadcast address). 192.88.99.0/24 (the deprecated 6to4 relay anycast) is
 * still routed, so it counts as public.
 */
export const NON_PUBLIC_IPV4_CIDRS: readonly string[] = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/3",
];

/** The only IPv6 space routed on the internet: global unicast. */
export const GLOBAL_UNICAST_IPV6_CIDR = "2000::/3";

/**
 * Blocks inside 2000::/3 that are never routed: documentation (2001:db8::/32, 3fff::/20, RFC 9637)
 * and benchmarking (2001:2::/48). The rest of 2000::/3 counts as public, 6to4 (2002::/16) and
 * Teredo (2001::/32) included: both carry traffic from the IPv4 internet.
 */
export const NON_PUBLIC_GLOBAL_IPV6_CIDRS: readonly string[] = ["2001:db8::/32", "2001:2::/48", "3fff::/20"];

/**
 * IPv6 blocks that are IPv4 addresses written as IPv6: IPv4-mapped (::ffff:0:0/96, how a
 * dual-stack socket sees an IPv4 peer) and the NAT64 well-known prefix (64:ff9b::/96, RFC 6052).
 * A rule from them is judged as a rule from the IPv4 addresses they embed.
 */
export const EMBEDDED_IPV4_CIDRS: readonly string[] = ["::ffff:0:0/96", "64:ff9b::/96"];

const NON_PUBLIC_IPV4 = rangesOf(NON_PUBLIC_IPV4_CIDRS);
const PUBLIC_IPV4 = subtractRanges([{ first: 0n, last: (1n << 32n) - 1n }], NON_PUBLIC_IPV4);
const PUBLIC_IPV6 = subtractRanges(rangesOf([GLOBAL_UNICAST_IPV6_CIDR]), rangesOf(NON_PUBLIC_GLOBAL_IPV6_CIDRS));
const EMBEDDED_IPV4 = EMBEDDED_IPV4_CIDRS.map((cidr) => cidrRange(cidr).range);

/**
 * The addresses a list of CIDR blocks (IPv4 and IPv6 mixed) covers together. IPv6 blocks that
 * embed IPv4 addresses (EMBEDDED_IPV4_CIDRS) are counted as those IPv4 addresses instead.
 */
export function addressSpace(cidrs: readonly string[]): AddressSet {
    const ipv4: AddressRange[] = [];
    const ipv6: AddressRange[] = [];
    for (const cidr of cidrs) {
        const { family, range } = cidrRange(cidr);
        (family === "ipv4" ? ipv4 : ipv6).push(range);
    }
    const mergedIpv6 = mergeRanges(ipv6);
    for (const embedded of EMBEDDED_IPV4) {
        for (const part of intersectRanges(mergedIpv6, [embedded])) {
            ipv4.push({ first: part.first - embedded.first, last: part.last - embedded.first });
        }
    }
    return { ipv4: mergeRanges(ipv4), ipv6: subtractRanges(mergedIpv6, EMBEDDED_IPV4) };
}

/** The part of a set the internet can send from. */
export function publicPart(set: AddressSet): AddressSet {
    return { ipv4: intersectRanges(set.ipv4, PUBLIC_IPV4), ipv6: intersectRanges(set.ipv6, PUBLIC_IPV6) };
}

/** The rest: private, shared, loopback, link-local, documentation, multicast, reserved... */
export function nonPublicPart(set: AddressSet): AddressSet {
    return { ipv4: subtractRanges(set.ipv4, PUBLIC_IPV4), ipv6: subtractRanges(set.ipv6, PUBLIC_IPV6) };
}

/** How many addresses of each family a set holds. */
export function addressCounts(set: AddressSet): { readonly ipv4: bigint; readonly ipv6: bigint } {
    return { ipv4: countAddresses(set.ipv4), ipv6: countAddresses(set.ipv6) };
}

/** True when any of the blocks reaches public address space. */
export function reachesPublicSpace(cidrs: readonly string[]): boolean {
    const counts = addressCounts(publicPart(addressSpace(cidrs)));
    return counts.ipv4 > 0n || counts.ipv6 > 0n;
}

/**
 * A count of addresses for a message: IPv4 in full ("3,702,258,688"), IPv6 as a power of two
 * ("2^80", or "about 2^125" when it is not exactly one).
 */
export function formatAddressCount(count: bigint, family: Family): string {
    if (family === "ipv4" || count < 1n << 32n) {
        return count.toLocaleString("en-US");
    }
    const exponent = count.toString(2).length - 1;
    if (count === 1n << BigInt(exponent)) {
        return `2^${exponent}`;
    }
    // log2 from the leading 53 bits: exact enough for one decimal.
    const shift = BigInt(Math.max(0, exponent - 52));
    const log2 = Math.log2(Number(count >> shift)) + Number(shift);
    const rounded = Math.round(log2 * 10) / 10;
    return `about 2^${Number.isInteger(rounded) ? rounded.toFixed(0) : rounded.toFixed(1)}`;
}
