export { hostProgram, hostEnvironment } from "./cli.js";
