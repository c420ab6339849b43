/**
 * Errors the provider must tell apart, in a form that survives Pulumi's closure serializer.
 *
 * The serializer turns classes into plain functions and does not carry their prototypes: in the
 * dynamic-provider process an instance of `class X extends Error` is not `instanceof Error`, an
 * instance of a subclass of X is not `instanceof X`, and `String(it)` is "[object Object]". So no
 * provider code defines Error subclasses or classifies with `instanceof`: an error is a plain
 * `Error` (a global, which the serializer leaves alone) carrying a string discriminator,
 * `airlockKind`, that the type guards below read.
 */

export type AirlockErrorKind = "scanner" | "scan-timeout" | "promotion-blocked";

export type AirlockError<K extends AirlockErrorKind = AirlockErrorKind> = Error & { readonly airlockKind: K };

/** A plain Error with a name, a kind, and any extra properties. */
export function airlockError<K extends AirlockErrorKind, X extends object = object>(kind: K, name: string, message: string, extra?: X): AirlockError<K> & X {
    const error = new Error(message) as Error & { airlockKind?: K };
    error.name = name;
    error.airlockKind = kind;
    return Object.assign(error, extra ?? {}) as AirlockError<K> & X;
}

/** True when `err` carries one of `kinds`, whatever its prototype (or lack of one). */
export function hasErrorKind<K extends AirlockErrorKind>(err: unknown, ...kinds: readonly K[]): err is AirlockError<K> {
    if (typeof err !== "object" || err === null) {
        return false;
    }
    const { airlockKind, message } = err as { airlockKind?: unknown; message?: unknown };
    return typeof message === "string" && (kinds as readonly unknown[]).includes(airlockKind);
}

/**
 * The message of anything thrown, readable even when it is not an Error (no prototype, no
 * message). Never serializes the object: a thrown value may hold request headers or keys.
 */
export function errorMessage(err: unknown): string {
    if (typeof err === "object" && err !== null) {
        const { message, name } = err as { message?: unknown; name?: unknown };
        if (typeof message === "string" && message !== "") {
            return message;
        }
        if (typeof name === "string" && name !== "") {
            return name;
        }
        return "an error without a message";
    }
    return String(err);
}
