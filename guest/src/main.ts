import { DEFAULT_GUEST_POWERCAP_PATH } from "./index.js";

process.stderr.write(`scaph-guest is not built yet (it will read ${DEFAULT_GUEST_POWERCAP_PATH}).\n`);
process.exitCode = 1;
