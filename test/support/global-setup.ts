/**
 * vitest's global setup (vitest.config.ts): bundle the `zhumq` command the tests start as child
 * processes, once for the whole run (test/support/test-bin.ts says why), and hand its path to
 * every test file.
 */
import type { TestProject } from "vitest/node";
import { buildTestBin, wantsTestBin } from "./test-bin.ts";

export default async function setup(project: TestProject): Promise<void> {
  project.provide("zhumqBin", wantsTestBin() ? await buildTestBin() : undefined);
}
