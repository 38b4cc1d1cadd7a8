/**
 * Answers to the application. Each message is answered exactly once, and answering releases its
 * share of the buffer bounds.
 */
import { notify, send, type SendEffect } from "../shared/effects.ts";
import { wireError, type ErrorCode, type WireError } from "../shared/errors.ts";
import type { ZhumqMessage } from "../shared/messages.ts";
import type { ProducerOutcome } from "./events.ts";
import type { PendingMessage, Step } from "./state.ts";

function release(s: Step, message: PendingMessage): void {
  s.state.buffered.bytes -= message.sizeBytes;
  s.state.buffered.messages -= 1;
}

export function reportResult(s: Step, message: PendingMessage, partition: number, offset: number): void {
  release(s, message);
  s.effects.push(notify({ type: "producer.result", id: message.id, topic: message.topic, partition, offset }));
}

export function reportSent(s: Step, message: PendingMessage, partition: number): void {
  release(s, message);
  s.effects.push(notify({ type: "producer.sent", id: message.id, topic: message.topic, partition }));
}

export function reportError(s: Step, message: PendingMessage, partition: number | undefined, error: WireError, outcome: ProducerOutcome): void {
  release(s, message);
  s.effects.push(
    notify(
      partition === undefined
        ? { type: "producer.error", id: message.id, topic: message.topic, error, outcome }
        : { type: "producer.error", id: message.id, topic: message.topic, partition, error, outcome },
    ),
  );
}

/** An error for a message that never entered the producer (it is not counted in the buffer). */
export function rejectSend(s: Step, id: number, topic: string, partition: number | undefined, code: ErrorCode, message: string): void {
  const error = wireError(code, message);
  s.effects.push(
    notify(
      partition === undefined
        ? { type: "producer.error", id, topic, error, outcome: "failed" }
        : { type: "producer.error", id, topic, partition, error, outcome: "failed" },
    ),
  );
}

export function sendMessage(s: Step, to: string, message: ZhumqMessage, receipt?: number): void {
  const effect: SendEffect<ZhumqMessage> = send(to, message, receipt);
  s.effects.push(effect);
}

export function nextRequestId(s: Step): number {
  return s.state.nextRequestId++;
}
