/**
 * Headless Chromium for the browser tests: scripts/ensure-chromium.sh finds it (PATH or
 * ZHUMQ_CHROMIUM) or installs Debian's package (as root, with apt-get), once per test file.
 * `useChromium()` registers that in a beforeAll and returns a getter: the executable's path, or
 * why there is none — then the test says so and skips.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { beforeAll } from "vitest";

const REPO = path.resolve(import.meta.dirname, "..", "..");
/** Installing Chromium on a clean machine (apt-get update + install) takes minutes, not seconds. */
export const CHROMIUM_INSTALL_TIMEOUT_MS = 10 * 60_000;

export type ChromiumFound = { readonly path: string } | { readonly reason: string };

/** The executable to launch, or undefined once the test has been skipped, saying why. */
export function chromiumOrSkip(found: ChromiumFound, context: { skip(note?: string): void }): string | undefined {
  if ("path" in found) return found.path;
  console.warn(`skipped: ${found.reason}`);
  context.skip(found.reason);
  return undefined;
}

export function useChromium(): () => ChromiumFound {
  let chromium: ChromiumFound = { reason: "Chromium was not looked for yet" };
  beforeAll(async () => {
    try {
      const { stdout } = await promisify(execFile)("sh", [path.join(REPO, "scripts", "ensure-chromium.sh")], { timeout: CHROMIUM_INSTALL_TIMEOUT_MS });
      chromium = { path: stdout.trim() };
    } catch (error) {
      const stderr = String((error as { stderr?: unknown }).stderr ?? "").trim();
      chromium = { reason: `no Chromium to drive: ${stderr || (error as Error).message}` };
    }
  }, CHROMIUM_INSTALL_TIMEOUT_MS + 10_000);
  return () => chromium;
}
