import { closeSync, constants, fstatSync, openSync, readSync } from "node:fs";
import { connect } from "node:net";
import type { Socket } from "node:net";
import { encodeMessage, errorMessage, LogEvery, snapshotVmZones, wrapAdd } from "@scaph/common";
import type { ChannelZone, Logger, Snapshot, ZoneSpec } from "@scaph/common";
import type { ChannelStatus } from "../vm/status-file.js";
import { O_PATH, openInRoot } from "./pod-root.js";
import type { DeliverySink, VmDelivery } from "./delivery.js";

/** A VM's channel logs a change (failing, delivering again) at most this often: a peer that accepts and closes at every step is not a line per step. */
const CHANNEL_LOG_EVERY_MS = 60_000;

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
 */
export class ChannelSink implements DeliverySink {
  readonly name = "channel";
  private readonly vms = new Map<string, VmChannel>();

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
        this.vms.set(vm.key, (c = new VmChannel(s.timestampS - s.intervalS, vm.name)));
        this.log.info(`channel: VM ${vm.name}: epoch ${c.epoch} at ${path}`);
      }
      for (const z of zones) c.counters.set(z.id, wrapAdd(c.counters.get(z.id) ?? 0, vm.zonesUj.get(z.id) ?? 0, z.maxUj));
      this.ensureSocket(c, path, vm.name, root);
      this.send(c, s, zones, vm.name);
    }
    for (const [key, c] of this.vms) {
      if (live.has(key)) continue;
      c.socket?.destroy();
      this.vms.delete(key); // it comes back with a new epoch
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
      c.connected = true;
      if (c.pending !== null) {
        this.writeLine(c, sock, name, c.pending);
        c.dropped--; // counted as dropped while connecting: it went after all
        c.pending = null;
      }
    });
    sock.on("error", (err) => this.failed(c, name, where, errorMessage(err)));
    sock.on("close", () => {
      c.connected = false;
      if (c.socket === sock) c.socket = null;
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

  /** Writes a line; it counts as sent once the kernel took it, and a first line taken after failures says so. */
  private writeLine(c: VmChannel, sock: Socket, name: string, line: string): void {
    sock.write(line, (err) => {
      if (err) return;
      c.sent++;
      if (c.lastError !== null && this.maySay(c, true)) this.log.info(`channel: VM ${name}: delivering again`);
      c.lastError = null;
    });
  }

  private send(c: VmChannel, s: Snapshot, zones: readonly ZoneSpec[], name: string): void {
    const list: ChannelZone[] = zones.map((z) => ({ zone: z.id, name: z.name, energy_uj: c.counters.get(z.id) ?? 0, max_energy_range_uj: z.maxUj }));
    const line = encodeMessage({ v: 1, epoch: c.epoch, seq: ++c.seq, t: s.timestampS, t0: c.t0, step_s: s.intervalS, zones: list });
    if (this.log.enabled("debug")) {
      this.log.debug(
        `channel: VM ${name} epoch ${c.epoch} seq ${c.seq} t ${s.timestampS} step ${s.intervalS}: ${list.map((z) => `${z.zone}=${z.energy_uj}`).join(" ")}`,
      );
    }
    const sock = c.socket;
    if (!sock || !c.connected || sock.writableLength > 0) {
      if (sock && !c.connected) c.pending = line; // the newest line goes as soon as the connection is up
      c.dropped++;
      return;
    }
    this.writeLine(c, sock, name, line);
  }

  close(): void {
    for (const c of this.vms.values()) c.socket?.destroy();
    this.vms.clear();
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
