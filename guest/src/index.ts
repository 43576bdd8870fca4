export { guestProgram, guestEnvironment, guestPowercapPath } from "./cli.js";
export { waitForTree, treeProblem, notMountedMessage } from "./wait.js";
export { mountShare, mountFailure } from "./mount.js";
