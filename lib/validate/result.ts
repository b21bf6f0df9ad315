import { Problem } from "../ipam/problem";

/** Problems reject an object; warnings let it through but tell the client something it should know. */
export interface Validation {
  problems: Problem[];
  warnings: string[];
}

/** "metadata.annotations" style path of a field under `base`. */
export const at = (base: string, field: string | number): string =>
  typeof field === "number" ? `${base}[${field}]` : `${base}.${field}`;
