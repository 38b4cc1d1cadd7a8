/// <reference types="node" preserve="true" />
/**
 * zhumq, the library: the public TypeScript client (docs/client.md). Only what an application
 * needs is exported here; the actors, the simulator, the storage engine and the transport stay
 * internal (reach them by path if you are working on zhumq itself).
 */
export { ZhuMQ, type ZhuMQOptions } from "./client/zhumq.ts";
export type { ClientTlsContents, ClientTlsFiles, ClientTlsOptions } from "./client/tls-option.ts";
export { Producer, type ProducerOptions } from "./client/producer.ts";
export type { Message, ProducerRecord, RecordMetadata } from "./client/produce-input.ts";
export { Consumer, type ConsumerEvent, type ConsumerEventType, type ConsumerMode, type ConsumerOptions, type MessagesOptions, type RunOptions } from "./client/consumer.ts";
export type { SubscribeOptions } from "./client/subscribe.ts";
export type { Batch, ConsumedMessage, EachBatchPayload, EachMessagePayload } from "./client/consumed.ts";
export type { ResetListener } from "./client/delivery.ts";
export type { BatchHandler, MessageHandler } from "./client/session.ts";
export { Admin, type AdminOptions, type BrokerDescription, type CreateTopicOptions, type PartitionDescription, type PartitionOffsets, type ReplicaDescription, type TopicDescription } from "./client/admin.ts";
export type { FetchOffsetsOptions, GroupDetails, GroupMemberDetails, GroupPartitionDetails, ResetOffsetsOptions, ResetTarget } from "./client/group-admin.ts";
export type { CommittedOffset, GroupState, GroupSummary, TopicPartitions } from "./actors/shared/group-messages.ts";
export { ClientCrashError, DeliveryUnknownError, SendError, ZhumqError, type ErrorCode, type MessageOutcome } from "./client/errors.ts";
export type { MessageBytes, MessageHeaders, ReceivedHeaders } from "./client/bytes.ts";
export type { AckLevel, ReplicationMode } from "./actors/shared/messages.ts";
export type { AclRule, AclOperation, AclResourceType, AclPatternType } from "./actors/shared/acl.ts";
