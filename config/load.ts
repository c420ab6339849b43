import * as pulumi from "@pulumi/pulumi";
import * as runtimeConfig from "@pulumi/pulumi/runtime/config";
import { AirlockConfig, ConfigError, NAMESPACE, parseAirlockConfig } from "./schema";

export interface LoadedConfig extends AirlockConfig {
    /** Tenable API keys as secret Outputs (undefined unless configured). */
    readonly scannerAccessKey?: pulumi.Output<string>;
    readonly scannerSecretKey?: pulumi.Output<string>;
}

/**
 * Which config keys the stack holds encrypted (set with `--secret`). The language host passes their
 * names beside the values; the SDK reads them with `isConfigSecret`, which its typings leave out.
 * Should a later SDK drop it, every key counts as secret: messages then show no values at all
 * rather than possibly a secret one.
 */
export function secretConfigKeys(keys: readonly string[]): string[] {
    const isConfigSecret = (runtimeConfig as unknown as { isConfigSecret?: (key: string) => boolean }).isConfigSecret;
    return typeof isConfigSecret === "function" ? keys.filter((key) => isConfigSecret(key)) : [...keys];
}

/**
 * Reads and validates the stack configuration before anything is declared: invalid config stops
 * the program with every problem listed, and no resource is created. The message is a RunError,
 * so `pulumi preview` shows it without a stack trace.
 */
export function loadConfig(): LoadedConfig {
    let parsed: AirlockConfig;
    try {
        const raw = pulumi.runtime.allConfig();
        parsed = parseAirlockConfig(raw, secretConfigKeys(Object.keys(raw)));
    } catch (err) {
        if (err instanceof ConfigError) {
            throw new pulumi.RunError(err.message);
        }
        throw err;
    }
    const cfg = new pulumi.Config(NAMESPACE);
    return {
        ...parsed,
        scannerAccessKey: cfg.getSecret("scannerAccessKey"),
        scannerSecretKey: cfg.getSecret("scannerSecretKey"),
    };
}
