// Type definitions for @weir/sdk (hand-written; the implementation is index.js + lib/).
/// <reference types="node" />

export type Bytes = string | Buffer | Uint8Array;
export type Brokers = string | string[];

// ---------------------------------------------------------------- errors

export type ErrorCode =
  | 'UNKNOWN_TOPIC'
  | 'UNKNOWN_PARTITION'
  | 'REJECTED'
  | 'NOT_AUTHORIZED'
  | 'RECORD_TOO_LARGE'
  | 'UNREACHABLE'
  | 'TIMEOUT'
  | 'CANCELLED'
  | 'GROUP_NOT_EMPTY'
  | 'CONFIG'
  | 'API'
  | 'WRITE'
  | 'PAYLOAD'
  | 'CLOSED'
  | 'KAFKA';

/** Every error the SDK throws for Weir or configuration problems. */
export class WeirError extends Error {
  name: 'WeirError';
  code: ErrorCode;
  /** True when retrying the same call later may succeed. */
  retriable: boolean;
  /** The topic concerned (UNKNOWN_TOPIC, REJECTED, RECORD_TOO_LARGE, …). */
  topic?: string;
  partition?: number;
  /** REJECTED: the plugin's reason. */
  reason?: string;
  /** GROUP_NOT_EMPTY. */
  groupId?: string;
  /** API: the HTTP status of Weir's admin API. */
  status?: number;
  /** librdkafka's name of the Kafka error code, e.g. `InvalidRecord`. */
  kafkaCode?: string;
  /** WRITE: how many messages the call had, and one error per failed message (with `index`). */
  total?: number;
  failed?: WeirError[];
  /** In `failed`: the message's index in the call. */
  index?: number;
}

// ---------------------------------------------------------------- Go-style

/** kafka-go's FirstOffset: the oldest record still stored. */
export const FIRST_OFFSET: -2;
/** kafka-go's LastOffset: the next record to be written. */
export const LAST_OFFSET: -1;

export interface Header {
  key: string;
  value: Buffer | null;
}

export type HeadersInput =
  | Array<{ key: string; value: Bytes | null }>
  | Array<[string, Bytes | null]>
  | Record<string, Bytes | null | Array<Bytes | null>>;

export interface MessageInput {
  /** Defaults to the writer's topic. */
  topic?: string;
  key?: Bytes | null;
  value?: Bytes | null;
  headers?: HeadersInput;
  /** Overrides the balancer. */
  partition?: number;
  /** ms since the epoch (number, numeric string or Date). */
  timestamp?: number | string | Date;
}

export interface Delivery {
  topic: string;
  partition: number;
  offset: number;
}

export interface Message {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  /** In record order; repeated keys kept. */
  headers: Header[];
  /** ms since the epoch. */
  timestamp: number | null;
  time: Date | null;
}

export interface WriterConfig {
  brokers: Brokers;
  topic?: string;
  /** `hash` (murmur2 of the key, as Java; default) or `roundRobin`. */
  balancer?: 'hash' | 'roundRobin';
  /** Default `all`. */
  requiredAcks?: 'all' | 'leader' | 'none';
  compression?: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  /** Most messages per batch. */
  batchSize?: number;
  /** Most bytes per batch. */
  batchBytes?: number;
  /** How long a batch waits to fill (linger.ms). */
  batchTimeoutMs?: number;
  /** Default true; needs requiredAcks `all`. */
  idempotent?: boolean;
  /** How long a message may take, retries included. */
  writeTimeoutMs?: number;
  clientId?: string;
  /** Weir's HTTP admin API (for plugin rejection reasons); default http://<first broker host>:9644. */
  adminUrl?: string;
  /** Other librdkafka properties. */
  extra?: Record<string, string | number | boolean>;
}

export class Writer {
  constructor(config: WriterConfig);
  readonly config: WriterConfig;
  /** Writes and waits for every acknowledgement; deliveries in message order. Throws WRITE when some fail. */
  writeMessages(messages: Array<MessageInput | Bytes>, options?: { timeoutMs?: number }): Promise<Delivery[]>;
  writeMessage(message: MessageInput | Bytes, options?: { timeoutMs?: number }): Promise<Delivery>;
  flush(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface ReaderConfig {
  brokers: Brokers;
  topic?: string | RegExp;
  /** In a group, a name starting with `^` (or a RegExp) is a pattern. */
  topics?: Array<string | RegExp>;
  /** Without a group the reader reads partitions directly, with no committed offsets. */
  groupId?: string;
  /** Without a group: the partition to read (default: all). */
  partition?: number;
  /** Where to start without a committed offset (default `earliest`). */
  startOffset?: 'earliest' | 'latest';
  /** How often offsets marked by readMessage are committed (default 1000). */
  commitIntervalMs?: number;
  maxWaitMs?: number;
  minBytes?: number;
  maxBytes?: number;
  sessionTimeoutMs?: number;
  /** Default true. */
  readCommitted?: boolean;
  clientId?: string;
  extra?: Record<string, string | number | boolean>;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface PartitionLag {
  topic: string;
  partition: number;
  /** Next offset to read; -1 if unknown. */
  position: number;
  highWatermark: number;
  lag: number;
}

export class Reader implements AsyncIterable<Message> {
  constructor(config: ReaderConfig);
  readonly config: ReaderConfig;
  /** Joins the group or assigns partitions; the other methods call it. */
  connect(): Promise<void>;
  /** The next message, committed within commitIntervalMs (in a group); null on timeout or close. */
  readMessage(options?: { timeoutMs?: number } | number): Promise<Message | null>;
  /** The next message without committing it; null on timeout or close. */
  fetchMessage(options?: { timeoutMs?: number } | number): Promise<Message | null>;
  /** Commits, per partition, the offset after the highest message given. */
  commitMessages(messages: Array<{ topic: string; partition: number; offset: number | string }> | Message): Promise<void>;
  /** FIRST_OFFSET, LAST_OFFSET or an absolute offset, on an assigned partition. */
  seek(topic: string, partition: number, offset: number): Promise<void>;
  setOffset(offset: number): Promise<void>;
  lag(): Promise<PartitionLag[]>;
  assignment(): Promise<TopicPartition[]>;
  pause(partitions: TopicPartition[]): Promise<void>;
  resume(partitions: TopicPartition[]): Promise<void>;
  /** Ends pending reads, commits what readMessage marked and leaves the group. */
  close(): Promise<void>;
  [Symbol.asyncIterator](): AsyncIterator<Message>;
}

export interface AdminConfig {
  brokers: Brokers;
  adminUrl?: string;
  timeoutMs?: number;
  clientId?: string;
  extra?: Record<string, string | number | boolean>;
}

export interface TopicSpec {
  name: string;
  partitions?: number;
  /** -1 (default) for the broker's default. */
  replicationFactor?: number;
  configs?: Record<string, string | number>;
}

export interface TopicInfo {
  name: string;
  partitions: Array<{ partition: number; leader: number; replicas: number[]; isr: number[] }>;
  /** Every config with its effective value. */
  configs: Record<string, string>;
}

export interface GroupInfo {
  groupId: string;
  /** Stable, PreparingRebalance, CompletingRebalance, Empty or Dead. */
  state: string;
  protocolType: string;
  protocol: string;
  members: Array<{ memberId: string; clientId: string; clientHost: string; assignment: TopicPartition[] }>;
}

export interface PluginInfo {
  name: string;
  version: string;
  sha256: string;
  size: number;
  config: Record<string, string>;
  memoryBytes: number;
  timeoutMs: number;
  deployedAtMs: number;
  health: { state: string; consecutiveFailures: number; failuresTotal: number; lastError: string | null } | null;
  topics: string[];
  pipelines: string[];
}

export interface PluginLogLine {
  timestampMs: number;
  level: string;
  message: string;
}

export interface DeadLetter {
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  value: string | null;
  headers: Array<[string, string | null]>;
  reason: string | null;
  plugin: string | null;
  sourceTopic: string | null;
  sourcePartition: number | null;
  sourceOffset: number | null;
}

export interface ReplayReport {
  replayed: number;
  appended: number;
  deadLetteredAgain: number;
  rejected: number;
  routed: number;
  skipped: number;
}

export interface PluginOptions {
  /** Default "1". */
  version?: string;
  memoryMb?: number;
  timeoutMs?: number;
  /** Passed to the plugin's init. */
  config?: Record<string, string>;
}

export type OffsetResetTarget = 'earliest' | 'latest' | number | { offset: number } | { timestamp: number };

export class Admin {
  constructor(config: AdminConfig);
  readonly adminUrl: string;
  createTopic(spec: TopicSpec): Promise<void>;
  deleteTopic(name: string): Promise<void>;
  /** Grows `name` to `total` partitions. */
  createPartitions(name: string, total: number): Promise<void>;
  listTopics(): Promise<string[]>;
  describeTopic(name: string): Promise<TopicInfo>;
  alterTopicConfigs(name: string, change: { set?: Record<string, string | number>; delete?: string[] }): Promise<void>;
  listGroups(): Promise<GroupInfo[]>;
  describeGroup(groupId: string): Promise<GroupInfo>;
  groupLag(groupId: string): Promise<PartitionLag[]>;
  /** The group must have no live members. */
  resetOffsets(groupId: string, topic: string, to: OffsetResetTarget): Promise<Array<{ partition: number; offset: number }>>;
  deleteGroup(groupId: string): Promise<void>;
  /** `wasm`: the component's bytes or a path to it. */
  deployPlugin(name: string, wasm: Buffer | Uint8Array | string, options?: PluginOptions): Promise<PluginInfo>;
  listPlugins(): Promise<PluginInfo[]>;
  describePlugin(name: string): Promise<PluginInfo>;
  removePlugin(name: string): Promise<void>;
  pluginLogs(name: string, options?: { limit?: number }): Promise<PluginLogLine[]>;
  /** The chain of plugins on the topic's produce path; [] detaches them. */
  setTopicPlugins(topic: string, names: string[]): Promise<void>;
  inspectDeadLetters(dlqTopic: string, options?: { offset?: number; limit?: number }): Promise<DeadLetter[]>;
  replayDeadLetters(dlqTopic: string, options?: { to?: string; from?: number }): Promise<ReplayReport>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- kafkajs-style

export const CompressionTypes: { None: 0; GZIP: 1; Snappy: 2; LZ4: 3; ZSTD: 4 };
export const logLevel: { NOTHING: 0; ERROR: 1; WARN: 2; INFO: 4; DEBUG: 5 };
export type Compression = 0 | 1 | 2 | 3 | 4 | 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

export interface WeirConfig {
  brokers: Brokers;
  clientId?: string;
  /** Weir's HTTP admin API; default http://<first broker host>:9644. */
  adminUrl?: string;
  /** Default logLevel.ERROR (consumer handler errors are logged). */
  logLevel?: number;
}

export class Weir {
  constructor(config: WeirConfig);
  producer(options?: ProducerConfig): Producer;
  consumer(options: ConsumerConfig): Consumer;
  admin(options?: { timeout?: number; extra?: Record<string, string> }): KafkaAdmin;
}

export interface ProducerConfig {
  /** Default true when acks is all (-1), else false. */
  idempotent?: boolean;
  /** -1 all (default), 1 leader, 0 none. */
  acks?: -1 | 0 | 1 | 'all' | 'leader' | 'none';
  compression?: Compression;
  lingerMs?: number;
  batchSize?: number;
  /** Write timeout in ms. */
  timeout?: number;
  extra?: Record<string, string | number | boolean>;
}

export type IHeaders = Record<string, Bytes | null | Array<Bytes | null> | undefined>;

export interface ProducerMessage {
  key?: Bytes | null;
  value: Bytes | null;
  headers?: IHeaders;
  partition?: number;
  /** ms since the epoch, as a string (kafkajs) or number. */
  timestamp?: string | number;
}

export interface ProducerRecord {
  topic: string;
  messages: ProducerMessage[];
  acks?: -1 | 0 | 1;
  compression?: Compression;
  timeout?: number;
}

export interface RecordMetadata {
  topicName: string;
  partition: number;
  errorCode: number;
  /** First offset written to this partition by the call. */
  baseOffset: string;
  offset: string;
  logAppendTime: string;
  logStartOffset: string;
}

export class Producer {
  connect(): Promise<void>;
  send(record: ProducerRecord): Promise<RecordMetadata[]>;
  sendBatch(batch: { topicMessages: Array<{ topic: string; messages: ProducerMessage[] }>; acks?: -1 | 0 | 1; compression?: Compression; timeout?: number }): Promise<RecordMetadata[]>;
  flush(options?: { timeout?: number }): Promise<void>;
  disconnect(): Promise<void>;
}

export interface ConsumerConfig {
  groupId: string;
  sessionTimeout?: number;
  rebalanceTimeout?: number;
  heartbeatInterval?: number;
  maxWaitTimeInMs?: number;
  minBytes?: number;
  maxBytes?: number;
  maxBytesPerPartition?: number;
  readUncommitted?: boolean;
  /** Backoff of a failing handler: initialRetryTime (300) doubling up to maxRetryTime (30000). */
  retry?: { initialRetryTime?: number; maxRetryTime?: number };
  extra?: Record<string, string | number | boolean>;
}

export interface KafkaMessage {
  key: Buffer | null;
  value: Buffer | null;
  /** Repeated keys become arrays, in record order. */
  headers: Record<string, Buffer | null | Array<Buffer | null>>;
  offset: string;
  timestamp: string;
  attributes: number;
  size: number;
}

export interface EachMessagePayload {
  topic: string;
  partition: number;
  message: KafkaMessage;
  heartbeat(): Promise<void>;
  /** Pauses this partition; returns a function that resumes it. */
  pause(): () => void;
}

export interface Batch {
  topic: string;
  partition: number;
  highWatermark: string;
  messages: KafkaMessage[];
  isEmpty(): boolean;
  firstOffset(): string | null;
  lastOffset(): string;
  offsetLag(): string;
  offsetLagLow(): string;
}

export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  /** The next offset to read. */
  offset: string;
}

export interface EachBatchPayload {
  batch: Batch;
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  commitOffsetsIfNecessary(offsets?: TopicPartitionOffset[]): Promise<void>;
  uncommittedOffsets(): { topics: Array<{ topic: string; partitions: Array<{ partition: string; offset: string }> }> };
  isRunning(): boolean;
  isStale(): boolean;
  pause(): () => void;
}

export interface ConsumerRunConfig {
  /** Default true: handled (resolved) offsets are committed after each batch. */
  autoCommit?: boolean;
  /** Default true: the whole batch is resolved when eachBatch returns. */
  eachBatchAutoResolve?: boolean;
  partitionsConsumedConcurrently?: number;
  eachMessage?(payload: EachMessagePayload): Promise<void>;
  eachBatch?(payload: EachBatchPayload): Promise<void>;
}

export class Consumer {
  connect(): Promise<void>;
  /** Strings and RegExps; with fromBeginning, partitions without a committed offset start at the earliest. */
  subscribe(subscription: { topic?: string | RegExp; topics?: Array<string | RegExp>; fromBeginning?: boolean }): Promise<void>;
  /** Resolves once the consumer has subscribed; messages flow to the handler in the background. */
  run(config: ConsumerRunConfig): Promise<void>;
  commitOffsets(offsets: TopicPartitionOffset[]): Promise<void>;
  seek(target: { topic: string; partition: number; offset: string }): void;
  pause(topics: Array<{ topic: string; partitions?: number[] }>): void;
  resume(topics: Array<{ topic: string; partitions?: number[] }>): void;
  paused(): Array<{ topic: string; partitions: number[] }>;
  assignment(): TopicPartition[];
  /** Stops after the batch in hand, commits handled offsets and leaves the group. */
  stop(): Promise<void>;
  disconnect(): Promise<void>;
}

export interface ITopicConfig {
  topic: string;
  numPartitions?: number;
  replicationFactor?: number;
  configEntries?: Array<{ name: string; value: string }>;
}

export class KafkaAdmin {
  /** The Go-style Admin underneath. */
  readonly weir: Admin;
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  /** True if every topic was created, false if some already existed. */
  createTopics(options: { topics: ITopicConfig[]; validateOnly?: boolean; waitForLeaders?: boolean; timeout?: number }): Promise<boolean>;
  deleteTopics(options: { topics: string[]; timeout?: number }): Promise<void>;
  listTopics(): Promise<string[]>;
  fetchTopicMetadata(options?: { topics?: string[] }): Promise<{
    topics: Array<{
      name: string;
      partitions: Array<{ partitionErrorCode: number; partitionId: number; leader: number; replicas: number[]; isr: number[]; offlineReplicas: number[] }>;
    }>;
  }>;
  /** `count` is the new total number of partitions. */
  createPartitions(options: { topicPartitions: Array<{ topic: string; count: number }> }): Promise<boolean>;
  listGroups(): Promise<{ groups: Array<{ groupId: string; protocolType: string }> }>;
  describeGroups(groupIds: string[]): Promise<{ groups: Array<GroupInfo & { errorCode: number }> }>;
  /** Offsets as strings; '-1' where the group has not committed. */
  fetchOffsets(options: { groupId: string; topics?: string[] }): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string; metadata: null }> }>>;
  lag(options: { groupId: string }): Promise<PartitionLag[]>;
  resetOffsets(options: { groupId: string; topic: string; earliest?: boolean }): Promise<Array<{ partition: number; offset: number }>>;
  deleteGroups(groupIds: string[]): Promise<Array<{ groupId: string; errorCode: number }>>;
  deployPlugin(options: { name: string; wasm: Buffer | Uint8Array | string } & PluginOptions): Promise<PluginInfo>;
  listPlugins(): Promise<PluginInfo[]>;
  describePlugin(name: string): Promise<PluginInfo>;
  removePlugin(name: string | { name: string }): Promise<void>;
  pluginLogs(name: string, options?: { limit?: number }): Promise<PluginLogLine[]>;
  setTopicPlugins(topic: string, names: string[]): Promise<void>;
  inspectDeadLetters(dlqTopic: string, options?: { offset?: number; limit?: number }): Promise<DeadLetter[]>;
  replayDeadLetters(dlqTopic: string, options?: { to?: string; from?: number }): Promise<ReplayReport>;
}
