import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { encodeMessage, errorMessage, LogEvery, snapshotVmZones, wrapAdd } from "@scaph/common";
import type { ChannelZone, Logger, Snapshot, ZoneSpec } from "@scaph/common";
import type { ChannelStatus } from "../vm/status-file.js";
import { O_PATH, openInRoot } from "./pod-root.js";
import type { DeliverySink, VmDelivery } from "./delivery.js";
import { KEEP_GONE_S } from "./state.js";

/** A VM's channel logs a change (failing, delivering again) at most this often: a peer that accepts and closes at every step is not a line per step. */
const CHANNEL_LOG_EVERY_MS = 60_000;
/** At most this many VMs that went away keep their channel for a restore (the longest gone are forgotten first). */
const MAX_GONE = 1024;
/** Host time between a VM's last line before it went away and its first after a restore, above which a line says its absence (s). */
const ABSENCE_S = 0.05;

/**
 * Opens a channel's socket path without following a link, and checks that it
 * is a socket: libvirt's per-domain channel directories belong to the qemu
 * user, who could put a link to a root-only socket there for this root
 * daemon to connect to. Returns the O_PATH descriptor (connect through
 * /proc/self/fd/N), or why not.
 */
export function openSocketNoFollow(path: string): number | string {
  let fd: number;
  try {
    fd = openSync(path, O_PATH | constants.O_NOFOLLOW);
  } catch (err) {
    return errorMessage(err);
  }
  const st = fstatSync(fd);
  if (st.isSocket()) return fd;
  closeSync(fd);
  return `not a socket but ${st.isSymbolicLink() ? "a symbolic link" : "another kind of file"}: refused (only the socket libvirt made is connected to)`;
}

/** One VM's channel: its epoch, its counters since then, its connection. */
class VmChannel {
  readonly epoch = randomHex(8);
  /** When the epoch began (the start of the first interval it counts, host Unix s), and the VM's name. */
  constructor(
    readonly t0: number,
    readonly name: string,
  ) {}
  readonly counters = new Map<string, number>();
  seq = 0;
  sent = 0;
  dropped = 0;
  socket: Socket | null = null;
  path: string | null = null;
  connected = false;
  lastError: string | null = null;
  /** A change of this channel is logged at most once a minute. */
  readonly word = new LogEvery(CHANNEL_LOG_EVERY_MS);
  failuresSinceSaid = 0;
  /** The line of a step that came while connecting: written once connected (it carries the totals). */
  pending: string | null = null;
  /** The newest line made (sent or not), and the host time it stands for (Unix s). */
  lastLine: string | null = null;
  lastT = 0;
  /** Lines that go before the next one written (a restored VM's: what its save lost, then its absence). */
  resume = "";
  /** When the VM went away (host Unix s), while it is kept for a restore. */
  goneS = 0;
}

/**
 * The channel transport, a sink: each step, for each VM whose live XML has
 * the channel, adds the VM's gain per zone to its counters since its epoch
 * and writes one line (channel.ts) into the channel's unix socket, which
 * qemu relays to the guest's virtio-serial port. Writes never block the
 * loop: while the line before is still unsent (the guest is not reading),
 * the new one is dropped and counted; the next carries the total. Nothing
 * the guest sends is read (the socket stays paused: qemu's flow control
 * bounds it). A VM that restarts, is restored or migrates in has a new
 * socket: the next step connects to it.
 *
 * A VM that goes away keeps its channel for a day (KEEP_GONE_S). If it comes
 * back restored from a save (libvirt's running reason `restored`), its
 * guest's memory, and so its receiver's state, is what it was when it was
 * saved here: its epoch continues, and the lines sent while it was being
 * saved (which died in the old qemu's buffers) lose nothing. Its first
 * lines are the last line made before it went away (the energy of the save,
 * over the time it took; a guest that had it refuses it as a repeat), a line
 * of the same counters at the start of this step (its absence, which the
 * guest passes at once: no energy), then this step's. Any other return (a
 * boot, a migration in) begins a new epoch.
 */
export class ChannelSink implements DeliverySink {
  readonly name = "channel";
  private readonly vms = new Map<string, VmChannel>();
  /** VMs that went away, kept for a restore, by key. */
  private readonly gone = new Map<string, VmChannel>();

  constructor(private readonly log: Logger) {}

  /** Each VM whose live XML has the channel: whether the daemon is connected to it, and its counts. */
  delivered(): ReadonlyMap<string, VmDelivery> {
    const out = new Map<string, VmDelivery>();
    for (const [key, channel] of this.status()) out.set(key, { vm: this.vms.get(key)?.name ?? key, transport: "channel", ok: channel.connected, channel });
    return out;
  }

  /** Each VM's channel, by VM key. */
  status(): Map<string, ChannelStatus> {
    const out = new Map<string, ChannelStatus>();
    for (const [k, c] of this.vms) {
      if (c.path)
        out.set(k, {
          path: c.path,
          connected: c.connected,
          sent: c.sent,
          dropped: c.dropped,
          epoch: c.epoch,
          seq: c.seq,
          counters: Object.fromEntries(c.counters),
        });
    }
    return out;
  }

  write(s: Snapshot): void {
    const zones = snapshotVmZones(s);
    const live = new Set<string>();
    for (const vm of s.vms) {
      const path = vm.transports?.channelPath;
      if (!path) continue;
      const root = vm.transports?.channelRoot;
      live.add(vm.key);
      let c = this.vms.get(vm.key);
      if (!c) {
        c = this.restored(vm, s, zones) ?? new VmChannel(s.timestampS - s.intervalS, vm.name);
        this.vms.set(vm.key, c);
        if (c.seq === 0) this.log.info(`channel: VM ${vm.name}: epoch ${c.epoch} at ${path}`);
      }
      for (const z of zones) c.counters.set(z.id, wrapAdd(c.counters.get(z.id) ?? 0, vm.zonesUj.get(z.id) ?? 0, z.maxUj));
      this.ensureSocket(c, path, vm.name, root);
      this.send(c, s, zones, vm.name);
    }
    for (const [key, c] of this.vms) {
      if (live.has(key)) continue;
      c.socket?.destroy();
      Object.assign(c, { socket: null, connected: false, pending: null, resume: "", goneS: s.timestampS });
      this.vms.delete(key);
      this.gone.set(key, c); // kept for a restore; anything else brings it back with a new epoch
    }
    this.forget(s.timestampS);
  }

  /**
   * The channel a VM had before it went away, when it comes back restored
   * from a save (its guest's receiver has that epoch's state): its epoch
   * continues, led by the lines that say what the save lost and how long the
   * VM was away. Else null (a boot, a migration in: a new epoch).
   */
  private restored(vm: Snapshot["vms"][number], s: Snapshot, zones: readonly ZoneSpec[]): VmChannel | null {
    const c = this.gone.get(vm.key);
    this.gone.delete(vm.key);
    if (!c || !vm.restored) return null;
    const startS = s.timestampS - s.intervalS;
    const next = c.seq + 1;
    c.resume = (c.lastLine ?? "") + (startS > c.lastT + ABSENCE_S ? this.line(c, startS, s.intervalS, zones) : "");
    c.goneS = 0;
    this.log.info(
      `channel: VM ${vm.name}: restored from a save: epoch ${c.epoch} continues at seq ${next} (away ${(startS - c.lastT).toFixed(1)} s), so what its save held is not lost`,
    );
    return c;
  }

  /** Forgets the VMs gone longer than KEEP_GONE_S, and the longest gone beyond MAX_GONE. */
  private forget(nowS: number): void {
    for (const [k, c] of this.gone) if (nowS - c.goneS > KEEP_GONE_S) this.gone.delete(k);
    // a Map iterates in insertion order: the first are the longest gone
    for (const k of this.gone.keys()) {
      if (this.gone.size <= MAX_GONE) break;
      this.gone.delete(k);
    }
  }

  private ensureSocket(c: VmChannel, path: string, name: string, root: string | undefined): void {
    // a KubeVirt pod's socket is named by its pod's root and the path inside it
    const where = root ? `${root}:${path}` : path;
    if (c.socket && !c.socket.destroyed && c.path === where) return;
    c.socket?.destroy();
    c.socket = null;
    c.path = where;
    c.connected = false;
    const found = root ? openInRoot(root, path, "socket") : openSocketNoFollow(path);
    if (typeof found === "string") return this.failed(c, name, where, found);
    const fd = typeof found === "number" ? found : found.fd;
    // Through the descriptor just checked, not the path: nothing swapped in between is connected to.
    const sock = connect({ path: `/proc/self/fd/${fd}` });
    let open = true;
    const release = (): void => {
      if (open) closeSync(fd);
      open = false;
    };
    sock.once("connect", release);
    sock.once("close", release);
    c.socket = sock;
    sock.pause(); // never read what the guest sends
    sock.on("connect", () => {
      if (c.socket !== sock) return;
      c.connected = true;
      if (c.pending !== null) {
        this.writeLine(c, sock, name, c.pending);
        c.dropped--; // counted as dropped while connecting: it went after all
        c.pending = null;
      }
    });
    // A socket this channel has left (its VM went away, or moved to another socket) says nothing about the current one.
    sock.on("error", (err) => {
      if (c.socket === sock) this.failed(c, name, where, errorMessage(err));
    });
    sock.on("close", () => {
      if (c.socket !== sock) return;
      c.connected = false;
      c.socket = null;
    });
  }

  /**
   * Logs a failure to reach a VM's channel when its reason changes, at most
   * one line a minute for the VM (with the failures since the last line); it
   * is tried again at each step. A peer that accepts and closes at once (a
   * failure at every step) is a line or two, not one per step.
   */
  private failed(c: VmChannel, name: string, path: string, msg: string): void {
    c.failuresSinceSaid++;
    if (this.maySay(c, msg !== c.lastError)) {
      this.log.warn(
        `channel: VM ${name}: ${path}: ${msg} (retried each step${c.failuresSinceSaid > 1 ? `; ${c.failuresSinceSaid} failures since the last word` : ""})`,
      );
      c.failuresSinceSaid = 0;
    }
    c.lastError = msg;
  }

  /** Whether a change of a VM's channel may be logged now: at most one line a minute (or the first ever). */
  private maySay(c: VmChannel, changed: boolean): boolean {
    return changed && c.word.due();
  }

  /** Writes a line (after the lines a restore leads with); it counts as sent once the kernel took it, and a first line taken after failures says so. */
  private writeLine(c: VmChannel, sock: Socket, name: string, line: string): void {
    c.resume = ""; // handed to the socket with this line
    sock.write(line, (err) => {
      if (err) return;
      c.sent++;
      if (c.lastError !== null && this.maySay(c, true)) this.log.info(`channel: VM ${name}: delivering again`);
      c.lastError = null;
    });
  }

  /** The next line of a channel: its counters at host time `t`. */
  private line(c: VmChannel, t: number, stepS: number, zones: readonly ZoneSpec[]): string {
    const list: ChannelZone[] = zones.map((z) => ({ zone: z.id, name: z.name, energy_uj: c.counters.get(z.id) ?? 0, max_energy_range_uj: z.maxUj }));
    if (this.log.enabled("debug")) {
      this.log.debug(`channel: VM ${c.name} epoch ${c.epoch} seq ${c.seq + 1} t ${t} step ${stepS}: ${list.map((z) => `${z.zone}=${z.energy_uj}`).join(" ")}`);
    }
    return encodeMessage({ v: 1, epoch: c.epoch, seq: ++c.seq, t, t0: c.t0, step_s: stepS, zones: list });
  }

  private send(c: VmChannel, s: Snapshot, zones: readonly ZoneSpec[], name: string): void {
    const line = this.line(c, s.timestampS, s.intervalS, zones);
    c.lastLine = line;
    c.lastT = s.timestampS;
    const sock = c.socket;
    if (!sock || !c.connected || sock.writableLength > 0) {
      if (sock && !c.connected) c.pending = c.resume + line; // the newest line goes as soon as the connection is up
      c.dropped++;
      return;
    }
    this.writeLine(c, sock, name, c.resume + line);
  }

  close(): void {
    for (const c of this.vms.values()) c.socket?.destroy();
    this.vms.clear();
    this.gone.clear();
  }
}

/** `bytes` random bytes in hex, from /dev/urandom (node:crypto would cost the daemon 3 MB of RSS for 8 bytes). */
function randomHex(bytes: number): string {
  const b = Buffer.alloc(bytes);
  const fd = openSync("/dev/urandom", constants.O_RDONLY);
  try {
    readSync(fd, b, 0, bytes, null);
  } finally {
    closeSync(fd);
  }
  return b.toString("hex");
}
