export { hostProgram, hostEnvironment } from "./cli.js";
export { parseQemuCmdline, qemuFlavour, parseNameOption, splitQemuOpts } from "./qemu/cmdline.js";
export type { QemuIdentity } from "./qemu/cmdline.js";
export { unsafeNameReason, isSafeDirName } from "./qemu/names.js";
export { Propagator } from "./qemu/propagator.js";
export type { PropagationStep, VmStep, PropagatorOptions } from "./qemu/propagator.js";
export { VmTree, vmZones, DEFAULT_MAX_UJ } from "./qemu/vm-tree.js";
export { DEFAULT_BASE_DIR, DEFAULT_CONNECT_URI } from "./commands/qemu.js";
export { libvirtPidReader, DEFAULT_LIBVIRT_RUN_DIR, qemuConfUser } from "./qemu/policy.js";
