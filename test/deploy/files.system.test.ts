/**
 * Each deploy/ file checked by the tool that reads it: promtool (configs,
 * rules, rule unit tests), docker-compose (the stack), kubectl kustomize and
 * the Kubernetes schemas (kubernetes-models) for every rendered object, helm
 * lint and template (the Dockerfile's COPY sources and command: dockerfile.test.ts;
 * the image built and run: docker-image.system.test.ts).
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments, parse } from "yaml";
import { ConfigMap, Namespace, Service, ServiceAccount } from "kubernetes-models/v1";
import { ClusterRole, ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1";
import { DaemonSet } from "kubernetes-models/apps/v1";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { guestBin, hostBin, repoRoot, runNode } from "../helpers/cli.js";
import { helmBinary } from "../helpers/helm.js";
import { requireCommand } from "@scaph/test-support";

const deploy = join(repoRoot, "deploy");
const dir = mkdtempSync(join(tmpdir(), "scaph-deploy-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: readonly string[], cwd = repoRoot): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, [...args], { cwd, maxBuffer: 32 * 1024 * 1024, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** scaph-host with `args` and --help: exit 0 means the command exists and takes every flag given. */
async function assertRealCommand(args: readonly string[], where: string, command?: readonly string[]): Promise<void> {
  // the image's scaph-guest (vm nodes), else its entrypoint, scaph-host
  const guest = command?.some((c) => c.endsWith("/scaph-guest.cjs")) ?? false;
  const r = await runNode(guest ? guestBin : hostBin, [...args, "--help"]);
  assert.equal(r.code, 0, `${where}: ${guest ? "scaph-guest" : "scaph-host"} ${args.join(" ")} is not a command line it takes: ${r.stderr}`);
}

test("promtool: the Prometheus configs, the rules, and the rules' unit tests", async () => {
  const promtool = requireCommand("promtool", "prometheus");
  const c = await run(promtool, ["check", "config", join(deploy, "prometheus/prometheus.yml")]);
  assert.equal(c.code, 0, c.stdout + c.stderr);
  assert.match(c.stdout, /SUCCESS: 3 rule files found/);
  // the compose stack's config, where its container finds it (/etc/prometheus, rules beside it)
  copyFileSync(join(deploy, "compose/prometheus.yml"), join(dir, "prometheus.yml"));
  symlinkSync(join(deploy, "prometheus/rules"), join(dir, "rules"));
  const cc = await run(promtool, ["check", "config", join(dir, "prometheus.yml")]);
  assert.equal(cc.code, 0, cc.stdout + cc.stderr);
  const agent = await run(promtool, ["check", "config", "--agent", join(deploy, "prometheus/agent/scaph-agent.yml")]);
  assert.equal(agent.code, 0, agent.stdout + agent.stderr);
  const rules = readdirSync(join(deploy, "prometheus/rules")).filter((f) => /\.yml$/.test(f) && !f.endsWith(".test.yml"));
  const r = await run(promtool, ["check", "rules", ...rules.map((f) => join(deploy, "prometheus/rules", f))]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const unitTests = readdirSync(join(deploy, "prometheus/rules")).filter((f) => f.endsWith(".test.yml"));
  assert.deepEqual(unitTests.sort(), ["scaph-alerts.test.yml", "scaph-fleet.test.yml"]);
  const t = await run(promtool, ["test", "rules", ...unitTests], join(deploy, "prometheus/rules"));
  assert.equal(t.code, 0, t.stdout + t.stderr);
  assert.equal(t.stdout.match(/SUCCESS/g)?.length, unitTests.length, t.stdout);
});

test("docker-compose accepts the stack; its scaph command and mounts are what the CLI takes", async () => {
  const compose = requireCommand("docker-compose", "docker-compose");
  const cwd = join(deploy, "compose");
  const q = await run(compose, ["config", "-q"], cwd);
  assert.equal(q.code, 0, q.stderr);
  const full = await run(compose, ["config"], cwd);
  const stack = parse(full.stdout) as {
    services: Record<
      string,
      { command?: string[]; volumes?: (string | { source: string; target: string; read_only?: boolean })[]; build?: { context: string; dockerfile: string } }
    >;
  };
  assert.deepEqual(Object.keys(stack.services).sort(), ["grafana", "prometheus", "scaph"]);
  const scaph = stack.services.scaph!;
  await assertRealCommand(scaph.command ?? [], "docker-compose.yaml, service scaph");
  const vols = (scaph.volumes ?? []).map((v) => (typeof v === "string" ? v : `${v.source}:${v.target}${v.read_only ? ":ro" : ""}`));
  assert.ok(vols.includes("/proc:/host/proc:ro") && vols.includes("/sys:/host/sys:ro"), vols.join(", "));
  assert.ok(existsSync(join(scaph.build!.context, scaph.build!.dockerfile)), "the Dockerfile it builds exists");
  // what the stack mounts into Grafana and Prometheus exists
  for (const s of ["grafana", "prometheus"]) {
    for (const v of stack.services[s]?.volumes ?? []) {
      const src = typeof v === "string" ? v.split(":")[0]! : v.source;
      assert.ok(existsSync(src), `${s} mounts ${src}, which exists`);
    }
  }
});

type Validator = (o: Record<string, unknown>) => void;
const VALIDATORS: Record<string, Validator> = {
  "v1/Namespace": (o) => new Namespace(o).validate(),
  "v1/ConfigMap": (o) => new ConfigMap(o).validate(),
  "v1/Service": (o) => new Service(o).validate(),
  "apps/v1/DaemonSet": (o) => new DaemonSet(o).validate(),
  "v1/ServiceAccount": (o) => new ServiceAccount(o).validate(),
  "rbac.authorization.k8s.io/v1/ClusterRole": (o) => new ClusterRole(o).validate(),
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": (o) =>
    new ClusterRoleBinding(o as unknown as ConstructorParameters<typeof ClusterRoleBinding>[0]).validate(),
  "monitoring.coreos.com/v1/ServiceMonitor": (o) => new ServiceMonitor(o as unknown as ConstructorParameters<typeof ServiceMonitor>[0]).validate(),
};

test("kubectl kustomize renders every overlay; each object validates against the Kubernetes schemas", async () => {
  const kubectl = requireCommand("kubectl", "kubernetes-client");
  const overlays = ["base", ...readdirSync(join(deploy, "kubernetes/overlays")).map((o) => `overlays/${o}`)];
  assert.ok(overlays.length >= 3);
  for (const o of overlays) {
    const r = await run(kubectl, ["kustomize", join(deploy, "kubernetes", o)]);
    assert.equal(r.code, 0, `${o}: ${r.stderr}`);
    const objects = parseAllDocuments(r.stdout).map(
      (d) => d.toJSON() as Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string } },
    );
    assert.ok(objects.length >= 3, `${o}: ${objects.length} objects`);
    for (const obj of objects) {
      const key = `${obj.apiVersion}/${obj.kind}`;
      const validate = VALIDATORS[key];
      assert.ok(validate, `${o}: no schema checked for ${key}`);
      try {
        validate(obj);
      } catch (err) {
        assert.fail(`${o}: ${key} ${obj.metadata.name}: ${(err as Error).message}`);
      }
      if (obj.kind !== "DaemonSet") continue;
      const spec = (
        obj as unknown as {
          spec: {
            template: {
              spec: {
                serviceAccountName?: string;
                containers: { command?: string[]; args: string[]; env?: { name: string }[]; volumeMounts: { name: string }[] }[];
                volumes: { name: string }[];
              };
            };
          };
        }
      ).spec.template.spec;
      const volumes = new Set(spec.volumes.map((v) => v.name));
      for (const c of spec.containers) {
        await assertRealCommand(c.args, `${o}: DaemonSet ${obj.metadata.name}`, c.command);
        for (const m of c.volumeMounts) assert.ok(volumes.has(m.name), `${o}: mount ${m.name} has a volume`);
        // --containers everywhere, as Scaphandre's chart: this node's name from the downward API, an account allowed to list pods
        if (!c.args.includes("qemu")) assert.ok(c.args.includes("--containers"), `${o}: --containers in ${c.args.join(" ")}`);
        assert.ok(
          c.env?.some((e) => e.name === "NODE_NAME"),
          `${o}: NODE_NAME`,
        );
      }
      assertPodReader(objects, spec.serviceAccountName, o);
    }
    // a Service annotated for prometheus.io scrapes everywhere; a ServiceMonitor in each overlay (none in the
    // base, which needs no Prometheus Operator), selecting that Service's labels
    const svc = objects.find((x) => x.kind === "Service") as unknown as { metadata: { labels: Record<string, string>; annotations?: Record<string, string> } };
    assert.equal(svc.metadata.annotations?.["prometheus.io/scrape"], "true", `${o}: the Service is annotated for scrapes`);
    const mon = objects.find((x) => x.kind === "ServiceMonitor") as unknown as { spec: { selector: { matchLabels: Record<string, string> } } } | undefined;
    if (o === "base") {
      assert.equal(mon, undefined, "the base needs no Prometheus Operator");
      const ds = objects.find((x) => x.kind === "DaemonSet") as unknown as RenderedDaemonSet;
      assert.equal(ds.spec.template.spec.nodeSelector, undefined, "the base runs on every node");
      continue;
    }
    assert.ok(mon, `${o}: a ServiceMonitor`);
    for (const [k, v] of Object.entries(mon.spec.selector.matchLabels)) assert.equal(svc.metadata.labels[k], v, `${o}: the ServiceMonitor selects ${k}=${v}`);
  }
});

test("kubectl kustomize renders the Grafana dashboards' ConfigMap; it validates against the Kubernetes schema", async () => {
  const kubectl = requireCommand("kubectl", "kubernetes-client");
  const r = await run(kubectl, ["kustomize", join(deploy, "kubernetes/grafana")]);
  assert.equal(r.code, 0, r.stderr);
  const objects = parseAllDocuments(r.stdout).map((d) => d.toJSON() as K8sObject);
  assert.deepEqual(
    objects.map((o) => `${o.kind}/${o.metadata.name}`),
    ["ConfigMap/scaph-dashboards"],
  );
  VALIDATORS["v1/ConfigMap"]!(objects[0]!);
  // within what kubectl apply keeps in its last-applied annotation (256 KiB)
  assert.ok(r.stdout.length < 256 * 1024, `${r.stdout.length} bytes`);
});

/** The DaemonSet's service account exists and is bound to a role that lists and watches pods. */
function assertPodReader(objects: readonly { kind: string; metadata: { name: string } }[], account: string | undefined, where: string): void {
  assert.ok(account, `${where}: the DaemonSet has a service account`);
  assert.ok(
    objects.some((x) => x.kind === "ServiceAccount" && x.metadata.name === account),
    `${where}: ServiceAccount ${account}`,
  );
  const binding = objects.find((x) => x.kind === "ClusterRoleBinding") as unknown as
    { roleRef: { name: string }; subjects: { kind: string; name: string }[] } | undefined;
  assert.ok(
    binding?.subjects.some((s) => s.kind === "ServiceAccount" && s.name === account),
    `${where}: bound to ${account}`,
  );
  const role = objects.find((x) => x.kind === "ClusterRole" && x.metadata.name === binding?.roleRef.name) as unknown as
    { rules: { resources: string[]; verbs: string[] }[] } | undefined;
  assert.ok(
    role?.rules.some((r) => r.resources.includes("pods") && r.verbs.includes("list") && r.verbs.includes("watch")),
    `${where}: the role lists and watches pods`,
  );
  assert.ok(!role?.rules.some((r) => r.verbs.some((v) => !["get", "list", "watch"].includes(v))), `${where}: the role only reads`);
}

type K8sObject = Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; annotations?: Record<string, string> } };
interface RenderedDaemonSet {
  spec: {
    template: {
      spec: { nodeSelector?: Record<string, string>; tolerations?: { operator: string }[]; serviceAccountName?: string; containers: { args: string[] }[] };
    };
  };
}

/** `helm template` of the chart with `sets`, each object checked against its schema; the objects. */
async function helmTemplate(helm: string, sets: readonly string[]): Promise<K8sObject[]> {
  const r = await run(helm, ["template", "scaphandre", join(deploy, "helm/scaph"), "--namespace", "monitoring", ...sets.flatMap((s) => ["--set", s])]);
  assert.equal(r.code, 0, r.stderr);
  const objects = parseAllDocuments(r.stdout)
    .map((d) => d.toJSON() as K8sObject)
    .filter(Boolean);
  for (const obj of objects) {
    const key = `${obj.apiVersion}/${obj.kind}`;
    const validate = VALIDATORS[key];
    assert.ok(validate, `helm template: no schema checked for ${key}`);
    try {
      validate(obj);
    } catch (err) {
      assert.fail(`helm template ${sets.join(" ")}: ${key} ${obj.metadata.name}: ${(err as Error).message}`);
    }
  }
  return objects;
}

test("the Helm chart (Scaphandre's values): helm lint; helm template, with defaults and overrides, gives schema-valid objects and a command scaph-host takes", async () => {
  const helm = helmBinary();
  const lint = await run(helm, ["lint", join(deploy, "helm/scaph"), "--strict"]);
  assert.equal(lint.code, 0, lint.stdout + lint.stderr);
  // Defaults: every node, every taint, a Service for prometheus-community/prometheus, no ServiceMonitor
  const def = await helmTemplate(helm, []);
  assert.deepEqual(def.map((o) => o.kind).sort(), ["ClusterRole", "ClusterRoleBinding", "DaemonSet", "Service", "ServiceAccount"]);
  const ds = def.find((o) => o.kind === "DaemonSet") as unknown as RenderedDaemonSet;
  assert.equal(ds.spec.template.spec.nodeSelector, undefined, "runs on every node");
  assert.deepEqual(ds.spec.template.spec.tolerations, [{ operator: "Exists" }]);
  const svc = def.find((o) => o.kind === "Service")!;
  assert.equal(svc.metadata.annotations?.["prometheus.io/scrape"], "true");
  assert.equal(svc.metadata.annotations?.["prometheus.io/port"], "8080");
  await assertRealCommand(ds.spec.template.spec.containers[0]!.args, "helm template (defaults)");
  assert.ok(ds.spec.template.spec.containers[0]!.args.includes("--containers"), "--containers by default, as Scaphandre's chart");
  assertPodReader(def, ds.spec.template.spec.serviceAccountName, "helm template (defaults)");
  // --containers off: extraArgs.containers=null
  const off = (await helmTemplate(helm, ["scaphandre.extraArgs.containers=null"])).find((o) => o.kind === "DaemonSet") as unknown as RenderedDaemonSet;
  assert.ok(!off.spec.template.spec.containers[0]!.args.includes("--containers"), off.spec.template.spec.containers[0]!.args.join(" "));
  // nodes that are VMs: scaph-guest on the tree the node has, or on the channel's port
  for (const sets of [["vm=true"], ["vm=true", "vmChannel=true", "vmTree=/srv/scaph"]]) {
    const vmDs = (await helmTemplate(helm, sets)).find((o) => o.kind === "DaemonSet") as unknown as RenderedDaemonSet & {
      spec: {
        template: {
          spec: { volumes: { name: string; hostPath: { path: string } }[]; containers: { command?: string[]; securityContext: { privileged: boolean } }[] };
        };
      };
    };
    const c = vmDs.spec.template.spec.containers[0]!;
    assert.deepEqual(c.command, ["/usr/lib/scaph-host/node", "/usr/lib/scaph-host/scaph-guest.cjs"]);
    await assertRealCommand(c.args, `helm template ${sets.join(" ")}`, c.command);
    assert.ok(c.args.includes("--containers") && c.args.includes("--powercap-path=/host/vm-tree"), c.args.join(" "));
    const channel = sets.includes("vmChannel=true");
    assert.equal(c.args.includes("--no-channel"), !channel);
    assert.equal(c.securityContext.privileged, channel, "a device (the channel's port) needs a privileged container");
    assert.equal(vmDs.spec.template.spec.volumes.find((v) => v.name === "vm-tree")?.hostPath.path, channel ? "/srv/scaph" : "/var/scaphandre");
  }
  // Overrides as Scaphandre's chart takes them: args and extraArgs as --key=value or --key, the monitor, no RBAC
  const over = await helmTemplate(helm, [
    "serviceMonitor.enabled=true",
    "serviceMonitor.interval=30s",
    "scaphandre.args.sensor=estimate",
    "scaphandre.extraArgs.no-cmdline=",
    "port=9100",
    "rbac.create=false",
    "nodeSelector.kubernetes\\.io/os=linux",
  ]);
  assert.deepEqual(over.map((o) => o.kind).sort(), ["DaemonSet", "Service", "ServiceMonitor"]);
  const ds2 = over.find((o) => o.kind === "DaemonSet") as unknown as RenderedDaemonSet;
  const args = ds2.spec.template.spec.containers[0]!.args;
  assert.ok(args.includes("--sensor=estimate") && args.includes("--no-cmdline") && args.includes("--port=9100"), args.join(" "));
  assert.equal(ds2.spec.template.spec.serviceAccountName, undefined);
  assert.deepEqual(ds2.spec.template.spec.nodeSelector, { "kubernetes.io/os": "linux" });
  await assertRealCommand(args, "helm template (overrides)");
  const mon = over.find((o) => o.kind === "ServiceMonitor") as unknown as { spec: { endpoints: { interval: string }[] } };
  assert.equal(mon.spec.endpoints[0]?.interval, "30s");
  // KubeVirt nodes: scaph-host qemu --prometheus (each VM's share over its channel), and the hook as the ConfigMap
  // KubeVirt's sidecar-shim takes: the very file its test runs (host/test/kubevirt/hook-configmap.system.test.ts)
  const kv = await helmTemplate(helm, ["kubevirt=true"]);
  const hookMap = kv.find((o) => o.kind === "ConfigMap") as unknown as { metadata: { name: string }; data: Record<string, string> };
  assert.equal(hookMap.metadata.name, "scaphandre-kubevirt-hook");
  assert.equal(hookMap.data.onDefineDomain, readFileSync(join(deploy, "helm/scaph/files/onDefineDomain.py"), "utf8"));
  const kvArgs = (kv.find((o) => o.kind === "DaemonSet") as unknown as RenderedDaemonSet).spec.template.spec.containers[0]!.args;
  assert.deepEqual(kvArgs.slice(0, 2), ["qemu", "--prometheus"]);
  await assertRealCommand(kvArgs, "helm template kubevirt=true");
});
