import { Counter, Gauge } from "prom-client";
import { registry } from "../metrics/registry";

export const winnerChanges = new Counter({
  name: "purelb_election_winner_changes_total",
  help: "Times the node elected to announce a local address changed, as this node saw it",
  labelNames: ["family"],
  registers: [registry],
});

export const garpSent = new Counter({
  name: "purelb_garp_sent_total",
  help: "Gratuitous ARP frames sent for local IPv4 addresses",
  labelNames: ["interface"],
  registers: [registry],
});

export const naSent = new Counter({
  name: "purelb_na_sent_total",
  help: "Unsolicited Neighbor Advertisements sent for local IPv6 addresses",
  labelNames: ["interface"],
  registers: [registry],
});

export const announcedAddresses = new Gauge({
  name: "purelb_announced_addresses",
  help: "Addresses this node holds for Services, by pool type (local, remote) and family",
  labelNames: ["type", "family"],
  registers: [registry],
});
