import { Port } from "../ipam/address-book";

/**
 * The few fields of a Service that PureLB acts on. Holding this instead of the full object
 * keeps memory flat with tens of thousands of Services.
 */
export interface ServiceModel {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
  type: string;
  loadBalancerClass?: string;
  /** Only the purelb.io/* annotations. */
  annotations: Record<string, string>;
  ipFamilyPolicy?: string;
  ipFamilies: string[];
  ports: Port[];
  externalTrafficPolicy?: string;
  loadBalancerIP?: string;
  ingress: string[];
}

export const serviceKey = (s: { namespace: string; name: string }): string =>
  `${s.namespace}/${s.name}`;

interface RawService {
  metadata?: {
    namespace?: string;
    name?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    annotations?: Record<string, string>;
  };
  spec?: {
    type?: string;
    loadBalancerClass?: string;
    ipFamilyPolicy?: string;
    ipFamilies?: string[];
    ports?: { protocol?: string; port?: number }[];
    externalTrafficPolicy?: string;
    loadBalancerIP?: string;
  };
  status?: { loadBalancer?: { ingress?: { ip?: string }[] } };
}

/** Distils an API Service object into the model. */
export function toServiceModel(raw: unknown): ServiceModel {
  const o = raw as RawService;
  const annotations: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.metadata?.annotations ?? {})) {
    if (k.startsWith("purelb.io/")) annotations[k] = v;
  }
  return {
    namespace: o.metadata?.namespace ?? "",
    name: o.metadata?.name ?? "",
    uid: o.metadata?.uid ?? "",
    resourceVersion: o.metadata?.resourceVersion ?? "",
    creationTimestamp: o.metadata?.creationTimestamp ?? "",
    type: o.spec?.type ?? "ClusterIP",
    loadBalancerClass: o.spec?.loadBalancerClass || undefined,
    annotations,
    ipFamilyPolicy: o.spec?.ipFamilyPolicy,
    ipFamilies: o.spec?.ipFamilies ?? [],
    ports: (o.spec?.ports ?? []).map(p => ({ protocol: p.protocol ?? "TCP", port: p.port ?? 0 })),
    externalTrafficPolicy: o.spec?.externalTrafficPolicy,
    loadBalancerIP: o.spec?.loadBalancerIP || undefined,
    ingress: (o.status?.loadBalancer?.ingress ?? [])
      .map(i => i.ip)
      .filter((ip): ip is string => !!ip),
  };
}
