// The memory limit of the container this process runs in, as the kernel enforces it (cgroup v2 or v1), so
// byte budgets default to a share of what the pod may really use. Undefined when there is none.
import { readFileSync } from 'node:fs';

const CGROUP_FILES = ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes'];
/** cgroup v1 reports "no limit" as a huge number (the page-rounded maximum of a 64-bit counter). */
const UNLIMITED_FLOOR = 2 ** 60;

export function parseCgroupLimit(text: string): number | undefined {
  const value = text.trim();
  if (value === 'max' || value === '') return undefined;
  const bytes = Number(value);
  return Number.isFinite(bytes) && bytes > 0 && bytes < UNLIMITED_FLOOR ? bytes : undefined;
}

export function containerMemoryLimit(files: readonly string[] = CGROUP_FILES): number | undefined {
  for (const file of files) {
    try {
      return parseCgroupLimit(readFileSync(file, 'utf8'));
    } catch {
      // Not this cgroup version (or not Linux): try the next.
    }
  }
  return undefined;
}
