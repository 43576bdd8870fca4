import { CHANNEL_MAX_LINE } from "@scaph/common";

/**
 * The port's bytes, as they come, in any chunks, cut into lines: each whole
 * line is given, the start of the next is kept. A line longer than
 * CHANNEL_MAX_LINE is refused (its start given to `overlong`) and skipped to
 * its newline: a host or a guest process that never sends a newline cannot
 * grow the receiver's memory.
 */
export class LineFramer {
  /** The start of a line not yet ended by a newline. */
  private partial = "";
  /** Whether the rest of an overlong line is being skipped, until its newline. */
  private skipping = false;

  constructor(private readonly overlong: (start: string) => void) {}

  /** Forgets a line begun (the port opened again: what comes is a new stream). */
  reset(): void {
    this.partial = "";
    this.skipping = false;
  }

  /** The whole lines that `chunk` ends. */
  push(chunk: string): string[] {
    let text = this.partial + chunk;
    this.partial = "";
    const lines: string[] = [];
    for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      if (this.skipping)
        this.skipping = false; // the end of an overlong line
      else lines.push(line);
    }
    if (text.length >= CHANNEL_MAX_LINE) {
      this.overlong(text);
      this.skipping = true; // until the next newline
    } else this.partial = text;
    return lines;
  }
}
