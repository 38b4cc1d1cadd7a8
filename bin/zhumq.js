#!/usr/bin/env node
// The zhumq command in the repository: the TypeScript sources run through tsx's loader, so there
// is no build step between a fresh clone and a working command. The installed package runs the
// compiled dist/cli/bin.js instead (package.json "bin"; `npm run build`).
import { register } from "tsx/esm/api";

register();
await import("../src/cli/bin.ts");
