/**
 * The `zhumq` command's entry, started by bin/zhumq.js (package.json "bin"): compiled
 * (dist/bin.js) when installed from npm, through tsx in the repository.
 *
 * Real processes checksum every batch with the native CRC32C when the optional package is there;
 * the simulator keeps the TypeScript one (same results, no binary needed), and commands that only
 * print (help, version) or only administer (topic, group, broker decommission: they build no
 * batches) load nothing they do not need.
 */
import { main } from "./main.ts";

const PRINT_ONLY = new Set([undefined, "sim", "help", "--help", "-h", "--version", "-V"]);
const ADMIN_ONLY = new Set(["topic", "group", "acl", "user"]);
const argv = process.argv.slice(2);
const adminOnly = ADMIN_ONLY.has(argv[0] ?? "") || (argv[0] === "broker" && argv[1] === "decommission");
if (!PRINT_ONLY.has(argv[0]) && !adminOnly && !argv.includes("--help") && !argv.includes("-h")) {
  const { useNativeCrc32c } = await import("../native/crc32c.ts");
  useNativeCrc32c();
}
process.exitCode = await main(argv);
