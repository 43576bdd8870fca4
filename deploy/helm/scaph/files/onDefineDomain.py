#!/usr/bin/env python3
"""scaph's KubeVirt hook for the sidecar-shim's ConfigMap (hookPath /usr/bin/onDefineDomain).

The sidecar-shim runs `onDefineDomain --vmi <VMI JSON> --domain <domain XML>` and takes stdout as the
domain XML. This adds scaph's channel (org.scaph.energy.0, a unix socket in bind mode in the VMI's private
directory, which exists and which qemu, uid 107, may write); scaph-host qemu on the node reaches the socket
through /proc/<qemu pid>/root/. Python's standard library only: it runs in KubeVirt's sidecar-shim image.
It is the same edit as `scaph-host kubevirt-hook onDefineDomain` (host/src/kubevirt/hook.ts), for clusters
that take the hook as a ConfigMap rather than from scaph's image.

A hook that fails stops the VM from starting: anything it cannot read, or must not change, comes out
unchanged, byte for byte, with the reason on stderr, and it always exits 0.
"""
import json
import re
import sys
from xml.dom import minidom
from xml.parsers import expat

CHANNEL_NAME = "org.scaph.energy.0"
PRIVATE_DIR = "/var/run/kubevirt-private"
SOCKET = "scaph-energy.sock"
UID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class Unchanged(Exception):
    pass


def arg(argv, name):
    for i, a in enumerate(argv[:-1]):
        if a == name:
            return argv[i + 1]
    return None


def vmi_uid(text):
    try:
        uid = json.loads(text or "").get("metadata", {}).get("uid")
    except (ValueError, AttributeError):
        return None
    return uid if isinstance(uid, str) and UID.match(uid) else None


def elements(parent, name):
    return [n for n in parent.childNodes if n.nodeType == n.ELEMENT_NODE and n.tagName == name]


def is_scaph_channel(channel):
    return any(t.getAttribute("type") == "virtio" and t.getAttribute("name") == CHANNEL_NAME for t in elements(channel, "target"))


def append_indented(doc, parent, el, depth):
    """As host/src/vm/domain-xml.ts appends: on a line of its own, indented as its siblings."""
    indent = "  " * depth
    last = parent.lastChild
    closing = last if last is not None and last.nodeType == last.TEXT_NODE and last.data.strip() == "" else None
    if closing is not None:
        parent.insertBefore(doc.createTextNode("\n" + indent), closing)
        parent.insertBefore(el, closing)
    else:
        parent.appendChild(doc.createTextNode("\n" + indent))
        parent.appendChild(el)
        parent.appendChild(doc.createTextNode("\n" + "  " * max(0, depth - 1)))


def refuse_dtd(xml):
    """A DOCTYPE (entities to expand) is nothing virt-launcher writes: refused before anything is expanded."""

    def doctype(*_):
        raise Unchanged("not a libvirt domain XML: it has a DOCTYPE")

    p = expat.ParserCreate()
    p.StartDoctypeDeclHandler = doctype
    p.EntityDeclHandler = doctype
    p.Parse(xml, True)


def add_channel(xml, path):
    try:
        refuse_dtd(xml)
        doc = minidom.parseString(xml)
    except Unchanged:
        raise
    except Exception as err:  # expat's errors, and any other: the XML is left as it is
        raise Unchanged("not a libvirt domain XML: %s" % err)
    dom = doc.documentElement
    if dom is None or dom.tagName != "domain":
        raise Unchanged("not a libvirt domain XML")
    devices = (elements(dom, "devices") or [None])[0]
    if devices is not None and any(is_scaph_channel(c) for c in elements(devices, "channel")):
        raise Unchanged("it already has scaph's channel")
    if devices is None:
        devices = doc.createElement("devices")
        append_indented(doc, dom, devices, 1)
    channel = doc.createElement("channel")
    channel.setAttribute("type", "unix")
    source = doc.createElement("source")
    source.setAttribute("mode", "bind")
    source.setAttribute("path", path)
    target = doc.createElement("target")
    target.setAttribute("type", "virtio")
    target.setAttribute("name", CHANNEL_NAME)
    channel.appendChild(doc.createTextNode("\n      "))
    channel.appendChild(source)
    channel.appendChild(doc.createTextNode("\n      "))
    channel.appendChild(target)
    channel.appendChild(doc.createTextNode("\n    "))
    append_indented(doc, devices, channel, 2)
    out = dom.toxml()
    return out + "\n" if xml.endswith("\n") and not out.endswith("\n") else out


def main(argv):
    xml = arg(argv, "--domain")
    if xml is None:
        sys.stderr.write("scaph onDefineDomain: no --domain XML given: nothing to print\n")
        return 0
    try:
        uid = vmi_uid(arg(argv, "--vmi"))
        if uid is None:
            raise Unchanged("--vmi holds no VMI with a metadata.uid")
        path = "%s/%s/%s" % (PRIVATE_DIR, uid, SOCKET)
        out = add_channel(xml, path)
        sys.stderr.write("scaph onDefineDomain: add <channel> virtio %s at %s\n" % (CHANNEL_NAME, path))
    except Unchanged as why:
        sys.stderr.write("scaph onDefineDomain: domain XML left unchanged: %s\n" % why)
        out = xml
    except Exception as err:  # never fail the VM
        sys.stderr.write("scaph onDefineDomain: domain XML left unchanged: %s\n" % err)
        out = xml
    sys.stdout.write(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
