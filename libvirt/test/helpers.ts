import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file is libvirt/dist/test/). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
/** test:///<abs>/fixtures/libvirt/node.xml: fixture domains, parsed anew by each open. */
export const fixtureUri = `test://${resolve(repoRoot, "fixtures/libvirt/node.xml")}`;

export const FIXTURE = {
  web: { name: "web-1", uuid: "11111111-2222-3333-4444-555555555501" },
  db: { name: "db-1", uuid: "11111111-2222-3333-4444-555555555502" },
  off: { name: "batch-off", uuid: "11111111-2222-3333-4444-555555555503" },
  odd: { name: "odd,name", uuid: "11111111-2222-3333-4444-555555555504" },
};
