/**
 * Which container a process runs in, from its /proc/PID/cgroup: the
 * runtime, the container id and, under Kubernetes, the pod's UID. Every
 * layout that Docker, Kubernetes (containerd, CRI-O, Docker), and Podman
 * make, with the cgroupfs and the systemd drivers, on cgroup v1 and v2.
 * The text is untrusted (a process names its own cgroup inside a
 * delegated subtree): a line is used only when every part checks out, the
 * outermost container on it counts, and nothing under a user's or a
 * machine's delegated subtree is a container.
 */

/** The runtimes a cgroup path names. */
export type ContainerRuntime = "docker" | "containerd" | "cri-o" | "podman";

export interface CgroupContainer {
  /** The runtime the path names, or null where the path does not say (Kubernetes with the cgroupfs driver). */
  runtime: ContainerRuntime | null;
  /** 64 lower-case hex digits. */
  id: string;
  /** The pod's UID (with dashes), when the path is under kubepods. */
  podUid: string | null;
}

/** Longest cgroup file read: a few lines on v2, about a dozen on v1. */
export const CGROUP_FILE_BOUND = 16 * 1024;

const ID = /^[0-9a-f]{64}$/;
/** A pod UID, with dashes (cgroupfs) or underscores (systemd), or a static pod's 32-hex config hash. */
const POD = /^pod([0-9a-f]{8}[-_]?[0-9a-f]{4}[-_]?[0-9a-f]{4}[-_]?[0-9a-f]{4}[-_]?[0-9a-f]{12})(?:\.slice)?$/;
/** A systemd unit of a container: `docker-ID.scope`, `cri-containerd-ID.scope`, `crio-ID.scope`, `libpod-ID.scope`. */
const SCOPE = /^(docker|cri-containerd|crio|libpod)-([0-9a-f]{64})(?:\.scope)?$/;
/** containerd's systemd driver nested under its own service: `kubepods-...-podUID.slice:cri-containerd:ID`. */
const NESTED = /^(.*\.slice):(cri-containerd|crio|docker):([0-9a-f]{64})$/;

const RUNTIME_OF: Record<string, ContainerRuntime> = {
  docker: "docker",
  "cri-containerd": "containerd",
  crio: "cri-o",
  libpod: "podman",
};

/**
 * The container of a /proc/PID/cgroup text, or null (a host process, a
 * runtime's own helper such as conmon, or a line that does not check out).
 * On v1 every hierarchy names the same container: the first line that
 * names one wins; v2's single `0::` line is read the same way.
 */
export function parseCgroup(text: string): CgroupContainer | null {
  if (text.length > CGROUP_FILE_BOUND) return null;
  for (const line of text.split("\n")) {
    // hierarchy-ID:controller-list:cgroup-path; the path may hold colons (containerd's nested form)
    const a = line.indexOf(":");
    const b = a < 0 ? -1 : line.indexOf(":", a + 1);
    if (b < 0) continue;
    const found = parsePath(line.slice(b + 1));
    if (found) return found;
  }
  return null;
}

/**
 * Where a cgroup subtree is handed to someone other than the runtimes:
 * `user@UID.service` is delegated to that user (who may make any cgroup
 * under it: `docker-ID.scope`, `kubepods/.../podUID/ID`), and a
 * `machine-NAME.scope` holds a machine (systemd-nspawn, a VM) whose own
 * cgroups are its own. Nothing under them is one of this host's containers;
 * a rootless container is its user's processes.
 */
const DELEGATED = /^(user@\d+\.service|machine-.+\.scope)$/;

/**
 * The container a cgroup path names, or null. The outermost component that
 * names a container is the container: what a process in it names below
 * (a cgroup of its own called `docker-ID.scope`, Docker in Docker) stays
 * in it. A path through a delegated subtree names none.
 */
export function parsePath(path: string): CgroupContainer | null {
  if (!path.startsWith("/") || path.length < 2) return null;
  const parts = path.slice(1).split("/");
  if (parts.some((p) => p === "" || p === "." || p === "..")) return null;
  let kube = false;
  let podUid: string | null = null;
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] as string;
    if (DELEGATED.test(p)) return null;
    if (p === "kubepods" || p.startsWith("kubepods.slice") || p.startsWith("kubepods-")) kube = true;
    if (kube) {
      const m = POD.exec(p.includes("-pod") ? p.slice(p.lastIndexOf("-pod") + 1) : p);
      if (m) podUid = dashed(m[1] as string);
    }
    const scope = SCOPE.exec(p);
    if (scope) return { runtime: RUNTIME_OF[scope[1] as string] ?? null, id: scope[2] as string, podUid };
    const nested = NESTED.exec(p);
    if (nested) {
      const slice = nested[1] as string;
      if (kube || slice.startsWith("kubepods")) {
        const m = POD.exec(slice.slice(slice.lastIndexOf("-pod") + 1));
        if (m) podUid = dashed(m[1] as string);
      }
      return { runtime: RUNTIME_OF[nested[2] as string] ?? null, id: nested[3] as string, podUid };
    }
    if (!ID.test(p) || i === 0) continue;
    const parent = parts[i - 1] as string;
    // Docker's cgroupfs driver: /docker/ID (and /docker/ID nested under another manager's prefix)
    if (parent === "docker") return { runtime: "docker", id: p, podUid: null };
    // Podman's cgroupfs driver: /libpod_parent/libpod-ID is a scope above; /libpod_parent/ID here
    if (parent === "libpod_parent") return { runtime: "podman", id: p, podUid: null };
    // Kubernetes' cgroupfs driver: /kubepods[/burstable|/besteffort]/podUID/ID, whatever the runtime
    if (kube && POD.test(parent)) return { runtime: null, id: p, podUid };
  }
  return null;
}

function dashed(uid: string): string {
  const u = uid.replace(/_/g, "-");
  return u.length === 32 ? u : u.replace(/-/g, "").replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5");
}
