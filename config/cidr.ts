import * as ipaddr from "ipaddr.js";

/** The result of checking one CIDR string: the normalised block, or why it is not one. */
export type CidrCheck =
    | { readonly ok: true; readonly family: "ipv4" | "ipv6"; readonly cidr: string; readonly prefixLength: number }
    | { readonly ok: false; readonly problem: string; readonly suggestion?: string };

/**
 * Parses an IPv4 or IPv6 CIDR block strictly: dotted-quad IPv4 only (no "10.1" or hex forms),
 * an explicit mask, and no host bits set. AWS rejects or silently rewrites anything looser, and a
 * rule that means something other than what its author typed is a security bug.
 */
export function checkCidr(value: string): CidrCheck {
    const text = value.trim();
    const slash = text.indexOf("/");
    if (slash < 0) {
        if (ipaddr.IPv4.isValidFourPartDecimal(text)) {
            return { ok: false, problem: "CIDR mask is missing", suggestion: `${text}/32` };
        }
        if (ipaddr.IPv6.isValid(text)) {
            return { ok: false, problem: "CIDR mask is missing", suggestion: `${ipaddr.IPv6.parse(text).toString()}/128` };
        }
        return { ok: false, problem: "not a CIDR block" };
    }
    const address = text.slice(0, slash);
    const isV4 = ipaddr.IPv4.isValidFourPartDecimal(address);
    const isV6 = !isV4 && ipaddr.IPv6.isValid(address);
    if (!isV4 && !isV6) {
        return { ok: false, problem: "not a CIDR block" };
    }
    const mask = text.slice(slash + 1);
    const maxPrefix = isV4 ? 32 : 128;
    if (!/^\d{1,3}$/.test(mask) || Number(mask) > maxPrefix) {
        return { ok: false, problem: `the mask must be a number from 0 to ${maxPrefix}` };
    }
    const prefixLength = Number(mask);
    const network = isV4
        ? ipaddr.IPv4.networkAddressFromCIDR(`${address}/${prefixLength}`).toString()
        : ipaddr.IPv6.networkAddressFromCIDR(`${address}/${prefixLength}`).toString();
    const given = isV4 ? address : ipaddr.IPv6.parse(address).toString();
    if (network !== given) {
        return { ok: false, problem: "host bits are set", suggestion: `${network}/${prefixLength}` };
    }
    return { ok: true, family: isV4 ? "ipv4" : "ipv6", cidr: `${network}/${prefixLength}`, prefixLength };
}
