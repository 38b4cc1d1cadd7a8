/**
 * Random port: the only source of randomness an actor, a host or a protocol may use.
 *
 * Contract:
 * - `next()` returns a float in [0, 1). The sequence is a pure function of the seed the stream
 *   was built from: two streams built from the same seed produce the same sequence.
 * - `int(bound)` returns an integer in [0, bound), bound a positive safe integer.
 * - `derive(name)` returns an independent stream whose seed is a pure function of this stream's
 *   seed and `name` — never of how many numbers this stream has produced. Deriving a stream per
 *   node, link and disk means that adding a node does not perturb the streams of the others.
 */
export interface Random {
  next(): number;
  int(bound: number): number;
  derive(name: string): Random;
  /** The seed path this stream was built from, for diagnostics. */
  readonly seed: string;
}
