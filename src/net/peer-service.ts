/**
 * The `zhumq.v1.Peer` service of zhumq.proto, declared for grpc-js by hand.
 *
 * Why not @grpc/proto-loader and protobuf.js: a frame is three fields and its payload is already
 * bytes from our own codec, so the general runtime would only add a decode/encode pass and an
 * object per message on the data path. The serializers here pass Buffers through untouched;
 * frame.ts does the protobuf encoding, once, into the buffer gRPC sends.
 */
import type { Buffer } from "node:buffer";
import type { ServerInterceptor, ServiceDefinition, StatusObject } from "@grpc/grpc-js";
import { ServerInterceptingCall } from "@grpc/grpc-js";

type PartialStatusObject = Pick<StatusObject, "code" | "details">;

export const PEER_LINK_PATH = "/zhumq.v1.Peer/Link";

export const passThrough = (bytes: Buffer): Buffer => bytes;

export const peerService: ServiceDefinition = {
  Link: {
    path: PEER_LINK_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: passThrough,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
    responseDeserialize: passThrough,
  },
};

/**
 * A server interceptor that reports every status the server sends, including the ones grpc-js
 * sends on its own from deep inside (RESOURCE_EXHAUSTED for an oversize message), which pass
 * neither through handlers nor through interceptor responders. grpc-js 1.14 sends those by
 * calling `sendStatus` on the innermost call object — the `call` the first interceptor receives —
 * so wrapping that method on that object is the one place to see them. Only a call's first status
 * is reported. The oversize test in
 * bad-input.test.ts fails if a grpc-js upgrade moves this.
 */
export function observeStatuses(onStatus: (status: PartialStatusObject) => void): ServerInterceptor {
  return (_method, call) => {
    const inner = call as { sendStatus(status: PartialStatusObject): void };
    const sendStatus = inner.sendStatus.bind(inner);
    let reported = false;
    inner.sendStatus = (status) => {
      // grpc-js may call it again for the same call (more data after an oversize message).
      if (!reported) onStatus(status);
      reported = true;
      sendStatus(status);
    };
    return new ServerInterceptingCall(call);
  };
}
