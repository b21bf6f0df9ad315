import { KubeClient, MERGE_PATCH } from "../k8s/client";
import { EventRecorder, EventType } from "../k8s/events";
import { ServiceModel, toServiceModel } from "../k8s/service";
import { ServiceGroupStatus } from "../k8s/servicegroup";

/** Everything the allocator writes to the cluster; tests can watch it through the real API. */
export interface AllocatorApi {
  patchService(svc: ServiceModel, patch: object): Promise<ServiceModel>;
  /** Writes status and, in the same request, annotations: the status subresource of a Service keeps metadata changes. */
  writeStatus(
    svc: ServiceModel,
    addresses: string[],
    annotations?: Record<string, string | null>,
  ): Promise<ServiceModel>;
  event(svc: ServiceModel, type: EventType, reason: string, message: string): void;
  writeGroupStatus(namespace: string, name: string, status: ServiceGroupStatus): Promise<void>;
}

const svcPath = (s: ServiceModel) => `/api/v1/namespaces/${s.namespace}/services/${s.name}`;

export class KubeAllocatorApi implements AllocatorApi {
  private readonly events: EventRecorder;

  constructor(private readonly client: KubeClient) {
    this.events = new EventRecorder(client, "purelb-allocator");
  }

  async patchService(svc: ServiceModel, patch: object): Promise<ServiceModel> {
    // The uid precondition makes a write to a deleted-and-recreated Service fail instead of
    // labelling the newcomer with its predecessor's allocation.
    const body = {
      ...patch,
      metadata: { ...(patch as { metadata?: object }).metadata, uid: svc.uid },
    };
    return toServiceModel(
      await this.client.request("PATCH", svcPath(svc), { body, contentType: MERGE_PATCH }),
    );
  }

  async writeStatus(
    svc: ServiceModel,
    addresses: string[],
    annotations?: Record<string, string | null>,
  ): Promise<ServiceModel> {
    const body = {
      metadata: { uid: svc.uid, ...(annotations ? { annotations } : {}) },
      status: { loadBalancer: { ingress: addresses.map(ip => ({ ip })) } },
    };
    return toServiceModel(
      await this.client.request("PATCH", `${svcPath(svc)}/status`, {
        body,
        contentType: MERGE_PATCH,
      }),
    );
  }

  event(svc: ServiceModel, type: EventType, reason: string, message: string): void {
    const ref = {
      apiVersion: "v1",
      kind: "Service",
      namespace: svc.namespace,
      name: svc.name,
      uid: svc.uid,
    };
    void this.events.record(ref, type, reason, message);
  }

  async writeGroupStatus(
    namespace: string,
    name: string,
    status: ServiceGroupStatus,
  ): Promise<void> {
    await this.client.request(
      "PATCH",
      `/apis/purelb.io/v2/namespaces/${namespace}/servicegroups/${name}/status`,
      {
        body: { status },
        contentType: MERGE_PATCH,
      },
    );
  }
}
