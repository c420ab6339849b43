/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: {
    // Type-checking happens once in `npm run typecheck`; tsconfig's isolatedModules makes ts-jest
    // transpile each file on its own, which keeps jest fast.
    "^.+\\.ts$": "ts-jest",
  },
  // The mock engine and Pulumi's runtime keep global state: one worker per file, files in parallel.
  testTimeout: 60000,
};
