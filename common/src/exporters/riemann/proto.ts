import type * as Protobuf from "protobufjs";

/**
 * Riemann's protocol buffers (riemann-java-client's proto.proto, with the
 * field numbers Riemann servers and clients use), as protobufjs parses it.
 * Msg frames go over TCP as a 4-byte big-endian length, then the bytes.
 */
export const RIEMANN_PROTO = `
syntax = "proto2";
message State {
  optional int64 time = 1;
  optional string state = 2;
  optional string service = 3;
  optional string host = 4;
  optional string description = 5;
  optional bool once = 6;
  repeated string tags = 7;
  optional float ttl = 8;
}
message Event {
  optional int64 time = 1;
  optional string state = 2;
  optional string service = 3;
  optional string host = 4;
  optional string description = 5;
  repeated string tags = 7;
  optional float ttl = 8;
  repeated Attribute attributes = 9;
  optional int64 time_micros = 10;
  optional sint64 metric_sint64 = 13;
  optional double metric_d = 14;
  optional float metric_f = 15;
}
message Query {
  optional string string = 1;
}
message Msg {
  optional bool ok = 2;
  optional string error = 3;
  repeated State states = 4;
  optional Query query = 5;
  repeated Event events = 6;
}
message Attribute {
  required string key = 1;
  optional string value = 2;
}
`;

/** A Riemann event as scaph sends it. */
export interface RiemannEvent {
  time: number;
  time_micros: number;
  state: string;
  service: string;
  host: string;
  description: string;
  tags: string[];
  ttl: number;
  attributes: { key: string; value: string }[];
  metric_d: number;
}

/** A decoded Msg (what a server answers, or what a test server received). */
export interface RiemannMsg {
  ok?: boolean;
  error?: string;
  events?: (Partial<RiemannEvent> & { metric_sint64?: number; metric_f?: number })[];
  query?: { string?: string };
}

let msgType: Protobuf.Type | null = null;

/** Loads protobufjs and Riemann's Msg type; encodeFrame and decodeMsg need it loaded. */
export async function loadRiemannProto(): Promise<Protobuf.Type> {
  if (msgType) return msgType;
  const mod = (await import("protobufjs")) as typeof Protobuf & { default?: typeof Protobuf };
  const protobuf = mod.default ?? mod;
  msgType = protobuf.parse(RIEMANN_PROTO, { keepCase: true }).root.lookupType("Msg");
  return msgType;
}

function riemannMsgType(): Protobuf.Type {
  if (!msgType) throw new Error("Riemann's protocol is not loaded: await loadRiemannProto() first");
  return msgType;
}

/** A Msg, framed: 4-byte big-endian length, then the protobuf bytes. */
export function encodeFrame(msg: RiemannMsg): Buffer {
  const type = riemannMsgType();
  const body = type.encode(type.fromObject(msg)).finish();
  const frame = Buffer.alloc(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  Buffer.from(body.buffer, body.byteOffset, body.length).copy(frame, 4);
  return frame;
}

/** Decodes a Msg's protobuf bytes (no length prefix), int64s as numbers. */
export function decodeMsg(bytes: Uint8Array): RiemannMsg {
  const type = riemannMsgType();
  return type.toObject(type.decode(bytes), { longs: Number, defaults: false, arrays: true });
}

/** Splits complete frames off the front of `buf`; returns them and what is left. */
export function takeFrames(buf: Buffer, maxFrame = 64 * 1024 * 1024): { frames: Buffer[]; rest: Buffer } {
  const frames: Buffer[] = [];
  let off = 0;
  while (buf.length - off >= 4) {
    const len = buf.readUInt32BE(off);
    if (len > maxFrame) throw new Error(`a Riemann frame of ${len} bytes (more than ${maxFrame})`);
    if (buf.length - off - 4 < len) break;
    frames.push(buf.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  return { frames, rest: buf.subarray(off) };
}
