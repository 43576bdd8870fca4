export * from "./fixtures.js";
export * from "./simulator.js";
