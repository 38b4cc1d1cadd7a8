/**
 * `--user NAME` and `--password-file FILE` (or ZHUMQ_USER / ZHUMQ_PASSWORD_FILE), shared by every
 * client command: log in with a password user (SCRAM-SHA-256, docs/security.md "Users and
 * passwords"). The password is read from a file — never a flag, which other users of the machine
 * can see in the process list — and its trailing newline is dropped. Both or neither; a mistake is
 * a UsageError naming the flag (exit 2).
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "./config-error.ts";
import type { ClientAuthOptions } from "../client/auth-option.ts";

export const AUTH_FLAG_OPTIONS = {
  user: { type: "string" },
  "password-file": { type: "string" },
} as const;

export const AUTH_ENV = { user: "ZHUMQ_USER", passwordFile: "ZHUMQ_PASSWORD_FILE" } as const;

export const AUTH_FLAGS_HELP = `  --user NAME          log in as this password user (SCRAM-SHA-256; made with 'zhumq user
                       create') on every connection (default $${AUTH_ENV.user})
  --password-file FILE the user's password: the file's first line (default $${AUTH_ENV.passwordFile})`;

export interface AuthFlags {
  readonly user?: string | undefined;
  readonly "password-file"?: string | undefined;
}

/** A file's password: its content without the trailing line break; ConfigError naming `field` otherwise. */
export function readPasswordFile(field: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(field, `cannot read '${file}': ${(error as Error).message}`);
  }
  const password = text.replace(/\r?\n$/, "");
  if (password.length === 0) throw new ConfigError(field, `'${file}' is empty: put the password on its first line`);
  if (password.includes("\n")) throw new ConfigError(field, `'${file}' holds more than one line: put only the password in it`);
  return password;
}

/** The login the flags or the environment ask for; undefined: none (anonymous, or TLS's certificate). */
export function resolveAuth(flags: AuthFlags, env: Readonly<Record<string, string | undefined>>): ClientAuthOptions | undefined {
  const user = flags.user ?? nonEmpty(env[AUTH_ENV.user]);
  const file = flags["password-file"] ?? nonEmpty(env[AUTH_ENV.passwordFile]);
  const userField = flags.user !== undefined ? "--user" : AUTH_ENV.user;
  const fileField = flags["password-file"] !== undefined ? "--password-file" : AUTH_ENV.passwordFile;
  if (user === undefined && file === undefined) return undefined;
  if (user === undefined) throw new ConfigError("--user", `${fileField} was given without a user name: give --user NAME (or $${AUTH_ENV.user})`);
  if (file === undefined) throw new ConfigError("--password-file", `${userField} was given without a password: give --password-file FILE (or $${AUTH_ENV.passwordFile})`);
  return { username: user, password: readPasswordFile(fileField, file) };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.length === 0 ? undefined : value;
}
