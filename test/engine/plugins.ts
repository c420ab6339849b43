/**
 * Installs the test provider plugins (fakeProvider.ts) into a PULUMI_HOME's plugin cache, where the
 * Pulumi CLI looks for `pulumi-resource-aws` (and `pulumi-resource-random`, while its SDK package is
 * installed).
 *
 * The cache layout, as the CLI reads it (github.com/pulumi/pulumi/sdk/v3@v3.276.0,
 * go/common/workspace/plugins.go):
 *  - GetPluginDir / GetPulumiPath("plugins"): `$PULUMI_HOME/plugins` (PULUMI_HOME, else ~/.pulumi;
 *    go/common/util/pulumihome).
 *  - PluginDescriptor.Dir: one directory per plugin, `<kind>-<name>-v<version>`, here
 *    `resource-aws-v7.48.0`; tryPlugin parses it with pluginRegexp `^(kind)-(name)-v(version)$` and
 *    skips anything that is not a directory or ends in `.tmp<digits>`.
 *  - PluginDescriptor.File + getPluginPath: the executable inside it is `pulumi-<kind>-<name>`
 *    (no suffix on Linux; getCandidateExtensions), run directly, so a `#!/bin/sh` wrapper works.
 *  - A sibling `<dir>.partial` file marks an unfinished install: HasPlugin and GetPluginsFromDir
 *    skip the plugin while it exists, so any stale one is removed here. `<dir>.lock` only guards
 *    concurrent installs (LockFilePath) and plays no part in the lookup. `<dir>.lastused` is
 *    written by the CLI itself (markPluginUsed) when it resolves the plugin.
 *  - getPluginInfoAndPath prefers, in order: project plugins, a `pulumi-resource-<name>` found on
 *    $PATH (unless PULUMI_IGNORE_AMBIENT_PLUGINS is set), then the cache. Keep real or other fake
 *    `pulumi-resource-aws` binaries off the CLI's PATH, or set PULUMI_IGNORE_AMBIENT_PLUGINS=true.
 *  - SelectCompatiblePlugin matches the version the program asks for (the SDK package's
 *    `pulumi.version`), so the directories carry exactly the node_modules versions.
 *
 * The wrappers are cwd-independent: absolute paths to Node, ts-node's transpile-only register hook,
 * fakeProvider.ts, and the project's tsconfig (TS_NODE_PROJECT, so ts-node does not look for one
 * from whatever directory the CLI starts the plugin in).
 */
import * as fs from "fs";
import * as path from "path";
import { PLUGIN_KINDS, pluginVersion, PluginKind } from "./fakeProvider";

const PROJECT_ROOT = path.resolve(__dirname, "..", "..");
const FAKE_PROVIDER = path.join(__dirname, "fakeProvider.ts");

export interface InstalledPlugin {
    readonly kind: PluginKind;
    readonly version: string;
    /** `<pulumiHome>/plugins/resource-<kind>-v<version>` */
    readonly dir: string;
    /** The executable the CLI runs: `<dir>/pulumi-resource-<kind>`. */
    readonly executable: string;
}

/** Where the CLI looks for a resource plugin of this name and version under PULUMI_HOME. */
export function pluginLocation(pulumiHome: string, name: string, version: string): { dir: string; executable: string } {
    const dir = path.join(pulumiHome, "plugins", `resource-${name}-v${version.replace(/^v/, "")}`);
    return { dir, executable: path.join(dir, `pulumi-resource-${name}`) };
}

function shellQuote(text: string): string {
    return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The wrapper script the CLI runs for one plugin. */
export function wrapperScript(kind: PluginKind, node: string): string {
    const register = require.resolve("ts-node/register/transpile-only");
    const tsconfig = path.join(PROJECT_ROOT, "tsconfig.json");
    return [
        "#!/bin/sh",
        `# Test-only stand-in for pulumi-resource-${kind}, written by test/engine/plugins.ts.`,
        `TS_NODE_PROJECT=${shellQuote(tsconfig)}`,
        "export TS_NODE_PROJECT",
        `exec ${shellQuote(node)} -r ${shellQuote(register)} ${shellQuote(FAKE_PROVIDER)} ${kind} "$@"`,
        "",
    ].join("\n");
}

/**
 * Writes `<pulumiHome>/plugins/resource-aws-v<@pulumi/aws version>/pulumi-resource-aws` and, while
 * @pulumi/random is installed, `.../resource-random-v<its version>/pulumi-resource-random`
 * (executable wrappers that run fakeProvider.ts with `node`), removing any `.partial` marker that
 * would hide them. A kind whose SDK package is not installed is skipped: nothing asks for it.
 */
export function installTestPlugins(pulumiHome: string, opts: { node: string }): InstalledPlugin[] {
    if (!path.isAbsolute(opts.node)) throw new Error(`installTestPlugins: node must be an absolute path, not ${JSON.stringify(opts.node)}`);
    if (!fs.existsSync(opts.node)) throw new Error(`installTestPlugins: no node at ${opts.node}`);
    const installed: InstalledPlugin[] = [];
    for (const kind of PLUGIN_KINDS) {
        const version = pluginVersion(kind);
        if (version === undefined) continue;
        const { dir, executable } = pluginLocation(pulumiHome, kind, version);
        fs.mkdirSync(dir, { recursive: true });
        fs.rmSync(`${dir}.partial`, { force: true });
        fs.writeFileSync(executable, wrapperScript(kind, opts.node), { mode: 0o755 });
        fs.chmodSync(executable, 0o755);
        installed.push({ kind, version, dir, executable });
    }
    return installed;
}
