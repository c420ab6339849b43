import * as pulumi from "@pulumi/pulumi";
import { AirlockConfig, ConfigError, NAMESPACE, parseAirlockConfig } from "./schema";

export interface LoadedConfig extends AirlockConfig {
    /** Tenable API keys as secret Outputs (undefined unless configured). */
    readonly scannerAccessKey?: pulumi.Output<string>;
    readonly scannerSecretKey?: pulumi.Output<string>;
}

/**
 * Reads and validates the stack configuration before anything is declared: invalid config stops
 * the program with every problem listed, and no resource is created. The message is a RunError,
 * so `pulumi preview` shows it without a stack trace.
 */
export function loadConfig(): LoadedConfig {
    let parsed: AirlockConfig;
    try {
        parsed = parseAirlockConfig(pulumi.runtime.allConfig());
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
