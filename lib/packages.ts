import { execa } from 'execa';

/** The installed version of a Debian package, or null when it is not installed. */
export async function debianPackageVersion(name: string): Promise<string | null> {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: ${Version} is dpkg-query's own format syntax.
  const result = await execa('dpkg-query', ['-W', '-f=${Version}', name], { reject: false });
  return result.exitCode === 0 && result.stdout.trim() !== '' ? result.stdout.trim() : null;
}
