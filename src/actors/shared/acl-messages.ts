/**
 * Administering ACLs (acl.ts) on the coordinator: `zhumq acl add|remove|list` and the Admin
 * client's `addAcls` / `removeAcls` / `listAcls`. Every one needs cluster admin when the
 * coordinator's authorizer is on. Adding a rule that exists, or removing one that does not, is a
 * success that changes nothing (so retries are harmless).
 */
import type { WireError } from "./errors.ts";
import type { AclRule } from "./acl.ts";

export interface AclAdd {
  readonly type: "acl.add";
  readonly requestId: number;
  readonly rules: readonly AclRule[];
}
export interface AclAddReply {
  readonly type: "acl.add.reply";
  readonly requestId: number;
  readonly error?: WireError;
  /** How many of the rules were new. */
  readonly added: number;
}

export interface AclRemove {
  readonly type: "acl.remove";
  readonly requestId: number;
  readonly rules: readonly AclRule[];
}
export interface AclRemoveReply {
  readonly type: "acl.remove.reply";
  readonly requestId: number;
  readonly error?: WireError;
  /** How many of the rules existed (and are gone now). */
  readonly removed: number;
}

export interface AclList {
  readonly type: "acl.list";
  readonly requestId: number;
  /** Only rules of this principal (absent: all). */
  readonly principal?: string;
}
export interface AclListReply {
  readonly type: "acl.list.reply";
  readonly requestId: number;
  readonly error?: WireError;
  readonly rules: readonly AclRule[];
  /** Whether this coordinator enforces them (`--authorizer on`). */
  readonly enforced: boolean;
  readonly version: number;
}

export type AclRequestMessage = AclAdd | AclRemove | AclList;
export type AclReplyMessage = AclAddReply | AclRemoveReply | AclListReply;

/** Rules one add or remove request may carry. */
export const ACL_RULES_PER_REQUEST_MAX = 100;
