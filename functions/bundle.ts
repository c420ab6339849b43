/**
 * Bundles the security group healer (functions/securityGroupHealer.ts) into one CommonJS file for
 * the nodejs22.x Lambda runtime, with esbuild, at `pulumi preview`/`up` time. The AWS SDK is
 * bundled in: the function runs the SDK version this repository pins and tests, not whichever one
 * the runtime ships that day.
 *
 * Deterministic: the same sources give the same bytes (so the function is only updated when its
 * code changes), and no absolute path of the building machine ends up in the bundle (esbuild's
 * module comments are relative to the repository root; no source map).
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { buildSync } from "esbuild";

/** The repository's root: module paths in the bundle are relative to it. */
const ROOT = path.resolve(__dirname, "..");

export interface HealerBundle {
    /** The function's index.js (handler `index.handler`). */
    readonly code: string;
    /** SHA-256 of `code`, hexadecimal. */
    readonly sha256: string;
}

export function bundleHealer(): HealerBundle {
    const result = buildSync({
        absWorkingDir: ROOT,
        entryPoints: [path.join(ROOT, "functions", "securityGroupHealer.ts")],
        bundle: true,
        platform: "node",
        target: "node22",
        format: "cjs",
        // The SDK's ES modules, so that only the commands the healer uses are bundled.
        mainFields: ["module", "main"],
        minify: true,
        // Error and class names stay readable in the function's logs.
        keepNames: true,
        sourcemap: false,
        legalComments: "none",
        charset: "utf8",
        write: false,
        logLevel: "silent",
    });
    if (result.warnings.length > 0) {
        throw new Error(`bundling the security group healer: ${result.warnings.map((w) => w.text).join("; ")}`);
    }
    const output = result.outputFiles[0];
    if (result.outputFiles.length !== 1 || output === undefined) {
        throw new Error(`bundling the security group healer gave ${result.outputFiles.length} files, expected one`);
    }
    const code = output.text;
    return { code, sha256: createHash("sha256").update(code, "utf8").digest("hex") };
}

/** Where the bundle is written for Pulumi, relative to the project root (git-ignored). */
export const HEALER_BUILD_DIR = path.join(".airlock-build", "healer");

/**
 * Writes the bundle to `HEALER_BUILD_DIR/index.js` under `root` (only when it changed) and returns
 * the bundle with the file's path relative to `root`. The function's code is then a file asset:
 * Pulumi's state keeps its path and hash, not the megabyte of bundled SDK a string asset would put
 * in every checkpoint.
 */
export function writeHealerBundle(root: string = process.cwd()): HealerBundle & { readonly file: string } {
    const bundle = bundleHealer();
    const file = path.join(HEALER_BUILD_DIR, "index.js");
    const absolute = path.join(root, file);
    fs.mkdirSync(path.dirname(absolute), { recursive: true });
    const current = fs.existsSync(absolute) ? fs.readFileSync(absolute, "utf8") : undefined;
    if (current !== bundle.code) {
        fs.writeFileSync(absolute, bundle.code);
    }
    return { ...bundle, file };
}
