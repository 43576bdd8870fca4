/** Messages between AsyncConnection and its worker thread: plain data only. */
export type Request =
  | { op: "open"; uri: string; readOnly: boolean }
  | { op: "close" }
  | { op: "isAlive" }
  | { op: "listDomains"; flags: number }
  | { op: "domainXml"; uuid: string; flags: number }
  | { op: "isPersistent"; uuid: string }
  | { op: "defineXML"; xml: string }
  | { op: "attachDevice"; uuid: string; xml: string; flags: number };

export type WireError =
  | { kind: "libvirt"; code: number; domain: number; level: number; message: string; call: string; errno?: number }
  | { kind: "unavailable"; message: string }
  | { kind: "other"; message: string };

export type Response = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };
