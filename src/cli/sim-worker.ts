/**
 * A seed-farm worker (see sim-farm.ts): runs the seeds it is sent, one at a time, and posts back
 * each outcome. An audited seed is run twice and its two trace hashes compared.
 */
import { parentPort } from "node:worker_threads";
import { runAudited } from "../sim/audit.ts";
import { runWorkload } from "../sim/workloads.ts";
import { loadCompressionCodecs } from "../native/compression.ts";
import type { FarmOutcome, FarmRequest } from "./sim-farm.ts";

/** Anomalies sent back per failing seed (the full list stays a replay away). */
const ANOMALIES_SENT_MAX = 20;

const port = parentPort;
if (port === null) throw new Error("sim-worker.ts runs only as a worker thread (see sim-farm.ts)");

port.on("message", (request: FarmRequest) => {
  void answer(request).then((outcome) => port.postMessage(outcome));
});

async function answer(request: FarmRequest): Promise<FarmOutcome> {
  try {
    if (request.base.compression !== undefined && request.base.compression !== "none") await loadCompressionCodecs(); // once per worker: later calls return at once
    const outcome = await runAudited((seed) => runWorkload({ ...request.base, seed }), request.seed, request.audited);
    const { summary } = outcome;
    return {
      seed: request.seed,
      ok: summary.ok,
      traceHash: summary.traceHash,
      auditHash: outcome.auditHash,
      nondeterministic: outcome.nondeterministic,
      virtualMs: summary.virtualMs,
      anomalies: summary.anomalies.slice(0, ANOMALIES_SENT_MAX).map((anomaly) => ({ kind: anomaly.kind, detail: anomaly.detail })),
      anomalyCount: summary.anomalies.length,
      error: undefined,
    };
  } catch (error) {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    return { seed: request.seed, ok: false, traceHash: "", auditHash: undefined, nondeterministic: false, virtualMs: 0, anomalies: [], anomalyCount: 0, error: text };
  }
}
