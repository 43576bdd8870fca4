import type { Snapshot } from "../attribution/snapshot.js";

/**
 * A consumer of Snapshots: an exporter, the VM tree writer, the status file.
 * A sink never reads /proc and never splits energy: everything it shows is
 * in the Snapshot, so every sink shows the same numbers.
 */
export interface Sink {
  /** For log lines: `prometheus`, `json`, `vm trees`... */
  readonly name: string;
  write(s: Snapshot): void | Promise<void>;
  close?(): void | Promise<void>;
}
