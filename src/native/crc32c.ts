/**
 * A native CRC32C for real processes. The storage engine's TypeScript CRC32C runs at about
 * 2.3 GB/s here; @node-rs/crc32 (a prebuilt binary shipped inside its npm package, an optional
 * dependency) at 9-15 GB/s. Every append checks a batch's CRC before writing, so for 1 MiB
 * batches the checksum, not the disk, bounds append throughput (bench:disk: 0.5x a raw write with
 * the TypeScript CRC, about 0.8x with the native one).
 *
 * The results are identical, and `installCrc32c` refuses an implementation that disagrees with the
 * reference on its self-check. The simulator never installs it: determinism does not depend on it
 * either way, but the simulator need not depend on a binary.
 */
import { createRequire } from "node:module";
import { installCrc32c, type Crc32cFunction } from "../disk/crc32c.ts";

interface NativeCrc32 {
  crc32c(input: Uint8Array, initialState?: number): number;
}

let installed: "native" | "typescript" | undefined;

/** Install the native CRC32C if the optional package is present; report which one is in use. */
export function useNativeCrc32c(): "native" | "typescript" {
  if (installed !== undefined) return installed;
  let native: NativeCrc32;
  try {
    native = createRequire(import.meta.url)("@node-rs/crc32") as NativeCrc32;
  } catch {
    installed = "typescript";
    return installed;
  }
  const adapter: Crc32cFunction = (data, start, end, crc) =>
    native.crc32c(Buffer.from(data.buffer, data.byteOffset + start, end - start), crc) >>> 0;
  installCrc32c(adapter);
  installed = "native";
  return installed;
}
