// Where route tables come from: a file (JSON or YAML; watched, here), or a ConfigMap's `routes.json` key
// (configmap-source.ts). Either way a table that fails to parse is reported and the router keeps the one
// it has.
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { RouteTableError, parseRouteTable, type RouteTable } from '../../../contract/route-table.ts';

export interface RouteSourceEvents {
  table(table: RouteTable): void;
  /** A new version of the source that was refused; the current table stays. */
  rejected(error: Error): void;
  /** Trouble reaching the source (not its content). */
  trouble(message: string): void;
}

export interface RouteSource {
  readonly description: string;
  /**
   * The first table; rejects (RouteTableError) when the source's content is bad or a file cannot be read.
   * No table, and why, when a ConfigMap does not exist yet or the API cannot be reached: the router then
   * starts with no version ready and the watch brings the table when it appears.
   */
  initial(): Promise<{ table: RouteTable } | { table: undefined; why: string }>;
  /** Watches for changes from now on. */
  watch(events: RouteSourceEvents): void;
  stop(): void;
}

/**
 * A source's text turned into tables: text seen last time is not parsed again, and a bad table is reported
 * while the router keeps the one it has.
 */
export class TableText {
  private last: string | undefined;
  private readonly source: string;

  constructor(source: string) {
    this.source = source;
  }

  /** The first table; throws (RouteTableError) when it is bad. */
  first(text: string): RouteTable {
    const table = parseRouteTable(text, this.source);
    this.last = text;
    return table;
  }

  /** A text the source holds now: a new table, a refused one, or nothing when it did not change. */
  offer(text: string, events: RouteSourceEvents): void {
    if (text === this.last) return;
    this.last = text;
    try {
      events.table(parseRouteTable(text, this.source));
    } catch (error) {
      events.rejected(error as Error);
    }
  }

  /** The source has no text now (unreadable, key missing): the next one counts as new. Whether it had one. */
  lose(): boolean {
    const had = this.last !== undefined;
    this.last = undefined;
    return had;
  }
}

/** How often the file is also re-read, for filesystems where change notifications do not arrive. */
const FILE_POLL_MS = 2000;
/** Several notifications arrive per write; one re-read after they settle. */
const FILE_SETTLE_MS = 20;

export function fileSource(path: string): RouteSource {
  const texts = new TableText(path);
  let watcher: FSWatcher | undefined;
  let poll: NodeJS.Timeout | undefined;
  let settle: NodeJS.Timeout | undefined;
  const read = () => readFileSync(path, 'utf8');
  return {
    description: `file ${path}`,
    async initial() {
      let text: string;
      try {
        text = read();
      } catch (error) {
        throw new RouteTableError(path, [`cannot read: ${(error as Error).message}`]);
      }
      return { table: texts.first(text) };
    },
    watch(events) {
      const check = () => {
        let text: string;
        try {
          text = read();
        } catch (error) {
          // Mid-replacement, or removed: keep the table and look again at the next change.
          if (texts.lose()) events.trouble(`cannot read ${path}: ${(error as Error).message}`);
          return;
        }
        texts.offer(text, events);
      };
      const soon = () => {
        clearTimeout(settle);
        settle = setTimeout(check, FILE_SETTLE_MS);
      };
      // The directory, not the file: editors and ConfigMap volumes replace the file (rename, symlink swap),
      // which a watch on the old file would miss.
      const name = basename(path);
      watcher = watch(dirname(path), (_event, changed) => {
        if (changed === null || changed === name || changed.startsWith('..')) soon();
      });
      watcher.on('error', (error) => events.trouble(`watching ${dirname(path)}: ${error.message}`));
      poll = setInterval(check, FILE_POLL_MS).unref();
    },
    stop() {
      watcher?.close();
      clearInterval(poll);
      clearTimeout(settle);
    },
  };
}
