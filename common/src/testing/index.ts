export * from "./fixtures.js";
export * from "./simulator.js";
export * from "./rig.js";
export * from "./golden.js";
export * from "./root.js";
export { ACCEPTED_LINT, promtoolLint, promtoolProblems } from "./promtool.js";
export { KNOWN_HOST, knownHost } from "./known-host.js";
export { startRiemannServer } from "./riemann-server.js";
export type { RiemannServerTls, RiemannTestServer } from "./riemann-server.js";
