/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: {
    // Type-checking happens once in `npm run typecheck`; tsconfig's isolatedModules makes ts-jest
    // transpile each file on its own, which keeps jest fast.
    "^.+\\.ts$": "ts-jest",
    // Kysely 0.29 ships as ES modules only: jest (CommonJS) has them compiled, once, then cached.
    // Node itself loads them natively (require of ESM), so the shipped command needs nothing.
    "/node_modules/kysely/.+\\.js$": ["ts-jest", { tsconfig: { allowJs: true }, diagnostics: false }],
  },
  transformIgnorePatterns: ["/node_modules/(?!kysely/)"],
  // The mock engine and Pulumi's runtime keep global state: one worker per file, files in parallel.
  testTimeout: 60000,
};
