export { checkGolden } from "@scaph/common/testing";
