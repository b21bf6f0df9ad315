import { Counter } from "prom-client";
import { registry } from "../metrics/registry";

export const heartbeatsSent = new Counter({
  name: "purelb_heartbeats_sent_total",
  help: "Heartbeat datagrams sent to other nodes",
  registers: [registry],
});

export const heartbeatsReceived = new Counter({
  name: "purelb_heartbeats_received_total",
  help: "Heartbeat datagrams accepted from other nodes",
  registers: [registry],
});

export const heartbeatsDropped = new Counter({
  name: "purelb_heartbeats_dropped_total",
  help: "Heartbeat datagrams dropped, by reason (size, format, mac, skew, replay, rate, unknown node)",
  labelNames: ["reason"],
  registers: [registry],
});
