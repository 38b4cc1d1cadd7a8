/**
 * The entry point: `new ZhuMQ({ bootstrap })`, then `.producer()`, `.consumer()`, `.admin()`.
 *
 * Everything made from one ZhuMQ shares one connection to the cluster (a client-only node on the
 * gRPC transport), opened by the first `connect()` and closed by the last `disconnect()`. Once
 * all are disconnected, nothing of the client keeps the process alive.
 */
import type { NodeId } from "../ports/transport.ts";
import { Admin, type AdminOptions } from "./admin.ts";
import { ClientContext } from "./context.ts";
import { Consumer, type ConsumerOptions } from "./consumer.ts";
import { Producer, type ProducerOptions } from "./producer.ts";
import { useNativeCrc32c } from "../native/crc32c.ts";
import { useCompressionCodecs } from "../native/compression.ts";
import { checkOptions, CLIENT_RULES } from "./options.ts";
import type { ClientTlsOptions } from "./tls-option.ts";
import type { ClientAuthOptions } from "./auth-option.ts";

export interface ZhuMQOptions {
  /**
   * The coordinator: "host:port" (node id "coordinator"), "id@host:port", or a list of
   * "id@host:port" for the replicas of a coordinator quorum. Default "127.0.0.1:9090", where
   * `zhumq dev` puts it.
   */
  readonly bootstrap?: string | readonly string[];
  /** Names this client in the cluster (a random suffix keeps two instances apart). */
  readonly clientId?: string;
  /**
   * Node addresses that win over what the coordinator advertises ("broker-0": "10.0.0.5:9092").
   * Normally unneeded: brokers advertise where clients reach them.
   */
  readonly addresses?: Readonly<Record<NodeId, string>>;
  /** How long `connect()` waits for a coordinator to answer. Default 10,000 ms. */
  readonly connectTimeoutMs?: number;
  /**
   * Mutual TLS: `{ ca, cert, key }`, the PEM contents of the cluster's CA certificate and of this
   * client's certificate and key. Required when the cluster's nodes run with --tls-*.
   */
  readonly tls?: ClientTlsOptions;
  /**
   * Password login: `{ username, password }` of a user made with `zhumq user create`. Every
   * connection logs in with SCRAM-SHA-256 (the password never travels); the principal is
   * `User:<username>`. A wrong name or password fails `connect()` with AUTHENTICATION_FAILED.
   */
  readonly auth?: ClientAuthOptions;
}

/**
 * What the constructor accepts: zhumq's options plus the KafkaJS names it maps or refuses
 * (`connectionTimeout` is `connectTimeoutMs`; `brokers`, `ssl`, `sasl`, … throw UNSUPPORTED_OPTION).
 */
type ZhuMQInput = ZhuMQOptions & { readonly connectionTimeout?: number };

export class ZhuMQ {
  private readonly context: ClientContext;

  constructor(options: ZhuMQInput = {}) {
    // Producers checksum every batch they build: use the native CRC32C when the optional
    // package is installed (identical results; see src/native/crc32c.ts).
    useNativeCrc32c();
    // gzip, snappy and lz4 at once; zstd's WebAssembly loads on the first connect().
    useCompressionCodecs();
    this.context = new ClientContext(checkOptions(options, CLIENT_RULES));
  }

  producer(options: ProducerOptions = {}): Producer {
    return new Producer(this.context, options);
  }

  consumer(options: ConsumerOptions = {}): Consumer {
    return new Consumer(this.context, options);
  }

  admin(options: AdminOptions = {}): Admin {
    return new Admin(this.context, options);
  }
}
