/**
 * Waiting with deadlines. Pulumi's customTimeouts do not reach dynamic providers, so every wait
 * here has its own deadline and backs off exponentially with jitter between polls.
 */

export interface Clock {
    now(): number;
    sleep(ms: number): Promise<void>;
    /** Uniform in [0, 1). */
    random(): number;
}

export const systemClock: Clock = {
    now: () => Date.now(),
    sleep: (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: () => Math.random(),
};

export interface Backoff {
    /** First wait between polls. */
    readonly initialMs: number;
    /** Longest wait between polls. */
    readonly maxMs: number;
    /** Growth per poll. @default 2 */
    readonly factor?: number;
}

/**
 * The wait before poll number `attempt` (0-based): exponential, capped, with "equal jitter"
 * (half fixed, half random) so that many promotions polling at once spread out.
 */
export function backoffDelay(attempt: number, backoff: Backoff, random: number): number {
    const factor = backoff.factor ?? 2;
    const base = Math.min(backoff.maxMs, backoff.initialMs * factor ** attempt);
    return Math.round(base / 2 + (base / 2) * random);
}

export type PollOutcome<T> = { readonly done: true; readonly value: T } | { readonly done: false };

/**
 * Calls `poll` until it reports done or the deadline passes. Never sleeps past the deadline.
 * Returns the value, or undefined on timeout (the caller words the error). Counts polls.
 */
export async function pollUntil<T>(
    clock: Clock,
    deadline: number,
    backoff: Backoff,
    poll: (attempt: number) => Promise<PollOutcome<T>>,
): Promise<{ value: T | undefined; polls: number }> {
    for (let attempt = 0; ; attempt++) {
        const outcome = await poll(attempt);
        if (outcome.done) {
            return { value: outcome.value, polls: attempt + 1 };
        }
        const remaining = deadline - clock.now();
        if (remaining <= 0) {
            return { value: undefined, polls: attempt + 1 };
        }
        await clock.sleep(Math.min(remaining, backoffDelay(attempt, backoff, clock.random())));
        if (clock.now() >= deadline) {
            // One last look at the deadline itself, so a result that arrived while sleeping counts.
            const last = await poll(attempt + 1);
            return last.done ? { value: last.value, polls: attempt + 2 } : { value: undefined, polls: attempt + 2 };
        }
    }
}

/**
 * A duration as people read it in a message: "0.4 s", "5 s", "2 min 30 s", "1 h 30 min". Never
 * rounds a short wait down to "0 min"; hours drop the seconds, which no longer matter there.
 */
export function formatDuration(ms: number): string {
    const safe = Number.isFinite(ms) && ms > 0 ? ms : 0;
    if (safe < 10_000) {
        const tenths = Math.round(safe / 100) / 10;
        if (tenths < 10) {
            return `${tenths} s`;
        }
    }
    const seconds = Math.round(safe / 1000);
    if (seconds < 60) {
        return `${seconds} s`;
    }
    if (seconds < 3600) {
        const rest = seconds % 60;
        return `${Math.floor(seconds / 60)} min${rest === 0 ? "" : ` ${rest} s`}`;
    }
    const minutes = Math.round(seconds / 60);
    const rest = minutes % 60;
    return `${Math.floor(minutes / 60)} h${rest === 0 ? "" : ` ${rest} min`}`;
}
