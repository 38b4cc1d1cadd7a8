#!/usr/bin/env node
// The `zhumq` command. Installed from npm there is no src/ beside dist/, and it runs the compiled
// JavaScript (`npm run build`). In the repository it runs the TypeScript sources through tsx's
// loader, so a fresh clone needs no build step and a stale dist/ is never what runs.
import { existsSync } from "node:fs";

if (existsSync(new URL("../src/cli/bin.ts", import.meta.url))) {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli/bin.ts");
} else {
  await import("../dist/bin.js");
}
