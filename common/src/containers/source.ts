import { errnoCode, errorMessage } from "../errors.js";
import type { Logger } from "../log.js";
import { silentLogger } from "../log.js";
import { readView } from "../procfs/files.js";
import type { ProcSample, ProcessInfo } from "../procfs/table.js";
import { CGROUP_FILE_BOUND, parseCgroup } from "./cgroup.js";
import type { CgroupContainer } from "./cgroup.js";
import type { ContainerInfo, PodInfo } from "./info.js";

/** Docker's view of its containers (the Docker Engine API, followed by its events). */
export interface DockerDirectory {
  /** One more at each change: what was built from it is built again. */
  readonly generation: number;
  container(id: string): { names: readonly string[]; labels: Readonly<Record<string, string>> } | undefined;
  version(): string | undefined;
  close(): void;
}

/** The pods of this node (the Kubernetes API, listed then watched). */
export interface PodDirectory {
  readonly generation: number;
  /** The pod of a container: by the pod UID its cgroup path names, else by its container id. */
  lookup(podUid: string | null, containerId: string): { pod: PodInfo; container?: string; runtime?: string } | undefined;
  close(): void;
}

export interface ContainerSourceOptions {
  procRoot: string;
  /** Opens Docker's directory: called when the first Docker container is seen (no Docker, no calls). */
  docker?: () => DockerDirectory;
  /** Opens the pods' directory: called when the first container under kubepods is seen. */
  pods?: () => PodDirectory;
  log?: Logger;
}

interface Cached {
  execs: number;
  cgroup: CgroupContainer | null;
  /** cgroupKey(cgroup), made once. */
  key: string;
}

/**
 * Which container each process runs in. A process's cgroup file is read
 * once per (pid, start time, exec), like its exe and cmdline: a step costs
 * a map lookup per process. The container's names, pod and versions come
 * from the directories, which fetch in the background; until they answer, a
 * container has its id, runtime and scheduler from the path alone.
 */
export class ContainerSource {
  private readonly byProcess = new Map<string, Cached>();
  private readonly infos = new Map<string, { gen: string; info: ContainerInfo }>();
  private seen = new Set<string>();
  private docker: DockerDirectory | undefined;
  private pods: PodDirectory | undefined;
  private readonly log: Logger;

  constructor(private readonly options: ContainerSourceOptions) {
    this.log = options.log ?? silentLogger;
  }

  /** The lookup for one reading of /proc; forgets the processes that are gone. */
  resolve(proc: ProcSample): (p: ProcessInfo) => ContainerInfo | null {
    const live = proc.processes;
    for (const key of this.byProcess.keys()) if (!live.has(key)) this.byProcess.delete(key);
    // the containers none of whose processes was seen at the last reading are dropped
    for (const id of this.infos.keys()) if (!this.seen.has(id)) this.infos.delete(id);
    const seen = (this.seen = new Set<string>());
    const gen = `${this.docker?.generation ?? 0}/${this.pods?.generation ?? 0}`;
    const lookup = (p: ProcessInfo): ContainerInfo | null => {
      let c = this.byProcess.get(p.key);
      if (c === undefined || c.execs !== p.execs) {
        const cgroup = this.read(p.pid);
        this.byProcess.set(p.key, (c = { execs: p.execs, cgroup, key: cgroup ? cgroupKey(cgroup) : "" }));
      }
      if (c.cgroup === null) return null;
      seen.add(c.key);
      return this.info(c.cgroup, c.key, gen);
    };
    return lookup;
  }

  close(): void {
    this.docker?.close();
    this.pods?.close();
  }

  private info(cg: CgroupContainer, key: string, gen: string): ContainerInfo {
    const known = this.infos.get(key);
    if (known && known.gen === gen) return known.info;
    // a directory changed (any container's event, any pod's): this container's object stays the same
    // object unless what is known of it changed, so the exporters' label sets made from it stay too
    const built = this.build(cg);
    const info = known && sameInfo(known.info, built) ? known.info : built;
    this.infos.set(key, { gen, info });
    return info;
  }

  private build(cg: CgroupContainer): ContainerInfo {
    // under kubepods, or run by a CRI runtime (only the kubelet drives containerd's CRI and CRI-O)
    if (cg.podUid !== null || cg.runtime === null || cg.runtime === "containerd" || cg.runtime === "cri-o") {
      this.pods ??= this.open("pods", this.options.pods);
      const found = this.pods?.lookup(cg.podUid, cg.id);
      return {
        key: cgroupKey(cg),
        id: cg.id,
        scheduler: "kubernetes",
        runtime: cg.runtime ?? found?.runtime ?? "",
        names: found?.container ? [found.container] : [],
        ...(found ? { pod: found.pod } : {}),
        ...(cg.podUid !== null ? { podUid: cg.podUid } : {}),
      };
    }
    if (cg.runtime === "docker") {
      this.docker ??= this.open("docker", this.options.docker);
      const d = this.docker?.container(cg.id);
      const version = this.docker?.version();
      return {
        key: cgroupKey(cg),
        id: cg.id,
        scheduler: "docker",
        runtime: "docker",
        names: d?.names ?? [],
        ...(version !== undefined ? { dockerVersion: version } : {}),
        ...(d ? { dockerLabels: d.labels } : {}),
      };
    }
    return { key: cgroupKey(cg), id: cg.id, scheduler: "podman", runtime: cg.runtime, names: [] };
  }

  /** Opens a directory once; one that cannot be opened is said once and never asked again. */
  private failed = new Set<string>();
  private open<T>(what: string, make: (() => T) | undefined): T | undefined {
    if (!make || this.failed.has(what)) return undefined;
    try {
      return make();
    } catch (err) {
      this.failed.add(what);
      this.log.warn(`containers: ${errorMessage(err)}`);
      return undefined;
    }
  }

  private read(pid: number): CgroupContainer | null {
    const path = `${this.options.procRoot}/${pid}/cgroup`;
    let text: string;
    try {
      const view = readView(path, CGROUP_FILE_BOUND + 1);
      if (view.length > CGROUP_FILE_BOUND) {
        this.log.warnOnce(
          "containers:cgroup-huge",
          `containers: ${path} is over ${CGROUP_FILE_BOUND} bytes: not a runtime's layout, that process gets no container`,
        );
        return null;
      }
      text = view.toString("utf8");
    } catch (err) {
      const code = errnoCode(err);
      if (code !== "ENOENT" && code !== "ESRCH")
        this.log.warnOnce(
          `containers:cgroup-${code ?? "error"}`,
          `containers: cannot read ${path} (${code ?? errorMessage(err)}): such processes get no container`,
        );
      return null;
    }
    return parseCgroup(text);
  }
}

/** A container's identity: what its cgroup path says. */
export function cgroupKey(cg: CgroupContainer): string {
  return `${cg.runtime ?? ""}/${cg.podUid ?? ""}/${cg.id}`;
}

function sameInfo(a: ContainerInfo, b: ContainerInfo): boolean {
  const labels = (x: ContainerInfo): string => JSON.stringify(x.dockerLabels ?? null);
  return (
    a.key === b.key &&
    a.id === b.id &&
    a.scheduler === b.scheduler &&
    a.runtime === b.runtime &&
    a.names.join("\0") === b.names.join("\0") &&
    a.dockerVersion === b.dockerVersion &&
    a.podUid === b.podUid &&
    a.pod?.name === b.pod?.name &&
    a.pod?.namespace === b.pod?.namespace &&
    a.pod?.node === b.pod?.node &&
    a.pod?.uid === b.pod?.uid &&
    (a.dockerLabels === b.dockerLabels || labels(a) === labels(b))
  );
}
