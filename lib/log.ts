import { pino, stdTimeFunctions } from "pino";

/**
 * The same pino logger, with the same settings (LOG_LEVEL, PEPR_PRETTY_LOGS,
 * PINO_TIME_STAMP), that Pepr's `Log` is. It is built here rather than imported from
 * "pepr" because loading pepr's entry point pulls its whole admission and watch stack
 * (~95 MB) into the node agent, which runs on every node with a 120 MB budget.
 */
export const Log = pino({
  transport:
    process.env.PEPR_PRETTY_LOGS === "true"
      ? { target: "pino-pretty", options: { colorize: true } }
      : undefined,
  timestamp:
    process.env.PINO_TIME_STAMP === "iso" ? stdTimeFunctions.isoTime : stdTimeFunctions.epochTime,
});

if (process.env.LOG_LEVEL) Log.level = process.env.LOG_LEVEL;
