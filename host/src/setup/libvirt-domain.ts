import { Connection, LibvirtError, LibvirtUnavailableError } from "@scaph/libvirt";
import type { Domain } from "@scaph/libvirt";
import { ScaphError } from "@scaph/common";

/** Opens libvirt for setup/teardown/status, with errors that name the URI. */
export function openLibvirt(uri: string, readOnly = false): Connection {
  try {
    return readOnly ? Connection.openReadOnly(uri) : Connection.open(uri);
  } catch (err) {
    if (err instanceof LibvirtUnavailableError) throw new ScaphError(err.message);
    const msg = err instanceof Error ? err.message : String(err);
    throw new ScaphError(`cannot connect to libvirt at ${uri}: ${msg}\n  Is libvirtd running? Pass another URI with --connect.`);
  }
}

/** Looks a domain up by name; an unknown name is an error that lists the domains there are. */
export function findDomain(conn: Connection, name: string): Domain {
  try {
    return conn.lookupByName(name);
  } catch (err) {
    if (err instanceof LibvirtError && err.is("NO_DOMAIN")) {
      const names = conn.listAllDomains().map((d) => {
        const n = d.name;
        d.free();
        return n;
      });
      throw new ScaphError(
        `no domain named ${JSON.stringify(name)} at ${conn.uri}; domains there: ${names.length ? names.sort().join(", ") : "(none)"}`,
      );
    }
    throw err;
  }
}
