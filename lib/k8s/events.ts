import { Log } from "../log";
import { KubeClient } from "./client";

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid: string;
}

export type EventType = "Normal" | "Warning";

/**
 * Writes core/v1 Events so that `kubectl describe` tells the story. A repeat of the same
 * reason and message on the same object bumps the count of the earlier Event instead of
 * adding another, as kubelet's recorder does.
 */
export class EventRecorder {
  private readonly recent = new Map<string, { name: string; count: number }>();

  constructor(
    private readonly client: KubeClient,
    private readonly component: string,
  ) {}

  async record(ref: ObjectRef, type: EventType, reason: string, message: string): Promise<void> {
    const now = new Date().toISOString();
    const dedupe = `${ref.uid}|${type}|${reason}|${message}`;
    // Events about cluster-scoped objects (a Node) live in "default", as kubelet's do.
    const namespace = ref.namespace || "default";
    const base = `/api/v1/namespaces/${namespace}/events`;
    try {
      const prev = this.recent.get(dedupe);
      if (prev) {
        prev.count++;
        await this.client.request("PATCH", `${base}/${prev.name}`, {
          body: { count: prev.count, lastTimestamp: now },
          contentType: "application/merge-patch+json",
        });
        return;
      }
      const name = `${ref.name}.${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
      await this.client.request("POST", base, {
        body: {
          metadata: { name, namespace },
          involvedObject: ref,
          type,
          reason,
          message,
          count: 1,
          firstTimestamp: now,
          lastTimestamp: now,
          source: { component: this.component },
          reportingComponent: this.component,
        },
      });
      if (this.recent.size > 5000) this.recent.clear();
      this.recent.set(dedupe, { name, count: 1 });
    } catch (err) {
      this.recent.delete(dedupe);
      Log.warn(
        { object: `${ref.namespace}/${ref.name}`, reason, err: String(err) },
        "could not record event",
      );
    }
  }
}
