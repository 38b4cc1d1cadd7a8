/**
 * The compression codecs of real processes, installed into src/disk/compression.ts (which the
 * pure actors call through, as they call the native CRC32C): gzip from node:zlib, snappy from
 * `snappy` and lz4 from `lz4-napi` (prebuilt binaries inside their npm packages), zstd from
 * `zstd-codec` (zstd compiled to WebAssembly inside its npm package). The native zstd packages
 * (`@mongodb-js/zstd`, `zstd-napi`) download or compile their binary at install time, which an
 * offline install cannot, so zstd is WebAssembly: about 5x slower than native, still above
 * 100 MB/s here (npm run bench:compression).
 *
 * Every codec is told the size its output must have (the batch's length prefix), and each checks
 * the size its own format announces against it before it allocates anything: a forged batch
 * cannot make a reader allocate more than the batch limit.
 */
import { createRequire } from "node:module";
import { gunzipSync, gzipSync } from "node:zlib";
import { codecInstalled, installCodec, type Codec, type CompressionType } from "../disk/compression.ts";

const require = createRequire(import.meta.url);

interface Snappy {
  compressSync(input: Uint8Array): Buffer;
  uncompressSync(input: Uint8Array, options: { asBuffer: true }): Buffer;
}

interface Lz4 {
  compressSync(input: Buffer): Buffer;
  uncompressSync(input: Uint8Array): Buffer;
}

interface ZstdSimple {
  compress(content: Uint8Array, level?: number): Uint8Array | null;
  decompress(compressed: Uint8Array): Uint8Array | null;
}

interface ZstdBinding {
  Simple: new () => ZstdSimple;
  Generic: new () => { contentSize(compressed: Uint8Array): number | null };
}

interface ZstdCodecModule {
  ZstdCodec: { run(ready: (zstd: ZstdBinding) => void): void };
}

/** zstd's level for producers: its default, a good ratio at a speed close to lz4's ratio-per-CPU. */
export const ZSTD_LEVEL = 3;

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function tooLarge(type: string, announced: number, size: number): Error {
  return new Error(`${type} data announces ${announced} bytes, expected ${size}`);
}

const gzip: Codec = {
  compress: (data) => gzipSync(data),
  // maxOutputLength stops inflating past the size expected (zlib throws) instead of after it.
  decompress: (data, size) => gunzipSync(data, { maxOutputLength: Math.max(size, 1) }),
};

function snappyCodec(snappy: Snappy): Codec {
  return {
    compress: (data) => snappy.compressSync(data),
    decompress: (data, size) => {
      // The format starts with the uncompressed length as a little-endian base-128 varint.
      let announced = 0;
      for (let i = 0, shift = 0; i < 5; i++, shift += 7) {
        const byte = data[i];
        if (byte === undefined) break;
        announced += (byte & 0x7f) * 2 ** shift;
        if ((byte & 0x80) === 0) break;
      }
      if (announced !== size) throw tooLarge("snappy", announced, size);
      return snappy.uncompressSync(data, { asBuffer: true });
    },
  };
}

function lz4Codec(lz4: Lz4): Codec {
  return {
    compress: (data) => lz4.compressSync(asBuffer(data)),
    decompress: (data, size) => {
      // lz4-napi's block format starts with the uncompressed length, uint32 little-endian.
      const announced = data.length < 4 ? -1 : (data[0]! | (data[1]! << 8) | (data[2]! << 16)) + data[3]! * 2 ** 24;
      if (announced !== size) throw tooLarge("lz4", announced, size);
      return lz4.uncompressSync(data);
    },
  };
}

function zstdCodec(zstd: ZstdBinding): Codec {
  const simple = new zstd.Simple();
  const generic = new zstd.Generic();
  return {
    compress: (data) => {
      const out = simple.compress(data, ZSTD_LEVEL);
      if (out === null) throw new Error("zstd could not compress");
      return out;
    },
    decompress: (data, size) => {
      const announced = generic.contentSize(data);
      if (announced !== size) throw tooLarge("zstd", announced ?? -1, size);
      const out = simple.decompress(data);
      if (out === null) throw new Error("zstd data does not decompress");
      return out;
    },
  };
}

/** Why each codec is missing, for the ones that could not be installed. */
const missing = new Map<CompressionType, string>();
let syncInstalled = false;
let zstdLoading: Promise<void> | undefined;

function tryInstall(type: Exclude<CompressionType, "none">, make: () => Codec): void {
  try {
    installCodec(type, make());
  } catch (error) {
    missing.set(type, error instanceof Error ? error.message.split("\n")[0]! : String(error));
  }
}

/** Install gzip, snappy and lz4 (synchronous loads). Safe to call again. */
export function useCompressionCodecs(): void {
  if (syncInstalled) return;
  syncInstalled = true;
  tryInstall("gzip", () => gzip);
  tryInstall("snappy", () => snappyCodec(require("snappy") as Snappy));
  tryInstall("lz4", () => lz4Codec(require("lz4-napi") as Lz4));
}

/** Install every codec, zstd included (its WebAssembly module loads asynchronously, once). */
export function loadCompressionCodecs(): Promise<void> {
  useCompressionCodecs();
  zstdLoading ??= new Promise<void>((resolve) => {
    let zstd: ZstdCodecModule;
    try {
      zstd = require("zstd-codec") as ZstdCodecModule;
    } catch (error) {
      missing.set("zstd", error instanceof Error ? error.message.split("\n")[0]! : String(error));
      resolve();
      return;
    }
    zstd.ZstdCodec.run((binding) => {
      tryInstall("zstd", () => zstdCodec(binding));
      resolve();
    });
  });
  return zstdLoading;
}

/** Why `type` cannot be used in this process, or undefined when it can. */
export function codecProblem(type: CompressionType): string | undefined {
  if (codecInstalled(type)) return undefined;
  return missing.get(type) ?? `the ${type} codec is not loaded${type === "zstd" ? " (loadCompressionCodecs() loads it; connect() calls it)" : ""}`;
}
