// kubectl purelb: inspect a Service, pool usage, configuration checks, component status.
// Run as a kubectl plugin (kubectl-purelb on PATH, see cli/kubectl-purelb) or with
// `npx tsx cli/main.ts ...`.
import { parseArgs } from "node:util";
import cfg from "../package.json";
import { DEFAULT_NAMESPACE } from "../lib/k8s/annotations";
import { KubeClient } from "../lib/k8s/client";
import { toServiceModel } from "../lib/k8s/service";
import {
  getService,
  listAgents,
  listAllGroups,
  listBgpConfigs,
  listBgpStatuses,
  listGroups,
  listNodeLeases,
  listServices,
  listWorkloads,
  allocationFailures,
  readyEndpointNodes,
  serviceEvents,
} from "./cluster";
import { inspectService, InspectReport } from "./inspect";
import { CliError, EXIT, connect, explain, requirePureLBCrds, serves } from "./kube";
import { Format, age, serialize, table } from "./output";
import { GroupUsage, poolUsage } from "./pools";
import { StatusReport, bgpSessions, clusterStatus } from "./status";
import { ValidateReport, validateCluster } from "./validate";
import { ElectionReport, electionReport } from "./election";
import { COMMANDS, Command, USAGE, helpOf } from "./help";
import { ServicesReport, servicesReport } from "./services";
import { VersionReport, versionReport } from "./version";

const PEPR_NAMESPACE = "pepr-system";
const UUID = cfg.pepr.uuid;

interface Options {
  output: Format;
  namespace?: string;
  purelbNamespace: string;
  showServices: boolean;
  serviceGroup?: string;
  strict: boolean;
  pool?: string;
  node?: string;
  ip?: string;
  problems: boolean;
  check: boolean;
  simulateDrain?: string;
}

export async function main(
  argv: string[],
  write: (text: string) => void = t => process.stdout.write(t),
): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        output: { type: "string", short: "o", default: "table" },
        // -n is PureLB's install namespace, as in upstream's plugin; the namespace of the
        // Services inspect and validate look at is --service-namespace.
        namespace: { type: "string", short: "n" },
        "purelb-namespace": { type: "string" },
        "service-namespace": { type: "string" },
        kubeconfig: { type: "string" },
        context: { type: "string" },
        "show-services": { type: "boolean", default: false },
        "service-group": { type: "string" },
        strict: { type: "boolean", default: false },
        pool: { type: "string" },
        node: { type: "string" },
        ip: { type: "string" },
        problems: { type: "boolean", default: false },
        check: { type: "boolean", default: false },
        "simulate-drain": { type: "string" },
        "all-namespaces": { type: "boolean", short: "A", default: false },
        help: { type: "boolean", short: "h", default: false },
        version: { type: "boolean", default: false },
      },
    });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\n\n${USAGE}`, EXIT.usage);
  }
  const { values, positionals } = parsed;
  const [first, ...rest] = positionals;
  if (first === "help") {
    write(rest[0] ? helpOf(rest[0]) : USAGE);
    return EXIT.ok;
  }
  if (values.help) {
    write(first ? helpOf(first) : USAGE);
    return EXIT.ok;
  }
  if (values.version) {
    write(`kubectl-purelb ${cfg.version}\n`);
    return EXIT.ok;
  }
  const output = values.output as Format;
  if (!["table", "json", "yaml"].includes(output))
    throw new CliError(`--output must be table, json or yaml, not "${output}"`, EXIT.usage);
  const [command, ...args] = positionals;
  if (
    values.namespace !== undefined &&
    values["purelb-namespace"] !== undefined &&
    values.namespace !== values["purelb-namespace"]
  )
    throw new CliError(
      "-n and --purelb-namespace both name PureLB's namespace; give one of them",
      EXIT.usage,
    );
  const opts: Options = {
    output,
    namespace: values["service-namespace"],
    purelbNamespace:
      values.namespace ??
      values["purelb-namespace"] ??
      (process.env.PURELB_NAMESPACE || DEFAULT_NAMESPACE),
    showServices: values["show-services"],
    serviceGroup: values["service-group"],
    strict: values.strict,
    pool: values.pool,
    node: values.node,
    ip: values.ip,
    problems: values.problems,
    check: values.check,
    simulateDrain: values["simulate-drain"],
  };
  const expectArgs = (n: number, shape: string) => {
    if (args.length !== n)
      throw new CliError(`usage: kubectl purelb ${command}${shape ? ` ${shape}` : ""}`, EXIT.usage);
  };
  if (!command) throw new CliError(USAGE, EXIT.usage);
  if (!(COMMANDS as readonly string[]).includes(command))
    throw new CliError(`unknown command "${command}"\n\n${USAGE}`, EXIT.usage);
  if (command === "inspect") expectArgs(1, "NAMESPACE/SERVICE");
  else if (command === "bgp") {
    if (args[0] !== "sessions" || args.length !== 1)
      throw new CliError(
        `usage: kubectl purelb bgp sessions [--node NODE] [--check]${args[0] === "dataplane" ? " (bgp dataplane is not implemented)" : ""}`,
        EXIT.usage,
      );
  } else expectArgs(0, "");
  // A flag another command owns is a mistake worth saying, not something to ignore.
  const owners: Record<string, Command[]> = {
    "service-namespace": ["inspect", "validate"],
    "show-services": ["pools"],
    "service-group": ["pools"],
    strict: ["validate"],
    pool: ["services"],
    ip: ["services"],
    problems: ["services"],
    "all-namespaces": ["services"],
    node: ["services", "election", "bgp"],
    check: ["election", "bgp"],
    "simulate-drain": ["election"],
  };
  for (const [flag, cmds] of Object.entries(owners)) {
    const v = (values as Record<string, unknown>)[flag];
    if (v !== undefined && v !== false && !cmds.includes(command as Command))
      throw new CliError(
        `--${flag} is an option of ${cmds.join(" and ")}, not of ${command}\n\n${helpOf(command)}`,
        EXIT.usage,
      );
  }
  if (command === "version") return version(values, opts, write);

  const client = await connect({ kubeconfig: values.kubeconfig, context: values.context });
  switch (command) {
    case "inspect":
      return inspect(client, args[0], opts, write);
    case "pools":
      return pools(client, opts, write);
    case "validate":
      return validate(client, opts, write);
    case "services":
      return services(client, opts, write);
    case "election":
      return election(client, opts, write);
    case "bgp":
      return bgpSessionsCommand(client, opts, write);
    default:
      return status(client, opts, write);
  }
}

function emit<T>(
  report: T,
  opts: Options,
  write: (t: string) => void,
  asTable: (r: T) => string,
): void {
  write(opts.output === "table" ? asTable(report) : serialize(report, opts.output));
}

// ---------------------------------------------------------------------------- inspect

async function inspect(
  client: KubeClient,
  target: string,
  opts: Options,
  write: (t: string) => void,
): Promise<number> {
  const [namespace, name] = target.includes("/")
    ? target.split("/", 2)
    : [opts.namespace ?? "default", target];
  if (!namespace || !name)
    throw new CliError("usage: kubectl purelb inspect NAMESPACE/SERVICE", EXIT.usage);
  await requirePureLBCrds(client);
  const now = Date.now();
  const service = await getService(client, namespace, name);
  if (!service) throw new CliError(`Service ${namespace}/${name} not found`, EXIT.findings);
  const svc = toServiceModel(service);
  const [groups, leases, services, events, readyNodes] = await Promise.all([
    listGroups(client, opts.purelbNamespace),
    listNodeLeases(client, opts.purelbNamespace, now),
    listServices(client),
    serviceEvents(client, namespace, name, service.metadata.uid),
    svc.externalTrafficPolicy === "Local"
      ? readyEndpointNodes(client, namespace, name)
      : Promise.resolve(undefined),
  ]);
  const report = inspectService({
    namespace: opts.purelbNamespace,
    service,
    groups,
    members: leases.map(l => l.member),
    services: services.map(toServiceModel),
    events,
    readyNodes,
    now,
  });
  emit(report, opts, write, r => inspectTable(r, now));
  return EXIT.ok;
}

function inspectTable(r: InspectReport, now: number): string {
  const lines: string[] = [];
  const family = [r.ipFamilyPolicy, r.ipFamilies.join(",")].filter(Boolean).join(" ");
  lines.push(
    `Service:       ${r.service} (${[r.type, family, r.externalTrafficPolicy ? `externalTrafficPolicy ${r.externalTrafficPolicy}` : "", r.loadBalancerClass ? `class ${r.loadBalancerClass}` : ""].filter(Boolean).join(", ")})`,
  );
  const g = r.group;
  lines.push(
    `ServiceGroup:  ${g.name ?? "-"}${g.name && !g.exists ? " (does not exist)" : ""}${g.poolType ? `, pool type ${g.poolType}` : ""}${g.requested && g.requested !== g.name ? ` (asks for ${g.requested})` : ""}`,
  );
  if (r.addresses.length) {
    lines.push("Addresses:");
    const rows = r.addresses.map(a => [
      a.address,
      a.family,
      a.kind,
      a.pool,
      a.subnet,
      a.announcing?.node,
      a.announcing?.interface,
      a.winner,
      (a.kind === "remote" ? a.nodes : a.candidates)?.join(",") || undefined,
    ]);
    lines.push(
      indent(
        table(
          [
            "ADDRESS",
            "FAMILY",
            "TYPE",
            "POOL",
            "SUBNET",
            "ANNOUNCED BY",
            "INTERFACE",
            "ELECTED",
            "CANDIDATES/NODES",
          ],
          rows,
        ),
      ),
    );
  } else {
    lines.push("Addresses:     none");
  }
  if (r.sharing) {
    const others = r.sharing.with.map(
      w => `${w.service} (${w.addresses.join(",") || "no address"}; ${w.ports.join(",")})`,
    );
    lines.push(
      `Sharing:       key "${r.sharing.key}"${others.length ? ` with ${others.join(", ")}` : ", no other Service yet"}`,
    );
  }
  if (r.events.length) {
    lines.push("Events:");
    const rows = r.events.map(e => [
      e.time ? age((now - Date.parse(e.time)) / 1000) : undefined,
      e.type,
      e.reason,
      e.source,
      e.count > 1 ? `${e.message} (x${e.count})` : e.message,
    ]);
    lines.push(indent(table(["AGE", "TYPE", "REASON", "FROM", "MESSAGE"], rows)));
  } else {
    lines.push("Events:        none");
  }
  lines.push(`Diagnosis:     ${r.diagnosis.join("\n               ")}`);
  return lines.join("\n") + "\n";
}

const indent = (text: string) =>
  text
    .trimEnd()
    .split("\n")
    .map(l => `  ${l}`)
    .join("\n");

// ---------------------------------------------------------------------------- pools

async function pools(
  client: KubeClient,
  opts: Options,
  write: (t: string) => void,
): Promise<number> {
  await requirePureLBCrds(client);
  const [groups, services] = await Promise.all([
    listGroups(client, opts.purelbNamespace),
    listServices(client),
  ]);
  const usage = poolUsage(groups, services.map(toServiceModel)).filter(
    g => opts.serviceGroup === undefined || g.name === opts.serviceGroup,
  );
  if (opts.serviceGroup !== undefined && !usage.length)
    throw new CliError(
      `ServiceGroup ${opts.serviceGroup} does not exist in ${opts.purelbNamespace}`,
      EXIT.findings,
    );
  const report = {
    namespace: opts.purelbNamespace,
    groups: opts.showServices ? usage : usage.map(withoutServices),
  };
  emit(report, opts, write, r => poolsTable(r.groups, r.namespace, opts.showServices));
  return EXIT.ok;
}

function withoutServices(
  g: GroupUsage,
): Omit<GroupUsage, "ranges" | "elsewhere"> & { ranges: object[]; elsewhere: object } {
  const drop = (r: GroupUsage["ranges"][number]) => {
    const copy: Partial<GroupUsage["ranges"][number]> = { ...r };
    delete copy.services;
    return copy;
  };
  return { ...g, ranges: g.ranges.map(drop), elsewhere: { inUse: g.elsewhere.inUse } };
}

function poolsTable(
  groups: (GroupUsage | ReturnType<typeof withoutServices>)[],
  namespace: string,
  showServices: boolean,
): string {
  if (!groups.length) return `No ServiceGroups in ${namespace}.\n`;
  const rows: (string | bigint | undefined)[][] = [];
  for (const g of groups as GroupUsage[]) {
    const svc = (list: string[] | undefined) =>
      showServices ? [list?.join(",") || undefined] : [];
    if (g.type === "invalid") {
      rows.push([
        g.name,
        "invalid",
        undefined,
        g.problem,
        undefined,
        undefined,
        g.elsewhere.inUse,
        undefined,
        ...svc(g.elsewhere.services),
      ]);
      continue;
    }
    if (g.type === "netbox") {
      rows.push([
        g.name,
        "netbox",
        undefined,
        `${g.netbox?.url ?? ""} tenant ${g.netbox?.tenant ?? ""}`,
        undefined,
        "external",
        g.elsewhere.inUse,
        undefined,
        ...svc(g.elsewhere.services),
      ]);
      continue;
    }
    for (const r of g.ranges)
      rows.push([
        g.name,
        g.type,
        r.family,
        r.pool,
        r.subnet,
        r.size,
        r.inUse,
        r.free,
        ...svc(r.services),
      ]);
    if (g.elsewhere.inUse > 0n)
      rows.push([
        g.name,
        g.type,
        undefined,
        "(outside the current pools)",
        undefined,
        undefined,
        g.elsewhere.inUse,
        undefined,
        ...svc(g.elsewhere.services),
      ]);
  }
  return table(
    [
      "GROUP",
      "TYPE",
      "FAMILY",
      "POOL",
      "SUBNET",
      "SIZE",
      "IN USE",
      "FREE",
      ...(showServices ? ["SERVICES"] : []),
    ],
    rows,
  );
}

// ---------------------------------------------------------------------------- validate

async function validate(
  client: KubeClient,
  opts: Options,
  write: (t: string) => void,
): Promise<number> {
  await requirePureLBCrds(client);
  const now = Date.now();
  const hasBgp = await serves(client, "bgp.purelb.io/v1");
  const [groups, agents, bgp, services, leases] = await Promise.all([
    listAllGroups(client),
    listAgents(client),
    hasBgp ? listBgpConfigs(client) : Promise.resolve(undefined),
    listServices(client),
    listNodeLeases(client, opts.purelbNamespace, now),
  ]);
  // -n: one application namespace against PureLB's configuration, ignoring everything else.
  const scoped = <T extends { metadata: { namespace?: string } }>(
    items: T[],
    ns: string | undefined,
  ) => (ns === undefined ? items : items.filter(i => i.metadata.namespace === ns));
  const only = opts.namespace === undefined ? undefined : opts.purelbNamespace;
  const report = validateCluster({
    namespace: opts.purelbNamespace,
    groups: scoped(groups, only),
    agents: scoped(agents, only),
    bgp: bgp && scoped(bgp, only),
    services: scoped(services, opts.namespace),
    members: leases.map(l => l.member),
    now,
  });
  emit(report, opts, write, validateTable);
  // --strict (for CI): a warning fails too.
  return report.summary.FAIL > 0 || (opts.strict && report.summary.WARN > 0)
    ? EXIT.findings
    : EXIT.ok;
}

function validateTable(r: ValidateReport): string {
  const rows = r.findings.map(f => [f.level, f.kind, f.name, f.message]);
  return `${table(["RESULT", "KIND", "NAME", "MESSAGE"], rows)}\n${r.summary.PASS} PASS, ${r.summary.WARN} WARN, ${r.summary.FAIL} FAIL\n`;
}

// ---------------------------------------------------------------------------- status

async function status(
  client: KubeClient,
  opts: Options,
  write: (t: string) => void,
): Promise<number> {
  const now = Date.now();
  const [hasPureLB, hasBgp] = await Promise.all([
    serves(client, "purelb.io/v2"),
    serves(client, "bgp.purelb.io/v1"),
  ]);
  const [admission, watcher, agents, leases, bgp] = await Promise.all([
    listWorkloads(
      client,
      "Deployment",
      PEPR_NAMESPACE,
      `pepr.dev/uuid=${UUID},pepr.dev/controller=admission`,
    ),
    listWorkloads(
      client,
      "Deployment",
      PEPR_NAMESPACE,
      `pepr.dev/uuid=${UUID},pepr.dev/controller=watcher`,
    ),
    listWorkloads(
      client,
      "DaemonSet",
      opts.purelbNamespace,
      "app.kubernetes.io/component=lbnodeagent",
    ),
    listNodeLeases(client, opts.purelbNamespace, now),
    hasBgp ? listBgpStatuses(client) : Promise.resolve(undefined),
  ]);
  const report = clusterStatus({
    namespace: opts.purelbNamespace,
    peprNamespace: PEPR_NAMESPACE,
    admission,
    watcher,
    agents,
    leases,
    bgp,
    now,
  });
  if (!hasPureLB)
    report.problems.unshift(
      "PureLB's CRDs are not installed (the API server does not serve purelb.io/v2); install PureLB or kubectl apply -f dist/purelb-crds.yaml",
    );
  emit(report, opts, write, statusTable);
  return report.problems.length ? EXIT.findings : EXIT.ok;
}

function statusTable(r: StatusReport): string {
  const parts: string[] = [];
  parts.push(
    table(
      ["COMPONENT", "KIND", "NAME", "READY", "STATE"],
      r.components.map(c => [c.component, c.kind, c.name, `${c.ready}/${c.desired}`, c.state]),
    ),
  );
  parts.push(
    r.leases.length
      ? `Node Leases in ${r.namespace}:\n${indent(
          table(
            ["NODE", "LIVE", "SUBNETS", "RENEWED", "EXPIRES IN"],
            r.leases.map(l => [
              l.node,
              l.live ? "yes" : "no",
              l.subnets.join(","),
              l.renewed,
              `${l.expiresIn}s`,
            ]),
          ),
        )}\n`
      : `Node Leases in ${r.namespace}: none\n`,
  );
  if (r.bgp === undefined) parts.push("BGP: the bgp.purelb.io CRDs are not installed\n");
  else if (!r.bgp.length)
    parts.push("BGP: no BGPNodeStatus (BGP is off, or no agent runs the sidecar)\n");
  else {
    const rows = r.bgp.map(b => [
      b.node,
      b.routerID,
      b.asn,
      b.peer,
      b.state,
      b.uptime,
      b.prefixesSent,
      b.prefixesReceived,
      b.advertised,
      b.heartbeatAge === undefined
        ? undefined
        : `${age(b.heartbeatAge)} ago${b.stale ? " (stale)" : ""}`,
    ]);
    parts.push(
      `BGP sessions:\n${indent(table(["NODE", "ROUTER ID", "ASN", "PEER", "STATE", "UPTIME", "SENT", "RECEIVED", "ADVERTISED", "STATUS WRITTEN"], rows))}\n`,
    );
  }
  parts.push(
    r.problems.length
      ? `Problems:\n${r.problems.map(p => `  - ${p}`).join("\n")}\n`
      : "No problems found.\n",
  );
  return parts.join("\n");
}

// ---------------------------------------------------------------------------- services

async function services(
  client: KubeClient,
  opts: Options,
  write: (t: string) => void,
): Promise<number> {
  await requirePureLBCrds(client);
  const now = Date.now();
  const [groups, leases, raw, events] = await Promise.all([
    listGroups(client, opts.purelbNamespace),
    listNodeLeases(client, opts.purelbNamespace, now),
    listServices(client),
    allocationFailures(client),
  ]);
  const report = servicesReport({
    namespace: opts.purelbNamespace,
    services: raw,
    groups,
    members: leases.map(l => l.member),
    events,
    now,
    filter: {
      pool: opts.pool,
      node: opts.node,
      ip: opts.ip,
      problems: opts.problems,
    },
  });
  emit(report, opts, write, servicesTable);
  // --problems answers "is anything wrong?": yes is exit 1, as validate's FAIL.
  return opts.problems && report.services.length ? EXIT.findings : EXIT.ok;
}

function servicesTable(r: ServicesReport): string {
  if (!r.services.length)
    return r.filter.problems ? "No problems found.\n" : "No PureLB Services match.\n";
  return table(
    ["SERVICE", "GROUP", "TYPE", "ADDRESSES", "ANNOUNCED BY", "PROBLEMS"],
    r.services.map(s => [
      s.service,
      s.group,
      s.poolType,
      s.addresses.join(","),
      s.announcedBy.join(","),
      s.problems.join("; "),
    ]),
  );
}

// ---------------------------------------------------------------------------- election

async function election(
  client: KubeClient,
  opts: Options,
  write: (t: string) => void,
): Promise<number> {
  await requirePureLBCrds(client);
  const now = Date.now();
  const [groups, leases, raw] = await Promise.all([
    listGroups(client, opts.purelbNamespace),
    listNodeLeases(client, opts.purelbNamespace, now),
    listServices(client),
  ]);
  if (opts.simulateDrain !== undefined && !leases.some(l => l.member.node === opts.simulateDrain))
    throw new CliError(
      `node ${opts.simulateDrain} has no Lease in ${opts.purelbNamespace}: it takes part in no election`,
      EXIT.findings,
    );
  const report = electionReport({
    namespace: opts.purelbNamespace,
    leases,
    groups,
    services: raw.map(toServiceModel),
    now,
    node: opts.node,
    drain: opts.simulateDrain,
    check: opts.check,
  });
  emit(report, opts, write, electionTable);
  return report.problems?.length ? EXIT.findings : EXIT.ok;
}

function electionTable(r: ElectionReport): string {
  const parts: string[] = [];
  parts.push(
    r.nodes.length
      ? table(
          ["NODE", "LIVE", "SUBNETS", "EXPIRES IN", "WINS"],
          r.nodes.map(n => [
            n.node,
            n.live ? "yes" : "no",
            n.subnets.join(","),
            `${n.expiresIn}s`,
            n.wins,
          ]),
        )
      : `No node Leases in ${r.namespace}: no agent runs.\n`,
  );
  if (r.subnets.length)
    parts.push(
      `Local pool subnets:\n${indent(
        table(
          ["SUBNET", "GROUPS", "LIVE NODES"],
          r.subnets.map(s => [s.subnet, s.groups.join(","), s.liveNodes.join(",") || "none"]),
        ),
      )}\n`,
    );
  if (r.node) {
    const n = r.node;
    const rows = n.addresses.map(a => [a.address, a.services.join(","), a.winner, a.announcedBy]);
    parts.push(
      `Node ${n.node} (${n.live ? "live" : "no live Lease"}; subnets ${n.subnets.join(",") || "none"}):\n${
        rows.length
          ? indent(table(["ADDRESS", "SERVICES", "ELECTED", "ANNOUNCED BY"], rows))
          : "  wins no local address"
      }\n`,
    );
  }
  if (r.drain) {
    const d = r.drain;
    const rows = d.moves.map(m => [
      m.address,
      m.services.join(","),
      d.node,
      m.to ?? "nobody (no other live node on its subnet)",
    ]);
    parts.push(
      `If ${d.node} is drained:\n${
        rows.length
          ? indent(table(["ADDRESS", "SERVICES", "FROM", "TO"], rows))
          : "  no local address moves"
      }\n${d.remote ? `  ${d.remote} remote address(es) stay announced by the other nodes\n` : ""}`,
    );
  }
  if (r.problems)
    parts.push(
      r.problems.length
        ? `Problems:\n${r.problems.map(p => `  - ${p}`).join("\n")}\n`
        : "No problems found.\n",
    );
  return parts.join("\n");
}

// ---------------------------------------------------------------------------- bgp sessions

async function bgpSessionsCommand(
  client: KubeClient,
  opts: Options,
  write: (t: string) => void,
): Promise<number> {
  if (!(await serves(client, "bgp.purelb.io/v1")))
    throw new CliError(
      "the bgp.purelb.io CRDs are not installed (the API server does not serve bgp.purelb.io/v1); install PureLB's CRDs (kubectl apply -f dist/purelb-crds.yaml)",
    );
  const statuses = (await listBgpStatuses(client)).filter(
    s => opts.node === undefined || s.metadata.name === opts.node,
  );
  const { rows, problems } = bgpSessions(statuses, Date.now());
  const report = { sessions: rows, ...(opts.check ? { problems } : {}) };
  emit(report, opts, write, r => {
    const t = r.sessions.length
      ? table(
          [
            "NODE",
            "ROUTER ID",
            "ASN",
            "PEER",
            "STATE",
            "UPTIME",
            "SENT",
            "RECEIVED",
            "ADVERTISED",
            "STATUS WRITTEN",
          ],
          r.sessions.map(b => [
            b.node,
            b.routerID,
            b.asn,
            b.peer,
            b.state,
            b.uptime,
            b.prefixesSent,
            b.prefixesReceived,
            b.advertised,
            b.heartbeatAge === undefined
              ? undefined
              : `${age(b.heartbeatAge)} ago${b.stale ? " (stale)" : ""}`,
          ]),
        )
      : "No BGPNodeStatus: BGP is off, or no agent runs the sidecar.\n";
    const p = r.problems
      ? r.problems.length
        ? `\nProblems:\n${r.problems.map(x => `  - ${x}`).join("\n")}\n`
        : "\nNo problems found.\n"
      : "";
    return t + p;
  });
  return opts.check && problems.length ? EXIT.findings : EXIT.ok;
}

// ---------------------------------------------------------------------------- version

async function version(
  values: { kubeconfig?: string; context?: string },
  opts: Options,
  write: (t: string) => void,
): Promise<number> {
  const client = await connect({ kubeconfig: values.kubeconfig, context: values.context });
  let kubernetes: string | undefined;
  try {
    kubernetes = (
      await client.request<{ gitVersion?: string }>("GET", "/version", { timeoutMs: 20_000 })
    ).gitVersion;
  } catch (err) {
    // The plugin's own version is worth printing even without a cluster.
    process.stderr.write(`kubectl-purelb ${cfg.version}\n`);
    throw explain(err, client, "the API server version");
  }
  const selector = (role: string) => `pepr.dev/uuid=${UUID},pepr.dev/controller=${role}`;
  const [admission, watcher, agents] = await Promise.all([
    listWorkloads(client, "Deployment", PEPR_NAMESPACE, selector("admission")),
    listWorkloads(client, "Deployment", PEPR_NAMESPACE, selector("watcher")),
    listWorkloads(
      client,
      "DaemonSet",
      opts.purelbNamespace,
      "app.kubernetes.io/component=lbnodeagent",
    ),
  ]);
  const report = versionReport({
    plugin: cfg.version,
    kubernetes,
    workloads: [
      { component: "admission", items: admission },
      { component: "allocator", items: watcher },
      { component: "lbnodeagent", items: agents },
    ],
  });
  emit(report, opts, write, versionTable);
  return EXIT.ok;
}

function versionTable(r: VersionReport): string {
  const lines = [`kubectl-purelb ${r.plugin}`, `Kubernetes     ${r.kubernetes ?? "unknown"}`, ""];
  lines.push(
    table(
      ["COMPONENT", "NAME", "VERSION", "IMAGES"],
      r.components.map(c => [c.component, c.name, c.version, c.images.join(",")]),
    ).trimEnd(),
  );
  for (const w of r.warnings) lines.push(`Warning: ${w}`);
  return lines.join("\n") + "\n";
}

// ---------------------------------------------------------------------------- entry

/** Runs the CLI and exits with its code; errors are printed as one message, without a stack. */
export function run(argv = process.argv.slice(2)): void {
  // Exit once the output is flushed: the client's keep-alive sockets would hold the process.
  const exit = (code: number) =>
    process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
  main(argv).then(exit, err => {
    if (err instanceof CliError) {
      process.stderr.write(`kubectl purelb: ${err.message.trimEnd()}\n`);
      exit(err.exitCode);
      return;
    }
    process.stderr.write(
      `kubectl purelb: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    exit(EXIT.cluster);
  });
}
