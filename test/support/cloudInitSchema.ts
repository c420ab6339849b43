/**
 * cloud-init's own JSON schema for #cloud-config (draft-04), from Debian's cloud-init package.
 * test/setup/provision.sh (run first by `npm test`) extracts the package (no install) into
 * ${AIRLOCK_TOOLS_CACHE:-~/.cache/airlock-tools}/cloud-init; a machine with cloud-init installed
 * has it under /usr/lib/python3/dist-packages. The tests fail, saying how to get it, when neither
 * is there: a schema check that silently does not run is no check.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import Ajv from "ajv-draft-04";

const RELATIVE = path.join("usr", "lib", "python3", "dist-packages", "cloudinit", "config", "schemas", "schema-cloud-config-v1.json");

export function cloudInitSchemaPath(): string {
    const candidates = [
        process.env.AIRLOCK_CLOUD_INIT_SCHEMA,
        path.join(process.env.AIRLOCK_TOOLS_CACHE || path.join(os.homedir(), ".cache", "airlock-tools"), "cloud-init", RELATIVE),
        path.join("/", RELATIVE),
    ].filter((p): p is string => p !== undefined && p !== "");
    const found = candidates.find((p) => fs.existsSync(p));
    if (found === undefined) {
        throw new Error(
            `cloud-init's JSON schema was not found (looked in ${candidates.join(", ")}): ` +
                "run `npm test` (it provisions moto, the AWS CLI, cloud-init's schema, shellcheck, cryptsetup, QEMU and the Pulumi CLI first) or `bash test/setup/provision.sh`.",
        );
    }
    return found;
}

/** Validates a parsed #cloud-config document; returns cloud-init's schema errors (empty when valid). */
export function cloudConfigErrors(document: unknown): string[] {
    const ajv = new Ajv({ allErrors: true, strict: false });
    const validate = ajv.compile(JSON.parse(fs.readFileSync(cloudInitSchemaPath(), "utf8")) as object);
    return validate(document) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message ?? ""}`);
}
