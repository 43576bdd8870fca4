/**
 * deploy/kubernetes/grafana: the Grafana chart's values and the dashboards'
 * ConfigMap agree with each other and with the dashboards as they are now
 * (dashboards.yaml is generated: make-dashboards.mjs). kubectl kustomize and
 * the ConfigMap's schema are checked in files.system.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parse } from "yaml";
import { repoRoot } from "../helpers/cli.js";

const dir = join(repoRoot, "deploy/kubernetes/grafana");

interface Values {
  datasources: { "datasources.yaml": { datasources: { type: string; url: string; isDefault?: boolean }[] } };
  dashboardProviders: { "dashboardproviders.yaml": { providers: { name: string; type: string; options: { path: string } }[] } };
  dashboardsConfigMaps: Record<string, string>;
}

test("dashboards.yaml is the dashboards as they are now (node deploy/kubernetes/grafana/make-dashboards.mjs)", async () => {
  const m = (await import(pathToFileURL(join(dir, "make-dashboards.mjs")).href)) as { dashboardsConfigMap(): string };
  assert.equal(readFileSync(join(dir, "dashboards.yaml"), "utf8"), m.dashboardsConfigMap(), "run node deploy/kubernetes/grafana/make-dashboards.mjs");
  const cm = parse(readFileSync(join(dir, "dashboards.yaml"), "utf8")) as { metadata: { name: string; namespace: string }; data: Record<string, string> };
  const files = readdirSync(join(repoRoot, "deploy/grafana/dashboards"))
    .filter((f) => f.endsWith(".json"))
    .sort();
  assert.deepEqual(Object.keys(cm.data).sort(), files);
  for (const [f, text] of Object.entries(cm.data)) assert.ok((JSON.parse(text) as { uid?: string }).uid, `${f} has a uid`);
});

test("the Grafana chart's values: a default Prometheus datasource, a file provider, and the ConfigMap mounted where the provider reads", () => {
  const v = parse(readFileSync(join(dir, "values.yaml"), "utf8")) as Values;
  const cm = parse(readFileSync(join(dir, "dashboards.yaml"), "utf8")) as { metadata: { name: string; namespace: string } };
  const ds = v.datasources["datasources.yaml"].datasources;
  assert.equal(ds.filter((d) => d.isDefault).length, 1);
  // the prometheus-community chart installed as "prometheus" (docs/deployment.md's command) serves at prometheus-server
  assert.match(ds[0]!.url, new RegExp(`^http://prometheus-server\\.${cm.metadata.namespace}\\.svc`));
  assert.equal(ds[0]!.type, "prometheus", "the dashboards' datasource variable asks for a prometheus datasource");
  const providers = v.dashboardProviders["dashboardproviders.yaml"].providers;
  for (const [provider, configMap] of Object.entries(v.dashboardsConfigMaps)) {
    assert.equal(configMap, cm.metadata.name);
    const p = providers.find((x) => x.name === provider);
    assert.ok(p, `a provider ${provider}`);
    // the chart mounts dashboardsConfigMaps.<provider> at /var/lib/grafana/dashboards/<provider>
    assert.equal(p.options.path, `/var/lib/grafana/dashboards/${provider}`);
    assert.equal(p.type, "file");
  }
  const readme = readFileSync(join(repoRoot, "docs/deployment.md"), "utf8");
  assert.match(readme, /helm install grafana grafana\/grafana --namespace monitoring --values deploy\/kubernetes\/grafana\/values\.yaml/);
  assert.match(readme, /kubectl apply -k deploy\/kubernetes\/grafana/);
  assert.match(readme, /helm install prometheus prometheus-community\/prometheus --namespace monitoring/);
});
