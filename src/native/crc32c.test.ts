import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { crc32c, crc32cTypeScript } from "../disk/crc32c.ts";
import { useNativeCrc32c } from "./crc32c.ts";

describe("native CRC32C", () => {
  it("installs when the optional package is present and agrees with the TypeScript reference", () => {
    const which = useNativeCrc32c();
    expect(["native", "typescript"]).toContain(which);
    expect(crc32c(new TextEncoder().encode("123456789"))).toBe(0xe3069283);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 5000 }), fc.nat(), fc.nat(), fc.nat(), (bytes, a, b, seed) => {
        const start = bytes.length === 0 ? 0 : a % bytes.length;
        const end = start + (bytes.length === 0 ? 0 : b % (bytes.length - start + 1));
        expect(crc32c(bytes, start, end, seed >>> 0)).toBe(crc32cTypeScript(bytes, start, end, seed >>> 0));
      }),
    );
  });
});
