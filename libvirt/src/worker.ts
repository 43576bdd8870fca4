/**
 * Worker thread for AsyncConnection: runs each libvirt call AND its error
 * read on this one thread (libvirt's last error is thread-local, which
 * koffi's `.async` does not respect), so a hung libvirtd never blocks the
 * main event loop.
 */
import { parentPort } from "node:worker_threads";
import { Connection } from "./connection.js";
import { LibvirtError, LibvirtUnavailableError } from "./errors.js";
import type { Request, Response } from "./protocol.js";
import { domainInfo } from "./raw.js";
import { infosOf } from "./domain.js";

let conn: Connection | null = null;

function current(): Connection {
  if (!conn) throw new Error("no connection: call open first");
  return conn;
}

function withDomain<T>(uuid: string, f: (d: import("./domain.js").Domain) => T): T {
  const d = current().lookupByUUID(uuid);
  try {
    return f(d);
  } finally {
    d.free();
  }
}

function run(req: Request): unknown {
  switch (req.op) {
    case "open":
      conn?.close();
      conn = req.readOnly ? Connection.openReadOnly(req.uri) : Connection.open(req.uri);
      return null;
    case "close":
      conn?.close();
      conn = null;
      return null;
    case "isAlive":
      return conn?.isAlive() ?? false;
    case "listDomains": {
      const doms = current().listAllDomains(req.flags);
      try {
        return infosOf(doms);
      } finally {
        for (const d of doms) d.free();
      }
    }
    case "domainXml":
      return withDomain(req.uuid, (d) => d.xml(req.flags));
    case "isPersistent":
      return withDomain(req.uuid, (d) => d.isPersistent);
    case "defineXML": {
      const d = current().defineXML(req.xml);
      try {
        return domainInfo(d.ptr).uuid;
      } finally {
        d.free();
      }
    }
    case "attachDevice":
      return withDomain(req.uuid, (d) => d.attachDevice(req.xml, req.flags));
  }
}

parentPort?.on("message", (msg: { id: number; req: Request }) => {
  let res: Response;
  try {
    res = { id: msg.id, ok: true, value: run(msg.req) ?? null };
  } catch (err) {
    res =
      err instanceof LibvirtError
        ? {
            id: msg.id,
            ok: false,
            error: {
              kind: "libvirt",
              code: err.code,
              domain: err.domain,
              level: err.level,
              message: err.message,
              call: err.call,
              ...(err.errno !== undefined ? { errno: err.errno } : {}),
            },
          }
        : err instanceof LibvirtUnavailableError
          ? { id: msg.id, ok: false, error: { kind: "unavailable", message: err.message } }
          : { id: msg.id, ok: false, error: { kind: "other", message: err instanceof Error ? err.message : String(err) } };
  }
  parentPort?.postMessage(res);
});
