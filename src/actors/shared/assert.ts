/**
 * Assertions: a failed one is a bug, not an operating error. It throws inside the actor, and the
 * host turns that into a crash of the node (fail-stop), reported with the actor and the event.
 */
export class AssertionFailure extends Error {
  override readonly name = "AssertionFailure";
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionFailure(message);
}
