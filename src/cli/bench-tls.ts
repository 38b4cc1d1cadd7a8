/**
 * `zhumq bench --tls`: what mutual TLS costs, plaintext beside TLS in one run (issue 16's
 * benchmark; target: TLS ≥ 0.8× plaintext throughput).
 *
 * Two in-process clusters (a coordinator and one broker on free loopback ports, data in a
 * temporary folder), one plaintext and one with mutual TLS on every link, certificates made for
 * the run by the `openssl` command (a throw-away CA; EC P-256). One run of each, not counted,
 * warms the process up first (the JIT, the TLS and gRPC code paths: without it the first
 * configuration measured ran at about half speed and the ratio said more of the order than of
 * TLS); then rounds alternate the order so a machine that gets busier shifts both alike. Each run produces --messages into a
 * fresh topic and reads them back with the bench's own loops; the report gives produce and
 * consume msgs/s and p99 per run, the medians, and the ratios TLS / plaintext.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { GrpcTransport } from "../net/index.ts";
import { startCluster, type LocalCluster, type TlsMaterial } from "../host/real-node.ts";
import type { ZhuMQ } from "../client/zhumq.ts";
import { onBenchTopic } from "./bench-topic.ts";
import { grouped, type CommandIo } from "./client-command.ts";

export interface TlsRunResult {
  readonly produceRate: number;
  readonly produceP99Ms: number;
  readonly consumeRate: number;
  readonly failed: number;
}

export interface TlsCompareArgs {
  readonly rounds: number;
  readonly partitions: number;
  /** Produces then consumes in `topic`; the rates and the produce p99. */
  readonly run: (zhumq: ZhuMQ, topic: string) => Promise<TlsRunResult>;
}

type Mode = "plaintext" | "tls";

/** A throw-away CA in `dir` and a certificate per name (CN and DNS name; server and client use). */
function makeCertificates(dir: string, names: readonly string[]): { material: (name: string) => TlsMaterial } {
  const openssl = (args: readonly string[]): void => void execFileSync("openssl", args, { stdio: "pipe" });
  const ca = path.join(dir, "ca.pem");
  const caKey = path.join(dir, "ca.key");
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", caKey, "-out", ca, "-days", "1", "-subj", "/CN=zhumq bench CA"]);
  names.forEach((name, index) => {
    const base = path.join(dir, name);
    writeFileSync(`${base}.ext`, `subjectAltName=DNS:${name}\nextendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n`);
    openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${base}.key`, "-out", `${base}.csr`, "-subj", `/CN=${name}`]);
    openssl(["x509", "-req", "-in", `${base}.csr`, "-CA", ca, "-CAkey", caKey, "-set_serial", String(index + 2), "-days", "1", "-out", `${base}.pem`, "-extfile", `${base}.ext`]);
  });
  return { material: (name) => ({ ca: readFileSync(ca), cert: readFileSync(path.join(dir, `${name}.pem`)), key: readFileSync(path.join(dir, `${name}.key`)) }) };
}

export async function compareTls(args: TlsCompareArgs, io: CommandIo): Promise<{ produceRatio: number; consumeRatio: number }> {
  const certDir = mkdtempSync(path.join(tmpdir(), "zhumq-bench-tls-certs-"));
  try {
    let certificates: ReturnType<typeof makeCertificates>;
    try {
      certificates = makeCertificates(certDir, ["coordinator", "broker-0", "zhumq-bench"]);
    } catch (error) {
      throw new Error(`--tls makes certificates with the openssl command, which failed: ${(error as Error).message}`);
    }
    const results: Record<Mode, TlsRunResult[]> = { plaintext: [], tls: [] };
    // TLS / plaintext within each round: the two runs of a round are back to back, so they share the
    // machine's load more closely than runs of different rounds do (on a shared machine, rates
    // swing several-fold from round to round).
    const pairs: { produce: number; consume: number }[] = [];
    for (const mode of ["plaintext", "tls"] as const) {
      if (io.interrupt.aborted) break;
      await oneRun(mode, args, certificates.material);
    }
    io.stdout.write("  warm-up   plaintext and TLS once each, not counted\n");
    for (let round = 1; round <= args.rounds && !io.interrupt.aborted; round++) {
      const order: Mode[] = round % 2 === 1 ? ["plaintext", "tls"] : ["tls", "plaintext"];
      for (const mode of order) {
        const result = await oneRun(mode, args, certificates.material);
        results[mode].push(result);
        io.stdout.write(`  round ${round}  ${mode.padEnd(9)}  produce ${grouped(result.produceRate).padStart(8)} msgs/s  p99 ${result.produceP99Ms.toFixed(1).padStart(7)} ms   consume ${grouped(result.consumeRate).padStart(8)} msgs/s${result.failed > 0 ? `  (${grouped(result.failed)} failed)` : ""}\n`);
        if (io.interrupt.aborted) break;
      }
      const [plain, tls] = [results.plaintext[round - 1], results.tls[round - 1]];
      if (plain !== undefined && tls !== undefined) pairs.push({ produce: ratio(tls.produceRate, plain.produceRate), consume: ratio(tls.consumeRate, plain.consumeRate) });
    }
    const med = (mode: Mode, pick: (result: TlsRunResult) => number): number => median(results[mode].map(pick));
    const produce = { plaintext: med("plaintext", (r) => r.produceRate), tls: med("tls", (r) => r.produceRate) };
    const p99 = { plaintext: med("plaintext", (r) => r.produceP99Ms), tls: med("tls", (r) => r.produceP99Ms) };
    const consume = { plaintext: med("plaintext", (r) => r.consumeRate), tls: med("tls", (r) => r.consumeRate) };
    const produceRatio = ratio(produce.tls, produce.plaintext);
    const consumeRatio = ratio(consume.tls, consume.plaintext);
    io.stdout.write(`  median produce: plaintext ${grouped(produce.plaintext)} msgs/s (p99 ${p99.plaintext.toFixed(1)} ms), TLS ${grouped(produce.tls)} msgs/s (p99 ${p99.tls.toFixed(1)} ms); TLS/plaintext ${produceRatio.toFixed(3)} (target >= 0.8)\n`);
    io.stdout.write(`  median consume: plaintext ${grouped(consume.plaintext)} msgs/s, TLS ${grouped(consume.tls)} msgs/s; TLS/plaintext ${consumeRatio.toFixed(3)} (target >= 0.8)\n`);
    const pairRatios = (pick: "produce" | "consume"): string => pairs.map((pair) => pair[pick].toFixed(2)).join(", ");
    io.stdout.write(`  TLS/plaintext round by round: produce ${pairRatios("produce")} (median ${median(pairs.map((pair) => pair.produce)).toFixed(3)}); consume ${pairRatios("consume")} (median ${median(pairs.map((pair) => pair.consume)).toFixed(3)})\n`);
    return { produceRatio, consumeRatio };
  } finally {
    rmSync(certDir, { recursive: true, force: true });
  }
}

async function oneRun(mode: Mode, args: TlsCompareArgs, material: (name: string) => TlsMaterial): Promise<TlsRunResult> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "zhumq-bench-tls-"));
  let cluster: LocalCluster | undefined;
  try {
    cluster = await startCluster({ dataDir, network: GrpcTransport, brokers: 1, ...(mode === "tls" ? { tls: material } : {}) });
    const tls = mode === "tls" ? material("zhumq-bench") : undefined;
    return await onBenchTopic(cluster, args.partitions, tls === undefined ? {} : { tls }, args.run);
  } finally {
    await cluster?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function ratio(tls: number, plaintext: number): number {
  return plaintext > 0 ? tls / plaintext : 0;
}

function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
