import { Log } from "../log";
import { ApiError, KubeClient } from "./client";

export interface InformerHandlers<M> {
  upsert(key: string, model: M): void;
  remove(key: string): void;
}

interface ListPage {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: unknown[];
}

interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: {
    metadata?: { namespace?: string; name?: string; resourceVersion?: string };
    code?: number;
    message?: string;
  };
}

const objectKey = (o: WatchEvent["object"]): string =>
  o.metadata?.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : (o.metadata?.name ?? "");

/**
 * List-then-watch for one resource that hands each object, distilled by `convert`, to the
 * handlers and forgets it. Only the keys are kept (to notice deletions across a relist),
 * which is what keeps memory flat with tens of thousands of objects. Restarts the watch
 * when the server ends it, relists on 410 Gone, and backs off on errors such as 429.
 */
export class Informer<M> {
  private readonly keys = new Set<string>();
  private resourceVersion = "";
  private abort = new AbortController();
  private stopped = false;
  private lastEvent = Date.now();

  constructor(
    private readonly client: KubeClient,
    private readonly path: string,
    private readonly convert: (raw: unknown) => M,
    private readonly handlers: InformerHandlers<M>,
    private readonly name = path,
  ) {}

  /** Resolves once the first full list has been delivered; watching goes on in the background. */
  async start(): Promise<void> {
    await this.relist();
    void this.watchLoop();
  }

  stop(): void {
    this.stopped = true;
    this.abort.abort();
  }

  /** Drops the current watch stream; the loop opens a new one from the last resourceVersion. */
  restart(): void {
    this.abort.abort();
  }

  /** Milliseconds since the watch last delivered anything (bookmarks included). */
  get idleMs(): number {
    return Date.now() - this.lastEvent;
  }

  private async relist(): Promise<void> {
    const seen = new Set<string>();
    let cont = "";
    do {
      const sep = this.path.includes("?") ? "&" : "?";
      const page = await this.client.request<ListPage>(
        "GET",
        `${this.path}${sep}limit=1000${cont ? `&continue=${encodeURIComponent(cont)}` : ""}`,
      );
      for (const item of page.items ?? []) {
        const key = objectKey(item as WatchEvent["object"]);
        seen.add(key);
        this.keys.add(key);
        this.handlers.upsert(key, this.convert(item));
      }
      cont = page.metadata?.continue ?? "";
      this.resourceVersion = page.metadata?.resourceVersion ?? "";
    } while (cont);
    for (const key of [...this.keys]) {
      if (!seen.has(key)) {
        this.keys.delete(key);
        this.handlers.remove(key);
      }
    }
    this.lastEvent = Date.now();
  }

  private async watchLoop(): Promise<void> {
    let backoff = 200;
    while (!this.stopped) {
      try {
        await this.watchOnce();
        backoff = 200;
      } catch (err) {
        if (this.stopped) return;
        const gone = err instanceof ApiError && err.status === 410;
        if (!gone) {
          Log.warn({ informer: this.name, err: String(err) }, "watch failed; retrying");
          await sleep(backoff);
          backoff = Math.min(backoff * 2, 30_000);
        }
        try {
          await this.relist();
        } catch (e) {
          Log.warn({ informer: this.name, err: String(e) }, "relist failed; retrying");
        }
      }
    }
  }

  private async watchOnce(): Promise<void> {
    this.abort = new AbortController();
    this.lastEvent = Date.now();
    const sep = this.path.includes("?") ? "&" : "?";
    // The server closes the watch after timeoutSeconds, so a silently dead stream is replaced.
    const url = `${this.path}${sep}watch=1&allowWatchBookmarks=true&timeoutSeconds=240&resourceVersion=${this.resourceVersion}`;
    let gone = false;
    await this.client.stream(
      url,
      line => {
        this.lastEvent = Date.now();
        const ev = JSON.parse(line) as WatchEvent;
        if (ev.type === "ERROR") {
          if (ev.object.code === 410) gone = true;
          else Log.warn({ informer: this.name, status: ev.object.message }, "watch error event");
          return;
        }
        if (ev.object.metadata?.resourceVersion)
          this.resourceVersion = ev.object.metadata.resourceVersion;
        if (ev.type === "BOOKMARK") return;
        const key = objectKey(ev.object);
        if (ev.type === "DELETED") {
          this.keys.delete(key);
          this.handlers.remove(key);
        } else {
          this.keys.add(key);
          this.handlers.upsert(key, this.convert(ev.object));
        }
      },
      this.abort.signal,
    );
    if (gone) throw new ApiError(410, "Expired", "watch resourceVersion too old");
  }
}

export const sleep = (ms: number): Promise<void> => new Promise(r => setTimeout(r, ms));
