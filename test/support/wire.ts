/**
 * Values with a special meaning on the wire between the Pulumi engine and a provider (the engine's
 * sdk/go/common/resource/plugin/rpc.go), shared by the provider-host harness and the test provider
 * plugin.
 */

/** The unknown-value sentinel the engine sends for unknown strings (and, in practice, any unknown). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
/** All sentinels the engine treats as unknown (rpc.go: string, bool, number, array, asset, archive, object). */
export const UNKNOWN_SENTINELS: ReadonlySet<string> = new Set([
    UNKNOWN,
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
    "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
    "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
    "030794c1-ac77-496b-92df-f27374a8bd58",
    "e48ece36-62e2-4504-bad9-02848725956a",
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
]);
/** The key marking a special value (a secret) in a Struct, and the signature of a secret. */
export const SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
