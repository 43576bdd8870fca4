export * from "./fixtures.js";
export * from "./simulator.js";
export * from "./rig.js";
export * from "./golden.js";
export * from "./root.js";
