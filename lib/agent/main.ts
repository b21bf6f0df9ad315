// Runs the node agent directly (tests, benchmarks, development): `tsx lib/agent/main.ts`.
// In a cluster the Pepr bundle runs it with PURELB_MODE=agent (see pepr.ts).
import { startNodeAgent } from "../../capabilities/nodeagent";

startNodeAgent();
