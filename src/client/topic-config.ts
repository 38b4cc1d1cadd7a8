/**
 * `createTopic({ configEntries: [{ name, value }] })`, as KafkaJS's createTopics takes them: the
 * topic settings zhumq has, under their Kafka names or zhumq's own, with values as strings (Kafka's
 * way) or as numbers and booleans. Any other name is refused with UNSUPPORTED_OPTION naming it —
 * never passed over.
 */
import { ZhumqError } from "../actors/shared/errors.ts";
import { invalidRequest } from "./errors.ts";
import { unsupportedOption } from "./options.ts";

export interface ConfigEntry {
  readonly name: string;
  readonly value: string | number | boolean;
}

/** The createTopic options configEntries can set. */
export interface TopicConfigSettings {
  retentionMs?: number;
  retentionBytes?: number;
  minInSync?: number;
  uncleanLeaderElection?: boolean;
}

type Setting = keyof TopicConfigSettings;

/** Kafka name → zhumq option; zhumq's own names are accepted as well. */
export const KAFKA_TOPIC_CONFIGS: Readonly<Record<string, Setting>> = {
  "retention.ms": "retentionMs",
  "retention.bytes": "retentionBytes",
  "min.insync.replicas": "minInSync",
  "unclean.leader.election.enable": "uncleanLeaderElection",
};

const SETTINGS: readonly Setting[] = ["retentionMs", "retentionBytes", "minInSync", "uncleanLeaderElection"];

/** Kafka settings whose one value is what zhumq does anyway: accepted with that value only. */
const FIXED: Readonly<Record<string, { readonly value: string; readonly why: string }>> = {
  "cleanup.policy": { value: "delete", why: "zhumq deletes old segments by retention; it does not compact (yet)" },
};

/** A configEntries entry count well past every setting there is. */
const CONFIG_ENTRIES_MAX = 100;

export const CONFIG_NAMES_ACCEPTED: readonly string[] = [...Object.keys(KAFKA_TOPIC_CONFIGS), ...SETTINGS, ...Object.keys(FIXED)];

function integerValue(name: string, value: unknown): number {
  const parsed = typeof value === "number" ? value : typeof value === "string" && /^-?\d{1,16}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(parsed)) throw invalidRequest(`configEntries: ${name} must be an integer, got ${JSON.stringify(value)}`);
  return parsed;
}

function booleanValue(name: string, value: unknown): boolean {
  if (value === true || value === "true") return true;
  if (value === false || value === "false") return false;
  throw invalidRequest(`configEntries: ${name} must be true or false, got ${JSON.stringify(value)}`);
}

/** The settings `entries` give; throws for an unknown name, a bad value or a setting given twice. */
export function configEntrySettings(entries: unknown): TopicConfigSettings {
  if (!Array.isArray(entries)) throw invalidRequest("configEntries must be an array of { name, value }");
  if (entries.length > CONFIG_ENTRIES_MAX) throw invalidRequest(`configEntries: at most ${CONFIG_ENTRIES_MAX} entries, got ${entries.length}`);
  const settings: TopicConfigSettings = {};
  const named = new Map<Setting, string>();
  for (const entry of entries as unknown[]) {
    if (typeof entry !== "object" || entry === null || typeof (entry as ConfigEntry).name !== "string" || !("value" in entry)) {
      throw invalidRequest(`configEntries: each entry must be { name, value }, got ${JSON.stringify(entry)}`);
    }
    const { name, value } = entry as ConfigEntry;
    const fixed = FIXED[name];
    if (fixed !== undefined) {
      if (String(value) !== fixed.value) throw unsupportedOption("createTopic configEntries", `${name}=${String(value)}`, fixed.why);
      continue;
    }
    const setting = KAFKA_TOPIC_CONFIGS[name] ?? SETTINGS.find((candidate) => candidate === name);
    if (setting === undefined) {
      throw new ZhumqError("UNSUPPORTED_OPTION", `createTopic configEntries: '${name}' is not a topic setting zhumq has; it takes ${CONFIG_NAMES_ACCEPTED.join(", ")}`);
    }
    const earlier = named.get(setting);
    if (earlier !== undefined) throw invalidRequest(`configEntries: ${name} sets ${setting}, which ${earlier} already set`);
    named.set(setting, name);
    if (setting === "uncleanLeaderElection") settings.uncleanLeaderElection = booleanValue(name, value);
    else settings[setting] = integerValue(name, value);
  }
  return settings;
}
