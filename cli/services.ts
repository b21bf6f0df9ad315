import { Member } from "../lib/election/election";
import { parseAddress, formatAddress } from "../lib/ip/address";
import { ServiceModel, toServiceModel } from "../lib/k8s/service";
import { ServiceGroup } from "../lib/k8s/servicegroup";
import { isPureLBService } from "../lib/validate/service";
import { CoreEvent, RawService } from "./cluster";
import { inspectService } from "./inspect";

export interface ServiceRow {
  service: string;
  group?: string;
  poolType?: string;
  addresses: string[];
  /** node[/interface] per local address, the nodes of remote ones. */
  announcedBy: string[];
  /** The diagnosis of `kubectl purelb inspect`, when something is wrong. */
  problems: string[];
}

export interface ServicesFilter {
  pool?: string;
  node?: string;
  ip?: string;
  problems: boolean;
}

export interface ServicesReport {
  namespace: string;
  filter: ServicesFilter;
  services: ServiceRow[];
}

export interface ServicesInput {
  namespace: string;
  services: RawService[];
  groups: ServiceGroup[];
  members: Member[];
  /** AllocationFailed Events of every namespace (one list, matched to Services by uid). */
  events: CoreEvent[];
  now: number;
  filter: ServicesFilter;
}

const canonical = (text: string): string => {
  const a = parseAddress(text);
  return a ? formatAddress(a) : text;
};

/** Every Service PureLB serves, as `inspect` sees it, one line each, filtered. */
export function servicesReport(input: ServicesInput): ServicesReport {
  const models: ServiceModel[] = input.services.map(toServiceModel);
  const byUid = new Map<string, CoreEvent[]>();
  for (const e of input.events) {
    const uid = e.involvedObject?.uid;
    if (uid) byUid.set(uid, [...(byUid.get(uid) ?? []), e]);
  }
  const ip = input.filter.ip === undefined ? undefined : canonical(input.filter.ip);
  const rows: ServiceRow[] = [];
  for (const raw of input.services) {
    const svc = toServiceModel(raw);
    if (!isPureLBService(svc)) continue;
    const r = inspectService({
      namespace: input.namespace,
      service: raw,
      groups: input.groups,
      members: input.members,
      services: models,
      events: byUid.get(svc.uid) ?? [],
      now: input.now,
    });
    const announcedBy = r.addresses.flatMap(a =>
      a.kind === "remote"
        ? (a.nodes ?? [])
        : a.announcing
          ? [`${a.announcing.node}${a.announcing.interface ? `/${a.announcing.interface}` : ""}`]
          : [],
    );
    const row: ServiceRow = {
      service: r.service,
      ...(r.group.name ? { group: r.group.name } : {}),
      ...(r.group.poolType ? { poolType: r.group.poolType } : {}),
      addresses: r.addresses.map(a => a.address),
      announcedBy: [...new Set(announcedBy)],
      problems: r.diagnosis.filter(d => !d.startsWith("OK")),
    };
    const f = input.filter;
    if (f.pool !== undefined && row.group !== f.pool) continue;
    if (ip !== undefined && !row.addresses.map(canonical).includes(ip)) continue;
    if (
      f.node !== undefined &&
      !r.addresses.some(
        a => a.announcing?.node === f.node || a.winner === f.node || a.nodes?.includes(f.node!),
      )
    )
      continue;
    if (f.problems && !row.problems.length) continue;
    rows.push(row);
  }
  rows.sort((a, b) => a.service.localeCompare(b.service));
  return { namespace: input.namespace, filter: input.filter, services: rows };
}
