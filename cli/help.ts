// What `kubectl purelb --help` and `kubectl purelb COMMAND --help` print.
import { DEFAULT_NAMESPACE } from "../lib/k8s/annotations";

export const COMMANDS = [
  "inspect",
  "pools",
  "services",
  "election",
  "validate",
  "status",
  "bgp",
  "version",
] as const;
export type Command = (typeof COMMANDS)[number];

const COMMON = `Options of every command:
  -o, --output table|json|yaml   output format (default table)
  -n, --namespace NS             PureLB's namespace, where its ServiceGroups, LBNodeAgents and
                                 Leases are (default $PURELB_NAMESPACE or ${DEFAULT_NAMESPACE});
                                 --purelb-namespace NS is the same
      --kubeconfig FILE          kubeconfig (default $KUBECONFIG or ~/.kube/config)
      --context NAME             kubeconfig context (default: the current context)
  -h, --help                     help (kubectl purelb COMMAND --help: of a command)`;

const EXITS = `Exit codes: 0 fine; 1 findings (validate FAIL, or WARN with --strict; status found a
problem; services --problems, election --check or bgp sessions --check found one; inspect: no such Service);
2 usage error; 3 the cluster cannot be reached or PureLB's CRDs are missing.`;

export const USAGE = `kubectl purelb: see what PureLB does with your Services, and why.

Usage:
  kubectl purelb inspect NAMESPACE/SERVICE   addresses, group, announcing node and interface,
                                             election, sharing, recent Events and a diagnosis
  kubectl purelb pools                       size and use of every ServiceGroup range
  kubectl purelb services                    every PureLB Service: group, addresses, announcer,
                                             problems
  kubectl purelb election                    node Leases, who wins which address, subnet
                                             coverage; --check, --simulate-drain NODE
  kubectl purelb validate                    the admission checks over every PureLB object,
                                             plus ranges no node can announce and missing
                                             LBNodeAgent/BGPConfiguration
  kubectl purelb status                      allocator, admission and node agents, node
                                             Leases, BGP sessions
  kubectl purelb bgp sessions                every node's BGP sessions (--node, --check)
  kubectl purelb version                     plugin, Kubernetes and component versions

${COMMON}
      --version                  the plugin's version only

${EXITS}
`;

const HELP: Record<Command, string> = {
  inspect: `kubectl purelb inspect NAMESPACE/SERVICE

Everything about one Service: its addresses with the range, subnet, announcing node and
interface and the election for each, the Services sharing them, its last Events, and a
diagnosis (OK, or what is wrong and what to do).

      --service-namespace NS   the Service's namespace when SERVICE has none (default
                               "default"; before upstream's -n, this was -n)

Examples:
  kubectl purelb inspect default/web
  kubectl purelb inspect web --service-namespace shop -o yaml`,
  pools: `kubectl purelb pools [--service-group NAME] [--show-services]

Every range of every ServiceGroup: exact size (even of a /64), addresses in use, free.

      --service-group NAME   only this group (exit 1 if it does not exist)
      --show-services        the Services holding addresses of each range

Examples:
  kubectl purelb pools
  kubectl purelb pools --service-group default --show-services -o json`,
  services: `kubectl purelb services [--pool GROUP] [--node NODE] [--ip ADDRESS] [--problems]

Every Service PureLB serves (all namespaces), one line each: group, pool type, addresses,
the node (and interface) announcing them, and what inspect would diagnose.

      --pool GROUP     only Services of this ServiceGroup
      --node NODE      only Services NODE announces (or should announce: it wins the election)
      --ip ADDRESS     only the Services holding ADDRESS
      --problems       only Services with a problem; exit 1 when there is one
  -A, --all-namespaces accepted for upstream's habit: every namespace is shown anyway

Examples:
  kubectl purelb services --problems
  kubectl purelb services --node node-2 -o json
  kubectl purelb services --ip 192.0.2.240`,
  election: `kubectl purelb election [--node NODE] [--check] [--simulate-drain NODE]

The election every agent computes from the node Leases: each node's Lease, subnets and the
number of local addresses it wins, and the live nodes on every local pool subnet.

      --node NODE             the addresses NODE wins or announces
      --check                 report problems (expired Leases, subnets with no or one live
                              node, announcers the election does not pick); exit 1 if any
      --simulate-drain NODE   which local addresses would move to which node if NODE left

Examples:
  kubectl purelb election --check
  kubectl purelb election --simulate-drain node-1
  kubectl purelb election --node node-2 -o yaml`,
  validate: `kubectl purelb validate [--service-namespace NS] [--strict]

The admission webhook's checks over every ServiceGroup, LBNodeAgent, BGPConfiguration and
PureLB Service in the cluster, plus what only the whole cluster shows (overlapping pools,
ranges no live node can announce, remote groups without BGP, Services asking for missing
groups). Exit 1 on FAIL.

      --service-namespace NS   check only the Services of NS, against PureLB's own
                               namespace's configuration (this was -n)
      --strict                 exit 1 on WARN too (for CI)

Examples:
  kubectl purelb validate
  kubectl purelb validate --strict -o json`,
  status: `kubectl purelb status

The admission and allocator Deployments and the agent DaemonSet (ready/desired), each node
Lease and, with BGP, every session. Exit 1 when something is missing, down or expired.

Example:
  kubectl purelb status -o yaml`,
  bgp: `kubectl purelb bgp sessions [--node NODE] [--check]

The BGP sessions every node agent reports in its BGPNodeStatus: router ID, ASN, neighbor,
state, uptime, prefixes sent and received, addresses advertised, and when the status was
last written (stale after 120 s: the agent or its sidecar is not running).

      --node NODE   only this node
      --check       report sessions not Established and stale statuses; exit 1 if any

Examples:
  kubectl purelb bgp sessions
  kubectl purelb bgp sessions --node node-1 --check -o json`,
  version: `kubectl purelb version

The plugin's version, the API server's, and the images the admission, allocator and agent
pods run; a warning when the agent runs another PureLB release than the plugin's.

Example:
  kubectl purelb version -o json`,
};

export const helpOf = (command: string): string =>
  command in HELP
    ? `${HELP[command as Command]}\n\n${COMMON}\n\n${EXITS}\n`
    : `unknown command "${command}"\n\n${USAGE}`;
