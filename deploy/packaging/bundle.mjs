// The bundles the packages ship, built with esbuild from tsc's output (run `tsc -b` first):
// - the guest: one CommonJS file, no node_modules, for Node >= 18 (the single-file guest, and the
//   script inside the executable);
// - the host: ESM for Node >= 20 in a directory (its libvirt worker beside it), with koffi, a native
//   addon that cannot be bundled, copied into its node_modules.
import { build } from "esbuild";
import { chmodSync, cpSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repo } from "./paths.mjs";

/** The version baked into a bundle (it has no package.json beside it to read). */
const defineVersion = (version) => ({ "process.env.SCAPH_BUNDLED_VERSION": JSON.stringify(version) });

/** The single-file guest at `outFile`: `node outFile` or `./outFile` runs scaph-guest. */
export async function bundleGuest(outFile, version) {
  await build({
    stdin: {
      // main.ts awaits at top level, which CommonJS cannot: the same two calls, without the await
      contents: `import { runCli } from "@scaph/common"; import { guestProgram } from "./guest/dist/src/cli.js"; void runCli(guestProgram());`,
      resolveDir: repo,
      sourcefile: "scaph-guest-entry.js",
    },
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node18",
    outfile: outFile,
    banner: { js: "#!/usr/bin/env node" },
    define: defineVersion(version),
    minifySyntax: true,
    legalComments: "eof",
    logLevel: "warning",
  });
  chmodSync(outFile, 0o755);
  return outFile;
}

/** The host's files in `outDir`: main.js (the CLI), worker.js and events-worker.js (libvirt off the main thread), node_modules/koffi. */
export async function bundleHost(outDir, version) {
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: {
      main: join(repo, "host/dist/src/main.js"),
      worker: join(repo, "libvirt/dist/src/worker.js"),
      "events-worker": join(repo, "libvirt/dist/src/events-worker.js"),
    },
    bundle: true,
    splitting: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outdir: outDir,
    chunkNames: "chunk-[hash]", // beside worker.js: new URL("./worker.js", import.meta.url) finds it
    external: ["koffi"],
    // CommonJS dependencies (protobufjs) call require(): give ESM one
    banner: { js: `import { createRequire as __scaphCreateRequire } from "node:module"; const require = __scaphCreateRequire(import.meta.url);` },
    define: defineVersion(version),
    minifySyntax: true,
    legalComments: "eof",
    logLevel: "warning",
  });
  writeFileSync(join(outDir, "package.json"), JSON.stringify({ name: "scaph-host-bundle", version, private: true, type: "module" }, null, 2) + "\n");
  for (const dep of ["koffi", "@koromix/koffi-linux-x64"]) {
    const from = join(repo, "node_modules", dep);
    if (!existsSync(from)) throw new Error(`${from} is missing: run npm ci first`);
    cpSync(from, join(outDir, "node_modules", dep), { recursive: true, filter: (src) => !/\/(doc|vendor)(\/|$)|\.(cc|hh|h|inc|S|asm)$|CMakeLists\.txt$/.test(src.slice(from.length)) }); // the addon, not its sources
  }
  return outDir;
}
