// typescript-eslint with its type-aware rules, over every package's sources and tests
// (npm run lint; the fast tier runs it: test/unit/lint.test.ts).
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["**/dist/**", "**/node_modules/**", "bench/**", "deploy/**", "fixtures/**", "**/*.mjs", "**/*.js"] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's test() and describe() return promises the runner awaits itself
      "@typescript-eslint/no-floating-promises": ["error", { allowForKnownSafeCalls: [{ from: "package", name: ["test", "describe", "it", "suite"], package: "node:test" }] }],
      // An async function with no await is how this code says it returns a promise: an interface's method
      // (a sink's close, a list of setup actions' run, a sensor's open). Dropping `async` there would turn a
      // rejection into a throw at the call. (The arrows it found in the tests were made plain functions.)
      "@typescript-eslint/require-await": "off",
    },
  },
);
