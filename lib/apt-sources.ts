import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The Debian mirror this machine's own apt configuration uses, so fusebench never names a host:
 * the first URI of a deb822 `.sources` stanza or a one-line `sources.list` entry whose suites
 * include this release, serving `main`.
 */

const APT_DIR = '/etc/apt';

/** This release's codename (/etc/os-release VERSION_CODENAME), e.g. bookworm. */
export function debianCodename(): string | null {
  try {
    return /^VERSION_CODENAME=(\S+)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? null;
  } catch {
    return null;
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path).sort();
  } catch {
    return [];
  }
}

function fromDeb822(text: string, codename: string): string | null {
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      const match = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (match) fields.set(match[1]!.toLowerCase(), match[2]!.trim());
    }
    if (fields.get('enabled') === 'no' || !(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
    if (!(fields.get('suites') ?? '').split(/\s+/).includes(codename)) continue;
    if (!(fields.get('components') ?? '').split(/\s+/).includes('main')) continue;
    const uri = fields.get('uris')?.split(/\s+/)[0];
    if (uri) return uri;
  }
  return null;
}

function fromOneLine(text: string, codename: string): string | null {
  for (const line of text.split('\n')) {
    const words = line
      .replace(/#.*/, '')
      .replace(/\[[^\]]*\]/, '')
      .trim()
      .split(/\s+/);
    if (words[0] === 'deb' && words[2] === codename && words.slice(3).includes('main'))
      return words[1] ?? null;
  }
  return null;
}

/** The mirror URI for `codename`, or null when the machine's apt sources name none. */
export function debianMirror(codename: string): string | null {
  const parts = join(APT_DIR, 'sources.list.d');
  for (const name of listDir(parts).filter((file) => file.endsWith('.sources'))) {
    const found = fromDeb822(readText(join(parts, name)), codename);
    if (found) return found;
  }
  for (const path of [
    join(APT_DIR, 'sources.list'),
    ...listDir(parts)
      .filter((file) => file.endsWith('.list'))
      .map((file) => join(parts, file)),
  ]) {
    const found = fromOneLine(readText(path), codename);
    if (found) return found;
  }
  return null;
}
