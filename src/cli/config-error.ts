/**
 * A bad flag, argument or config-file entry: what every command prints as `zhumq <cmd>: <what is
 * wrong>` with exit 2. Kept apart from config.ts (the node configuration, which loads the actors
 * and stores) so that the client commands can throw and recognise it and still start quickly.
 */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(
    /** The flag (`--listen`) or the config file's key (`settings.leaseMs`) that is wrong. */
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field}: ${problem}`);
  }
}
