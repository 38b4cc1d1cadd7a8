/**
 * Small helpers for the commands' argument parsing (node:util parseArgs).
 */

/**
 * parseArgs reads "-1" after a flag as another option, so `--acks -1` fails as "ambiguous". For
 * flags whose value may be a negative number, join such a pair into `--flag=-1` first.
 */
export function joinNegativeValues(argv: readonly string[], flags: readonly string[]): string[] {
  const joined: string[] = [];
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    const next = argv[index + 1];
    if (flags.includes(arg) && next !== undefined && /^-\d+(\.\d+)?$/.test(next)) {
      joined.push(`${arg}=${next}`);
      index++;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}
