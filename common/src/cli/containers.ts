/** --containers and the options of where container names and pods come from, on every measuring subcommand. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { ScaphError } from "../errors.js";
import { ContainerSource } from "../containers/source.js";
import { DEFAULT_DOCKER_SOCKET, DockerApi } from "../containers/docker.js";
import { DEFAULT_SERVICE_ACCOUNT_DIR, KubernetesPods, kubernetesApiUrl, kubernetesNodeName } from "../containers/kubernetes.js";
import type { MetricsOptions } from "../exporters/metrics.js";
import { compileRegex } from "../exporters/select.js";
import type { Logger } from "../log.js";

export interface ContainerFlags {
  procfsPath: string;
  containers?: boolean;
  containerLabels?: string;
  dockerSocket: string;
  kubernetesApi?: string;
  kubernetesServiceAccount: string;
  kubernetesNode?: string;
}

export function addContainerOptions(cmd: Command): Command {
  return cmd
    .option("--containers", "label each process with its container (Docker, Kubernetes, Podman) and add per-container series")
    .option("--container-labels <regex>", "--containers: also export the Docker labels whose key matches, as container_label_KEY (each one multiplies series)")
    .option("--docker-socket <path>", "--containers: the Docker Engine API's unix socket", DEFAULT_DOCKER_SOCKET)
    .option("--kubernetes-api <url>", "--containers: the Kubernetes API server (default: in a pod, https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)")
    .option("--kubernetes-service-account <dir>", "--containers: the directory of the service account's token and ca.crt", DEFAULT_SERVICE_ACCOUNT_DIR)
    .option("--kubernetes-node <name>", "--containers: this node's name, whose pods are listed (default: $NODE_NAME, else the host name)");
}

/**
 * The container resolver the flags ask for, or undefined without
 * --containers. Docker is asked only once a Docker container is seen, the
 * API server once a pod's container is, and only where one is known.
 */
export function containerSourceFor(options: ContainerFlags, log: Logger): ContainerSource | undefined {
  if (!options.containers) return undefined;
  if (options.containerLabels !== undefined) compileRegex(options.containerLabels); // a bad one is said now
  const api = kubernetesApiUrl(options.kubernetesApi);
  if (api) {
    const ca = join(options.kubernetesServiceAccount, "ca.crt");
    if (!existsSync(ca))
      throw new ScaphError(
        `--containers: the Kubernetes API is ${api.origin}, but its CA ${ca} is absent (is the service account token mounted? --kubernetes-service-account DIR)`,
      );
  } else log.info("containers: no Kubernetes API (not in a pod, no --kubernetes-api): pods' containers get ids and runtimes, no pod names");
  return new ContainerSource({
    procRoot: options.procfsPath,
    log,
    docker: () => new DockerApi(options.dockerSocket, log),
    ...(api
      ? {
          pods: () =>
            new KubernetesPods({ apiUrl: api, serviceAccountDir: options.kubernetesServiceAccount, nodeName: kubernetesNodeName(options.kubernetesNode), log }),
        }
      : {}),
  });
}

/** The exporters' part of the flags. */
export function containerMetrics(options: Pick<ContainerFlags, "containers" | "containerLabels">): Pick<MetricsOptions, "containers"> {
  return options.containers ? { containers: { labelKeys: options.containerLabels !== undefined ? compileRegex(options.containerLabels) : null } } : {};
}
