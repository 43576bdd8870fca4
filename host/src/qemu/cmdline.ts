/** What a qemu command line says about its VM. */
export interface QemuIdentity {
  /** Flavour of the launcher, from the executable. */
  flavour: "qemu-system" | "qemu-kvm" | "proxmox";
  /** VM name from -name, or null when there is none. */
  name: string | null;
  /** UUID from -uuid, lower case, or null. */
  uuid: string | null;
  /** Proxmox VMID from -id. */
  vmid: number | null;
}

function base(path: string): string {
  const i = path.lastIndexOf("/");
  return i >= 0 ? path.slice(i + 1) : path;
}

/**
 * Which qemu launcher a process runs, from its executable (`/proc/PID/exe`,
 * which the process cannot choose, unlike argv[0]): `qemu-system-*`,
 * RHEL/OpenStack `qemu-kvm`, Proxmox `/usr/bin/kvm` (a qemu-system binary
 * started as `kvm` counts as Proxmox too).
 */
export function qemuFlavour(exe: string, argv0: string): QemuIdentity["flavour"] | null {
  const b = base(exe.replace(/ \(deleted\)$/, ""));
  const a = base(argv0);
  if (/^qemu-system-[\w.-]+$/.test(b)) return a === "kvm" ? "proxmox" : "qemu-system";
  if (b === "qemu-kvm") return "qemu-kvm";
  if (b === "kvm" && exe === "/usr/bin/kvm") return "proxmox";
  return null;
}

/** Whether argv[0] claims to be qemu (to tell a spoof from an ordinary process in logs). */
export function claimsQemu(argv0: string): boolean {
  const a = base(argv0);
  return /^qemu-system-/.test(a) || a === "qemu-kvm" || a === "kvm";
}

/**
 * Splits a qemu option value on single commas; `,,` is a literal comma
 * (qemu's escaping, which libvirt uses for names).
 */
export function splitQemuOpts(value: string): string[] {
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === "," && value[i + 1] === ",") {
      cur += ",";
      i++;
    } else if (c === ",") {
      parts.push(cur);
      cur = "";
    } else cur += c;
  }
  parts.push(cur);
  return parts;
}

/** The VM name from a -name value: `guest=NAME,debug-threads=on` (libvirt) or plain `NAME[,process=...]`. */
export function parseNameOption(value: string): string | null {
  const parts = splitQemuOpts(value);
  for (const p of parts) if (p.startsWith("guest=")) return p.slice(6);
  const first = parts[0] ?? "";
  // A plain first part is the name unless it is a key=value option.
  if (first !== "" && !/^(process|debug-threads)=/.test(first)) return first;
  return null;
}

/** Value of an option given as `-opt value` or `-opt=value` (also `--opt`). */
function optionValue(argv: readonly string[], opt: string): string | null {
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === `-${opt}` || a === `--${opt}`) return argv[i + 1] ?? null;
    if (a.startsWith(`-${opt}=`)) return a.slice(opt.length + 2);
    if (a.startsWith(`--${opt}=`)) return a.slice(opt.length + 3);
  }
  return null;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Parses a qemu process's identity, or null if it is not a qemu VM process. */
export function parseQemuCmdline(exe: string, argv: readonly string[]): QemuIdentity | null {
  const flavour = qemuFlavour(exe, argv[0] ?? "");
  if (!flavour) return null;
  const nameOpt = optionValue(argv, "name");
  const uuidOpt = optionValue(argv, "uuid")?.toLowerCase() ?? null;
  const idOpt = optionValue(argv, "id");
  return {
    flavour,
    name: nameOpt === null ? null : parseNameOption(nameOpt),
    uuid: uuidOpt !== null && UUID_RE.test(uuidOpt) ? uuidOpt : null,
    vmid: idOpt !== null && /^\d+$/.test(idOpt) ? Number(idOpt) : null,
  };
}
