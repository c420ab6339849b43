import { distance } from "fastest-levenshtein";

/**
 * The candidate closest to `typed` when it is close enough to be a plausible typo
 * (at most a third of the word, and at least one edit), else undefined.
 */
export function closest(typed: string, candidates: readonly string[]): string | undefined {
    const needle = typed.toLowerCase();
    let best: { candidate: string; edits: number } | undefined;
    for (const candidate of candidates) {
        const edits = distance(needle, candidate.toLowerCase());
        if (best === undefined || edits < best.edits) {
            best = { candidate, edits };
        }
    }
    if (best === undefined) {
        return undefined;
    }
    const limit = Math.max(1, Math.floor(best.candidate.length / 3));
    return best.edits <= limit ? best.candidate : undefined;
}

/** " Did you mean `x`?" or "" — ready to append to a message. */
export function didYouMean(typed: string, candidates: readonly string[], quote: "`" | '"' = '"'): string {
    const match = closest(typed, candidates);
    return match === undefined ? "" : ` Did you mean ${quote}${match}${quote}?`;
}
