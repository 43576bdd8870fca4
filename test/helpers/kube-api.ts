/**
 * A stand-in for the Kubernetes API server: no API server can run on this
 * machine, so the tests serve recorded pod lists and watch streams (the
 * API's own JSON shapes) over HTTPS, with the test PKI's certificate, and
 * a service account directory (token, ca.crt) as a pod has mounted. It
 * records every request, so a test can check what scaph asked for.
 */
import { createServer } from "node:https";
import type { Server } from "node:https";
import type { ServerResponse } from "node:http";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { testPki } from "@scaph/test-support";

export interface KubeRequest {
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
}

export interface StandInApi {
  url: string;
  /** Holds `token` and `ca.crt`, as /var/run/secrets/kubernetes.io/serviceaccount does. */
  serviceAccountDir: string;
  /** A CA that did not sign the server's certificate. */
  otherCaDir: string;
  requests: KubeRequest[];
  close(): Promise<void>;
}

export const TOKEN = "stand-in-service-account-token";

/**
 * `list(n)`: the pod list of the n-th list (from 1; its pages, asked with
 * `limit` and `continue`, are served from it). `watch(n, res)`:
 * serves the n-th watch; it may write events and end or destroy the stream.
 */
export async function startStandInApi(handlers: { list: (n: number) => unknown; watch: (n: number, res: ServerResponse) => void }): Promise<StandInApi> {
  const pki = testPki();
  const dir = mkdtempSync(join(tmpdir(), "scaph-kube-"));
  const sa = join(dir, "sa");
  const other = join(dir, "other-sa");
  for (const [d, ca] of [
    [sa, pki.ca],
    [other, pki.otherCa],
  ] as const) {
    mkdirSync(d);
    writeFileSync(join(d, "ca.crt"), ca);
    writeFileSync(join(d, "token"), `${TOKEN}\n`);
  }
  const requests: KubeRequest[] = [];
  let lists = 0;
  let watches = 0;
  let current: unknown = null;
  const server: Server = createServer({ cert: pki.kubernetes.cert, key: pki.kubernetes.key }, (req, res) => {
    const u = new URL(req.url ?? "/", "https://127.0.0.1");
    requests.push({ path: u.pathname, query: u.searchParams, authorization: req.headers.authorization });
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ kind: "Status", code: 401, reason: "Unauthorized" }));
      return;
    }
    if (u.pathname !== "/api/v1/pods") {
      res.writeHead(404).end();
      return;
    }
    if (u.searchParams.get("watch") === "1") {
      res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
      handlers.watch(++watches, res);
      return;
    }
    // pages, as the API serves them: `limit` pods, and a `continue` token while more remain
    const token = u.searchParams.get("continue");
    if (token === null || current === null) current = handlers.list(++lists);
    const limit = Number(u.searchParams.get("limit") ?? "0");
    const list = current as { items?: unknown; metadata?: Record<string, unknown> } | null;
    let body: unknown = current;
    if (limit > 0 && list !== null && typeof list === "object" && Array.isArray(list.items)) {
      const from = Number(token ?? "0");
      const more = from + limit < list.items.length;
      body = { ...list, items: list.items.slice(from, from + limit), metadata: { ...list.metadata, ...(more ? { continue: String(from + limit) } : {}) } };
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}`,
    serviceAccountDir: sa,
    otherCaDir: other,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A pod object as the API serves it (the fields scaph reads, and a few around them). */
export function pod(p: {
  name: string;
  namespace: string;
  uid: string;
  node: string;
  containers: [string, string][];
  mirror?: string;
  resourceVersion?: string;
}): unknown {
  return {
    metadata: {
      name: p.name,
      namespace: p.namespace,
      uid: p.uid,
      resourceVersion: p.resourceVersion ?? "1000",
      labels: { app: p.name.split("-")[0] },
      ...(p.mirror ? { annotations: { "kubernetes.io/config.mirror": p.mirror, "kubernetes.io/config.source": "file" } } : {}),
    },
    spec: { nodeName: p.node, containers: p.containers.map(([name]) => ({ name, image: `${name}:1` })) },
    status: {
      phase: "Running",
      containerStatuses: p.containers.map(([name, id]) => ({ name, containerID: id, ready: true, restartCount: 0, image: `${name}:1` })),
    },
  };
}

export function podList(items: unknown[], resourceVersion: string): unknown {
  return { kind: "PodList", apiVersion: "v1", metadata: { resourceVersion }, items };
}

/** An exporter's flags to measure `proc` with --containers against the stand-in API server, as node `node`'s agent (the estimate sensor, 0.3 s steps). */
export function standInNodeArgs(api: { url: string; serviceAccountDir: string }, proc: string, node = "node-a"): string[] {
  return [
    "--step",
    "0.3",
    "--sensor",
    "estimate",
    "--procfs-path",
    proc,
    "--containers",
    "--kubernetes-api",
    api.url,
    "--kubernetes-service-account",
    api.serviceAccountDir,
    "--kubernetes-node",
    node,
  ];
}
