export { checkGolden } from "@scaph/test-support";
