/**
 * Re-authentication of the streams a node accepted (issue 16 item 2): a user deleted, or given a
 * new password, is cut off on the connections already logged in, not only refused at the next
 * login. Every LOGIN_RECHECK_MS the node looks at its user directory's version (the ACL
 * snapshot's, which moves with every user change: a broker learns one in a heartbeat reply); when
 * it moved, each logged-in stream looks its user up again (InboundStream.recheckLogin) and ends
 * UNAUTHENTICATED if the user is gone or its credentials differ from those its login proved. So a
 * deleted user is cut off within a heartbeat interval plus LOGIN_RECHECK_MS. Between changes a tick
 * costs one version read.
 */
import type { InboundStream } from "./inbound-stream.ts";
import { LOGIN_RECHECK_MS, type ScramServerConfig } from "./scram-link.ts";

export class LoginRecheck {
  private timer: ReturnType<typeof setInterval> | undefined;
  private seen: number | undefined;

  constructor(
    private readonly scram: ScramServerConfig,
    private readonly streams: () => Iterable<InboundStream>,
    private readonly everyMs = LOGIN_RECHECK_MS,
  ) {
    this.seen = scram.version?.();
  }

  start(): void {
    if (this.scram.version === undefined || this.timer !== undefined) return;
    this.timer = setInterval(() => this.tick(), this.everyMs);
    this.timer.unref();
  }

  /** Recheck every logged-in stream if the users may have changed; returns how many ended. */
  tick(): number {
    const version = this.scram.version?.();
    if (version === this.seen) return 0;
    this.seen = version;
    let ended = 0;
    for (const stream of [...this.streams()]) if (stream.recheckLogin()) ended++;
    return ended;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
