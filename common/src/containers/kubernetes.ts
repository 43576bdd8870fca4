/**
 * The pods of this node, from the Kubernetes API as a pod sees it (the
 * in-cluster service account: its token, and its CA to verify the API
 * server): listed with `fieldSelector=spec.nodeName=NODE`, then watched from
 * the list's resourceVersion. A watch that ends (the server's timeout, a
 * reset, a 410 Gone) is followed by a new list: the resync. Only pods on
 * this node are ever fetched. The list comes in pages; an event changes
 * its own pod's entries, and bumps the generation (what makes the
 * containers' labels be built again) only when a lookup's answer changed.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { ScaphError, errnoCode, errorMessage } from "../errors.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import { keepFollowing } from "./backoff.js";
import { getJson, HttpCallError, streamJsonLines } from "./http.js";
import type { Endpoint } from "./http.js";
import type { PodInfo } from "./info.js";
import type { PodDirectory } from "./source.js";

export const DEFAULT_SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export const KUBE_LIMITS = {
  timeoutMs: 5000,
  maxListBytes: 64 * 1024 * 1024,
  maxEventBytes: 4 * 1024 * 1024,
  /** A watch lasts this long, then the pods are listed again (the resync). */
  watchSeconds: 300,
  maxPods: 10_000,
  /** Pods per page of a list (the API's limit and continue): each page is parsed on its own. */
  pageSize: 500,
};

export interface KubernetesOptions {
  /** `https://HOST:PORT` of the API server. */
  apiUrl: URL;
  /** Holds `token` and `ca.crt`. */
  serviceAccountDir: string;
  nodeName: string;
  log?: Logger;
}

/**
 * Where the API server is, from the options or, in a pod, from the
 * environment Kubernetes gives every pod; null where neither says.
 */
export function kubernetesApiUrl(given: string | undefined, env: NodeJS.ProcessEnv = process.env): URL | null {
  if (given) {
    try {
      const u = new URL(given);
      if (u.protocol !== "https:") throw new Error("not https");
      return u;
    } catch {
      throw new ScaphError(`--kubernetes-api ${given}: not an https:// URL`);
    }
  }
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) return null;
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  return new URL(`https://${host.includes(":") ? `[${host}]` : host}:${port}`);
}

/** This node's name: the option, else $NODE_NAME (the downward API), else the host name. */
export function kubernetesNodeName(given: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return given || env.NODE_NAME || hostname();
}

interface PodEntry {
  pod: PodInfo;
  containers: { id: string; name: string; runtime: string }[];
  /** A static pod's UID in its cgroup path: the config hash its mirror pod carries as an annotation. */
  mirrorUid: string | null;
}

const RUNTIMES: Record<string, string> = { containerd: "containerd", "cri-o": "cri-o", docker: "docker" };
const CONTAINER_ID = /^([a-z-]+):\/\/([0-9a-f]{64})$/;
const str = (v: unknown, max = 253): string | null => (typeof v === "string" && v.length > 0 && v.length <= max ? v : null);

/** A pod object of the API as scaph keeps it, or null where a field it needs does not check out. */
export function parsePod(value: unknown): PodEntry | null {
  if (typeof value !== "object" || value === null) return null;
  const { metadata, spec, status } = value as { metadata?: Record<string, unknown>; spec?: Record<string, unknown>; status?: Record<string, unknown> };
  const name = str(metadata?.name);
  const namespace = str(metadata?.namespace, 63);
  const uid = str(metadata?.uid, 64)?.toLowerCase() ?? null;
  if (!name || !namespace || !uid) return null;
  const node = str(spec?.nodeName) ?? "";
  const containers: PodEntry["containers"] = [];
  for (const key of ["containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"]) {
    const list = status?.[key];
    if (!Array.isArray(list)) continue;
    for (const c of list as unknown[]) {
      const cs = c as { name?: unknown; containerID?: unknown } | null;
      const m = CONTAINER_ID.exec(typeof cs?.containerID === "string" ? cs.containerID : "");
      const cname = str(cs?.name, 253);
      if (m && cname) containers.push({ id: m[2] as string, name: cname, runtime: RUNTIMES[m[1] as string] ?? "" });
    }
  }
  const annotations = metadata?.annotations as Record<string, unknown> | undefined;
  const mirror = str(annotations?.["kubernetes.io/config.mirror"], 64)?.toLowerCase() ?? null;
  return { pod: { name, namespace, node, uid }, containers, mirrorUid: mirror };
}

/** A container of a pod, as the index finds it by id. */
interface IndexedContainer {
  entry: PodEntry;
  name: string;
  runtime: string;
}

/**
 * The pods by UID (and a static pod by its mirror's config hash) and their
 * containers by id, changed one pod at a time: an event costs the pod's
 * containers, not the node's.
 */
class PodIndex {
  readonly pods = new Map<string, PodEntry>();
  readonly byContainer = new Map<string, IndexedContainer>();
  readonly byUid = new Map<string, PodEntry>();

  /** Files `e` in place of the pod of its UID; whether what a lookup returns changed. */
  put(e: PodEntry): boolean {
    const old = this.pods.get(e.pod.uid);
    if (old) this.unindex(old);
    this.pods.set(e.pod.uid, e);
    this.byUid.set(e.pod.uid, e);
    if (e.mirrorUid) this.byUid.set(e.mirrorUid, e);
    for (const c of e.containers) this.byContainer.set(c.id, { entry: e, name: c.name, runtime: c.runtime });
    return old === undefined || !samePod(old, e);
  }

  delete(uid: string): boolean {
    const old = this.pods.get(uid);
    if (!old) return false;
    this.unindex(old);
    this.pods.delete(uid);
    return true;
  }

  private unindex(e: PodEntry): void {
    if (this.byUid.get(e.pod.uid) === e) this.byUid.delete(e.pod.uid);
    if (e.mirrorUid && this.byUid.get(e.mirrorUid) === e) this.byUid.delete(e.mirrorUid);
    for (const c of e.containers) if (this.byContainer.get(c.id)?.entry === e) this.byContainer.delete(c.id);
  }
}

/** Whether two versions of a pod give the same answers (a status change that is not a container's is no change). */
function samePod(a: PodEntry, b: PodEntry): boolean {
  return (
    a.pod.name === b.pod.name &&
    a.pod.namespace === b.pod.namespace &&
    a.pod.node === b.pod.node &&
    a.mirrorUid === b.mirrorUid &&
    a.containers.length === b.containers.length &&
    a.containers.every((c, i) => c.id === b.containers[i]?.id && c.name === b.containers[i]?.name && c.runtime === b.containers[i]?.runtime)
  );
}

export class KubernetesPods implements PodDirectory {
  /** One more when a lookup's answer may have changed (a pod added, gone, or its containers changed). */
  generation = 0;
  private index = new PodIndex();
  private resourceVersion = "";
  private readonly ep: Endpoint;
  private readonly follow: AbortController;
  private readonly selector: string;
  private readonly log: Logger;
  /** Lists taken (1 after the first; one more at each resync). */
  lists = 0;
  /** Events applied (ADDED, MODIFIED, DELETED). */
  events = 0;

  constructor(readonly options: KubernetesOptions) {
    this.log = options.log ?? silentLogger;
    const tokenFile = join(options.serviceAccountDir, "token");
    const caFile = join(options.serviceAccountDir, "ca.crt");
    let ca: Buffer;
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      throw new ScaphError(
        `--containers: cannot read the service account's CA ${caFile} (${errnoCode(err) ?? errorMessage(err)}); is the pod's service account token mounted?`,
      );
    }
    this.ep = {
      baseUrl: options.apiUrl,
      ca,
      // a projected token is renewed in place: read at each call
      headers: (): Record<string, string> => {
        try {
          return { Authorization: `Bearer ${readFileSync(tokenFile, "utf8").trim()}` };
        } catch {
          return {};
        }
      },
    };
    this.selector = `fieldSelector=${encodeURIComponent(`spec.nodeName=${options.nodeName}`)}`;
    this.follow = keepFollowing(`containers: Kubernetes API at ${options.apiUrl.origin} (pods of node ${options.nodeName})`, this.log, (signal, healthy) =>
      this.session(signal, healthy),
    );
  }

  lookup(podUid: string | null, containerId: string): { pod: PodInfo; container?: string; runtime?: string } | undefined {
    const c = this.index.byContainer.get(containerId);
    if (c) return { pod: c.entry.pod, container: c.name, ...(c.runtime ? { runtime: c.runtime } : {}) };
    const e = podUid !== null ? this.index.byUid.get(podUid) : undefined;
    return e ? { pod: e.pod } : undefined;
  }

  /** Pods known. */
  size(): number {
    return this.index.pods.size;
  }

  close(): void {
    this.follow.abort();
  }

  /**
   * One session: the pods listed in pages of KUBE_LIMITS.pageSize (each
   * page parsed on its own, the loop free between them) into a new index,
   * which then takes the old one's place; then the watch from the list's
   * version, each event applied to its pod alone.
   */
  private async session(signal: AbortSignal, healthy: () => void): Promise<void> {
    const index = new PodIndex();
    let cont = "";
    let rv = "";
    let bytes = 0;
    do {
      const page = (await getJson(
        this.ep,
        `/api/v1/pods?${this.selector}&limit=${KUBE_LIMITS.pageSize}${cont ? `&continue=${encodeURIComponent(cont)}` : ""}`,
        {
          timeoutMs: KUBE_LIMITS.timeoutMs,
          maxBytes: KUBE_LIMITS.maxListBytes,
          onBytes: (n) => (bytes += n),
        },
      )) as { items?: unknown; metadata?: { resourceVersion?: unknown; continue?: unknown } } | null;
      if (!Array.isArray(page?.items)) throw new HttpCallError("not-json", "the pod list has no items");
      for (const item of page.items as unknown[]) this.put(index, item);
      rv = typeof page.metadata?.resourceVersion === "string" ? page.metadata.resourceVersion : rv;
      cont = typeof page.metadata?.continue === "string" ? page.metadata.continue : "";
      if (bytes > KUBE_LIMITS.maxListBytes) throw new HttpCallError("too-large", `the pod list runs over ${KUBE_LIMITS.maxListBytes} bytes`);
      if (signal.aborted) return;
    } while (cont !== "");
    this.index = index;
    this.resourceVersion = rv;
    this.lists++;
    this.generation++;
    healthy();
    const from = this.resourceVersion ? `&resourceVersion=${encodeURIComponent(this.resourceVersion)}` : "";
    await streamJsonLines(
      this.ep,
      `/api/v1/pods?${this.selector}&watch=1&allowWatchBookmarks=true&timeoutSeconds=${KUBE_LIMITS.watchSeconds}${from}`,
      { connectTimeoutMs: KUBE_LIMITS.timeoutMs, maxLineBytes: KUBE_LIMITS.maxEventBytes, signal },
      (ev) => this.event(ev),
    );
  }

  /** Files a pod object into `index`; whether a lookup's answer changed. */
  private put(index: PodIndex, item: unknown): boolean {
    const e = parsePod(item);
    if (!e) return false;
    if (e.pod.node !== "" && e.pod.node !== this.options.nodeName) return false; // not this node's, whatever the server sent
    if (!index.pods.has(e.pod.uid) && index.pods.size >= KUBE_LIMITS.maxPods) {
      this.log.warnOnce(
        "containers:kube-too-many",
        `containers: over ${KUBE_LIMITS.maxPods} pods listed for node ${this.options.nodeName}; the rest are left out`,
      );
      return false;
    }
    return index.put(e);
  }

  private event(ev: unknown): void {
    const { type, object } = (ev ?? {}) as { type?: unknown; object?: { metadata?: { resourceVersion?: unknown; uid?: unknown }; code?: unknown } };
    const rv = object?.metadata?.resourceVersion;
    if (typeof rv === "string") this.resourceVersion = rv;
    if (type === "ADDED" || type === "MODIFIED") {
      this.events++;
      if (this.put(this.index, object)) this.generation++;
    } else if (type === "DELETED") {
      this.events++;
      const uid = typeof object?.metadata?.uid === "string" ? object.metadata.uid.toLowerCase() : "";
      if (this.index.delete(uid)) this.generation++;
    } else if (type === "ERROR") {
      // 410 Gone: the resourceVersion is too old; the watch ends and a new list follows
      throw new HttpCallError(
        "status",
        `the pod watch ended with an error (code ${typeof object?.code === "number" || typeof object?.code === "string" ? object.code : "?"}); listing again`,
      );
    }
  }
}
