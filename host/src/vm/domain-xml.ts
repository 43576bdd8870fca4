import { DOMParser, XMLSerializer } from "@xmldom/xmldom";
import type { Document, Element, Node } from "@xmldom/xmldom";
import { CHANNEL_NAME, ScaphError, SHARE_TAG } from "@scaph/common";
import type { ShareTransport as Transport } from "@scaph/common";
/** Serializes, keeping the original's trailing newline. (xmldom writes attributes in double quotes.) */
function serialize(doc: Document, original: string): string {
  const out = new XMLSerializer().serializeToString(doc);
  return original.endsWith("\n") && !out.endsWith("\n") ? out + "\n" : out;
}

/** The document as our edits serialize it, unchanged otherwise: diff against this to see only real changes. */
export function normalizeXml(xml: string): string {
  return serialize(parse(xml), xml);
}

export interface ShareSpec {
  transport: Transport;
  /** Host directory shared with the guest. */
  sourceDir: string;
  /** Add <readonly/> to a virtiofs share (libvirt 11 and later accept it). */
  virtiofsReadonly: boolean;
}

export interface FoundShare {
  transport: Transport;
  sourceDir: string | null;
  readonly: boolean;
}

const ELEMENT_NODE = 1;

function parse(xml: string): Document {
  const errors: string[] = [];
  const doc = new DOMParser({
    onError: (level, msg) => {
      if (level !== "warning") errors.push(msg);
    },
  }).parseFromString(xml, "text/xml");
  const root = doc.documentElement;
  if (errors.length > 0 || !root || root.nodeName !== "domain") {
    throw new ScaphError(`not a libvirt domain XML${errors.length ? `: ${errors[0]}` : ""}`);
  }
  return doc;
}

function children(el: Element, name: string): Element[] {
  const out: Element[] = [];
  for (let n: Node | null = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === ELEMENT_NODE && n.nodeName === name) out.push(n as Element);
  }
  return out;
}

function child(el: Element, name: string): Element | null {
  return children(el, name)[0] ?? null;
}

/** The indentation of an element's children, from its existing layout (libvirt uses 2 spaces). */
function indentOf(parent: Element, depth: number): string {
  for (let n: Node | null = parent.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 3 && /^\n[ \t]*$/.test(n.nodeValue ?? "") && n.nextSibling?.nodeType === ELEMENT_NODE) return (n.nodeValue ?? "").slice(1);
  }
  return "  ".repeat(depth);
}

/** Appends `el` as the last element child of `parent`, indented like its siblings. */
function appendIndented(doc: Document, parent: Element, el: Element, depth: number): void {
  const indent = indentOf(parent, depth);
  const last = parent.lastChild;
  const closing = last && last.nodeType === 3 && /^\s*$/.test(last.nodeValue ?? "") ? last : null;
  const before = doc.createTextNode(`\n${indent}`);
  if (closing) {
    parent.insertBefore(before, closing);
    parent.insertBefore(el, closing);
  } else {
    parent.appendChild(before);
    parent.appendChild(el);
    parent.appendChild(doc.createTextNode(`\n${"  ".repeat(Math.max(0, depth - 1))}`));
  }
}

/** Inserts `el` right after `ref` (or last when null), indented for `depth`. */
function insertAfter(doc: Document, parent: Element, el: Element, ref: Element | null, depth: number): void {
  if (!ref || !ref.nextSibling) return appendIndented(doc, parent, el, depth);
  const next = ref.nextSibling;
  parent.insertBefore(doc.createTextNode(`\n${indentOf(parent, depth)}`), next);
  parent.insertBefore(el, next);
}

/** Builds an element from markup, indented for `depth`. */
function fragment(doc: Document, markup: string, depth: number): Element {
  const pad = "  ".repeat(depth);
  const text = markup
    .split("\n")
    .map((l, i) => (i === 0 ? l : pad + l))
    .join("\n");
  const el = new DOMParser().parseFromString(text, "text/xml").documentElement;
  if (!el) throw new Error("bad fragment");
  return doc.importNode(el, true);
}

function attr(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/'/g, "&apos;").replace(/</g, "&lt;").replace(/"/g, "&quot;");
}

/** The <filesystem> element for a transport, as DESIGN.md gives it. */
export function filesystemXml(spec: ShareSpec): string {
  const lines =
    spec.transport === "virtiofs"
      ? [
          "<filesystem type='mount' accessmode='passthrough'>",
          "  <driver type='virtiofs'/>",
          "  <binary>",
          "    <cache mode='none'/>",
          "  </binary>",
          `  <source dir='${attr(spec.sourceDir)}'/>`,
          `  <target dir='${SHARE_TAG}'/>`,
          ...(spec.virtiofsReadonly ? ["  <readonly/>"] : []),
          "</filesystem>",
        ]
      : [
          "<filesystem type='mount' accessmode='passthrough'>",
          `  <source dir='${attr(spec.sourceDir)}'/>`,
          `  <target dir='${SHARE_TAG}'/>`,
          "  <readonly/>",
          "</filesystem>",
        ];
  return lines.join("\n");
}

function shareElements(doc: Document): Element[] {
  const devices = child(doc.documentElement as Element, "devices");
  if (!devices) return [];
  return children(devices, "filesystem").filter((fs) => child(fs, "target")?.getAttribute("dir") === SHARE_TAG);
}

/** The scaphandre share of a domain XML, or null. */
export function findShare(xml: string): FoundShare | null {
  const fs = shareElements(parse(xml))[0];
  if (!fs) return null;
  return {
    transport: child(fs, "driver")?.getAttribute("type") === "virtiofs" ? "virtiofs" : "9p",
    sourceDir: child(fs, "source")?.getAttribute("dir") ?? null,
    readonly: child(fs, "readonly") !== null,
  };
}

export interface Edit {
  xml: string;
  changed: boolean;
  /** What was changed, one line each. */
  notes: string[];
}

/**
 * Adds the share (and, for virtiofs, shared memfd memory backing) to a domain
 * XML. Nothing else changes: an XML DOM edit that keeps every other byte's
 * layout. A domain that already has the share is left as it is.
 */
export function addShare(xml: string, spec: ShareSpec): Edit {
  const doc = parse(xml);
  const dom = doc.documentElement as Element;
  const notes: string[] = [];
  const existing = shareElements(doc)[0];
  if (existing) {
    const found = findShare(xml);
    if (found && found.transport !== spec.transport) {
      throw new ScaphError(`the domain already shares "${SHARE_TAG}" over ${found.transport}; run teardown first to switch to ${spec.transport}`);
    }
  } else {
    let devices = child(dom, "devices");
    if (!devices) {
      devices = doc.createElement("devices");
      appendIndented(doc, dom, devices, 1);
    }
    appendIndented(doc, devices, fragment(doc, filesystemXml(spec), 2), 2);
    notes.push(`add <filesystem> ${spec.transport} ${spec.sourceDir} -> tag ${SHARE_TAG}`);
  }
  if (spec.transport === "virtiofs") {
    let mb = child(dom, "memoryBacking");
    if (!mb) {
      mb = fragment(doc, "<memoryBacking>\n  <source type='memfd'/>\n  <access mode='shared'/>\n</memoryBacking>", 1);
      insertAfter(doc, dom, mb, child(dom, "currentMemory") ?? child(dom, "memory"), 1);
      notes.push("add <memoryBacking> memfd, shared (virtiofs needs shared memory)");
    } else {
      if (!child(mb, "source")) {
        appendIndented(doc, mb, fragment(doc, "<source type='memfd'/>", 2), 2);
        notes.push("add <memoryBacking><source type='memfd'/>");
      }
      const access = child(mb, "access");
      if (!access) {
        appendIndented(doc, mb, fragment(doc, "<access mode='shared'/>", 2), 2);
        notes.push("add <memoryBacking><access mode='shared'/>");
      } else if (access.getAttribute("mode") !== "shared") {
        access.setAttribute("mode", "shared");
        notes.push("set <memoryBacking><access mode='shared'/>");
      }
    }
  }
  return { xml: notes.length ? serialize(doc, xml) : xml, changed: notes.length > 0, notes };
}

/** Removes the share from a domain XML (memory backing is left: other devices may need it). */
export function removeShare(xml: string): Edit {
  const doc = parse(xml);
  const found = shareElements(doc);
  if (found.length === 0) return { xml, changed: false, notes: [] };
  for (const fs of found) {
    const prev = fs.previousSibling;
    if (prev && prev.nodeType === 3 && /^\s*$/.test(prev.nodeValue ?? "")) prev.parentNode?.removeChild(prev);
    fs.parentNode?.removeChild(fs);
  }
  return { xml: serialize(doc, xml), changed: true, notes: [`remove <filesystem> tag ${SHARE_TAG}`] };
}

/** Whether the domain XML has shared memory backing (virtiofs needs it, also for hot-plug). */
export function hasSharedMemory(xml: string): boolean {
  const mb = child(parse(xml).documentElement as Element, "memoryBacking");
  return mb !== null && child(mb, "access")?.getAttribute("mode") === "shared";
}

/** The share's <filesystem> element as XML (to detach it from a running domain), or null. */
export function shareElementXml(xml: string): string | null {
  const fs = shareElements(parse(xml))[0];
  return fs ? new XMLSerializer().serializeToString(fs) : null;
}

/** The virtio-serial channel of the channel transport; libvirt picks the socket path unless given one. */
export function channelXml(path?: string): string {
  const source = path === undefined ? "<source mode='bind'/>" : `<source mode='bind' path='${escapeAttr(path)}'/>`;
  return ["<channel type='unix'>", `  ${source}`, `  <target type='virtio' name='${CHANNEL_NAME}'/>`, "</channel>"].join("\n");
}

function escapeAttr(v: string): string {
  return v.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/'/g, "&apos;").replace(/"/g, "&quot;");
}

function channelElements(doc: Document): Element[] {
  const devices = child(doc.documentElement as Element, "devices");
  if (!devices) return [];
  return children(devices, "channel").filter((c) => {
    const t = child(c, "target");
    return t?.getAttribute("type") === "virtio" && t.getAttribute("name") === CHANNEL_NAME;
  });
}

export interface FoundChannel {
  /** The unix socket libvirt made for it (live XML), or null. */
  path: string | null;
  /** The guest side's state (live XML): connected, disconnected, or null. */
  state: string | null;
}

/** The scaph channel of a domain XML, or null. */
export function findChannel(xml: string): FoundChannel | null {
  const c = channelElements(parse(xml))[0];
  if (!c) return null;
  const source = child(c, "source");
  return {
    path: c.getAttribute("type") === "unix" ? (source?.getAttribute("path") ?? null) : null,
    state: child(c, "target")?.getAttribute("state") ?? null,
  };
}

/** Whether the domain has a virtio-serial controller (a channel can be hot-plugged only then). */
export function hasVirtioSerial(xml: string): boolean {
  const devices = child(parse(xml).documentElement as Element, "devices");
  return devices !== null && children(devices, "controller").some((c) => c.getAttribute("type") === "virtio-serial");
}

/**
 * Adds the channel to a domain XML (libvirt adds the virtio-serial
 * controller it needs when defining it); its socket at `path` where given.
 */
export function addChannel(xml: string, path?: string): Edit {
  const doc = parse(xml);
  if (channelElements(doc).length > 0) return { xml, changed: false, notes: [] };
  const dom = doc.documentElement as Element;
  let devices = child(dom, "devices");
  if (!devices) {
    devices = doc.createElement("devices");
    appendIndented(doc, dom, devices, 1);
  }
  appendIndented(doc, devices, fragment(doc, channelXml(path), 2), 2);
  return { xml: serialize(doc, xml), changed: true, notes: [`add <channel> virtio ${CHANNEL_NAME}`] };
}

/** Removes the channel from a domain XML. */
export function removeChannel(xml: string): Edit {
  const doc = parse(xml);
  const found = channelElements(doc);
  if (found.length === 0) return { xml, changed: false, notes: [] };
  for (const c of found) {
    const prev = c.previousSibling;
    if (prev && prev.nodeType === 3 && /^\s*$/.test(prev.nodeValue ?? "")) prev.parentNode?.removeChild(prev);
    c.parentNode?.removeChild(c);
  }
  return { xml: serialize(doc, xml), changed: true, notes: [`remove <channel> ${CHANNEL_NAME}`] };
}

/** The channel element as XML (to detach it from a running domain), or null. */
export function channelElementXml(xml: string): string | null {
  const c = channelElements(parse(xml))[0];
  return c ? new XMLSerializer().serializeToString(c) : null;
}

/** OpenStack Nova's namespace for its <metadata> (1.0, 1.1...). */
const NOVA_NS = "http://openstack.org/xmlns/libvirt/nova/";
/** Longest label value taken from a domain's metadata (a tenant chooses these). */
const MAX_LABEL = 128;

function textOf(el: Element | null): string | null {
  const t = el?.textContent?.trim() ?? "";
  if (t === "" || /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\uFFFD]/u.test(t)) return null; // unreadable or invisible: no label rather than a lie
  return t.normalize("NFC").slice(0, MAX_LABEL);
}

function nsChild(el: Element, local: string): Element | null {
  for (let n: Node | null = el.firstChild; n; n = n.nextSibling) {
    const e = n as Element;
    if (n.nodeType === ELEMENT_NODE && e.localName === local && (e.namespaceURI ?? "").startsWith(NOVA_NS)) return e;
  }
  return null;
}

/**
 * The labels OpenStack Nova's metadata gives a domain (whose libvirt name is
 * `instance-0000XXXX`): `nova_instance` (the instance's name) and
 * `nova_project` (its project's name), where present. Empty for any other domain.
 */
export function findNovaLabels(xml: string): Record<string, string> {
  const dom = parse(xml).documentElement as Element;
  const meta = child(dom, "metadata");
  const inst = meta ? nsChild(meta, "instance") : null;
  if (!inst) return {};
  const name = textOf(nsChild(inst, "name"));
  const owner = nsChild(inst, "owner");
  const project = textOf(owner ? nsChild(owner, "project") : null);
  return { ...(name ? { nova_instance: name } : {}), ...(project ? { nova_project: project } : {}) };
}
