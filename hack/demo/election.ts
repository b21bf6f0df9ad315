// Why a node announces the address, in the words of the election every agent runs
// (lib/election): among the live nodes on the address's subnet, the lowest
// sha256(node#address). The candidates and the winner come from `kubectl purelb inspect`, the
// tool a user would run, so the demo shows what the plugin says rather than a copy of it.
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { type InspectReport } from "../../cli/inspect";
import { electionHash } from "../../lib/election/election";

const execFileAsync = promisify(execFile);
const plugin = join(resolve(import.meta.dirname, "../.."), "cli", "kubectl-purelb");

export async function inspect(kubeconfig: string, target: string): Promise<InspectReport> {
  const { stdout } = await execFileAsync(
    process.execPath,
    [plugin, "inspect", target, "-o", "json", "--kubeconfig", kubeconfig],
    { timeout: 60_000, maxBuffer: 16 << 20 },
  );
  return JSON.parse(stdout) as InspectReport;
}

/** Lines ranking the candidates by hash, the winner first and marked. */
export function ranking(address: string, candidates: string[]): string[] {
  return candidates
    .map(node => ({ node, h: electionHash(node, address) }))
    .sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : a.node.localeCompare(b.node)))
    .map(
      (c, i) =>
        `${c.node.padEnd(8)} sha256("${c.node}#${address}") = ${c.h.slice(0, 12)}...${i === 0 ? "  <- lowest: announces" : ""}`,
    );
}
