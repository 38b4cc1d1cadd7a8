#!/usr/bin/env node
// The zhumq command. The sources are TypeScript run through tsx's loader, so there is no build
// step between a fresh clone and a working command.
import { register } from "tsx/esm/api";

register();
// Real processes checksum every batch: use the native CRC32C when the optional package is there.
// The simulator keeps the TypeScript one (same results; no binary needed).
if (process.argv[2] !== "sim") {
  const { useNativeCrc32c } = await import("../src/native/crc32c.ts");
  useNativeCrc32c();
}
const { main } = await import("../src/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
