import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What a running tail2 reads from its package, relative to the package root: the compiled code
 * (`dist/daemon`, `dist/triggers`, `dist/notifiers`, and `dist/views`: the flamegraph style the
 * server shares with the browser), the page templates and their stylesheets (`views/`), the
 * bundled browser scripts (`dist/static`: the pages'; `dist/embedded`: the SVG flamegraphs'), the
 * native addon (`native/build/Release/tail2_native.node`; the BPF objects are
 * compiled into it as skeletons, so no `.bpf.o` is read at run time), tail2-reader
 * (`build/reader/tail2-reader`, which reads the files of profiled processes), `package.json` (the
 * version), the production dependencies in `node_modules`, and what `tail2 install` itself needs
 * to run again from the copy (`systemd/`, `config/`) and the documentation the unit points at.
 */
export function runtimeFiles(source: string): string[] {
  const files = ['package.json', 'package-lock.json', 'README.md', 'LICENSE', 'docs', 'dist/daemon', 'dist/triggers', 'dist/notifiers', 'dist/views', 'dist/static', 'dist/embedded', 'views', 'native/build/Release/tail2_native.node', 'build/reader/tail2-reader', 'systemd', 'config'];
  return [...files.filter((file) => existsSync(join(source, file))), ...productionPackages(source)];
}

interface LockedPackage {
  dev?: boolean;
  link?: boolean;
}

/**
 * The `node_modules/…` folders of the production dependencies, nested ones included, from
 * package-lock.json (npm marks every package only the tests and the build need `dev`). Optional
 * packages for other platforms are in the lockfile but not on disk, and are skipped.
 */
export function productionPackages(source: string): string[] {
  const lock = JSON.parse(readFileSync(join(source, 'package-lock.json'), 'utf8')) as { packages?: Record<string, LockedPackage> };
  return Object.entries(lock.packages ?? {})
    .filter(([path, entry]) => path.startsWith('node_modules/') && !entry.dev && !entry.link && existsSync(join(source, path)))
    .map(([path]) => path);
}
