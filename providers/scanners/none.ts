import { ScanContext, ScanResult, Scanner } from "./types";

/**
 * No scan at all: an explicit opt-in for throwaway environments. The instance is promoted, and the
 * result says so in its warnings so that stack outputs and `pulumi up` show it.
 */
export function noScanner(): Scanner {
    return {
        kind: "none",
        async scan(context: ScanContext): Promise<ScanResult> {
            context.log("scanner kind is none: NOT scanning; promoting without a vulnerability scan");
            return {
                scanId: `none:${context.target.instanceId}`,
                findings: [],
                warnings: ["promoted WITHOUT a vulnerability scan (scannerKind: none)"],
            };
        },
    };
}
