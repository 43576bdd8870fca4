import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, mkdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { requireCommand } from "@scaph/test-support";

/** The shared libraries `ldd` lists for a binary (the dynamic loader included). */
export function sharedLibraries(binary: string): string[] {
  const out = execFileSync("ldd", [binary], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const libs: string[] = [];
  for (const line of out.split("\n")) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  return libs;
}

/** The static busybox the guests run (a dynamic one would find no libc in the initramfs). */
export function staticBusybox(): string {
  const path = requireCommand("busybox", "busybox-static");
  let libs: string[] = [];
  try {
    libs = sharedLibraries(path);
  } catch {
    // ldd: "not a dynamic executable"
  }
  if (libs.length > 0) throw new Error(`${path} is linked dynamically (${libs.join(", ")}): install the Debian package busybox-static`);
  return path;
}

export interface InitramfsSpec {
  /** Where the image is written (gzip-compressed newc cpio). */
  output: string;
  staging: string;
  busybox: string;
  modules: string[];
  nodeBinary: string;
  /** The repository root: its packages (built) and node_modules are copied. */
  repoRoot: string;
  /** The workspace packages copied (common and guest by default; a nested hypervisor's adds host and libvirt). */
  packages?: readonly string[];
  /** Content of /init. */
  init: string;
}

/**
 * A busybox initramfs with the kernel modules, the host's node with its
 * libraries, and the built scaph-guest with its production dependencies.
 */
export function buildInitramfs(s: InitramfsSpec): void {
  const r = s.staging;
  for (const d of ["bin", "sbin", "proc", "sys", "dev", "tmp", "var/scaphandre", "lib/modules", "scaph"]) mkdirSync(join(r, d), { recursive: true });
  copyFileSync(s.busybox, join(r, "bin", "busybox"));
  chmodSync(join(r, "bin", "busybox"), 0o755);
  for (const m of s.modules) copyFileSync(m, join(r, "lib", "modules", basename(m)));
  writeFileSync(join(r, "lib", "modules", "order"), s.modules.map((m) => basename(m)).join("\n") + "\n");
  copyFileSync(s.nodeBinary, join(r, "bin", "node"));
  chmodSync(join(r, "bin", "node"), 0o755);
  for (const lib of sharedLibraries(s.nodeBinary)) {
    mkdirSync(join(r, dirname(lib)), { recursive: true });
    copyFileSync(lib, join(r, lib));
  }
  const packages = s.packages ?? ["common", "guest"];
  for (const pkg of packages) {
    mkdirSync(join(r, "scaph", pkg), { recursive: true });
    cpSync(join(s.repoRoot, pkg, "package.json"), join(r, "scaph", pkg, "package.json"));
    cpSync(join(s.repoRoot, pkg, "dist", "src"), join(r, "scaph", pkg, "dist", "src"), { recursive: true });
    if (pkg === "guest" || pkg === "host") cpSync(join(s.repoRoot, pkg, "bin"), join(r, "scaph", pkg, "bin"), { recursive: true });
  }
  // Production dependencies: the workspace's node_modules, with @scaph/* pointing at the copies.
  cpSync(join(s.repoRoot, "node_modules"), join(r, "scaph", "node_modules"), {
    recursive: true,
    dereference: false,
    verbatimSymlinks: true,
    // Not the build and test tools (helm's layer and the 160 MB aws-cdk-lib npm puts beside it as its peer,
    // esbuild, the Kubernetes schemas and their ajv): a guest of 512 MiB
    // unpacks the whole initramfs into its memory. koffi stays, without its docs, vendored sources and musl build:
    // scaph-host qemu in a guest (the nested lab) writes its VMs' trees through it.
    filter: (src) =>
      !/node_modules\/(typescript|@types|@scaph|\.bin|@aws-cdk|aws-cdk-lib|constructs|esbuild|@esbuild|kubernetes-models|@kubernetes-models|ajv|ajv-i18n|re2-wasm|fast-uri|uri-js|postject|yaml)(\/|$)/.test(
        src,
      ) && !/node_modules\/(koffi\/(doc|vendor)|@koromix\/koffi-linux-x64\/musl_x64)(\/|$)/.test(src),
  });
  mkdirSync(join(r, "scaph", "node_modules", "@scaph"), { recursive: true });
  for (const pkg of packages) execFileSync("ln", ["-s", `../../${pkg}`, join(r, "scaph", "node_modules", "@scaph", pkg)]);
  writeFileSync(join(r, "init"), s.init);
  chmodSync(join(r, "init"), 0o755);
  execFileSync("sh", ["-c", `cd "$1" && find . | "$2" cpio -o -H newc 2>/dev/null | gzip -1 > "$3"`, "sh", r, s.busybox, s.output]);
}
