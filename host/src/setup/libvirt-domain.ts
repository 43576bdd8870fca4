import { Connection, DomainXMLFlags, LibvirtError, LibvirtUnavailableError } from "@scaph/libvirt";
import type { Domain } from "@scaph/libvirt";
import { errorMessage, ScaphError } from "@scaph/common";

/** Opens libvirt for setup/teardown/status, with errors that name the URI. */
export function openLibvirt(uri: string, readOnly = false): Connection {
  try {
    return readOnly ? Connection.openReadOnly(uri) : Connection.open(uri);
  } catch (err) {
    if (err instanceof LibvirtUnavailableError) throw new ScaphError(err.message, { cause: err });
    throw new ScaphError(`cannot connect to libvirt at ${uri}: ${errorMessage(err)}\n  ${connectHint(uri, err, readOnly)}`, { cause: err });
  }
}

/** What to do about a failed connection: a permission problem (libvirt's own code says) is not a stopped libvirtd. */
export function connectHint(uri: string, err: unknown, readOnly: boolean): string {
  const denied = err instanceof LibvirtError && err.denied;
  if (readOnly && denied) return `Permission: libvirt refused even a read-only connection (polkit, or the D-Bus it asks, unavailable?): run it with sudo.`;
  if (denied || (!readOnly && process.getuid?.() !== 0 && uri.endsWith(":///system"))) {
    return `Permission: changing domains at ${uri} needs root (or polkit's consent, group libvirt): run it with sudo; --dry-run only reads, as any user.`;
  }
  return "Is libvirtd running? Pass another URI with --connect.";
}

/** The XML flag for a definition that keeps the domain's secrets; none where nothing is defined (--dry-run, read-only). */
export function secureFlag(options: { dryRun: boolean }): number {
  return options.dryRun ? 0 : DomainXMLFlags.SECURE;
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
      throw new ScaphError(`no domain named ${JSON.stringify(name)} at ${conn.uri}; domains there: ${names.length ? names.sort().join(", ") : "(none)"}`);
    }
    throw err;
  }
}
