/**
 * Which container a process runs in, from its /proc/PID/cgroup: the
 * runtime, the container id and, under Kubernetes, the pod's UID. Every
 * layout that Docker, Kubernetes (containerd, CRI-O, Docker), and Podman
 * make, with the cgroupfs and the systemd drivers, on cgroup v1 and v2.
 * The text is untrusted (a process names its own cgroup inside a
 * delegated subtree): a line is used only when every part checks out.
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

/** The container a cgroup path names, or null. */
export function parsePath(path: string): CgroupContainer | null {
  if (!path.startsWith("/") || path.length < 2) return null;
  const parts = path.slice(1).split("/");
  if (parts.some((p) => p === "" || p === "." || p === "..")) return null;
  const kube = parts.some((p) => p === "kubepods" || p.startsWith("kubepods.slice") || p.startsWith("kubepods-"));
  let podUid: string | null = null;
  if (kube) {
    for (const p of parts) {
      const m = POD.exec(p.includes("-pod") ? p.slice(p.lastIndexOf("-pod") + 1) : p);
      if (m) podUid = dashed(m[1] as string);
    }
  }
  // Podman's systemd driver puts a container's own init one level down: libpod-ID.scope/container
  if (parts.length > 1 && parts[parts.length - 1] === "container" && SCOPE.test(parts[parts.length - 2] as string)) parts.pop();
  const last = parts[parts.length - 1] as string;
  const scope = SCOPE.exec(last);
  if (scope) return { runtime: RUNTIME_OF[scope[1] as string] ?? null, id: scope[2] as string, podUid };
  const nested = NESTED.exec(last);
  if (nested) {
    if (kube || nested[1]?.startsWith("kubepods")) {
      const m = POD.exec((nested[1] as string).slice((nested[1] as string).lastIndexOf("-pod") + 1));
      if (m) podUid = dashed(m[1] as string);
    }
    return { runtime: RUNTIME_OF[nested[2] as string] ?? null, id: nested[3] as string, podUid };
  }
  if (!ID.test(last) || parts.length < 2) return null;
  const parent = parts[parts.length - 2] as string;
  // Docker's cgroupfs driver: /docker/ID (and /docker/ID nested under another manager's prefix)
  if (parent === "docker") return { runtime: "docker", id: last, podUid: null };
  // Podman's cgroupfs driver: /libpod_parent/libpod-ID is a scope above; /libpod_parent/ID here
  if (parent === "libpod_parent") return { runtime: "podman", id: last, podUid: null };
  // Kubernetes' cgroupfs driver: /kubepods[/burstable|/besteffort]/podUID/ID, whatever the runtime
  if (kube && POD.test(parent)) return { runtime: null, id: last, podUid };
  return null;
}

function dashed(uid: string): string {
  const u = uid.replace(/_/g, "-");
  return u.length === 32 ? u : u.replace(/-/g, "").replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5");
}
