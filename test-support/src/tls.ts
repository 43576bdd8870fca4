import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fixturesDir } from "./fixtures.js";

/**
 * The test PKI in fixtures/tls (made once by its make.sh, valid for 100
 * years): `ca` signed `server` (DNS:localhost only, so a client that dials
 * 127.0.0.1 must refuse it), `kubernetes` (127.0.0.1, kubernetes.default.svc)
 * and `client` (clientAuth); `otherCa` signed nothing here.
 */
export interface TestPki {
  ca: Buffer;
  otherCa: Buffer;
  server: { cert: Buffer; key: Buffer };
  kubernetes: { cert: Buffer; key: Buffer };
  client: { cert: Buffer; key: Buffer };
}

export function testPki(): TestPki {
  const r = (f: string): Buffer => readFileSync(join(fixturesDir(), "tls", f));
  const pair = (n: string): { cert: Buffer; key: Buffer } => ({ cert: r(`${n}.crt`), key: r(`${n}.key`) });
  return { ca: r("ca.crt"), otherCa: r("other-ca.crt"), server: pair("server"), kubernetes: pair("kubernetes"), client: pair("client") };
}
