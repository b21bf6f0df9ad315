import { Gauge } from "prom-client";
import { registry } from "../metrics/registry";

export const sessionUp = new Gauge({
  name: "purelb_bgp_session_up",
  help: "1 when the BGP session with the peer is Established, else 0",
  labelNames: ["peer"],
  registers: [registry],
});

export const advertisedPrefixes = new Gauge({
  name: "purelb_bgp_advertised_prefixes",
  help: "Prefixes this node advertises over BGP (the addresses on kube-lb0, by aggregation)",
  registers: [registry],
});
