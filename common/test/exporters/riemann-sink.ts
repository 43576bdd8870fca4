import { createLogger } from "../../src/index.js";
import { RiemannSink } from "../../src/exporters/riemann/sink.js";

/** A Riemann sink to 127.0.0.1:`port` whose log lines go into `lines`. */
export function sinkTo(port: number, lines: string[], extra: Partial<ConstructorParameters<typeof RiemannSink>[0]> = {}): RiemannSink {
  return new RiemannSink({
    host: "127.0.0.1",
    port,
    log: createLogger({ level: "debug", write: (l) => lines.push(l) }),
    filter: { kind: "top", n: 10 },
    qemu: false,
    eventHost: "hv-1",
    ...extra,
  });
}
