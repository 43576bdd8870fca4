/**
 * What scaph knows of a container, and the labels it carries in every
 * exporter (Scaphandre's names, see docs/containers.md).
 */

/** A Kubernetes pod, as the API server lists it. */
export interface PodInfo {
  name: string;
  namespace: string;
  node: string;
  uid: string;
}

export interface ContainerInfo {
  /**
   * What the cgroup path says (runtime, pod UID, id): the container's
   * identity in every sum and cache. Two paths that claim one id (a process
   * naming its own cgroup) stay two containers.
   */
  readonly key: string;
  /** 64 hex digits: the runtime's id. */
  readonly id: string;
  /** Who runs it: `kubernetes` (under kubepods), else `docker` or `podman`. */
  readonly scheduler: "kubernetes" | "docker" | "podman";
  /** The runtime: `docker`, `containerd`, `cri-o`, `podman`, or "" where neither the path nor the API says. */
  readonly runtime: string;
  /** Its names: Docker's (without the leading `/`), or the container's name in its pod; empty until known. */
  readonly names: readonly string[];
  /** The Docker Engine's version, for Docker's containers once the API answered. */
  readonly dockerVersion?: string;
  /** Docker's labels of the container (exported only where --container-labels asks). */
  readonly dockerLabels?: Readonly<Record<string, string>>;
  /** Its pod, under Kubernetes once the API answered. */
  readonly pod?: PodInfo;
  /** The pod's UID from the cgroup path, known before the API answers. */
  readonly podUid?: string;
}

/** A Docker label's key as a Prometheus label name: `container_label_` + the key, [^a-zA-Z0-9_] as `_`. */
export function dockerLabelName(key: string): string {
  return `container_label_${key.replace(/[^a-zA-Z0-9_]/g, "_")}`;
}

/**
 * The labels of a container (Scaphandre's names): scheduler, id, names,
 * runtime, Docker's version, the pod, and the Docker labels whose key
 * matches `labelKeys` (none without it: each label multiplies series).
 */
export function containerLabels(c: ContainerInfo, labelKeys: RegExp | null): Record<string, string> {
  const l: Record<string, string> = {
    container_scheduler: c.scheduler,
    container_id: c.id,
  };
  if (c.names.length > 0) l.container_names = c.names.join(",");
  if (c.runtime !== "") l.container_runtime = c.runtime;
  if (c.dockerVersion !== undefined) l.container_docker_version = c.dockerVersion;
  if (c.pod) {
    l.kubernetes_pod_name = c.pod.name;
    l.kubernetes_pod_namespace = c.pod.namespace;
    l.kubernetes_node_name = c.pod.node;
  }
  if (labelKeys && c.dockerLabels) {
    // In the keys' order, so that two keys that make one name (a.b, a_b, a-b) always get the same names:
    // the first the name, the others the name with _2, _3... (none is dropped, none overwrites another).
    let n = 0;
    for (const k of Object.keys(c.dockerLabels).sort()) {
      labelKeys.lastIndex = 0;
      if (!labelKeys.test(k)) continue;
      if (++n > MAX_DOCKER_LABELS) break;
      let name = dockerLabelName(k);
      for (let i = 2; name in l; i++) name = `${dockerLabelName(k)}_${i}`;
      l[name] = boundedValue(c.dockerLabels[k] ?? "");
    }
  }
  return l;
}

/** Docker labels exported per container, at most (each one is a label on every series of its processes). */
export const MAX_DOCKER_LABELS = 32;
/** The longest Docker label value exported (characters); a longer one is cut, ending in "...". */
export const MAX_LABEL_VALUE = 1024;

/** A label value cut to MAX_LABEL_VALUE characters, never inside a character. */
function boundedValue(v: string): string {
  if (v.length <= MAX_LABEL_VALUE) return v;
  let end = MAX_LABEL_VALUE - 3;
  const c = v.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${v.slice(0, end)}...`;
}

/** Scaphandre's JSON `container` object: name, id, runtime, scheduler (and the pod, beyond it). */
export interface JsonContainer {
  name: string;
  id: string;
  runtime: string;
  scheduler: string;
  kubernetes_pod_name?: string;
  kubernetes_pod_namespace?: string;
  kubernetes_node_name?: string;
}

export function jsonContainer(c: ContainerInfo): JsonContainer {
  return {
    name: c.names.join(","),
    id: c.id,
    runtime: c.runtime,
    scheduler: c.scheduler,
    ...(c.pod ? { kubernetes_pod_name: c.pod.name, kubernetes_pod_namespace: c.pod.namespace, kubernetes_node_name: c.pod.node } : {}),
  };
}

/** A short name for a terminal: the pod as namespace/name, else the names, else the id's first 12 digits. */
export function containerShortName(c: ContainerInfo): string {
  if (c.pod) return `${c.pod.namespace}/${c.pod.name}`;
  return c.names.length > 0 ? c.names.join(",") : c.id.slice(0, 12);
}
