import { stringify } from "yaml";

export type Format = "table" | "json" | "yaml";

/** bigint (pool sizes) becomes a decimal string: JSON has no integers that large. */
const plain = (value: unknown): unknown =>
  JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v)));

export function serialize(value: unknown, format: "json" | "yaml"): string {
  return format === "json"
    ? JSON.stringify(plain(value), null, 2) + "\n"
    : stringify(plain(value), { lineWidth: 0 });
}

/** Columns padded to the widest cell, like kubectl get. */
export function table(headers: string[], rows: (string | number | bigint | undefined)[][]): string {
  const cells = [
    headers,
    ...rows.map(r => r.map(c => (c === undefined || c === "" ? "-" : String(c)))),
  ];
  const widths = headers.map((_, i) => Math.max(...cells.map(r => (r[i] ?? "").length)));
  return (
    cells
      .map(r => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("   "))
      .join("\n") + "\n"
  );
}

/** "5s", "3m", "2h", "4d": how kubectl shows ages. */
export function age(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}
