/**
 * `zhumq cluster status`: the coordinator replicas named by --bootstrap, each asked for its own
 * status (src/client/coordinator-status.ts): role, term, the leader it follows, commit and
 * applied indexes, and the lag behind the leader's log (from the leader's match indexes).
 */
import { parseArgs } from "node:util";
import { ClientContext } from "../client/context.ts";
import { coordinatorStatuses, servingLeader, type ReplicaAnswer, type ReplicaStatus } from "../client/coordinator-status.ts";
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, clientOptionsFor, EXIT_FAILED, EXIT_OK, Output, runClient, UsageError, type CommandIo } from "./client-command.ts";

const COMMAND = "zhumq cluster";
const STATUS_TIMEOUT_MS = 2_000;

const HELP = `zhumq cluster status — the coordinator replicas: who leads, terms, commit index, lag

Usage:
  zhumq cluster status [--json] [--bootstrap c1@HOST:PORT,c2@HOST:PORT,c3@HOST:PORT]

Every replica named by --bootstrap is asked for itself (not through the leader), so a replica
that is down shows as unreachable and a deposed one shows its old term. LAG is how many log
entries the leader holds that the replica has not (the leader's last index minus what the
leader knows the replica holds). A single coordinator (no --peers) shows as such. Replicas
added since (zhumq coordinator add) are asked too, at the address the configuration gives (the
serving leader's; when none of the replicas named serves — the leader may be one added since —
the newest configuration one of them knows); replicas removed since are left out.

Options:
  --json               print the answers as one JSON object
${CLIENT_OPTIONS_HELP}

Exit status: 0 when a leader serves; 1 when none does (no majority up, or an election under
way); 2 on bad flags.`;

const OPTIONS = { ...CLIENT_OPTIONS, json: { type: "boolean" } } as const;

export async function clusterCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  return runClient(COMMAND, io, async () => {
    const { values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
    if (values.help === true || positionals.length === 0) {
      io.stdout.write(`${HELP}\n`);
      return values.help === true ? EXIT_OK : 2;
    }
    if (positionals[0] !== "status" || positionals.length > 1) throw new UsageError("", `unknown cluster command '${positionals.join(" ")}' (try: zhumq cluster status)`);
    const options = clientOptionsFor(values, io, "zhumq-cluster");
    let answers = await statusesOf(new ClientContext(options));
    // Replicas added since (`zhumq coordinator add`) that --bootstrap does not name: asked too,
    // where the configuration says they listen — the serving leader's, or when none of the
    // replicas asked serves (the leader may be one of those added), the newest a replica knows;
    // replicas removed since are left out.
    const known = configurationToFollow(answers);
    if (known !== undefined) {
      const asked = new Set(answers.map((answer) => answer.id));
      const extra = known.voters.filter((id) => !asked.has(id) && known.addresses?.[id] !== undefined);
      if (extra.length > 0) answers = [...answers, ...(await statusesOf(new ClientContext({ ...options, bootstrap: extra.map((id) => `${id}@${known.addresses![id]!}`).join(",") })))];
      const voters = (servingLeader(answers) ?? known).voters;
      answers = answers.filter((answer) => voters.includes(answer.id));
    }
    {
      const out = new Output(io.stdout);
      if (values.json === true) await out.line(JSON.stringify({ leader: servingLeader(answers)?.id ?? null, replicas: answers }));
      else for (const line of statusLines(answers)) await out.line(line);
      return answers.some((answer) => "single" in answer) || servingLeader(answers) !== undefined ? EXIT_OK : EXIT_FAILED;
    }
  });
}

/**
 * Whose view of the configuration says which replicas to ask besides those named: the serving
 * leader's, else (none of those asked serves — the leader may be a replica added since) the
 * replica's that knows the newest (highest term, then commit index).
 */
export function configurationToFollow(answers: readonly ReplicaAnswer[]): ReplicaStatus | undefined {
  const leader = servingLeader(answers);
  if (leader !== undefined) return leader;
  let best: ReplicaStatus | undefined;
  for (const answer of answers) {
    if (!("status" in answer)) continue;
    const { status } = answer;
    if (best === undefined || status.term > best.term || (status.term === best.term && status.commitIndex > best.commitIndex)) best = status;
  }
  return best;
}

async function statusesOf(context: ClientContext): Promise<ReplicaAnswer[]> {
  const node = await context.acquire();
  try {
    return await coordinatorStatuses(node, context.coordinators, STATUS_TIMEOUT_MS);
  } finally {
    await context.release();
  }
}

/** The table `zhumq cluster status` prints. */
export function statusLines(answers: readonly ReplicaAnswer[]): string[] {
  if (answers.length === 1 && "single" in answers[0]!) return [`a single coordinator '${answers[0].id}' (no quorum: started without --peers)`];
  const leader = servingLeader(answers);
  const lagOf = (id: string): string => {
    if (leader === undefined) return "?";
    if (id === leader.id) return "0";
    const match = leader.peers?.find((peer) => peer.id === id)?.matchIndex;
    return match === undefined ? "?" : String(Math.max(0, leader.lastIndex - match));
  };
  const addressOf = (id: string): string => leader?.addresses?.[id] ?? "";
  const rows = answers.map((answer) => {
    if ("unreachable" in answer) return [answer.id, addressOf(answer.id), "unreachable", "", "", "", "", ""];
    if ("single" in answer) return [answer.id, "", "single", "", "", "", "", ""];
    const { status } = answer;
    const role = status.serving ? "leader" : status.role === "leader" ? "leader (not serving)" : status.guard === undefined ? status.role : `${status.role} (guarded: ${status.guard})`;
    return [answer.id, addressOf(answer.id), role, String(status.term), status.leader ?? "-", String(status.commitIndex), String(status.appliedIndex), lagOf(answer.id)];
  });
  const header = ["REPLICA", "ADDRESS", "ROLE", "TERM", "LEADER", "COMMIT", "APPLIED", "LAG"];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const format = (row: readonly string[]): string => `  ${row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ")}`.trimEnd();
  const up = answers.filter((answer) => "status" in answer).length;
  const title = leader === undefined ? `coordinator quorum of ${answers.length}: NO LEADER serving (${up} of ${answers.length} answered)` : `coordinator quorum of ${answers.length}: leader ${leader.id}, term ${leader.term}, commit index ${leader.commitIndex} (${up} of ${answers.length} answered)`;
  return [title, format(header), ...rows.map(format)];
}
