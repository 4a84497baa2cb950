import { readFileSync } from 'node:fs';

/**
 * What the kernel's own xattr code decides by the calling task's capabilities, a FUSE server must
 * decide itself from the request's pid: the VFS hides trusted.* values from callers without
 * CAP_SYS_ADMIN, but a name list comes from the server, so the server filters it as the in-kernel
 * filesystems do (the trusted xattr handler's list() asks capable(CAP_SYS_ADMIN)).
 */

const CAP_SYS_ADMIN = 21n;
const TRUSTED_PREFIX = Buffer.from('trusted.');

/** Whether process `pid` holds CAP_SYS_ADMIN in its effective set; unknown (gone, pid 0) is no. */
export function hasSysAdmin(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    const mask = /^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return mask !== undefined && ((BigInt(`0x${mask}`) >> CAP_SYS_ADMIN) & 1n) === 1n;
  } catch {
    return false;
  }
}

/** The xattr names process `pid` may see listed: without CAP_SYS_ADMIN, none of trusted.*. */
export function namesVisibleTo(pid: number, names: Buffer[]): Buffer[] {
  const trusted = (name: Buffer) => name.subarray(0, TRUSTED_PREFIX.length).equals(TRUSTED_PREFIX);
  if (!names.some(trusted) || hasSysAdmin(pid)) return names;
  return names.filter((name) => !trusted(name));
}
