/**
 * Imported by the property files whose tests loop over simulator seeds: such a test does seconds
 * of CPU work per seed, so on a busy 2-core machine (CI running two suites at once, say) it can
 * take several times its quiet duration. The global 60 s limit is a hang detector for ordinary
 * tests; these get five minutes, which no passing run comes near and a real hang still reaches.
 */
import { vi } from "vitest";

vi.setConfig({ testTimeout: 300_000 });
