#!/usr/bin/env node
// airlock-audit's entry point (package.json "bin", `npm run audit -- ...`): runs audit/cli.ts through
// ts-node in transpile-only mode (bin/ is tsc's output directory and git-ignored, so the command
// cannot ship a compiled file there). The exit code is the audit's (audit/cli.ts).
"use strict";
const path = require("path");
require("ts-node").register({ transpileOnly: true, project: path.join(__dirname, "..", "tsconfig.json") });
const { main } = require("./cli.ts");
main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
    (code) => {
        process.exitCode = code;
    },
    (error) => {
        process.stderr.write(`airlock-audit: ${error && error.stack ? error.stack : String(error)}\n`);
        process.exitCode = 2;
    },
);
