import { execa } from 'execa';

/** The installed version of a Debian package, or null when it is not installed. */
export async function debianPackageVersion(name: string): Promise<string | null> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: ${Version} is dpkg-query's own format syntax.
  const result = await execa('dpkg-query', ['-W', '-f=${Version}', name], { reject: false });
  return result.exitCode === 0 && result.stdout.trim() !== '' ? result.stdout.trim() : null;
}

/** Installed versions of several Debian packages in one dpkg-query call; null for each one not installed. */
export async function debianPackageVersions(
  names: readonly string[],
): Promise<Record<string, string | null>> {
  // dpkg-query exits 1 when any is missing, and still prints the ones it found.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax.
  const result = await execa('dpkg-query', ['-W', '-f=${Package}\\t${Version}\\n', ...names], {
    reject: false,
  });
  const found = new Map<string, string>();
  for (const line of result.stdout.split('\n')) {
    const [name, version] = line.split('\t');
    if (name && version) found.set(name, version);
  }
  return Object.fromEntries(names.map((name) => [name, found.get(name) ?? null]));
}
