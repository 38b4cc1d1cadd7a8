// @ts-check
import tseslint from "typescript-eslint";
import { layersRule } from "./eslint/layers.js";

/**
 * Determinism (DESIGN §2): nothing under src/actors reads the clock, randomness, timers, the
 * network or files directly, and nothing there waits on a promise. These bans are what keeps a
 * simulated run a pure function of its seed; eslint/determinism.test.ts proves they fire.
 */
const actorBans = {
  "no-restricted-globals": [
    "error",
    ...["setTimeout", "setInterval", "setImmediate", "clearTimeout", "clearInterval", "queueMicrotask", "performance", "process", "fetch", "crypto", "Promise", "require"].map((name) => ({
      name,
      message: `src/actors is pure: '${name}' reaches the world. Take it from a port the host gives the actor.`,
    })),
  ],
  "no-restricted-properties": [
    "error",
    { object: "Date", property: "now", message: "src/actors is pure: use the Clock port's now()." },
    { object: "Math", property: "random", message: "src/actors is pure: use the Random port." },
    { object: "performance", property: "now", message: "src/actors is pure: use the Clock port's now()." },
    { object: "globalThis", message: "src/actors is pure: no globalThis." },
  ],
  "no-restricted-syntax": [
    "error",
    { selector: "NewExpression[callee.name='Date']", message: "src/actors is pure: no new Date(); use the Clock port." },
    { selector: "CallExpression[callee.name='Date']", message: "src/actors is pure: no Date(); use the Clock port." },
    { selector: "AwaitExpression", message: "src/actors is pure: no promises; outputs are effects the host carries out." },
    { selector: "FunctionDeclaration[async=true], ArrowFunctionExpression[async=true], FunctionExpression[async=true]", message: "src/actors is pure: no async functions." },
  ],
};

export default tseslint.config(
  { ignores: ["node_modules/**", "zhumq-data/**", "coverage/**", ".bench-tmp/**", "dist/**", ".test-bin/**"] },
  {
    files: ["**/*.ts", "**/*.js"],
    languageOptions: { parser: tseslint.parser, ecmaVersion: 2023, sourceType: "module" },
    plugins: { zhumq: { rules: { layers: layersRule } }, "@typescript-eslint": tseslint.plugin },
    rules: {
      "zhumq/layers": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "no-debugger": "error",
      eqeqeq: ["error", "always"],
    },
  },
  { files: ["src/actors/**/*.ts"], ignores: ["src/actors/**/*.test.ts"], rules: actorBans },
  { files: ["**/*.test.ts", "properties/**", "scenarios/**", "bench/**", "eslint/**"], rules: { "@typescript-eslint/no-explicit-any": "off" } },
);
